"""An instant OpenAI-compatible chat-completions endpoint on 127.0.0.1, for the benchmark.

Run as a script (`python bench/stub_server.py [--latency-ms MS]`): it prints its port on the first line of
stdout and serves until its stdin closes or it is terminated. With a latency, every answer waits that long
first (each request in its own thread, so concurrent requests wait side by side, as a network model's do).
It runs in its own process so that its work never competes with the process being measured for the GIL.

Every answer is a pure function of the request body, so recording a conversation, re-recording it and
posting the recorded bodies again all get the very same answers:

- after a user message: `send_message` (a reply), except on every APPEND_EVERY-th user turn or when the
  user asks to "remember", where the agent first saves a fact with `core_memory_append` and
  `request_heartbeat: true` (so the human block, hence the system message, changes and the loop takes a
  second step);
- after a tool result: `send_message`;
- the completion id names the request's message count and a checksum of its last message, so a replay
  that hands out the wrong answer is caught by comparing ids.
"""

from __future__ import annotations

import argparse
import http.server
import json
import sys
import threading
import time
import zlib
from typing import Any

APPEND_EVERY = 4
LATENCY = 0.0  # seconds before each answer (--latency-ms)


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completion answering `body`."""
    messages = body.get("messages") or [{}]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    text = str(last.get("content") or "")
    user_turns = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "user")
    checksum = zlib.crc32(text.encode())
    if last.get("role") == "user" and (user_turns % APPEND_EVERY == 0 or "remember" in text.lower()):
        name = "core_memory_append"
        arguments: dict[str, Any] = {
            "label": "human",
            "content": f"Fact {user_turns}: {text[:40]}",
            "request_heartbeat": True,
        }
    else:
        name = "send_message"
        arguments = {"message": f"Reply {user_turns}.{len(messages)}: noted, {text[:60]}"}
    call = {
        "id": f"call_stub_{len(messages)}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    return {
        "id": f"chatcmpl-stub-{len(messages)}-{checksum:08x}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": body.get("model", "stub"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 20, "total_tokens": 1020},
        "system_fingerprint": "fp_bench_stub",
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server: one connection per client
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between the headers and the body

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if LATENCY:
            time.sleep(LATENCY)
        try:
            data = json.dumps(answer(json.loads(raw))).encode()
            status = 200
        except ValueError as exc:
            data = json.dumps({"error": {"message": f"stub: {exc}", "type": "invalid_request_error"}}).encode()
            status = 400
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> int:
    global LATENCY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait this long before each answer")
    LATENCY = parser.parse_args().latency_ms / 1000
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin (or terminates us)
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
