"""Run a scenario against its cassette: replay (default, offline) or record from a live endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2
import openai

from harness.agent import Agent, AgentState, StepRecord, ToolCallRecord, TurnResult
from harness.cassettes import (
    CassetteError,
    CassetteSession,
    RecordModeName,
    is_cassette_miss,
    use_cassette,
)
from harness.config import AgentsConfig, AgentSpec
from harness.llm import OpenAIChatModel
from harness.scenarios.assertions import Failure, Observed, check
from harness.scenarios.model import Scenario, check_against_agent
from harness.store import Store
from harness.yamlsource import dotted

REPLAY_KEY = "replay-needs-no-key"


@dataclass
class TurnRecord:
    index: int
    user: str
    result: TurnResult | None
    messages: list[dict[str, Any]]
    blocks: dict[str, str]


@dataclass
class ScenarioResult:
    scenario: Scenario
    cassette: Path
    outcome: str = "passed"  # passed | failed | xfailed | xpassed
    failures: list[Failure] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # lines explaining a replay miss
    turns: list[TurnRecord] = field(default_factory=list)
    initial_blocks: dict[str, str] = field(default_factory=dict)
    unplayed: list[int] = field(default_factory=list)
    recorded_with: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None  # the scenario could not run at all (an unreadable cassette)

    @property
    def ok(self) -> bool:
        return self.outcome in ("passed", "xfailed")

    @property
    def steps(self) -> int:
        return sum(len(t.result.steps) for t in self.turns if t.result is not None)

    def history(self, label: str) -> list[str]:
        """How block `label` came to hold its value: every edit, with the call that made it."""
        lines = [f"initial: {self.initial_blocks.get(label)!r}"]
        for turn in self.turns:
            for step in turn.result.steps if turn.result else ():
                for call in step.tool_calls:
                    for edit in call.edits:
                        if edit.label == label:
                            lines.append(
                                f"turn {turn.index + 1} step {step.index + 1} "
                                f"{call.name}({call.arguments}): {edit.old!r} -> {edit.new!r}"
                            )
        return lines

    def explain(self) -> str:
        """The failure report: file:line, key, turn, expected vs actual, the block's edit history."""
        path = self.scenario.path
        out: list[str] = [f"error: {self.error}"] if self.error else []
        if self.stale:
            out += self.stale
        for failure in self.failures:
            line = self.scenario.line(failure.loc)
            where = f"{path}:{line}" if line else str(path)
            out.append(f"{where}: {failure.key}: {failure.message}")
            if failure.loc[0] == "turns":
                index = int(failure.loc[1])
                out.append(f"  in turn {index + 1}: user: {self.scenario.turns[index].user!r}")
            else:
                out.append("  after the last turn")
            out += [f"  {line}" for line in failure.detail()]
            if failure.label is not None:
                out.append(f"  history of block '{failure.label}':")
                out += [f"    {line}" for line in self.history(failure.label)]
        if self.outcome == "xpassed":
            out.append(
                f"{path}: expected to fail ({self.scenario.wire.xfail}) but every check passed: "
                "remove `xfail` if the behaviour is fixed"
            )
        return "\n".join(out)


