"""harness/passages.py against a real SQLite database (the store's, migration 003), with an embedder that
gives each text a chosen vector: search equals a brute-force reference, filters before ranking, and what is
stored survives the round trip."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.archival import Seed, TagMatchMode, cosine, tags_match
from harness.config import load_agents
from harness.errors import ModelAnswerError
from harness.factory import AgentFactory
from harness.llm.settings import EmbeddingSettings
from harness.passages import PassageStore, pack, unpack
from harness.project import Project
from harness.secrets import Secrets
from harness.store import MIGRATIONS, Store
from tests.fakes import FakeOpenAI
from tests.helpers import TEST_SETTINGS, Script, reply

T0 = datetime(2025, 1, 1, 9, tzinfo=UTC)


class Embedder:
    """Each text's vector is given; every call is counted (one request per call)."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self.vectors[text] for text in texts]


def archival(embedder: Embedder, store: Store | None = None, agent: str = "agent-1") -> PassageStore:
    store = store or Store(":memory:", Secrets())
    if store.find_agent(agent) is None:
        store.create_agent(agent, agent, [])
    return store.passages(agent, embedder, "test-embedder")


def test_the_migration_is_the_third() -> None:
    assert [name for name, _ in MIGRATIONS][:3] == [
        "001_initial",
        "002_block_schema_and_edit_kinds",
        "003_archival_passages",
    ]


def test_a_database_from_before_gains_the_passages_table(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, sql in MIGRATIONS[:2]:
        for statement in sql.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, "2025-01-01"))
    db.close()
    store = Store(path, Secrets())
    embedder = Embedder({"a fact": [1.0, 0.0]})
    archival(embedder, store).insert("a fact", ["t"], T0)
    store.close()
    again = Store(path, Secrets())  # persisted: the `harness chat` database keeps passages across restarts
    assert [p.text for p in archival(embedder, again).passages()] == ["a fact"]


def test_insert_keeps_text_tags_time_and_a_deterministic_id() -> None:
    first = archival(Embedder({"x": [1.0, 0.0], "y": [0.0, 1.0]}))
    second = archival(Embedder({"x": [1.0, 0.0], "y": [0.0, 1.0]}))
    a = first.insert("x", ["b", "a", "b"], T0 + timedelta(hours=1, minutes=30))
    assert a.tags == ("b", "a") and a.created_at == T0 + timedelta(hours=1, minutes=30)
    b = first.insert("y", None, T0)
    assert a.id.startswith("passage-") and a.id != b.id
    assert [p.id for p in (second.insert("x", [], T0), second.insert("y", [], T0))] == [a.id, b.id]
    assert first.passages() == [a, b]


def test_passages_are_per_agent_and_texts_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-archival-secret-1234567890")
    store = Store(":memory:", Secrets.collect())
    embedder = Embedder({"key sk-archival-secret-1234567890": [1.0], "other": [1.0]})
    mine, theirs = archival(embedder, store, "agent-1"), archival(embedder, store, "agent-2")
    mine.insert("key sk-archival-secret-1234567890", [], T0)
    theirs.insert("other", [], T0)
    assert [p.text for p in mine.passages()] == ["key <SECRET>"]
    assert [p.text for p in theirs.passages()] == ["other"]


def test_insert_many_embeds_once_and_is_all_or_nothing() -> None:
    embedder = Embedder({"a": [1.0, 0.0], "b": [0.0, 1.0]})
    store = archival(embedder)
    store.insert_many([Seed("a", ("t",)), Seed("b")], [T0, T0 + timedelta(seconds=1)])
    assert embedder.calls == [["a", "b"]]
    broken = Embedder({"c": [1.0, 0.0]})
    broken.embed = lambda texts: [[1.0, 0.0]]  # type: ignore[method-assign]  # one vector for two texts
    with pytest.raises(ValueError):
        PassageStore(store.db, store.agent_id, broken, "test-embedder").insert_many([Seed("c"), Seed("d")], [T0, T0])
    assert [p.text for p in store.passages()] == ["a", "b"]


def test_vectors_are_stored_as_float32() -> None:
    assert unpack(pack([0.5, -2.0, 1.0 / 3.0])) == [0.5, -2.0, pytest.approx(1.0 / 3.0, rel=1e-7)]
    assert len(pack([0.0] * 384)) == 384 * 4


def test_search_filters_then_ranks_and_top_k_counts_matching_passages() -> None:
    embedder = Embedder(
        {
            "close untagged": [1.0, 0.0],
            "close tagged": [0.9, 0.1],
            "far tagged": [0.0, 1.0],
            "query": [1.0, 0.0],
        }
    )
    store = archival(embedder)
    store.insert("close untagged", [], T0)
    store.insert("close tagged", ["work"], T0 + timedelta(days=1))
    store.insert("far tagged", ["work"], T0 + timedelta(days=2))
    assert [p.text for p in store.search("query", top_k=2)] == ["close untagged", "close tagged"]
    # Letta's SQL path would cut to top_k=1 before filtering by tag and return nothing here.
    assert [p.text for p in store.search("query", tags=["work"], top_k=1)] == ["close tagged"]
    assert [p.text for p in store.search("query", start=T0 + timedelta(days=2))] == ["far tagged"]
    assert [p.text for p in store.search("query", end=T0 + timedelta(days=1))] == ["close untagged", "close tagged"]
    assert store.search("query", tags=["home"]) == []
    assert store.search("query", top_k=0) == []


