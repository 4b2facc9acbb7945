"""Helpers for the scenario, cassette, report, plugin and CLI tests: a local fake OpenAI-compatible server
(a real HTTP server on 127.0.0.1 serving scripted chat completions) and a builder for small projects on
disk (`Project` here writes the files; `harness.project.Project` is what the harness builds from them)."""

from __future__ import annotations

import http.server
import json
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.config import AgentsConfig, load_agents
from harness.factory import AgentFactory
from harness.project import Project as HarnessProject
from harness.scenarios.model import Scenario, load_scenario
from harness.scenarios.runner import ScenarioResult, ScenarioRunner
from tests.helpers import call
from tests.helpers import completion as scripted_completion

FAKE_KEY = "sk-fake-" + "k3y" * 15  # 53 characters, shaped like a real key
FAKE_ORG = "org-fakeorganisation1234"
FAKE_COOKIE = "__cf_bm=cookie-secret-value-123; path=/; HttpOnly"
MODEL = "fake-model-7b"


# ------------------------------------------------------------------ scripted responses


def completion(*calls: dict[str, Any], content: str | None = None, model: str = MODEL) -> dict[str, Any]:
    """A chat.completion body as a server that names its build (`system_fingerprint`) sends it."""
    return {**scripted_completion(*calls, content=content, model=model), "system_fingerprint": "fp_fake"}


def reply(text: str) -> dict[str, Any]:
    return completion(call("send_message", {"message": text}))


def append(label: str, content: str, heartbeat: bool = True) -> dict[str, Any]:
    return completion(call("core_memory_append", {"label": label, "content": content, "request_heartbeat": heartbeat}))


def replace(label: str, old: str, new: str, heartbeat: bool = True) -> dict[str, Any]:
    return completion(
        call(
            "core_memory_replace",
            {"label": label, "old_content": old, "new_content": new, "request_heartbeat": heartbeat},
        )
    )


# ------------------------------------------------------------------ the server


@dataclass(frozen=True)
class Raw:
    """A scripted answer given byte for byte: any status, body and content type (malformed bodies, HTML,
    event streams, provider error bodies)."""

    body: bytes | str
    status: int = 200
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def data(self) -> bytes:
        return self.body.encode("utf-8", "surrogatepass") if isinstance(self.body, str) else self.body


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    path: str = ""  # with its query


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        fake = self.server.fake
        with fake.lock:
            fake.received.append(Received({k.lower(): v for k, v in self.headers.items()}, json.loads(raw), self.path))
            payload: Any = fake.responses.pop(0) if fake.responses else None
        status = 200
        if payload is None:
            status, payload = 500, {"error": {"message": "fake server: script exhausted", "type": "server_error"}}
        answer = payload if isinstance(payload, Raw) else Raw(json.dumps(payload), status)
        data = answer.data
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Set-Cookie", FAKE_COOKIE)
        self.send_header("openai-organization", FAKE_ORG)
        self.send_header("openai-processing-ms", "12")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


@dataclass
class FakeOpenAI:
    """A chat-completions endpoint on 127.0.0.1 answering with `responses`, in order (then HTTP 500)."""

    responses: list[dict[str, Any] | Raw] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the fake server is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------ projects

AGENTS = """
defaults:
  loop: harness   # the harness's own loop (the default is letta-memgpt)
  model: {{name: {model}, base_url: "{base_url}", max_retries: 0, timeout: 10, temperature: 0}}
  tools: [send_message, core_memory_append, core_memory_replace]
  max_steps: 4
agents:
  chat:
    system: You are a test agent with memory.
    blocks:
      - {{label: persona, value: "You are a helpful assistant"}}
      - {{label: human, value: "Name: Bob"}}
"""

# The unreachable default: replay never needs the network, recording must be given a live server.
NOWHERE = "http://127.0.0.1:9/v1"


