"""What a step and a tool call keep of a run."""

from __future__ import annotations

from harness.records import ToolCallRecord
from harness.scenarios.checks.base import call_made


def test_arguments_are_read_as_the_tool_got_them_a_lone_surrogate_a_replacement_character() -> None:
    """The model escaped half an emoji: the loops give the tool U+FFFD for it, and a check or a failure's
    text read it again with plain json, a lone surrogate, which pytest could not write (it showed the whole
    failure on one line, its line breaks as `\\n`)."""
    call = ToolCallRecord("c1", "core_memory_append", '{"content": "half \\ud83d", "label": "human"}', True, "", False)
    assert call.parsed_arguments == {"content": "half \ufffd", "label": "human"}
    call_made(call).encode("utf-8")
    assert ToolCallRecord("c2", "f", "[1]", True, "", False).parsed_arguments is None
    assert ToolCallRecord("c3", "f", "{not json", True, "", False).parsed_arguments is None
