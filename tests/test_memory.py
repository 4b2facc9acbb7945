from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from harness.agent import AgentState
from harness.memory import DEFAULT_LIMIT, Block, BlockEdit, Memory, MemoryEditError
from harness.tools.builtin import core_memory_append, core_memory_replace
from tests.helpers import SEED_MEMORY

labels = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,10}", fullmatch=True)
texts = st.text(max_size=40)


def template(blocks: list[Block]) -> str:
    """Letta's prompt template, spelled out independently of the implementation."""
    parts = []
    for b in blocks:
        parts.append("<" + b.label + ' characters="' + str(len(b.value)) + "/" + str(b.limit) + '">')
        parts.append("\n" + b.value + "\n")
        parts.append("</" + b.label + ">")
        parts.append("\n")
    return "".join(parts)[:-1] if parts else ""


# ------------------------------------------------------------------ the seed notebook


def test_seed_chat_memory_compiles_exactly() -> None:
    memory = Memory([Block("persona", "You are a helpful assistant"), Block("human", "Name: Bob")])
    assert memory.list_block_labels() == ["persona", "human"]
    assert memory.get_block("human").value == "Name: Bob"
    assert memory.get_block("human").limit == DEFAULT_LIMIT == 5000
    assert memory.compile() == SEED_MEMORY


def test_seed_tasks_block_becomes_invalid_json_after_append() -> None:
    memory = Memory([Block("tasks", json.dumps([]), limit=2000)])
    state = AgentState("agent-1", "task_agent", memory)
    content = "1. Explain my name 2. Tell me a story about my name in less than 100 words"
    core_memory_append(state, "tasks", content)
    assert memory.get_block("tasks").value == "[]\n" + content
    with pytest.raises(json.JSONDecodeError):
        json.loads(memory.get_block("tasks").value)
    # The notebook's later `core_memory_replace(..., new_content="")` leaves "[]\n" (JSON again by luck).
    core_memory_replace(state, "tasks", content, "")
    assert memory.get_block("tasks").value == "[]\n"


# ------------------------------------------------------------------ blocks and memory


def test_block_over_limit_is_refused_at_construction() -> None:
    with pytest.raises(MemoryEditError, match=r"^Edit failed: Exceeds 3 character limit \(requested 4\)$"):
        Block("x", "abcd", limit=3)


def test_blocks_get_distinct_ids() -> None:
    a, b = Block("a", ""), Block("b", "")
    assert a.id.startswith("block-") and b.id.startswith("block-")
    assert a.id != b.id


def test_get_block_unknown_label_names_the_available_ones() -> None:
    memory = Memory([Block("persona", "p"), Block("human", "h")])
    with pytest.raises(MemoryEditError, match=r"Block with label 'tasks' does not exist \(available: persona, human\)"):
        memory.get_block("tasks")
    with pytest.raises(MemoryEditError, match=r"available: none"):
        Memory().get_block("x")


def test_update_over_limit_is_refused_with_letta_message_and_leaves_value() -> None:
    memory = Memory([Block("human", "Name: Bob", limit=10)])
    with pytest.raises(MemoryEditError) as info:
        memory.update_block_value("human", "x" * 11)
    assert str(info.value) == "Edit failed: Exceeds 10 character limit (requested 11)"
    assert memory.get_block("human").value == "Name: Bob"
    assert memory.edits == []
    memory.update_block_value("human", "y" * 10)  # exactly at the limit is fine
    assert memory.get_block("human").value == "y" * 10


def test_read_only_block_refuses_edits() -> None:
    memory = Memory([Block("persona", "fixed", read_only=True)])
    with pytest.raises(MemoryEditError, match="read-only"):
        memory.update_block_value("persona", "changed")
    assert memory.get_block("persona").value == "fixed"


def test_non_string_value_is_refused() -> None:
    memory = Memory([Block("human", "h")])
    with pytest.raises(MemoryEditError, match="must be a string, not int"):
        memory.update_block_value("human", 5)  # type: ignore[arg-type]
    assert memory.get_block("human").value == "h"


def test_edits_are_logged_and_no_op_edits_are_not() -> None:
    memory = Memory([Block("human", "a")])
    memory.update_block_value("human", "a")
    memory.update_block_value("human", "b")
    memory.update_block_value("human", "c")
    assert memory.edits == [BlockEdit("human", "a", "b"), BlockEdit("human", "b", "c")]


def test_set_block_replaces_same_label_in_place() -> None:
    memory = Memory([Block("persona", "p"), Block("human", "h")])
    memory.set_block(Block("persona", "new"))
    memory.set_block(Block("tasks", "[]"))
    assert memory.list_block_labels() == ["persona", "human", "tasks"]
    assert memory.values() == {"persona": "new", "human": "h", "tasks": "[]"}
    assert [b.label for b in memory] == ["persona", "human", "tasks"]


def test_replace_replaces_every_occurrence() -> None:
    memory = Memory([Block("human", "a b a b a")])
    core_memory_replace(AgentState("agent-1", "a", memory), "human", "a", "cc")
    assert memory.get_block("human").value == "cc b cc b cc"


