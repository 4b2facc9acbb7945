"""Agent state in SQLite: blocks, messages, every step with its tool calls, results and block edits,
archival passages with their embeddings (harness/passages.py reads and writes those), and what a
compaction left in context (so a resumed agent goes on from its summary, not its whole history).

Each step is written in one transaction, so a crash loses at most the step in flight. The schema grows
by append-only migrations (never edit one that has shipped; add the next). What the model said, the
tools did and the blocks hold is written with the store's secrets masked: a database is a file, and an
endpoint may echo a key.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import memorydb
from harness.errors import StoreError, UserError
from harness.files import unreachable_reason, unwritable_reason
from harness.jsontext import parse, storable
from harness.llm.embeddings import EmbeddingModel
from harness.memory import Block, Memory
from harness.passages import PassageStore
from harness.recall import SCHEMA as RECALL_SCHEMA
from harness.recall import SqliteRecall, index_messages
from harness.records import InContext, StepRecord, TurnOpening
from harness.secrets import Secrets

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_initial",
        """
        CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            turns INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE TABLE blocks (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents(id),
            position INTEGER NOT NULL,
            label TEXT NOT NULL,
            value TEXT NOT NULL,
            "limit" INTEGER NOT NULL,
            description TEXT,
            read_only INTEGER NOT NULL,
            metadata TEXT NOT NULL,
            UNIQUE (agent_id, label)
        );
        CREATE TABLE steps (
            id INTEGER PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents(id),
            turn INTEGER NOT NULL,
            step INTEGER NOT NULL,
            model TEXT NOT NULL,
            content TEXT,
            usage TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents(id),
            step_id INTEGER REFERENCES steps(id),
            turn INTEGER NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE tool_calls (
            id INTEGER PRIMARY KEY,
            step_id INTEGER NOT NULL REFERENCES steps(id),
            position INTEGER NOT NULL,
            call_id TEXT NOT NULL,
            name TEXT NOT NULL,
            arguments TEXT NOT NULL,
            ok INTEGER NOT NULL,
            result TEXT NOT NULL,
            heartbeat INTEGER NOT NULL
        );
        CREATE TABLE block_edits (
            id INTEGER PRIMARY KEY,
            tool_call_id INTEGER NOT NULL REFERENCES tool_calls(id),
            label TEXT NOT NULL,
            old_value TEXT NOT NULL,
            new_value TEXT NOT NULL
        );
        CREATE INDEX messages_by_agent ON messages (agent_id, id);
        CREATE INDEX steps_by_agent ON steps (agent_id, id);
        """,
    ),
    (
        "002_block_schema_and_edit_kinds",
        """
        ALTER TABLE blocks ADD COLUMN schema TEXT;
        ALTER TABLE block_edits ADD COLUMN kind TEXT NOT NULL DEFAULT 'value';
        """,
    ),
    (
        "003_archival_passages",
        """
        CREATE TABLE archival_passages (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents(id),
            text TEXT NOT NULL,
            tags TEXT NOT NULL,
            embedding BLOB NOT NULL,
            embedding_model TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX archival_passages_by_agent ON archival_passages (agent_id);
        """,
    ),
    # Recall memory (conversation_search): an FTS5 index of the searchable messages, filled as they are
    # saved. Messages saved before this migration are not indexed.
    ("004_recall_search", RECALL_SCHEMA),
    # What compaction left in context (one row an agent, rewritten with each step once its history was
    # compacted): the summary message, the first saved message still in context, and how many compaction
    # moved out. Without it a resumed agent started again from its whole history, and its first request
    # summarized all of it at once (which an endpoint may refuse as too long, at every message after).
    (
        "005_in_context",
        """
        CREATE TABLE in_context (
            agent_id TEXT PRIMARY KEY REFERENCES agents(id),
            summary TEXT NOT NULL,
            first_message_id INTEGER NOT NULL REFERENCES messages(id),
            evicted INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    ),
]


def _apply_migrations(db: sqlite3.Connection, path: str) -> None:
    """Every migration `db` has not had yet (in the caller's transaction, if any)."""
    db.execute(_MIGRATIONS_TABLE)
    applied = _check_known(db, path)
    for name, sql in MIGRATIONS:
        if name not in applied:
            _run_migration(db, sql)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, _now()))


