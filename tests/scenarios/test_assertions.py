"""Checking observed turns against `expect:`: every check passing and failing, located, with readable detail."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.archival import Passage, TagMatchMode, tags_match
from harness.records import StopReason, ToolCallRecord
from harness.scenarios import checks
from harness.scenarios.checks import ExpectWire, Failure, Observed, check
from harness.scenarios.checks.base import Lines

LOC = ("turns", 0, "expect")
INITIAL = {"persona": "You are a helpful assistant", "human": "Name: Bob", "tasks": "[]"}


def expect(data: dict[str, Any]) -> ExpectWire:
    return ExpectWire.model_validate(data)


def tool(name: str, arguments: dict[str, Any] | str | None = None) -> ToolCallRecord:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCallRecord(f"call_{name}", name, raw, True, "None", False)


def observed(
    blocks: dict[str, str] | None = None,
    calls: list[ToolCallRecord] | None = None,
    reply: str | None = "ok",
    stop_reason: str = "replied",
) -> Observed:
    return Observed({**INITIAL, **(blocks or {})}, dict(INITIAL), calls or [], reply, StopReason(stop_reason))


def run(data: dict[str, Any], obs: Observed) -> list[Failure]:
    return check(expect(data), obs, LOC)


def block_failures(label: str, block_check: Any, value: str) -> list[Failure]:
    return run({"blocks": {label: block_check}}, observed({label: value}))


def keys(failures: list[Failure]) -> list[str]:
    return [f.key for f in failures]


def test_no_expectations_no_failures() -> None:
    assert check(None, observed(), LOC) == []


def test_an_empty_expect_is_refused_listing_the_checks() -> None:
    """`expect: {}` (its last check commented out) checked nothing and passed."""
    with pytest.raises(ValueError, match=r"an empty `expect:` checks nothing \(and would pass\): give at least one"):
        expect({})


# ------------------------------------------------------------------ block checks


def test_equals() -> None:
    assert block_failures("human", {"equals": "Name: Azin"}, "Name: Azin") == []
    (failure,) = block_failures("human", {"equals": "Name: Azin"}, "Name: Bob")
    assert failure.key == "turns[0].expect.blocks.human.equals"
    assert failure.message == "block 'human' differs"
    assert (failure.expected, failure.actual, failure.label) == ("Name: Azin", "Name: Bob", "human")
    assert failure.detail() == ["expected: 'Name: Azin'", "actual:   'Name: Bob'"]


def test_contains_one_or_many_needles() -> None:
    assert block_failures("human", {"contains": "Azin"}, "Name: Azin") == []
    assert block_failures("human", {"contains": ["Name", "Azin"]}, "Name: Azin") == []
    failures = block_failures("human", {"contains": ["Azin", "data", "scientist"]}, "Name: Azin, data")
    assert keys(failures) == ["turns[0].expect.blocks.human.contains"]
    assert failures[0].message == "block 'human' does not contain 'scientist'"
    assert failures[0].actual == "Name: Azin, data"
    both = block_failures("human", {"contains": ["x", "y"]}, "Name: Bob")
    assert [f.message for f in both] == ["block 'human' does not contain 'x'", "block 'human' does not contain 'y'"]


def test_not_contains() -> None:
    assert block_failures("human", {"not_contains": "Bob"}, "Name: Robert") == []
    (failure,) = block_failures("human", {"not_contains": ["Alice", "Bob"]}, "Name: Bob")
    assert failure.key == "turns[0].expect.blocks.human.not_contains"
    assert failure.message == "block 'human' contains 'Bob'"
    assert failure.label == "human"


def test_a_failed_contains_shows_the_value_not_a_null_expectation() -> None:
    (failure,) = block_failures("human", {"contains": "Carol"}, "Name: Bob")
    assert failure.detail() == ["actual:   'Name: Bob'"]


def test_matches_searches_anywhere() -> None:
    assert block_failures("human", {"matches": r"A\w+n"}, "Name: Azin") == []
    assert block_failures("human", {"matches": r"^Name: \w+$"}, "Name: Azin") == []
    (failure,) = block_failures("human", {"matches": r"^Azin"}, "Name: Azin")
    assert failure.key == "turns[0].expect.blocks.human.matches"
    assert failure.message == "block 'human' does not match /^Azin/"


def test_a_pattern_that_backtracks_catastrophically_fails_its_check_in_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`(a|aa)+$` on 60 a's and a '!' would search for hours: the check fails, saying why, once the search
    has taken SEARCH_SECONDS (shortened here)."""
    monkeypatch.setattr(checks.text, "SEARCH_SECONDS", 0.2)
    started = time.monotonic()
    (failure,) = block_failures("human", {"matches": r"(a|aa)+$"}, "a" * 60 + "!")
    assert time.monotonic() - started < 30
    assert failure.message == (
        "searching block 'human' for /(a|aa)+$/ took over 0.2 s: the pattern backtracks catastrophically "
        "(nested repeats like (a|aa)+): simplify it"
    )
    assert checks.searched(r"(a|aa)+$", "a" * 60 + "!") is None
    assert checks.searched(r"(a|aa)+!$", "a" * 60 + "!") is True  # the same text, a pattern that anchors


def test_max_length() -> None:
    assert block_failures("human", {"max_length": 10}, "0123456789") == []
    (failure,) = block_failures("human", {"max_length": 9}, "0123456789")
    assert failure.key == "turns[0].expect.blocks.human.max_length"
    assert failure.message == "block 'human' is 10 characters long"
    assert (failure.expected, failure.actual) == (9, 10)


