"""Paths the user may not read or enter (another user's home, a CI artifact folder without `+x`, a
`chmod 000` left behind): a located error naming the folder, exit 2, never a traceback; an unreadable
cassette folder fails its scenarios; an unreadable scenario folder is an error, never a smaller green run.

Each runs the CLI in a process of its own with file permissions applying (as root, without the
capabilities that override them: see `tests.helpers.run_cli`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import Store
from tests.fakes import FORGETFUL, FORGETFUL_RESPONSES, REMEMBER, REMEMBER_RESPONSES, make_project
from tests.helpers import closed_to_user, run_python


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a scenario at the top of its folder and one in a subfolder, both recorded, an Agent
    File exported from it and a state database."""
    project = make_project(tmp_path_factory.mktemp("recorded"), {"remember": REMEMBER, "sub/forgetful": FORGETFUL})
    project.record("remember", REMEMBER_RESPONSES)
    project.record("sub/forgetful", FORGETFUL_RESPONSES)
    assert main(["export", "chat", "--agents", str(project.agents), "-o", str(project.root / "chat.af")]) == 0
    Store(project.root / ".harness" / "state.db").close()
    return project.root


@pytest.fixture
def root(recorded: Path, tmp_path: Path) -> Path:
    shutil.copytree(recorded, tmp_path / "project")
    (tmp_path / "project" / "locked").mkdir()
    return tmp_path / "project"


# Each command in turn, in one process (each its own costs a second of imports), as `main` runs it.
_EACH = """
import contextlib, io, json, sys
from harness.cli import main
said = []
for args in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except BaseException as exc:  # what escaped `main`: a traceback
            code = f"{type(exc).__name__}: {exc}"
    said.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(said))
"""


def each(root: Path, commands: list[list[str]]) -> list[tuple[int | str, str, str]]:
    """(exit code or what escaped, stdout, stderr) of each command, run as a user in `root`."""
    done = run_python(_EACH, json.dumps(commands), cwd=root, as_user=True)
    assert done.returncode == 0, done.stderr
    return [tuple(result) for result in json.loads(done.stdout)]  # type: ignore[misc]


def refused(args: list[str], result: tuple[int | str, str, str], *fragments: str) -> None:
    code, _out, err = result
    assert code == 2, (args, code, err)
    assert err.startswith("error: "), (args, err)
    for fragment in fragments:
        assert fragment in err, (args, err)


def test_a_path_inside_a_folder_it_may_not_enter_is_a_located_error(root: Path) -> None:
    """Path.exists() and is_dir() raise PermissionError there (they swallow only "no such file"): each of
    these ended in a traceback, exit 1."""
    commands = [
        ["run", "scenarios/remember.yaml", "locked/x.yaml"],
        ["validate", "locked/x.yaml"],
        ["run", "--report", "locked/r.json"],
        ["run", "--html", "locked/r.html"],
        ["run", "--summary-md", "locked/r.md"],
        ["validate", "--agents", "locked/agents.yaml"],
        ["run", "--cassettes", "locked/cassettes"],
        ["memory", "chat", "--db", "locked/state.db"],
        ["chat", "chat", "--db", "locked/state.db"],
        ["export", "chat", "-o", "locked/chat.af"],
        ["import", "chat.af", "--out", "locked/imported"],
    ]
    with closed_to_user(root / "locked"):
        results = each(root, commands)
    for args, result in zip(commands, results, strict=True):
        refused(args, result, "cannot enter the folder ", "locked (Permission denied)")
    assert results[0][2] == "error: locked/x.yaml: cannot enter the folder locked (Permission denied)\n"
    assert results[2][2] == "error: --report locked/r.json: cannot enter the folder locked (Permission denied)\n"


def test_a_default_state_database_in_a_folder_it_may_not_enter_is_a_located_error(root: Path) -> None:
    commands = [["memory", "chat"], ["chat", "chat"]]
    with closed_to_user(root / ".harness"):
        results = each(root, commands)
    db, folder = ".harness/state.db", root / ".harness"  # the database as given (by default), the folder as found
    for args, result in zip(commands, results, strict=True):
        refused(args, result, f"error: {db}: cannot enter the folder {folder} (Permission denied)")


