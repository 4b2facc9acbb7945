"""What every check is built from: the failure a check reports, what it observes of a run, the `Check`
base classes and the two registries (`EXPECT_CHECKS`, `VALUE_CHECKS`) the wire models are generated from."""

from __future__ import annotations

import difflib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

from harness.archival import Archival
from harness.errors import RunError
from harness.jsontext import inert, parse
from harness.lookalike import differ_only_in
from harness.recall import Recall
from harness.records import ContextEvent, StepRecord, StopReason, ToolCallRecord
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
    # What the two differ in where the values shown do not show it (a tool call's argument written
    # decomposed): said beneath them, as `detail` says it of two texts
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return dotted(self.loc)

    def detail(self) -> list[str]:
        """Expected and actual, side by side or as a diff of lines; with a note when they differ only in
        what neither shows (a trailing newline, CRLF, Unicode normalisation), whose diff would be empty.
        Every line `one_screen_line`: a control character or bidi override a model wrote is shown as its
        escape, never sent to the terminal as it is."""
        texts = isinstance(self.expected, str) and isinstance(self.actual, str)
        note = [f"note: {alike}"] if texts and (alike := differ_only_in(self.expected, self.actual)) else []
        note += [one_screen_line(f"note: {told}") for told in self.notes]
        if texts and (len(self.expected) > LONG or len(self.actual) > LONG or "\n" in self.expected + self.actual):
            diff = list(
                difflib.unified_diff(_lines(self.expected), _lines(self.actual), "expected", "actual", lineterm="", n=2)
            )
            if diff:
                return [one_screen_line(line) for line in diff] + note
        lines = []
        for name, value in (("expected:", self.expected), ("actual:  ", self.actual)):
            if isinstance(value, Lines) and value:
                lines += [name.rstrip(), *(f"  - {item}" for item in value)]
            elif value is not UNSET:
                lines.append(f"{name} {_show(value)}")
        return [one_screen_line(line) for line in lines] + note


def one_screen_line(line: str) -> str:
    """A line of a failure's report as one line on any screen: `inert`, and U+2028 and U+2029, which an
    editor or a page may break a line at, as their escapes too."""
    return inert(line).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _lines(text: str) -> list[str]:
    """The lines a diff shows: split at `\\n` or `\\r\\n` alone, the line breaks a value has (`str.splitlines`
    also broke them at U+2028, NEL, a form feed, a lone `\\r`..., which are characters of a line here); a
    last line break ends the last line, as in a file."""
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if lines[-1] == "" else lines


_LINE_BREAK = re.compile(r"\r?\n")


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
    """A call as a failure lists it: its name, arguments, outcome and result, on one line. A tool that
    returned None (send_message, Letta's memory tools) is `-> ok (returned None)`: `-> ok: None` read as
    if `ok` were None."""
    if call.ok and call.result == "None":  # Letta's text of a None returned
        return f"{call.name}({call_arguments(call)}) -> ok (returned None)"
    return f"{call.name}({call_arguments(call)}) -> {'ok' if call.ok else 'FAILED'}: {one_line(call.result)}"


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
    judgements: list[Judgement] = field(default_factory=list)  # what the `judge:` checks were told, in order


class Snapshots(Protocol):
    """Golden files of block values: compared with, or (when updating) written from, what a run gave."""

    def compare(self, loc: Loc, actual: dict[str, Any]) -> list[Failure]: ...


@dataclass(frozen=True)
class Verdict:
    score: float  # 0 to 1
    reason: str
    model: str | None = None  # the model that judged (the reports name it: it may not be the agent's)


@dataclass(frozen=True)
class Judgement:
    """A judge's verdict as a `judge:` check took it, passing or not: the reports show every score (a pass
    at 0.51 against a threshold of 0.5 is news too), not only the failures."""

    loc: Loc  # the check's
    what: str  # what was judged: "the reply", "block 'human'", "the summary"
    rubric: str
    score: float
    threshold: float
    reason: str
    model: str | None = None  # the judge's model: the check's `model:`, else the agent's (as the run used it)

    @property
    def passed(self) -> bool:
        return self.score >= self.threshold

    def said(self) -> str:
        """One line: where, what, the score against the threshold, the rubric and the judge's reason."""
        sign = ">=" if self.passed else "<"
        return (
            f"{dotted(self.loc)}: {self.what} scored {self.score:g} {sign} {self.threshold:g} against the rubric "
            f"{self.rubric!r}: {self.reason}"
        )


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
    judgements: list[Judgement] | None = None  # where a `judge:` check notes its verdict (the run's)
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