def test_json_equal() -> None:
    assert block_failures("tasks", {"json": ["a", "b"]}, '["a", "b"]') == []
    assert block_failures("tasks", {"json": {"k": [1, None]}}, '{ "k" : [1, null] }') == []
    (failure,) = block_failures("tasks", {"json": ["a"]}, '["a", "b"]')
    assert failure.key == "turns[0].expect.blocks.tasks.json"
    assert failure.message == "block 'tasks' holds other JSON"
    assert (failure.expected, failure.actual) == (["a"], ["a", "b"])
    assert failure.detail() == ['expected: ["a"]', 'actual:   ["a", "b"]']


def test_json_null_is_a_check_for_null() -> None:
    assert block_failures("tasks", {"json": None}, "null") == []
    (failure,) = block_failures("tasks", {"json": None}, "[]")
    assert failure.detail() == ["expected: null", "actual:   []"]


def test_invalid_json_fails_json_and_json_length_once() -> None:
    (failure,) = block_failures("tasks", {"json": []}, '["a"]\n- b')
    assert failure.key == "turns[0].expect.blocks.tasks.json"
    assert failure.message.startswith("block 'tasks' is not valid JSON (")
    (length,) = block_failures("tasks", {"json_length": 2}, "[a, b")
    assert length.key == "turns[0].expect.blocks.tasks.json_length"
    assert "not valid JSON" in length.message
    assert length.actual == "[a, b"


def test_json_length_of_lists_objects_and_strings() -> None:
    assert block_failures("tasks", {"json_length": 2}, '["a", "b"]') == []
    assert block_failures("tasks", {"json_length": 1}, '{"a": 1}') == []
    assert block_failures("tasks", {"json_length": 3}, '"abc"') == []
    (failure,) = block_failures("tasks", {"json_length": 2}, '["a"]')
    assert failure.key == "turns[0].expect.blocks.tasks.json_length"
    assert (failure.expected, failure.actual) == (2, 1)
    (number,) = block_failures("tasks", {"json_length": 0}, "0")
    assert (number.expected, number.actual) == (0, None)


def test_json_and_json_length_together() -> None:
    failures = block_failures("tasks", {"json": ["a"], "json_length": 3}, '["a", "b"]')
    assert keys(failures) == ["turns[0].expect.blocks.tasks.json", "turns[0].expect.blocks.tasks.json_length"]


def test_unchanged() -> None:
    assert block_failures("persona", "unchanged", INITIAL["persona"]) == []
    (failure,) = block_failures("persona", "unchanged", "You are a pirate")
    assert failure.key == "turns[0].expect.blocks.persona.unchanged"
    assert failure.message == "block 'persona' changed since the scenario started"
    assert (failure.expected, failure.actual) == (INITIAL["persona"], "You are a pirate")
    assert failure.label == "persona"


def test_every_failing_check_of_a_block_is_reported() -> None:
    failures = block_failures(
        "human",
        {"equals": "x", "contains": "Azin", "not_contains": "Bob", "matches": "^z", "max_length": 3, "unchanged": True},
        "Name: Bob!",
    )
    assert [k.rsplit(".", 1)[1] for k in keys(failures)] == [
        "equals",
        "contains",
        "not_contains",
        "matches",
        "max_length",
        "unchanged",
    ]
    assert {f.label for f in failures} == {"human"}


def test_blocks_in_several_labels_each_checked() -> None:
    failures = run(
        {"blocks": {"human": {"contains": "Azin"}, "persona": "unchanged", "tasks": {"json": []}}},
        observed({"human": "Name: Bob", "persona": "changed"}),
    )
    assert keys(failures) == ["turns[0].expect.blocks.human.contains", "turns[0].expect.blocks.persona.unchanged"]


# ------------------------------------------------------------------ tool calls


def test_tool_calls_are_an_ordered_subsequence() -> None:
    calls = [
        tool("core_memory_append", {"label": "human", "content": "Azin"}),
        tool("archival"),
        tool("send_message", {"message": "hi"}),
    ]
    assert run({"tool_calls": ["core_memory_append", "send_message"]}, observed(calls=calls)) == []
    assert run({"tool_calls": ["send_message"]}, observed(calls=calls)) == []
    (failure,) = run({"tool_calls": ["send_message", "core_memory_append"]}, observed(calls=calls))
    assert failure.key == "turns[0].expect.tool_calls[1]"
    assert failure.message == "no call to 'core_memory_append' after the calls matched before it"
    assert failure.expected == ["send_message", "core_memory_append"]
    assert failure.actual == [f"{c.name}({c.arguments}) -> ok (returned None)" for c in calls]


def test_a_repeated_expected_call_needs_as_many_calls() -> None:
    one = [tool("task_queue_push", {"task_description": "a"})]
    two = [*one, tool("task_queue_push", {"task_description": "b"})]
    assert run({"tool_calls": ["task_queue_push", "task_queue_push"]}, observed(calls=two)) == []
    (failure,) = run({"tool_calls": ["task_queue_push", "task_queue_push"]}, observed(calls=one))
    assert failure.key == "turns[0].expect.tool_calls[1]"


def test_a_missing_first_call_is_reported_without_ordering_words() -> None:
    (failure,) = run({"tool_calls": ["core_memory_replace"]}, observed(calls=[tool("send_message")]))
    assert failure.key == "turns[0].expect.tool_calls[0]"
    assert failure.message == "no call to 'core_memory_replace'"


def test_tool_call_args_are_a_subset() -> None:
    calls = [tool("core_memory_replace", {"label": "human", "old_content": "Bob", "new_content": "Robert"})]
    assert (
        run({"tool_calls": [{"name": "core_memory_replace", "args": {"label": "human"}}]}, observed(calls=calls)) == []
    )
    assert (
        run(
            {"tool_calls": [{"name": "core_memory_replace", "args": {"label": "human", "new_content": "Robert"}}]},
            observed(calls=calls),
        )
        == []
    )
    (wrong,) = run(
        {"tool_calls": [{"name": "core_memory_replace", "args": {"label": "persona"}}]}, observed(calls=calls)
    )
    assert wrong.message == 'no call to \'core_memory_replace\' with arguments {"label": "persona"}'
    (absent,) = run(
        {"tool_calls": [{"name": "core_memory_replace", "args": {"request_heartbeat": True}}]}, observed(calls=calls)
    )
    assert absent.key == "turns[0].expect.tool_calls[0]"


