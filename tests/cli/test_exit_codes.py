"""The exit codes a CI script branches on, one rule for every command: 0 ok, 1 a run failed, 2 a mistake in
a file or flag, 5 nothing to work on, 130 Ctrl-C, 143 SIGTERM, 141 stdout's reader gone; 1 too where a
stdout that cannot be written would have had 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from tests.fakes import Project, make_project
from tests.helpers import ROOT

SCENARIO_COMMANDS = [["run"], ["record"], ["cassettes", "check"], ["validate"]]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "project")


@pytest.mark.parametrize("command", SCENARIO_COMMANDS, ids=" ".join)
def test_a_path_holding_no_scenario_exits_5_for_every_command(
    project: Project, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`validate` said "0 scenario file(s): ok" and exit 0 where `run` and `cassettes check` exit 5: a CI
    step validating the wrong folder passed green."""
    empty = project.root / "empty"
    empty.mkdir()
    assert main([*command, "--agents", str(project.agents), str(empty)]) == 5
    assert capsys.readouterr().err.endswith(f"no scenarios in {empty}\n")


@pytest.mark.parametrize("command", SCENARIO_COMMANDS[:3], ids=" ".join)
@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_project_without_scenarios_exits_5_for_what_runs_them(
    project: Project, command: list[str], folder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no scenarios/ folder `run` exited 2 ("no such scenario file or folder": nothing the user typed),
    `cassettes check` 5: a project with nothing to run is nothing found, as an empty folder is."""
    if folder == "empty":
        (project.root / "scenarios").mkdir()
    assert main([*command, "--agents", str(project.agents)]) == 5
    missing = " (there is no such folder)" if folder == "missing" else ""
    assert f"no scenarios in {project.root / 'scenarios'}{missing}" in capsys.readouterr().err


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_validate_without_a_path_checks_the_agents_file_alone(
    project: Project, folder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checking the agents of a project with no scenario yet is what `validate` is for: exit 0, saying that
    only the agents file was checked; a mistake in it is still exit 2."""
    if folder == "empty":
        (project.root / "scenarios").mkdir()
    assert main(["validate", "--agents", str(project.agents)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{project.agents}: ok (")
    assert out[1].startswith(f"no scenario files in {project.root / 'scenarios'}")
    assert out[1].endswith(": the agents file alone was checked")
    project.agents.write_text("agents:\n  chat:\n    sytem: hi\n", encoding="utf-8")
    assert main(["validate", "--agents", str(project.agents)]) == 2


def test_a_path_that_does_not_exist_is_a_mistake_for_every_command(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = project.root / "scenarioz"
    for command in SCENARIO_COMMANDS:
        assert main([*command, "--agents", str(project.agents), str(missing)]) == 2, command
        assert f"{missing}: no such scenario file or folder" in capsys.readouterr().err


@pytest.mark.parametrize("selection", [["-k", "nothing_is_called_this"], ["empty"]])
def test_a_run_with_no_scenario_says_so_on_the_jobs_page(
    project: Project, monkeypatch: pytest.MonkeyPatch, selection: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The step summary was appended only with a report flag given: the job's page was blank exactly when
    the job failed for finding nothing (exit 5)."""
    page = project.root / "page.md"
    page.write_text("an earlier step's summary\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(page))
    (project.root / "empty").mkdir()
    paths = [str(project.root / word) if word == "empty" else word for word in selection]
    assert main(["run", "--agents", str(project.agents), *paths]) == 5
    text = page.read_text(encoding="utf-8")
    assert text.startswith("an earlier step's summary\n")  # appended to, as GitHub's steps share the file
    assert "**no scenarios**" in text
    assert "no scenarios" in capsys.readouterr().err


# ---------------------------------------------------------------- Ctrl-C from the first moment


def as_from_a_terminal() -> None:
    """SIGINT as a terminal delivers it (a suite started in the background of a shell has it ignored, which
    every process it starts inherits, and such a Python never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("module", ["harness.cli.parser", "harness.project", "harness.llm", "harness.cli.run"])
def test_a_stop_while_the_commands_import_is_an_interrupt_not_a_traceback(
    project: Project, stop: signal.Signals, code: int, module: str
) -> None:
    """Ctrl-C in a command's first tenth of a second, while building the parser imports the command
    modules (before main's handling), printed a KeyboardInterrupt traceback and died by SIGINT; SIGTERM
    there killed the process outright. Here the signal comes exactly as `module` starts to import."""
    probe = textwrap.dedent(
        f"""
        import os, signal, sys

        class StopWhenImported:
            def find_spec(self, name, path=None, target=None):
                if name == {module!r}:
                    os.kill(os.getpid(), {int(stop)})
                return None

        from harness.cli import main
        assert {module!r} not in sys.modules
        sys.meta_path.insert(0, StopWhenImported())
        sys.exit(main(["run", "--agents", {str(project.agents)!r}]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=project.root, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=as_from_a_terminal,
    )  # fmt: skip
    assert (done.returncode, done.stderr, done.stdout) == (code, "\n", "")


# ---------------------------------------------------------------- --help


def help_of(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit:
        main([*command, "--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


def test_harness_help_lists_the_exit_codes_one_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A CI script branches on them; only README and the module's docstring listed them."""
    text = help_of([], capsys)
    listed = text.split("\nexit codes:\n", 1)[1].splitlines()
    codes = [line.split()[0] for line in listed if line.startswith("  ") and line.split()[0].isdigit()]
    assert codes == ["0", "1", "2", "5", "130", "143", "141"]
    assert "  5    nothing to work on: the PATHs hold no scenario file, -k selects none, or" in listed
    assert all(len(line) <= 80 for line in listed)  # kept as written, so written to fit a terminal


@pytest.mark.parametrize("command", SCENARIO_COMMANDS, ids=" ".join)
def test_each_command_that_looks_for_scenarios_states_its_exit_codes(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = " ".join(help_of(command, capsys).split())  # as wrapped to any width
    said = text.split("exit codes: ", 1)[1]
    assert ", 2 a mistake" in said and ", 5 " in said and "130 Ctrl-C" in said
    # what every command returns: `validate` left out 1 (stdout lost), `run` 141, `cassettes check` 143 and 141
    assert "stdout could not be written" in said.split(", 2 a mistake")[0], said
    assert said.endswith("130 Ctrl-C, 143 SIGTERM, 141 the reader of stdout went away"), said


def test_readme_and_harness_help_list_the_same_exit_codes_for_the_same_reasons(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """README's table said nothing of a stdout that cannot be written (exit 1), `harness --help` nothing of it
    nor of --twice or `chat`'s endpoint."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = [line.split(" | ")[:2] for line in readme.splitlines() if line.startswith("| ") and line[2].isdigit()]
    table = {code.strip("| "): meaning for code, meaning in rows}
    listed = " ".join(help_of([], capsys).split("\nexit codes:\n", 1)[1].split())
    assert list(table) == ["0", "1", "2", "5", "130", "143", "141"]
    for said in (table["1"], listed.split(" 2 a mistake")[0]):
        assert "--twice" in said and "chat" in said and "stdout could not be written" in said, said


def test_readme_and_the_help_say_alike_that_record_stale_looks_at_python_tests_cassettes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`record --stale` in a project with no scenario checks its Python tests' cassettes (exit 5 only with
    none either): README's table, `harness --help` and `harness record --help` each say so."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("### Exit codes", 1)[1].split("\n#", 1)[0]
    row = next(line for line in readme.splitlines() if line.startswith("| 5 |"))
    listed = " ".join(help_of([], capsys).split("\nexit codes:\n", 1)[1].split())
    five = listed.split(" 5 ", 1)[1].split(" 130 ", 1)[0]
    record = " ".join(help_of(["record"], capsys).split()).split("exit codes: ", 1)[1]
    for said in (row, five, record.split(", 5 ", 1)[1]):
        assert "nor a Python test's cassette" in said and "stale" in said, said
    assert "Python test" not in " ".join(help_of(["run"], capsys).split()).split("exit codes: ")[1]
