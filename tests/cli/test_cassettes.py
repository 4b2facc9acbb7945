"""`harness cassettes check` and `harness record --stale` of Python tests' cassettes (the `harness_agent`
fixture's), end to end: recorded by pytest, checked by the CLI, recorded again with the command it gives."""

from __future__ import annotations

import shlex

import pytest

from harness.cli import main
from tests.fakes import REMEMBER_RESPONSES, FakeOpenAI, Project, make_project

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

