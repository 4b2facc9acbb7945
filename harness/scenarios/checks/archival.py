"""Archival memory: `archival_contains`, `archival_not_contains` and `archival_search` (through the agent's
embedding model, recorded in the cassette)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import pydantic

from harness.archival import DEFAULT_TOP_K, NO_LIMIT, Passage, TagMatchMode, tags_match
from harness.scenarios.checks.base import (
    Asker,
    ExpectCheck,
    Failure,
    Observed,
    Reference,
    RefersTo,
    asking,
    expect_check,
)
from harness.scenarios.checks.text import Needles
from harness.wire import NOT_BOOLEAN, StrictModel


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
    top_k: Annotated[int, pydantic.Field(ge=0), NOT_BOOLEAN] = pydantic.Field(
        DEFAULT_TOP_K,
        description=f"How many results to look at (default {DEFAULT_TOP_K}); 0 is no limit, as archival_memory_search "
        "(and Letta) read it",
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
                    search.query,
                    tags=search.tags,
                    tag_match_mode=search.tag_match_mode,
                    top_k=search.top_k or NO_LIMIT,
                ),
            )
        )
        where = f"the top {search.top_k} results" if search.top_k else "the results"
        where += f" for {search.query!r}"
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
