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
"""

from __future__ import annotations

import re
from pathlib import Path

REPEATS_KEY = "repeats"
_HEAD = re.compile(rb"metadata:\r?\n  " + REPEATS_KEY.encode() + rb": ([0-9]{1,6})\r?\n")
_HEAD_BYTES = 64


def recorded_repeats(cassette: Path) -> int | None:
    """The number of repeats `cassette` (a scenario's first) says its recording made, or None: no such file,
    or one that does not say (recorded before the count was kept, or never repeated)."""
    from harness.yamlsource import TooBig, read_head  # here: `harness --help` loads no YAML parser

    try:  # opened as every file the harness reads: a FIFO in its place cannot block
        head = read_head(cassette, _HEAD_BYTES)
    except (OSError, TooBig):  # not recorded, a folder, unreadable, not a regular file: replay says which
        return None
    found = _HEAD.match(head)
    count = int(found.group(1)) if found else 0
    return count if count >= 1 else None
