"""What a run tells its users: the summary table and the JSON report (deterministic apart from timings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.scenarios.runner import ScenarioResult, TurnRecord

SYMBOLS = {"passed": "PASS", "failed": "FAIL", "xfailed": "XFAIL", "xpassed": "XPASS", "error": "ERROR"}


def summary_table(results: list[ScenarioResult], root: Path) -> str:
    rows = [("scenario", "agent", "turns", "steps", "result", "time")]
    for result in results:
        rows.append(
            (
                _relative(result.scenario.path, root),
                result.scenario.wire.agent,
                str(len(result.turns)),
                str(result.steps),
                SYMBOLS.get(result.outcome, result.outcome.upper()),
                f"{result.seconds * 1000:.0f} ms",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    order = ("passed", "failed", "xfailed", "xpassed", "error")
    lines.append("")
    lines.append(", ".join(f"{counts[k]} {k}" for k in order if k in counts) or "no scenarios")
    return "\n".join(lines)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def scenario_report(result: ScenarioResult, root: Path) -> dict[str, Any]:
    scenario = result.scenario
    return {
        "scenario": _relative(scenario.path, root),
        "agent": scenario.wire.agent,
        "description": scenario.wire.description,
        "outcome": result.outcome,
        "xfail_reason": scenario.wire.xfail,
        "failures": result.explain().splitlines() if result.outcome != "passed" else [],
        "cassette": _relative(result.cassette, root),
        "recorded_with": result.recorded_with,
        "unplayed_interactions": result.unplayed,
        "initial_blocks": result.initial_blocks,
        "turns": [_turn(turn) for turn in result.turns],
        "timing": {"seconds": round(result.seconds, 4)},
    }


def _turn(turn: TurnRecord) -> dict[str, Any]:
    outcome = turn.result
    return {
        "user": turn.user,
        "stop_reason": outcome.stop_reason.value if outcome else "stale_cassette",
        "reply": outcome.reply if outcome else None,
        "steps": [
            {
                "thoughts": step.content,
                "model": step.model,
                "tool_calls": [
                    {
                        "name": call.name,
                        "arguments": call.arguments,
                        "ok": call.ok,
                        "result": call.result,
                        "request_heartbeat": call.heartbeat,
                    }
                    for call in step.tool_calls
                ],
            }
            for step in (outcome.steps if outcome else ())
        ],
        "messages": turn.messages,
        "blocks": turn.blocks,
    }


def write_report(results: list[ScenarioResult], path: Path, root: Path) -> None:
    report = {
        "summary": {
            k: sum(1 for r in results if r.outcome == k) for k in ("passed", "failed", "xfailed", "xpassed", "error")
        },
        "scenarios": [scenario_report(result, root) for result in results],
    }
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
