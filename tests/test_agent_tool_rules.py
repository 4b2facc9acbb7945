"""Tool rules in the loop (agents.yaml `tool_rules:`): what each step offers, refused calls, and when a turn
ends, driven through the real OpenAI client by a scripted transport."""

from __future__ import annotations

import json
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.agent import Agent, StopReason
from harness.agentfile.exporter import agent_file_text, export_agent
from harness.agentfile.importer import import_agent_file
from harness.agentfile.reading import parse_agent_file
from harness.config import AgentsConfig, ToolRuleWire, load_agents
from harness.errors import ConfigError
from harness.tools.rules import ToolRulesSolver, ToolRuleType
from tests.agentfile.test_importer import write
from tests.helpers import Script, call, completion, reply

HB = {"request_heartbeat": True}
AGENTS = """
defaults:
  loop: harness
  model: {{name: test-model, base_url: "http://llm.test/v1", max_retries: 0, timeout: 10}}
agents:
  ruled:
    system: You are a test agent.
    blocks:
      - {{label: human, value: "Name: Bob"}}
    tools: [send_message, core_memory_append, core_memory_replace]
    tool_rules:
{rules}
"""


def agent_with(load_text: Callable[[str], AgentsConfig], rules: str, responses: list[object]) -> tuple[Agent, Script]:
    indented = "\n".join(f"      {line}" for line in textwrap.dedent(rules).strip().splitlines())
    config = load_text(AGENTS.format(rules=indented))
    script = Script(responses)
    return Agent(config.get("ruled"), script.model()), script


def offered(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body["tools"]]


def results(agent: Agent) -> list[dict[str, str]]:
    return [json.loads(m["content"]) for m in agent.messages if m["role"] == "tool"]


APPEND = call("core_memory_append", {"label": "human", "content": "Likes tea", **HB})


def test_run_first_offers_only_its_tool_and_refuses_others(load_text: Callable[[str], AgentsConfig]) -> None:
    agent, script = agent_with(
        load_text,
        "- {type: run_first, tool_name: core_memory_append}",
        [reply("too early"), completion(APPEND), reply("done")],
    )
    result = agent.send("hi")
    assert offered(script.requests[0]) == ["core_memory_append"]
    assert offered(script.requests[1]) == ["core_memory_append"]
    assert offered(script.requests[2]) == ["send_message", "core_memory_append", "core_memory_replace"]
    first = result.tool_calls[0]
    assert (first.name, first.ok) == ("send_message", False)
    assert (
        first.result == "[ToolConstraintError] Cannot call send_message, valid tools include: ['core_memory_append']."
    )
    assert result.stop_reason == StopReason.REPLIED and result.reply == "done"
    assert result.replies == ("done",)  # the refused send_message never reached the user


def test_exit_loop_ends_the_turn_despite_a_heartbeat(load_text: Callable[[str], AgentsConfig]) -> None:
    agent, script = agent_with(load_text, "- {type: exit_loop, tool_name: core_memory_append}", [completion(APPEND)])
    result = agent.send("hi")
    assert len(script.requests) == 1 and result.stop_reason == StopReason.NO_HEARTBEAT
    schema = {t["function"]["name"]: t["function"]["parameters"] for t in script.requests[0]["tools"]}
    assert "request_heartbeat" not in schema["core_memory_append"]["properties"]
    assert "request_heartbeat" in schema["core_memory_replace"]["properties"]


def test_child_rule_constrains_and_continues(load_text: Callable[[str], AgentsConfig]) -> None:
    no_heartbeat = call("core_memory_append", {"label": "human", "content": "Likes tea"})
    agent, script = agent_with(
        load_text,
        "- {type: constrain_child_tools, tool_name: core_memory_append, children: [send_message]}",
        [completion(no_heartbeat), reply("noted")],
    )
    result = agent.send("I like tea")
    assert offered(script.requests[1]) == ["send_message"]
    assert result.stop_reason == StopReason.REPLIED and len(result.steps) == 2


def test_continue_loop_goes_on_without_a_heartbeat(load_text: Callable[[str], AgentsConfig]) -> None:
    no_heartbeat = call("core_memory_append", {"label": "human", "content": "Likes tea"})
    agent, script = agent_with(
        load_text, "- {type: continue_loop, tool_name: core_memory_append}", [completion(no_heartbeat), reply("ok")]
    )
    assert agent.send("hi").stop_reason == StopReason.REPLIED
    assert len(script.requests) == 2


