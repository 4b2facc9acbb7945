"""Recall memory: what is indexed (Letta's rules), FTS5 search, the store's index, and the two tools."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config import AgentSpec
from harness.factory import AgentFactory
from harness.memory import Memory
from harness.project import Project
from harness.recall import LazyRecall, RecallHit, RecallJournal, SqliteRecall, fts_query, searchable
from harness.records import StepRecord
from harness.secrets import Secrets
from harness.store import MIGRATIONS, Store
from harness.tools.builtin import conversation_search_date
from harness.tools.context import AgentState, steady_clock
from harness.tools.registry import resolve_tool
from harness.tools.schema import ToolResult
from tests.helpers import ROOT

SEARCH = resolve_tool("conversation_search", ROOT)
SEARCH_DATE = resolve_tool("conversation_search_date", ROOT)
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant_call(name: str, arguments: dict[str, Any], content: str | None = None) -> dict[str, Any]:
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    return {"role": "assistant", "content": content, "tool_calls": [call]}


def recall_with(*messages: dict[str, Any], start: datetime = T0) -> SqliteRecall:
    recall = SqliteRecall.in_memory("agent-1")
    for number, message in enumerate(messages):
        recall.add([message], start + timedelta(minutes=number))
    return recall


# ------------------------------------------------------------------ what is indexed


def test_searchable_follows_lettas_extraction() -> None:
    assert searchable(user("I live in Lisbon")) == {"content": "I live in Lisbon"}
    assert searchable(user('{"type": "user_message", "message": "hi"}')) == {"type": "user_message", "message": "hi"}
    reply = assistant_call("send_message", {"message": "Noted, Lisbon!"}, content="thinking")
    assert searchable(reply) == {"thinking": "thinking", "content": "Noted, Lisbon!"}
    # A small model writes no text beside its call: the reply is still found (Letta would skip it).
    assert searchable(assistant_call("send_message", {"message": "Hi"})) == {"thinking": "", "content": "Hi"}
    assert searchable({"role": "assistant", "content": "plain text"}) == {"content": "plain text"}


@pytest.mark.parametrize(
    ("text", "content"),
    [("42", 42), ("true", True), ("null", None), (' [1, "a"] ', [1, "a"]), ('"quoted"', "quoted"), ("4 2", "4 2")],
)
def test_a_message_that_is_another_json_value_is_shown_as_parsed(text: str, content: Any) -> None:
    """conversation_search (0.16.8) json.loads the extracted text and puts a value that is not an object in
    as parsed (`result_dict["content"] = parsed_content`), for the user's messages and plain assistant text;
    a send_message reply is its argument, as written."""
    assert searchable(user(text)) == {"content": content}
    assert searchable({"role": "assistant", "content": text}) == {"content": content}
    reply = assistant_call("send_message", {"message": text})
    assert searchable(reply) == {"thinking": "", "content": text}


def test_conversation_search_finds_and_shows_a_json_scalar_message_as_letta_does() -> None:
    recall = recall_with(user("42"), user("true"))
    found = json.loads(SEARCH.call(state(recall), {"query": "42"}).message)["results"]
    assert [(hit["role"], hit["content"]) for hit in found] == [("user", 42)]
    listed = SEARCH_DATE.call(state(recall), {"start_date": "2025-01-01", "end_date": "2025-01-01"}).message
    assert listed.endswith(
        '"timestamp: 2025-01-01T12:00:00+00:00, user - 42",\n  "timestamp: 2025-01-01T12:01:00+00:00, user - true"\n]'
    )


@pytest.mark.parametrize(
    "message",
    [
        {"role": "system", "content": "You are..."},
        {"role": "tool", "tool_call_id": "c1", "content": '{"status": "OK", "message": "None"}'},
        user('{"type": "heartbeat", "reason": "x"}'),
        user('{"type": "system_alert", "message": "The conversation history will soon reach its maximum"}'),
        assistant_call("conversation_search", {"query": "Lisbon"}),
        assistant_call("core_memory_append", {"label": "human", "content": "Lisbon"}),  # no text, no reply
        user(""),
    ],
)
def test_not_searchable(message: dict[str, Any]) -> None:
    assert searchable(message) is None


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('Lisbon "AND" NOT x*') == '"Lisbon" OR "AND" OR "NOT" OR "x"'
    assert fts_query("?!") is None


# ------------------------------------------------------------------ search


def test_search_ranks_matches_and_filters_roles_and_dates() -> None:
    recall = recall_with(
        user("I live in Lisbon"),
        assistant_call("send_message", {"message": "Lisbon is lovely"}),
        user("My dog is called Rex"),
        user("Lisbon Lisbon, and more Lisbon"),
    )
    hits = recall.search("lisbon")
    assert hits[0].text == "Lisbon Lisbon, and more Lisbon"  # bm25: the densest first
    assert {hit.text for hit in hits} == {"I live in Lisbon", "Lisbon is lovely", "Lisbon Lisbon, and more Lisbon"}
    assert [hit.rank for hit in hits] == [1, 2, 3]
    assert [hit.text for hit in recall.search("Lisbon", roles=["assistant"])] == ["Lisbon is lovely"]
    assert recall.search("dogs")[0].text == "My dog is called Rex"  # Porter stemming
    assert [hit.text for hit in recall.search(None, limit=2)] == [
        "Lisbon Lisbon, and more Lisbon",
        "My dog is called Rex",
    ]
    window = recall.search(None, start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=2))
    assert [hit.created_at for hit in window] == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=1)]
    assert recall.count() == 4 and recall.count(end=T0) == 1
    assert recall.search("Paris") == [] and recall.search("?") == []


def test_search_is_per_agent() -> None:
    recall = recall_with(user("Lisbon"))
    other = SqliteRecall(recall.db, "agent-2")
    assert other.search("Lisbon") == [] and other.count() == 0


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=8)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(WORDS, min_size=1, max_size=6), min_size=1, max_size=12), st.data())
def test_every_indexed_word_finds_its_message(sentences: list[list[str]], data: st.DataObject) -> None:
    """Property: a word of indexed user messages finds every message holding it (with a limit that fits
    them all), each once, and a search never returns more than its limit."""
    recall = recall_with(*(user(" ".join(words)) for words in sentences))
    index = data.draw(st.integers(0, len(sentences) - 1))
    word = data.draw(st.sampled_from(sentences[index]))
    texts = [hit.text for hit in recall.search(word, limit=len(sentences))]
    assert sorted(" ".join(words) for words in sentences if word in words) == sorted(
        text for text in texts if word in text.split()
    )
    assert len(recall.search(word, limit=1)) == 1
    assert recall.count() == len(sentences)


# ------------------------------------------------------------------ the tools


def state(recall: SqliteRecall | None, now: datetime = T0 + timedelta(hours=2)) -> AgentState:
    return AgentState("agent-1", "test", Memory([]), now=lambda: now, recall=recall)


def test_conversation_search_result_is_lettas_dict() -> None:
    recall = recall_with(user("I live in Lisbon"), assistant_call("send_message", {"message": "Noted"}))
    result = SEARCH.call(state(recall), {"query": "Lisbon"})
    assert result.ok
    assert json.loads(result.message) == {
        "message": "Showing 1 results:",
        "results": [
            {
                "timestamp": "2025-01-01T12:00:00+00:00",
                "time_ago": "2h ago",
                "role": "user",
                "relevance": {"fts_rank": 1, "search_mode": "fts"},
                "content": "I live in Lisbon",
            }
        ],
    }
    nothing = SEARCH.call(state(recall), {"query": "Paris"})
    assert json.loads(nothing.message) == {"message": "No results found.", "results": []}


def test_conversation_search_dates_are_inclusive_whole_days() -> None:
    recall = recall_with(user("day one"), user("day two"), start=datetime(2024, 1, 15, 23, 59, tzinfo=UTC))
    # 23:59 on the 15th and 00:00 on the 16th
    result = SEARCH.call(state(recall), {"start_date": "2024-01-15", "end_date": "2024-01-15"})
    assert [r["content"] for r in json.loads(result.message)["results"]] == ["day one"]
    result = SEARCH.call(state(recall), {"start_date": "2024-01-16T00:00"})
    assert [r["content"] for r in json.loads(result.message)["results"]] == ["day two"]
    bad = SEARCH.call(state(recall), {"start_date": "next week"})
    assert not bad.ok and "Invalid start_date format: next week. Use ISO 8601 format" in bad.message
    assert not SEARCH.call(state(recall), {"roles": ["system"]}).ok  # not one of Letta's roles


def test_dates_at_the_ends_of_time_with_an_offset_are_clamped_not_an_overflow() -> None:
    """`0001-01-01T00:00+05:00` is before year 1 in UTC: the model read `OverflowError: date value out of
    range`. Such a bound is before (or after) every message, as written."""
    recall = recall_with(user("day one"), user("day two"))
    wide = {"start_date": "0001-01-01T00:00+05:00", "end_date": "9999-12-31T23:59-05:00"}
    result = SEARCH.call(state(recall), wide)
    assert result.ok and [r["content"] for r in json.loads(result.message)["results"]] == ["day two", "day one"]
    for dates in ({"end_date": "0001-01-01T00:00+05:00"}, {"start_date": "9999-12-31T23:59-05:00"}):
        nothing = SEARCH.call(state(recall), dates)
        assert nothing.ok and json.loads(nothing.message)["results"] == []


def test_conversation_search_without_recall_fails_clearly() -> None:
    result = SEARCH.call(state(None), {"query": "x"})
    assert not result.ok and "recall memory is not available" in result.message


def test_conversation_search_date_pages() -> None:
    recall = recall_with(*(user(f"message {n}") for n in range(7)), start=datetime(2024, 9, 4, 9, 0, tzinfo=UTC))
    first = SEARCH_DATE.call(state(recall), {"start_date": "2024-09-04", "end_date": "2024-09-04"})
    assert first.message.startswith("Showing 5 of 7 results (page 0/1): [\n")
    assert "timestamp: 2024-09-04T09:00:00+00:00, user - message 0" in first.message
    second = SEARCH_DATE.call(state(recall), {"start_date": "2024-09-04", "end_date": "2024-09-04", "page": 1})
    assert second.message.startswith("Showing 2 of 7 results (page 1/1):") and "message 6" in second.message
    assert SEARCH_DATE.call(state(recall), {"start_date": "2024-09-05", "end_date": "2024-09-05"}).message == (
        "No results found."
    )
    bad = SEARCH_DATE.call(state(recall), {"start_date": "04/09/2024", "end_date": "2024-09-04"})
    assert not bad.ok and "Dates must be in the format 'YYYY-MM-DD'" in bad.message


def test_conversation_search_date_lists_the_users_messages_oldest_first() -> None:
    """Letta 0.6.5 lists through `list_user_messages_for_agent` (role user, ascending): the agent's replies
    are not listed, the oldest message comes first, and the total counts the user's messages alone."""
    recall = recall_with(
        user("first question"),
        assistant_call("send_message", {"message": "first reply"}),
        user("second question ünïcode"),
        {"role": "assistant", "content": "plain text"},
        start=datetime(2025, 1, 1, 12, 0, tzinfo=UTC),
    )
    result = SEARCH_DATE.call(state(recall), {"start_date": "2025-01-01", "end_date": "2025-01-01"})
    assert result == ToolResult(
        True,
        "Showing 2 of 2 results (page 0/0): [\n"
        '  "timestamp: 2025-01-01T12:00:00+00:00, user - first question",\n'
        '  "timestamp: 2025-01-01T12:02:00+00:00, user - second question ünïcode"\n]',
    )


