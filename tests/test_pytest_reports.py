"""The plugin's reports: `pytest --harness-html FILE`, `--harness-summary-md FILE` and `$GITHUB_STEP_SUMMARY`,
the same under pytest-xdist as in one process."""

from __future__ import annotations

import re

import pytest

from harness import pytest_plugin, report_md
from harness.secrets import MASK
from tests.fakes import FORGETFUL, FORGETFUL_RESPONSES, REMEMBER, REMEMBER_RESPONSES, Project, make_project

TIMING = re.compile(r'<span class="timing">[^<]*</span>')


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """remember passes, forgetful fails, known_bug is an expected failure."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(
        pytester.path,
        {"remember": REMEMBER, "forgetful": FORGETFUL, "known_bug": FORGETFUL + "xfail: names are not stored\n"},
    )
    project.record("remember", REMEMBER_RESPONSES)
    project.record("forgetful", FORGETFUL_RESPONSES)
    project.record("known_bug", FORGETFUL_RESPONSES)
    return project


def test_html_and_markdown_reports(pytester: pytest.Pytester, project: Project) -> None:
    (pytester.path / "out").mkdir()
    result = pytester.runpytest("--harness-html", "out/report.html", "--harness-summary-md", "summary.md")
    result.assert_outcomes(passed=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(
        ["harness: HTML report written to */out/report.html", "harness: Markdown summary written to */summary.md"]
    )
    page = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    for count in ("<b>1</b> passed", "<b>1</b> failed", "<b>1</b> xfailed", "<b>0</b> error"):
        assert count in page
    links = re.findall(r'<a href="#s\d">([^<]*)</a>', page)
    assert links == ["scenarios/forgetful.yaml", "scenarios/known_bug.yaml", "scenarios/remember.yaml"]
    assert '<details class="scenario failed" id="s1" data-outcome="failed" open>' in page
    assert '<div class="line same"> Name: Bob</div><div class="line add">+<ins>Azin</ins></div>' in page

    summary = (pytester.path / "summary.md").read_text(encoding="utf-8")
    assert "**1 passed, 1 failed, 1 xfailed**" in summary
    assert (
        "| `scenarios/forgetful.yaml` | failed | `scenarios/forgetful.yaml:7` "
        "`turns[0].expect.blocks.human.contains`: block 'human' does not contain 'Carol' |" in summary
    )
    assert "known_bug" not in summary  # an expected failure is not a failure
    assert summary.splitlines()[-1] == "[HTML report](out/report.html)"


def test_reports_mask_secrets(pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "Carol")
    pytester.runpytest("--harness-html", "r.html", "--harness-summary-md", "r.md").assert_outcomes(
        passed=1, failed=1, xfailed=1
    )
    for name in ("r.html", "r.md"):
        text = (pytester.path / name).read_text(encoding="utf-8")
        assert "Carol" not in text and MASK.strip("<>") in text  # escaped as HTML or Markdown


def test_a_scenario_with_a_mistake_is_reported_as_an_error(pytester: pytest.Pytester, project: Project) -> None:
    """Under pytest the other scenarios still run: the reports count this one, with its located message."""
    project.write_scenario("bad", "agent: chatbot\nturns: [{user: hi}]\n")
    pytester.runpytest("--harness-html", "r.html", "--harness-summary-md", "r.md").assert_outcomes(
        passed=1, failed=2, xfailed=1
    )
    page = (pytester.path / "r.html").read_text(encoding="utf-8")
    assert "<b>1</b> error</li>" in page and "<b>1</b> failed</li>" in page
    assert '<details class="scenario error" id="s1" data-outcome="error" open>' in page
    summary = (pytester.path / "r.md").read_text(encoding="utf-8")
    assert "| `scenarios/bad.yaml` | error | scenarios/bad.yaml:1:1: agent: no agent named 'chatbot'; " in summary


def test_the_same_reports_under_xdist(pytester: pytest.Pytester, project: Project) -> None:
    """Entries come from the workers with their test reports; the files do not depend on who ran what."""
    one = pytester.runpytest_subprocess("--harness-html", "one.html", "--harness-summary-md", "one.md")
    one.assert_outcomes(passed=1, failed=1, xfailed=1)
    two = pytester.runpytest_subprocess("-n", "2", "--harness-html", "two.html", "--harness-summary-md", "two.md")
    two.assert_outcomes(passed=1, failed=1, xfailed=1)
    pages = [TIMING.sub("", (pytester.path / f"{n}.html").read_text(encoding="utf-8")) for n in ("one", "two")]
    assert pages[0] == pages[1] and "scenarios/remember.yaml" in pages[0]
    summaries = [(pytester.path / f"{n}.md").read_text(encoding="utf-8") for n in ("one", "two")]
    assert summaries[0].replace("one.html", "two.html") == summaries[1]


# pytest-rerunfailures' loop (`--reruns 2`): a failed try is reported with the outcome "rerun", and the item's
# protocol runs again. A scenario with a `.fixed` file beside it takes that text before its next try: a
# model that gets it right on the second try.
RERUNFAILURES = """
import pytest
from _pytest.runner import runtestprotocol

