"""`loop:` and `clock:` in agents.yaml: which loop runs, what each sends, and a clock that replays.

Letta 0.6 conformance (letta-memgpt against real Letta's requests) is in test_conformance.py; this file
covers what the fixtures cannot: the declarations, the frozen clock and seeded ids, letta-v1's turn rules,
that letta-memgpt is the default, and that the harness loop is unchanged.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.agent import Agent, AgentState
from harness.archival import Archival, Passage
from harness.cli import main
from harness.clock import RECORDED_RUN_CLOCK, ClockSpec, FrozenClock, SeededIds
from harness.config import AgentSpec, load_agents
from harness.errors import ConfigError, ModelAnswerError
from harness.llm.chat import ChatResponse, chat_request, parse_answer, parse_completion
from harness.llm.settings import ModelSettings, ToolChoice
from harness.loops.kinds import CORE_MEMORY, LoopName, letta_literal, letta_safe_format
from harness.loops.letta_memgpt import INNER_THOUGHTS_KWARG_DESCRIPTION, json_dumps, letta_time, letta_tool_schema
from harness.loops.letta_v1 import examples_section, letta_v1_tool_schema
from harness.records import StopReason
from harness.tools.builtin import BUILTIN_TOOLS
from harness.tools.letta_schema import letta_parameters
from harness.tools.schema import tool_from_function
from tests.helpers import call, completion

TOOLS_MODULE = '''
def what_time(agent_state) -> str:
    """Say the time.

    Returns:
        str: the time.
    """
    return agent_state.now().isoformat()
'''


def write_agents(tmp_path: Path, body: str) -> Path:
    (tmp_path / "timetools.py").write_text(TOOLS_MODULE)
    path = tmp_path / "agents.yaml"
    path.write_text(
        "defaults:\n  model: {name: m, base_url: 'http://127.0.0.1:9/v1'}\n  system: You are an agent.\n"
        "  tools: [send_message, core_memory_append, 'timetools:what_time']\n"
        "  blocks: [{label: human, value: 'Name: Bob'}]\nagents:\n" + body
    )
    return path


class Scripted:
    """Answers in order; keeps each request body as the live client would send it."""

    def __init__(self, settings: ModelSettings, answers: list[dict[str, Any]]) -> None:
        self.settings = settings
        self.answers = list(answers)
        self.bodies: list[dict[str, Any]] = []

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice | None = None
    ) -> ChatResponse:
        self.bodies.append(json.loads(json.dumps(chat_request(self.settings, messages, tools, tool_choice))))
        return parse_completion(self.answers.pop(0), "scripted")


def run(spec: AgentSpec, answers: list[dict[str, Any]], *texts: str) -> tuple[Agent, Scripted, list[Any]]:
    model = Scripted(spec.model, answers)
    agent = Agent(spec, model)
    return agent, model, [agent.send(text) for text in texts]


def test_letta_memgpt_is_the_default_loop_with_lettas_temperature(tmp_path: Path) -> None:
    spec = load_agents(write_agents(tmp_path, "  a: {}\n")).get("a")
    assert spec.loop is LoopName.LETTA_MEMGPT and spec.clock is None
    assert spec.model.temperature == 0.7 and spec.model.tool_choice is ToolChoice.REQUIRED
    assert dict(spec.model.tools_body)["parallel_tool_calls"] is False


def test_the_harness_loop_sends_what_it_always_sent(tmp_path: Path) -> None:
    spec = load_agents(write_agents(tmp_path, "  a: {loop: harness}\n")).get("a")
    assert spec.loop is LoopName.HARNESS and spec.clock is None
    assert spec.model.temperature == 0 and spec.model.tool_choice is ToolChoice.REQUIRED
    answers = [completion(call("send_message", {"message": "Hi"}, "c1"))]
    _, model, [turn] = run(spec, answers, "Hello")
    body = model.bodies[0]
    assert set(body) == {"model", "messages", "temperature", "tools", "tool_choice"}
    assert body["messages"][1:] == [{"role": "user", "content": "Hello"}]
    assert turn.reply == "Hi" and turn.stop_reason is StopReason.REPLIED


def test_clock_shorthand_and_mapping(tmp_path: Path) -> None:
    config = load_agents(
        write_agents(
            tmp_path,
            "  a: {clock: 2025-02-11T14:26:32Z}\n"
            "  b: {clock: {start: '2025-02-11T06:26:32-08:00', tick: 60, seed: 7}}\n",
        )
    )
    assert config.get("a").clock == ClockSpec(datetime(2025, 2, 11, 14, 26, 32, tzinfo=UTC), 1.0, 0)
    b = config.get("b").clock
    assert b is not None and b.start == datetime(2025, 2, 11, 14, 26, 32, tzinfo=UTC) and (b.tick, b.seed) == (60, 7)


def test_a_tool_reading_the_frozen_clock_reads_the_same_times_every_run(tmp_path: Path) -> None:
    spec = load_agents(write_agents(tmp_path, "  a: {clock: 2025-02-11T14:26:32Z}\n")).get("a")

    def once() -> list[str]:
        answers = [
            completion(call("what_time", {"request_heartbeat": True}, "c1")),
            completion(call("what_time", {"request_heartbeat": True}, "c2")),
            completion(call("send_message", {"message": "done"}, "c3")),
        ]
        agent, _, [turn] = run(spec, answers, "What time is it?")
        return [c.result for c in turn.tool_calls[:2]] + [agent.state.id, *(b.id for b in agent.memory)]

    first = once()
    # The clock moves 1 s with each model answer: the first call runs after the first answer.
    assert first[:2] == ["2025-02-11T14:26:33+00:00", "2025-02-11T14:26:34+00:00"]
    assert once() == first  # times and seeded ids alike


def test_without_a_clock_tools_read_the_wall_clock(tmp_path: Path) -> None:
    spec = load_agents(write_agents(tmp_path, "  a: {}\n")).get("a")
    before = datetime.now(UTC)
    _, _, [turn] = run(spec, [completion(call("what_time", {"request_heartbeat": False}, "c1"))], "Time?")
    assert datetime.fromisoformat(turn.tool_calls[0].result) >= before


def test_frozen_clock_and_seeded_ids() -> None:
    clock = FrozenClock(ClockSpec(datetime(2025, 1, 1, tzinfo=UTC), tick=2.5))
    clock.advance()
    assert clock.now() == datetime(2025, 1, 1, 0, 0, 2, 500000, tzinfo=UTC)
    assert [SeededIds(3).uuid() for _ in range(2)] == [SeededIds(3).uuid()] * 2
    ids = SeededIds(3)
    assert ids.uuid() != ids.uuid() and ids.uuid().version == 4


def test_letta_loops_default_to_lettas_temperature(tmp_path: Path) -> None:
    config = load_agents(
        write_agents(
            tmp_path,
            "  m: {loop: letta-memgpt}\n  t: {loop: letta-memgpt, model: {temperature: 0}}\n  v: {loop: letta-v1}\n",
        )
    )
    assert config.get("m").model.temperature == 0.7
    assert config.get("t").model.temperature == 0
    assert config.get("v").model.temperature == 1.0  # Letta 0.16.8's LLMConfig default
    assert config.get("v").model.tool_choice is ToolChoice.AUTO  # a v1 turn ends on an answer without a call
    assert dict(config.get("m").model.tools_body)["parallel_tool_calls"] is False
    # a turn's bound: Letta 0.16.8's DEFAULT_MAX_STEPS for v1, the harness's for the others
    assert (config.get("v").max_steps, config.get("m").max_steps) == (50, 10)


def test_letta_v1_sends_lettas_user_and_no_parallel_calls(tmp_path: Path) -> None:
    """Letta 0.16.8's OpenAI client: `user` is the actor's id on every request; `parallel_tool_calls: false`
    on one that offers tools (LLMConfig's default), except to OpenAI's reasoning models, which take none."""
    agents = write_agents(tmp_path, "  v: {loop: letta-v1}\n  r: {loop: letta-v1, model: {name: o3-mini}}\n")
    _, model, _ = run(load_agents(agents).get("v"), [completion(content="ok")], "hi")
    assert model.bodies[0]["user"] == "user-00000000-0000-4000-8000-000000000000"
    assert model.bodies[0]["parallel_tool_calls"] is False
    _, model, _ = run(load_agents(agents).get("r"), [completion(content="ok")], "hi")
    assert "parallel_tool_calls" not in model.bodies[0] and "user" in model.bodies[0]
    no_tools = write_agents(tmp_path, "  v: {loop: letta-v1, tools: []}\n")
    _, model, _ = run(load_agents(no_tools).get("v"), [completion(content="ok")], "hi")
    assert "parallel_tool_calls" not in model.bodies[0] and "user" in model.bodies[0]


@pytest.mark.parametrize("name", ["gpt-4o-mini", "o3-mini"])
def test_letta_memgpt_sends_parallel_tool_calls_only_with_tools(tmp_path: Path, name: str) -> None:
    """Letta 0.6.23's prepare_openai_payload adds `parallel_tool_calls: false` only `if
    chat_completion_request.tools is not None` (OpenAI answers 400 to it without tools), to every model; the
    compaction's summary request (no tools) sent it, and OpenAI refused it."""
    spec = load_agents(write_agents(tmp_path, f"  m: {{model: {{name: {name}}}}}\n")).get("m")
    _, model, _ = run(spec, [completion(call("send_message", {"message": "hi"}, "c1"))], "hi")
    assert model.bodies[0]["parallel_tool_calls"] is False and model.bodies[0]["tools"]
    summary = chat_request(spec.model, [{"role": "user", "content": "summarize"}], [])
    assert "tools" not in summary and "parallel_tool_calls" not in summary
    assert summary["user"] == "user-00000000-0000-4000-8000-000000000000" and summary["n"] == 1


def test_letta_memgpt_counts_the_system_message_it_sends(tmp_path: Path) -> None:
    """The context window measured the harness's own compiled message, not Letta's (with its `### Memory`
    header and counts) that the request carries: 100-odd tokens short, so a request near the window went
    out with no compaction."""
    agents = write_agents(tmp_path, "  m: {clock: 2025-02-11T14:26:32Z, context_window: 100000}\n")
    spec = load_agents(agents).get("m")
    model = Scripted(spec.model, [completion(call("send_message", {"message": f"hi {n}"}, f"c{n}")) for n in range(2)])
    agent = Agent(spec, model)
    assert agent.context is not None
    counted: list[str] = []
    measure = agent.context.before_request
    agent.context.before_request = lambda system, messages, tools: (
        counted.append(system),
        measure(system, messages, tools),
    )[1]  # type: ignore[method-assign]
    agent.send("hi")
    agent.memory.update_block_value("human", "Name: Ann")  # recompiled with a new header: counted as sent too
    agent.send("again")
    assert counted == [body["messages"][0]["content"] for body in model.bodies]
    assert "### Memory [last modified:" in counted[0] and "Name: Ann" in counted[1]


def test_letta_memgpt_plain_text_is_private(tmp_path: Path) -> None:
    spec = load_agents(write_agents(tmp_path, "  m: {loop: letta-memgpt, clock: 2025-02-11T14:26:32Z}\n")).get("m")
    _, model, [turn] = run(spec, [completion(content="Thinking about it.")], "Hi")
    assert turn.stop_reason is StopReason.NO_TOOL_CALL and turn.reply is None
    assert model.bodies[0]["parallel_tool_calls"] is False
    user = json.loads(model.bodies[0]["messages"][-1]["content"])
    assert user == {"type": "user_message", "message": "Hi", "time": "2025-02-11 02:26:32 PM UTC+0000"}


def test_letta_v1_any_tool_call_continues_and_text_ends_the_turn(tmp_path: Path) -> None:
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, clock: 2025-02-11T14:26:32Z}\n")).get("v")
    answers = [
        completion(call("core_memory_append", {"label": "human", "content": "Likes tea"}, "c1")),
        completion(call("core_memory_append", {"label": "nope", "content": "x"}, "c2")),
        completion(content="Noted: you like tea."),
    ]
    agent, model, [turn] = run(spec, answers, "I like tea")
    assert [c.ok for c in turn.tool_calls] == [True, False]
    assert turn.reply == "Noted: you like tea." and turn.stop_reason is StopReason.NO_TOOL_CALL
    assert len(model.bodies) == 3
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in model.bodies[0]["tools"]}
    assert all("request_heartbeat" not in p["properties"] for p in tools.values())
    assert "request_heartbeat" not in tools["core_memory_append"]["required"]
    # no heartbeat message between steps: the request after a tool result ends with that result
    assert model.bodies[1]["messages"][-1]["role"] == "tool"
    result = json.loads(model.bodies[1]["messages"][-1]["content"])
    # LettaCoreToolExecutor.core_memory_append returns the block's new value
    assert result == {"status": "OK", "message": "Name: Bob\nLikes tea", "time": "2025-02-11 02:26:33 PM UTC+0000"}
    assert "Likes tea" in agent.memory.get_block("human").value


def test_letta_v1_keeps_nothing_of_an_empty_answer(tmp_path: Path) -> None:
    """LettaAgentV3._handle_ai_response case 1a: no text, no reasoning, no call ends the turn and persists
    nothing (OpenAI would refuse an assistant message with neither content nor calls); with a
    required_before_exit tool uncalled only the heartbeat is added."""
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, clock: 2025-02-11T14:26:32Z}\n")).get("v")
    _, model, [turn, _] = run(spec, [completion(content=None), completion(content="ok")], "hi", "again")
    assert turn.stop_reason is StopReason.NO_TOOL_CALL and turn.reply is None
    assert model.bodies[1]["messages"][1:] == [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]
    rules = "tool_rules: [{type: required_before_exit, tool_name: what_time}]"
    spec = load_agents(write_agents(tmp_path, f"  v: {{loop: letta-v1, {rules}}}\n")).get("v")
    answers = [completion(content=None), completion(call("what_time", {}, "c1")), completion(content="ok")]
    _, model, _ = run(spec, answers, "hi")
    assert [message["role"] for message in model.bodies[1]["messages"][1:]] == ["user", "user"]


def test_letta_v1_history_has_the_arguments_as_letta_reserialises_them(tmp_path: Path) -> None:
    """LettaAgentV3 keeps `json.dumps(args)` of the arguments it parsed, `request_heartbeat` and
    `inner_thoughts` dropped; arguments that are not JSON are `{}` (`_safe_load_tool_call_str`)."""
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, clock: 2025-02-11T14:26:32Z}\n")).get("v")
    raw = '{"label":"human","content":"caf\u00e9","request_heartbeat":true,"inner_thoughts":"hm"}'
    answers = [
        completion(call("core_memory_append", raw, "c1")),
        completion(call("core_memory_append", '{"label": "human", "content": ', "c2")),
        completion(content="ok"),
    ]
    _, model, _ = run(spec, answers, "hi")
    sent = [m["tool_calls"][0]["function"]["arguments"] for m in model.bodies[2]["messages"] if m.get("tool_calls")]
    assert sent == ['{"label": "human", "content": "caf\\u00e9"}', "{}"]


def test_letta_v1_echoes_reasoning_only_beside_text(tmp_path: Path) -> None:
    """Letta's adapter stores reasoning and text as content parts; Message.to_openai_dict sends
    `reasoning_content` back only from a message of more than one part: with a call and no text, none."""
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, clock: 2025-02-11T14:26:32Z}\n")).get("v")
    silent = completion(call("what_time", {}, "c1"))
    silent["choices"][0]["message"]["reasoning_content"] = "Check the time."
    spoken = completion(call("what_time", {}, "c2"), content="Let me look.")
    spoken["choices"][0]["message"]["reasoning_content"] = "Again."
    _, model, _ = run(spec, [silent, spoken, completion(content="ok")], "hi")
    first, second = [m for m in model.bodies[2]["messages"] if m["role"] == "assistant"]
    assert "reasoning_content" not in first
    assert second["reasoning_content"] == "Again." and second["content"] == "Let me look."


def test_letta_memgpt_echoes_the_fields_a_provider_needs_back(tmp_path: Path) -> None:
    """Letta 0.6 predates them and drops them, but Gemini 3 refuses a call without its thought_signature
    and DeepSeek's thinking mode a tool-call message without its reasoning_content: the default loop keeps
    them in history, as the harness loop does; an answer without them goes back as Letta sends it."""
    spec = load_agents(write_agents(tmp_path, "  m: {clock: 2025-02-11T14:26:32Z}\n")).get("m")
    signed = call("what_time", {"inner_thoughts": "Check.", "request_heartbeat": True}, "c1")
    signed["extra_content"] = {"google": {"thought_signature": "<Signature A>"}}
    thinking = completion(signed)
    thinking["choices"][0]["message"]["reasoning_content"] = "The user wants the time."
    plain = completion(call("send_message", {"inner_thoughts": "Say it.", "message": "Noon."}, "c2"))
    _, model, _ = run(spec, [thinking, plain, plain], "hi", "again")
    boot, first, second = [m for m in model.bodies[2]["messages"] if m["role"] == "assistant"]
    assert set(boot) == {"role", "tool_calls"} and set(boot["tool_calls"][0]) == {"id", "type", "function"}
    assert first["reasoning_content"] == "The user wants the time."
    assert first["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "<Signature A>"}}
    assert json.loads(first["tool_calls"][0]["function"]["arguments"])["inner_thoughts"] == "Check."
    assert set(second) == {"role", "tool_calls"} and set(second["tool_calls"][0]) == {"id", "type", "function"}


def test_letta_v1_core_tools_return_and_fail_as_lettas_core_tool_executor(tmp_path: Path) -> None:
    """LettaCoreToolExecutor (0.16.8): core_memory_append/replace return the new value, send_message its
    receipt; arguments that are not JSON are `{}` and the tool still runs, failing with the TypeError of
    Letta's bound method; the core tools' `label` is described as in 0.16.8's function_sets/base.py."""
    tools = "tools: [send_message, core_memory_append, core_memory_replace, memory_replace]"
    spec = load_agents(write_agents(tmp_path, f"  v: {{loop: letta-v1, {tools}}}\n")).get("v")
    answers = [
        completion(call("core_memory_append", '{"label": "human", "content": ', "c1")),
        completion(call("memory_replace", {"label": "human"}, "c2")),
        completion(call("send_message", {"message": "hey"}, "c3")),
        completion(call("core_memory_append", {"label": "human", "content": "Likes tea"}, "c4")),
        completion(call("core_memory_replace", {"label": "human", "old_content": "tea", "new_content": "gin"}, "c5")),
        completion(content="ok"),
    ]
    _, model, [turn] = run(spec, answers, "hi")
    assert [(call.ok, call.result) for call in turn.tool_calls] == [
        (
            False,
            "LettaCoreToolExecutor.core_memory_append() missing 2 required positional arguments: 'label' and 'content'",
        ),
        (
            False,
            "LettaCoreToolExecutor.memory_replace() missing 2 required positional arguments: 'old_string' and "
            "'new_string'",
        ),
        (True, "Sent message successfully."),
        (True, "Name: Bob\nLikes tea"),
        (True, "Name: Bob\nLikes gin"),
    ]
    schemas = {tool["function"]["name"]: tool["function"]["parameters"] for tool in model.bodies[0]["tools"]}
    for name in ("core_memory_append", "core_memory_replace"):
        assert schemas[name]["properties"]["label"]["description"] == "Section of the memory to be edited."