@dataclass
class ScenarioRunner:
    config: AgentsConfig
    cassette_dir: Path
    mode: RecordModeName = "none"
    base_url: str | None = None
    model_name: str | None = None
    project_dir: Path | None = None
    on_step: Callable[[StepRecord], None] | None = None
    _http_client: httpx2.Client | None = field(default=None, init=False, repr=False)

    def http_client(self) -> httpx2.Client:
        """One HTTP client for every scenario: building the SDK's default one (TLS context, CA bundle)
        costs more than replaying a whole scenario. vcrpy intercepts it all the same."""
        if self._http_client is None:
            self._http_client = openai.DefaultHttpxClient()
        return self._http_client

    def cassette_path(self, scenario: Scenario) -> Path:
        if scenario.wire.cassette:
            return self.cassette_dir / scenario.wire.cassette
        root = (self.project_dir or self.config.path.parent).resolve()
        path = scenario.path.resolve()
        try:
            relative = path.relative_to(root)
        except ValueError:
            relative = Path(path.name)
        if relative.parts and relative.parts[0] == "scenarios":
            relative = relative.relative_to("scenarios")
        return self.cassette_dir / relative.with_suffix(".yaml")

    def spec_for(self, scenario: Scenario) -> AgentSpec:
        agent = self.config.agents.get(scenario.wire.agent)
        check_against_agent(
            scenario,
            [block.label for block in agent.blocks] if agent else [],
            list(self.config.agents),
            [tool.name for tool in agent.tools] if agent else None,
        )
        return self.agent_spec(scenario.wire.agent, scenario.wire.max_steps)

    def agent_spec(self, name: str, max_steps: int | None = None) -> AgentSpec:
        """Agent `name` as this run needs it: endpoint and model overrides applied, no retries in replay."""
        spec = self.config.get(name)
        model = spec.model
        if self.base_url:
            model = replace(model, base_url=self.base_url)
        if self.model_name:
            model = replace(model, name=self.model_name)
        if self.mode == "none":
            model = replace(model, max_retries=0)  # a miss is final; retrying it only repeats the miss
        return replace(spec, model=model, max_steps=max_steps or spec.max_steps)

    def chat_model(self, spec: AgentSpec) -> OpenAIChatModel:
        return OpenAIChatModel(
            spec.model, http_client=self.http_client(), api_key=REPLAY_KEY if self.mode == "none" else None
        )

    def run(self, scenario: Scenario) -> ScenarioResult:
        spec = self.spec_for(scenario)
        started = time.perf_counter()
        result = ScenarioResult(scenario, self.cassette_path(scenario))
        store = Store(":memory:")
        try:
            with use_cassette(result.cassette, self.mode, (spec.model.api_key_env,)) as session:
                self._play(scenario, spec, store, session, result)
                session.note_recording(spec.model.name, spec.model.base_url or "https://api.openai.com/v1")
            result.unplayed = session.unplayed if not result.stale else []
            result.recorded_with = session.metadata
        except CassetteError as exc:  # this scenario cannot run; the others still can
            result.error = str(exc)
        finally:
            store.close()
        result.seconds = time.perf_counter() - started
        if result.error is not None:
            result.outcome = "error"
            return result
        failed = bool(result.failures or result.stale)
        if scenario.wire.xfail is not None and not result.stale:  # a stale cassette shows no misbehaviour
            result.outcome = "xfailed" if failed else "xpassed"
        else:
            result.outcome = "failed" if failed else "passed"
        return result

    def _play(
        self, scenario: Scenario, spec: AgentSpec, store: Store, session: CassetteSession, result: ScenarioResult
    ) -> None:
        model = self.chat_model(spec)
        state = AgentState(f"agent-{scenario.name}", spec.name, spec.new_memory(scenario.wire.blocks))
        agent = Agent(spec, model, state=state, store=store, on_step=self.on_step)
        store.create_agent(agent.state)
        result.initial_blocks = agent.memory.values()
        all_calls: list[ToolCallRecord] = []
        last: TurnResult | None = None
        for index, turn in enumerate(scenario.turns):
            first_message = len(agent.messages)
            try:
                outcome = agent.send(turn.user)
            except Exception as exc:
                # vcrpy raises its miss straight through the SDK; an SDK that wraps it hands it on as the cause.
                if not (is_cassette_miss(exc) or is_cassette_miss(getattr(exc, "cause", None))):
                    raise
                result.stale = self._stale(scenario, session, agent, index, first_message)
                result.turns.append(
                    TurnRecord(index, turn.user, None, agent.messages[first_message:], agent.memory.values())
                )
                return
            last = outcome
            all_calls += outcome.tool_calls
            result.turns.append(
                TurnRecord(index, turn.user, outcome, agent.messages[first_message:], agent.memory.values())
            )
            observed = Observed(
                agent.memory.values(),
                result.initial_blocks,
                outcome.tool_calls,
                outcome.reply,
                outcome.stop_reason.value,
            )
            result.failures += check(turn.expect, observed, ("turns", index, "expect"))
        assert last is not None
        replies = [t.result.reply for t in result.turns if t.result and t.result.reply is not None]
        observed = Observed(
            agent.memory.values(),
            result.initial_blocks,
            all_calls,
            replies[-1] if replies else None,
            last.stop_reason.value,
        )
        result.failures += check(scenario.wire.expect, observed, ("expect",))

    def _stale(
        self, scenario: Scenario, session: CassetteSession, agent: Agent, turn: int, first_message: int
    ) -> list[str]:
        step = sum(1 for m in agent.messages[first_message:] if m["role"] == "assistant") + 1
        loc = ("turns", turn, "user")
        line = scenario.line(loc)
        where = f"{scenario.path}:{line}" if line else str(scenario.path)
        if not session.path.exists():
            return [
                f"{where}: no cassette at {session.path}: this scenario has not been recorded yet",
                f"  record it with: harness record {scenario.path}",
            ]
        lines = [
            f"{where}: {dotted(loc)}: the cassette {session.path} has no recorded response for turn {turn + 1}, "
            f"step {step} (the agent, its prompt or tools, the model settings or the scenario changed)",
        ]
        lines += session.miss_diff()
        lines.append(f"  re-record with: harness record {scenario.path}")
        return lines
