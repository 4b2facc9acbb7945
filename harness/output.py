"""A file the user keeps (a report, a snapshot), written whole, or one OutputError line saying why not.

Apart from harness/files.py, the bottom layer, which imports nothing from the harness (README, Layout)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import OutputError
from harness.files import cannot_write, write_atomically


def write_output(path: Path, text: str, kept: str = "the file is left as it was") -> None:
    """`write_atomically`, with an OSError (a full disk, a folder removed meanwhile) as a one-line
    OutputError naming the file, the OS's reason and `kept` (what is left of the file)."""
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise OutputError(cannot_write(path, exc, kept)) from None
