"""The Markdown summary for CI pages: counts, failed scenarios with their first failing check, the HTML link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.report_md import STEP_SUMMARY, append_step_summary, markdown_summary, write_markdown
from harness.scenarios.results import reason_lines


def entry(name: str, outcome: str, **extra: Any) -> dict[str, Any]:
    return {"scenario": name, "outcome": outcome, "failures": [], "failed_checks": [], **extra}


CHECK = {
    "file": "scenarios/forgetful.yaml",
    "line": 7,
    "key": "turns[0].expect.blocks.human.contains",
    "message": "block 'human' does not contain 'Carol'",
    "turn": 1,
}
REPORT: dict[str, Any] = {
    "summary": {"passed": 1, "failed": 1, "xfailed": 1, "xpassed": 0, "error": 0},
    "scenarios": [
        entry("scenarios/remember.yaml", "passed"),
        entry(
            "scenarios/forgetful.yaml",
            "failed",
            failures=["scenarios/forgetful.yaml:7: ...", "  in turn 1"],
            failed_checks=[CHECK, {**CHECK, "key": "second"}],
        ),
        entry("scenarios/known.yaml", "xfailed", failures=["x"], failed_checks=[CHECK]),
    ],
}


def test_counts_and_the_first_failing_check_of_each_failed_scenario() -> None:
    text = markdown_summary(REPORT)
    assert text.splitlines() == [
        "## harness scenarios",
        "",
        "**1 passed, 1 failed, 1 xfailed**",
        "",
        "| scenario | result | first failing check |",
        "|---|---|---|",
        "| `scenarios/forgetful.yaml` | failed | `scenarios/forgetful.yaml:7` "
        "`turns[0].expect.blocks.human.contains`: block 'human' does not contain 'Carol' |",
    ]
    assert text.endswith(" |\n")


def test_a_scenario_without_a_failed_check_shows_its_first_explanation_line() -> None:
    stale = entry("scenarios/s.yaml", "failed", failures=["", "scenarios/s.yaml: has not been recorded yet"])
    text = markdown_summary({"summary": {"failed": 1}, "scenarios": [stale]})
    assert "| `scenarios/s.yaml` | failed | scenarios/s.yaml: has not been recorded yet |" in text


def test_a_dataset_row_or_later_repeat_shows_its_reason_not_the_header_naming_it(tmp_path: Path) -> None:
    """`explain()` starts a row's or a repeat's explanation with a header (`x.yaml: dataset row 'b':`,
    `x.yaml: repeat 3 (cassette x.repeat-3.yaml):`): the cell showed that, empty after its colon."""
    from harness.report import json_report
    from harness.scenarios.model import load_scenarios_partially
    from harness.scenarios.results import Outcome, ScenarioResult
    from tests.fakes import REMEMBER, make_project

    dataset = "agent: chat\ndataset: rows.jsonl\nturns:\n  - user: 'Hello {w}'\n"
    project = make_project(tmp_path / "p", {"remember": REMEMBER + "xfail: it used to forget\n", "rows": dataset})
    (project.root / "scenarios" / "rows.jsonl").write_text('{"id": "b", "w": "x"}\n', encoding="utf-8")
    (row,), _ = load_scenarios_partially(project.scenario_path("rows"))
    runner = project.runner()
    known = project.scenario("remember")
    results = [
        runner.run(row),  # never recorded
        runner.run(project.scenario("remember"), variant=3),  # a repeat never recorded
        ScenarioResult(known, project.cassettes / "remember.repeat-2.yaml", Outcome.XPASSED, variant=2),
    ]
    text = markdown_summary(json_report(results, project.root))
    cells = [line.split(" | ")[2] for line in text.splitlines() if line.startswith("| `scenarios/")]
    assert cells == [  # by path
        "scenarios/remember.yaml:4: no cassette at cassettes/remember.repeat-3.yaml: repeat 3 has not been recorded |",
        "scenarios/remember.yaml:17: xfail: expected to fail (it used to forget) but every check passed: "
        "remove \\`xfail\\` if the behaviour is fixed |",
        "scenarios/rows.yaml:4: no cassette at cassettes/rows/b.yaml: this scenario has not been recorded yet |",
    ]


def test_all_passing_has_no_table_and_nothing_is_no_scenarios() -> None:
    text = markdown_summary({"summary": {"passed": 2, "failed": 0}, "scenarios": [entry("a", "passed")]})
    assert "**2 passed**" in text and "|" not in text
    assert "**no scenarios**" in markdown_summary({"summary": {"passed": 0}, "scenarios": []})


def test_model_text_cannot_break_the_table_or_inject_markup() -> None:
    check = {**CHECK, "message": "block has 'a | b\n<script>x</script> [link](http://evil)'"}
    text = markdown_summary({"summary": {"failed": 1}, "scenarios": [entry("s|x`", "failed", failed_checks=[check])]})
    row = text.splitlines()[6]
    assert row.count(" | ") == 2 and row.startswith("| `s\\|x'` |")  # three cells, whatever the text held
    assert "<script>" not in text and "\\<script\\>" in text
    assert "[link](" not in text and "\\[link\\](" in text  # no link: the brackets are escaped


def test_links_the_html_report_relative_to_the_summary(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    md = tmp_path / "ci" / "summary.md"
    write_markdown(REPORT, md, tmp_path / "out dir" / "report.html")
    assert md.read_text(encoding="utf-8").splitlines()[-1] == "[HTML report](../out%20dir/report.html)"
    write_markdown(REPORT, md)
    assert "HTML report" not in md.read_text(encoding="utf-8")


def test_appended_to_the_github_step_summary_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STEP_SUMMARY, raising=False)
    assert append_step_summary(REPORT) is None
    target = tmp_path / "step_summary.md"
    target.write_text("# an earlier step\n", encoding="utf-8")
    monkeypatch.setenv(STEP_SUMMARY, str(target))
    monkeypatch.chdir(tmp_path)
    assert append_step_summary(REPORT, tmp_path / "report.html") == target
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# an earlier step\n## harness scenarios\n")  # appended, the earlier step's kept
    assert "[HTML report](report.html)" in text


def test_a_lone_surrogate_is_written_as_a_replacement_character(tmp_path: Path) -> None:
    check = {**CHECK, "message": "half a pair: \ud800"}
    md = tmp_path / "summary.md"
    write_markdown({"summary": {"failed": 1}, "scenarios": [entry("s", "failed", failed_checks=[check])]}, md)
    assert "half a pair: \ufffd" in md.read_text(encoding="utf-8")


def test_repeats_give_the_suites_pass_hat_k_and_numbered_failures() -> None:
    report = {
        **REPORT,
        "scenarios": [{**s, "repeat": 2} for s in REPORT["scenarios"]],
        "reliability": {"scenarios": [], "suite": {"pass_at_1": 0.5, "pass_hat": {"1": 0.5, "2": 0.25}}},
    }
    text = markdown_summary(report)
    assert "Over repeats: pass@1 0.50, pass^1 0.50, pass^2 0.25" in text.splitlines()
    assert "| `scenarios/forgetful.yaml #2` | failed |" in text
    assert "Over repeats" not in markdown_summary(REPORT) and ".yaml #" not in markdown_summary(REPORT)


def test_dataset_rows_are_named_apart_and_only_repeated_runs_numbered() -> None:
    """Every row of a dataset file was named by the file alone, so which row failed could not be told; and
    once any scenario had repeats, every entry got `#1`."""
    report = {
        "summary": {"failed": 3, "passed": 0},
        "scenarios": [
            entry("scenarios/intro.yaml", "failed", row="azin", failed_checks=[CHECK]),
            entry("scenarios/intro.yaml", "failed", row="carol", failed_checks=[CHECK]),
            entry("scenarios/flaky.yaml", "failed", repeat=2, failed_checks=[CHECK]),
        ],
    }
    names = [line.split("`")[1] for line in markdown_summary(report).splitlines() if line.startswith("| `")]
    assert names == ["scenarios/intro.yaml[azin]", "scenarios/intro.yaml[carol]", "scenarios/flaky.yaml #2"]


@pytest.mark.parametrize(
    "header", ["s.yaml: model 'org/m:2':", "s.yaml: dataset row 'b', model 'm':", "s.yaml: dataset row 'b':"]
)
def test_a_matrix_models_header_is_not_taken_for_the_reason(header: str) -> None:
    assert reason_lines([header, "s.yaml:4: reply.contains: the reply does not contain 'x'"]) == [
        "s.yaml:4: reply.contains: the reply does not contain 'x'"
    ]
