"""agents.yaml: strict wire models (what users write) compiled into plain runtime specs (what runs).

Shared settings come from `defaults:` and from `extends: <agent>`; a child's `model` mapping and `blocks`
(by label) merge over its parent's, every other key replaces it.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pydantic

from harness.clock import DEFAULT_TICK, ClockSpec, Ids
from harness.errors import ConfigError, Problem, ToolDefinitionError, in_line_order
from harness.files import OutsideProject, confined
from harness.llm.settings import EmbeddingSettings, KeyHeader, ModelSettings, ToolChoice, http_url_problem
from harness.loops.kinds import (
    DEFAULT_LOOP,
    HARNESS_MAX_STEPS,
    LoopName,
    default_max_steps,
    default_temperature,
    default_tool_choice,
    extra_body,
    letta_format_problem,
    parallel_by_model,
    tools_body,
    turn_ends,
)
from harness.memory import DEFAULT_LIMIT, Block, Memory, check_schema, schema_problem
from harness.tools.builtin import ARCHIVAL_TOOLS, BUILTIN_TOOLS
from harness.tools.declared import NAME_PATTERN as DECLARED_NAME_PATTERN
from harness.tools.declared import declared_tool
from harness.tools.letta_schema import letta_memgpt_problem
from harness.tools.registry import resolve_tool
from harness.tools.rules import ToolRule, ToolRulesSolver, ToolRuleType, unfinishable
from harness.tools.runtime import TOOL_SANDBOX_TIMEOUT
from harness.tools.schema import Tool
from harness.wire import NOT_BOOLEAN, Boolean, Shorthand, StrictModel, not_null_schema, validate_document
from harness.yamlsource import Loc, TooBig, YamlDocument, dotted, load_yaml, read_text, universal_newlines

MIN_CONTEXT_WINDOW = 64  # tokens: below this not even a summary fits (Letta's own minimum is 4096)
# tokens: past any model's window (10 million is the largest offered), and where the window's thresholds (a
# float times it) stay exact: 10**400 passed validate, then every scenario failed on OverflowError
MAX_CONTEXT_WINDOW = 1_000_000_000

DEFAULT_MAX_STEPS = HARNESS_MAX_STEPS  # letta-v1: Letta 0.16.8's (kinds.default_max_steps)
# Agent names (a name is also a file name: records, cassettes).
AGENT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
# Block labels in agents.yaml: letters, digits, `_`, `-` and `/` (Letta's `system/human/work`,
# `/note_directory`). The labels the model gives the `memory` tool are any text, as in Letta (memory.py).
BLOCK_LABEL_PATTERN = r"^[A-Za-z_/][A-Za-z0-9_/-]*$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
MEMORY_PLACEHOLDER = "{CORE_MEMORY}"


# ---------------------------------------------------------------- wire models (the YAML contract)


# What a model endpoint and an embedding endpoint are configured with alike.
ApiKeyEnvField = Annotated[
    str | None,
    pydantic.Field(
        description="Name of the environment variable holding the API key (never the key itself)",
        json_schema_extra={"pattern": ENV_NAME},
    ),
]
# Bounds past which a value means a typo, and past which the clock, SQLite or the OS would overflow at run
# time (a timeout of .inf, a limit of 2**63): refused by `validate`, located, instead.
DAY = 86_400
LOOP_TOLD = 12  # a loop of `extends` longer than this is told by its ends
MAX_BLOCK_LIMIT = 10_000_000
CLOCK_YEARS = (1000, 9000)

TimeoutField = Annotated[
    Annotated[float, pydantic.Field(gt=0, le=DAY), NOT_BOOLEAN] | None,
    pydantic.Field(description="Seconds to wait for one answer (default 120; at most a day)"),
]
MaxRetriesField = Annotated[
    Annotated[int, pydantic.Field(ge=0, le=100), NOT_BOOLEAN] | None,
    pydantic.Field(description="Retries after a connection error or a 408, 409, 429 or 5xx answer (default 2)"),
]
KeyHeaderField = Annotated[
    KeyHeader | None,
    pydantic.Field(
        description="authorization (Authorization: Bearer KEY, the default) or api-key (Azure's api-key: KEY)"
    ),
]


class _EndpointWire(Shorthand, StrictModel):
    """A model at an endpoint: a bare string is its name; `api_key_env` names a variable, never holds a key."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _name_shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @pydantic.field_validator("api_key_env", check_fields=False)
    @classmethod
    def _a_variable_name(cls, value: str | None) -> str | None:
        return _variable_name(value)

    @pydantic.field_validator("base_url", check_fields=False)
    @classmethod
    def _an_http_url(cls, value: str | None) -> str | None:
        """A typo (`htp://`, a port past 65535) is told here, located, rather than by the first request;
        the message never repeats the URL, which may carry a credential."""
        problem = None if value is None else http_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class ModelWire(_EndpointWire):
    """The model and endpoint; a bare string is the model name (`model: gpt-4o-mini`)."""

    name: str | None = pydantic.Field(None, description="Model name as the endpoint knows it")
    base_url: str | None = pydantic.Field(
        None,
        description="Any OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1; a query (Azure's "
        "?api-version=...) is sent with every request",
    )
    temperature: Annotated[float, pydantic.Field(ge=0, le=2), NOT_BOOLEAN] | None = pydantic.Field(
        None, description="Sampling temperature, 0 to 2 (default 0)"
    )
    max_tokens: Annotated[int, pydantic.Field(gt=0), NOT_BOOLEAN] | None = pydantic.Field(
        None, description="Most tokens the model may answer with a step (default: the endpoint's)"
    )
    api_key_env: ApiKeyEnvField = None
    timeout: TimeoutField = None
    max_retries: MaxRetriesField = None
    tool_choice: ToolChoice | None = pydantic.Field(
        None,
        description="required (default): the model must call a tool each step; auto: it may answer in text "
        "(letta-v1 sends Letta's: required while a tool rule forces a call, else auto)",
    )
    seed: Annotated[int, NOT_BOOLEAN] | None = pydantic.Field(
        None, description="Sampling seed, for endpoints that honour one"
    )
    key_header: KeyHeaderField = None
    stream: Boolean | None = pydantic.Field(
        None, description="Ask for a streamed answer (server-sent events): for models that only stream"
    )
    put_inner_thoughts_in_kwargs: Boolean | None = pydantic.Field(
        None,
        description="Letta's LLMConfig field, for the letta-memgpt loop: true puts the model's inner thoughts in "
        "an `inner_thoughts` argument first on every tool, false leaves them in the answer's text (default: "
        "true for every model but gpt-4, as in Letta)",
    )
    mistral_tool_call_ids: Boolean | None = pydantic.Field(
        None,
        description="true: every tool-call id the harness makes is 9 letters and digits, the only ids Mistral "
        "accepts, the letta-memgpt boot message's too (default false: there a uuid cut to 29 characters, as "
        "Letta 0.6 sends it, which Mistral refuses with HTTP 422)",
    )


