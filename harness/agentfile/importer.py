"""Agent File -> agents.yaml text (and a tools module with the custom tools' source), plus a note for
everything that could not be kept: nothing is dropped silently.

Nothing from the file is executed: a custom tool's source is checked statically (it parses, defines the
function with type hints and its parameters described in its docstring, as `harness validate` will
require) before it is written; a tool that would fail is left out and reported. Secrets in the file (tool
environment variables, agent secrets) are never written: their names are reported, their values masked in
everything written.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pydantic
import yaml

from harness.agentfile.history import letta_chat_messages
from harness.agentfile.schema import (
    AgentFileWire,
    AgentWire,
    BlockWire,
    EmbeddingConfigWire,
    LLMConfigWire,
    ToolWire,
)
from harness.agentfile.sourcecheck import (
    LETTA_SCOPE_IMPORT,
    MODULE_NAMES,
    NO_DOCSTRING,
    source_problem,
    top_level_definitions,
    uncoerced_problem,
    with_docstring,
    without_future_imports,
)
from harness.config import (
    AGENT_NAME_PATTERN,
    BLOCK_LABEL_PATTERN,
    MAX_CONTEXT_WINDOW,
    MIN_CONTEXT_WINDOW,
    ToolRuleWire,
)
from harness.errors import AgentFileError
from harness.loops.kinds import (
    LoopName,
    default_tool_choice,
    inner_thoughts_in_kwargs,
    letta_format_problem,
    letta_literal,
    turn_ends,
)
from harness.memory import DEFAULT_LIMIT
from harness.project import DEFAULT_SCENARIOS
from harness.project import HISTORY_FOLDER as HISTORY
from harness.scenarios.history import MessageWire, conversation_problems
from harness.secrets import Secrets
from harness.tools.builtin import ARCHIVAL_TOOLS, BUILTIN_TOOLS
from harness.tools.declared import declared_tool
from harness.tools.rules import ToolRule, ToolRuleType, unfinishable
from harness.tools.schema import HEARTBEAT_PARAMETER, ToolDefinitionError
from harness.yamlsource import FILE_LIMITS, TooBig, check_limits

# One file of in-context messages per agent that has some, where a scenario in scenarios/ names it as
# `history: history/<agent>.yaml` (a history file is found from the scenario's folder, and stays inside it;
# scenario discovery skips `history/` folders).
HISTORY_FOLDER = f"{DEFAULT_SCENARIOS}/{HISTORY}"
TOOLS_MODULE = "agent_tools"  # the module written beside agents.yaml for custom tools with source
DEFAULT_MODEL = "gpt-4o-mini"  # Letta's default, for an agent whose file names no model
OPENAI_ENDPOINT = "https://api.openai.com/v1"
# Endpoint types whose `model_endpoint` speaks the OpenAI chat API (the only one the harness speaks).
OPENAI_COMPATIBLE = frozenset(
    {"openai", "azure", "groq", "ollama", "vllm", "llamacpp", "lmstudio-chatcompletions", "deepseek", "xai",
     "together", "fireworks", "openrouter", "mistral"}
)  # fmt: skip
# LLMConfig fields the harness has no place for, with the value that means "nothing to lose".
UNKEPT_LLM_FIELDS: dict[str, Any] = {
    "enable_reasoner": False,
    "reasoning_effort": None,
    "max_reasoning_tokens": 0,
    "effort": None,
    "frequency_penalty": None,
    "verbosity": None,
    "parallel_tool_calls": False,
    "response_format": None,
    "strict": False,
    "model_wrapper": None,
    "return_logprobs": False,
    "top_logprobs": None,
    "return_token_ids": False,
    "compatibility_type": None,
    "tool_call_parser": None,
}
# Agent keys the harness has no place for (beyond those reported one by one below), and their empty values.
UNKEPT_AGENT_FIELDS: dict[str, Any] = {
    "source_ids": [],
    "folder_ids": [],
    "files_agents": [],
    "group_ids": [],
    "memory_variables": None,
    "response_format": None,
    "model_settings": None,
    "compaction_settings": None,
    "reasoning": None,
    "message_buffer_autoclear": False,
    "enable_sleeptime": False,
    "parallel_tool_calls": None,
    "identity_ids": None,
    "memory_blocks": [],
    "tools": [],
    "initial_message_sequence": None,
}


# Letta's agent types the harness has a loop for (`loop:`); any other runs under the harness's own loop.
LETTA_LOOPS = {"memgpt_agent": LoopName.LETTA_MEMGPT, "letta_v1_agent": LoopName.LETTA_V1}
DEFAULT_CLOCK = "2025-01-01T00:00:00Z"  # the frozen clock an imported agent on a Letta loop starts with
# Letta bounds no agent name, a file system does (255 bytes): an agent's name is a file name here
# (scenarios/history/<agent>.yaml, <agent>.af), so a longer one is cut, with a digest of the whole to keep
# two long names apart.
MAX_AGENT_NAME = 100


# Letta's default return_char_limit (0.6-0.8: 6,000 for a custom tool, 1,000,000 for one of its own; since,
# 50,000 for all): real files carry it on every tool, and it says nothing agents.yaml loses. Another is reported.
LETTA_RETURN_CHAR_LIMITS = frozenset({6_000, 50_000, 1_000_000})


RULE_KEYS = ("children", "max_count_limit", "child_output_mapping", "default_child", "require_output_mapping")


@dataclass
class ImportResult:
    """What `harness import` writes, and what it tells the user it could not keep."""

    agents_yaml: str
    tools_module: str | None  # the source of TOOLS_MODULE, when a custom tool had source
    agent_names: list[str]
    notes: list[str] = field(default_factory=list)
    histories: dict[str, str] = field(default_factory=dict)  # agent -> its in-context history file (YAML)


def import_agent_file(wire: AgentFileWire, source: str, secrets: Secrets | None = None) -> ImportResult:
    """Map `wire` (read from `source`) onto agents.yaml; `secrets` adds to the file's own."""
    secrets = (secrets or Secrets()) | Secrets.collect(values=_secret_values(wire))
    importer = _Importer(wire, secrets)
    agents = importer.agents()
    notes = importer.notes + _file_notes(wire) + importer.unattached_notes()
    tools_module = importer.tools_module(source)
    document: dict[str, Any] = {"agents": agents}
    if importer.shared_blocks:
        document = {"shared_blocks": list(importer.shared_blocks.values()), **document}
    try:  # before writing it out: 40,000 blocks took 9 s to dump, and the result was refused anyway
        _surely_fits(document, secrets)
    except TooBig as exc:
        raise AgentFileError(
            f"{source}: its agents would make an agents.yaml the harness refuses ({exc}), so nothing was written"
        ) from None
    text = f"# Imported from the Letta Agent File {_safe_comment(source)} by `harness import`.\n"
    text += _dump_yaml(document)
    histories: dict[str, str] = {}
    for name, messages in importer.histories.items():  # a file no scenario could read is not written
        try:
            _surely_fits(messages, secrets)
            history = secrets.mask(
                f"# The in-context messages of agent '{_safe_comment(name)}' in {_safe_comment(source)}: a scenario "
                f"in scenarios/ starts from them with `history: history/{name}.yaml`.\n"
                + _dump_yaml({"source": _safe_comment(source), "messages": messages})
            )
            size = len(history.encode("utf-8"))
            if size > FILE_LIMITS.max_bytes:
                raise TooBig(f"{size / 2**20:.1f} MB: at most {FILE_LIMITS.max_bytes // 2**20} MB")
            check_limits(history, FILE_LIMITS)
            histories[name] = history
        except TooBig as exc:
            notes.append(f"agent '{name}': message history not kept: too big for a scenario's history file ({exc})")
    return ImportResult(
        agents_yaml=secrets.mask(text),
        tools_module=secrets.mask(tools_module) if tools_module is not None else None,
        agent_names=list(agents),
        notes=[secrets.mask(note) for note in notes],
        histories=histories,
    )