@pytest.mark.parametrize("page", ["abc", -1, "-1", [1], 1.5j])
def test_conversation_search_date_refuses_a_page_that_is_not_a_number_as_letta_does(page: Any) -> None:
    """`try: page = int(page); if page < 0: raise ValueError; except: raise ValueError(...)` (0.6.5): the
    loops that hand the model's arguments over as they are (letta-memgpt, letta-v1) get Letta's text."""
    recall = recall_with(user("hello"))
    with pytest.raises(ValueError, match=r"^'page' argument must be an integer$"):
        conversation_search_date(state(recall), "2025-01-01", "2025-01-01", page=page)
    listed = conversation_search_date(state(recall), "2025-01-01", "2025-01-01", page=" 0 ")  # type: ignore[arg-type]
    assert listed.startswith("Showing 1 of 1 results (page 0/0)")


# ------------------------------------------------------------------ where the index is kept


def test_steady_clock_advances_one_second_a_call() -> None:
    now = steady_clock()
    assert [now(), now()] == [datetime(2025, 1, 1, 12, 0, tzinfo=UTC), datetime(2025, 1, 1, 12, 0, 1, tzinfo=UTC)]


def test_recall_journal_indexes_what_the_loop_journals() -> None:
    recall = SqliteRecall.in_memory("agent-1")
    journal = RecallJournal(recall, steady_clock())
    journal.save_user_message("agent-1", 1, 0, user("I live in Lisbon"))
    step = StepRecord(0, 0, None, (), "m")
    journal.save_step("agent-1", step, [assistant_call("send_message", {"message": "Noted"})], None)
    assert [(hit.text, hit.created_at.second) for hit in recall.search(None)] == [("Noted", 1), ("I live in Lisbon", 0)]


