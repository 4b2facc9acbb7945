"""The mirror of Letta's AgentFileSchema requires what Letta requires: an export it accepts, Letta's models
would accept as far as the fields the harness writes go."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from harness.agentfile.schema import AgentFileWire, BlockWire, LLMConfigWire
from tests.agentfile.conftest import DATA, load_json

LLM = {"model": "gpt-4o-mini", "model_endpoint_type": "openai", "context_window": 128000}


@pytest.mark.parametrize("key", ["agents", "groups", "blocks", "files", "sources", "tools", "mcp_servers"])
def test_every_list_letta_requires_is_required(key: str) -> None:
    data: dict[str, Any] = load_json(DATA / "current_memgpt_agent.af")
    del data[key]
    with pytest.raises(pydantic.ValidationError, match=key):
        AgentFileWire.model_validate(data)


@pytest.mark.parametrize("key", ["model", "model_endpoint_type", "context_window"])
def test_llm_config_requires_what_letta_requires(key: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=key):
        LLMConfigWire.model_validate({k: v for k, v in LLM.items() if k != key})


def test_llm_config_defaults_are_letta_s() -> None:
    config = LLMConfigWire.model_validate(LLM)
    assert (config.temperature, config.enable_reasoner, config.put_inner_thoughts_in_kwargs) == (1.0, True, False)


def test_endpoint_type_is_one_of_letta_s() -> None:
    with pytest.raises(pydantic.ValidationError, match="model_endpoint_type"):
        LLMConfigWire.model_validate({**LLM, "model_endpoint_type": "my_server"})


@pytest.mark.parametrize("key", ["id", "label", "value"])
def test_a_block_needs_its_id_label_and_value(key: str) -> None:
    block = {"id": "block-0", "label": "human", "value": "x"}
    with pytest.raises(pydantic.ValidationError, match=key):
        BlockWire.model_validate({k: v for k, v in block.items() if k != key})