def test_args_skip_a_non_matching_call_of_the_same_name() -> None:
    calls = [
        tool("core_memory_append", {"label": "persona", "content": "x"}),
        tool("core_memory_append", {"label": "human", "content": "Azin"}),
    ]
    assert (
        run({"tool_calls": [{"name": "core_memory_append", "args": {"label": "human"}}]}, observed(calls=calls)) == []
    )


def test_calls_with_unparseable_arguments_match_only_without_args() -> None:
    calls = [tool("core_memory_append", "{not json")]
    assert run({"tool_calls": ["core_memory_append"]}, observed(calls=calls)) == []
    assert (
        len(run({"tool_calls": [{"name": "core_memory_append", "args": {"label": "human"}}]}, observed(calls=calls)))
        == 1
    )


def test_not_tool_calls() -> None:
    calls = [tool("send_message", {"message": "a"}), tool("send_message", {"message": "b"})]
    assert run({"not_tool_calls": ["core_memory_append", "core_memory_replace"]}, observed(calls=calls)) == []
    (failure,) = run({"not_tool_calls": ["core_memory_append", "send_message"]}, observed(calls=calls))
    assert failure.key == "turns[0].expect.not_tool_calls[1]"
    assert failure.message == "'send_message' was called 2 time(s)"
    assert failure.actual == [c.arguments for c in calls]
    assert failure.detail() == ["actual:", '  - {"message": "a"}', '  - {"message": "b"}']


def test_calls_are_listed_one_a_line_with_their_arguments_on_it() -> None:
    """A loop records arguments as it sends them back (Letta's indented JSON): in a JSON list they were one
    line of \\n and \\" escapes, and a result's own line breaks broke the report's indentation."""
    arguments = '{\n  "label": "human",\n  "content": "Azin"\n}'
    indented = ToolCallRecord("c1", "core_memory_append", arguments, True, "None", True)
    said = ToolCallRecord("c2", "send_message", "not JSON\n at all", False, "Error:\nbad", False)
    (failure,) = run({"tool_calls": ["core_memory_replace"]}, observed(calls=[indented, said]))
    assert failure.detail() == [
        'expected: ["core_memory_replace"]',
        "actual:",
        '  - core_memory_append({"label": "human", "content": "Azin"}) -> ok (returned None)',
        "  - send_message(not JSON\\n at all) -> FAILED: Error:\\nbad",
    ]


NFC, NFD = "caf\u00e9", "cafe\u0301"  # "café" composed and decomposed: shown alike
NOT_SHOWN = "Unicode normalisation (one character composed, NFC, vs decomposed, NFD), compared exactly as written"


def test_an_argument_that_differs_only_in_normalisation_says_so() -> None:
    """The expected call and the call made read the same (`café` and `café`): a block's or the reply's texts
    got a note saying what they differ in, a call's arguments none."""
    calls = [tool("core_memory_append", {"label": "human", "content": NFD})]
    (failure,) = run({"tool_calls": [{"name": "core_memory_append", "args": {"content": NFC}}]}, observed(calls=calls))
    assert failure.message == f'no call to \'core_memory_append\' with arguments {{"content": "{NFC}"}}'
    assert (
        failure.detail()[-1] == f"note: call 1's argument 'content' and its expected value differ only in {NOT_SHOWN}"
    )
    nested = [tool("core_memory_append", {"label": "human", "content": {"names": ["Azin", NFD]}})]
    wanted = {"name": "core_memory_append", "args": {"label": "human", "content": {"names": ["Azin", NFC]}}}
    (failure,) = run({"tool_calls": [wanted]}, observed(calls=nested))
    assert failure.notes == (f"call 1's argument 'content.names[1]' and its expected value differ only in {NOT_SHOWN}",)


def test_an_argument_note_is_of_the_closest_call_and_only_when_nothing_else_shows_a_difference() -> None:
    wanted = {"name": "core_memory_append", "args": {"label": "human", "content": NFC}}
    other_label = tool("core_memory_append", {"label": "persona", "content": NFD})
    other_text = tool("core_memory_append", {"label": "human", "content": "the cafe"})
    closest = tool("core_memory_append", {"label": "human", "content": NFD})
    (failure,) = run({"tool_calls": [wanted]}, observed(calls=[other_label, other_text, closest]))
    assert [note.split(" and ")[0] for note in failure.notes] == ["call 3's argument 'content'"]
    # a difference that shows, nested or not: no note (the label differs too, so call 1 is not the closest)
    for made in ([other_text], [tool("core_memory_append", {"label": "human", "content": [NFD]})]):
        (failure,) = run({"tool_calls": [wanted]}, observed(calls=made))
        assert failure.notes == () and not any(line.startswith("note:") for line in failure.detail())
    # a matcher is not compared as text; a call to another tool is not the closest
    matched = {"name": "core_memory_append", "args": {"label": {"matches": "^persona$"}, "content": NFC}}
    (failure,) = run({"tool_calls": [matched]}, observed(calls=[closest, tool("send_message", {"content": NFD})]))
    assert failure.notes == (f"call 1's argument 'content' and its expected value differ only in {NOT_SHOWN}",)


