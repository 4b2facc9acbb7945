from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.agentfile.exporter import agent_file_text, export_agent, unwritten, with_end_state
from harness.agentfile.importer import import_agent_file
from harness.agentfile.reading import parse_agent_file, read_agent_file
from harness.agentfile.schema import AgentFileWire
from harness.config import BLOCK_LABEL_PATTERN, load_agents
from harness.loops.kinds import LoopName, letta_format_problem, letta_literal
from harness.secrets import MASK, Secrets
from tests.agentfile.conftest import REAL_FILES, small_agent_file
from tests.agentfile.test_importer import write
from tests.helpers import SEED_AGENTS


def reimport(agents_file: Path, name: str, folder: Path) -> str:
    """Export agent `name` of `agents_file`, import that into `folder`: the agents.yaml it writes."""
    data = export_agent(load_agents(agents_file).get(name))
    result = import_agent_file(parse_agent_file(agent_file_text(data), "x.af"), "x.af")
    write(result, folder)
    return result.agents_yaml


@pytest.mark.parametrize("name", ["chat", "task_agent", "task_agent_core_tools"])
def test_seed_agents_export_to_letta_schema(name: str) -> None:
    spec = load_agents(SEED_AGENTS).get(name)
    data = export_agent(spec)
    wire = AgentFileWire.model_validate(json.loads(agent_file_text(data)))
    (agent,) = wire.agents
    assert agent.system == spec.system
    assert [block.label for block in wire.blocks] == [block.label for block in spec.blocks]
    assert [(b.value, b.limit) for b in wire.blocks] == [(b.value, b.limit) for b in spec.blocks]
    assert [tool.name for tool in wire.tools] == [tool.name for tool in spec.tools]
    assert agent.llm_config is not None and agent.llm_config.model == spec.model.name
    assert agent.llm_config.temperature == spec.model.temperature


def test_custom_tools_are_exported_with_source_and_schema() -> None:
    spec = load_agents(SEED_AGENTS).get("task_agent")
    wire = AgentFileWire.model_validate(export_agent(spec))
    push = next(tool for tool in wire.tools if tool.name == "task_queue_push")
    assert push.tool_type == "custom"
    # its module's import comes along (Letta runs the source alone); the annotation its TYPE_CHECKING import
    # gave, under postponed annotations, as a string
    assert push.source_code is not None
    assert push.source_code.startswith("import json\n\n\ndef task_queue_push(self: 'AgentState', task_description")
    ours = spec.tool("task_queue_push")
    assert ours is not None and push.json_schema == ours.openai_schema()["function"]
    send = next(tool for tool in wire.tools if tool.name == "send_message")
    assert (send.tool_type, send.source_code) == ("letta_core", None)


def test_export_then_import_keeps_what_the_yaml_says(tmp_path: Path, forget_tools: Callable[[], None]) -> None:
    reimport(SEED_AGENTS, "task_agent", tmp_path)
    forget_tools()
    before = load_agents(SEED_AGENTS).get("task_agent")
    after = load_agents(tmp_path / "agents.yaml").get("task_agent")
    assert after.system == before.system
    assert after.blocks == before.blocks
    assert after.model.name == before.model.name and after.model.temperature == before.model.temperature
    assert [t.openai_schema() for t in after.tools] == [t.openai_schema() for t in before.tools]
    assert after.system_message(after.new_memory()) == before.system_message(before.new_memory())


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_files_round_trip(path: Path, tmp_path: Path, forget_tools: Callable[[], None]) -> None:
    """import -> export -> import writes the same agents.yaml, for every agent of every real file."""
    first = import_agent_file(read_agent_file(path), "x.af")
    write(first, tmp_path / "one")
    for name in first.agent_names:
        forget_tools()
        again = reimport(tmp_path / "one" / "agents.yaml", name, tmp_path / name)
        expected = load_agents(tmp_path / "one" / "agents.yaml").get(name)
        forget_tools()
        got = load_agents(tmp_path / name / "agents.yaml").get(name)
        assert (got.system, got.blocks, got.model, got.description, got.tags, got.metadata) == (
            expected.system,
            expected.blocks,
            expected.model,
            expected.description,
            expected.tags,
            expected.metadata,
        )
        assert [t.name for t in got.tools] == [t.name for t in expected.tools]
        if len(first.agent_names) == 1:
            assert again == first.agents_yaml


