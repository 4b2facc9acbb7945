"""No credential reaches any output the harness writes.

One end-to-end test: a local stub endpoint, a distinct canary value in every place a credential can be
(the key variables the agents read, the SDK's organization and project variables, user, password and an
`api-key` query parameter in a base URL, a 6-character key), a stub that echoes every credential it
received back in response bodies (plain, JSON-escaped with `\\/`, in an error message of a 400, 401, 429
and 500 answer, in `id` and `system_fingerprint`) and sends credential-like response headers. Then every
output is searched: cassettes, `--report` JSON, the SQLite state database, JUnit XML, and the stdout and
stderr of `harness record`, `harness run`, `harness chat`, `harness memory` and of pytest. The error
texts imitate OpenAI's own ("Incorrect API key provided: ...", platform.openai.com/docs/guides/error-codes),
which other providers send with the key unmasked.
"""

from __future__ import annotations

import base64
import html
import http.server
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from harness.cassettes.scrub import MASK
from harness.cli import main

# A distinct canary per place; the ones the stub echoes contain "/" so that `\/` escaping matters.
OPENAI_KEY = "sk-canary/openai/Key0001"
CUSTOM_KEY = "custom-canary/Key0002"  # under a variable the *_API_KEY rule does not cover
SHORT_KEY = "Qz7kX2"  # 6 characters
ORG_ID = "org-canaryOrg0003"
PROJECT_ID = "proj_canaryProj0004"
URL_USER = "canaryUser0005"
URL_PASSWORD = "canaryPass/0006"
URL_QUERY_KEY = "canaryQuery0007"
COOKIE = "canaryCookie0008"  # response headers only: never sent by the harness
HEADER_ORG = "org-canaryHeader0009"
CANARIES = (
    OPENAI_KEY,
    CUSTOM_KEY,
    SHORT_KEY,
    ORG_ID,
    PROJECT_ID,
    URL_USER,
    URL_PASSWORD,
    URL_QUERY_KEY,
    COOKIE,
    HEADER_ORG,
)
ENVIRONMENT = {
    "OPENAI_API_KEY": OPENAI_KEY,
    "LLM_CANARY_CREDENTIAL": CUSTOM_KEY,
    "SHORT_CANARY": SHORT_KEY,
    "OPENAI_ORG_ID": ORG_ID,
    "OPENAI_PROJECT_ID": PROJECT_ID,
}
ERROR_STATUSES = (400, 401, 429, 500)


def spellings(secret: str) -> set[str]:
    """Every way an output could spell `secret`: as is, JSON-escaped with `\\/`, percent-encoded."""
    return {secret, secret.replace("/", "\\/"), quote(secret, safe=""), quote(secret)}


FORBIDDEN = set().union(*(spellings(c) for c in CANARIES)) | {
    base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode()  # the Basic auth header
}


def leaks(text: str) -> list[str]:
    return sorted(s for s in FORBIDDEN if s in text)


# ------------------------------------------------------------------ the stub


