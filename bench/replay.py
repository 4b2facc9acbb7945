"""Replay benchmark: milliseconds per replayed model step (a benchmark, not a test: nothing is asserted on time).

Run from anywhere (paths are resolved against the project root):

    python bench/replay.py            # full run, about a minute on 2 idle cores
    python bench/replay.py --quick    # smoke run, a few seconds

What it measures:

1. The example suite: every scenario under scenarios/ replayed from cassettes/ by `ScenarioRunner` (record mode
   `none`, agents from agents.yaml), exactly as `harness run` replays it: cassette load, agent loop, tools,
   SQLite store and assertions included. A scenario with no cassette yet is skipped with a note. Reported: steps
   (model requests) per scenario and ms per step, median of a few repeats.

2. A synthetic MemGPT-like conversation. For N in (10, 50, 100, 300) it builds, in a temp dir, N distinct
   agent-like requests (~12.5 KB bodies: a long system message with core memory, a growing and then windowed
   message history, 5 tool schemas) whose responses are valid chat completions with one tool call each, and
   writes the same traffic as two cassettes:
     - the harness cassette, recorded through the real stack: `harness.cassettes.use_cassette(path, "all")`
       around the openai SDK with an `httpx2.MockTransport` (vcrpy 9.4.2 patches MockTransport.handle_request
       too, so this records);
     - a plain vcrpy cassette of the very same requests (as the SDK sent them, headers included) and
       responses, written with vcrpy's own `vcr.serialize.serialize` and its default YAML serializer.
   Then each step is replayed through the real openai SDK
   (`openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0).chat.completions.create`)
   inside (a) `harness.cassettes.use_cassette(path, "none")`, (b) plain
   `vcr.VCR(record_mode="none", match_on=["method", "path", "body"]).use_cassette(path)`, and (c) with no vcrpy
   at all, the SDK over an `httpx2.MockTransport` that hands back the responses (the floor: the SDK's own
   request/response path). ms/step counts only the requests (opening the cassette is shown apart, in ms per
   cassette). Every replayed completion's id is checked, so a wrong match cannot pass unnoticed.
   Plain vcrpy costs O(N) body diffs per request, so for big N only the LAST requests of the cassette are
   replayed (the output says which); that is where the cost of a long cassette shows. All three columns replay
   the same steps.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
import openai  # noqa: E402
import vcr  # noqa: E402
import vcr.request  # noqa: E402
import vcr.serialize  # noqa: E402
from vcr.serializers import yamlserializer  # noqa: E402

from harness import cassettes as harness_cassettes  # noqa: E402
from harness.config import load_agents  # noqa: E402
from harness.scenarios import ScenarioRunner, load_scenario  # noqa: E402
from harness.scenarios.discovery import discover  # noqa: E402

BASE_URL = "http://127.0.0.1:9/v1"
MODEL = "gpt-4o-mini"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


# ====================================================================== 1. the example suite


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def bench_suite(repeats: int, cassette_dir: Path) -> None:
    print(f"== 1. Example suite: scenarios/ replayed from {_shown(cassette_dir)}/ by ScenarioRunner (record mode none)")
    config = load_agents(ROOT / "agents.yaml")
    runner = ScenarioRunner(config, cassette_dir, mode="none")
    paths = discover([ROOT / "scenarios"])
    rows: list[tuple[str, int, str, float]] = []
    notes: list[str] = []
    for path in paths:
        name = str(path.relative_to(ROOT))
        try:
            scenario = load_scenario(path)
            cassette = runner.cassette_path(scenario)
        except Exception as exc:  # a scenario draft that does not load is not this benchmark's business
            notes.append(f"skipped {name}: does not load ({type(exc).__name__}: {exc})")
            continue
        if not cassette.exists():
            notes.append(f"skipped {name}: no cassette yet at {_shown(cassette)}")
            continue
        times: list[float] = []
        steps, outcome = 0, "?"
        try:
            for _ in range(repeats):
                started = time.perf_counter()
                result = runner.run(scenario)
                times.append(time.perf_counter() - started)
                steps, outcome = result.steps, result.outcome
        except Exception as exc:  # e.g. a cassette caught half-written by a recording in progress
            notes.append(f"skipped {name}: replay raised {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if outcome not in ("passed", "xfailed"):
            notes.append(f"note: {name} replayed as '{outcome}' (its timing still counts the steps it ran)")
        rows.append((name, steps, outcome, statistics.median(times)))

    if rows:
        width = max(len(r[0]) for r in rows)
        print(f"  {'scenario':<{width}}  steps  outcome   ms/scenario  ms/step")
        for name, steps, outcome, seconds in rows:
            per_step = ms(seconds / steps) if steps else "-"
            print(f"  {name:<{width}}  {steps:>5}  {outcome:<8}  {ms(seconds):>11}  {per_step:>7}")
        total_steps = sum(r[1] for r in rows)
        total = sum(r[3] for r in rows)
        per_step = ms(total / total_steps) if total_steps else "-"
        print(
            f"  total: {len(rows)} scenario(s), {total_steps} steps, {ms(total)} ms, {per_step} ms/step "
            f"(median of {repeats} run(s) per scenario; whole ScenarioRunner.run, cassette load included)"
        )
    else:
        print("  no scenario could be replayed")
    for note in notes:
        print(f"  {note}")
    print()


# ====================================================================== 2. synthetic conversation

_VOCABULARY = """memory agent context user persona human archival recall message function heartbeat inner monologue
system tool window token limit summary event search insert replace append conversation thought response request
schedule project detail preference science data model record replay cassette"""
WORDS = tuple(_VOCABULARY.split())


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _paragraph(rng: random.Random, chars: int) -> str:
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < chars:
        parts.append(_sentence(rng, rng.randint(8, 18)))
    return " ".join(parts)


def _tool(name: str, description: str, params: dict[str, tuple[str, str]]) -> dict[str, Any]:
    properties = {key: {"type": kind, "description": text} for key, (kind, text) in params.items()}
    properties["request_heartbeat"] = {
        "type": "boolean",
        "description": "Request an immediate heartbeat after function execution. Set to `True` if you want to "
        "send a follow-up message or run a follow-up function.",
    }
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": [*params, "request_heartbeat"]},
        },
    }


TOOLS = [
    _tool(
        "send_message",
        "Sends a message to the human user.",
        {"message": ("string", "Message contents. All unicode (including emojis) are supported.")},
    ),
    _tool(
        "core_memory_append",
        "Append to the contents of core memory.",
        {
            "label": ("string", "Section of the memory to be edited (persona or human)."),
            "content": ("string", "Content to write to the memory. All unicode (including emojis) are supported."),
        },
    ),
    _tool(
        "core_memory_replace",
        "Replace the contents of core memory. To delete memories, use an empty string for new_content.",
        {
            "label": ("string", "Section of the memory to be edited (persona or human)."),
            "old_content": ("string", "String to replace. Must be an exact match."),
            "new_content": ("string", "Content to write to the memory. All unicode (including emojis) are supported."),
        },
    ),
    _tool(
        "conversation_search",
        "Search prior conversation history using case-insensitive string matching.",
        {
            "query": ("string", "String to search for."),
            "page": (
                "integer",
                "Allows you to page through results. Only use on a follow-up query. Defaults to 0 (first page).",
            ),
        },
    ),
    _tool(
        "archival_memory_insert",
        "Add to archival memory. Make sure to phrase the memory contents such that it can be easily queried later.",
        {"content": ("string", "Content to write to the memory. All unicode (including emojis) are supported.")},
    ),
]


@dataclass
class Conversation:
    bodies: list[dict[str, Any]]  # keyword arguments of chat.completions.create
    responses: list[bytes]  # chat completion JSON, one tool call each
    ids: list[str]  # each response's id, to check that replay returned the right one

    @property
    def mean_body_kb(self) -> float:
        return statistics.mean(len(json.dumps(b)) for b in self.bodies) / 1000


def make_conversation(n: int, seed: int = 7) -> Conversation:
    """n steps of a MemGPT-style agent: each request is the system message (instructions + core memory, which
    the agent edits now and then), the message history (windowed, as MemGPT evicts old messages) and 5 tools;
    each response calls one tool, and its call and the tool's result go into the next request's history."""
    rng = random.Random(seed)
    instructions = _paragraph(rng, 7600)
    persona = _paragraph(rng, 450)
    human_facts = [_sentence(rng, 10) for _ in range(4)]
    history: list[dict[str, Any]] = []
    bodies: list[dict[str, Any]] = []
    responses: list[bytes] = []
    ids: list[str] = []
    cycle = ("conversation_search", "core_memory_append", "send_message")
    for step in range(n):
        if step % len(cycle) == 0:
            history.append({"role": "user", "content": f"(turn {step // 3}) " + _paragraph(rng, 260)})
        system = (
            f"{instructions}\n\n### Memory [last modified: step {step}]\n"
            f"<persona>\n{persona}\n</persona>\n<human>\n{' '.join(human_facts)}\n</human>"
        )
        body: dict[str, Any] = {
            "model": MODEL,
            "messages": [{"role": "system", "content": system}, *history],
            "temperature": 0,
            "tools": TOOLS,
            "tool_choice": "required",
        }
        while len(json.dumps(body)) > 14000 and len(history) > 2:  # the context window: evict oldest messages
            del history[0]
            while history and history[0]["role"] != "user":
                del history[0]
            body["messages"] = [body["messages"][0], *history]
        bodies.append(body)

        name = cycle[step % len(cycle)]
        if name == "conversation_search":
            arguments: dict[str, Any] = {"query": rng.choice(WORDS), "page": 0, "request_heartbeat": True}
        elif name == "core_memory_append":
            arguments = {"label": "human", "content": _sentence(rng, 9), "request_heartbeat": True}
        else:
            arguments = {"message": _paragraph(rng, 160), "request_heartbeat": False}
        call_id = f"call_{step:04d}_{rng.getrandbits(40):010x}"
        completion_id = f"chatcmpl-bench{step:04d}{rng.getrandbits(48):012x}"
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            ],
        }
        prompt_tokens = len(json.dumps(body)) // 4
        completion = {
            "id": completion_id,
            "object": "chat.completion",
            "created": 1_700_000_000 + step,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": 40,
                "total_tokens": prompt_tokens + 40,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_0ba0d124f1",
        }
        responses.append(json.dumps(completion).encode())
        ids.append(completion_id)

        history.append({k: v for k, v in message.items() if k != "refusal"})
        if name == "core_memory_append":
            human_facts.append(arguments["content"])
            human_facts[:] = human_facts[-8:]
        result = {
            "status": "OK",
            "message": None if name != "conversation_search" else _paragraph(rng, 200),
            "time": f"2024-11-23 09:{step // 60 % 60:02d}:{step % 60:02d} PM UTC+0000",
        }
        history.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(result)})
    return Conversation(bodies, responses, ids)


def mock_client(responses: list[bytes], on_request: Callable[[httpx2.Request], None] | None = None) -> openai.OpenAI:
    """The openai SDK over an httpx2.MockTransport that answers the i-th request with the i-th response."""
    position = iter(range(len(responses)))

    def handler(request: httpx2.Request) -> httpx2.Response:
        if on_request is not None:
            on_request(request)
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=responses[next(position)])

    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(base_url=BASE_URL, api_key="x", max_retries=0, http_client=http_client)


def build_cassettes(directory: Path, conversation: Conversation) -> tuple[Path, Path]:
    """Record the conversation through harness.cassettes (mode all) over a MockTransport, capturing what the SDK
    sent; write the same requests and responses as a plain vcrpy cassette with vcrpy's own serializer."""
    n = len(conversation.bodies)
    harness_path, plain_path = directory / f"harness-{n}.yaml", directory / f"plain-{n}.yaml"
    sent: list[tuple[httpx2.Request, bytes]] = []
    received: list[httpx2.Response] = []

    def capture(request: httpx2.Request) -> None:
        sent.append((request, request.read()))

    client = mock_client(conversation.responses, capture)
    with harness_cassettes.use_cassette(harness_path, "all") as session:
        for body in conversation.bodies:
            received.append(client.chat.completions.with_raw_response.create(**body).http_response)
    kept = len(session.cassette.data) if session.cassette is not None else 0
    if kept != n or not harness_path.exists():
        raise RuntimeError(f"recording through harness.cassettes kept {kept} of {n} interactions")

    # What vcrpy's httpx2 stub records: the request as sent (all headers), the response's status, headers, bytes.
    requests = [vcr.request.Request(r.method, str(r.url), content, r.headers) for r, content in sent]
    responses = []
    for response, content in zip(received, conversation.responses, strict=True):
        headers: dict[str, list[str]] = {}
        for key, value in response.headers.multi_items():
            headers.setdefault(key, []).append(value)
        responses.append(
            {
                "status": {"code": response.status_code, "message": response.reason_phrase},
                "headers": headers,
                "body": {"string": content},
            }
        )
    plain_path.write_text(vcr.serialize.serialize({"requests": requests, "responses": responses}, yamlserializer))
    return harness_path, plain_path


