from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.agentfile.importer import import_agent_file
from harness.agentfile.reading import AGENT_FILE_LIMITS, parse_agent_file, read_agent_file
from harness.errors import AgentFileError, UserError
from tests.agentfile.conftest import DATA, REAL_FILES, load_json


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_every_real_file_reads(path: Path) -> None:
    wire = read_agent_file(path)
    assert wire.agents
    assert all(agent.llm_config is not None for agent in wire.agents)


def test_double_encoded_json_is_read_as_the_json_it_holds() -> None:
    raw = (DATA / "current_memgpt_agent.af").read_text(encoding="utf-8")
    assert isinstance(json.loads(raw), str)  # the file really is a JSON string holding JSON
    wire = parse_agent_file(raw, "f.af")
    assert [agent.name for agent in wire.agents] == ["memgpt_agent"]
    assert parse_agent_file(json.dumps(json.loads(raw)), "f.af") == wire  # encoded twice over: the same


def test_json_encoded_too_many_times_is_refused() -> None:
    text = json.dumps({"agents": []})
    for _ in range(5):
        text = json.dumps(text)
    with pytest.raises(AgentFileError, match="more than 3 times"):
        parse_agent_file(text, "f.af")


def test_legacy_export_becomes_agent_file_schema() -> None:
    legacy = load_json(DATA / "legacy_memgpt_agent.af")
    wire = read_agent_file(DATA / "legacy_memgpt_agent.af")
    (agent,) = wire.agents
    assert agent.name == "memgpt_agent"
    assert [wire.blocks[i].label for i in range(len(wire.blocks))] == [b["label"] for b in legacy["core_memory"]]
    assert agent.block_ids == [block.id for block in wire.blocks]
    assert [tool.name for tool in wire.tools] == [tool["name"] for tool in legacy["tools"]]
    assert len(agent.messages) == len(legacy["messages"])
    assert len(agent.in_context_message_ids) == len(legacy["in_context_message_indices"])
    assert wire.metadata == {"letta_version": legacy["version"]}


def test_letta_0643_export_reads_with_its_orm_columns() -> None:
    """Letta 0.6.43 dumped `is_deleted`, `identities` and `groups` of the agent, its blocks and tools (the first
    files of letta-ai/agent-file): they are read, an agent's identities and groups reported when not empty."""
    legacy = load_json(DATA / "letta_0643_memgpt_agent.af")
    assert legacy["version"] == "0.6.43" and {"is_deleted", "identities", "groups"} <= set(legacy)
    assert {"is_deleted", "identities"} <= set(legacy["core_memory"][0]) and "is_deleted" in legacy["tools"][0]
    wire = read_agent_file(DATA / "letta_0643_memgpt_agent.af")
    assert [tool.name for tool in wire.tools] == [tool["name"] for tool in legacy["tools"]]
    assert (wire.groups, wire.agents[0].identity_ids) == ([], None)
    legacy |= {"identities": [{"id": "identity-1", "name": "Bob"}], "groups": [{"id": "group-1"}]}
    wire = parse_agent_file(json.dumps(legacy), "f.af")
    assert wire.groups == [{"id": "group-1"}]
    notes = import_agent_file(wire, "f.af").notes
    assert "agent 'memgpt_agent': identity_ids not kept" in notes
    assert "groups: 1 not kept (the harness has no groups)" in notes
    legacy["core_memory"][0]["is_delted"] = False  # a key Letta never wrote is still refused
    with pytest.raises(AgentFileError, match=r"core_memory\[0\]\.is_delted: unknown key"):
        parse_agent_file(json.dumps(legacy), "f.af")


def test_not_json_is_a_located_user_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.af"
    path.write_text('{\n  "agents": [,]\n}', encoding="utf-8")
    with pytest.raises(AgentFileError) as caught:
        read_agent_file(path)
    assert isinstance(caught.value, UserError)
    assert str(caught.value).startswith(f"{path}:2:")
    assert "not JSON" in str(caught.value)


def test_unknown_key_names_the_key_and_what_is_valid() -> None:
    data = load_json(DATA / "current_memgpt_agent.af")
    data["agents"][0]["llm_config"]["temprature"] = 0.5
    with pytest.raises(AgentFileError) as caught:
        parse_agent_file(json.dumps(data), "f.af")
    message = str(caught.value)
    assert "agents[0].llm_config.temprature" in message
    assert "did you mean 'temperature'?" in message


def test_missing_required_key_is_reported() -> None:
    data = load_json(DATA / "current_memgpt_agent.af")
    del data["blocks"][0]["label"]
    with pytest.raises(AgentFileError, match=r"blocks\[0\]\.label: required key is missing"):
        parse_agent_file(json.dumps(data), "f.af")


@pytest.mark.parametrize("text", ["[]", "12", '"just text"', "null"])
def test_not_an_object_is_refused(text: str) -> None:
    with pytest.raises(AgentFileError, match="an Agent File is a JSON object"):
        parse_agent_file(text, "f.af")


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(AgentFileError, match="nested too deeply"):
        parse_agent_file("[" * 100_000 + "]" * 100_000, "f.af")


def test_a_file_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.af"
    with path.open("wb") as file:
        file.truncate(AGENT_FILE_LIMITS.max_bytes + 1)
    with pytest.raises(AgentFileError, match="larger than 64 MB"):
        read_agent_file(path)


def test_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(AgentFileError, match="cannot read"):
        read_agent_file(tmp_path / "nope.af")


@settings(max_examples=20)
@given(st.integers(0, 3), st.sampled_from(REAL_FILES))
def test_any_number_of_string_encodings_up_to_three_reads_the_same(times: int, path: Path) -> None:
    text = json.dumps(load_json(path))
    expected = parse_agent_file(text, "f.af")
    for _ in range(times):
        text = json.dumps(text)
    assert parse_agent_file(text, "f.af") == expected
