"""Where a project's files are, and that no path a user's file names leads out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.files import OutsideProject, confined
from harness.scenarios.model import load_scenario
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, make_project
from tests.helpers import closed_to_user, run_python


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
    assert err.startswith(f"error: the endpoint override (--base-url): {says}")  # never "is should be"
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


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("scenarios", "is the scenarios folder"),
        (".", "holds the scenarios folder"),
        ("scenarios/tapes", "is inside the scenarios folder"),
        ("snapshots", "is the snapshots folder"),
    ],
)
@pytest.mark.parametrize("command", [["record", "--mode", "all"], ["record"], ["run", "--live"], ["run"]])
def test_a_cassette_folder_over_the_scenarios_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, given: str, says: str,
    command: list[str],
) -> None:  # fmt: skip
    """`--cassettes scenarios` made each scenario's cassette path its own file: `record --mode all` (the
    advice the first error gave) and `run --live` replaced every scenario with a cassette, and exited 0."""
    project = make_project(tmp_path / "project", {"remember": REMEMBER})
    (project.root / "snapshots").mkdir()
    (project.root / "snapshots" / "remember.yaml").write_text("blocks: {}\n", encoding="utf-8")
    before = _files(project.root)
    monkeypatch.chdir(project.root)
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main([*command, "--base-url", server.base_url, "--cassettes", given])
    assert code == 2
    assert server.received == []
    assert _files(project.root) == before
    err = capsys.readouterr().err
    assert err.startswith(f"error: the cassette folder {project.root / given if given != '.' else project.root}")
    assert f" {says}" in err and "give the cassettes a folder of their own (--cassettes)" in err
    assert "--mode all" not in err and "Traceback" not in err


@pytest.mark.parametrize(("given", "says"), [("evals", "is the scenarios folder"), ("evals/tapes", "is inside")])
def test_a_cassette_folder_over_a_scenario_folder_named_on_the_command_line_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, given: str, says: str
) -> None:
    """Only the default scenarios/ folder was checked: `harness record evals --cassettes evals` would have
    written each cassette over its scenario."""
    project = make_project(tmp_path / "project", {})
    (project.root / "evals").mkdir()
    (project.root / "evals" / "remember.yaml").write_text(REMEMBER, encoding="utf-8")
    before = _files(project.root)
    monkeypatch.chdir(project.root)
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(["record", "--mode", "all", "--base-url", server.base_url, "--cassettes", given, "evals"])
    assert code == 2
    assert server.received == []
    assert _files(project.root) == before
    err = capsys.readouterr().err
    assert err.startswith(f"error: the cassette folder {project.root / given} {says}"), err


def test_a_cassette_path_that_is_a_scenario_file_given_by_path_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scenario outside the scenarios folder gets its cassette path from the current folder: with
    `--cassettes .` that path was the scenario file itself."""
    project = make_project(tmp_path / "project")
    here = tmp_path / "here"
    here.mkdir()
    scenario = here / "remember.yaml"
    scenario.write_text(REMEMBER, encoding="utf-8")
    monkeypatch.chdir(here)
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(["record", "--mode", "all", "--agents", str(project.agents), "--base-url", server.base_url,
                     "--cassettes", ".", "remember.yaml"])  # fmt: skip
    assert code == 2
    assert server.received == []
    assert scenario.read_text(encoding="utf-8") == REMEMBER
    err = capsys.readouterr().err
    assert err == (
        "error: remember.yaml:2:1: its cassette remember.yaml is the scenario file remember.yaml, which recording "
        "would overwrite: give the cassettes a folder of their own (--cassettes)\n"
    )


@pytest.mark.parametrize(
    ("other", "says"),
    [
        ({"history.yaml": "messages: []\n"}, "is the history file history.yaml"),
        ({"rows.jsonl": '{"id": "a", "name": "Azin"}\n'}, "is the dataset rows.jsonl"),
    ],
)
def test_a_cassette_path_that_is_a_file_a_scenario_reads_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, other: dict[str, str],
    says: str,
) -> None:  # fmt: skip
    """A `cassette:` naming a history or dataset file of another scenario, in a cassette folder that holds
    them (the scenarios are outside the project's scenarios folder)."""
    project = make_project(tmp_path / "project")
    here = tmp_path / "here"
    here.mkdir()
    ((name, text),) = other.items()
    (here / name).write_text(text, encoding="utf-8")
    reader = REMEMBER + ("history: history.yaml\n" if name == "history.yaml" else "dataset: rows.jsonl\n")
    (here / "reader.yaml").write_text(reader, encoding="utf-8")
    (here / "writer.yaml").write_text(REMEMBER + f"cassette: {name}\n", encoding="utf-8")
    before = _files(here)
    monkeypatch.chdir(here)
    code = main(["run", "--live", "--agents", str(project.agents), "--cassettes", ".", "reader.yaml", "writer.yaml"])
    assert code == 2
    assert _files(here) == before
    err = capsys.readouterr().err
    assert f"writer.yaml:18:1: cassette: its cassette {name} {says}, which recording would overwrite" in err
    assert ", or this scenario another `cassette:`" in err


