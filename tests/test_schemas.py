"""The editor schemas (`harness schema`) accept every file the harness accepts, and describe every key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
import yaml

from harness.config import AgentsFileWire, json_schema
from harness.scenarios.model import ScenarioWire

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = {"agents": json_schema(), "scenario": ScenarioWire.model_json_schema()}
SHIPPED = [("agents", ROOT / "agents.yaml")] + [
    ("scenario", path) for path in sorted((ROOT / "scenarios").rglob("*.yaml"))
]


def validator(kind: str) -> jsonschema.protocols.Validator:
    schema = SCHEMAS[kind]
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)  # the schema itself is a valid JSON Schema
    return cls(schema)


class EditorLoader(yaml.SafeLoader):
    """YAML as an editor's language server reads it (YAML 1.2): `clock: 2025-02-11T14:26:32Z` is a string."""


EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@pytest.mark.parametrize(("kind", "path"), SHIPPED, ids=[str(p.relative_to(ROOT)) for _, p in SHIPPED])
def test_every_shipped_file_is_valid_under_its_schema(kind: str, path: Path) -> None:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=EditorLoader)  # a SafeLoader
    errors = [e.message for e in validator(kind).iter_errors(document)]
    assert errors == []


AGENT = {"model": "gpt-4o-mini", "system": "You help.", "tools": ["send_message"]}


@pytest.mark.parametrize(
    ("kind", "document", "valid"),
    [
        ("agents", {"agents": {"chat": AGENT}}, True),
        ("agents", {"agents": {"chat": {**AGENT, "model": {"name": "m", "base_url": "http://x/v1"}}}}, True),
        ("agents", {"agents": {"chat": {**AGENT, "blocks": [{"label": "human", "value": "Bob", "limit": 10}]}}}, True),
        ("agents", {"agents": {}}, False),
        ("agents", {"agents": {"chat": {**AGENT, "modle": "m"}}}, False),
        ("agents", {"agents": {"chat": {**AGENT, "model": 3}}}, False),
        ("agents", {"agents": {"chat": {**AGENT, "max_steps": 0}}}, False),
        ("agents", {"agents": {"chat": {**AGENT, "blocks": [{"value": "no label"}]}}}, False),
        ("agents", {"agents": {"chat": {**AGENT, "model": {"api_key_env": "sk-abc123"}}}}, False),
        ("scenario", {"agent": "chat", "turns": [{"user": "hi"}]}, True),
        ("scenario", {"agent": "chat", "turns": [{"user": "hi", "expect": {"blocks": {"human": "unchanged"}}}]}, True),
        ("scenario", {"agent": "chat", "turns": [{"user": "hi", "expect": {"tool_calls": ["send_message"]}}]}, True),
        ("scenario", {"agent": "chat", "turns": []}, False),
        ("scenario", {"agent": "chat", "turns": [{"user": "hi", "expect": {"blocks": {"human": "same"}}}]}, False),
        ("scenario", {"agent": "chat", "turns": [{"user": "hi", "expect": {"tool_calls": [3]}}]}, False),
        ("scenario", {"agent": "chat", "turns": [{"user": "hi", "expect": {"replies": "x"}}]}, False),
        ("scenario", {"turns": [{"user": "hi"}]}, False),
        ("scenario", {"agent": "chat", "turns": [{"user": "hi", "expect": None}]}, False),  # checks nothing
        ("scenario", {"agent": "chat", "turns": [{"user": "hi", "expect": {}}]}, False),
        ("scenario", {"agent": "chat", "turns": [{"user": "hi"}], "expect": None}, False),
        ("scenario", {"agent": "chat", "simulate": {"persona": "p", "goal": "g", "stop_when": "bye"}}, True),
        ("scenario", {"agent": "chat", "simulate": {"persona": "p", "goal": "g", "stop_when": ""}}, False),
    ],
)
def test_the_schema_and_the_loader_agree(kind: str, document: dict[str, Any], valid: bool) -> None:
    assert validator(kind).is_valid(document) is valid
    model = ScenarioWire if kind == "scenario" else AgentsFileWire
    try:
        model.model_validate(document)
        loaded = True
    except pydantic.ValidationError:
        loaded = False
    assert loaded is valid


