"""What a run tells its users: the summary table and the JSON report (deterministic apart from timings,
with secrets masked)."""

from __future__ import annotations

import dataclasses
import functools
import os
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath
from typing import Any

from harness import jsontext
from harness.output import write_output
from harness.records import ContextEvent
from harness.reliability import has_repeats, reliability, reliability_report
from harness.scenarios.checks import Failure, Judgement
from harness.scenarios.results import STOPPED, Outcome, ScenarioResult, TurnRecord
from harness.secrets import Secrets
from harness.yamlsource import dotted

SYMBOLS = {
    Outcome.PASSED: "PASS",
    Outcome.FAILED: "FAIL",
    Outcome.XFAILED: "XFAIL",
    Outcome.XPASSED: "XPASS",
    Outcome.ERROR: "ERROR",
}
STALE = "stale_cassette"  # a turn the cassette could not answer: it has no stop reason
MODEL_ERROR = "model_error"  # a turn ended by an answer the loop could not use (the turn's `error` says)


COLOURS = {
    Outcome.PASSED: "32",  # green
    Outcome.FAILED: "31",  # red
    Outcome.XFAILED: "33",  # yellow
    Outcome.XPASSED: "31",
    Outcome.ERROR: "31",
}


def summary_table(
    results: list[ScenarioResult],
    root: Path,
    colour: bool = False,
    unrunnable: Sequence[Path] = (),
    not_run: int = 0,
) -> str:
    """The table `harness run` prints; `colour` paints each result (for a terminal that wants it).
    `unrunnable`: scenario files with mistakes, each an error row (as the reports count them); `not_run`:
    the runs `-x` left out when it stopped, said under the counts."""
    matrix = any(result.scenario.model is not None for result in results)
    rows = [("scenario", "agent", *(["model"] if matrix else []), "turns", "steps", "result", "time")]
    repeated = {result.scenario.path for result in results if result.variant > 1}
    for result in results:
        rows.append(
            (
                _relative(result.scenario.path, root)
                + (f"[{result.scenario.row}]" if result.scenario.row is not None else "")
                + (f" #{result.variant}" if result.scenario.path in repeated else ""),
                result.scenario.agent,
                *([result.scenario.model or "-"] if matrix else []),
                str(len(result.turns)),
                str(result.steps),
                SYMBOLS[result.outcome],
                f"{result.seconds * 1000:.0f} ms",
            )
        )
    for path in unrunnable:
        rows.append((_relative(path, root), "-", *(["-"] if matrix else []), "-", "-", SYMBOLS[Outcome.ERROR], "-"))
    widths = [max(columns(row[i]) for row in rows) for i in range(len(rows[0]))]
    marked = len(rows[0]) - 2  # the result column is the last but one
    lines = []
    for n, row in enumerate(rows):
        cells = [cell + " " * (widths[i] - columns(cell)) for i, cell in enumerate(row)]
        if colour and 1 <= n <= len(results):
            outcome = results[n - 1].outcome
            mark = SYMBOLS[outcome]
            cells[marked] = f"\x1b[{COLOURS[outcome]}m{mark}\x1b[0m{cells[marked][len(mark) :]}"
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = _counts(results)
    counts[Outcome.ERROR] += len(unrunnable)
    lines.append("")
    lines.append(", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n) or "no scenarios")
    if not_run:
        lines.append(f"{STOPPED}: {not_run} scenario run(s) not run")
    return "\n".join(lines)


def matrix_table(results: list[ScenarioResult], shown: dict[Path, str]) -> str:
    """A model matrix side by side: one row a scenario (and dataset row), one column a model; a cell is the
    outcome, or passes/runs over repeats."""
    models = list(dict.fromkeys(result.scenario.model or "-" for result in results))
    cells: dict[str, dict[str, list[ScenarioResult]]] = {}
    for result in results:
        scenario = result.scenario
        name = shown.get(scenario.path, str(scenario.path)) + (f"[{scenario.row}]" if scenario.row is not None else "")
        cells.setdefault(name, {}).setdefault(scenario.model or "-", []).append(result)

    def cell(runs: list[ScenarioResult]) -> str:
        if not runs:
            return ""
        if len(runs) == 1:
            return SYMBOLS[runs[0].outcome]
        return f"{sum(1 for run in runs if run.checks_passed)}/{len(runs)} passed"

    rows = [["scenario", *models]] + [[name, *(cell(by.get(m, [])) for m in models)] for name, by in cells.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def columns(text: str) -> int:
    """The terminal columns `text` takes, near enough as wcwidth counts them: 2 for a wide or fullwidth
    character (CJK, most emoji), 0 for a combining mark or a format character (a decomposed accent, a
    zero-width joiner, a variation selector), else 1. `len` pushed the columns after a `中文.yaml` out of line."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.category(char) in _NO_COLUMN else 2 if unicodedata.east_asian_width(char) in _TWO else 1
        for char in text
    )


_NO_COLUMN = frozenset({"Mn", "Me", "Cf"})
_TWO = frozenset({"W", "F"})


def _counts(results: list[ScenarioResult]) -> dict[Outcome, int]:
    return {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in Outcome}


@functools.lru_cache(maxsize=8192)
def _relative(path: Path, root: Path) -> str:
    """`path` as shown in reports; worked out once per path (resolving costs system calls, and a report
    names each scenario in several places)."""
    try:  # without touching the file system first; resolved (symbolic links followed) when that fails
        return str(Path(os.path.abspath(path)).relative_to(os.path.abspath(root)))
    except ValueError:
        pass
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def scenario_report(result: ScenarioResult, root: Path) -> dict[str, Any]:
    scenario = result.scenario
    shown = _relative(scenario.path, root)
    return {
        "scenario": shown,
        "agent": scenario.agent,
        "description": scenario.description,
        "row": scenario.row,
        "model": scenario.model,
        "repeat": result.variant,
        "outcome": str(result.outcome),
        "xfail_reason": scenario.xfail,
        "failures": _from_root(result.explain(), str(scenario.path), shown) if result.outcome != Outcome.PASSED else [],
        "failed_checks": [_failed_check(result, failure, root) for failure in result.failures],
        **(
            {"judgements": [_judgement(result, judged, root) for judged in result.judgements]}
            if result.judgements
            else {}
        ),
        "cassette": _relative(result.cassette, root),
        "not_recorded": result.not_recorded,
        "recorded_with": result.recorded_with,
        "unplayed_interactions": result.unplayed,
        "initial_blocks": result.initial_blocks,
        "turns": _turns(result),
        "timing": {"seconds": round(result.seconds, 4)},
    }


def _from_root(text: str, typed: str, shown: str) -> list[str]:
    """The lines of a failure, those locating it in the scenario file naming it as the report does (a run
    from a subfolder located it by the path as typed there, and one report named one file two ways)."""
    lines = text.splitlines()
    if typed == shown:
        return lines
    out = []
    for line in lines:
        said = "error: " if line.startswith("error: ") else ""  # an error that ended the run, located too
        rest = line[len(said) :]
        out.append(said + shown + rest[len(typed) :] if rest.startswith(typed + ":") else line)
    return out


def unrunnable_report(path: Path, root: Path, message: str) -> dict[str, Any]:
    """An entry of the same shape for a scenario that could not run at all (a mistake in its file or in the
    agents file: under pytest the other scenarios still run, and the reports count this one as an error)."""
    return {
        "scenario": _relative(path, root),
        "agent": "",
        "description": None,
        "row": None,
        "model": None,
        "outcome": str(Outcome.ERROR),
        "repeat": 1,
        "xfail_reason": None,
        "failures": message.splitlines(),
        "failed_checks": [],
        "cassette": "",
        "not_recorded": False,
        "recorded_with": {},
        "unplayed_interactions": [],
        "initial_blocks": {},
        "turns": [],
        "timing": {"seconds": 0.0},
    }


def _failed_check(result: ScenarioResult, failure: Failure, root: Path) -> dict[str, Any]:
    """One failing check, located: what the Markdown summary shows without parsing the explanation."""
    loc = failure.loc
    return {
        "file": _relative(result.scenario.path, root),
        "line": result.scenario.line(loc),
        "key": failure.key,
        "message": failure.message,
        "turn": int(loc[1]) + 1 if loc[0] == "turns" else None,
    }


def _judgement(result: ScenarioResult, judged: Judgement, root: Path) -> dict[str, Any]:
    """A judge's verdict, located as a failed check is: a passing one's score and reason are in no other
    report (a pass at 0.51 against 0.5 reads as news beside one at 1.0)."""
    loc = judged.loc
    return {
        "file": _relative(result.scenario.path, root),
        "line": result.scenario.line(loc),
        "key": dotted(loc),
        "turn": int(loc[1]) + 1 if loc[0] == "turns" else None,
        "judged": judged.what,
        "model": judged.model,  # the judge's (a check's `model:` may name another than the agent's)
        "rubric": judged.rubric,
        "score": judged.score,
        "threshold": judged.threshold,
        "passed": judged.passed,
        "reason": judged.reason,
    }


def _turns(result: ScenarioResult) -> list[dict[str, Any]]:
    """The turns, each with `blocks_before` where its agent's blocks before it are not what the turn before
    left (another agent took one of the two): a diff of a turn compares with those, so a block the other
    agent holds under the same label does not show as edited."""
    out = []
    left = result.initial_blocks
    for turn in result.turns:
        before = turn.blocks_before
        out.append(_turn(turn, before if before is not None and before != left else None))
        left = turn.blocks
    return out


def _turn(turn: TurnRecord, before: dict[str, str] | None) -> dict[str, Any]:
    outcome = turn.result
    return {
        **({"agent": turn.agent} if turn.agent else {}),  # another agent took this turn
        "user": turn.user,
        "stop_reason": str(outcome.stop_reason) if outcome else MODEL_ERROR if turn.error else STALE,
        "reply": outcome.reply if outcome else None,
        "steps": [
            {
                "thoughts": step.content,
                "model": step.model,
                "finish_reason": step.finish_reason,
                "refusal": step.refusal,
                "tool_calls": [
                    {
                        "name": call.name,
                        "arguments": call.arguments,
                        "ok": call.ok,
                        "result": call.result,
                        "request_heartbeat": call.heartbeat,
                        # what a custom tool printed, when it did (Letta keeps it with the call, as here)
                        **({"stdout": call.stdout} if call.stdout else {}),
                        **({"stderr": call.stderr} if call.stderr else {}),
                    }
                    for call in step.tool_calls
                ],
                # What context pressure did before this step (a warning, an eviction with its summary).
                **({"context": [_context_event(event) for event in step.context]} if step.context else {}),
            }
            for step in turn.steps  # a turn that broke off: the steps it finished
        ],
        "messages": turn.messages,
        **({"blocks_before": before} if before is not None else {}),
        "blocks": turn.blocks,
        # the blocks the turn renamed, new label: old (a label gone from `blocks` and not here was deleted)
        **({"renamed": renamed} if (renamed := turn.renamed) else {}),
        **({"error": turn.error} if turn.error else {}),
    }


def _context_event(event: ContextEvent) -> dict[str, Any]:
    shown = {key: value for key, value in dataclasses.asdict(event).items() if value is not None}
    return {**shown, "kind": event.kind.value}


def json_report(
    results: list[ScenarioResult],
    root: Path,
    secrets: Secrets | None = None,
    unrunnable: Sequence[tuple[Path, str]] = (),
    not_run: int = 0,
) -> dict[str, Any]:
    """The data every report is made from (JSON, HTML, Markdown): counts, then one entry a scenario, and one
    (an error) for each scenario file that could not run, with what is wrong in it; `secrets` (default:
    those of the environment) are masked in every string. `not_run`: the runs `-x` left out when it stopped
    (a `not_run` key then, after `summary`; absent on a run that ran everything)."""
    counts = _counts(results)
    counts[Outcome.ERROR] += len(unrunnable)
    results = sorted(results, key=lambda result: path_order(_relative(result.scenario.path, root)))
    report: dict[str, Any] = {
        "summary": {str(outcome): n for outcome, n in counts.items()},
        **({"not_run": {"count": not_run, "reason": STOPPED}} if not_run else {}),
        "scenarios": report_order(
            [scenario_report(result, root) for result in results]
            + [unrunnable_report(path, root, message) for path, message in unrunnable]
        ),
    }
    if has_repeats(results):
        shown = {result.scenario.path: _relative(result.scenario.path, root) for result in results}
        report["reliability"] = reliability_report(reliability(results), shown)
    return (Secrets.collect() if secrets is None else secrets).mask_data(report)


def report_order(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Report entries in one order, whatever the order of the paths given or of completion: by scenario path
    as a folder is walked (`chat/x.yaml` before `chat-extra.yaml`), a file's rows, models and repeats as they
    came. `harness run` and pytest (under pytest-xdist too) write the same files for the same scenarios."""
    return sorted(entries, key=lambda entry: path_order(str(entry["scenario"])))


def path_order(shown: str) -> tuple[str, ...]:
    """The sort key of a scenario path as reports show it: part by part, as `discover` orders a folder's files."""
    return PurePath(shown).parts


def summary_of(scenarios: list[dict[str, Any]]) -> dict[str, int]:
    """The `summary` counts of scenario entries (as `json_report` gives them), e.g. gathered by pytest."""
    return {str(outcome): sum(1 for s in scenarios if s["outcome"] == outcome) for outcome in Outcome}


def write_report(results: list[ScenarioResult], path: Path, root: Path, secrets: Secrets | None = None) -> None:
    """`secrets` (default: those of the environment) are masked in every string of the report."""
    write_json_report(json_report(results, root, secrets), path)


def write_json_report(data: dict[str, Any], path: Path) -> None:
    """`json_report`'s data written to `path` (whole or not at all)."""
    write_output(path, jsontext.dumps(data, indent=2) + "\n")
