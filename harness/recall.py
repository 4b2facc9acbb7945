"""Recall memory: the agent's whole conversation history, searchable with SQLite FTS5.

Letta keeps every message an agent ever exchanged (in context or evicted) and lets the agent search it
with `conversation_search`. Here the messages are indexed as they are journaled: by the SQLite store in
the same transaction as the step (`harness chat`), or into an in-memory SQLite database for a scenario
run, which has no store. Tools see only the `Recall` protocol (through `AgentState.recall`), never the
store or the loop.

What is indexed follows Letta 0.16.8's `MessageManager._extract_message_text` and the filtering of
`LettaCoreToolExecutor.conversation_search`: user messages, and assistant messages (their text, or for a
`send_message` call its message); never tool results (Letta drops them from every result), the system
message, heartbeats, the harness's own system alerts (memory-pressure warning, summaries), nor assistant
messages calling `conversation_search` (they would find their own query). Search is full-text only
(FTS5's bm25 over any of the query's words, Porter-stemmed): Letta's default is hybrid text + embedding
search, and the harness has no embedding model.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from harness import memorydb
from harness.jsontext import as_text, parse, storable
from harness.memory import Block
from harness.records import InContext, StepRecord, TurnOpening

SEND_MESSAGE = "send_message"
CONVERSATION_SEARCH = "conversation_search"
SEARCH_TOOLS = frozenset({CONVERSATION_SEARCH, "conversation_search_date"})
SEARCHABLE_ROLES = ("assistant", "user", "tool")  # what `roles` may name (Letta's Literal)

# The recall index: one row a searchable message. `detail` is the JSON a search result shows (Letta's
# extracted message text); `text` is what FTS5 indexes.
SCHEMA = """
CREATE VIRTUAL TABLE recall USING fts5(
    text, agent_id UNINDEXED, role UNINDEXED, created_at UNINDEXED, detail UNINDEXED,
    tokenize = 'porter unicode61'
)
"""

_WORD = re.compile(r"\w+", re.UNICODE)


SQLITE_MAX = 2**63 - 1  # the largest integer SQLite binds


@dataclass(frozen=True)
class RecallHit:
    """One message found: its role, when it was written, and what Letta shows of it."""

    role: str
    created_at: datetime
    detail: dict[str, Any]  # e.g. {"content": "..."} or {"thinking": "...", "content": "..."}
    rank: int | None = None  # 1 for the best full-text match; None for a search without a query

    @property
    def text(self) -> str:
        """The message's text; a message Letta's loop packaged as JSON (`{"type": "user_message", "message",
        "time"}`, the login) is shown as that JSON, as Letta 0.6 stored and showed it, and so is a message
        that was another JSON value (`42`, `true`)."""
        if "content" in self.detail:
            content = self.detail["content"]
            return as_text(content)
        return json.dumps(self.detail, indent=2, ensure_ascii=False)


class Recall(Protocol):
    """An agent's searchable history, as its tools see it."""

    def search(
        self,
        query: str | None = None,
        roles: Sequence[str] | None = None,
        limit: int = 5,
        start: datetime | None = None,
        end: datetime | None = None,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> list[RecallHit]:
        """Newest first without a query (oldest first if asked); best match first with one. `start`/`end`
        are inclusive."""

    def count(
        self, start: datetime | None = None, end: datetime | None = None, roles: Sequence[str] | None = None
    ) -> int:
        """How many messages the index holds (in that time range, of those roles)."""


def searchable(message: dict[str, Any]) -> dict[str, Any] | None:
    """What a search shows of a history message, or None when Letta would not return it."""
    role = message.get("role")
    if role not in ("user", "assistant"):
        return None  # system; tool results (Letta drops every one of them from results)
    text = _text(message.get("content"))
    parsed = _json_object(text)
    if parsed is not None and parsed.get("type") in ("heartbeat", "system_alert"):
        return None
    if role == "user":
        if not text:
            return None
        return _as_letta_shows(text)
    calls = [call.get("function") or {} for call in message.get("tool_calls") or () if isinstance(call, dict)]
    names = [str(function.get("name")) for function in calls]
    if any(name in SEARCH_TOOLS for name in names):
        return None
    for name, function in zip(names, calls, strict=True):
        if name == SEND_MESSAGE:
            arguments = _json_object(str(function.get("arguments") or ""))
            if arguments is not None and isinstance(arguments.get("message"), str):
                # Letta needs the message's own text to be non-empty too; a small local model rarely
                # writes any beside its call, so the reply alone is enough here.
                return {"thinking": text, "content": arguments["message"]}
    if not text:
        return None
    return _as_letta_shows(text)


def _as_letta_shows(text: str) -> dict[str, Any]:
    """A message's text as Letta 0.16.8's conversation_search shows it: read as JSON, an object's keys are
    the result's, any other JSON value is its `content` as parsed (a user's `42` is the number 42, `true`
    is true), and text that is not JSON is the `content`."""
    try:
        value = parse(text)
    except ValueError:  # not JSON, or nested deeper than the decoder goes
        return {"content": text}
    return value if isinstance(value, dict) else {"content": value}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content]
        return " ".join(part for part in parts if part)
    return ""


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.strip().startswith("{"):
        return None
    try:
        value = parse(text)
    except ValueError:  # not JSON, or nested deeper than the decoder goes
        return None
    return value if isinstance(value, dict) else None


