from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from harness.agentfile.exporter import export_agent
from harness.agentfile.importer import (
    LETTA_LOOPS,
    TOOLS_MODULE,
    ImportResult,
    import_agent_file,
)
from harness.agentfile.reading import parse_agent_file, read_agent_file
from harness.agentfile.sourcecheck import source_problem, with_docstring
from harness.config import AgentsConfig, load_agents
from harness.loops.kinds import LoopName
from harness.loops.letta_memgpt import LettaMemGPTLoop, compile_system_message
from harness.secrets import MASK
from harness.tools.rules import ToolRule, ToolRuleType
from tests.agentfile.conftest import DATA, REAL_FILES, load_json, small_agent_file


def write(result: ImportResult, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agents.yaml").write_text(result.agents_yaml, encoding="utf-8")
    if result.tools_module is not None:
        (folder / f"{TOOLS_MODULE}.py").write_text(result.tools_module, encoding="utf-8")
    return folder / "agents.yaml"


def imported(data: dict[str, Any], folder: Path) -> tuple[ImportResult, AgentsConfig]:
    result = import_agent_file(parse_agent_file(json.dumps(data), "test.af"), "test.af")
    return result, load_agents(write(result, folder))


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_files_import_validate_and_compile(path: Path, tmp_path: Path) -> None:
    wire = read_agent_file(path)
    result = import_agent_file(wire, path.name)
    config = load_agents(write(result, tmp_path))
    assert list(config.agents) == result.agent_names
    by_id = {block.id: block for block in wire.blocks}
    for agent, name in zip(wire.agents, result.agent_names, strict=True):
        spec = config.get(name)
        assert spec.system == (agent.system or "")
        assert [block.label for block in spec.blocks] == [by_id[i].label for i in agent.block_ids or []]
        compiled = spec.system_message(spec.new_memory())
        for block in spec.blocks:
            assert f'<{block.label} characters="{len(block.value)}/{block.limit}">' in compiled
        assert spec.loop is LETTA_LOOPS.get(agent.agent_type or "memgpt_agent", LoopName.HARNESS)
        assert spec.tool("send_message") is not None or spec.loop is LoopName.LETTA_V1
        assert spec.model.name == (agent.llm_config.model if agent.llm_config else "")


def test_memgpt_agent_reports_what_it_could_not_keep(tmp_path: Path) -> None:
    result = import_agent_file(read_agent_file(DATA / "legacy_memgpt_agent.af"), "legacy_memgpt_agent.af")
    notes = "\n".join(result.notes)
    assert "tool rule continue_loop" not in notes  # archival and recall tools are kept, and so their rules
    assert "archival_memory" not in notes and "conversation_search" not in notes
    assert "message history" not in notes  # all four are in context: three written, the system message is ours
    assert [m["role"] for m in yaml.safe_load(result.histories["memgpt_agent"])["messages"]] == [
        "assistant",
        "tool",
        "user",
    ]
    assert "embedding_config" not in notes
    assert "context_window" not in notes  # kept: the agent's context pressure
    # Its put_inner_thoughts_in_kwargs (true) is Letta's default for its model: kept, nothing to write.
    assert "put_inner_thoughts_in_kwargs" not in notes
    assert "conversation_search" not in notes  # recall memory is a built-in now, and its rule is kept
    config = load_agents(write(result, tmp_path))
    spec = config.get("memgpt_agent")
    assert {tool.name for tool in spec.tools} == {
        "send_message",
        "core_memory_append",
        "core_memory_replace",
        "archival_memory_insert",
        "archival_memory_search",
        "conversation_search",
    }
    assert spec.embedding is not None and spec.embedding.name == "text-embedding-ada-002"
    assert spec.embedding.base_url is None  # OpenAI's own endpoint
    assert spec.model.name == "gpt-4-0613"
    assert spec.model.temperature == 0.7
    assert spec.model.max_tokens == 4096
    assert spec.context_window == 8192
    assert spec.description == "A simple MemGPT agent from the original project release"
    assert set(spec.tool_rules) == {
        ToolRule(ToolRuleType.EXIT_LOOP, "send_message"),
        ToolRule(ToolRuleType.CONTINUE_LOOP, "conversation_search"),
        ToolRule(ToolRuleType.CONTINUE_LOOP, "archival_memory_search"),
        ToolRule(ToolRuleType.CONTINUE_LOOP, "archival_memory_insert"),
    }


def test_archival_tools_without_a_reachable_embedding_model_are_left_out(tmp_path: Path) -> None:
    data = json.loads((DATA / "legacy_memgpt_agent.af").read_text(encoding="utf-8"))
    agent = data["agents"][0] if "agents" in data else data
    agent["embedding_config"]["embedding_endpoint_type"] = "google_ai"
    result = import_agent_file(parse_agent_file(json.dumps(data), "edited.af"), "edited.af")
    notes = "\n".join(result.notes)
    assert "embedding_config (text-embedding-ada-002, google_ai) not kept" in notes
    for tool in ("archival_memory_insert", "archival_memory_search"):
        assert f"tool '{tool}' left out: archival memory needs an embedding model the harness can reach" in notes
    spec = load_agents(write(result, tmp_path)).get("memgpt_agent")
    assert spec.embedding is None
    assert not {tool.name for tool in spec.tools} & {"archival_memory_insert", "archival_memory_search"}


def test_a_tool_declared_by_its_schema_stays_when_archival_tools_are_left_out(tmp_path: Path) -> None:
    """An external tool beside no reachable embedding model: a TypeError (a declared tool is a dict)."""
    schema = {"name": "web_lookup", "description": "Look up", "parameters": {"type": "object", "properties": {}}}
    embedding = {"embedding_model": "letta-free", "embedding_endpoint_type": "hugging-face", "embedding_dim": 1024}
    tools = [
        {"id": "tool-1", "name": "archival_memory_search", "tool_type": "letta_core"},
        {"id": "tool-2", "name": "web_lookup", "tool_type": "external_mcp", "json_schema": schema},
    ]
    data = small_agent_file(tools, embedding_config=embedding)
    result = import_agent_file(parse_agent_file(json.dumps(data), "edited.af"), "edited.af")
    assert "tool 'archival_memory_search' left out" in "\n".join(result.notes)
    spec = load_agents(write(result, tmp_path)).get("a")
    assert {tool.name for tool in spec.tools} == {"send_message", "web_lookup"}


def test_an_agent_without_send_message_gets_it_and_is_told(tmp_path: Path) -> None:
    data = load_json(DATA / "current_memgpt_agent.af")
    data["agents"][0]["agent_type"] = "memgpt_v2_agent"  # no loop of its own here: the harness loop replies
    result, config = imported(data, tmp_path)
    assert "agent 'memgpt_agent': has no send_message; added, since the harness loop replies through it" in (
        result.notes
    )
    assert "agent 'memgpt_agent': agent_type memgpt_v2_agent: runs under the harness's MemGPT-style loop" in (
        result.notes
    )
    spec = config.get("memgpt_agent")
    assert spec.tools[0].name == "send_message" and spec.loop is LoopName.HARNESS


def test_letta_agent_types_run_under_their_loop_with_a_frozen_clock(tmp_path: Path) -> None:
    for agent_type, loop in (("letta_v1_agent", LoopName.LETTA_V1), ("memgpt_agent", LoopName.LETTA_MEMGPT)):
        data = load_json(DATA / "current_memgpt_agent.af")
        data["agents"][0]["agent_type"] = agent_type
        result, config = imported(data, tmp_path / agent_type)
        spec = config.get("memgpt_agent")
        assert spec.loop is loop and spec.clock is not None
        assert spec.clock.start.isoformat() == "2025-01-01T00:00:00+00:00"
        has_send_message = spec.tool("send_message") is not None
        assert has_send_message == (loop is LoopName.LETTA_MEMGPT)  # letta-v1 replies without it
        assert not any("agent_type" in note for note in result.notes)


def test_custom_tools_keep_their_source_and_schema(tmp_path: Path) -> None:
    wire = read_agent_file(DATA / "current_outreach_workflow_agent.af")
    result = import_agent_file(wire, "outreach.af")
    assert result.tools_module is not None
    spec = load_agents(write(result, tmp_path)).get("outreach_workflow_agent")
    for tool in wire.tools:
        assert tool.source_code is not None and tool.json_schema is not None
        assert tool.source_code.strip() in result.tools_module
        comment = f"# {json.dumps(tool.json_schema, ensure_ascii=False, sort_keys=True)}\n{tool.source_code.strip()}"
        assert comment in result.tools_module
        ours = spec.tool(str(tool.name))
        assert ours is not None
        assert ours.parameter_names - {"request_heartbeat"} == set(tool.json_schema["parameters"]["properties"])
    assert spec.tool_rules == (
        ToolRule(ToolRuleType.RUN_FIRST, "retrieve_candidate"),
        ToolRule(ToolRuleType.CONSTRAIN_CHILD_TOOLS, "retrieve_candidate", children=("evaluate_candidate",)),
        ToolRule(
            ToolRuleType.CONDITIONAL,
            "evaluate_candidate",
            child_output_mapping=(("True", "send_email"), ("False", "reject")),
            default_child="reject",
        ),
        ToolRule(ToolRuleType.EXIT_LOOP, "reject"),
        ToolRule(ToolRuleType.EXIT_LOOP, "send_email"),
    )
    assert not any("tool rule" in note for note in result.notes)


def test_labels_with_slashes_and_values_over_the_limit(tmp_path: Path) -> None:
    data = load_json(DATA / "current_lettabot.af")
    data["blocks"][0]["value"] = "x" * 7000
    data["blocks"][0]["limit"] = 5000
    data["blocks"][1]["limit"] = None
    data["blocks"][1]["value"] = "y" * 6000
    result, config = imported(data, tmp_path)
    spec = config.get("LettaBot")
    labels = [block.label for block in spec.blocks]
    assert "system/human/family" in labels and all("/" in label for label in labels)
    first, second = spec.blocks[0], spec.blocks[1]
    assert (first.limit, second.limit) == (7000, 6000)
    notes = "\n".join(result.notes)
    assert f"block '{first.label}' holds 7000 characters, over its limit of 5000: limit set to 7000" in notes
    assert f"block '{second.label}' holds 6000 characters, over its limit of 5000 (none given)" in notes
    assert "llm_config.model_endpoint_type zai" in notes
    assert "skills: 46 not kept" in notes


def test_no_limit_and_a_short_value_gets_the_default_limit(tmp_path: Path) -> None:
    data = load_json(DATA / "current_memgpt_agent.af")
    data["blocks"][0]["limit"] = None
    _, config = imported(data, tmp_path)
    assert config.get("memgpt_agent").blocks[0].limit == 5000


def test_tags_metadata_description_and_endpoint_are_kept(tmp_path: Path) -> None:
    data = load_json(DATA / "current_memgpt_agent.af")
    agent = data["agents"][0]
    agent["tags"] = ["support", "v2"]
    agent["metadata"] = {"owner": "team-a", "tier": 2}
    agent["llm_config"]["model_endpoint"] = "http://127.0.0.1:8088/v1"
    _, config = imported(data, tmp_path)
    spec = config.get("memgpt_agent")
    assert spec.tags == ("support", "v2")
    assert spec.metadata == {"owner": "team-a", "tier": 2}
    assert spec.description == agent["description"]
    assert spec.model.base_url == "http://127.0.0.1:8088/v1"


def test_secrets_in_the_file_are_never_written(tmp_path: Path) -> None:
    secret = "sk-live-0123456789abcdef"
    other = "hunter2-password-value"
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    agent = data["agents"][0]
    agent["tool_exec_environment_variables"] = {"MY_SERVICE_KEY": secret}
    agent["secrets"] = {"DB_PASSWORD": other}
    data["tools"][0]["source_code"] = data["tools"][0]["source_code"] + f"\n# key: {secret}\n"
    agent["system"] = f"Use {other} to log in."
    result, _ = imported(data, tmp_path)
    written = result.agents_yaml + (result.tools_module or "") + "\n".join(result.notes)
    assert secret not in written and other not in written
    assert MASK in result.tools_module if result.tools_module else False
    assert "MY_SERVICE_KEY" in "\n".join(result.notes) and "DB_PASSWORD" in "\n".join(result.notes)


def test_legacy_env_var_list_is_masked_too(tmp_path: Path) -> None:
    secret = "tvly-abcdefghijklmnop"
    data = load_json(DATA / "legacy_memgpt_agent.af")
    data["tool_exec_environment_variables"] = [{"key": "TAVILY_API_KEY", "value": secret, "description": None}]
    data["system"] += f"\nkey={secret}"
    result, _ = imported(data, tmp_path)
    assert secret not in result.agents_yaml and f"key={MASK}" in result.agents_yaml
    assert any("TAVILY_API_KEY" in note for note in result.notes)


def test_agent_names_are_made_valid_and_unique(tmp_path: Path) -> None:
    data = load_json(DATA / "current_memgpt_agent.af")
    twin = json.loads(json.dumps(data["agents"][0]))
    twin["id"] = "agent-9"
    data["agents"][0]["name"] = "Nameless Agent"
    twin["name"] = "Nameless-Agent"
    data["agents"].append(twin)
    result, config = imported(data, tmp_path)
    assert list(config.agents) == ["Nameless_Agent", "Nameless-Agent"]
    assert "agent 'Nameless Agent': renamed 'Nameless_Agent'" in "\n".join(result.notes)


def test_a_tool_with_only_a_json_schema_is_declared_by_it(tmp_path: Path) -> None:
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    data["tools"][0]["source_code"] = None
    stored = data["tools"][0]["json_schema"]
    name = data["tools"][0]["name"]
    result, config = imported(data, tmp_path)
    tool = config.get("outreach_workflow_agent").tool(name)
    assert tool is not None and tool.declared_parameters is not None
    wanted = {k: v for k, v in stored["parameters"]["properties"].items() if k != "request_heartbeat"}
    assert tool.declared_parameters["properties"] == wanted
    assert tool.openai_schema()["function"]["parameters"]["properties"].keys() == {*wanted, "request_heartbeat"}
    note = f"tool '{name}': defined only by a JSON schema, declared by its schema (a scenario's `tool_results:`"
    assert note in "\n".join(result.notes)


def test_a_tool_with_neither_source_nor_schema_is_left_out_and_reported(tmp_path: Path) -> None:
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    data["tools"][0]["source_code"] = None
    data["tools"][0]["json_schema"] = None
    name = data["tools"][0]["name"]
    result, config = imported(data, tmp_path)
    assert config.get("outreach_workflow_agent").tool(name) is None
    assert f"tool '{name}' left out: defined only by a JSON schema (no source)" in "\n".join(result.notes)


def test_missing_block_and_tool_ids_are_reported(tmp_path: Path) -> None:
    data = load_json(DATA / "current_memgpt_agent.af")
    data["agents"][0]["block_ids"].append("block-404")
    data["agents"][0]["tool_ids"].append("tool-404")
    result, _ = imported(data, tmp_path)
    notes = "\n".join(result.notes)
    assert "block id 'block-404' is not in the file's blocks" in notes
    assert "tool id 'tool-404' is not in the file's tools" in notes


def test_written_yaml_keeps_multiline_text_exactly(tmp_path: Path) -> None:
    data = load_json(DATA / "current_memgpt_agent.af")
    tricky = "line one  \n\tindented\n\n  lead\r\nend \u2028 x\x07"
    data["blocks"][0]["value"] = tricky
    _, config = imported(data, tmp_path)
    assert config.get("memgpt_agent").blocks[0].value == tricky


GOOD = '''
def f(agent_state: "AgentState", label: str, n: int = 1) -> str:
    """Does f.

    Args:
        label (str): which one
        n (int): how many
    """
    return label
'''


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (GOOD, None),
        ("def f(:\n  pass", "is not Python"),
        ("def g():\n    '''Doc.'''\n", "defines no function 'f'"),
        ("def f(x: int):\n    return x\n", "has no docstring"),
        ('def f(x):\n    """Doc.\n\n    Args:\n        x: it\n    """\n', "gives parameter 'x' no type hint"),
        ('def f(x: int):\n    """Doc."""\n', "does not describe parameter 'x'"),
        ('def f(**kwargs):\n    """Doc."""\n', "takes *args or **kwargs"),
        ('def f(x: int, /):\n    """Doc.\n\n    Args:\n        x: it\n    """\n', "positional-only"),
        # the agent wherever it stands, as in Letta (refused after other parameters before)
        ('def f(x: int, agent_state=None):\n    """Doc.\n\n    Args:\n        x: it\n    """\n', None),
        ('def f(self, x: int, agent_state=None):\n    """Doc.\n\n    Args:\n        x: it\n    """\n', "both"),
        # read as Letta reads them (a traceback before: Google's parser refuses both)
        ('def f() -> str:\n    """Tell the time.\n\n    Args:\n        None\n    """\n', None),
        ('def f(x: int):\n    """\n    Args:\n        x (int): it\n    """\n', None),
    ],
)
def test_tool_source_is_checked_without_running_it(source: str, problem: str | None) -> None:
    found = source_problem("f", source)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_tool_source_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    data["tools"][0]["source_code"] = f"open({str(marker)!r}, 'w').close()\n" + data["tools"][0]["source_code"]
    import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af")
    assert not marker.exists()


