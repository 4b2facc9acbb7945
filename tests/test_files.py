"""Writing what the user keeps: atomically for a file, through a link, into a device or a pipe, and the
check made before a run that a report can be written at all."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from harness.files import unwritable_reason, write_atomically
from tests.helpers import closed_to_user, run_python


def test_a_file_is_replaced_whole_keeping_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")
    path.chmod(0o640)
    write_atomically(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left


def test_a_link_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "kept.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target.name)
    write_atomically(link, "new")
    assert link.is_symlink() and os.readlink(link) == target.name
    assert target.read_text() == "new"


def test_a_pipe_is_written_into_not_replaced(tmp_path: Path) -> None:
    """As `--report /dev/stdout` is: a device or a pipe cannot be replaced, and must not be."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_atomically(fifo, "report")
    reader.join(timeout=10)
    assert received == ["report"]
    assert fifo.is_fifo()
    assert unwritable_reason(fifo) is None


def test_a_report_path_that_cannot_be_written_is_found_before_the_run(tmp_path: Path) -> None:
    assert unwritable_reason(tmp_path / "report.json") is None
    assert list(tmp_path.iterdir()) == []  # the probe is gone
    missing = tmp_path / "missing" / "report.json"
    assert unwritable_reason(missing) == f"the folder {missing.parent} does not exist; create it first"
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop.name)
    reason = unwritable_reason(loop)
    assert reason is not None and reason.startswith("cannot follow the link: ")


@pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux's")
def test_a_folder_that_takes_no_new_file_is_found_even_where_access_says_writable() -> None:
    """/proc passes `os.access(W_OK)` for root, and a read-only mount for anyone: a file is tried."""
    reason = unwritable_reason(Path("/proc/harness-report.json"))
    assert reason is not None and reason.startswith("cannot create a file in the folder /proc (")


UNREACHABLE = """
import json
from pathlib import Path
from harness.files import folder_unwritable_reason, unreachable_reason, unwritable_reason
print(json.dumps([
    unreachable_reason(Path("locked/x.json")),
    unreachable_reason(Path("locked")),
    unreachable_reason(Path("missing/x.json")),
    unreachable_reason(Path("open.json")),
    unwritable_reason(Path("locked/x.json")),
    folder_unwritable_reason(Path("locked/cassettes")),
]))
"""


def test_a_path_behind_a_folder_it_may_not_enter_is_said_so_not_raised(tmp_path: Path) -> None:
    """`Path.exists()` and `is_dir()` raise PermissionError there, where every check of a path given on the
    command line expected True or False: a traceback, exit 1. The folder is named."""
    (tmp_path / "locked").mkdir()
    (tmp_path / "open.json").write_text("{}")
    with closed_to_user(tmp_path / "locked"):
        done = run_python(UNREACHABLE, cwd=tmp_path, as_user=True)
    assert done.returncode == 0, done.stderr
    denied = "cannot enter the folder locked (Permission denied)"
    assert json.loads(done.stdout) == [denied, None, None, None, denied, denied]