def test_an_argument_note_in_every_trajectory_mode() -> None:
    calls = [tool("send_message", {"message": NFD + "\n"})]
    wanted = {"name": "send_message", "args": {"message": NFC}}
    for mode in ("exact", "in_order", "any_order", "superset"):
        failure = run({"tool_calls": {"mode": mode, "calls": [wanted]}}, observed(calls=calls))[0]  # any_order: 2
        assert failure.key.endswith("calls[0]") and failure.notes == (
            "call 1's argument 'message' and its expected value differ only in Unicode normalisation (one character "
            "composed, NFC, vs decomposed, NFD) and trailing newlines (a YAML `|` block ends with one, `|-` does "
            "not), compared exactly as written",
        ), mode


def test_expected_arguments_are_shown_as_json_as_the_calls_made_are() -> None:
    """A repr wrote `{'flag': True}` above a call made with `{"flag": true}`."""
    calls = [tool("core_memory_append", {"label": "human", "content": "1"})]
    wanted = {"name": "core_memory_append", "args": {"content": 1, "label": {"matches": "h"}, "x": [True, None]}}
    (failure,) = run({"tool_calls": [wanted]}, observed(calls=calls))
    assert failure.message == (
        'no call to \'core_memory_append\' with arguments {"content": 1, "label": {"matches": "h"}, "x": [true, null]}'
    )
    assert failure.notes == ()  # 1 and "1" differ in what shows


def test_a_call_that_returned_none_reads_as_ok_not_as_ok_being_none() -> None:
    """`-> ok: None` (send_message, Letta's memory tools return None) read as if `ok` were None."""
    calls = [
        ToolCallRecord("c1", "send_message", '{"message": "hi"}', True, "None", False),
        ToolCallRecord("c2", "archival_memory_search", '{"query": "x"}', True, "No results found.", True),
        ToolCallRecord("c3", "send_message", '{"message": 1}', False, "None", False),
    ]
    (failure,) = run({"tool_calls": ["core_memory_replace"]}, observed(calls=calls))
    assert failure.detail()[1:] == [
        "actual:",
        '  - send_message({"message": "hi"}) -> ok (returned None)',
        '  - archival_memory_search({"query": "x"}) -> ok: No results found.',
        '  - send_message({"message": 1}) -> FAILED: None',
    ]


# ------------------------------------------------------------------ reply and stop reason


def test_reply_checks() -> None:
    assert run({"reply": {"contains": "Bob", "max_length": 20}}, observed(reply="Hi Bob!")) == []
    (failure,) = run({"reply": {"contains": "Bob"}}, observed(reply="Hi there"))
    assert failure.key == "turns[0].expect.reply.contains"
    assert failure.message == "the reply does not contain 'Bob'"
    assert failure.label is None
    (equals,) = run({"reply": {"equals": "Hi Bob!"}}, observed(reply="Hi Bob"))
    assert equals.message == "the reply differs"


def test_no_reply_fails_any_reply_check() -> None:
    (failure,) = run({"reply": {"not_contains": "anything"}}, observed(reply=None))
    assert failure.key == "turns[0].expect.reply"
    assert failure.message == "the agent sent no reply"
    assert failure.detail() == []


def test_stop_reason() -> None:
    assert run({"stop_reason": "replied"}, observed(stop_reason="replied")) == []
    (failure,) = run({"stop_reason": "replied"}, observed(stop_reason="max_steps"))
    assert failure.key == "turns[0].expect.stop_reason"
    assert (failure.expected, failure.actual) == ("replied", "max_steps")


def test_failures_from_every_kind_of_check_are_collected() -> None:
    failures = run(
        {
            "tool_calls": ["core_memory_append"],
            "not_tool_calls": ["send_message"],
            "blocks": {"human": {"contains": "Azin"}},
            "reply": {"contains": "Azin"},
            "stop_reason": "no_heartbeat",
        },
        observed(calls=[tool("send_message", {"message": "hello"})], reply="hello"),
    )
    assert keys(failures) == [
        "turns[0].expect.tool_calls[0]",
        "turns[0].expect.not_tool_calls[0]",
        "turns[0].expect.blocks.human.contains",
        "turns[0].expect.reply.contains",
        "turns[0].expect.stop_reason",
    ]


def test_the_final_expect_is_located_at_its_own_key() -> None:
    (failure,) = check(expect({"blocks": {"human": "unchanged"}}), observed({"human": "x"}), ("expect",))
    assert failure.key == "expect.blocks.human.unchanged"


# ------------------------------------------------------------------ detail


def test_long_values_are_shown_as_a_unified_diff() -> None:
    expected = "Name: Bob. Occupation: data scientist. Likes: hiking, chess and very long sentences."
    actual = "Name: Bob. Occupation: data engineer. Likes: hiking, chess and very long sentences."
    detail = Failure(("expect",), "differs", expected, actual).detail()
    assert detail[:2] == ["--- expected", "+++ actual"]
    assert f"-{expected}" in detail and f"+{actual}" in detail


def test_multiline_values_diff_line_by_line() -> None:
    expected = "Name: Bob\nJob: scientist\nCity: Oslo"
    actual = "Name: Bob\nJob: engineer\nCity: Oslo"
    detail = Failure(("expect",), "differs", expected, actual).detail()
    assert "-Job: scientist" in detail and "+Job: engineer" in detail
    assert " Name: Bob" in detail  # context lines
    assert not any(line.startswith(("-Name", "+Name", "-City", "+City")) for line in detail)


