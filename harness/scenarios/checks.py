"""Scenario checks: one class per check, in two registries, from which the YAML schema is generated.

- `EXPECT_CHECKS`: the keys of an `expect:` (a turn's, or the final one over the whole run), e.g.
  `tool_calls`, `blocks`, `reply`, `stop_reason`,
  `archival_contains`, `archival_search`.
- `VALUE_CHECKS`: the keys that check a piece of text, a block's value or the reply, e.g. `contains`,
  `json_length`; each says which targets it applies to.

A check class names its YAML key, the wire type of its value (validated strictly by pydantic, with
located errors), a description for the JSON Schema, the agent names it refers to (blocks, tools; checked
before anything runs), and `check(observed) -> failures`. Adding a check is writing one class with the
`@expect_check` or `@value_check` decorator: the wire models (`ExpectWire`, `BlockChecksWire`,
`ReplyChecksWire`) and so `harness schema scenario` pick it up.
"""

from __future__ import annotations

import difflib
import importlib
import itertools
import json
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol, TypeVar

import pydantic
from pydantic_core import CoreSchema, core_schema

from harness.archival import DEFAULT_TOP_K, Archival, Passage, TagMatchMode, tags_match
from harness.errors import RunError
from harness.jsontext import as_text, parse, same_json
from harness.memory import EditKind
from harness.recall import Recall
from harness.records import ContextEvent, ContextEventKind, StepRecord, StopReason, ToolCallRecord
from harness.wire import NOT_BOOLEAN, Boolean, JsonSchema, Shorthand, StrictModel
from harness.yamlsource import Loc, dotted

LONG = 60  # values longer than this are shown as a diff, not side by side


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        """Unpickled as the one UNSET (a result comes back from a worker process of `-j N`)."""
        return "UNSET"


UNSET: Any = _Unset()  # "no value to show", unlike None, which a `json: null` check may expect


@dataclass(frozen=True)
class Failure:
    loc: Loc
    message: str
    expected: Any = UNSET
    actual: Any = UNSET
    label: str | None = None  # the block concerned, for its edit history

    @property
    def key(self) -> str:
        return dotted(self.loc)

    def detail(self) -> list[str]:
        """Expected and actual, side by side or as a diff of lines; with a note when they differ only in
        what neither shows (a trailing newline, CRLF, Unicode normalisation), whose diff would be empty."""
        texts = isinstance(self.expected, str) and isinstance(self.actual, str)
        note = [f"note: {alike}"] if texts and (alike := differ_only_in(self.expected, self.actual)) else []
        if texts and (len(self.expected) > LONG or len(self.actual) > LONG or "\n" in self.expected + self.actual):
            diff = list(
                difflib.unified_diff(
                    self.expected.splitlines(), self.actual.splitlines(), "expected", "actual", lineterm="", n=2
                )
            )
            if diff:
                return diff + note
        lines = []
        for name, value in (("expected:", self.expected), ("actual:  ", self.actual)):
            if isinstance(value, Lines) and value:
                lines += [name.rstrip(), *(f"  - {item}" for item in value)]
            elif value is not UNSET:
                lines.append(f"{name} {_show(value)}")
        return lines + note


class Lines(list[str]):
    """An expected or actual value shown one item a line (the calls made), not as one JSON list whose items'
    quotes would all be escaped."""


def one_line(text: str) -> str:
    """Text on one line of a failure's report: its line breaks written as \\n, as a repr writes them."""
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def call_arguments(call: ToolCallRecord) -> str:
    """A call's arguments on one line: as compact JSON (a loop may record them indented, as Letta sends
    them back), else as the model wrote them."""
    parsed = call.parsed_arguments
    return json.dumps(parsed, ensure_ascii=False) if parsed is not None else one_line(call.arguments)


def call_made(call: ToolCallRecord) -> str:
    """A call as a failure lists it: its name, arguments, outcome and result, on one line."""
    return f"{call.name}({call_arguments(call)}) -> {'ok' if call.ok else 'FAILED'}: {one_line(call.result)}"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


_INVISIBLE_DIFFERENCES: list[tuple[str, Callable[[str], str]]] = [
    ("Unicode normalisation (one character composed, NFC, vs decomposed, NFD)", nfc),
    ("line endings (\\r\\n vs \\n)", lambda text: text.replace("\r\n", "\n").replace("\r", "\n")),
    ("trailing newlines (a YAML `|` block ends with one, `|-` does not)", lambda text: text.rstrip("\n")),
    ("whitespace at the start or end", lambda text: text.strip()),
]


def differ_only_in(expected: str, actual: str) -> str | None:
    """What two different texts differ in when it is something that does not show (their diff, or the two
    side by side, look the same); None when they differ otherwise. Checks compare exactly, as written: this
    only says why."""
    if expected == actual:
        return None
    steps = range(len(_INVISIBLE_DIFFERENCES))
    for size in range(1, len(_INVISIBLE_DIFFERENCES) + 1):  # the fewest differences that explain it
        for chosen in itertools.combinations(steps, size):
            a, b = expected, actual
            for index in chosen:
                canonical = _INVISIBLE_DIFFERENCES[index][1]
                a, b = canonical(a), canonical(b)
            if a == b:
                found = " and ".join(_INVISIBLE_DIFFERENCES[index][0] for index in chosen)
                return f"the texts differ only in {found}, compared exactly as written"
    return None


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)