def _variable_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(ENV_NAME, value):
        # Never echo the value: it may be the key itself.
        raise ValueError(
            "api_key_env takes the NAME of an environment variable (e.g. OPENAI_API_KEY), never the key: "
            "export the key in that variable"
        )
    return value


class EmbeddingWire(_EndpointWire):
    """The embedding model of archival memory; a bare string is the model name (`embedding: text-embedding-3-small`)."""

    name: str | None = pydantic.Field(None, description="Embedding model name as the endpoint knows it")
    base_url: str | None = pydantic.Field(
        None, description="Any OpenAI-compatible endpoint serving /embeddings, e.g. http://127.0.0.1:8089/v1"
    )
    api_key_env: ApiKeyEnvField = None
    dimensions: Annotated[int, pydantic.Field(gt=0), NOT_BOOLEAN] | None = pydantic.Field(
        None, description="Ask for vectors of this length (models that can shorten theirs, e.g. text-embedding-3-*)"
    )
    timeout: TimeoutField = None
    max_retries: MaxRetriesField = None
    key_header: KeyHeaderField = None


class ClockWire(Shorthand, StrictModel):
    """A frozen clock; a bare timestamp is its start (`clock: 2025-02-11T14:26:32Z`)."""

    start: datetime = pydantic.Field(
        description="The instant the clock shows until the model first answers, with its timezone "
        "(2025-02-11T14:26:32Z, 2025-02-11T06:26:32-08:00)"
    )
    tick: Annotated[float, pydantic.Field(ge=0, le=DAY), NOT_BOOLEAN] = pydantic.Field(
        DEFAULT_TICK,
        description="Seconds the clock moves forward each time the model answers (default 1; at most a day)",
    )
    seed: Annotated[int, NOT_BOOLEAN] = pydantic.Field(
        0, description="Seed of the ids the harness makes (agent, blocks, tool calls)"
    )

    @classmethod
    def shorthand_schema(cls) -> dict[str, Any] | None:
        return {"type": "string", "format": "date-time"}

    @pydantic.model_validator(mode="before")
    @classmethod
    def _start_shorthand(cls, value: Any) -> Any:
        return {"start": value} if isinstance(value, str | datetime) else value

    @pydantic.field_validator("start")
    @classmethod
    def _with_timezone(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"the clock's start {value.isoformat()} has no timezone: add one, e.g. "
                f"{value.replace(microsecond=0).isoformat()}Z (UTC) or {value.replace(microsecond=0).isoformat()}-08:00"
            )
        first, last = CLOCK_YEARS
        if not first <= value.year < last:
            raise ValueError(f"the clock's start {value.isoformat()} must fall in the years {first} to {last - 1}")
        return value

    def spec(self) -> ClockSpec:
        return ClockSpec(self.start, self.tick, self.seed)


class BlockWire(StrictModel):
    label: Annotated[str, pydantic.Field(pattern=BLOCK_LABEL_PATTERN, description="The block's name in the prompt")]
    value: str = pydantic.Field("", description="Initial text")
    limit: Annotated[int, pydantic.Field(gt=0, le=MAX_BLOCK_LIMIT), NOT_BOOLEAN] = pydantic.Field(
        DEFAULT_LIMIT, description="Most characters the block may hold (edits past it are refused; at most ten million)"
    )
    description: str | None = pydantic.Field(None, description="What the block is for (shown to the model)")
    read_only: Boolean = pydantic.Field(False, description="The agent's tools may not edit it")
    metadata: dict[str, Any] = pydantic.Field(default_factory=dict, description="Free-form data kept with it")
    json_schema: dict[str, Any] | None = pydantic.Field(
        None,
        alias="schema",
        description="A JSON Schema the block's value must match once parsed as JSON (a typed block): a write "
        "that breaks it is refused, and the model is told why",
    )

    @pydantic.model_validator(mode="after")
    def _fits(self) -> BlockWire:
        if len(self.value) > self.limit:
            raise ValueError(
                f"value of block '{self.label}' has {len(self.value)} characters, over its limit of "
                f"{self.limit}: raise `limit` or shorten `value`"
            )
        if self.json_schema is not None:
            problem = check_schema(self.json_schema)
            if problem is not None:
                raise ValueError(f"`schema` of block '{self.label}' is not a valid JSON Schema: {problem}")
            problem = schema_problem(self.json_schema, self.value)
            if problem is not None:
                raise ValueError(f"value of block '{self.label}' does not match its `schema`: {problem}")
        return self


_RULE_FIELDS: dict[ToolRuleType, tuple[str, ...]] = {
    ToolRuleType.RUN_FIRST: ("args",),
    ToolRuleType.CONSTRAIN_CHILD_TOOLS: ("children", "child_arg_nodes"),
    ToolRuleType.PARENT_LAST_TOOL: ("children",),
    ToolRuleType.MAX_COUNT_PER_STEP: ("max_count_limit",),
    ToolRuleType.CONDITIONAL: ("child_output_mapping", "default_child", "require_output_mapping"),
}
_RULE_REQUIRED = {"children", "max_count_limit", "child_output_mapping"}
_RULE_KEYS = (  # the keys of some types only, in the order a mistake in them is told
    "children",
    "max_count_limit",
    "child_output_mapping",
    "default_child",
    "require_output_mapping",
    "args",
    "child_arg_nodes",
)
PREFILLED = (
    "are not supported: the harness lets the model give every argument; leave it out (null, or empty, "
    "is taken, as Letta writes it)"
)


class ToolCallNodeWire(StrictModel):
    """Letta's ToolCallNode: a child of a constrain_child_tools rule, with arguments prefilled into its call."""

    name: str = pydantic.Field(description="The child tool")
    args: dict[str, Any] | None = pydantic.Field(None, description="Prefilled arguments: not supported, only null")


