"""`harness cassettes check`: which cassettes a change invalidates and why, offline; and what `harness
record --stale` records, or leaves alone, from the same verdicts."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING

from harness.cassettes.mode import RecordMode
from harness.cli.console import NO_SCENARIOS, Console, shown
from harness.cli.options import no_scenarios_in, project_of, record_options, scenario_paths
from harness.cli.scenario_files import every_problem, loaded_scenarios

if TYPE_CHECKING:
    from pathlib import Path

    from harness.scenarios import Scenario, ScenarioRunner
    from harness.scenarios.hygiene import CassetteState, CassetteStatus


def cassettes_check_command(args: argparse.Namespace, console: Console) -> int:
    from harness.errors import UserError
    from harness.factory import AgentFactory
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.discovery import discover
    from harness.scenarios.hygiene import CassetteState, check_cassettes
    from harness.scenarios.runner import harness_record

    project = project_of(args)
    factory = AgentFactory(project)
    console.learn(factory)
    runner = ScenarioRunner(factory, record_options=record_options(args))
    # A file with mistakes is not checked; the others are, as `run` runs them (the mistakes listed last, exit 2).
    scenarios, mistakes = loaded_scenarios(runner, discover(scenario_paths(args, project)))
    if mistakes:
        if not scenarios:
            raise UserError(every_problem(mistakes))
        orphans = "" if args.paths else "; orphans are not looked for meanwhile (their cassettes would look like ones)"
        console.err(
            f"note: {len(mistakes)} scenario file(s) with mistakes are not checked (listed at the end), the others "
            f"are{orphans}"
        )
    # Orphans only over the whole project: checking some scenarios, every other cassette is not theirs.
    statuses = check_cassettes(runner, scenarios, orphans=not args.paths and not mistakes)
    if mistakes and not args.paths:  # the Python tests' cassettes are among "the others": checked all the same
        statuses += python_tests_beside(runner, scenarios, mistakes)
    if not statuses:  # nothing checked: a CI job pointed at the wrong folder must not pass green, as for `run`
        nothing = f"no scenarios in {no_scenarios_in(args, project)}"
        if not args.paths:
            nothing = f"nothing to check: {nothing} and no cassettes in {shown(project.cassettes_dir)}"
        console.err(nothing)
        return NO_SCENARIOS
    counts: dict[CassetteState, int] = {}
    for status in statuses:
        counts[status.state] = counts.get(status.state, 0) + 1
        if status.drift:
            console.out(f"{shown(status.cassette)}: ok, its fingerprint out of date (harmless: it replays as recorded)")
            console.out(f"  {'; '.join(status.drift)}")
        if status.state == CassetteState.OK:
            continue
        owner = status.scenario.path if status.scenario is not None else status.test
        console.out(f"{shown(status.cassette)}: {status.state}{f' ({shown(owner)})' if owner is not None else ''}")
        for reason in status.reasons:
            console.out(f"  {reason}")
    console.out(", ".join(f"{counts[state]} {state}" for state in CassetteState if state in counts))
    if any(status.state.needs_recording for status in statuses if status.test is None):
        command = harness_record(flags=("--stale",), options=runner.record_options)
        console.out(f"record what needs it with: {command}")
    if any(status.drift for status in statuses):
        command = harness_record(flags=("--stale",), options=runner.record_options)
        console.out(f"an out-of-date fingerprint is written anew, the exchanges as they are, by: {command}")
    tests = [status for status in statuses if status.test is not None]
    if any(status.state == CassetteState.STALE for status in tests):
        console.out(
            "a Python test's cassette is recorded by pytest, with the command under it (`record --stale` runs no test)"
        )
    if checked := sum(1 for status in tests if status.state == CassetteState.OK):
        console.out(
            f"{checked} of the ok are Python tests' cassettes, checked by their agents' fingerprints alone: only "
            "pytest replays them (a change to a tool's code or to the test itself shows there)"
        )
    left = [s for s in statuses if s.state.left_alone and s.scenario is not None]
    if left:  # --stale leaves these alone (see CassetteState.left_alone)
        scenarios = [status.scenario for status in left if status.scenario is not None]
        kinds = left_alone_kinds([status.state for status in left], "and the")
        console.out(f"restore the {kinds} from version control, or record them anew: {record_anew(runner, scenarios)}")
    if CassetteState.ORPHAN in counts:
        console.out("an orphan is used by no scenario: delete it, or name it in a scenario's `cassette:`")
    if CassetteState.UNUSED_REPEAT in counts:
        console.out(
            "an unused repeat is above the number of repeats its scenario was last recorded with (replay skips it): "
            "delete it, or record that many repeats again"
        )
    if mistakes:  # said last, where a CI log is read, and exit 2
        raise UserError(every_problem(mistakes))
    # A Python test's cassette that stores no fingerprints is listed, not failed: pytest checks it.
    return 1 if any(state not in (CassetteState.OK, CassetteState.UNCHECKED) for state in counts) else 0


def python_tests_beside(
    runner: ScenarioRunner, scenarios: list[Scenario], mistakes: Iterable[Path]
) -> list[CassetteStatus]:
    """The Python tests' cassettes (not one of `scenarios`'), but for the cassette each file of `mistakes`
    (scenario files left out) would have by its path, which is its, not a test's."""
    from harness.scenarios.hygiene import python_test_cassettes

    unchecked = {runner.project.cassette_path(path) for path in mistakes}
    return [status for status in python_test_cassettes(runner, scenarios) if status.cassette not in unchecked]


