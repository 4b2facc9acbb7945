"""Run a scenario against its cassette: replay (default, offline) or record from a live endpoint."""

from __future__ import annotations

import dataclasses
import shlex
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from harness.agent import Agent
from harness.cassettes.repeats import recorded_repeats
from harness.cassettes.scrub import MASK, SecretSent
from harness.clock import kept_random
from harness.config import AgentSpec
from harness.errors import (
    CassetteError,
    CassetteMiss,
    LLMError,
    ModelAnswerError,
    Problem,
    RunError,
    ScenarioError,
    UnknownModel,
)
from harness.factory import AgentFactory, Cassette
from harness.files import OutsideProject
from harness.fingerprint import agents_fingerprint
from harness.loops.kinds import LoopName
from harness.memory import EditKind
from harness.project import DEFAULT_SNAPSHOTS, Project
from harness.records import ContextEvent, StepRecord, ToolCallRecord, TurnResult
from harness.scenarios.cassette_owners import overwritten_inputs
from harness.scenarios.checks import Asker, ExpectCheck, Failure, Observed, Snapshot, Snapshots, run_checks
from harness.scenarios.dataset import DATASET_KEY
from harness.scenarios.judge import LLMJudge
from harness.scenarios.model import Scenario, Turn, load_scenario_partially, model_slug, scenario_problems
from harness.scenarios.results import Outcome, ScenarioResult, TurnRecord
from harness.scenarios.sharing import SharedBlocks, shared_labels
from harness.scenarios.simulate import NoMessage, SimulatedUser
from harness.scenarios.snapshots import SnapshotFile
from harness.scenarios.tool_results import ScenarioToolResults
from harness.tools.schema import HEARTBEAT_PARAMETER, Tool
from harness.yamlsource import Loc, dotted

__all__ = ["Outcome", "ScenarioResult", "ScenarioRunner", "TurnRecord"]


class RecordCommand(Protocol):
    """How a message tells to record scenario `path` (`anew`: replacing its cassette whole)."""

    def __call__(self, path: Path, *, anew: bool = False) -> str: ...


def _arguments_offered(agent: AgentSpec, tool: Tool) -> frozenset[str]:
    """The arguments the agent's loop offers the model for `tool` (what a scenario's `args:` may name):
    letta-v1 has no heartbeats, its schemas no `request_heartbeat` (Letta 0.16's), and it drops one a
    model passes anyway, so a check naming it could never pass."""
    names = tool.parameter_names
    return names - {HEARTBEAT_PARAMETER} if agent.loop is LoopName.LETTA_V1 else names