def _turn(expect: dict[str, Any]) -> dict[str, Any]:
    return {"agent": "chat", "turns": [{"user": "hi", "expect": expect}]}


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        (_turn({"blocks": {}}), False),
        (_turn({"blocks": {"human": {}}}), False),
        (_turn({"blocks": {"human": {"unchanged": False}}}), False),
        (_turn({"blocks": {"human": {"unchanged": False, "contains": "Azin"}}}), True),
        (_turn({"blocks": {"human": {"unchanged": True}}}), True),
        (_turn({"blocks": {"human": {"contains": ""}}}), False),
        (_turn({"blocks": {"human": {"contains": []}}}), False),
        (_turn({"blocks": {"human": {"contains": ["Azin", ""]}}}), False),
        (_turn({"blocks": {"human": {"contains": ["Azin"]}}}), True),
        (_turn({"blocks": {"human": {"matches": ""}}}), False),
        (_turn({"reply": {}}), False),
        (_turn({"edited": {}}), False),
        (_turn({"edited": {"human": []}}), False),
        (_turn({"edited": {"human": ["memory_insert"]}}), True),
        (_turn({"not_tool_calls": []}), False),
        (_turn({"tool_calls": []}), False),
        (_turn({"tool_calls": [{"name": "a", "result_contains": ""}]}), False),
        (_turn({"tool_calls": {"calls": []}}), False),
        (_turn({"tool_calls": {"mode": "superset", "calls": []}}), False),
        (_turn({"tool_calls": {"mode": "exact", "calls": []}}), True),
        (_turn({"tool_calls": {"max_calls": 2}}), True),
        (_turn({"tool_calls": {"calls": ["a"], "count": {}}}), False),
        (_turn({"tool_rules": {}}), False),
        (_turn({"tool_rules": {"refused": []}}), True),
        (_turn({"evictions": {}}), False),
        (_turn({"evictions": {"at_least": 1}}), True),
        (_turn({"archival_search": {"query": "q"}}), False),
        (_turn({"archival_search": {"query": "q", "not_contains": "x"}}), True),
        (_turn({"recall": {"query": ""}}), False),
        ({"agent": "chat", "turns": [{"user": "hi"}], "expect": {"snapshot": False}}, False),
        ({"agent": "chat", "turns": [{"user": "hi"}], "expect": {"snapshot": True}}, True),
        ({"agent": "chat", "turns": [{"user": "hi"}], "xfail": "  "}, False),
        ({"agent": "chat", "turns": [{"user": "hi"}], "xfail": " flaky "}, True),
        ({"agent": "chat", "turns": [{"user": "hi"}], "models": ["a", "a"]}, False),
    ],
)
def test_the_schema_flags_what_the_loader_refuses_as_checking_nothing(document: dict[str, Any], valid: bool) -> None:
    """Each of these the loader refuses, located, as a check that checks nothing: an editor flagged some
    (`expect: {}`) and not others (`blocks: {}`)."""
    assert validator("scenario").is_valid(document) is valid
    try:
        ScenarioWire.model_validate(document)
        loaded = True
    except pydantic.ValidationError:
        loaded = False
    assert loaded is valid


def _properties(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """The keys an editor describes: those of the schemas of values, not of the constraints on them (a `not`,
    an `anyOf` branch with no `type` of its own: `{required: [mode], properties: {mode: {enum: [...]}}}`)."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            found.append((f"{where}.{name}", prop))
        for key, value in node.items():
            if key == "not" or (key == "anyOf" and all("type" not in branch for branch in value)):
                continue
            found += _properties(value, f"{where}/{key}" if key != "properties" else where)
    elif isinstance(node, list):
        for value in node:
            found += _properties(value, where)
    return found


@pytest.mark.parametrize("kind", SCHEMAS)
def test_every_key_is_described_for_the_editor(kind: str) -> None:
    properties = _properties(SCHEMAS[kind])
    assert len(properties) > 20
    assert [where for where, prop in properties if "description" not in prop] == []


@pytest.mark.parametrize("kind", SCHEMAS)
def test_the_committed_schema_file_is_the_generated_one(kind: str) -> None:
    committed = json.loads((ROOT / f"{kind}.schema.json").read_text(encoding="utf-8"))
    assert committed == SCHEMAS[kind], f"regenerate it: harness schema {kind} > {kind}.schema.json"
