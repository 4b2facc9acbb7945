"""What the CLI prints through (harness/cli/console.py) never ends a command halfway: text a stream cannot
encode is degraded, a stdout that cannot be written (a full disk, closed) is said last with exit code 1,
and the reports are written whatever the terminal."""

from __future__ import annotations

import errno
import io
import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.console import Console, printable
from harness.secrets import MASK, Secrets
from tests.fakes import NOWHERE, REMEMBER, REMEMBER_RESPONSES, make_project
from tests.helpers import SEED_AGENTS, run_cli

LOST = "error: cannot write to stdout ({}): what this command printed there is lost\n"


class _Full(io.RawIOBase):
    """A file on a full disk (`> /dev/full`): every write fails with ENOSPC."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def full_stdout() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedWriter(_Full()), encoding="utf-8")


def encoding_stdout(encoding: str) -> io.TextIOWrapper:
    """A stdout that encodes strictly (`PYTHONIOENCODING=ascii`, a cp1252 console), its bytes kept."""
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict", write_through=True)


def test_text_a_stream_cannot_encode_is_escaped_not_an_error() -> None:
    ascii_stream = encoding_stdout("ascii")
    assert printable("grüße ☃", ascii_stream) == "gr\\xfc\\xdfe \\u2603"
    assert printable("grüße ☃", encoding_stdout("cp1252")) == "grüße \\u2603"
    assert printable("grüße ☃", encoding_stdout("utf-8")) == "grüße ☃"


def test_a_file_name_the_locale_could_not_decode_is_shown_from_its_bytes() -> None:
    """`PYTHONUTF8=0 LC_ALL=C`: Python keeps each byte of `grüße` above 127 as a lone surrogate, and it was
    shown as a row of U+FFFD, which names no file."""
    name = b"gr\xc3\xbc\xc3\x9fe \xe2\x98\x83 \xff.yaml".decode("ascii", "surrogateescape")
    assert printable(name, encoding_stdout("utf-8")) == "grüße ☃ \\xff.yaml"
    assert printable(name, encoding_stdout("ascii")) == "gr\\xfc\\xdfe \\u2603 \\xff.yaml"
    assert printable("half \ud83d an emoji", encoding_stdout("utf-8")) == "half \ufffd an emoji"  # not a byte


def test_the_console_degrades_what_stdout_cannot_encode(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = encoding_stdout("ascii")
    monkeypatch.setattr("sys.stdout", stdout)
    console = Console(Secrets.collect(values=["sk-hidden-123"], environ={}))
    console.out("Überprüfung ☃ sk-hidden-123")
    assert console.lost is None
    shown = stdout.buffer.getvalue().decode("ascii")  # type: ignore[attr-defined]
    assert shown == f"\\xdcberpr\\xfcfung \\u2603 {MASK}\n"


def test_a_stdout_that_cannot_be_written_is_said_last_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harness ... > /dev/full` (a CI log on a full disk) ended in an OSError traceback."""
    monkeypatch.setattr("sys.stdout", full_stdout())
    assert main(["validate", "--agents", str(SEED_AGENTS)]) == 1
    assert capsys.readouterr().err == LOST.format("No space left on device")


