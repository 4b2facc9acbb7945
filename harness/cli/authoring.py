"""`harness validate`, `harness compile` and `harness schema`: the project read and checked, or shown as the
model would receive it; nothing is run and no endpoint is asked."""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import TYPE_CHECKING, Any

from harness.cli.console import NO_SCENARIOS, Console
from harness.cli.options import no_scenarios_in, project_of, scenario_paths
from harness.cli.scenario_files import checked_scenarios, the_scenario

if TYPE_CHECKING:
    from harness.agent import Agent
    from harness.config import AgentSpec
    from harness.factory import AgentFactory


def schema_command(args: argparse.Namespace, console: Console) -> int:
    if args.kind == "scenario":
        from harness.scenarios.model import ScenarioWire

        console.out(json.dumps(ScenarioWire.model_json_schema(), indent=2))
        return 0
    from harness.config import json_schema

    console.out(json.dumps(json_schema(), indent=2))
    return 0


def validate_command(args: argparse.Namespace, console: Console) -> int:
    """Exit 5 when the PATHs given hold no scenario file (a CI step pointed at the wrong folder, as `run`).
    With no PATH the agents file is always there to check: a project with no scenario (yet) validates, 0."""
    from harness.errors import HarnessError
    from harness.factory import AgentFactory
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.discovery import discover

    project = project_of(args)
    runner = ScenarioRunner(AgentFactory(project))
    with contextlib.suppress(HarnessError):  # a mistake in the agents file is reported with the scenarios'
        console.learn(runner.factory)  # before any message that may quote what a base URL carries
    found = discover(scenario_paths(args, project))
    scenarios = checked_scenarios(runner, found)
    config = runner.factory.config
    console.out(f"{args.agents}: ok ({len(config.agents)} agents: {', '.join(config.agents)})")
    if not found:
        if args.paths:
            console.err(f"no scenarios in {no_scenarios_in(args, project)}")
            return NO_SCENARIOS
        console.out(f"no scenario files in {no_scenarios_in(args, project)}: the agents file alone was checked")
        return 0
    files = len({scenario.path for scenario in scenarios})  # a dataset's rows and a matrix's models are one file
    runs = "" if files == len(scenarios) else f" ({len(scenarios)} scenarios: dataset rows and models apart)"
    console.out(f"{files} scenario file(s): ok{runs}")
    return 0


def compile_command(args: argparse.Namespace, console: Console) -> int:
    from harness.agent import Agent
    from harness.factory import AgentFactory, recorded_run_spec

    # As a scenario's first request sends it (a Letta loop's time is the recorded run's clock unless the
    # agent declares one), built through the agent's loop: Letta's send their own system message and tools.
    factory = AgentFactory(project_of(args))
    console.learn(factory)  # a prompt may quote what a base URL carries
    spec = recorded_run_spec(factory.config.get(args.agent))
    agent = _scenario_agent(args, factory, spec) if args.scenario else Agent(spec, NoModel())
    if args.tools:
        console.out(json.dumps(agent.loop.tools(agent, list(spec.tools)), indent=2))
        return 0
    console.out(loop_system_message(agent))
    return 0


def _scenario_agent(args: argparse.Namespace, factory: AgentFactory, spec: AgentSpec) -> Agent:
    """The agent as scenario `args.scenario`'s run builds it (blocks, history, id), asked nothing."""
    from dataclasses import replace

    from harness.scenarios import ScenarioRunner

    runner = ScenarioRunner(factory)
    scenario = the_scenario(args, runner)
    return factory.new_agent(
        replace(spec, embedding=None),  # nothing is embedded before the first request: no endpoint, no key
        agent_id=runner.agent_id(scenario),
        blocks=scenario.blocks,
        model=NoModel(),
        history=list(scenario.history),
    )


def loop_system_message(agent: Agent) -> str:
    """The system message the agent's loop sends first: Letta's loops build their own (`compile`, and the
    first message of an exported history)."""
    from harness.loops.kinds import LoopName

    if agent.loop.name is LoopName.HARNESS:
        return agent.spec.system_message(agent.memory)
    return str(agent.request_messages()[0]["content"])


class NoModel:
    """The model of an agent that is only compiled, never run."""

    def complete(self, messages: list[Any], tools: list[Any], tool_choice: Any = None) -> Any:
        raise AssertionError("harness compile never asks a model")
