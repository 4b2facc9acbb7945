"""Archival passages in SQLite (table `archival_passages`, migration 003 of harness/store.py), searched by
brute force: every candidate's float32 embedding is compared with the query's (cosine), in Python.

At testbed scale (hundreds of passages, 384 to 3072 dimensions) that is milliseconds, and it needs no
extension: sqlite-vec would add a native dependency for speed no scenario needs. The same class serves
`harness chat` (the state database) and scenario runs (an in-memory database), so both behave alike.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from array import array
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from harness.archival import DEFAULT_TOP_K, Passage, Seed, TagMatchMode, cosine, tags_match
from harness.errors import ModelAnswerError
from harness.llm.embeddings import EmbeddingModel, Vector

_IDS = uuid.UUID("6f1f6a52-5d5e-4c1c-9a51-3d0f2b8e7c11")  # namespace of passage ids


FLOAT_BYTES = 4  # a stored vector's numbers are float32


def pack(vector: Sequence[float]) -> bytes:
    """A vector as little-endian float32 (what the table stores)."""
    values = array("f", vector)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def unpack(blob: bytes) -> list[float]:
    values = array("f")
    values.frombytes(blob)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


class PassageStore:
    """One agent's archival memory (`harness.archival.Archival`) in an SQLite database holding the table.

    Passage ids are derived from the agent id and the passage's number, and times are the caller's (the
    agent's clock), so a replayed scenario gets the very ids and timestamps its recording put in the tool
    results. `mask` is
    applied to every text before it is stored (the store's secrets)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        agent_id: str,
        embedder: EmbeddingModel,
        model_name: str,
        mask: Callable[[str], str] = str,
    ) -> None:
        self.db = db
        self.agent_id = agent_id
        self.embedder = embedder
        self.model_name = model_name
        self.mask = mask

    def insert(self, text: str, tags: Sequence[str] | None, created_at: datetime) -> Passage:
        return self.insert_many([Seed(text, tuple(tags or ()))], [created_at])[0]

    def insert_many(self, seeds: Sequence[Seed], created_at: Sequence[datetime]) -> list[Passage]:
        if len(seeds) != len(created_at):
            raise ValueError(f"{len(seeds)} passages, {len(created_at)} creation times")
        if not seeds:
            return []
        vectors = self.embedder.embed([seed.text for seed in seeds])
        (count,) = self.db.execute(
            "SELECT COUNT(*) FROM archival_passages WHERE agent_id = ?", (self.agent_id,)
        ).fetchone()
        stored = self.db.execute(
            "SELECT LENGTH(embedding) FROM archival_passages WHERE agent_id = ? AND embedding_model = ? LIMIT 1",
            (self.agent_id, self.model_name),
        ).fetchone()
        if stored is not None:
            self._check_length(len(vectors[0]), stored[0] // FLOAT_BYTES, "a passage")
        rows: list[tuple[Passage, Vector]] = []
        for number, (seed, vector, created) in enumerate(zip(seeds, vectors, created_at, strict=True), int(count)):
            passage_id = f"passage-{uuid.uuid5(_IDS, f'{self.agent_id}/{number}')}"
            passage = Passage(passage_id, self.mask(seed.text), _unique(seed.tags), created.astimezone(UTC))
            rows.append((passage, vector))
        self.db.execute("BEGIN IMMEDIATE")  # all the passages or none
        try:
            self.db.executemany(
                "INSERT INTO archival_passages (id, agent_id, text, tags, embedding, embedding_model, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.id,
                        self.agent_id,
                        p.text,
                        json.dumps(list(p.tags)),
                        pack(v),
                        self.model_name,
                        _iso(p.created_at),
                    )
                    for p, v in rows
                ],
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return [passage for passage, _ in rows]

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
        """Filters first (tags, then time), then the `top_k` best by cosine similarity; equal scores keep
        insertion order. (Letta's SQL path applies `top_k` before its tag filter, so a tag search there can
        return fewer than `top_k` matching passages; here it does not.)"""
        rows = [
            (passage, blob, model)
            for passage, blob, model in self._select()
            if tags_match(passage.tags, tags, tag_match_mode)
            and (start is None or passage.created_at >= start)
            and (end is None or passage.created_at <= end)
        ]
        if not rows or top_k <= 0:
            return []
        other = sorted({model for _, _, model in rows if model != self.model_name})
        if other:
            raise ValueError(
                f"archival memory holds passages embedded with {', '.join(other)}, and the agent now embeds with "
                f"{self.model_name}: their vectors cannot be compared"
            )
        (vector,) = self.embedder.embed([query])
        self._check_length(len(vector), len(rows[0][1]) // FLOAT_BYTES, "the query")
        scored = [(-cosine(vector, unpack(blob)), order, passage) for order, (passage, blob, _) in enumerate(rows)]
        scored.sort(key=lambda item: (item[0], item[1]))
        return [passage for _, _, passage in scored[:top_k]]

    def _check_length(self, got: int, stored: int, what: str) -> None:
        """One embedding model gives vectors of one length: another length is its answer's fault (an
        endpoint now configured for other `dimensions`), which ends the run as an unusable answer does."""
        if got != stored:
            raise ModelAnswerError(
                f"the embedding model {self.model_name} returned a vector of {got} numbers for {what}, where the "
                f"passages it embedded before have {stored}: vectors of different lengths cannot be compared"
            )

    def passages(self) -> list[Passage]:
        return [passage for passage, _, _ in self._select()]

    def _select(self) -> list[tuple[Passage, bytes, str]]:
        rows = self.db.execute(
            "SELECT id, text, tags, created_at, embedding, embedding_model FROM archival_passages"
            " WHERE agent_id = ? ORDER BY rowid",
            (self.agent_id,),
        )
        return [
            (Passage(pid, text, tuple(json.loads(tags)), datetime.fromisoformat(created)), blob, model)
            for pid, text, tags, created, blob, model in rows
        ]


def _unique(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags once each, in the order given (Letta keeps a set of them)."""
    return tuple(dict.fromkeys(tags))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
