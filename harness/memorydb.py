"""In-memory SQLite databases started from a template: building a schema (the store's migrations, recall's
FTS5 index) costs about a millisecond, copying one already built (SQLite's backup API) tens of
microseconds, and every scenario run with archival or recall memory makes one or two."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

_templates: dict[str, sqlite3.Connection] = {}
_lock = threading.Lock()


def copy_of(name: str, build: Callable[[sqlite3.Connection], object]) -> sqlite3.Connection:
    """A new in-memory database (autocommit) holding what `build` makes in an empty one; `build` runs
    once a process for each `name`. Per-connection settings (PRAGMA foreign_keys) are not copied."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        with _lock:
            template = _templates.get(name)
            if template is None:
                template = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                build(template)
                _templates[name] = template
            template.backup(db)
    except BaseException:
        db.close()
        raise
    return db