def needing_recording(
    runner: ScenarioRunner, scenarios: list[Scenario], console: Console
) -> tuple[list[Scenario], list[CassetteStatus]]:
    """The scenarios whose cassette replay says must be recorded (again), and the cassettes it must not
    record over (unreadable: recording would destroy what is left of it; edited: recording would take a
    body for what was recorded), as `cassettes check` says, each named with why."""
    from dataclasses import replace

    from harness.factory import AgentFactory
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.hygiene import check_cassettes

    offline = AgentFactory(replace(runner.project, record_mode=RecordMode.NONE), runner.factory.config)
    replaying = ScenarioRunner(offline, record_options=runner.record_options)
    chosen: list[Scenario] = []
    left: list[CassetteStatus] = []
    for status in check_cassettes(replaying, scenarios, orphans=False):
        if status.drift and status.scenario is not None:  # its exchanges replay: the fingerprint alone is written
            console.err(f"{shown(status.cassette)}: fingerprint out of date, written anew: {'; '.join(status.drift)}")
            if not any(scenario is status.scenario for scenario in chosen):
                chosen.append(status.scenario)
            continue
        if status.scenario is None or not (status.state.needs_recording or status.state.left_alone):
            continue
        console.err(f"{shown(status.cassette)}: {status.state}: {'; '.join(status.reasons)}")
        if status.state.needs_recording and not any(scenario is status.scenario for scenario in chosen):
            chosen.append(status.scenario)  # once, however many repeats
        elif status.state.left_alone and not any(other.scenario is status.scenario for other in left):
            left.append(status)
    return chosen, [status for status in left if not any(status.scenario is other for other in chosen)]


def stale_tests(
    runner: ScenarioRunner, scenarios: list[Scenario], console: Console, mistakes: Iterable[Path] = ()
) -> list[CassetteStatus]:
    """The Python tests' cassettes (`harness_agent`) whose agents changed, each named with why and the pytest
    command that records it: `record --stale` runs no test, so it names them and exits 1. `mistakes`: the
    scenario files left out, whose cassettes are theirs, not tests'."""
    return _stale_said(python_tests_beside(runner, scenarios, mistakes), console)


def _stale_said(statuses: list[CassetteStatus], console: Console) -> list[CassetteStatus]:
    from harness.scenarios.hygiene import CassetteState

    stale = [status for status in statuses if status.state in (CassetteState.STALE, CassetteState.UNREADABLE)]
    for status in stale:
        console.err(f"{shown(status.cassette)}: {status.state}: {'; '.join(status.reasons)}")
    return stale


def tests_alone(runner: ScenarioRunner, console: Console) -> int | None:
    """`record --stale` in a project with no scenario: its Python tests' cassettes, as with scenarios (each
    stale one named with its pytest command, exit 1; 0 when all are up to date), or None when it has none
    either (nothing to work on: exit 5). A project tested by pytest alone was told only "no scenarios"."""
    from harness.scenarios.hygiene import python_test_cassettes

    statuses = python_test_cassettes(runner, [])
    if not statuses:
        return None
    stale = _stale_said(statuses, console)
    if stale:
        console.err(tests_left(stale))
        return 1
    console.err(
        f"every cassette is up to date: nothing to record (no scenarios; {len(statuses)} Python test cassette(s) "
        "checked by their agents' fingerprints)"
    )
    return 0


def tests_left(tests: list[CassetteStatus]) -> str:
    """What `record --stale` says last of the Python tests' cassettes it did not record."""
    return (
        f"error: {len(tests)} Python test cassette(s) need recording, which `harness record` does not do (it runs "
        "no test): record them with the pytest command given for each above"
    )


def unreadable_left(runner: ScenarioRunner, left: list[CassetteStatus]) -> str:
    """What `record --stale` says of the unreadable and edited cassettes it left alone (its exit code is
    then 1)."""
    scenarios = [status.scenario for status in left if status.scenario is not None]
    kinds = left_alone_kinds([status.state for status in left], "or")
    return (
        f"error: {len(left)} scenario(s) with an {kinds} cassette were left "
        f"alone, not recorded: restore the cassette from version control, or record it anew: "
        f"{record_anew(runner, scenarios)}"
    )


def left_alone_kinds(states: Iterable[CassetteState], joined: str) -> str:
    """`unreadable`, `edited`, or both joined by `joined`: the cassettes restored or recorded anew."""
    from harness.scenarios.hygiene import CassetteState

    present = set(states)
    kinds = (CassetteState.UNREADABLE, CassetteState.EDITED)
    return f" {joined} ".join(str(state) for state in kinds if state in present)


def record_anew(runner: ScenarioRunner, scenarios: list[Scenario]) -> str:
    """`harness record --mode all` of `scenarios` (each file once), with this command's options."""
    from harness.scenarios.runner import harness_record

    named = dict.fromkeys(shown(scenario.path) for scenario in scenarios)
    return harness_record(*named, flags=("--mode", "all"), options=runner.record_options)