@dataclass
class ScenarioRunner:
    factory: AgentFactory
    on_step: Callable[[StepRecord], None] | None = None
    update_snapshots: bool = False  # `snapshot:` checks write their golden files instead of comparing
    # The options of this command that a `harness record` it tells must repeat to find the same project and
    # model (--agents, --cassettes, ...), as shell words; plain data, so -j N's workers get them too.
    record_options: tuple[str, ...] = ()
    # The command a message tells to record a scenario: pytest's under pytest; None: `harness record`.
    record_command: RecordCommand | None = field(default=None, repr=False)
    # Each scenario's cassette path, worked out once (pathlib arithmetic on every run and check adds up).
    _cassette_paths: dict[tuple[Path, str | None, str | None, str | None], Path] = field(
        default_factory=dict, init=False, repr=False
    )
    # The agent of each scenario checked so far (by the scenario object, kept so its id stays its own):
    # `harness run` checks every scenario before it runs any.
    _specs: dict[int, tuple[Scenario, AgentSpec]] = field(default_factory=dict, init=False, repr=False)
    # Each agent's spec (by name and max_steps) and what its scenarios are checked against, gathered once.
    _agent_specs: dict[tuple[str, int | None], AgentSpec] = field(default_factory=dict, init=False, repr=False)
    _facts: dict[str, tuple[list[str], list[str], list[str] | None, dict[str, Any]]] = field(
        default_factory=dict, init=False, repr=False
    )
    # The unfilled template of each dataset file whose rows had problems (None: it does not load).
    _templates: dict[Path, Scenario | None] = field(default_factory=dict, init=False, repr=False)

    @property
    def project(self) -> Project:
        return self.factory.project

    def record_hint(self, path: Path, *, anew: bool = False) -> str:
        """The command that records scenario `path` (`anew`: replacing its cassette whole, `--mode all`), to
        paste where this one was started."""
        if self.record_command is not None:
            return self.record_command(path, anew=anew)
        return harness_record(path, flags=("--mode", "all") if anew else (), options=self.record_options)

    def replayed_runs(self, scenarios: Iterable[Scenario]) -> list[tuple[Scenario, int]]:
        """Each scenario with each repeat recorded (`Project.variants`), in order. A scenario whose first
        cassette is missing counts the repeats the other rows and models of its file were recorded with:
        a model the endpoint did not know, recorded `--repeat 4`, replays 4 runs not recorded, as the
        recording measured 4 errors, not 1."""
        scenarios = list(scenarios)
        cassettes = [self.cassette_path(scenario) for scenario in scenarios]
        counts: dict[Path, int] = {}
        for scenario, cassette in zip(scenarios, cassettes, strict=True):
            count = recorded_repeats(cassette)
            if count is not None:
                counts[scenario.path] = max(counts.get(scenario.path, 1), count)
        return [
            (scenario, variant)
            for scenario, cassette in zip(scenarios, cassettes, strict=True)
            for variant in self.project.variants(cassette, counts.get(scenario.path))
        ]

    def cassette_path(self, scenario: Scenario) -> Path:
        """The scenario's cassette; a dataset row's is `<the template's cassette without .yaml>/<row>.yaml`, a
        matrix model's has `@<model>` before `.yaml`."""
        return self._named_path(scenario, scenario.cassette)

    def _named_path(self, scenario: Scenario, cassette: str | None) -> Path:
        """The cassette path of `scenario` were its `cassette:` key `cassette`: its row's and model's."""
        key = (scenario.path, cassette, scenario.row, scenario.model)
        known = self._cassette_paths.get(key)
        if known is not None:
            return known
        # the file's, worked out once for all its rows and models (the Path arithmetic cost a 20,000-row
        # dataset 4 s)
        of_file = self._cassette_paths.get((scenario.path, cassette, None, None))
        if of_file is None:
            of_file = self.factory.project.cassette_path(scenario.path, cassette)
            self._cassette_paths[(scenario.path, cassette, None, None)] = of_file
        path = of_file if scenario.row is None else of_file.with_suffix("") / f"{scenario.row}.yaml"
        if scenario.model is not None:
            path = path.with_name(f"{path.stem}@{model_slug(scenario.model)}.yaml")
        self._cassette_paths[key] = path
        return path

    @staticmethod
    def agent_id(scenario: Scenario, agent: str | None = None) -> str:
        """The id of a scenario's agent (another agent it drives: `agent`): its block and boot-call ids
        follow from it, the same in every run. It reaches the requests (letta-v1's system message, archival
        passage ids), so it is named after the cassette, not the file: two scenarios checking one
        conversation two ways (`cassette:` naming one file) send the same requests. By default the cassette
        is named after the scenario, and the id is `agent-<file stem>` (`[row]` for a dataset row)."""
        name = scenario.name
        if scenario.cassette is not None:
            name = Path(scenario.cassette).stem + (f"[{scenario.row}]" if scenario.row is not None else "")
        return f"agent-{name}" if agent is None else f"agent-{name}-{agent}"

    def snapshot_path(self, scenario: Scenario) -> Path:
        """`snapshots/` beside the agents file, mirroring the scenario's path (a dataset row's and a matrix
        model's named as their cassettes are): not its `cassette:`, which two scenarios checking one
        conversation two ways share, and whose snapshots each would write over the other's."""
        project = self.factory.project
        relative = self._named_path(scenario, None).relative_to(project.cassettes_dir)
        return project.root / DEFAULT_SNAPSHOTS / relative

    def spec_for(self, scenario: Scenario) -> AgentSpec:
        """The scenario's agent, after checking the scenario's references to it (a located ScenarioError)."""
        known = self._specs.get(id(scenario))
        if known is not None and known[0] is scenario:
            return known[1]
        spec = self._checked_spec(scenario)
        self._specs[id(scenario)] = (scenario, spec)
        return spec

    def cassette_problem(self, scenario: Scenario) -> Problem | None:
        """Why the scenario's cassette path cannot be used (leaving the cassette folder, a folder, a name no
        file can have), located at its `cassette:`; None when it can. Asked of every scenario checked, and of
        the project's scenarios outside a recording run, whose cassettes it must not overwrite."""
        try:
            cassette = self.cassette_path(scenario)
        except OutsideProject as exc:
            return scenario.problem(("cassette",), f"the cassette {exc}")
        unusable = _unusable_file_name(cassette)
        if unusable is None and scenario.cassette is not None and _a_folder(cassette, self.project.cassettes_dir):
            unusable = (
                f"'{scenario.cassette}' is a folder; name a file in it, e.g. {scenario.cassette.rstrip('/')}/x.yaml"
            )
        if unusable is not None:
            where: tuple[str | int, ...] = ("cassette",) if scenario.cassette is not None else ()
            if scenario.row_line is not None and self._the_rows(scenario):
                # the row's id made the name: the row's line, `rows.jsonl:3`, at the template's `dataset:`,
                # as the row's other mistakes are told
                return scenario.problem((DATASET_KEY,), f"{scenario.row_line}: the cassette {unusable}")
            return scenario.problem(where, f"the cassette {unusable}")
        return None

    def _the_rows(self, scenario: Scenario) -> bool:
        """Whether a dataset row's unusable cassette name is its id's doing: a one-character id would do."""
        try:
            return _unusable_file_name(self.cassette_path(replace(scenario, row="1"))) is None
        except OutsideProject:
            return False

    def _checked_spec(self, scenario: Scenario) -> AgentSpec:
        unusable = self.cassette_problem(scenario)
        if unusable is not None:
            raise ScenarioError([unusable])
        problems = self._agent_problems(scenario)
        if problems and scenario.row_line is not None:
            problems = self._of_row(scenario, scenario.row_line, problems)
        if problems:
            raise ScenarioError(problems)
        key = (scenario.agent, scenario.max_steps)
        if key not in self._agent_specs:  # once an agent (a frozen dataclass), not once a dataset row
            self._agent_specs[key] = self.factory.spec(scenario.agent, scenario.max_steps)
        return self._with_model(scenario, self._agent_specs[key])

    def _of_row(self, scenario: Scenario, row_line: str, problems: list[Problem]) -> list[Problem]:
        """A dataset row's problems, those its values made (a `bio` over the block's limit, a tool name the
        agent lacks) named by the row's line, `rows.jsonl:3: ...`, as its loading mistakes are; those the
        unfilled template has too are the template's, told alike for every row (so once)."""
        if scenario.path not in self._templates:
            self._templates[scenario.path] = load_scenario_partially(scenario.path)[0]
        template = self._templates[scenario.path]
        of_template: list[Problem] = []
        filled: set[str] = set()  # the agents the row names (`agent: "{agent}"`): a mistake there is the row's
        if template is not None and len(template.turns) == len(scenario.turns):
            pairs = list(zip(template.turns, scenario.turns, strict=True))
            filled = {"agent"} if template.agent != scenario.agent else set()
            filled |= {f"turns[{turn.index}].agent" for turn, row in pairs if turn.agent != row.agent}
            # checked against the row's agents: with the template's own (a field's name) none is known, and
            # its other problems would go unseen, each told again as every row's
            turns = tuple(replace(turn, agent=row.agent) for turn, row in pairs)
            of_template = self._agent_problems(replace(template, agent=scenario.agent, turns=turns))
        return [
            problem
            if problem in of_template and problem.key not in filled
            else dataclasses.replace(problem, message=f"{row_line}: {problem.message}")
            for problem in problems
        ]

    def _agent_problems(self, scenario: Scenario) -> list[Problem]:
        """What the scenario names that its agents lack (blocks, tools, arguments, features), and initial
        values their blocks refuse."""
        problems: list[Problem] = []
        for name in scenario.agents:
            labels, agent_names, tools, facts = self._agent_facts(name)
            problems += scenario_problems(scenario, labels, agent_names, tools, agent=name, **facts)
        return problems + self._tool_result_problems(scenario)

    def other_spec(self, scenario: Scenario, name: str) -> AgentSpec:
        """Another agent the scenario drives (a turn's `agent:`), as its run drives it."""
        return self._with_model(scenario, self.factory.spec(name, scenario.max_steps))

    def fingerprint(self, scenario: Scenario, spec: AgentSpec) -> dict[str, Any]:
        """What the scenario's cassette stores of its agents (`metadata.agent`): its own agent's fingerprint,
        and each other agent's by name, so that a change to any of them is named."""
        others = {name: self.other_spec(scenario, name) for name in scenario.agents[1:]}
        return agents_fingerprint(spec, others)

    def _agent_facts(self, name: str) -> tuple[list[str], list[str], list[str] | None, dict[str, Any]]:
        """What `scenario_problems` checks a scenario against of agent `name`, gathered once an agent: a
        dataset's rows all name the same one (a 20,000-row dataset gathered it 20,000 times)."""
        known = self._facts.get(name)
        if known is not None:
            return known
        config = self.factory.config
        agent = config.agents.get(name)
        facts: dict[str, Any] = {
            "limits": {block.label: block.limit for block in agent.blocks} if agent else None,
            "parameters": {tool.name: _arguments_offered(agent, tool) for tool in agent.tools} if agent else None,
            "schemas": {block.label: block.schema for block in agent.blocks if block.schema is not None}
            if agent
            else None,
            "archival": agent.embedding is not None if agent else None,
            "context_window": agent.context_window is not None if agent else None,
            "memory_warning": agent.memory_warning if agent else None,
            "tool_rules": bool(agent.tool_rules) if agent else None,
        }
        found = (
            [block.label for block in agent.blocks] if agent else [],
            list(config.agents),
            [tool.name for tool in agent.tools] if agent else None,
            facts,
        )
        self._facts[name] = found
        return found

    @staticmethod
    def _with_model(scenario: Scenario, spec: AgentSpec) -> AgentSpec:
        """A matrix run's agents talk to its model (the endpoint stays theirs)."""
        if scenario.model is None:
            return spec
        return replace(spec, model=replace(spec.model, name=scenario.model))

    def _tool_result_problems(self, scenario: Scenario) -> list[Problem]:
        """`tool_results:` may only name tools declared by a JSON schema alone, of an agent it drives."""
        declared: dict[str, bool] = {}  # tool name -> declared (no code)
        for name in scenario.agents:
            agent = self.factory.config.agents.get(name)
            for tool in agent.tools if agent else ():
                declared[tool.name] = declared.get(tool.name, False) or tool.declared_parameters is not None
        problems: list[Problem] = []
        for tool_name in scenario.tool_results:
            if tool_name not in declared:
                known = [name for name, is_declared in declared.items() if is_declared]
                listed = ", ".join(known) if known else "none"
                message = f"no tool '{tool_name}' declared by a JSON schema alone; the scenario's agents have: {listed}"
                problems.append(scenario.problem(("tool_results", tool_name), message))
            elif not declared[tool_name]:
                message = f"tool '{tool_name}' runs its own code: only tools declared by a JSON schema take results"
                problems.append(scenario.problem(("tool_results", tool_name), message))
        return problems

    def run(
        self, scenario: Scenario, spec: AgentSpec | None = None, variant: int = 1, repeats: int | None = None
    ) -> ScenarioResult:
        """`spec`, when given, is `spec_for(scenario)` already computed (and its checks passed); `variant`
        is the repeat to play (its own cassette). `repeats`, recording: how many repeats this recording
        makes (`--repeat K`), which the first repeat's cassette keeps; None keeps what it says."""
        spec = spec or self.spec_for(scenario)
        started = time.perf_counter()
        result = ScenarioResult(scenario, Project.variant_path(self.cassette_path(scenario), variant), variant=variant)
        recording = not self.project.replaying
        if recording:  # the last guard (the CLI refuses these up front): nothing written over it
            clash = overwritten_inputs(self.project, [(scenario, result.cassette)], [], str)
            if clash:
                result.error, result.outcome = str(clash[0]), Outcome.ERROR
                return result
        kept = _repeats_kept(result.cassette, repeats) if recording and variant == 1 else None
        secrets_sent: list[tuple[int | None, SecretSent]] = []  # (the turn that sent it, where), recording
        try:
            # Python's `random` seeded for the run (a tool drawing numbers replays), and put back after it.
            with self.factory.cassette(result.cassette) as cassette, kept_random():
                self.factory.seed_random(spec, result.cassette)
                self._play(scenario, spec, cassette, result, secrets_sent)
                # Replay writes nothing: hashing the fingerprint there cost a quarter of a one-step replay.
                if recording:
                    secrets_sent += [(None, sent) for sent in cassette.secrets_sent()]
                    cassette.note_recording(spec.model, self.fingerprint(scenario, spec), kept)
            if secrets_sent:  # a cassette that can never replay: the recording is no success
                told = self._secrets_sent(scenario, result.cassette, secrets_sent)
                result.error = told if result.error is None else f"{result.error}\n{told}"
            result.unplayed = cassette.unplayed if not result.stale else []
            result.recorded_with = cassette.recorded_with
            result.change = cassette.change
            if result.unplayed:
                result.stale = self._unplayed(scenario, result.cassette, result.unplayed)
        except CassetteError as exc:
            result.error = result.error or self._unreadable(scenario, exc)
        except RunError as exc:  # this scenario cannot go on (a cassette, the endpoint); the others still can
            result.error = result.error or str(exc)
            if isinstance(exc, UnknownModel):  # a name with a typo: the run exits 2 once the others have run
                result.unknown_model = exc.model
        result.seconds = time.perf_counter() - started
        if result.error is not None or result.not_recorded:  # no cassette: it could not run, as its recording
            result.outcome = Outcome.ERROR  # could not (an endpoint error writes nothing): both say error
            return result
        failed = bool(result.failures or result.stale)
        if scenario.xfail is not None and not result.stale:  # a stale cassette shows no misbehaviour
            result.outcome = Outcome.XFAILED if failed else Outcome.XPASSED
        else:
            result.outcome = Outcome.FAILED if failed else Outcome.PASSED
        return result

    def _play(
        self,
        scenario: Scenario,
        spec: AgentSpec,
        cassette: Cassette,
        result: ScenarioResult,
        secrets_sent: list[tuple[int | None, SecretSent]],
    ) -> None:
        """Play the scenario's turns and checks through `cassette`. Recording, `secrets_sent` gets the parts
        of the requests that held a secret, with the turn that sent them (None: the archival passages', a
        simulated user's or a check's request)."""
        # A scenario's agent lives in memory for the run: its turns, blocks and edits are all in the result
        # (and the report); nothing would read a database written here.
        turn_now = [0]  # the scenario's turn being played
        step_hook = self.on_step if len(scenario.agents) == 1 else self._numbered(turn_now)
        main = self.factory.new_agent(
            spec,
            cassette=cassette,
            agent_id=self.agent_id(scenario),
            blocks=scenario.blocks,
            on_step=step_hook,
            history=list(scenario.history),  # the conversation it starts from (in its recall memory too)
        )
        agents = {scenario.agent: main}
        tool_results = ScenarioToolResults(scenario.tool_results)
        main.state.tool_results = tool_results
        shared = SharedBlocks(main)
        result.initial_blocks = main.memory.values()
        initial = {scenario.agent: result.initial_blocks}
        result.shared_labels[scenario.agent] = shared_labels(spec)
        if not self._seed(scenario, main, result):
            return
        all_calls: list[ToolCallRecord] = []  # the scenario's own agent's, for the final checks of calls
        editing_calls: list[ToolCallRecord] = []  # and the others' changing blocks it shares: for `edited:`
        judge = LLMJudge(spec, lambda judged: self.factory.chat_model(judged, cassette))
        last: TurnResult | None = None
        last_main: TurnResult | None = None
        exchanges: list[tuple[str, str | None]] = []  # (user message, reply), for a simulated user
        for turn in self._turns(scenario, spec, cassette, result, exchanges):
            index = turn.index
            turn_now[0] = index
            name = scenario.agent_of(turn)
            if name not in agents:
                other = self.other_spec(scenario, name)
                agents[name] = self.factory.new_agent(
                    other,
                    cassette=cassette,
                    agent_id=self.agent_id(scenario, name),
                    blocks=shared.values_for(other),
                    on_step=step_hook,
                )
                agents[name].state.tool_results = tool_results
                initial[name] = result.agent_initial_blocks[name] = shared.initial_for(agents[name])
                result.shared_labels[name] = shared_labels(other)
            agent = agents[name]
            shared.give(agent)
            before = agent.memory.values()  # what a diff of the turn compares with: this agent's blocks
            first_message = len(agent.messages)
            secrets_sent += [(None, sent) for sent in cassette.secrets_sent()]  # before the turn: not its own
            try:
                outcome = agent.send(turn.user)
            except CassetteMiss as miss:
                shared.take(agent)
                result.stale = self._stale(scenario, miss, agent, index, first_message, result.variant)
                result.stale_cause = miss.cause
                result.missed = (next(iter(cassette.unplayed), None), miss.request.body)
                # A turn unanswered from its first step is rolled back by the agent; the report still
                # shows what the user said.
                sent = agent.messages[first_message:] or [{"role": "user", "content": turn.user}]
                blocks = agent.memory.values()
                finished = agent.steps_before_error  # the turn's steps before the miss: they ran
                result.turns.append(
                    TurnRecord(index, turn.user, None, sent, blocks, None, turn.agent, finished, before)
                )
                return
            except ModelAnswerError as exc:
                # The model's answer (recorded as it came) ends this scenario: caught inside the cassette,
                # so the recording is kept and replays to this same error.
                result.error = self._located(scenario, index, agent, first_message, str(exc))
                result.error_recorded = True
                sent = agent.messages[first_message:] or [{"role": "user", "content": turn.user}]
                blocks, finished = agent.memory.values(), agent.steps_before_error
                result.turns.append(
                    TurnRecord(index, turn.user, None, sent, blocks, str(exc), turn.agent, finished, before)
                )
                return
            except LLMError as exc:
                # The endpoint itself (unreachable, the key, rate limits): located too, but raised on so a
                # recording in progress saves nothing and the cassette keeps its old takes.
                result.error = self._located(scenario, index, agent, first_message, str(exc))
                raise
            finally:
                secrets_sent += [(index, sent) for sent in cassette.secrets_sent()]
            shared.take(agent)
            last = outcome
            if agent is main:
                last_main = outcome
            exchanges.append((turn.user, outcome.reply))
            if agent is main:
                all_calls += outcome.tool_calls
                editing_calls += outcome.tool_calls
            else:
                editing_calls += _edits_of_shared(outcome.tool_calls, shared.shared_with_first(agent.spec))
            result.turns.append(
                TurnRecord(
                    index,
                    turn.user,
                    outcome,
                    agent.turn_messages(),
                    agent.memory.values(),
                    agent=turn.agent,
                    blocks_before=before,
                )
            )
            observed = Observed(
                agent.memory.values(),
                initial[name],
                outcome.tool_calls,
                outcome.reply,
                outcome.stop_reason,
                judge,
                steps=list(outcome.steps),
                archival=agent.state.archival,
                context=_context(index, outcome),
                recall=agent.state.recall,
            )
            if not self._check(scenario, turn.checks, observed, result, f"turn {index + 1}"):
                return
        if last is None:
            if not result.stale and result.error is None:
                result.error = f"{scenario.path}: the simulated user ended the conversation before writing a message"
                result.error_recorded = True  # its recorded ###STOP### replays to this same error
            return
        main_turns = [t for t in result.turns if t.agent is None or t.agent == scenario.agent]
        replies = [t.result.reply for t in main_turns if t.result and t.result.reply is not None]
        shared.give(main)
        observed = Observed(
            main.memory.values(),
            result.initial_blocks,
            all_calls,
            replies[-1] if replies else None,
            (last_main or last).stop_reason,
            judge,
            [turn.blocks for turn in result.turns],
            self._snapshots(scenario, result.variant) if has_snapshot(scenario) else None,
            [step for turn in main_turns if turn.result for step in turn.result.steps],
            main.state.archival,
            [event for turn in main_turns if turn.result for event in _context(turn.index, turn.result)],
            main.state.recall,
            editing_calls=editing_calls,
        )
        self._check(scenario, scenario.checks, observed, result, "the final expect")

    def _snapshots(self, scenario: Scenario, variant: int) -> Snapshots:
        """The scenario's golden file. `--update-snapshots` with repeats: the first repeat writes it and the
        others leave it be (neither write nor compare: under `-j N` they would race the first, and which
        repeat's memory the file held depended on which finished last); the next run compares them all."""
        if self.update_snapshots and variant > 1:
            return _LeftToTheFirstRepeat()
        return SnapshotFile(self.snapshot_path(scenario), self.update_snapshots)

    def _numbered(self, turn_now: list[int]) -> Callable[[StepRecord], None] | None:
        """`on_step` for a scenario that drives several agents: a step shows the scenario's turn number
        (`turn_now[0]`), not the turn count of the agent that took it."""
        on_step = self.on_step
        if on_step is None:
            return None
        return lambda step: on_step(dataclasses.replace(step, turn=turn_now[0]))

    def _seed(self, scenario: Scenario, agent: Agent, result: ScenarioResult) -> bool:
        """Put the scenario's `archival:` passages in the agent's archival memory, embedded through the
        cassette (one request for all); False when that request is not recorded, or failed."""
        archival = agent.state.archival
        if not scenario.archival or archival is None:
            return True
        line = scenario.line(("archival",))
        where = f"{scenario.path}:{line}" if line else str(scenario.path)
        try:
            archival.insert_many(scenario.archival, [agent.state.now() for _ in scenario.archival])
        except CassetteMiss as miss:
            shown = self.project.relative(Path(miss.cassette))
            if not Path(miss.cassette).exists():
                result.stale = [
                    f"{where}: no cassette at {shown}: {_not_recorded(result.variant)}",
                    f"  record it with: {self.record_hint(scenario.path)}",
                ]
                return False
            result.stale = [
                f"{where}: archival: the cassette {shown} has no recorded embeddings for the scenario's archival "
                f"passages ({miss.reason('their texts, or the embedding model, changed')})",
                *miss.diff_lines(),
                f"  re-record with: {self.record_hint(scenario.path)}",
            ]
            return False
        except LLMError as exc:
            result.error = f"{where}: archival: embedding the scenario's passages: {exc}"
            return _recorded(exc, result)
        return True

    def _turns(
        self,
        scenario: Scenario,
        spec: AgentSpec,
        cassette: Cassette,
        result: ScenarioResult,
        exchanges: list[tuple[str, str | None]],
    ) -> Iterator[Turn]:
        """The scenario's turns: scripted, or written one by one by the simulated user (who reads
        `exchanges` as the loop fills it) until it stops, `max_turns`, or a reply holds `stop_when`."""
        simulation = scenario.simulate
        if simulation is None:
            yield from scenario.turns
            return
        user = SimulatedUser(simulation, spec, lambda simulated: self.factory.chat_model(simulated, cassette))
        for index in range(simulation.max_turns):
            if exchanges and simulation.stop_when is not None and simulation.stop_when in (exchanges[-1][1] or ""):
                return
            try:
                text = user.next_message(exchanges)
            except CassetteMiss as miss:
                result.stale = [
                    f"{scenario.path}: the cassette {self.project.relative(Path(miss.cassette))} has no recorded "
                    f"answer for the simulated user's message {index + 1} "
                    f"({miss.reason('its persona, goal or model, or the conversation, changed')})",
                    *miss.diff_lines(),
                    f"  re-record with: {self.record_hint(scenario.path)}",
                ]
                return
            except LLMError as exc:
                result.error = f"{scenario.path}: the simulated user's message {index + 1}: {exc}"
                _recorded(exc, result)
                return
            except NoMessage as exc:  # recorded as it came: replays to this same error
                result.error = f"{scenario.path}: the simulated user gave no message at turn {index + 1}: {exc}"
                result.error_recorded = True
                return
            if text is None:
                return
            yield Turn(index, text)

    def _check(
        self,
        scenario: Scenario,
        checks: tuple[ExpectCheck, ...],
        observed: Observed,
        result: ScenarioResult,
        where: str,
    ) -> bool:
        """Run `checks`; False when a judge's exchange is not in the cassette (the scenario is stale)."""
        try:
            # In the order they are written (the checks run in their registry's): line 25's before line 26's.
            failures = run_checks(checks, observed)
            result.failures += sorted(failures, key=lambda failure: scenario.line(failure.loc) or 0)
            result.judgements += sorted(observed.judgements, key=lambda judged: scenario.line(judged.loc) or 0)
        except CassetteMiss as miss:
            result.stale = [
                f"{_at_check(scenario, miss)}: the cassette {self.project.relative(Path(miss.cassette))} has no "
                f"recorded answer for a check of {where} ({miss.reason(_CHECK_CHANGED)})",
                *miss.diff_lines(),
                f"  re-record with: {self.record_hint(scenario.path)}",
            ]
            return False
        except LLMError as exc:
            asked = exc.check_asker or f"{Asker.JUDGE} or {Asker.ARCHIVAL_SEARCH}"
            result.error = f"{_at_check(scenario, exc)}: a check of {where} (its {asked}): {exc}"
            return _recorded(exc, result)
        except ScenarioError as exc:  # a golden file the run reads (a snapshot) that is not one: the user's to fix
            result.error = f"{scenario.path}: a check of {where}: {exc}"
            return False
        return True

    def _unplayed(self, scenario: Scenario, path: Path, unplayed: list[int]) -> list[str]:
        """Replay asked for less than was recorded: the conversation the cassette holds is not this one."""
        return [
            f"{scenario.path}: the cassette {self.project.relative(path)} holds {len(unplayed)} recorded "
            f"interaction(s) this run never asked for (indexes {unplayed}): the agent, its prompt or tools, the "
            "model settings or the scenario changed",
            f"  re-record with: {self.record_hint(scenario.path)}",
        ]

    def _unreadable(self, scenario: Scenario, exc: CassetteError) -> str:
        """A cassette that cannot be read, located as every other failure is (at the scenario's `cassette:`,
        else its first turn), named as reports name files (from the project's root: the same text from any
        checkout), with the command that records it anew."""
        line = scenario.line(("cassette",) if scenario.cassette is not None else ("turns", 0, "user"))
        where = f"{scenario.path}:{line}" if line else str(scenario.path)
        return (
            f"{where}: {self.project.relative(Path(exc.path))} is {exc.reason}; restore it from version control, "
            f"or record it anew with: {self.record_hint(scenario.path, anew=True)}"
        )

    def _secrets_sent(self, scenario: Scenario, path: Path, sent: list[tuple[int | None, SecretSent]]) -> str:
        """A recording whose requests held a secret's value: where each was (the turn, the message) and what
        secret it was (its variable's name, never its value). The cassette masks it, so the request it holds
        is not the one the scenario sends, and every replay would miss it."""
        shown = self.project.relative(path)
        lines = []
        for turn, found in sent:
            names = " and ".join(found.names)
            if turn is None:
                line = scenario.line(("archival",) if scenario.archival else ())
                where = f"{scenario.path}:{line}" if line else str(scenario.path)
                who = "a request outside the turns (the archival passages', the simulated user's or a check's)"
            else:
                loc: Loc = ("simulate",) if scenario.simulate is not None else ("turns", turn, "user")
                line = scenario.line(loc)
                where = f"{scenario.path}:{line}: {dotted(loc)}" if line else f"{scenario.path}: {dotted(loc)}"
                who = f"turn {turn + 1}"
            lines.append(f"{where}: {who} sent the value of {names} in {found.place} of its request")
        return "\n".join(
            [
                *lines,
                f"  the cassette {shown} masks a secret as {MASK}, so it holds another request than the one the "
                "scenario sends, and it can never replay: keep secrets out of prompts, turns and tool results "
                f"(a tool can say it has a token without returning it), then record it again with: "
                f"{self.record_hint(scenario.path)}",
            ]
        )

    @staticmethod
    def _located(scenario: Scenario, turn: int, agent: Agent, first_message: int, message: str) -> str:
        loc = ("turns", turn, "user")
        line = scenario.line(loc)
        where = f"{scenario.path}:{line}" if line else str(scenario.path)
        step = sum(1 for m in agent.messages[first_message:] if m["role"] == "assistant") + 1
        return f"{where}: {dotted(loc)}: turn {turn + 1}, step {step}: {message}"

    def _stale(
        self, scenario: Scenario, miss: CassetteMiss, agent: Agent, turn: int, first_message: int, variant: int
    ) -> list[str]:
        step = sum(1 for m in agent.messages[first_message:] if m["role"] == "assistant") + 1
        loc = ("turns", turn, "user")
        line = scenario.line(loc)
        where = f"{scenario.path}:{line}" if line else str(scenario.path)
        path = Path(miss.cassette)
        shown = self.project.relative(path)  # as the report's `cassette` says it: the same from any checkout
        if not path.exists():
            return [
                f"{where}: no cassette at {shown}: {_not_recorded(variant)}",
                f"  record it with: {self.record_hint(scenario.path)}",
            ]
        lines = [
            f"{where}: {dotted(loc)}: the cassette {shown} has no recorded response for turn {turn + 1}, "
            f"step {step} ({miss.reason(_AGENT_CHANGED)})",
        ]
        lines += miss.diff_lines()
        lines.append(f"  re-record with: {self.record_hint(scenario.path)}")
        return lines


