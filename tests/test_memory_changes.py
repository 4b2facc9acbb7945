"""One memory-change path: whatever a tool does to a block (assign `.value`, `set_block`, create, delete,
rename) is checked against the block's limit, read_only and schema, and what is accepted reaches SQLite."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.agent import Agent
from harness.config import AgentSpec
from harness.factory import AgentFactory
from harness.memory import READ_ONLY_BLOCK_EDIT_ERROR, Block, BlockEdit, EditKind, Memory, MemoryEditError
from harness.project import Project
from harness.records import StepRecord
from harness.store import Store
from harness.tools.context import AgentState
from harness.tools.schema import tool_from_function
from tests.helpers import TEST_SETTINGS, Script, call, completion, reply

HB = {"request_heartbeat": True}


def assign_value(agent_state: AgentState, label: str, text: str) -> None:
    """Assign a block's value directly, as a careless custom tool would.

    Args:
        label (str): Block to change.
        text (str): Its new value.
    """
    agent_state.memory.get_block(label).value = text


def replace_block(agent_state: AgentState, label: str, text: str, limit: int) -> None:
    """Swap in a whole new block under an existing label, with a limit of its own choosing.

    Args:
        label (str): Block to replace.
        text (str): Its new value.
        limit (int): The limit the new block claims.
    """
    agent_state.memory.set_block(Block(label, text, limit=limit))


def raise_limit(agent_state: AgentState, label: str) -> None:
    """Try to lift a block's limit.

    Args:
        label (str): Block to change.
    """
    agent_state.memory.get_block(label).limit = 10**9  # type: ignore[misc]


def spec_with(spec: AgentSpec, *functions: object) -> AgentSpec:
    return dataclasses.replace(spec, tools=spec.tools + tuple(tool_from_function(f) for f in functions))  # type: ignore[arg-type]


def persisted_agent(tmp_path: Path, spec: AgentSpec, responses: list[object]) -> tuple[Agent, Store]:
    store = Store(tmp_path / "state.db")
    agent = AgentFactory(Project.build()).resume(spec, store, model=Script(responses).model(TEST_SETTINGS))
    return agent, store


def results(agent: Agent) -> list[dict[str, str]]:
    return [json.loads(m["content"]) for m in agent.messages if m["role"] == "tool"]


def test_assigning_value_over_the_limit_is_refused_and_the_model_is_told(tmp_path: Path, chat_spec: AgentSpec) -> None:
    spec = spec_with(chat_spec, assign_value)
    long = "x" * 12_000
    agent, store = persisted_agent(
        tmp_path, spec, [completion(call("assign_value", {"label": "human", "text": long, **HB})), reply("ok")]
    )
    agent.send("remember a lot")
    first = results(agent)[0]
    assert first["status"] == "Failed"
    assert "Edit failed: Exceeds 5000 character limit (requested 12000)" in first["message"]
    assert agent.memory.get_block("human").value == "Name: Bob"
    assert store.get_core_memory(agent.state.id).get_block("human").value == "Name: Bob"
    store.close()


def test_assigned_value_within_limit_is_recorded_and_persisted(tmp_path: Path, chat_spec: AgentSpec) -> None:
    spec = spec_with(chat_spec, assign_value)
    agent, store = persisted_agent(
        tmp_path, spec, [completion(call("assign_value", {"label": "human", "text": "Name: Ann", **HB})), reply("ok")]
    )
    result = agent.send("I am Ann")
    assert result.tool_calls[0].ok
    assert result.tool_calls[0].edits == (BlockEdit("human", "Name: Bob", "Name: Ann"),)
    store.close()
    reopened = Store(tmp_path / "state.db")
    agent_id = reopened.find_agent("chat")
    assert agent_id is not None
    assert reopened.get_core_memory(agent_id).get_block("human").value == "Name: Ann"
    edits = reopened.db.execute("SELECT label, old_value, new_value, kind FROM block_edits").fetchall()
    assert edits == [("human", "Name: Bob", "Name: Ann", "value")]
    reopened.close()


def test_set_block_cannot_bring_its_own_limit(tmp_path: Path, chat_spec: AgentSpec) -> None:
    spec = spec_with(chat_spec, replace_block)
    args = {"label": "human", "text": "y" * 12_000, "limit": 20_000, **HB}
    agent, store = persisted_agent(tmp_path, spec, [completion(call("replace_block", args)), reply("ok")])
    agent.send("go")
    first = results(agent)[0]
    assert first["status"] == "Failed"
    assert "keeps the limit, read_only and schema it was declared with" in first["message"]
    assert agent.memory.get_block("human").value == "Name: Bob"
    assert agent.memory.get_block("human").limit == 5000
    store.close()


def test_a_block_limit_cannot_be_assigned(chat_spec: AgentSpec) -> None:
    spec = spec_with(chat_spec, raise_limit)
    agent = Agent(spec, Script([completion(call("raise_limit", {"label": "human", **HB})), reply("ok")]).model())
    agent.send("go")
    assert results(agent)[0]["status"] == "Failed"
    assert agent.memory.get_block("human").limit == 5000


def test_changes_between_turns_are_persisted_with_the_next_step(tmp_path: Path, chat_spec: AgentSpec) -> None:
    agent, store = persisted_agent(tmp_path, chat_spec, [reply("hi")])
    agent.memory.get_block("human").value = "Name: Zed"
    agent.send("hello")
    assert store.get_core_memory(agent.state.id).values()["human"] == "Name: Zed"
    store.close()


def test_created_renamed_and_deleted_blocks_persist(tmp_path: Path, chat_spec: AgentSpec) -> None:
    agent, store = persisted_agent(tmp_path, chat_spec, [reply("one"), reply("two")])
    agent.memory.add_block(Block("notes", "n1", limit=100, description="Notes"))
    agent.send("first")
    assert store.get_core_memory(agent.state.id).list_block_labels() == ["persona", "human", "notes"]
    notes_id = agent.memory.get_block("notes").id
    agent.memory.rename_block("notes", "journal")
    agent.memory.delete_block("persona")
    agent.send("second")
    persisted = store.get_core_memory(agent.state.id)
    assert persisted.list_block_labels() == ["human", "journal"]
    assert persisted.get_block("journal").id == notes_id
    assert persisted.get_block("journal").limit == 100
    store.close()


# ------------------------------------------------------------------ the path itself


def test_standalone_block_assignment_is_checked_too() -> None:
    block = Block("human", "a", limit=3)
    with pytest.raises(MemoryEditError, match=r"Exceeds 3 character limit \(requested 4\)"):
        block.value = "abcd"
    block.value = "abc"
    assert block.value == "abc"
    frozen = Block("persona", "p", read_only=True)
    with pytest.raises(MemoryEditError) as info:
        frozen.value = "q"
    assert str(info.value) == READ_ONLY_BLOCK_EDIT_ERROR


def test_assignment_goes_through_memory_and_is_logged() -> None:
    memory = Memory([Block("human", "a")])
    before = memory.revision
    memory.get_block("human").value = "b"
    assert memory.edits == [BlockEdit("human", "a", "b")]
    assert memory.revision == before + 1


def test_read_only_blocks_cannot_be_deleted_renamed_or_redescribed() -> None:
    memory = Memory([Block("persona", "p", read_only=True, description="d")])
    for change in (
        lambda: memory.delete_block("persona"),
        lambda: memory.rename_block("persona", "other"),
        lambda: memory.update_block_description("persona", "new"),
    ):
        with pytest.raises(MemoryEditError, match="read-only"):
            change()
    assert memory.list_block_labels() == ["persona"]
    assert memory.edits == []


def test_rename_keeps_position_and_refuses_taken_labels_only() -> None:
    """Any text is a label, as Letta's Block.label is; only one that is taken, or not text, is refused."""
    memory = Memory([Block("a", "1"), Block("b", "2"), Block("c", "3")])
    memory.rename_block("b", "z")
    assert memory.list_block_labels() == ["a", "z", "c"]
    assert memory.get_block("z").label == "z"
    assert memory.edits[-1] == BlockEdit("z", "b", "z", EditKind.RENAME)
    with pytest.raises(MemoryEditError, match="Error: Memory block 'a' already exists"):
        memory.rename_block("z", "a")
    with pytest.raises(MemoryEditError, match="a block label is text, not int"):
        memory.rename_block("z", 7)  # type: ignore[arg-type]
    assert memory.list_block_labels() == ["a", "z", "c"]
    memory.rename_block("z", "has space.md")
    memory.add_block(Block("2025 café", "4"))
    assert memory.list_block_labels() == ["a", "has space.md", "c", "2025 café"]


