"""agents.yaml's `embedding:` (archival memory's model): strict, merged like `model:`, required by the
archival tools, and part of the agent's fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.config import AgentsConfig, load_agents
from harness.errors import ConfigError
from harness.fingerprint import agent_fingerprint, fingerprint_changes
from harness.llm.settings import EmbeddingSettings, KeyHeader

Load = Callable[[str], AgentsConfig]

BASE = """
defaults:
  model: m
  system: s
  embedding: {{name: text-embedding-3-small, dimensions: 256}}
agents:
  a:
    tools: [send_message, archival_memory_insert, archival_memory_search]
    {own}
  b:
    extends: a
    embedding: {{base_url: "http://127.0.0.1:8089/v1", key_header: api-key, api_key_env: EMBED_KEY}}
"""


def test_embedding_merges_over_defaults_and_parents(load_text: Load) -> None:
    config = load_text(BASE.format(own=""))
    assert config.get("a").embedding == EmbeddingSettings(name="text-embedding-3-small", dimensions=256)
    assert config.get("b").embedding == EmbeddingSettings(
        name="text-embedding-3-small",
        base_url="http://127.0.0.1:8089/v1",
        dimensions=256,
        key_header=KeyHeader.API_KEY,
        api_key_env="EMBED_KEY",
    )


def test_a_bare_string_is_the_name(load_text: Load) -> None:
    config = load_text(BASE.format(own="embedding: all-minilm-l6-v2"))
    assert config.get("a").embedding == EmbeddingSettings(name="all-minilm-l6-v2", dimensions=256)


def test_an_agent_without_one_has_none(seed_config: AgentsConfig) -> None:
    assert seed_config.get("chat").embedding is None
    assert seed_config.get("chat_archival").embedding == EmbeddingSettings(
        name="all-minilm-l6-v2", base_url="http://127.0.0.1:8089/v1", max_retries=0
    )


def problems(write_agents: Callable[[str], Path], text: str) -> str:
    path = write_agents(text)
    with pytest.raises(ConfigError) as info:
        load_agents(path)
    assert info.value.exit_code == 2
    return str(info.value)


def test_unknown_keys_are_located_with_the_valid_ones(write_agents: Callable[[str], Path]) -> None:
    text = problems(write_agents, BASE.format(own="embedding: {name: e, dimension: 3}"))
    assert "agents.yaml:8:" in text and "agents.a.embedding.dimension: unknown key 'dimension'" in text
    assert "did you mean 'dimensions'?" in text
    assert "valid keys: name, base_url, api_key_env, dimensions, timeout, max_retries, key_header" in text


def test_a_key_in_api_key_env_is_refused_without_echoing_it(write_agents: Callable[[str], Path]) -> None:
    text = problems(write_agents, BASE.format(own="embedding: {api_key_env: sk-secret-value-123}"))
    assert "agents.a.embedding.api_key_env" in text and "takes the NAME of an environment variable" in text
    assert "sk-secret-value-123" not in text


def test_bad_values_are_located(write_agents: Callable[[str], Path]) -> None:
    text = problems(write_agents, BASE.format(own="embedding: {dimensions: 0, key_header: bearer}"))
    assert "agents.a.embedding.dimensions: Input should be greater than 0" in text
    assert "agents.a.embedding.key_header" in text and "'authorization' or 'api-key'" in text


def test_archival_tools_need_an_embedding_model(write_agents: Callable[[str], Path]) -> None:
    text = problems(
        write_agents,
        """
        defaults: {model: m, system: s}
        agents:
          a:
            tools: [send_message, archival_memory_search]
        """,
    )
    assert "agents.yaml:4:" in text
    assert "agents.a.tools: archival_memory_search needs an embedding model: add `embedding: {name: ..., " in text


def test_an_embedding_without_a_name(write_agents: Callable[[str], Path]) -> None:
    text = problems(
        write_agents,
        """
        defaults: {model: m, system: s}
        agents:
          a:
            embedding: {base_url: "http://127.0.0.1:8089/v1"}
            tools: [send_message, archival_memory_search]
        """,
    )
    assert "agents.a: `embedding:` has no `name`" in text


def test_the_fingerprint_names_a_changed_embedding_model(load_text: Load) -> None:
    before = agent_fingerprint(load_text(BASE.format(own="")).get("a"))
    after = agent_fingerprint(load_text(BASE.format(own="embedding: {dimensions: 512}")).get("a"))
    assert before["parts"]["embedding"] == {"name": "text-embedding-3-small", "dimensions": 256}
    assert fingerprint_changes(before, after) == ["embedding dimensions 256 -> 512"]
    renamed = agent_fingerprint(load_text(BASE.format(own="embedding: other-model")).get("a"))
    assert fingerprint_changes(before, renamed) == ["embedding name 'text-embedding-3-small' -> 'other-model'"]


def test_agents_without_one_keep_their_fingerprint(seed_config: AgentsConfig) -> None:
    chat = agent_fingerprint(seed_config.get("chat"))
    assert "embedding" not in chat["parts"]  # the cassettes recorded before archival memory stay current
    with_one = agent_fingerprint(seed_config.get("chat_archival"))
    without = {
        **with_one,
        "fingerprint": "old",
        "parts": {k: v for k, v in with_one["parts"].items() if k != "embedding"},
    }
    assert fingerprint_changes(without, with_one) == ["embedding model added"]
    assert fingerprint_changes(with_one, without) == ["embedding model removed"]
