"""The value checks: checks of one piece of text (a block's value, the reply, a summary), e.g. `contains`,
`matches`, `json_length`, `unchanged`, and the LLM `judge`."""

from __future__ import annotations

import importlib
import re
from abc import abstractmethod
from typing import Annotated, Any

import pydantic
from pydantic_core import CoreSchema, core_schema

from harness.jsontext import same_json
from harness.lookalike import nfc
from harness.scenarios.checks.base import (
    Asker,
    Failure,
    Judgement,
    Target,
    Text,
    ValueCheck,
    asking,
    value_check,
)
from harness.wire import NOT_BOOLEAN, Boolean, JsonSchema, StrictModel


def _looked_for(value: Any) -> Any:
    """A text to look for (or several): "" is in every text and [] holds nothing, so either would make a
    check that checks nothing (and passes)."""
    if value == "" or value == [] or (isinstance(value, list) and "" in value):
        raise ValueError('"" or [] checks nothing (every text holds ""): give the text to look for')
    return value


# The JSON Schema's side of `_looked_for`: an editor flags "" and [] too.
_SomeText = Annotated[str, JsonSchema(minLength=1)]


Needle = Annotated[str, pydantic.AfterValidator(_looked_for), JsonSchema(minLength=1)]


Needles = Annotated[
    _SomeText | Annotated[list[_SomeText], JsonSchema(minItems=1)], pydantic.AfterValidator(_looked_for)
]


class Some:
    """Metadata refusing an empty list or mapping (`Annotated[list[str], Some("list")]`): it would check
    nothing, and pass. The loader says so, located; the JSON Schema has `minItems` or `minProperties`, so an
    editor flags it too."""

    def __init__(self, what: str) -> None:
        self.what = what

    def _check(self, value: Any) -> Any:
        if isinstance(value, list | dict) and not value:
            raise ValueError(
                f"an empty {self.what} checks nothing (and would pass): give at least one, or leave it out"
            )
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: pydantic.GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: pydantic.GetJsonSchemaHandler
    ) -> dict[str, Any]:
        json_schema: dict[str, Any] = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        target["minItems" if target.get("type") == "array" else "minProperties"] = 1
        return json_schema


def no_empty_lists(value: dict[str, Any]) -> dict[str, Any]:
    empty = [key for key, item in value.items() if item == []]
    if empty:
        raise ValueError(f"{', '.join(empty)}: an empty list checks nothing (and would pass): give a tool, or true")
    return value


SEARCH_SECONDS = 2.0  # a search of one text: the patterns that take longer backtrack exponentially


# How many pieces a pattern may spell out once its repeats are counted: the `regex` module writes out each
# copy a repeat requires (`(?:a{60000}){60000}`, 19 characters, took 5.7 GB), and written-out pieces cost
# it alike. 100,000 pieces compile in under 100 MB; `re` alone keeps repeats as counts.
PATTERN_PIECES = 100_000


def compiles(pattern: str) -> str:
    """`re`'s syntax, as documented (its messages point at the opening of what is unclosed), that `regex`,
    which searches, takes too, in bounded memory: any pattern that does not compile is the user's mistake,
    whatever Python raises for it (a repeat count past its limit, nesting past Python's recursion limit)."""
    import regex  # only where a scenario has a pattern: importing it costs 15 ms

    try:
        re.compile(pattern)
        pieces = _pieces(pattern)
        if pieces > PATTERN_PIECES:
            raise ValueError(
                f"invalid regular expression: written out, it is {pieces:,} pieces (a piece counts as often as "
                "the repeats around it ask for: (?:a{1000}){1000} is a million), more than the "
                f"{PATTERN_PIECES:,} the harness lets the regex module compile (its memory grows with them): use "
                "smaller counts, or + / * / {n,} where the exact count does not matter"
            )
        regex.compile(pattern)
    except (re.error, regex.error) as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    except OverflowError as exc:  # re's parser: a count past its MAXREPEAT
        most = int(importlib.import_module("re._constants").MAXREPEAT) - 1
        raise ValueError(f"invalid regular expression: {exc} (the most is {most:,})") from None
    except RecursionError:
        raise ValueError(
            "invalid regular expression: its groups are nested too deep to compile (Python's recursion limit): "
            "nest fewer"
        ) from None
    except MemoryError:
        raise ValueError(
            "invalid regular expression: it takes more memory to compile than this process may use: make it smaller"
        ) from None
    return pattern


