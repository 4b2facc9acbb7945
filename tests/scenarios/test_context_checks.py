"""The recall and context-pressure checks of `expect:`: recall, evictions, memory_warnings, summary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.recall import SqliteRecall
from harness.records import ContextEvent, ContextEventKind, StopReason
from harness.scenarios.checks import ExpectWire, Failure, Observed, check
from tests.fakes import make_project

LOC = ("expect",)


def eviction(summary: str = "The user lives in Lisbon.") -> ContextEvent:
    return ContextEvent(ContextEventKind.EVICTION, 950, 400, 1000, "estimate", 9, 4, summary, "sliding_window")


WARNING = ContextEvent(ContextEventKind.WARNING, 800, 850, 1000, "estimate")


def observed(context: list[tuple[int, ContextEvent]] | None = None, recall: SqliteRecall | None = None) -> Observed:
    return Observed({}, {}, [], "ok", StopReason.REPLIED, context=context or [], recall=recall)


def run(data: dict[str, Any], obs: Observed) -> list[Failure]:
    return check(ExpectWire.model_validate(data), obs, LOC)


def test_recall_finds_what_the_agent_was_told() -> None:
    recall = SqliteRecall.in_memory("a")
    recall.add([{"role": "user", "content": "I moved to Lisbon last year"}], datetime(2025, 1, 1, tzinfo=UTC))
    assert run({"recall": "Lisbon"}, observed(recall=recall)) == []
    assert run({"recall": {"query": "moved", "contains": ["Lisbon", "last year"]}}, observed(recall=recall)) == []
    (failure,) = run({"recall": {"query": "Lisbon", "contains": "Porto"}}, observed(recall=recall))
    assert failure.key == "expect.recall"
    assert failure.message.startswith("conversation_search found 1 message(s) for 'Lisbon', but none holds 'Porto'")
    assert failure.actual == ["I moved to Lisbon last year"]  # what the message says, not its JSON
    (failure,) = run({"recall": {"query": "Lisbon", "roles": ["assistant"]}}, observed(recall=recall))
    assert failure.message == "conversation_search found no message for 'Lisbon'"
    (failure,) = run({"recall": "Lisbon"}, observed())
    assert failure.message == "this agent has no recall memory to search"


@pytest.mark.parametrize("query", ["lisbon", "LISBON moved", "moves"])
def test_a_bare_recall_the_search_finds_but_not_as_written_says_so(query: str) -> None:
    """The search matches words in any case and form; the bare string's text is then looked for as written:
    it said "no message found" beside the messages the search had found."""
    recall = SqliteRecall.in_memory("a")
    recall.add([{"role": "user", "content": "I moved to Lisbon last year"}], datetime(2025, 1, 1, tzinfo=UTC))
    (failure,) = run({"recall": query}, observed(recall=recall))
    assert failure.message.startswith(f"conversation_search found 1 message(s) for {query!r}, but none holds")
    assert "as written" in failure.message and "case" in failure.message
    assert failure.actual == ["I moved to Lisbon last year"]


def test_evictions_count_at_least_and_turns() -> None:
    events = [(1, WARNING), (2, eviction()), (4, eviction())]
    assert run({"evictions": 2}, observed(events)) == []
    assert run({"evictions": {"at_least": 1, "turns": [3, 5]}}, observed(events)) == []
    (failure,) = run({"evictions": 1}, observed(events))
    assert failure.message == "2 eviction(s), expected 1"
    assert failure.actual[1] == "turn 3: eviction, 950 -> 400 tokens of 1000, 9 evicted, 4 kept"
    (failure,) = run({"evictions": {"turns": [2]}}, observed(events))
    assert (failure.key, failure.expected, failure.actual) == ("expect.evictions.turns", [2], [3, 5])
    (failure,) = run({"evictions": {"at_least": 1}}, observed())
    assert failure.message == "0 eviction(s), expected at least 1"


def test_memory_warnings() -> None:
    assert run({"memory_warnings": 1}, observed([(0, WARNING)])) == []
    (failure,) = run({"memory_warnings": 0}, observed([(0, WARNING)]))
    assert failure.message == "1 warning(s), expected 0"


def test_summary_checks_the_last_summary() -> None:
    events = [(1, eviction("first")), (3, eviction("The user lives in Lisbon."))]
    assert run({"summary": {"contains": "Lisbon"}}, observed(events)) == []
    (failure,) = run({"summary": {"contains": "first"}}, observed(events))
    assert failure.message == "the summary does not contain 'first'"
    (failure,) = run({"summary": {"contains": "Lisbon"}}, observed())
    assert failure.message == "no summary was written (no eviction)"


@pytest.mark.parametrize(
    "data",
    [{"evictions": -1}, {"evictions": {"sometimes": 1}}, {"recall": {"contains": "x"}}, {"summary": {"json": []}}],
)
def test_bad_values_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ExpectWire.model_validate(data)


def test_recall_looks_for_the_text_of_the_messages_not_their_json() -> None:
    """Searched in each hit's JSON, `"content": "` passed, and a line break (`\\n` in JSON) never matched."""
    recall = SqliteRecall.in_memory("a")
    recall.add([{"role": "user", "content": "line one\nline two"}], datetime(2025, 1, 1, tzinfo=UTC))
    assert run({"recall": {"query": "line", "contains": "one\nline two"}}, observed(recall=recall)) == []
    assert run({"recall": {"query": "line", "contains": '"content": "'}}, observed(recall=recall)) != []