@dataclass
class Observed:
    """What the checks look at: for a turn, that turn; for the final `expect`, the whole run."""

    blocks: dict[str, str]
    initial_blocks: dict[str, str]
    tool_calls: list[ToolCallRecord]
    reply: str | None
    stop_reason: StopReason
    judge: Judge | None = None  # asks a model for a verdict (the `judge` check); None: no model at hand
    turn_blocks: list[dict[str, str]] = field(default_factory=list)  # blocks after each turn (final expect)
    snapshots: Snapshots | None = None  # the golden files of `snapshot:` checks
    steps: list[StepRecord] = field(default_factory=list)  # the steps taken (the turn's, or the run's)
    archival: Archival | None = None  # the agent's archival memory, as it is now
    context: list[tuple[int, ContextEvent]] = field(default_factory=list)  # (turn, event), context pressure
    recall: Recall | None = None  # the agent's searchable history (conversation_search's)
    # The calls whose edits `edited:` looks at: the final expect's add the other agents' changes to blocks
    # they share with the scenario's own; None: `tool_calls`.
    editing_calls: list[ToolCallRecord] | None = None


class Snapshots(Protocol):
    """Golden files of block values: compared with, or (when updating) written from, what a run gave."""

    def compare(self, loc: Loc, actual: dict[str, Any]) -> list[Failure]: ...


@dataclass(frozen=True)
class Verdict:
    score: float  # 0 to 1
    reason: str


class Judge(Protocol):
    """A model asked whether `text` (a block's value or the reply, named by `what`) meets `rubric`."""

    def __call__(self, rubric: str, text: str, what: str, model: str | None) -> Verdict: ...


class RefersTo(Enum):
    BLOCK = "block"
    TOOL = "tool"
    ARGUMENT = "argument"  # an argument of `tool`
    ARCHIVAL = "archival"  # the agent's archival memory (it needs an embedding model)
    CONTEXT_WINDOW = "context_window"  # context pressure: warnings, evictions and their summaries
    MEMORY_WARNING = "memory_warning"  # the memory-pressure warning (`memory_warning: true`, with a window)
    TOOL_RULES = "tool_rules"  # the agent's tool rules


@dataclass(frozen=True)
class Reference:
    """A name a check expects the scenario's agent to have; unknown ones are located errors up front."""

    loc: Loc
    kind: RefersTo
    name: str
    tool: str | None = None  # for an ARGUMENT: the tool it belongs to


# ------------------------------------------------------------------ the base classes and registries


class Check(ABC):
    """One check as written in a scenario: its value (validated wire data) and where it was written."""

    key: ClassVar[str]  # the YAML key
    wire: ClassVar[Any]  # the type of its value in YAML
    description: ClassVar[str]

    def __init__(self, value: Any, loc: Loc) -> None:
        self.value = value
        self.loc = loc

    def references(self) -> Iterable[Reference]:
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r} at {dotted(self.loc)})"


class ExpectCheck(Check):
    final_only: ClassVar[str | None] = None  # why it may only be in the final `expect:` (not a turn's)

    @abstractmethod
    def check(self, observed: Observed) -> list[Failure]: ...


class Target(Enum):
    BLOCK = "block"
    REPLY = "reply"


@dataclass
class Text:
    """The text a value check looks at, and what it can compare it with."""

    value: str
    label: str | None  # the block's label; None for the reply
    initial: str | None = None
    judge: Judge | None = None
    _json: tuple[bool, Any, str] | None = None
    json_failure_reported: bool = False
    name: str | None = None  # what the text is, when neither a block nor the reply (the summary)

    @property
    def what(self) -> str:
        if self.name is not None:
            return self.name
        return f"block '{self.label}'" if self.label else "the reply"

    def parsed_json(self) -> tuple[bool, Any, str]:
        """(ok, value, error), parsed once for every JSON check of this text."""
        if self._json is None:
            try:
                self._json = (True, parse(self.value), "")
            except ValueError as exc:
                self._json = (False, None, str(exc))
        return self._json


class ValueCheck(Check):
    targets: ClassVar[frozenset[Target]] = frozenset(Target)

    @abstractmethod
    def check_text(self, text: Text) -> list[Failure]: ...

    def failure(self, text: Text, message: str, expected: Any = UNSET, actual: Any = UNSET) -> Failure:
        return Failure(self.loc, message, expected, actual, text.label)


EXPECT_CHECKS: dict[str, type[ExpectCheck]] = {}
VALUE_CHECKS: dict[str, type[ValueCheck]] = {}

T = TypeVar("T")
E = TypeVar("E", bound=type[ExpectCheck])
V = TypeVar("V", bound=type[ValueCheck])