def test_agents_yaml_is_plain_yaml_with_a_provenance_comment(tmp_path: Path) -> None:
    result = import_agent_file(read_agent_file(DATA / "current_memgpt_agent.af"), "current_memgpt_agent.af")
    assert result.agents_yaml.startswith("# Imported from the Letta Agent File current_memgpt_agent.af")
    assert set(yaml.safe_load(result.agents_yaml)) == {"agents"}


NO_DOC = """def book(agent_state: "AgentState", room: str, nights: int = 1):
    # no docstring: Letta offered the model the stored JSON schema
    return f"{room} x{nights}"
"""
BOOK_SCHEMA = {
    "name": "book",
    "description": 'Book a room.\nSays """done""" with a \\ backslash.',
    "parameters": {
        "type": "object",
        "properties": {
            "room": {"type": "string", "description": "Which room"},
            "nights": {"type": "integer", "description": "How many\n  nights"},
        },
        "required": ["room"],
    },
}


def test_a_tool_without_docstring_gets_one_from_its_json_schema(tmp_path: Path) -> None:
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    data["tools"][0].update(name="book", source_code=NO_DOC, json_schema=BOOK_SCHEMA)
    result, config = imported(data, tmp_path)
    assert "tool 'book': its source has no docstring; one was written from its JSON schema" in "\n".join(result.notes)
    tool = config.get("outreach_workflow_agent").tool("book")
    assert tool is not None
    assert tool.description == 'Book a room.\n\nSays """done""" with a \\ backslash.'  # as the harness reads docstrings
    properties = tool.parameters_schema()["properties"]
    assert properties["room"] == {"type": "string", "description": "Which room"}
    assert properties["nights"] == {"type": "integer", "description": "How many nights", "default": 1}
    assert tool.function(None, room="r", nights=2) == "r x2"  # the body is untouched