def _surely_fits(data: Any, secrets: Secrets) -> None:
    """TooBig where the YAML of `data` would surely be past FILE_LIMITS, known without writing it (writing
    a history of 100,000 messages takes a minute): its values, keys included, as YAML counts them, and its
    text, no shorter than its strings (masked) are."""
    values, size = 0, 0
    stack = [data]
    while stack:
        value = stack.pop()
        values += 1
        if values > FILE_LIMITS.max_nodes:
            raise TooBig(f"more than {FILE_LIMITS.max_nodes} values: at most {FILE_LIMITS.max_nodes}")
        if isinstance(value, dict):
            stack += [*value, *value.values()]
        elif isinstance(value, list | tuple):
            stack += value
        elif isinstance(value, str):
            size += len(secrets.mask(value).encode("utf-8", "surrogatepass"))
            if size > FILE_LIMITS.max_bytes:
                raise TooBig(
                    f"more than {FILE_LIMITS.max_bytes // 2**20} MB: at most {FILE_LIMITS.max_bytes // 2**20} MB"
                )


def _secret_values(wire: AgentFileWire) -> list[str]:
    found: list[str] = []
    for agent in wire.agents:
        found += _strings(agent.tool_exec_environment_variables, values_only=True)
        found += _strings(agent.secrets, values_only=True)
    for server in wire.mcp_servers:
        found += _strings(server.get("stdio_config"), values_only=True)
    return [value for value in found if value]


