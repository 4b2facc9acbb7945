"""Archival memory in scenarios, through the real stack: seeded passages and the agent's searches are
embedded through the scenario's cassette at record time (against a local fake endpoint) and replay
offline, byte for byte; a changed passage is a stale cassette with a diff; checks read the passages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.determinism import differences
from harness.errors import ScenarioError
from harness.report import json_report
from tests.fakes import MODEL, NOWHERE, Project, completion, make_project, reply
from tests.helpers import call

AGENTS = """
defaults:
  loop: harness
  model: {{name: {model}, base_url: "{base_url}", max_retries: 0, timeout: 10}}
  max_steps: 4
agents:
  archivist:
    system: You are a test agent with archival memory.
    blocks: [{{label: human, value: "Name: Bob"}}]
    embedding: {{name: fake-embedder, base_url: "{base_url}", max_retries: 0, timeout: 10}}
    tools: [send_message, archival_memory_insert, archival_memory_search]
  forgetful:
    system: You are a test agent without archival memory.
    tools: [send_message]
"""

SEARCH = """
agent: archivist
archival:
  - {text: "Azin's dentist appointment is on March 3.", tags: [appointments]}
  - "Azin likes ghormeh sabzi."
turns:
  - user: When is my dentist appointment?
    expect:
      tool_calls: [{name: archival_memory_search, result_contains: March 3}, send_message]
      reply: {contains: March 3}
expect:
  archival_contains: ghormeh
  archival_not_contains: passport
  archival_search: {query: dentist, top_k: 1, contains: March 3, not_contains: sabzi}