def _parse_internals() -> tuple[Any, Any, set[Any]]:
    """The parse `re.compile` makes (`regex` reads a pattern alike): its parser, its opcodes, and the
    opcodes of a repeat. Private modules, read only by the checks on a pattern's shape below."""
    parser: Any = importlib.import_module("re._parser")
    constants: Any = importlib.import_module("re._constants")
    return parser, constants, {constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT}


def _pieces(pattern: str) -> int:
    """How many pieces (characters, classes, anchors, groups) `regex` writes out for `pattern`: a repeat
    counts its item as often as its minimum (the copies it must match; the optional rest stays a loop)."""
    parser, _, repeats = _parse_internals()

    def count(items: Any) -> int:
        return sum(one(op, argument) for op, argument in items)

    def one(op: Any, argument: Any) -> int:
        if op in repeats:
            low, _, item = argument
            return 1 + max(int(low), 1) * count(item)
        return 1 + inside(argument)

    def inside(argument: Any) -> int:
        if isinstance(argument, parser.SubPattern):
            return count(argument)
        if isinstance(argument, tuple | list):
            return sum(inside(part) for part in argument)
        return 0

    return count(parser.parse(pattern))


def searched(pattern: str, text: str) -> bool | None:
    """Whether `pattern` is found in `text`; None when the search took more than SEARCH_SECONDS (a pattern
    like `(a|aa)+$` on what a model wrote would otherwise hang the run)."""
    import regex

    try:
        return regex.search(pattern, text, timeout=SEARCH_SECONDS) is not None
    except TimeoutError:
        return None


@value_check
class Equals(ValueCheck):
    key = "equals"
    wire = str
    description = "The text is exactly this"

    def check_text(self, text: Text) -> list[Failure]:
        if text.value == self.value:
            return []
        return [self.failure(text, f"{text.what} differs", self.value, text.value)]


@value_check
class Contains(ValueCheck):
    key = "contains"
    wire = Needles
    description = "The text contains this (or each of these)"
    wanted = True

    def check_text(self, text: Text) -> list[Failure]:
        needles = [self.value] if isinstance(self.value, str) else self.value
        verb = "does not contain" if self.wanted else "contains"
        return [
            self.failure(
                text,
                f"{text.what} {verb} {needle!r}"
                + (_NFC_ONLY if self.wanted and nfc(needle) in nfc(text.value) else ""),
                actual=text.value,
            )
            for needle in needles
            if (needle in text.value) != self.wanted
        ]


_NFC_ONLY = (
    " as written: it does in another Unicode normalisation (a character written composed, NFC, in one and "
    "decomposed, NFD, in the other, which look the same); checks compare exactly"
)


@value_check
class NotContains(Contains):
    key = "not_contains"
    description = "The text contains none of these"
    wanted = False


def matches_everything(pattern: str) -> bool:
    """Whether `pattern` is found in every text: it can match the empty string with no anchor, lookaround
    or backreference on the way (`Azin|`, `.*`, `(Azin)?`, `x{0,3}`), so a search finds it at the start of
    any text. Sound, not complete: a pattern it calls so always matches (each piece can match nothing,
    wherever it is), but some that always match too (`^`, `$|Azin`) are not caught."""
    parser, constants, repeats = _parse_internals()

    def empty(items: Any) -> bool:
        return all(can_be_empty(op, argument) for op, argument in items)

    def can_be_empty(op: Any, argument: Any) -> bool:
        if op in repeats:
            low, _, item = argument
            return low == 0 or empty(item)
        if op is constants.SUBPATTERN:
            return empty(argument[-1])
        if op is constants.ATOMIC_GROUP:
            return empty(argument)
        if op is constants.BRANCH:
            return any(empty(branch) for branch in argument[1])
        return False  # a character, an anchor, a lookaround, a backreference, a conditional

    return empty(parser.parse(pattern))


def not_everything(pattern: str) -> str:
    if matches_everything(pattern):
        raise ValueError(
            f"/{pattern}/ matches every text (it can match nothing, at the start of any text: a stray `|`, a "
            "`?` or `*` on all of it), so the check checks nothing: give what must be found"
        )
    return pattern


Pattern = Annotated[
    str,
    JsonSchema(minLength=1),
    pydantic.AfterValidator(_looked_for),
    pydantic.AfterValidator(compiles),
    pydantic.AfterValidator(not_everything),
]