@pytest.mark.parametrize(
    ("check_text", "says"),
    [
        ("evictions: 0", "has no `context_window`, so no warning, eviction or summary ever happens"),
        ("memory_warnings: 0", "has no `context_window`"),
        ("summary: {contains: Azin}", "has no `context_window`"),
        ("evictions: {at_least: 1}", "has no `context_window`"),
        ("tool_rules: {refused: []}", "has no `tool_rules`: they never refuse a call"),
        ("tool_rules: {offered: [[send_message]]}", "has no `tool_rules`"),
    ],
)
@pytest.mark.parametrize("where", ["turn", "final"])
def test_a_check_of_a_feature_the_agent_lacks_is_a_located_mistake(
    tmp_path: Path, check_text: str, says: str, where: str
) -> None:
    """`evictions: 0` or `tool_rules: {refused: []}` passed whatever the agent did; the others failed only at
    run time. Archival checks without an embedding model were already refused up front."""
    project = make_project(tmp_path / "p")
    expect = f"    expect:\n      {check_text}\n" if where == "turn" else f"expect:\n  {check_text}\n"
    project.write_scenario("s", "agent: chat\nturns:\n  - user: hi\n" + expect)
    with pytest.raises(ScenarioError) as info:
        project.runner().spec_for(project.scenario("s"))
    (problem,) = info.value.problems
    assert problem.line == 5
    assert problem.key.endswith(check_text.split(":")[0]) and says in problem.message
    assert problem.message.startswith("agent 'chat' has no")


def test_a_check_of_context_pressure_is_kept_for_an_agent_with_a_context_window(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    project.agents.write_text(
        project.agents.read_text().replace("  max_steps: 4\n", "  max_steps: 4\n  context_window: 8000\n")
    )
    project.write_scenario("s", "agent: chat\nturns:\n  - user: hi\nexpect:\n  evictions: 0\n  memory_warnings: 0\n")
    with pytest.raises(ScenarioError) as info:  # a window, but no warning: memory_warnings could never fail
        project.runner().spec_for(project.scenario("s"))
    (problem,) = info.value.problems
    assert (problem.line, problem.key.split(".")[-1]) == (6, "memory_warnings")
    assert problem.message == (
        "agent 'chat' is never warned of memory pressure (this check could never fail, or never pass): give it "
        "`memory_warning: true` in the agents file (off by default, as in Letta)"
    )
    project.agents.write_text(
        project.agents.read_text().replace(
            "  context_window: 8000\n", "  context_window: 8000\n  memory_warning: true\n"
        )
    )
    project.runner().spec_for(project.scenario("s"))
