"""How many repeats a scenario's recording made (`harness record --repeat K`), kept in its first cassette.

Each repeat has its own cassette (`remember.yaml`, `remember.repeat-2.yaml`, ...). Which of those files
exist does not say how many repeats were measured: a repeat whose endpoint failed writes nothing, and one
left from an earlier, larger `--repeat` is still there. So the first cassette's metadata says it, as its
first key (written by `RecordingSession.note_recording`):

    metadata:
      repeats: 3
      recorded_with: ...

and replay plays that many, a missing one failing as not recorded. It is read from the first line of the
metadata alone, without parsing the cassette. A cassette recorded before the count was kept has none: its
repeats are then the files beside it, as before.

A count is at most `MAX_REPEATS` (what `--repeat` takes): a larger one (a hand edit, a bad merge) would
replay that many repeats, each one not recorded. Here it is no count, so the repeats are the files beside the
cassette, and reading the cassette refuses it, located (`count_problem`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

REPEATS_KEY = "repeats"
MAX_REPEATS = 1000  # far above any pass^k measured (tau-bench's k is at most 8), far below what would hurt
_HEAD = re.compile(rb"metadata:\r?\n  " + REPEATS_KEY.encode() + rb": ([0-9]{1,12})\r?\n")
_HEAD_BYTES = 64


def recorded_repeats(cassette: Path) -> int | None:
    """The number of repeats `cassette` (a scenario's first) says its recording made, or None: no such file,
    or one that does not say (recorded before the count was kept, or never repeated), or says a count out of
    range (reading the cassette says what is wrong)."""
    from harness.yamlsource import TooBig, read_head  # here: `harness --help` loads no YAML parser

    try:  # opened as every file the harness reads: a FIFO in its place cannot block
        head = read_head(cassette, _HEAD_BYTES)
    except (OSError, TooBig):  # not recorded, a folder, unreadable, not a regular file: replay says which
        return None
    found = _HEAD.match(head)
    count = int(found.group(1)) if found else 0
    return count if 1 <= count <= MAX_REPEATS else None


def count_problem(metadata: dict[str, Any]) -> str | None:
    """What is wrong with the repeat count a cassette's metadata holds, or None (no count, or a good one)."""
    if REPEATS_KEY not in metadata:
        return None
    count = metadata[REPEATS_KEY]
    if type(count) is int and 1 <= count <= MAX_REPEATS:
        return None
    shown = repr(count) if len(repr(count)) <= 40 else f"a {type(count).__name__}"
    return (
        f"`metadata.{REPEATS_KEY}` is {shown}: the number of repeats recorded is a whole number from 1 to {MAX_REPEATS}"
    )
