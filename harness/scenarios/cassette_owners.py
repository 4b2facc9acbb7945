"""One cassette, one conversation: scenarios naming the same cassette (`cassette:`) must send the same thing.

A cassette is one conversation's recording, so two scenarios that send different conversations cannot both
be kept in it: recording either drops the other's exchanges. Scenarios that send the same conversation and
check different things may share one. Said the same way by `harness validate`/`run`/`record` and by the
pytest plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.errors import Problem
from harness.scenarios.model import Scenario


def sharing_problems(
    scenarios: Iterable[Scenario],
    cassette_path: Callable[[Scenario], Path],
    shown: Callable[[Path], str],
    bystanders: Iterable[Scenario] = (),
) -> list[tuple[Scenario, Problem]]:
    """Each scenario, with its located problem, (after the first, in the order given) whose cassette another
    scenario with another conversation already has. `bystanders` (scenarios of the project outside the run,
    when it records) come first and have no problem of their own: recording would drop their exchanges."""
    first: dict[Path, Scenario] = {}
    for scenario in bystanders:
        first.setdefault(cassette_path(scenario), scenario)
    problems: list[tuple[Scenario, Problem]] = []
    for scenario in scenarios:
        path = cassette_path(scenario)
        earlier = first.setdefault(path, scenario)
        if earlier is scenario or earlier.path == scenario.path or conversation(earlier) == conversation(scenario):
            continue
        problems.append(
            (
                scenario,
                scenario.problem(
                    ("cassette",) if scenario.cassette else (),
                    f"shares its cassette {shown(path)} with {shown(earlier.path)}, which has another conversation: "
                    "recording either drops the other's exchanges; give each its own `cassette:`",
                ),
            )
        )
    return problems


def bystanders(scenarios_dir: Path, running: Iterable[Path]) -> list[Scenario]:
    """The scenarios of the project's folder outside the run (those that load): what a recording run could
    overwrite."""
    from harness.errors import HarnessError
    from harness.scenarios.discovery import discover
    from harness.scenarios.model import load_scenarios_partially

    if not scenarios_dir.is_dir():
        return []
    skipped = {Path(os.path.realpath(path)) for path in running}
    found: list[Scenario] = []
    for path in discover([scenarios_dir]):
        if Path(os.path.realpath(path)) in skipped:
            continue
        try:
            loaded, problems = load_scenarios_partially(path)
        except HarnessError:
            continue
        found += [] if problems else loaded
    return found


def conversation(scenario: Scenario) -> str:
    """What a scenario sends, as its file says it: everything but its description, its xfail reason, its
    `cassette:` and the expectations, unless they hold a judge (whose requests go into the cassette too)."""
    data = scenario.doc.data if scenario.doc is not None else {}
    kept = {key: value for key, value in data.items() if key not in ("description", "xfail", "cassette")}
    return repr((_sent(kept), scenario.model, scenario.row))


def _sent(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sent(item) for key, item in value.items() if key != "expect" or "'judge'" in repr(item)}
    if isinstance(value, list):
        return [_sent(item) for item in value]
    return value