def test_a_closed_stdout_is_said_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harness run >&-` exited 0 having printed nothing and said nothing."""
    monkeypatch.setattr("sys.stdout", None)
    assert main(["schema", "agents"]) == 1
    assert capsys.readouterr().err == LOST.format("it is closed")


@pytest.mark.parametrize("redirect", [">/dev/full", ">&-"])
@pytest.mark.parametrize("args", [["--version"], ["--help"], ["schema", "agents"]])
def test_stdout_on_a_full_disk_or_closed_is_one_line_on_stderr(tmp_path: Path, redirect: str, args: list[str]) -> None:
    """`--version` crashed on a closed stdout ('NoneType' object has no attribute 'write'); `--help` lost its
    text on a full disk and exited 0; the rest ended in a traceback, or at exit in "Exception ignored"
    (exit code 120) when what was left in the buffer failed to flush."""
    if redirect == ">/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    done = run_cli(*args, cwd=tmp_path, redirect=redirect)
    why = "No space left on device" if redirect == ">/dev/full" else "it is closed"
    assert (done.returncode, done.stderr) == (1, LOST.format(why))


@pytest.mark.parametrize("closed", ["stdin", "stdout"])
def test_a_chat_with_stdin_or_stdout_closed_is_refused_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, closed: str
) -> None:
    """`input()` raised RuntimeError("input(): lost sys.stdin"), a traceback (nohup, a service, a CI step)."""
    monkeypatch.setattr(f"sys.{closed}", None)
    db = tmp_path / "state.db"
    assert main(["chat", "chat", "--agents", str(SEED_AGENTS), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: `harness chat` cannot run with {closed}, which")
    assert err.endswith(" closed: give it a terminal, a file or a pipe\n")
    assert not db.exists()  # refused before anything was opened


def test_a_chat_whose_stdout_is_on_a_full_disk_ends_saying_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`input()` writes its prompt to stdout: the OSError was a traceback."""
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    monkeypatch.setattr("sys.stdout", full_stdout())
    args = ["chat", "chat", "--agents", str(SEED_AGENTS), "--db", str(tmp_path / "s.db"), "--base-url", NOWHERE]
    assert main(args) == 1
    assert capsys.readouterr().err.endswith(LOST.format("No space left on device"))


def test_a_chat_reads_utf8_typed_under_an_ascii_locale(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`LC_ALL=C PYTHONUTF8=0`: stdin hands UTF-8 over as lone surrogates, and the line was refused as "not
    UTF-8"."""
    from tests.helpers import Script, reply, serve

    typed = io.TextIOWrapper(io.BytesIO("Grüße\n".encode()), encoding="ascii", errors="surrogateescape")
    monkeypatch.setattr("sys.stdin", typed)
    script = Script([reply("Hallo!")])
    with serve(script) as url:
        args = ["chat", "chat", "--agents", str(SEED_AGENTS), "--db", str(tmp_path / "s.db"), "--base-url", url]
        assert main(args) == 0
    assert "not UTF-8" not in capsys.readouterr().err
    users = [json.loads(m["content"]) for m in script.requests[0]["messages"] if m["role"] == "user"]
    assert users[-1]["message"] == "Grüße"


@pytest.fixture(scope="module")
def unicode_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("unicode"), {"grüße ☃": REMEMBER})
    project.record("grüße ☃", REMEMBER_RESPONSES)
    return project.root


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_a_run_on_a_stdout_that_cannot_encode_a_name_ends_with_its_reports_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, unicode_project: Path, encoding: str
) -> None:
    """`PYTHONIOENCODING=ascii`, Windows' cp1252 with output redirected: the scenarios ran, then printing the
    summary raised UnicodeEncodeError, exit 1, and --report and --html were never written."""
    root = tmp_path / "project"
    shutil.copytree(unicode_project, root)
    stdout = encoding_stdout(encoding)
    monkeypatch.setattr("sys.stdout", stdout)
    monkeypatch.chdir(root)
    assert main(["run", "--report", "r.json", "--html", "r.html"]) == 0
    shown = stdout.buffer.getvalue().decode(encoding)  # type: ignore[attr-defined]
    assert "scenarios/gr" + ("\\xfc\\xdf" if encoding == "ascii" else "üß") + "e \\u2603.yaml" in shown
    assert shown.splitlines()[-1] == "1 passed"
    report = json.loads((root / "r.json").read_text(encoding="utf-8"))
    assert report["scenarios"][0]["scenario"] == "scenarios/grüße ☃.yaml"
    assert "grüße ☃.yaml" in (root / "r.html").read_text(encoding="utf-8")


def test_a_run_under_a_c_locale_names_a_non_ascii_file_readably(unicode_project: Path, tmp_path: Path) -> None:
    """`PYTHONUTF8=0 LC_ALL=C`: file names decode to lone surrogates; the run crashed printing them, and the
    errors named `gr\\ufffd\\ufffd...`, no file."""
    root = tmp_path / "project"
    shutil.copytree(unicode_project, root)
    (root / "scenarios" / "grüße ☃.yaml").write_text(REMEMBER.replace("contains: Azin}", "contains: Azín}"))
    env = {"PYTHONUTF8": "0", "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""}
    done = run_cli("run", "--report", "r.json", cwd=root, env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "\\ufffd" not in done.stdout + done.stderr
    assert done.stdout.splitlines()[2].startswith("scenarios/gr\\xfc\\xdfe \\u2603.yaml ")
    assert done.stderr.startswith("scenarios/gr\\xfc\\xdfe \\u2603.yaml:")
    assert "does not contain 'Az\\xedn'" in done.stderr
    assert json.loads((root / "r.json").read_text(encoding="utf-8"))["summary"]["failed"] == 1


def test_a_run_whose_stdout_is_lost_keeps_its_own_exit_code_and_its_reports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, unicode_project: Path
) -> None:
    """The summary lost on a full disk: the reports are still written, the mistake is still said (exit 2),
    and the lost output is said last."""
    root = tmp_path / "project"
    shutil.copytree(unicode_project, root)
    (root / "scenarios" / "bad.yaml").write_text("agent: nobody\nturns: [{user: hi}]\n")
    monkeypatch.setattr("sys.stdout", full_stdout())
    monkeypatch.chdir(root)
    assert main(["run", "--report", "r.json"]) == 2
    err = capsys.readouterr().err
    assert "error: scenarios/bad.yaml:1:" in err
    assert err.endswith(LOST.format("No space left on device"))
    assert json.loads((root / "r.json").read_text(encoding="utf-8"))["summary"]["passed"] == 1


class _ReaderGone(io.RawIOBase):
    """A pipe whose reader went away (`harness run | head -1`, once head has its line): EPIPE."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_a_run_whose_reader_went_away_still_writes_its_reports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, unicode_project: Path
) -> None:
    """`harness run --report r.json --html r.html | head -1` ended at the summary table with 141 and wrote
    no report, where the same run on a full disk writes both. It still ends 141, saying nothing."""
    root = tmp_path / "project"
    shutil.copytree(unicode_project, root)
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(io.BufferedWriter(_ReaderGone()), encoding="utf-8"))
    monkeypatch.chdir(root)
    assert main(["run", "--report", "r.json", "--html", "r.html"]) == 141
    assert "cannot write to stdout" not in capsys.readouterr().err
    assert json.loads((root / "r.json").read_text(encoding="utf-8"))["summary"]["passed"] == 1
    assert (root / "r.html").read_text(encoding="utf-8").startswith("<!")