def test_the_store_indexes_saved_messages_in_its_transaction(tmp_path: Path) -> None:
    assert "004_recall_search" in [name for name, _ in MIGRATIONS]
    secrets = Secrets.collect(values={"sk-live-secret-1234"})
    store = Store(tmp_path / "state.db", secrets)
    store.create_agent("agent-1", "chat", [])
    store.save_user_message("agent-1", 1, 0, user("my key is sk-live-secret-1234 and I live in Lisbon"))
    step = StepRecord(0, 0, None, (), "m")
    store.save_step("agent-1", step, [assistant_call("send_message", {"message": "Lisbon, noted"})], None)
    hits = store.recall("agent-1").search("Lisbon")
    assert {hit.text for hit in hits} == {"my key is <SECRET> and I live in Lisbon", "Lisbon, noted"}
    store.close()
    reopened = Store(tmp_path / "state.db", secrets)  # the index persists, and the migration runs once
    assert reopened.recall("agent-1").count() == 2
    reopened.close()


def test_conversation_search_limit_and_roles_as_letta() -> None:
    recall = recall_with(*(user(f"Lisbon note {n}") for n in range(8)))
    default = json.loads(SEARCH.call(state(recall), {"query": "Lisbon"}).message)
    assert default["message"] == "Showing 5 results:"  # RETRIEVAL_QUERY_DEFAULT_PAGE_SIZE
    assert len(json.loads(SEARCH.call(state(recall), {"query": "Lisbon", "limit": 7}).message)["results"]) == 7
    # Tool results are never returned (Letta filters every one of them out), whatever `roles` says.
    only_tools = json.loads(SEARCH.call(state(recall), {"query": "Lisbon", "roles": ["tool"]}).message)
    assert only_tools == {"message": "No results found.", "results": []}
    newest = json.loads(SEARCH.call(state(recall), {"limit": 1}).message)["results"]
    assert [(r["content"], r["time_ago"]) for r in newest] == [("Lisbon note 7", "1h ago")]
    assert "relevance" not in newest[0]  # no query, no rank


