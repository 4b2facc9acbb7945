"""The agent loop, driven through the real OpenAI client by a scripted mock transport."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx2
import pytest

from harness.agent import Agent, StopReason
from harness.config import AgentsConfig, AgentSpec
from harness.errors import ModelAnswerError
from harness.llm.chat import CallIds
from tests.helpers import Script, call, completion, reply

Run = Callable[..., tuple[Agent, Script]]
HB = {"request_heartbeat": True}


def tool_messages(agent: Agent) -> list[dict[str, Any]]:
    return [m for m in agent.messages if m["role"] == "tool"]


def test_send_message_reply_ends_the_turn(run_script: Run) -> None:
    agent, script = run_script([reply("Hello Bob!")])
    result = agent.send("hi")
    assert result.stop_reason == StopReason.REPLIED == "replied"
    assert result.reply == "Hello Bob!"
    assert result.replies == ("Hello Bob!",)
    assert len(result.steps) == 1 and len(script.requests) == 1
    assert result.steps[0].model == "scripted-model"
    assert result.steps[0].usage["total_tokens"] == 15
    body = script.requests[0]
    assert body["model"] == "test-model"
    assert body["tool_choice"] == "required"
    names = [t["function"]["name"] for t in body["tools"]]
    assert names == ["send_message", "core_memory_append", "core_memory_replace"]
    assert body["messages"][1:] == [{"role": "user", "content": "hi"}]
    assert [m["role"] for m in agent.messages] == ["user", "assistant", "tool"]
    assert json.loads(agent.messages[-1]["content"]) == {"status": "OK", "message": "None"}


def test_heartbeat_continues_and_next_system_message_shows_the_edit(run_script: Run) -> None:
    agent, script = run_script(
        [
            completion(
                call("core_memory_replace", {"label": "human", "old_content": "Bob", "new_content": "Alice", **HB})
            ),
            reply("Nice to meet you, Alice"),
        ]
    )
    result = agent.send("My name is Alice")
    assert result.stop_reason == "replied"
    assert result.reply == "Nice to meet you, Alice"
    assert len(script.requests) == 2
    first, second = script.system_messages
    assert '<human characters="9/5000">\nName: Bob\n</human>' in first
    assert '<human characters="11/5000">\nName: Alice\n</human>' in second
    assert second == agent.system_message()
    assert second.startswith("You are a test agent.\n\n<persona")
    [edit_call] = result.steps[0].tool_calls
    assert edit_call.heartbeat and edit_call.ok
    assert [(e.label, e.old, e.new) for e in edit_call.edits] == [("human", "Name: Bob", "Name: Alice")]
    assert agent.memory.get_block("human").value == "Name: Alice"


def test_non_terminal_call_without_heartbeat_ends_turn_without_reply(run_script: Run) -> None:
    agent, script = run_script(
        [completion(call("core_memory_append", {"label": "human", "content": "Likes tea", "request_heartbeat": False}))]
    )
    result = agent.send("I like tea")
    assert result.stop_reason == StopReason.NO_HEARTBEAT
    assert result.reply is None
    assert len(script.requests) == 1
    assert agent.memory.get_block("human").value == "Name: Bob\nLikes tea"


def test_heartbeat_string_true_counts(run_script: Run) -> None:
    agent, script = run_script(
        [
            completion(call("core_memory_append", {"label": "human", "content": "x", "request_heartbeat": "true"})),
            reply("ok"),
        ]
    )
    assert agent.send("go").stop_reason == "replied"
    assert len(script.requests) == 2


def test_tool_failure_continues_with_failed_status(run_script: Run) -> None:
    agent, script = run_script(
        [
            completion(call("core_memory_replace", {"label": "human", "old_content": "Carol", "new_content": "Dan"})),
            reply("Sorry"),
        ]
    )
    result = agent.send("rename")
    assert result.stop_reason == "replied"  # the failure made the loop go on without a heartbeat
    assert len(script.requests) == 2
    [failed] = tool_messages(agent)[:1]
    assert json.loads(failed["content"]) == {
        "status": "Failed",
        "message": "Error executing function core_memory_replace: ValueError: "
        "Old content 'Carol' not found in memory block 'human'",
    }
    # The model saw its failure in the second request.
    assert script.requests[1]["messages"][-1] == failed
    assert not result.steps[0].tool_calls[0].ok
    assert agent.memory.get_block("human").value == "Name: Bob"


def test_over_limit_append_is_refused_and_reported(load_text: Callable[[str], AgentsConfig], run_script: Run) -> None:
    spec = load_text(
        """
        agents:
          tiny:
            loop: harness
            model: {name: test-model, base_url: "http://llm.test/v1"}
            system: s
            blocks: [{label: human, value: "Name: Bob", limit: 12}]
            tools: [send_message, core_memory_append]
        """
    ).get("tiny")
    agent, _ = run_script(
        [completion(call("core_memory_append", {"label": "human", "content": "Alice"})), reply("no room")], spec
    )
    agent.send("remember Alice")
    content = json.loads(tool_messages(agent)[0]["content"])
    assert content["status"] == "Failed"
    assert content["message"].endswith("Edit failed: Exceeds 12 character limit (requested 15)")
    assert agent.memory.get_block("human").value == "Name: Bob"


def test_unknown_tool_name_is_a_failed_result(run_script: Run) -> None:
    agent, script = run_script([completion(call("web_search", {"query": "x"})), reply("done")])
    result = agent.send("search")
    assert result.stop_reason == "replied" and len(script.requests) == 2
    content = json.loads(tool_messages(agent)[0]["content"])
    assert content == {
        "status": "Failed",
        "message": "No function named 'web_search'; available functions: "
        "send_message, core_memory_append, core_memory_replace",
    }


def test_malformed_json_arguments_are_a_failed_result(run_script: Run) -> None:
    agent, script = run_script(
        [completion(call("core_memory_append", '{"label": "human", "content": ')), reply("retrying")]
    )
    result = agent.send("x")
    assert len(script.requests) == 2 and result.reply == "retrying"
    content = json.loads(tool_messages(agent)[0]["content"])
    assert content["status"] == "Failed"
    assert content["message"].startswith("Error parsing arguments of core_memory_append as JSON:")
    # The raw arguments go back into history verbatim.
    sent = script.requests[1]["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert sent == '{"label": "human", "content": '
    assert result.steps[0].tool_calls[0].parsed_arguments is None


def test_non_object_arguments_are_a_failed_result(run_script: Run) -> None:
    agent, _ = run_script([completion(call("send_message", "[1, 2]")), reply("ok")])
    agent.send("x")
    message = json.loads(tool_messages(agent)[0]["content"])["message"]
    assert message == "Arguments of send_message must be a JSON object"


def test_invalid_arguments_are_a_failed_result(run_script: Run) -> None:
    agent, _ = run_script([completion(call("send_message", {"text": "hi"})), reply("ok")])
    result = agent.send("x")
    first = result.steps[0].tool_calls[0]
    assert not first.ok and "invalid arguments" in first.result
    assert result.replies == ("ok",)  # the failed send_message is not a reply


def test_max_steps_stops_the_turn(chat_spec: AgentSpec, run_script: Run) -> None:
    spec = replace(chat_spec, max_steps=3)
    looping = completion(call("core_memory_append", {"label": "persona", "content": "again", **HB}))
    agent, script = run_script([looping] * 5, spec)
    result = agent.send("loop")
    assert result.stop_reason == StopReason.MAX_STEPS == "max_steps"
    assert len(result.steps) == 3 and len(script.requests) == 3
    assert result.reply is None
    assert agent.memory.get_block("persona").value == "You are a helpful assistant" + "\nagain" * 3


def test_max_steps_from_config(agents_config: AgentsConfig, run_script: Run) -> None:
    spec = agents_config.get("short")
    assert spec.max_steps == 3
    agent, script = run_script([completion(call("nope", {}))] * 4, spec)
    assert agent.send("x").stop_reason == "max_steps"
    assert len(script.requests) == 3


def test_several_calls_in_one_response_run_in_order(run_script: Run) -> None:
    agent, script = run_script(
        [
            completion(
                call("core_memory_append", {"label": "human", "content": "Likes tea", **HB}, "srv_a"),
                call(
                    "core_memory_replace",
                    {"label": "human", "old_content": "tea", "new_content": "coffee", **HB},
                    "srv_b",
                ),
                call("send_message", {"message": "Noted"}, "srv_c"),
            ),
            reply("Anything else?"),
        ]
    )
    result = agent.send("I like coffee")
    # The replace could only succeed if the append had already run.
    assert agent.memory.get_block("human").value == "Name: Bob\nLikes coffee"
    first = result.steps[0].tool_calls
    assert [c.name for c in first] == ["core_memory_append", "core_memory_replace", "send_message"]
    assert all(c.ok for c in first)
    # send_message came with heartbeats from the other calls: the loop goes on to a second step.
    assert result.replies == ("Noted", "Anything else?")
    assert result.stop_reason == "replied"
    assert len(script.requests) == 2
    assert [m["role"] for m in agent.messages[:5]] == ["user", "assistant", "tool", "tool", "tool"]


def test_plain_text_ends_turn_with_text_as_reply(run_script: Run) -> None:
    agent, script = run_script([completion(content="Just text, no tools.")])
    result = agent.send("hi")
    assert result.stop_reason == StopReason.NO_TOOL_CALL == "no_tool_call"
    assert result.reply == "Just text, no tools."
    assert result.steps[0].tool_calls == ()
    assert agent.messages[-1] == {"role": "assistant", "content": "Just text, no tools."}
    assert len(script.requests) == 1


def test_local_tool_call_ids_rename_every_call_as_cassettes_before_provider_ids_did(chat_spec: AgentSpec) -> None:
    script = Script(
        [
            completion(
                call("core_memory_append", {"label": "human", "content": "a", **HB}, "call_SERVER_one"),
                call("core_memory_append", {"label": "human", "content": "b", **HB}, "call_SERVER_two"),
            ),
            reply("done", "call_SERVER_three"),
        ]
    )
    agent = Agent(chat_spec, script.model(), call_ids=CallIds.LOCAL)
    result = agent.send("x")
    assert [c.call_id for c in result.tool_calls] == ["call_1_0", "call_1_1", "call_4_0"]
    assistant = agent.messages[1]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_1_0", "call_1_1"]
    assert [m["tool_call_id"] for m in tool_messages(agent)] == ["call_1_0", "call_1_1", "call_4_0"]
    second_request = json.dumps(script.requests[1])
    assert "SERVER" not in second_request
    assert '"call_1_0"' in second_request and '"call_1_1"' in second_request


def no_id(body: dict[str, Any]) -> dict[str, Any]:
    """A completion whose tool calls carry no `id` at all (Gemini's compat layer)."""
    for item in body["choices"][0]["message"]["tool_calls"]:
        del item["id"]
    return body


def test_provider_tool_call_ids_are_kept_and_missing_or_repeated_ones_made_up(run_script: Run) -> None:
    agent, script = run_script(
        [
            completion(
                call("core_memory_append", {"label": "human", "content": "a", **HB}, "D681PevKs"),
                {**call("core_memory_append", {"label": "human", "content": "b", **HB}), "id": ""},
                call("core_memory_append", {"label": "human", "content": "c", **HB}, "D681PevKs"),
            ),
            no_id(reply("done")),
        ]
    )
    ids = [c.call_id for c in agent.send("x").tool_calls]
    assert ids[0] == "D681PevKs"  # the provider's own id goes back
    assert len(set(ids)) == 4  # unique across the conversation
    for made_up in ids[1:]:
        assert re.fullmatch(r"[a-zA-Z0-9]{9}", made_up), made_up  # Mistral's rule
    assert [m["tool_call_id"] for m in tool_messages(agent)] == ids
    assert [c["id"] for c in script.requests[1]["messages"][2]["tool_calls"]] == ids[:3]
    # The same conversation gets the same ids.
    again, _ = run_script(
        [
            completion(
                call("core_memory_append", {"label": "human", "content": "a", **HB}, "D681PevKs"),
                {**call("core_memory_append", {"label": "human", "content": "b", **HB}), "id": ""},
                call("core_memory_append", {"label": "human", "content": "c", **HB}, "D681PevKs"),
            ),
            no_id(reply("done")),
        ]
    )
    assert [c.call_id for c in again.send("x").tool_calls] == ids


def test_second_turn_sends_full_history(run_script: Run) -> None:
    agent, script = run_script([reply("one"), reply("two")])
    agent.send("first")
    agent.send("second")
    assert agent.turns == 2
    roles = [m["role"] for m in script.requests[1]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert script.requests[1]["messages"][-1] == {"role": "user", "content": "second"}


def test_task_queue_agent_pushes_and_pops(agents_config: AgentsConfig, run_script: Run) -> None:
    spec = agents_config.get("task_agent")
    agent, script = run_script(
        [
            completion(
                call("task_queue_push", {"task_description": "Explain my name", **HB}),
                call("task_queue_push", {"task_description": "Tell a story", **HB}),
            ),
            reply("Added"),
            completion(call("task_queue_pop", HB)),
            reply("Done with one"),
        ],
        spec,
    )
    agent.send("add tasks")
    assert json.loads(agent.memory.get_block("tasks").value) == ["Explain my name", "Tell a story"]
    result = agent.send("complete your tasks")
    assert result.tool_calls[0].result == "Explain my name"
    assert json.loads(agent.memory.get_block("tasks").value) == ["Tell a story"]
    assert '"[\\"Tell a story\\"]"' not in script.system_messages[-1]
    assert '["Tell a story"]' in script.system_messages[-1]


def test_a_turn_that_raises_at_a_later_step_keeps_the_steps_it_finished(run_script: Run) -> None:
    """Step 1 ran (its edit stands); step 2's answer is unusable. What `send` raises dropped step 1, and the
    report showed a memory edit no call had made."""
    no_choices = httpx2.Response(200, json={"id": "x", "object": "chat.completion", "model": "m", "choices": []})
    agent, _ = run_script(
        [completion(call("core_memory_append", {"label": "human", "content": "Azin", **HB})), no_choices]
    )
    with pytest.raises(ModelAnswerError):
        agent.send("I am Azin")
    (step,) = agent.steps_before_error
    assert [c.name for c in step.tool_calls] == ["core_memory_append"] and step.edited_labels == {"human"}
    assert agent.memory.get_block("human").value.endswith("Azin")
    agent.model = run_script([reply("Hi")])[1].model()
    agent.send("hello")
    assert agent.steps_before_error == ()  # a turn that finished has none
