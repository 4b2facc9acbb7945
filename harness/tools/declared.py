"""Tools declared by a JSON schema alone: no code, their results come from the scenario.

Letta agents often carry tools the harness cannot run (an MCP server, an API behind a key, a tool an Agent
File stores only as a schema). The model must still be offered them exactly as Letta offered them, and a
scenario decides what they return (`tool_results:`), so the conversation is the same at record and at
replay: the results go into the history, and so into the cassette, like any tool result.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pydantic

from harness.errors import ToolDefinitionError
from harness.memory import check_schema
from harness.tools.context import AgentState
from harness.tools.schema import NAME_PATTERN, Tool

__all__ = ["NAME_PATTERN", "NoDeclaredResult", "declared_tool"]


class NoDeclaredResult(Exception):
    """A declared tool was called with no result to give (no scenario, or its results ran out)."""


def declared_tool(name: str, description: str, parameters: dict[str, Any]) -> Tool:
    """A tool offered with `parameters` as its JSON schema; arguments are checked against it, and the
    result is the next one the agent's `tool_results` holds for `name`."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise ToolDefinitionError(
            f"tool name '{name}' is not a function name (letters, digits, '_' and '-', at most 64)"
        )
    problem = _parameters_problem(parameters)
    if problem is not None:
        raise ToolDefinitionError(f"the parameters of tool '{name}' are not a JSON Schema of an object: {problem}")

    def result(agent_state: AgentState, **arguments: Any) -> str:
        results = agent_state.tool_results
        if results is None:
            raise NoDeclaredResult(
                f"'{name}' is declared by its JSON schema alone and has no code; only a scenario's "
                "`tool_results:` can give its result"
            )
        return results.next_result(name, arguments)

    result.__name__ = name
    schema = copy.deepcopy(parameters)
    schema.setdefault("properties", {})
    schema.setdefault("required", [])
    anything = pydantic.create_model(f"{name}_arguments", __config__=pydantic.ConfigDict(extra="allow"))
    return Tool(name, description, result, anything, "agent_state", False, declared_parameters=schema)


def _parameters_problem(parameters: dict[str, Any]) -> str | None:
    problem = check_schema(parameters)
    if problem is not None:
        return problem
    if parameters.get("type") != "object":
        return "its `type` must be `object` (a function takes named arguments)"
    if not isinstance(parameters.get("properties", {}), dict):
        return "`properties` must be a mapping"
    return None
