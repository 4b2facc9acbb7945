"""Where a project's files are, and that no path a user's file names leads out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.files import OutsideProject, confined
from harness.scenarios.model import load_scenario
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, make_project


@pytest.mark.parametrize("given", ["/tmp/victim.txt", "../victim.txt", "a/../../victim.txt", "link/victim.txt"])
def test_a_cassette_path_cannot_leave_the_cassette_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    """An absolute or escaping `cassette:` would let `harness record` overwrite any file."""
    project = make_project(tmp_path / "project", {"remember": REMEMBER + f"cassette: {given}\n"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project.cassettes.mkdir()
    (project.cassettes / "link").symlink_to(elsewhere)
    victim = tmp_path / "project" / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "--mode", "all"])
    assert code == 2
    assert server.received == []
    assert victim.read_text(encoding="utf-8") == "precious"
    assert list(elsewhere.iterdir()) == []
    err = capsys.readouterr().err
    assert f"{project.scenario_path('remember')}:" in err
    assert f"cassette: the cassette '{given}' " in err


def test_out_of_tree_scenarios_with_one_name_get_their_own_cassettes(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    runner = project.runner()
    paths = []
    for folder in ("a", "b"):
        scenario = tmp_path / folder / "same.yaml"
        scenario.parent.mkdir()
        scenario.write_text(REMEMBER, encoding="utf-8")
        paths.append(runner.cassette_path(load_scenario(scenario)))
    assert paths[0] != paths[1]
    for path in paths:
        assert project.cassettes in path.parents and path.name == "same.yaml"


@pytest.mark.parametrize("given", ["x.yaml", "deep/er/x.yaml", "a/../x.yaml", "./x.yaml", "."])
def test_paths_inside_are_kept(tmp_path: Path, given: str) -> None:
    assert confined(tmp_path, given) == Path(os.path.normpath(tmp_path / given))


@pytest.mark.parametrize("given", ["..", "../x", "/x", "a/../../x"])
def test_paths_outside_are_refused(tmp_path: Path, given: str) -> None:
    with pytest.raises(OutsideProject):
        confined(tmp_path, given)


def test_the_repeats_of_a_cassette_run_to_the_last_one_recorded_a_gap_included(tmp_path: Path) -> None:
    """A lost `.repeat-2.yaml` dropped repeats 2 and 3 silently (and `cassettes check` called 3 an orphan):
    now repeat 2 is there to be reported missing."""
    from harness.project import Project

    cassette = tmp_path / "remember.yaml"
    cassette.write_text("x", encoding="utf-8")
    assert Project.variants(cassette) == [1]
    (tmp_path / "remember.repeat-3.yaml").write_text("x", encoding="utf-8")
    (tmp_path / "other.repeat-5.yaml").write_text("x", encoding="utf-8")  # another cassette's
    (tmp_path / "remember.repeat-x.yaml").write_text("x", encoding="utf-8")  # no repeat's name
    assert Project.variants(cassette) == [1, 2, 3]
    (tmp_path / "remember.repeat-4.yaml").write_text("x", encoding="utf-8")  # the folder listed again
    assert Project.variants(cassette) == [1, 2, 3, 4]
    assert Project.variants(tmp_path / "missing" / "remember.yaml") == [1]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://[bad/v1", "not a URL this harness can reach (Invalid IPv6 URL)"),
        ("http://u:pw@h:99999/v1", "not a URL this harness can reach (Port out of range 0-65535)"),
        ("htp://h/v1", "should be an http:// or https:// URL with a host"),
    ],
)
def test_a_bad_endpoint_override_is_a_mistake_said_without_the_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, says: str
) -> None:
    project = make_project(tmp_path, {"remember": REMEMBER})
    assert main(["run", "--agents", str(project.agents), "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the endpoint override (--base-url) is {says}")
    assert "pw" not in err and "Traceback" not in err


@pytest.mark.parametrize("given", [".", "chat/", "chat"])
def test_a_cassette_that_names_a_folder_is_a_located_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    """`cassette: .` named the cassette folder itself: 'is not a readable cassette', with no file or line."""
    project = make_project(tmp_path / "project", {"remember": REMEMBER + f"cassette: '{given}'\n"})
    (project.cassettes / "chat").mkdir(parents=True)
    assert main(["validate", "--agents", str(project.agents)]) == 2
    err = capsys.readouterr().err
    assert f"{project.scenario_path('remember')}:" in err
    assert f"cassette: the cassette '{given}' is a folder; name a file in it" in err