def test_a_schema_without_description_cannot_document_a_tool() -> None:
    assert with_docstring(NO_DOC, "book", {"parameters": {}}) is None
    assert with_docstring("def book(room: str): return room\n", "book", BOOK_SCHEMA) is None


def test_external_tools_are_declared_by_their_schema_or_left_out_by_kind(tmp_path: Path) -> None:
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    data["tools"][0]["tool_type"] = "external_mcp"
    name = data["tools"][0]["name"]
    result, config = imported(data, tmp_path)
    assert f"agent 'outreach_workflow_agent': tool '{name}': an external tool (external_mcp), declared" in "\n".join(
        result.notes
    )
    assert config.get("outreach_workflow_agent").tool(name) is not None
    data["tools"][0]["json_schema"] = None
    result, _ = imported(data, tmp_path / "again")
    expected = f"tool '{name}' left out: an external tool (external_mcp) the harness cannot call"
    assert f"agent 'outreach_workflow_agent': {expected}" in result.notes


def test_tool_rules_the_harness_lacks_or_that_name_missing_tools_are_reported(tmp_path: Path) -> None:
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    rules = data["agents"][0]["tool_rules"]
    rules.append({"tool_name": "send_email", "type": "requires_approval", "prompt_template": None})
    rules.append({"tool_name": "send_email", "type": "max_count_per_step", "max_count_limit": 0})
    rules[0]["args"] = {"candidate": "x"}
    result, config = imported(data, tmp_path)
    notes = "\n".join(result.notes)
    assert "tool rule requires_approval on 'send_email' not kept: the harness has no requires_approval rule" in notes
    assert "tool rule max_count_per_step on 'send_email' not kept: " in notes
    assert "tool rule run_first on 'retrieve_candidate': args not kept" in notes
    assert len(config.get("outreach_workflow_agent").tool_rules) == 5


