"""An Agent File's in-context messages become the chat messages Letta would send for them: a message Letta
would not send (or an OpenAI endpoint refuse) is left out alone, with a note, not the whole history."""

from __future__ import annotations

import json
import random
from typing import Any

import yaml

from harness.agentfile.importer import ImportResult, import_agent_file
from harness.agentfile.reading import parse_agent_file
from tests.agentfile.conftest import DATA, load_json, small_agent_file


def text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": value}]


def call(call_id: str, name: str = "send_message") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}


def imported(messages: list[dict[str, Any]]) -> ImportResult:
    everything = [{"role": "system", "content": text("S")}, *messages]
    numbered = [{"id": f"message-{i}", **m} for i, m in enumerate(everything)]
    data = small_agent_file([], messages=numbered, in_context_message_ids=[m["id"] for m in numbered])
    return import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af")


def history(result: ImportResult) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = yaml.safe_load(result.histories["a"])["messages"]
    return messages


def notes(result: ImportResult) -> list[str]:
    return [note.removeprefix("agent 'a': message history: ") for note in result.notes if "message history" in note]


def test_a_reply_of_reasoning_alone_is_left_out_not_the_history() -> None:
    """ezra-sleeptime: one such reply dropped its whole history. Letta's `to_openai_dict` sends none."""
    thinking = [{"type": "reasoning", "reasoning": "hmm", "is_native": True}]
    result = imported(
        [
            {"role": "user", "content": text("hi")},
            {"role": "assistant", "content": thinking},
            {"role": "assistant", "content": [*thinking, *text("hello")]},
            {"role": "user", "content": text("bye")},
            {"role": "assistant", "content": thinking},
        ]
    )
    assert history(result) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]
    assert notes(result) == [
        "message 5 (assistant): not kept: the last reply holds no text nor call (Letta leaves it out of its requests)",
        "message 2 (assistant): not kept: its reasoning alone (Letta sends no reply without text or calls)",
        "the reasoning of 1 messages not kept (Letta sends it as `reasoning_content`, a field a history has not; "
        "their text and calls are kept)",
    ]


def test_a_result_answering_no_call_is_left_out_not_the_history() -> None:
    """Letta would send it and an OpenAI endpoint refuse the request: only that message goes, and so does a
    call no result answers (its text stays)."""
    result = imported(
        [
            {"role": "tool", "content": text("orphan"), "tool_call_id": "gone"},
            {"role": "user", "content": text("hi")},
            {"role": "assistant", "content": text("thinking"), "tool_calls": [call("c1")]},
            {"role": "user", "content": text("again")},
        ]
    )
    assert history(result) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "thinking"},
        {"role": "user", "content": "again"},
    ]
    assert notes(result) == [
        "message 1 (tool): not kept: it answers no call made before it (an OpenAI endpoint refuses it)",
        "message 3 (assistant): its call 'c1' not kept: no result answers it (an OpenAI endpoint refuses an "
        "unanswered call)",
    ]


def test_tool_returns_are_sent_one_message_each_once_with_ids_cut_as_letta_cuts_them() -> None:
    long_a, long_b = "call_" + "a" * 40, "call_" + "b" * 40
    returns = [
        {"tool_call_id": long_a, "status": "success", "func_response": "A"},
        {"tool_call_id": long_b, "status": "success", "func_response": [*text("B"), {"type": "image"}]},
    ]
    result = imported(
        [
            {"role": "user", "content": text("go")},
            {"role": "assistant", "content": None, "tool_calls": [call(long_a, "x"), call(long_b, "y")]},
            {"role": "tool", "content": text("ignored"), "tool_call_id": long_a, "tool_returns": returns},
            {"role": "tool", "content": text("again"), "tool_call_id": long_a},  # a second result: not sent
        ]
    )
    a, b = long_a[:29], long_b[:29]
    assert history(result)[1:] == [
        {"role": "assistant", "content": None, "tool_calls": [call(a, "x"), call(b, "y")]},
        {"role": "tool", "content": "A", "tool_call_id": a},
        {"role": "tool", "content": "B [Image omitted]", "tool_call_id": b},
    ]
    assert notes(result) == ["message 4 (tool): not kept: a second result for its call (Letta sends the first)"]


def test_approvals_summaries_system_messages_and_parts_are_sent_as_letta_sends_them() -> None:
    result = imported(
        [
            {"role": "user", "content": [*text("one"), *text("two"), {"type": "image", "source": {}}]},
            {"role": "assistant", "content": text("let me"), "tool_calls": [call("c1", "x")]},
            {"role": "approval", "content": [], "tool_calls": [call("c2", "y")]},
            {"role": "approval", "content": [], "approve": True},
            {"role": "tool", "content": text("X"), "tool_call_id": "c1"},
            {"role": "tool", "content": text("Y"), "tool_call_id": "c2"},
            {"role": "system", "content": text("an alert")},
            {"role": "summary", "content": text("so far")},
        ]
    )
    assert history(result) == [
        {"role": "user", "content": "one\n\ntwo [Image omitted]"},
        {"role": "assistant", "content": "let me", "tool_calls": [call("c1", "x"), call("c2", "y")]},
        {"role": "tool", "content": "X", "tool_call_id": "c1"},
        {"role": "tool", "content": "Y", "tool_call_id": "c2"},
        {"role": "system", "content": "an alert"},
        {"role": "user", "content": "so far"},
    ]
    assert notes(result) == [
        "message 3 (approval): its calls sent with message 2, as Letta does",
        "message 1 (user): its 1 image(s) not kept (a history holds text): Letta's text for them in their place",
        "message 4 (approval): not kept: an approval response (Letta sends none)",
        "message 8 (summary): a summary, sent as a user message as Letta does",
    ]


def test_a_letta_0643_export_is_read_in_its_messages_creation_order() -> None:
    """memgpt_agent_with_convo: letta 0.6.43 marks messages `in_context` and writes them in its database's
    order (a result before its call); the whole history was dropped. The creation times give the order back,
    the system prompt first; messages not marked are out of context."""
    data = load_json(DATA / "letta_0643_memgpt_agent.af")
    expected = [m["role"] for m in data["messages"][1:]]
    stale = {**data["messages"][0], "created_at": "2025-01-01T00:00:00+00:00", "in_context": False}
    shuffled = data["messages"][:]
    random.Random(3).shuffle(shuffled)
    data["messages"] = [*shuffled, stale]
    result = import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af")
    assert [m["role"] for m in yaml.safe_load(result.histories["memgpt_agent"])["messages"]] == expected
    assert [n for n in result.notes if "message history" in n] == [
        "agent 'memgpt_agent': message history: 1 messages out of context not kept"
    ]