def test_required_before_exit_keeps_the_turn_going(load_text: Callable[[str], AgentsConfig]) -> None:
    agent, script = agent_with(
        load_text,
        "- {type: required_before_exit, tool_name: core_memory_append}",
        [reply("bye"), completion(APPEND), reply("bye again")],
    )
    result = agent.send("hi")
    assert len(script.requests) == 3
    assert result.replies == ("bye", "bye again")
    assert result.stop_reason == StopReason.REPLIED


def test_max_count_per_step_stops_offering_the_tool(load_text: Callable[[str], AgentsConfig]) -> None:
    agent, script = agent_with(
        load_text,
        "- {type: max_count_per_step, tool_name: core_memory_append, max_count_limit: 1}",
        [completion(APPEND), completion(APPEND), reply("ok")],
    )
    result = agent.send("hi")
    assert offered(script.requests[1]) == ["send_message", "core_memory_replace"]
    assert [c.ok for c in result.tool_calls] == [True, False, True]
    assert result.tool_calls[1].result.startswith("[ToolConstraintError] Cannot call core_memory_append")
    assert agent.memory.values()["human"] == "Name: Bob\nLikes tea"


def test_conditional_rule_picks_the_next_tool_from_the_output(load_text: Callable[[str], AgentsConfig]) -> None:
    rules = "- {type: conditional, tool_name: core_memory_append, child_output_mapping: {None: send_message}}"
    agent, script = agent_with(load_text, rules, [completion(APPEND), reply("ok")])
    agent.send("hi")
    assert offered(script.requests[1]) == ["send_message"]  # core_memory_append returned None (Letta 0.6)


def test_rules_reach_the_system_message(load_text: Callable[[str], AgentsConfig]) -> None:
    agent, _ = agent_with(load_text, "- {type: exit_loop, tool_name: send_message}", [])
    assert agent.system_message().endswith(
        "</human>\n\n<tool_usage_rules>\nThe following constraints define rules for tool usage and guide desired "
        "behavior. These rules must be followed to ensure proper tool execution and workflow. A single response "
        "may contain multiple tool calls.\n\n<tool_rule>\nsend_message ends your response (yields control) when "
        "called\n</tool_rule>\n</tool_usage_rules>"
    )


def test_unknown_tools_and_wrong_keys_in_rules_are_located(load_text: Callable[[str], AgentsConfig]) -> None:
    with pytest.raises(ConfigError) as info:
        agent_with(
            load_text,
            """
            - {type: run_first, tool_name: core_memory_apend}
            - {type: constrain_child_tools, tool_name: send_message, children: [archival_memory_insert]}
            """,
            [],
        )
    found = [(p.key, p.line, p.message) for p in info.value.problems]
    assert found == [
        (
            "agents.ruled.tool_rules[0]",
            11,
            "tool rule names 'core_memory_apend', not a tool of this agent; did you mean 'core_memory_append'? "
            "its tools: send_message, core_memory_append, core_memory_replace",
        ),
        (
            "agents.ruled.tool_rules[1]",
            12,
            "tool rule names 'archival_memory_insert', not a tool of this agent; its tools: send_message, "
            "core_memory_append, core_memory_replace",
        ),
    ]
    with pytest.raises(ConfigError) as info:
        agent_with(load_text, "- {type: exit_loop, tool_name: send_message, children: [send_message]}", [])
    assert "`children` is not a key of an exit_loop rule" in str(info.value)
    with pytest.raises(ConfigError) as info:
        agent_with(load_text, "- {type: constrain_child_tools, tool_name: send_message}", [])
    assert "a constrain_child_tools rule needs `children`" in str(info.value)
    with pytest.raises(ConfigError) as info:
        agent_with(load_text, "- {type: init, tool_name: send_message}", [])
    assert "'run_first'" in str(info.value)
    with pytest.raises(ConfigError) as info:  # Letta's, left out on purpose: said so, not taken for a typo
        agent_with(load_text, "- {type: requires_approval, tool_name: send_message}", [])
    [problem] = info.value.problems
    assert (problem.key, problem.line) == ("agents.ruled.tool_rules[0].type", 11)
    assert problem.message == (
        "requires_approval, Letta's rule that a person approve each call, is not supported, on purpose: a run "
        "has no one to ask; remove the rule (the tool then runs unasked)"
    )