LETTA_V1_CUSTOM_TOOLS = '''
def echo(text: str, times: int = 1) -> str:
    """Echo.

    Args:
        text (str): the text.
        times (int): how many times.

    Returns:
        str: the text.
    """
    return text * times


def as_dict() -> dict:
    """A dict.

    Returns:
        dict: a dict.
    """
    return {"a": 1, "b": "x"}


def big() -> str:
    """Big.

    Returns:
        str: big text.
    """
    return "x" * 60000
'''


def test_letta_v1_custom_tools_take_arguments_and_return_as_lettas_sandbox(tmp_path: Path) -> None:
    """Letta 0.16.8's sandbox: arguments its schema lacks are not passed, the others coerced to the
    annotations (text read as JSON first, `coerce_dict_args_by_annotations`); a dict returned is nested in
    the packaged JSON (validate_function_response keeps dicts), a return over 50,000 characters is cut with
    Letta's NOTE (ToolExecutionManager's, then validate_function_response's)."""
    (tmp_path / "custom.py").write_text(LETTA_V1_CUSTOM_TOOLS)
    tools = "tools: ['custom:echo', 'custom:as_dict', 'custom:big']"
    spec = load_agents(write_agents(tmp_path, f"  v: {{loop: letta-v1, {tools}}}\n")).get("v")
    answers = [
        completion(call("echo", {"text": 5, "times": "2", "extra": 1}, "c1")),
        completion(call("as_dict", {}, "c2")),
        completion(call("big", {}, "c3")),
        completion(content="ok"),
    ]
    _, model, [turn] = run(spec, answers, "hi")
    assert turn.tool_calls[0].ok and turn.tool_calls[0].result == "55"
    results = [json.loads(m["content"])["message"] for m in model.bodies[3]["messages"] if m["role"] == "tool"]
    assert results[1] == {"a": 1, "b": "x"}
    first_note = "... [NOTE: function output was truncated since it exceeded the character limit: 60000 > 50000]"
    assert results[2] == "x" * 50000 + (
        f"... [NOTE: function output was truncated since it exceeded the character limit ({60000 + len(first_note)}"
        " > 50000)]"
    )


def test_letta_v1_cuts_tool_returns_to_a_fifth_of_the_context_window(tmp_path: Path) -> None:
    """LettaAgentV3 builds each request with tool returns cut at `_compute_tool_return_truncation_chars`
    (a fifth of the window at 4 characters a token, at least 5,000): `... [truncated N chars]`."""
    (tmp_path / "custom.py").write_text(LETTA_V1_CUSTOM_TOOLS)
    body = "  v: {loop: letta-v1, context_window: 10000, tools: ['custom:big']}\n"
    spec = load_agents(write_agents(tmp_path, body)).get("v")
    _, model, _ = run(spec, [completion(call("big", {}, "c1")), completion(content="ok")], "hi")
    content = model.bodies[1]["messages"][-1]["content"]
    assert content.startswith('{\n  "status": "OK",\n  "message": "xxx') and len(content) < 8100
    assert content[8000:].startswith("... [truncated ")


