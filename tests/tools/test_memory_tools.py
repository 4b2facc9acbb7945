"""Letta 0.16.8's memory-editing tools (memory_replace, memory_insert, memory_rethink, memory_finish_edits,
memory), called as the model calls them: through their generated Tool. Expected texts are copied from
letta/services/tool_executor/core_tool_executor.py at tag 0.16.8 (letta-ai/letta)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.agent import AgentState
from harness.memory import READ_ONLY_BLOCK_EDIT_ERROR, Block, BlockEdit, EditKind, Memory
from harness.tools.registry import resolve_tool
from harness.tools.schema import Tool, ToolResult
from tests.helpers import ROOT

REPLACE = resolve_tool("memory_replace", ROOT)
INSERT = resolve_tool("memory_insert", ROOT)
RETHINK = resolve_tool("memory_rethink", ROOT)
FINISH = resolve_tool("memory_finish_edits", ROOT)
MEMORY = resolve_tool("memory", ROOT)

LINE_PREFIX = (
    "contains a line number prefix, which is not allowed. Do not include line numbers when calling memory tools "
    "(line numbers are for display purposes only)."
)
WARNING = (
    "# NOTE: Line numbers shown below (with arrows like '1→') are to help during editing. Do NOT include line "
    "number prefixes in your memory edit tool calls."
)


def state_with(*blocks: Block) -> AgentState:
    return AgentState("agent-test", "test", Memory(blocks))


def failure(tool: Tool, exception: str, message: str) -> ToolResult:
    return ToolResult(False, f"Error executing function {tool.name}: {exception}: {message}")


def test_schemas_carry_letta_signatures() -> None:
    def params(tool: Tool) -> tuple[list[str], list[str]]:
        schema = tool.openai_schema()["function"]["parameters"]
        return list(schema["properties"]), schema["required"]

    assert params(REPLACE) == (
        ["label", "old_string", "new_string", "request_heartbeat"],
        ["label", "old_string", "new_string", "request_heartbeat"],
    )
    assert params(INSERT) == (
        ["label", "new_string", "insert_line", "request_heartbeat"],
        ["label", "new_string", "request_heartbeat"],
    )
    assert INSERT.openai_schema()["function"]["parameters"]["properties"]["insert_line"]["default"] == -1
    assert params(RETHINK)[0] == ["label", "new_memory", "request_heartbeat"]
    assert params(FINISH) == (["request_heartbeat"], ["request_heartbeat"])
    names, required = params(MEMORY)
    assert names[:-1] == [
        "command",
        "path",
        "file_text",
        "description",
        "old_string",
        "new_string",
        "insert_line",
        "insert_text",
        "old_path",
        "new_path",
    ]
    assert required == ["command", "request_heartbeat"]
    assert REPLACE.description.startswith("The memory_replace command allows you to replace a specific string")


# ------------------------------------------------------------------ memory_replace


def test_replace_exactly_one_match() -> None:
    state = state_with(Block("human", "Their name is Alice\nLikes tea"))
    result = REPLACE.call(state, {"label": "human", "old_string": "Alice", "new_string": "Bob"})
    assert result == ToolResult(True, "Their name is Bob\nLikes tea")
    assert state.memory.edits == [BlockEdit("human", "Their name is Alice\nLikes tea", "Their name is Bob\nLikes tea")]


def test_replace_no_match_and_many_matches_say_so() -> None:
    state = state_with(Block("human", "a x\nb\na y"))
    assert REPLACE.call(state, {"label": "human", "old_string": "zz", "new_string": "q"}) == failure(
        REPLACE,
        "ValueError",
        "No replacement was performed, old_string `zz` did not appear verbatim in memory block with label `human`.",
    )
    assert REPLACE.call(state, {"label": "human", "old_string": "a", "new_string": "q"}) == failure(
        REPLACE,
        "ValueError",
        "No replacement was performed. Multiple occurrences of old_string `a` in lines [1, 3]. "
        "Please ensure it is unique.",
    )
    assert state.memory.values() == {"human": "a x\nb\na y"}


def test_replace_refuses_line_numbers_and_the_warning() -> None:
    state = state_with(Block("human", "Their name is Alice"))
    result = REPLACE.call(state, {"label": "human", "old_string": "1→ Their name", "new_string": "x"})
    assert result == failure(REPLACE, "ValueError", f"old_string {LINE_PREFIX}")
    result = REPLACE.call(state, {"label": "human", "old_string": "Alice", "new_string": "x\n2→ Bob"})
    assert result == failure(REPLACE, "ValueError", f"new_string {LINE_PREFIX}")
    result = REPLACE.call(state, {"label": "human", "old_string": WARNING, "new_string": "x"})
    assert "old_string contains a line number warning, which is not allowed." in result.message
    assert state.memory.edits == []


def test_replace_on_read_only_block_uses_letta_text() -> None:
    state = state_with(Block("persona", "fixed", read_only=True))
    result = REPLACE.call(state, {"label": "persona", "old_string": "fixed", "new_string": "free"})
    assert result == failure(REPLACE, "ValueError", READ_ONLY_BLOCK_EDIT_ERROR)
    assert READ_ONLY_BLOCK_EDIT_ERROR == "Error This block is read-only and cannot be edited."


def test_replace_over_the_limit_goes_through_the_memory_path() -> None:
    state = state_with(Block("human", "ab", limit=5))
    result = REPLACE.call(state, {"label": "human", "old_string": "a", "new_string": "xxxxx"})
    assert result == failure(REPLACE, "MemoryEditError", "Edit failed: Exceeds 5 character limit (requested 6)")
    assert state.memory.values() == {"human": "ab"}


@given(
    st.text(alphabet="ab\n", max_size=16), st.text(alphabet="ab\n", min_size=1, max_size=3), st.text("c", max_size=3)
)
def test_replace_property(value: str, old: str, new: str) -> None:
    state = state_with(Block("b", value, limit=100))
    result = REPLACE.call(state, {"label": "b", "old_string": old, "new_string": new})
    count = value.count(old)
    if count == 1:
        assert result == ToolResult(True, value.replace(old, new))
        assert state.memory.values()["b"] == value.replace(old, new)
    else:
        assert not result.ok
        assert ("did not appear verbatim" if count == 0 else "Multiple occurrences") in result.message
        assert state.memory.values()["b"] == value


# ------------------------------------------------------------------ memory_insert


def test_insert_default_appends_a_line_and_zero_prepends() -> None:
    state = state_with(Block("customer", "line one\nline two"))
    assert INSERT.call(state, {"label": "customer", "new_string": "end"}).ok
    assert INSERT.call(state, {"label": "customer", "new_string": "start", "insert_line": 0}).ok
    assert state.memory.values()["customer"] == "start\nline one\nline two\nend"


def test_insert_out_of_range_says_the_range() -> None:
    state = state_with(Block("customer", "one\ntwo"))
    assert INSERT.call(state, {"label": "customer", "new_string": "x", "insert_line": 3}) == failure(
        INSERT,
        "ValueError",
        "Invalid `insert_line` parameter: 3. It should be within the range of lines of the memory block: [0, 2], "
        "or -1 to append to the end of the memory block.",
    )
    result = INSERT.call(state, {"label": "customer", "new_string": "x", "insert_line": -2})
    assert "Invalid `insert_line` parameter: -2." in result.message


def test_insert_refuses_the_line_number_warning() -> None:
    state = state_with(Block("customer", "one"))
    result = INSERT.call(state, {"label": "customer", "new_string": WARNING})
    assert result == failure(
        INSERT,
        "ValueError",
        "new_string contains a line number warning, which is not allowed. Do not include line number information "
        "when calling memory tools (line numbers are for display purposes only).",
    )


@given(
    st.lists(st.text(alphabet="xy", max_size=3), min_size=1, max_size=5),
    st.text(alphabet="z\n", max_size=5),
    st.data(),
)
def test_insert_property(lines: list[str], new: str, data: st.DataObject) -> None:
    value = "\n".join(lines)
    state = state_with(Block("b", value, limit=200))
    at = data.draw(st.integers(-1, len(lines) + 1))
    result = INSERT.call(state, {"label": "b", "new_string": new, "insert_line": at})
    if at > len(lines):
        assert not result.ok and state.memory.values()["b"] == value
        return
    k = len(lines) if at == -1 else at
    expected = "\n".join(lines[:k] + new.split("\n") + lines[k:])
    assert result == ToolResult(True, expected)
    assert state.memory.values()["b"] == expected


# ------------------------------------------------------------------ memory_rethink, memory_finish_edits


def test_rethink_rewrites_the_block() -> None:
    state = state_with(Block("human", "old"))
    assert RETHINK.call(state, {"label": "human", "new_memory": "all new"}) == ToolResult(True, "all new")
    assert state.memory.values() == {"human": "all new"}


def test_rethink_refuses_display_prefixes_and_missing_blocks() -> None:
    state = state_with(Block("human", "old"))
    result = RETHINK.call(state, {"label": "human", "new_memory": "1→ Name: Bob\n2→ Likes tea"})
    assert result == failure(RETHINK, "ValueError", f"new_memory {LINE_PREFIX}")
    result = RETHINK.call(state, {"label": "human", "new_memory": f"{WARNING}\nName"})
    assert "new_memory contains a line number warning" in result.message
    result = RETHINK.call(state, {"label": "nowhere", "new_memory": "x"})
    assert not result.ok and "Block with label 'nowhere' does not exist" in result.message
    assert state.memory.values() == {"human": "old"}


def test_rethink_respects_read_only_and_limit() -> None:
    state = state_with(Block("persona", "p", read_only=True), Block("human", "h", limit=3))
    assert RETHINK.call(state, {"label": "persona", "new_memory": "q"}) == failure(
        RETHINK, "ValueError", READ_ONLY_BLOCK_EDIT_ERROR
    )
    assert (
        "Exceeds 3 character limit (requested 4)"
        in RETHINK.call(state, {"label": "human", "new_memory": "abcd"}).message
    )
    assert state.memory.edits == []


def test_finish_edits_changes_nothing() -> None:
    state = state_with(Block("human", "h"))
    assert FINISH.call(state, {}) == ToolResult(True, "None")
    assert state.memory.edits == []


# ------------------------------------------------------------------ memory (path-based)


def test_memory_create_then_edit_then_delete() -> None:
    state = state_with(Block("human", "h"))
    result = MEMORY.call(
        state,
        {"command": "create", "path": "/memories/coding", "description": "Coding prefs", "file_text": "tabs"},
    )
    assert result == ToolResult(
        True,
        "Successfully created memory block 'coding'. Your system prompt has been recompiled with the new memory "
        "block and is now active in your context.",
    )
    block = state.memory.get_block("coding")
    # Letta's Block default limit, CORE_MEMORY_BLOCK_CHAR_LIMIT (0.16.8)
    assert (block.value, block.description, block.limit) == ("tabs", "Coding prefs", 100_000)
    assert MEMORY.call(
        state, {"command": "str_replace", "path": "/memories/coding", "old_string": "tabs", "new_string": "spaces"}
    ) == ToolResult(True, "spaces")
    assert MEMORY.call(state, {"command": "insert", "path": "/memories/coding", "insert_text": "4 wide"}).ok
    assert state.memory.values()["coding"] == "spaces\n4 wide"
    assert MEMORY.call(state, {"command": "delete", "path": "/memories/coding"}) == ToolResult(
        True,
        "Successfully deleted memory block 'coding'. Your system prompt has been recompiled without this memory "
        "block and is now active in your context.",
    )
    assert state.memory.list_block_labels() == ["human"]
    assert [edit.kind for edit in state.memory.edits] == [
        EditKind.CREATE,
        EditKind.VALUE,
        EditKind.VALUE,
        EditKind.DELETE,
    ]


def test_memory_rename_and_describe() -> None:
    state = state_with(Block("temp", "t", description="old"), Block("human", "h"))
    result = MEMORY.call(state, {"command": "rename", "old_path": "/memories/temp", "new_path": "/memories/permanent"})
    assert result.message.startswith("Successfully renamed memory block 'temp' to 'permanent'.")
    assert state.memory.list_block_labels() == ["permanent", "human"]
    result = MEMORY.call(state, {"command": "rename", "path": "/memories/permanent", "description": "The notes."})
    assert result.message.startswith("Successfully updated description of memory block 'permanent'.")
    assert state.memory.get_block("permanent").description == "The notes."
    result = MEMORY.call(state, {"command": "rename", "path": "/memories/permanent"})
    assert result == failure(
        MEMORY,
        "ValueError",
        "Error: path and description are required for update_description command, or old_path and new_path are "
        "required for rename command",
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"command": "create", "description": "d"}, "Error: path is required for create command"),
        ({"command": "create", "path": "/memories/x"}, "Error: description is required for create command"),
        ({"command": "str_replace", "path": "/memories/human", "new_string": "x"}, "Error: old_string is required"),
        ({"command": "str_replace", "path": "/memories/human", "old_string": "x"}, "Error: new_string is required"),
        ({"command": "insert", "path": "/memories/human"}, "Error: insert_text is required for insert command"),
        ({"command": "delete"}, "Error: path is required for delete command"),
        (
            {"command": "view", "path": "/memories/human"},
            "Error: Unknown command 'view'. Supported commands: create, str_replace, insert, delete, rename",
        ),
    ],
)
def test_memory_argument_errors(arguments: dict[str, str], message: str) -> None:
    state = state_with(Block("human", "h"))
    result = MEMORY.call(state, arguments)
    assert not result.ok
    assert f"Error executing function memory: ValueError: {message}" in result.message
    assert state.memory.edits == []


def test_memory_read_only_and_limits_hold() -> None:
    state = state_with(Block("persona", "p", read_only=True), Block("human", "h", limit=4))
    result = MEMORY.call(
        state, {"command": "str_replace", "path": "/memories/persona", "old_string": "p", "new_string": "q"}
    )
    assert result == failure(MEMORY, "ValueError", READ_ONLY_BLOCK_EDIT_ERROR)
    result = MEMORY.call(state, {"command": "insert", "path": "/memories/human", "insert_text": "long"})
    assert "Exceeds 4 character limit (requested 6)" in result.message
    # Letta's delete returns its error as the tool's (successful) result.
    result = MEMORY.call(state, {"command": "delete", "path": "/memories/persona"})
    assert result == ToolResult(True, f"Error performing delete: {READ_ONLY_BLOCK_EDIT_ERROR}")
    result = MEMORY.call(
        state, {"command": "create", "path": "/memories/big", "description": "d", "file_text": "x" * 100_001}
    )
    assert "Exceeds 100000 character limit (requested 100001)" in result.message
    result = MEMORY.call(state, {"command": "create", "path": "/memories/human", "description": "d"})
    assert "Error: Memory block 'human' already exists" in result.message
    assert state.memory.values() == {"persona": "p", "human": "h"}


def test_typed_block_refuses_an_insert_that_breaks_its_schema() -> None:
    tasks = Block("tasks", "[]", schema={"type": "array", "items": {"type": "string"}})
    state = state_with(tasks)
    result = INSERT.call(state, {"label": "tasks", "new_string": "1. Explain my name"})
    assert not result.ok
    assert "Edit failed: block 'tasks' must hold JSON matching its schema: the value is not JSON" in result.message
    assert RETHINK.call(state, {"label": "tasks", "new_memory": '["Explain my name"]'}).ok
    result = RETHINK.call(state, {"label": "tasks", "new_memory": '["ok", 3]'})
    assert "3 is not of type 'string' (at [1])" in result.message
    assert state.memory.values() == {"tasks": '["Explain my name"]'}


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"command": "rename", "old_path": "/memories/nope", "new_path": "/memories/new"}, "Error performing rename: "),
        ({"command": "rename", "path": "/memories/nope", "description": "d"}, "Error performing update_description: "),
    ],
)
def test_memory_rename_of_an_unknown_block_fails_with_lettas_words(arguments: dict[str, str], says: str) -> None:
    """core_tool_executor 0.16.8: `raise Exception(f"Error performing rename: {str(e)}")` around get_block's
    KeyError, whose str() keeps its quotes."""
    state = state_with(Block(label="human", value="Name: Bob"), Block(label="persona", value="helpful"))
    result = MEMORY.call(state, arguments)
    missing = "'Block field nope does not exist (available sections = human, persona)'"
    assert result == ToolResult(False, f"Error executing function memory: Exception: {says}{missing}")


def test_memory_delete_of_an_unknown_block_returns_lettas_words() -> None:
    state = state_with(Block(label="human", value="Name: Bob"), Block(label="persona", value="helpful"))
    result = MEMORY.call(state, {"command": "delete", "path": "/memories/nope"})
    missing = "'Block field nope does not exist (available sections = human, persona)'"
    assert result == ToolResult(True, f"Error performing delete: {missing}")


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/memories/notes.md", "notes.md"),
        ("/memories/user preferences", "user preferences"),
        ("/memories/2025_goals", "2025_goals"),
        ("/memories/café", "café"),
        ("/memories/projects/q3", "projects/q3"),  # create keeps the `/` (the other commands make it `_`)
        ("notes", "notes"),
        ("/memories/", ""),
    ],
)
def test_memory_create_takes_the_labels_letta_takes(path: str, label: str) -> None:
    """core_tool_executor 0.16.8 `memory_create`: the label is the path without `/memories/` (and a leading
    `/`), whatever it holds: Letta's Block.label is any text."""
    state = state_with(Block("human", "h"))
    result = MEMORY.call(state, {"command": "create", "path": path, "description": "d", "file_text": "x"})
    assert result.message.startswith(f"Successfully created memory block '{label}'."), result.message
    assert state.memory.values() == {"human": "h", label: "x"}
    assert MEMORY.call(state, {"command": "str_replace", "path": path, "old_string": "x", "new_string": "y"}).ok
    assert state.memory.values() == {"human": "h", label: "y"}


