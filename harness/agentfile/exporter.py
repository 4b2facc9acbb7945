"""AgentSpec -> Agent File (Letta's AgentFileSchema), checked against the schema mirror before it is written.

What agents.yaml says is written where Letta keeps it: the system prompt, the blocks, the tools (built-ins
by name, custom tools with the source Letta runs (agentfile.toolsource) and JSON schema), the tool rules, the
model name, endpoint, temperature and max_tokens, description, tags and metadata. Letta requires a context
window the harness does not know: the export writes Letta's own default for the model where Letta has one,
else 128,000. Secrets are masked.
"""

from __future__ import annotations

import json
from dataclasses import replace
from enum import Enum
from typing import Any

from harness.agentfile.importer import OPENAI_ENDPOINT
from harness.agentfile.schema import AgentFileWire
from harness.agentfile.toolsource import ToolSource, tool_source
from harness.config import AgentSpec, BlockSpec
from harness.llm.settings import ModelSettings
from harness.loops.kinds import LoopName, default_max_steps, inner_thoughts_in_kwargs
from harness.memory import DEFAULT_LIMIT
from harness.secrets import Secrets
from harness.tools.builtin import BUILTIN_TOOLS
from harness.tools.rules import ToolRule, ToolRuleType
from harness.tools.schema import Tool

# letta/schemas/llm_config.py: LLMConfig.set_model_specific_defaults
CONTEXT_WINDOWS = {"gpt-4": 8192, "gpt-4o": 128000, "gpt-4o-mini": 128000, "gpt-4.1": 256000}
DEFAULT_CONTEXT_WINDOW = 128000
# The tool_type Letta gives each of its tools the harness has (as real Agent Files record them).
LETTA_TOOL_TYPES = {
    "send_message": "letta_core",
    "core_memory_append": "letta_memory_core",
    "core_memory_replace": "letta_memory_core",
    "memory": "letta_memory_core",
    "memory_insert": "letta_sleeptime_core",
    "memory_replace": "letta_sleeptime_core",
    "memory_rethink": "letta_sleeptime_core",
    "memory_finish_edits": "letta_sleeptime_core",
}
# Built-ins Letta no longer has: conversation_search_date left letta/functions/function_sets/base.py after
# 0.6.5, before any Letta that reads Agent Files, and Letta refuses to load a core tool its base module lacks.
# Its code reads the harness's recall store, which a tool in Letta's sandbox cannot: it is not written
# (conversation_search, with start_date and end_date, is Letta's way to search by date).
NOT_IN_LETTA = {"conversation_search_date": "conversation_search with start_date and end_date"}


def with_end_state(spec: AgentSpec, blocks: dict[str, str]) -> AgentSpec:
    """`spec` holding the block values a run ended with: blocks it deleted are gone, blocks it created come
    with the default limit (or their length, if longer)."""
    declared = {block.label: block for block in spec.blocks}
    ended = [
        replace(declared[label], value=value)
        if label in declared
        else BlockSpec(label=label, value=value, limit=max(DEFAULT_LIMIT, len(value)))
        for label, value in blocks.items()
    ]
    return replace(spec, blocks=tuple(ended))


def letta_messages(spec: AgentSpec, history: list[dict[str, Any]], system: str | None = None) -> list[dict[str, Any]]:
    """A run's chat history as Letta's MessageSchema list, after the system message (Letta's in-context
    messages start with it): `system`, as the agent's loop sends it, or compiled from the spec's memory."""
    system_message = {
        "role": "system",
        "content": system if system is not None else spec.system_message(spec.new_memory()),
    }
    out = []
    for index, message in enumerate([system_message, *history]):
        content = message.get("content")
        letta: dict[str, Any] = {
            "id": f"message-{index}",
            "role": message.get("role"),
            "content": [{"type": "text", "text": content}] if isinstance(content, str) and content else [],
            "agent_id": "agent-0",
        }
        if message.get("tool_calls"):
            letta["tool_calls"] = [
                {"id": call.get("id"), "type": "function", "function": call.get("function")}
                for call in message["tool_calls"]
            ]
        if message.get("tool_call_id"):
            letta["tool_call_id"] = message["tool_call_id"]
        out.append(letta)
    return out


