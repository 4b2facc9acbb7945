"""Benchmark of replay, recording and a big suite: a benchmark, not a test (targets are printed, never asserted).

    python bench/replay.py            # full run: about 2-3 minutes on 2 idle cores
    python bench/replay.py --quick    # smoke run, about 20-30 s: fewer rounds, a 100-scenario suite

Run it with the project's venv; paths resolve against the project root, scratch files go to a temp dir.
Timings are wall clock (`time.perf_counter`) with garbage collection on. Every comparison is interleaved:
one untimed warm-up round, then in each round every variant does the whole job once, the order rotated
from round to round, so machine noise hits all columns alike; figures are medians over the rounds. Off the
clock, a gc.collect() runs before each timed run, and the benchmark's own data (traffic, plain cassettes)
is frozen out of the collector's sight (gc.freeze), so a full collection costs what it would in a process
that holds only the code measured, as `harness run` does.

1. Example suite replay (X ms/step). The traffic of every scenario under scenarios/ (its cassette in
   cassettes/) replayed, ms/step = time / steps, a step being a recorded model request (an agent's step, an
   embedding, a judge's or a simulated user's turn, a summary). Columns, each replaying WHOLE cassettes,
   opening included, of the same traffic:
     (a)  the harness's replay path, the job columns (b)-(d) do: `ReplayCassette` opens the cassette, and
          each recorded request is made through the agent's replay model (`ReplayChatModel.complete`,
          `ReplayEmbeddingModel.embed`, built once per cassette with the settings that make them send
          exactly the recorded body, which is checked): the body built, keyed, looked up, the answer
          parsed by the live client's parser into what the loop sees. This is X;
     (a') the same on the cassettes rewritten by today's `format.dump` (a temp copy): what the suite costs
          once re-recorded, should cassettes/ predate the current format;
     (s)  the whole scenarios, exactly as `harness run` plays them (`ScenarioRunner`, record mode none,
          agents.yaml): on top of (a), the agent and its store built, the loop, tools and checks (loading
          the scenario file is not on the clock; section 4 times whole processes);
     (b)  plain vcrpy, `match_on=["method", "path", "body"]`, the openai SDK posting the recorded bodies;
     (c)  plain vcrpy with its default matchers (method, scheme, host, port, path, query): every chat
          request matches every recording, so it just hands out the recordings in order (it would answer
          a changed request too);
     (d)  the bare openai SDK over an httpx2.MockTransport: no vcrpy, nothing to open, the SDK's floor.
   The plain cassettes are recorded in a temp dir by vcrpy (record mode all, its default YAML serializer)
   around the SDK posting the same bodies to a MockTransport that answers with the recorded responses, so
   they hold the requests as the SDK really sends them, all its headers included. The SDK posts a body as
   the harness's live client does (`client.post("/chat/completions", body=..., cast_to=httpx2.Response)`).
   Every replayed response is compared with the recorded one (a wrong match raises; (a) compares the parsed
   answers), and every harness run must pass (or xfail) having played all its recorded steps.

2. A growing conversation (Y = the 200-turn (a) ms/step; (s) is printed beside it). The `chat` agent of
   agents.yaml (its prompt, blocks and tools) talks for 10 and 200 turns to an instant local stub
   (bench/stub_server.py: a real HTTP server on 127.0.0.1 in its own process, answering at once: a reply, and
   on every 4th turn a `core_memory_append` with heartbeat first, so memory, hence the system message,
   changes). Every request resends the whole history, so requests grow with the conversation. The scenarios
   are RECORDED through the real harness stack (record mode all: vcrpy, the openai SDK), then replayed by the
   columns of 1. Plain vcrpy with body matching compares each request with every earlier recording, and each
   failed comparison builds a diff: on the 200-turn cassette it runs ONCE, in order from the start, within a
   time budget (--vcrpy-budget; 0 = the whole cassette, however long it takes); the remaining steps are then
   ESTIMATED from single requests timed at later positions (a request's cost does not depend on what was
   played before it), through a parabola. The output says what is measured and what is estimated. Per step:
   instrumented whole-scenario replays (s) timestamp each step (from the agent's creation to the first
   `on_step`, then between `on_step`s: request building, lookup, parsing, tools, checks) and each
   `ChatModel.complete`; the per-step medians over the runs give the slowest step against the first, also with
   the collector disabled (what the steps cost by themselves).

3. Recording overhead (Z = the 200-turn overhead). The conversations of 25 and 200 turns re-recorded as
   `harness record` does (ScenarioRunner, record mode all: vcrpy, the openai SDK, the cassette written
   over the existing one) against the instant stub. The model's time is excluded by a baseline: the bare
   openai SDK (no vcrpy, its own keep-alive client) posting the very same recorded bodies to the same
   stub, its answers checked against the recording. overhead = the median over the rounds of harness ms/step
   - baseline ms/step of the same round (the two run back to back, so the machine's drift cancels).
   Reading and writing the cassette file are also timed apart, to show their share.

4. A 1000-scenario suite (A, B). A temp project of 1000 small scenarios (1-3 turns from a few messages,
   numbered so that every cassette differs) and their cassettes, recorded once through the harness from
   the stub (untimed setup; --quick builds 100: 50 recorded and 50 copies). Timed as whole processes,
   wall clock, after an untimed warm-up on one scenario: `harness run`, `python -m pytest -q -p
   no:cacheprovider`, and the same with `-n 2` (pytest-xdist), in the temp project. Each must exit 0 with
   every scenario passed. pytest (B) runs with the plugins an install of the harness brings, as a user's
   environment would (PYTEST_DISABLE_PLUGIN_AUTOLOAD, `-p` each pytest11 entry point of the harness's runtime
   dependencies, pytest-xdist's too for -n 2); the same two commands with every plugin of this dev
   environment are printed beside them (hypothesis's plugin, there for the harness's own tests, imports all
   of hypothesis at each session's end: about 0.25 s in the process and in each xdist worker). `-n 2` is
   read against plain pytest round by round: the median of the rounds' ratios (the two ran back to back, so
   the machine's drift between rounds cancels; the medians of the two columns can come from different
   rounds). The subprocesses get a bytecode cache in the temp dir (PYTHONPYCACHEPREFIX: this environment sets
   PYTHONDONTWRITEBYTECODE, which would recompile the harness at every start).

5. Cassette size (C, D): bytes per step of the example suite's cassette files against the plain vcrpy
   YAML of the same traffic (the cassettes of 1.(b)), and of the same cassettes rewritten as in (a'); the
   growing conversation at 10 and 200 turns (a cassette linear in turns keeps a flat bytes/step).

The last line sums it up:
    replay X ms/step | 200-turn Y ms/step | record-overhead Z ms/step | 1000 scenarios: run A s, pytest B s |
    cassette C bytes/step (vcrpy D)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import httpx2  # noqa: E402
import openai  # noqa: E402
import vcr  # noqa: E402
from benchlib import (  # noqa: E402
    Exchange,
    ModelTraffic,
    ScriptedTransport,
    Variant,
    WrongResponse,
    bench_data_frozen,
    conversation,
    file_io_seconds,
    installed_plugins,
    interleave,
    median,
    model_traffic,
    ms,
    plain_vcr,
    post,
    read_exchanges,
    record_plain,
    replay_floor,
    replay_models,
    replay_plain,
    rewrite,
    same_completion,
    sdk_client,
    small_scenario,
    stub_server,
    write_project,
    write_scenario,
)

from harness.cassettes.replay import ReplayCassette  # noqa: E402
from harness.factory import AgentFactory  # noqa: E402
from harness.llm.chat import ChatModel, ChatResponse  # noqa: E402
from harness.project import Project  # noqa: E402
from harness.scenarios import Scenario, ScenarioResult, ScenarioRunner, load_scenario  # noqa: E402
from harness.scenarios.discovery import discover  # noqa: E402
from harness.scenarios.model import load_scenarios_partially  # noqa: E402

HARNESS = "(a) replay models"
REWRITTEN = "(a') models, rewr."
SCENARIOS = "(s) whole scenarios"
BODY = "(b) vcrpy body"
DEFAULT = "(c) vcrpy default"
FLOOR = "(d) SDK floor"


@dataclass(frozen=True)
class Settings:
    suite_rounds: int
    talk_rounds: int
    vcrpy_budget: float  # seconds of in-order plain vcrpy (body) on the 200-turn cassette; 0 = all of it
    vcrpy_samples: int  # single requests timed after the budget, to estimate the rest (0: no estimate)
    record_rounds: int
    scenarios: int
    recorded_scenarios: int  # the others are copies of these
    cli_repeats: int


FULL = Settings(
    suite_rounds=15,
    talk_rounds=7,
    vcrpy_budget=20.0,
    vcrpy_samples=2,
    record_rounds=9,  # each round pairs the harness with the SDK: the median of 9 differences
    scenarios=1000,
    recorded_scenarios=1000,
    cli_repeats=5,  # whole processes on a noisy machine: 3 let one slow minute decide
)
QUICK = Settings(
    suite_rounds=3,
    talk_rounds=2,
    vcrpy_budget=1.0,
    vcrpy_samples=0,
    record_rounds=1,
    scenarios=100,
    recorded_scenarios=50,
    cli_repeats=1,
)


def target(measured: float, limit: float, unit: str, shown: str | None = None) -> str:
    return f"target <= {shown or f'{limit:g}'} {unit}: {'met' if measured <= limit else 'MISSED'}"


def check_run(result: ScenarioResult, steps: int | None = None) -> None:
    """A harness run the benchmark can count: passed (or xfailed), every recorded step played."""
    problems: list[str] = []
    if not result.ok:
        problems.append(f"outcome {result.outcome}")
    if getattr(result, "stale", None) or getattr(result, "error", None):
        problems.append("a stale cassette or an error")
    if getattr(result, "unplayed", None):
        problems.append(f"unplayed interactions {result.unplayed}")
    if steps is not None and result.steps != steps:
        problems.append(f"{result.steps} steps where the cassette has {steps}")
    if problems:
        raise RuntimeError(f"{result.scenario.path}: {', '.join(problems)}\n{result.explain()}")


def timed_runs(runner: ScenarioRunner, items: Sequence[tuple[Scenario, int | None]]) -> list[float]:
    """`runner.run` on each scenario, each timed alone (its result is checked off the clock)."""
    times: list[float] = []
    for scenario, steps in items:
        started = time.perf_counter()
        result = runner.run(scenario)
        times.append(time.perf_counter() - started)
        check_run(result, steps)
    return times


def variant_table(variants: Sequence[Variant], steps: int, indent: str = "  ") -> list[str]:
    reference = variants[0]
    lines = [
        f"{indent}{'variant':<20} {'ms/step':>8} {'ms total':>9} {'ms/step min..max':>17} {'x (a)':>6} {'runs':>4}"
    ]
    for variant in variants:
        per_step = [total / steps for total in variant.totals]
        spread = f"{ms(min(per_step))}..{ms(max(per_step))}"
        lines.append(
            f"{indent}{variant.name:<20} {ms(variant.total / steps):>8} {ms(variant.total, 1):>9} {spread:>17} "
            f"{variant.total / reference.total:>6.1f} {len(variant.runs):>4}"
        )
    return lines


def request_kb(body: dict[str, Any]) -> float:
    return len(json.dumps(body).encode()) / 1000


# ====================================================================== 1. the example suite


@dataclass
class SuiteItem:
    """A scenario with its harness cassette, the traffic in it, and the plain vcrpy cassette of that traffic."""

    scenario: Scenario
    cassette: Path
    exchanges: list[Exchange]
    plain: Path
    traffic: ModelTraffic

    @property
    def steps(self) -> int:
        return len(self.exchanges)


@dataclass
class SuiteResult:
    ms_per_step: dict[str, float]
    steps: int
    cassette_bytes: int
    rewritten_bytes: int
    plain_bytes: int


def bench_suite(settings: Settings, tmp: Path, transport: ScriptedTransport, cassettes: Path) -> SuiteResult:
    project = Project.build(agents=ROOT / "agents.yaml", cassettes=cassettes, relative_to=ROOT)
    where = project.cassettes_dir.resolve()
    shown = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
    print(f"== 1. Example suite: scenarios/ replayed from {shown}/ (whole cassettes, opening included)")
    runner = ScenarioRunner(AgentFactory(project))
    rewritten_dir = tmp / "suite-rewritten"
    rewritten = Project.build(agents=ROOT / "agents.yaml", cassettes=rewritten_dir, relative_to=ROOT)
    rewritten_runner = ScenarioRunner(AgentFactory(rewritten))
    items: list[SuiteItem] = []
    rewritten_paths: list[Path] = []
    rewritten_bytes = 0
    every = [scenario for path in discover([project.scenarios_dir]) for scenario in load_scenarios_partially(path)[0]]
    for scenario in every:  # a dataset's rows each (their own cassettes)
        path = scenario.path
        cassette = runner.cassette_path(scenario)
        if not cassette.exists():
            print(f"  skipped {path.relative_to(ROOT)}: no cassette at {cassette}")
            continue
        relative = cassette.relative_to(project.cassettes_dir)
        try:
            exchanges = read_exchanges(cassette)
            traffic = model_traffic(cassette)  # the same traffic as calls of the harness's replay models
            size = rewrite(cassette, rewritten_dir / relative)
            for each in (runner, rewritten_runner):  # both must replay it all, before anything is timed
                check_run(each.run(scenario))  # every recorded request played (embeddings, judges included)
        except Exception as exc:  # e.g. a cassette caught mid-rewrite, or a scenario edited since recording
            print(f"  skipped {path.relative_to(ROOT)}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        rewritten_bytes += size
        plain = tmp / "suite-vcrpy" / relative
        record_plain(plain, exchanges, transport)
        items.append(SuiteItem(scenario, cassette, exchanges, plain, traffic))
        rewritten_paths.append(rewritten_dir / relative)
    steps = sum(item.steps for item in items)
    if not steps:
        raise RuntimeError("no scenario of the example suite could be replayed")

    client = sdk_client()
    body_vcr, default_vcr = plain_vcr(body_matching=True), plain_vcr(body_matching=False)
    scenarios: list[tuple[Scenario, int | None]] = [(item.scenario, None) for item in items]  # played all: checked
    variants = [
        Variant(HARNESS, lambda: [replay_models(i.cassette, i.traffic) for i in items]),
        Variant(REWRITTEN, lambda: [replay_models(r, i.traffic) for i, r in zip(items, rewritten_paths, strict=True)]),
        Variant(SCENARIOS, lambda: timed_runs(runner, scenarios)),
        Variant(BODY, lambda: [replay_plain(body_vcr, i.plain, i.exchanges, client) for i in items]),
        Variant(DEFAULT, lambda: [replay_plain(default_vcr, i.plain, i.exchanges, client) for i in items]),
        Variant(FLOOR, lambda: [replay_floor(transport, i.exchanges) for i in items]),
    ]
    interleave(variants, settings.suite_rounds)
    print(f"  {len(items)} scenarios, {steps} steps; {settings.suite_rounds} interleaved rounds (+1 warm-up)")
    print("\n".join(variant_table(variants, steps)))
    names = [
        str(item.scenario.path.relative_to(ROOT)) + (f"[{item.scenario.row}]" if item.scenario.row else "")
        for item in items
    ]
    width = max(len(name) for name in names)
    header = "".join(f" {v.name.split()[0]:>7}" for v in variants)
    print(f"    {'per scenario, ms/step':<{width}} steps{header}")
    for index, (name, item) in enumerate(zip(names, items, strict=True)):
        cells = "".join(f" {ms(v.part(index) / item.steps):>7}" for v in variants)
        print(f"    {name:<{width}} {item.steps:>5}{cells}")
    opened = []
    for _ in range(5):
        started = time.perf_counter()
        for item in items:
            ReplayCassette(item.cassette)
        opened.append(time.perf_counter() - started)
    x, x_rewritten, whole = (variants[i].total / steps for i in range(3))
    print(
        f"  (a) {ms(x)} ms/step, cassette open included ({target(x * 1000, 0.3, 'ms/step')}); opening the "
        f"cassettes alone (ReplayCassette) {ms(median(opened) / steps)} ms/step; (a') {ms(x_rewritten)} ms/step"
    )
    print(
        f"  (s) {ms(whole)} ms/step: the whole scenarios as `harness run` plays them, the agent loop, tools, "
        f"store and checks on top of (a); {ms(whole - x)} ms/step more"
    )
    print("  (c) matches no body: it hands out the recordings in order; (d) opens nothing.")
    cassette_bytes = sum(item.cassette.stat().st_size for item in items)
    plain_bytes = sum(item.plain.stat().st_size for item in items)
    others = [p for p in project.cassettes_dir.rglob("*.yaml") if p not in {item.cassette for item in items}]
    if others:
        print(f"  not counted in the sizes: {len(others)} other file(s) in cassettes/ ({others[0]}, ...)")
    return SuiteResult({v.name: v.total / steps for v in variants}, steps, cassette_bytes, rewritten_bytes, plain_bytes)


# ====================================================================== 2. the growing conversation


@dataclass
class Talk(SuiteItem):
    """A conversation of `turns` turns recorded in the bench project, and its plain vcrpy twin."""

    turns: int = 0


@dataclass
class TalkResult:
    turns: int
    steps: int
    ms_per_step: dict[str, float]
    harness_bytes: int
    plain_bytes: int
    slowest_over_first: float | None = None


def record_talks(
    url: str, tmp: Path, transport: ScriptedTransport, sizes: Sequence[int], plain_sizes: Sequence[int]
) -> tuple[Path, list[Talk]]:
    """The bench project, and a conversation per size recorded through the harness from the stub (and as a
    plain vcrpy cassette, for the sizes in `plain_sizes`)."""
    root = tmp / "talk"
    agents = write_project(root, url)
    recorder = ScenarioRunner(AgentFactory(Project.build(agents=agents, record_mode="all")))
    talks: list[Talk] = []
    for turns in sizes:
        scenario = load_scenario(write_scenario(root / "scenarios" / f"talk-{turns}.yaml", conversation(turns)))
        result = recorder.run(scenario)
        check_run(result)
        cassette = recorder.cassette_path(scenario)
        exchanges = read_exchanges(cassette)
        if len(exchanges) != result.steps:
            raise RuntimeError(f"{cassette}: {len(exchanges)} interactions for {result.steps} steps")
        plain = tmp / "talk-vcrpy" / f"talk-{turns}.yaml"
        if turns in plain_sizes:
            record_plain(plain, exchanges, transport)
        talks.append(Talk(scenario, cassette, exchanges, plain, model_traffic(cassette), turns))
    return agents, talks


class StepClock:
    """A runner whose agents timestamp their steps (the agent's creation, then each `on_step`), time each
    `ChatModel.complete`, and note the garbage collections landing on each step."""

    def __init__(self, project: Project) -> None:
        self.marks: list[float] = []
        self.completes: list[float] = []
        self.collections: dict[int, list[tuple[int, float]]] = {}  # step -> (generation, seconds)
        self._collecting: float | None = None
        clock = self

        class TimedModel:
            def __init__(self, inner: ChatModel) -> None:
                self.inner = inner

            def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse:
                started = time.perf_counter()
                response = self.inner.complete(messages, tools)
                clock.completes.append(time.perf_counter() - started)
                return response

        class TimedFactory(AgentFactory):
            def chat_model(self, *args: Any, **kwargs: Any) -> ChatModel:
                return TimedModel(super().chat_model(*args, **kwargs))

            def new_agent(self, *args: Any, **kwargs: Any) -> Any:
                agent = super().new_agent(*args, **kwargs)
                clock.marks.append(time.perf_counter())
                return agent

        self.runner = ScenarioRunner(TimedFactory(project), on_step=lambda step: self.marks.append(time.perf_counter()))

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._collecting = time.perf_counter()
        elif self._collecting is not None and self.marks:  # a collection during step len(marks) - 1
            step = len(self.marks) - 1
            self.collections.setdefault(step, []).append(
                (int(info["generation"]), time.perf_counter() - self._collecting)
            )

    def run(self, talk: Talk) -> tuple[list[float], list[float]]:
        """Seconds of each step, and of each `complete` call."""
        self.marks.clear()
        self.completes.clear()
        self.collections.clear()
        gc.callbacks.append(self._on_gc)
        try:
            result = self.runner.run(talk.scenario)
        finally:
            gc.callbacks.remove(self._on_gc)
        check_run(result, talk.steps)
        return [b - a for a, b in zip(self.marks, self.marks[1:], strict=False)], list(self.completes)


def per_step_report(project: Project, talk: Talk, runs: int) -> tuple[list[str], float]:
    """Per-step medians over instrumented replays: the slowest step against the first."""
    clock = StepClock(project)
    tables: dict[str, list[list[float]]] = {"step": [], "complete()": [], "step, no gc": []}
    collections: list[dict[int, list[tuple[int, float]]]] = []
    clock.run(talk)  # warm-up
    with bench_data_frozen():
        for _ in range(runs):
            gc.collect()
            steps, completes = clock.run(talk)
            tables["step"].append(steps)
            tables["complete()"].append(completes)
            collections.append(dict(clock.collections))
        gc.disable()  # the same steps with no collection landing on them
        try:
            for _ in range(runs):
                gc.collect()
                tables["step, no gc"].append(clock.run(talk)[0])
        finally:
            gc.enable()
    lines: list[str] = []
    ratios: dict[str, float] = {}
    for label, table in tables.items():
        medians = [median([run[i] for run in table]) for i in range(len(table[0]))]
        slowest = max(range(len(medians)), key=medians.__getitem__)
        tail = medians[-max(1, len(medians) // 10) :]
        ratios[label] = medians[slowest] / medians[0]
        lines.append(
            f"    {label:<11} first {ms(medians[0], 3)} ms, median {ms(median(medians), 3)}, last tenth "
            f"{ms(median(tail), 3)}, slowest: step {slowest + 1} {ms(medians[slowest], 3)} ms -> slowest/first "
            f"{ratios[label]:.2f} (worst single step of any run {ms(max(max(run) for run in table), 3)} ms)"
        )
        if label == "step":
            lines.append(f"    {'':<11} {gc_note(collections, slowest)}")
    return lines, ratios["step"]


def gc_note(collections: Sequence[dict[int, list[tuple[int, float]]]], step: int) -> str:
    """What the collector did during `step` in each run, and during all steps."""
    landed = [sum(seconds for _, seconds in run.get(step, [])) for run in collections]
    generations = sorted({generation for run in collections for generation, _ in run.get(step, [])})
    per_run = [sum(seconds for events in run.values() for _, seconds in events) for run in collections]
    count = median([sum(len(events) for events in run.values()) for run in collections])
    if not generations:
        return f"no garbage collection on step {step + 1}; {count:.0f} collections per run, {ms(median(per_run))} ms"
    return (
        f"on step {step + 1}, garbage collection (generation {'/'.join(map(str, generations))}) took a median "
        f"{ms(median(landed), 3)} ms; all steps: {count:.0f} collections per run, {ms(median(per_run))} ms in all"
    )


@dataclass
class Budgeted:
    """Plain vcrpy (body matching) on a long cassette: one in-order run within a budget, maybe an estimate."""

    open_seconds: float
    measured_seconds: float  # open + the requests replayed in order
    measured_steps: int
    samples: dict[int, float]  # position -> seconds of one request there
    estimated_total: float | None  # open + every request, the unmeasured ones interpolated


def budgeted_body_replay(talk: Talk, client: openai.OpenAI, budget: float, samples: int) -> Budgeted:
    config = plain_vcr(body_matching=True)
    per_request: list[float] = []
    sampled: dict[int, float] = {}
    started = time.perf_counter()
    with config.use_cassette(str(talk.plain)):
        opened = time.perf_counter() - started
        for exchange in talk.exchanges:
            if budget and time.perf_counter() - started > budget:
                break
            before = time.perf_counter()
            if post(client, exchange.body) != exchange.response:
                raise WrongResponse(f"{talk.plain}: request {len(per_request)} got another request's response")
            per_request.append(time.perf_counter() - before)
        measured = time.perf_counter() - started
        done, n = len(per_request), talk.steps
        positions = sorted({done + round((n - 1 - done) * (k + 1) / samples) for k in range(samples)})
        for position in positions if done < n else []:
            before = time.perf_counter()
            if post(client, talk.exchanges[position].body) != talk.exchanges[position].response:
                raise WrongResponse(f"{talk.plain}: request {position} got another request's response")
            sampled[position] = time.perf_counter() - before
    estimate = None
    if sampled:
        anchors = [(done - 1, median(per_request[-5:])), *sorted(sampled.items())]
        estimate = opened + sum(per_request) + sum(interpolate(anchors, p) for p in range(done, n))
    return Budgeted(opened, measured, done, sampled, estimate)


def interpolate(points: Sequence[tuple[int, float]], x: int) -> float:
    """Through the three points nearest `x` a parabola (a request's cost grows with its position times the
    size of the bodies compared, both linear in the position); through two, a line."""
    if len(points) > 3:
        points = sorted(points, key=lambda point: abs(point[0] - x))[:3]
    total = 0.0
    for i, (xi, yi) in enumerate(points):
        term = yi
        for j, (xj, _) in enumerate(points):
            if j != i:
                term *= (x - xj) / (xi - xj)
        total += term
    return total


def budgeted_lines(result: Budgeted, talk: Talk, harness_seconds: float, budget: float) -> list[str]:
    n = talk.steps
    if result.measured_steps == n:
        return [
            f"    {BODY:<20} {ms(result.measured_seconds / n):>8} {ms(result.measured_seconds, 1):>9} "
            f"{'(one run)':>17} {result.measured_seconds / harness_seconds:>6.1f}    1   the whole cassette, once"
        ]
    lines = [
        f"    {BODY:<20} one in-order run within a {budget:g} s budget: steps 1-{result.measured_steps} of {n}, "
        f"{ms(result.measured_seconds / result.measured_steps)} ms/step (open {ms(result.open_seconds, 0)} ms "
        "included); later steps cost more"
    ]
    if result.estimated_total is not None:
        sampled = ", ".join(f"step {p + 1} {ms(s, 0)} ms" for p, s in result.samples.items())
        lines.append(
            f"    {'':<20} ESTIMATED whole cassette: {ms(result.estimated_total / n)} ms/step, "
            f"~{result.estimated_total:.0f} s ({result.estimated_total / harness_seconds:.0f}x (a)), from single "
            f"requests timed at {sampled} (a parabola through them; likely low: on a 100-turn cassette timed whole "
            "it came out ~20% under)"
        )
    lines.append(f"    {'':<20} (--vcrpy-budget 0 times the whole cassette)")
    return lines


def bench_talk(
    settings: Settings, agents: Path, talks: Sequence[Talk], transport: ScriptedTransport
) -> dict[int, TalkResult]:
    print("== 2. Growing conversation: agents.yaml's `chat` agent and the instant stub, recorded, then replayed")
    project = Project.build(agents=agents)
    runner = ScenarioRunner(AgentFactory(project))
    client = sdk_client()
    body_vcr, default_vcr = plain_vcr(body_matching=True), plain_vcr(body_matching=False)
    results: dict[int, TalkResult] = {}
    longest = max(talk.turns for talk in talks)
    for talk in talks:
        print(
            f"  {talk.turns} turns: {talk.steps} steps, requests from {request_kb(talk.exchanges[0].body):.1f} "
            f"to {request_kb(talk.exchanges[-1].body):.1f} KB; {settings.talk_rounds} interleaved rounds (+1 warm-up)"
        )
        big = talk.turns >= 100

        def models(t: Talk = talk) -> list[float]:
            return [replay_models(t.cassette, t.traffic)]

        def harness(t: Talk = talk) -> list[float]:
            return timed_runs(runner, [(t.scenario, t.steps)])

        def body(t: Talk = talk) -> list[float]:
            return [replay_plain(body_vcr, t.plain, t.exchanges, client)]

        def default(t: Talk = talk) -> list[float]:
            return [replay_plain(default_vcr, t.plain, t.exchanges, client)]

        def floor(t: Talk = talk) -> list[float]:
            return [replay_floor(transport, t.exchanges)]

        variants = [Variant(HARNESS, models), Variant(SCENARIOS, harness)]
        if big:  # (b) is timed apart below; (c) is slow: warm from the short conversation, first rounds only
            slow_runs = max(1, min(3, settings.talk_rounds - 1))
            variants.append(Variant(DEFAULT, default, max_runs=slow_runs, warmup=False))
        else:
            variants += [Variant(BODY, body), Variant(DEFAULT, default)]
        variants.append(Variant(FLOOR, floor))
        interleave(variants, settings.talk_rounds)
        print("\n".join(variant_table(variants, talk.steps, indent="    ")))
        per_step = {v.name: v.total / talk.steps for v in variants}
        if big:
            budgeted = budgeted_body_replay(talk, client, settings.vcrpy_budget, settings.vcrpy_samples)
            if budgeted.measured_steps == talk.steps:
                per_step[BODY] = budgeted.measured_seconds / talk.steps
            print("\n".join(budgeted_lines(budgeted, talk, variants[0].total, settings.vcrpy_budget)))
        harness_open, plain_open = open_seconds(talk, body_vcr)
        print(
            f"    opening alone: harness ReplayCassette {ms(harness_open)} ms ({ms(harness_open / talk.steps, 3)} "
            f"ms/step), plain vcrpy use_cassette {ms(plain_open)} ms"
        )
        result = TalkResult(talk.turns, talk.steps, per_step, talk.cassette.stat().st_size, talk.plain.stat().st_size)
        if talk.turns == longest:
            lines, result.slowest_over_first = per_step_report(project, talk, settings.talk_rounds)
            print(f"    per step, (s) played whole, medians of {settings.talk_rounds} instrumented runs:")
            print("\n".join(lines))
            y, whole = per_step[HARNESS], per_step[SCENARIOS]
            print(
                f"    (a) {ms(y)} ms/step ({target(y * 1000, 0.5, 'ms/step')}), (s) {ms(whole)} ms/step "
                f"({target(whole * 1000, 0.5, 'ms/step')}); slowest step / first step of (s) "
                f"{result.slowest_over_first:.2f} ({target(result.slowest_over_first, 3, 'x')})"
            )
        results[talk.turns] = result
    return results


def open_seconds(talk: Talk, config: vcr.VCR) -> tuple[float, float]:
    """Opening alone: the harness's ReplayCassette (median of 5), vcrpy's use_cassette entered and left."""
    harness: list[float] = []
    for _ in range(5):
        started = time.perf_counter()
        ReplayCassette(talk.cassette)
        harness.append(time.perf_counter() - started)
    started = time.perf_counter()
    with config.use_cassette(str(talk.plain)):
        pass
    return median(harness), time.perf_counter() - started


# ====================================================================== 3. recording overhead


@dataclass
class RecordResult:
    turns: int
    steps: int
    harness: float  # seconds per step, the median over the rounds
    baseline: float
    overhead: float  # the median over the rounds of harness minus baseline in the same round
    file_read: float
    file_write: float


def bench_recording(settings: Settings, url: str, agents: Path, talks: Sequence[Talk]) -> dict[int, RecordResult]:
    print("== 3. Recording overhead: `harness record` (mode all) from the instant stub, minus the bare SDK's time")
    recorder = ScenarioRunner(AgentFactory(Project.build(agents=agents, record_mode="all")))
    client = sdk_client(url, http_client=openai.DefaultHttpxClient())
    results: dict[int, RecordResult] = {}
    print(
        f"  {'turns':>5} {'steps':>5} | {'harness':>8} {'baseline':>8} {'overhead':>8} | of which file: "
        f"{'read':>5} {'write':>6} | ms/step, {settings.record_rounds} interleaved rounds (a warm-up first)"
    )
    for talk in talks:

        def baseline(t: Talk = talk) -> list[float]:
            answers: list[bytes] = []
            started = time.perf_counter()
            for exchange in t.exchanges:
                answers.append(post(client, exchange.body))
            seconds = time.perf_counter() - started
            for number, (answer, exchange) in enumerate(zip(answers, t.exchanges, strict=True)):
                if not same_completion(answer, exchange.response):
                    raise WrongResponse(f"the stub answered request {number} unlike the recording")
            return [seconds]

        def harness(t: Talk = talk) -> list[float]:
            return timed_runs(recorder, [(t.scenario, t.steps)])

        variants = [Variant("harness record", harness), Variant("SDK baseline", baseline)]
        interleave(variants, settings.record_rounds, warmup=talk is talks[0])  # the first size warms both up
        io = [file_io_seconds(talk.cassette) for _ in range(min(3, settings.record_rounds))]
        read, write = median([r for r, _ in io]), median([w for _, w in io])
        n = talk.steps
        # Paired by round: the two ran back to back, so the machine's drift between rounds cancels (a
        # difference of the two medians can come out negative on a noisy machine).
        paired = median([h - b for h, b in zip(variants[0].totals, variants[1].totals, strict=True)])
        result = RecordResult(
            talk.turns, n, variants[0].total / n, variants[1].total / n, paired / n, read / n, write / n
        )
        results[talk.turns] = result
        print(
            f"  {talk.turns:>5} {n:>5} | {ms(result.harness):>8} {ms(result.baseline):>8} {ms(result.overhead):>8} |"
            f" {'':>14}{ms(result.file_read):>5} {ms(result.file_write):>6} |"
        )
    z = results[max(results)].overhead
    print(
        f"  overhead at {max(results)} turns {ms(z)} ms/step ({target(z * 1000, 2, 'ms/step')}); file read = "
        "format.parse of the existing cassette, write = format.dump, each timed apart"
    )
    return results


# ====================================================================== 4. a big suite


@dataclass
class ManyResult:
    count: int
    seconds: dict[str, float]


def build_many(settings: Settings, url: str, root: Path) -> None:
    """The project of small scenarios, recorded through the harness (copies beyond `recorded_scenarios`)."""
    agents = write_project(root, url)
    recorder = ScenarioRunner(AgentFactory(Project.build(agents=agents, record_mode="all")))
    started = time.perf_counter()
    steps = 0
    scenarios, cassettes = root / "scenarios", root / "cassettes"
    paths = [scenarios / f"group{n // 100:02d}" / f"s{n:04d}.yaml" for n in range(settings.scenarios)]
    for number, path in enumerate(paths):
        if number < settings.recorded_scenarios:
            result = recorder.run(load_scenario(write_scenario(path, small_scenario(number))))
            check_run(result)
            steps += result.steps
            continue
        source = paths[number % settings.recorded_scenarios]
        for folder in (scenarios, cassettes):
            (folder / path.relative_to(scenarios)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(folder / source.relative_to(scenarios), folder / path.relative_to(scenarios))
    copies = settings.scenarios - settings.recorded_scenarios
    print(
        f"  setup (untimed): {settings.recorded_scenarios} scenarios ({steps} steps) recorded through the harness "
        f"in {time.perf_counter() - started:.1f} s" + (f", and {copies} copies of them" if copies else "")
    )


def run_command(command: Sequence[str], cwd: Path, env: dict[str, str], expected: int) -> float:
    """Wall seconds of the command; it must exit 0 having passed `expected` scenarios."""
    started = time.perf_counter()
    process = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    output = process.stdout + process.stderr
    passed = [int(n) for n in re.findall(r"(\d+) passed", output)]
    if process.returncode != 0 or not passed or passed[-1] != expected:
        raise RuntimeError(
            f"{' '.join(command)} in {cwd}: exit {process.returncode}, passed {passed}, expected {expected}\n"
            f"{output[-3000:]}"
        )
    return seconds


def bench_many(settings: Settings, url: str, tmp: Path) -> ManyResult:
    count = settings.scenarios
    print(f"== 4. A {count}-scenario suite: whole processes, wall clock, in a temp project")
    root = tmp / "many"
    build_many(settings, url, root)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    installed = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    python = sys.executable
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]

    def loading(plugins: list[str]) -> list[str]:
        return [argument for plugin in plugins for argument in ("-p", plugin)]

    plugins, with_xdist = installed_plugins("harness"), installed_plugins("harness", ["pytest-xdist"])
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "harness run": ([str(Path(python).parent / "harness"), "run"], env),
        "pytest -q": ([*pytest, *loading(plugins)], installed),
        "pytest -q -n 2": ([*pytest, *loading(with_xdist), "-n", "2"], installed),
        "pytest -q, dev": (pytest, env),
        "pytest -q -n 2, dev": ([*pytest, "-n", "2"], env),
    }
    print(
        f"  pytest loads the plugins a harness install brings ({', '.join(plugins)}; -n 2: and pytest-xdist's);\n"
        "  ', dev': every plugin of this environment (its dev extras too: hypothesis, pytest-split)"
    )
    one = str(Path("scenarios") / "group00" / "s0000.yaml")
    for command, command_env in commands.values():  # warm-up on one scenario: imports, the bytecode cache
        run_command([*command, one], root, command_env, 1)

    def variant(name: str, command: list[str], command_env: dict[str, str]) -> Variant:
        return Variant(name, lambda: [run_command(command, root, command_env, count)])

    variants = [variant(name, *command) for name, command in commands.items()]
    interleave(variants, settings.cli_repeats, warmup=False)
    for v in variants:
        runs = ", ".join(f"{t:.2f}" for t in v.totals)
        print(f"  {v.name:<20} {v.total:>6.2f} s   (median of {len(v.runs)}: {runs})")
    seconds = {v.name: v.total for v in variants}
    by_name = {v.name: v for v in variants}
    run_s, pytest_s = seconds["harness run"], seconds["pytest -q"]

    def paired(xdist: str, plain: str) -> tuple[float, list[float]]:
        """-n 2 against plain pytest round by round (the two ran back to back in each round, so the
        machine's drift between rounds cancels, as for the recording overhead), and the median."""
        ratios = [x / p for x, p in zip(by_name[xdist].totals, by_name[plain].totals, strict=True)]
        return median(ratios), ratios

    xdist, rounds = paired("pytest -q -n 2", "pytest -q")
    dev_xdist, _ = paired("pytest -q -n 2, dev", "pytest -q, dev")
    scale = " (the targets are for 1000)" if count != 1000 else ""
    print(
        f"  harness run {target(run_s, 2, 's')}; pytest -q {target(pytest_s, 4, 's')}; pytest -n 2 "
        f"{'not slower than' if xdist <= 1 else 'SLOWER than'} pytest: {xdist:.2f}x, the median of the rounds' "
        f"ratios ({', '.join(f'{r:.2f}' for r in rounds)}){scale}\n"
        f"  with this environment's plugins: pytest -q {seconds['pytest -q, dev']:.2f} s, -n 2 {dev_xdist:.2f}x pytest"
    )
    return ManyResult(count, seconds)


# ====================================================================== 5. sizes


def bench_sizes(suite: SuiteResult | None, talks: dict[int, TalkResult] | None) -> tuple[float, float]:
    print("== 5. Cassette size: bytes per recorded step")
    c = d = float("nan")
    if suite is not None:
        c, d = suite.cassette_bytes / suite.steps, suite.plain_bytes / suite.steps
        rewritten = suite.rewritten_bytes / suite.steps
        print(
            f"  example suite: the cassette files {c:.0f} bytes/step, plain vcrpy {d:.0f}: ratio {c / d:.3f} "
            f"({target(c / d, 1 / 3, 'of vcrpy', '1/3')}); rewritten by today's format.dump {rewritten:.0f}: "
            f"ratio {rewritten / d:.3f}"
        )
    if talks:
        for turns, talk in sorted(talks.items()):
            print(
                f"  {turns:>3}-turn conversation: harness {talk.harness_bytes / talk.steps:>5.0f} bytes/step, "
                f"plain vcrpy {talk.plain_bytes / talk.steps:>6.0f}: ratio {talk.harness_bytes / talk.plain_bytes:.3f}"
            )
        first, last = talks[min(talks)], talks[max(talks)]

        def growth(size: Any) -> float:
            return float((size(last) / last.steps) / (size(first) / first.steps))

        print(
            f"  bytes/step from {first.turns} to {last.turns} turns: harness x{growth(lambda t: t.harness_bytes):.2f}, "
            f"plain vcrpy x{growth(lambda t: t.plain_bytes):.2f} (x1.00 = linear in turns)"
        )
    print()
    return c, d


# ====================================================================== main

T = TypeVar("T")


def timed_section(section: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = section()
    print(f"  (this section took {time.perf_counter() - started:.0f} s)")
    print()
    return result


def summary(
    suite: SuiteResult | None,
    talks: dict[int, TalkResult] | None,
    records: dict[int, RecordResult] | None,
    many: ManyResult | None,
    sizes: tuple[float, float],
) -> str:
    def number(value: float | None, digits: int) -> str:
        return "n/a" if value is None or value != value else f"{value:.{digits}f}"

    x = suite.ms_per_step[HARNESS] * 1000 if suite else None
    y = talks[max(talks)].ms_per_step[HARNESS] * 1000 if talks else None
    z = records[max(records)].overhead * 1000 if records else None
    a = many.seconds["harness run"] if many else None
    b = many.seconds["pytest -q"] if many else None
    count = many.count if many else 1000
    return (
        f"replay {number(x, 2)} ms/step | 200-turn {number(y, 2)} ms/step | record-overhead {number(z, 2)} ms/step | "
        f"{count} scenarios: run {number(a, 2)} s, pytest {number(b, 2)} s | "
        f"cassette {number(sizes[0], 0)} bytes/step (vcrpy {number(sizes[1], 0)})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer rounds, a 100-scenario suite")
    parser.add_argument(
        "--sections",
        default="1,2,3,4,5",
        help="sections to run, e.g. 1,5 (default: all); 5 reports the sizes of what 1 and 2 built, and needs 1",
    )
    parser.add_argument(
        "--vcrpy-budget",
        type=float,
        metavar="SECONDS",
        help="plain vcrpy (body matching) on the 200-turn cassette: seconds of in-order replay before the rest "
        "is estimated; 0 = replay it whole (very long). Default 20, --quick 1",
    )
    parser.add_argument(
        "--cassettes", type=Path, default=ROOT / "cassettes", metavar="DIR", help="the example suite's cassettes"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (its path is printed)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.vcrpy_budget is not None:
        settings = replace(settings, vcrpy_budget=args.vcrpy_budget)
    sections = {int(s) for s in args.sections.split(",") if s.strip()}

    print(
        f"bench/replay.py{' --quick' if args.quick else ''}: python {sys.version.split()[0]}, openai "
        f"{openai.__version__}, httpx2 {httpx2.__version__}, vcrpy {vcr.__version__}; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} (other work on the cores inflates every column)"
    )
    print()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    suite = talks = records = many = None
    sizes = (float("nan"), float("nan"))
    try:
        transport = ScriptedTransport()
        if sections & {1, 5}:
            suite = timed_section(lambda: bench_suite(settings, tmp, transport, args.cassettes))
        if sections & {2, 3, 4}:
            with stub_server() as url:
                if sections & {2, 3}:
                    agents, recorded = record_talks(url, tmp, transport, (10, 25, 200), plain_sizes=(10, 200))
                    if 2 in sections:
                        two = [t for t in recorded if t.turns in (10, 200)]
                        talks = timed_section(lambda: bench_talk(settings, agents, two, transport))
                    if 3 in sections:
                        three = [t for t in recorded if t.turns in (25, 200)]
                        records = timed_section(lambda: bench_recording(settings, url, agents, three))
                if 4 in sections:
                    many = timed_section(lambda: bench_many(settings, url, tmp))
        if 5 in sections:
            sizes = bench_sizes(suite, talks)
    finally:
        if args.keep:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    print(summary(suite, talks, records, many, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