def test_a_diff_shows_controls_as_escapes_and_breaks_lines_only_where_the_value_does() -> None:
    """The diff sent a model's ESC sequences, NUL and U+202E to the terminal as they are (the rest of the
    failure shows them as escapes), and broke lines at U+2028, NEL, a form feed and a lone CR, which
    `equals` reads as characters of one line."""
    expected = "line one\r\nsomething else\r\nend\r\n"
    actual = "line one\n\x1b]0;pwned\x07 title\x00 NUL\nRTL \u202e txt\u2028same\x85line\x0cstill\rhere\nend\n"
    detail = Failure(("expect",), "differs", expected, actual).detail()
    assert detail == [
        "--- expected",
        "+++ actual",
        "@@ -1,3 +1,4 @@",
        " line one",
        "-something else",
        "+\\x1b]0;pwned\\x07 title\\x00 NUL",
        "+RTL \\u202e txt\\u2028same\\x85line\\x0cstill\\x0dhere",
        " end",
    ]
    side_by_side = Failure(("x",), "m", Lines(["say(\x1b[2J) -> ok: \u2029"]), {"a": "\x9b\u2066"}).detail()
    assert side_by_side == ["expected:", "  - say(\\x1b[2J) -> ok: \\u2029", 'actual:   {"a": "\\x9b\\u2066"}']


def test_short_values_are_side_by_side_and_no_values_no_detail() -> None:
    assert Failure(("x",), "m", "a", "b").detail() == ["expected: 'a'", "actual:   'b'"]
    assert Failure(("x",), "m", [1], {"a": "é"}).detail() == ["expected: [1]", 'actual:   {"a": "é"}']
    assert Failure(("x",), "m").detail() == []


# ------------------------------------------------------------------ properties

text = st.text(max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@given(value=text, needle=text.filter(bool))  # "" is refused: every text holds it
def test_contains_and_not_contains_are_complementary(value: str, needle: str) -> None:
    contains = block_failures("human", {"contains": needle}, value)
    not_contains = block_failures("human", {"not_contains": needle}, value)
    assert len(contains) + len(not_contains) == 1
    assert (contains == []) == (needle in value)


@given(value=text, needle=text.filter(bool))
def test_escaped_matches_agrees_with_contains(value: str, needle: str) -> None:
    assert (block_failures("human", {"matches": re.escape(needle)}, value) == []) == (needle in value)


@given(value=text, limit=st.integers(min_value=0, max_value=50))
def test_max_length_passes_iff_short_enough(value: str, limit: int) -> None:
    assert (block_failures("human", {"max_length": limit}, value) == []) == (len(value) <= limit)


@given(stored=json_values, wanted=json_values, indent=st.sampled_from([None, 2]))
def test_json_check_passes_iff_the_parsed_value_equals(stored: Any, wanted: Any, indent: int | None) -> None:
    value = json.dumps(stored, indent=indent)
    failures = block_failures("tasks", {"json": wanted}, value)
    assert (failures == []) == (json.dumps(json.loads(value), sort_keys=True) == json.dumps(wanted, sort_keys=True))
    assert block_failures("tasks", {"json": stored}, value) == []


@given(value=text)
def test_json_check_fails_on_anything_that_is_not_json(value: str) -> None:
    try:
        json.loads(value)
    except ValueError:
        (failure,) = block_failures("tasks", {"json": value}, value)
        assert "not valid JSON" in failure.message


names = st.sampled_from(["send_message", "core_memory_append", "core_memory_replace", "task_queue_pop"])


def is_subsequence(wanted: list[str], made: list[str]) -> bool:
    remaining = iter(made)
    return all(any(name == w for name in remaining) for w in wanted)


@given(made=st.lists(names, max_size=6), wanted=st.lists(names, min_size=1, max_size=4))  # [] is refused
def test_tool_calls_pass_iff_the_expected_names_are_a_subsequence(made: list[str], wanted: list[str]) -> None:
    failures = run({"tool_calls": wanted}, observed(calls=[tool(n) for n in made]))
    assert (failures == []) == is_subsequence(wanted, made)
    assert len(failures) <= 1


@given(made=st.lists(names, max_size=6), data=st.data())
def test_any_subsequence_of_the_calls_made_passes(made: list[str], data: st.DataObject) -> None:
    keep = data.draw(st.lists(st.booleans(), min_size=len(made), max_size=len(made)))
    wanted = [name for name, kept in zip(made, keep, strict=True) if kept]
    assume(wanted)  # an empty list is refused: it would check nothing
    assert run({"tool_calls": wanted}, observed(calls=[tool(n) for n in made])) == []


def test_a_tool_call_check_can_require_failure_and_result_text() -> None:
    refused = ToolCallRecord(
        "call_1_0",
        "core_memory_append",
        '{"label": "human", "content": "x"}',
        False,
        "Error executing function core_memory_append: MemoryEditError: Edit failed: Exceeds 20 character limit "
        "(requested 31)",
        False,
    )
    wanted = {"name": "core_memory_append", "ok": False, "result_contains": "Exceeds 20 character limit"}
    assert run({"tool_calls": [wanted]}, observed(calls=[refused])) == []
    for other in ({"ok": True}, {"result_contains": "Exceeds 21"}):
        failures = run({"tool_calls": [{"name": "core_memory_append", **other}]}, observed(calls=[refused]))
        assert len(failures) == 1
        assert failures[0].actual == [f"core_memory_append({refused.arguments}) -> FAILED: {refused.result}"]


# ------------------------------------------------------------------ edited blocks and tool rules


def editing(name: str, *edits: tuple[str, str, str], refused: bool = False) -> ToolCallRecord:
    from harness.memory import BlockEdit

    return ToolCallRecord(
        f"call_{name}", name, "{}", not refused, "None", False, tuple(BlockEdit(*e) for e in edits), refused
    )


REPLACE_HUMAN = editing("memory_replace", ("human", "Name: Bob", "Name: Azin"))


def test_edited_names_the_tool_that_changed_a_block() -> None:
    calls = [REPLACE_HUMAN, editing("send_message")]
    assert run({"edited": {"human": "memory_replace", "persona": False}}, observed(calls=calls)) == []
    assert run({"edited": {"human": True}}, observed(calls=calls)) == []
    assert run({"edited": {"human": ["memory_replace"]}}, observed(calls=calls)) == []
    (failure,) = run({"edited": {"human": "core_memory_append"}}, observed(calls=calls))
    assert failure.key == "turns[0].expect.edited.human"
    assert failure.message == "block 'human' was not changed by 'core_memory_append' (changed by memory_replace only)"
    assert failure.label == "human"  # the report shows the block's history
    (failure,) = run({"edited": {"persona": True}}, observed(calls=calls))
    assert failure.message == "no tool call changed block 'persona'"
    (failure,) = run({"edited": {"human": False}}, observed(calls=calls))
    assert failure.message == "block 'human' was changed by memory_replace"


def test_edited_counts_a_rename_for_the_old_label() -> None:
    from harness.memory import BlockEdit, EditKind

    rename = ToolCallRecord(
        "c", "memory", "{}", True, "ok", False, (BlockEdit("people", "human", "people", EditKind.RENAME),)
    )
    assert run({"edited": {"human": "memory"}}, observed(calls=[rename])) == []


def test_edited_refers_to_blocks_and_tools_the_agent_must_have() -> None:
    from harness.scenarios.checks import RefersTo, compile_expect

    (edited,) = compile_expect(expect({"edited": {"human": ["memory_replace", "memory_insert"]}}), LOC)
    assert [(ref.kind, ref.name) for ref in edited.references()] == [
        (RefersTo.BLOCK, "human"),
        (RefersTo.TOOL, "memory_replace"),
        (RefersTo.TOOL, "memory_insert"),
    ]


def test_tool_rules_refused_compares_the_refused_calls_in_order() -> None:
    calls = [editing("send_message", refused=True), editing("core_memory_append"), editing("send_message")]
    assert run({"tool_rules": {"refused": ["send_message"]}}, observed(calls=calls)) == []
    (failure,) = run({"tool_rules": {"refused": []}}, observed(calls=calls))
    assert (failure.key, failure.message) == ("turns[0].expect.tool_rules.refused", "the rules refused other calls")
    assert (failure.expected, failure.actual) == ([], ["send_message"])
    (failure,) = run({"tool_rules": {"refused": ["send_message"]}}, observed(calls=calls[1:]))
    assert failure.message == "the rules refused no call"
    both = [editing("send_message", refused=True), editing("core_memory_append", refused=True)]
    assert run({"tool_rules": {"refused": ["send_message", "core_memory_append"]}}, observed(calls=both)) == []
    (failure,) = run({"tool_rules": {"refused": ["core_memory_append", "send_message"]}}, observed(calls=both))
    assert failure.message == "the rules refused other calls"


def test_tool_rules_offered_compares_each_step_as_a_set() -> None:
    from harness.records import StepRecord

    steps = [
        StepRecord(0, 0, None, (), "m", offered=("core_memory_append",)),
        StepRecord(0, 1, None, (), "m", offered=("send_message", "core_memory_append")),
    ]
    obs = observed()
    obs.steps = steps
    wanted = [["core_memory_append"], ["core_memory_append", "send_message"]]
    assert run({"tool_rules": {"offered": wanted}}, obs) == []
    (failure,) = run({"tool_rules": {"offered": [["core_memory_append"], ["send_message"]]}}, obs)
    assert failure.message == "the rules offered other tools"
    obs.steps = [StepRecord(0, 0, None, (), "m")]
    (failure,) = run({"tool_rules": {"offered": [["send_message"]]}}, obs)
    assert failure.message == "the agent has no tool rules: every tool was offered"


def test_tool_rules_rejects_unknown_keys() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError):
        expect({"tool_rules": {"refused": [], "violated": True}})