def test_rules_that_could_never_end_a_turn_without_the_tools_left_out_are_all_reported(tmp_path: Path) -> None:
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    data["agents"][0]["agent_type"] = "memgpt_agent"  # a letta_v1_agent's turn would end with text
    data["agents"][0]["tool_rules"] = [
        {"tool_name": "send_message", "type": "continue_loop"},
        {"tool_name": "reject", "type": "continue_loop"},
        {"tool_name": "send_email", "type": "continue_loop"},
        {"tool_name": "evaluate_candidate", "type": "continue_loop"},
        {"tool_name": "retrieve_candidate", "type": "continue_loop"},
    ]
    result, config = imported(data, tmp_path)
    assert config.get("outreach_workflow_agent").tool_rules == ()
    assert any(note.startswith("agent 'outreach_workflow_agent': tool_rules: none kept") for note in result.notes)


def test_letta_v1_base_rules_are_kept(tmp_path: Path) -> None:
    """Letta gives a letta_v1_agent's tools a continue_loop rule each; a V3 turn ends with text after them."""
    data = load_json(DATA / "current_memgpt_agent.af")
    names = ("conversation_search", "memory_replace", "memory_insert")
    rules = [{"type": "continue_loop", "tool_name": name, "prompt_template": None} for name in names]
    rules.append({"type": "required_before_exit", "tool_name": "memory_insert", "prompt_template": None})
    data["agents"][0]["tool_rules"] = rules
    result, config = imported(data, tmp_path)
    assert not [note for note in result.notes if "tool rule" in note or "tool_rules" in note]
    assert len(config.get(result.agent_names[0]).tool_rules) == 4
    # Under letta-memgpt the same rules never let a turn end, and no rule was left out to say so of.
    data["agents"][0]["agent_type"] = "memgpt_agent"
    data["agents"][0]["tool_rules"].append({"type": "continue_loop", "tool_name": "send_message"})
    result, _ = imported(data, tmp_path / "memgpt")
    assert f"agent '{result.agent_names[0]}': tool_rules: none kept: no sequence of calls" in "\n".join(result.notes)


def test_a_tool_importing_a_package_not_installed_is_left_out(tmp_path: Path) -> None:
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    tool = data["tools"][0]
    tool["source_code"] = "import json\nimport no_such_package_here.sub\n" + tool["source_code"]
    tool["pip_requirements"] = [{"name": "no_such_package_here"}]
    result, config = imported(data, tmp_path)
    assert config.get("outreach_workflow_agent").tool(tool["name"]) is None
    assert f"tool '{tool['name']}' left out: its source imports 'no_such_package_here' when loaded" in "\n".join(
        result.notes
    )


def test_pip_requirements_are_reported(tmp_path: Path) -> None:
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    data["tools"][0]["pip_requirements"] = [{"name": "requests", "version": None}]
    result, _ = imported(data, tmp_path)
    assert any("pip_requirements not kept (install them)" in note and "requests" in note for note in result.notes)


def test_a_block_two_agents_hold_is_one_shared_block_in_the_order_letta_gives(tmp_path: Path) -> None:
    """Letta's sleep-time agents edit blocks they share with their primary: each agent got its own copy, so
    the edits never reached the primary. Shared, an agent's blocks still come in the file's order."""
    data = load_json(DATA / "current_memgpt_agent.af")
    labels = [block["label"] for block in data["blocks"]]
    data["blocks"].append({"id": "block-own", "label": "memory_persona", "value": "I tidy", "limit": 100})
    twin = json.loads(json.dumps(data["agents"][0]))
    twin.update(id="agent-9", name="twin")
    twin["block_ids"] = [twin["block_ids"][0], "block-own", *twin["block_ids"][1:]]
    data["agents"].append(twin)
    result, config = imported(data, tmp_path)
    assert not any("shared" in note for note in result.notes)
    document = yaml.safe_load(result.agents_yaml)
    assert [block["label"] for block in document["shared_blocks"]] == [*labels, "memory_persona"]
    assert document["agents"]["memgpt_agent"]["attach_blocks"] == labels
    assert document["agents"]["twin"]["attach_blocks"] == [labels[0], "memory_persona", *labels[1:]]
    primary, sleeptime = config.get("memgpt_agent"), config.get("twin")
    assert [block.label for block in sleeptime.blocks] == [labels[0], "memory_persona", *labels[1:]]
    assert all(block.shared for block in [*primary.blocks, *sleeptime.blocks])
    assert {block.label: block.value for block in primary.blocks} == {
        b["label"]: b["value"] for b in data["blocks"][:-1]
    }


def test_a_shared_block_whose_label_another_has_is_copied_and_said_so(tmp_path: Path) -> None:
    """agents.yaml's `shared_blocks` hold one block per label: a second pair sharing another `human` block keeps
    copies, and an agent's own block that cannot follow its shared ones is said to come first."""
    data = small_agent_file([])
    data["blocks"] += [
        {"id": "block-1", "label": "human", "value": "Name: Ann", "limit": 100},
        {"id": "block-2", "label": "notes", "value": "n", "limit": 100},
    ]
    base = data["agents"][0]
    data["agents"] += [
        {**base, "id": "agent-1", "name": "b"},  # shares block-0 (human) with a
        {**base, "id": "agent-2", "name": "c", "block_ids": ["block-2", "block-1"]},
        {**base, "id": "agent-3", "name": "d", "block_ids": ["block-2", "block-1"]},
    ]
    result, config = imported(data, tmp_path)
    assert (
        "agent 'c': block 'human' is shared with d in Letta; here each agent has its own copy (another shared "
        "block has its label, and agents.yaml's `shared_blocks` hold one block per label)"
    ) in result.notes
    assert (
        "agent 'c': block 'human' comes before the blocks it shares here, not after 'notes' (another shared "
        "block has its label; agents.yaml puts an agent's own blocks first)"
    ) in result.notes
    assert [(block.label, block.value, block.shared) for block in config.get("c").blocks] == [
        ("human", "Name: Ann", False),
        ("notes", "n", True),
    ]
    assert [(block.label, block.shared) for block in config.get("b").blocks] == [("human", True)]


