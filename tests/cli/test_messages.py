"""What the command line says to a mistake: the mistake made, in the user's words, with what would do."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from harness.cli import main
from tests.fakes import Project, make_project
from tests.helpers import SEED_AGENTS


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "project", {"hello": "agent: chat\nturns:\n  - user: hi\n"})


@pytest.mark.parametrize("mode", ["none", "bogus"])
def test_a_record_mode_it_does_not_take_is_told_with_the_ones_it_does(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--mode none` printed the enum's reprs ("<RecordMode.NONE: 'none'>"), `--mode bogus` "invalid
    RecordMode value" with no choices."""
    with pytest.raises(SystemExit) as exit:
        main(["record", "--mode", mode])
    assert exit.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == f"harness record: error: argument --mode: invalid choice: '{mode}' (choose from 'all', 'new')"


def test_record_modes_still_reach_the_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The choices are words now: each still builds the project in its RecordMode."""
    import harness.cli.parser
    from harness.cassettes.mode import RecordMode
    from harness.cli.options import project_of

    seen: list[RecordMode] = []

    def recorded(args: argparse.Namespace, console: object) -> int:
        seen.append(project_of(args).record_mode)
        return 0

    monkeypatch.setattr(harness.cli.parser, "run_command", recorded)
    agents = ["--agents", str(project.agents)]
    for command in (["record"], ["record", "--mode", "new"], ["record", "--mode", "all"], ["run"], ["run", "--live"]):
        assert main([*command, *agents]) == 0
    assert seen == [RecordMode.NEW, RecordMode.NEW, RecordMode.ALL, RecordMode.NONE, RecordMode.ALL]


@pytest.mark.parametrize(
    ("flag", "example"), [("--report", "report.json"), ("--html", "report.html"), ("--summary-md", "summary.md")]
)
def test_a_report_flag_given_a_folder_suggests_a_file_of_its_kind(
    project: Project, capsys: pytest.CaptureFixture[str], flag: str, example: str
) -> None:
    """`--html DIR` and `--summary-md DIR` suggested "DIR/report.json"."""
    folder = project.root / "out"
    folder.mkdir()
    assert main(["run", "--agents", str(project.agents), flag, str(folder)]) == 2
    assert (
        capsys.readouterr().err == f"error: {flag} {folder}: is a folder; give a file name, e.g. {folder / example}\n"
    )


def test_a_step_summary_that_is_a_folder_suggests_a_markdown_file(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project.root))
    assert main(["run", "--agents", str(project.agents)]) == 2
    suggested = project.root / "summary.md"
    said = f"error: $GITHUB_STEP_SUMMARY {project.root}: is a folder; give a file name, e.g. {suggested}\n"
    assert capsys.readouterr().err == said


def test_export_to_a_folder_asks_for_a_file_name_not_force(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`export -o DIR` said "exists; give --force to overwrite", and with --force "cannot write: Is a
    directory"."""
    folder = project.root / "out"
    folder.mkdir()
    for force in ([], ["--force"]):
        assert main(["export", "chat", "--agents", str(project.agents), "-o", str(folder), *force]) == 2
        assert (
            capsys.readouterr().err == f"error: {folder}: is a folder; give a file name, e.g. -o {folder / 'chat.af'}\n"
        )
    assert list(folder.iterdir()) == []


def test_memory_given_both_an_agent_and_a_block_says_not_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "give an AGENT name or --block ID" read as if neither had been given."""
    db = tmp_path / "state.db"
    db.touch()  # an empty file is a new database
    common = ["--agents", str(SEED_AGENTS), "--db", str(db)]
    assert main(["memory", "chat", "--block", "block-1", *common]) == 2
    assert (
        capsys.readouterr().err == "error: give an AGENT name or --block ID, not both ('chat' and --block 'block-1')\n"
    )
    assert main(["memory", *common]) == 2
    assert capsys.readouterr().err == "error: give an AGENT name or --block ID\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", [["run"], ["validate"], ["cassettes", "check"]], ids=" ".join)
def test_a_scenario_path_that_is_a_fifo_is_not_called_missing(
    project: Project, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A FIFO given as a PATH was "no such scenario file or folder": it is there, and not a file to read."""
    fifo = project.root / "pipe.yaml"
    os.mkfifo(fifo)
    assert main([*command, "--agents", str(project.agents), str(fifo)]) == 2
    assert f"error: {fifo}: not a regular file: give a scenario file or a folder of them" in capsys.readouterr().err