class ToolRuleWire(StrictModel):
    """One of Letta's tool rules (letta/schemas/tool_rule.py), keyed by its `type`."""

    type: ToolRuleType = pydantic.Field(description="Letta's rule type (ToolRuleType)")
    tool_name: str = pydantic.Field(description="The tool the rule is about")
    children: Annotated[list[str], pydantic.Field(min_length=1)] | None = pydantic.Field(
        None,
        description="constrain_child_tools: the tools allowed after tool_name; parent_last_tool: the tools "
        "allowed only right after it",
    )
    max_count_limit: Annotated[int, pydantic.Field(ge=1), NOT_BOOLEAN] | None = pydantic.Field(
        None, description="max_count_per_step: calls of tool_name allowed per turn"
    )
    child_output_mapping: Annotated[dict[str, str], pydantic.Field(min_length=1)] | None = pydantic.Field(
        None,
        description="conditional: the tool to call next for each output of tool_name (keys are text, compared "
        "with the output as text, as Letta compares the keys of a rule it keeps as JSON)",
    )
    default_child: str | None = pydantic.Field(None, description="conditional: the next tool when no output matches")
    require_output_mapping: Boolean | None = pydantic.Field(
        None, description="conditional: when no output matches, allow no tool (instead of default_child or any)"
    )
    # Keys Letta writes with every rule it returns, so a rule pasted from Letta's API or an Agent File loads.
    prompt_template: str | None = pydantic.Field(
        None, description="Letta's template of the rule's prompt text, which Letta 0.16.8 ignores: so does the harness"
    )
    args: dict[str, Any] | None = pydantic.Field(
        None, description="run_first: Letta's arguments prefilled into the call; not supported: null or {} only"
    )
    child_arg_nodes: list[ToolCallNodeWire] | None = pydantic.Field(
        None,
        description="constrain_child_tools: Letta's arguments prefilled into a child's call; not supported: "
        "null, [] or nodes without args only",
    )

    @pydantic.field_validator("type", mode="before")
    @classmethod
    def _a_type_the_harness_has(cls, value: Any) -> Any:
        if value == "requires_approval":
            raise ValueError(
                "requires_approval, Letta's rule that a person approve each call, is not supported, on purpose: "
                "a run has no one to ask; remove the rule (the tool then runs unasked)"
            )
        return value

    @pydantic.field_validator("args")
    @classmethod
    def _no_prefilled_arguments(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value:
            raise ValueError(f"prefilled arguments (Letta's `args`) {PREFILLED}")
        return value

    @pydantic.field_validator("child_arg_nodes")
    @classmethod
    def _no_prefilled_child_arguments(cls, value: list[ToolCallNodeWire] | None) -> list[ToolCallNodeWire] | None:
        prefilled = [node.name for node in value or () if node.args]
        if prefilled:
            raise ValueError(
                f"prefilled arguments (Letta's `child_arg_nodes` args, for {', '.join(prefilled)}) {PREFILLED}"
            )
        return value

    @pydantic.field_validator("child_output_mapping", mode="before")
    @classmethod
    def _text_keys(cls, value: Any) -> Any:
        """Letta keeps a rule as JSON, where every key is text matched as text (`str(output) == key`); YAML
        reads an unquoted yes/no/on/off/true/false, a number or null as something else, which would match
        other outputs here than in Letta (and than after an export)."""
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise ValueError(_unquoted_key(key))
        return value

    @pydantic.model_validator(mode="after")
    def _keys_of_its_type(self) -> ToolRuleWire:
        keys = _RULE_FIELDS.get(self.type, ())
        for name in _RULE_KEYS:
            given = getattr(self, name) is not None
            if given and name not in keys:
                raise ValueError(f"`{name}` is not a key of {_a(self.type)} rule")
            if not given and name in keys and name in _RULE_REQUIRED:
                raise ValueError(f"{_a(self.type)} rule needs `{name}`")
        for node in self.child_arg_nodes or ():
            if node.name not in (self.children or ()):  # Letta's ChildToolRule.validate_child_arg_nodes
                raise ValueError(
                    f"ChildToolRule child_arg_nodes contains a node for '{node.name}' which is not in children "
                    f"{self.children}."
                )
        return self

    def rule(self) -> ToolRule:
        return ToolRule(
            type=self.type,
            tool_name=self.tool_name,
            children=tuple(self.children or ()),
            max_count_limit=self.max_count_limit or 0,
            child_output_mapping=tuple((self.child_output_mapping or {}).items()),
            default_child=self.default_child,
            require_output_mapping=bool(self.require_output_mapping),
        )


def _a(kind: ToolRuleType) -> str:
    """'a run_first', 'an exit_loop'."""
    return f"{'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value}"


def _unquoted_key(key: Any) -> str:
    """Why an output key YAML did not read as text is refused, and how to write it."""
    if isinstance(key, bool):
        spellings = "yes, on or true" if key else "no, off or false"
        what = f"{str(key).lower()} is a boolean (YAML reads an unquoted {spellings} so)"
        examples = f"'{'yes' if key else 'no'}' or '{str(key).lower()}'"
    elif key is None:
        what, examples = "null is no value (YAML reads an unquoted null or ~ so)", "'None' or 'null'"
    else:
        what, examples = f"{key!r} is a number", f"'{key!r}'"
    return (
        f"output key {what}: a key is text, compared with the tool's output as text (Letta keeps a rule as "
        f"JSON): quote it as the output reads, e.g. {examples}"
    )


class DeclaredToolWire(StrictModel):
    """A tool declared by its JSON schema alone, with no code (an MCP or API tool, or one an Agent File keeps
    only as a schema): offered to the model as declared; a scenario's `tool_results:` gives what it returns."""

    name: Annotated[str, pydantic.Field(pattern=DECLARED_NAME_PATTERN, description="The function name")]
    description: str = pydantic.Field(description="What the tool does (shown to the model)")
    parameters: dict[str, Any] = pydantic.Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="The JSON Schema of its arguments (an object), as the model is shown it",
    )


# A tool is named (text) or declared (a mapping): a discriminator picks the branch, so a mistake in a declared
# tool is told once, at its key, not also as "should be a valid string" (the tags are left out of locations).
ToolEntryWire = Annotated[
    Annotated[str, pydantic.Tag("tool-name")] | Annotated[DeclaredToolWire, pydantic.Tag("declared-tool")],
    pydantic.Discriminator(
        lambda value: "declared-tool" if isinstance(value, dict | DeclaredToolWire) else "tool-name"
    ),
]