def _stamp(at: datetime) -> str:
    """A sortable UTC timestamp (what the index compares). A bound within hours of year 1 or 9999 with an
    offset (`0001-01-01T00:00+05:00`) has no UTC datetime: it is clamped to the first or last one, which
    sorts the same against every stored time (it was an OverflowError the model read)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        utc = (datetime.min if at.year == datetime.min.year else datetime.max).replace(tzinfo=UTC)
    return utc.isoformat(timespec="microseconds")


def index_messages(
    db: sqlite3.Connection,
    agent_id: str,
    messages: Iterable[dict[str, Any]],
    at: datetime,
    mask: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """Add the searchable ones of `messages` (in history order) to the index, inside the caller's
    transaction. `mask`, when given, is applied to what is stored (the store's secrets)."""
    rows = []
    for message in messages:
        detail = searchable(message)
        if detail is None:
            continue
        if mask is not None:
            detail = mask(detail)
        # every value's words, a JSON value's as written (a message `42` is found by 42)
        words = " ".join(as_text(value) for value in detail.values())
        # JSON with \u escapes, and the indexed text with U+FFFD for a lone surrogate: SQLite stores UTF-8.
        rows.append((storable(words), agent_id, str(message["role"]), _stamp(at), json.dumps(detail)))
    if rows:
        db.executemany("INSERT INTO recall (text, agent_id, role, created_at, detail) VALUES (?, ?, ?, ?, ?)", rows)


def fts_query(query: str) -> str | None:
    """The query's words, each quoted, any of them (FTS5 syntax never comes from the model)."""
    words = _WORD.findall(query)
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words) or None


