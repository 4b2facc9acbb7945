"""`tool_calls` and `not_tool_calls`: which tools the model called, in what order, with what arguments."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Annotated, Any

import pydantic

from harness.jsontext import as_text, loads, same_json
from harness.lookalike import differ_only_in
from harness.records import ToolCallRecord
from harness.scenarios.checks.base import (
    ExpectCheck,
    Failure,
    Lines,
    Observed,
    Reference,
    RefersTo,
    call_arguments,
    call_made,
    expect_check,
    one_screen_line,
)
from harness.scenarios.checks.text import Needle, Some, compiles, not_everything, searched
from harness.wire import NOT_BOOLEAN, Boolean, JsonSchema, Shorthand, StrictModel
from harness.yamlsource import Loc, dotted


class ArgsMatch(StrEnum):
    """How a call's `args` are compared with the arguments the model passed."""

    EXACT = "exact"  # the same arguments, no more (request_heartbeat aside)
    SUBSET = "subset"  # these arguments, others may be passed too (the default)
    IGNORE = "ignore"  # arguments are not compared


class TrajectoryMode(StrEnum):
    """How the expected calls are compared with the calls made (ADK's and agentevals' trajectory modes)."""

    EXACT = "exact"  # these calls, in this order, nothing else
    IN_ORDER = "in_order"  # these calls in this order; others may come between (a bare list)
    ANY_ORDER = "any_order"  # these calls in any order, nothing else
    SUBSET = "subset"  # every call made is one of these (some of these may not be made)
    SUPERSET = "superset"  # every one of these is made, in any order; others may be made too


def _argument(value: Any) -> Any:
    """An argument's expected value: a value (compared as JSON), or a matcher, a mapping of `matches` or
    `any` alone, which must be one that can fail: compared as a literal mapping, a misspelt one failed every
    run with no hint, and a list given to `matches` was searched as a character class."""
    if not _is_matcher(value):
        return value
    if len(value) > 1:
        raise ValueError("give `{matches: REGEX}` or `{any: true}`, not both in one mapping")
    if "any" in value:
        if value["any"] is not True:
            raise ValueError(
                f"`any: {_shown_yaml(value['any'])}`: only `{{any: true}}` (any value, but passed) is a matcher; "
                "to leave an argument uncompared, leave it out of `args`"
            )
        return value
    pattern = value["matches"]
    if pattern is None or pattern == "":
        raise ValueError("an empty pattern matches any value; give one, or {any: true}")
    if isinstance(pattern, list):
        raise ValueError(
            "`matches:` takes one regular expression, not a list (a list was searched as a character class): "
            "for any of several, write them as one pattern, e.g. 'Carol|Dave'"
        )
    if not isinstance(pattern, str):
        raise ValueError(
            f"`matches:` takes a regular expression as text, not {_shown_yaml(pattern)}: quote it, or compare the "
            "value itself (without `matches:`)"
        )
    not_everything(compiles(pattern))
    return value


def _shown_yaml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


MATCHER_KEYS = frozenset({"matches", "any"})


def _is_matcher(value: Any) -> bool:
    """A mapping of `matches` or `any` alone is a matcher (checked when loaded), any other value a literal."""
    return isinstance(value, dict) and bool(value) and value.keys() <= MATCHER_KEYS


class ToolCallWire(Shorthand, StrictModel):
    """One expected call. A bare name is shorthand for `{name: ...}`. An argument's expected value may be a
    `{matches: REGEX}` (searched in the value, as text) or `{any: true}` (any value, but passed)."""

    name: str = pydantic.Field(description="The tool's name")
    args: dict[str, Annotated[Any, pydantic.AfterValidator(_argument)]] = pydantic.Field(
        default_factory=dict,
        description="Arguments to compare (values, or {matches: REGEX}, or {any: true}); see args_match",
    )
    args_match: ArgsMatch | None = pydantic.Field(
        None, description="exact, subset (default: the mode's) or ignore: how `args` are compared"
    )
    ok: Boolean | None = pydantic.Field(None, description="false: the call failed (its result went back as Failed)")
    result_contains: Needle | None = pydantic.Field(None, description="Text in the result the model got back")

    @pydantic.model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @pydantic.model_validator(mode="after")
    def _args_compared(self) -> ToolCallWire:
        if self.args and self.args_match == ArgsMatch.IGNORE:
            raise ValueError("`args` are given but `args_match: ignore` compares none of them: drop one of the two")
        return self