def test_export_masks_secrets_in_the_endpoint_and_prompt(write_agents: Callable[..., Path]) -> None:
    path = write_agents(
        """
        agents:
          a:
            model: {name: m, base_url: "https://u:pw-12345678@llm.example/v1?api-key=k-12345678"}
            system: "key is k-12345678"
            tools: [send_message]
        """
    )
    spec = load_agents(path).get("a")
    text = agent_file_text(export_agent(spec, Secrets.collect(urls=[spec.model.base_url])))
    assert "k-12345678" not in text and "pw-12345678" not in text
    assert MASK in text


names = st.from_regex(BLOCK_LABEL_PATTERN.replace("*$", "{0,12}$"), fullmatch=True)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@st.composite
def agent_files(draw: st.DrawFn) -> dict[str, Any]:
    labels = draw(st.lists(names, max_size=4, unique=True))
    blocks = [
        {
            "id": f"block-{i}",
            "label": label,
            "value": draw(texts),
            "limit": draw(st.none() | st.integers(1, 9000)),
            "description": draw(st.none() | texts),
            "read_only": draw(st.booleans()),
            "metadata": draw(st.dictionaries(st.sampled_from("abc"), st.integers() | texts, max_size=2)),
        }
        for i, label in enumerate(labels)
    ]
    tools = [{"id": f"tool-{i}", "name": n, "tool_type": "letta_core"} for i, n in enumerate(draw(st.permutations(
        ["send_message", "core_memory_append", "core_memory_replace", "archival_memory_search"]
    )))]  # fmt: skip
    agent = {
        "id": "agent-0",
        "name": draw(st.from_regex(r"[A-Za-z][A-Za-z0-9 _-]{0,10}", fullmatch=True)),
        "system": draw(texts),
        "description": draw(st.none() | texts),
        "tags": draw(st.lists(texts, max_size=3)),
        "metadata": draw(st.none() | st.dictionaries(st.sampled_from("xyz"), st.booleans() | texts, max_size=2)),
        "llm_config": {
            "model": draw(st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)),
            "model_endpoint_type": "openai",
            "model_endpoint": draw(st.sampled_from(["https://api.openai.com/v1", "http://127.0.0.1:8088/v1"])),
            "context_window": 8192,
            "temperature": draw(st.floats(0, 2, allow_nan=False)),
            "max_tokens": draw(st.none() | st.integers(1, 4096)),
        },
        "block_ids": [block["id"] for block in blocks],
        "tool_ids": [tool["id"] for tool in tools],
    }
    tool_names = [tool["name"] for tool in tools]
    agent["tool_rules"] = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["run_first", "exit_loop", "continue_loop", "required_before_exit"]),
                    "tool_name": st.sampled_from(tool_names),
                }
            )
            | st.fixed_dictionaries(
                {
                    "type": st.just("constrain_child_tools"),
                    "tool_name": st.sampled_from(tool_names),
                    "children": st.lists(st.sampled_from(tool_names), min_size=1, max_size=2),
                }
            ),
            max_size=3,
        )
    )
    common = {"groups": [], "files": [], "sources": [], "mcp_servers": []}
    return {"agents": [agent], "blocks": blocks, "tools": tools, **common}