def test_letta_v1_runs_only_the_first_call(tmp_path: Path) -> None:
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, clock: 2025-02-11T14:26:32Z}\n")).get("v")
    answers = [
        completion(call("what_time", {}, "c1"), call("core_memory_append", {"label": "human", "content": "x"}, "c2")),
        completion(content="ok"),
    ]
    agent, _, [turn] = run(spec, answers, "go")
    assert [c.name for c in turn.tool_calls] == ["what_time"]
    assert agent.memory.get_block("human").value == "Name: Bob"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("loop: letta-memgtp", "agents.a.loop: Input should be 'harness', 'letta-memgpt' or 'letta-v1'"),
        ("clock: 2025-02-11T14:26:32", "agents.a.clock.start: the clock's start 2025-02-11T14:26:32 has no timezone"),
        ("clock: {start: 2025-02-11T14:26:32Z, tick: -1}", "agents.a.clock.tick: Input should be greater than"),
        ("clock: {start: 2025-02-11T14:26:32Z, speed: 2}", "agents.a.clock.speed: unknown key 'speed'"),
    ],
)
def test_bad_loop_or_clock_is_a_located_error(
    tmp_path: Path, line: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_agents(tmp_path, f"  a:\n    {line}\n")
    with pytest.raises(ConfigError) as error:
        load_agents(path)
    assert f"{path}:8:" in str(error.value) and message in str(error.value)
    (tmp_path / "scenarios").mkdir()
    assert main(["validate", "--agents", str(path), str(tmp_path / "scenarios")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_letta_agent_without_a_clock_records_and_replays_on_the_recorded_run_clock(tmp_path: Path) -> None:
    """A Letta loop stamps the time on every message: without `clock:`, a recorded run freezes it at
    RECORDED_RUN_CLOCK (and seeds the boot message's id), so the recording replays whenever it is run."""
    from tests.fakes import Project as FakeProject

    agents = write_agents(tmp_path, "  m: {}\n")
    project = FakeProject(tmp_path)
    assert project.agents == agents
    project.write_scenario("s", "agent: m\nturns:\n  - user: hello\n    expect: {reply: {equals: Hi}}\n")
    assert main(["validate", "--agents", str(agents), str(project.scenario_path("s"))]) == 0
    recorded, server = project.record("s", [completion(call("send_message", {"message": "Hi", "inner_thoughts": "."}))])
    assert recorded.checks_passed, recorded.failures
    [received] = server.received
    body = received.body
    start = RECORDED_RUN_CLOCK.start.strftime("%Y-%m-%d %I:%M:%S %p")
    assert f"### Memory [last modified: {start} UTC+0000]" in body["messages"][0]["content"]
    assert json.loads(body["messages"][-1]["content"])["time"].startswith(start[:10])
    replays = [project.replay("s") for _ in range(2)]
    assert all(replay.checks_passed and not replay.stale for replay in replays), replays[0].stale
    assert replays[0].turns[0].messages == replays[1].turns[0].messages == recorded.turns[0].messages


def test_compile_shows_what_the_agents_loop_sends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agents = write_agents(tmp_path, "  m: {clock: 2025-02-11T14:26:32Z}\n  h: {loop: harness}\n")
    assert main(["compile", "m", "--agents", str(agents)]) == 0
    letta = capsys.readouterr().out
    assert "### Memory [last modified: 2025-02-11 02:26:32 PM UTC+0000]" in letta
    assert main(["compile", "m", "--tools", "--agents", str(agents)]) == 0
    tools = json.loads(capsys.readouterr().out)
    assert all(next(iter(t["function"]["parameters"]["properties"])) == "inner_thoughts" for t in tools)
    assert main(["compile", "h", "--agents", str(agents)]) == 0
    assert "### Memory" not in capsys.readouterr().out


def test_a_letta_agent_resumed_from_the_store_keeps_its_boot_messages(tmp_path: Path) -> None:
    from harness.factory import AgentFactory
    from harness.project import Project
    from harness.store import Store

    agents = write_agents(tmp_path, "  m: {loop: letta-memgpt, clock: 2025-02-11T14:26:32Z}\n")
    factory = AgentFactory(Project.build(agents=agents))
    spec = factory.config.get("m")
    store = Store(tmp_path / "state.db")
    first = factory.resume(spec, store, Scripted(spec.model, [completion(call("send_message", {"message": "Hi"}))]))
    first.send("Hello")
    resumed = factory.resume(spec, Store(tmp_path / "state.db"), Scripted(spec.model, []))
    assert resumed.messages == first.messages
    assert resumed.messages[0]["tool_calls"][0]["function"]["name"] == "send_message"  # the boot message


def test_letta_memgpt_for_gpt_4_keeps_thoughts_in_content_and_reads_loose_json(tmp_path: Path) -> None:
    """LLMConfig puts no inner thoughts in kwargs for `gpt-4`: the content is sent as is, and the
    arguments are parsed by Letta's json_loads (strict=False: a raw newline in a string is accepted) or
    fail with Letta's text."""
    agents = write_agents(tmp_path, "  g: {loop: letta-memgpt, clock: 2025-02-11T14:26:32Z, model: {name: gpt-4}}\n")
    spec = load_agents(agents).get("g")
    loose = '{"label": "human", "content": "line one\nline two", "request_heartbeat": true}'
    answers = [
        completion(call("core_memory_append", loose, "c1"), content="Saving two lines."),
        completion(call("core_memory_append", "{not json", "c2")),
        completion(call("send_message", {"message": "Saved."}, "c3")),
    ]
    agent, model, [turn] = run(spec, answers, "Remember this")
    assert [c.ok for c in turn.tool_calls] == [True, False, True]
    assert agent.memory.get_block("human").value == "Name: Bob\nline one\nline two"
    assert turn.tool_calls[1].result == "Error parsing JSON for function 'core_memory_append' arguments: {not json"
    assistant = model.bodies[1]["messages"][5]
    assert assistant["content"] == "Saving two lines." and assistant["tool_calls"][0]["function"]["arguments"] == loose
    tools = model.bodies[0]["tools"]
    assert all("inner_thoughts" not in t["function"]["parameters"]["properties"] for t in tools)
    failed = json.loads(model.bodies[2]["messages"][-1]["content"])
    assert failed["reason"].endswith("Function call failed, returning control")
    assert "core_memory_append" not in [t["function"]["name"] for t in model.bodies[2]["tools"]]


def test_a_letta_v1_agent_needs_no_send_message(tmp_path: Path) -> None:
    agents = write_agents(tmp_path, "  v: {loop: letta-v1, clock: 2025-02-11T14:26:32Z, tools: [core_memory_append]}\n")
    spec = load_agents(agents).get("v")
    _, _, [turn] = run(spec, [completion(content="Hello there.")], "Hi")
    assert turn.reply == "Hello there."
    with pytest.raises(ConfigError, match="add `send_message`"):
        load_agents(write_agents(tmp_path, "  h: {tools: [core_memory_append]}\n"))


def test_letta_memgpt_asks_again_for_a_cut_off_call_then_gives_up_as_letta_does(tmp_path: Path) -> None:
    """A call cut off at max_tokens has arguments that are not JSON: Letta's `create` fails to unpack the
    inner thoughts (a ValueError, asked again) before `_get_ai_reply` reads the finish reason."""
    spec = load_agents(write_agents(tmp_path, "  m: {loop: letta-memgpt, clock: 2025-02-11T14:26:32Z}\n")).get("m")
    cut = completion(call("send_message", '{"inner_thoughts": "x", "message": "I am I am I am', "c1"))
    cut["choices"][0]["finish_reason"] = "length"
    ok = completion(call("send_message", {"inner_thoughts": "y", "message": "Hello"}, "c3"))
    model = Scripted(spec.model, [cut, cut, cut, ok])
    agent = Agent(spec, model)
    history = list(agent.messages)
    turn = agent.send("Hi")
    assert turn.stop_reason is StopReason.INVALID_ANSWER and turn.reply is None
    assert turn.error is not None and turn.error.startswith("Retries exhausted and no valid response received.")
    assert len(model.bodies) == 3 and model.bodies[0] == model.bodies[2]
    assert agent.messages == history  # Letta keeps nothing of a step that raised: not even the user's message
    assert agent.send("Hi again").reply == "Hello"
    assert json.loads(model.bodies[3]["messages"][-1]["content"])["message"] == "Hi again"
    whole = completion(call("send_message", {"inner_thoughts": "x", "message": "ok"}, "c2"))
    whole["choices"][0]["finish_reason"] = "length"
    turn = Agent(spec, Scripted(spec.model, [whole])).send("Hi")
    assert turn.stop_reason is StopReason.LENGTH and turn.error == "Finish reason was length (maximum context length)"


@pytest.mark.parametrize("loop", ["letta-memgpt", "letta-v1", "harness"])
def test_arguments_nested_deeper_than_json_decodes_are_arguments_that_are_not_json(tmp_path: Path, loop: str) -> None:
    """A looping small model cut off by max_tokens can write `[[[[...` thousands deep: Python's json raises
    RecursionError there, which is no answer of the model's to crash on, but one more malformed call."""
    agents = write_agents(tmp_path, f"  a: {{loop: {loop}, clock: 2025-02-11T14:26:32Z}}\n")
    spec = load_agents(agents).get("a")
    deep = '{"inner_thoughts": "x", "message": ' + "[" * 5000
    cut = completion(call("send_message", deep, "c1"))
    ok = completion(call("send_message", {"inner_thoughts": "y", "message": "Hello"}, "c2"))
    if loop == "letta-v1":  # text ends a turn there
        ok = completion(content="Hello")
    elif loop == "harness":  # no inner thoughts there
        ok = completion(call("send_message", {"message": "Hello"}, "c2"))
    first = [cut, cut, cut] if loop == "letta-memgpt" else [cut, ok]
    agent = Agent(spec, Scripted(spec.model, [*first, ok]))
    turn = agent.send("Hi")
    if loop == "letta-memgpt":  # unpacking the inner thoughts fails: asked again, then given up
        assert turn.stop_reason is StopReason.INVALID_ANSWER and "nested too deeply" in str(turn.error)
    elif loop == "letta-v1":  # arguments Letta cannot read are {}: the tool runs without them
        assert turn.tool_calls[0].ok is False
        assert turn.tool_calls[0].result.startswith("LettaCoreToolExecutor.send_message() missing 1 required")
    else:  # the call fails, and the model is told why
        assert turn.tool_calls[0].ok is False and "nested too deeply" in turn.tool_calls[0].result
    assert agent.send("Hi again").reply == "Hello"


def test_letta_memgpt_resends_a_lone_surrogate_as_a_replacement_character_when_the_thoughts_are_missing(
    tmp_path: Path,
) -> None:
    """A call without `inner_thoughts` is not unpacked, and the next request puts the thoughts back into its
    arguments: read as the model's text (`jsontext.loads`), an escaped half emoji is U+FFFD there, as in the
    block, not a lone surrogate the SDK cannot encode into UTF-8."""
    spec = load_agents(write_agents(tmp_path, "  m: {loop: letta-memgpt, clock: 2025-02-11T14:26:32Z}\n")).get("m")
    edit = call("core_memory_append", {"label": "human", "content": "half \ud83d", "request_heartbeat": True}, "c1")
    assert "\\ud83d" in edit["function"]["arguments"]  # the escape, as the model wrote it
    answers = [completion(edit), completion(call("send_message", {"inner_thoughts": "ok", "message": "Done"}, "c2"))]
    agent, model, [turn] = run(spec, answers, "Remember")
    assert turn.reply == "Done" and agent.memory.get_block("human").value == "Name: Bob\nhalf \ufffd"
    resent = model.bodies[1]["messages"][-3]["tool_calls"][0]["function"]["arguments"]
    expected = {"inner_thoughts": None, "label": "human", "content": "half \ufffd", "request_heartbeat": True}
    assert json.loads(resent) == expected
    json.dumps(model.bodies[1], ensure_ascii=False).encode("utf-8")  # what the SDK does with the body


def test_letta_v1_reads_a_lone_surrogate_in_json_inside_an_argument_as_a_replacement_character(tmp_path: Path) -> None:
    """Letta 0.16.8's sandbox reads a text argument as JSON first: an escaped half emoji in that JSON is
    U+FFFD, as in the arguments themselves, so the tool's return can be sent back."""
    (tmp_path / "custom.py").write_text(LETTA_V1_CUSTOM_TOOLS)
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, tools: ['custom:echo']}\n")).get("v")
    answers = [completion(call("echo", {"text": '"half \\ud83d"'}, "c1")), completion(content="ok")]
    _, model, [turn] = run(spec, answers, "hi")
    assert turn.tool_calls[0].ok and turn.tool_calls[0].result == "half \ufffd"
    json.dumps(model.bodies[1], ensure_ascii=False).encode("utf-8")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(st.one_of(st.dictionaries(st.text(max_size=8), st.none() | st.booleans() | st.integers() | st.floats()
                                 | st.text()), json_values))  # fmt: skip
def test_lettas_json_dumps_writes_what_json_dumps_with_indent_2_writes(data: Any) -> None:
    """The packaging fast path (flat objects, line by line) gives Letta's json_dumps text exactly."""
    assert json_dumps(data) == json.dumps(data, indent=2, ensure_ascii=False)


def test_letta_time_is_lettas_format() -> None:
    moment = datetime(2025, 2, 11, 14, 26, 32, tzinfo=UTC)
    assert letta_time(moment) == letta_time(moment) == "2025-02-11 02:26:32 PM UTC+0000"


def test_put_inner_thoughts_in_kwargs_false_keeps_thoughts_in_the_text_and_changes_the_fingerprint(
    tmp_path: Path,
) -> None:
    from harness.fingerprint import agent_fingerprint, fingerprint_changes

    config = load_agents(
        write_agents(
            tmp_path,
            "  a: {clock: 2025-02-11T14:26:32Z}\n"
            "  b: {clock: 2025-02-11T14:26:32Z, model: {put_inner_thoughts_in_kwargs: false}}\n",
        )
    )
    answers = [completion(call("send_message", {"message": "Hi"}, "c1"), content="The user said hello.")]
    _, model, [turn] = run(config.get("b"), answers, "Hello")
    tools = model.bodies[0]["tools"]
    assert not any("inner_thoughts" in t["function"]["parameters"]["properties"] for t in tools)
    assert turn.reply == "Hi" and turn.steps[0].content == "The user said hello."
    with_default, without = agent_fingerprint(config.get("a")), agent_fingerprint(config.get("b"))
    assert "put_inner_thoughts_in_kwargs" not in with_default["parts"]["model"]
    assert fingerprint_changes(with_default, without) != []


class MistralLike(Scripted):
    """Refuses a request holding a tool-call id that is not 9 letters and digits, with Mistral's HTTP 422
    (its body as magentic#276 and eca#233 quote it); else answers in order."""

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice | None = None
    ) -> ChatResponse:
        ids = [c["id"] for m in messages for c in m.get("tool_calls") or ()]
        ids += [m["tool_call_id"] for m in messages if m["role"] == "tool"]
        for bad in [i for i in ids if not re.fullmatch(r"[a-zA-Z0-9]{9}", i)][:1]:
            message = f"Tool call id was {bad} but must be a-z, A-Z, 0-9, with a length of 9."
            error = {"object": "error", "message": message, "type": "invalid_request_message_error", "code": "3280"}
            return parse_answer(422, json.dumps(error), "mistral")
        return super().complete(messages, tools, tool_choice)


def test_letta_memgpt_boot_call_id_is_lettas_unless_mistral_tool_call_ids_says_otherwise(tmp_path: Path) -> None:
    """Letta 0.6's boot call id is a uuid cut to 29 characters (every recording holds it), which Mistral
    refuses: the refusal says what that id is and what to set; `mistral_tool_call_ids: true` makes it 9
    letters and digits (the uuid's first 9 hex digits), and the fingerprint says so."""
    from harness.fingerprint import agent_fingerprint, fingerprint_changes

    config = load_agents(
        write_agents(
            tmp_path,
            "  a: {clock: 2025-02-11T14:26:32Z}\n"
            "  b: {clock: 2025-02-11T14:26:32Z, model: {mistral_tool_call_ids: true}}\n",
        )
    )
    answers = [completion(call("send_message", {"inner_thoughts": "Hi.", "message": "Hi"}, "D681PevKs"))]
    agent = Agent(config.get("a"), MistralLike(config.get("a").model, list(answers)))
    letta_id = agent.messages[0]["tool_calls"][0]["id"]
    assert len(letta_id) == 29 and agent.messages[1]["tool_call_id"] == letta_id
    with pytest.raises(ModelAnswerError) as refused:
        agent.send("Hello")
    assert str(refused.value).startswith(f"the model endpoint mistral answered HTTP 422: Tool call id was {letta_id} ")
    assert str(refused.value).endswith(
        f"; {letta_id} is the id of the boot message's send_message call, a uuid cut to 29 characters as Letta 0.6 "
        "makes it: for a provider that takes only 9 letters and digits (Mistral), set `mistral_tool_call_ids: "
        "true` in the agent's `model:`"
    )
    _, model, [turn] = run(config.get("b"), answers, "Hello")
    boot = model.bodies[0]["messages"][1]
    assert (
        boot["tool_calls"][0]["id"] == letta_id.replace("-", "")[:9] == model.bodies[0]["messages"][2]["tool_call_id"]
    )
    assert turn.reply == "Hi"
    with_default, with_setting = agent_fingerprint(config.get("a")), agent_fingerprint(config.get("b"))
    assert "mistral_tool_call_ids" not in with_default["parts"]["model"]
    assert fingerprint_changes(with_default, with_setting) == ["model mistral_tool_call_ids (not set) -> True"]


def test_letta_v1_text_before_a_required_tool_goes_on_with_lettas_heartbeat(tmp_path: Path) -> None:
    """LettaAgentV3._decide_continuation: an answer without a tool call, with a required_before_exit tool
    not yet called, keeps the turn going with a ToolRuleViolated heartbeat (unless it was the last step)."""
    rules = "tool_rules: [{type: required_before_exit, tool_name: core_memory_append}]"
    agents = write_agents(tmp_path, f"  v: {{loop: letta-v1, clock: 2025-02-11T14:26:32Z, {rules}}}\n")
    answers = [
        completion(content="Hello!"),
        completion(call("core_memory_append", {"label": "human", "content": "Likes tea"}, "c1")),
        completion(content="Saved."),
    ]
    agent, model, [turn] = run(load_agents(agents).get("v"), answers, "I like tea")
    assert len(model.bodies) == 3 and turn.replies == ("Hello!", "Saved.")
    assert turn.stop_reason is StopReason.NO_TOOL_CALL
    assert model.bodies[1]["messages"][-2] == {"role": "assistant", "content": "Hello!"}
    heartbeat = model.bodies[1]["messages"][-1]
    assert heartbeat["role"] == "user"
    assert heartbeat["content"] == json_dumps(
        {
            "type": "heartbeat",
            "reason": "[This is an automated system message hidden from the user] ToolRuleViolated: You must call "
            "core_memory_append at least once to exit the loop.",
            "time": "2025-02-11 02:26:33 PM UTC+0000",
        }
    )
    assert "Likes tea" in agent.memory.get_block("human").value
    # Letta's `is_final_step` is never set (step() passes no remaining_turns): on the last step too the
    # heartbeat is added and kept, and the turn stops at its bound; the next turn sees it
    last = write_agents(tmp_path, f"  v: {{loop: letta-v1, max_steps: 1, {rules}}}\n")
    agent, model, [turn, _] = run(
        load_agents(last).get("v"), [completion(content="Hello!"), completion(content="x")], "hi", "again"
    )
    assert turn.stop_reason is StopReason.MAX_STEPS and turn.reply == "Hello!"
    roles = [message["role"] for message in model.bodies[1]["messages"][1:]]
    assert roles == ["user", "assistant", "user", "user"]
    assert "ToolRuleViolated" in model.bodies[1]["messages"][3]["content"]


@pytest.mark.parametrize("loop", ["letta-memgpt", "harness"])
def test_text_ends_the_turn_of_the_other_loops_whatever_the_rules(tmp_path: Path, loop: str) -> None:
    """Letta 0.6 has no required_before_exit, and the harness loop's text is its reply."""
    rules = "tool_rules: [{type: required_before_exit, tool_name: core_memory_append}]"
    agents = write_agents(tmp_path, f"  a: {{loop: {loop}, {rules}}}\n")
    _, model, [turn] = run(load_agents(agents).get("a"), [completion(content="Hello!")], "hi")
    assert len(model.bodies) == 1 and turn.stop_reason is StopReason.NO_TOOL_CALL


def test_letta_v1_sends_required_while_a_rule_forces_a_call(tmp_path: Path) -> None:
    """Letta's OpenAI client for letta_v1_agent: `required` while `should_force_tool_call` (a run_first rule
    at the start, right after a constrain_child_tools/conditional/parent_last_tool tool), else `auto`."""
    rules = (
        "tool_rules: [{type: run_first, tool_name: what_time},"
        " {type: constrain_child_tools, tool_name: what_time, children: [core_memory_append]}]"
    )
    agents = write_agents(tmp_path, f"  v: {{loop: letta-v1, {rules}}}\n")
    answers = [
        completion(call("what_time", {}, "c1")),
        completion(call("core_memory_append", {"label": "human", "content": "x"}, "c2")),
        completion(content="Done."),
    ]
    _, model, [turn] = run(load_agents(agents).get("v"), answers, "go")
    assert [body["tool_choice"] for body in model.bodies] == ["required", "required", "auto"]
    assert [[t["function"]["name"] for t in body["tools"]] for body in model.bodies][:2] == [
        ["what_time"],
        ["core_memory_append"],
    ]
    assert turn.reply == "Done."
    # what `cassettes check` compares with a recording: the first request as the rules make it
    fresh = Agent(load_agents(agents).get("v"), model)
    fresh.messages.append(fresh.loop.user_message("go", fresh.state.now()))
    first = fresh.first_request()
    assert first["tool_choice"] == "required" and [t["function"]["name"] for t in first["tools"]] == ["what_time"]


def test_letta_v1_sends_lettas_tool_choice_whatever_the_agents_model_says(tmp_path: Path) -> None:
    """Letta 0.16.8 sends `auto` to a letta_v1_agent unless a rule forces a call: an agent's `required` (the
    example agents.yaml's default) would keep every V1 turn from ending, so validate refuses it, naming the
    agent and the fix; a spec made in code with it still sends Letta's."""
    path = write_agents(tmp_path, "  v: {loop: letta-v1}\n  m: {loop: letta-memgpt}\n")
    path.write_text(path.read_text().replace("base_url:", "tool_choice: required, base_url:"))
    with pytest.raises(ConfigError) as info:
        load_agents(path)
    [problem] = info.value.problems
    assert (problem.key, problem.line) == ("defaults.model.tool_choice", 2)
    assert problem.message == (
        "agent 'v' runs the letta-v1 loop, which sends tool_choice as Letta 0.16.8 does: `required` while a tool "
        "rule forces a call, else `auto`, as its turn ends on an answer without a call (`required` on every "
        "request would never let one end): set `model: {tool_choice: auto}` on agent 'v'"
    )
    path.write_text(path.read_text().replace("v: {loop: letta-v1}", "v: {loop: letta-v1, model: {tool_choice: auto}}"))
    spec = load_agents(path).get("v")
    (tmp_path / "own").mkdir()
    own = write_agents(tmp_path / "own", "  v: {loop: letta-v1, model: {tool_choice: required}}\n")
    with pytest.raises(ConfigError) as info:
        load_agents(own)
    [problem] = info.value.problems
    assert problem.key == "agents.v.model.tool_choice" and problem.message.endswith(": remove it")
    coded = replace(spec, model=replace(spec.model, tool_choice=ToolChoice.REQUIRED))
    answers = [completion(call("what_time", {}, "c1")), completion(content="It is noon.")]
    _, model, [turn] = run(coded, answers, "time?")
    assert [body["tool_choice"] for body in model.bodies] == ["auto", "auto"] and turn.reply == "It is noon."


@pytest.mark.parametrize(("loop", "goes_on"), [("letta-memgpt", True), ("harness", False), ("letta-v1", False)])
def test_a_failed_call_of_an_exit_loop_tool_ends_the_turn_where_the_loop_says(
    tmp_path: Path, loop: str, goes_on: bool
) -> None:
    """Letta 0.6.23's _handle_ai_response returns `function_failed` before its rules set the heartbeat, and
    Agent.step chains on it ("Function call failed"), leaving the tool out of the next request; Letta V3
    ends the turn on an exit_loop tool whether it failed or not."""
    rules = "tool_rules: [{type: exit_loop, tool_name: core_memory_append}]"
    agents = write_agents(tmp_path, f"  a: {{loop: {loop}, clock: 2025-02-11T14:26:32Z, {rules}}}\n")
    failing = call("core_memory_append", {"label": "nope", "content": "x", "request_heartbeat": True}, "c1")
    answers = [completion(failing), completion(call("send_message", {"message": "Sorry."}, "c2"))]
    _, model, [turn] = run(load_agents(agents).get("a"), answers, "hi")
    assert not turn.tool_calls[0].ok
    if not goes_on:
        assert len(model.bodies) == 1 and turn.stop_reason is StopReason.NO_HEARTBEAT
        return
    assert len(model.bodies) == 2 and turn.stop_reason is StopReason.REPLIED
    assert "Function call failed, returning control" in model.bodies[1]["messages"][-1]["content"]
    assert [tool["function"]["name"] for tool in model.bodies[1]["tools"]] == ["send_message", "what_time"]


@pytest.mark.parametrize("loop", ["letta-memgpt", "harness", "letta-v1"])
def test_a_steps_record_offers_what_its_request_offered(tmp_path: Path, loop: str) -> None:
    """Letta 0.6 leaves out of a request the tool whose call failed in the step before, which the rules
    allow: the record (what `expect: tool_rules: offered:` checks) says what went out."""
    rules = "tool_rules: [{type: exit_loop, tool_name: send_message}]"
    agents = write_agents(tmp_path, f"  a: {{loop: {loop}, clock: 2025-02-11T14:26:32Z, {rules}}}\n")
    failing = call("core_memory_append", {"label": "nope", "content": "x", "request_heartbeat": True}, "c1")
    answers = [completion(failing), completion(call("send_message", {"message": "Sorry."}, "c2"))]
    _, model, [turn] = run(load_agents(agents).get("a"), answers, "hi")
    sent = [tuple(tool["function"]["name"] for tool in body["tools"]) for body in model.bodies]
    assert [step.offered for step in turn.steps] == sent
    assert ("core_memory_append" in sent[1]) is (loop != "letta-memgpt")


@pytest.mark.parametrize("loop", ["letta-memgpt", "harness"])
def test_the_other_loops_keep_the_agents_tool_choice_under_rules(tmp_path: Path, loop: str) -> None:
    rules = "tool_rules: [{type: run_first, tool_name: what_time}]"
    agents = write_agents(tmp_path, f"  a: {{loop: {loop}, model: {{tool_choice: auto}}, {rules}}}\n")
    _, model, _ = run(load_agents(agents).get("a"), [completion(content="Hi.")], "go")
    assert model.bodies[0]["tool_choice"] == "auto"


def test_letta_memgpt_words_memory_refusals_as_lettas_memory_raises_them(tmp_path: Path) -> None:
    """Letta raises ValueError for a read-only block and get_block's KeyError for an unknown label; the
    harness's own exception class (MemoryEditError) was named in the first."""
    block = "blocks: [{label: human, value: 'Name: Bob', read_only: true}]"
    spec = load_agents(write_agents(tmp_path, f"  m: {{loop: letta-memgpt, clock: 2025-02-11T14:26:32Z, {block}}}\n"))
    answers = [
        completion(call("core_memory_append", {"label": "human", "content": "x", "request_heartbeat": True}, "c1")),
        completion(call("core_memory_append", {"label": "nope", "content": "x", "request_heartbeat": True}, "c2")),
        completion(call("send_message", {"message": "ok"}, "c3")),
    ]
    _, _, [turn] = run(spec.get("m"), answers, "hi")
    assert [call.result for call in turn.tool_calls[:2]] == [
        "Error executing function core_memory_append: ValueError: Error This block is read-only and cannot be edited.",
        "Error executing function core_memory_append: KeyError: 'Block field nope does not exist (available "
        "sections = human)'",
    ]


def test_letta_v1_core_tool_errors_are_the_exceptions_own_text_and_an_unknown_tool_breaks_the_rules(
    tmp_path: Path,
) -> None:
    """LettaAgentV3: CoreToolExecutor returns `func_return=e` (the model sees str(e)); a name not among the
    tools offered is `_build_rule_violation_result`'s refusal; a custom tool's argument its schema lacks is
    not passed (the sandbox's `invoke_function_call`)."""
    agents = write_agents(tmp_path, "  v: {loop: letta-v1, clock: 2025-02-11T14:26:32Z}\n")
    answers = [
        completion(call("core_memory_append", {"label": "nope", "content": "x"}, "c1")),
        completion(call("web_search", {"query": "x"}, "c2")),
        completion(call("what_time", {"extra": 1}, "c3")),
        completion(content="Done."),
    ]
    _, _, [turn] = run(load_agents(agents).get("v"), answers, "go")
    assert [(call.ok, call.result) for call in turn.tool_calls] == [
        (False, "'Block field nope does not exist (available sections = human)'"),
        (
            False,
            "[ToolConstraintError] Cannot call web_search, valid tools include: "
            "['send_message', 'core_memory_append', 'what_time'].",
        ),
        (True, "2025-02-11T14:26:35+00:00"),
    ]
    assert turn.reply == "Done."


def test_letta_v1_core_memory_tools_refuse_a_read_only_block_before_anything_else(tmp_path: Path) -> None:
    """LettaCoreToolExecutor.core_memory_append/replace (0.16.8) check `read_only` first: a read-only block
    gets that refusal even where `old_content` is not in it; missing arguments still fail the call first,
    and an unknown label is get_block's KeyError."""
    tools = "tools: [core_memory_append, core_memory_replace]"
    blocks = "blocks: [{label: ro, value: fixed, read_only: true}]"
    spec = load_agents(write_agents(tmp_path, f"  v: {{loop: letta-v1, {tools}, {blocks}}}\n")).get("v")
    answers = [
        completion(call("core_memory_replace", {"label": "ro", "old_content": "absent", "new_content": "x"}, "c1")),
        completion(call("core_memory_append", {"label": "ro", "content": "x"}, "c2")),
        completion(call("core_memory_replace", {"label": "ro"}, "c3")),
        completion(call("core_memory_replace", {"label": "nope", "old_content": "a", "new_content": "b"}, "c4")),
        completion(content="ok"),
    ]
    agent, _, [turn] = run(spec, answers, "hi")
    assert [(call.ok, call.result) for call in turn.tool_calls] == [
        (False, "Error This block is read-only and cannot be edited."),
        (False, "Error This block is read-only and cannot be edited."),
        (
            False,
            "LettaCoreToolExecutor.core_memory_replace() missing 2 required positional arguments: 'old_content' "
            "and 'new_content'",
        ),
        (False, "'Block field nope does not exist (available sections = human, ro)'"),
    ]
    assert agent.memory.values() == {"human": "Name: Bob", "ro": "fixed"}


TYPED_TOOLS = '''
import datetime
import enum

import pydantic


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(pydantic.BaseModel):
    """An item."""

    name: str = pydantic.Field(description="its name")
    tags: list[str] = pydantic.Field(description="its tags")


# Keyword-only: Letta 0.6 converts only the other parameters' arguments, which it could not for these types.
def paint(*, colour: Colour, item: Item, items: list[Item]) -> str:
    """Paint items.

    Args:
        colour: the colour
        item: the first item
        items: the others
    """
    return "painted"


def store(record: dict) -> str:
    """Store a record.

    Args:
        record: the record
    """
    return "stored"


def due() -> dict:
    """When it is due."""
    return {"due": datetime.datetime(2024, 1, 2, 3, 4, 5)}


def poll(job: str) -> str:
    """Poll a job.

    Args:
        job: the job
    """
    raise ConnectionError("job server unreachable")
'''


def typed_agent(tmp_path: Path, tools: str, extra: str = "") -> AgentSpec:
    (tmp_path / "typedtools.py").write_text(TYPED_TOOLS)
    write_agents(tmp_path, f"  m: {{loop: letta-memgpt, clock: 2025-02-11T14:26:32Z, tools: {tools}{extra}}}\n")
    return load_agents(tmp_path / "agents.yaml").get("m")


def test_letta_memgpt_writes_models_and_enums_in_place_as_lettas_generate_schema(tmp_path: Path) -> None:
    """Pydantic refers to a model or an Enum by `$ref`; Letta's schema has it in place, and its structured
    output makes an object's properties all required (a `type: null` went out before)."""
    spec = typed_agent(tmp_path, "[send_message, 'typedtools:paint']")
    _, model, _ = run(spec, [completion(call("send_message", {"message": "hi"}, "c1"))], "hi")
    paint = next(tool["function"] for tool in model.bodies[0]["tools"] if tool["function"]["name"] == "paint")
    properties = paint["parameters"]["properties"]
    item = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "its name"},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "its tags"},
        },
        "additionalProperties": False,
        "required": ["name", "tags"],
    }
    assert paint["strict"] is True
    assert properties["colour"] == {"type": "string", "description": "the colour", "enum": ["red", "blue"]}
    assert properties["item"] == {"description": "the first item", **item}
    assert list(properties["item"]) == ["type", "description", "properties", "additionalProperties", "required"]
    assert properties["items"] == {
        "type": "array",
        "description": "the others",
        "items": {**item, "description": "An item."},
    }