def test_a_deleted_block_no_longer_reaches_memory() -> None:
    memory = Memory([Block("a", "1")])
    block = memory.delete_block("a")
    block.value = "2"  # a detached block is only itself now
    assert memory.values() == {}
    assert memory.edits == [BlockEdit("a", "1", "", EditKind.DELETE)]


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.text(alphabet="xy", max_size=8)), max_size=12),
    st.integers(1, 6),
)
def test_no_sequence_of_assignments_exceeds_a_limit(writes: list[tuple[str, str]], limit: int) -> None:
    memory = Memory([Block("a", "", limit=limit), Block("b", "", limit=limit, read_only=True)])
    expected = {"a": "", "b": ""}
    for label, text in writes:
        try:
            memory.get_block(label).value = text
        except MemoryEditError:
            assert label == "b" or len(text) > limit
        else:
            assert label == "a" and len(text) <= limit
            expected[label] = text
        assert all(len(b.value) <= b.limit for b in memory)
    assert memory.values() == expected
    replayed = {"a": "", "b": ""}
    for edit in memory.edits:
        assert replayed[edit.label] == edit.old
        replayed[edit.label] = edit.new
    assert replayed == expected


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["create", "delete", "rename", "value", "describe"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.text(alphabet="xy\n", max_size=6),
        ),
        max_size=10,
    )
)
def test_the_store_holds_what_memory_holds_after_any_changes(ops: list[tuple[str, str, str, str]]) -> None:
    """Whatever mix of creates, deletes, renames and edits memory accepted, one saved step persists exactly
    that: labels in order, ids, values, limits, descriptions and schemas."""
    memory = Memory([Block("a", "1", limit=8), Block("b", "[]", schema={"type": "array"}, description="list")])
    store = Store(":memory:")
    store.create_agent("agent-p", "p", memory.get_blocks())
    for op, label, other, text in ops:
        try:
            if op == "create":
                memory.add_block(Block(label, text, limit=8))
            elif op == "delete":
                memory.delete_block(label)
            elif op == "rename":
                memory.rename_block(label, other)
            elif op == "value":
                memory.update_block_value(label, text)
            else:
                memory.update_block_description(label, text or None)
        except MemoryEditError:
            pass
    store.save_step("agent-p", StepRecord(0, 0, None, (), "m"), [], memory.get_blocks())
    assert store.get_core_memory("agent-p").get_blocks() == memory.get_blocks()
    assert all(len(block.value) <= block.limit for block in memory)
    store.close()