def test_a_check_of_a_block_the_agent_does_not_hold_says_so() -> None:
    obs = observed()
    del obs.blocks["tasks"]
    (failure,) = run({"blocks": {"tasks": {"contains": "x"}}}, obs)
    assert failure.key == "turns[0].expect.blocks.tasks"
    assert failure.message == "the agent has no block 'tasks' (its blocks: persona, human)"


def test_edited_names_a_block_the_agent_never_had_fails() -> None:
    """An agent that can create blocks is not checked for labels before the run: `edited: {humna: false}`
    passed, since no call changed a block that never was."""
    (failure,) = run({"edited": {"humna": False}}, observed(calls=[tool("send_message", {"message": "hi"})]))
    assert failure.key == "turns[0].expect.edited.humna"
    assert failure.message.startswith("the agent never had a block 'humna' (its blocks: ")
    assert run({"edited": {"human": False}}, observed()) == []


def test_a_renamed_or_deleted_block_shows_the_call_that_took_it(tmp_path: Path) -> None:
    """'the agent has no block' came with no history, and a rename was left out of the old label's."""
    from tests.fakes import completion, make_project
    from tests.helpers import call

    project = make_project(tmp_path / "p")
    project.agents.write_text(
        project.agents.read_text(encoding="utf-8").replace(
            "tools: [send_message, core_memory_append, core_memory_replace]", "tools: [send_message, memory]"
        ),
        encoding="utf-8",
    )
    project.write_scenario(
        "rename",
        "agent: chat\nturns:\n  - user: hi\nexpect:\n  blocks: {human: {contains: Bob}}\n  edited: {human: false}\n",
    )
    rename = {
        "command": "rename",
        "old_path": "/memories/human",
        "new_path": "/memories/user",
        "request_heartbeat": True,
    }
    project.record("rename", [completion(call("memory", rename)), completion(call("send_message", {"message": "ok"}))])
    result = project.replay("rename")
    text = result.explain()
    assert "expect.blocks.human: the agent has no block 'human' (its blocks: persona, user)" in text
    assert "memory(" in text and "renamed 'human' -> 'user'" in text
    assert "expect.edited.human: block 'human' was changed by memory" in text