class AgentSettingsWire(StrictModel):
    system: str | None = pydantic.Field(None, description="System prompt; memory is appended after it")
    system_file: str | None = pydantic.Field(None, description="System prompt file, relative to agents.yaml")
    model: ModelWire | None = pydantic.Field(None, description="Model and endpoint (merged over `defaults`)")
    embedding: EmbeddingWire | None = pydantic.Field(
        None,
        description="Embedding model and endpoint of archival memory (merged over `defaults`); needed by "
        "archival_memory_insert and archival_memory_search",
    )
    blocks: list[BlockWire] | None = pydantic.Field(
        None, description="Core memory blocks, rendered into the system prompt (merged by label when extending)"
    )
    tools: list[ToolEntryWire] | None = pydantic.Field(
        None,
        description="Built-in tool names, `module:function` / `path/to/file.py:function` references, or tools "
        "declared by a JSON schema alone ({name, description, parameters})",
    )
    tool_rules: list[ToolRuleWire] | None = pydantic.Field(
        None,
        description="Letta's tool rules: which tools may come first, next or last, and when the turn may end",
    )
    attach_blocks: list[Annotated[str, pydantic.Field(pattern=BLOCK_LABEL_PATTERN)]] | None = pydantic.Field(
        None,
        description="Labels of the file's `shared_blocks` this agent has, after its own blocks: every agent "
        "attached to a block sees the others' edits (Letta's shared blocks)",
    )
    max_steps: Annotated[int, pydantic.Field(ge=1), NOT_BOOLEAN] | None = pydantic.Field(
        None, description="Most model steps per user message (default 10; 50 under letta-v1, Letta 0.16.8's)"
    )
    loop: LoopName | None = pydantic.Field(
        None,
        description="How a turn runs and what is sent: harness (default: the harness's simplified MemGPT "
        "loop), letta-memgpt (Letta 0.6's MemGPT agent, request for request), letta-v1 (Letta's newer "
        "loop: no heartbeats, no send_message needed)",
    )
    clock: ClockWire | None = pydantic.Field(
        None,
        description="A frozen clock (and seeded ids): the time tools and Letta's messages read starts here "
        "and moves by `tick` seconds with each model answer, so replays are byte-identical",
    )
    context_window: Annotated[int, pydantic.Field(ge=MIN_CONTEXT_WINDOW, le=MAX_CONTEXT_WINDOW), NOT_BOOLEAN] | None = (
        pydantic.Field(
            None,
            description="Tokens the agent's context may hold (Letta's llm_config.context_window): past 75% the "
            "agent is warned, past 90% its oldest messages are evicted to recall and summarized (default: no limit)",
            json_schema_extra=not_null_schema,
        )
    )

    memory_warning: Boolean | None = pydantic.Field(
        None,
        description="With a `context_window`: past 75% of it the model gets Letta's memory-pressure warning "
        "once (Letta 0.6's summarizer_settings.send_memory_warning_message; default false, as in Letta, whose "
        "letta-v1 loop has no warning at all)",
    )
    tool_timeout: Annotated[float, pydantic.Field(gt=0, le=DAY), NOT_BOOLEAN] | None = pydantic.Field(
        None,
        description="Seconds a custom tool's call may run: then it is stopped and fails with Letta's text "
        "(`TimeoutError: Executing tool X timed out after 180.0 seconds.`), and the run goes on (default 180, "
        "Letta 0.16.8's tool_sandbox_timeout)",
    )

    @pydantic.field_validator("context_window", mode="before")
    @classmethod
    def _window_given(cls, value: Any) -> Any:
        """`context_window:` left empty set nothing: the agent kept the `defaults:` window, or had none."""
        if value is None:
            raise ValueError(
                f"left empty, it sets nothing: give a number of tokens (at least {MIN_CONTEXT_WINDOW}), or leave "
                "the key out (an agent has no context limit unless it or `defaults:` gives one)"
            )
        return value


class AgentWire(AgentSettingsWire):
    extends: str | None = pydantic.Field(None, description="Name of another agent to inherit from")
    description: str | None = pydantic.Field(None, description="What this agent is for (for people)")
    tags: list[str] | None = pydantic.Field(None, description="Free-form tags (Letta's agent tags)")
    metadata: dict[str, Any] | None = pydantic.Field(None, description="Free-form data kept with the agent")


class AgentsFileWire(StrictModel):
    defaults: AgentSettingsWire | None = pydantic.Field(
        None, description="Settings every agent starts from (an agent's own keys win)"
    )
    shared_blocks: list[BlockWire] | None = pydantic.Field(
        None,
        description="Blocks declared once and attached to several agents with `attach_blocks` (Letta's shared "
        "blocks): an edit by one agent is what the others read next",
    )
    agents: Annotated[
        dict[Annotated[str, pydantic.Field(pattern=AGENT_NAME_PATTERN)], AgentWire],
        pydantic.Field(min_length=1, description="The agents, by name"),
    ]


def json_schema() -> dict[str, Any]:
    """JSON Schema of agents.yaml, for editors (yaml-language-server)."""
    return AgentsFileWire.model_json_schema()


# ---------------------------------------------------------------- runtime specs (what runs)


@dataclass(frozen=True)
class BlockSpec:
    label: str
    value: str
    limit: int = DEFAULT_LIMIT
    description: str | None = None
    read_only: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] | None = None
    shared: bool = False  # one of the file's `shared_blocks`: agents attached to it share its value

    def new_block(self, value: str | None = None, id: str | None = None) -> Block:
        return Block(
            label=self.label,
            value=self.value if value is None else value,
            limit=self.limit,
            description=self.description,
            read_only=self.read_only,
            metadata=dict(self.metadata),
            id=id,
            schema=self.schema,
        )


