"""Strict wire models of Letta's Agent File, mirrored from letta/schemas/agent_file.py (AgentFileSchema and
the Create* models it extends) and from real files in letta-ai/agent-file.

Every key a real file holds is named here, so an unknown key is a located error rather than a silent loss;
what the harness does not interpret stays `Any` and is reported by the importer when it is not empty. The
same models check what `harness export` writes: where Letta requires a field, so do they.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from harness.wire import StrictModel

# letta/schemas/llm_config.py: LLMConfig.model_endpoint_type
EndpointType = Literal[
    "openai",
    "anthropic",
    "google_ai",
    "google_vertex",
    "azure",
    "groq",
    "ollama",
    "webui",
    "webui-legacy",
    "lmstudio",
    "lmstudio-legacy",
    "lmstudio-chatcompletions",
    "llamacpp",
    "koboldcpp",
    "vllm",
    "hugging-face",
    "minimax",
    "mistral",
    "together",
    "bedrock",
    "deepseek",
    "xai",
    "zai",
    "fireworks",
    "openrouter",
    "chatgpt_oauth",
]


class LLMConfigWire(StrictModel):
    """letta.schemas.llm_config.LLMConfig: `model`, `model_endpoint_type` and `context_window` required."""

    model: str
    model_endpoint_type: EndpointType
    context_window: int
    display_name: str | None = None
    model_endpoint: str | None = None
    provider_name: str | None = None
    provider_category: str | None = None
    model_wrapper: str | None = None
    put_inner_thoughts_in_kwargs: bool | None = False
    handle: str | None = None
    temperature: float = 1.0
    max_tokens: int | None = None
    enable_reasoner: bool = True
    reasoning_effort: str | None = None
    max_reasoning_tokens: int = 0
    effort: str | None = None
    frequency_penalty: float | None = None
    compatibility_type: str | None = None
    verbosity: str | None = None
    tier: str | None = None
    parallel_tool_calls: bool | None = False
    response_format: Any = None
    strict: bool = False
    return_logprobs: bool = False
    top_logprobs: int | None = None
    return_token_ids: bool = False
    tool_call_parser: Any = None


class EmbeddingConfigWire(StrictModel):
    """letta.schemas.embedding_config.EmbeddingConfig (kept only to be reported: the harness embeds nothing)."""

    embedding_endpoint_type: str
    embedding_model: str
    embedding_dim: int
    embedding_endpoint: str | None = None
    embedding_chunk_size: int | None = 300
    handle: str | None = None
    batch_size: int | None = None
    azure_endpoint: str | None = None
    azure_version: str | None = None
    azure_deployment: str | None = None


class BlockWire(StrictModel):
    """letta.schemas.agent_file.BlockSchema (CreateBlock with a file-local id)."""

    id: str
    label: str
    value: str
    limit: int | None = None
    description: str | None = None
    read_only: bool = False
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    hidden: bool | None = None
    template_name: str | None = None
    is_template: bool = False
    preserve_on_migration: bool | None = False
    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    deployment_id: str | None = None
    entity_id: str | None = None


class ToolWire(StrictModel):
    """letta.schemas.agent_file.ToolSchema (Tool with a file-local id)."""

    id: str
    name: str | None = None
    tool_type: str | None = None
    description: str | None = None
    source_type: str | None = None
    source_code: str | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    tags: list[str] = pydantic.Field(default_factory=list)
    return_char_limit: int | None = None
    pip_requirements: Any = None
    npm_requirements: Any = None
    default_requires_approval: bool | None = None
    enable_parallel_execution: bool | None = None
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    metadata_: dict[str, Any] | None = None
    project_id: str | None = None


class AgentWire(StrictModel):
    """letta.schemas.agent_file.AgentSchema (CreateAgent with a file-local id, its messages and links)."""

    id: str
    name: str
    system: str | None = None
    agent_type: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    llm_config: LLMConfigWire | None = None
    embedding_config: EmbeddingConfigWire | None = None
    block_ids: list[str] | None = None
    tool_ids: list[str] | None = None
    tool_rules: list[dict[str, Any]] | None = None
    messages: list[dict[str, Any]] = pydantic.Field(default_factory=list)
    in_context_message_ids: list[str] = pydantic.Field(default_factory=list)
    tool_exec_environment_variables: Any = None
    secrets: Any = None
    timezone: str | None = None
    # Carried by Letta's CreateAgent; the harness has no use for them and reports those that are set.
    memory_blocks: list[Any] | None = None
    tools: list[Any] | None = None
    source_ids: list[str] | None = None
    folder_ids: list[str] | None = None
    initial_message_sequence: Any = None
    include_base_tools: bool | None = None
    include_multi_agent_tools: bool | None = None
    include_base_tool_rules: bool | None = None
    include_default_source: bool | None = None
    model: Any = None
    embedding: Any = None
    model_settings: Any = None
    compaction_settings: Any = None
    context_window_limit: int | None = None
    embedding_chunk_size: int | None = None
    max_tokens: int | None = None
    max_reasoning_tokens: int | None = None
    enable_reasoner: bool | None = None
    reasoning: Any = None
    from_template: Any = None
    template: bool | None = None
    project: Any = None
    memory_variables: Any = None
    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    identity_ids: Any = None
    message_buffer_autoclear: bool | None = None
    enable_sleeptime: bool | None = None
    response_format: Any = None
    max_files_open: int | None = None
    per_file_view_window_char_limit: int | None = None
    hidden: bool | None = None
    parallel_tool_calls: bool | None = None
    files_agents: list[Any] = pydantic.Field(default_factory=list)
    group_ids: list[str] = pydantic.Field(default_factory=list)


class AgentFileWire(StrictModel):
    """letta.schemas.agent_file.AgentFileSchema; `skills` is in files exported by newer Letta servers."""

    agents: list[AgentWire]
    groups: list[dict[str, Any]]
    blocks: list[BlockWire]
    files: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    tools: list[ToolWire]
    mcp_servers: list[dict[str, Any]]
    skills: list[dict[str, Any]] | None = None
    metadata: dict[str, str] = pydantic.Field(default_factory=dict)
    created_at: str | None = None


# ---------------------------------------------------------------- the older single-agent export (letta 0.6-0.8)
# Letta 0.6.43 (the first files of letta-ai/agent-file) dumped every ORM column of an agent, block and tool,
# later releases excluded some (letta/serialize_schemas/marshmallow_*.py): `is_deleted` (an export holds no
# deleted rows), and the identities and groups a row belongs to. They are named here so such a file reads; an
# agent's identities and groups are reported when not empty, a block's or tool's are not kept.


class LegacyBlockWire(StrictModel):
    label: str
    value: str
    limit: int | None = None
    description: str | None = None
    read_only: bool = False
    metadata_: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    is_template: bool = False
    template_name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    is_deleted: bool = False
    identities: list[Any] = pydantic.Field(default_factory=list)
    groups: list[Any] = pydantic.Field(default_factory=list)


class LegacyToolWire(StrictModel):
    name: str
    tool_type: str | None = None
    description: str | None = None
    source_type: str | None = None
    source_code: str | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    tags: list[str] = pydantic.Field(default_factory=list)
    return_char_limit: int | None = None
    metadata_: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    is_deleted: bool = False


class LegacyAgentWire(StrictModel):
    """The whole file of a letta 0.6-0.8 export: one agent, its blocks and tools inline."""

    name: str
    system: str | None = None
    agent_type: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    metadata_: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    llm_config: LLMConfigWire | None = None
    embedding_config: EmbeddingConfigWire | None = None
    core_memory: list[LegacyBlockWire] = pydantic.Field(default_factory=list)
    tools: list[LegacyToolWire] = pydantic.Field(default_factory=list)
    tool_rules: list[dict[str, Any]] | None = None
    messages: list[dict[str, Any]] = pydantic.Field(default_factory=list)
    in_context_message_indices: list[int] = pydantic.Field(default_factory=list)
    tool_exec_environment_variables: Any = None
    message_buffer_autoclear: bool | None = None
    multi_agent_group: Any = None
    version: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    is_deleted: bool = False
    identities: list[Any] = pydantic.Field(default_factory=list)
    groups: list[Any] = pydantic.Field(default_factory=list)