@value_check
class Matches(ValueCheck):
    key = "matches"
    wire = Pattern
    description = "A regular expression searched in the text"

    def check_text(self, text: Text) -> list[Failure]:
        found = searched(self.value, text.value)
        if found:
            return []
        if found is None:
            return [
                self.failure(
                    text,
                    f"searching {text.what} for /{self.value}/ took over {SEARCH_SECONDS:g} s: the pattern backtracks "
                    "catastrophically (nested repeats like (a|aa)+): simplify it",
                    actual=text.value,
                )
            ]
        unnormalised = bool(searched(nfc(self.value), nfc(text.value)))
        message = f"{text.what} does not match /{self.value}/" + (_NFC_ONLY if unnormalised else "")
        return [self.failure(text, message, actual=text.value)]


@value_check
class MaxLength(ValueCheck):
    key = "max_length"
    wire = Annotated[int, pydantic.Field(ge=0), NOT_BOOLEAN]
    description = "The text has at most this many characters"

    def check_text(self, text: Text) -> list[Failure]:
        if len(text.value) <= self.value:
            return []
        return [self.failure(text, f"{text.what} is {len(text.value)} characters long", self.value, len(text.value))]


class JsonCheck(ValueCheck):
    """A check of the text parsed as JSON; text that is not JSON fails the first such check only."""

    targets = frozenset({Target.BLOCK})

    def check_text(self, text: Text) -> list[Failure]:
        ok, parsed, error = text.parsed_json()
        if ok:
            return self.check_json(text, parsed)
        if text.json_failure_reported:
            return []
        text.json_failure_reported = True
        return [self.failure(text, f"{text.what} is not valid JSON ({error})", actual=text.value)]

    @abstractmethod
    def check_json(self, text: Text, parsed: Any) -> list[Failure]: ...


@value_check
class JsonEquals(JsonCheck):
    key = "json"
    wire = Any
    description = "The value parses as JSON equal to this"

    def check_json(self, text: Text, parsed: Any) -> list[Failure]:
        if same_json(parsed, self.value):
            return []
        return [self.failure(text, f"{text.what} holds other JSON", self.value, parsed)]


@value_check
class JsonLength(JsonCheck):
    key = "json_length"
    wire = Annotated[int, pydantic.Field(ge=0), NOT_BOOLEAN]
    description = "The value parses as a JSON list, object or string of this length"

    def check_json(self, text: Text, parsed: Any) -> list[Failure]:
        length = len(parsed) if isinstance(parsed, list | dict | str) else None
        if length == self.value:
            return []
        return [self.failure(text, f"{text.what} JSON has another length", self.value, length)]


@value_check
class Unchanged(ValueCheck):
    key = "unchanged"
    wire = Boolean
    description = "The value is what it was at the start"
    targets = frozenset({Target.BLOCK})

    def check_text(self, text: Text) -> list[Failure]:
        if not self.value or text.value == text.initial:
            return []
        # In a turn's expect too: a change made in an earlier turn fails it (unlike `edited:`, which looks
        # at the turn's own calls).
        return [self.failure(text, f"{text.what} changed since the scenario started", text.initial, text.value)]


class JudgeWire(StrictModel):
    """An LLM judge: a model reads the text and the rubric and scores it from 0 to 1."""

    rubric: str = pydantic.Field(
        description="What the text must say or do, e.g. 'still says the user is allergic to nuts'"
    )
    model: str | None = pydantic.Field(None, description="The judge model (default: the agent's model)")
    threshold: Annotated[float, pydantic.Field(gt=0, le=1), NOT_BOOLEAN] = pydantic.Field(
        0.5, description="The lowest score that passes, above 0 (default 0.5; 0 would pass any answer)"
    )


@value_check
class JudgeCheck(ValueCheck):
    key = "judge"
    wire = JudgeWire
    description = "An LLM judge scores the text against a rubric; its exchange is recorded in the cassette"

    def check_text(self, text: Text) -> list[Failure]:
        if text.judge is None:
            return [self.failure(text, "no judge model is available to this run")]
        judge: JudgeWire = self.value
        ask = text.judge
        verdict = asking(self.loc, Asker.JUDGE, lambda: ask(judge.rubric, text.value, text.what, judge.model))
        judgement = Judgement(
            self.loc,
            text.what,
            judge.rubric,
            verdict.score,
            judge.threshold,
            verdict.reason,
            verdict.model or judge.model,
        )
        if text.judgements is not None:
            text.judgements.append(judgement)
        if judgement.passed:
            return []
        message = (
            f"the judge scored {text.what} {verdict.score:g}, below {judge.threshold:g}, against the rubric "
            f"{judge.rubric!r}: {verdict.reason}"
        )
        return [self.failure(text, message, actual=text.value)]  # the rubric is no text to diff the value with
