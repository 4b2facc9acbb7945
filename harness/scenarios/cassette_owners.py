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
from harness.lookalike import folded
from harness.project import DEFAULT_SNAPSHOTS, Project
from harness.scenarios.history import HISTORY_KEY
from harness.scenarios.model import Scenario


def sharing_problems(
    scenarios: Iterable[Scenario],
    cassette_path: Callable[[Scenario], Path],
    shown: Callable[[Path], str],
    bystanders: Iterable[Scenario] = (),
) -> list[tuple[Scenario, Problem]]:
    """Each scenario, with its located problem, (after the first, in the order given) whose cassette another
    scenario with another conversation already has, or whose cassette is another's but for letter case or
    Unicode normalisation (`Zoe.yaml`, `zoe.yaml`). `bystanders` (scenarios of the project outside the run,
    when it records) come first and have no problem of their own: recording would drop their exchanges."""
    first: dict[Path, Scenario] = {}
    # Cassettes by their path as macOS and Windows compare it (letter case and Unicode normalisation
    # ignored): two there are one file, which recording either overwrites, whatever the conversations.
    by_folded: dict[str, Path] = {}
    for scenario in bystanders:
        path = cassette_path(scenario)
        first.setdefault(path, scenario)
        by_folded.setdefault(folded(str(path)), path)
    problems: list[tuple[Scenario, Problem]] = []
    for scenario in scenarios:
        path = cassette_path(scenario)
        earlier = first.setdefault(path, scenario)
        twin = by_folded.setdefault(folded(str(path)), path)
        if twin != path:
            other = first[twin]
            problems.append(
                (
                    scenario,
                    scenario.problem(
                        ("cassette",) if scenario.cassette else (),
                        f"its cassette {shown(path)} and the cassette {shown(twin)} of {shown(other.path)} differ "
                        "only in letter case or Unicode normalisation: one file on macOS and Windows, where "
                        "recording either overwrites the other; rename one of them",
                    ),
                )
            )
            continue
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


def overwritten_inputs(
    project: Project,
    cassettes: Iterable[tuple[Scenario, Path]],
    files: Iterable[Path],
    shown: Callable[[Path], str],
) -> list[Problem]:
    """A located problem for each cassette (of a scenario) whose path is a file the run reads: the agents
    file, the state database, a scenario file (`files`, those of the scenarios folder), a dataset or history
    file, anything in the scenarios or snapshots folder. Recording would replace it with a cassette
    (`--cassettes` naming the wrong folder), and replay would call it an unreadable cassette to record
    again: said before anything runs. Real paths, as text (a thousand scenarios' Path arithmetic cost more
    than their replay's checks)."""
    cassettes = list(cassettes)
    if not cassettes:
        return []
    real = _RealPaths()
    read, inside = _always_read(project, real)
    for path in files:
        read.setdefault(real(path), ("the scenario file", path))
    seen: set[tuple[Path, str | None]] = set()  # a dataset's rows share their file and dataset, most their history
    for scenario, _ in cassettes:
        data = scenario.doc.data if scenario.doc is not None else None
        history = data.get(HISTORY_KEY) if isinstance(data, dict) else None
        key = (scenario.path, history if isinstance(history, str) else None)
        if key in seen:
            continue
        seen.add(key)
        read.setdefault(real(scenario.path), ("the scenario file", scenario.path))
        if scenario.dataset is not None:
            read.setdefault(real(scenario.dataset), ("the dataset", scenario.dataset))
        if isinstance(history, str):
            file = scenario.path.parent / history
            read.setdefault(real(file), ("the history file", file))
    problems: list[Problem] = []
    folder = os.path.realpath(project.cassettes_dir) + os.sep
    for scenario, cassette in cassettes:
        target = real(cassette, links=True)
        if not target.startswith(folder) and os.path.islink(cassette):
            # A `cassette:` key leading out is refused where it is read (`confined`); a link at the default
            # path was written through, over a file outside the project.
            problems.append(
                scenario.problem(
                    ("cassette",) if scenario.cassette else (),
                    f"its cassette {shown(cassette)} is a symbolic link leading outside the cassette folder (to "
                    f"{target}), which recording would write through: remove the link",
                )
            )
            continue
        said = _read_at(target, read, inside, shown)
        if said:
            problems.append(
                scenario.problem(
                    ("cassette",) if scenario.cassette else (),
                    f"its cassette {shown(cassette)} is {said}, which recording would overwrite: give the "
                    "cassettes a folder of their own (--cassettes)"
                    + (", or this scenario another `cassette:`" if scenario.cassette else ""),
                )
            )
    return problems


