"""archival_memory_insert and archival_memory_search as the model calls them (through Tool.call): Letta
0.16.8's results, formats and error texts."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime

import pytest

from harness.memory import Memory
from harness.secrets import Secrets
from harness.store import Store
from harness.tools.archival import NO_ARCHIVAL
from harness.tools.context import AgentState, steady_clock
from harness.tools.registry import resolve_tool
from harness.tools.schema import ToolResult
from tests.helpers import ROOT
from tests.test_passages import Embedder

INSERT = resolve_tool("archival_memory_insert", ROOT)
SEARCH = resolve_tool("archival_memory_search", ROOT)
START = datetime(2025, 1, 1, 9, tzinfo=UTC)
TOPICS = {
    "Meeting on 2025-01-01: the Q2 roadmap.": [1.0, 0.0, 0.0],
    "Azin likes ghormeh sabzi.": [0.0, 1.0, 0.0],
    "The API v2 launch slipped a week.": [0.8, 0.0, 0.6],
    "roadmap": [1.0, 0.0, 0.0],
    "food": [0.0, 1.0, 0.0],
}


@pytest.fixture
def state() -> AgentState:
    store = Store(":memory:", Secrets())
    store.create_agent("agent-1", "test", [])
    state = AgentState("agent-1", "test", Memory([]), now=steady_clock(START, step_seconds=86400))
    state.archival = store.passages("agent-1", Embedder(TOPICS), "test-embedder")
    return state


def insert(state: AgentState, content: str, tags: list[str] | None = None) -> ToolResult:
    arguments: dict[str, object] = {"content": content} if tags is None else {"content": content, "tags": tags}
    return INSERT.call(state, arguments)


def search(state: AgentState, **arguments: object) -> ToolResult:
    return SEARCH.call(state, arguments)


def results(result: ToolResult) -> list[dict[str, object]]:
    assert result.ok, result.message
    value = ast.literal_eval(result.message)  # Letta's str() of a list of dicts: Python's text, not JSON
    assert isinstance(value, list)
    return value


@pytest.fixture
def filled(state: AgentState) -> AgentState:
    assert insert(state, "Meeting on 2025-01-01: the Q2 roadmap.", ["meetings", "roadmap"]) == ToolResult(True, "None")
    insert(state, "Azin likes ghormeh sabzi.", ["people"])  # 2025-01-02
    insert(state, "The API v2 launch slipped a week.", ["roadmap"])  # 2025-01-03
    return state


def test_schemas_are_lettas() -> None:
    insert_schema = INSERT.openai_schema()["function"]
    assert insert_schema["description"].startswith("Add information to long-term archival memory for later retrieval.")
    assert insert_schema["parameters"]["required"] == ["content", "request_heartbeat"]
    assert insert_schema["parameters"]["properties"]["tags"] == {
        "description": 'Optional list of category tags (e.g., ["meetings", "project-updates"])',
        "items": {"type": "string"},
        "type": "array",
    }
    search_schema = SEARCH.openai_schema()["function"]["parameters"]
    assert list(search_schema["properties"]) == [
        "query",
        "tags",
        "tag_match_mode",
        "top_k",
        "start_datetime",
        "end_datetime",
        "request_heartbeat",
    ]
    assert search_schema["properties"]["tag_match_mode"]["enum"] == ["any", "all"]
    assert search_schema["required"] == ["query", "request_heartbeat"]


def test_search_returns_lettas_result_text_best_first(filled: AgentState) -> None:
    result = search(filled, query="roadmap", top_k=2)
    assert result.message == str(
        [
            {
                "id": results(result)[0]["id"],
                "timestamp": "2025-01-01T09:00:00+00:00",
                "content": "Meeting on 2025-01-01: the Q2 roadmap.",
                "tags": ["meetings", "roadmap"],
            },
            {
                "id": results(result)[1]["id"],
                "timestamp": "2025-01-03T09:00:00+00:00",
                "content": "The API v2 launch slipped a week.",
                "tags": ["roadmap"],
            },
        ]
    )
    assert json.loads(result.to_content())["status"] == "OK"


def test_top_k_defaults_to_five_and_zero_is_no_limit(state: AgentState) -> None:
    for _ in range(7):
        insert(state, "Azin likes ghormeh sabzi.")
    assert len(results(search(state, query="food"))) == 5  # RETRIEVAL_QUERY_DEFAULT_PAGE_SIZE
    assert len(results(search(state, query="food", top_k=0))) == 7
    refused = search(state, query="food", top_k=-1)
    assert refused == ToolResult(
        False, "Error executing function archival_memory_search: ValueError: top_k must be 0 or more, not -1"
    )


def test_tags_any_and_all(filled: AgentState) -> None:
    contents = lambda result: [r["content"] for r in results(result)]  # noqa: E731
    assert contents(search(filled, query="roadmap", tags=["meetings", "people"])) == [
        "Meeting on 2025-01-01: the Q2 roadmap.",
        "Azin likes ghormeh sabzi.",
    ]
    assert contents(search(filled, query="roadmap", tags=["meetings", "roadmap"], tag_match_mode="all")) == [
        "Meeting on 2025-01-01: the Q2 roadmap."
    ]
    assert results(search(filled, query="roadmap", tags=["nothing"])) == []


def test_dates_are_inclusive_and_parsed_as_letta_parses_them(filled: AgentState) -> None:
    days = lambda result: [str(r["timestamp"])[:10] for r in results(result)]  # noqa: E731
    assert days(search(filled, query="roadmap", start_datetime="2025-01-02")) == ["2025-01-03", "2025-01-02"]
    assert days(search(filled, query="roadmap", start_datetime="2025-01-02T09:00")) == ["2025-01-03", "2025-01-02"]
    assert days(search(filled, query="roadmap", end_datetime="2025-01-02T09:00:00+00:00")) == [
        "2025-01-01",
        "2025-01-02",
    ]
    # datetime.fromisoformat takes a bare date as its midnight: Letta's end-of-day branch never runs on
    # Python 3.11+, so an end date excludes that day's passages there, and here.
    assert days(search(filled, query="roadmap", end_datetime="2025-01-02")) == ["2025-01-01"]
    assert days(search(filled, query="roadmap", start_datetime="2025-01-02T10:00+01:00")) == [
        "2025-01-03",
        "2025-01-02",
    ]


@pytest.mark.parametrize("argument", ["start_datetime", "end_datetime"])
def test_a_bad_date_is_lettas_error(filled: AgentState, argument: str) -> None:
    assert search(filled, query="roadmap", **{argument: "last tuesday"}) == ToolResult(
        False,
        f"Error executing function archival_memory_search: ValueError: Invalid {argument} format: last tuesday. "
        "Use ISO 8601 format (YYYY-MM-DD or YYYY-MM-DDTHH:MM)",
    )


def test_a_blank_query_finds_nothing_without_a_request(filled: AgentState) -> None:
    embedder = filled.archival.embedder  # type: ignore[union-attr]
    before = len(embedder.calls)
    assert search(filled, query="  ") == ToolResult(True, "[]")
    assert len(embedder.calls) == before


def test_bad_arguments_are_refused_before_anything_runs(state: AgentState) -> None:
    refused = search(state, query="x", tag_match_mode="some")
    assert not refused.ok and "tag_match_mode: Input should be 'any' or 'all'" in refused.message
    refused = insert(state, "x", "not a list")  # type: ignore[arg-type]
    assert not refused.ok and "tags: Input should be a valid list" in refused.message


def test_without_an_embedding_model_both_tools_say_what_to_do() -> None:
    bare = AgentState("agent-1", "test", Memory([]))
    for result in (insert(bare, "x"), search(bare, query="x")):
        assert not result.ok
        assert result.message.endswith(f"ValueError: {NO_ARCHIVAL}")
    assert "give it an `embedding:` model in agents.yaml" in NO_ARCHIVAL


def test_times_come_from_the_agents_clock(state: AgentState) -> None:
    insert(state, "Azin likes ghormeh sabzi.")
    insert(state, "Azin likes ghormeh sabzi.")
    assert [str(r["timestamp"]) for r in results(search(state, query="food"))] == [
        "2025-01-01T09:00:00+00:00",
        "2025-01-02T09:00:00+00:00",
    ]