def test_validate_lints_rules_that_can_never_finish(load_text: Callable[[str], AgentsConfig]) -> None:
    rules = """
    - {type: run_first, tool_name: core_memory_append}
    - {type: constrain_child_tools, tool_name: core_memory_append, children: [core_memory_replace]}
    - {type: constrain_child_tools, tool_name: core_memory_replace, children: [core_memory_append]}
    """
    with pytest.raises(ConfigError) as info:
        agent_with(load_text, rules, [])
    [problem] = info.value.problems
    assert (problem.key, problem.line) == ("agents.ruled.tool_rules", 10)
    assert problem.message == (
        "these tool rules can never let a turn finish: no sequence of calls these rules allow can end a turn "
        "(every turn would run to max_steps)"
    )
    # The same chain with a way out is fine.
    agent_with(load_text, rules.replace("children: [core_memory_append]", "children: [send_message]"), [])


def test_steps_record_what_the_rules_offered_and_calls_what_they_refused(
    load_text: Callable[[str], AgentsConfig],
) -> None:
    agent, _ = agent_with(
        load_text,
        "- {type: run_first, tool_name: core_memory_append}",
        [reply("too early"), completion(APPEND), reply("done")],
    )
    result = agent.send("hi")
    assert [step.offered for step in result.steps] == [
        ("core_memory_append",),
        ("core_memory_append",),
        ("send_message", "core_memory_append", "core_memory_replace"),
    ]
    assert [(call.name, call.refused) for call in result.tool_calls] == [
        ("send_message", True),
        ("core_memory_append", False),
        ("send_message", False),
    ]


def test_without_rules_nothing_is_refused_and_no_offer_is_recorded(load_text: Callable[[str], AgentsConfig]) -> None:
    config = load_text(AGENTS.format(rules="      []").replace("tool_rules:\n      []", "tool_rules: []"))
    result = Agent(config.get("ruled"), Script([reply("done")]).model()).send("hi")
    assert [step.offered for step in result.steps] == [None]
    assert not any(call.refused for call in result.tool_calls)


V1_AGENTS = """
defaults:
  model: {{name: test-model, base_url: "http://llm.test/v1", max_retries: 0, timeout: 10{choice}}}
  clock: 2025-01-01T00:00:00Z
agents:
  ruled:
    loop: {loop}
    system: You are a test agent.
    blocks:
      - {{label: human, value: "Name: Bob"}}
    tools: [{tools}]
    tool_rules:
{rules}
"""


def test_validate_follows_how_the_agents_loop_ends_a_turn(load_text: Callable[[str], AgentsConfig]) -> None:
    """Letta's own base rules for a letta_v1_agent (a continue_loop on each tool) let a V3 turn end with text;
    under letta-memgpt, where only a call asking no heartbeat ends a turn, the same rules never let one end."""
    tools = "send_message, memory_replace, memory_insert, conversation_search"
    rules = "\n".join(f"      - {{type: continue_loop, tool_name: {name}}}" for name in tools.split(", "))
    rules += "\n      - {type: required_before_exit, tool_name: memory_insert}"
    config = load_text(V1_AGENTS.format(loop="letta-v1", tools=tools, rules=rules, choice=""))
    script = Script([completion(call("memory_insert", {"label": "human", "new_str": "Likes tea"})), reply_text("ok")])
    result = Agent(config.get("ruled"), script.model()).send("I like tea")
    assert result.stop_reason == StopReason.NO_TOOL_CALL and result.replies == ("ok",)
    with pytest.raises(ConfigError, match="these tool rules can never let a turn finish"):
        load_text(V1_AGENTS.format(loop="letta-memgpt", tools=tools, rules=rules, choice=""))
    # With tool_choice auto an answer without a call ends a letta-memgpt turn, whatever the rules.
    load_text(V1_AGENTS.format(loop="letta-memgpt", tools=tools, rules=rules, choice=", tool_choice: auto"))


def reply_text(text: str) -> dict[str, Any]:
    return completion(content=text)


