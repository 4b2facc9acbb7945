from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.config import AgentsConfig, ModelSettings, json_schema, load_agents
from harness.errors import ConfigError
from harness.memory import Block, Memory, MemoryEditError
from tests.helpers import ROOT, SEED_AGENTS, SEED_MEMORY

Load = Callable[[str], AgentsConfig]
Write = Callable[..., Path]


def problems_of(write_agents: Write, text: str) -> tuple[Path, ConfigError]:
    path = write_agents(text)
    with pytest.raises(ConfigError) as info:
        load_agents(path)
    return path, info.value


# ------------------------------------------------------------------ the real agents.yaml


def test_seed_agents_file_loads(seed_config: AgentsConfig) -> None:
    assert list(seed_config.agents)[:2] == ["chat", "task_agent"]
    chat = seed_config.get("chat")
    assert chat.model.name  # from `defaults`
    assert [t.name for t in chat.tools] == ["send_message", "core_memory_append", "core_memory_replace"]
    assert chat.new_memory().compile() == SEED_MEMORY
    task = seed_config.get("task_agent")
    assert [t.name for t in task.tools][-2:] == ["task_queue_push", "task_queue_pop"]
    memory = task.new_memory()
    assert memory.list_block_labels() == ["persona", "human", "tasks"]
    assert memory.get_block("tasks").value == "[]"
    assert {b.limit for b in memory} == {2000}
    assert memory.get_block("tasks").description == "Pending tasks, a JSON list of strings"


def test_seed_system_message_is_prompt_then_memory(seed_config: AgentsConfig) -> None:
    chat = seed_config.get("chat")
    prompt = (ROOT / "prompts" / "memgpt_chat.txt").read_text().rstrip("\n")
    assert chat.system == prompt
    assert chat.system_message(chat.new_memory()) == prompt + "\n\n" + SEED_MEMORY


def test_unknown_agent_name(seed_config: AgentsConfig) -> None:
    with pytest.raises(ConfigError, match="no agent named 'nope'; defined: chat, task_agent"):
        seed_config.get("nope")


def test_json_schema_describes_the_file() -> None:
    schema = json_schema()
    assert schema["required"] == ["agents"]
    assert "defaults" in schema["properties"]


# ------------------------------------------------------------------ located mistakes


def test_misspelt_key_names_file_line_key_and_valid_keys(write_agents: Write) -> None:
    path, error = problems_of(
        write_agents,
        """
        agents:
          chat:
            model: gpt-4o-mini
            sytem: hello
            tools: [send_message]
        """,
    )
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert (problem.file, problem.line, problem.key) == (str(path), 4, "agents.chat.sytem")
    text = str(error)
    assert text.startswith(f"{path}:4:")
    assert "agents.chat.sytem" in text
    assert "did you mean 'system'?" in text
    valid = (
        "system, system_file, model, embedding, blocks, tools, tool_rules, attach_blocks, max_steps, loop, clock, "
        "context_window, memory_warning, tool_timeout, extends, description"
    )
    assert f"valid keys: {valid}" in text


def test_a_boolean_where_a_number_is_expected_is_a_located_mistake(write_agents: Write, load_text: Load) -> None:
    """pydantic took True for 1: `max_steps: yes` was one step, `temperature: on` 1.0, `limit: yes` a limit
    of 1. A number written as an integer where a float is expected is still a number, and an integer
    written 4.0 an integer (JSON Schema's integer, which an editor checks against, includes it)."""
    _, error = problems_of(
        write_agents,
        """
        defaults:
          model: {name: m, temperature: on, timeout: true}
          max_steps: yes
        agents:
          chat:
            system: hello
            blocks: [{label: human, value: Bob, limit: yes}]
        """,
    )
    yaml_booleans = "(YAML reads yes, no, on, off, true and false as booleans)"
    assert [(p.line, p.key, p.message) for p in error.problems] == [
        (2, "defaults.model.temperature", f"expected a number, not true {yaml_booleans}"),
        (2, "defaults.model.timeout", f"expected a number, not true {yaml_booleans}"),
        (3, "defaults.max_steps", f"expected an integer, not true {yaml_booleans}"),
        (7, "agents.chat.blocks[0].limit", f"expected an integer, not true {yaml_booleans}"),
    ]
    config = load_text(
        """
        defaults:
          model: {name: m, temperature: 1, timeout: 30}
          max_steps: 4.0
        agents:
          chat: {system: hello, blocks: [{label: human, value: Bob, limit: 100}], tools: [send_message]}
        """
    )
    chat = config.get("chat")
    assert (chat.model.temperature, chat.model.timeout, chat.max_steps) == (1.0, 30.0, 4)