_MIGRATIONS_TABLE = "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"


def _run_migration(db: sqlite3.Connection, sql: str) -> None:
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _check_known(db: sqlite3.Connection, path: str) -> set[str]:
    """The migrations `db` has had; a UserError (a --db this harness cannot use, as one not SQLite) when one
    is not this harness's (a newer one wrote it), or the table itself is not as this harness makes it."""
    _check_tables(db, set(), path)  # `_migrations` alone
    applied = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    unknown = applied - {name for name, _ in MIGRATIONS}
    if unknown:
        raise UserError(
            f"the state database {path} was written by a newer harness "
            f"(unknown migrations: {', '.join(sorted(unknown))}); it is left as it is: use that harness, or give "
            "--db another file"
        )
    return applied


def _check_tables(db: sqlite3.Connection, applied: set[str], path: str) -> None:
    """A UserError (exit 2, the file left as it is) when a table or column the migrations `db` had make
    is gone, or a table of theirs has columns they do not make: every table, as the migrations define it,
    so a write is never the first to find one missing (after the model was asked, half a turn written)."""
    found = _tables_of(db)
    expected = _expected_tables(frozenset(applied))
    gone_tables = [table for table in expected if table not in found]
    tables = ", ".join(f"`{table}`" for table in gone_tables)
    changes = [f"{'tables' if len(gone_tables) > 1 else 'table'} {tables} gone"] if gone_tables else []
    for table, columns in expected.items():
        has = found.get(table, columns)
        if isinstance(has, str):  # an FTS5 index with one of its own tables gone
            changes.append(f"table `{table}` cannot be read ({has})")
            continue
        gone = [column for column in columns if column not in has]
        added = [column for column in has if column not in columns]
        changes += [f"column `{table}.{column}` is gone" for column in gone]
        changes += [f"`{table}` has a column `{column}` this harness does not make" for column in added]
    if changes:
        shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
        raise UserError(
            f"{path} is not a state database this harness reads: its tables were changed by another program "
            f"({shown}); it is left as it is: restore it from a backup, or give --db a file `harness chat` made, "
            "or a new path"
        )


def _tables_of(db: sqlite3.Connection) -> dict[str, tuple[str, ...] | str]:
    """Every table of `db` (an FTS5 index's own tables too, but SQLite's internal ones) with its columns, or
    what SQLite says when it cannot tell them (a virtual table it cannot build)."""
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    tables: dict[str, tuple[str, ...] | str] = {}
    for (name,) in rows:
        if name.startswith("sqlite_"):
            continue
        try:
            tables[name] = tuple(row[1] for row in db.execute(f'PRAGMA table_info("{name}")'))
        except sqlite3.Error as exc:  # "vtable constructor failed" (SQLITE_CORRUPT_VTAB: its own table gone)
            tables[name] = str(exc)
    return tables