# What an agent's request missing from its cassette says changed, when the harness has no better reason.
_AGENT_CHANGED = "the agent, its prompt or tools, the model settings or the scenario changed"
# What a check's exchange missing from its cassette says changed, when the harness has no better reason.
_CHECK_CHANGED = "a judge's rubric, model or judged text, or an archival search's query or passages, changed"


def harness_record(*paths: Path | str, flags: Iterable[str] = (), options: Iterable[str] = ()) -> str:
    """A `harness record` command as a message tells it, quoted for a shell: its `flags` (`--mode all`), the
    `options` the command telling it was given (`ScenarioRunner.record_options`), then the scenario paths."""
    return shlex.join(["harness", "record", *flags, *options, *map(str, paths)])


def _not_recorded(variant: int) -> str:
    """Why a run has no cassette: never recorded; for a later repeat, its recording failed (an endpoint error
    writes nothing) or the file is gone, while the first cassette says the scenario records that many."""
    return "this scenario has not been recorded yet" if variant == 1 else f"repeat {variant} has not been recorded"


def _at_check(scenario: Scenario, exc: RunError) -> str:
    """Where a check's model exchange failed: `file:line: key` of the check that asked (a judge, an archival
    search), as an agent's failing step is located; the file alone when no check said."""
    loc = exc.check_loc
    if loc is None:
        return str(scenario.path)
    line = scenario.line(loc)
    return f"{scenario.path}:{line}: {dotted(loc)}" if line else f"{scenario.path}: {dotted(loc)}"


