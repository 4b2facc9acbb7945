"""What the pytest plugin collects agrees with what `harness run` runs: the folders it walks in a scenarios
folder, the agents file it takes for the harness's, and the scenarios folders the ini key names."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.scenarios.discovery import discover
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, Project, make_project

PYTHON_TEST = """
def test_saves_name(harness_agent):
    agent = harness_agent("chat")
    assert agent.send("My name is Azin.").stop_reason == "replied"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """A project in pytester's folder with remember (passes), recorded."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path, {"remember": REMEMBER})
    project.record("remember", REMEMBER_RESPONSES)
    return project


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("--collect-only", "-q", *args)
    return sorted(line.split("::")[0] for line in result.outlines if "::" in line)


def harness_runs(project: Project) -> list[str]:
    """The scenario files `harness run` (and `validate`, `cassettes check`) find, from the root."""
    return sorted(str(path.relative_to(project.root)) for path in discover([project.root / "scenarios"]))


@pytest.mark.parametrize("folder", ["build", "dist", ".wip", "node_modules", "venv", "nested/.cache"])
def test_a_scenario_in_a_folder_pytest_skips_is_collected_as_harness_run_runs_it(
    pytester: pytest.Pytester, project: Project, folder: str
) -> None:
    """pytest's `norecursedirs` (and its check for a virtualenv) left `scenarios/build/` out: a failing
    scenario there failed `harness run` (exit 1) while `pytest` passed (exit 0)."""
    project.write_scenario(f"{folder}/remember", REMEMBER)
    project.record(f"{folder}/remember", REMEMBER_RESPONSES)
    if folder == "venv":
        (project.root / "scenarios" / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    # A Python test module there stays uncollected, as pytest left it; beside the scenarios it is collected.
    (project.root / "scenarios" / folder / "test_there.py").write_text("def test_x():\n    assert 0\n")
    (project.root / "scenarios" / "test_beside.py").write_text("def test_y():\n    pass\n")
    expected = sorted([f"scenarios/{folder}/remember.yaml", "scenarios/remember.yaml"])
    assert harness_runs(project) == expected
    assert collected(pytester) == sorted([*expected, "scenarios/test_beside.py"])
    pytester.runpytest().assert_outcomes(passed=3)
    # What the user leaves out by name stays out.
    assert collected(pytester, "--ignore", f"scenarios/{folder}") == [
        "scenarios/remember.yaml",
        "scenarios/test_beside.py",
    ]
    assert collected(pytester, "--ignore-glob", "*/remember.yaml") == ["scenarios/test_beside.py"]


def test_a_conftest_collect_ignore_still_leaves_a_folder_out(pytester: pytest.Pytester, project: Project) -> None:
    project.write_scenario("build/remember", REMEMBER)
    pytester.makeconftest('collect_ignore = ["scenarios/build"]\n')
    assert collected(pytester) == ["scenarios/remember.yaml"]


def test_outside_the_scenarios_folder_pytest_collects_as_before(pytester: pytest.Pytester, project: Project) -> None:
    for folder in ("build", ".wip", "docs/dist"):
        (project.root / folder).mkdir(parents=True)
        (project.root / folder / "test_skipped.py").write_text("def test_z():\n    pass\n")
    (project.root / "tests").mkdir()
    (project.root / "tests" / "test_seen.py").write_text("def test_w():\n    pass\n")
    assert collected(pytester) == ["scenarios/remember.yaml", "tests/test_seen.py"]


def test_a_link_to_a_folder_in_the_scenarios_folder_is_not_walked_as_harness_run_walks_none(
    pytester: pytest.Pytester, project: Project
) -> None:
    """pytest followed `scenarios/shared -> ../elsewhere` and ran scenarios `harness run` never runs."""
    (project.root / "elsewhere").mkdir()
    (project.root / "elsewhere" / "other.yaml").write_text(REMEMBER, encoding="utf-8")
    (project.root / "scenarios" / "shared").symlink_to(project.root / "elsewhere", target_is_directory=True)
    (project.root / "scenarios" / "one.yaml").symlink_to(project.root / "elsewhere" / "other.yaml")  # read
    assert harness_runs(project) == ["scenarios/one.yaml", "scenarios/remember.yaml"]
    assert collected(pytester) == ["scenarios/one.yaml", "scenarios/remember.yaml"]


def test_an_agents_key_after_the_first_64_kib_turns_collection_on(pytester: pytest.Pytester, project: Project) -> None:
    """Only the file's first 64 KiB were read: a long comment first, and the project's scenarios were not
    collected, without a word (exit 0)."""
    comment = "".join(f"# {n:05d} notes about the prompts and models used over time, kept here.\n" for n in range(1200))
    assert len(comment) > 65536
    project.agents.write_text(comment + project.agents.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["validate", "--agents", str(project.agents)]) == 0
    assert collected(pytester) == ["scenarios/remember.yaml"]
    pytester.runpytest().assert_outcomes(passed=1)


def test_an_agents_file_not_taken_for_the_harnesss_is_said_once(pytester: pytest.Pytester, project: Project) -> None:
    """A file named agents.yaml that is not taken (another tool's, or the harness's with its key out of
    reach) left the scenarios uncollected without a word; a pytest warning says it, which a project whose
    agents.yaml is another tool's can silence."""
    project.agents.write_text("researcher:\n  role: Senior researcher\n", encoding="utf-8")
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*PytestConfigWarning: harness: agents.yaml is not taken for the harness's agents file (no top-level*"]
    )
    assert result.stdout.str().count("is not taken for the harness's") == 1
    pytester.makeini(
        "[pytest]\naddopts = -p no:cacheprovider\nfilterwarnings = ignore:harness:pytest.PytestConfigWarning\n"
    )
    silenced = pytester.runpytest()
    silenced.assert_outcomes(passed=1)
    silenced.stdout.no_fnmatch_line("*not taken*")


def test_another_tools_agents_file_costs_its_project_no_warning(pytester: pytest.Pytester) -> None:
    """No `scenarios/` nor `cassettes/` beside it: not a harness project, nothing said (a warning there
    failed every run under `-W error`)."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    (pytester.path / "agents.yaml").write_text("researcher:\n  role: Senior researcher\n", encoding="utf-8")
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*not taken*")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("senarios", "senarios: no such folder (*/senarios); name the folders that hold the scenarios*"),
        ("scenarios evals", "evals: no such folder (*/evals); *"),
        ("agents.yaml", "agents.yaml: is not a folder (*/agents.yaml); *"),
    ],
)
def test_a_scenarios_folder_the_ini_key_names_that_is_not_there_is_a_usage_error(
    pytester: pytest.Pytester, project: Project, value: str, says: str
) -> None:
    """`harness_scenarios = senarios` collected no scenario and passed (exit 0), where the same typo in
    `harness_agents` is a usage error (exit 4)."""
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    pytester.makeini(f"[pytest]\naddopts = -p no:cacheprovider\nharness_scenarios = {value}\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: the ini key harness_scenarios = {value}: {says}"])


def test_a_project_without_a_scenarios_folder_runs_its_python_tests(pytester: pytest.Pytester) -> None:
    """The default `scenarios/` folder absent is no mistake: a project may have only `harness_agent` tests."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    assert not (pytester.path / "scenarios").exists()
    pytester.makepyfile(test_agent=PYTHON_TEST)
    result = pytester.runpytest()
    assert result.ret != pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*not recorded yet*"])  # the test ran, looking for its cassette