@dataclass
class Timing:
    open: float  # entering the cassette context (loading the file)
    steps: float  # all replayed requests
    close: float  # leaving it


def replay(
    context: Callable[[], contextlib.AbstractContextManager[Any]],
    client: openai.OpenAI,
    conversation: Conversation,
    first: int,
) -> Timing:
    bodies, ids = conversation.bodies[first:], conversation.ids[first:]
    t0 = time.perf_counter()
    with context():
        t1 = time.perf_counter()
        for body, expected in zip(bodies, ids, strict=True):
            completion = client.chat.completions.create(**body)
            if completion.id != expected or not completion.choices[0].message.tool_calls:
                raise RuntimeError(f"replay returned {completion.id}, expected {expected}")
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    return Timing(t1 - t0, t2 - t1, t3 - t2)


def median_timing(timings: list[Timing]) -> Timing:
    return Timing(*(statistics.median(getattr(t, f) for t in timings) for f in ("open", "steps", "close")))


@dataclass
class Subject:
    """One synthetic cassette, replayable three ways over the same steps (from `first` to the end)."""

    conversation: Conversation
    harness_path: Path
    plain_path: Path

    def __post_init__(self) -> None:
        self.sdk_client = openai.OpenAI(base_url=BASE_URL, api_key="x", max_retries=0)
        self.plain_vcr = vcr.VCR(record_mode="none", match_on=["method", "path", "body"])

    def harness(self, first: int) -> Timing:
        return replay(
            lambda: harness_cassettes.use_cassette(self.harness_path, "none"), self.sdk_client, self.conversation, first
        )

    def plain(self, first: int) -> Timing:
        return replay(
            lambda: self.plain_vcr.use_cassette(str(self.plain_path)), self.sdk_client, self.conversation, first
        )

    def floor(self, first: int) -> Timing:
        client = mock_client(self.conversation.responses[first:])
        return replay(contextlib.nullcontext, client, self.conversation, first)