def _edits_of_shared(calls: Iterable[ToolCallRecord], labels: set[str]) -> list[ToolCallRecord]:
    """Another agent's calls as changes of the scenario's own agent's blocks: only their changes to the
    values of blocks the two share (renaming or deleting a shared block changes only that agent's copy)."""
    kept = []
    for call in calls:
        edits = tuple(edit for edit in call.edits if edit.label in labels and edit.kind == EditKind.VALUE)
        if edits:
            kept.append(replace(call, edits=edits))
    return kept


def _context(index: int, outcome: TurnResult) -> list[tuple[int, ContextEvent]]:
    """What context pressure did in the scenario's turn `index`, each event with that turn."""
    return [(index, event) for step in outcome.steps for event in step.context]


class _LeftToTheFirstRepeat:
    def compare(self, loc: Loc, actual: dict[str, Any]) -> list[Failure]:
        return []


def has_snapshot(scenario: Scenario) -> bool:
    """Whether the final `expect:` checks a snapshot (the only place one can be checked)."""
    return any(isinstance(check, Snapshot) for check in scenario.checks)


def _repeats_kept(cassette: Path, repeats: int | None) -> int | None:
    """The number of repeats a scenario's first cassette keeps when recorded again: `repeats` given (this
    recording's `--repeat K`), else what it says already. None (it says none) for a scenario never repeated,
    and for one recorded before the count was kept, unless given: its repeats are the files beside it."""
    said = recorded_repeats(cassette)
    if repeats is None or (repeats == 1 and said is None and Project.repeats_on_disk(cassette) == 1):
        return said
    return repeats