def expect_check(cls: E) -> E:
    """Register a key of `expect:`."""
    EXPECT_CHECKS[cls.key] = cls
    return cls


def value_check(cls: V) -> V:
    """Register a key that checks a block's value or the reply."""
    VALUE_CHECKS[cls.key] = cls
    return cls


# ------------------------------------------------------------------ checks of a piece of text


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


class _Some:
    """Metadata refusing an empty list or mapping (`Annotated[list[str], _Some("list")]`): it would check
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


def _no_empty_lists(value: dict[str, Any]) -> dict[str, Any]:
    empty = [key for key, item in value.items() if item == []]
    if empty:
        raise ValueError(f"{', '.join(empty)}: an empty list checks nothing (and would pass): give a tool, or true")
    return value


SEARCH_SECONDS = 2.0  # a search of one text: the patterns that take longer backtrack exponentially


def _compiles(pattern: str) -> str:
    """`re`'s syntax, as documented (its messages point at the opening of what is unclosed), that `regex`,
    which searches, takes too."""
    import regex  # only where a scenario has a pattern: importing it costs 15 ms

    try:
        re.compile(pattern)
        regex.compile(pattern)
    except (re.error, regex.error) as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return pattern


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
    parser: Any = importlib.import_module("re._parser")  # the parse `re.compile` makes; `regex` reads it alike
    constants: Any = importlib.import_module("re._constants")
    repeats = {constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT}

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


def _not_everything(pattern: str) -> str:
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
    pydantic.AfterValidator(_compiles),
    pydantic.AfterValidator(_not_everything),
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


# ------------------------------------------------------------------ the wire models, generated


# Keys that are also attributes of pydantic models: the Python field gets a trailing underscore, the
# YAML key stays as written (an alias).
_RESERVED = frozenset(dir(pydantic.BaseModel))


def _wire_fields(registry: Mapping[str, type[Check]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, cls in registry.items():
        name = f"{key}_" if key in _RESERVED else key
        alias = key if name != key else None
        # Not Optional: a key left empty (`blocks:` alone) is a mistake to locate, not a check of nothing;
        # None is only the default of a key not written.
        fields[name] = (cls.wire, pydantic.Field(None, alias=alias, description=cls.description))
    return fields


def _field_of(key: str) -> str:
    return f"{key}_" if key in _RESERVED else key


def _some_value_check(schema: dict[str, Any], model: type[pydantic.BaseModel]) -> None:
    """The JSON Schema's side of `_ValueChecksBase._not_empty`: at least one check, `unchanged: false` none."""
    schema["minProperties"] = 1
    if "unchanged" in model.model_fields:
        schema["not"] = {"required": ["unchanged"], "properties": {"unchanged": {"const": False}}, "maxProperties": 1}


class _ValueChecksBase(Shorthand, StrictModel):
    """Checks of one piece of text; at least one must be given. `unchanged` alone may be written bare."""

    model_config = pydantic.ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, json_schema_extra=_some_value_check
    )

    @pydantic.model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"unchanged": True} if value == "unchanged" and "unchanged" in cls.model_fields else value

    @classmethod
    def shorthand_schema(cls) -> dict[str, Any] | None:
        return {"const": "unchanged"} if "unchanged" in cls.model_fields else None

    @pydantic.model_validator(mode="after")
    def _not_empty(self) -> _ValueChecksBase:
        given = set(self.model_fields_set)
        alone = "`unchanged: false` checks nothing; " if getattr(self, "unchanged", None) is False else ""
        if alone:
            given.discard("unchanged")
        if not given:
            keys = ", ".join(field.alias or name for name, field in type(self).model_fields.items())
            raise ValueError(f"{alone}give at least one check: {keys}")
        return self