@dataclass
class Row:
    label: str
    steps: int
    body_kb: float
    harness: Timing
    plain: Timing
    floor: Timing
    plain_runs: int


def bench_synthetic(
    sizes: tuple[int, ...],
    tail_over: int,
    tail: int,
    repeats: int,
    plain_repeats: int,
    plain_budget: float,
    full_harness: bool,
) -> None:
    print("== 2. Synthetic MemGPT-like conversation: ms per replayed step through the real openai SDK")
    rows: list[Row] = []
    extra: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        for n in sizes:
            print(f"  N={n}: building and replaying ...", file=sys.stderr, flush=True)
            conversation = make_conversation(n)
            subject = Subject(conversation, *build_cassettes(Path(tmp), conversation))
            first = n - tail if n > tail_over else 0
            subject.floor(first)  # warm-up: first-call costs of the SDK (pydantic models, client setup)
            harness = median_timing([subject.harness(first) for _ in range(repeats)])
            floor = median_timing([subject.floor(first) for _ in range(repeats)])
            plain_runs = [subject.plain(first)]  # slow for big N: repeat only within the time budget
            while len(plain_runs) < plain_repeats and plain_runs[0].steps * (len(plain_runs) + 1) < plain_budget:
                plain_runs.append(subject.plain(first))
            label = f"{n}" if first == 0 else f"{n}*"
            rows.append(
                Row(
                    label,
                    n - first,
                    conversation.mean_body_kb,
                    harness,
                    median_timing(plain_runs),
                    floor,
                    len(plain_runs),
                )
            )
            if first:
                extra.append(
                    f"* N={n}: only the LAST {n - first} of {n} requests replayed (interactions "
                    f"{first}..{n - 1}), in all three columns:"
                )
                extra.append(
                    "  that is where O(N) matching shows. The harness indexes the recorded requests when it "
                    "opens the cassette (in 'open ms')."
                )
                if full_harness:
                    full = median_timing([subject.harness(0) for _ in range(min(repeats, 3))])
                    full_floor = median_timing([subject.floor(0) for _ in range(min(repeats, 3))])
                    extra.append(
                        f"  harness replaying all {n} steps of it: {ms(full.steps / n)} ms/step "
                        f"(SDK floor {ms(full_floor.steps / n)}, harness-floor "
                        f"{ms((full.steps - full_floor.steps) / n)}); plain vcrpy not run (too slow)"
                    )

    print(
        f"  {'N':>5} {'steps':>5} {'body KB':>7} | {'harness':>9} {'plain vcrpy':>11} {'SDK floor':>9} "
        f"{'harness-floor':>13} | {'open ms: harness':>16} {'plain':>8}"
    )
    print(f"  {'':>5} {'':>5} {'':>7} | {'ms/step':>9} {'ms/step':>11} {'ms/step':>9} {'ms/step':>13} |")
    for row in rows:
        per_step = [ms(t.steps / row.steps) for t in (row.harness, row.plain, row.floor)]
        overhead = ms((row.harness.steps - row.floor.steps) / row.steps)
        print(
            f"  {row.label:>5} {row.steps:>5} {row.body_kb:>7.1f} | {per_step[0]:>9} {per_step[1]:>11} "
            f"{per_step[2]:>9} {overhead:>13} | {ms(row.harness.open):>16} {ms(row.plain.open):>8}"
        )
    for line in extra:
        print(f"  {line}")
    plain_counts = ", ".join(f"N={row.label}: {row.plain_runs}" for row in rows)
    print(
        f"  medians of {repeats} run(s) (plain vcrpy, within a {plain_budget:g} s budget: {plain_counts}); "
        "ms/step excludes opening the cassette,"
    )
    print("  shown per cassette (ms) in the last columns; harness-floor = what vcrpy + the harness matcher add.")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small N, one repeat")
    parser.add_argument("--skip-suite", action="store_true", help="only the synthetic part")
    parser.add_argument("--skip-synthetic", action="store_true", help="only the example suite")
    parser.add_argument("--cassettes", type=Path, default=ROOT / "cassettes", help="cassette folder for the suite")
    args = parser.parse_args()

    load = os.getloadavg()
    print(
        f"replay benchmark: python {sys.version.split()[0]}, openai {openai.__version__}, "
        f"httpx2 {httpx2.__version__}, vcrpy {vcr.__version__}; {os.cpu_count()} CPU(s), "
        f"load average {load[0]:.2f} (timings inflate if other work shares the cores)"
    )
    print()
    started = time.perf_counter()
    if not args.skip_suite:
        bench_suite(1 if args.quick else 3, args.cassettes)
    if not args.skip_synthetic:
        if args.quick:
            bench_synthetic(
                (10, 40), tail_over=20, tail=10, repeats=1, plain_repeats=1, plain_budget=0, full_harness=True
            )
        else:
            bench_synthetic(
                (10, 50, 100, 300),
                tail_over=100,
                tail=30,
                repeats=5,
                plain_repeats=3,
                plain_budget=8.0,
                full_harness=True,
            )
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