# What YAML reads as something other than text when a key is left unquoted, and what it reads it as.
UNQUOTED = {
    "yes": "true",
    "No": "false",
    "on": "true",
    "off": "false",
    "True": "true",
    "1": "1",
    "01": "1",
    "0x1f": "31",
    "2.5": "2.5",
    "null": "null",
    "~": "null",
}


@pytest.mark.parametrize("key", sorted(UNQUOTED))
def test_an_output_key_yaml_reads_as_no_text_is_refused_with_the_fix(
    load_text: Callable[[str], AgentsConfig], key: str
) -> None:
    """Letta keeps a rule as JSON: an output key is text, compared with the output as text. Read as a boolean
    or a number, `yes` matched no output "yes" here, and `true` matched "True", which Letta never does."""
    rules = f"- {{type: conditional, tool_name: core_memory_append, child_output_mapping: {{{key}: send_message}}}}"
    with pytest.raises(ConfigError) as info:
        agent_with(load_text, rules, [])
    [problem] = info.value.problems
    assert (problem.key, problem.line) == ("agents.ruled.tool_rules[0].child_output_mapping", 11)
    assert problem.message.startswith(f"output key {UNQUOTED[key]} is ")
    assert "quote it as the output reads, e.g. '" in problem.message


@given(
    st.dictionaries(
        st.text(st.characters(codec="ascii", categories=["L", "N", "P", "Zs"]), max_size=6),
        st.sampled_from(["send_message", "core_memory_replace"]),
        min_size=1,
        max_size=3,
    )
)
def test_quoted_output_keys_are_the_text_a_tool_returns(mapping: dict[str, str]) -> None:
    """Whatever the text, quoted it is the key, matches exactly that output, and survives an export (Letta's
    JSON) and an import back."""
    written = ", ".join(f"{json.dumps(key)}: {tool}" for key, tool in mapping.items())
    rules = f"- {{type: conditional, tool_name: core_memory_append, child_output_mapping: {{{written}}}}}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agents.yaml"
        path.write_text(AGENTS.format(rules=f"      {rules}"), encoding="utf-8")
        spec = load_agents(path).get("ruled")
        data = export_agent(spec)
        result = import_agent_file(parse_agent_file(agent_file_text(data), "x.af"), "x.af")
        back = load_agents(write(result, Path(folder) / "back")).get(result.agent_names[0])
    for loaded in (spec, back):
        [conditional] = [r for r in loaded.tool_rules if r.type is ToolRuleType.CONDITIONAL]
        assert dict(conditional.child_output_mapping) == mapping
        solver = ToolRulesSolver(loaded.tool_rules)
        solver.register_tool_call("core_memory_append")
        names = [tool.name for tool in loaded.tools]
        for key, tool in mapping.items():
            assert solver.allowed_tool_names(names, json.dumps({"message": key})) == [tool]


# Each type's keys as Letta 0.16.8 returns a rule (model_dump: every field, the unset ones null or default).
LETTA_FIELDS: dict[str, dict[str, Any]] = {
    "run_first": {"args": None},
    "exit_loop": {},
    "continue_loop": {},
    "required_before_exit": {},
    "constrain_child_tools": {"children": ["send_message"], "child_arg_nodes": None},
    "parent_last_tool": {"children": ["send_message"]},
    "max_count_per_step": {"max_count_limit": 2},
    "conditional": {
        "child_output_mapping": {"ok": "send_message"},
        "default_child": None,
        "require_output_mapping": False,
    },
}


@given(
    st.sampled_from(sorted(LETTA_FIELDS)),
    st.none() | st.text(max_size=20),
    st.sampled_from([None, {}]),
    st.sampled_from([None, [], [{"name": "send_message", "args": None}], [{"name": "send_message", "args": {}}]]),
)
def test_rules_as_letta_returns_them_load_as_the_rule_alone(
    kind: str, template: str | None, args: dict[str, Any] | None, nodes: list[dict[str, Any]] | None
) -> None:
    """Letta's `prompt_template` (which Letta ignores), and its prefilled arguments left empty, change nothing."""
    bare = {"tool_name": "core_memory_append", "type": kind, **LETTA_FIELDS[kind]}
    pasted = {**bare, "prompt_template": template}
    if kind == "run_first":
        pasted["args"] = args
    if kind == "constrain_child_tools":
        pasted["child_arg_nodes"] = nodes
    bare = {key: value for key, value in bare.items() if value is not None}
    assert ToolRuleWire.model_validate(pasted).rule() == ToolRuleWire.model_validate(bare).rule()