def _value_model(name: str, target: Target) -> type[_ValueChecksBase]:
    registry = {k: c for k, c in VALUE_CHECKS.items() if target in c.targets}
    model: type[_ValueChecksBase] = pydantic.create_model(
        name, __base__=_ValueChecksBase, __doc__=f"Checks on {target.value} text", **_wire_fields(registry)
    )
    return model


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
        if verdict.score >= judge.threshold:
            return []
        message = (
            f"the judge scored {text.what} {verdict.score:g}, below {judge.threshold:g}, against the rubric "
            f"{judge.rubric!r}: {verdict.reason}"
        )
        return [self.failure(text, message, actual=text.value)]  # the rubric is no text to diff the value with


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
    _not_everything(_compiles(pattern))
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
    count: Annotated[dict[str, Annotated[int, pydantic.Field(ge=0), NOT_BOOLEAN]], _Some("count")] | None = (
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


# ------------------------------------------------------------------ checks of a turn (or of the run)


def _value_checks(checks: StrictModel, loc: Loc) -> list[ValueCheck]:
    given = checks.model_fields_set
    return [
        cls(getattr(checks, _field_of(key)), (*loc, key))
        for key, cls in VALUE_CHECKS.items()
        if _field_of(key) in given
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

    def _trajectory(self, calls: list[ToolCallRecord], made: Lines) -> list[Failure]:
        expected = self.trajectory.calls
        mode = self.trajectory.mode
        names = [wanted.name for wanted in expected]
        if mode == TrajectoryMode.IN_ORDER:
            position = 0
            for index, wanted in enumerate(expected):
                while position < len(calls) and not self._matches(wanted, calls[position]):
                    position += 1
                if position == len(calls):
                    what = f"no {_describe(wanted)}"
                    if index:
                        what += " after the calls matched before it"
                    return [Failure((*self.calls_loc, index), what, expected=names, actual=made)]
                position += 1
            return []
        if mode == TrajectoryMode.EXACT:
            for index, (wanted, call) in enumerate(zip(expected, calls, strict=False)):
                if not self._matches(wanted, call):
                    what = f"call {index + 1} is not the expected {_describe(wanted)}"
                    return [Failure((*self.calls_loc, index), what, expected=names, actual=made)]
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
                failures.append(Failure((*self.calls_loc, index), what, expected=names, actual=made))
        if mode in (TrajectoryMode.ANY_ORDER, TrajectoryMode.SUBSET) and unexpected:
            what = f"{len(unexpected)} call(s) made that are not among the expected ones"
            failures.append(Failure(self.calls_loc, what, expected=names, actual=unexpected))
        return failures


def _describe(wanted: ToolCallWire) -> str:
    what = f"call to '{wanted.name}'" + (f" with arguments {wanted.args}" if wanted.args else "")
    if wanted.ok is not None:
        what += " that succeeded" if wanted.ok else " that failed"
    if wanted.result_contains is not None:
        what += f" with a result containing {wanted.result_contains!r}"
    return what


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
    arguments = dict(call.parsed_arguments or {})
    if "request_heartbeat" not in wanted.args:  # Letta's loop control: compared when the check names it
        arguments.pop("request_heartbeat", None)
    if args_match == ArgsMatch.EXACT and set(arguments) != set(wanted.args):
        return False
    return all(key in arguments and _value_matches(value, arguments[key]) for key, value in wanted.args.items())


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
    wire = Annotated[list[str], _Some("list")]
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


@expect_check
class Blocks(ExpectCheck):
    key = "blocks"
    description = "Checks on blocks' values, by label"

    def __init__(self, value: Any, loc: Loc) -> None:
        super().__init__(value, loc)
        self.checks = {label: _value_checks(checks, (*loc, label)) for label, checks in value.items()}

    def references(self) -> Iterable[Reference]:
        return [Reference((*self.loc, label), RefersTo.BLOCK, label) for label in self.value]

    def check(self, observed: Observed) -> list[Failure]:
        failures: list[Failure] = []
        for label, checks in self.checks.items():
            if label not in observed.blocks:  # never created, or deleted or renamed by the memory tool
                held = ", ".join(observed.blocks) or "none"
                message = f"the agent has no block '{label}' (its blocks: {held})"
                failures.append(Failure((*self.loc, label), message, label=label))  # its history: who took it
                continue
            text = Text(observed.blocks[label], label, observed.initial_blocks.get(label), observed.judge)
            for check in checks:
                failures += check.check_text(text)
        return failures


@expect_check
class Reply(ExpectCheck):
    key = "reply"
    description = "Checks on the reply (the last send_message text)"

    def __init__(self, value: Any, loc: Loc) -> None:
        super().__init__(value, loc)
        self.checks = _value_checks(value, loc)

    def check(self, observed: Observed) -> list[Failure]:
        if observed.reply is None:
            return [Failure(self.loc, "the agent sent no reply")]
        text = Text(observed.reply, None, judge=observed.judge)
        return [failure for check in self.checks for failure in check.check_text(text)]


@expect_check
class StopReasonIs(ExpectCheck):
    key = "stop_reason"
    wire = StopReason
    description = "Why the turn ended: " + ", ".join(reason.value for reason in StopReason)

    def check(self, observed: Observed) -> list[Failure]:
        if self.value == observed.stop_reason:
            return []
        return [Failure(self.loc, "the turn ended otherwise", str(self.value), str(observed.stop_reason))]


@expect_check
class Edited(ExpectCheck):
    key = "edited"
    wire = Annotated[
        dict[str, Boolean | str | Annotated[list[str], JsonSchema(minItems=1)]],
        _Some("mapping"),
        pydantic.AfterValidator(_no_empty_lists),
    ]
    description = (
        "Which tool calls changed which blocks, by label: true (some call changed it), false (no call did), or "
        "the tool (or tools) that changed it, e.g. {human: memory_replace}"
    )

    def references(self) -> Iterable[Reference]:
        for label, wanted in self.value.items():
            yield Reference((*self.loc, label), RefersTo.BLOCK, label)
            if isinstance(wanted, str):
                yield Reference((*self.loc, label), RefersTo.TOOL, wanted)
            elif isinstance(wanted, list):
                for index, name in enumerate(wanted):
                    yield Reference((*self.loc, label, index), RefersTo.TOOL, name)

    def check(self, observed: Observed) -> list[Failure]:
        failures: list[Failure] = []
        calls = observed.tool_calls if observed.editing_calls is None else observed.editing_calls
        edits = [edit for call in calls for edit in call.edits]
        for label, wanted in self.value.items():
            if not (label in observed.initial_blocks or any(edit.label == label for edit in edits)):
                # an agent that can create blocks is not checked for labels before the run: a misspelt one
                # would pass `false` (no call changed a block that never was)
                held = ", ".join(observed.blocks) or "none"
                failures.append(
                    Failure((*self.loc, label), f"the agent never had a block '{label}' (its blocks: {held})")
                )
                continue
            # A rename edit is recorded under the new label; the old label changed too.
            editors = [
                call.name
                for call in calls
                for edit in call.edits
                if edit.label == label or (edit.kind == EditKind.RENAME and edit.old == label)
            ]
            made = sorted(set(editors))
            loc = (*self.loc, label)
            if wanted is True and not editors:
                failures.append(Failure(loc, f"no tool call changed block '{label}'", label=label))
            elif wanted is False and editors:
                message = f"block '{label}' was changed by {', '.join(made)}"
                failures.append(Failure(loc, message, expected=[], actual=made, label=label))
            elif isinstance(wanted, str | list):
                names = [wanted] if isinstance(wanted, str) else wanted
                for name in names:
                    if name not in editors:
                        what = f"by {', '.join(made)} only" if made else "by no tool call"
                        message = f"block '{label}' was not changed by '{name}' (changed {what})"
                        failures.append(Failure(loc, message, expected=names, actual=made, label=label))
        return failures


class ToolRulesWire(StrictModel):
    """What the agent's tool rules did (a turn's, or the whole run's)."""

    model_config = pydantic.ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["refused"]}, {"required": ["offered"]}]}
    )

    refused: list[str] | None = pydantic.Field(
        None, description="The calls the rules refused (Letta's ToolConstraintError), in order; [] for none"
    )
    offered: list[list[str]] | None = pydantic.Field(
        None, description="The tools the rules offered at each step, in order (e.g. [[core_memory_append], ...])"
    )

    @pydantic.model_validator(mode="after")
    def _checks_something(self) -> ToolRulesWire:
        if self.refused is None and self.offered is None:
            raise ValueError("give `refused` or `offered`: what the rules must have done")
        return self