def test_the_lazy_index_of_a_scenario_run_builds_at_the_first_search() -> None:
    lazy = LazyRecall("agent-1")
    lazy.add([user("I live in Lisbon")], T0)
    assert lazy._index is None  # nothing built while nobody searches
    assert [hit.text for hit in lazy.search("Lisbon")] == ["I live in Lisbon"]
    lazy.add([user("Lisbon again")], T0 + timedelta(minutes=1))
    assert [hit.created_at for hit in lazy.search(None)] == [T0 + timedelta(minutes=1), T0]
    assert lazy.count() == 2


_WORDS = st.sampled_from(["Lisbon", "locker", "code", "4411", "dentist", "Friday", "again"])
_ADDS = st.lists(  # each add: its minute, and its messages (role, text); several adds may share a minute
    st.tuples(
        st.integers(0, 3),
        st.lists(
            st.tuples(st.sampled_from(["user", "assistant", "tool"]), st.lists(_WORDS, min_size=1, max_size=3)),
            max_size=3,
        ),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(adds=_ADDS, query=st.one_of(st.none(), _WORDS))
def test_the_lazy_index_finds_what_an_index_built_as_it_went_finds(
    adds: list[tuple[int, list[tuple[str, list[str]]]]], query: str | None
) -> None:
    """Messages waiting for the first search are indexed then with the time each was added at, in order."""
    lazy, eager = LazyRecall("agent-1"), SqliteRecall.in_memory("agent-1")
    minute = 0
    for step, messages in adds:
        minute += step  # the clock never goes back
        batch = [{"role": role, "content": " ".join(words)} for role, words in messages]
        lazy.add(batch, T0 + timedelta(minutes=minute))
        eager.add(batch, T0 + timedelta(minutes=minute))
    found = [(hit.role, hit.created_at, hit.text) for hit in lazy.search(query, limit=50)]
    assert found == [(hit.role, hit.created_at, hit.text) for hit in eager.search(query, limit=50)]
    assert lazy.count() == eager.count()


def test_a_scenario_history_is_in_recall_from_the_start(chat_spec: AgentSpec) -> None:
    history = [user("Earlier: my locker code is 4411"), assistant_call("send_message", {"message": "Got it"})]
    agent = AgentFactory(Project.build()).new_agent(chat_spec, model=_NoModel(), history=history)
    assert agent.messages == history and agent.messages[0] is not history[0]  # a copy
    assert agent.state.recall is not None
    assert [hit.text for hit in agent.state.recall.search("locker")] == ["Earlier: my locker code is 4411"]


class _NoModel:
    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        raise AssertionError("no request expected")


def test_a_message_lettas_loop_packaged_as_json_is_shown_as_that_json() -> None:
    """conversation_search_date (Letta 0.6) shows a user message as Letta stored it: the packaged JSON, whose
    `message` is the user's text (it used to show nothing for it)."""
    packaged = {"type": "user_message", "message": "my dentist is on Friday", "time": "2025-01-01 12:00:01 PM UTC+0000"}
    detail = searchable({"role": "user", "content": json.dumps(packaged, indent=2)})
    assert detail is not None
    hit = RecallHit("user", datetime(2025, 1, 1, 12, tzinfo=UTC), detail)
    assert hit.text == json.dumps(packaged, indent=2) and "my dentist is on Friday" in hit.text
    assert RecallHit("user", hit.created_at, {"content": "plain"}).text == "plain"


def test_a_limit_or_offset_past_what_sqlite_binds_is_no_limit_not_an_overflow() -> None:
    """A model's `limit: 10**20` raised `OverflowError: Python int too large to convert to SQLite INTEGER`."""
    recall = recall_with(user("I live in Lisbon"), user("My dog is called Rex"))
    assert len(recall.search("lisbon", limit=10**20)) == 1
    assert len(recall.search(None, limit=10**20)) == 2
    assert recall.search(None, limit=10**20, offset=10**20) == []


@pytest.mark.parametrize(
    ("seconds", "ago"),
    [
        (0, "0s ago"),
        (59, "59s ago"),
        (60, "1m ago"),
        (3599, "59m ago"),
        (3600, "1h ago"),
        (86399, "23h ago"),
        (86400, "1d ago"),
        (3 * 86400 + 5, "3d ago"),
    ],
)
def test_conversation_search_says_how_long_ago_in_lettas_units(seconds: int, ago: str) -> None:
    """core_tool_executor 0.16.8: seconds below a minute, minutes below an hour, hours below a day, then days."""
    recall = recall_with(user("Lisbon"))
    result = SEARCH.call(state(recall, now=T0 + timedelta(seconds=seconds)), {"query": "Lisbon"})
    assert json.loads(result.message)["results"][0]["time_ago"] == ago


def test_a_date_only_end_takes_in_the_last_microsecond_of_that_day() -> None:
    late = datetime(2024, 1, 15, 23, 59, 59, 999999, tzinfo=UTC)
    recall = recall_with(user("just before midnight"), start=late)
    result = SEARCH.call(state(recall), {"end_date": "2024-01-15"})
    assert [r["content"] for r in json.loads(result.message)["results"]] == ["just before midnight"]


def test_conversation_search_with_limit_zero_finds_nothing() -> None:
    """Letta takes `limit if limit is not None else` its default: 0 is a limit, not a missing one."""
    recall = recall_with(user("Lisbon"))
    result = SEARCH.call(state(recall), {"query": "Lisbon", "limit": 0})
    assert json.loads(result.message) == {"message": "No results found.", "results": []}


def test_conversation_search_date_counts_pages_from_zero() -> None:
    """Ten messages are pages 0 and 1 of five: Letta 0.6.5's `math.ceil(total / count) - 1`."""
    recall = recall_with(*(user(f"message {n}") for n in range(10)), start=datetime(2024, 9, 4, 9, 0, tzinfo=UTC))
    first = SEARCH_DATE.call(state(recall), {"start_date": "2024-09-04", "end_date": "2024-09-04"})
    assert first.message.startswith("Showing 5 of 10 results (page 0/1):")