@settings(max_examples=40)
@given(agent_files())
def test_import_export_import_is_a_fixed_point(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        first = import_agent_file(parse_agent_file(json.dumps(data), "x.af"), "x.af")
        agents_file = write(first, Path(folder) / "one")
        (name,) = first.agent_names
        assert reimport(agents_file, name, Path(folder) / "two") == first.agents_yaml
        spec = load_agents(agents_file).get(name)
        assert [block.value for block in spec.blocks] == [block["value"] for block in data["blocks"]]
        written = data["agents"][0]["system"]
        if spec.loop is LoopName.LETTA_MEMGPT and letta_format_problem(written) is not None:
            written = letta_literal(written)  # braces Letta 0.6.23 cannot read, doubled on import (its note says so)
        assert spec.system == written


def test_tool_rules_round_trip(tmp_path: Path) -> None:
    before = load_agents(SEED_AGENTS).get("chat_tool_rules")
    assert before.tool_rules
    reimport(SEED_AGENTS, "chat_tool_rules", tmp_path)
    after = load_agents(tmp_path / "agents.yaml").get("chat_tool_rules")
    assert after.tool_rules == before.tool_rules
    assert after.system_message(after.new_memory()) == before.system_message(before.new_memory())


def test_memory_tools_are_exported_with_letta_s_tool_types() -> None:
    wire = AgentFileWire.model_validate(export_agent(load_agents(SEED_AGENTS).get("chat_memory_tools")))
    assert {tool.name: tool.tool_type for tool in wire.tools} == {
        "send_message": "letta_core",
        "memory_replace": "letta_sleeptime_core",
        "memory_insert": "letta_sleeptime_core",
        "memory_rethink": "letta_sleeptime_core",
    }


def test_mistral_tool_call_ids_are_reported_as_not_written() -> None:
    """An Agent File has no place for it: an import boots with Letta's uuid id, which Mistral refuses."""
    spec = load_agents(SEED_AGENTS).get("chat")
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, mistral_tool_call_ids=True))
    assert "model.mistral_tool_call_ids True not written (no place for it in an Agent File)" in unwritten(spec)


def test_what_an_agent_file_cannot_hold_is_reported() -> None:
    notes = unwritten(load_agents(SEED_AGENTS).get("task_agent_typed"))
    assert "block 'tasks': schema not written (Letta's blocks have no JSON Schema)" in notes
    assert "model.timeout 900.0 not written (no place for it in an Agent File)" in notes
    assert "model.max_retries 0 not written (no place for it in an Agent File)" in notes
    assert unwritten(load_agents(SEED_AGENTS).get("chat")) == [
        "model.timeout 900.0 not written (no place for it in an Agent File)",
        "model.max_retries 0 not written (no place for it in an Agent File)",
        "max_steps 6 not written (no place for it in an Agent File)",
        "context_window: none in agents.yaml; written as 128000 (Letta requires one), which an import keeps as the "
        "agent's",
    ]
    # What a round trip would change without a word: the loop, the clock the compiled messages show.
    assert (
        "clock 2025-02-11T14:26:32+00:00 (tick 1, seed 0) not written (no place for it in an Agent File; `harness "
        "import` gives an agent on a Letta loop the clock 2025-01-01T00:00:00Z)"
    ) in unwritten(load_agents(SEED_AGENTS).get("task_agent_letta"))
    harness_loop = dataclasses.replace(load_agents(SEED_AGENTS).get("chat"), loop=LoopName.HARNESS)
    assert (
        "loop harness not written: an Agent File names a Letta agent type, memgpt_agent here, which `harness "
        "import` runs under loop letta-memgpt"
    ) in unwritten(harness_loop)


def test_end_state_keeps_declared_blocks_settings_and_takes_created_and_deleted_ones() -> None:
    spec = load_agents(SEED_AGENTS).get("chat_small_memory")
    ended = with_end_state(spec, {"human": "Name: Azin", "notes/new": "n" * 6000})
    human = next(block for block in ended.blocks if block.label == "human")
    assert (human.value, human.limit) == ("Name: Azin", 40)
    created = next(block for block in ended.blocks if block.label == "notes/new")
    assert created.limit == 6000
    assert "persona" not in [block.label for block in ended.blocks]
    data = export_agent(ended, history=[{"role": "user", "content": "hi"}])
    wire = AgentFileWire.model_validate(data)
    assert [m["role"] for m in wire.agents[0].messages] == ["system", "user"]
    assert '<human characters="10/40">' in wire.agents[0].messages[0]["content"][0]["text"]


