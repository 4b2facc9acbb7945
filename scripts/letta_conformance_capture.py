"""Run the conformance conversations through real Letta and store every request it sends the model.

Runs inside a virtual environment holding letta 0.6.x and freezegun (scripts/letta-conformance makes it),
never inside the harness's: it imports nothing from the harness. For each conversation of
DATA/conversations.yaml it builds the agent DATA/agents.yaml declares with Letta's in-process client
(`create_client()`, SQLite under a throwaway HOME), points it at a local OpenAI-compatible stub server that
records each request body and answers with the conversation's scripted answers in order, sends the user
turns, and writes DATA/letta_requests/<letta version>/<conversation>.json: the requests, and the error a turn
raised, if any.

Letta's clock is frozen (freezegun) at the agents file's `clock:` and advances 1 s with each answer the
stub gives, as the harness's frozen clock does, so the `time` fields of both sides match.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml


def seed_ids() -> None:
    """Letta's ids from a counter instead of uuid4 (the harness's seeded ids, on Letta's side).

    Letta lists an agent's blocks and tools in the order of their ids (SQLite, no ORDER BY): with random
    ids the memory in the system prompt comes in a random order. Ids that grow with each one made put the
    blocks in the order they were created, which is the order agents.yaml declares. Done before Letta is
    imported, so `from uuid import uuid4` in its modules gets this one too."""
    counter = iter(range(1, 1 << 62))
    uuid.uuid4 = lambda: uuid.UUID(int=next(counter), version=4)


class Stub:
    """The model: answers the scripted messages in order, keeping every request body."""

    def __init__(self, answers: list[dict[str, Any]], model: str, on_answer: Any) -> None:
        self.answers = list(answers)
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.on_answer = on_answer
        self.lock = threading.Lock()

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.requests.append(body)
            index = len(self.requests)
            if not self.answers:
                raise RuntimeError(f"request {index}: no scripted answer left")
            scripted = self.answers.pop(0)
            self.on_answer()
        return completion(scripted, index, self.model)


def completion(scripted: dict[str, Any], index: int, model: str) -> dict[str, Any]:
    """A chat.completion body for a scripted answer (tool-call ids `call_<request>_<call>`)."""
    message: dict[str, Any] = {"role": "assistant", "content": scripted.get("content")}
    calls = scripted.get("tool_calls") or []
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}_{number}",
                "type": "function",
                "function": {"name": call["name"], "arguments": arguments_text(call["arguments"])},
            }
            for number, call in enumerate(calls)
        ]
    return {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def serve(stub_holder: dict[str, Stub]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length))
            try:
                answer = stub_holder["stub"].answer(body)
                status, payload = 200, answer
            except Exception as exc:  # a script mistake: Letta sees a 500
                status, payload = 500, {"error": {"message": str(exc)}}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def merged_agent(agents: dict[str, Any], name: str) -> dict[str, Any]:
    """`defaults`, the `extends` chain and the agent merged as the harness merges them (blocks by label)."""
    chain = []
    current: str | None = name
    while current is not None:
        chain.append(agents["agents"][current])
        current = agents["agents"][current].get("extends")
    merged: dict[str, Any] = {"blocks": {}}
    for layer in [agents.get("defaults") or {}, *reversed(chain)]:
        for key, value in layer.items():
            if key == "blocks":
                for block in value:
                    merged["blocks"][block["label"]] = block
            elif key == "model":
                merged["model"] = {**merged.get("model", {}), **value}
            else:
                merged[key] = value
    return merged


def load_tool_function(data: Path, reference: str) -> Any:
    module, _, function = reference.partition(":")
    spec = importlib.util.spec_from_file_location(module, data / f"{module}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function)


def capture(
    data: Path, conversation: dict[str, Any], agents: dict[str, Any], holder: dict[str, Stub], port: int
) -> dict[str, Any]:
    import letta.llm_api.llm_api_tools as llm_api_tools
    from freezegun import freeze_time
    from letta import create_client
    from letta.schemas.block import Block
    from letta.schemas.embedding_config import EmbeddingConfig
    from letta.schemas.llm_config import LLMConfig
    from letta.schemas.memory import BasicBlockMemory

    # Counting tokens needs tiktoken's encoding files, which it downloads; offline, the count (used only to
    # refuse a request over the context window, never sent) is taken as 0.
    llm_api_tools.num_tokens_from_messages = lambda **kwargs: 0
    llm_api_tools.num_tokens_from_functions = lambda **kwargs: 0
    create_client()  # imports and starts everything before the clock is frozen (freezegun breaks imports)
    spec = merged_agent(agents, conversation["agent"])
    clock = spec["clock"]
    start = clock if isinstance(clock, dt.datetime) else dt.datetime.fromisoformat(str(clock).replace("Z", "+00:00"))
    answers = [answer for turn in conversation["turns"] for answer in turn["answers"]]
    with freeze_time(start) as frozen:
        stub = Stub(answers, spec["model"]["name"], lambda: frozen.tick(dt.timedelta(seconds=1)))
        holder["stub"] = stub
        client = create_client()
        llm = LLMConfig(
            model=spec["model"]["name"],
            model_endpoint_type="openai",
            model_endpoint=f"http://127.0.0.1:{port}/v1",
            context_window=128000,
        )
        client.set_default_llm_config(llm)
        client.set_default_embedding_config(EmbeddingConfig.default_config("text-embedding-ada-002"))
        tool_ids = []
        for reference in spec["tools"]:
            if ":" in reference:
                tool = client.create_or_update_tool(load_tool_function(data, reference))
                tool_ids.append(tool.id)
            else:
                tool_id = client.get_tool_id(reference)
                assert tool_id is not None, reference
                tool_ids.append(tool_id)
        blocks = [
            Block(label=block["label"], value=block.get("value", ""), limit=block.get("limit", 5000))
            for block in spec["blocks"].values()
        ]
        system = (data / spec["system_file"]).read_text().rstrip("\n")
        agent = client.create_agent(
            name=f"conformance-{conversation['name']}",
            system=system,
            memory=BasicBlockMemory(blocks=blocks),
            include_base_tools=False,
            tool_ids=tool_ids,
        )
        turns = []
        for turn in conversation["turns"]:
            before = len(stub.requests)
            error = None
            try:
                client.send_message(agent_id=agent.id, role="user", message=turn["user"])
            except Exception as exc:  # what Letta raised to the caller
                error = f"{type(exc).__name__}: {exc}"
            turns.append({"user": turn["user"], "requests": stub.requests[before:], "error": error})
            if error is not None:
                break
        final = client.get_core_memory(agent.id).get_blocks()
    return {
        "conversation": conversation["name"],
        "agent": conversation["agent"],
        "letta_version": __import__("letta").__version__,
        "turns": turns,
        "blocks": {block.label: block.value for block in final},
    }


def main() -> int:
    seed_ids()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="the folder holding agents.yaml and conversations.yaml")
    parser.add_argument("--only", action="append", help="capture only this conversation (repeatable)")
    args = parser.parse_args()
    data: Path = args.data
    agents = yaml.safe_load((data / "agents.yaml").read_text())
    conversations = yaml.safe_load((data / "conversations.yaml").read_text())["conversations"]
    holder: dict[str, Stub] = {}
    server = serve(holder)
    import letta

    out = data / "letta_requests" / letta.__version__
    out.mkdir(parents=True, exist_ok=True)
    for conversation in conversations:
        if args.only and conversation["name"] not in args.only:
            continue
        result = capture(data, conversation, agents, holder, server.server_address[1])
        path = out / f"{conversation['name']}.json"
        path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        count = sum(len(turn["requests"]) for turn in result["turns"])
        print(f"{path}: {count} requests, {len(result['turns'])} turns", file=sys.stderr)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