@expect_check
class ToolRulesOutcome(ExpectCheck):
    key = "tool_rules"
    wire = ToolRulesWire
    description = "What the tool rules did: calls they refused, tools offered at each step"

    def references(self) -> Iterable[Reference]:
        wanted: ToolRulesWire = self.value
        yield Reference(self.loc, RefersTo.TOOL_RULES, "tool_rules")
        for index, name in enumerate(wanted.refused or ()):
            yield Reference((*self.loc, "refused", index), RefersTo.TOOL, name)
        for step, names in enumerate(wanted.offered or ()):
            for index, name in enumerate(names):
                yield Reference((*self.loc, "offered", step, index), RefersTo.TOOL, name)

    def check(self, observed: Observed) -> list[Failure]:
        wanted: ToolRulesWire = self.value
        failures: list[Failure] = []
        if wanted.refused is not None:
            refused = [call.name for call in observed.tool_calls if call.refused]
            if refused != wanted.refused:
                message = "the rules refused other calls" if refused else "the rules refused no call"
                failures.append(Failure((*self.loc, "refused"), message, wanted.refused, refused))
        if wanted.offered is not None:
            offered = [list(step.offered) if step.offered is not None else None for step in observed.steps]
            if any(names is None for names in offered):
                failures.append(Failure((*self.loc, "offered"), "the agent has no tool rules: every tool was offered"))
            elif [sorted(names or ()) for names in offered] != [sorted(names) for names in wanted.offered]:
                failures.append(
                    Failure((*self.loc, "offered"), "the rules offered other tools", wanted.offered, offered)
                )
        return failures