class TrajectoryWire(StrictModel):
    """Tool calls checked in a mode, with counts."""

    model_config = pydantic.ConfigDict(
        json_schema_extra={  # `_checks_something`'s: in_order (the default) or superset needs something to find
            "anyOf": [
                {"required": ["mode"], "properties": {"mode": {"enum": ["exact", "any_order", "subset"]}}},
                {"required": ["calls"], "properties": {"calls": {"minItems": 1}}},
                {"required": ["count"]},
                {"required": ["max_calls"]},
            ]
        }
    )

    mode: TrajectoryMode = pydantic.Field(TrajectoryMode.IN_ORDER, description="How `calls` are compared")
    calls: list[ToolCallWire] = pydantic.Field(default_factory=list, description="The expected calls")
    args_match: ArgsMatch = pydantic.Field(ArgsMatch.SUBSET, description="How each call's `args` are compared")
    count: Annotated[dict[str, Annotated[int, pydantic.Field(ge=0), NOT_BOOLEAN]], Some("count")] | None = (
        pydantic.Field(None, description="Exactly this many calls of each named tool")
    )
    max_calls: Annotated[int, pydantic.Field(ge=0), NOT_BOOLEAN] | None = pydantic.Field(
        None, description="At most this many calls in all"
    )

    @pydantic.field_validator("args_match")
    @classmethod
    def _args_compared(cls, value: ArgsMatch, info: pydantic.ValidationInfo) -> ArgsMatch:
        """`args` of a call under the mapping's `args_match: ignore` (a call without its own) were never
        compared, as the same two on one call are refused for."""
        if value == ArgsMatch.IGNORE:
            given = [i for i, call in enumerate(info.data.get("calls") or ()) if call.args and call.args_match is None]
            if given:
                listed = ", ".join(f"calls[{i}]" for i in given)
                raise ValueError(
                    f"`args_match: ignore` compares no call's `args`, yet {listed} gives some: drop one of the "
                    "two, or give that call its own `args_match`"
                )
        return value

    @pydantic.model_validator(mode="after")
    def _checks_something(self) -> TrajectoryWire:
        vacuous = self.mode in (TrajectoryMode.IN_ORDER, TrajectoryMode.SUPERSET)
        if not self.calls and vacuous and self.count is None and self.max_calls is None:
            raise ValueError(
                f"mode {self.mode.value} with no calls checks nothing (and would pass): give calls, count or "
                "max_calls; `{mode: exact, calls: []}` says that no tool is called"
            )
        return self


def _tool_calls_branch(value: Any) -> str:
    return "calls-list" if isinstance(value, list) else "calls-mapping"


def _some_calls(calls: list[ToolCallWire]) -> list[ToolCallWire]:
    if not calls:
        raise ValueError(
            "an empty list checks nothing (and would pass): to say that no tool is called, write "
            "`{mode: exact, calls: []}`"
        )
    return calls


ToolCallsWire = Annotated[
    Annotated[
        list[ToolCallWire], pydantic.AfterValidator(_some_calls), JsonSchema(minItems=1), pydantic.Tag("calls-list")
    ]
    | Annotated[TrajectoryWire, pydantic.Tag("calls-mapping")],
    pydantic.Discriminator(_tool_calls_branch),
]