def test_letta_memgpt_offers_a_tool_structured_outputs_cannot_express_as_generated_not_strict(tmp_path: Path) -> None:
    """prepare_openai_payload: convert_to_structured_output refuses an object without properties ("Property
    record of type object is missing properties"), and Letta sends that tool as generate_schema made it."""
    spec = typed_agent(tmp_path, "[send_message, 'typedtools:store']")
    _, model, _ = run(spec, [completion(call("send_message", {"message": "hi"}, "c1"))], "hi")
    store = next(tool["function"] for tool in model.bodies[0]["tools"] if tool["function"]["name"] == "store")
    assert "strict" not in store
    assert list(store["parameters"]["properties"]) == ["inner_thoughts", "record", "request_heartbeat"]
    assert store["parameters"]["required"] == ["inner_thoughts", "record", "request_heartbeat"]
    assert store["parameters"]["properties"]["record"]["type"] == "object"
    assert store["parameters"]["properties"]["record"]["description"] == "the record"


def test_letta_memgpt_offers_a_declared_tool_with_its_own_texts(tmp_path: Path) -> None:
    """Letta sends a tool known by its JSON schema as stored; its description and its parameters' went out
    empty (read from the docstring of the harness's stub, which has none)."""
    declared = (
        "{name: web_search, description: Search the web, parameters: {type: object, properties: "
        "{query: {type: string, description: What to look for}}, required: [query]}}"
    )
    spec = load_agents(write_agents(tmp_path, f"  m: {{tools: [send_message, {declared}]}}\n")).get("m")
    _, model, _ = run(spec, [completion(call("send_message", {"message": "hi"}, "c1"))], "hi")
    search = next(tool["function"] for tool in model.bodies[0]["tools"] if tool["function"]["name"] == "web_search")
    assert search["description"] == "Search the web"
    assert search["parameters"]["properties"]["query"] == {"type": "string", "description": "What to look for"}