def test_empty_memory_compiles_to_empty_string() -> None:
    assert Memory().compile() == ""


# ------------------------------------------------------------------ properties


@st.composite
def block_lists(draw: st.DrawFn) -> list[Block]:
    chosen = draw(st.lists(labels, unique=True, max_size=5))
    blocks = []
    for label in chosen:
        value = draw(st.text(max_size=30))
        limit = draw(st.integers(min_value=max(len(value), 1), max_value=6000))
        blocks.append(Block(label, value, limit=limit))
    return blocks


@given(block_lists())
def test_compile_matches_letta_template(blocks: list[Block]) -> None:
    memory = Memory(blocks)
    assert memory.compile() == template(blocks)


@given(labels, st.text(max_size=30), st.text(max_size=30), st.integers(min_value=1, max_value=60))
def test_append_is_old_newline_content_or_refused(label: str, old: str, content: str, limit: int) -> None:
    if len(old) > limit:
        old = old[:limit]
    memory = Memory([Block(label, old, limit=limit)])
    state = AgentState("agent-1", "a", memory)
    expected = old + "\n" + content
    if len(expected) <= limit:
        core_memory_append(state, label, content)
        assert memory.get_block(label).value == expected
    else:
        with pytest.raises(MemoryEditError) as info:
            core_memory_append(state, label, content)
        assert str(info.value) == f"Edit failed: Exceeds {limit} character limit (requested {len(expected)})"
        assert memory.get_block(label).value == old


@given(st.data(), labels, st.text(alphabet="ab\n", max_size=20), st.text(alphabet="abc", max_size=6))
def test_replace_replaces_every_occurrence_or_fails(data: st.DataObject, label: str, value: str, new: str) -> None:
    if value and data.draw(st.booleans()):
        start = data.draw(st.integers(0, len(value) - 1))
        end = data.draw(st.integers(start + 1, len(value)))
        old = value[start:end]
    else:
        old = data.draw(st.text(alphabet="abc\n", max_size=4))
    memory = Memory([Block(label, value, limit=200)])
    state = AgentState("agent-1", "a", memory)
    if old in value:
        core_memory_replace(state, label, old, new)
        assert memory.get_block(label).value == value.replace(old, new)
    else:
        with pytest.raises(ValueError) as info:
            core_memory_replace(state, label, old, new)
        assert str(info.value) == f"Old content '{old}' not found in memory block '{label}'"
        assert memory.get_block(label).value == value


class MemoryEdits(RuleBasedStateMachine):
    """Random sequences of append / replace / update on blocks with small limits, some read-only."""

    @initialize(
        specs=st.lists(
            st.tuples(st.text(alphabet="xy\n", max_size=8), st.integers(0, 16), st.booleans()),
            min_size=1,
            max_size=4,
        )
    )
    def setup(self, specs: list[tuple[str, int, bool]]) -> None:
        blocks = []
        for i, (value, extra, read_only) in enumerate(specs):
            blocks.append(Block(f"b{i}", value, limit=len(value) + extra, read_only=read_only))
        self.memory = Memory(blocks)
        self.state = AgentState("agent-1", "a", self.memory)
        self.initial = {b.label: b.value for b in blocks}
        self.read_only = {b.label for b in blocks if b.read_only}
        self.expected = dict(self.initial)

    def _label(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.memory.list_block_labels()))

    def _apply(self, label: str, new_value: str, edit: object) -> None:
        block = self.memory.get_block(label)
        allowed = label not in self.read_only and len(new_value) <= block.limit
        try:
            edit()  # type: ignore[operator]
        except MemoryEditError:
            assert not allowed
        else:
            assert allowed
            self.expected[label] = new_value

    @precondition(lambda self: hasattr(self, "memory"))
    @rule(data=st.data(), content=st.text(alphabet="xyz\n", max_size=10))
    def append(self, data: st.DataObject, content: str) -> None:
        label = self._label(data)
        new = self.expected[label] + "\n" + content
        self._apply(label, new, lambda: core_memory_append(self.state, label, content))

    @precondition(lambda self: hasattr(self, "memory"))
    @rule(data=st.data(), new=st.text(alphabet="xyz\n", max_size=10))
    def replace(self, data: st.DataObject, new: str) -> None:
        label = self._label(data)
        current = self.expected[label]
        old = data.draw(st.text(alphabet="xyz\n", min_size=1, max_size=3))
        if old not in current:
            with pytest.raises(ValueError, match="not found in memory block"):
                core_memory_replace(self.state, label, old, new)
            return
        self._apply(label, current.replace(old, new), lambda: core_memory_replace(self.state, label, old, new))

    @precondition(lambda self: hasattr(self, "memory"))
    @rule(data=st.data(), value=st.text(alphabet="xyz\n", max_size=24))
    def update(self, data: st.DataObject, value: str) -> None:
        label = self._label(data)
        self._apply(label, value, lambda: self.memory.update_block_value(label, value))

    @invariant()
    def never_over_limit(self) -> None:
        for block in getattr(self, "memory", Memory()):
            assert len(block.value) <= block.limit

    @invariant()
    def read_only_blocks_never_change(self) -> None:
        for label in getattr(self, "read_only", ()):
            assert self.memory.get_block(label).value == self.initial[label]

    @invariant()
    def values_follow_the_model(self) -> None:
        if hasattr(self, "memory"):
            assert self.memory.values() == self.expected
            assert self.memory.compile() == template(self.memory.get_blocks())