@expect_check
class ToolCalls(ExpectCheck):
    key = "tool_calls"
    wire = ToolCallsWire
    description = (
        "Calls made in this order, others may come between (a list); or {mode: exact|in_order|any_order|"
        "subset|superset, calls: [...], args_match, count: {tool: n}, max_calls: n}"
    )

    def __init__(self, value: Any, loc: Loc) -> None:
        super().__init__(value, loc)
        listed = isinstance(value, list)
        self.trajectory: TrajectoryWire = TrajectoryWire.model_validate({"calls": value}) if listed else value
        self.calls_loc: Loc = loc if listed else (*loc, "calls")

    def references(self) -> Iterable[Reference]:
        for i, call in enumerate(self.trajectory.calls):
            yield Reference((*self.calls_loc, i, "name"), RefersTo.TOOL, call.name)
            for argument in call.args:
                yield Reference((*self.calls_loc, i, "args", argument), RefersTo.ARGUMENT, argument, call.name)
        for name in self.trajectory.count or {}:
            yield Reference((*self.loc, "count", name), RefersTo.TOOL, name)

    def check(self, observed: Observed) -> list[Failure]:
        calls = observed.tool_calls
        made = Lines(call_made(call) for call in calls)
        failures = self._trajectory(list(calls), made)
        trajectory = self.trajectory
        for name, wanted in (trajectory.count or {}).items():
            times = sum(1 for c in calls if c.name == name)
            if times != wanted:
                message = f"'{name}' was called {times} time(s), expected {wanted}"
                failures.append(Failure((*self.loc, "count", name), message, actual=made))
        if trajectory.max_calls is not None and len(calls) > trajectory.max_calls:
            message = f"{len(calls)} call(s) made, at most {trajectory.max_calls} allowed"
            failures.append(Failure((*self.loc, "max_calls"), message, actual=made))
        return failures

    def _matches(self, wanted: ToolCallWire, call: ToolCallRecord) -> bool:
        return _call_matches(wanted, call, wanted.args_match or self.trajectory.args_match)

    def _unparsed(self, wanted: ToolCallWire, calls: Iterable[tuple[int, ToolCallRecord]]) -> str:
        """`_unparsed` of the calls (numbered from 1, as made) under `wanted`'s own args_match, else the mode's."""
        return _unparsed(wanted, calls, wanted.args_match or self.trajectory.args_match)

    def _trajectory(self, calls: list[ToolCallRecord], made: Lines) -> list[Failure]:
        expected = self.trajectory.calls
        mode = self.trajectory.mode
        names = [wanted.name for wanted in expected]
        if mode == TrajectoryMode.IN_ORDER:
            position = 0
            for index, wanted in enumerate(expected):
                searched_from = position
                while position < len(calls) and not self._matches(wanted, calls[position]):
                    position += 1
                if position == len(calls):
                    what = f"no {_describe(wanted)}"
                    if index:
                        what += " after the calls matched before it"
                    what += self._unparsed(wanted, enumerate(calls[searched_from:], searched_from + 1))
                    notes = _lookalike_notes(wanted, calls, range(len(calls)))
                    return [Failure((*self.calls_loc, index), what, expected=names, actual=made, notes=notes)]
                position += 1
            return []
        if mode == TrajectoryMode.EXACT:
            for index, (wanted, call) in enumerate(zip(expected, calls, strict=False)):
                if not self._matches(wanted, call):
                    what = f"call {index + 1} is not the expected {_describe(wanted)}"
                    what += self._unparsed(wanted, [(index + 1, call)])
                    notes = _lookalike_notes(wanted, calls, [index])
                    return [Failure((*self.calls_loc, index), what, expected=names, actual=made, notes=notes)]
            if len(calls) != len(expected):
                what = f"{len(calls)} call(s) made, exactly {len(expected)} expected"
                return [Failure(self.calls_loc, what, expected=names, actual=made)]
            return []
        pairs = _pairs(expected, calls, self._matches)
        unmatched_expected = [i for i in range(len(expected)) if i not in pairs]
        matched_calls = set(pairs.values())
        unexpected = Lines(made[j] for j in range(len(calls)) if j not in matched_calls)
        failures: list[Failure] = []
        if mode in (TrajectoryMode.ANY_ORDER, TrajectoryMode.SUPERSET):
            for index in unmatched_expected:
                what = f"no {_describe(expected[index])} (in any order)"
                what += self._unparsed(expected[index], enumerate(calls, 1))
                notes = _lookalike_notes(expected[index], calls, range(len(calls)))
                failures.append(Failure((*self.calls_loc, index), what, expected=names, actual=made, notes=notes))
        if mode in (TrajectoryMode.ANY_ORDER, TrajectoryMode.SUBSET) and unexpected:
            what = f"{len(unexpected)} call(s) made that are not among the expected ones"
            if mode == TrajectoryMode.SUBSET:  # (any_order's unmatched expected calls say it)
                left = [(j + 1, calls[j]) for j in range(len(calls)) if j not in matched_calls]
                what += "".join(dict.fromkeys(self._unparsed(wanted, left) for wanted in expected))
            failures.append(Failure(self.calls_loc, what, expected=names, actual=unexpected))
        return failures