def test_prefilled_arguments_are_refused_where_they_are(load_text: Callable[[str], AgentsConfig]) -> None:
    rules = """
    - {type: run_first, tool_name: core_memory_append, args: {label: human}}
    - {type: constrain_child_tools, tool_name: core_memory_append, children: [send_message],
       child_arg_nodes: [{name: send_message, args: {message: hi}}]}
    - {type: constrain_child_tools, tool_name: send_message, children: [core_memory_replace],
       child_arg_nodes: [{name: core_memory_append}]}
    - {type: continue_loop, tool_name: core_memory_replace, args: null, prompt_template: "{{ tool_name }} goes on"}
    - {type: continue_loop, tool_name: send_message, args: {}}
    """
    with pytest.raises(ConfigError) as info:
        agent_with(load_text, rules, [])
    found = [(p.key, p.line, p.message) for p in info.value.problems]
    supported = (
        "are not supported: the harness lets the model give every argument; leave it out (null, or empty, is "
        "taken, as Letta writes it)"
    )
    assert found == [
        ("agents.ruled.tool_rules[0].args", 11, f"prefilled arguments (Letta's `args`) {supported}"),
        (
            "agents.ruled.tool_rules[1].child_arg_nodes",
            13,
            f"prefilled arguments (Letta's `child_arg_nodes` args, for send_message) {supported}",
        ),
        (
            "agents.ruled.tool_rules[2]",
            14,
            "ChildToolRule child_arg_nodes contains a node for 'core_memory_append' which is not in children "
            "['core_memory_replace'].",
        ),
        ("agents.ruled.tool_rules[4]", 17, "`args` is not a key of a continue_loop rule"),
    ]


EXTENDING = """
defaults:
  model: {name: test-model, base_url: "http://llm.test/v1"}
  system: You are a test agent.
agents:
  base:
    loop: letta-v1
    tools: [send_message, core_memory_append]
    tool_rules:
      - {type: run_first, tool_name: core_memory_append}
      - {type: continue_loop, tool_name: send_message}
      - {type: continue_loop, tool_name: core_memory_append}
  child:
    extends: base
"""


def test_a_rule_an_agent_inherits_is_told_as_that_agents_problem(load_text: Callable[[str], AgentsConfig]) -> None:
    """Rules fine for the agent that declares them can break one extending it with other tools or another
    loop: the problem names that agent (and is located where it changed them), not only the rule's place."""
    load_text(EXTENDING)
    with pytest.raises(ConfigError) as info:
        load_text(EXTENDING + "    tools: [send_message, core_memory_replace]\n")
    problem, other = info.value.problems  # tool_rules[0] and [2] name it
    assert (problem.key, problem.line) == (other.key, other.line) == ("agents.child.tools", 14)
    assert problem.message == (
        "tool rule agents.base.tool_rules[0] (line 9), which agent 'child' inherits, names 'core_memory_append', "
        "not one of its tools; did you mean 'core_memory_replace'? its tools: send_message, core_memory_replace"
    )
    with pytest.raises(ConfigError) as info:  # letta-memgpt ends no turn after these continue_loop tools
        load_text(EXTENDING + "    loop: letta-memgpt\n")
    [problem] = info.value.problems
    assert (problem.key, problem.line) == ("agents.base.tool_rules", 8)
    assert problem.message.startswith(
        "these tool rules can never let a turn of agent 'child', which inherits them, finish: "
    )
    # A rule wrong where it is written is told there, once, whoever inherits it.
    with pytest.raises(ConfigError) as info:
        load_text(EXTENDING.replace("tools: [send_message, core_memory_append]", "tools: [send_message]"))
    assert [(p.key, p.message.split(";")[0]) for p in info.value.problems] == [
        ("agents.base.tool_rules[0]", "tool rule names 'core_memory_append', not a tool of this agent"),
        ("agents.base.tool_rules[2]", "tool rule names 'core_memory_append', not a tool of this agent"),
    ]
