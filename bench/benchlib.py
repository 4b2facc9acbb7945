"""Shared pieces of the benchmark (see bench/replay.py for what is measured and how).

- interleaved timing: every variant once per round, the order rotated from round to round;
- the instant stub endpoint (bench/stub_server.py) in its own process;
- the traffic of a harness cassette (request bodies and recorded responses) and the same traffic as a
  plain vcrpy cassette, recorded through the openai SDK;
- the plain replays: vcrpy (body matching, or its default matchers) and the bare SDK (no vcrpy);
- the harness's own replay models answering the same traffic (`ModelCall`, `replay_models`);
- temporary projects (agents.yaml, scenario files, pytest.ini) for the harness to record and replay;
- the pytest plugins an install of the harness brings (`installed_plugins`), for timing pytest without the
  dev environment's.
"""

from __future__ import annotations

import gc
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx2
import openai
import vcr
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness.cassettes import format as cassette_format
from harness.cassettes.replay import ReplayCassette, ReplayChatModel, ReplayEmbeddingModel, recorded_answer
from harness.llm.chat import chat_request, parse_answer
from harness.llm.embeddings import embedding_request, parse_embeddings
from harness.llm.settings import EmbeddingSettings, ModelSettings, ToolChoice

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
# Plain replays go to this address; vcrpy intercepts every request (nothing listens on port 9, so a request
# that slipped through would fail loudly rather than reach a real server).
PLAIN_BASE_URL = "http://127.0.0.1:9/v1"
COMPLETIONS = "/chat/completions"
MODEL = "bench-stub-model"


def ms(seconds: float, digits: int = 2) -> str:
    return f"{seconds * 1000:.{digits}f}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ====================================================================== interleaved timing


@dataclass
class Variant:
    """One way of doing the same work. `run` does it once and returns its seconds (or several numbers, e.g.
    per cassette, that add up to them); `max_runs` caps a slow variant to its first rounds."""

    name: str
    run: Callable[[], list[float]]
    max_runs: int | None = None
    warmup: bool = True  # False: already warm (its code ran before), and too slow to run untimed
    runs: list[list[float]] = field(default_factory=list)

    @property
    def totals(self) -> list[float]:
        return [sum(run) for run in self.runs]

    @property
    def total(self) -> float:
        """The median total over the rounds."""
        return median(self.totals)

    def part(self, index: int) -> float:
        """The median over the rounds of the `index`-th number of a run (e.g. one cassette)."""
        return median([run[index] for run in self.runs])


@contextmanager
def bench_data_frozen() -> Iterator[None]:
    """The benchmark's own data (traffic, plain cassettes, earlier sections' leftovers) out of the garbage
    collector's sight while timing: a full collection then costs what it would in a process holding only
    the code measured, as `harness run` does, instead of also scanning the benchmark's heap."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def interleave(variants: Sequence[Variant], rounds: int, warmup: bool = True) -> None:
    """Run every variant once per round, rotating the order between rounds, so that machine noise (another
    process, a frequency change) lands on all columns alike. A garbage collection before each run keeps
    one variant's garbage from being collected on another's clock. An untimed warm-up round first."""
    for variant in variants:
        if warmup and variant.warmup:
            variant.run()
    with bench_data_frozen():
        for number in range(rounds):
            shift = number % len(variants)
            for variant in [*variants[shift:], *variants[:shift]]:
                if variant.max_runs is not None and len(variant.runs) >= variant.max_runs:
                    continue
                gc.collect()
                variant.runs.append(variant.run())


# ====================================================================== the stub endpoint


@contextmanager
def stub_server(latency_ms: float = 0.0) -> Iterator[str]:
    """bench/stub_server.py in its own process (answering after `latency_ms`); yields its base URL. Stopped by
    closing its stdin."""
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "stub_server.py"), "--latency-ms", str(latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(timeout=10)


# ====================================================================== traffic


class WrongResponse(RuntimeError):
    """A replay handed out a response that is not the one recorded for the request."""


@dataclass(frozen=True)
class Exchange:
    body: dict[str, Any]  # the request body as the harness sent it (decoded JSON)
    response: bytes  # the recorded response body


def read_exchanges(path: Path) -> list[Exchange]:
    """The traffic of a harness cassette, read with the harness's own parser."""
    data = cassette_format.parse(path.read_text(encoding="utf-8"), str(path))
    exchanges: list[Exchange] = []
    for interaction in data.interactions:
        body = interaction.request.body
        if not isinstance(body, dict):
            raise ValueError(f"{path}: a request body that is not a JSON object")
        text = interaction.response.get("body", {}).get("string", "")
        exchanges.append(Exchange(body, text if isinstance(text, bytes) else text.encode()))
    return exchanges