@dataclass
class Stub:
    """A chat-completions endpoint that hands every credential it receives back to the client.

    The last user message says what to do: `echo`, `escaped` (the body's slashes escaped as `\\/`),
    `remember` (store the credentials in the `human` block, then reply) or `error NNN`."""

    received: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: http.server.ThreadingHTTPServer | None = None

    def credentials(self, handler: http.server.BaseHTTPRequestHandler) -> str:
        found: list[str] = []
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            found.append(auth.removeprefix("Bearer "))
        elif auth.startswith("Basic "):
            found += base64.b64decode(auth.removeprefix("Basic ")).decode().split(":", 1)
        found += [v for k, v in parse_qsl(urlsplit(handler.path).query) if k == "api-key"]
        found += [handler.headers[h] for h in ("OpenAI-Organization", "OpenAI-Project") if h in handler.headers]
        # The cookie this stub set, sent back by the client: a value learned during the recording itself
        found += [handler.headers["Cookie"]] if "Cookie" in handler.headers else []
        with self.lock:
            self.received += found
        return " ".join(found)

    def answer(self, body: dict[str, Any], creds: str) -> tuple[int, bytes]:
        messages = body["messages"]
        command = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        if command.startswith("error "):
            status = int(command.split()[1])
            error = {
                "message": f"Incorrect API key provided: {creds}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
            return status, json.dumps({"error": error}).encode()
        if messages[-1]["role"] == "user" and command == "remember":
            arguments = {"label": "human", "content": f"credentials: {creds}", "request_heartbeat": True}
            call = {"name": "core_memory_append", "arguments": json.dumps(arguments)}
        else:
            call = {"name": "send_message", "arguments": json.dumps({"message": f"you sent {creds}"})}
        payload = {
            "id": f"chatcmpl-{creds}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "canary-model",
            "system_fingerprint": creds,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": f"thinking about {creds}",
                        "tool_calls": [{"id": f"call_{creds}", "type": "function", "function": call}],
                    },
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        text = json.dumps(payload)
        return 200, (text.replace("/", "\\/") if command == "escaped" else text).encode()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    @contextmanager
    def running(self) -> Iterator[Stub]:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                creds = stub.credentials(self)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                status, data = stub.answer(body, creds)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Set-Cookie", f"__cf_bm={COOKIE}; path=/; HttpOnly")
                self.send_header("openai-organization", HEADER_ORG)
                self.send_header("openai-project", HEADER_ORG)
                self.send_header("x-request-id", COOKIE)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join()


# ------------------------------------------------------------------ the project

AGENTS = """
defaults:
  model: {{name: canary-model, base_url: "http://127.0.0.1:{port}/v1", max_retries: 0, timeout: 10}}
  tools: [send_message, core_memory_append, core_memory_replace]
  max_steps: 3
agents:
  chat:                                    # OPENAI_API_KEY, and the SDK's organization and project
    system: You are a test agent with memory.
    blocks:
      - {{label: persona, value: "You are a helpful assistant"}}
      - {{label: human, value: "Name: Bob"}}
  custom:
    extends: chat
    model: {{api_key_env: LLM_CANARY_CREDENTIAL}}
  short:
    extends: chat
    model: {{api_key_env: SHORT_CANARY}}
  url:
    extends: chat
    model: {{base_url: "http://{user}:{password}@127.0.0.1:{port}/v1?api-key={query}"}}
"""

# Each agent's scenario fails (the block changed) so that failure reports, with the block's history, are
# written too; each error scenario records an endpoint's refusal.
SCENARIO = """
agent: {agent}
turns:
  - user: echo
  - user: escaped
  - user: remember
expect:
  blocks:
    human: {{equals: "Name: Bob"}}
"""
XFAIL_SCENARIO = """
agent: chat
turns:
  - user: echo
expect:
  blocks:
    human: {{equals: nobody}}
xfail: "because {key}"
"""
ERROR_AGENTS = dict(zip(ERROR_STATUSES, ("chat", "custom", "short", "url"), strict=True))

PYTHON_TESTS = """
def test_custom_key(harness_agent):
    agent = harness_agent("custom")
    result = agent.send("echo")
    assert result.replies == ()  # fails: pytest shows the reply


def test_short_key_refused(harness_agent):
    harness_agent("short").send("error 429")


def test_own_output(harness_agent):
    import os

    harness_agent("chat")
    print("the key is", os.environ["LLM_CANARY_CREDENTIAL"])  # a harness test's captured output
    assert os.environ["SHORT_CANARY"] == "?"  # and pytest's explanation of a failed assert
"""


def write_project(root: Path, port: int) -> None:
    url = {"user": URL_USER, "password": quote(URL_PASSWORD, safe=""), "query": URL_QUERY_KEY}
    write(root / "agents.yaml", AGENTS.format(port=port, **url))
    for agent in ("chat", "custom", "short", "url"):
        write(root / "scenarios" / f"{agent}.yaml", SCENARIO.format(agent=agent))
    for status, agent in ERROR_AGENTS.items():
        write(root / "scenarios" / "errors" / f"e{status}.yaml", f"agent: {agent}\nturns:\n  - user: error {status}\n")
    # An expected failure whose reason quotes a key: pytest prints the reason and JUnit keeps it.
    write(root / "scenarios" / "xfail.yaml", XFAIL_SCENARIO.format(key=CUSTOM_KEY))
    write(root / "test_canary.py", PYTHON_TESTS)
    write(root / "pytest.ini", "[pytest]\naddopts = -p no:cacheprovider\n")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@dataclass
class Outputs:
    """Everything the product wrote, by name (pytest's with the libraries' debug logs captured)."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        self.texts[name] = text

    def add_files(self, folder: Path, prefix: str) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.add(f"{prefix}{path.relative_to(folder)}", path.read_bytes().decode("utf-8", "replace"))

    def leaks(self) -> dict[str, list[str]]:
        return {name: found for name, text in self.texts.items() if (found := leaks(text))}

    def joined(self) -> str:
        return "\n".join(self.texts.values())


def cli(outputs: Outputs, name: str, capsys: pytest.CaptureFixture[str], *args: str, stdin: str | None = None) -> int:
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(args))
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    outputs.add(f"{name} (stdout)", out)
    outputs.add(f"{name} (stderr)", err)
    return code


def pytest_run(outputs: Outputs, name: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "--log-level=DEBUG", "-o", "junit_logging=all", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    outputs.add(f"{name} (stdout)", done.stdout)
    outputs.add(f"{name} (stderr)", done.stderr)
    return done


# ------------------------------------------------------------------ the test


def test_no_canary_reaches_any_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    root, out = tmp_path / "project", tmp_path / "out"
    out.mkdir()
    outputs = Outputs()
    with Stub().running() as stub:
        write_project(root, stub.port)
        agents = str(root / "agents.yaml")
        scenarios = [str(root / "scenarios" / f"{agent}.yaml") for agent in ("chat", "custom", "short", "url")]
        # harness record: the echoing scenarios, then each refusal on its own (a refusal ends a run)
        cli(outputs, "record", capsys, "record", "--agents", agents, "--report", str(out / "record.json"), *scenarios)
        for status in ERROR_STATUSES:
            scenario = str(root / "scenarios" / "errors" / f"e{status}.yaml")
            report = str(out / f"record-{status}.json")
            cli(outputs, f"record {status}", capsys, "record", "--agents", agents, "--report", report, scenario)
        # harness run: replay them all
        cli(outputs, "run", capsys, "run", "--agents", agents, "--report", str(out / "run.json"))
        # harness chat, each agent into one database, ending on a refusal; then harness memory
        db = str(out / "state.db")
        for agent, status in zip(("chat", "custom", "short", "url"), ERROR_STATUSES, strict=True):
            script = f"echo\nescaped\nremember\n/memory\nerror {status}\n"
            cli(outputs, f"chat {agent}", capsys, "chat", agent, "--agents", agents, "--db", db, stdin=script)
            cli(outputs, f"memory {agent}", capsys, "memory", agent, "--agents", agents, "--db", db)
        # pytest: record everything (scenarios and Python tests), then replay it
        pytest_run(outputs, "pytest record", root, "--harness-record-mode", "all", f"--junitxml={out / 'record.xml'}")
        pytest_run(outputs, "pytest replay", root, f"--junitxml={out / 'replay.xml'}")
    outputs.add_files(root / "cassettes", "cassettes/")
    outputs.add_files(out, "")

    found = outputs.leaks()
    report = "\n".join(f"  {name}: {', '.join(spelt)}" for name, spelt in found.items())
    assert not found, f"canaries in {len(found)} of {len(outputs.texts)} outputs:\n{report}"

    # The canaries were in play: the stub received every one it could, and its echoes were masked, not lost.
    assert {OPENAI_KEY, CUSTOM_KEY, SHORT_KEY, ORG_ID, PROJECT_ID, URL_USER, URL_PASSWORD} <= set(stub.received)
    assert any(URL_QUERY_KEY in value for value in stub.received)
    for name in ("cassettes/chat.yaml", "record.json", "run.json", "state.db", "chat chat (stdout)"):
        assert MASK in outputs.texts[name], name
    assert html.escape(MASK) in outputs.texts["record.xml"]
    assert "the key is <SECRET>" in outputs.texts["pytest replay (stdout)"]  # a harness test's own output
    # the libraries' debug logs (vcrpy logs each response with its headers), captured by pytest
    assert "Captured log call" in outputs.texts["pytest record (stdout)"]
    assert "set-cookie" in outputs.texts["pytest record (stdout)"].lower()
    for status in ERROR_STATUSES:
        assert f"{status}" in outputs.texts[f"record {status} (stderr)"]
    assert len(outputs.texts) > 30
    # Replay reproduces the recording exactly: the agent saw the masked answers while recording too.
    recorded, replayed = (json.loads((out / f"{run}.json").read_text(encoding="utf-8")) for run in ("record", "run"))
    assert [e["agent"] for e in recorded["scenarios"][:3]] == ["chat", "custom", "short"]
    for entry in recorded["scenarios"][:3]:  # (the url agent's replay is not this test's business)
        again = next(e for e in replayed["scenarios"] if e["scenario"] == entry["scenario"])
        assert again["turns"] == entry["turns"] and again["failures"] == entry["failures"]