def test_a_quoted_number_or_boolean_is_text_as_the_json_schema_says(write_agents: Write) -> None:
    """pydantic's lax mode took "0" for 0 and 'no' for false, which the JSON Schema an editor uses refuses:
    the loader refuses them too, saying how to write the value."""
    _, error = problems_of(
        write_agents,
        """
        defaults:
          model: {name: m, temperature: '0', seed: "42", stream: 'true', timeout: 1e3}
          memory_warning: 'yes'
        agents:
          chat:
            system: hello
            context_window: 8000.5
            blocks: [{label: human, value: Bob, limit: '100', read_only: 'no'}, {label: p, read_only: 1}]
        """,
    )
    boolean, quotes = "expected a boolean (true or false), not", ": write it without quotes"
    assert [(p.line, p.key, p.message) for p in error.problems] == [
        (2, "defaults.model.temperature", f"expected a number, not the text '0'{quotes}"),
        (2, "defaults.model.seed", f"expected an integer, not the text '42'{quotes}"),
        (2, "defaults.model.stream", f"{boolean} the text 'true'{quotes}"),
        (2, "defaults.model.timeout", "expected a number, not the text '1e3', which YAML reads as text: write 1000.0"),
        (3, "defaults.memory_warning", f"{boolean} the text 'yes'{quotes}"),
        (
            7,
            "agents.chat.context_window",
            "Input should be a valid integer, got a number with a fractional part (got 8000.5)",
        ),
        (8, "agents.chat.blocks[0].limit", f"expected an integer, not the text '100'{quotes}"),
        (8, "agents.chat.blocks[0].read_only", f"{boolean} the text 'no'{quotes}"),
        (8, "agents.chat.blocks[1].read_only", f"{boolean} the number 1"),
    ]


def test_several_mistakes_are_reported_together(write_agents: Write) -> None:
    path, error = problems_of(
        write_agents,
        """
        defaults:
          model: {name: m, temprature: 0}
        agents:
          chat:
            system: hi
            blocks:
              - {label: human, value: Bob, limt: 10}
            tools: [send_message]
            max_steps: many
        """,
    )
    keys = {p.key: p for p in error.problems}
    assert set(keys) == {"defaults.model.temprature", "agents.chat.blocks[0].limt", "agents.chat.max_steps"}
    assert keys["defaults.model.temprature"].line == 2
    assert "did you mean 'temperature'?" in keys["defaults.model.temprature"].message
    assert keys["agents.chat.blocks[0].limt"].line == 7
    assert "did you mean 'limit'?" in keys["agents.chat.blocks[0].limt"].message
    assert "valid keys: label, value, limit, description, read_only, metadata" in str(error)
    assert keys["agents.chat.max_steps"].line == 9
    assert keys["agents.chat.max_steps"].message == "expected an integer, not the text 'many'"
    assert len(str(error).splitlines()) == 3
    assert all(line.startswith(str(path)) for line in str(error).splitlines())


def test_compile_mistakes_are_reported_together(write_agents: Write) -> None:
    _, error = problems_of(
        write_agents,
        """
        defaults:
          model: m
        agents:
          a:
            extends: b
            system: s
            tools: [send_message]
          b:
            extends: a
            system: s
            tools: [send_message]
          orphan:
            extends: nobody
          silent:
            tools: [send_message]
          dup:
            system: s
            blocks:
              - {label: y}
              - {label: y}
            tools: [send_message, send_mesage]
          mute:
            system: s
            tools: [core_memory_append]
        """,
    )
    by_key = {p.key: p.message for p in error.problems}
    assert "`extends` loops: a -> b -> a" in by_key["agents.b.extends"]
    assert "`extends` loops: b -> a -> b" in by_key["agents.a.extends"]
    assert by_key["agents.orphan.extends"].startswith("no agent named 'nobody' to extend; defined: a, b, orphan")
    assert by_key["agents.silent"].startswith("no system prompt")
    assert by_key["agents.dup.blocks[1].label"] == "duplicate block label 'y'"
    assert by_key["agents.dup.tools[1]"].startswith("unknown tool 'send_mesage'")
    assert "add `send_message` to `tools`" in by_key["agents.mute.tools"]
    assert len(error.problems) == 7


