"""Trajectory modes of `tool_calls`: exact, in_order, any_order, subset, superset; argument matching; counts."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pydantic
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.records import StopReason, ToolCallRecord
from harness.scenarios.checks import ExpectWire, Failure, Observed, check
from harness.scenarios.checks.calls import TrajectoryMode

LOC = ("turns", 0, "expect")


def tool(name: str, **arguments: Any) -> ToolCallRecord:
    return ToolCallRecord(f"call_{name}", name, json.dumps(arguments), True, "None", False)


def run(tool_calls: Any, calls: list[ToolCallRecord]) -> list[Failure]:
    observed = Observed({}, {}, calls, "ok", StopReason.REPLIED)
    return check(ExpectWire.model_validate({"tool_calls": tool_calls}), observed, LOC)


A, B, C = tool("a", x=1), tool("b", x=2), tool("c", x=3)


@pytest.mark.parametrize(
    ("mode", "expected", "made", "passes"),
    [
        ("exact", ["a", "b"], [A, B], True),
        ("exact", ["a", "b"], [B, A], False),
        ("exact", ["a", "b"], [A, B, C], False),
        ("exact", ["a", "b"], [A], False),
        ("in_order", ["a", "c"], [A, B, C], True),
        ("in_order", ["c", "a"], [A, B, C], False),
        ("any_order", ["b", "a"], [A, B], True),
        ("any_order", ["b", "a"], [A, B, C], False),
        ("any_order", ["a", "a"], [A, B], False),
        ("subset", ["a", "b", "c"], [B, A], True),
        ("subset", ["a"], [A, B], False),
        ("subset", ["a"], [A, A], False),
        ("superset", ["c", "a"], [A, B, C], True),
        ("superset", ["a", "a"], [A, B], False),
    ],
)
def test_modes(mode: str, expected: list[str], made: list[ToolCallRecord], passes: bool) -> None:
    failures = run({"mode": mode, "calls": expected}, made)
    assert (failures == []) is passes, failures


def test_a_bare_list_is_in_order_and_keeps_its_locations() -> None:
    (failure,) = run(["c", "a"], [A, B, C])
    assert failure.key == "turns[0].expect.tool_calls[1]"
    (failure,) = run({"calls": ["c", "a"]}, [A, B, C])
    assert failure.key == "turns[0].expect.tool_calls.calls[1]"


def test_failures_say_what_is_missing_and_what_is_extra() -> None:
    failures = run({"mode": "any_order", "calls": ["a", {"name": "b", "args": {"x": 9}}]}, [A, B, C])
    assert [f.key for f in failures] == ["turns[0].expect.tool_calls.calls[1]", "turns[0].expect.tool_calls.calls"]
    assert failures[0].message == "no call to 'b' with arguments {\"x\": 9} (in any order)"
    assert failures[1].message == "2 call(s) made that are not among the expected ones"
    (exact,) = run({"mode": "exact", "calls": ["a", "c"]}, [A, B, C])
    assert exact.message == "call 2 is not the expected call to 'c'"


def test_overlapping_expectations_are_paired_to_satisfy_all() -> None:
    """A greedy pairing would give the bare `a` the only a(x=1) call and then fail; the matching does not."""
    made = [tool("a", x=1), tool("a", x=2)]
    expected = [{"name": "a"}, {"name": "a", "args": {"x": 2}}]
    assert run({"mode": "any_order", "calls": expected}, made[::-1]) == []
    assert run({"mode": "any_order", "calls": expected[::-1]}, made) == []


@pytest.mark.parametrize(
    ("args", "args_match", "passes"),
    [
        ({"label": "human"}, "subset", True),
        ({"label": "human"}, "exact", False),
        ({"label": "human", "content": "Azin"}, "exact", True),
        ({"content": {"matches": "^Az"}}, "subset", True),
        ({"content": {"matches": "^zin"}}, "subset", False),
        ({"content": {"any": True}}, "subset", True),
        ({"missing": {"any": True}}, "subset", False),
    ],
)
def test_argument_matching(args: dict[str, Any], args_match: str, passes: bool) -> None:
    made = [tool("core_memory_append", label="human", content="Azin", request_heartbeat=True)]
    expected = {"mode": "exact", "args_match": args_match, "calls": [{"name": "core_memory_append", "args": args}]}
    assert (run(expected, made) == []) is passes
    per_call = {"calls": [{"name": "core_memory_append", "args": args, "args_match": args_match}]}
    assert (run(per_call, made) == []) is passes


def test_counts_and_max_calls() -> None:
    made = [A, A, B]
    assert run({"count": {"a": 2, "b": 1, "c": 0}, "max_calls": 3}, made) == []
    failures = run({"count": {"a": 1}, "max_calls": 2}, made)
    assert [(f.key, f.message) for f in failures] == [
        ("turns[0].expect.tool_calls.count.a", "'a' was called 2 time(s), expected 1"),
        ("turns[0].expect.tool_calls.max_calls", "3 call(s) made, at most 2 allowed"),
    ]


def test_an_invalid_regex_or_mode_is_a_wire_error() -> None:
    with pytest.raises(ValueError, match="invalid regular expression"):
        ExpectWire.model_validate({"tool_calls": [{"name": "a", "args": {"x": {"matches": "("}}}]})
    with pytest.raises(ValueError, match="mode"):
        ExpectWire.model_validate({"tool_calls": {"mode": "sideways", "calls": []}})


def _oracle(mode: str, expected: list[str], made: list[str]) -> bool:
    """Each mode by its definition, by brute force over orderings."""
    if mode == "exact":
        return expected == made
    if mode == "in_order":
        it = iter(made)
        return all(name in it for name in expected)
    if mode == "any_order":
        return sorted(expected) == sorted(made)
    if mode == "superset":
        return all(made.count(n) >= expected.count(n) for n in set(expected))
    return all(expected.count(n) >= made.count(n) for n in set(made))  # subset


@given(
    st.sampled_from(["exact", "in_order", "any_order", "subset", "superset"]),
    st.lists(st.sampled_from("abc"), max_size=5),
    st.lists(st.sampled_from("abc"), max_size=5),
)
def test_every_mode_agrees_with_its_definition(mode: str, expected: list[str], made: list[str]) -> None:
    assume(expected or mode not in ("in_order", "superset"))  # those would check nothing: refused
    calls = [tool(name) for name in made]
    assert (run({"mode": mode, "calls": expected}, calls) == []) is _oracle(mode, expected, made)


def test_the_oracle_itself_on_permutations() -> None:
    for made in itertools.permutations("abc"):
        assert _oracle("any_order", ["c", "b", "a"], list(made))
        assert _oracle("superset", ["a"], list(made)) and not _oracle("subset", ["a"], list(made))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([], "an empty list checks nothing (and would pass): to say that no tool is called, write"),
        ({"mode": "in_order", "calls": []}, "mode in_order with no calls checks nothing"),
        ({"mode": "superset"}, "mode superset with no calls checks nothing"),
        ({"mode": "in_order", "calls": ["a"], "count": {}}, "an empty count checks nothing"),
        ([{"name": "a", "args": {"x": 1}, "args_match": "ignore"}], "`args_match: ignore` compares none of them"),
        (
            {"args_match": "ignore", "calls": ["b", {"name": "a", "args": {"x": 1}}]},
            "`args_match: ignore` compares no call's `args`, yet calls[1] gives some",
        ),
        ([{"name": "a", "args": {"x": {"matches": ""}}}], "an empty pattern matches any value"),
        ([{"name": "a", "args": {"x": {"matches": "Azin|"}}}], "/Azin|/ matches every text"),
        ([{"name": "a", "result_contains": ""}], '"" or [] checks nothing'),
    ],
)
def test_a_tool_calls_check_that_would_check_nothing_is_refused(value: object, says: str) -> None:
    """Each of these passed whatever the agent did."""
    with pytest.raises(pydantic.ValidationError, match=re.escape(says)):
        ExpectWire.model_validate({"tool_calls": value})


@pytest.mark.parametrize("mode", ["exact", "any_order", "subset"])
def test_no_calls_in_a_mode_that_allows_nothing_else_says_no_tool_is_called(mode: str) -> None:
    assert run({"mode": mode, "calls": []}, []) == []
    assert run({"mode": mode, "calls": []}, [tool("a")]) != []


@pytest.mark.parametrize(
    ("matcher", "says"),
    [
        ({"matches": None}, "an empty pattern matches any value"),
        ({"matches": ["Carol", "Dave"]}, "`matches:` takes one regular expression, not a list"),
        ({"matches": 5}, "`matches:` takes a regular expression as text, not 5: quote it"),
        ({"any": False}, "`any: false`: only `{any: true}` (any value, but passed) is a matcher"),
        ({"matches": "Az", "any": True}, "give `{matches: REGEX}` or `{any: true}`, not both"),
        ({"matches": ".*"}, "/.*/ matches every text"),
        ({"matches": "(Azin)?"}, "/(Azin)?/ matches every text"),
    ],
)
def test_a_malformed_argument_matcher_is_refused_at_its_argument(matcher: dict[str, Any], says: str) -> None:
    """Compared as a literal mapping, these failed every run with no hint; a list was searched as the
    character class of its repr (`['Carol', 'Dave']`), passing nearly any value."""
    with pytest.raises(pydantic.ValidationError) as caught:
        ExpectWire.model_validate({"tool_calls": [{"name": "a", "args": {"x": matcher}}]})
    (error,) = caught.value.errors()
    assert [part for part in error["loc"] if part in ("args", "x")] == ["args", "x"]
    assert says in error["msg"]


def test_a_mapping_with_other_keys_is_a_literal_value() -> None:
    made = [tool("a", x={"matches": "Az", "other": 1})]
    assert run([{"name": "a", "args": {"x": {"matches": "Az", "other": 1}}}], made) == []
    assert run([{"name": "a", "args": {"x": {"matches": "Az|Bo"}}}], [tool("a", x="Bob")]) == []


def test_a_call_with_its_own_args_match_may_give_args_under_a_mapping_that_ignores_them() -> None:
    made = [tool("a", x=1)]
    calls = [{"name": "a", "args": {"x": 2}, "args_match": "subset"}]
    assert run({"args_match": "ignore", "calls": calls}, made) != []
    assert run({"args_match": "ignore", "calls": ["a"]}, made) == []


def written(name: str, arguments: str) -> ToolCallRecord:
    """A call as the model wrote it, arguments and all (cut short, or JSON that is no object)."""
    return ToolCallRecord(f"call_{name}", name, arguments, False, "Error parsing arguments", False)


CUT_SHORT = written("core_memory_append", '{"label": "human", "content": ')
NOT_AN_OBJECT = written("core_memory_append", '["human", "Azin"]')


@pytest.mark.parametrize("made", [CUT_SHORT, NOT_AN_OBJECT], ids=["not-json", "not-an-object"])
@pytest.mark.parametrize("mode", [mode.value for mode in TrajectoryMode])
@pytest.mark.parametrize(
    ("wanted", "passes"),
    [
        ({"name": "core_memory_append", "args_match": "exact"}, False),  # says there are no arguments
        ({"name": "core_memory_append", "args": {"label": "human"}}, False),
        ({"name": "core_memory_append", "args": {"label": "human"}, "args_match": "exact"}, False),
        ({"name": "core_memory_append", "args": {"content": {"any": True}}}, False),
        ({"name": "core_memory_append", "args": {"content": {"matches": "."}}}, False),
        ({"name": "core_memory_append"}, True),  # asks nothing of them: the call was made
        ({"name": "core_memory_append", "args_match": "ignore"}, True),
    ],
)
def test_arguments_that_are_no_json_object_match_no_args_in_any_mode(
    made: ToolCallRecord, mode: str, wanted: dict[str, Any], passes: bool
) -> None:
    """`exact` with no `args` passed a call whose arguments did not parse: they were read as `{}`."""
    assert (run({"mode": mode, "calls": [wanted]}, [made]) == []) is passes
    assert (run({"mode": mode, "calls": [wanted], "args_match": wanted.get("args_match", "subset")}, [made]) == []) is (
        passes
    )


def test_a_failure_says_the_calls_arguments_were_not_json() -> None:
    wanted = [{"name": "core_memory_append", "args_match": "exact"}]
    (failure,) = run(wanted, [A, CUT_SHORT])
    assert failure.message.endswith(
        " (call 2 to 'core_memory_append' passed arguments that are not JSON: they match no `args` and no "
        "`args_match: exact`)"
    ), failure.message
    (failure,) = run({"mode": "exact", "calls": ["a", *wanted]}, [A, NOT_AN_OBJECT])
    assert failure.message.endswith(
        " (call 2 to 'core_memory_append' passed arguments that are not a JSON object: "
        "they match no `args` and no `args_match: exact`)"
    ), failure.message
    (failure,) = run({"mode": "superset", "calls": wanted}, [CUT_SHORT, A, CUT_SHORT])
    assert "(calls 1, 3 to 'core_memory_append' passed arguments that are not JSON:" in failure.message
    (failure,) = run({"mode": "subset", "calls": wanted}, [CUT_SHORT])
    assert failure.message.startswith("1 call(s) made that are not among the expected ones (call 1 to ")
    # in order: the calls searched for it (after those matched before it) alone
    (failure,) = run(["core_memory_append", *wanted], [CUT_SHORT, CUT_SHORT])
    assert "(call 2 to 'core_memory_append'" in failure.message
    # a call that asked nothing of the arguments, or a call of another tool, adds nothing
    (failure,) = run([{"name": "core_memory_append", "ok": True}], [CUT_SHORT])
    assert "JSON" not in failure.message
    (failure,) = run([{"name": "b", "args_match": "exact"}], [CUT_SHORT])
    assert "JSON" not in failure.message