def test_a_cassette_folder_it_may_not_read_fails_its_scenarios_and_no_more(root: Path) -> None:
    """`_last_repeats` listed the folder unguarded, and `cassettes check` asked `exists()` of each cassette:
    both commands crashed with a traceback."""
    with closed_to_user(root / "cassettes" / "sub"):
        (ran, ran_out, ran_err), (checked, checked_out, checked_err) = each(root, [["run"], ["cassettes", "check"]])
    assert ran == 1, ran_err
    assert ran_out.splitlines()[-1] == "1 passed, 1 error"
    assert "cassettes/sub/forgetful.yaml is not a readable cassette (Permission denied)" in ran_err
    assert checked == 1, checked_err
    assert checked_out.splitlines()[:3] == [
        "cassettes/sub/forgetful.yaml: unreadable (scenarios/sub/forgetful.yaml)",
        f"  cannot enter the folder {root / 'cassettes' / 'sub'} (Permission denied)",
        "1 ok, 1 unreadable",
    ]


def test_a_whole_cassette_folder_it_may_not_read_is_checked_without_a_traceback(root: Path) -> None:
    with closed_to_user(root / "cassettes"):
        ((checked, out, err),) = each(root, [["cassettes", "check"]])
    assert checked == 1, err
    assert "2 unreadable" in out
    assert "orphan" not in out


def test_a_scenario_folder_it_may_not_read_is_an_error_never_a_smaller_run(root: Path) -> None:
    """It was skipped silently: `run` passed green with its scenarios missing, `validate` said ok, and
    `cassettes check` called their cassettes orphans to delete. pytest stops on it as a collection error."""
    commands = [["run"], ["validate"], ["cassettes", "check"], ["run", "scenarios/sub"], ["record", "--stale"]]
    with closed_to_user(root / "scenarios" / "sub"):
        results = each(root, commands)
    for args, result in zip(commands, results, strict=True):
        refused(args, result)
        assert result[1:] == (  # nothing ran, nothing called an orphan
            "",
            "error: scenarios/sub: cannot read this scenario folder (Permission denied), so its scenarios cannot "
            "be found\n",
        ), args


def test_a_state_database_it_may_not_read_or_write_is_refused_naming_why(root: Path) -> None:
    """SQLite says only "unable to open database file" (exit 1): the file system says why, exit 2."""
    db = ".harness/state.db"  # as given (by default), from the project's root
    with closed_to_user(root / db):
        shown, chatted = each(root, [["memory", "chat"], ["chat", "chat"]])
    refused([], shown, f"error: {db}: cannot use it as the state database: cannot read the file (Permission denied)")
    refused([], chatted, f"error: {db}: cannot use it as the state database: cannot write the file (Permission")


def test_a_chat_on_a_database_in_a_read_only_folder_is_refused_naming_the_folder(root: Path) -> None:
    """SQLite keeps a journal beside the database: "attempt to write a readonly database", exit 1."""
    folder = root / ".harness"
    folder.chmod(0o555)
    try:
        (chatted,) = each(root, [["chat", "chat"]])
    finally:
        folder.chmod(0o755)
    refused(
        [],
        chatted,
        "error: .harness/state.db: cannot use it as the state database: its folder must take new files too "
        f"(SQLite keeps a journal beside it): cannot create a file in the folder {folder} (Permission denied)",
    )


def test_a_state_database_whose_folder_cannot_be_made_is_refused(root: Path) -> None:
    shutil.rmtree(root / ".harness")
    root.chmod(0o555)
    try:
        (chatted,) = each(root, [["chat", "chat"]])
    finally:
        root.chmod(0o755)
    refused([], chatted, f"cannot make the state database's folder {root / '.harness'} (Permission denied)")