@dataclass(frozen=True)
class ModelCall:
    """One recorded request as the agent's model made it: which of the cassette's models (`ModelTraffic`)
    made it, its arguments, and the answer the recording gives."""

    model: int  # index into ModelTraffic.settings
    arguments: tuple[Any, ...]  # (messages, tools) or (texts,)
    expected: Any  # the parsed answer: a ChatResponse or the vectors (or the error's text)


@dataclass(frozen=True)
class ModelTraffic:
    """A cassette's requests as calls of the harness's replay models: the settings of each model (chat or
    embedding) whose `chat_request` / `embedding_request` build exactly the recorded bodies, and the calls."""

    settings: list[ModelSettings | EmbeddingSettings]
    calls: list[ModelCall]

    def models(self, cassette: ReplayCassette) -> list[Callable[..., Any]]:
        """The replay models answering from `cassette`, built once per scenario as the agent's factory does."""
        return [
            ReplayChatModel(s, cassette).complete
            if isinstance(s, ModelSettings)
            else ReplayEmbeddingModel(s, cassette).embed
            for s in self.settings
        ]


_NO_STREAM = ("stream", False)
_CHAT_FIELDS = {"model", "messages", "temperature", "tools", "tool_choice", "max_tokens", "seed", "stream"}


def model_traffic(path: Path) -> ModelTraffic:
    """The requests of a harness cassette as calls of its replay models, each answer parsed from the recorded
    response by the live client's parser. ValueError for a body no settings make the models send."""
    traffic = ModelTraffic([], [])
    data = cassette_format.parse(path.read_text(encoding="utf-8"), str(path))
    for number, interaction in enumerate(data.interactions):
        body, uri = interaction.request.body, interaction.request.uri
        if not isinstance(body, dict):
            raise ValueError(f"{path}: request {number} has no JSON object body")
        operation = uri.rsplit("/", 1)[-1]
        base_url = uri[: -len(operation)].rstrip("/")
        status, text = recorded_answer(interaction.response)
        settings: ModelSettings | EmbeddingSettings
        if operation == "embeddings":
            settings = EmbeddingSettings(body["model"], base_url, dimensions=body.get("dimensions"), max_retries=0)
            arguments: tuple[Any, ...] = (body["input"],)
            rebuilt = embedding_request(settings, *arguments)
            expected = _expected(parse_embeddings, status, text, base_url, len(body["input"]))
        else:
            settings = ModelSettings(
                body["model"],
                base_url,
                temperature=body["temperature"],
                max_tokens=body.get("max_tokens"),
                max_retries=0,
                tool_choice=ToolChoice(body.get("tool_choice", ToolChoice.REQUIRED)),
                seed=body.get("seed"),
                stream=bool(body.get("stream")),
                # Letta's request defaults, `"stream": false` among them (chat_request adds only a true one)
                extra_body=tuple((k, v) for k, v in body.items() if k not in _CHAT_FIELDS or (k, v) == _NO_STREAM),
            )
            arguments = (body["messages"], body.get("tools", []))
            rebuilt = chat_request(settings, *arguments)
            expected = _expected(parse_answer, status, text, base_url)
        if rebuilt != body:
            raise ValueError(f"{path}: request {number} is not a body the harness's models send")
        if settings not in traffic.settings:
            traffic.settings.append(settings)
        traffic.calls.append(ModelCall(traffic.settings.index(settings), arguments, expected))
    return traffic