def test_search_refuses_passages_of_another_embedding_model() -> None:
    embedder = Embedder({"old": [1.0, 0.0], "query": [1.0, 0.0]})
    store = archival(embedder)
    store.insert("old", [], T0)
    moved = PassageStore(store.db, store.agent_id, embedder, "another-model")
    with pytest.raises(ValueError, match="embedded with test-embedder, and the agent now embeds with another-model"):
        moved.search("query")


def test_a_vector_of_another_length_than_the_stored_ones_is_the_models_unusable_answer() -> None:
    """An endpoint now giving other `dimensions`: a query or a new passage of another length ends the run
    as an unusable answer, naming the model (a bare ValueError from the cosine before)."""
    embedder = Embedder({"old": [1.0, 0.0], "query": [1.0, 0.0, 0.0], "new": [0.5, 0.5, 0.5]})
    store = archival(embedder)
    store.insert("old", [], T0)
    with pytest.raises(ModelAnswerError, match="test-embedder returned a vector of 3 numbers for the query, where"):
        store.search("query")
    with pytest.raises(ModelAnswerError, match="returned a vector of 3 numbers for a passage, where the passages it"):
        store.insert("new", [], T0)
    assert [passage.text for passage in store.passages()] == ["old"]


def test_a_search_with_nothing_to_rank_sends_no_request() -> None:
    embedder = Embedder({"query": [1.0]})
    assert archival(embedder).search("query") == []
    assert embedder.calls == []


VECTOR = st.lists(st.integers(-5, 5).map(float), min_size=3, max_size=3).filter(any)
PASSAGE = st.tuples(VECTOR, st.lists(st.sampled_from("abc"), max_size=3), st.integers(0, 5))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(PASSAGE, max_size=8),
    VECTOR,
    st.lists(st.sampled_from("abc"), max_size=2),
    st.sampled_from(TagMatchMode),
    st.integers(1, 10),
    st.one_of(st.none(), st.integers(0, 5)),
)
def test_search_equals_a_brute_force_reference(
    passages: list[tuple[list[float], list[str], int]],
    query: list[float],
    tags: list[str],
    mode: TagMatchMode,
    top_k: int,
    since: int | None,
) -> None:
    vectors = {f"p{i}": vector for i, (vector, _, _) in enumerate(passages)} | {"query": query}
    store = archival(Embedder(vectors))
    for i, (_, passage_tags, day) in enumerate(passages):
        store.insert(f"p{i}", passage_tags, T0 + timedelta(days=day))
    start = None if since is None else T0 + timedelta(days=since)
    kept = [
        (i, vector)
        for i, (vector, passage_tags, day) in enumerate(passages)
        if tags_match(passage_tags, tags, mode) and (start is None or T0 + timedelta(days=day) >= start)
    ]
    ranked = sorted(kept, key=lambda item: (-cosine(query, unpack(pack(item[1]))), item[0]))
    found = store.search("query", tags=tags, tag_match_mode=mode, top_k=top_k, start=start)
    assert [p.text for p in found] == [f"p{i}" for i, _ in ranked[:top_k]]


def test_harness_chat_keeps_passages_in_the_state_database(tmp_path: Path) -> None:
    """`harness chat`'s agent (the factory's resume over the state database) embeds live, through the SDK,
    and finds its passages again after a restart."""
    vectors = {"object": "list", "data": [{"index": 0, "embedding": [0.6, 0.8]}]}
    (tmp_path / "agents.yaml").write_text("agents:\n  a: {model: m, system: s, tools: [send_message]}\n", "utf-8")
    with FakeOpenAI([vectors, vectors]) as server:
        embedding = EmbeddingSettings(name="fake-embedder", base_url=server.base_url, max_retries=0)
        spec = dataclasses.replace(load_agents(tmp_path / "agents.yaml").get("a"), embedding=embedding)
        factory = AgentFactory(Project.build())
        store = Store(tmp_path / "state.db", Secrets())
        agent = factory.resume(spec, store, model=Script([reply("ok")]).model(TEST_SETTINGS))
        assert agent.state.archival is not None
        agent.state.archival.insert("Azin's passport ends in 4471.", ["id"], agent.state.now())
        store.close()
        store = Store(tmp_path / "state.db", Secrets())
        again = factory.resume(spec, store, model=Script([reply("ok")]).model(TEST_SETTINGS))
        assert again.state.id == agent.state.id and again.state.archival is not None
        found = again.state.archival.search("passport")
        assert [(p.text, p.tags) for p in found] == [("Azin's passport ends in 4471.", ("id",))]
        assert abs(datetime.now(UTC) - found[0].created_at) < timedelta(minutes=5)  # the wall clock
    assert [r.path for r in server.received] == ["/v1/embeddings", "/v1/embeddings"]