class SqliteRecall:
    """`Recall` over the `recall` FTS5 table of an SQLite connection, for one agent."""

    def __init__(self, db: sqlite3.Connection, agent_id: str) -> None:
        self.db = db
        self.agent_id = agent_id

    @classmethod
    def in_memory(cls, agent_id: str) -> SqliteRecall:
        """A private index, for a run without a store (a scenario): gone with the run."""
        return cls(memorydb.copy_of("recall", lambda db: db.execute(SCHEMA)), agent_id)

    def add(self, messages: Iterable[dict[str, Any]], at: datetime) -> None:
        index_messages(self.db, self.agent_id, messages, at)

    def _where(
        self, roles: Sequence[str] | None, start: datetime | None, end: datetime | None
    ) -> tuple[str, list[Any]]:
        clauses = ["agent_id = ?"]
        values: list[Any] = [self.agent_id]
        if roles:
            clauses.append(f"role IN ({', '.join('?' for _ in roles)})")
            values += list(roles)
        if start is not None:
            clauses.append("created_at >= ?")
            values.append(_stamp(start))
        if end is not None:
            clauses.append("created_at <= ?")
            values.append(_stamp(end))
        return " AND ".join(clauses), values

    def search(
        self,
        query: str | None = None,
        roles: Sequence[str] | None = None,
        limit: int = 5,
        start: datetime | None = None,
        end: datetime | None = None,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> list[RecallHit]:
        where, values = self._where(roles, start, end)
        # SQLite takes 64-bit integers: a model's `limit: 10**20` is as good as no limit, not an OverflowError
        limit, offset = min(max(limit, 0), SQLITE_MAX), min(max(offset, 0), SQLITE_MAX)
        match = fts_query(query) if query else None
        if query and match is None:
            return []  # a query with no word in it matches nothing
        if match is not None:
            sql = (
                f"SELECT role, created_at, detail FROM recall WHERE recall MATCH ? AND {where}"
                " ORDER BY bm25(recall), rowid DESC LIMIT ? OFFSET ?"
            )
            rows = self.db.execute(sql, [match, *values, limit, offset]).fetchall()
        else:
            order = "ASC" if oldest_first else "DESC"
            sql = f"SELECT role, created_at, detail FROM recall WHERE {where} ORDER BY rowid {order} LIMIT ? OFFSET ?"
            rows = self.db.execute(sql, [*values, limit, offset]).fetchall()
        return [
            RecallHit(
                role,
                datetime.fromisoformat(created_at),
                json.loads(detail),
                offset + number if match is not None else None,
            )
            for number, (role, created_at, detail) in enumerate(rows, 1)
        ]

    def count(
        self, start: datetime | None = None, end: datetime | None = None, roles: Sequence[str] | None = None
    ) -> int:
        where, values = self._where(roles, start, end)
        (total,) = self.db.execute(f"SELECT COUNT(*) FROM recall WHERE {where}", values).fetchone()
        return int(total)


class LazyRecall:
    """`Recall` for a run without a store (a scenario): messages wait in a list, and the in-memory SQLite
    index is built at the first search. Most scenarios never search, and creating an FTS5 table costs
    more than replaying a step."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        # Each message waiting with its time, in two flat lists: no new container per step for the garbage
        # collector to walk in a long conversation.
        self._pending: list[dict[str, Any]] = []
        self._pending_at: list[datetime] = []
        self._index: SqliteRecall | None = None

    def add(self, messages: Iterable[dict[str, Any]], at: datetime) -> None:
        if self._index is not None:
            self._index.add(messages, at)
            return
        for message in messages:
            self._pending.append(message)
            self._pending_at.append(at)

    @property
    def index(self) -> SqliteRecall:
        if self._index is None:
            self._index = SqliteRecall.in_memory(self.agent_id)
            waiting = zip(self._pending_at, self._pending, strict=True)
            for at, group in itertools.groupby(waiting, key=operator.itemgetter(0)):  # one insert per time
                self._index.add([message for _, message in group], at)
            self._pending.clear()
            self._pending_at.clear()
        return self._index

    def search(
        self,
        query: str | None = None,
        roles: Sequence[str] | None = None,
        limit: int = 5,
        start: datetime | None = None,
        end: datetime | None = None,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> list[RecallHit]:
        return self.index.search(query, roles, limit, start, end, offset, oldest_first)

    def count(
        self, start: datetime | None = None, end: datetime | None = None, roles: Sequence[str] | None = None
    ) -> int:
        return self.index.count(start, end, roles)


class RecallJournal:
    """The loop's journal for a run without a store: it only indexes the history into recall, with the
    agent's clock (deterministic in a scenario run, so a search's result is the same at record and replay)."""

    def __init__(self, recall: SqliteRecall | LazyRecall, now: Callable[[], datetime]) -> None:
        self.recall = recall
        self.now = now

    def save_user_message(self, agent_id: str, turns: int, turn: int, message: dict[str, Any]) -> None:
        self.recall.add([message], self.now())

    def save_step(
        self,
        agent_id: str,
        step: StepRecord,
        messages: list[dict[str, Any]],
        blocks: list[Block] | None,
        in_context: InContext | None = None,
        opening: TurnOpening | None = None,
    ) -> None:
        now = self.now()
        if opening is not None:
            self.recall.add(list(opening.messages), now)
        self.recall.add(messages, now)