def _needles(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _texts(passages: list[Passage]) -> list[str]:
    return [passage.text for passage in passages]


@expect_check
class ArchivalContains(ExpectCheck):
    key = "archival_contains"
    wire = Needles
    description = "Archival memory holds a passage containing this text (each of these)"
    wanted = True

    def references(self) -> Iterable[Reference]:
        return [Reference(self.loc, RefersTo.ARCHIVAL, "archival")]

    def check(self, observed: Observed) -> list[Failure]:
        if observed.archival is None:
            return [Failure(self.loc, "the agent has no archival memory")]
        texts = _texts(observed.archival.passages())
        failures = []
        for needle in _needles(self.value):
            holding = [text for text in texts if needle in text]
            if self.wanted and not holding:
                failures.append(Failure(self.loc, f"no archival passage contains {needle!r}", actual=texts))
            elif not self.wanted and holding:
                message = f"{len(holding)} archival passage(s) contain {needle!r}"
                failures.append(Failure(self.loc, message, actual=holding))
        return failures


@expect_check
class ArchivalNotContains(ArchivalContains):
    key = "archival_not_contains"
    description = "No archival passage contains this text (any of these)"
    wanted = False


class ArchivalSearchWire(StrictModel):
    """A search of archival memory, as archival_memory_search makes it, and what its results must hold."""

    model_config = pydantic.ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["contains"]}, {"required": ["not_contains"]}]}
    )

    query: str = pydantic.Field(description="What to search for (embedded through the cassette)")
    top_k: Annotated[int, pydantic.Field(ge=1), NOT_BOOLEAN] = pydantic.Field(
        DEFAULT_TOP_K, description=f"How many results to look at (default {DEFAULT_TOP_K})"
    )
    tags: list[str] | None = pydantic.Field(None, description="Only passages with these tags")
    tag_match_mode: TagMatchMode = pydantic.Field(
        TagMatchMode.ANY, description="any (default): with one of the tags; all: with every one"
    )
    contains: Needles | None = pydantic.Field(None, description="Text some result contains (each of these)")
    not_contains: Needles | None = pydantic.Field(None, description="Text no result contains")

    @pydantic.model_validator(mode="after")
    def _something_to_check(self) -> ArchivalSearchWire:
        if self.contains is None and self.not_contains is None:
            raise ValueError("give `contains` or `not_contains`: what the results must (not) hold")
        return self


@expect_check
class ArchivalSearch(ExpectCheck):
    key = "archival_search"
    wire = ArchivalSearchWire
    description = (
        "Search archival memory ({query, top_k, tags, tag_match_mode}) and check the results (contains, "
        "not_contains); the query's embedding is recorded in the cassette"
    )

    def references(self) -> Iterable[Reference]:
        return [Reference(self.loc, RefersTo.ARCHIVAL, "archival")]

    def check(self, observed: Observed) -> list[Failure]:
        if observed.archival is None:
            return [Failure(self.loc, "the agent has no archival memory")]
        search: ArchivalSearchWire = self.value
        archival = observed.archival
        found = _texts(
            asking(
                self.loc,
                Asker.ARCHIVAL_SEARCH,
                lambda: archival.search(
                    search.query, tags=search.tags, tag_match_mode=search.tag_match_mode, top_k=search.top_k
                ),
            )
        )
        where = f"the top {search.top_k} results for {search.query!r}"
        if not found and search.tags:  # the tag filter may have left nothing to rank: say so
            tagged = [p for p in archival.passages() if tags_match(p.tags, search.tags, search.tag_match_mode)]
            if not tagged:
                every = "every one" if search.tag_match_mode == TagMatchMode.ALL else "any"
                where += f" (no passage has {every} of the tags {', '.join(map(repr, search.tags))})"
        failures = [
            Failure((*self.loc, "contains"), f"no passage among {where} contains {needle!r}", actual=found)
            for needle in _needles(search.contains)
            if not any(needle in text for text in found)
        ]
        failures += [
            Failure((*self.loc, "not_contains"), f"a passage among {where} contains {needle!r}", actual=found)
            for needle in _needles(search.not_contains)
            if any(needle in text for text in found)
        ]
        return failures


class SnapshotMode(StrEnum):
    TURNS = "turns"  # every block after every turn
    END = "end"  # the blocks at the end: the same end state passes, whatever path the agent took


def _snapshot_taken(value: bool | SnapshotMode) -> bool | SnapshotMode:
    if value is False:
        raise ValueError("`snapshot: false` checks nothing: leave it out, or give true, turns or end")
    return value


@expect_check
class Snapshot(ExpectCheck):
    key = "snapshot"
    final_only = "a snapshot is checked in the final `expect:` only (it holds the blocks after every turn)"
    wire = Annotated[
        Annotated[Boolean, JsonSchema(const=True)] | SnapshotMode, pydantic.AfterValidator(_snapshot_taken)
    ]
    description = (
        "Compare the blocks with the scenario's golden file under snapshots/ (true or turns: after every "
        "turn; end: at the end only); `--update-snapshots` writes it"
    )

    def check(self, observed: Observed) -> list[Failure]:
        if self.value is False:
            return []
        if observed.snapshots is None:
            return [Failure(self.loc, "snapshots can only be checked in the final `expect:` of a run")]
        actual: dict[str, Any] = {"end": observed.blocks}
        if self.value is True or self.value == SnapshotMode.TURNS:
            actual = {"turns": observed.turn_blocks, **actual}
        return observed.snapshots.compare(self.loc, actual)


# ------------------------------------------------------------------ recall memory and context pressure


class RecallWire(Shorthand, StrictModel):
    """A search of the agent's history, as conversation_search makes it; a bare string is both the query and
    the text a result must hold."""

    query: Needle = pydantic.Field(description="The search, as the agent would write it")
    contains: Needles | None = pydantic.Field(
        None, description="Text some result must hold (each of these, in some result); default: the query"
    )
    roles: Annotated[list[Literal["assistant", "user"]], pydantic.Field(min_length=1)] | None = pydantic.Field(
        None, description="Only these roles (leave it out for every role)"
    )

    @pydantic.field_validator("roles", mode="before")
    @classmethod
    def _some_roles(cls, value: Any) -> Any:
        """`roles: []` searched every role, as if no role were named, not none."""
        if value == []:
            raise ValueError("an empty `roles` would search every role, not none: name some, or leave it out")
        return value

    @pydantic.model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"query": value} if isinstance(value, str) else value