def test_a_change_to_what_a_block_already_is_is_no_change_even_on_a_read_only_block() -> None:
    """Renaming a block to its own label, or giving it the description it has, records nothing and is not
    refused: `set_block` of a read-only block's very value and description goes through this path too."""
    memory = Memory([Block("persona", "p", read_only=True, description="d"), Block("human", "h")])
    memory.rename_block("human", "human")
    memory.update_block_description("persona", "d")
    memory.set_block(Block("persona", "p", read_only=True, description="d"))
    assert memory.list_block_labels() == ["persona", "human"]
    assert (memory.edits, memory.revision) == ([], 0)


def test_a_description_change_is_recorded_from_old_to_new() -> None:
    memory = Memory([Block("human", "h", description="the user")])
    memory.update_block_description("human", "the person talking")
    memory.update_block_description("human", None)
    assert memory.edits == [
        BlockEdit("human", "the user", "the person talking", EditKind.DESCRIBE),
        BlockEdit("human", "the person talking", "", EditKind.DESCRIBE),
    ]


def test_set_block_keeps_the_schema_the_block_was_declared_with() -> None:
    """A tool that swaps in a block of the same label cannot drop (or change) the block's schema."""
    tasks = {"type": "array"}
    memory = Memory([Block("tasks", "[]", schema=tasks)])
    for schema, value in ((None, "not json"), ({"type": "object"}, "{}")):
        with pytest.raises(MemoryEditError, match="keeps the limit, read_only and schema it was declared with"):
            memory.set_block(Block("tasks", value, schema=schema))
    assert memory.get_block("tasks").schema == tasks and memory.values() == {"tasks": "[]"}
