"""Scenario files: strict wire models, validated with located errors like agents.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pydantic

from harness.errors import ScenarioError
from harness.records import StopReason
from harness.wire import StrictModel, validate_document
from harness.yamlsource import Loc, YamlDocument, load_yaml


class TextCheck(StrictModel):
    """Checks on a piece of text (a block's value, or the reply)."""

    equals: str | None = None
    contains: str | list[str] | None = None
    not_contains: str | list[str] | None = None
    matches: str | None = pydantic.Field(None, description="A regular expression searched in the text")
    max_length: Annotated[int, pydantic.Field(ge=0)] | None = None

    @pydantic.field_validator("matches")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return pattern


class BlockCheck(TextCheck):
    json_: Any = pydantic.Field(None, alias="json", description="The value parses as JSON equal to this")
    json_length: Annotated[int, pydantic.Field(ge=0)] | None = None
    unchanged: bool | None = pydantic.Field(None, description="The value is what it was at the start")

    @pydantic.model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"unchanged": True} if value == "unchanged" else value

    @pydantic.model_validator(mode="after")
    def _not_empty(self) -> BlockCheck:
        if not self.model_fields_set:
            raise ValueError(
                "give at least one check: equals, contains, not_contains, matches, json, json_length, "
                "max_length, unchanged"
            )
        return self


class ToolCallCheck(StrictModel):
    name: str
    args: dict[str, Any] = pydantic.Field(default_factory=dict, description="A subset of the call's arguments")
    ok: bool | None = pydantic.Field(None, description="false: the call failed (its result went back as Failed)")
    result_contains: str | None = pydantic.Field(None, description="Text in the result the model got back")

    @pydantic.model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class Expectations(StrictModel):
    tool_calls: list[ToolCallCheck] | None = pydantic.Field(
        None, description="Calls made in this order (other calls may come between)"
    )
    not_tool_calls: list[str] | None = pydantic.Field(None, description="Tools that must not be called")
    blocks: dict[str, BlockCheck] | None = None
    reply: TextCheck | None = None
    stop_reason: StopReason | None = None


class TurnWire(StrictModel):
    user: str
    expect: Expectations | None = None


class ScenarioWire(StrictModel):
    agent: str
    description: str | None = None
    blocks: dict[str, str] | None = pydantic.Field(None, description="Initial block values, by label")
    max_steps: Annotated[int, pydantic.Field(ge=1)] | None = None
    turns: Annotated[list[TurnWire], pydantic.Field(min_length=1)]
    expect: Expectations | None = None
    xfail: str | None = pydantic.Field(
        None, description="This scenario documents a misbehaviour: it is expected to fail, for this reason"
    )
    cassette: str | None = pydantic.Field(None, description="Cassette path, relative to the cassette folder")


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    wire: ScenarioWire
    doc: YamlDocument

    def line(self, loc: Loc) -> int | None:
        return self.doc.locate(loc)[0]

    @property
    def turns(self) -> list[TurnWire]:
        return self.wire.turns


def load_scenario(path: Path, name: str | None = None) -> Scenario:
    doc = load_yaml(path, ScenarioError)
    wire, problems = validate_document(ScenarioWire, doc)
    if wire is None:
        raise ScenarioError(problems)
    return Scenario(path, name or path.stem, wire, doc)


def check_against_agent(
    scenario: Scenario, labels: list[str], agent_names: list[str], tools: list[str] | None = None
) -> None:
    """Catch references to agents, blocks and tools that do not exist, before anything runs."""
    wire = scenario.wire
    problems = []
    if wire.agent not in agent_names:
        problems.append(
            scenario.doc.problem(("agent",), f"no agent named '{wire.agent}'; defined: {', '.join(agent_names)}")
        )
    else:
        known = ", ".join(labels)
        for label in wire.blocks or {}:
            if label not in labels:
                problems.append(
                    scenario.doc.problem(
                        ("blocks", label), f"agent '{wire.agent}' has no block '{label}'; its blocks: {known}"
                    )
                )
        expectations: list[tuple[Loc, Expectations | None]] = [
            (("turns", i, "expect"), turn.expect) for i, turn in enumerate(wire.turns)
        ] + [(("expect",), wire.expect)]
        for loc, expect in expectations:
            for label in expect.blocks if expect and expect.blocks else {}:
                if label not in labels:
                    problems.append(
                        scenario.doc.problem(
                            (*loc, "blocks", label), f"agent '{wire.agent}' has no block '{label}'; its blocks: {known}"
                        )
                    )
            if tools is None or expect is None:
                continue
            named = [((*loc, "tool_calls", i, "name"), c.name) for i, c in enumerate(expect.tool_calls or [])]
            named += [((*loc, "not_tool_calls", i), name) for i, name in enumerate(expect.not_tool_calls or [])]
            for where, name in named:
                if name not in tools:
                    problems.append(
                        scenario.doc.problem(
                            where, f"agent '{wire.agent}' has no tool '{name}'; its tools: {', '.join(tools)}"
                        )
                    )
    if problems:
        raise ScenarioError(problems)