RERUNS = 2


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for attempt in range(RERUNS + 1):
        for report in runtestprotocol(item, nextitem=nextitem, log=False):
            report.rerun = attempt
            if report.failed and attempt < RERUNS:
                report.outcome = "rerun"
                item.ihook.pytest_runtest_logreport(report=report)
                break
            item.ihook.pytest_runtest_logreport(report=report)
        else:
            break
        fixed = item.path.with_suffix(".fixed")
        if fixed.exists():
            item.path.write_text(fixed.read_text())
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_report_teststatus(report):
    if report.outcome == "rerun":
        return "rerun", "R", "RERUN"
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_only_the_final_try_of_a_rerun_scenario_is_reported(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    """Each try counted as one more scenario: a scenario that passed on its rerun was listed as failed (the
    CI page red, the job green), one that failed three tries was three failures and a bogus pass^k."""
    pytester.makeconftest(RERUNFAILURES)
    target = pytester.path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    flaky = project.write_scenario("flaky", FORGETFUL)
    flaky.with_suffix(".fixed").write_text(FORGETFUL.replace("contains: Carol", "contains: Bob"))
    project.record("flaky", FORGETFUL_RESPONSES)
    run = pytester.runpytest_subprocess if workers else pytester.runpytest
    result = run(*workers, "--harness-html", "r.html", "--harness-summary-md", "r.md")
    result.assert_outcomes(passed=2, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*1 failed, 2 passed, 1 xfailed, 3 rerun*"])
    summary = (pytester.path / "r.md").read_text(encoding="utf-8")
    assert "**2 passed, 1 failed, 1 xfailed**" in summary
    assert summary.count("| `scenarios/forgetful.yaml` | failed |") == 1
    assert "flaky" not in summary and "pass^" not in summary
    page = (pytester.path / "r.html").read_text(encoding="utf-8")
    names = re.findall(r'<a href="#s\d">([^<]*)</a>', page)
    assert names == [f"scenarios/{name}.yaml" for name in ("flaky", "forgetful", "known_bug", "remember")]
    assert '<table id="reliability">' not in page
    assert "**2 passed, 1 failed, 1 xfailed**" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("option", ["--harness-html", "--harness-summary-md"])
def test_a_report_path_that_cannot_be_written_is_a_usage_error(
    pytester: pytest.Pytester, project: Project, option: str
) -> None:
    result = pytester.runpytest(option, "missing/report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option} missing/report: the folder */missing does not exist; create it first"])
    result.stdout.no_fnmatch_line("*passed*")


def test_a_report_over_the_agents_file_is_a_usage_error(pytester: pytest.Pytester, project: Project) -> None:
    before = project.agents.read_bytes()
    result = pytester.runpytest("--harness-html", "agents.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--harness-html */agents.yaml: that is the agents file, which the run reads*"])
    assert project.agents.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "path", "said"),
    [
        ("--junitxml", "agents.yaml", "that is the agents file, which the run reads"),
        ("--junitxml", "scenarios/remember.yaml", "that is a YAML file in the scenarios folder */scenarios, which"),
        ("--junitxml", "cassettes/remember.yaml", "that is a YAML file in the cassette folder */cassettes, which"),
        ("--html", "agents.yaml", "that is the agents file, which the run reads"),
    ],
)
def test_another_plugins_report_over_a_file_the_run_reads_is_a_usage_error(
    pytester: pytest.Pytester, project: Project, option: str, path: str, said: str
) -> None:
    """`pytest --junitxml=agents.yaml` replaced the agents file with the JUnit XML, where `--harness-html
    agents.yaml` was refused. pytest-html's `--html` is reproduced here, where pytest-html is not installed."""
    pytester.makeconftest(
        "def pytest_addoption(parser):\n    parser.addoption('--html', dest='htmlpath', metavar='path')\n"
    )
    target = pytester.path / path
    before = target.read_bytes()
    result = pytester.runpytest(f"{option}={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option} */{path}: {said}*; give another file name"])
    assert target.read_bytes() == before