@functools.cache
def _expected_tables(applied: frozenset[str]) -> dict[str, tuple[str, ...] | str]:
    """The tables and columns the migrations `applied` make, read from a database in memory they built: the
    schema is said once, in MIGRATIONS."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.execute(_MIGRATIONS_TABLE)
        for name, sql in MIGRATIONS:
            if name in applied:
                _run_migration(db, sql)
        return _tables_of(db)
    finally:
        db.close()


_SQLITE_HEADER = b"SQLite format 3\x00"
_WAL = 2  # the file format's read and write versions (bytes 18 and 19 of the header) in WAL mode


def _wal_at_rest(path: Path) -> bool:
    """Whether `path` is a database left in WAL mode with nothing beside it (no `-wal` file: no connection
    has it open, and every change is in the file itself). A reader opening it as SQLite does would create
    `-wal` and `-shm` files beside it (and leave them behind, or fail in a folder it may not write)."""
    try:
        with path.open("rb") as file:
            header = file.read(20)
    except OSError:
        return False
    return (
        header.startswith(_SQLITE_HEADER) and header[18:20] == bytes([_WAL, _WAL]) and not Path(f"{path}-wal").exists()
    )


def _file_state(path: Path) -> tuple[int, int, int, bool]:
    """What tells a change to a database file: its inode, size and mtime, and whether a `-wal` is beside it."""
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, Path(f"{path}-wal").exists()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    def __init__(
        self, path: str | Path, secrets: Secrets | None = None, *, read_only: bool = False, shown: str | None = None
    ) -> None:
        """`read_only` (a command that only shows, as `harness memory`): opened for reading and changed in no
        way; an older harness's database is read as it is, unmigrated (what a read finds missing is said).
        `shown`: the file as messages name it (as given, `Project.as_given`), `path` itself when not given."""
        self.path = str(path)
        self.shown = self.path if shown is None else shown
        self.secrets = Secrets.collect() if secrets is None else secrets
        self._clocks: dict[str, Callable[[], datetime]] = {}  # `use_clock`: an agent's own
        self._immutable: tuple[int, int, int, bool] | None = None  # the file as it was when opened immutable
        # read-only: the migrations an older harness's database has not had (it is read as it is)
        self.pending: list[str] = []
        self._block_columns = _BLOCK_COLUMNS  # what a block is read from (a database before 002 has no schema)
        in_memory = self.path == ":memory:"
        if not in_memory:
            unreachable = unreachable_reason(Path(self.path))
            if unreachable is not None:
                raise UserError(f"{self.shown}: {unreachable}")
            if Path(self.path).is_dir():
                raise UserError(
                    f"{self.shown}: is a folder; the state database is a file "
                    f"(e.g. --db {Path(self.shown) / 'state.db'})"
                )
            if Path(self.path).exists() and not Path(self.path).is_file():  # /dev/null, a FIFO: SQLite would
                raise UserError(f"{self.shown}: is not a regular file; the state database is one (or a new path)")
            if not read_only:
                folder = Path(self.path).parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise UserError(
                        f"{self.shown}: cannot make the state database's folder {folder} ({exc.strerror or exc})"
                    ) from None
        uri = f"{Path(self.path).absolute().as_uri()}?mode=ro"
        if read_only and _wal_at_rest(Path(self.path)):
            # Read as the file it is: SQLite's WAL reader would create `-wal` and `-shm` beside it, which a
            # read-only folder refuses and a writable one keeps. Nothing locks it then: `close` tells
            # whether a `harness chat` changed it meanwhile.
            self._immutable = _file_state(Path(self.path))
            uri += "&immutable=1"
        try:
            # A database in memory (a scenario's archival memory) starts as a copy of one migrated once.
            self.db = (
                memorydb.copy_of("store", lambda db: _apply_migrations(db, ":memory:"))
                if in_memory
                else sqlite3.connect(uri if read_only else self.path, isolation_level=None, uri=read_only)
            )
        except (sqlite3.Error, OSError) as exc:
            raise _unopenable(self.path, read_only, exc, self.shown) from None
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            if not in_memory:
                tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables and "_migrations" not in tables:  # another program's: left exactly as it is
                    raise UserError(
                        f"{self.shown} is another program's SQLite database (its tables: "
                        f"{', '.join(sorted(tables)[:5])}{', ...' if len(tables) > 5 else ''}): give --db a file "
                        "`harness chat` made, or a new path"
                    )
                # a newer harness's is refused before anything is changed in it, and so is one whose tables
                # another program changed (before a model is asked what a write would then fail to keep)
                applied = _check_known(self.db, self.shown) if "_migrations" in tables else set()
                if tables:
                    _check_tables(self.db, applied, self.shown)
                if read_only and not tables:  # as SQLite takes an empty file: a new database, with nothing yet
                    raise UserError(
                        f"{self.shown} holds no state yet (an empty database): `harness chat` with this --db starts "
                        "one in it"
                    )
                if read_only:  # an older harness's is read as it is: see `_reading` and `_block_columns`
                    self.pending = [name for name, _ in MIGRATIONS if name not in applied]
                    if self.pending and "schema" not in _columns(self.db, "blocks"):  # before 002
                        self._block_columns = _BLOCK_COLUMNS.replace("schema", "NULL")
                else:
                    self.db.execute("PRAGMA journal_mode = WAL")
                    self._migrate()
        except (sqlite3.Error, StoreError, UserError) as exc:
            self.db.close()
            if isinstance(exc, StoreError | UserError):
                raise
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):  # a file of its own
                raise UserError(
                    f"{self.shown} is not a state database (not SQLite): give --db a file `harness chat` made, or a "
                    "new path"
                ) from None
            if _damaged(exc):
                raise _damaged_error(self.shown, exc) from None
            raise _unopenable(self.path, read_only, exc, self.shown) from None

    def close(self) -> None:
        """Closed; one opened immutable is checked unchanged: a StoreError when a `harness chat` wrote it while
        it was read."""
        self.db.close()
        if self._immutable is not None:
            try:
                changed = _file_state(Path(self.path)) != self._immutable
            except OSError:
                changed = True
            if changed:
                raise StoreError(
                    f"the state database {self.shown} changed while it was read (a `harness chat` on it?): "
                    "run the command again"
                )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing; an SQLite failure (locked, full, corrupt) becomes a one-line StoreError."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the state database {self.shown}: {_said(exc, self.path)}") from None

    def _migrate(self) -> None:
        with self.transaction() as db:
            _apply_migrations(db, self.shown)

    # ------------------------------------------------------------ writing

    def use_clock(self, agent_id: str, now: Callable[[], datetime]) -> None:
        """The clock this agent's messages and steps are dated by (its own, a frozen one when declared):
        recall searches them by those dates, as the agent's tools read the time."""
        self._clocks[agent_id] = now

    def _moment(self, agent_id: str) -> datetime:
        clock = self._clocks.get(agent_id)
        return clock().astimezone(UTC) if clock is not None else datetime.now(UTC)

    def create_agent(self, agent_id: str, name: str, blocks: list[Block]) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO agents (id, name, created_at) VALUES (?, ?, ?)", (agent_id, name, _now()))
            self._insert_blocks(db, agent_id, blocks, first_position=0)

    def _mask(self, text: str) -> str:
        """What the database may hold: secrets masked, lone surrogates (no UTF-8 writer takes them) as U+FFFD."""
        return storable(self.secrets.mask(text))

    def _json(self, value: Any) -> str:
        return json.dumps(self.secrets.mask_data(value))

    def add_blocks(self, agent_id: str, blocks: list[Block]) -> None:
        """Append blocks to a persisted agent (declared in agents.yaml after the agent was created)."""
        with self.transaction() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM blocks WHERE agent_id = ?", (agent_id,)).fetchone()
            self._insert_blocks(db, agent_id, blocks, first_position=int(count))

    def _insert_blocks(self, db: sqlite3.Connection, agent_id: str, blocks: list[Block], first_position: int) -> None:
        db.executemany(
            'INSERT INTO blocks (id, agent_id, position, label, value, "limit", description, read_only, metadata,'
            " schema) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    block.id,
                    agent_id,
                    first_position + offset,
                    block.label,
                    self._mask(block.value),
                    block.limit,
                    block.description,
                    int(block.read_only),
                    self._json(block.metadata),
                    None if block.schema is None else json.dumps(block.schema),
                )
                for offset, block in enumerate(blocks)
            ],
        )

    def save_user_message(self, agent_id: str, turns: int, turn: int, message: dict[str, Any]) -> None:
        with self.transaction() as db:
            self._save_user_messages(db, agent_id, turns, turn, [message], self._moment(agent_id))

    def _save_user_messages(
        self,
        db: sqlite3.Connection,
        agent_id: str,
        turns: int,
        turn: int,
        messages: list[dict[str, Any]],
        moment: datetime,
    ) -> None:
        """Messages of no step (the user's, a reminder), and the agent's turn count, in the caller's transaction."""
        db.execute("UPDATE agents SET turns = ? WHERE id = ?", (turns, agent_id))
        db.executemany(
            "INSERT INTO messages (agent_id, turn, body, created_at) VALUES (?, ?, ?, ?)",
            [(agent_id, turn, self._json(message), moment.isoformat(timespec="milliseconds")) for message in messages],
        )
        index_messages(db, agent_id, messages, moment, self.secrets.mask_data)

    def save_step(
        self,
        agent_id: str,
        step: StepRecord,
        messages: list[dict[str, Any]],
        blocks: list[Block] | None,
        in_context: InContext | None = None,
        opening: TurnOpening | None = None,
    ) -> None:
        """The step's record, its messages, its tool calls and edits, (when memory changed) every block as
        memory now holds it, so created, deleted and renamed blocks persist too, (once the history was
        compacted) what of it is in context, and (a turn's first step) the user's message it answers: all or
        nothing, so a message is never kept without its answer."""
        moment = self._moment(agent_id)
        now = moment.isoformat(timespec="milliseconds")
        with self.transaction() as db:
            if opening is not None:
                self._save_user_messages(db, agent_id, opening.turns, step.turn, list(opening.messages), moment)
            step_id = db.execute(
                "INSERT INTO steps (agent_id, turn, step, model, content, usage, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    agent_id,
                    step.turn,
                    step.index,
                    self._mask(step.model),
                    None if step.content is None else self._mask(step.content),
                    self._json(step.usage),
                    now,
                ),
            ).lastrowid
            for position, call in enumerate(step.tool_calls):
                call_row = db.execute(
                    "INSERT INTO tool_calls (step_id, position, call_id, name, arguments, ok, result, heartbeat)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        step_id,
                        position,
                        storable(call.call_id),
                        storable(call.name),
                        self._mask(call.arguments),
                        int(call.ok),
                        self._mask(call.result),
                        int(call.heartbeat),
                    ),
                ).lastrowid
                db.executemany(
                    "INSERT INTO block_edits (tool_call_id, label, old_value, new_value, kind) VALUES (?, ?, ?, ?, ?)",
                    [
                        (call_row, edit.label, self._mask(edit.old), self._mask(edit.new), edit.kind.value)
                        for edit in call.edits
                    ],
                )
            db.executemany(
                "INSERT INTO messages (agent_id, step_id, turn, body, created_at) VALUES (?, ?, ?, ?, ?)",
                [(agent_id, step_id, step.turn, self._json(message), now) for message in messages],
            )
            index_messages(db, agent_id, messages, datetime.fromisoformat(now), self.secrets.mask_data)
            if blocks is not None:
                db.execute("DELETE FROM blocks WHERE agent_id = ?", (agent_id,))
                self._insert_blocks(db, agent_id, blocks, first_position=0)
            if in_context is not None:
                self._save_in_context(db, agent_id, in_context, now)

    def _save_in_context(self, db: sqlite3.Connection, agent_id: str, in_context: InContext, now: str) -> None:
        """The kept messages are the last ones saved (a compaction keeps the newest, and every message after
        it is saved as it comes): the first of them is found by counting back."""
        row = db.execute(
            "SELECT id FROM messages WHERE agent_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
            (agent_id, max(in_context.kept - 1, 0)),
        ).fetchone()
        if row is None:  # fewer saved than kept: nothing to leave out on resume
            return
        db.execute(
            "INSERT OR REPLACE INTO in_context (agent_id, summary, first_message_id, evicted, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (agent_id, self._json(in_context.summary), row[0], in_context.evicted, now),
        )

    def passages(self, agent_id: str, embedder: EmbeddingModel, model_name: str) -> PassageStore:
        """The agent's archival memory in this database; texts are stored with the store's secrets masked."""
        return PassageStore(self.db, agent_id, embedder, model_name, self._mask)

    # ------------------------------------------------------------ reading

    @contextmanager
    def _reading(self, table: str) -> Iterator[None]:
        """A read of `table` that finds the file damaged, a table or column gone or a row this harness never
        writes: one error naming the database, a UserError (exit 2) as for a database refused when opened.
        Nothing is written to the file. Locked, or the disk failing: a StoreError, as a write's is said."""
        try:
            yield
        except sqlite3.Error as exc:
            if _damaged(exc):
                raise _damaged_error(self.shown, exc) from None
            if not str(exc).startswith("no such "):
                raise StoreError(f"cannot read the state database {self.shown}: {_said(exc, self.path)}") from None
            if self.pending:  # read as an older harness left it: what is read here is among what it lacks
                raise UserError(
                    f"{self.shown} was written by an older harness and lacks what this command reads ({exc}), which "
                    f"its migrations {', '.join(self.pending)} add; a command that only shows migrates nothing: "
                    "`harness chat` with this --db migrates it where the file may be written (elsewhere: copy it, "
                    "and give --db the copy)"
                ) from None
            raise UserError(
                f"{self.shown} is not a state database this harness reads ({exc}: changed by another program?); "
                "it is left as it is: give --db a file `harness chat` made, or a new path"
            ) from None
        except _UnexpectedRow as exc:
            raise UserError(
                f"{self.shown}: unexpected data in its `{table}` table: {exc} (changed by another program?); it is "
                "left as it is: give --db a file `harness chat` made, or a new path"
            ) from None

    def recall(self, agent_id: str) -> SqliteRecall:
        """The agent's recall memory: every searchable message it saved, evicted from context or not."""
        return SqliteRecall(self.db, agent_id)

    def find_agent(self, name: str) -> str | None:
        with self._reading("agents"):
            row = self.db.execute("SELECT id FROM agents WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def get_block(self, block_id: str) -> Block | None:
        """As Letta's `client.get_block(id)`: None when no block has that id."""
        with self._reading("blocks"):
            row = self.db.execute(f"SELECT {self._block_columns} FROM blocks WHERE id = ?", (block_id,)).fetchone()
            return None if row is None else _block(row)

    def get_core_memory(self, agent_id: str) -> Memory:
        """As Letta's `client.get_core_memory(agent_id)`: the blocks as persisted, in their order."""
        with self._reading("blocks"):
            rows = self.db.execute(
                f"SELECT {self._block_columns} FROM blocks WHERE agent_id = ? ORDER BY position", (agent_id,)
            ).fetchall()
            return Memory(_block(row) for row in rows)

    def load_messages(self, agent_id: str) -> list[dict[str, Any]]:
        with self._reading("messages"):
            rows = self.db.execute("SELECT body FROM messages WHERE agent_id = ? ORDER BY id", (agent_id,))
            return [_json_object(row[0], "body") for row in rows]

    def load_in_context(self, agent_id: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int]:
        """The history as the agent left it in context: after a compaction, its summary message and the
        messages saved since its first kept one (with the summary, and how many messages compaction moved
        out); else every message saved (no summary, 0)."""
        with self._reading("in_context"):
            row = self.db.execute(
                "SELECT summary, first_message_id, evicted FROM in_context WHERE agent_id = ?", (agent_id,)
            ).fetchone()
            if row is not None:
                summary = _json_object(row[0], "summary")
                evicted = _whole_number(row[2], "evicted")
        if row is None:
            return self.load_messages(agent_id), None, 0
        with self._reading("messages"):
            rows = self.db.execute(
                "SELECT body FROM messages WHERE agent_id = ? AND id >= ? ORDER BY id", (agent_id, row[1])
            )
            return [summary, *(_json_object(body, "body") for (body,) in rows)], summary, evicted

    def turns(self, agent_id: str) -> int:
        with self._reading("agents"):
            row = self.db.execute("SELECT turns FROM agents WHERE id = ?", (agent_id,)).fetchone()
            return 0 if row is None else _whole_number(row[0], "turns")

    def tool_calls(self, agent_id: str) -> list[dict[str, Any]]:
        with self._reading("tool_calls"):
            rows = self.db.execute(
                "SELECT s.turn, s.step, t.name, t.arguments, t.ok, t.result FROM tool_calls t"
                " JOIN steps s ON s.id = t.step_id WHERE s.agent_id = ? ORDER BY t.id",
                (agent_id,),
            )
            keys = ("turn", "step", "name", "arguments", "ok", "result")
            return [dict(zip(keys, row, strict=True)) for row in rows]


# What SQLite says of a file or folder it may not use, in its own words: "unable to open database file",
# "attempt to write a readonly database", with no word of which or why.
_ACCESS_CODES = (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM)


def _unopenable(path: str, read_only: bool, exc: sqlite3.Error | OSError, shown: str) -> UserError | StoreError:
    """The error of a database SQLite could not open: a UserError (exit 2, a --db the harness cannot use)
    naming the file (`shown`, as given) and what the file system refuses, when that is why; SQLite's words
    otherwise."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, OSError) or (code is not None and code & 0xFF in _ACCESS_CODES):
        refused = _access_refused(Path(path), read_only)
        if refused is not None:
            works = (
                ""
                if read_only or not os.path.isfile(path)  # no file yet: nothing for `harness memory` to read
                else " (`harness memory` reads it where it is; to chat on, copy it where it can be written and give "
                "--db the copy)"
            )
            return UserError(f"{shown}: cannot use it as the state database: {refused}{works}")
    return StoreError(f"cannot open the state database {shown}: {_said(exc, path)}")


_FULL_BELOW = 1 << 20  # free bytes under which a disk I/O error is taken for a full disk (SQLite's -shm takes 32 KiB)


def _said(exc: sqlite3.Error | OSError, path: str) -> str:
    """SQLite's words for a failure, and what to do where they say nothing of it: the database locked by
    another process, the disk full (SQLITE_FULL; or SQLite's "disk I/O error" writing its `-wal` or `-shm`
    file, where the OS said ENOSPC and the disk has next to nothing free)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        code = sqlite3.SQLITE_FULL
    primary = None if code is None else code & 0xFF
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (
            f"{exc}: another process holds it (another `harness chat` on it, a DB browser with a change not "
            "written or a query open); end or close that one and run again, or give --db another file"
        )
    full = primary == sqlite3.SQLITE_FULL
    if not full and primary == sqlite3.SQLITE_IOERR and path != ":memory:":
        try:
            full = shutil.disk_usage(Path(path).absolute().parent).free < _FULL_BELOW
        except OSError:
            full = False
    if full:
        return f"the disk is full ({exc}): free some space on it, or give --db a file on another disk"
    return str(exc)


def _access_refused(path: Path, read_only: bool) -> str | None:
    """What the file system refuses that a state database needs, or None: reading the file (`harness
    memory`); reading and writing it, and making SQLite's journal beside it (`harness chat`)."""
    new = False
    try:
        os.close(os.open(path, os.O_RDONLY if read_only else os.O_RDWR))
    except FileNotFoundError:
        new = True  # a new database: its folder must take it
    except OSError as exc:
        return f"cannot {'read' if read_only else 'write'} the file ({exc.strerror or exc})"
    if read_only:
        return None
    folder_refuses = unwritable_reason(path)
    if folder_refuses is None:
        return None
    if new:
        return f"there is no such file yet, and it cannot be made: {folder_refuses}"
    return f"its folder must take new files too (SQLite keeps a journal beside it): {folder_refuses}"


_BLOCK_COLUMNS = 'id, label, value, "limit", description, read_only, metadata, schema'


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    """The columns `table` has (none when there is no such table)."""
    return {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}


def _damaged(exc: sqlite3.Error) -> bool:
    """Whether SQLite found the file's pages damaged ("database disk image is malformed")."""
    return exc.sqlite_errorname.startswith("SQLITE_CORRUPT")  # SQLITE_CORRUPT_INDEX and the like too


def _damaged_error(path: str, exc: sqlite3.Error) -> UserError:
    return UserError(
        f"{path} is damaged ({exc}); it is left as it is: restore it from a backup, or give --db a new path"
    )


class _UnexpectedRow(ValueError):
    """A value this harness never writes in its column (text where a number goes, JSON of another shape)."""


def _whole_number(value: Any, column: str) -> int:
    if type(value) is not int or value < 0:
        raise _UnexpectedRow(f"`{column}` is {_shown(value)}, not a whole number")
    return value


def _json_object(value: Any, column: str) -> dict[str, Any]:
    """A column that holds a JSON object, as the harness writes it."""
    try:
        data = parse(value) if isinstance(value, str) else None
    except ValueError:  # not JSON; nested past the parser's depth, a surrogate escape, a number past Python's limits
        data = None
    if not isinstance(data, dict):
        raise _UnexpectedRow(f"`{column}` is {_shown(value)}, not a JSON object")
    return data


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _block(row: tuple[Any, ...]) -> Block:
    """A block as persisted; _UnexpectedRow for one this harness would not have written."""
    block_id, label, value, limit, description, read_only, metadata, schema = row
    for column, text in (("id", block_id), ("label", label), ("value", value)):
        if not isinstance(text, str):
            raise _UnexpectedRow(f"`{column}` is {_shown(text)}, not text")
    if description is not None and not isinstance(description, str):
        raise _UnexpectedRow(f"`description` is {_shown(description)}, not text")
    if read_only not in (0, 1) or type(read_only) is not int:
        raise _UnexpectedRow(f"`read_only` is {_shown(read_only)}, not 0 or 1")
    try:
        return Block(
            label=label,
            value=value,
            limit=_whole_number(limit, "limit"),
            description=description,
            read_only=bool(read_only),
            metadata=_json_object(metadata, "metadata"),
            id=block_id,
            schema=None if schema is None else _json_object(schema, "schema"),
        )
    except _UnexpectedRow:
        raise
    except Exception as exc:  # a value over its limit, one its schema refuses, a schema jsonschema cannot use
        raise _UnexpectedRow(f"block '{label}': {exc}") from None