def _strings(data: Any, values_only: bool) -> list[str]:
    """Every string in `data` (for a mapping, its values; for Letta's `[{key, value}]` lists, the values)."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        if values_only and set(data) >= {"key", "value"}:
            return _strings(data["value"], values_only)
        return [s for value in data.values() for s in _strings(value, values_only)]
    if isinstance(data, list):
        return [s for item in data for s in _strings(item, values_only)]
    return []


def _secret_names(data: Any) -> list[str]:
    if isinstance(data, dict):
        if set(data) >= {"key", "value"} and isinstance(data["key"], str):
            return [data["key"]]
        return [str(key) for key in data]
    if isinstance(data, list):
        return [name for item in data for name in _secret_names(item)]
    return []


MAX_NAMED = 10  # a note naming what was not kept names at most this many


def _bounded(names: list[str]) -> str:
    shown = ", ".join(_safe_comment(name) for name in names[:MAX_NAMED])
    return shown + (f", ... ({len(names) - MAX_NAMED} more)" if len(names) > MAX_NAMED else "")


def _file_notes(wire: AgentFileWire) -> list[str]:
    notes = []
    for key in ("groups", "files", "sources", "mcp_servers", "skills"):
        items = getattr(wire, key) or []
        if items:
            notes.append(f"{key}: {len(items)} not kept (the harness has no {key.replace('_', ' ')})")
    return notes


class _Importer:
    def __init__(self, wire: AgentFileWire, secrets: Secrets) -> None:
        self.wire = wire
        self.secrets = secrets
        self.notes: list[str] = []
        # An id the file gives twice names its first (which one Letta would take is not said): reported.
        self.blocks: dict[str, BlockWire] = {}
        for block in wire.blocks:
            if self.blocks.setdefault(block.id, block) is not block:
                self.notes.append(f"block id '{block.id}' is given twice: the first block of that id is kept")
        self.tools: dict[str, ToolWire] = {}
        for tool in wire.tools:
            if self.tools.setdefault(tool.id, tool) is not tool:
                self.notes.append(f"tool id '{tool.id}' is given twice: the first tool of that id is kept")
        self.sources: dict[str, str] = {}  # tool name -> its source, for the tools module
        self.schemas: dict[str, dict[str, Any]] = {}  # tool name -> the JSON schema the file stores for it
        self.names: set[str] = set()
        self.current = ""  # the file's name of the agent being imported
        self.position = 0  # and its place among the file's agents
        self.loop = LoopName.HARNESS  # and the loop it runs
        self.block_users: dict[str, list[int]] = {}  # block id -> the file's agents that hold it, by place
        self.histories: dict[str, list[dict[str, Any]]] = {}  # agent -> its in-context chat messages
        for position, agent in enumerate(wire.agents):
            for block_id in dict.fromkeys(agent.block_ids or []):
                self.block_users.setdefault(block_id, []).append(position)
        self.shared_labels = self._shared_labels()
        self.shared_blocks: dict[str, dict[str, Any]] = {}  # label -> the block as `shared_blocks` declares it

    def _shared_labels(self) -> dict[str, str]:
        """Block id -> its label in agents.yaml's `shared_blocks`, which holds one block per label: first each
        block several agents hold (Letta's shared blocks: a sleep-time agent's edits reach its primary's
        memory); then, as agents.yaml puts an agent's own blocks before those it attaches, each block of an
        agent after the first it shares (attached by that agent alone), so its prompt keeps Letta's order."""
        labels: dict[str, str] = {}

        def claim(block_id: str) -> None:
            block = self.blocks.get(block_id)
            if block is None or not re.fullmatch(BLOCK_LABEL_PATTERN, block.label):
                return  # left out, and said so, by `_block`
            if block.label not in labels.values():
                labels[block_id] = block.label

        for block_id, users in self.block_users.items():
            if len(users) > 1:
                claim(block_id)
        for agent in self.wire.agents:
            held = list(dict.fromkeys(agent.block_ids or []))
            first = next((index for index, block_id in enumerate(held) if block_id in labels), len(held))
            for block_id in held[first + 1 :]:
                if block_id not in labels:
                    claim(block_id)
        return labels

    def unattached_notes(self) -> list[str]:
        """The file's blocks and tools no agent holds (a Letta export carries its server's blocks and tools an
        agent once held or may attach): agents.yaml keeps what agents hold, so they are said not kept."""
        held_blocks = {block_id for agent in self.wire.agents for block_id in agent.block_ids or []}
        held_tools = {tool_id for agent in self.wire.agents for tool_id in agent.tool_ids or []}
        blocks = [block for block_id, block in self.blocks.items() if block_id not in held_blocks]
        tools = [tool.name or tool_id for tool_id, tool in self.tools.items() if tool_id not in held_tools]
        notes = []
        if blocks:
            size = sum(len(block.value) for block in blocks)
            labels = _bounded([block.label for block in blocks])
            notes.append(f"blocks: {len(blocks)} attached to no agent not kept ({labels}; {size:,} characters)")
        if tools:
            notes.append(f"tools: {len(tools)} attached to no agent not kept ({_bounded(tools)})")
        return notes

    def note(self, agent: str, text: str) -> None:
        self.notes.append(f"agent '{agent}': {text}")

    def agents(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for position, agent in enumerate(self.wire.agents):
            name = self._name(agent.name)
            self.current, self.position = agent.name, position
            if name != agent.name:
                why = (
                    [] if re.fullmatch(AGENT_NAME_PATTERN, agent.name) else ["agent names are letters, digits, _ and -"]
                )
                if len(agent.name) > MAX_AGENT_NAME:
                    why.append(f"a name is a file name here: at most {MAX_AGENT_NAME} characters")
                self.note(
                    agent.name, f"renamed '{name}' ({'; '.join(why or ['another agent of the file has that name'])})"
                )
            out[name] = self._agent(name, agent)
        return out

    def _name(self, given: str) -> str:
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", given).strip("_") or "agent"
        if not re.fullmatch(AGENT_NAME_PATTERN, name):
            name = f"agent_{name}"
        if len(name) > MAX_AGENT_NAME:
            digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            name = f"{name[: MAX_AGENT_NAME - 9]}_{digest}"
        base, count = name, 1
        while name in self.names:
            count += 1
            name = f"{base}_{count}"
        self.names.add(name)
        return name

    def _agent(self, name: str, agent: AgentWire) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if agent.description:
            out["description"] = agent.description
        if agent.tags:
            out["tags"] = list(agent.tags)
        if agent.metadata:
            out["metadata"] = agent.metadata
        loop = self.loop = LETTA_LOOPS.get(agent.agent_type or "memgpt_agent", LoopName.HARNESS)
        out["model"] = self._model(name, agent.llm_config, loop)
        if agent.llm_config is not None:  # the agent's context pressure, as Letta applies it
            window = agent.llm_config.context_window
            if MIN_CONTEXT_WINDOW <= window <= MAX_CONTEXT_WINDOW:
                out["context_window"] = window
            else:
                self.note(
                    name,
                    f"llm_config.context_window {window} not kept (the harness takes {MIN_CONTEXT_WINDOW} to "
                    f"{MAX_CONTEXT_WINDOW:,})",
                )
        out["system"] = agent.system or ""
        if not agent.system:
            self.note(name, "no system prompt in the file: `system` is empty")
        elif loop is LoopName.LETTA_MEMGPT and letta_format_problem(agent.system) is not None:
            literal = letta_literal(agent.system)
            if literal is not None:  # as the Letta that wrote the file shows it (0.7 on only replaces the variable)
                out["system"] = literal
                self.note(
                    name,
                    "system prompt's braces written doubled (`{{`, `}}`): Letta 0.6.23, whose loop letta-memgpt "
                    "copies, fills the prompt in with Python's str.format and could not read them as they were",
                )
        out["blocks"] = []
        attached: list[str] = []
        for block_id in agent.block_ids or []:
            block = self._block(name, block_id)
            label = self.shared_labels.get(block_id)
            if block is None:
                continue
            if label is None:
                if attached:  # agents.yaml puts it before them: said, as the agent's prompt shows it
                    self.note(
                        name,
                        f"block '{block['label']}' comes before the blocks it shares here, not after "
                        f"'{attached[-1]}' (another shared block has its label; agents.yaml puts an agent's own "
                        "blocks first)",
                    )
                out["blocks"].append(block)
            else:
                self.shared_blocks.setdefault(label, block)
                attached.append(label)
        if attached:
            out["attach_blocks"] = attached
        out["loop"] = loop.value  # said even when it is the default, as it is this file's agent_type's
        if loop is not LoopName.HARNESS:
            # A Letta loop puts the time in what it sends: a frozen clock makes its recordings replay.
            out["clock"] = DEFAULT_CLOCK
        tools = [tool for tool_id in agent.tool_ids or [] if (tool := self._tool(name, tool_id)) is not None]
        embedding = self._embedding(name, agent.embedding_config)
        if embedding is not None:
            out["embedding"] = embedding
        else:
            for tool in [tool for tool in tools if isinstance(tool, str) and tool in ARCHIVAL_TOOLS]:
                tools.remove(tool)
                self.note(
                    name, f"tool '{tool}' left out: archival memory needs an embedding model the harness can reach"
                )
        if "send_message" not in tools and loop is not LoopName.LETTA_V1:
            tools.insert(0, "send_message")
            self.note(name, f"has no send_message; added, since the {loop} loop replies through it")
        out["tools"] = tools
        names = [tool["name"] if isinstance(tool, dict) else tool.rpartition(":")[2] for tool in tools]
        rules = self._rules(name, agent.tool_rules or [], names, loop)
        if rules:
            out["tool_rules"] = rules
        self._agent_notes(name, agent)
        return out

    def _rules(self, name: str, rules: list[dict[str, Any]], tools: list[str], loop: LoopName) -> list[dict[str, Any]]:
        """The rules the harness runs (as Letta's ToolRulesSolver); one naming a tool left out goes too. A
        `prompt_template` is kept in effect where the agent's loop shows the model exactly what it renders."""
        kept: list[dict[str, Any]] = []
        left_out = False  # a rule not kept: the others may not let a turn end without it
        for rule in rules:
            kind, tool_name = rule.get("type"), rule.get("tool_name")
            what = f"tool rule {kind} on '{tool_name}'"
            if kind not in set(ToolRuleType):
                self.note(name, f"{what} not kept: the harness has no {kind} rule")
                left_out = True
                continue
            out = {"type": kind, "tool_name": tool_name}
            out |= {key: rule[key] for key in RULE_KEYS if rule.get(key) is not None}
            try:
                wire = ToolRuleWire.model_validate(out)
            except pydantic.ValidationError as exc:
                self.note(name, f"{what} not kept: {exc.errors()[0]['msg']}")
                left_out = True
                continue
            missing = [tool for tool in dict.fromkeys(wire.rule().tool_names()) if tool not in tools]
            if missing:
                self.note(name, f"{what} not kept: it names {', '.join(missing)}, not a tool of this agent here")
                left_out = True
                continue
            extra = [key for key, value in rule.items() if key not in {"type", "tool_name", *RULE_KEYS} and value]
            if loop is not LoopName.LETTA_MEMGPT and _renders_as_shown(rule.get("prompt_template"), wire.rule()):
                extra.remove("prompt_template")
            if extra:
                self.note(name, f"{what}: {', '.join(extra)} not kept")
            kept.append(out)
        ends = turn_ends(loop, default_tool_choice(loop))  # the model written has no tool_choice
        kept_rules = [ToolRuleWire.model_validate(rule).rule() for rule in kept]
        reason = unfinishable(kept_rules, tools, ends) if kept else None
        if reason is not None:
            without = "without the rules left out, " if left_out else ""
            self.note(name, f"tool_rules: none kept: {without}{reason}")
            return []
        return kept

    def _model(self, name: str, llm: LLMConfigWire | None, loop: LoopName) -> dict[str, Any]:
        if llm is None:
            self.note(name, f"no llm_config: model set to {DEFAULT_MODEL}")
            return {"name": DEFAULT_MODEL}
        model: dict[str, Any] = {"name": llm.model}
        endpoint = (llm.model_endpoint or "").rstrip("/")
        if llm.model_endpoint_type not in OPENAI_COMPATIBLE:
            self.note(
                name,
                f"llm_config.model_endpoint_type {llm.model_endpoint_type} ({endpoint or 'no endpoint'}) not kept: "
                "the harness speaks the OpenAI chat API; set model.base_url to an OpenAI-compatible endpoint",
            )
        elif endpoint and endpoint != OPENAI_ENDPOINT:
            model["base_url"] = self.secrets.mask_url(endpoint)
        if 0 <= llm.temperature <= 2:
            model["temperature"] = llm.temperature
        else:
            self.note(name, f"llm_config.temperature {llm.temperature} not kept (the harness takes 0 to 2)")
        if llm.max_tokens is not None and llm.max_tokens > 0:
            model["max_tokens"] = llm.max_tokens
        thoughts = llm.put_inner_thoughts_in_kwargs
        if loop is LoopName.LETTA_MEMGPT:  # the loop that reads it: kept when it is not Letta's default
            if thoughts is not None and thoughts != inner_thoughts_in_kwargs(llm.model, None):
                model["put_inner_thoughts_in_kwargs"] = thoughts
        elif thoughts:
            self.note(
                name, f"llm_config.put_inner_thoughts_in_kwargs True not kept (the {loop} loop has no such argument)"
            )
        for key, empty in UNKEPT_LLM_FIELDS.items():
            value = getattr(llm, key)
            # what the file says, not a default of Letta's schema (enable_reasoner's is True)
            if key in llm.model_fields_set and value is not None and value != empty:
                self.note(name, f"llm_config.{key} {value!r} not kept (no place for it in agents.yaml)")
        return model

    def _embedding(self, name: str, config: EmbeddingConfigWire | None) -> dict[str, Any] | None:
        """agents.yaml's `embedding:` from Letta's embedding_config, when its endpoint speaks the OpenAI API."""
        if config is None:
            return None
        endpoint = (config.embedding_endpoint or "").rstrip("/")
        if config.embedding_endpoint_type not in OPENAI_COMPATIBLE:
            self.note(
                name,
                f"embedding_config ({config.embedding_model}, {config.embedding_endpoint_type}) not kept: the harness "
                "embeds through an OpenAI-compatible /embeddings endpoint",
            )
            return None
        embedding: dict[str, Any] = {"name": config.embedding_model}
        if endpoint and endpoint != OPENAI_ENDPOINT:
            embedding["base_url"] = self.secrets.mask_url(endpoint)
        return embedding

    def _block(self, name: str, block_id: str) -> dict[str, Any] | None:
        block: BlockWire | None = self.blocks.get(block_id)
        if block is None:
            self.note(name, f"block id '{block_id}' is not in the file's blocks: left out")
            return None
        if not re.fullmatch(BLOCK_LABEL_PATTERN, block.label):
            self.note(name, f"block '{block.label}' left out: a label is letters, digits, _, - and /")
            return None
        users = self.block_users.get(block_id, [])
        if len(users) > 1 and block_id not in self.shared_labels:
            others = [self.wire.agents[user].name for user in users if user != self.position]
            named = [other for other in others if other != self.current]
            shared = (
                f"with {', '.join(dict.fromkeys(named))}" if named else f"by {len(users)} agents named '{self.current}'"
            )
            self.note(
                name,
                f"block '{block.label}' is shared {shared} in Letta; here each agent has its own copy (another "
                "shared block has its label, and agents.yaml's `shared_blocks` hold one block per label)",
            )
        out: dict[str, Any] = {"label": block.label, "value": block.value}
        limit = block.limit if block.limit is not None else DEFAULT_LIMIT
        if len(block.value) > limit:
            self.note(
                name,
                f"block '{block.label}' holds {len(block.value)} characters, over its limit of "
                f"{block.limit if block.limit is not None else f'{DEFAULT_LIMIT} (none given)'}: limit set to "
                f"{len(block.value)}",
            )
            limit = len(block.value)
        out["limit"] = limit
        if block.description is not None:
            out["description"] = block.description
        if block.read_only:
            out["read_only"] = True
        if block.metadata:
            out["metadata"] = block.metadata
        for key in ("tags", "hidden", "template_name"):
            if getattr(block, key):
                self.note(name, f"block '{block.label}': {key} {getattr(block, key)!r} not kept")
        return out

    def _tool(self, name: str, tool_id: str) -> str | dict[str, Any] | None:
        """The tool as agents.yaml names it, or None (reported) when it is left out; what Letta's tool
        carries that agents.yaml cannot is reported for a tool kept."""
        kept = self._tool_kept(name, tool_id)
        tool = self.tools.get(tool_id)
        if kept is None or tool is None:
            return kept
        if tool.default_requires_approval:
            self.note(
                name,
                f"tool '{tool.name}': default_requires_approval true not kept (the harness has no human to "
                "approve a call: it runs the tool)",
            )
        limit = tool.return_char_limit
        if limit is not None and limit not in LETTA_RETURN_CHAR_LIMITS:
            self.note(
                name,
                f"tool '{tool.name}': return_char_limit {limit} not kept (Letta cuts the tool's result there; "
                "agents.yaml has no place for it)",
            )
        return kept

    def _tool_kept(self, name: str, tool_id: str) -> str | dict[str, Any] | None:
        tool: ToolWire | None = self.tools.get(tool_id)
        if tool is None:
            self.note(name, f"tool id '{tool_id}' is not in the file's tools: left out")
            return None
        if not tool.name:
            self.note(name, f"tool id '{tool_id}' has no name: left out")
            return None
        custom = (tool.tool_type or "custom") == "custom"
        if tool.name in BUILTIN_TOOLS and not (custom and tool.source_code):
            if (tool.tool_type or "").startswith("external_"):
                self.note(
                    name,
                    f"tool '{tool.name}': an external tool ({tool.tool_type}) named as a Letta built-in: the "
                    "built-in is kept",
                )
            return tool.name
        external = (tool.tool_type or "").startswith("external_")
        if (external or (custom and not tool.source_code)) and tool.json_schema:
            declared = _declared(tool.name, tool.description, tool.json_schema)
            kind = f"an external tool ({tool.tool_type})" if external else "defined only by a JSON schema"
            if isinstance(declared, str):
                self.note(name, f"tool '{tool.name}' left out: {kind}, which agents.yaml cannot declare: {declared}")
                return None
            self.note(
                name, f"tool '{tool.name}': {kind}, declared by its schema (a scenario's `tool_results:` gives results)"
            )
            return declared
        if external:
            self.note(name, f"tool '{tool.name}' left out: an external tool ({tool.tool_type}) the harness cannot call")
            return None
        if not tool.source_code:
            kind = f"a Letta tool ({tool.tool_type})" if not custom else "defined only by a JSON schema (no source)"
            self.note(name, f"tool '{tool.name}' left out: {kind}, which the harness does not have")
            return None
        source = tool.source_code
        unpostponed = without_future_imports(source)
        if isinstance(unpostponed, str):
            self.note(name, f"tool '{tool.name}' left out: its source {unpostponed}")
            return None
        if unpostponed is not None:
            source, quoted = unpostponed
            if tool.name not in self.sources:
                strings = (
                    f"; {quoted} annotations it kept from being evaluated are written as strings" if quoted else ""
                )
                self.note(
                    name,
                    f"tool '{tool.name}': `from __future__` import left out of its source (it must open a module, "
                    f"and agent_tools.py holds every tool's source){strings}",
                )
        problem = source_problem(tool.name, source)
        if problem == NO_DOCSTRING and tool.json_schema:
            documented = with_docstring(source, tool.name, tool.json_schema)
            if documented is not None and source_problem(tool.name, documented) is None:
                if self.sources.get(tool.name) != documented:
                    self.note(
                        name, f"tool '{tool.name}': its source has no docstring; one was written from its JSON schema"
                    )
                source, problem = documented, None
        if problem is None and self.loop is LoopName.LETTA_MEMGPT:
            problem = uncoerced_problem(tool.name, source)
        if problem is not None:
            self.note(name, f"tool '{tool.name}' left out: its source {problem}")
            return None
        known = self.sources.get(tool.name)
        if known is not None and known != source:
            self.note(name, f"tool '{tool.name}' left out: another tool of that name, with other source, is kept")
            return None
        if known is None:
            clash = self._clash(tool.name, source)
            if clash is not None:
                self.note(name, f"tool '{tool.name}' left out: {clash}")
                return None
        if tool.pip_requirements and tool.name not in self.sources:
            self.note(name, f"tool '{tool.name}': pip_requirements not kept (install them): {tool.pip_requirements}")
        self.sources[tool.name] = source
        if tool.json_schema:
            self.schemas[tool.name] = tool.json_schema
        return f"{TOOLS_MODULE}:{tool.name}"

    def _clash(self, tool: str, source: str) -> str | None:
        """Why `source` cannot share agent_tools.py with the sources kept so far, or None: Letta runs each
        tool's source on its own, so a name two of them define differently (a helper `_fmt`), or one that
        hides a name the module gives every tool (`Optional`), would change what another tool does."""
        defined = top_level_definitions(source)
        hidden = sorted(name for name in set(defined) & MODULE_NAMES if not defined[name][1])
        if hidden:
            return (
                f"its source defines '{hidden[0]}', which agent_tools.py gives every tool (from typing or the harness)"
            )
        for other, other_source in self.sources.items():
            theirs = top_level_definitions(other_source)
            for shared in sorted(set(defined) & set(theirs)):
                if defined[shared] != theirs[shared]:
                    return (
                        f"its source defines '{shared}' otherwise than tool '{other}''s does: Letta runs each "
                        "tool's source apart, one agent_tools.py would give both one of them"
                    )
        return None

    def _history(self, name: str, agent: AgentWire) -> None:
        """The agent's in-context messages as the chat messages Letta would send for them, for a scenario's
        `history:` (the system message is left out: the harness compiles its own from the prompt and memory).
        A message Letta would not send, or an OpenAI endpoint refuse, is left out alone, and said so."""
        by_id = {str(message.get("id")): message for message in agent.messages}
        ids = agent.in_context_message_ids
        in_context = [by_id[i] for i in ids if i in by_id] if ids else list(agent.messages)
        out_of_context = len(agent.messages) - len(in_context)
        if in_context and in_context[0].get("role") == "system":
            self._header_note(name, agent, in_context[0])
            in_context = in_context[1:]
        chat, notes = letta_chat_messages(in_context)
        for note in notes:
            self.note(name, f"message history: {note}")
        try:
            wires = pydantic.TypeAdapter(list[MessageWire]).validate_python(chat)
        except pydantic.ValidationError as exc:
            self.note(name, f"message history not kept: {exc.errors()[0]['msg']}")
            return
        problems = conversation_problems(wires)
        if problems:  # letta_chat_messages leaves none; kept as the last word before writing
            (index, _), why = problems[0]
            self.note(name, f"message history not kept: message {index}: {why}")
            return
        if chat:
            self.histories[name] = chat
        if out_of_context:
            self.note(name, f"message history: {out_of_context} messages out of context not kept")

    def _header_note(self, name: str, agent: AgentWire, system: dict[str, Any]) -> None:
        """Said when the file's system message shows a memory header other than the one letta-memgpt compiles
        (Letta 0.6.23's): the loop models one Letta throughout, and a later one's header is not followed."""
        if LETTA_LOOPS.get(agent.agent_type or "memgpt_agent") is not LoopName.LETTA_MEMGPT:
            return
        content = system.get("content")
        parts = content if isinstance(content, list) else [{"text": content}]
        text = "".join(str(part.get("text") or "") for part in parts if isinstance(part, dict))
        if LETTA_0623_HEADER.search(text):
            return
        found = [what for marker, what in LATER_HEADERS if re.search(marker, text)]
        if found:
            version = (self.wire.metadata or {}).get("letta_version")
            self.note(
                name,
                f"the memory header its system message shows ({', '.join(found)}"
                f"{f', as Letta {version} writes it' if version else ''}) not kept: the letta-memgpt loop compiles "
                "Letta 0.6.23's",
            )

    def _agent_notes(self, name: str, agent: AgentWire) -> None:
        if agent.agent_type and agent.agent_type not in LETTA_LOOPS:
            self.note(name, f"agent_type {agent.agent_type}: runs under the harness's MemGPT-style loop")
        if agent.messages:
            self._history(name, agent)
        names = _secret_names(agent.tool_exec_environment_variables) + _secret_names(agent.secrets)
        if names:
            listed = ", ".join(sorted(set(names)))
            self.note(name, f"tool environment variables / secrets not written (set them yourself): {listed}")
        if agent.timezone and agent.timezone != "UTC":
            self.note(name, f"timezone {agent.timezone} not kept")
        for key, empty in UNKEPT_AGENT_FIELDS.items():
            value = getattr(agent, key)
            if value is not None and value != empty:
                self.note(name, f"{key} not kept")

    def tools_module(self, source: str) -> str | None:
        if not self.sources:
            return None
        header = (
            f'"""Custom tools of the Letta Agent File {_safe_comment(source)}, their source as the file held it\n'
            '(written by `harness import`; agents.yaml names them `agent_tools:<function>`)."""\n\n'
            "# Letta runs a tool's source with these names in scope; many tools rely on it.\n"
            f"{LETTA_SCOPE_IMPORT}\n\n"
            "from harness.tools.context import AgentState  # noqa: F401\n"
        )
        bodies = [self._schema_comment(name) + self.sources[name].strip("\n") + "\n" for name in sorted(self.sources)]
        return header + "\n\n" + "\n\n\n".join(bodies)

    def _schema_comment(self, name: str) -> str:
        """The tool's JSON schema from the file (what Letta showed the model), as a comment above its source:
        the harness describes the tool from its signature and docstring instead."""
        schema = self.schemas.get(name)
        if schema is None:
            return ""
        text = json.dumps(schema, ensure_ascii=False, sort_keys=True)
        return f"# JSON schema in the Agent File (Letta showed the model this):\n# {' '.join(text.splitlines())}\n"


# The memory header letta-memgpt compiles (Letta 0.6.23's compile_memory_metadata_block), and what later
# Letta versions' headers hold instead (0.6.39-0.7: a line of recent archival passages, empty in a new agent's
# message, which leaves two blank lines before "Core memory shown below"; 0.7.6-0.7: the current time; 0.8 on:
# a <memory_metadata> section).
LETTA_0623_HEADER = re.compile(
    r"### Memory \[last modified: [^\]\n]*\]\n\d+ previous messages between you and the user are stored in recall "
    r"memory \(use functions to access them\)\n\d+ total memories you created are stored in archival memory \(use "
    r"functions to access them\)\n\nCore memory shown below"
)
LATER_HEADERS = (
    (r"\nMost recent archival passages |archival memory \(use functions to access them\)\n\n\nCore memory shown",
     "a line of recent archival passages before 'Core memory shown below'"),
    (r"### Current Time: ", "the current time"),
    (r"<memory_metadata>", "a <memory_metadata> section"),
)  # fmt: skip


def _safe_comment(text: str) -> str:
    return " ".join(text.split())


YAML_BREAKS = "\x85\u2028\u2029"  # line breaks to YAML 1.1 besides \n and \r


class _Dumper(yaml.SafeDumper):
    """Multi-line text as `|` blocks, keys in the order given: an agents.yaml a person can read."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and _literal_safe(value) else None
    if any(ch in value for ch in YAML_BREAKS):  # other styles fold them into spaces; double quotes escape them
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _literal_safe(value: str) -> bool:
    """A `|` block keeps the text exactly only without trailing spaces on a line, tabs or control characters
    (PyYAML would fall back to quoting anyway)."""
    return not any(line != line.rstrip(" ") for line in value.split("\n")) and all(
        ch == "\n" or (ch.isprintable() and ch != "\t") for ch in value
    )


_Dumper.add_representer(str, _text)


def _dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def _renders_as_shown(template: Any, rule: ToolRule) -> bool:
    """Whether `template`, a Letta 0.9-0.11 rule's Jinja `prompt_template` (their exports carry the default
    for the rule's kind), renders to the text the harness shows the model for the rule in `<tool_usage_rules>`
    (Letta 0.16.8's, which ignores the template). Only the default templates' placeholders are filled."""
    if not isinstance(template, str):
        return False
    text = (
        template.replace("{{ tool_name }}", rule.tool_name)
        .replace("{{ children | join(', ') }}", ", ".join(rule.children))
        .replace("{{ max_count_limit }}", str(rule.max_count_limit))
    )
    return text == rule.render_prompt()


def _declared(name: str, description: str | None, json_schema: dict[str, Any]) -> dict[str, Any] | str:
    """A tool known by its JSON schema alone, as agents.yaml declares one; why not (the name, the schema) when
    agents.yaml could not declare it.
    `request_heartbeat` (which Letta stores in some schemas) is left to the loop, which adds it."""
    parameters = json_schema.get("parameters") if isinstance(json_schema.get("parameters"), dict) else None
    parameters = dict(parameters or {"type": "object", "properties": {}})
    properties = {k: v for k, v in (parameters.get("properties") or {}).items() if k != HEARTBEAT_PARAMETER}
    parameters["properties"] = properties
    if isinstance(parameters.get("required"), list):
        parameters["required"] = [k for k in parameters["required"] if k != HEARTBEAT_PARAMETER]
    text = description or json_schema.get("description")
    try:
        declared_tool(name, str(text or name), parameters)
    except ToolDefinitionError as exc:
        return str(exc)
    return {"name": name, "description": str(text or name), "parameters": parameters}
