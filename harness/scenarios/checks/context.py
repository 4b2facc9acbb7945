"""Recall memory and context pressure: `recall` (what conversation search finds), `evictions`,
`memory_warnings` and `summary` (the summarizer's last summary)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

import pydantic

from harness.records import ContextEvent, ContextEventKind
from harness.scenarios.checks.base import ExpectCheck, Failure, Observed, Reference, RefersTo, Text, expect_check
from harness.scenarios.checks.text import Needle, Needles
from harness.scenarios.checks.wiring import value_checks
from harness.wire import NOT_BOOLEAN, Shorthand, StrictModel
from harness.yamlsource import Loc


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
        self.checks = value_checks(value, loc)

    def references(self) -> Iterable[Reference]:
        return [Reference(self.loc, RefersTo.CONTEXT_WINDOW, "context_window")]

    def check(self, observed: Observed) -> list[Failure]:
        summaries = [event.summary for _, event in _events(observed, ContextEventKind.EVICTION) if event.summary]
        if not summaries:
            return [Failure(self.loc, "no summary was written (no eviction)")]
        text = Text(summaries[-1], None, judge=observed.judge, judgements=observed.judgements, name="the summary")
        return [failure for check in self.checks for failure in check.check_text(text)]
