"""One cassette, one file: scenarios whose cassettes differ only in letter case or Unicode normalisation are
one file on macOS and Windows (recording either overwrites the other), told as `validate`, `run` and the
pytest plugin tell two conversations sharing a cassette."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from harness.cli import main
from harness.lookalike import folded
from tests.fakes import make_project

HELLO = "agent: chat\nturns:\n  - user: hello\n"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Zoe", "zoe"),
        (unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")),
        ("sub/Party", "SUB/party"),
    ],
)
def test_scenario_files_whose_cassettes_are_one_file_where_case_is_ignored_are_a_located_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], first: str, second: str
) -> None:
    project = make_project(tmp_path / "p", {first: HELLO, second: HELLO})
    assert main(["validate", "--agents", str(project.agents)]) == 2
    err = capsys.readouterr().err
    assert err.count("differ only in letter case or Unicode normalisation: one file on macOS and Windows") == 1
    later, earlier = sorted([first, second], reverse=True)  # the later in discovery order is told
    assert f"{project.scenario_path(later)}:1:1: its cassette {project.cassettes / later}.yaml and the " in err
    assert f"the cassette {project.cassettes / earlier}.yaml of {project.scenario_path(earlier)} differ " in err
    assert main(["run", "--agents", str(project.agents)]) == 2  # replay says it too


def test_cassettes_with_another_name_or_of_one_scenario_are_fine(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"Zoe": HELLO, "Zoey": HELLO, "a": HELLO})
    (project.root / "scenarios" / "a.yml").write_text(HELLO, encoding="utf-8")  # one cassette, one conversation
    assert main(["validate", "--agents", str(project.agents)]) == 0


def test_folding_is_what_case_and_normalisation_insensitive_file_systems_compare() -> None:
    assert folded("Zoe.yaml") == folded("ZOE.yaml") == "zoe.yaml"
    assert folded("cafe\u0301") == folded("CAF\u00c9") == "caf\u00e9"
    assert folded("Zoe.yaml") != folded("Zoé.yaml")