# ---------------------------------------------------------------- from a subfolder of the project


def test_the_plugins_project_markers_are_the_hints() -> None:
    """The hint looks as far up as the pytest plugin does (the two tuples cannot share a module: loading
    the plugin must stay light)."""
    from harness.cli.options import PROJECT_MARKERS
    from harness.pytest_plugin import PROJECT_MARKERS as PLUGINS

    assert PROJECT_MARKERS == PLUGINS


@pytest.mark.parametrize(
    "command",
    [["run", "-k", "hello and not bye"], ["validate"], ["cassettes", "check"], ["compile", "chat"], ["export", "chat"]],
    ids=" ".join,
)
def test_from_a_subfolder_the_agents_file_above_is_named_with_the_command_to_paste(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """Every command said "agents.yaml: file not found" from a subfolder of the project, with no word of
    the agents file one folder up, where `pytest` finds the project from any subfolder."""
    import shlex

    sub = project.root / "scenarios" / "more"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert main(command) == 2
    said = capsys.readouterr().err.splitlines()
    assert said[0].endswith("agents.yaml: file not found")
    assert said[1:] == [
        "the agents file is in a folder above this one: ../../agents.yaml; give it with --agents:",
        f"  harness {shlex.join(command)} --agents ../../agents.yaml",
    ]
    monkeypatch.setattr("sys.argv", ["harness", *command])  # as the script is started: the words it was given
    assert main(None) == 2
    assert capsys.readouterr().err.splitlines()[2] == said[2]
    pasted = shlex.split(said[2])[1:]
    assert main(pasted) != 2, capsys.readouterr().err  # the same project, found: no mistake left
    assert "file not found" not in capsys.readouterr().err


def test_from_a_subfolder_memory_without_db_names_the_agents_file_above(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state database's default is beside the agents file: from a subfolder it is looked for there."""
    monkeypatch.chdir(project.root / "scenarios")
    assert main(["memory", "chat"]) == 2
    said = capsys.readouterr().err.splitlines()
    # named as given (by default: beside the agents file it did not find, so in this folder)
    assert said[0] == "error: .harness/state.db: no state database here (give --db, or start one with `harness chat`)"
    assert said[2] == "  harness memory chat --agents ../agents.yaml"
    assert main(["memory", "chat", "--db", "other.db"]) == 2  # a --db given: the agents file is not the matter
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_no_hint_past_the_projects_root_or_for_an_agents_file_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder above the project's root (`.git`, `pyproject.toml`, ...) is another project's; an --agents
    typed that is not there is the mistake itself."""
    make_project(tmp_path / "outer")
    inner = tmp_path / "outer" / "inner"
    (inner / "sub").mkdir(parents=True)
    (inner / "pyproject.toml").write_text("", encoding="utf-8")
    for folder in (inner, inner / "sub"):
        monkeypatch.chdir(folder)
        assert main(["validate"]) == 2
        assert len(capsys.readouterr().err.splitlines()) == 1
    monkeypatch.chdir(tmp_path / "outer" / "inner")
    (inner / "pyproject.toml").unlink()
    assert main(["validate", "--agents", "missing.yaml"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert main(["validate"]) == 2  # the root's marker gone, the outer project's file is the hint
    assert capsys.readouterr().err.splitlines()[1:] == [
        "the agents file is in a folder above this one: ../agents.yaml; give it with --agents:",
        "  harness validate --agents ../agents.yaml",
    ]


def test_no_hint_when_this_folder_has_its_own_agents_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A project inside another: every message about the default state database sent the user to the outer
    project's agents file, though this folder's own was the one read."""
    make_project(tmp_path / "outer")
    inner = make_project(tmp_path / "outer" / "inner").root
    monkeypatch.chdir(inner)
    assert main(["memory", "chat"]) == 2
    said = capsys.readouterr().err.splitlines()
    assert said == ["error: .harness/state.db: no state database here (give --db, or start one with `harness chat`)"]
    (inner / ".harness").mkdir()
    (inner / ".harness" / "state.db").mkdir()  # "is a folder": the same default database, another message
    assert main(["memory", "chat"]) == 2
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and said[0].startswith("error: .harness/state.db: "), said