def test_block_value_over_limit(write_agents: Write) -> None:
    _, error = problems_of(
        write_agents,
        """
        agents:
          chat:
            model: m
            system: s
            blocks:
              - {label: human, value: "Name: Bob", limit: 4}
            tools: [send_message]
        """,
    )
    [problem] = error.problems
    assert problem.key == "agents.chat.blocks[0]"
    assert problem.line == 6
    assert problem.message == (
        "value of block 'human' has 9 characters, over its limit of 4: raise `limit` or shorten `value`"
    )


def test_typed_block_schema_is_loaded_into_the_block(load_text: Load) -> None:
    config = load_text(
        """
        agents:
          tasks:
            model: m
            system: s
            blocks:
              - label: tasks
                value: "[]"
                schema: {type: array, items: {type: string}}
            tools: [send_message]
        """
    )
    block = config.get("tasks").new_memory().get_block("tasks")
    assert block.schema == {"type": "array", "items": {"type": "string"}}
    with pytest.raises(MemoryEditError, match="must hold JSON matching its schema: the value is not JSON"):
        block.value = "[]\n1. Explain my name"


def test_block_schema_mistakes_are_located(write_agents: Write) -> None:
    _, error = problems_of(
        write_agents,
        """
        agents:
          chat:
            model: m
            system: s
            blocks:
              - {label: tasks, value: "[]", schema: {type: arrayy}}
              - {label: list, value: "{}", schema: {type: array}}
              - {label: names, value: "[]", schema: [not, a, mapping]}
            tools: [send_message]
        """,
    )
    found = [(p.key, p.line, p.message) for p in error.problems]
    assert found[0][:2] == ("agents.chat.blocks[0]", 6)
    assert found[0][2].startswith("`schema` of block 'tasks' is not a valid JSON Schema: 'arrayy' is not valid")
    assert found[1] == (
        "agents.chat.blocks[1]",
        7,
        "value of block 'list' does not match its `schema`: {} is not of type 'array'",
    )
    assert found[2][0] == "agents.chat.blocks[2].schema"
    assert len(found) == 3


def test_missing_model_and_both_prompts(write_agents: Write) -> None:
    path = write_agents(
        """
        agents:
          chat:
            system: s
            system_file: p.txt
            tools: [send_message]
        """
    )
    (path.parent / "p.txt").write_text("from file\n")
    with pytest.raises(ConfigError) as info:
        load_agents(path)
    messages = sorted(p.message for p in info.value.problems)
    assert any(m.startswith("give either `system` or `system_file`") for m in messages)
    assert any(m.startswith("no model") for m in messages)


def test_unreadable_system_file(write_agents: Write) -> None:
    _, error = problems_of(
        write_agents,
        """
        agents:
          chat:
            model: m
            system_file: missing.txt
            tools: [send_message]
        """,
    )
    [problem] = error.problems  # and no misleading "no system prompt" besides
    assert problem.key == "agents.chat.system_file"
    assert "cannot read system prompt file" in problem.message


def test_mistake_in_defaults_or_parent_is_reported_once(write_agents: Write) -> None:
    _, error = problems_of(
        write_agents,
        """
        defaults:
          model: m
          system_file: missing.txt
          blocks:
            - {label: y}
            - {label: y}
          tools: [core_memory_append]
        agents:
          a: {}
          b: {}
          c:
            extends: a
        """,
    )
    assert [p.key for p in error.problems] == ["defaults.system_file", "defaults.blocks[1].label", "defaults.tools"]


def test_duplicate_yaml_key_and_bad_syntax(write_agents: Write) -> None:
    _, error = problems_of(
        write_agents,
        """
        agents:
          chat:
            model: m
            model: n
        """,
    )
    assert (error.problems[0].line, error.problems[0].key, error.problems[0].message) == (
        4,
        "agents.chat.model",
        "duplicate key",
    )
    _, error = problems_of(write_agents, "agents:\n  chat: [unclosed\n")
    assert error.problems[0].message.startswith("invalid YAML")
    assert error.problems[0].line is not None


def test_missing_file_and_empty_file(tmp_path: Path, write_agents: Write) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_agents(tmp_path / "nope.yaml")
    _, error = problems_of(write_agents, "")
    assert [(p.key, p.message) for p in error.problems] == [("agents", "required key is missing")]


