"""The Markdown summary for CI job pages (GitHub's `$GITHUB_STEP_SUMMARY`): the counts, each failed scenario
with its first failing check, and a link to the HTML report. Built from the JSON report's data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.errors import OutputError
from harness.files import cannot_write
from harness.jsontext import storable
from harness.output import write_output
from harness.scenarios.results import Outcome, entry_name, not_run_line, reason_lines, repeated_runs

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def markdown_summary(report: dict[str, Any], html: str | None = None) -> str:
    """`html`: the HTML report's address as the reader should follow it, when one was written."""
    counts = ", ".join(f"{n} {outcome}" for outcome, n in report["summary"].items() if n) or "no scenarios"
    lines = ["## harness scenarios", "", f"**{_md(counts)}**", ""]
    stopped = not_run_line(report)
    if stopped is not None:
        lines += [_md(stopped[:1].upper() + stopped[1:]) + ".", ""]
    repeated = report.get("reliability")
    if repeated:
        suite = repeated["suite"]
        hats = ", ".join(f"pass^{k} {value:.2f}" for k, value in suite["pass_hat"].items())
        over = suite.get("pass_hat_over", len(repeated["scenarios"]))
        among = "" if over == len(repeated["scenarios"]) else f" (pass^k over the {over} scenario(s) repeated most)"
        lines += [f"Over repeats: pass@1 {suite['pass_at_1']:.2f}, {hats}{among}", ""]
    failed = [s for s in report["scenarios"] if not Outcome(s["outcome"]).ok]
    if failed:
        lines += ["| scenario | result | first failing check |", "|---|---|---|"]
        runs = repeated_runs(report["scenarios"])
        for s in failed:
            name = entry_name(s, runs)
            lines.append(f"| `{_code(name)}` | {s['outcome']} | {_first_check(s)} |")
        lines.append("")
    if html is not None:
        lines += [f"[HTML report]({_link(html)})", ""]
    return "\n".join(lines)


def _first_check(scenario: dict[str, Any]) -> str:
    checks = scenario.get("failed_checks") or []
    if checks:
        check = checks[0]
        where = f"{check['file']}:{check['line']}" if check.get("line") else check["file"]
        return f"`{_code(where)}` `{_code(check['key'])}`: {_md(check['message'])}"
    # A stale cassette, an unreadable one, an error, an xfail scenario that passed: the first line that says
    # why, not the header naming the dataset row or repeat
    reasons = reason_lines(scenario["failures"])
    return _md(reasons[0] if reasons else "")


def _md(text: str) -> str:
    """Text safe in a Markdown table cell: no line breaks, pipes, HTML or link syntax from model output."""
    text = " ".join(text.split())
    for char in "\\`*_[]<>|#!":
        text = text.replace(char, f"\\{char}")
    return text


def _code(text: str) -> str:
    return " ".join(text.split()).replace("`", "'").replace("|", "\\|")


def _link(target: str) -> str:
    return target.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def write_markdown(report: dict[str, Any], path: Path, html: Path | None = None) -> None:
    write_output(path, storable(markdown_summary(report, _relative_link(html, path.parent) if html else None)))


def append_step_summary(report: dict[str, Any], html: Path | None = None) -> Path | None:
    """Append the summary to `$GITHUB_STEP_SUMMARY` when the variable is set (GitHub gives a file to append
    to, shared by every step of the job); the file it wrote to, or None."""
    target = os.environ.get(STEP_SUMMARY)
    if not target:
        return None
    path = Path(target)
    text = storable(markdown_summary(report, _relative_link(html, Path.cwd()) if html else None)) + "\n"
    try:
        with path.open("a", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:  # a full disk: the job's page misses the summary, said in one line
        raise OutputError(cannot_write(f"${STEP_SUMMARY} {path}", exc, "the job's summary misses this run")) from None
    return path


def _relative_link(html: Path, folder: Path) -> str:
    """The HTML report's path from `folder`, as a link in a file there would follow it."""
    try:
        return Path(os.path.relpath(html.resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive
        return html.as_posix()