@dataclass(frozen=True)
class AgentSpec:
    name: str
    system: str
    model: ModelSettings
    blocks: tuple[BlockSpec, ...]
    tools: tuple[Tool, ...]
    max_steps: int = DEFAULT_MAX_STEPS
    description: str | None = None
    tool_rules: tuple[ToolRule, ...] = ()
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    loop: LoopName = DEFAULT_LOOP
    clock: ClockSpec | None = None
    embedding: EmbeddingSettings | None = None  # archival memory's embedding model
    context_window: int | None = None  # tokens; None: no context pressure (harness/context_window.py)
    memory_warning: bool = False  # Letta's send_memory_warning_message (off by default, as in Letta)
    tool_timeout: float = TOOL_SANDBOX_TIMEOUT  # seconds a custom tool's call may run (harness/tools/runtime.py)

    def new_memory(self, overrides: dict[str, str] | None = None, ids: Ids | None = None) -> Memory:
        """Blocks as declared (`overrides`: other values by label); `ids` gives their ids (random if None)."""
        overrides = overrides or {}
        return Memory(
            spec.new_block(overrides.get(spec.label), f"block-{ids.uuid()}" if ids else None) for spec in self.blocks
        )

    def system_message(self, memory: Memory) -> str:
        """The system prompt with compiled memory: at `{CORE_MEMORY}` if present, else after a blank line."""
        compiled = memory.compile()
        rules = ToolRulesSolver(self.tool_rules).compile_prompt() if self.tool_rules else None
        if rules is not None:  # after the blocks, as Letta's Memory.compile(tool_usage_rules=...)
            compiled = f"{compiled}\n\n{rules}" if compiled else rules
        if MEMORY_PLACEHOLDER in self.system:
            return self.system.replace(MEMORY_PLACEHOLDER, compiled)
        return f"{self.system}\n\n{compiled}" if compiled else self.system

    def tool(self, name: str) -> Tool | None:
        return next((tool for tool in self.tools if tool.name == name), None)


@dataclass(frozen=True)
class AgentsConfig:
    path: Path
    agents: dict[str, AgentSpec]

    def get(self, name: str) -> AgentSpec:
        try:
            return self.agents[name]
        except KeyError:
            raise ConfigError(
                [
                    Problem(
                        str(self.path),
                        None,
                        None,
                        "agents",
                        f"no agent named '{name}'; defined: {', '.join(self.agents)}",
                    )
                ]
            ) from None


def load_agents(path: str | os.PathLike[str]) -> AgentsConfig:
    """Load, validate and compile an agents file; every mistake in it is reported in one ConfigError."""
    file = Path(path)
    doc = load_yaml(file, ConfigError)
    wire, problems = validate_document(AgentsFileWire, doc)
    invalid: set[str] = set()
    if wire is None:
        salvaged = _salvage(doc)
        if salvaged is None:
            raise ConfigError(in_line_order(problems + _tool_problems(file, doc, problems)))
        wire, invalid = salvaged
    compiler = _Compiler(file, doc, wire, invalid)
    compiler.shared()  # its mistakes are reported even when no agent attaches a shared block
    agents = {name: spec for name in wire.agents if (spec := compiler.compile(name)) is not None}
    problems += [problem for problem in compiler.problems if problem not in problems]
    if invalid:
        problems += [p for p in _tool_problems(file, doc, problems) if p not in problems]
    if problems:
        raise ConfigError(in_line_order(problems))
    return AgentsConfig(file, agents)


def _salvage(doc: YamlDocument) -> tuple[AgentsFileWire, set[str]] | None:
    """The sections of an invalid file that are valid on their own, so their mistakes (an unknown tool,
    a bad `extends`, a missing prompt file) are reported in the same run as the invalid ones; None when
    the file's shape is too broken to tell its agents apart. Returns the names of the invalid agents and
    `"defaults"` when `defaults` is invalid."""
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("agents"), dict) or not data["agents"]:
        return None
    invalid: set[str] = set()
    defaults = None
    if data.get("defaults") is not None:
        try:
            defaults = AgentSettingsWire.model_validate(data["defaults"])
        except pydantic.ValidationError:
            invalid.add(DEFAULTS)
    agents: dict[str, AgentWire] = {}
    for name, section in data["agents"].items():
        try:
            if not isinstance(name, str) or not re.fullmatch(AGENT_NAME_PATTERN, name):
                raise ValueError(name)
            agents[name] = AgentWire.model_validate(section if section is not None else {})
        except (pydantic.ValidationError, ValueError):
            invalid.add(str(name))
    shared: list[BlockWire] | None = None
    if data.get(SHARED_BLOCKS) is not None:
        try:
            shared = pydantic.TypeAdapter(list[BlockWire]).validate_python(data[SHARED_BLOCKS])
        except pydantic.ValidationError:
            invalid.add(SHARED_BLOCKS)
    return AgentsFileWire.model_construct(defaults=defaults, agents=agents, shared_blocks=shared), invalid


DEFAULTS = "defaults"  # in `_salvage`'s invalid set: the `defaults` section is invalid
SHARED_BLOCKS = "shared_blocks"  # in `_salvage`'s invalid set: the `shared_blocks` section is invalid


def _tool_problems(file: Path, doc: YamlDocument, known: list[Problem]) -> list[Problem]:
    """Tool references that cannot resolve, found in the raw data when the file is invalid otherwise too:
    a misspelt key and a misspelt tool are reported in the same run."""
    sections = doc.data if isinstance(doc.data, dict) else {}
    places: list[tuple[Loc, Any]] = [(("defaults", "tools"), (sections.get("defaults") or {}))]
    agents = sections.get("agents")
    if isinstance(agents, dict):
        places += [(("agents", name, "tools"), agent) for name, agent in agents.items()]
    found: list[Problem] = []
    for loc, section in places:
        tools = section.get("tools") if isinstance(section, dict) else None
        for index, reference in enumerate(tools if isinstance(tools, list) else []):
            if not isinstance(reference, str):
                continue
            try:
                resolve_tool(reference, file.parent)
            except ToolDefinitionError as exc:
                problem = doc.problem((*loc, index), str(exc))
                if problem not in known and problem not in found:
                    found.append(problem)
    return found


def _block_spec(wire: BlockWire, shared: bool = False) -> BlockSpec:
    return BlockSpec(
        label=wire.label,
        value=wire.value,
        limit=wire.limit,
        description=wire.description,
        read_only=wire.read_only,
        metadata=wire.metadata,
        schema=wire.json_schema,
        shared=shared,
    )


def _embedding_settings(values: dict[str, Any]) -> EmbeddingSettings | None:
    if not values:
        return None
    if "key_header" in values:
        values = {**values, "key_header": KeyHeader(values["key_header"])}
    return EmbeddingSettings(**values)