# ------------------------------------------------------------------ merging


def test_defaults_and_extends_merge(load_text: Load) -> None:
    config = load_text(
        """
        defaults:
          loop: harness   # its model settings, without what Letta's loop adds
          model: {name: base-model, temperature: 0.5, timeout: 30}
          system: default prompt
          tools: [send_message]
          max_steps: 4
        agents:
          parent:
            model: {base_url: "http://127.0.0.1:9/v1", temperature: 0.1}
            blocks:
              - {label: persona, value: "I am the parent"}
              - {label: human, value: "Name: Bob"}
            tools: [send_message, core_memory_append]
          child:
            extends: parent
            description: the child
            model: {temperature: 1.0}
            system: child prompt
            blocks:
              - {label: human, value: "Name: Alice", limit: 100}
              - {label: tasks, value: "[]"}
            tools: [send_message, core_memory_replace]
        """
    )
    parent, child = config.get("parent"), config.get("child")
    assert parent.system == "default prompt"
    url = "http://127.0.0.1:9/v1"
    assert parent.model == ModelSettings(name="base-model", base_url=url, temperature=0.1, timeout=30)
    assert child.model == ModelSettings(name="base-model", base_url=url, temperature=1.0, timeout=30)
    assert child.system == "child prompt"
    assert child.max_steps == parent.max_steps == 4
    assert child.description == "the child" and parent.description is None
    memory = child.new_memory()
    assert memory.list_block_labels() == ["persona", "human", "tasks"]
    assert memory.values() == {"persona": "I am the parent", "human": "Name: Alice", "tasks": "[]"}
    assert memory.get_block("human").limit == 100
    assert [t.name for t in child.tools] == ["send_message", "core_memory_replace"]
    assert [t.name for t in parent.tools] == ["send_message", "core_memory_append"]


def test_new_memory_overrides_and_fresh_blocks(load_text: Load) -> None:
    spec = load_text(
        """
        agents:
          chat:
            model: m
            system: s
            blocks: [{label: human, value: "Name: Bob", read_only: true, metadata: {k: 1}}]
            tools: [send_message]
        """
    ).get("chat")
    first, second = spec.new_memory(), spec.new_memory({"human": "Name: Eve"})
    assert first.get_block("human").value == "Name: Bob"
    assert second.get_block("human").value == "Name: Eve"
    assert first.get_block("human").id != second.get_block("human").id
    assert first.get_block("human").read_only
    first.get_block("human").metadata["k"] = 2
    assert spec.new_memory().get_block("human").metadata == {"k": 1}


def test_memory_placeholder_in_system_prompt(load_text: Load) -> None:
    spec = load_text(
        """
        agents:
          chat:
            model: m
            system: "Before\\n{CORE_MEMORY}\\nAfter"
            tools: [send_message]
        """
    ).get("chat")
    memory = Memory([Block("human", "Name: Bob")])
    assert spec.system_message(memory) == 'Before\n<human characters="9/5000">\nName: Bob\n</human>\nAfter'
    assert spec.system_message(Memory()) == "Before\n\nAfter"


def test_system_file_is_relative_to_agents_file(write_agents: Write) -> None:
    path = write_agents(
        """
        agents:
          chat:
            model: m
            system_file: prompts/p.txt
            tools: [send_message]
        """
    )
    (path.parent / "prompts").mkdir()
    (path.parent / "prompts" / "p.txt").write_text("From a file.\n\n")
    spec = load_agents(path).get("chat")
    assert spec.system == "From a file."
    assert spec.system_message(Memory()) == "From a file."


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_a_system_file_checked_out_with_other_line_endings_is_the_same_prompt(write_agents: Write, ending: str) -> None:
    """Letta reads a prompt file in text mode (`get_system_text`: `open(path, "r")`), which folds CRLF and CR
    to LF: a Windows checkout (git `core.autocrlf`) kept its `\\r`s, and every replay of a cassette recorded
    from an LF checkout missed."""
    path = write_agents(
        """
        agents:
          chat:
            model: m
            system_file: p.txt
            tools: [send_message]
        """
    )
    lf = "You are Sam.\n\nBe brief.\n"
    (path.parent / "p.txt").write_bytes(lf.replace("\n", ending).encode())
    spec = load_agents(path).get("chat")
    assert spec.system == "You are Sam.\n\nBe brief."
    with (path.parent / "p.txt").open(encoding="utf-8") as text_mode:  # what Letta's read gives, stripped
        assert spec.system == text_mode.read().strip()