# ------------------------------------------------------------------ what == and a diff of lines hid


def test_json_tells_booleans_from_numbers() -> None:
    """Python's True == 1: a block holding 1 passed `json: true`, and `[true, false]` passed `json: [1, 0]`."""
    (failure,) = block_failures("tasks", {"json": True}, "1")
    assert failure.detail() == ["expected: true", "actual:   1"]
    assert len(block_failures("tasks", {"json": [1, 0]}, "[true, false]")) == 1
    assert len(block_failures("tasks", {"json": {"done": False}}, '{"done": 0}')) == 1
    assert block_failures("tasks", {"json": [1.0, True]}, "[1, true]") == []
    calls = [tool("a", {"x": True})]
    assert len(run({"tool_calls": [{"name": "a", "args": {"x": 1}}]}, observed(calls=calls))) == 1
    assert run({"tool_calls": [{"name": "a", "args": {"x": True}}]}, observed(calls=calls)) == []


@pytest.mark.parametrize(
    ("expected", "actual", "differ_in"),
    [
        ("Name: Bob\nAzin\n", "Name: Bob\nAzin", "trailing newlines"),  # `equals: |` adds one
        ("Name: Bob\nAzin\nlikes tea", "Name: Bob\nAzin\r\nlikes tea", "line endings"),
        ("Lives in Jos\u00e9", "Lives in Jose\u0301", "Unicode normalisation"),
        ("x" * 70 + "\n", "x" * 70, "trailing newlines"),
        ("a\r\nb\n", "a\nb", "line endings (\\r\\n vs \\n) and trailing newlines"),
    ],
)
def test_a_difference_that_does_not_show_gets_expected_actual_and_says_what_it_is(
    expected: str, actual: str, differ_in: str
) -> None:
    """The diff of `splitlines()` drops a final newline and takes \\r\\n for \\n: the failure showed nothing."""
    (failure,) = block_failures("human", {"equals": expected}, actual)
    detail = failure.detail()
    assert detail[:2] == [f"expected: {expected!r}", f"actual:   {actual!r}"]
    assert detail[2].startswith(f"note: the texts differ only in {differ_in}")
    assert detail[2].endswith("compared exactly as written")


def test_a_visible_difference_gets_no_note() -> None:
    (failure,) = block_failures("human", {"equals": "Name: Bob\nAzin\n"}, "Name: Bob\nCarol")
    assert not any(line.startswith("note:") for line in failure.detail())
    assert checks.differ_only_in("a", "b") is None and checks.differ_only_in("a", "a") is None


@given(text, st.sampled_from(["\n", "\r\n", " ", "\u0301"]), st.sampled_from(["", "e", "\n"]))
def test_a_failure_always_shows_something(value: str, added: str, before: str) -> None:
    """Whatever two texts differ in, the failure shows a diff or the two values."""
    expected = before + value + added
    assume(expected != value)
    (failure,) = block_failures("human", {"equals": expected}, value)
    detail = failure.detail()
    assert any(line.startswith(("expected:", "-", "+")) for line in detail)


def test_contains_and_matches_say_when_the_texts_differ_only_in_unicode_normalisation() -> None:
    """The scenario's "José" (NFC) is not in the model's "José" (NFD): the two look the same."""
    decomposed = "Lives in Jose\u0301"
    (contains,) = block_failures("human", {"contains": "Jos\u00e9"}, decomposed)
    (matches,) = block_failures("human", {"matches": "Jos\u00e9"}, decomposed)
    for failure in (contains, matches):
        assert "as written: it does in another Unicode normalisation" in failure.message
        assert "NFC" in failure.message and "NFD" in failure.message
    (plain,) = block_failures("human", {"contains": "Carol"}, decomposed)
    assert plain.message == "block 'human' does not contain 'Carol'"


def test_request_heartbeat_is_compared_when_a_check_names_it() -> None:
    """It was dropped from the call before comparing, so a check naming it failed whatever the model sent."""
    calls = [tool("core_memory_append", {"label": "human", "content": "Azin", "request_heartbeat": True})]
    named = {"name": "core_memory_append", "args": {"label": "human", "request_heartbeat": True}}
    assert run({"tool_calls": [named]}, observed(calls=calls)) == []
    assert (
        run(
            {"tool_calls": [{**named, "args_match": "exact", "args": {**named["args"], "content": "Azin"}}]},
            observed(calls=calls),
        )
        == []
    )
    wrong = {**named, "args": {"label": "human", "request_heartbeat": False}}
    assert len(run({"tool_calls": [wrong]}, observed(calls=calls))) == 1
    unnamed = {"name": "core_memory_append", "args": {"label": "human", "content": "Azin"}, "args_match": "exact"}
    assert run({"tool_calls": [unnamed]}, observed(calls=calls)) == []  # exact: request_heartbeat aside


# ------------------------------------------------------------------ patterns that match every text

PIECES = st.sampled_from(["a", "b", "", "^", "$", r"\b", "(?=a)", "(?!b)", ".", r"\n", "[ab]"])


def _patterns() -> st.SearchStrategy[str]:
    return st.recursive(
        PIECES,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map("|".join),
            st.tuples(inner, st.sampled_from(["?", "*", "+", "{0,2}", "{1,2}", "*?", "*+", "?+"])).map(
                lambda parts: f"(?:{parts[0]}){parts[1]}"
            ),
            inner.map(lambda pattern: f"({pattern})"),
            inner.map(lambda pattern: f"(?>{pattern})"),
        ),
        max_leaves=6,
    )


