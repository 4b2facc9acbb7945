"""`harness import` and `harness export`: Letta Agent Files (.af) to an agents.yaml and back. Nothing is
written over an existing file without --force, and an import is checked before anything is written."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any

from harness.cli.authoring import NoModel, loop_system_message
from harness.cli.console import Console
from harness.cli.options import project_of
from harness.cli.scenario_files import the_scenario

if TYPE_CHECKING:
    from pathlib import Path

    from harness.agent import Agent
    from harness.config import AgentSpec


def import_command(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from harness.agentfile.importer import HISTORY_FOLDER, TOOLS_MODULE, import_agent_file
    from harness.agentfile.reading import read_agent_file
    from harness.errors import AgentFileError
    from harness.files import write_atomically

    source = Path(args.file)
    result = import_agent_file(read_agent_file(source), source.name, console.secrets)
    out = Path(args.out)
    targets = [(out / "agents.yaml", result.agents_yaml)]
    if result.tools_module is not None:
        targets.append((out / f"{TOOLS_MODULE}.py", result.tools_module))
    histories = [(out / HISTORY_FOLDER / f"{name}.yaml", text) for name, text in result.histories.items()]
    targets += histories
    refuse_overwrite([path for path, _ in targets], args.force, "--out DIR")
    _check_import(source, out, [(path.relative_to(out), text) for path, text in targets])
    for path, _ in targets:  # a file where a folder goes would fail a write half done: said before any
        blocking = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise AgentFileError(f"{blocking}: is a file where the import writes a folder, so nothing was written")
    try:
        for path, text in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, text)
    except OSError as exc:
        raise AgentFileError(f"{out}: cannot write: {exc.strerror or exc}") from None
    console.out(f"wrote {targets[0][0]} ({len(result.agent_names)} agents: {', '.join(result.agent_names)})")
    if result.tools_module is not None:
        console.out(f"wrote {targets[1][0]} (custom tools with source)")
    for path, _ in histories:
        console.out(f"wrote {path} (the agent's in-context messages: start a scenario from them with `history:`)")
    if result.notes:
        console.out(f"not kept ({len(result.notes)}):")
        for note in result.notes:
            console.out(f"  {note}")
    return 0


def _check_import(source: Path, out: Path, files: list[tuple[Path, str]]) -> None:
    """What an import would write must be what `harness validate` accepts (an Agent File can hold what no
    agents file may: two blocks with one label, a block longer than any limit): checked in a scratch folder,
    before anything is written. The tools module there is a stub of the file's (`agentfile.stub`): checking
    runs nothing of the Agent File's."""
    import tempfile
    from pathlib import Path

    from harness.agentfile.importer import TOOLS_MODULE
    from harness.agentfile.stub import checkable_stub
    from harness.config import load_agents
    from harness.errors import AgentFileError, ConfigError

    with tempfile.TemporaryDirectory(prefix="harness-import-") as name:
        scratch = Path(name)
        for relative, text in files:
            stubbed = checkable_stub(text) if relative == Path(f"{TOOLS_MODULE}.py") else text
            try:
                (scratch / relative).parent.mkdir(parents=True, exist_ok=True)
                (scratch / relative).write_text(stubbed, encoding="utf-8")
            except OSError as exc:  # what cannot be written to check could not be written for real either
                raise AgentFileError(f"{out / relative}: cannot write: {exc.strerror or exc}") from None
        try:
            load_agents(scratch / "agents.yaml")
        except ConfigError as exc:
            problems = str(exc).replace(str(scratch), str(out))
            raise AgentFileError(
                f"{source}: its agents would make an agents.yaml the harness refuses, so nothing was written:\n"
                f"{problems}"
            ) from None
        finally:  # the scratch folder's tools module is not the one the written project will import
            sys.modules.pop(TOOLS_MODULE, None)
            with contextlib.suppress(ValueError):
                sys.path.remove(str(scratch.resolve()))


def export_command(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from harness.agentfile.exporter import agent_file_text, export_agent, unwritten
    from harness.config import load_agents
    from harness.errors import AgentFileError
    from harness.files import write_atomically
    from harness.secrets import Secrets

    config = load_agents(args.agents)
    spec = config.get(args.agent)
    models = [agent.model for agent in config.agents.values()]
    secrets = console.secrets | Secrets.collect(
        names=[model.api_key_env for model in models], urls=[model.base_url for model in models]
    )
    path = Path(args.output or f"{args.agent}.af")
    if os.path.isdir(path):  # not a file --force could replace: said before it is asked for
        raise AgentFileError(f"{path}: is a folder; give a file name, e.g. -o {path / f'{args.agent}.af'}")
    refuse_overwrite([path], args.force, "-o FILE.af")
    history = None
    if args.scenario:
        spec, history = _scenario_end_state(args)
    system = None
    if history is not None:  # as the replay's loop sent it, on the clock it ran on
        from harness.agent import Agent
        from harness.factory import recorded_run_spec

        system = loop_system_message(Agent(recorded_run_spec(spec), NoModel()))
    data = export_agent(spec, secrets, history, system)
    try:
        write_atomically(path, agent_file_text(data))
    except OSError as exc:
        raise AgentFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
    console.out(f"wrote {path} (agent {spec.name}: {len(data['blocks'])} blocks, {len(data['tools'])} tools)")
    notes = unwritten(spec)
    if notes:
        console.out(f"not written ({len(notes)}):")
        for note in notes:
            console.out(f"  {note}")
    return 0


def _scenario_end_state(args: argparse.Namespace) -> tuple[AgentSpec, list[dict[str, Any]]]:
    """The agent as scenario `args.scenario` leaves it (replayed offline) and its history in context then:
    the conversation the scenario started from (`history:`) and its own turns, as the agent would send them
    next (after a compaction, its summary and what it kept)."""

    from harness.agentfile.exporter import with_end_state
    from harness.errors import AgentFileError, RunError
    from harness.factory import AgentFactory
    from harness.scenarios import ScenarioRunner

    made: list[Agent] = []

    class Keeping(AgentFactory):
        """The project's factory, keeping the agents it makes for the run."""

        def new_agent(self, *args: Any, **kwargs: Any) -> Agent:
            made.append(super().new_agent(*args, **kwargs))
            return made[-1]

    runner = ScenarioRunner(Keeping(project_of(args)))
    scenario = the_scenario(args, runner, AgentFileError)
    result = runner.run(scenario, runner.spec_for(scenario))
    if result.error or result.stale or not result.turns:
        why = result.error or "\n".join(result.stale) or "no turn was played"
        raise RunError(f"{args.scenario}: the replay did not finish, so there is no end state to export: {why}")
    (agent,) = [agent for agent in made if agent.state.id == runner.agent_id(scenario)]
    return with_end_state(runner.spec_for(scenario), result.end_blocks()), list(agent.messages)


def refuse_overwrite(paths: list[Path], force: bool, elsewhere: str) -> None:
    from harness.errors import AgentFileError
    from harness.files import unreachable_reason

    for path in paths:
        unreachable = unreachable_reason(path)
        if unreachable is not None:
            raise AgentFileError(f"{path}: {unreachable}, so nothing was written")
    existing = [path for path in paths if path.exists() or path.is_symlink()]
    if existing and not force:
        named = " and ".join(str(path) for path in existing)
        raise AgentFileError(
            f"{named}: {'exists' if len(existing) == 1 else 'exist'}; give --force to overwrite, or {elsewhere} "
            "to write elsewhere"
        )
