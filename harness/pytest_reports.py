"""The reports of a pytest run's scenarios: `--harness-html FILE`, `--harness-summary-md FILE`, and the
summary appended to `$GITHUB_STEP_SUMMARY` when that is set.

Each scenario item puts its JSON report entry on its test report (`harness_scenario`), which pytest-xdist
carries from the worker to the controller like any report attribute; the controller gathers the entries
and writes the files once the session ends, ordered by scenario path so that the files do not depend on
which worker ran what.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.errors import OutputError
from harness.files import unwritable_reason

ENTRY = "harness_scenarios"  # the TestReport attribute holding the JSON report entries of a scenario file
RERUN = "rerun"  # pytest-rerunfailures' outcome of a try that is run again


class ScenarioReports:
    """Registered on the controller (or the only process) when a report is wanted."""

    def __init__(self, html: Path | None, markdown: Path | None) -> None:
        self.html = html
        self.markdown = markdown
        self.tried: dict[str, list[dict[str, Any]]] = {}  # the entries of each item's latest try, by node id
        self.unwritten: list[str] = []  # why a file could not be written (a full disk), said in the summary

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [entry for entries in self.tried.values() for entry in entries]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """An item's entries, its final try's only: pytest-rerunfailures runs a failed item again and reports
        each earlier try with the outcome "rerun" (as pytest and JUnit, which count the item once, by its
        last try); a plugin that runs an item again some other way reports it under the same node id."""
        entries = getattr(report, ENTRY, None)
        rerun = str(report.outcome) == RERUN  # an outcome pytest's own typing does not know
        if isinstance(entries, list) and not rerun:
            self.tried[report.nodeid] = [entry for entry in entries if isinstance(entry, dict)]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if _nothing_ran(session.config):
            self.html = self.markdown = None  # the last run's report stays as it was, and is not said written
            return
        if not self.entries and self.html is None and self.markdown is None:
            return  # only a CI page waits, and no scenario ran: nothing to import, nothing to say
        from harness.report import report_order, summary_of
        from harness.report_md import append_step_summary, write_markdown

        entries = report_order(self.entries)
        data = {"summary": summary_of(entries), "scenarios": entries}
        if any(entry.get("repeat", 1) > 1 for entry in entries):  # pass@1 and pass^k, as `harness run` gives
            from harness.reliability import reliability_of_entries, reliability_report

            data["reliability"] = reliability_report(reliability_of_entries(entries), {})
        html, markdown = self.html, self.markdown
        # In order, each attribute reset next to its own write: a file not written is not said written, and
        # an HTML report not written is not linked from the summaries written after it.
        if html is not None:
            from harness.report_html import write_html

            page = html
            if not self._wrote(lambda: write_html(data, page)):
                self.html = html = None
        if markdown is not None and not self._wrote(lambda: write_markdown(data, markdown, html)):
            self.markdown = None
        if entries:
            self._wrote(lambda: append_step_summary(data, html))
        if self.unwritten and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _wrote(self, write: Callable[[], object]) -> bool:
        """Whether `write` wrote its file; if not, why is kept to say in one line, as `harness run` says
        it: no traceback."""
        try:
            write()
        except OutputError as exc:
            self.unwritten.append(str(exc))
            return False
        return True

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for what, path in (("HTML report", self.html), ("Markdown summary", self.markdown)):
            if path is not None:
                terminalreporter.write_line(f"harness: {what} written to {path}")
        for reason in self.unwritten:
            terminalreporter.write_line(f"harness: error: {reason}", red=True)


def _nothing_ran(config: pytest.Config) -> bool:
    """`pytest --collect-only` (or `--setup-only`, `--setup-plan`) with a report option: `addopts` in a CI
    config gives it to every run, and a report of no scenario would replace the last real one."""
    return any(config.getoption(name, False) for name in ("collectonly", "setuponly", "setupplan"))


def checked_path(given: str, option: str) -> Path:
    """A report path, checked before anything runs (a run must not end unable to write its report); relative
    to the folder pytest was started in, as `--junitxml`."""
    path = Path(given).absolute()
    if path.is_dir():
        raise pytest.UsageError(f"{option} {given}: is a folder; give a file name")
    reason = unwritable_reason(path)
    if reason is not None:
        raise pytest.UsageError(f"{option} {given}: {reason}")
    return path