def _model_settings(values: dict[str, Any], loop: LoopName = DEFAULT_LOOP) -> ModelSettings:
    """The model settings, with the loop's defaults (Letta's temperature) and the fields it adds to every
    request (Letta 0.6's)."""
    values = {
        "temperature": default_temperature(loop),
        "tool_choice": default_tool_choice(loop),
        **values,
        "extra_body": extra_body(loop),
        "tools_body": tools_body(loop),
        "parallel_by_model": parallel_by_model(loop),
    }
    if "tool_choice" in values:
        values = {**values, "tool_choice": ToolChoice(values["tool_choice"])}
    if "key_header" in values:
        values = {**values, "key_header": KeyHeader(values["key_header"])}
    return ModelSettings(**values)


@dataclass
class _Merged:
    """An agent's settings with `defaults` and its ancestors merged in (before tools are resolved)."""

    system_given: bool = False
    system_text: str | None = None
    model: dict[str, Any] = field(default_factory=dict)
    embedding: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, tuple[Loc, BlockWire]] = field(default_factory=dict)
    tool_refs: tuple[Loc, list[str | DeclaredToolWire]] | None = None
    tool_rules: tuple[Loc, list[ToolRuleWire]] | None = None
    attach_blocks: tuple[Loc, list[str]] | None = None
    max_steps: int | None = None  # None: the loop's default
    failed: bool = False  # a layer it inherits has a mistake (reported once, where it is)
    loop: LoopName = DEFAULT_LOOP
    clock: ClockSpec | None = None
    context_window: int | None = None
    memory_warning: bool = False
    tool_timeout: float = TOOL_SANDBOX_TIMEOUT
    system_from: Loc | None = None  # where `system` or `system_file` was set
    loop_from: Loc | None = None  # the layer that set `loop` (None: the default)
    tool_choice_from: Loc | None = None  # where `tool_choice` was set (None: the loop's default)