def test_letta_memgpt_writes_a_datetime_in_a_result_as_lettas_json_dumps(tmp_path: Path) -> None:
    spec = typed_agent(tmp_path, "[send_message, 'typedtools:due']")
    answers = [
        completion(call("due", {"request_heartbeat": True}, "c1")),
        completion(call("send_message", {"message": "ok"}, "c2")),
    ]
    _, _, [turn] = run(spec, answers, "when?")
    assert (turn.tool_calls[0].ok, turn.tool_calls[0].result) == (True, '{\n  "due": "2024-01-02T03:04:05"\n}')


def test_letta_memgpt_ends_the_turn_unasked_when_the_only_tool_allowed_has_just_failed(tmp_path: Path) -> None:
    """Letta 0.6 `_get_ai_reply` returns None when leaving out the tool that failed leaves no tool, and its
    step ends the turn; the harness sent a request with no tools (and `parallel_tool_calls`, which OpenAI
    refuses without tools)."""
    rules = (
        ", tool_rules: [{type: conditional, tool_name: poll, default_child: poll,"
        " child_output_mapping: {done: send_message}}]"
    )
    spec = typed_agent(tmp_path, "[send_message, 'typedtools:poll']", rules)
    answers = [
        completion(call("poll", {"job": "j1", "request_heartbeat": True}, "c1")),
        completion(call("send_message", {"message": "sorry"}, "c2")),
    ]
    _, model, [first, second] = run(spec, answers, "poll it", "and now?")
    assert (first.stop_reason, len(first.steps), first.tool_calls[0].ok) == (StopReason.NO_TOOLS_LEFT, 1, False)
    assert len(model.bodies) == 2  # the second turn's request: none was sent for the failed call's heartbeat
    roles = [message["role"] for message in model.bodies[1]["messages"]]
    assert roles[-4:] == ["user", "assistant", "tool", "user"]  # no heartbeat kept between the turns
    assert second.stop_reason is StopReason.REPLIED