@dataclass
class Project:
    root: Path

    @property
    def agents(self) -> Path:
        return self.root / "agents.yaml"

    @property
    def cassettes(self) -> Path:
        return self.root / "cassettes"

    def scenario_path(self, name: str) -> Path:
        return self.root / "scenarios" / f"{name}.yaml"

    def write_agents(self, base_url: str = NOWHERE, model: str = MODEL) -> Path:
        self.agents.write_text(AGENTS.format(model=model, base_url=base_url).lstrip(), encoding="utf-8")
        return self.agents

    def write_scenario(self, name: str, text: str | dict[str, Any]) -> Path:
        path = self.scenario_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, dict):
            text = yaml.safe_dump(text, sort_keys=False)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def config(self) -> AgentsConfig:
        return load_agents(self.agents)

    def scenario(self, name: str) -> Scenario:
        return load_scenario(self.scenario_path(name))

    def project(self, mode: str = "none", base_url: str | None = None) -> HarnessProject:
        return HarnessProject.build(agents=self.agents, record_mode=mode, base_url=base_url)

    def runner(self, mode: str = "none", base_url: str | None = None) -> ScenarioRunner:
        return ScenarioRunner(AgentFactory(self.project(mode, base_url)))

    def record(self, name: str, responses: list[dict[str, Any] | Raw]) -> tuple[ScenarioResult, FakeOpenAI]:
        """Record scenario `name`'s cassette through the real stack against a fake server."""
        with FakeOpenAI(list(responses)) as server:
            result = self.runner("all", base_url=server.base_url).run(self.scenario(name))
        assert not server.responses, f"the scenario left {len(server.responses)} scripted response(s) unused"
        return result, server

    def replay(self, name: str) -> ScenarioResult:
        return self.runner("none").run(self.scenario(name))


def make_project(root: Path, scenarios: dict[str, str] | None = None) -> Project:
    project = Project(root)
    root.mkdir(parents=True, exist_ok=True)
    project.write_agents()
    for name, text in (scenarios or {}).items():
        project.write_scenario(name, text)
    return project


# Two scenarios used across the files: one the scripted model satisfies, one it does not.
REMEMBER = """
agent: chat
description: the agent stores the user's name
turns:
  - user: "Hi! My name is Azin."
    expect:
      tool_calls:
        - {name: core_memory_append, args: {label: human}}
        - send_message
      blocks:
        human: {contains: Azin}
        persona: unchanged
      reply: {contains: Azin}
      stop_reason: replied
expect:
  blocks:
    human: {equals: "Name: Bob\\nAzin"}
"""
REMEMBER_RESPONSES = [append("human", "Azin"), reply("Nice to meet you, Azin!")]

FORGETFUL = """
agent: chat
description: the agent should store the name but only replies
turns:
  - user: "My name is Carol."
    expect:
      blocks:
        human: {contains: Carol}
"""
FORGETFUL_RESPONSES = [reply("Hello Carol!")]


# ------------------------------------------------------------------ a server for concurrent runs


class _ByContentHandler(http.server.BaseHTTPRequestHandler):
    server: _ByContentServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        fake = self.server.fake
        messages = body["messages"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        user = messages[last_user]["content"]
        step = sum(1 for m in messages[last_user:] if m["role"] == "assistant")
        with fake.lock:
            fake.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body, self.path))
        if user in fake.held:
            fake.held[user].wait(60)  # until the test releases it (bounded: a server never hangs a run)
        script = fake.answers.get((body["model"], user)) or fake.answers.get((None, user)) or []
        payload: Any = script[step] if step < len(script) else None
        status = 200
        if payload is None:
            status, payload = 500, {"error": {"message": f"fake server: nothing for {user!r}", "type": "server_error"}}
        elif "_status" in payload:  # an error answer scripted (`error_answer`)
            payload = dict(payload)
            status = payload.pop("_status")
        data = json.dumps({**payload, "model": body["model"]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ByContentServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeByContent


def error_answer(status: int, message: str, code: str) -> dict[str, Any]:
    """A `FakeByContent` script entry answered with HTTP `status` and an OpenAI-style error body."""
    return {"_status": status, "error": {"message": message, "type": "invalid_request_error", "code": code}}


@dataclass
class FakeByContent:
    """A chat-completions endpoint whose answer depends only on the request: the last user message (and the
    model, when scripted per model) picks a script, the steps taken since that message pick its entry.
    Concurrent scenarios get the same answers in any order. A user message in `held` is answered only once
    its event is set."""

    answers: dict[tuple[str | None, str], list[dict[str, Any]]] = field(default_factory=dict)
    held: dict[str, threading.Event] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _ByContentServer | None = None
    _thread: threading.Thread | None = None

    def script(self, user: str, *responses: dict[str, Any], model: str | None = None) -> FakeByContent:
        self.answers[(model, user)] = list(responses)
        return self

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the fake server is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def users(self) -> list[str]:
        """The last user message of every request received."""
        with self.lock:
            return [[m for m in r.body["messages"] if m["role"] == "user"][-1]["content"] for r in self.received]

    def __enter__(self) -> FakeByContent:
        self._server = _ByContentServer(("127.0.0.1", 0), _ByContentHandler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for event in self.held.values():
            event.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
