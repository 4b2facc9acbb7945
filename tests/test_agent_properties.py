"""Property tests of the agent loop: whatever a model sends back, a turn ends cleanly and consistently."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.agent import Agent, StopReason
from harness.config import AgentsConfig, AgentSpec
from tests.helpers import TEST_SETTINGS, Script, call, completion

MAX_STEPS = 4
TOOL_NAMES = ["send_message", "core_memory_append", "core_memory_replace", "task_queue_push", "task_queue_pop"]
text = st.text(max_size=40)

arguments = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "label": st.sampled_from(["tasks", "persona", "nope", ""]),
            "content": text,
            "old_content": st.one_of(text, st.just("[]")),
            "new_content": text,
            "message": text,
            "task_description": text,
            "request_heartbeat": st.one_of(st.booleans(), st.just("true")),
        },
    ),
    st.text(max_size=20),  # raw, mostly malformed JSON
    st.just("[1, 2]"),  # JSON, but not an object
)
tool_call = st.builds(
    lambda name, args, index: call(name, args, f"server-{index}"),
    st.sampled_from([*TOOL_NAMES, "no_such_tool"]),
    arguments,
    st.integers(0, 10**6),
)
response = st.builds(
    lambda calls, content: completion(*calls, content=content),
    st.lists(tool_call, max_size=3),
    st.one_of(st.none(), text),
)


@pytest.fixture
def task_spec(agents_config: AgentsConfig) -> AgentSpec:
    spec = agents_config.get("task_agent")
    small = tuple(dataclasses.replace(block, limit=60) for block in spec.blocks)  # limits are reached often
    return dataclasses.replace(spec, max_steps=MAX_STEPS, blocks=small)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=80)
@given(responses=st.lists(response, min_size=MAX_STEPS, max_size=MAX_STEPS))
def test_any_model_output_ends_the_turn_cleanly(task_spec: AgentSpec, responses: list[dict[str, Any]]) -> None:
    script = Script(responses)
    agent = Agent(task_spec, script.model(TEST_SETTINGS))
    result = agent.send("go")  # never raises, whatever came back

    assert 1 <= len(result.steps) <= MAX_STEPS
    assert len(script.requests) == len(result.steps)
    last = result.steps[-1]
    go_on = any(not c.ok or (c.heartbeat and c.name != "send_message") for c in last.tool_calls)
    expected = (
        StopReason.NO_TOOL_CALL
        if not last.tool_calls
        else StopReason.MAX_STEPS
        if go_on
        else StopReason.REPLIED
        if any(c.ok and c.name == "send_message" for c in last.tool_calls)
        else StopReason.NO_HEARTBEAT
    )
    assert result.stop_reason == expected
    if result.stop_reason == StopReason.MAX_STEPS:
        assert len(result.steps) == MAX_STEPS
    for step in result.steps[:-1]:  # every step before the last asked to go on
        assert any(not c.ok or (c.heartbeat and c.name != "send_message") for c in step.tool_calls)

    for block in agent.memory:
        assert len(block.value) <= block.limit
    _assert_well_formed_history(agent)


def _assert_well_formed_history(agent: Agent) -> None:
    """Each assistant message's tool calls are answered, in order, by tool messages with the same ids, each
    carrying Letta's {"status", "message"} result."""
    messages = agent.messages
    assert messages[0] == {"role": "user", "content": "go"}
    index = 1
    while index < len(messages):
        assistant = messages[index]
        assert assistant["role"] == "assistant"
        ids = [c["id"] for c in assistant.get("tool_calls", [])]
        answers = messages[index + 1 : index + 1 + len(ids)]
        assert [m["tool_call_id"] for m in answers] == ids
        for answer in answers:
            assert json.loads(answer["content"])["status"] in ("OK", "Failed")
        index += 1 + len(ids)
