"""Read an Agent File, bounded and located, in either of the formats Letta has exported.

Real files come as Letta's AgentFileSchema (`agents`, `blocks`, `tools`... with file-local ids), as the
older single-agent export of letta 0.6-0.8 (`core_memory`, inline `tools`), and some as a JSON string
holding the JSON (double-encoded). All three end as one `AgentFileWire`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic

from harness import jsontext
from harness.agentfile.schema import AgentFileWire, LegacyAgentWire
from harness.errors import AgentFileError, Problem
from harness.wire import validate_document
from harness.yamlsource import MB, Limits, TooBig, YamlDocument, read_text

# The largest real file in letta-ai/agent-file is 1.1 MB; a file with a long history can be much larger.
AGENT_FILE_LIMITS = Limits(max_bytes=64 * MB)
MAX_ENCODINGS = 3  # a JSON string holding JSON holding JSON... is taken apart at most this many times


def read_agent_file(path: Path) -> AgentFileWire:
    """The Agent File at `path`; any problem is an AgentFileError naming the file, the key and the fix."""
    where = str(path)
    try:
        text = read_text(path, AGENT_FILE_LIMITS)
    except TooBig as exc:
        raise AgentFileError([Problem(where, exc.line, exc.column, "", str(exc))]) from None
    except OSError as exc:
        raise AgentFileError(f"{where}: cannot read: {exc.strerror or exc}") from None
    return parse_agent_file(text, where)


def parse_agent_file(text: str, where: str) -> AgentFileWire:
    data = _decode(text, where)
    if not isinstance(data, dict):
        raise AgentFileError(
            f"{where}: an Agent File is a JSON object with `agents`, `blocks` and `tools` (or, from letta "
            f"0.6-0.8, `name`, `core_memory` and `tools`), not {type(data).__name__}"
        )
    doc = YamlDocument(where, data)
    if "agents" in data or "core_memory" not in data:
        wire, problems = validate_document(AgentFileWire, doc)
        if wire is None:
            raise AgentFileError(problems)
        return wire
    legacy, problems = validate_document(LegacyAgentWire, doc)
    if legacy is None:
        raise AgentFileError(problems)
    return _from_legacy(legacy, where)


def _decode(text: str, where: str) -> Any:
    data: Any = text
    for depth in range(MAX_ENCODINGS + 2):  # the JSON itself, then each string it was encoded in
        if not isinstance(data, str):
            # What a model wrote (a block, a message) may hold a lone surrogate, which no UTF-8 file takes.
            try:
                return jsontext.without_surrogates(data)
            except RecursionError:
                raise AgentFileError(f"{where}: JSON nested too deeply to read") from None
        try:
            data = json.loads(data)
        except RecursionError:
            raise AgentFileError(f"{where}: JSON nested too deeply to read") from None
        except ValueError as exc:
            if depth:
                raise AgentFileError(
                    f"{where}: a JSON string that holds no JSON: an Agent File is a JSON object (or one encoded "
                    "as a JSON string)"
                ) from None
            line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
            raise AgentFileError(
                [Problem(where, line, column, "", f"not JSON: {exc}: an Agent File is JSON")]
            ) from None
    raise AgentFileError(f"{where}: JSON encoded in a string more than {MAX_ENCODINGS} times: not an Agent File")


def _in_context_ids(legacy: LegacyAgentWire, messages: list[dict[str, Any]]) -> list[str]:
    """The in-context messages, in order. letta 0.6.47+ lists them (`in_context_message_indices`); 0.6.43
    marks each message `in_context` and writes them in its database's order, not the context's (a tool
    result before its call): Letta's messages' creation times give that order back, the system prompt
    (the context's message 0; a text beginning with the agent's `system`) first."""
    if legacy.in_context_message_indices:
        return [f"message-{index}" for index in legacy.in_context_message_indices if 0 <= index < len(messages)]
    marked = [message for message in messages if message.get("in_context") is True]
    if not marked:
        return []
    marked.sort(key=lambda message: _created_at(message.get("created_at")))
    prompts = [m for m in marked if m.get("role") == "system" and _text(m).startswith(legacy.system or "\0")]
    if prompts:  # the latest prompt is the one in context (Letta rebuilds it, one at a time)
        marked = [prompts[-1], *(m for m in marked if m not in prompts)]
    return [str(message["id"]) for message in marked]


def _created_at(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)  # no time: first, in the file's order (the sort is stable)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(str(part.get("text")) for part in content if isinstance(part, dict) and "text" in part)
    return str(content or "")


def _from_legacy(legacy: LegacyAgentWire, where: str) -> AgentFileWire:
    """The letta 0.6-0.8 export as AgentFileSchema: ids are made up as Letta's exporter makes them."""
    blocks = [
        {
            "id": f"block-{index}",
            "label": block.label,
            "value": block.value,
            "limit": block.limit,
            "description": block.description,
            "read_only": block.read_only,
            "metadata": block.metadata_ if block.metadata_ is not None else block.metadata,
            "template_name": block.template_name,  # reported when set, as an AgentFileSchema block's is
            "is_template": block.is_template,
        }
        for index, block in enumerate(legacy.core_memory)
    ]
    tools = [
        {
            "id": f"tool-{index}",
            "name": tool.name,
            "tool_type": tool.tool_type,
            "description": tool.description,
            "source_type": tool.source_type,
            "source_code": tool.source_code,
            "json_schema": tool.json_schema,
            "tags": tool.tags,
            "return_char_limit": tool.return_char_limit,
            "args_json_schema": tool.args_json_schema,
            "metadata_": tool.metadata_ if tool.metadata_ is not None else tool.metadata,
        }
        for index, tool in enumerate(legacy.tools)
    ]
    messages = [{**message, "id": f"message-{index}"} for index, message in enumerate(legacy.messages)]
    agent = {
        "id": "agent-0",
        "name": legacy.name,
        "system": legacy.system,
        "agent_type": legacy.agent_type,
        "description": legacy.description,
        "tags": legacy.tags,
        "metadata": legacy.metadata_ if legacy.metadata_ is not None else legacy.metadata,
        "llm_config": legacy.llm_config.model_dump() if legacy.llm_config else None,
        "embedding_config": legacy.embedding_config.model_dump() if legacy.embedding_config else None,
        "block_ids": [block["id"] for block in blocks],
        "tool_ids": [tool["id"] for tool in tools],
        "tool_rules": legacy.tool_rules,
        "messages": messages,
        "in_context_message_ids": _in_context_ids(legacy, messages),
        "tool_exec_environment_variables": legacy.tool_exec_environment_variables,
        # reported when set, as an AgentFileSchema agent's are
        "identity_ids": legacy.identities or None,
        "message_buffer_autoclear": legacy.message_buffer_autoclear,
    }
    groups = [legacy.multi_agent_group] if isinstance(legacy.multi_agent_group, dict) else []
    groups += [group for group in legacy.groups if isinstance(group, dict) and group not in groups]
    try:
        return AgentFileWire.model_validate(
            {
                "agents": [agent],
                "groups": groups,
                "blocks": blocks,
                "files": [],
                "sources": [],
                "tools": tools,
                "mcp_servers": [],
                "metadata": {"letta_version": legacy.version} if legacy.version else {},
            }
        )
    except pydantic.ValidationError as exc:  # a legacy file valid on its own always converts; say so if not
        raise AgentFileError(f"{where}: cannot convert this letta 0.6-0.8 export: {exc}") from None