"""


def vectors(*rows: list[float]) -> dict[str, Any]:
    return {"object": "list", "data": [{"index": i, "embedding": v} for i, v in enumerate(rows)], "model": "fake"}


SEARCH_RESPONSES = [
    vectors([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),  # the two seeds, in one request
    completion(call("archival_memory_search", {"query": "dentist appointment", "request_heartbeat": True})),
    vectors([0.9, 0.1, 0.0]),  # the agent's query
    reply("Your dentist appointment is on March 3."),
    vectors([1.0, 0.0, 0.1]),  # the check's query
]


def write_agents(project: Project, base_url: str = NOWHERE) -> None:
    project.agents.write_text(AGENTS.format(model=MODEL, base_url=base_url).lstrip(), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = make_project(tmp_path / "project", {"search": SEARCH})
    write_agents(project)
    return project


def record(project: Project, name: str, responses: list[dict[str, Any]]) -> Any:
    from tests.fakes import FakeOpenAI

    with FakeOpenAI(list(responses)) as server:
        write_agents(project, server.base_url)  # the embedding endpoint is the agents file's, never --base-url
        result = project.runner("all", base_url=server.base_url).run(project.scenario(name))
    write_agents(project)  # replay needs no endpoint
    assert not server.responses
    return result, server


def test_recorded_then_replayed_offline_byte_for_byte(project: Project) -> None:
    recorded, server = record(project, "search", SEARCH_RESPONSES)
    assert recorded.outcome.value == "passed", recorded.failures or recorded.error or recorded.stale
    paths = [received.path for received in server.received]
    assert paths == [
        "/v1/embeddings",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/chat/completions",
        "/v1/embeddings",
    ]
    assert server.received[0].body["input"] == [
        "Azin's dentist appointment is on March 3.",
        "Azin likes ghormeh sabzi.",
    ]
    # What the model read back: Letta's result text, the seeds' times from the scenario clock
    tool_result = json.loads(server.received[3].body["messages"][-1]["content"])
    assert tool_result["status"] == "OK"
    assert (
        "'timestamp': '2025-01-01T12:00:00+00:00', 'content': \"Azin's dentist appointment is on March 3.\""
        in (tool_result["message"])
    )
    cassette = (project.cassettes / "search.yaml").read_text(encoding="utf-8")
    assert cassette.count("/v1/embeddings") == 3

    first, second = project.replay("search"), project.replay("search")
    assert first.outcome.value == "passed", first.failures or first.error or first.stale
    reports = [json_report([result], project.root) for result in (recorded, first, second)]
    assert differences(reports[1], reports[2]) == []
    assert differences(reports[0], reports[1]) == []  # the replay saw what the recording saw


def test_a_changed_seed_is_a_stale_cassette_with_a_diff(project: Project) -> None:
    record(project, "search", SEARCH_RESPONSES)
    project.write_scenario("search", SEARCH.replace("March 3.", "March 4."))
    result = project.replay("search")
    assert result.outcome.value == "failed"
    stale = "\n".join(result.stale)
    assert "search.yaml:2: archival: the cassette" in stale
    assert "has no recorded embeddings for the scenario's archival passages" in stale
    assert "March 3." in stale and "March 4." in stale
    assert "re-record with: harness record" in stale


def test_a_scenario_with_passages_never_recorded_says_so_once(project: Project) -> None:
    """It said there was no cassette, then that "the cassette holds no interactions"."""
    project.write_scenario("search", SEARCH)
    result = project.replay("search")
    assert result.outcome.value == "error"  # nothing to play
    assert result.stale == [
        f"{project.scenario_path('search')}:2: no cassette at cassettes/search.yaml: this scenario has not been "
        "recorded yet",
        f"  record it with: harness record {project.scenario_path('search')}",
    ]


def test_a_changed_check_query_is_stale_too(project: Project) -> None:
    record(project, "search", SEARCH_RESPONSES)
    project.write_scenario("search", SEARCH.replace("query: dentist,", "query: teeth,"))
    result = project.replay("search")
    assert result.outcome.value == "failed"
    assert result.stale[0].startswith(f"{project.scenario_path('search')}:13: expect.archival_search: ")
    assert "has no recorded answer for a check of the final expect" in result.stale[0]


def test_the_check_searchs_endpoint_failing_is_located_at_the_check(project: Project) -> None:
    """The embedding endpoint failing for an `archival_search` check's query errors the scenario at that
    check's line and key (it said only the file)."""
    from tests.fakes import FakeOpenAI, Raw

    failing = Raw(json.dumps({"error": {"message": "embedder down", "type": "server_error"}}), 500)
    with FakeOpenAI([*SEARCH_RESPONSES[:-1], failing]) as server:
        write_agents(project, server.base_url)
        result = project.runner("all", base_url=server.base_url).run(project.scenario("search"))
    assert result.outcome.value == "error"
    assert result.error is not None and result.error.startswith(
        f"{project.scenario_path('search')}:13: expect.archival_search: a check of the final expect "
        "(its archival search): "
    )
    assert "embedder down" in result.error


def test_failing_archival_checks_show_the_passages(project: Project) -> None:
    record(project, "search", SEARCH_RESPONSES)
    text = SEARCH.replace("archival_contains: ghormeh", "archival_contains: [ghormeh, tahdig]").replace(
        "archival_not_contains: passport", "archival_not_contains: sabzi"
    )
    project.write_scenario("search", text)
    result = project.replay("search")
    messages = {failure.key: (failure.message, failure.actual) for failure in result.failures}
    assert messages["expect.archival_contains"][0] == "no archival passage contains 'tahdig'"
    assert "Azin likes ghormeh sabzi." in messages["expect.archival_contains"][1]
    assert messages["expect.archival_not_contains"] == (
        "1 archival passage(s) contain 'sabzi'",
        ["Azin likes ghormeh sabzi."],
    )


def test_an_inserted_passage_is_checked_and_replays(project: Project) -> None:
    project.write_scenario(
        "insert",
        """
        agent: archivist
        turns:
          - user: Remember my passport ends in 4471.
            expect:
              tool_calls: [{name: archival_memory_insert, ok: true, result_contains: None}]
        expect:
          archival_contains: "4471"
          archival_search: {query: passport, contains: "4471"}
        """,
    )
    responses = [
        completion(
            call(
                "archival_memory_insert",
                {"content": "Passport ends in 4471.", "tags": ["id"], "request_heartbeat": True},
            )
        ),
        vectors([0.0, 0.0, 1.0]),
        reply("Saved."),
        vectors([0.1, 0.0, 1.0]),
    ]
    recorded, _ = record(project, "insert", responses)
    assert recorded.outcome.value == "passed", recorded.failures or recorded.error or recorded.stale
    replayed = project.replay("insert")
    assert replayed.outcome.value == "passed", replayed.failures or replayed.error or replayed.stale