def export_agent(
    spec: AgentSpec,
    secrets: Secrets | None = None,
    history: list[dict[str, Any]] | None = None,
    system: str | None = None,
) -> dict[str, Any]:
    """The Agent File of `spec` as JSON data, valid under `AgentFileWire` (Letta's AgentFileSchema); with
    `history` (a run's chat messages), its messages too, all in context, after `system` (the system message
    as the agent's loop sends it: Letta 0.16's layout for letta-v1)."""
    secrets = secrets or Secrets()
    messages = letta_messages(spec, history, system) if history is not None else []
    blocks = [
        {
            "id": f"block-{index}",
            "label": block.label,
            "value": block.value,
            "limit": block.limit,
            "description": block.description,
            "read_only": block.read_only,
            "metadata": dict(block.metadata),
            "is_template": False,
        }
        for index, block in enumerate(spec.blocks)
    ]
    tools = [_tool(f"tool-{index}", tool) for index, tool in enumerate(_written_tools(spec))]
    model = spec.model
    agent: dict[str, Any] = {
        "id": "agent-0",
        "name": spec.name,
        "system": spec.system,
        "agent_type": "letta_v1_agent" if spec.loop is LoopName.LETTA_V1 else "memgpt_agent",
        "description": spec.description,
        "tags": list(spec.tags),
        "metadata": dict(spec.metadata) or None,
        "llm_config": {
            "model": model.name,
            "model_endpoint_type": "openai",
            "model_endpoint": secrets.mask_url(model.base_url) if model.base_url else OPENAI_ENDPOINT,
            "context_window": spec.context_window or CONTEXT_WINDOWS.get(model.name, DEFAULT_CONTEXT_WINDOW),
            "temperature": model.temperature,
            "max_tokens": model.max_tokens,
            "put_inner_thoughts_in_kwargs": (
                spec.loop is LoopName.LETTA_MEMGPT
                and inner_thoughts_in_kwargs(model.name, model.put_inner_thoughts_in_kwargs)
            ),
            "enable_reasoner": False,
            "parallel_tool_calls": False,
        },
        "embedding_config": _embedding_config(spec, secrets),
        "block_ids": [block["id"] for block in blocks],
        "tool_ids": [tool["id"] for tool in tools],
        "tool_rules": [_rule(rule) for rule in _written_rules(spec)],
        "messages": messages,
        "in_context_message_ids": [message["id"] for message in messages],
        "memory_blocks": [],
        "tools": [],
        "include_base_tools": False,
        # Letta's create_agent turns an absent value into True and adds its base rules (send_message ends
        # the turn, the memory tools go on), which the harness agent never had; Letta's own export says False.
        "include_base_tool_rules": False,
    }
    data = {
        "agents": [agent],
        "groups": [],
        "blocks": blocks,
        "files": [],
        "sources": [],
        "tools": tools,
        "mcp_servers": [],
        "metadata": {"exported_by": "harness"},
    }
    data = secrets.mask_data(data)
    AgentFileWire.model_validate(data)  # what we write, Letta's schema accepts (a bug here, never the user's)
    return data


def unwritten(spec: AgentSpec) -> list[str]:
    """What agents.yaml says of `spec` that an Agent File has no place for: printed by `harness export`."""
    notes = [
        f"block '{block.label}': schema not written (Letta's blocks have no JSON Schema)"
        for block in spec.blocks
        if block.schema is not None
    ]
    defaults = ModelSettings(name=spec.model.name)
    keys = (
        "api_key_env",
        "timeout",
        "max_retries",
        "tool_choice",
        "seed",
        "key_header",
        "stream",
        "mistral_tool_call_ids",
    )
    for key in keys:
        value = getattr(spec.model, key)
        if value != getattr(defaults, key):
            shown = value.value if isinstance(value, Enum) else value
            notes.append(f"model.{key} {shown} not written (no place for it in an Agent File)")
    embedding = spec.embedding
    if embedding is not None and embedding.dimensions is None and embedding.name not in EMBEDDING_DIMENSIONS:
        notes.append(
            f"embedding {embedding.name}: its vector length is not known; embedding_config says "
            f"{DEFAULT_EMBEDDING_DIMENSIONS} (set `embedding.dimensions` to say otherwise)"
        )
    if spec.max_steps != default_max_steps(spec.loop):
        notes.append(f"max_steps {spec.max_steps} not written (no place for it in an Agent File)")
    if spec.context_window is None:
        written = CONTEXT_WINDOWS.get(spec.model.name, DEFAULT_CONTEXT_WINDOW)
        notes.append(
            f"context_window: none in agents.yaml; written as {written} (Letta requires one), which an import "
            "keeps as the agent's"
        )
    if spec.loop is LoopName.HARNESS:
        notes.append(
            "loop harness not written: an Agent File names a Letta agent type, memgpt_agent here, which "
            "`harness import` runs under loop letta-memgpt"
        )
    if spec.clock is not None:
        clock = spec.clock
        notes.append(
            f"clock {clock.start.isoformat()} (tick {clock.tick:g}, seed {clock.seed}) not written (no place for it "
            "in an Agent File; `harness import` gives an agent on a Letta loop the clock 2025-01-01T00:00:00Z)"
        )
    notes += [
        f"tool '{tool.name}' not written: Letta has had no such tool since 0.6.6 and would refuse the file; "
        f"{NOT_IN_LETTA[tool.name]} does that in Letta"
        for tool in spec.tools
        if _builtin(tool) and tool.name in NOT_IN_LETTA
    ]
    rules = _written_rules(spec)
    notes += [
        f"tool rule {rule.type.value} on '{rule.tool_name}' not written: it names a tool not written"
        for rule in spec.tool_rules
        if rule not in rules
    ]
    for tool in spec.tools:
        if _builtin(tool) or tool.declared_parameters is not None:
            continue
        source = _source(tool)
        if source is None:
            notes.append(f"tool '{tool.name}': its source cannot be read; written with its JSON schema only")
        elif source.harness_names:
            notes.append(
                f"tool '{tool.name}': its source uses {', '.join(source.harness_names)} from the harness, which "
                "Letta has not: written without that import, it fails in Letta"
            )
    return notes