def _recorded(exc: LLMError, result: ScenarioResult) -> bool:
    """False for an answer the loop cannot use (recorded: the scenario ends on it, and replays to it); the
    endpoint itself failing (unreachable, the key, rate limits) is raised on, located by the caller, so a
    recording in progress saves nothing and the cassette keeps its old takes."""
    if isinstance(exc, ModelAnswerError):
        result.error_recorded = True
        return False
    raise exc


# A cassette's file name, with room for what is added beside it (`.repeat-N`, the temporary file of an
# atomic write): file systems take 255 bytes a name.
MAX_CASSETTE_NAME = 200


def _a_folder(cassette: Path, cassettes_dir: Path) -> bool:
    try:
        return cassette == cassettes_dir or cassette.is_dir()
    except OSError:  # a name no file system takes: said as such
        return False


def _unusable_file_name(path: Path) -> str | None:
    """Why no file system would take `path` as a cassette's, or None (a NUL is refused before: `confined`)."""
    for part in path.parts:
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > (MAX_CASSETTE_NAME if part == path.name else 255):
            return (
                f"file name {part[:40]!r}... is {size} bytes long: at most {MAX_CASSETTE_NAME} for a cassette, "
                "255 for a folder (give a shorter `cassette:`, file name, dataset row id or model name)"
            )
    return None