def test_archival_in_a_scenario_of_an_agent_without_it_is_a_located_mistake(project: Project) -> None:
    project.write_scenario(
        "wrong",
        """
        agent: forgetful
        archival: [a passage]
        turns:
          - user: hi
            expect: {archival_contains: a}
        """,
    )
    with pytest.raises(ScenarioError) as info:
        project.runner().spec_for(project.scenario("wrong"))
    text = str(info.value)
    assert "wrong.yaml:2:" in text and "archival: agent 'forgetful' has no archival memory" in text
    assert "wrong.yaml:5:" in text and "turns[0].expect.archival_contains: agent 'forgetful' has no archival" in text


def test_recording_again_in_mode_new_keeps_every_exchange_embeddings_included(project: Project) -> None:
    from tests.fakes import FakeOpenAI

    record(project, "search", SEARCH_RESPONSES)
    before = (project.cassettes / "search.yaml").read_bytes()
    with FakeOpenAI([]) as server:  # answers nothing: every request must come from the cassette
        write_agents(project, server.base_url)
        result = project.runner("new", base_url=server.base_url).run(project.scenario("search"))
    assert server.received == []
    assert result.outcome.value == "passed", result.failures or result.error or result.stale
    assert (project.cassettes / "search.yaml").read_bytes() == before


@pytest.mark.parametrize("status", [500, 503, 401])
def test_the_embedding_endpoint_failing_under_a_tool_errors_the_scenario_and_keeps_the_cassette(
    project: Project, status: int
) -> None:
    """An outage under archival_memory_search is not the model's doing: the scenario errors, located, as a
    chat request failing does, and a recording in progress keeps the cassette's old takes (it went back
    to the model as a failed call, and was recorded over the good cassette)."""
    from tests.fakes import Raw

    record(project, "search", SEARCH_RESPONSES)
    good = (project.cassettes / "search.yaml").read_bytes()
    outage = Raw(json.dumps({"error": {"message": "embedder down", "type": "server_error"}}), status)
    again = [*SEARCH_RESPONSES[:2], outage]
    result, server = record(project, "search", again)
    assert result.outcome.value == "error"
    assert result.error is not None and "turn 1, step 1: the embedding endpoint" in result.error
    assert ("refused the API key" if status == 401 else "embedder down") in result.error
    assert [received.path for received in server.received][-1] == "/v1/embeddings"  # nothing went on
    assert (project.cassettes / "search.yaml").read_bytes() == good
    assert project.replay("search").outcome.value == "passed"


def test_a_tool_failing_on_its_endpoint_leaves_no_call_without_its_result_in_history(project: Project) -> None:
    from harness.errors import LLMError
    from tests.fakes import FakeOpenAI, Raw

    responses = [
        completion(call("archival_memory_insert", {"content": "Dentist on March 3.", "request_heartbeat": True})),
        Raw("{}", 503),  # the embedding of the passage
        reply("I could not look that up."),
    ]
    with FakeOpenAI(responses) as server:
        write_agents(project, server.base_url)
        agent = project.runner("none", base_url=server.base_url).factory.new_agent(
            project.runner("none").factory.spec("archivist"), agent_id="a"
        )
        before = list(agent.messages)
        with pytest.raises(LLMError, match="HTTP 503"):
            agent.send("Remember: dentist on March 3.")
        assert [message["role"] for message in agent.messages[len(before) :]] == ["user"]
        assert server.received[-1].path == "/v1/embeddings"
        assert agent.send("Never mind.").reply == "I could not look that up."
    tool_calls = [m for m in server.received[-1].body["messages"] if m.get("tool_calls")]
    assert tool_calls == []