@expect_check
class RecallFinds(ExpectCheck):
    key = "recall"
    wire = RecallWire
    description = (
        "conversation_search over the agent's whole history (evicted messages included) finds this: "
        "{query, contains, roles}, or a bare string"
    )

    def check(self, observed: Observed) -> list[Failure]:
        wanted: RecallWire = self.value
        if observed.recall is None:
            return [Failure(self.loc, "this agent has no recall memory to search")]
        hits = observed.recall.search(wanted.query, wanted.roles, limit=50)
        # what the messages say (their content, their thinking), not the JSON a search result is shown as
        texts = ["\n".join(str(value) for value in hit.detail.values()) for hit in hits]
        needles = [wanted.query] if wanted.contains is None else wanted.contains
        return [
            Failure(self.loc, self._missing(wanted.query, needle, len(texts)), actual=texts)
            for needle in ([needles] if isinstance(needles, str) else needles)
            if not any(needle in text for text in texts)
        ]

    @staticmethod
    def _missing(query: str, needle: str, found: int) -> str:
        """The search matches words (any case, stemmed: `falcons` finds "Falcon"), the text it must hold is
        looked for as written: say which of the two failed."""
        if not found:
            return f"conversation_search found no message for {query!r}"
        return (
            f"conversation_search found {found} message(s) for {query!r}, but none holds {needle!r} as written "
            "(the search matches words in any case and form; the text a result must hold is matched exactly, "
            "case included: give it as the messages write it with `contains:`)"
        )


class EvictionsWire(Shorthand, StrictModel):
    """How often old messages were evicted and summarized; a bare number is `count`."""

    model_config = pydantic.ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["count"]}, {"required": ["at_least"]}, {"required": ["turns"]}]}
    )

    count: Annotated[int, pydantic.Field(ge=0), NOT_BOOLEAN] | None = pydantic.Field(
        None, description="Exactly this many"
    )
    at_least: Annotated[int, pydantic.Field(ge=0), NOT_BOOLEAN] | None = pydantic.Field(
        None, description="At least this many"
    )
    turns: list[Annotated[int, pydantic.Field(ge=1), NOT_BOOLEAN]] | None = pydantic.Field(
        None, description="The turns (1 for the first) in which evictions happened, exactly these"
    )

    @classmethod
    def shorthand_schema(cls) -> dict[str, Any] | None:
        return {"type": "integer", "minimum": 0}

    @pydantic.model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # any number, not only an int: `1.0` is a count of 1, as JSON Schema's integer says (`1.5` is told so)
        return {"count": value} if isinstance(value, int | float) and not isinstance(value, bool) else value

    @pydantic.model_validator(mode="after")
    def _checks_something(self) -> EvictionsWire:
        if self.count is None and self.at_least is None and self.turns is None:
            raise ValueError("give `count`, `at_least` or `turns` (or a bare count): what must have been evicted")
        return self


def _events(observed: Observed, kind: ContextEventKind) -> list[tuple[int, ContextEvent]]:
    return [(turn, event) for turn, event in observed.context if event.kind is kind]


def _shown(events: list[tuple[int, ContextEvent]]) -> list[str]:
    return [
        f"turn {turn + 1}: {event.kind.value}, {event.tokens_before} -> {event.tokens_after} tokens of "
        f"{event.context_window}" + (f", {event.evicted} evicted, {event.kept} kept" if event.evicted else "")
        for turn, event in events
    ]


@expect_check
class Evictions(ExpectCheck):
    key = "evictions"
    wire = EvictionsWire
    description = "Old messages were evicted (to recall) and summarized: a count, or {count, at_least, turns: [n, ...]}"

    def references(self) -> Iterable[Reference]:
        return [Reference(self.loc, RefersTo.CONTEXT_WINDOW, "context_window")]

    def check(self, observed: Observed) -> list[Failure]:
        wanted: EvictionsWire = self.value
        events = _events(observed, ContextEventKind.EVICTION)
        shown = _shown(observed.context)
        failures = []
        if wanted.count is not None and len(events) != wanted.count:
            failures.append(Failure(self.loc, f"{len(events)} eviction(s), expected {wanted.count}", actual=shown))
        if wanted.at_least is not None and len(events) < wanted.at_least:
            message = f"{len(events)} eviction(s), expected at least {wanted.at_least}"
            failures.append(Failure(self.loc, message, actual=shown))
        turns = sorted({turn + 1 for turn, _ in events})
        if wanted.turns is not None and turns != sorted(set(wanted.turns)):
            failures.append(Failure((*self.loc, "turns"), "evictions in other turns", sorted(wanted.turns), turns))
        return failures