def test_seed_agents_constant_points_at_repo() -> None:
    assert SEED_AGENTS.is_file()


def test_a_misspelt_key_and_a_misspelt_tool_are_reported_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "defaults:\n  model: m\n  system: hi\nagents:\n  chat:\n    blcks: []\n"
        "    tools: [send_message, core_memory_apend]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_agents(path)
    text = str(caught.value)
    assert f"{path}:6:5: agents.chat.blcks: unknown key 'blcks'; did you mean 'blocks'?" in text
    assert (
        f"{path}:7:27: agents.chat.tools[1]: unknown tool 'core_memory_apend'; did you mean 'core_memory_append'?"
        in text
    )
    assert len(caught.value.problems) == 2


def test_a_key_given_as_api_key_env_is_refused_without_echoing_it(tmp_path: Path) -> None:
    key = "sk-" + "a1b2" * 10
    path = tmp_path / "agents.yaml"
    path.write_text(
        f"defaults:\n  model: {{name: m, api_key_env: {key}}}\n  system: x\nagents:\n  a: {{tools: [send_message]}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_agents(path)
    text = str(caught.value)
    assert f"{path}:2:20: defaults.model.api_key_env: api_key_env takes the NAME of an environment variable" in text
    assert key not in text


@pytest.mark.parametrize("given", ["../outside.txt", "/etc/hostname", "prompts/../../outside.txt"])
def test_a_system_file_outside_the_project_is_refused(write_agents: Write, given: str) -> None:
    path, error = problems_of(
        write_agents,
        f"""
        agents:
          chat:
            model: m
            system_file: {given}
            tools: [send_message]
        """,
    )
    [problem] = error.problems
    assert problem.key == "agents.chat.system_file"
    assert problem.message.startswith(f"system prompt file '{given}' ")
    assert "absolute path" in problem.message or f"leads outside {path.parent}" in problem.message


def test_block_labels_may_hold_slashes_as_letta_files_do(load_text: Callable[[str], AgentsConfig]) -> None:
    config = load_text(
        """
        agents:
          a:
            model: m
            system: hi
            blocks: [{label: system/human/work, value: "x"}, {label: /note_directory, value: ""}]
            tools: [send_message]
        """
    )
    spec = config.get("a")
    assert '<system/human/work characters="1/5000">\nx\n</system/human/work>' in spec.system_message(spec.new_memory())


@pytest.mark.parametrize("label", ["a b", "1abc", "a.b", ""])
def test_block_labels_stay_names(write_agents: Write, label: str) -> None:
    path = write_agents(
        f'agents:\n  a: {{model: m, system: hi, blocks: [{{label: "{label}"}}], tools: [send_message]}}\n'
    )
    with pytest.raises(ConfigError, match=r"blocks\[0\]\.label"):
        load_agents(path)


def test_agent_tags_and_metadata_are_kept(load_text: Callable[[str], AgentsConfig]) -> None:
    spec = load_text(
        """
        agents:
          a: {model: m, system: hi, tools: [send_message], tags: [x, y], metadata: {owner: me, n: 2}}
        """
    ).get("a")
    assert (spec.tags, spec.metadata) == (("x", "y"), {"owner": "me", "n": 2})


def test_context_window_comes_from_defaults_or_the_agent_and_is_in_the_fingerprint(write_agents: Write) -> None:
    from harness.config import load_agents
    from harness.fingerprint import agent_fingerprint, fingerprint_changes

    path = write_agents(
        """
        defaults:
          model: gpt-4o-mini
          system: hello
          tools: [send_message, conversation_search]
          context_window: 2000
        agents:
          small: {}
          smaller: {context_window: 900}
          unlimited: {extends: small}
        """
    )
    config = load_agents(path)
    assert [config.get(name).context_window for name in ("small", "smaller", "unlimited")] == [2000, 900, 2000]
    small, smaller = agent_fingerprint(config.get("small")), agent_fingerprint(config.get("smaller"))
    assert small["parts"]["loop"]["context_window"] == 2000
    assert fingerprint_changes(small, smaller) == ["loop context_window 2000 -> 900"]


def test_a_context_window_too_small_is_a_located_mistake(write_agents: Write) -> None:
    path, error = problems_of(
        write_agents,
        """
        agents:
          chat:
            model: gpt-4o-mini
            system: hello
            tools: [send_message]
            context_window: 10
        """,
    )
    (problem,) = error.problems
    assert (problem.file, problem.line, problem.key) == (str(path), 6, "agents.chat.context_window")
    assert "greater than or equal to 64" in problem.message


def test_a_context_window_past_any_model_is_a_located_mistake(write_agents: Write) -> None:
    """10**400 passed validate, then every scenario of the agent failed on an internal OverflowError (a
    float times the window)."""
    path, error = problems_of(
        write_agents,
        f"""
        agents:
          chat:
            model: gpt-4o-mini
            system: hello
            context_window: 1{"0" * 400}
        """,
    )
    (problem,) = error.problems
    assert (problem.file, problem.line, problem.key) == (str(path), 5, "agents.chat.context_window")
    assert "less than or equal to 1000000000" in problem.message


def test_the_memory_warning_is_off_unless_an_agent_or_defaults_turn_it_on(write_agents: Write) -> None:
    from harness.fingerprint import agent_fingerprint, fingerprint_changes

    path = write_agents(
        """
        defaults:
          model: gpt-4o-mini
          system: hello
          tools: [send_message]
          context_window: 2000
        agents:
          quiet: {}
          warned: {memory_warning: true}
        """
    )
    config = load_agents(path)
    assert (config.get("quiet").memory_warning, config.get("warned").memory_warning) == (False, True)
    quiet, warned = (agent_fingerprint(config.get(name)) for name in ("quiet", "warned"))
    # an agent that warns fingerprints as every agent with a window did before the setting existed
    assert "memory_warning" not in warned["parts"]["loop"] and quiet["parts"]["loop"]["memory_warning"] is False
    assert fingerprint_changes(warned, quiet) == ["loop memory_warning (not set) -> False"]


def test_tool_timeout_is_lettas_180_seconds_unless_an_agent_or_defaults_say_otherwise(write_agents: Write) -> None:
    """Letta 0.16.8's tool_sandbox_timeout. It is no part of the fingerprint: it changes nothing sent."""
    from harness.fingerprint import agent_fingerprint

    path = write_agents(
        """
        defaults:
          model: gpt-4o-mini
          system: hello
          tools: [send_message]
        agents:
          plain: {}
          quick: {tool_timeout: 2.5}
          child: {extends: quick}
        """
    )
    config = load_agents(path)
    assert [config.get(name).tool_timeout for name in ("plain", "quick", "child")] == [180.0, 2.5, 2.5]
    assert agent_fingerprint(config.get("plain")) == agent_fingerprint(config.get("quick"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "greater than 0"),
        ("-1", "greater than 0"),
        ("yes", "expected a number, not true"),
        ("1.0e+9", "less than"),
    ],
)
def test_a_tool_timeout_that_is_no_time_is_a_located_mistake(write_agents: Write, value: str, message: str) -> None:
    path, error = problems_of(
        write_agents,
        f"""
        agents:
          chat:
            model: gpt-4o-mini
            system: hello
            tools: [send_message]
            tool_timeout: {value}
        """,
    )
    (problem,) = error.problems
    assert (problem.file, problem.line, problem.key) == (str(path), 6, "agents.chat.tool_timeout")
    assert message in problem.message


