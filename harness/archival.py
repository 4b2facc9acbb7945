"""Archival memory as the tools see it: passages, tag matching, and the protocol a passage store implements.

Letta 0.16.8's archival memory (letta/services/passage_manager.py, agent_manager.py): a passage is a text
with tags and a creation time; search ranks by the cosine similarity of its embedding to the query's, and
filters by tags (`any`: at least one of them, `all`: every one) and by creation time (both ends inclusive).
Nothing here does I/O: the SQLite store (harness/passages.py) implements `Archival`, and the tools
(harness/tools/archival.py) use it through `AgentState.archival` without knowing where passages live.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

# letta/constants.py RETRIEVAL_QUERY_DEFAULT_PAGE_SIZE: results of a search that gives no top_k.
DEFAULT_TOP_K = 5
# A `top_k` past any archive: what a `top_k` of 0 (no limit, as Letta reads it) searches with.
NO_LIMIT = 2**31


class TagMatchMode(StrEnum):
    ANY = "any"  # a passage with at least one of the tags
    ALL = "all"  # a passage with every one of the tags


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    tags: tuple[str, ...]
    created_at: datetime  # aware, UTC


@dataclass(frozen=True)
class Seed:
    """A passage a scenario puts in archival memory before its first turn."""

    text: str
    tags: tuple[str, ...] = ()


class Archival(Protocol):
    """An agent's archival memory."""

    def insert(self, text: str, tags: Sequence[str] | None, created_at: datetime) -> Passage:
        """Embed `text` and keep it, tagged, created at `created_at` (the caller's clock: the agent's)."""

    def insert_many(self, seeds: Sequence[Seed], created_at: Sequence[datetime]) -> list[Passage]:
        """Embed every text in one request and keep them all, in order, or none."""

    def search(
        self,
        query: str,
        *,
        tags: Sequence[str] | None = None,
        tag_match_mode: TagMatchMode = TagMatchMode.ANY,
        top_k: int = DEFAULT_TOP_K,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Passage]:
        """The `top_k` passages most similar to `query` among those the filters keep, best first."""

    def passages(self) -> list[Passage]:
        """Every passage, oldest first."""


def tags_match(passage_tags: Iterable[str], wanted: Iterable[str] | None, mode: TagMatchMode) -> bool:
    """Letta's tag filter: no tags asked keeps every passage; a passage without tags matches no tag."""
    asked = set(wanted or ())
    if not asked:
        return True
    have = set(passage_tags)
    return asked <= have if mode is TagMatchMode.ALL else bool(asked & have)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0 when either vector is all zeros (it points nowhere)."""
    if len(a) != len(b):
        raise ValueError(f"vectors of different lengths ({len(a)} and {len(b)}): another embedding model?")
    # map(operator.mul, ...) feeds fsum the very products a generator would, without a Python frame each
    dot = math.fsum(map(operator.mul, a, b))
    norms = math.sqrt(math.fsum(map(operator.mul, a, a))) * math.sqrt(math.fsum(map(operator.mul, b, b)))
    return dot / norms if norms else 0.0