EDITING_TOOLS = '''
def note_then_fail(agent_state, text: str) -> str:
    """Note text, then fail.

    Args:
        text: the text
    """
    agent_state.memory.update_block_value("human", agent_state.memory.get_block("human").value + "\\n" + text)
    agent_state.memory.rename_block("human", "person")
    raise RuntimeError("disk full")
'''


@pytest.mark.parametrize("loop", ["harness", "letta-memgpt", "letta-v1"])
def test_a_tool_that_raises_leaves_memory_as_it_found_it(tmp_path: Path, loop: str) -> None:
    """Letta runs a tool on a copy of the agent's state and keeps memory only from a call that returned
    (0.6: update_memory_if_changed after the call; its sandbox returns no state from one that raised)."""
    (tmp_path / "editing_tools_d4.py").write_text(EDITING_TOOLS)
    write_agents(tmp_path, f"  m: {{loop: {loop}, tools: [send_message, 'editing_tools_d4:note_then_fail']}}\n")
    spec = load_agents(tmp_path / "agents.yaml").get("m")
    answers = [
        completion(call("note_then_fail", {"text": "likes tea", "request_heartbeat": True}, "c1")),
        completion(call("send_message", {"message": "ok"}, "c2")),
        completion(content="ok"),
    ]
    agent, _, [turn] = run(spec, answers, "note it")
    failed = turn.tool_calls[0]
    assert (failed.ok, failed.edits) == (False, ())
    assert "disk full" in failed.result
    assert agent.memory.values() == {"human": "Name: Bob"}
    assert (agent.memory.edits, agent.memory.revision) == ([], 0)
    assert agent.memory.get_block("human").value == "Name: Bob"


def test_letta_v1_sends_lettas_memory_blocks_and_metadata(tmp_path: Path) -> None:
    """Memory.compile's standard rendering and get_system_message_from_compiled_memory (letta 0.16.8): the
    memory at `{CORE_MEMORY}` (other braces left alone), each block's description and metadata (read_only
    only when it is), then `<memory_metadata>` with the agent's id and its creation time on its clock."""
    body = (
        "  v:\n    loop: letta-v1\n    clock: 2025-02-11T14:26:32Z\n"
        "    system: 'Keep {this}.\n\n      {CORE_MEMORY}\n\n      End.'\n"
        "    blocks:\n      - {label: human, value: 'Name: Bob', description: Who you talk to}\n"
        "      - {label: rules, value: 'Be kind', limit: 100, read_only: true}\n"
    )
    agent = Agent(load_agents(write_agents(tmp_path, body)).get("v"), Scripted(ModelSettings(name="m"), []))
    assert agent.request_messages()[0]["content"] == (
        "Keep {this}.\n"
        "<memory_blocks>\nThe following memory blocks are currently engaged in your core memory unit:\n\n"
        "<human>\n<description>\nWho you talk to\n</description>\n"
        "<metadata>\n- chars_current=9\n- chars_limit=5000\n</metadata>\n<value>\nName: Bob\n</value>\n</human>\n\n"
        "<rules>\n<description>\n\n</description>\n"
        "<metadata>\n- read_only=true\n- chars_current=7\n- chars_limit=100\n</metadata>\n"
        "<value>\nBe kind\n</value>\n</rules>\n\n</memory_blocks>\n\n"
        f"<memory_metadata>\n- AGENT_ID: {agent.state.id}\n- CONVERSATION_ID: default\n"
        "- System prompt last recompiled: 2025-02-11 02:26:32 PM UTC+0000\n"
        "- 0 previous messages between you and the user are stored in recall memory\n</memory_metadata>\n"
        "End."
    )


def test_letta_v1_shows_the_labels_the_memory_tool_creates_as_letta_writes_them(tmp_path: Path) -> None:
    """Memory._render_memory_blocks_standard (0.16.8) writes `<{block.label or "block"}>` as it is: a block
    the model created as `/memories/notes.md` is `<notes.md>`, one created at `/memories/` is `<block>`."""
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, tools: [memory]}\n")).get("v")
    creates = [
        completion(call("memory", {"command": "create", "path": path, "description": "d", "file_text": "x"}, f"c{i}"))
        for i, path in enumerate(["/memories/notes.md", "/memories/my café", "/memories/"])
    ]
    _, model, _ = run(spec, [*creates, completion(content="ok"), completion(content="ok")], "take notes", "hi")
    system = model.bodies[-1]["messages"][0]["content"]
    for tag in ("notes.md", "my café", "block"):
        assert f"<{tag}>\n<description>\nd\n</description>\n<metadata>\n- chars_current=1\n" in system
        assert f"<value>\nx\n</value>\n</{tag}>\n" in system


def test_letta_v1_rebuilds_its_system_message_as_lettas_tools_do(tmp_path: Path) -> None:
    """Letta 0.16.8 persists the system message and rebuilds it only when a tool changes memory: a new
    agent's has no tool rules; a turn sends the message it began with; a value edit rebuilds it (tool rules
    now in) at the message's creation time (BlockManager's rebuild, update_timestamp=False); the `memory`
    tool's create rebuilds it now, its delete not at all."""
    rules = "tool_rules: [{type: exit_loop, tool_name: what_time}]"
    tools = "tools: [core_memory_append, memory, 'timetools:what_time']"
    body = f"  v: {{loop: letta-v1, clock: 2025-02-11T14:26:32Z, {rules}, {tools}}}\n"
    spec = load_agents(write_agents(tmp_path, body)).get("v")
    answers = [
        completion(call("core_memory_append", {"label": "human", "content": "Likes tea"}, "c1")),
        completion(content="Noted."),
        completion(call("memory", {"command": "create", "path": "/memories/notes", "description": "d"}, "c2")),
        completion(content="Made."),
        completion(call("memory", {"command": "delete", "path": "/memories/notes"}, "c3")),
        completion(content="Gone."),
        completion(content="Hi."),
    ]
    agent, model, turns = run(spec, answers, "I like tea", "Make notes", "Drop them", "Hello")
    assert [turn.tool_calls[0].ok for turn in turns[:3]] == [True, True, True]
    systems = [body["messages"][0]["content"] for body in model.bodies]
    assert "<tool_usage_rules>" not in systems[0] and "Likes tea" not in systems[0]
    assert systems[1] == systems[0]  # the turn goes on with the message it began with
    rules_text = "<tool_usage_rules>\nThe following constraints define rules for tool usage"
    assert "Likes tea" in systems[2] and rules_text in systems[2]
    assert "recompiled: 2025-02-11 02:26:32 PM" in systems[2]  # the creation time, not the edit's
    assert "<notes>" in systems[4] and "recompiled: 2025-02-11 02:26:35 PM" in systems[4]  # created: now
    assert "notes" not in agent.memory.list_block_labels()
    assert systems[6] == systems[4]  # deleted, and still shown: nothing rebuilt it


class Passages:
    """An archival store that keeps what is inserted (no search: the test never asks)."""

    def __init__(self) -> None:
        self.kept: list[Passage] = []

    def insert(self, text: str, tags: Any, created_at: datetime) -> Passage:
        self.kept.append(Passage(f"passage-{len(self.kept)}", text, tuple(tags or ()), created_at))
        return self.kept[-1]

    def passages(self) -> list[Passage]:
        return list(self.kept)


