"""Shared test helpers: scripted chat-completion responses, a mock-transport model, a local HTTP server, and
the CLI run in a process of its own (with file permissions applying, even as root)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from harness.llm.openai_client import OpenAIChatModel
from harness.llm.settings import ModelSettings

ROOT = Path(__file__).resolve().parents[1]
SEED_AGENTS = ROOT / "agents.yaml"

# The seed notebook's `chat_memory.compile()` output, byte for byte.
SEED_MEMORY = (
    '<persona characters="27/5000">\nYou are a helpful assistant\n</persona>\n'
    '<human characters="9/5000">\nName: Bob\n</human>'
)

TEST_SETTINGS = ModelSettings(name="test-model", base_url="http://llm.test/v1", max_retries=0, timeout=10)


def call(name: str, arguments: dict[str, Any] | str, call_id: str | None = None) -> dict[str, Any]:
    """One tool call as the server sends it; `arguments` may be a raw (even malformed) string."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id or f"server-{name}", "type": "function", "function": {"name": name, "arguments": raw}}


def completion(*calls: dict[str, Any], content: str | None = None, model: str = "scripted-model") -> dict[str, Any]:
    """A chat.completion body with the given tool calls (or plain text)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = list(calls)
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop", "logprobs": None}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def reply(text: str, call_id: str | None = None) -> dict[str, Any]:
    return completion(call("send_message", {"message": text}, call_id))


class Script:
    """Scripted responses served in order; every request body is recorded."""

    def __init__(self, responses: list[Any]) -> None:
        self.responses = list(responses)
        self.requests: list[dict[str, Any]] = []

    def next_response(self, body: dict[str, Any]) -> Any:
        self.requests.append(body)
        if not self.responses:
            return httpx2.Response(500, json={"error": {"message": "test script exhausted", "type": "server_error"}})
        return self.responses.pop(0)

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        item = self.next_response(json.loads(request.content))
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, httpx2.Response):
            return item
        return httpx2.Response(200, json=item)

    def model(self, settings: ModelSettings = TEST_SETTINGS) -> OpenAIChatModel:
        return OpenAIChatModel(settings, http_client=httpx2.Client(transport=httpx2.MockTransport(self.handler)))

    @property
    def system_messages(self) -> list[str]:
        return [body["messages"][0]["content"] for body in self.requests]


class _Handler(http.server.BaseHTTPRequestHandler):
    script: Script

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        item = self.server.script.next_response(body)  # type: ignore[attr-defined]
        if isinstance(item, httpx2.Response):  # its status, headers (a redirect's Location) and body as they are
            status, headers, data = item.status_code, dict(item.headers), item.content
        else:
            status, headers, data = 200, {"content-type": "application/json"}, json.dumps(item).encode()
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(script: Script) -> Iterator[str]:
    """A real OpenAI-compatible endpoint on 127.0.0.1 serving `script`; yields its base_url."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.script = script  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ------------------------------------------------------------------ the CLI in a process of its own

_CLI = "import sys\nfrom harness.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run_cli(
    *args: str,
    cwd: Path,
    as_user: bool = False,
    redirect: str = "",
    env: dict[str, str] | None = None,
    input: str | None = None,
    stdout: Any = subprocess.PIPE,
) -> subprocess.CompletedProcess[str]:
    """`harness ARGS` (this checkout's) in a fresh process in `cwd`: see `run_python`."""
    return run_python(_CLI, *args, cwd=cwd, as_user=as_user, redirect=redirect, env=env, input=input, stdout=stdout)


def run_python(
    code: str,
    *args: str,
    cwd: Path,
    as_user: bool = False,
    redirect: str = "",
    env: dict[str, str] | None = None,
    input: str | None = None,
    stdout: Any = subprocess.PIPE,
) -> subprocess.CompletedProcess[str]:
    """`code` (with this checkout's harness) in a fresh process in `cwd`, its output read as UTF-8 (an
    escape for a byte that is not).

    `as_user`: file permissions apply as they do to a user. Root reads a chmod 000 file and enters a chmod
    000 folder anyway: as root, the process runs without the capabilities that let it (`setpriv`), and the
    test is skipped where that cannot be done. `redirect`: a redirection of the process's own streams, as
    `>&-` (stdout closed), which the parent cannot hand over."""
    command = [sys.executable, "-c", code, *args]
    if redirect:
        command = ["sh", "-c", f'exec "$@" {redirect}', "sh", *command]
    if as_user and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root, and setpriv is missing: file permissions cannot be made to apply")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(
        command,
        cwd=cwd,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        errors="backslashreplace",
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
    )
    if as_user and done.returncode != 0 and done.stderr.startswith("setpriv:"):
        pytest.skip(f"setpriv cannot drop the capabilities here: {done.stderr.strip()}")
    return done


@contextmanager
def closed_to_user(*paths: Path) -> Iterator[None]:
    """`paths` at mode 000 (no reading, no entering) for the block, then as they were (so they can be
    removed)."""
    modes = [path.stat().st_mode & 0o7777 for path in paths]
    for path in paths:
        path.chmod(0)
    try:
        yield
    finally:
        for path, mode in zip(paths, modes, strict=True):
            path.chmod(mode)
