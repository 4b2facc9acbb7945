"""What a scenario's run gives: the failure report's history of a block, each change told as the kind of
change it was, and the blocks a turn renamed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.errors import MemoryEditError
from harness.memory import Block, BlockEdit, EditKind, Memory
from harness.records import StepRecord, ToolCallRecord
from harness.scenarios.results import TurnRecord, edit_told
from tests.fakes import Project, completion, make_project
from tests.helpers import call


def test_each_kind_of_edit_is_told_as_what_it_is() -> None:
    """A description set, a creation and a deletion read as value changes (`'' -> 'Who I am'`, `'' -> 'n1'`,
    `'n1' -> ''`): the history contradicted the `actual:` line above it, and a deleted block read as emptied."""
    assert edit_told(BlockEdit("human", "Name: Bob", "Name: Ann")) == "'Name: Bob' -> 'Name: Ann'"
    assert edit_told(BlockEdit("notes", "", "n1", EditKind.CREATE)) == "block created with value 'n1'"
    assert edit_told(BlockEdit("notes", "", "", EditKind.CREATE)) == "block created with value ''"
    assert edit_told(BlockEdit("notes", "n1", "", EditKind.DELETE)) == "block deleted (its value was 'n1')"
    assert edit_told(BlockEdit("user", "human", "user", EditKind.RENAME)) == "renamed 'human' -> 'user'"
    told = edit_told(BlockEdit("persona", "", "Who I am", EditKind.DESCRIBE))
    assert told == "description changed from none to 'Who I am'"
    told = edit_told(BlockEdit("persona", "Who I am", "none", EditKind.DESCRIBE))
    assert told == "description changed from 'Who I am' to 'none'"  # a description "none" is not no description


def memory_project(tmp_path: Path) -> Project:
    project = make_project(tmp_path / "p")
    project.agents.write_text(
        project.agents.read_text(encoding="utf-8").replace(
            "tools: [send_message, core_memory_append, core_memory_replace]", "tools: [send_message, memory]"
        ),
        encoding="utf-8",
    )
    return project


def memory_turn(arguments: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        completion(call("memory", {**arguments, "request_heartbeat": True})),
        completion(call("send_message", {"message": "ok"})),
    ]


def test_a_failing_checks_history_names_creation_deletion_and_a_description_set(tmp_path: Path) -> None:
    project = memory_project(tmp_path)
    project.write_scenario(
        "kinds",
        """
        agent: chat
        turns:
          - user: create
          - user: delete
            expect: {blocks: {notes: {contains: n1}}}
          - user: describe
            expect:
              blocks: {persona: {contains: changed}}
              edited: {persona: false}
        """,
    )
    create = {"command": "create", "path": "/memories/notes", "description": "notes", "file_text": "n1"}
    delete = {"command": "delete", "path": "/memories/notes"}
    describe = {"command": "rename", "path": "/memories/persona", "description": "Who I am"}
    project.record("kinds", memory_turn(create) + memory_turn(delete) + memory_turn(describe))
    lines = project.replay("kinds").explain().splitlines()
    at = lines.index("  history of block 'notes':")
    assert lines[at + 1] == "    initial: no such block"
    assert lines[at + 2].startswith("    turn 1 step 1 memory(")
    assert lines[at + 2].endswith("): block created with value 'n1'")
    assert lines[at + 3].startswith("    turn 2 step 1 memory(")
    assert lines[at + 3].endswith("): block deleted (its value was 'n1')")
    at = lines.index("  history of block 'persona':")
    assert lines[at + 2].endswith("): description changed from none to 'Who I am'")
    assert not any(line.endswith("'' -> 'Who I am'") for line in lines)
    # A description set changes the block (Letta's BlockUpdate, as for a value), said as what it changed.
    assert any(
        line.endswith("expect.edited.persona: block 'persona' was changed by memory: its description") for line in lines
    )


LABELS = st.sampled_from(["a", "b", "c", "d"])
OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["rename", "create", "delete", "value", "describe"]), LABELS, LABELS), max_size=8
)


@given(OPERATIONS)
def test_a_turns_renamed_blocks_are_the_blocks_it_renamed(operations: list[tuple[str, str, str]]) -> None:
    """Whatever a turn did (renames in a chain or back, a label deleted and created again, a swap), `renamed`
    names each block it ended under another label than it began with, from that label: the block a report
    diffs against its value before the turn, and no other."""
    memory = Memory([Block("a", "va"), Block("b", "vb")])
    before = {block.label: block for block in memory.get_blocks()}
    for operation, label, other in operations:
        try:
            if operation == "rename":
                memory.rename_block(label, other)
            elif operation == "create":
                memory.add_block(Block(label, f"new {label}"))
            elif operation == "delete":
                memory.delete_block(label)
            elif operation == "value":
                memory.update_block_value(label, f"{label} by {other}")
            else:
                memory.update_block_description(label, other)
        except MemoryEditError:
            pass
    call = ToolCallRecord("c1", "memory", "{}", True, "ok", False, tuple(memory.edits))
    step = StepRecord(0, 0, None, (call,), "m")
    turn = TurnRecord(0, "u", None, [], memory.values(), unfinished_steps=(step,))
    began_as = {id(block): label for label, block in before.items()}
    expected = {
        block.label: began_as[id(block)]
        for block in memory.get_blocks()
        if id(block) in began_as and began_as[id(block)] != block.label
    }
    assert turn.renamed == expected