def test_memory_rename_takes_the_labels_letta_takes() -> None:
    state = state_with(Block("human", "h"), Block("persona", "p"))
    result = MEMORY.call(state, {"command": "rename", "old_path": "/memories/human", "new_path": "/memories/human.md"})
    assert result.message.startswith("Successfully renamed memory block 'human' to 'human.md'.")
    result = MEMORY.call(state, {"command": "rename", "old_path": "/memories/persona", "new_path": "/memories/a b/c"})
    assert result.message.startswith("Successfully renamed memory block 'persona' to 'a b_c'.")
    assert state.memory.list_block_labels() == ["human.md", "a b_c"]


@given(st.text(max_size=20))
def test_memory_create_makes_the_label_lettas_path_gives(name: str) -> None:
    path = f"/memories/{name}"
    label = path.removeprefix("/memories/").removeprefix("/")
    state = state_with(Block("human", "h"))
    result = MEMORY.call(state, {"command": "create", "path": path, "description": "d", "file_text": "x"})
    if label == "human":
        assert not result.ok and state.memory.list_block_labels() == ["human"]
        return
    assert result.ok, result.message
    assert state.memory.list_block_labels() == ["human", label]
    assert state.memory.get_block(label).value == "x"


def test_replace_expands_tabs_in_old_string_as_in_the_block() -> None:
    """Letta's memory_replace expands tabs in old_string, new_string and the value alike, so a tab the
    model copies from the block still matches."""
    state = state_with(Block("human", "name:\tBob"))
    assert REPLACE.call(state, {"label": "human", "old_string": "name:\tBob", "new_string": "name:\tAnn"}).ok
    assert state.memory.values() == {"human": "name:   Ann"}


