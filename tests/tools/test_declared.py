"""Tools declared by a JSON schema alone: offered as declared, arguments checked against the schema,
results from a scenario's `tool_results:` (recorded into the history like any tool result)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.config import load_agents
from harness.errors import ConfigError, ScenarioError
from harness.memory import Memory
from harness.scenarios.results import Outcome
from harness.scenarios.tool_results import ScenarioToolResults
from harness.tools.context import AgentState
from harness.tools.declared import declared_tool
from harness.tools.schema import ToolDefinitionError
from tests.fakes import completion, make_project, reply
from tests.helpers import call

SEARCH = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "What to look for"}},
    "required": ["query"],
}


def state(results: dict[str, str | tuple[str, ...]] | None = None) -> AgentState:
    return AgentState("agent-1", "a", Memory(), ScenarioToolResults(results) if results is not None else None)


def test_the_model_is_offered_the_declared_schema_with_the_heartbeat() -> None:
    tool = declared_tool("web_search", "Search the web", SEARCH)
    schema = tool.openai_schema()["function"]
    assert (schema["name"], schema["description"]) == ("web_search", "Search the web")
    assert schema["parameters"]["properties"]["query"] == SEARCH["properties"]["query"]
    assert schema["parameters"]["required"] == ["query", "request_heartbeat"]
    assert SEARCH["required"] == ["query"]  # the declared schema itself is left alone
    assert tool.parameter_names == {"query", "request_heartbeat"}


def test_a_call_gets_the_scenarios_results_in_order() -> None:
    tool = declared_tool("web_search", "Search the web", SEARCH)
    agent = state({"web_search": ("first", "second")})
    assert [tool.call(agent, {"query": "x"}).message for _ in range(2)] == ["first", "second"]
    third = tool.call(agent, {"query": "x"})
    assert not third.ok
    assert third.message == (
        "Error executing function web_search: NoDeclaredResult: the scenario gives 2 result(s) for 'web_search'; "
        "this is call 3"
    )


@given(text=st.text(max_size=50), calls=st.integers(min_value=1, max_value=5))
def test_one_text_answers_every_call(text: str, calls: int) -> None:
    tool = declared_tool("lookup", "Look up", SEARCH)
    agent = state({"lookup": text})
    assert {tool.call(agent, {"query": "q"}).message for _ in range(calls)} == {text}


def test_arguments_that_break_the_schema_fail_the_call_with_the_reason() -> None:
    tool = declared_tool("web_search", "Search the web", SEARCH)
    result = tool.call(state({"web_search": "r"}), {"query": 3})
    assert not result.ok
    assert result.message == "Error executing function web_search: invalid arguments: query: 3 is not of type 'string'"
    missing = tool.call(state({"web_search": "r"}), {})
    assert missing.message == (
        "Error executing function web_search: invalid arguments: arguments: 'query' is a required property"
    )


def test_with_no_scenario_the_model_is_told_there_is_no_code() -> None:
    result = declared_tool("web_search", "Search the web", SEARCH).call(state(), {"query": "x"})
    assert not result.ok and "declared by its JSON schema alone and has no code" in result.message


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ({"type": "array"}, "its `type` must be `object`"),
        ({"type": "object", "properties": {"q": {"type": "strng"}}}, "is not valid under any of the given schemas"),
    ],
)
def test_a_schema_that_is_not_an_object_schema_is_refused(parameters: dict[str, Any], reason: str) -> None:
    with pytest.raises(ToolDefinitionError, match="the parameters of tool 'bad' are not a JSON Schema") as caught:
        declared_tool("bad", "d", parameters)
    assert reason in str(caught.value)


AGENTS = """
defaults:
  loop: harness
  model: {{name: fake-model-7b, base_url: "{base_url}", max_retries: 0, timeout: 10, temperature: 0}}
agents:
  searcher:
    system: You search.
    blocks: [{{label: human, value: "Name: Bob"}}]
    tools:
      - send_message
      - name: web_search
        description: Search the web
        parameters:
          {{type: object, properties: {{query: {{type: string, description: What to look for}}}}, required: [query]}}
"""


def test_agents_yaml_declares_a_tool_by_its_schema(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(AGENTS.format(base_url="http://127.0.0.1:9/v1"))
    tool = load_agents(path).get("searcher").tool("web_search")
    assert tool is not None and tool.declared_parameters is not None


def test_a_bad_declared_schema_is_located(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        AGENTS.format(base_url="http://127.0.0.1:9/v1").replace("type: object, properties", "type: array, properties")
    )
    with pytest.raises(ConfigError) as caught:
        load_agents(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (13, "agents.searcher.tools[1].parameters")
    assert "its `type` must be `object`" in problem.message


SCENARIO = """
agent: searcher
tool_results:
  web_search: ["Paris is the capital of France."]
turns:
  - user: "What is the capital of France?"
    expect:
      tool_calls: [{name: web_search, ok: true, result_contains: Paris}, send_message]
      reply: {contains: Paris}
"""


def searcher_project(tmp_path: Path, scenario: str = SCENARIO) -> Any:
    project = make_project(tmp_path)
    project.agents.write_text(AGENTS.format(base_url="http://127.0.0.1:9/v1"))
    project.write_scenario("search", scenario)
    return project


def test_a_scenario_gives_the_result_which_is_recorded_and_replayed(tmp_path: Path) -> None:
    project = searcher_project(tmp_path)
    responses = [
        completion(call("web_search", {"query": "capital of France", "request_heartbeat": True})),
        reply("It is Paris."),
    ]
    recorded, server = project.record("search", responses)
    assert recorded.outcome == Outcome.PASSED, recorded.explain()
    tool_message = server.received[1].body["messages"][-1]
    assert tool_message["role"] == "tool" and "Paris is the capital of France." in tool_message["content"]
    replayed = project.replay("search")
    assert replayed.outcome == Outcome.PASSED, replayed.explain()


def test_tool_results_may_only_name_declared_tools(tmp_path: Path) -> None:
    project = searcher_project(tmp_path, SCENARIO.replace("web_search: [", "send_message: x\n  web_serch: ["))
    with pytest.raises(ScenarioError) as caught:
        project.runner().spec_for(project.scenario("search"))
    assert [(p.key, p.message) for p in caught.value.problems] == [
        (
            "tool_results.send_message",
            "tool 'send_message' runs its own code: only tools declared by a JSON schema take results",
        ),
        (
            "tool_results.web_serch",
            "no tool 'web_serch' declared by a JSON schema alone; the scenario's agents have: web_search",
        ),
    ]