# The vector length Letta's embedding_config requires, for models whose agents.yaml entry gives none.
EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "all-minilm-l6-v2": 384,
}
DEFAULT_EMBEDDING_DIMENSIONS = 1536


def _embedding_config(spec: AgentSpec, secrets: Secrets) -> dict[str, Any] | None:
    embedding = spec.embedding
    if embedding is None:
        return None
    return {
        "embedding_endpoint_type": "openai",
        "embedding_model": embedding.name,
        "embedding_dim": embedding.dimensions or EMBEDDING_DIMENSIONS.get(embedding.name, DEFAULT_EMBEDDING_DIMENSIONS),
        "embedding_endpoint": secrets.mask_url(embedding.base_url) if embedding.base_url else OPENAI_ENDPOINT,
    }


def _builtin(tool: Tool) -> bool:
    return tool.name in BUILTIN_TOOLS and tool.function is BUILTIN_TOOLS[tool.name]


def _written_tools(spec: AgentSpec) -> list[Tool]:
    """The agent's tools but the built-ins Letta no longer has (NOT_IN_LETTA)."""
    return [tool for tool in spec.tools if not (_builtin(tool) and tool.name in NOT_IN_LETTA)]


def _written_rules(spec: AgentSpec) -> list[ToolRule]:
    """The agent's rules but those naming a tool not written (Letta would constrain a tool it lacks)."""
    names = {tool.name for tool in _written_tools(spec)}
    return [rule for rule in spec.tool_rules if all(name in names for name in rule.tool_names())]


def _rule(rule: ToolRule) -> dict[str, Any]:
    """A rule as Letta's tool_rule.py writes it (the keys of its type only)."""
    out: dict[str, Any] = {"tool_name": rule.tool_name, "type": rule.type.value, "prompt_template": None}
    if rule.type in (ToolRuleType.CONSTRAIN_CHILD_TOOLS, ToolRuleType.PARENT_LAST_TOOL):
        out["children"] = list(rule.children)
    elif rule.type is ToolRuleType.MAX_COUNT_PER_STEP:
        out["max_count_limit"] = rule.max_count_limit
    elif rule.type is ToolRuleType.CONDITIONAL:
        out["child_output_mapping"] = dict(rule.child_output_mapping)
        out["default_child"] = rule.default_child
        out["require_output_mapping"] = rule.require_output_mapping
    return out


def agent_file_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _tool(tool_id: str, tool: Tool) -> dict[str, Any]:
    schema = dict(tool.openai_schema()["function"])
    if _builtin(tool):
        return {
            "id": tool_id,
            "name": tool.name,
            "tool_type": LETTA_TOOL_TYPES.get(tool.name, "letta_core"),
            "description": tool.description,
            "source_type": "python",
            "source_code": None,
            "json_schema": schema,
            "tags": [LETTA_TOOL_TYPES.get(tool.name, "letta_core")],
        }
    return {
        "id": tool_id,
        "name": tool.name,
        "tool_type": "custom",
        "description": tool.description,
        "source_type": "python",
        "source_code": source.text if (source := _source(tool)) is not None else None,
        "json_schema": schema,
        "tags": [],
    }


def _source(tool: Tool) -> ToolSource | None:
    """The function with what it needs from its module, as Letta runs a tool's source (agentfile.toolsource);
    None for a tool declared by its JSON schema alone, which has none."""
    if tool.declared_parameters is not None:
        return None
    return tool_source(tool.function)