def test_letta_v1_archival_insert_rebuilds_its_system_message_with_the_count(tmp_path: Path) -> None:
    """CoreToolExecutor.archival_memory_insert forces a rebuild (rebuild_system_prompt_async(force=True)):
    the next turn's message counts the passage, stamped at the insert's time."""
    body = (
        "  v: {loop: letta-v1, clock: 2025-02-11T14:26:32Z, tools: [archival_memory_insert],"
        " embedding: {name: e, base_url: 'http://127.0.0.1:9/v1'}}\n"
    )
    spec = load_agents(write_agents(tmp_path, body)).get("v")
    state = AgentState("agent-1", "v", spec.new_memory(), archival=cast(Archival, Passages()))
    model = Scripted(
        spec.model,
        [
            completion(call("archival_memory_insert", {"content": "tea"}, "c1")),
            completion(content="ok"),
            completion(content="hi"),
        ],
    )
    agent = Agent(spec, model, state=state)
    agent.send("Remember tea")
    agent.send("Hello")
    systems = [body["messages"][0]["content"] for body in model.bodies]
    assert "archival memory" not in systems[1]  # no passages when the turn began: no line
    assert systems[2].endswith(
        "- System prompt last recompiled: 2025-02-11 02:26:33 PM UTC+0000\n"
        "- 0 previous messages between you and the user are stored in recall memory\n"
        "- 1 total memories you created are stored in archival memory (use tools to access them)\n"
        "</memory_metadata>"
    )


@pytest.mark.parametrize(
    ("declared", "run_on", "sent"), [("gpt-4o-mini", "o3-mini", False), ("o3-mini", "gpt-4o", True)]
)
def test_letta_v1_decides_parallel_tool_calls_by_the_model_the_request_goes_to(
    tmp_path: Path, declared: str, run_on: str, sent: bool
) -> None:
    """It was decided from the declared model: `--model` (or a matrix model, a judge) swapping it sent the
    field to a reasoning model that refuses it, or left it out for one Letta sends it to."""
    from dataclasses import replace

    spec = load_agents(write_agents(tmp_path, f"  v: {{loop: letta-v1, model: {{name: {declared}}}}}\n")).get("v")
    spec = replace(spec, model=replace(spec.model, name=run_on))
    _, model, _ = run(spec, [completion(content="Hello.")], "hi")
    assert ("parallel_tool_calls" in model.bodies[0]) is sent


def test_letta_v1_gives_the_text_of_a_returned_dict_json_cannot_nest(tmp_path: Path) -> None:
    """A set in a returned dict: the packaging raised out of the tool call (a crashed scenario); Letta's
    sandbox hands back the dict with the set as its text (`json.dumps(default=str)`), nested."""
    (tmp_path / "settools_e5.py").write_text(
        'def tags(word: str) -> dict:\n    """Tag a word.\n\n    Args:\n        word: the word\n    """\n'
        '    return {"word": word, "tags": {"noun"}}\n'
    )
    write_agents(tmp_path, "  v: {loop: letta-v1, tools: [send_message, 'settools_e5:tags']}\n")
    answers = [completion(call("tags", {"word": "cat"}, "c1")), completion(content="Done.")]
    _, _, [turn] = run(load_agents(tmp_path / "agents.yaml").get("v"), answers, "tag cat")
    assert (turn.tool_calls[0].ok, turn.tool_calls[0].result) == (
        True,
        '{\n  "word": "cat",\n  "tags": "{\'noun\'}"\n}',
    )


def test_compile_with_a_scenario_shows_the_system_message_its_run_sends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """letta-v1's message names the agent's id, which a scenario's run makes from the scenario's name: compile
    printed another id (and the declared blocks where the scenario sets others)."""
    agents = write_agents(tmp_path, "  v: {loop: letta-v1, clock: 2025-02-11T14:26:32Z}\n")
    (tmp_path / "scenarios").mkdir()
    scenario = tmp_path / "scenarios" / "greet.yaml"
    scenario.write_text("agent: v\nblocks: {human: 'Name: Ann'}\nturns:\n  - user: hi\n", encoding="utf-8")
    assert main(["compile", "v", "--agents", str(agents), "--scenario", str(scenario)]) == 0
    compiled = capsys.readouterr().out
    assert "- AGENT_ID: agent-greet\n" in compiled and "Name: Ann" in compiled
    spec = load_agents(agents).get("v")
    model = Scripted(spec.model, [completion(content="Hello.")])
    from harness.factory import AgentFactory
    from harness.project import Project
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.model import load_scenario

    runner = ScenarioRunner(AgentFactory(Project.build(agents=str(agents))))
    agent = runner.factory.new_agent(
        spec, agent_id=runner.agent_id(load_scenario(scenario)), blocks={"human": "Name: Ann"}, model=model
    )
    agent.send("hi")
    assert model.bodies[-1]["messages"][0]["content"] == compiled.rstrip("\n")


LETTA_0168_SCHEMAS = Path(__file__).parent / "conformance" / "letta-0.16.8-tool-schemas.json"


def test_letta_v1_offers_the_base_tools_as_lettas_generate_schema_writes_them(tmp_path: Path) -> None:
    """Each base tool as Letta 0.16.8's generate_schema writes it (the fixture is its own output, from
    scripts/letta_v1_tool_schemas.py), compared as the request's text: no `default`, keys in Letta's
    order, descriptions' newlines kept, the `Examples:` section appended."""
    letta = json.loads(LETTA_0168_SCHEMAS.read_text())
    body = (
        f"  v: {{loop: letta-v1, tools: [{', '.join(letta)}],"
        " embedding: {name: e, base_url: 'http://127.0.0.1:9/v1'}}\n"
    )
    spec = load_agents(write_agents(tmp_path, body)).get("v")
    _, model, _ = run(spec, [completion(content="ok")], "hi")
    sent = {tool["function"]["name"]: tool["function"] for tool in model.bodies[0]["tools"]}
    assert list(sent) == list(letta)
    for name, schema in letta.items():
        assert json.dumps(sent[name]) == json.dumps(schema), name


LETTA_LOOPS = ("letta-memgpt", "letta-v1")
LETTA_CUSTOM_SCHEMAS = Path(__file__).parent / "conformance" / "letta-custom-tool-schemas.json"


def conformance_module(name: str) -> Any:
    """A module of tests/conformance (not a package: Letta's capture runs its files alone)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "conformance" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "loop"), [(name, loop) for name in json.loads(LETTA_CUSTOM_SCHEMAS.read_text()) for loop in LETTA_LOOPS]
)
def test_custom_tools_are_offered_as_letta_offers_them(name: str, loop: str) -> None:
    """Each tool of conformance/custom_tool_schemas.py as Letta sends it (the fixture is Letta's own output,
    from scripts/letta_custom_tool_schemas.py): under letta-memgpt as 0.6.23's request carries it, under
    letta-v1 as 0.16.8's generate_schema writes it, compared as text; where Letta refuses the tool, the
    harness's port of its generator refuses one of its parameters too."""
    letta = json.loads(LETTA_CUSTOM_SCHEMAS.read_text())[name][loop]
    function = getattr(conformance_module("custom_tool_schemas"), name)
    ported, _ = letta_parameters(function, "0.6.23" if loop == "letta-memgpt" else "0.16.8")
    if "refused" in letta:  # the port of Letta's generator refuses a parameter too (the harness offers its own)
        assert None in ported.values(), letta["refused"]
        return
    assert None not in ported.values()
    tool = tool_from_function(function)
    if loop == "letta-memgpt":
        sent = letta_tool_schema(tool, INNER_THOUGHTS_KWARG_DESCRIPTION)["function"]
    else:
        sent = letta_v1_tool_schema(tool)["function"]
    assert json.dumps(sent) == json.dumps(letta)


LETTA_V1_DOCUMENTED_TOOLS = '''
from typing import Literal, Optional


def plan(steps: list[Literal["a", "b"]], mode: str = "fast", note: Optional[str] = None, depth: int = 2) -> str:
    """Plan some steps.

    Args:
        steps (list): The steps, in order:
            - "a": the first kind
            - "b": the second kind
        mode (str): How to plan. Defaults to "fast".
        note (Optional[str]): A note.
        depth (int): How deep.

    Examples:
        plan(steps=["a"])

    Returns:
        str: the plan.
    """
    return mode
'''


def test_letta_v1_writes_a_custom_tool_as_lettas_generate_schema(tmp_path: Path) -> None:
    """A custom tool goes through the same generator: its defaults are not written, its argument texts
    keep their lines, its examples come after the description; the other loops' schemas are unchanged."""
    (tmp_path / "plans.py").write_text(LETTA_V1_DOCUMENTED_TOOLS)
    body = "  v: {loop: letta-v1, tools: ['plans:plan']}\n  h: {loop: harness, tools: [send_message, 'plans:plan']}\n"
    config = load_agents(write_agents(tmp_path, body))
    _, model, _ = run(config.get("v"), [completion(content="ok")], "hi")
    [plan] = [tool["function"] for tool in model.bodies[0]["tools"]]
    assert plan["description"] == (
        'Plan some steps.\n\nExamples:\n        plan(steps=["a"])\n\n    Returns:\n        str: the plan.'
    )
    assert json.dumps(plan["parameters"]) == json.dumps(
        {
            "type": "object",
            "properties": {
                "steps": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["a", "b"]},
                    "description": 'The steps, in order:\n- "a": the first kind\n- "b": the second kind',
                },
                "mode": {"type": "string", "description": 'How to plan. Defaults to "fast".'},
                "note": {"type": "string", "description": "A note."},
                "depth": {"type": "integer", "description": "How deep."},
            },
            "required": ["steps"],
        }
    )
    harness_plan = config.get("h").tool("plan").openai_schema()["function"]
    assert harness_plan["description"] == "Plan some steps."
    assert harness_plan["parameters"]["properties"]["mode"]["default"] == "fast"


@pytest.mark.parametrize("name", sorted(BUILTIN_TOOLS))
def test_letta_v1_examples_read_the_same_whatever_the_python_strips_from_docstrings(name: str) -> None:
    """Python 3.13 strips a docstring's indentation from `__doc__`; the examples Letta's server (3.11)
    appends keep it, so the harness's do on every Python."""
    doc = BUILTIN_TOOLS[name].__doc__
    assert examples_section(inspect.cleandoc(doc)) == examples_section(doc)


def test_letta_memgpt_drops_an_argument_a_custom_tools_schema_does_not_name(tmp_path: Path) -> None:
    """Letta 0.6.23's ToolExecutionSandbox passes only the arguments the tool's json_schema names
    (`initialize_param` returns nothing for the others, `invoke_function_call` leaves them out): the tool
    runs. The harness passed them on, and the call failed with `unexpected keyword argument`."""
    (tmp_path / "custom.py").write_text(LETTA_V1_CUSTOM_TOOLS)
    body = "  m: {loop: letta-memgpt, tools: [send_message, 'custom:echo']}\n"
    spec = load_agents(write_agents(tmp_path, body)).get("m")
    answers = [
        completion(call("echo", {"text": "ab", "times": 2, "units": "metric", "request_heartbeat": True}, "c1")),
        completion(call("send_message", {"message": "ok"}, "c2")),
    ]
    _, _, [turn] = run(spec, answers, "echo it")
    echoed = turn.tool_calls[0]
    assert (echoed.ok, echoed.result) == (True, "abab")