def test_a_context_window_left_empty_is_a_located_mistake(write_agents: Write) -> None:
    """`context_window: null` passed validation and set nothing: the agent kept the `defaults:` window."""
    path, error = problems_of(
        write_agents,
        """
        defaults:
          context_window: 2000
        agents:
          chat:
            model: gpt-4o-mini
            system: hello
            tools: [send_message]
            context_window: null
        """,
    )
    (problem,) = error.problems
    assert (problem.file, problem.line, problem.key) == (str(path), 8, "agents.chat.context_window")
    assert "left empty, it sets nothing: give a number of tokens (at least 64), or leave the key out" in problem.message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("htp://h/v1", "should be an http:// or https:// URL with a host"),
        ("localhost:8080/v1", "should be an http:// or https:// URL with a host"),
        ("http://:8080/v1", "should be an http:// or https:// URL with a host"),
        ("http://h:99999/v1", "not a URL this harness can reach (Port out of range 0-65535)"),
        ("http://svc:pw-secret-9@h:port/v1", "not a URL this harness can reach"),
    ],
)
def test_a_base_url_no_request_could_reach_is_a_located_mistake(write_agents: Write, url: str, message: str) -> None:
    """A typo was told by the first request (or not at all, by `validate`); the URL is not repeated, as it
    may carry a credential."""
    for section in ("model", "embedding"):
        _, error = problems_of(
            write_agents, f'defaults: {{{section}: {{name: m, base_url: "{url}"}}}}\nagents:\n  a: {{system: s}}\n'
        )
        (problem,) = [p for p in error.problems if p.key == f"defaults.{section}.base_url"]
        assert problem.line == 1 and message in problem.message
        assert "pw-secret-9" not in str(error)
    fine = (
        'defaults: {model: {name: m, base_url: "https://h.example:8443/v1?api-version=1"}}\n'
        "agents:\n  a: {system: s, tools: [send_message]}\n"
    )
    assert load_agents(write_agents(fine)).get("a").model.base_url == "https://h.example:8443/v1?api-version=1"