def _describe(wanted: ToolCallWire) -> str:
    """The expected call in words, its arguments as JSON, as the calls made are shown beneath it (a repr
    wrote `{'flag': True}` above `{"flag": true}`)."""
    arguments = f" with arguments {one_screen_line(_shown_yaml(wanted.args))}" if wanted.args else ""
    what = f"call to '{wanted.name}'" + arguments
    if wanted.ok is not None:
        what += " that succeeded" if wanted.ok else " that failed"
    if wanted.result_contains is not None:
        what += f" with a result containing {wanted.result_contains!r}"
    return what


def _lookalike_notes(wanted: ToolCallWire, calls: list[ToolCallRecord], among: Iterable[int]) -> tuple[str, ...]:
    """What the closest call to `wanted`'s tool (of `among`) differs from its expected arguments in where
    it does not show (an argument written decomposed, NFD, against an expected composed, NFC): the failure
    shows the two alike. The closest has the fewest expected arguments that differ otherwise."""
    best: tuple[int, bool, tuple[str, ...]] | None = None
    for j in among:
        call = calls[j]
        arguments = call.parsed_arguments if call.name == wanted.name else None
        if arguments is None:
            continue
        visible, notes = 0, []
        for key, expected in wanted.args.items():
            told = _told_apart(expected, arguments[key], key, j + 1) if key in arguments else None
            if told is None:
                visible += 1
            else:
                notes += told
        if best is None or (visible, not notes) < best[:2]:
            best = (visible, not notes, tuple(notes))
    return best[2] if best is not None else ()


def _told_apart(expected: Any, actual: Any, key: str, number: int) -> list[str] | None:
    """None when an argument's value differs from the expected one in what shows; else what it differs in
    where it does not (`differ_only_in` of each string, nested too), none when it matches."""
    if _is_matcher(expected):
        return [] if _value_matches(expected, actual) else None
    notes = []
    pending: list[tuple[Loc, Any, Any]] = [((key,), expected, actual)]
    while pending:  # iterative, as same_json is
        at, want, got = pending.pop()
        if isinstance(want, str) and isinstance(got, str):
            if want != got:
                alike = differ_only_in(want, got, f"call {number}'s argument '{dotted(at)}' and its expected value")
                if alike is None:
                    return None
                notes.append(alike)
        elif isinstance(want, dict) and isinstance(got, dict):
            if want.keys() != got.keys():
                return None
            pending += [((*at, name), want[name], got[name]) for name in reversed(list(want))]
        elif isinstance(want, list) and isinstance(got, list):
            if len(want) != len(got):
                return None
            pending += [((*at, i), want[i], got[i]) for i in reversed(range(len(want)))]
        elif not same_json(want, got):
            return None
    return notes


