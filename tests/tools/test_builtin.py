"""The built-in Letta tools, called as the model calls them: through their generated Tool."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.agent import AgentState
from harness.memory import Block, Memory
from harness.tools.builtin import BUILTIN_TOOLS, TERMINAL_TOOLS
from harness.tools.registry import resolve_tool
from harness.tools.schema import Tool, ToolResult
from tests.helpers import ROOT

APPEND = resolve_tool("core_memory_append", ROOT)
REPLACE = resolve_tool("core_memory_replace", ROOT)
SEND = resolve_tool("send_message", ROOT)


def state_with(*blocks: Block) -> AgentState:
    return AgentState("agent-test", "test", Memory(blocks))


def test_builtins_are_letta_base_tools() -> None:
    assert list(BUILTIN_TOOLS) == [
        "send_message",
        "core_memory_append",
        "core_memory_replace",
        "memory_replace",
        "memory_insert",
        "memory_rethink",
        "memory_finish_edits",
        "memory",
        "archival_memory_insert",
        "archival_memory_search",
        "conversation_search",
        "conversation_search_date",
    ]
    assert frozenset({"send_message"}) == TERMINAL_TOOLS
    assert SEND.terminal and not APPEND.terminal and not REPLACE.terminal


def test_send_message_returns_none_and_edits_nothing() -> None:
    state = state_with(Block("human", "Name: Bob"))
    result = SEND.call(state, {"message": "Hello 👋"})
    assert result == ToolResult(True, "None")
    assert state.memory.values() == {"human": "Name: Bob"}
    assert json.loads(result.to_content()) == {"status": "OK", "message": "None"}


def test_append_through_tool_uses_newline() -> None:
    state = state_with(Block("human", "Name: Bob"))
    result = APPEND.call(state, {"label": "human", "content": "Likes tea"})
    assert result.ok
    assert state.memory.get_block("human").value == "Name: Bob\nLikes tea"


def test_append_to_unknown_block_fails_without_raising() -> None:
    state = state_with(Block("human", "Name: Bob"))
    result = APPEND.call(state, {"label": "tasks", "content": "x"})
    assert not result.ok
    assert "Block with label 'tasks' does not exist" in result.message
    assert json.loads(result.to_content())["status"] == "Failed"


def test_seed_corruption_append_to_json_tasks_then_push_fails() -> None:
    push = resolve_tool("examples.task_queue:task_queue_push", ROOT)
    state = state_with(Block("tasks", "[]", limit=2000))
    content = "1. Explain my name 2. Tell me a story about my name in less than 100 words"
    assert APPEND.call(state, {"label": "tasks", "content": content}).ok
    value = state.memory.get_block("tasks").value
    assert value == "[]\n" + content
    with pytest.raises(json.JSONDecodeError):
        json.loads(value)
    # The queue tools now choke on the block, and say so to the model instead of crashing the run.
    result = push.call(state, {"task_description": "3. anything"})
    assert not result.ok
    assert result.message.startswith("Error executing function task_queue_push: JSONDecodeError:")
    assert state.memory.get_block("tasks").value == value


@given(
    value=st.text(max_size=30),
    content=st.text(max_size=30),
    limit=st.integers(min_value=30, max_value=70),
)
def test_append_tool_exact_or_refused(value: str, content: str, limit: int) -> None:
    state = state_with(Block("b", value, limit=limit))
    result = APPEND.call(state, {"label": "b", "content": content})
    expected = value + "\n" + content
    if len(expected) <= limit:
        assert result.ok
        assert state.memory.get_block("b").value == expected
    else:
        assert not result.ok
        assert result.message.endswith(f"Edit failed: Exceeds {limit} character limit (requested {len(expected)})")
        assert state.memory.get_block("b").value == value


@given(st.data(), st.text(alphabet="ab \n", max_size=24), st.text(alphabet="abc", max_size=5))
def test_replace_tool_every_occurrence_or_not_found(data: st.DataObject, value: str, new: str) -> None:
    old = data.draw(
        st.sampled_from([value[i:j] for i in range(len(value)) for j in range(i + 1, len(value) + 1)])
        if value and data.draw(st.booleans())
        else st.text(alphabet="abc", min_size=1, max_size=3)
    )
    state = state_with(Block("b", value, limit=500))
    result = REPLACE.call(state, {"label": "b", "old_content": old, "new_content": new})
    if old in value:
        assert result.ok, result.message
        assert state.memory.get_block("b").value == value.replace(old, new)
    else:
        assert not result.ok
        assert result.message == (
            "Error executing function core_memory_replace: ValueError: "
            f"Old content '{old}' not found in memory block 'b'"
        )
        assert state.memory.get_block("b").value == value


@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["append", "replace", "update"]),
            st.sampled_from(["ro", "rw"]),
            st.text(alphabet="xy\n", max_size=6),
            st.text(alphabet="xy\n", max_size=12),
        ),
        max_size=25,
    )
)
def test_random_tool_edits_respect_limits_and_read_only(ops: list[tuple[str, str, str, str]]) -> None:
    state = state_with(Block("ro", "fixed", limit=10, read_only=True), Block("rw", "xy", limit=15))
    for op, label, a, b in ops:
        before = state.memory.get_block(label).value
        if op == "append":
            result = APPEND.call(state, {"label": label, "content": a})
        elif op == "replace":
            result = REPLACE.call(state, {"label": label, "old_content": a, "new_content": b})
        else:
            try:
                state.memory.update_block_value(label, b)
                result = ToolResult(True, "None")
            except Exception as exc:
                result = ToolResult(False, str(exc))
        if not result.ok:
            assert state.memory.get_block(label).value == before
        for block in state.memory:
            assert len(block.value) <= block.limit
        assert state.memory.get_block("ro").value == "fixed"


@pytest.mark.parametrize("tool", [APPEND, REPLACE])
def test_memory_tools_refuse_read_only_blocks(tool: Tool) -> None:
    state = state_with(Block("persona", "fixed", read_only=True))
    args = (
        {"label": "persona", "content": "x"}
        if tool is APPEND
        else {"label": "persona", "old_content": "fixed", "new_content": "x"}
    )
    result = tool.call(state, args)
    assert not result.ok
    assert "read-only" in result.message
    assert state.memory.get_block("persona").value == "fixed"
