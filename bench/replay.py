"""Benchmark of replay, recording and a big suite: a benchmark, not a test (targets are printed, never asserted).

    python bench/replay.py            # full run: about 2-3 minutes on 2 idle cores
    python bench/replay.py --quick    # smoke run: about 20 s, fewer rounds, the same sections

Run it with the project's venv; paths resolve against the project root, scratch files go to a temp dir.
Every timing is wall clock (`time.perf_counter`); garbage collection stays on (a gc.collect() runs before
each timed run, off the clock). What each section measures:

1. Example suite replay (X ms/step). Every scenario under scenarios/ replayed from cassettes/ by
   `ScenarioRunner` (record mode none, agents.yaml), exactly as `harness run` does: opening and indexing
   the cassette, the agent loop, tools and checks are all inside the timing (loading the scenario file is
   not; section 4 times whole processes). Against the same traffic, each replaying WHOLE cassettes,
   opening included:
     (b) plain vcrpy, `match_on=["method", "path", "body"]`, the openai SDK posting the recorded bodies;
     (c) plain vcrpy with its default matchers (method, scheme, host, port, path, query): every chat
         request matches every recording, so it simply hands out the recordings in order (a changed
         request would still get an answer);
     (d) the bare openai SDK over an httpx2.MockTransport, no vcrpy and nothing to open: the SDK's floor.
   The plain cassettes are recorded in a temp dir by vcrpy (record mode all, default YAML serializer)
   around the SDK posting the same bodies to a MockTransport that answers with the recorded responses, so
   they hold the requests as the SDK really sends them (all its headers). The SDK posts bodies as the
   harness's live client does (`client.post("/chat/completions", body=..., cast_to=httpx2.Response)`).
   Every replayed response is compared with the recorded one (a wrong match raises), and every harness
   run must pass (or xfail) with all its recorded steps played.
   Interleaving: one untimed warm-up round, then in each round every variant replays the whole suite once,
   the order rotated from round to round, so machine noise hits all columns alike. ms/step = the median
   over rounds of (suite time / steps).

2. A growing conversation (Y = the 200-turn ms/step). The harness's own `chat` agent (agents.yaml's
   prompt, blocks and tools) talks for 10 and 200 turns to an instant local stub (bench/stub_server.py: a
   real HTTP server on 127.0.0.1, in its own process, answering each completion at once, with a reply and
   on every 4th turn a `core_memory_append` with heartbeat first, so memory, hence the system message,
   changes). Each request resends the whole history, so requests grow with the conversation. The
   scenarios are RECORDED through the real harness stack (record mode all, vcrpy, openai SDK), then
   replayed as in 1 (harness, plain vcrpy body/default, SDK floor), interleaved. Plain vcrpy with body
   matching costs O(n) body comparisons per request (each failing comparison builds a diff); on the
   200-turn cassette it runs ONCE, in order, from the start, within a time budget (--vcrpy-budget,
   0 = the whole cassette, however long), then the rest is estimated from single requests timed at a few
   later positions (vcrpy compares a request with every earlier recording whatever was played, so one
   request's cost does not depend on the others). The output says which numbers are measured and which
   estimated. Per step: an instrumented harness replay timestamps each step (from the agent's creation
   to the first `on_step`, then between `on_step`s: request building, lookup, parsing, tools, checks)
   and each `ChatModel.complete` call; the per-step medians over several replays give the ratio of the
   slowest step to the first.

3. Recording overhead (Z = the 200-turn overhead). The same conversations (25 and 200 turns) re-recorded
   through the harness as `harness record` does (ScenarioRunner, record mode all: vcrpy, the openai
   SDK, writing the cassette) against the instant stub; the cassette already exists, as when re-recording
   a suite. The model's time is excluded by a baseline: the bare openai SDK (no vcrpy, its own keep-alive
   client) posting the very same recorded bodies to the same stub, answers checked against the
   recording. overhead = harness ms/step - baseline ms/step (interleaved, medians).

4. A 1000-scenario suite (A, B). A temp project of 1000 small scenarios (1-3 turns, a few messages,
   numbered so every cassette differs) with their cassettes, recorded once through the harness against
   the stub (untimed setup; --quick records 100 and copies them). Timed as whole processes, wall clock,
   median of a few interleaved repeats after an untimed warm-up: `harness run`, `python -m pytest -q -p
   no:cacheprovider` and the same with `-n 2` (pytest-xdist), in the temp project. Each must exit 0 with
   every scenario passed. The subprocesses get a bytecode cache in the temp dir (PYTHONPYCACHEPREFIX;
   this environment sets PYTHONDONTWRITEBYTECODE, which would recompile the harness at every start).

5. Cassette size (C, D): bytes per step of the example suite's cassette files against the plain vcrpy
   YAML of the same traffic (the cassettes of 1.(b)); the same for the growing conversation at 10 and
   200 turns (a cassette linear in turns has a flat bytes/step). Also shown: the example cassettes
   rewritten by the current `format.dump` (the files in cassettes/ may predate the current format).

The last line sums it up:
    replay X ms/step | 200-turn Y ms/step | record-overhead Z ms/step | 1000 scenarios: run A s, pytest B s |
    cassette C bytes/step (vcrpy D)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import httpx2  # noqa: E402
import openai  # noqa: E402
import vcr  # noqa: E402

from benchlib import (  # noqa: E402
    PLAIN_BASE_URL,
    Exchange,
    ScriptedTransport,
    Variant,
    WrongResponse,
    conversation,
    interleave,
    median,
    ms,
    plain_vcr,
    post,
    read_exchanges,
    record_plain,
    replay_floor,
    replay_plain,
    rewritten_size,
    same_completion,
    sdk_client,
    small_scenario,
    stub_server,
    write_project,
    write_scenario,
)
from harness.factory import AgentFactory  # noqa: E402
from harness.llm.chat import ChatModel, ChatResponse  # noqa: E402
from harness.project import Project  # noqa: E402
from harness.scenarios import Scenario, ScenarioResult, ScenarioRunner, load_scenario  # noqa: E402
from harness.scenarios.discovery import discover  # noqa: E402

HARNESS = "(a) harness"
BODY = "(b) vcrpy body"
DEFAULT = "(c) vcrpy default"
FLOOR = "(d) SDK floor"


@dataclass(frozen=True)
class Settings:
    suite_rounds: int
    conversation_rounds: int
    vcrpy_budget: float  # seconds of in-order plain vcrpy (body) replay of the 200-turn cassette; 0 = all
    vcrpy_samples: int
    record_rounds: int
    scenarios: int
    recorded_scenarios: int  # the others are copies
    cli_repeats: int


FULL = Settings(15, 7, 20.0, 3, 5, 1000, 1000, 3)
QUICK = Settings(3, 2, 2.0, 1, 1, 1000, 100, 1)


def target(measured: float, limit: float, unit: str, text: str = "<=") -> str:
    verdict = "met" if measured <= limit else "MISSED"
    return f"target {text} {limit:g} {unit}: {verdict}"


def check_run(result: ScenarioResult, steps: int | None = None) -> None:
    """A harness run the benchmark can count: it passed (or xfailed), replayed or recorded everything."""
    problems: list[str] = []
    if not result.ok:
        problems.append(f"outcome {result.outcome}")
    if getattr(result, "stale", None) or getattr(result, "error", None):
        problems.append("stale cassette or error")
    if getattr(result, "unplayed", None):
        problems.append(f"unplayed interactions {result.unplayed}")
    if steps is not None and result.steps != steps:
        problems.append(f"{result.steps} steps where the cassette has {steps}")
    if problems:
        raise RuntimeError(f"{result.scenario.path}: {', '.join(problems)}\n{result.explain()}")


def timed_runs(runner: ScenarioRunner, items: Sequence[tuple[Scenario, int | None]]) -> list[float]:
    """`runner.run` on each scenario, each on the clock alone (the result is checked off the clock)."""
    times: list[float] = []
    for scenario, steps in items:
        started = time.perf_counter()
        result = runner.run(scenario)
        times.append(time.perf_counter() - started)
        check_run(result, steps)
    return times


def variant_table(variants: Sequence[Variant], steps: int, reference: Variant, indent: str = "  ") -> list[str]:
    lines = [
        f"{indent}{'variant':<20} {'ms/step':>8} {'ms total':>9} {'ms/step min..max':>17} {'x (a)':>6} {'runs':>4}"
    ]
    for variant in variants:
        per_step = [total / steps for total in variant.totals]
        spread = f"{ms(min(per_step))}..{ms(max(per_step))}"
        ratio = variant.total / reference.total
        lines.append(
            f"{indent}{variant.name:<20} {ms(variant.total / steps):>8} {ms(variant.total, 1):>9} {spread:>17} "
            f"{ratio:>6.1f} {len(variant.runs):>4}"
        )
    return lines


# ====================================================================== 1. the example suite


@dataclass
class SuiteItem:
    scenario: Scenario
    cassette: Path
    exchanges: list[Exchange]
    plain: Path

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


def bench_suite(settings: Settings, tmp: Path, transport: ScriptedTransport) -> SuiteResult:
    print("== 1. Example suite: scenarios/ replayed from cassettes/ (whole cassettes, opening included)")
    project = Project.build(agents=ROOT / "agents.yaml", relative_to=ROOT)
    runner = ScenarioRunner(AgentFactory(project))
    items: list[SuiteItem] = []
    for path in discover([project.scenarios_dir]):
        scenario = load_scenario(path)
        cassette = runner.cassette_path(scenario)
        shown = path.relative_to(ROOT)
        if not cassette.exists():
            print(f"  skipped {shown}: no cassette at {cassette}")
            continue
        exchanges = read_exchanges(cassette)
        check_run(runner.run(scenario), len(exchanges))  # replays as recorded, before anything is timed
        plain = tmp / "suite-vcrpy" / cassette.relative_to(project.cassettes_dir)
        record_plain(plain, exchanges, transport)
        items.append(SuiteItem(scenario, cassette, exchanges, plain))
    steps = sum(item.steps for item in items)
    if not steps:
        raise RuntimeError("no scenario of the example suite could be replayed")

    client = sdk_client()
    body_vcr, default_vcr = plain_vcr(body_matching=True), plain_vcr(body_matching=False)
    variants = [
        Variant(HARNESS, lambda: timed_runs(runner, [(item.scenario, item.steps) for item in items])),
        Variant(BODY, lambda: [replay_plain(body_vcr, i.plain, i.exchanges, client) for i in items]),
        Variant(DEFAULT, lambda: [replay_plain(default_vcr, i.plain, i.exchanges, client) for i in items]),
        Variant(FLOOR, lambda: [replay_floor(transport, i.exchanges) for i in items]),
    ]
    interleave(variants, settings.suite_rounds)
    harness = variants[0]
    print(f"  {len(items)} scenarios, {steps} steps; {settings.suite_rounds} interleaved rounds (+1 warm-up)")
    print("\n".join(variant_table(variants, steps, harness)))
    width = max(len(str(item.scenario.path.relative_to(ROOT))) for item in items)
    header = "".join(f" {v.name[:3]:>7}" for v in variants)
    print(f"    {'per scenario, ms/step':<{width}} steps{header}")
    for index, item in enumerate(items):
        cells = "".join(f" {ms(v.part(index) / item.steps):>7}" for v in variants)
        print(f"    {item.scenario.path.relative_to(ROOT)!s:<{width}} {item.steps:>5}{cells}")
    x = harness.total / steps
    print(f"  (a) harness {ms(x)} ms/step, cassette open included ({target(x * 1000, 0.3, 'ms/step')})")
    print(
        "  (c) needs no body to match: it hands out recordings in order, so it would also answer a changed "
        "request; (d) opens nothing."
    )
    print()
    cassette_bytes = sum(item.cassette.stat().st_size for item in items)
    rewritten = sum(rewritten_size(item.cassette) for item in items)
    plain_bytes = sum(item.plain.stat().st_size for item in items)
    return SuiteResult({v.name: v.total / steps for v in variants}, steps, cassette_bytes, rewritten, plain_bytes)


# ====================================================================== 2. the growing conversation


@dataclass
class Talk:
    """A recorded conversation of `turns` turns in the bench project."""

    turns: int
    scenario: Scenario
    cassette: Path
    exchanges: list[Exchange]
    plain: Path

    @property
    def steps(self) -> int:
        return len(self.exchanges)


@dataclass
class TalkResult:
    turns: int
    steps: int
    ms_per_step: dict[str, float]
    harness_bytes: int
    plain_bytes: int
    notes: list[str] = field(default_factory=list)


class StepClock:
    """An AgentFactory whose agents timestamp their steps: the agent's creation, each `on_step`, and the
    duration of each `ChatModel.complete`."""

    def __init__(self, project: Project) -> None:
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

        self.marks: list[float] = []
        self.completes: list[float] = []
        self.runner = ScenarioRunner(TimedFactory(project), on_step=lambda step: self.marks.append(time.perf_counter()))

    def run(self, talk: Talk) -> tuple[list[float], list[float]]:
        self.marks.clear()
        self.completes.clear()
        check_run(self.runner.run(talk.scenario), talk.steps)
        steps = [b - a for a, b in zip(self.marks, self.marks[1:], strict=False)]
        return steps, list(self.completes)


def per_step_report(clock: StepClock, talk: Talk, runs: int) -> tuple[list[str], float]:
    """Per-step medians over `runs` instrumented replays: the slowest step against the first."""
    step_runs: list[list[float]] = []
    complete_runs: list[list[float]] = []
    clock.run(talk)  # warm-up
    for _ in range(runs):
        steps, completes = clock.run(talk)
        step_runs.append(steps)
        complete_runs.append(completes)
    lines: list[str] = []
    ratio = 0.0
    for label, table in (("step", step_runs), ("complete()", complete_runs)):
        medians = [median([run[i] for run in table]) for i in range(len(table[0]))]
        slowest = max(range(len(medians)), key=medians.__getitem__)
        worst_single = max(max(run) for run in table)
        tail = medians[-max(1, len(medians) // 10) :]
        this_ratio = medians[slowest] / medians[0]
        if label == "step":
            ratio = this_ratio
        lines.append(
            f"    {label:<10} first {ms(medians[0], 3)} ms, median {ms(median(medians), 3)}, last tenth "
            f"{ms(median(tail), 3)}, slowest step {slowest + 1} {ms(medians[slowest], 3)} ms "
            f"-> slowest/first {this_ratio:.2f}; worst single step of any run {ms(worst_single, 3)} ms"
        )
    return lines, ratio


@dataclass
class Budgeted:
    seconds: float  # measured (open + the requests replayed in order)
    measured_steps: int
    estimated_total: float | None  # open + every request, the unmeasured ones interpolated
    samples: dict[int, float]
    open_seconds: float


def budgeted_body_replay(talk: Talk, client: openai.OpenAI, budget: float, samples: int) -> Budgeted:
    """Plain vcrpy (body matching) on the whole cassette, once: in order until `budget` seconds (0: no
    budget), then single requests at a few later positions to estimate the rest."""
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
                raise WrongResponse(f"{talk.plain}: request {len(per_request)} got another response")
            per_request.append(time.perf_counter() - before)
        measured = time.perf_counter() - started
        done, n = len(per_request), talk.steps
        if done < n:
            positions = sorted({done + round((n - 1 - done) * (k + 1) / samples) for k in range(samples)})
            for position in positions:
                before = time.perf_counter()
                if post(client, talk.exchanges[position].body) != talk.exchanges[position].response:
                    raise WrongResponse(f"{talk.plain}: request {position} got another response")
                sampled[position] = time.perf_counter() - before
    if done == n:
        return Budgeted(measured, done, None, sampled, opened)
    anchors = [(done - 1, median(per_request[-5:])), *sorted(sampled.items())]
    rest = 0.0
    for position in range(done, n):
        for (x0, y0), (x1, y1) in zip(anchors, anchors[1:], strict=False):
            if x0 <= position <= x1:
                rest += y0 + (y1 - y0) * (position - x0) / (x1 - x0)
                break
    return Budgeted(measured, done, opened + sum(per_request) + rest, sampled, opened)


def open_times(talk: Talk, body_vcr: vcr.VCR, repeats: int) -> tuple[float, float]:
    """Opening alone: the harness's ReplayCassette, and vcrpy's use_cassette (enter and exit, no request)."""
    from harness.cassettes.replay import ReplayCassette

    harness: list[float] = []
    plain: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        ReplayCassette(talk.cassette)
        harness.append(time.perf_counter() - started)
        started = time.perf_counter()
        with body_vcr.use_cassette(str(talk.plain)):
            pass
        plain.append(time.perf_counter() - started)
    return median(harness), median(plain)


def record_talks(url: str, tmp: Path, transport: ScriptedTransport, sizes: Sequence[int]) -> tuple[Path, list[Talk]]:
    """The bench project, and one conversation per size recorded through the harness from the stub."""
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
        record_plain(plain, exchanges, transport)
        talks.append(Talk(turns, scenario, cassette, exchanges, plain))
    return agents, talks


def bench_talk(settings: Settings, agents: Path, talks: Sequence[Talk], transport: ScriptedTransport) -> dict[int, TalkResult]:
    print("== 2. Growing conversation: agents.yaml's `chat` agent and the instant stub, recorded, then replayed")
    project = Project.build(agents=agents)
    runner = ScenarioRunner(AgentFactory(project))
    client = sdk_client()
    body_vcr, default_vcr = plain_vcr(body_matching=True), plain_vcr(body_matching=False)
    results: dict[int, TalkResult] = {}
    for talk in talks:
        last_kb = len(post_size(talk.exchanges[-1].body)) / 1000
        print(
            f"  {talk.turns} turns: {talk.steps} steps, the last request {last_kb:.1f} KB "
            f"(the first {len(post_size(talk.exchanges[0].body)) / 1000:.1f} KB)"
        )
        big = talk.turns >= 100

        def harness(t: Talk = talk) -> list[float]:
            return timed_runs(runner, [(t.scenario, t.steps)])

        def body(t: Talk = talk) -> list[float]:
            return [replay_plain(body_vcr, t.plain, t.exchanges, client)]

        def default(t: Talk = talk) -> list[float]:
            return [replay_plain(default_vcr, t.plain, t.exchanges, client)]

        def floor(t: Talk = talk) -> list[float]:
            return [replay_floor(transport, t.exchanges)]

        variants = [Variant(HARNESS, harness), Variant(DEFAULT, default, max_runs=3 if big else None)]
        variants.append(Variant(FLOOR, floor))
        if not big:
            variants.insert(1, Variant(BODY, body))
        interleave(variants, settings.conversation_rounds)
        print("\n".join(variant_table(variants, talk.steps, variants[0], indent="    ")))
        per_step = {v.name: v.total / talk.steps for v in variants}
        notes: list[str] = []
        if big:
            budgeted = budgeted_body_replay(talk, client, settings.vcrpy_budget, settings.vcrpy_samples)
            ratio = budgeted.seconds / variants[0].total
            if budgeted.estimated_total is None:
                per_step[BODY] = budgeted.seconds / talk.steps
                print(
                    f"    {BODY:<20} {ms(budgeted.seconds / talk.steps):>8} {ms(budgeted.seconds, 1):>9} "
                    f"{'(one run)':>17} {ratio:>6.1f}    1  whole cassette, timed once"
                )
            else:
                prefix = budgeted.seconds / budgeted.measured_steps
                estimate = budgeted.estimated_total / talk.steps
                sampled = ", ".join(f"step {p + 1}: {ms(s, 0)} ms" for p, s in budgeted.samples.items())
                print(
                    f"    {BODY:<20} timed once within a {settings.vcrpy_budget:g} s budget: steps 1-"
                    f"{budgeted.measured_steps} of {talk.steps} in order, {ms(prefix)} ms/step (open "
                    f"{ms(budgeted.open_seconds, 0)} ms included)"
                )
                print(
                    f"    {'':<20} ESTIMATED whole cassette {ms(estimate)} ms/step (~{budgeted.estimated_total:.0f} s; "
                    f"the rest interpolated from single requests: {sampled}); --vcrpy-budget 0 times it whole"
                )
                notes.append(f"vcrpy body at {talk.turns} turns: estimated")
        opened = open_times(talk, body_vcr, 1 if big else 3)
        print(f"    cassette open alone: harness {ms(opened[0])} ms, plain vcrpy {ms(opened[1])} ms")
        if talk.turns == max(t.turns for t in talks):
            clock = StepClock(project)
            lines, ratio = per_step_report(clock, talk, settings.conversation_rounds)
            print(f"    per step, harness replay (medians of {settings.conversation_rounds} instrumented runs):")
            print("\n".join(lines))
            y = per_step[HARNESS]
            print(
                f"    (a) {ms(y)} ms/step ({target(y * 1000, 0.5, 'ms/step')}); slowest/first step {ratio:.2f} "
                f"({target(ratio, 3, 'x the first')})"
            )
            notes.append(f"slowest/first {ratio:.2f}")
        results[talk.turns] = TalkResult(
            talk.turns, talk.steps, per_step, talk.cassette.stat().st_size, talk.plain.stat().st_size, notes
        )
    print()
    return results


def post_size(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


# ====================================================================== 3. recording overhead


@dataclass
class RecordResult:
    turns: int
    steps: int
    harness: float  # ms/step
    baseline: float

    @property
    def overhead(self) -> float:
        return self.harness - self.baseline


def bench_recording(settings: Settings, url: str, agents: Path, talks: Sequence[Talk]) -> dict[int, RecordResult]:
    print("== 3. Recording overhead: `harness record` (mode all) against the instant stub, minus the bare SDK")
    recorder = ScenarioRunner(AgentFactory(Project.build(agents=agents, record_mode="all")))
    client = sdk_client(url, http_client=openai.DefaultHttpxClient())
    results: dict[int, RecordResult] = {}
    print(f"  {'turns':>5} {'steps':>5} | {'harness':>8} {'baseline':>8} {'overhead':>8}  ms/step | rounds")
    for talk in talks:
        answers: list[bytes] = []

        def baseline(t: Talk = talk) -> list[float]:
            answers.clear()
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
        interleave(variants, settings.record_rounds)
        result = RecordResult(
            talk.turns, talk.steps, variants[0].total / talk.steps, variants[1].total / talk.steps
        )
        results[talk.turns] = result
        print(
            f"  {talk.turns:>5} {talk.steps:>5} | {ms(result.harness):>8} {ms(result.baseline):>8} "
            f"{ms(result.overhead):>8}          | {settings.record_rounds}"
        )
    z = results[max(results)].overhead
    print(f"  overhead at {max(results)} turns {ms(z)} ms/step ({target(z * 1000, 2, 'ms/step')})")
    print()
    return results


# ====================================================================== 4. 1000 scenarios


@dataclass
class ManyResult:
    count: int
    seconds: dict[str, float]


def build_many(settings: Settings, url: str, root: Path) -> int:
    """The project of small scenarios, recorded through the harness (copies beyond `recorded_scenarios`)."""
    agents = write_project(root, url)
    recorder = ScenarioRunner(AgentFactory(Project.build(agents=agents, record_mode="all")))
    started = time.perf_counter()
    steps = 0
    paths = [root / "scenarios" / f"group{n // 100:02d}" / f"s{n:04d}.yaml" for n in range(settings.scenarios)]
    for number, path in enumerate(paths):
        if number < settings.recorded_scenarios:
            result = recorder.run(load_scenario(write_scenario(path, small_scenario(number))))
            check_run(result)
            steps += result.steps
        else:
            source = paths[number % settings.recorded_scenarios]
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, path)
            cassette = root / "cassettes" / path.relative_to(root / "scenarios")
            cassette.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "cassettes" / source.relative_to(root / "scenarios"), cassette)
    copies = settings.scenarios - settings.recorded_scenarios
    print(
        f"  setup: {settings.recorded_scenarios} scenarios ({steps} steps) recorded through the harness in "
        f"{time.perf_counter() - started:.1f} s" + (f", {copies} copies of them" if copies else "")
    )
    return settings.scenarios


def run_command(command: Sequence[str], cwd: Path, env: dict[str, str], expected: int) -> float:
    started = time.perf_counter()
    process = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    output = process.stdout + process.stderr
    passed = [int(n) for n in re.findall(r"(\d+) passed", output)]
    if process.returncode != 0 or not passed or passed[-1] != expected:
        raise RuntimeError(
            f"{' '.join(command)} in {cwd}: exit {process.returncode}, passed {passed} of {expected}\n{output[-3000:]}"
        )
    return seconds


def bench_many(settings: Settings, url: str, tmp: Path) -> ManyResult:
    print(f"== 4. {settings.scenarios}-scenario suite: whole processes, wall clock, in a temp project")
    root = tmp / "many"
    count = build_many(settings, url, root)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    python = sys.executable
    harness = str(Path(python).parent / "harness")
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    commands = {
        "harness run": [harness, "run"],
        "pytest -q": pytest,
        "pytest -q -n 2": [*pytest, "-n", "2"],
    }
    one = str(Path("scenarios") / "group00" / "s0000.yaml")
    for command in commands.values():  # warm-up on one scenario: imports, bytecode cache
        run_command([*command, one], root, env, 1)

    def variant(name: str, command: list[str]) -> Variant:
        return Variant(name, lambda: [run_command(command, root, env, count)])

    variants = [variant(name, command) for name, command in commands.items()]
    interleave(variants, settings.cli_repeats, warmup=False)
    for v in variants:
        runs = ", ".join(f"{t:.2f}" for t in v.totals)
        print(f"  {v.name:<15} {v.total:>6.2f} s   (runs: {runs})")
    run_s, pytest_s, xdist_s = (v.total for v in variants)
    print(
        f"  harness run {target(run_s, 2, 's')}; pytest -q {target(pytest_s, 4, 's')}; "
        f"pytest -n 2 {'not slower than' if xdist_s <= pytest_s else 'SLOWER than'} pytest "
        f"({xdist_s / pytest_s:.2f}x)"
    )
    print()
    return ManyResult(count, {v.name: v.total for v in variants})


# ====================================================================== 5. sizes


def bench_sizes(suite: SuiteResult | None, talks: dict[int, TalkResult] | None) -> tuple[float, float]:
    print("== 5. Cassette size: bytes per recorded step")
    c = d = float("nan")
    if suite is not None:
        c, d = suite.cassette_bytes / suite.steps, suite.plain_bytes / suite.steps
        print(
            f"  example suite: cassettes/ {c:.0f} bytes/step, plain vcrpy {d:.0f} (ratio {c / d:.2f}; "
            f"target <= 0.33: {'met' if c <= d / 3 else 'MISSED'}); rewritten by today's format.dump "
            f"{suite.rewritten_bytes / suite.steps:.0f} bytes/step (ratio {suite.rewritten_bytes / suite.plain_bytes:.2f})"
        )
    if talks:
        for turns, talk in sorted(talks.items()):
            print(
                f"  {turns:>3}-turn conversation: harness {talk.harness_bytes / talk.steps:.0f} bytes/step, plain vcrpy "
                f"{talk.plain_bytes / talk.steps:.0f} (ratio {talk.harness_bytes / talk.plain_bytes:.3f})"
            )
        first, last = min(talks), max(talks)
        growth = (talks[last].harness_bytes / talks[last].steps) / (talks[first].harness_bytes / talks[first].steps)
        plain_growth = (talks[last].plain_bytes / talks[last].steps) / (talks[first].plain_bytes / talks[first].steps)
        print(
            f"  bytes/step from {first} to {last} turns: harness x{growth:.2f}, plain vcrpy x{plain_growth:.2f} "
            "(x1 = linear in turns)"
        )
    print()
    return c, d


# ====================================================================== main


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
    parser.add_argument("--quick", action="store_true", help="smoke run (~20 s): fewer rounds, 100 recorded scenarios")
    parser.add_argument("--sections", default="1,2,3,4,5", help="which sections to run (default: all)")
    parser.add_argument(
        "--vcrpy-budget", type=float, help="seconds of in-order plain vcrpy (body) on the 200-turn cassette; 0 = all"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (its path is printed)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.vcrpy_budget is not None:
        settings = Settings(**{**settings.__dict__, "vcrpy_budget": args.vcrpy_budget})
    sections = {int(s) for s in args.sections.split(",") if s.strip()}

    load = os.getloadavg()
    print(
        f"bench/replay.py{' --quick' if args.quick else ''}: python {sys.version.split()[0]}, openai "
        f"{openai.__version__}, httpx2 {httpx2.__version__}, vcrpy {vcr.__version__}; {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} (other work on the cores inflates every column)"
    )
    print()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    suite = talks = records = many = None
    try:
        transport = ScriptedTransport()
        if 1 in sections or 5 in sections:
            suite = bench_suite(settings, tmp, transport)
        if sections & {2, 3, 4, 5}:
            with stub_server() as url:
                if sections & {2, 3, 5}:
                    sizes = (10, 25, 200)
                    agents, recorded = record_talks(url, tmp, transport, sizes)
                    if 2 in sections or 5 in sections:
                        talks = bench_talk(settings, agents, [t for t in recorded if t.turns in (10, 200)], transport)
                    if 3 in sections:
                        records = bench_recording(settings, url, agents, [t for t in recorded if t.turns in (25, 200)])
                if 4 in sections:
                    many = bench_many(settings, url, tmp)
        sizes_cd = bench_sizes(suite, talks) if 5 in sections else (float("nan"), float("nan"))
    finally:
        if args.keep:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    print(f"total {time.perf_counter() - started:.0f} s; load average now {load[0]:.2f}")
    print(summary(suite, talks, records, many, sizes_cd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