def test_a_junit_report_over_yaml_is_left_to_pytest_without_the_harness(pytester: pytest.Pytester) -> None:
    """A project that does not use the harness (no agents file) is not told what its files are."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    (pytester.path / "agents.yml").write_text("x: 1\n", encoding="utf-8")
    pytester.runpytest("--junitxml=agents.yml").assert_outcomes(passed=1)
    assert (pytester.path / "agents.yml").read_text(encoding="utf-8").startswith("<?xml")


def test_the_github_step_summary_is_appended_to(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = pytester.path / "step.md"
    target.write_text("earlier\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    pytester.runpytest().assert_outcomes(passed=1, failed=1, xfailed=1)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("earlier\n## harness scenarios\n\n**1 passed, 1 failed, 1 xfailed**\n")
    assert "HTML report" not in text  # none was written


def test_no_step_summary_from_a_run_without_scenarios(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = pytester.path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    pytester.runpytest("test_plain.py").assert_outcomes(passed=1)
    assert not target.exists()


def test_the_plugin_names_the_step_summary_variable_as_the_report_does() -> None:
    """The plugin keeps its own copies of these names, so that loading it loads nothing of the harness."""
    from harness.project import DEFAULT_AGENTS_FILE

    assert pytest_plugin.STEP_SUMMARY == report_md.STEP_SUMMARY == "GITHUB_STEP_SUMMARY"
    assert pytest_plugin.DEFAULT_AGENTS_FILE == DEFAULT_AGENTS_FILE


def test_repeats_give_the_reports_pass_hat_k_as_harness_run_does(pytester: pytest.Pytester, project: Project) -> None:
    """pytest's reports had three identical rows for three repeats, and no pass^k: `harness run`'s had
    both. The failure names the repeat that failed (pytest plays every repeat in one item)."""
    import shutil

    shutil.copy(project.cassettes / "forgetful.yaml", project.cassettes / "remember.repeat-2.yaml")
    result = pytester.runpytest("-k", "remember", "--harness-html", "r.html", "--harness-summary-md", "r.md")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(["*scenarios/remember.yaml: repeat 2 (cassette remember.repeat-2.yaml):"])
    page = (pytester.path / "r.html").read_text(encoding="utf-8")
    names = re.findall(r'<a href="#s\d">([^<]*)</a>', page)
    assert names == ["scenarios/remember.yaml #1", "scenarios/remember.yaml #2"]
    assert '<table id="reliability">' in page
    assert "<tr><td>scenarios/remember.yaml</td><td>1/2</td><td>0.50</td><td>0.50</td><td>0.00</td></tr>" in page
    summary = (pytester.path / "r.md").read_text(encoding="utf-8")
    assert "Over repeats: pass@1 0.50, pass^1 0.50, pass^2 0.00" in summary


def test_the_reports_list_scenarios_in_the_order_harness_run_gives_whatever_the_paths_order(
    pytester: pytest.Pytester, project: Project
) -> None:
    """`harness run` listed a folder's scenarios as it walks them (`chat/a.yaml` before `chat-x.yaml`) and the
    PATHs in the order given, a file with mistakes last; pytest's reports sorted the paths as text
    (`chat-x.yaml` first, '-' being before '/'). Both now list by path, part by part, whatever the order given."""
    from harness.cli import main

    for name in ("chat/a", "chat-x", "b/z"):
        project.write_scenario(name, FORGETFUL)
    project.write_scenario("chat/broken", "agent: chat\nturns: []\n")  # a mistake: it runs nothing
    paths = ["scenarios/remember.yaml", "scenarios/chat", "scenarios/chat-x.yaml", "scenarios/b"]
    pytester.runpytest(*paths, "--harness-html", "p.html")
    main(["run", "--agents", str(project.agents), *reversed(paths), "--html", str(pytester.path / "h.html")])
    expected = [
        "scenarios/b/z.yaml",
        "scenarios/chat/a.yaml",
        "scenarios/chat/broken.yaml",
        "scenarios/chat-x.yaml",
        "scenarios/remember.yaml",
    ]
    for page in ("p.html", "h.html"):
        assert re.findall(r'<a href="#s\d">([^<]*)</a>', (pytester.path / page).read_text(encoding="utf-8")) == expected


@pytest.mark.parametrize("option", ["--collect-only", "--setup-plan"])
def test_a_run_that_runs_nothing_leaves_the_last_reports_as_they_were(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    """With the report options in `addopts` (a CI config), `pytest --co` replaced the last run's report with
    one of no scenario, and said it had written it."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider --harness-html r.html --harness-summary-md r.md\n")
    step = pytester.path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    pytester.runpytest().assert_outcomes(passed=1, failed=1, xfailed=1)
    written = {name: (pytester.path / name).read_bytes() for name in ("r.html", "r.md", "step.md")}
    result = pytester.runpytest(option)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("harness: * written to *")
    assert {name: (pytester.path / name).read_bytes() for name in written} == written