TestMemoryEdits = MemoryEdits.TestCase
TestMemoryEdits.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)


# ------------------------------------------------------------------ block schemas: references and depth


DEFS = {"$defs": {"item": {"type": "string"}}, "type": "array", "items": {"$ref": "#/$defs/item"}}


def test_a_reference_within_the_schema_is_followed() -> None:
    from harness.memory import check_schema, schema_problem

    assert check_schema(DEFS) is None
    assert schema_problem(DEFS, '["a", "b"]') is None
    assert schema_problem(DEFS, '["a", 1]') == "1 is not of type 'string' (at [1])"
    escaped = {"$defs": {"a/b~c": {"type": "integer"}}, "$ref": "#/$defs/a~1b~0c"}
    assert check_schema(escaped) is None and schema_problem(escaped, '"x"') == "'x' is not of type 'integer'"


@pytest.mark.parametrize(
    "ref", ["#/$defs/nope", "#/definitions/item", "other.json", "http://127.0.0.1:9/schema.json", "#anchor"]
)
def test_a_reference_outside_the_schema_is_refused_before_anything_reads_it(ref: str) -> None:
    """jsonschema's default opened any URL a `$ref` named (and raised a traceback on one that missed)."""
    from harness.memory import check_schema, schema_problem

    schema = {**DEFS, "items": {"$ref": ref}}
    problem = check_schema(schema)
    assert problem is not None and problem.startswith(f"$ref {ref!r} does not resolve within the schema")
    with pytest.raises(jsonschema_unresolvable()):  # and never fetched, were it used unchecked
        schema_problem(schema, '["a"]')


def jsonschema_unresolvable() -> type[Exception]:
    from referencing.exceptions import Unresolvable

    return Unresolvable


def test_a_value_nested_deeper_than_json_reads_is_a_problem_not_a_crash() -> None:
    from harness.memory import schema_problem

    assert "nested too deeply" in str(schema_problem({"type": "array"}, "[" * 100_000 + "]" * 100_000))


@given(st.lists(st.sampled_from(["value", "create", "delete", "rename", "describe"]), max_size=8))
def test_restore_puts_back_what_checkpoint_saw_whatever_happened_since(operations: list[str]) -> None:
    memory = Memory([Block("human", "Name: Bob", description="the user"), Block("persona", "helpful")])
    memory.update_block_value("persona", "kind")
    before = ([(block.label, block.value, block.description) for block in memory], list(memory.edits))
    blocks = memory.get_blocks()
    checkpoint = memory.checkpoint()
    for index, operation in enumerate(operations):
        labels = memory.list_block_labels()
        label = labels[0] if labels else None
        if operation == "create":
            memory.add_block(Block(f"new{index}", "x"))
        elif label is None:
            continue
        elif operation == "value":
            memory.update_block_value(label, f"v{index}")
        elif operation == "delete":
            memory.delete_block(label)
        elif operation == "rename":
            memory.rename_block(label, f"renamed{index}")
        else:
            memory.update_block_description(label, f"d{index}")
    memory.restore(checkpoint)
    assert ([(block.label, block.value, block.description) for block in memory], memory.edits) == before
    assert memory.get_blocks() == blocks and all(memory.holds(block) for block in blocks)
    assert memory.revision == 1
    memory.update_block_value("human", "Name: Ann")  # the blocks are the memory's again: edits go through it
    assert blocks[0].value == "Name: Ann" and memory.revision == 2


def test_a_schema_problem_names_where_it_is_as_python_would_index_it() -> None:
    """The model reads the place of the problem: object keys quoted, list positions bare."""
    from harness.memory import schema_problem

    schema = {"type": "object", "properties": {"tasks": {"type": "array", "items": {"type": "string"}}}}
    assert schema_problem(schema, '{"tasks": ["a", 2]}') == "2 is not of type 'string' (at ['tasks'][1])"


def test_a_reference_past_the_end_of_a_list_does_not_resolve() -> None:
    from harness.memory import check_schema

    schema = {"prefixItems": [{"type": "string"}], "items": {"$ref": "#/prefixItems/1"}}
    assert str(check_schema(schema)).startswith("$ref '#/prefixItems/1' does not resolve within the schema")
    assert check_schema({**schema, "items": {"$ref": "#/prefixItems/0"}}) is None


def test_a_reference_unescapes_tilde_one_before_tilde_zero() -> None:
    """RFC 6901: `~01` is the key `~1`, not `/`."""
    from harness.memory import check_schema

    assert check_schema({"$defs": {"~1": {"type": "string"}}, "$ref": "#/$defs/~01"}) is None
    assert check_schema({"$defs": {"/": {"type": "string"}}, "$ref": "#/$defs/~01"}) is not None