def test_end_state_exports_the_labels_the_memory_tool_takes_as_they_are() -> None:
    """Blocks the model created under Letta's labels (any text) are written under them, and shown so in the
    system message: Letta reads them back as it wrote them."""
    spec = load_agents(SEED_AGENTS).get("chat_small_memory")
    labels = ["notes.md", "user preferences", "2025_goals", "café", ""]
    ended = with_end_state(spec, {"human": "Name: Azin", **{label: "x" for label in labels}})
    wire = AgentFileWire.model_validate(json.loads(agent_file_text(export_agent(ended, history=[]))))
    assert [block.label for block in wire.blocks] == ["human", *labels]
    system = wire.agents[0].messages[0]["content"][0]["text"]
    for label in labels:
        assert f'<{label} characters="1/5000">\nx\n</{label}>' in system


def test_export_says_letta_adds_no_base_tool_rules() -> None:
    """Letta's create_agent gives an agent whose file does not say False its base tool rules (send_message
    ends the turn, the memory tools go on): rules the harness agent never had."""
    spec = load_agents(SEED_AGENTS).get("chat")
    assert not spec.tool_rules
    (agent,) = AgentFileWire.model_validate(export_agent(spec)).agents
    assert agent.include_base_tool_rules is False
    assert agent.tool_rules == []


def test_conversation_search_date_is_not_written_and_says_so(write_agents: Callable[..., Path]) -> None:
    """Letta dropped conversation_search_date after 0.6.5 and refuses a core tool it lacks: the export leaves
    it (and a rule naming it) out, under `not written`, so the file loads in Letta."""
    path = write_agents(
        """
        agents:
          a:
            model: {name: m}
            system: s
            tools: [send_message, conversation_search_date]
            tool_rules:
              - {type: run_first, tool_name: conversation_search_date}
              - {type: exit_loop, tool_name: send_message}
        """
    )
    spec = load_agents(path).get("a")
    wire = AgentFileWire.model_validate(export_agent(spec))
    assert [tool.name for tool in wire.tools] == ["send_message"]
    assert wire.agents[0].tool_rules == [{"tool_name": "send_message", "type": "exit_loop", "prompt_template": None}]
    notes = unwritten(spec)
    assert (
        "tool 'conversation_search_date' not written: Letta has had no such tool since 0.6.6 and would refuse the "
        "file; conversation_search with start_date and end_date does that in Letta"
    ) in notes
    assert "tool rule run_first on 'conversation_search_date' not written: it names a tool not written" in notes


COUNT_WORDS = '''import re


def count_words(text: str) -> int:
    """Count the words in a text.

    Args:
        text: the text to count words in
    """
    return len(re.findall(r"\\w+", text))
'''


def test_an_imported_tool_exports_with_its_imports_and_runs_as_letta_runs_it(tmp_path: Path) -> None:
    """Letta's sandbox runs a tool's source_code alone, then calls the function: the function's text alone
    (as before) raised NameError on `re`, which the file's own source imported."""
    tool = {"id": "tool-1", "name": "count_words", "tool_type": "custom", "source_code": COUNT_WORDS}
    result = import_agent_file(parse_agent_file(json.dumps(small_agent_file([tool])), "x.af"), "x.af")
    spec = load_agents(write(result, tmp_path)).get("a")
    exported = AgentFileWire.model_validate(export_agent(spec))
    source = next(t.source_code for t in exported.tools if t.name == "count_words")
    assert source == COUNT_WORDS
    scope: dict[str, Any] = {}
    exec("from typing import *\n" + source, scope)  # letta/services/tool_sandbox/base.py: its lines, the source
    assert scope["count_words"]("a b c") == 3


def test_a_tool_using_a_harness_name_says_it_fails_in_letta(write_agents: Callable[..., Path]) -> None:
    path = write_agents(
        """
        agents:
          a:
            model: {name: m}
            system: s
            tools: [send_message, "tools.py:limit"]
        """
    )
    (path.parent / "tools.py").write_text(
        'from harness.memory import DEFAULT_LIMIT\n\n\ndef limit() -> int:\n    """The default limit."""\n'
        "    return DEFAULT_LIMIT\n",
        encoding="utf-8",
    )
    assert (
        "tool 'limit': its source uses DEFAULT_LIMIT from the harness, which Letta has not: written without that "
        "import, it fails in Letta"
    ) in unwritten(load_agents(path).get("a"))