@given(_patterns(), st.lists(st.text("ab\n ", max_size=6), min_size=1, max_size=8))
def test_a_pattern_said_to_match_everything_is_found_in_every_text(pattern: str, texts: list[str]) -> None:
    """The rule refusing `matches:` patterns is sound: what it refuses would have passed any text."""
    if checks.matches_everything(pattern):
        assert all(checks.searched(pattern, text) for text in ["", *texts])


@pytest.mark.parametrize("pattern", ["Azin|", ".*", "(Azin)?", "(?i)(?:azin)*", "\\s*", "a{0,3}", "(?>x*)|y"])
def test_a_pattern_that_matches_every_text_is_refused(pattern: str) -> None:
    """With the reply "Go away.", `matches: "Azin|"` (a stray `|`) passed: it finds "" at the start."""
    with pytest.raises(ValueError, match=re.escape(f"/{pattern}/ matches every text")):
        expect({"reply": {"matches": pattern}})


@pytest.mark.parametrize("pattern", ["Azin", "^(?!.*Azin)", "^$", "\\bAzin", "(a)?\\1", "Az(in)?", "a+"])
def test_a_pattern_that_can_fail_is_kept(pattern: str) -> None:
    expect({"reply": {"matches": pattern}})


class _Shelf:
    """Archival memory without embeddings: a search keeps what the tags keep, in order."""

    def __init__(self, *passages: tuple[str, tuple[str, ...]]) -> None:
        when = datetime(2025, 1, 1, tzinfo=UTC)
        self._passages = [Passage(f"p{i}", text, tags, when) for i, (text, tags) in enumerate(passages)]

    def search(self, query: str, *, tags: Any = None, tag_match_mode: Any = TagMatchMode.ANY, top_k: int = 5,
               **_: Any) -> list[Passage]:  # fmt: skip
        return [p for p in self._passages if tags_match(p.tags, tags, tag_match_mode)][:top_k]

    def passages(self) -> list[Passage]:
        return list(self._passages)


@pytest.mark.parametrize(
    ("search", "says"),
    [
        (
            {"query": "dentist", "tags": ["appointment"], "contains": "March 3"},
            "no passage among the top 5 results for 'dentist' (no passage has any of the tags 'appointment') "
            "contains 'March 3'",
        ),
        (
            {"query": "dentist", "tags": ["appointments", "food"], "tag_match_mode": "all", "contains": "March 3"},
            "no passage among the top 5 results for 'dentist' (no passage has every one of the tags "
            "'appointments', 'food') contains 'March 3'",
        ),
        (
            {"query": "dentist", "tags": ["food"], "contains": "March 3"},
            "no passage among the top 5 results for 'dentist' contains 'March 3'",  # a result, just not it
        ),
    ],
)
def test_an_archival_search_left_empty_by_its_tags_says_so(search: dict[str, Any], says: str) -> None:
    """`actual: []` alone read as a search that found nothing, not as a filter that kept nothing."""
    shelf = _Shelf(("Azin's dentist appointment is on March 3.", ("appointments",)), ("Ghormeh sabzi.", ("food",)))
    obs = observed()
    obs.archival = shelf
    (failure,) = run({"archival_search": search}, obs)
    assert failure.message == says


def test_an_archival_search_with_top_k_0_looks_at_every_result_as_the_tool_does() -> None:
    """archival_memory_search reads a top_k of 0 as no limit (as Letta does); the check refused it."""
    shelf = _Shelf(*((f"passage {n}", ()) for n in range(7)))
    obs = observed()
    obs.archival = shelf
    assert run({"archival_search": {"query": "q", "top_k": 0, "contains": "passage 6"}}, obs) == []
    (failure,) = run({"archival_search": {"query": "q", "top_k": 0, "contains": "passage 9"}}, obs)
    assert failure.message == "no passage among the results for 'q' contains 'passage 9'"
    assert len(failure.actual) == 7


def test_text_that_is_not_json_fails_only_the_first_of_its_json_checks() -> None:
    """One reason is enough: `json` and `json_length` of a value that is not JSON give one failure."""
    (failure,) = block_failures("tasks", {"json": ["a"], "json_length": 1}, "[a")
    assert failure.key == "turns[0].expect.blocks.tasks.json" and "not valid JSON" in failure.message


def test_unchanged_false_beside_another_check_lets_the_block_change() -> None:
    assert block_failures("human", {"unchanged": False, "contains": "Azin"}, "Name: Azin") == []


@pytest.mark.parametrize("ok", [True, False])
def test_a_call_expected_to_fail_or_succeed_matches_only_such_a_call(ok: bool) -> None:
    failed = ToolCallRecord("call_1", "core_memory_append", "{}", False, "Error", False)
    succeeded = tool("core_memory_append")
    wanted = {"tool_calls": [{"name": "core_memory_append", "ok": ok}]}
    assert run(wanted, observed(calls=[succeeded if ok else failed])) == []
    (failure,) = run(wanted, observed(calls=[failed if ok else succeeded]))
    assert failure.message.endswith("that succeeded" if ok else "that failed")


def test_a_judges_score_at_the_threshold_passes() -> None:
    from harness.scenarios.checks.base import Verdict

    def judge(rubric: str, text: str, what: str, model: str | None) -> Verdict:
        return Verdict(0.7, "greets Azin")

    data = {"reply": {"judge": {"rubric": "greets Azin", "threshold": 0.7}}}
    assert check(expect(data), Observed({}, {}, [], "Hi Azin", StopReason("replied"), judge=judge), LOC) == []
    below = {"reply": {"judge": {"rubric": "greets Azin", "threshold": 0.71}}}
    (failure,) = check(expect(below), Observed({}, {}, [], "Hi Azin", StopReason("replied"), judge=judge), LOC)
    assert failure.message.startswith("the judge scored the reply 0.7, below 0.71")