FAILING_TOOLS = '''
import sys


def fail(how: str) -> str:
    """Fail as told.

    Args:
        how (str): how to fail.
    """
    if how == "long":
        raise ValueError("e" * 2000)
    if how == "lines":
        raise ValueError("first line\\nsecond line")
    if how == "unnamed":
        raise StopIteration("not an Error by name")
    if how == "text":
        sys.exit("KeyError: gone")
    sys.exit(int(how))
'''


@pytest.mark.parametrize(
    ("how", "ok", "message"),
    [
        ("long", False, ("Error executing function fail: ValueError: " + "e" * 2000)[:1000]),
        ("lines", False, "Error executing function fail: ValueError: first line"),
        ("unnamed", False, "Error executing function fail: : "),
        ("3", False, "Error executing function fail: : "),
        ("text", False, "Error executing function fail: KeyError: gone"),
        ("0", True, "None"),
    ],
)
def test_letta_v1_words_a_custom_tools_failure_as_lettas_sandbox_reads_it_back(
    tmp_path: Path, how: str, ok: bool, message: str
) -> None:
    """Letta 0.16.8 runs a custom tool in a subprocess and reads a failure back from its stderr
    (`parse_stderr_error_msg`: `Name...Error: message` on one of the last lines), then
    `get_friendly_error_msg` cuts it at 1,000 characters. `sys.exit(n)` leaves no such line; a status of 0
    leaves no result either, and Letta takes the call for one that returned None."""
    (tmp_path / "failing.py").write_text(FAILING_TOOLS)
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, tools: ['failing:fail']}\n")).get("v")
    _, model, [turn] = run(spec, [completion(call("fail", {"how": how}, "c1")), completion(content="ok")], "go")
    assert (turn.tool_calls[0].ok, turn.tool_calls[0].result) == (ok, message)
    packaged = json.loads(model.bodies[1]["messages"][-1]["content"])
    assert (packaged["status"], packaged["message"]) == ("OK" if ok else "Failed", message)


RETURNING_TOOLS = '''
import dataclasses
import datetime

from pydantic import BaseModel


class Point(BaseModel):
    x: int
    y: int


@dataclasses.dataclass
class Span:
    start: datetime.date
    days: int


def give(what: str) -> object:
    """Return a value of a kind.

    Args:
        what (str): the kind.
    """
    loop = []
    loop.append(loop)
    return {
        "model": Point(x=1, y=2),
        "dataclass": Span(datetime.date(2025, 1, 2), 3),
        "tuple": (1, 2),
        "words": ("a", "b"),
        "datetime": {"when": datetime.datetime(2025, 1, 2, 3, 4, 5)},
        "set": {"tags": {"a"}},
        "loop": loop,
    }[what]
'''


@pytest.mark.parametrize(
    ("what", "ok", "message"),
    [
        ("model", True, {"x": 1, "y": 2}),
        ("dataclass", True, {"start": "2025-01-02", "days": 3}),
        ("tuple", True, "[1, 2]"),
        ("words", True, "['a', 'b']"),
        ("datetime", True, {"when": "2025-01-02 03:04:05"}),
        ("set", True, {"tags": "{'a'}"}),
        ("loop", False, "Error executing function give: ValueError: Circular reference detected"),
    ],
)
def test_letta_v1_returns_a_custom_tools_value_as_it_comes_out_of_lettas_sandbox(
    tmp_path: Path, what: str, ok: bool, message: Any
) -> None:
    """Letta 0.16.8's sandbox script dumps the return through a pydantic wrapper, writes it with
    `json.dumps(default=str)`, and the server reads it back with `json.loads`: a model or dataclass arrives
    as an object, a tuple as a list (whose `str()` the model sees), a datetime or a set as its `str()`;
    what JSON cannot write fails the script. The harness sent the Python value's own `str()`."""
    (tmp_path / "returning.py").write_text(RETURNING_TOOLS)
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, tools: ['returning:give']}\n")).get("v")
    _, model, [turn] = run(spec, [completion(call("give", {"what": what}, "c1")), completion(content="ok")], "go")
    assert turn.tool_calls[0].ok is ok
    packaged = json.loads(model.bodies[1]["messages"][-1]["content"])
    assert (packaged["status"], packaged["message"]) == ("OK" if ok else "Failed", message)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(JSON_VALUES)
def test_lettas_sandbox_transport_keeps_json_and_makes_a_tuple_a_list(value: Any) -> None:
    from harness.loops.letta_v1 import sandbox_return

    assert sandbox_return(value) == value
    assert sandbox_return((value, value)) == [value, value]
    assert sandbox_return({"pair": (value,)}) == {"pair": [value]}


def test_letta_memgpt_refuses_a_returned_dict_json_cannot_write_as_lettas_validate_function_response(
    tmp_path: Path,
) -> None:
    """Letta 0.6.23's validate_function_response: `try: json_dumps(...) except: raise ValueError(...)` of the
    dict; the harness named json's TypeError (`Type <class 'set'> not serializable`)."""
    (tmp_path / "settools_m.py").write_text(
        'def tags(word: str) -> dict:\n    """Tag a word.\n\n    Args:\n        word: the word\n    """\n'
        '    return {"word": word, "tags": {"noun"}}\n'
    )
    write_agents(tmp_path, "  m: {loop: letta-memgpt, tools: [send_message, 'settools_m:tags']}\n")
    answers = [
        completion(call("tags", {"word": "cat", "request_heartbeat": True}, "c1")),
        completion(call("send_message", {"message": "ok"}, "c2")),
    ]
    _, _, [turn] = run(load_agents(tmp_path / "agents.yaml").get("m"), answers, "tag cat")
    failed = turn.tool_calls[0]
    assert (failed.ok, failed.result) == (
        False,
        "Error executing function tags: ValueError: {'word': 'cat', 'tags': {'noun'}}",
    )


CANCELLING_TOOLS = '''
import asyncio


def cancel(job: str) -> str:
    """Cancel a job, as an asyncio library does.

    Args:
        job (str): the job.
    """
    raise asyncio.CancelledError()
'''


@pytest.mark.parametrize(
    ("loop", "message"),
    [
        ("harness", "Error executing function cancel: CancelledError: "),
        ("letta-memgpt", "Error executing function cancel: CancelledError: "),
        # 0.16.8's sandbox prints `asyncio.exceptions.CancelledError`, with no `: message` to read back
        ("letta-v1", "Error executing function cancel: : "),
    ],
)
def test_a_base_exception_of_a_custom_tool_fails_its_call_under_every_loop(
    tmp_path: Path, loop: str, message: str
) -> None:
    """asyncio.CancelledError is a BaseException: it went through the call (only Exception and SystemExit
    were caught) and ended `harness run` with a traceback. Letta 0.16.8 runs the tool in a process of its
    own, whose failure is the call's."""
    (tmp_path / "cancelling.py").write_text(CANCELLING_TOOLS)
    write_agents(tmp_path, f"  a: {{loop: {loop}, tools: [send_message, 'cancelling:cancel']}}\n")
    answers = [
        completion(call("cancel", {"job": "j1", "request_heartbeat": True}, "c1")),
        completion(call("send_message", {"message": "It would not stop."}, "c2")),
        completion(content="It would not stop."),
    ]
    _, _, [turn] = run(load_agents(tmp_path / "agents.yaml").get("a"), answers, "cancel j1")
    assert (turn.tool_calls[0].ok, turn.tool_calls[0].result) == (False, message)
    assert turn.reply == "It would not stop."


SLOW_TOOLS = '''
import time


def slow(job: str) -> str:
    """Wait on a service that never answers.

    Args:
        job (str): the job.
    """
    time.sleep(3600)
    return "done"
'''


@pytest.mark.parametrize("loop", ["harness", "letta-memgpt", "letta-v1"])
def test_a_custom_tool_past_its_tool_timeout_fails_with_lettas_text_and_the_turn_goes_on(
    tmp_path: Path, loop: str
) -> None:
    """Letta 0.16.8's sandbox stops a tool after `tool_sandbox_timeout` (180 s) and the model reads
    `Error executing function X: TimeoutError: Executing tool X timed out after 180.0 seconds.`; the harness
    waited for ever. (Letta 0.6.23's default sandbox runs the tool in its server, unbounded: the harness
    bounds it all the same.)"""
    (tmp_path / "slowtools.py").write_text(SLOW_TOOLS)
    write_agents(tmp_path, f"  a: {{loop: {loop}, tool_timeout: 0.3, tools: [send_message, 'slowtools:slow']}}\n")
    answers = [
        completion(call("slow", {"job": "j1", "request_heartbeat": True}, "c1")),
        completion(call("send_message", {"message": "It timed out."}, "c2")),
        completion(content="It timed out."),
    ]
    _, _, [turn] = run(load_agents(tmp_path / "agents.yaml").get("a"), answers, "run j1")
    assert (turn.tool_calls[0].ok, turn.tool_calls[0].result) == (
        False,
        "Error executing function slow: TimeoutError: Executing tool slow timed out after 0.3 seconds.",
    )
    assert turn.reply == "It timed out."


def test_letta_v1_reads_what_a_custom_tool_wrote_to_stderr_before_it_exited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.16.8's sandbox reads a failure from the last lines of its process's stderr, which hold what the tool
    wrote there when no traceback follows (a `sys.exit(1)`). The output is kept with the call, and never
    reaches the harness's console."""
    (tmp_path / "exiting.py").write_text(
        "import sys\n\n\ndef check(x: str) -> str:\n"
        '    """Check x.\n\n    Args:\n        x (str): the value.\n    """\n'
        '    print("checking", x)\n    print("ValueError: x is not a number", file=sys.stderr)\n    sys.exit(1)\n'
    )
    spec = load_agents(write_agents(tmp_path, "  v: {loop: letta-v1, tools: ['exiting:check']}\n")).get("v")
    _, _, [turn] = run(spec, [completion(call("check", {"x": "a"}, "c1")), completion(content="ok")], "go")
    checked = turn.tool_calls[0]
    assert (checked.ok, checked.result) == (False, "Error executing function check: ValueError: x is not a number")
    assert (checked.stdout, checked.stderr) == ("checking a\n", "ValueError: x is not a number\n")
    assert capsys.readouterr() == ("", "")


@given(st.text(alphabet="{}:abc 01[].\n", max_size=40), st.booleans())
def test_a_prompt_letta_literal_writes_is_shown_by_letta_safe_format_as_it_was(text: str, variable: bool) -> None:
    """Braces doubled (but `{CORE_MEMORY}`'s) read back through Letta 0.6's safe_format as the text was
    written, as Letta 0.7 on (which only replaces the variable) shows it; None only where no writing can."""
    prompt = text + ("{CORE_MEMORY}" if variable else "")
    literal = letta_literal(prompt)
    if literal is None:
        assert "{}" in prompt.replace("{CORE_MEMORY}", "")
    else:
        assert letta_safe_format(literal, {CORE_MEMORY: "<memory>"}) == prompt.replace("{CORE_MEMORY}", "<memory>")