def test_a_declared_tool_round_trips_through_export_and_import(tmp_path: Path) -> None:
    data = load_json(DATA / "current_outreach_workflow_agent.af")
    data["tools"][0]["source_code"] = None
    name = data["tools"][0]["name"]
    _, config = imported(data, tmp_path / "first")
    from harness.agentfile.exporter import export_agent

    exported = export_agent(config.get("outreach_workflow_agent"))
    (tool,) = [t for t in exported["tools"] if t["name"] == name]
    assert tool["source_code"] is None and tool["tool_type"] == "custom"
    _, again = imported(exported, tmp_path / "second")
    first, second = config.get("outreach_workflow_agent").tool(name), again.get("outreach_workflow_agent").tool(name)
    assert first is not None and second is not None
    assert first.openai_schema() == second.openai_schema()


# Modelled on the `note` and `vault` tools of letta-ai/agent-file's co-3 and loop: their own typing import
# (Literal unused), whitespace-only lines in the docstring and in a string literal; and a tool relying on
# the typing names Letta puts in scope.
NOTE_LIKE = (
    "from typing import Literal, Optional\nimport re\n\n\n"
    "def {name}(command: str, path: Optional[str] = None) -> str:\n"
    '    """\n    Manage {name}s.\n    \n    Args:\n        command: The operation\n        path: Where\n    """\n'
    '    banner = """top\n   \nbottom"""\n    \n    return banner + re.escape(command) + (path or "")'
)
SCOPED = (
    'def plain(text: Optional[str] = None) -> str:\n    """Plain.\n\n    Args:\n        text: it\n    """\n'
    '    return text or ""\n'
)


def test_custom_tool_source_round_trips_byte_for_byte(tmp_path: Path, forget_tools: Callable[[], None]) -> None:
    """Export emptied lines of whitespace alone (inside a string literal too: 'top\\n   \\nbottom' came back
    'top\\n\\nbottom'), wrote `from typing import Optional` once per tool's import of it and left `Literal` out."""
    sources = {"note": NOTE_LIKE.format(name="note"), "plain": SCOPED, "vault": NOTE_LIKE.format(name="vault")}

    def agent_file(sources: dict[str, str]) -> dict[str, Any]:
        data = _with_custom_tools(sources)
        data["agents"][0]["agent_type"] = "letta_v1_agent"  # whose loop calls a tool taking Optional[str]
        return data

    _, config = imported(agent_file(sources), tmp_path / "first")
    exported = {tool["name"]: tool["source_code"] for tool in export_agent(config.get("a"))["tools"]}
    assert {name: exported[name] for name in sources} == {name: s.rstrip("\n") + "\n" for name, s in sources.items()}
    scope: dict[str, Any] = {}
    exec("from typing import *\n" + exported["vault"], scope)  # as Letta's sandbox runs it
    assert scope["vault"]("x") == "top\n   \nbottomx"
    forget_tools()
    again, _ = imported(agent_file({name: exported[name] for name in sources}), tmp_path / "second")
    first = (tmp_path / "first" / f"{TOOLS_MODULE}.py").read_text(encoding="utf-8")
    assert again.tools_module is not None and again.tools_module.split("\n", 1)[1] == first.split("\n", 1)[1]


def test_only_in_context_messages_go_into_the_history(tmp_path: Path) -> None:
    data = load_json(DATA / "legacy_memgpt_agent.af")
    data["in_context_message_indices"] = [0, 3]  # the system message and the login event
    result, _ = imported(data, tmp_path)
    assert yaml.safe_load(result.histories["memgpt_agent"])["messages"] == [
        {"role": "user", "content": data["messages"][3]["content"][0]["text"]}
    ]
    assert "agent 'memgpt_agent': message history: 2 messages out of context not kept" in result.notes


def test_a_result_whose_call_is_out_of_context_is_left_out_and_says_why(tmp_path: Path) -> None:
    data = load_json(DATA / "legacy_memgpt_agent.af")
    data["in_context_message_indices"] = [0, 2, 3]  # a tool result whose call is out of context
    result, _ = imported(data, tmp_path)
    assert [m["role"] for m in yaml.safe_load(result.histories["memgpt_agent"])["messages"]] == ["user"]
    note = "message history: message 1 (tool): not kept: it answers no call made before it"
    assert any(note in text for text in result.notes)


KWARGS_CASES = [
    ("gpt-4o-mini", False, False),
    ("gpt-4", True, True),
    ("gpt-4o-mini", True, None),
    ("gpt-4", False, None),
]


@pytest.mark.parametrize(("model", "setting", "written"), KWARGS_CASES)
def test_put_inner_thoughts_in_kwargs_is_kept_when_it_is_not_lettas_default(
    tmp_path: Path, model: str, setting: bool, written: bool | None
) -> None:
    """The letta-memgpt loop reads it: inner thoughts go in an `inner_thoughts` argument, or stay in the text.
    Letta's default (true, but for gpt-4) is left unsaid; export -> import gives the same agents.yaml."""
    data = load_json(DATA / "legacy_memgpt_agent.af")
    agent = data["agents"][0] if "agents" in data else data
    agent["llm_config"].update(model=model, put_inner_thoughts_in_kwargs=setting)
    result, config = imported(data, tmp_path)
    assert not [note for note in result.notes if "put_inner_thoughts_in_kwargs" in note]
    spec = config.get("memgpt_agent")
    assert spec.model.put_inner_thoughts_in_kwargs == written
    tools = LettaMemGPTLoop(spec).tools(cast(Any, None), list(spec.tools))  # the schemas need no host
    assert all(("inner_thoughts" in t["function"]["parameters"]["properties"]) is setting for t in tools)
    exported = export_agent(spec)
    assert exported["agents"][0]["llm_config"]["put_inner_thoughts_in_kwargs"] is setting
    _, config_again = imported(exported, tmp_path / "again")
    assert config_again.get("memgpt_agent").model.put_inner_thoughts_in_kwargs == written


def test_a_history_too_big_for_a_scenario_to_read_is_not_written(tmp_path: Path) -> None:
    """It was written (5.5 MB), and the scenario the import says to write was refused by validate."""
    data = json.loads((DATA / "legacy_memgpt_agent.af").read_text(encoding="utf-8"))
    data["messages"][3]["content"] = [{"type": "text", "text": "x " * 2_600_000}]
    result = import_agent_file(parse_agent_file(json.dumps(data), "long.af"), "long.af")
    assert result.histories == {}
    assert any("message history not kept: too big for a scenario's history file" in note for note in result.notes)


