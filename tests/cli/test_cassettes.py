"""`harness cassettes check` and `harness record --stale` of Python tests' cassettes (the `harness_agent`
fixture's), end to end: recorded by pytest, checked by the CLI, recorded again with the command it gives."""

from __future__ import annotations

import shlex

import pytest

from harness.cli import main
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, Project, make_project

PARAMETRIZED_TEST = """
import pytest

@pytest.mark.parametrize("who", ["Azin Rahimi", "Bob"])
def test_greets(harness_agent, who):
    agent = harness_agent("chat")
    assert agent.send(f"My name is {who}.").stop_reason == "replied"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """A project tested by pytest alone (no scenario), its two parametrized tests recorded, then its agent's
    system prompt changed: both cassettes stale."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path)
    pytester.makepyfile(test_agent=PARAMETRIZED_TEST)
    with FakeOpenAI(list(REMEMBER_RESPONSES) * 2) as server:
        recorded = pytester.runpytest("--harness-record-mode", "new", "--harness-base-url", server.base_url)
    recorded.assert_outcomes(passed=2)
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(agents.replace("You are a test agent with memory.", "You are a test agent."))
    return project


def record_stale(project: Project, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["record", "--agents", str(project.agents), "--stale"])
    return code, capsys.readouterr().err.splitlines()


def commands(lines: list[str]) -> list[str]:
    return [line.rpartition("record it again with: ")[2] for line in lines if "record it again with: " in line]


def test_a_parametrized_tests_cassette_is_recorded_again_by_its_own_node_id(
    project: Project, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command named the whole file (`pytest --harness-record-mode new test_agent.py`): pasted, it ran
    and recorded every test in it, for a cassette of one."""
    capsys.readouterr()  # pytester's output
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    told = commands(capsys.readouterr().out.splitlines())
    agents = f"--harness-agents {project.agents}"
    assert told == [
        f"pytest --harness-record-mode new {agents} 'test_agent.py::test_greets[Azin Rahimi]'",
        f"pytest --harness-record-mode new {agents} 'test_agent.py::test_greets[Bob]'",
    ]
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        again = pytester.runpytest(*shlex.split(told[0])[1:], "--harness-base-url", server.base_url)
    again.assert_outcomes(passed=1)  # that test alone
    capsys.readouterr()
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    assert commands(capsys.readouterr().out.splitlines()) == told[1:]


def test_record_stale_names_python_tests_cassettes_in_a_project_with_no_scenario(
    project: Project, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """It exited 5, "no scenarios in scenarios/", where `cassettes check` named two stale cassettes: a
    project tested by pytest alone was never told its cassettes were out of date."""
    capsys.readouterr()
    code, lines = record_stale(project, capsys)
    assert code == 1
    told = commands(lines)
    assert len(told) == 2 and all("system prompt changed" in line for line in lines[:2])
    assert lines[-1].startswith("error: 2 Python test cassette(s) need recording")
    for command in told:
        with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
            pytester.runpytest(*shlex.split(command)[1:], "--harness-base-url", server.base_url).assert_outcomes(
                passed=1
            )
    capsys.readouterr()
    assert record_stale(project, capsys) == (
        0,
        [
            "every cassette is up to date: nothing to record (no scenarios; 2 Python test cassette(s) checked by "
            "their agents' fingerprints)"
        ],
    )


def test_record_stale_with_neither_scenarios_nor_test_cassettes_has_nothing_to_work_on(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(pytester.path)
    code, lines = record_stale(project, capsys)
    assert code == 5
    assert lines == ["no scenarios in scenarios (there is no such folder)"]  # from pytester's folder
    # A path given, or -k: the Python tests' cassettes are not looked at (as with scenarios).
    (project.root / "scenarios").mkdir()
    assert main(["record", "--agents", str(project.agents), "--stale", str(project.root / "scenarios")]) == 5


BROKEN = "agent: chat\nturns: [{user: hi}]\nexpcet: {}\n"


def test_python_tests_cassettes_are_checked_beside_a_scenario_file_with_mistakes(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """One scenario file with a mistake stopped the Python tests' cassettes being checked, though the note
    said "the others are": `cassettes check` and `record --stale` left both stale ones unsaid."""
    project.write_scenario("remember", REMEMBER)
    project.write_scenario("broken", BROKEN)
    capsys.readouterr()
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert len(commands(out)) == 2, out
    assert "1 missing, 2 stale" in out
    assert not any("broken" in line for line in out)  # its cassette is its own, unchecked, not a test's
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "--stale"])
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(commands(lines)) == 2, lines
    assert any(line.startswith("error: 2 Python test cassette(s) need recording") for line in lines), lines
