"""In-memory databases copied from a template: each copy is its own database, the template is built once
and never written through a copy, and a copy can be made from any thread."""

from __future__ import annotations

import sqlite3
import threading

from harness import memorydb
from harness.secrets import Secrets
from harness.store import MIGRATIONS, Store


def test_copies_are_independent_and_the_schema_is_built_once() -> None:
    built: list[int] = []

    def build(db: sqlite3.Connection) -> None:
        built.append(1)
        db.execute("CREATE TABLE t (x INTEGER)")

    first, second = memorydb.copy_of("test-independent", build), memorydb.copy_of("test-independent", build)
    first.execute("INSERT INTO t VALUES (1)")
    assert first.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)
    assert second.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
    assert memorydb.copy_of("test-independent", build).execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
    assert built == [1]


def test_a_copy_can_be_made_from_another_thread() -> None:
    memorydb.copy_of("test-threads", lambda db: db.execute("CREATE TABLE t (x)"))
    counts: list[tuple[int]] = []

    def in_a_thread() -> None:
        counts.append(memorydb.copy_of("test-threads", lambda db: None).execute("SELECT COUNT(*) FROM t").fetchone())

    worker = threading.Thread(target=in_a_thread)
    worker.start()
    worker.join()
    assert counts == [(0,)]


def test_a_store_in_memory_is_migrated_and_enforces_foreign_keys() -> None:
    store = Store(":memory:", Secrets())
    assert [row[0] for row in store.db.execute("SELECT name FROM _migrations")] == [name for name, _ in MIGRATIONS]
    assert store.db.execute("PRAGMA foreign_keys").fetchone() == (1,)
    store.create_agent("agent-1", "a", [])
    assert Store(":memory:", Secrets()).find_agent("a") is None  # another store: another database