def test_replace_takes_the_line_number_warning_in_new_string() -> None:
    """Letta 0.16.8 refuses the warning banner in old_string only (new_string is checked for prefixes)."""
    state = state_with(Block("human", "Alice"))
    assert REPLACE.call(state, {"label": "human", "old_string": "Alice", "new_string": f"{WARNING} Bob"}).ok
    assert state.memory.values() == {"human": f"{WARNING} Bob"}


paths = st.lists(st.sampled_from(["a", "b c", "/", "memories", "x.md"]), max_size=4).map("".join)


@given(paths, st.sampled_from(["", "/", "/memories/"]))
def test_memory_commands_derive_the_label_as_lettas_executor_does(name: str, prefix: str) -> None:
    """core_tool_executor 0.16.8: every command strips `/memories/` and then a `/`; create and str_replace
    keep the other slashes, insert, delete and rename (and update_description) turn them into `_`."""
    path = prefix + name
    assume(path)  # an empty path is no path (Letta's `if path and description`)
    stripped = path.removeprefix("/memories/").removeprefix("/")
    underscored = stripped.replace("/", "_")
    for command, label, arguments in [
        ("str_replace", stripped, {"old_string": "v", "new_string": "w"}),
        ("insert", underscored, {"insert_text": "i"}),
        ("rename", underscored, {"description": "described"}),
        ("delete", underscored, {}),
    ]:
        state = state_with(*(Block(other, "v") for other in dict.fromkeys(["other", stripped, underscored])))
        before = state.memory.values()
        assert MEMORY.call(state, {"command": command, "path": path, **arguments}).ok
        changed = {key for key, value in state.memory.values().items() if before.get(key) != value}
        changed |= set(before) - set(state.memory.values())
        if command == "rename":
            changed = {b.label for b in state.memory if b.description == "described"}
        assert changed == {label}, (command, path)


def test_memory_rename_with_an_empty_description_is_neither_command() -> None:
    state = state_with(Block("human", "h", description="d"))
    result = MEMORY.call(state, {"command": "rename", "path": "/memories/human", "description": ""})
    assert result.message.endswith("or old_path and new_path are required for rename command")
    assert state.memory.get_block("human").description == "d" and state.memory.edits == []


def test_insert_expands_tabs_in_the_block_and_the_new_text() -> None:
    """Letta 0.16.8's memory_insert writes back the block's value and new_string with tabs expanded."""
    state = state_with(Block("todo", "a\tb"))
    assert INSERT.call(state, {"label": "todo", "new_string": "c\td"}) == ToolResult(True, "a       b\nc       d")
    at_top = {"command": "insert", "path": "/memories/todo", "insert_text": "\te", "insert_line": 0}
    assert MEMORY.call(state, at_top).ok
    assert state.memory.values() == {"todo": "        e\na       b\nc       d"}
