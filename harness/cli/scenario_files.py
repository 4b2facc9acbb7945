"""The scenario files a command reads, loaded and checked against the agents file: one file's mistakes fail
that file alone where the command can go on (`run`), every mistake at once where it cannot (`validate`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from harness.cli.console import shown

if TYPE_CHECKING:
    from pathlib import Path

    from harness.errors import Problem, UserError
    from harness.scenarios import Scenario, ScenarioRunner


def checked_scenarios(runner: ScenarioRunner, paths: list[Path]) -> list[Scenario]:
    """Every scenario loaded and checked against the agents file; one UserError with every problem of
    every file (the agents file's own first: without it the references cannot be checked)."""
    from harness.errors import UserError

    scenarios, mistakes = loaded_scenarios(runner, paths)
    if mistakes:
        raise UserError(every_problem(mistakes))
    return scenarios


def loaded_scenarios(runner: ScenarioRunner, paths: list[Path]) -> tuple[list[Scenario], dict[Path, list[Problem]]]:
    """The scenarios of the files that load and check against the agents file, and the problems of each
    file that does not (a mistake in the agents file is a UserError at once, with every scenario's
    problems: without the agents file no reference can be checked)."""
    from harness.errors import UserError
    from harness.scenarios.cassette_owners import bystanders, sharing_problems
    from harness.scenarios.model import load_scenarios_partially

    scenarios: list[Scenario] = []
    mistakes: dict[Path, list[Problem]] = {}
    try:
        runner.factory.config  # noqa: B018 - the agents file, validated
        agents_problems: list[Problem] = []
    except UserError as exc:
        agents_problems = exc.problems
    for path in paths:
        loaded, found = load_scenarios_partially(path)
        problems = list(found)
        for scenario in loaded:
            try:
                if not agents_problems:
                    runner.spec_for(scenario)
            except UserError as exc:
                problems += [problem for problem in exc.problems if problem not in problems]
        if problems:
            mistakes[path] = problems
        else:
            scenarios += loaded
    if agents_problems:
        raise UserError(agents_problems + every_problem(mistakes))
    project = runner.factory.project
    # Recording, a cassette another scenario of the project owns would lose its exchanges, run or not.
    others: list[Scenario] = []
    for other in [] if project.replaying else bystanders(project.scenarios_dir, paths):
        unusable = runner.cassette_problem(other)  # `cassette: ../x.yaml`: told as validate tells it
        if unusable is None:
            others.append(other)
        elif unusable not in mistakes.setdefault(other.path, []):
            mistakes[other.path].append(unusable)
    for scenario, problem in sharing_problems(scenarios, runner.cassette_path, shown, others):
        mistakes.setdefault(scenario.path, []).append(problem)
    scenarios = [scenario for scenario in scenarios if scenario.path not in mistakes]
    refuse_overwriting_inputs(runner, [(scenario, runner.cassette_path(scenario)) for scenario in scenarios], paths)
    return scenarios, mistakes


def refuse_overwriting_inputs(
    runner: ScenarioRunner, cassettes: list[tuple[Scenario, Path]], files: list[Path]
) -> None:
    """A cassette path that is a file the run reads (`--cassettes` naming the wrong folder) stops the whole
    command before anything runs: recording would replace that file, replay would call it a cassette."""
    from harness.errors import UserError
    from harness.scenarios.cassette_owners import overwritten_inputs

    problems = overwritten_inputs(runner.project, cassettes, files, shown)
    if problems:
        raise UserError(problems)


def every_problem(mistakes: dict[Path, list[Problem]]) -> list[Problem]:
    """File by file, each file's in line order (a row's filled-in mistake was told before the template's
    `dataset:` line above it)."""
    from harness.errors import in_line_order

    return [problem for problems in mistakes.values() for problem in in_line_order(problems)]


def the_scenario(args: argparse.Namespace, runner: ScenarioRunner, error: type[UserError] | None = None) -> Scenario:
    """The one scenario of `args.scenario`, checked, and of `args.agent` (`--scenario` of compile and export)."""
    from pathlib import Path

    from harness.errors import UserError

    refuse = error or UserError
    found = checked_scenarios(runner, [Path(args.scenario)])
    if len(found) != 1:  # a dataset's rows, a model matrix
        raise refuse(f"{args.scenario}: holds {len(found)} scenarios (dataset rows or matrix models); give one")
    (scenario,) = found
    if scenario.agent != args.agent:
        raise refuse(f"{args.scenario}: agent: this scenario runs '{scenario.agent}', not '{args.agent}'")
    return scenario