@expect_check
class MemoryWarnings(ExpectCheck):
    key = "memory_warnings"
    wire = Annotated[int, pydantic.Field(ge=0), NOT_BOOLEAN]
    description = "Exactly this many memory-pressure warnings went to the model"

    def references(self) -> Iterable[Reference]:
        return [Reference(self.loc, RefersTo.MEMORY_WARNING, "memory_warning")]

    def check(self, observed: Observed) -> list[Failure]:
        events = _events(observed, ContextEventKind.WARNING)
        if len(events) == self.value:
            return []
        return [Failure(self.loc, f"{len(events)} warning(s), expected {self.value}", actual=_shown(observed.context))]


@expect_check
class Summary(ExpectCheck):
    key = "summary"
    description = "Checks on the last summary the summarizer wrote (after an eviction): contains, matches, judge..."

    def __init__(self, value: Any, loc: Loc) -> None:
        super().__init__(value, loc)
        self.checks = _value_checks(value, loc)

    def references(self) -> Iterable[Reference]:
        return [Reference(self.loc, RefersTo.CONTEXT_WINDOW, "context_window")]

    def check(self, observed: Observed) -> list[Failure]:
        summaries = [event.summary for _, event in _events(observed, ContextEventKind.EVICTION) if event.summary]
        if not summaries:
            return [Failure(self.loc, "no summary was written (no eviction)")]
        text = Text(summaries[-1], None, judge=observed.judge, name="the summary")
        return [failure for check in self.checks for failure in check.check_text(text)]


if TYPE_CHECKING:
    BlockChecksWire = _ValueChecksBase
    ReplyChecksWire = _ValueChecksBase
else:
    BlockChecksWire = _value_model("BlockChecks", Target.BLOCK)
    ReplyChecksWire = _value_model("ReplyChecks", Target.REPLY)
Blocks.wire = Annotated[dict[str, BlockChecksWire], _Some("mapping")]
Reply.wire = ReplyChecksWire
Summary.wire = ReplyChecksWire


class _ExpectBase(StrictModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, json_schema_extra={"minProperties": 1})
    misplaced_keys: ClassVar[dict[str, str]] = {}  # keys that belong elsewhere, and where (for the message)

    @pydantic.model_validator(mode="after")
    def _not_empty(self) -> _ExpectBase:
        """`expect: {}` (say, its last check commented out) checks nothing, and would pass."""
        if not self.model_fields_set:
            keys = ", ".join(field.alias or name for name, field in type(self).model_fields.items())
            raise ValueError(f"an empty `expect:` checks nothing (and would pass): give at least one check: {keys}")
        return self


def _expect_model(final: bool) -> type[StrictModel]:
    """The final `expect:` takes every check; a turn's, those that can be checked after a turn (a snapshot
    cannot: it is written or compared once, after the last turn)."""
    registry = {key: cls for key, cls in EXPECT_CHECKS.items() if final or cls.final_only is None}
    model: type[_ExpectBase] = pydantic.create_model(
        "Expect" if final else "TurnExpect",
        __base__=_ExpectBase,
        __doc__="What must hold after the last turn, over the whole run" if final else "What must hold after a turn",
        **_wire_fields(registry),
    )
    model.misplaced_keys = {
        key: str(cls.final_only) for key, cls in EXPECT_CHECKS.items() if not final and cls.final_only is not None
    }
    return model


if TYPE_CHECKING:
    ExpectWire = StrictModel
    TurnExpectWire = StrictModel
else:
    ExpectWire = _expect_model(final=True)
    TurnExpectWire = _expect_model(final=False)


# ------------------------------------------------------------------ from wire to runtime, and running


def compile_expect(expect: StrictModel | None, loc: Loc) -> tuple[ExpectCheck, ...]:
    """The checks an `expect:` mapping holds, bound to their locations, in registry order."""
    if expect is None:
        return ()
    given = expect.model_fields_set
    return tuple(
        cls(getattr(expect, _field_of(key)), (*loc, key))
        for key, cls in EXPECT_CHECKS.items()
        if _field_of(key) in given
    )


class Asker(StrEnum):
    """The kinds of check that exchange with a model, as an error of that exchange names them."""

    JUDGE = "judge"
    ARCHIVAL_SEARCH = "archival search"


def asking(loc: Loc, asker: Asker, ask: Callable[[], T]) -> T:
    """`ask()`, a check's model exchange (a judge's verdict, an archival search's embedding): an error it
    raises (the endpoint failing, a cassette miss) carries the check's `loc` and kind, so the run can say
    which check of the turn it was, at its line, as it locates every other endpoint error."""
    try:
        return ask()
    except RunError as exc:
        if exc.check_loc is None:
            exc.check_loc, exc.check_asker = loc, asker
        raise


def run_checks(checks: Iterable[ExpectCheck], observed: Observed) -> list[Failure]:
    return [failure for check in checks for failure in check.check(observed)]


def check(expect: StrictModel | None, observed: Observed, loc: Loc) -> list[Failure]:
    """Shorthand: compile `expect` at `loc` and run it."""
    return run_checks(compile_expect(expect, loc), observed)