@pytest.mark.parametrize(
    ("setting", "key", "says"),
    [
        ("model: {name: m, timeout: .inf}", "agents.chat.model.timeout", "less than or equal to 86400"),
        ("model: {name: m, timeout: 1.0e+300}", "agents.chat.model.timeout", "less than or equal to 86400"),
        ("model: {name: m, max_retries: 1000000}", "agents.chat.model.max_retries", "less than or equal to 100"),
        ("clock: {start: 2025-01-01T00:00:00Z, tick: .inf}", "agents.chat.clock.tick", "less than or equal to 86400"),
        ("clock: 9999-12-31T23:59:59Z", "agents.chat.clock.start", "must fall in the years 1000 to 8999"),
        ("clock: 0001-01-01T00:00:00+08:00", "agents.chat.clock.start", "must fall in the years 1000 to 8999"),
        (
            "blocks: [{label: human, limit: 9223372036854775808}]",
            "agents.chat.blocks[0].limit",
            "less than or equal to 10000000",
        ),
    ],
)
def test_values_that_would_overflow_at_run_time_are_refused_located(
    write_agents: Write, setting: str, key: str, says: str
) -> None:
    """A timeout of .inf overflowed the OS's time_t, a clock at year 9999 the datetime, a limit of 2**63 SQLite:
    each passed validation, then failed a run with a traceback."""
    model = "" if setting.startswith("model:") else "model: m\n    "
    _, error = problems_of(write_agents, f"agents:\n  chat:\n    {model}{setting}\n    system: s\n")
    [problem] = error.problems
    assert problem.key == key
    assert says in problem.message


def test_a_long_loop_of_extends_is_told_by_its_ends_for_each_agent(write_agents: Write) -> None:
    """Told whole to each of its agents, a loop of n agents is n messages of n names: 8000 agents printed
    600 MB."""
    n = 50
    agents = "".join(f"  a{i}: {{extends: a{(i + 1) % n}, model: m, system: s}}\n" for i in range(n))
    _, error = problems_of(write_agents, "agents:\n" + agents)
    by_key = {problem.key: problem.message for problem in error.problems}
    assert len(by_key) == n
    assert by_key["agents.a49.extends"] == "`extends` loops: a0 -> a1 -> a2 -> ... 45 more ... -> a48 -> a49 -> a0"
    assert by_key["agents.a9.extends"] == "`extends` loops: a10 -> a11 -> a12 -> ... 45 more ... -> a8 -> a9 -> a10"
    assert max(len(message) for message in by_key.values()) < 100


TYPED_TOOLS = '''
from typing import Literal, Optional


def pick(mode: Literal["fast", "slow"], note: Optional[str] = None, *, tags: list[str] = []) -> str:
    """Pick a mode.

    Args:
        mode (str): fast or slow.
        note (Optional[str]): A note.
        tags (list[str]): Tags.
    """
    return mode


def join(items: list, sep: str = ",", *, extra: list[str] = []) -> str:
    """Join items.

    Args:
        items (list): The items.
        sep (str): Between them.
        extra (list[str]): More.
    """
    return sep.join(items)
'''