def _expected(parse: Callable[..., Any], *arguments: Any) -> Any:
    try:
        return parse(*arguments)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def replay_models(path: Path, traffic: ModelTraffic) -> float:
    """The harness's replay path alone, the same job as the plain replays: open the cassette, build its
    models, and make each recorded request through its replay model (build the body, key it, look it up,
    parse the answer); each answer must be the recorded one."""
    started = time.perf_counter()
    cassette = ReplayCassette(path)
    models = traffic.models(cassette)
    for number, call in enumerate(traffic.calls):
        try:
            answer = models[call.model](*call.arguments)
        except Exception as exc:  # a recorded error answer is replayed as the same error
            answer = f"{type(exc).__name__}: {exc}"
        if answer != call.expected:
            raise WrongResponse(f"{path}: request {number} got another answer than the recorded one")
    return time.perf_counter() - started


def rewrite(source: Path, destination: Path) -> int:
    """The cassette at `source` written again by today's `format.dump` (the files in cassettes/ may
    predate the current format): the same interactions, as `harness record` would write them now.
    Returns the new file's size."""
    data = cassette_format.parse(source.read_text(encoding="utf-8"), str(source))
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(cassette_format.dump(cassette_format.to_vcr_dict(data)), encoding="utf-8")
    return destination.stat().st_size


def file_io_seconds(path: Path) -> tuple[float, float]:
    """Reading (`format.parse`) and writing (`format.dump`, from vcrpy's dict) the cassette at `path`:
    what recording over it costs besides the requests."""
    text = path.read_text(encoding="utf-8")
    started = time.perf_counter()
    data = cassette_format.parse(text, str(path))
    parsed = time.perf_counter()
    vcr_dict = cassette_format.to_vcr_dict(data)
    converted = time.perf_counter()
    cassette_format.dump(vcr_dict)
    return parsed - started, time.perf_counter() - converted


def sdk_client(base_url: str = PLAIN_BASE_URL, http_client: httpx2.Client | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, http_client=http_client)


def post(client: openai.OpenAI, body: dict[str, Any]) -> bytes:
    """One chat completion posted as the harness's live client posts it (the prepared body, raw response)."""
    response = client.post(COMPLETIONS, body=body, cast_to=httpx2.Response)
    return response.content


class ScriptedTransport:
    """An httpx2.MockTransport answering with the queued responses, in order: the bare SDK's floor."""

    def __init__(self) -> None:
        self.queue: deque[bytes] = deque()
        self.client = sdk_client(http_client=httpx2.Client(transport=httpx2.MockTransport(self._handle)))

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        if not self.queue:
            return httpx2.Response(500, json={"error": {"message": "script exhausted"}})
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=self.queue.popleft())


def record_plain(path: Path, exchanges: Sequence[Exchange], transport: ScriptedTransport) -> None:
    """The same traffic as a plain vcrpy cassette: vcrpy (record mode all, default YAML serializer) records
    the openai SDK posting each body to a MockTransport that answers with the recorded response; so the
    file holds the requests as the SDK really sends them, headers included."""
    path.parent.mkdir(parents=True, exist_ok=True)
    transport.queue.extend(e.response for e in exchanges)
    with vcr.VCR(record_mode="all").use_cassette(str(path)):
        for exchange in exchanges:
            post(transport.client, exchange.body)
    if transport.queue:
        raise RuntimeError(f"recording {path} left {len(transport.queue)} responses unused")


def plain_vcr(body_matching: bool) -> vcr.VCR:
    if body_matching:
        return vcr.VCR(record_mode="none", match_on=["method", "path", "body"])
    return vcr.VCR(record_mode="none")  # method, scheme, host, port, path, query


def replay_plain(config: vcr.VCR, path: Path, exchanges: Sequence[Exchange], client: openai.OpenAI) -> float:
    """Open the plain cassette and post every body through the SDK; each response must be the recorded one."""
    started = time.perf_counter()
    with config.use_cassette(str(path)):
        for number, exchange in enumerate(exchanges):
            if post(client, exchange.body) != exchange.response:
                raise WrongResponse(f"{path}: request {number} got another request's response")
    return time.perf_counter() - started


def replay_floor(transport: ScriptedTransport, exchanges: Sequence[Exchange]) -> float:
    """The bare SDK over a MockTransport: no cassette to open, no vcrpy."""
    transport.queue.clear()
    transport.queue.extend(e.response for e in exchanges)
    started = time.perf_counter()
    for number, exchange in enumerate(exchanges):
        if post(transport.client, exchange.body) != exchange.response:
            raise WrongResponse(f"floor: request {number} got another response")
    return time.perf_counter() - started