def _pairs(
    expected: list[ToolCallWire],
    calls: list[ToolCallRecord],
    matches: Callable[[ToolCallWire, ToolCallRecord], bool],
) -> dict[int, int]:
    """A largest matching of expected calls to distinct calls made (Kuhn's augmenting paths): overlapping
    expectations (`{name: a}` and `{name: a, args: {x: 1}}`) are paired the way that satisfies the most."""
    candidates = [[j for j, call in enumerate(calls) if matches(wanted, call)] for wanted in expected]
    owner: dict[int, int] = {}  # call -> expected

    def assign(index: int, seen: set[int]) -> bool:
        for j in candidates[index]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or assign(owner[j], seen):
                owner[j] = index
                return True
        return False

    for index in range(len(expected)):
        assign(index, set())
    return {index: j for j, index in owner.items()}


def _call_matches(wanted: ToolCallWire, call: ToolCallRecord, args_match: ArgsMatch = ArgsMatch.SUBSET) -> bool:
    if call.name != wanted.name:
        return False
    if wanted.ok is not None and call.ok != wanted.ok:
        return False
    if wanted.result_contains is not None and wanted.result_contains not in call.result:
        return False
    if args_match == ArgsMatch.IGNORE:
        return True
    parsed = call.parsed_arguments
    if parsed is None:  # not a JSON object: what it holds is unknown, so only a call asking nothing of it matches
        return not _asks_arguments(wanted, args_match)
    arguments = dict(parsed)
    if "request_heartbeat" not in wanted.args:  # Letta's loop control: compared when the check names it
        arguments.pop("request_heartbeat", None)
    if args_match == ArgsMatch.EXACT and set(arguments) != set(wanted.args):
        return False
    return all(key in arguments and _value_matches(value, arguments[key]) for key, value in wanted.args.items())


def _asks_arguments(wanted: ToolCallWire, args_match: ArgsMatch) -> bool:
    """Whether `wanted` says anything of a call's arguments: some `args`, or (`exact`) that there are none."""
    return args_match == ArgsMatch.EXACT or (args_match == ArgsMatch.SUBSET and bool(wanted.args))


def _unparsed(wanted: ToolCallWire, calls: Iterable[tuple[int, ToolCallRecord]], args_match: ArgsMatch) -> str:
    """Why calls of the expected tool did not match when their arguments are not a JSON object (said after a
    failure's message, else empty): the calls listed show such arguments as written, `{"label": "human",
    "content": `, which reads as though `exact` with no `args`, or a subset of them, could match."""
    if not _asks_arguments(wanted, args_match):
        return ""
    unparsed = [(n, call) for n, call in calls if call.name == wanted.name and call.parsed_arguments is None]
    if not unparsed:
        return ""
    numbers = ", ".join(str(n) for n, _ in unparsed)
    what = "not JSON" if all(not _json(call.arguments) for _, call in unparsed) else "not a JSON object"
    return (
        f" (call{'s' if len(unparsed) > 1 else ''} {numbers} to '{wanted.name}' passed arguments that are {what}: "
        "they match no `args` and no `args_match: exact`)"
    )


def _json(text: str) -> bool:
    try:
        loads(text)
    except ValueError:
        return False
    return True


def _value_matches(expected: Any, actual: Any) -> bool:
    if _is_matcher(expected):
        if "matches" in expected:
            text = as_text(actual)
            return bool(searched(expected["matches"], text))  # a search out of time matches nothing
        return True  # {any: true}
    return same_json(expected, actual)


@expect_check
class NotToolCalls(ExpectCheck):
    key = "not_tool_calls"
    wire = Annotated[list[str], Some("list")]
    description = "Tools that must not be called"

    def references(self) -> Iterable[Reference]:
        return [Reference((*self.loc, i), RefersTo.TOOL, name) for i, name in enumerate(self.value)]

    def check(self, observed: Observed) -> list[Failure]:
        failures = []
        for index, name in enumerate(self.value):
            made = [call for call in observed.tool_calls if call.name == name]
            if made:
                failures.append(
                    Failure(
                        (*self.loc, index),
                        f"'{name}' was called {len(made)} time(s)",
                        actual=Lines(call_arguments(call) for call in made),
                    )
                )
        return failures