class _Compiler:
    def __init__(self, file: Path, doc: YamlDocument, wire: AgentsFileWire, invalid: set[str] | None = None) -> None:
        self.file = file
        self.doc = doc
        self.wire = wire
        # Sections already reported invalid: what depends on them is not reported again (it may be fine).
        self.invalid = invalid or set()
        self.problems: list[Problem] = []
        self._reported: set[Problem] = set()  # the problems, for a membership test that stays O(1)
        self.failed = False
        self._tools: dict[str, Tool | None] = {}
        self._memo: dict[str, _Merged | None] = {}
        self._defaults_merged: _Merged | None = None
        self._shared_blocks: dict[str, BlockWire] | None = None

    def fail(self, loc: Loc, message: str) -> None:
        self.failed = True
        problem = self.doc.problem(loc, message)
        if problem not in self._reported:  # a mistake in `defaults` or a parent is met by every agent using it
            self._reported.add(problem)
            self.problems.append(problem)

    def compile(self, name: str) -> AgentSpec | None:
        merged = self._merged(name)
        if merged is None:
            return None
        here: Loc = ("agents", name)
        self.failed = merged.failed
        defaults_valid = DEFAULTS not in self.invalid  # else it may have given what seems missing
        if not merged.system_given and defaults_valid:
            self.fail(here, "no system prompt: set `system` or `system_file` (here or in `defaults`)")
        if "name" not in merged.model and defaults_valid:
            self.fail(here, "no model: set `model: <name>` or a `model:` mapping (here or in `defaults`)")
        tool_refs = merged.tool_refs
        tools = self._tools_for(tool_refs, (name, merged.loop)) if tool_refs else ()
        replies_in_text = merged.loop is LoopName.LETTA_V1  # its turn ends with text: no send_message needed
        if not replies_in_text and not any(t.name == "send_message" for t in tools) and (tool_refs or defaults_valid):
            self.fail(tool_refs[0] if tool_refs else here, "the agent cannot reply: add `send_message` to `tools`")
        required = merged.model.get("tool_choice") == ToolChoice.REQUIRED
        if merged.loop is LoopName.LETTA_V1 and required and merged.tool_choice_from is not None:
            own = self._layer_of(merged.tool_choice_from) == here
            self.fail(
                merged.tool_choice_from,
                f"agent '{name}' runs the letta-v1 loop, which sends tool_choice as Letta 0.16.8 does: `required` "
                "while a tool rule forces a call, else `auto`, as its turn ends on an answer without a call "
                "(`required` on every request would never let one end): "
                + ("remove it" if own else f"set `model: {{tool_choice: auto}}` on agent '{name}'"),
            )
        unformattable = (
            letta_format_problem(merged.system_text)
            if merged.loop is LoopName.LETTA_MEMGPT and merged.system_text is not None
            else None
        )
        if unformattable is not None:
            self.fail(
                merged.system_from or here,
                f"agent '{name}' runs the letta-memgpt loop, and Letta 0.6.23 cannot fill its memory into this "
                f"system prompt (`Failed to format system prompt - {unformattable}`: it reads the prompt with "
                "Python's str.format, as `{CORE_MEMORY}` shows): write a brace that is text doubled, `{{` and `}}`",
            )
        rules = self._rules_for(name, merged, tools) if merged.tool_rules else ()
        blocks = [_block_spec(wire) for _, wire in merged.blocks.values()]
        if merged.attach_blocks is not None:
            blocks += self._attached(merged.attach_blocks, merged.blocks)
        if merged.embedding and "name" not in merged.embedding and defaults_valid:
            self.fail(here, "`embedding:` has no `name`: give the embedding model's name (here or in `defaults`)")
        needing = [
            tool.name for tool in tools if tool.name in ARCHIVAL_TOOLS and tool.function is BUILTIN_TOOLS[tool.name]
        ]
        if needing and not merged.embedding and tool_refs and defaults_valid:
            self.fail(
                tool_refs[0],
                f"{' and '.join(needing)} need{'s' if len(needing) == 1 else ''} an embedding model: add "
                "`embedding: {name: ..., base_url: ...}` beside `model:` (here or in `defaults`)",
            )
        if self.failed or self.invalid or merged.system_text is None:  # the file has mistakes: no specs
            return None
        terminal = {rule.tool_name for rule in rules if rule.type is ToolRuleType.EXIT_LOOP}
        # An exit_loop tool ends the turn, so (as in Letta) it is offered without request_heartbeat.
        tools = tuple(replace(tool, terminal=True) if tool.name in terminal else tool for tool in tools)
        return AgentSpec(
            name=name,
            system=merged.system_text,
            model=_model_settings(merged.model, merged.loop),
            embedding=_embedding_settings(merged.embedding),
            blocks=tuple(blocks),
            tools=tools,
            max_steps=default_max_steps(merged.loop) if merged.max_steps is None else merged.max_steps,
            description=self.wire.agents[name].description,
            tool_rules=rules,
            tags=tuple(self.wire.agents[name].tags or ()),
            metadata=dict(self.wire.agents[name].metadata or {}),
            loop=merged.loop,
            clock=merged.clock,
            context_window=merged.context_window,
            memory_warning=merged.memory_warning,
            tool_timeout=merged.tool_timeout,
        )

    def _merged(self, name: str) -> _Merged | None:
        """`defaults`, then every ancestor, then the agent itself, merged; None after reporting a bad
        `extends`. Each agent is merged once, over its parent's result: a long chain stays linear."""
        path: list[str] = []
        on_path: set[str] = set()
        current = name
        while current not in self._memo:
            if current in on_path:
                self._report_loop(path[path.index(current) :])
                for link in path:
                    self._memo[link] = None
                return None
            path.append(current)
            on_path.add(current)
            parent = self.wire.agents[current].extends
            if parent is None:
                break
            if parent in self.invalid:
                for link in path:
                    self._memo[link] = None
                return None
            if parent not in self.wire.agents:
                loc: Loc = ("agents", current, "extends")
                self.fail(loc, f"no agent named '{parent}' to extend; defined: {', '.join(self._all_names())}")
                for link in path:  # their own mistakes are reported all the same, in this run
                    self._memo[link] = None
                    own = self._apply(self._defaults(), ("agents", link), self.wire.agents[link])
                    if own.tool_refs:
                        self._tools_for(own.tool_refs)
                return None
            current = parent
        base = self._memo[current] if current in self._memo and current not in path else self._defaults()
        for link in reversed(path):
            base = None if base is None else self._apply(base, ("agents", link), self.wire.agents[link])
            self._memo[link] = base
        return self._memo[name]

    def _all_names(self) -> list[str]:
        """Every agent the file names, the invalid ones included (they exist, with a mistake)."""
        data = self.doc.data
        agents = data.get("agents") if isinstance(data, dict) else None
        return [str(name) for name in agents] if isinstance(agents, dict) else list(self.wire.agents)

    def _report_loop(self, cycle: list[str]) -> None:
        """Each agent of a loop of `extends` gets the loop told from itself, at the link that closes it (a
        long loop told by its ends: told whole, 8000 agents made 8000 messages of 8000 names)."""
        n = len(cycle)
        for start in range(n):
            if n + 1 > LOOP_TOLD:
                ends = [cycle[(start + i) % n] for i in (0, 1, 2)], [cycle[(start + i) % n] for i in (-2, -1, 0)]
                turn = [*ends[0], f"... {n + 1 - 6} more ...", *ends[1]]
            else:
                turn = [*cycle[start:], *cycle[:start], cycle[start]]
            self.fail(("agents", cycle[start - 1], "extends"), f"`extends` loops: {' -> '.join(turn)}")

    def _defaults(self) -> _Merged:
        if self._defaults_merged is None:
            base = _Merged()
            defaults = self.wire.defaults
            self._defaults_merged = base if defaults is None else self._apply(base, ("defaults",), defaults)
        return self._defaults_merged

    def _apply(self, base: _Merged, loc: Loc, layer: AgentSettingsWire) -> _Merged:
        merged = _Merged(
            base.system_given,
            base.system_text,
            dict(base.model),
            dict(base.embedding),
            dict(base.blocks),
            base.tool_refs,
            base.tool_rules,
            base.attach_blocks,
            base.max_steps,
            base.failed,
            base.loop,
            base.clock,
            base.context_window,
            base.memory_warning,
            base.tool_timeout,
            base.system_from,
            base.loop_from,
            base.tool_choice_from,
        )
        failed_before, self.failed = self.failed, False
        if layer.system is not None and layer.system_file is not None:
            self.fail((*loc, "system_file"), "give either `system` or `system_file`, not both")
        if layer.system is not None or layer.system_file is not None:
            merged.system_given = True
        if layer.system is not None:
            merged.system_text = layer.system
            merged.system_from = (*loc, "system")
        elif layer.system_file is not None:
            merged.system_from = (*loc, "system_file")
            merged.system_text = self._read_system_file((*loc, "system_file"), layer.system_file)
        if layer.model is not None:
            merged.model.update(layer.model.model_dump(exclude_none=True))
            if layer.model.tool_choice is not None:
                merged.tool_choice_from = (*loc, "model", "tool_choice")
        if layer.embedding is not None:
            merged.embedding.update(layer.embedding.model_dump(exclude_none=True))
        if layer.blocks is not None:
            seen: set[str] = set()
            for index, block in enumerate(layer.blocks):
                if block.label in seen:
                    self.fail((*loc, "blocks", index, "label"), f"duplicate block label '{block.label}'")
                seen.add(block.label)
                merged.blocks[block.label] = ((*loc, "blocks", index), block)
        if layer.tools is not None:
            merged.tool_refs = ((*loc, "tools"), layer.tools)
        if layer.tool_rules is not None:
            merged.tool_rules = ((*loc, "tool_rules"), layer.tool_rules)
        if layer.attach_blocks is not None:
            merged.attach_blocks = ((*loc, "attach_blocks"), layer.attach_blocks)
        if layer.max_steps is not None:
            merged.max_steps = layer.max_steps
        if layer.loop is not None:
            merged.loop = layer.loop
            merged.loop_from = loc
        if layer.clock is not None:
            merged.clock = layer.clock.spec()
        if layer.context_window is not None:
            merged.context_window = layer.context_window
        if layer.memory_warning is not None:
            merged.memory_warning = layer.memory_warning
        if layer.tool_timeout is not None:
            merged.tool_timeout = layer.tool_timeout
        merged.failed = merged.failed or self.failed
        self.failed = failed_before
        return merged

    def shared(self) -> dict[str, BlockWire]:
        """The file's `shared_blocks` by label (a duplicate label is reported once, where it is)."""
        if self._shared_blocks is None:
            self._shared_blocks = {}
            for index, block in enumerate(self.wire.shared_blocks or ()):
                if block.label in self._shared_blocks:
                    self.problems.append(
                        self.doc.problem(("shared_blocks", index, "label"), f"duplicate block label '{block.label}'")
                    )
                self._shared_blocks[block.label] = block
        return self._shared_blocks

    def _attached(self, refs: tuple[Loc, list[str]], own: dict[str, tuple[Loc, BlockWire]]) -> list[BlockSpec]:
        """The shared blocks an agent attaches, after checking each label names one (and not one of its own)."""
        loc, labels = refs
        shared = self.shared()
        specs: list[BlockSpec] = []
        for index, label in enumerate(labels):
            if label not in shared and SHARED_BLOCKS in self.invalid:
                continue  # reported where the section is invalid
            if label not in shared:
                names = list(shared)
                close = difflib.get_close_matches(label, names, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                known = f"shared blocks: {', '.join(names)}" if names else "the file declares no `shared_blocks`"
                self.fail((*loc, index), f"no shared block '{label}'; {hint}{known}")
            elif label in own:
                self.fail(
                    (*loc, index), f"the agent has a block '{label}' of its own: give one of the two another label"
                )
            elif label in labels[:index]:
                self.fail((*loc, index), f"'{label}' is attached twice")
            else:
                specs.append(_block_spec(shared[label], shared=True))
        return specs

    def _read_system_file(self, loc: Loc, relative: str) -> str | None:
        """The prompt file's text, its line endings folded as Letta's text-mode read folds them (a CRLF
        checkout sends the prompt an LF one recorded) and its trailing newlines dropped."""
        try:
            path = confined(self.file.parent, relative)
        except OutsideProject as exc:
            self.fail(loc, f"system prompt file {exc}")
            return None
        try:
            return universal_newlines(read_text(path)).rstrip("\n")
        except TooBig as exc:
            if exc.line is None:
                self.fail(loc, f"system prompt file '{path}': {exc}")
            else:  # where in the prompt file (a byte that is not UTF-8, a NUL), as an editor's go-to takes it
                self.fail(loc, f"system prompt file {path}:{exc.line}:{exc.column}: {exc}")
            return None
        except OSError as exc:
            self.fail(loc, f"cannot read system prompt file '{path}': {exc.strerror or exc}")
            return None

    def _rules_for(self, agent: str, merged: _Merged, tools: tuple[Tool, ...]) -> tuple[ToolRule, ...]:
        """The rules, after checking that every tool they name is one of the agent's, and that they let a
        turn of the agent's loop end. Rules an agent inherits are judged with what it has: when it (or a
        layer between) changed its tools or loop, a problem there is this agent's, and names it."""
        assert merged.tool_rules is not None
        loc, wires = merged.tool_rules
        names = [tool.name for tool in tools]
        chain = self._layers(agent)
        rules_at = chain.index(self._layer_of(loc))
        tools_loc = merged.tool_refs[0] if merged.tool_refs else None
        tools_here = tools_loc is not None and chain.index(self._layer_of(tools_loc)) > rules_at
        rules = []
        for index, wire in enumerate(wires):
            rule = wire.rule()
            for name in dict.fromkeys(rule.tool_names()):
                if name not in names:
                    close = difflib.get_close_matches(name, names, n=1)
                    hint = f"did you mean '{close[0]}'? " if close else ""
                    if tools_here and tools_loc is not None:  # the tools were changed below the rule
                        line, _ = self.doc.locate((*loc, index))
                        self.fail(
                            tools_loc,
                            f"tool rule {dotted((*loc, index))} (line {line}), which agent '{agent}' inherits, names "
                            f"'{name}', not one of its tools; {hint}its tools: {', '.join(names)}",
                        )
                    else:
                        self.fail(
                            (*loc, index),
                            f"tool rule names '{name}', not a tool of this agent; {hint}its tools: {', '.join(names)}",
                        )
            rules.append(rule)
        if not self.failed:
            ends = turn_ends(merged.loop, merged.model.get("tool_choice", default_tool_choice(merged.loop)))
            reason = unfinishable(rules, names, ends)
            if reason is not None:
                settings = (tools_loc, merged.loop_from, merged.tool_choice_from)
                below = [chain.index(self._layer_of(at)) > rules_at for at in settings if at is not None]
                whose = f"a turn of agent '{agent}', which inherits them," if any(below) else "a turn"
                self.fail(loc, f"these tool rules can never let {whose} finish: {reason}")
        return tuple(rules)

    def _layers(self, agent: str) -> list[Loc]:
        """The layers an agent's settings come from, first to last: `defaults`, its ancestors, itself."""
        chain: list[Loc] = []
        current: str | None = agent
        while current is not None and ("agents", current) not in chain:  # a loop of `extends` is told elsewhere
            chain.append(("agents", current))
            current = self.wire.agents[current].extends if current in self.wire.agents else None
        return [("defaults",), *reversed(chain)]

    @staticmethod
    def _layer_of(loc: Loc) -> Loc:
        """The layer (`defaults` or an agent) a setting's location is in."""
        return loc[:1] if loc[0] == "defaults" else loc[:2]

    def _tools_for(
        self, refs: tuple[Loc, list[str | DeclaredToolWire]], runs: tuple[str, LoopName] | None = None
    ) -> tuple[Tool, ...]:
        """The tools `refs` name; with `runs` (the agent and its loop), those the loop cannot run reported."""
        loc, names = refs
        tools: list[Tool] = []
        for index, reference in enumerate(names):
            if isinstance(reference, DeclaredToolWire):
                try:
                    tool: Tool | None = declared_tool(reference.name, reference.description, reference.parameters)
                except ToolDefinitionError as exc:
                    self.fail((*loc, index, "parameters"), str(exc))
                    continue
            else:
                if reference not in self._tools:
                    try:
                        self._tools[reference] = resolve_tool(reference, self.file.parent)
                    except ToolDefinitionError as exc:
                        self._tools[reference] = None
                        self.fail((*loc, index), str(exc))
                tool = self._tools[reference]
            if tool is None:
                continue
            if any(t.name == tool.name for t in tools):
                self.fail((*loc, index), f"two tools are named '{tool.name}'")
                continue
            custom = tool.declared_parameters is None and BUILTIN_TOOLS.get(tool.name) is not tool.function
            if runs is not None and runs[1] is LoopName.LETTA_MEMGPT and custom:
                problem = letta_memgpt_problem(tool.function, runs[0])
                if problem is not None:
                    self.fail((*loc, index), problem)
            tools.append(tool)
        return tuple(tools)