def test_a_cassette_at_its_default_path_linking_out_of_the_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `cassette:` key leading out is refused where it is read; a link at the default path was written
    through by `record --mode all`, over a file outside the project."""
    project = make_project(tmp_path / "project", {"remember": REMEMBER})
    outside = tmp_path / "important.txt"
    outside.write_text("precious notes, not a cassette\n", encoding="utf-8")
    link = project.cassettes / "remember.yaml"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(["record", "--mode", "all", "--agents", str(project.agents), "--base-url", server.base_url])
    assert code == 2
    assert server.received == []
    assert outside.read_text(encoding="utf-8") == "precious notes, not a cassette\n"
    err = capsys.readouterr().err
    assert f"is a symbolic link leading outside the cassette folder (to {outside.resolve()})" in err
    assert "which recording would write through: remove the link" in err


def test_the_runner_itself_never_records_over_a_file_the_run_reads(tmp_path: Path) -> None:
    """The last guard, for a caller that did not check (the CLI and the pytest plugin refuse up front)."""
    from harness.factory import AgentFactory
    from harness.project import Project
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.results import Outcome

    project = make_project(tmp_path / "project")
    here = tmp_path / "here"
    here.mkdir()
    scenario = here / "remember.yaml"
    scenario.write_text(REMEMBER, encoding="utf-8")
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        built = Project.build(agents=project.agents, cassettes=here, record_mode="all", base_url=server.base_url,
                              relative_to=here)  # fmt: skip
        result = ScenarioRunner(AgentFactory(built)).run(load_scenario(scenario))
    assert server.received == []
    assert result.outcome == Outcome.ERROR
    assert result.error is not None and "is the scenario file" in result.error
    assert scenario.read_text(encoding="utf-8") == REMEMBER


def test_running_the_project_folder_itself_says_to_name_the_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harness run .` takes every YAML file under the project as a scenario, the cassettes included: it is
    refused, and the fix is to name the scenarios, not (as it said) to give the cassettes the folder they
    already have."""
    project = make_project(tmp_path / "project", {"remember": REMEMBER})
    monkeypatch.chdir(project.root)
    assert main(["run", "."]) == 2
    err = capsys.readouterr().err
    assert f"the cassette folder {project.cassettes} is inside the scenarios folder" in err
    assert f"name the scenarios' own folders or files (as {project.root / 'scenarios'}) instead" in err
    assert "--cassettes" not in err


def test_a_loop_of_links_is_refused_with_a_reason(tmp_path: Path) -> None:
    """Python 3.11's Path.resolve() raises RuntimeError on a loop, which escaped as a traceback from
    every command naming a `dataset:`, `system_file:` or `cassette:` that loops."""
    (tmp_path / "a.txt").symlink_to("b.txt")
    (tmp_path / "b.txt").symlink_to("a.txt")
    with pytest.raises(OutsideProject, match=r"'a.txt' is a symbolic link that loops"):
        confined(tmp_path, "a.txt")


def test_a_system_file_that_loops_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path / "project", {"remember": REMEMBER})
    (project.root / "loop.txt").symlink_to("loop.txt")
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(
        agents.replace("    system: You are a test agent with memory.", "    system_file: loop.txt"), encoding="utf-8"
    )
    code = main(["validate", "--agents", str(project.agents)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert f"{project.agents}:" in err and "'loop.txt' is a symbolic link that loops" in err


REPEATS = """
from pathlib import Path
from harness.project import Project
cassette = Path("cassettes/sub/remember.yaml")
print(Project.repeats_on_disk(cassette), Project.variants(cassette))
"""


def test_the_repeats_of_a_cassette_in_a_folder_it_may_not_read_are_its_first_alone(tmp_path: Path) -> None:
    """Listing the folder for `remember.repeat-<n>.yaml` raised PermissionError: `harness run` and `cassettes
    check` ended in a traceback. Reading the cassette then says it is unreadable, for its scenario alone."""
    folder = tmp_path / "cassettes" / "sub"
    folder.mkdir(parents=True)
    (folder / "remember.yaml").write_text("interactions: []\n")
    (folder / "remember.repeat-2.yaml").write_text("interactions: []\n")
    with closed_to_user(folder):
        done = run_python(REPEATS, cwd=tmp_path, as_user=True)
    assert (done.returncode, done.stdout) == (0, "1 [1]\n"), done.stderr


@pytest.mark.parametrize(
    ("agents", "db", "shown"),
    [
        (None, "../state.db", "../state.db"),
        (None, "sub/../state.db", "state.db"),
        ("../agents.yaml", None, "../.harness/state.db"),
        (None, None, ".harness/state.db"),
        (None, "/srv/ci/./artifact/../state.db", "/srv/ci/state.db"),
    ],
)
def test_the_state_database_is_named_as_it_was_given(
    tmp_path: Path, agents: str | None, db: str | None, shown: str
) -> None:
    """It was named by its absolute, unnormalised path (`/tmp/.../sub/../state.db`): two checkouts gave
    different messages, and the `..` hid which file it is."""
    from harness.project import Project

    project = Project.build(agents=agents, state_db=db, relative_to=tmp_path / "sub")
    assert project.as_given(project.state_db) == shown
