"""Reliability over repeats: pass@1 and pass^k per scenario and over the suite, as tau2-bench defines them.

A scenario run n times with c successes has pass^k = C(c, k) / C(n, k): the chance that k runs drawn
from the n all succeed (pass^1 is pass@1 = c / n). The suite's figure is the mean over its scenarios.
Because every repeat is recorded as a variant of the scenario's cassette, `harness run` computes the
same figures offline from the recordings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any

from harness.scenarios.results import Outcome, ScenarioResult


def pass_hat_k(n: int, c: int, k: int) -> float:
    """C(c, k) / C(n, k); 0 when k exceeds the runs there are."""
    if not 0 < k <= n:
        return 0.0
    return comb(c, k) / comb(n, k)


@dataclass
class ScenarioReliability:
    scenario: Path
    runs: int
    passes: int
    failed_checks: dict[int, list[str]] = field(default_factory=dict)  # repeat -> the checks that failed
    row: str | None = None  # the dataset row, for a scenario made from one
    model: str | None = None  # the matrix model, for a scenario of a model matrix
    repeats: int = 0  # the repeats the run meant to play, when `-x` stopped before its last (else `runs`)

    def pass_hat(self, k: int) -> float:
        return pass_hat_k(self.runs, self.passes, k)

    @property
    def partial(self) -> str:
        """` (3 of 4 repeats run)` when `-x` stopped before every repeat ran (its figures are over those that
        did), else nothing."""
        return f" ({self.runs} of {self.repeats} repeats run)" if self.repeats > self.runs else ""


STALE = "stale cassette"
NOT_RECORDED = "not recorded"


def reliability(results: list[ScenarioResult]) -> list[ScenarioReliability]:
    """One entry per scenario, over its repeats (in the order the scenarios first appear)."""
    by_scenario: dict[tuple[Path, str | None, str | None], ScenarioReliability] = {}
    for result in results:
        scenario = result.scenario
        key = (scenario.path, scenario.row, scenario.model)
        entry = by_scenario.setdefault(
            key, ScenarioReliability(scenario.path, 0, 0, row=scenario.row, model=scenario.model)
        )
        entry.runs += 1
        entry.repeats = max(entry.repeats, result.repeats or 0)
        if result.checks_passed:
            entry.passes += 1
        else:
            failed = list(dict.fromkeys(failure.key for failure in result.failures))  # a key once, failing twice
            if result.stale:
                failed.append(NOT_RECORDED if result.not_recorded else STALE)
            if result.error is not None:
                failed.append("error")
            entry.failed_checks[result.variant] = failed
    return list(by_scenario.values())


def reliability_of_entries(entries: list[dict[str, Any]]) -> list[ScenarioReliability]:
    """The same figures from report entries (`report.scenario_report`: what pytest's workers send, the
    failed checks by key, a stale cassette as a failure no check names). An entry for a scenario file with
    mistakes (no cassette: it ran nothing) counts in none, as `harness run` leaves those files out."""
    by_scenario: dict[tuple[str, str | None, str | None], ScenarioReliability] = {}
    for entry in entries:
        if not entry.get("cassette"):
            continue
        key = (entry["scenario"], entry.get("row"), entry.get("model"))
        found = by_scenario.setdefault(
            key, ScenarioReliability(Path(entry["scenario"]), 0, 0, row=entry.get("row"), model=entry.get("model"))
        )
        found.runs += 1
        if entry["outcome"] in (Outcome.PASSED, Outcome.XPASSED):
            found.passes += 1
            continue
        failed = list(dict.fromkeys(str(check["key"]) for check in entry.get("failed_checks", [])))
        if entry.get("not_recorded"):  # an error too (nothing to play), said as `harness run` says it
            failed.append(NOT_RECORDED)
        elif entry["outcome"] == Outcome.ERROR:
            failed.append("error")
        elif not failed:
            failed.append(STALE)
        found.failed_checks[int(entry.get("repeat", 1))] = failed
    return list(by_scenario.values())


def has_repeats(results: list[ScenarioResult]) -> bool:
    return any(result.variant > 1 for result in results)


def reliability_table(entries: list[ScenarioReliability], shown: dict[Path, str]) -> str:
    """pass@1 and pass^j for j = 1..k (k: the most repeats of any scenario), per scenario and the mean."""
    k = max((entry.runs for entry in entries), default=1)
    header = ["scenario", "passes", "pass@1", *[f"pass^{j}" for j in range(1, k + 1)]]
    rows = [header]
    for entry in entries:
        rows.append(
            [
                _name(entry, shown) + entry.partial,
                f"{entry.passes}/{entry.runs}",
                f"{entry.pass_hat(1):.2f}",
                *[f"{entry.pass_hat(j):.2f}" if j <= entry.runs else "-" for j in range(1, k + 1)],
            ]
        )
    if entries:
        repeated = _most_repeated(entries)
        label = (
            "suite (mean)"
            if len(repeated) == len(entries)
            else f"suite (mean; pass@1 of all {len(entries)}, pass^j of the {len(repeated)} run {k}x)"
        )
        rows.append(
            [
                label,
                f"{sum(e.passes for e in entries)}/{sum(e.runs for e in entries)}",
                f"{_mean(entries, 1):.2f}",
                *[f"{_mean(repeated, j):.2f}" for j in range(1, k + 1)],
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for entry in entries:
        for variant, checks in sorted(entry.failed_checks.items()):
            name = _name(entry, shown)
            lines.append(f"{name} repeat {variant} failed: {', '.join(checks) or 'a check'}")
    return "\n".join(lines)


def reliability_report(entries: list[ScenarioReliability], shown: dict[Path, str]) -> dict[str, Any]:
    k = max((entry.runs for entry in entries), default=1)
    repeated = _most_repeated(entries)
    return {
        "scenarios": [
            {
                "scenario": _name(entry, shown),
                "row": entry.row,
                "model": entry.model,
                "runs": entry.runs,
                "repeats": max(entry.repeats, entry.runs),  # above `runs`: -x stopped before the rest ran
                "passes": entry.passes,
                "pass_at_1": entry.pass_hat(1),
                "pass_hat": {str(j): entry.pass_hat(j) for j in range(1, entry.runs + 1)},
                "failed_checks": {str(v): checks for v, checks in sorted(entry.failed_checks.items())},
            }
            for entry in entries
        ],
        "suite": {
            "pass_at_1": _mean(entries, 1),
            "pass_hat": {str(j): _mean(repeated, j) for j in range(1, k + 1)},
            "pass_hat_over": len(repeated),  # the scenarios the pass^j means are taken over
        },
    }


def _name(entry: ScenarioReliability, shown: dict[Path, str]) -> str:
    name = shown.get(entry.scenario, str(entry.scenario))
    name = name if entry.row is None else f"{name}[{entry.row}]"
    return name if entry.model is None else f"{name} on {entry.model}"


def _mean(entries: list[ScenarioReliability], k: int) -> float:
    """The mean pass^k of `entries` (each run at least k times)."""
    return sum(entry.pass_hat(k) for entry in entries) / len(entries) if entries else 0.0


def _most_repeated(entries: list[ScenarioReliability]) -> list[ScenarioReliability]:
    """The scenarios run as often as the most repeated one: the suite's pass^j, for every j, is their mean.
    Over one set of scenarios it falls as j grows, as each scenario's does; taken over the scenarios run j
    times or more (a different set for each j), pass^3 could come out above pass^1. A scenario run fewer
    times is left out (its pass^k is undefined, not 0)."""
    k = max((entry.runs for entry in entries), default=1)
    return [entry for entry in entries if entry.runs >= k]