@pytest.mark.parametrize("too_big", ["values", "text"])
def test_a_history_surely_too_big_is_never_written_out_to_find_so(
    too_big: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 41 MB file's 120,000 messages took over a minute to write as YAML, only to be found too big then; what
    is surely past the limits (its values, its strings' length) is not written."""
    from harness.agentfile import importer

    dumped: list[Any] = []
    monkeypatch.setattr(importer, "_dump_yaml", lambda data: dumped.append(data) or "x: 1\n")
    count, text = (45_000, "hi") if too_big == "values" else (3, "x" * 1_500_000)
    messages = [{"id": f"m{i}", "role": "user", "content": [{"type": "text", "text": text}]} for i in range(count)]
    data = small_agent_file([], messages=messages, in_context_message_ids=[m["id"] for m in messages])
    result = import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af")
    assert result.histories == {}
    limit = "more than 200000 values" if too_big == "values" else "more than 4 MB"
    assert f"agent 'a': message history not kept: too big for a scenario's history file ({limit}" in "\n".join(
        result.notes
    )
    assert [list(data) for data in dumped] == [["agents"]]  # agents.yaml only


def _with_custom_tools(sources: dict[str, str]) -> dict[str, Any]:
    return small_agent_file(
        [
            {"id": f"tool-{name}", "name": name, "tool_type": "custom", "source_code": source}
            for name, source in sources.items()
        ]
    )


def _tool_source(name: str, helper: str) -> str:
    return (
        f"import os\nfrom typing import Optional\n\ndef _fmt(x):\n    return {helper!r} + x\n\n"
        f'def {name}(city: str) -> str:\n    """Do it.\n\n    Args:\n        city: where\n    """\n'
        "    return _fmt(city)\n"
    )


def test_tool_sources_that_define_one_name_differently_are_not_put_in_one_module(tmp_path: Path) -> None:
    """Letta runs each source apart: in one agent_tools.py the second `_fmt` silently replaced the first."""
    data = _with_custom_tools(
        {"get_temp": _tool_source("get_temp", "celsius:"), "purge": _tool_source("purge", "DELETE ")}
    )
    result = import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af")
    assert (
        "agent 'a': tool 'purge' left out: its source defines '_fmt' otherwise than tool 'get_temp''s does: Letta "
        "runs each tool's source apart, one agent_tools.py would give both one of them"
    ) in result.notes
    spec = load_agents(write(result, tmp_path)).get("a")
    assert {tool.name for tool in spec.tools} == {"send_message", "get_temp"}
    same = _with_custom_tools({"one": _tool_source("one", "x"), "two": _tool_source("two", "x")})
    result = import_agent_file(parse_agent_file(json.dumps(same), "t.af"), "t.af")  # the same helper: kept
    assert not any("left out" in note for note in result.notes)


def test_a_tool_source_defining_a_name_the_module_gives_every_tool_is_left_out() -> None:
    data = _with_custom_tools({"Optional": _tool_source("Optional", "x")})
    result = import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af")
    assert (
        "agent 'a': tool 'Optional' left out: its source defines 'Optional', which agent_tools.py gives every "
        "tool (from typing or the harness)"
    ) in result.notes


def test_an_id_given_twice_names_the_first_and_says_so() -> None:
    """The agent named block-0, the human block; the import gave it the other block of that id, silently."""
    data = _with_custom_tools({})
    data["blocks"] = [
        {"id": "block-0", "label": "human", "value": "Name: Bob", "limit": 5000},
        {"id": "block-0", "label": "persona", "value": "p", "limit": 5000},
    ]
    data["agents"][0]["block_ids"] = ["block-0"]
    result = import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af")
    assert "block id 'block-0' is given twice: the first block of that id is kept" in result.notes
    assert "label: human" in result.agents_yaml and "label: persona" not in result.agents_yaml


def test_notes_say_what_happened_to_same_named_agents_and_odd_tools() -> None:
    """The notes said 'shared with  in Letta' (no one), blamed the name's characters for a rename made for a
    duplicate, called a nameless tool absent, and let an external tool become a built-in silently."""
    data = small_agent_file(
        [
            {"id": "tool-1", "name": None, "tool_type": "custom"},
            {"id": "tool-2", "name": "core_memory_append", "tool_type": "external_mcp"},
        ]
    )
    data["agents"].append({**data["agents"][0], "id": "agent-1"})  # a second agent named `a`, sharing block-0
    data["blocks"].append({"id": "block-1", "label": "human", "value": "Name: Ann"})
    data["agents"].append({**data["agents"][0], "id": "agent-2", "block_ids": ["block-1"]})
    data["agents"].append({**data["agents"][0], "id": "agent-3", "block_ids": ["block-1"]})
    notes = import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af").notes
    assert "agent 'a': renamed 'a_2' (another agent of the file has that name)" in notes
    assert (
        "agent 'a_3': block 'human' is shared by 2 agents named 'a' in Letta; here each agent has its own copy "
        "(another shared block has its label, and agents.yaml's `shared_blocks` hold one block per label)"
    ) in notes
    assert "agent 'a': tool id 'tool-1' has no name: left out" in notes
    assert (
        "agent 'a': tool 'core_memory_append': an external tool (external_mcp) named as a Letta built-in: the "
        "built-in is kept"
    ) in notes


def test_a_lone_surrogate_in_the_file_becomes_a_replacement_character() -> None:
    """`"\\ud800"` is legal JSON, but no UTF-8 file holds it: the import failed, blaming an agents.yaml it had
    not written."""
    data = small_agent_file([])
    data["blocks"][0]["value"] = "Name: Bob\ud800"
    text = json.dumps(data)  # ensure_ascii: the surrogate as its escape
    result = import_agent_file(parse_agent_file(text, "t.af"), "t.af")
    assert "value: 'Name: Bob\ufffd'" in result.agents_yaml


def test_tool_fields_agents_yaml_has_no_place_for_are_reported(tmp_path: Path) -> None:
    """A tool Letta runs only once a human approves it, or whose result Letta cuts short, runs here unasked and
    uncut: said under `not kept` (Letta's default return_char_limit is not: real files carry it everywhere)."""
    source = 'def wipe(confirm: str) -> str:\n    """Wipe.\n\n    Args:\n        confirm: say yes\n    """\n'
    tools = [
        {"id": "tool-1", "name": "wipe", "tool_type": "custom", "source_code": source, "return_char_limit": 100,
         "default_requires_approval": True},
        {"id": "tool-2", "name": "core_memory_append", "tool_type": "letta_memory_core", "return_char_limit": 50000},
    ]  # fmt: skip
    result, config = imported(small_agent_file(tools), tmp_path)
    assert config.get("a").tool("wipe") is not None
    assert [note for note in result.notes if "tool '" in note] == [
        "agent 'a': tool 'wipe': default_requires_approval true not kept (the harness has no human to approve a "
        "call: it runs the tool)",
        "agent 'a': tool 'wipe': return_char_limit 100 not kept (Letta cuts the tool's result there; agents.yaml "
        "has no place for it)",
    ]
    legacy = load_json(DATA / "legacy_outreach_workflow_agent.af")
    legacy["tools"][0]["return_char_limit"] = 300
    notes = import_agent_file(parse_agent_file(json.dumps(legacy), "f.af"), "f.af").notes
    assert f"tool '{legacy['tools'][0]['name']}': return_char_limit 300 not kept" in "\n".join(notes)


def test_only_llm_fields_the_file_sets_are_reported_not_kept(tmp_path: Path) -> None:
    """`enable_reasoner True not kept` was said of every file that never set it: True is the default of
    Letta's schema, not a setting the file carried."""
    llm = {"model": "m", "model_endpoint_type": "openai", "model_endpoint": "http://h/v1", "context_window": 8000}
    result, _ = imported(small_agent_file([], llm_config=llm), tmp_path / "a")
    assert "enable_reasoner" not in "\n".join(result.notes)
    result, _ = imported(small_agent_file([], llm_config={**llm, "enable_reasoner": True}), tmp_path / "b")
    assert "llm_config.enable_reasoner True not kept" in "\n".join(result.notes)


def test_a_context_window_past_the_harness_range_is_reported_not_kept(tmp_path: Path) -> None:
    """It was kept, and the agents.yaml written validated, then failed every scenario (OverflowError)."""
    llm = {"model": "m", "model_endpoint_type": "openai", "model_endpoint": "http://h/v1", "context_window": 10**400}
    result, config = imported(small_agent_file([], llm_config=llm), tmp_path)
    assert config.get("a").context_window is None
    assert "llm_config.context_window 1000" in "\n".join(result.notes)
    assert "not kept (the harness takes 64 to 1,000,000,000)" in "\n".join(result.notes)


POSTPONED = '''from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def plot(points: Sequence[Point], scale: int = 1) -> Point | None:
    """Plot points.

    Args:
        points: the points
        scale: how big
    """
    note: Undefined = None  # a local's annotation: never evaluated
    return points[0] if points else None


class Point(BaseModel):
    x: int
    nearest: Point | None = None
'''


def test_a_tool_postponing_its_annotations_is_kept_without_the_future_import(tmp_path: Path) -> None:
    """`from __future__ import annotations` after agent_tools.py's header is a SyntaxError: the whole import was
    refused, every other tool blamed."""
    source = "from pydantic import BaseModel\n" + POSTPONED
    data = _with_custom_tools({"plot": source, "other": _tool_source("other", "x")})
    data["agents"][0]["agent_type"] = "letta_v1_agent"  # letta-memgpt coerces no Sequence[...] argument
    result, config = imported(data, tmp_path)
    assert (
        "agent 'a': tool 'plot': `from __future__` import left out of its source (it must open a module, and "
        "agent_tools.py holds every tool's source); 3 annotations it kept from being evaluated are written as "
        "strings"
    ) in result.notes
    assert result.tools_module is not None and "__future__" not in result.tools_module
    assert "def plot(points: 'Sequence[Point]', scale: int = 1) -> 'Point | None':" in result.tools_module
    assert "    note: Undefined = None" in result.tools_module
    tool = config.get("a").tool("plot")
    assert tool is not None and config.get("a").tool("other") is not None
    assert tool.parameters_schema()["properties"]["scale"]["type"] == "integer"
    assert tool.function(points=[]) is None


def test_a_future_import_agent_tools_py_cannot_hold_leaves_only_that_tool_out() -> None:
    for source, why in [
        ("from __future__ import barry_as_FLUFL\n", "imports barry_as_FLUFL from __future__"),
        ("from __future__ import annotations; import os\n", "shares a line with its `from __future__` import"),
    ]:
        data = _with_custom_tools({"odd": source + _tool_source("odd", "x"), "other": _tool_source("other", "x")})
        result = import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af")
        assert any(note.startswith(f"agent 'a': tool 'odd' left out: its source {why}") for note in result.notes)
        assert result.tools_module is not None and "def other(" in result.tools_module


@pytest.mark.parametrize("end", ["\r", "\r\n", "mixed"])
def test_a_docstring_is_written_into_a_source_of_any_line_endings(end: str, tmp_path: Path) -> None:
    """`ast` ends a line at a lone \\r too: the import split on \\n only, and crashed with an IndexError
    (or, with mixed endings, put the docstring on another line)."""
    lines = ["import os", "", "def book(room: str, nights: int = 1) -> str:", "    x = room", "    return x"]
    source = "\r".join(lines[:3]) + "\n" + "\n".join(lines[3:]) + "\n" if end == "mixed" else end.join(lines) + end
    documented = with_docstring(source, "book", BOOK_SCHEMA)
    assert documented is not None and source_problem("book", documented) is None
    data = _with_custom_tools({"book": source})
    data["tools"][1]["json_schema"] = BOOK_SCHEMA
    result, config = imported(data, tmp_path)
    assert "agent 'a': tool 'book': its source has no docstring; one was written from its JSON schema" in result.notes
    tool = config.get("a").tool("book")
    assert tool is not None and tool.function(room="r") == "r"


def test_a_memory_header_of_a_later_letta_than_the_loop_s_is_said_not_kept() -> None:
    """Letta 0.6.39-0.7 write a line of recent archival passages (empty at first: one blank line more before
    "Core memory shown below"); letta-memgpt compiles 0.6.23's header, and the import said nothing of it."""
    result = import_agent_file(read_agent_file(DATA / "legacy_memgpt_agent.af"), "legacy_memgpt_agent.af")
    assert (
        "agent 'memgpt_agent': the memory header its system message shows (a line of recent archival passages "
        "before 'Core memory shown below', as Letta 0.6.47 writes it) not kept: the letta-memgpt loop compiles "
        "Letta 0.6.23's"
    ) in result.notes
    text = (DATA / "legacy_memgpt_agent.af").read_text(encoding="utf-8")
    later = "(use functions to access them)\\n\\n\\nCore memory shown below"
    assert later in text
    as_0623 = text.replace(later, "(use functions to access them)\\n\\nCore memory shown below")
    result = import_agent_file(parse_agent_file(as_0623, "as_0623.af"), "as_0623.af")
    assert not any("memory header" in note for note in result.notes)
    # the header the note compares with is the one the loop compiles
    from datetime import UTC, datetime

    from harness.agentfile.importer import LETTA_0623_HEADER
    from harness.loops.letta_memgpt import compile_system_message

    assert LETTA_0623_HEADER.search(compile_system_message("You are X", "<human>\n</human>", datetime.now(UTC)))


DEFAULT_TEMPLATES = [  # Letta 0.9-0.11's defaults, which their exports (ezra.af) carry on every rule
    {
        "type": "exit_loop",
        "tool_name": "send_message",
        "prompt_template": "<tool_rule>\n{{ tool_name }} ends your response (yields control) when called\n</tool_rule>",
    },
    {
        "type": "constrain_child_tools",
        "tool_name": "core_memory_append",
        "children": ["send_message"],
        "prompt_template": "<tool_rule>\nAfter using {{ tool_name }}, you must use one of these tools: "
        "{{ children | join(', ') }}\n</tool_rule>",
    },
    {
        "type": "max_count_per_step",
        "tool_name": "core_memory_append",
        "max_count_limit": 2,
        "prompt_template": "<tool_rule>\n{{ tool_name }}: at most {{ max_count_limit }} use(s) per response\n"
        "</tool_rule>",
    },
]


@pytest.mark.parametrize("agent_type", ["letta_v1_agent", "memgpt_agent"])
def test_a_default_prompt_template_the_loop_shows_as_it_is_is_not_said_not_kept(agent_type: str) -> None:
    """The harness shows the model exactly what Letta's default templates render (in `<tool_usage_rules>`), yet
    every such rule was reported 'prompt_template not kept'; letta-memgpt (Letta 0.6) shows no rules at all."""
    rules = [*DEFAULT_TEMPLATES, {"type": "continue_loop", "tool_name": "core_memory_append", "prompt_template": "x"}]
    data = small_agent_file(
        [{"id": "tool-1", "name": "core_memory_append", "tool_type": "letta_memory_core"}],
        agent_type=agent_type,
        tool_rules=rules,
    )
    notes = import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af").notes
    said = [note for note in notes if "prompt_template not kept" in note]
    if agent_type == "memgpt_agent":
        assert len(said) == 4
    else:
        assert said == ["agent 'a': tool rule continue_loop on 'core_memory_append': prompt_template not kept"]


def test_a_schema_tool_agents_yaml_cannot_declare_is_left_out_with_the_reason() -> None:
    """A tool named `web.search` was said to be left out as 'defined only by a JSON schema ... which the harness
    does not have': the harness declares such tools; its name is what it cannot take."""
    schema = {"name": "web.search", "description": "Search.", "parameters": {"type": "object", "properties": {}}}
    tools = [
        {"id": "tool-1", "name": "web.search", "tool_type": "custom", "json_schema": schema},
        {"id": "tool-2", "name": "mcp.fetch", "tool_type": "external_mcp", "json_schema": schema},
    ]
    notes = import_agent_file(parse_agent_file(json.dumps(small_agent_file(tools)), "t.af"), "t.af").notes
    assert (
        "agent 'a': tool 'web.search' left out: defined only by a JSON schema, which agents.yaml cannot declare: "
        "tool name 'web.search' is not a function name (letters, digits, '_' and '-', at most 64)"
    ) in notes
    assert (
        "agent 'a': tool 'mcp.fetch' left out: an external tool (external_mcp), which agents.yaml cannot declare: "
        "tool name 'mcp.fetch' is not a function name (letters, digits, '_' and '-', at most 64)"
    ) in notes


def test_a_tool_letta_memgpt_could_never_call_is_left_out_of_that_agent_alone(
    tmp_path: Path, forget_tools: Callable[[], None]
) -> None:
    """`validate` refuses, under letta-memgpt, a parameter Letta 0.6.23 cannot convert an argument to (every
    call fails): Letta's own mock_alice.af (a `List[SearchTask]`) was refused whole, nothing written."""
    source = (
        "from typing import List\n\ndef search(tasks: List[str], limit: int, *, deep: list[str] = []) -> str:\n"
        '    """Search.\n\n    Args:\n        tasks: what\n        limit: how many\n        deep: more\n    """\n'
        '    return ""\n'
    )
    tools = [{"id": "tool-1", "name": "search", "tool_type": "custom", "source_code": source}]
    data = small_agent_file(tools)
    data["agents"].append({**data["agents"][0], "id": "agent-1", "name": "b", "agent_type": "letta_v1_agent"})
    result, config = imported(data, tmp_path)
    assert (
        "agent 'a': tool 'search' left out: its source annotates 'tasks' (`List[str]`) with a type Letta 0.6.23 "
        "does not convert an argument to, so under the letta-memgpt loop every call passing one fails "
        '("Unsupported annotation"); it knows only int, float, str, dict, list, set, tuple, bool'
    ) in result.notes
    assert config.get("a").tool("search") is None and config.get("b").tool("search") is not None
    data["tools"][1]["source_code"] = source.replace("List[str]", "list")
    forget_tools()
    _, config = imported(data, tmp_path / "plain")
    assert config.get("a").tool("search") is not None  # keyword-only parameters are not converted


def test_a_memgpt_prompt_with_braces_letta_0_6_cannot_format_is_written_as_letta_shows_it(tmp_path: Path) -> None:
    """Letta's knowledge-base.af fixtures: `e.g. {key1:val1, key2:val2}` in a memgpt_agent's prompt, which
    Letta 0.7 on shows as written and 0.6.23's str.format cannot read: the import was refused whole. Its
    braces are written doubled, and the compiled message shows them as the file's Letta did."""
    data = small_agent_file([], system="Answer like {key1:val1, key2:val2}.\n{CORE_MEMORY}")
    result, config = imported(data, tmp_path)
    spec = config.get("a")
    assert spec.system == "Answer like {{key1:val1, key2:val2}}.\n{CORE_MEMORY}"
    compiled = compile_system_message(spec.system, "<memory>", datetime(2025, 1, 1, tzinfo=UTC))
    assert compiled.startswith("Answer like {key1:val1, key2:val2}.\n### Memory")
    assert any("braces written doubled" in note for note in result.notes)


def test_blocks_and_tools_no_agent_holds_are_said_not_kept() -> None:
    """letta-ai/agent-file's ezra holds 56 blocks and 6 tools, its one agent 21 and 2: the other 35 blocks
    (79,093 characters) and 4 tools vanished without a note."""
    data = small_agent_file([{"id": "tool-1", "name": "memory_rethink", "tool_type": "letta_sleeptime_core"}])
    data["agents"][0]["tool_ids"] = ["tool-0"]
    data["blocks"] += [
        {"id": f"block-{index}", "label": f"system/notes_{index}", "value": "x" * index, "limit": 5000}
        for index in range(1, 13)
    ]
    result = import_agent_file(parse_agent_file(json.dumps(data), "t.af"), "t.af")
    listed = ", ".join(f"system/notes_{index}" for index in range(1, 11))
    assert f"blocks: 12 attached to no agent not kept ({listed}, ... (2 more); 78 characters)" in result.notes
    assert "tools: 1 attached to no agent not kept (memory_rethink)" in result.notes
    held = import_agent_file(parse_agent_file(json.dumps(small_agent_file([])), "t.af"), "t.af")
    assert not any("attached to no agent" in note for note in held.notes)


def test_the_older_format_reports_what_the_current_one_does() -> None:
    """A letta 0.6-0.8 export's `message_buffer_autoclear: true` and a block's template_name went unsaid: the
    current format's were said not kept."""
    legacy = load_json(DATA / "legacy_outreach_workflow_agent.af")
    assert legacy["message_buffer_autoclear"] is True
    legacy["core_memory"] = [{"label": "human", "value": "v", "limit": 100, "template_name": "tpl"}]
    notes = import_agent_file(parse_agent_file(json.dumps(legacy), "f.af"), "f.af").notes
    current = small_agent_file([], message_buffer_autoclear=True)
    current["blocks"][0]["template_name"] = "tpl"
    current_notes = import_agent_file(parse_agent_file(json.dumps(current), "g.af"), "g.af").notes
    for said in ("message_buffer_autoclear not kept", "block 'human': template_name 'tpl' not kept"):
        assert f"agent 'a': {said}" in current_notes
        assert f"agent 'outreach_workflow_agent': {said}" in notes