@pytest.mark.parametrize("loop", ["letta-memgpt", "letta-v1", "harness"])
def test_a_parameter_letta_memgpt_fails_every_call_of_is_refused_for_its_agents(tmp_path: Path, loop: str) -> None:
    """Letta 0.6.23 converts each argument to its annotation as written, knowing only builtin names: a
    Literal, `Optional[str]` or `list[str]` fails every call passing it ("Unsupported annotation"), which
    `validate` accepted and a recording showed. Keyword-only parameters are not converted; the other loops
    take any type."""
    (tmp_path / "typed.py").write_text(TYPED_TOOLS)
    path = tmp_path / "agents.yaml"
    path.write_text(
        "defaults:\n  model: m\n  system: hi\n  tools: [send_message, 'typed:join']\nagents:\n"
        f"  a: {{loop: {loop}, tools: [send_message, 'typed:pick', 'typed:join']}}\n",
        encoding="utf-8",
    )
    if loop != "letta-memgpt":
        assert load_agents(path).get("a").tool("pick").name == "pick"
        return
    with pytest.raises(ConfigError) as caught:
        load_agents(path)
    [problem] = caught.value.problems
    assert str(problem) == (
        f"{path}:6:49: agents.a.tools[1]: tool function 'typed.pick': agent 'a' runs the letta-memgpt loop, "
        "where every call passing any of 'mode' (`Literal['fast', 'slow']`), 'note' (`Optional[str]`) fails with "
        '"Unsupported annotation", as in Letta 0.6.23: it converts each argument to its parameter\'s annotation '
        "as written in the source, and knows only int, float, str, dict, list, set, tuple, bool; annotate them "
        "with one of those (a list or dict without its item types), or run the agent on `loop: letta-v1` or "
        "`loop: harness`"
    )


def test_a_mistake_in_a_declared_tool_is_told_once_at_its_key(write_agents: Write) -> None:
    """It was told twice: as `tools[1]: Input should be a valid string` (the other branch) and at
    `tools[1].DeclaredToolWire.name`, a Python class in the key."""
    _, error = problems_of(
        write_agents,
        """
        agents:
          chat:
            system: hello
            tools:
              - send_message
              - {name: "bad name", description: d, parameters: {type: object, properties: {}}}
              - {name: ok, descripton: d, parameters: {type: object, properties: {}}}
              - 5
        """,
    )
    assert [(p.line, p.key, p.message.split(";")[0]) for p in error.problems] == [
        (6, "agents.chat.tools[1].name", "String should match pattern '^[A-Za-z0-9_-]{1,64}$' (got 'bad name')"),
        (7, "agents.chat.tools[2].description", "required key is missing"),
        (7, "agents.chat.tools[2].descripton", "unknown key 'descripton'"),
        (8, "agents.chat.tools[3]", "Input should be a valid string (got 5)"),
    ]


@pytest.mark.parametrize("key", ["system", "system_file"])
def test_a_letta_memgpt_prompt_letta_cannot_format_is_a_located_mistake(write_agents: Write, key: str) -> None:
    """Letta 0.6.23 fills the memory into the prompt with str.format: `{key1:val1}` fails it (`Failed to
    format system prompt`), and `harness compile` ended in a ValueError traceback."""
    value = "Reply as {key1:val1}."
    if key == "system_file":
        path = write_agents("agents:\n  a: {model: m, system: x, tools: [send_message]}\n")
        (path.parent / "prompt.txt").write_text(value, encoding="utf-8")
        value = "prompt.txt"
    path, error = problems_of(
        write_agents,
        f"""
        agents:
          a:
            model: m
            {key}: "{value}"
            tools: [send_message]
        """,
    )
    (problem,) = error.problems
    assert (problem.file, problem.line, problem.key) == (str(path), 4, f"agents.a.{key}")
    assert "Failed to format system prompt - ValueError: Invalid format specifier" in problem.message
    assert "write a brace that is text doubled" in problem.message


@pytest.mark.parametrize(("loop", "prompt"), [("letta-memgpt", "Reply as {{key1:val1}}."), ("letta-v1", "{a:b}")])
def test_braces_letta_can_read_are_taken(write_agents: Write, loop: str, prompt: str) -> None:
    path = write_agents(f"agents:\n  a: {{model: m, loop: {loop}, system: '{prompt}', tools: [send_message]}}\n")
    assert load_agents(path).get("a").system == prompt


def test_a_file_whose_shape_is_broken_lists_its_mistakes_in_line_order(tmp_path: Path) -> None:
    """`agents` a list: no section can be salvaged, and the mistakes still read top to bottom."""
    path = tmp_path / "agents.yaml"
    path.write_text("agents: [1, 2]\ndefaults: {model: {name: x}, colour: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_agents(path)
    assert [(p.line, p.key) for p in caught.value.problems] == [(1, "agents"), (2, "defaults.colour")]