def python_test_cassette_problem(
    project: Project, cassette: Path, scenario_folders: Iterable[Path], shown: Callable[[Path], str]
) -> str | None:
    """Why a Python test's cassette cannot be at `cassette` (where an overridden `harness_cassette_path`
    put it), or None: it is a file the run reads, as `overwritten_inputs` tells a scenario's (the agents
    file, the state database, anything in a scenarios folder, `scenario_folders` among them, or in the
    snapshots folder), or no YAML file at all (a tools module, a prompt, the test file itself). Recording
    would replace it with the cassette; one in a scenarios folder would be collected as a scenario."""
    real = _RealPaths()
    read, inside = _always_read(project, real, scenario_folders)
    said = _read_at(real(cassette, links=True), read, inside, shown)
    if said:
        return (
            f"{shown(cassette)} is {said}, which the run reads: a cassette recorded there would replace it, or be "
            "taken for one of the run's own files"
        )
    if cassette.suffix not in (".yaml", ".yml"):
        return (
            f"{shown(cassette)} is not a YAML file, as a cassette is: it may be one the run reads (a tools module, a "
            "prompt, a test), which a cassette recorded there would replace"
        )
    return None


_Read = dict[str, tuple[str, Path | None]]  # real path -> what the run reads there, and the path to show
_Inside = list[tuple[str, Path, str]]  # (real folder with a trailing separator, folder, what it holds)


def _always_read(project: Project, real: _RealPaths, scenario_folders: Iterable[Path] = ()) -> tuple[_Read, _Inside]:
    """What every run reads, whatever its scenarios: the agents file and the state database, and the
    folders whose every file is the run's (the scenarios folders, the snapshots folder)."""
    read: _Read = {
        real(project.agents_file): ("the agents file", None),
        real(project.state_db): ("the state database", None),
    }
    folders = [
        (project.scenarios_dir, "scenarios"),
        *((folder, "scenarios") for folder in scenario_folders),
        (project.root / DEFAULT_SNAPSHOTS, "snapshots"),
    ]
    inside = [(os.path.join(os.path.realpath(folder), ""), folder, what) for folder, what in folders]
    return read, inside


def _read_at(target: str, read: _Read, inside: _Inside, shown: Callable[[Path], str]) -> str:
    """What the run reads at the real path `target`, said so (`the agents file`, `in the scenarios folder
    scenarios`), or ''."""
    what, named = read.get(target, ("", None))
    if what:
        return f"{what} {shown(named)}" if named is not None else what
    for prefix, folder, name in inside:
        if target.startswith(prefix):
            return f"in the {name} folder {shown(folder)}"
    return ""


class _RealPaths:
    """Real paths (links resolved) as text, each folder resolved once: a suite's scenarios share a few."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: Path, links: bool = False) -> str:
        """`links`: the file itself may be a link (a cassette, which a recording writes through)."""
        text = os.fspath(path)
        if links and os.path.islink(text):
            return os.path.realpath(text)
        parent, name = os.path.split(os.path.abspath(text))
        folder = self._folders.get(parent)
        if folder is None:
            folder = self._folders[parent] = os.path.realpath(parent)
        return os.path.join(folder, name)


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