def same_completion(a: bytes, b: bytes) -> bool:
    return bool(json.loads(a) == json.loads(b))


# ====================================================================== temporary projects

AGENTS = """\
# Written by bench/replay.py: the example suite's `chat` agent, talking to the bench's instant stub.
defaults:
  model: {{name: {model}, base_url: "{base_url}", max_retries: 0, timeout: 30}}
  max_steps: 6
agents:
  chat:
    system_file: prompts/memgpt_chat.txt
    blocks:
      - {{label: persona, value: "You are a helpful assistant"}}
      - {{label: human, value: "Name: Bob"}}
    tools: [send_message, core_memory_append, core_memory_replace]
"""

PYTEST_INI = """\
[pytest]
testpaths = scenarios
"""


def write_project(root: Path, base_url: str) -> Path:
    """A project at `root` whose `chat` agent talks to `base_url`; returns its agents file."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "prompts" / "memgpt_chat.txt", root / "prompts" / "memgpt_chat.txt")
    (root / "agents.yaml").write_text(AGENTS.format(model=MODEL, base_url=base_url), encoding="utf-8")
    (root / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    return root / "agents.yaml"


def write_scenario(path: Path, scenario: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(scenario, sort_keys=False, width=1000), encoding="utf-8")
    return path


TOPICS = ("gardening", "chess openings", "bread baking", "sailing", "jazz piano", "rock climbing", "astronomy")


def conversation(turns: int) -> dict[str, Any]:
    """A scenario of `turns` user messages to `chat`. The stub answers each with a reply, and every 4th with
    a memory append first (so the system message changes); every turn checks it ended with a reply."""
    return {
        "agent": "chat",
        "description": f"a {turns}-turn conversation (bench)",
        "turns": [
            {
                "user": f"Message {i + 1}: today I would like to talk about {TOPICS[i % len(TOPICS)]}, part {i // 7}.",
                "expect": {"stop_reason": "replied"},
            }
            for i in range(turns)
        ],
        "expect": {"blocks": {"human": {"contains": "Name: Bob"}}},
    }


def small_scenario(number: int) -> dict[str, Any]:
    """One of the 1000: 1 to 3 turns from a few messages, numbered so that every cassette differs."""
    messages = [
        f"Hi, I am user {number}.",
        f"Please remember that my favourite number is {number % 97}.",
        f"What should I do about {TOPICS[number % len(TOPICS)]}?",
    ]
    turns: list[dict[str, Any]] = [{"user": messages[0], "expect": {"stop_reason": "replied"}}]
    if number % 3 >= 1:
        turns.append(
            {
                "user": messages[1],
                "expect": {"tool_calls": ["core_memory_append", "send_message"], "stop_reason": "replied"},
            }
        )
    if number % 3 == 2:
        turns.append({"user": messages[2]})
    return {
        "agent": "chat",
        "description": f"bench scenario {number}",
        "turns": turns,
        "expect": {"blocks": {"persona": "unchanged"}},
    }


def runtime_closure(distribution: str) -> set[str]:
    """The canonical names of `distribution` and of everything it needs at run time, transitively (the
    requirements its extras add are left out: what `pip install <distribution>` brings)."""
    seen: set[str] = set()
    pending = [distribution]
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen:
            continue
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:  # an optional dependency of a platform this is not
            continue
        seen.add(name)
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def installed_plugins(distribution: str, also: Sequence[str] = ()) -> list[str]:
    """The modules of the pytest plugins (entry points `pytest11`) that an install of `distribution` brings,
    and of the distributions named in `also` (e.g. pytest-xdist for -n): with PYTEST_DISABLE_PLUGIN_AUTOLOAD
    set, `-p` each of them makes pytest load what a user's environment would, not what this dev environment
    holds besides (hypothesis's plugin imports the whole of hypothesis at every session's end)."""
    wanted = runtime_closure(distribution) | {canonicalize_name(name) for name in also}
    modules = {
        entry.value.partition(":")[0]
        for dist in metadata.distributions()
        if canonicalize_name(dist.metadata["Name"]) in wanted
        for entry in dist.entry_points
        if entry.group == "pytest11"
    }
    return sorted(modules)
