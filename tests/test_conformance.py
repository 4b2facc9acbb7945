"""The letta-memgpt loop sends what Letta 0.6 sends: conformance against requests captured from real Letta.

tests/conformance/letta_requests/<version>/ holds every request real Letta sent a stub model for each conversation
of tests/conformance/conversations.yaml (scripts/letta-conformance captured them; see
tests/conformance/README.md). Here the same conversations run through the harness's `letta-memgpt` loop,
with the same scripted answers, and each request is compared with Letta's field by field, after
normalising only what is volatile: tool-call and block ids (both sides' clocks are frozen at the same
instant, so the `time` fields match as they are), and the order of the tools (Letta lists an agent's tools
in the order of their database ids).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.agent import Agent
from harness.config import load_agents
from harness.llm.chat import ChatResponse, chat_request, parse_completion
from harness.llm.settings import ModelSettings
from harness.records import StopReason
from tests.helpers import ROOT

DATA = ROOT / "tests" / "conformance"
CONVERSATIONS = {c["name"]: c for c in yaml.safe_load((DATA / "conversations.yaml").read_text())["conversations"]}
FIXTURES = sorted((DATA / "letta_requests").glob("*/*.json"))
# Letta 0.6.23 calls an undefined name when it reports a tool's exception to the model (fixed in 0.6.24):
# the message call raises instead. The harness reports the exception, as 0.6.24 does.
LETTA_0_6_23_CRASH = "NameError: name 'function_args' is not defined"


def _capture_module() -> Any:
    """scripts/letta_conformance_capture.py, for the scripted answers exactly as the stub sent them."""
    spec = importlib.util.spec_from_file_location(
        "letta_conformance_capture", ROOT / "scripts" / "letta_conformance_capture.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CAPTURE = _capture_module()


class ScriptedModel:
    """The stub server's answers, in order; keeps each request body as the live client would send it."""

    def __init__(self, settings: ModelSettings, answers: list[dict[str, Any]]) -> None:
        self.settings = settings
        self.answers = list(answers)
        self.bodies: list[dict[str, Any]] = []

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse:
        self.bodies.append(json.loads(json.dumps(chat_request(self.settings, messages, tools))))
        answer = self.answers.pop(0)
        return parse_completion(CAPTURE.completion(answer, len(self.bodies), self.settings.name), "stub")


_BLOCK_ID = re.compile(r"block-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalised(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids renamed in the order they first appear (tool-call ids, block ids in error texts); tools by name."""
    names: dict[str, str] = {}

    def rename(value: str) -> str:
        return names.setdefault(value, f"<id {len(names) + 1}>")

    out = []
    for body in json.loads(json.dumps(bodies)):
        for message in body["messages"]:
            for call in message.get("tool_calls") or ():
                call["id"] = rename(call["id"])
            if "tool_call_id" in message:
                message["tool_call_id"] = rename(message["tool_call_id"])
            if isinstance(message.get("content"), str):
                message["content"] = _BLOCK_ID.sub("block-<id>", message["content"])
        if "tools" in body:
            body["tools"] = sorted(body["tools"], key=lambda tool: tool["function"]["name"])
        out.append(body)
    return out


def differences(letta: Any, ours: Any, path: str = "") -> list[str]:
    """Every field that differs, by path."""
    if isinstance(letta, dict) and isinstance(ours, dict):
        found = [f"{path}.{key}: only in Letta's" for key in letta.keys() - ours.keys()]
        found += [f"{path}.{key}: only in ours" for key in ours.keys() - letta.keys()]
        for key in letta.keys() & ours.keys():
            found += differences(letta[key], ours[key], f"{path}.{key}")
        return found
    if isinstance(letta, list) and isinstance(ours, list):
        if len(letta) != len(ours):
            return [f"{path}: {len(letta)} items in Letta's, {len(ours)} in ours"]
        return [
            line for i, (a, b) in enumerate(zip(letta, ours, strict=True)) for line in differences(a, b, f"{path}[{i}]")
        ]
    return [] if letta == ours and type(letta) is type(ours) else [f"{path}: Letta {letta!r} != ours {ours!r}"]


def replay(fixture: dict[str, Any]) -> tuple[list[list[dict[str, Any]]], list[str | None], Agent]:
    """The fixture's conversation through the harness: the requests of each turn, and each turn's error."""
    config = load_agents(DATA / "agents.yaml")
    spec = config.get(fixture["agent"])
    conversation = CONVERSATIONS[fixture["conversation"]]
    model = ScriptedModel(spec.model, [answer for turn in conversation["turns"] for answer in turn["answers"]])
    agent = Agent(spec, model)
    turns: list[list[dict[str, Any]]] = []
    errors: list[str | None] = []
    for turn in conversation["turns"]:
        before = len(model.bodies)
        result = agent.send(turn["user"])
        turns.append(model.bodies[before:])
        errors.append(result.error)
        if result.error is not None:
            assert result.stop_reason is StopReason.INVALID_ANSWER
            break
    return turns, errors, agent


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_letta_memgpt_sends_what_letta_sent(path: Path) -> None:
    fixture = json.loads(path.read_text())
    ours, errors, _ = replay(fixture)
    for index, turn in enumerate(fixture["turns"]):
        letta_requests = normalised(turn["requests"])
        our_requests = normalised(ours[index])
        if turn["error"] == LETTA_0_6_23_CRASH:
            # Letta stopped there; the harness went on (as 0.6.24 does): what Letta did send must match.
            our_requests = our_requests[: len(letta_requests)]
        assert len(our_requests) == len(letta_requests), f"turn {index + 1}: request count"
        for number, (letta, mine) in enumerate(zip(letta_requests, our_requests, strict=True), 1):
            found = differences(letta, mine)
            assert not found, f"turn {index + 1}, request {number}:\n" + "\n".join(found)
        if turn["error"] is not None and turn["error"] != LETTA_0_6_23_CRASH:
            # Letta's message call raised (its retries exhausted): the harness's turn ends there, saying the same.
            assert errors[index] is not None
            assert turn["error"].split(": ", 1)[1] in errors[index]


def test_every_conversation_was_captured_from_letta_0_6_23() -> None:
    captured = {path.stem for path in (DATA / "letta_requests" / "0.6.23").glob("*.json")}
    assert captured == set(CONVERSATIONS)
    for path in FIXTURES:
        fixture = json.loads(path.read_text())
        assert fixture["letta_version"] == path.parent.name
        assert sum(len(turn["requests"]) for turn in fixture["turns"]) > 0


def test_the_seed_task_agent_ends_as_in_the_notebook() -> None:
    """The seed's three `complete your tasks` runs leave `tasks` as the notebook printed it: `[]\\n`."""
    fixture = json.loads((DATA / "letta_requests" / "0.6.23" / "task_seed_runs.json").read_text())
    _, _, agent = replay(fixture)
    assert fixture["blocks"]["tasks"] == "[]\n"
    assert agent.memory.values() == fixture["blocks"]


def test_a_normalised_difference_is_still_a_difference() -> None:
    """The comparison is not vacuous: a changed time or tool description is reported."""
    fixture = json.loads((DATA / "letta_requests" / "0.6.23" / "chat_remember_name.json").read_text())
    letta = normalised(fixture["turns"][0]["requests"])[0]
    changed = json.loads(json.dumps(letta))
    changed["messages"][-1]["content"] = changed["messages"][-1]["content"].replace("02:26:32", "02:26:33")
    changed["tools"][0]["function"]["description"] += "!"
    assert len(differences(letta, changed)) == 2
