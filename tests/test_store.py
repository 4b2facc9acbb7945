from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx2
import pytest

from harness.agent import Agent
from harness.config import AgentSpec, BlockSpec
from harness.errors import LLMError, StoreError, UserError
from harness.factory import AgentFactory
from harness.llm.chat import ChatModel
from harness.memory import Block, Memory
from harness.project import Project
from harness.secrets import MASK, Secrets
from harness.store import MIGRATIONS, Store
from harness.tools.registry import resolve_tool
from tests.helpers import Script, call, closed_to_user, completion, reply, run_python

HB = {"request_heartbeat": True}


def open_agent(spec: AgentSpec, model: ChatModel, store: Store) -> Agent:
    """The factory's resume, with a scripted model."""
    return AgentFactory(Project.build()).resume(spec, store, model=model)


def rename_then_reply(new_name: str = "Alice") -> list[object]:
    return [
        completion(
            call("core_memory_replace", {"label": "human", "old_content": "Bob", "new_content": new_name, **HB})
        ),
        reply(f"Hi {new_name}"),
    ]


def count(store: Store, table: str) -> int:
    return int(store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_turn_persists_across_restart(tmp_path: Path, chat_spec: AgentSpec) -> None:
    db = tmp_path / "state" / "state.db"
    store = Store(db)
    agent = open_agent(chat_spec, Script(rename_then_reply()).model(), store)
    agent_id = agent.state.id
    block_ids = [b.id for b in agent.memory]
    agent.send("My name is Alice")
    messages = list(agent.messages)
    store.close()

    reopened = Store(db)
    script = Script([reply("Welcome back, Alice")])
    resumed = open_agent(chat_spec, script.model(), reopened)
    assert resumed.state.id == agent_id
    assert resumed.turns == 1
    assert resumed.memory.values() == {"persona": "You are a helpful assistant", "human": "Name: Alice"}
    assert [b.id for b in resumed.memory] == block_ids
    assert resumed.messages == messages
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "tool"]

    resumed.send("Do you remember me?")
    body = script.requests[0]
    assert body["messages"][1:-1] == messages
    assert '<human characters="11/5000">\nName: Alice\n</human>' in body["messages"][0]["content"]
    assert reopened.turns(agent_id) == 2
    reopened.close()


def test_an_agent_started_from_a_history_persists_it_and_resumes_from_it(tmp_path: Path, chat_spec: AgentSpec) -> None:
    """The history an agent starts from is its first messages: persisted with its first user message, as
    the loop's own first messages would be (the history was kept in the request only, never saved)."""
    history = [{"role": "user", "content": "Earlier: my locker code is 4411"}, {"role": "assistant", "content": "Ok"}]
    store = Store(tmp_path / "state.db")
    agent = AgentFactory(Project.build()).new_agent(
        chat_spec, store=store, model=Script([reply("Hi")]).model(), history=history
    )
    agent.send("Hello")
    assert agent.messages[:2] == history
    resumed = open_agent(chat_spec, Script([]).model(), store)
    assert resumed.messages == agent.messages
    store.close()


def test_a_block_declared_after_creation_is_added_on_resume(tmp_path: Path, chat_spec: AgentSpec) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    agent = open_agent(chat_spec, Script(rename_then_reply()).model(), store)
    agent.send("My name is Alice")
    store.close()

    tasks = BlockSpec("tasks", "[]", limit=2000)
    grown = dataclasses.replace(chat_spec, blocks=(*chat_spec.blocks, tasks))
    reopened = Store(db)
    resumed = open_agent(grown, Script([]).model(), reopened)
    # The persisted edit survives; the new block starts from its declared value, after the others.
    assert resumed.memory.values() == {"persona": "You are a helpful assistant", "human": "Name: Alice", "tasks": "[]"}
    reopened.close()
    again = Store(db)
    persisted = again.get_core_memory(resumed.state.id)
    assert persisted.list_block_labels() == ["persona", "human", "tasks"]
    assert persisted.get_block("tasks").limit == 2000
    assert persisted.get_block("tasks").id == resumed.memory.get_block("tasks").id
    again.close()


def test_open_agent_creates_once_per_name(tmp_path: Path, chat_spec: AgentSpec) -> None:
    store = Store(tmp_path / "s.db")
    first = open_agent(chat_spec, Script([]).model(), store)
    assert store.find_agent("chat") == first.state.id
    assert store.find_agent("other") is None
    again = open_agent(chat_spec, Script([]).model(), store)
    assert again.state.id == first.state.id
    assert again.messages == [] and again.turns == 0
    assert count(store, "agents") == 1
    store.close()


def test_get_block_and_core_memory(tmp_path: Path, chat_spec: AgentSpec) -> None:
    store = Store(tmp_path / "s.db")
    agent = open_agent(chat_spec, Script(rename_then_reply()).model(), store)
    agent.send("My name is Alice")
    human = agent.memory.get_block("human")
    block = store.get_block(human.id)
    assert block is not None
    assert (block.id, block.label, block.value, block.limit) == (human.id, "human", "Name: Alice", 5000)
    assert store.get_block("block-00000000-0000-0000-0000-000000000000") is None
    assert store.get_block("cut_and_paste_id_from_above") is None
    memory = store.get_core_memory(agent.state.id)
    assert memory.list_block_labels() == ["persona", "human"]
    assert memory.compile() == agent.memory.compile()
    assert store.get_core_memory("agent-unknown").get_blocks() == []
    store.close()


def test_block_attributes_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    memory = Memory(
        [
            Block("tasks", "[]", limit=2000, description="Pending tasks", metadata={"k": [1, 2]}),
            Block("persona", "fixed", read_only=True),
        ]
    )
    store.create_agent("agent-x", "x", memory.get_blocks())
    loaded = store.get_core_memory("agent-x").get_blocks()
    assert loaded == memory.get_blocks()  # dataclass equality: every field, id included
    store.close()


def test_step_records_tool_calls_and_edits(tmp_path: Path, chat_spec: AgentSpec) -> None:
    store = Store(tmp_path / "s.db")
    agent = open_agent(chat_spec, Script(rename_then_reply()).model(), store)
    agent.send("My name is Alice")
    calls = store.tool_calls(agent.state.id)
    assert [(c["turn"], c["step"], c["name"], c["ok"]) for c in calls] == [
        (0, 0, "core_memory_replace", 1),
        (0, 1, "send_message", 1),
    ]
    edits = store.db.execute("SELECT label, old_value, new_value FROM block_edits").fetchall()
    assert edits == [("human", "Name: Bob", "Name: Alice")]
    assert count(store, "steps") == 2
    store.close()


def test_failure_mid_turn_keeps_first_step_and_nothing_partial(tmp_path: Path, chat_spec: AgentSpec) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    script = Script([rename_then_reply()[0], httpx2.ConnectError("endpoint went away")])
    agent = open_agent(chat_spec, script.model(), store)
    with pytest.raises(LLMError, match="endpoint went away"):
        agent.send("My name is Alice")
    assert len(script.requests) == 2
    store.close()

    reopened = Store(db)
    agent_id = reopened.find_agent("chat")
    assert agent_id == agent.state.id
    assert count(reopened, "steps") == 1
    assert count(reopened, "tool_calls") == 1
    assert reopened.get_core_memory(agent_id).get_block("human").value == "Name: Alice"
    messages = reopened.load_messages(agent_id)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages == agent.messages
    reopened.close()


def test_failure_while_saving_a_step_rolls_it_back(tmp_path: Path, chat_spec: AgentSpec) -> None:
    store = Store(tmp_path / "s.db")
    agent = open_agent(chat_spec, Script(rename_then_reply()).model(), store)
    # Make the second step's message insert fail, after its step and tool call rows were written.
    store.db.execute(
        "CREATE TRIGGER fail_second BEFORE INSERT ON messages WHEN NEW.body LIKE '%send_message%'"
        " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    with pytest.raises(StoreError, match=r"^cannot write the state database .*s\.db: disk trouble$"):
        agent.send("My name is Alice")
    assert count(store, "steps") == 1
    assert count(store, "tool_calls") == 1
    assert [json.loads(b)["role"] for (b,) in store.db.execute("SELECT body FROM messages ORDER BY id")] == [
        "user",
        "assistant",
        "tool",
    ]
    assert not store.db.in_transaction
    # The store is still usable afterwards.
    store.db.execute("DROP TRIGGER fail_second")
    store.save_user_message(agent.state.id, 2, 1, {"role": "user", "content": "again"})
    assert count(store, "messages") == 4
    store.close()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_newer_harness_database_is_a_wrong_db_left_as_it_is(tmp_path: Path, read_only: bool) -> None:
    """Exit 2, as every other --db the harness cannot use (not SQLite, another program's); it was a
    StoreError, exit 1, as if the harness had failed."""
    db = tmp_path / "s.db"
    Store(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO _migrations VALUES ('999_from_the_future', 'now')")
    raw.close()
    before = db.read_bytes()
    with pytest.raises(UserError, match=r"newer harness \(unknown migrations: 999_from_the_future\)") as refused:
        Store(db, read_only=read_only)
    assert refused.value.exit_code == 2
    assert db.read_bytes() == before  # refused, and left exactly as it was (it was switched to WAL)


def _journal_mode(db: Path) -> int:
    """The file format's write version: 1 rollback journal, 2 WAL."""
    return db.read_bytes()[18]


def _at_rest(db: Path) -> bytes:
    """`db` as `harness chat` leaves it: in WAL mode, with no `-wal` beside it (the last connection to close
    checkpoints it into the file)."""
    assert _journal_mode(db) == 2 and sorted(path.name for path in db.parent.iterdir()) == [db.name]
    return db.read_bytes()


def test_reading_a_database_in_wal_mode_creates_nothing_beside_it(tmp_path: Path) -> None:
    """SQLite's WAL reader creates `-wal` and `-shm` beside the file: a read-only folder refused them
    ("attempt to write a readonly database"), and a reader left them behind in a writable one."""
    db = tmp_path / "s.db"
    store = Store(db)
    store.create_agent("a1", "one", [Block("human", "Bob")])
    store.close()
    before = _at_rest(db)
    reader = Store(db, read_only=True)
    assert reader.find_agent("one") == "a1"
    assert reader.get_core_memory("a1").get_block("human").value == "Bob"
    reader.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["s.db"]
    assert db.read_bytes() == before


def test_a_database_changed_while_read_immutable_is_said_so(tmp_path: Path) -> None:
    """Read as an immutable file nothing locks it: a write meanwhile (a `harness chat`) is told, not shown
    as if it were what the database holds."""
    db = tmp_path / "s.db"
    store = Store(db)
    store.create_agent("a1", "one", [Block("human", "Bob")])
    store.close()
    _at_rest(db)
    reader = Store(db, read_only=True)
    writer = Store(db)
    writer.create_agent("a2", "two", [Block("human", "Ann")])
    writer.close()
    with pytest.raises(StoreError, match=r"s\.db changed while it was read .*: run the command again"):
        reader.close()


def test_an_empty_file_is_an_empty_database_not_an_older_one(tmp_path: Path) -> None:
    """SQLite takes a 0-byte file as a new database: `harness chat` starts one in it; a command that only
    shows says it holds nothing yet (it said "written by an older harness and needs migrating")."""
    db = tmp_path / "s.db"
    db.write_bytes(b"")
    with pytest.raises(UserError, match=r"s\.db holds no state yet \(an empty database\)") as refused:
        Store(db, read_only=True)
    assert refused.value.exit_code == 2
    assert db.read_bytes() == b""
    Store(db).close()
    reader = Store(db, read_only=True)
    assert reader.find_agent("one") is None
    reader.close()


def test_reopening_does_not_reapply_migrations(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store(db).close()
    store = Store(db)
    assert [r[0] for r in store.db.execute("SELECT name FROM _migrations")] == [name for name, _ in MIGRATIONS]
    store.close()


def test_not_a_database_is_said_so(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match=r"garbage\.db is not a state database"):  # a wrong --db, exit 2
        Store(db)


def test_in_memory_store(chat_spec: AgentSpec) -> None:
    store = Store(":memory:")
    agent = Agent(chat_spec, Script([reply("hi")]).model(), journal=store)
    store.create_agent(agent.state.id, agent.state.name, agent.memory.get_blocks())
    agent.send("hello")
    assert store.load_messages(agent.state.id) == agent.messages
    store.close()


def test_what_is_written_is_masked(tmp_path: Path, chat_spec: AgentSpec) -> None:
    """The scripted model does not mask (the key is not in its environment): the store must."""
    key = "sk-store-secret-12345"
    db = tmp_path / "state.db"
    store = Store(db, Secrets(frozenset({key})))
    responses = [
        completion(call("core_memory_append", {"label": "human", "content": f"key {key}", **HB}), content=key),
        reply(f"your key is {key}"),
    ]
    agent = open_agent(chat_spec, Script(responses).model(), store)
    agent.send(f"remember {key}")
    assert key in agent.memory.get_block("human").value  # in memory, as the model said it
    store.close()
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir())  # the database and its WAL
    assert key.encode() not in raw
    assert MASK.encode() in raw
    reopened = Store(db)
    agent_id = reopened.find_agent("chat")
    assert agent_id is not None
    assert reopened.get_core_memory(agent_id).get_block("human").value == f"Name: Bob\nkey {MASK}"
    assert reopened.load_messages(agent_id)[0] == {"role": "user", "content": f"remember {MASK}"}
    assert json.loads(reopened.tool_calls(agent_id)[0]["arguments"])["content"] == f"key {MASK}"
    assert reopened.db.execute("SELECT content FROM steps ORDER BY id").fetchone()[0] == MASK
    reopened.close()


def test_a_persisted_agent_searches_its_history_after_a_restart(tmp_path: Path, chat_spec: AgentSpec) -> None:
    """Recall memory lives in the state database: conversation_search, through the agent's AgentState,
    finds what was said before the restart."""
    spec = dataclasses.replace(chat_spec, tools=(*chat_spec.tools, resolve_tool("conversation_search", tmp_path)))
    db = tmp_path / "state.db"
    store = Store(db)
    open_agent(spec, Script([reply("Noted: Lisbon")]).model(), store).send("I grew up in Lisbon")
    store.close()
    reopened = Store(db)
    search = call("conversation_search", {"query": "Lisbon", **HB})
    script = Script([completion(search), reply("You grew up in Lisbon")])
    resumed = open_agent(spec, script.model(), reopened)
    assert resumed.state.recall is not None
    result = resumed.send("Where did I grow up?")
    (found, _) = result.tool_calls
    assert found.ok, found.result
    contents = sorted(hit["content"] for hit in json.loads(found.result)["results"])
    assert contents == ["I grew up in Lisbon", "Noted: Lisbon"]
    assert reopened.recall(resumed.state.id).count() == 4  # both turns' messages, the search call aside
    reopened.close()


def test_a_state_database_path_that_is_a_folder_or_another_file_is_a_user_mistake(tmp_path: Path) -> None:
    """`--db /tmp` or `--db agents.yaml`: the path given is wrong (exit 2), and the file is left as it was."""
    with pytest.raises(UserError, match=r"is a folder; the state database is a file \(e\.g\. --db .*state\.db\)"):
        Store(tmp_path)
    other = tmp_path / "agents.yaml"
    other.write_text("agents: {}\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"agents\.yaml is not a state database \(not SQLite\)"):
        Store(other)
    assert other.read_text(encoding="utf-8") == "agents: {}\n"


def test_another_programs_sqlite_database_is_left_as_it_is(tmp_path: Path) -> None:
    """`harness chat --db shop.db` added its 13 tables beside `customers` (and set WAL mode on the file)."""
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
    before = db.read_bytes()
    with pytest.raises(UserError, match=r"shop\.db is another program's SQLite database \(its tables: customers\)"):
        Store(db)
    assert db.read_bytes() == before


CLOCKED = """
defaults:
  model: {name: m, base_url: "http://127.0.0.1:9/v1", max_retries: 0}
  system: You are an agent.
  clock: 2025-03-04T05:06:09Z
  tools: [send_message, core_memory_append]
  blocks: [{label: human, value: "Name: Bob"}]
agents:
  alpha: {}
  beta: {}
"""


def test_agents_with_a_clock_share_one_database_and_are_dated_by_their_clock(tmp_path: Path) -> None:
    """Every agent of one clock drew the same seeded ids (`UNIQUE constraint failed: agents.id` for the second
    agent of a project in `harness chat`), and messages were dated by the wall clock: recall found the
    agent's own dates nowhere and said its messages were from the future."""
    from harness.config import load_agents

    (tmp_path / "agents.yaml").write_text(CLOCKED, encoding="utf-8")
    config = load_agents(tmp_path / "agents.yaml")
    store = Store(tmp_path / "state.db", Secrets())
    agents = [
        open_agent(config.get(name), Script([reply("Hi!")]).model(config.get(name).model), store)
        for name in ("alpha", "beta")
    ]
    assert len({agent.state.id for agent in agents}) == 2
    agents[0].send("hello")
    dates = {row[0] for row in store.db.execute("SELECT created_at FROM messages")}
    assert dates and all(date.startswith("2025-03-04T05:06:") for date in dates), dates  # the frozen clock's
    again = open_agent(config.get("alpha"), Script([]).model(config.get("alpha").model), store)
    assert again.state.id == agents[0].state.id  # resumed, not created anew


LETTA_LABELS = ("notes.md", "user preferences", "2025_goals", "café", "a/b", "")


def test_labels_the_memory_tool_takes_as_letta_does_survive_a_restart(tmp_path: Path, chat_spec: AgentSpec) -> None:
    """Blocks the model creates under any label Letta takes (`/memories/notes.md`, spaces, a leading digit,
    non-ASCII, a `/`, none at all) are persisted, resumed, and shown in the system message as written."""
    spec = dataclasses.replace(chat_spec, tools=(*chat_spec.tools, resolve_tool("memory", tmp_path)))
    db = tmp_path / "state.db"
    store = Store(db)
    creates = [
        completion(call("memory", {"command": "create", "path": f"/memories/{label}", "description": "d", **HB}))
        for label in LETTA_LABELS
    ]
    turn = open_agent(spec, Script([*creates, reply("ok")]).model(), store).send("take notes")
    assert all(call.ok for call in turn.tool_calls), [call.result for call in turn.tool_calls]
    store.close()
    reopened = Store(db)
    script = Script([reply("hi")])
    resumed = open_agent(spec, script.model(), reopened)
    assert resumed.memory.list_block_labels() == ["persona", "human", *LETTA_LABELS]
    resumed.send("hello")
    system = script.requests[0]["messages"][0]["content"]
    for label in LETTA_LABELS:
        assert f'<{label} characters="0/100000">\n\n</{label}>' in system
    reopened.close()


class Talker:
    """Replies to every agent request with send_message; answers every summary request (no tools)."""

    def __init__(self) -> None:
        self.requests: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: Any = None) -> Any:
        from harness.llm.chat import ChatResponse, ToolCall

        self.requests.append((json.loads(json.dumps(messages)), tools))
        if not tools:
            return ChatResponse(f"summary {len(self.requests)}", (), "m", "stop")
        arguments = json.dumps({"message": f"ok {len(self.requests)}"})
        return ChatResponse(None, (ToolCall(f"id{len(self.requests)}", "send_message", arguments),), "m")


def test_a_resumed_agent_resumes_its_compacted_context(tmp_path: Path, chat_spec: AgentSpec) -> None:
    """Compaction was not persisted: after a restart the agent started again from its whole stored history,
    and its first request summarized all of it at once (an endpoint refuses that once it is long enough,
    and then every message after). Letta keeps the summary and the in-context message ids."""
    spec = dataclasses.replace(chat_spec, context_window=1200)
    db = tmp_path / "s.db"
    store = Store(db)
    agent = open_agent(spec, Talker(), store)
    for n in range(14):
        agent.send(f"Remember fact number {n}: " + "w" * 150)
    assert agent.summary_message is not None and agent.messages[0] is agent.summary_message
    in_context, evicted = json.loads(json.dumps(agent.messages)), agent.evicted_messages
    assert evicted > 0 and len(in_context) < len(store.load_messages(agent.state.id))
    store.close()

    reopened = Store(db)
    model = Talker()
    resumed = open_agent(spec, model, reopened)
    assert resumed.messages == in_context and resumed.evicted_messages == evicted
    assert resumed.summary_message is resumed.messages[0]
    resumed.send("And one more fact.")
    first_sent, tools = model.requests[0]
    assert tools and first_sent[1:-1] == in_context  # the compacted context, not the whole history re-summarized
    assert len(reopened.load_messages(resumed.state.id)) > len(reopened.load_in_context(resumed.state.id)[0])
    assert "Remember fact number 0" in json.dumps(reopened.load_messages(resumed.state.id))  # all still stored
    reopened.close()
    # ... and it resumes the same again, from what this session saved
    again = Store(db)
    third = open_agent(spec, Talker(), again)
    assert third.messages == json.loads(json.dumps(resumed.messages))
    again.close()


def _persisted(tmp_path: Path, chat_spec: AgentSpec) -> Path:
    """A state database with one agent (`chat`) that took a turn, checkpointed into its one file."""
    db = tmp_path / "state.db"
    store = Store(db)
    open_agent(chat_spec, Script(rename_then_reply()).model(), store).send("My name is Alice")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return db


def _damage_table(db: Path, table: str) -> None:
    """The pages of `table` overwritten (a disk error, a copy cut short): the header and schema intact."""
    with sqlite3.connect(db) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        (root,) = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    connection.close()
    with db.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xa5" * page_size)


# JSON nested 100,000 deep: json.loads raised RecursionError, a traceback
_NESTED = "replace(hex(zeroblob(100000)), '00', '[') || replace(hex(zeroblob(100000)), '00', ']')"
RESHAPED = {  # a change another program (or a hand) made, and what the error says of it (exit 2)
    "DROP TABLE blocks": "is not a state database this harness reads: its tables were changed by another program "
    "(table `blocks` gone)",
    "DROP TABLE messages": "its tables were changed by another program (table `messages` gone)",
    "ALTER TABLE blocks RENAME COLUMN value TO val": "(column `blocks.value` is gone; `blocks` has a column `val` "
    "this harness does not make)",
    "UPDATE blocks SET metadata = '{not json'": "unexpected data in its `blocks` table: `metadata` is",
    "UPDATE blocks SET metadata = '[1, 2]'": "`metadata` is '[1, 2]', not a JSON object",
    """UPDATE blocks SET "limit" = 'abc'""": "`limit` is 'abc', not a whole number",
    """UPDATE blocks SET "limit" = -5""": "`limit` is -5, not a whole number",
    """UPDATE blocks SET "limit" = 3""": "Exceeds 3 character limit",
    "UPDATE blocks SET value = X'FFFE00'": "`value` is b'\\xff\\xfe\\x00', not text",
    "UPDATE blocks SET read_only = 'yes'": "`read_only` is 'yes', not 0 or 1",
    "UPDATE blocks SET schema = '{bad'": "`schema` is '{bad', not a JSON object",
    "UPDATE messages SET body = '[1]'": "unexpected data in its `messages` table: `body` is '[1]'",
    f"UPDATE messages SET body = {_NESTED}": "unexpected data in its `messages` table: `body` is '[[[[",
    "UPDATE agents SET turns = 'many'": "unexpected data in its `agents` table: `turns` is 'many'",
}


@pytest.mark.parametrize("change", [*RESHAPED, "damaged blocks", "damaged messages"])
def test_a_database_damaged_or_reshaped_is_one_error_naming_it_and_left_as_it_is(
    tmp_path: Path, chat_spec: AgentSpec, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    """Opening was guarded, the reads after it were not: `harness memory` and `harness chat` ended in a
    traceback (malformed, no such table, JSONDecodeError, TypeError) that named no file."""
    from harness.cli import main

    db = _persisted(tmp_path, chat_spec)
    if change.startswith("damaged "):
        _damage_table(db, change.removeprefix("damaged "))
        said = "is damaged (database disk image is malformed); it is left as it is"
    else:
        with sqlite3.connect(db, isolation_level=None) as connection:
            connection.execute(change)
        connection.close()
        said = RESHAPED[change]
    before = db.read_bytes()
    with pytest.raises(UserError) as raised:  # as `harness chat` opens the database and resumes the agent
        store = Store(db)
        try:
            open_agent(chat_spec, Script([]).model(), store)
        finally:
            store.close()
    assert str(db) in str(raised.value) and said in str(raised.value)
    if "blocks" in change:  # what `harness memory` reads
        code = main(["memory", "chat", "--db", str(db)])
        err = capsys.readouterr().err
        assert (code, err.count("\n")) == (2, 1), err
        assert str(db) in err and said in err
    assert db.read_bytes() == before


def test_a_database_damaged_where_opening_reads_is_refused_as_damaged(
    tmp_path: Path, chat_spec: AgentSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its schema page damaged: refused when opened, as damaged, exit 2 (a StoreError, exit 1, said "cannot
    open" as for a locked one, where a damaged table found later said it was damaged)."""
    from harness.cli import main

    db = _persisted(tmp_path, chat_spec)
    with db.open("r+b") as file:
        file.seek(100)  # past the header: the schema's page
        file.write(b"\xa5" * 3000)
    before = db.read_bytes()
    assert main(["memory", "chat", "--db", str(db)]) == 2
    assert capsys.readouterr().err == (
        f"error: {db} is damaged (database disk image is malformed); it is left as it is: restore it from a "
        "backup, or give --db a new path\n"
    )
    assert db.read_bytes() == before


def _schema() -> dict[str, list[str]]:
    """Every table a new state database has, with its columns (an FTS5 index's own tables too)."""
    store = Store(":memory:", Secrets())
    try:
        rows = store.db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
        return {
            name: [column for (_, column, *_) in store.db.execute(f'PRAGMA table_info("{name}")')]
            for name, sql in rows
            if not name.startswith("sqlite_") and not sql.upper().startswith("CREATE VIRTUAL")
        }
    finally:
        store.close()


SCHEMA = _schema()


def _made(tmp_path: Path, change: str) -> tuple[Path, bytes]:
    """A state database `harness chat` made (no agent yet), with `change` made to it by another program."""
    db = tmp_path / "state.db"
    Store(db).close()
    with sqlite3.connect(db, isolation_level=None) as raw:
        raw.execute(change)
    raw.close()
    return db, db.read_bytes()


@pytest.mark.parametrize("table", sorted(set(SCHEMA) - {"_migrations"} | {"recall"}))
def test_a_database_with_any_of_its_tables_gone_is_refused_when_opened_and_left_as_it_is(
    tmp_path: Path, table: str
) -> None:
    """Only the tables a resume reads were found missing, by that read: one a turn writes (`tool_calls`,
    `steps`, `block_edits`, recall's) was found missing once the model had answered, half the turn written,
    exit 1; one nothing reads at start (`archival_passages`) not at all. (No `_migrations`: another program's
    database, refused as that.)"""
    db, before = _made(tmp_path, f'DROP TABLE "{table}"')
    for read_only in (False, True):  # `harness chat`, `harness memory`
        with pytest.raises(UserError) as raised:
            Store(db, read_only=read_only)
        said = str(raised.value)
        assert said.startswith(f"{db} is not a state database this harness reads: its tables were changed by another")
        assert f"`{table}`" in said and "gone" in said and "it is left as it is" in said
    assert db.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.db"]


@pytest.mark.parametrize("column", [f"{table}.{column}" for table, columns in SCHEMA.items() for column in columns])
def test_a_database_with_any_column_renamed_is_refused_when_opened(tmp_path: Path, column: str) -> None:
    table, name = column.split(".")
    db, before = _made(tmp_path, f'ALTER TABLE "{table}" RENAME COLUMN "{name}" TO "{name}_renamed"')
    with pytest.raises(UserError) as raised:
        Store(db)
    said = str(raised.value)
    assert f"column `{table}.{name}` is gone; `{table}` has a column `{name}_renamed` this harness does not" in said
    assert db.read_bytes() == before


def test_an_older_harness_database_is_checked_against_the_migrations_it_had(tmp_path: Path) -> None:
    """A database before 005 lacks `in_context` by right: read as it is (and migrated by a chat); one of
    its own tables gone is refused all the same."""
    db = tmp_path / "state.db"
    Store(db).close()
    with sqlite3.connect(db, isolation_level=None) as raw:
        raw.execute("DROP TABLE in_context")
        raw.execute("DELETE FROM _migrations WHERE name = '005_in_context'")
    raw.close()
    Store(db, read_only=True).close()
    Store(db).close()  # migrated
    with sqlite3.connect(db, isolation_level=None) as raw:
        assert raw.execute("SELECT COUNT(*) FROM in_context").fetchone() == (0,)
        raw.execute("DROP TABLE steps")
        raw.execute("DROP TABLE in_context")
        raw.execute("DELETE FROM _migrations WHERE name = '005_in_context'")
    raw.close()
    with pytest.raises(UserError, match=r"\(table `steps` gone\)"):
        Store(db, read_only=True)


def test_a_users_message_is_not_kept_when_the_step_answering_it_cannot_be(tmp_path: Path, chat_spec: AgentSpec) -> None:
    """The user's message was saved in a transaction of its own once the model answered, its step in another:
    a full disk between the two kept the question without its answer, sent again with every later request."""
    db = _persisted(tmp_path, chat_spec)
    store = Store(db)
    agent = open_agent(chat_spec, Script([reply("Noted")]).model(), store)
    saved = (store.load_messages(agent.state.id), store.turns(agent.state.id))
    history, turns = list(agent.messages), agent.turns
    store.db.execute(  # the step's first write fails, as on a full disk
        "CREATE TEMP TRIGGER full BEFORE INSERT ON steps BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    with pytest.raises(StoreError, match="database or disk is full"):
        agent.send("Please remember this")
    assert (store.load_messages(agent.state.id), store.turns(agent.state.id)) == saved
    assert (agent.messages, agent.turns) == (history, turns)  # nor in memory: the next request is as before
    store.db.execute("DROP TRIGGER full")
    agent.model = Script([reply("Noted")]).model()
    agent.send("Please remember this")
    kept = store.load_messages(agent.state.id)
    assert len(kept) == len(saved[0]) + 3 and "Please remember this" in json.dumps(kept[-3])  # and its answer
    store.close()


def test_a_database_another_process_holds_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ "database is locked", after 5 s, said nothing of why nor what to do."""
    db = tmp_path / "state.db"
    Store(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *args, **kwargs: connect(*args, **kwargs, timeout=0.05))
    try:
        with pytest.raises(StoreError) as raised:
            Store(db)
    finally:
        other.close()
    assert str(raised.value).startswith(f"cannot write the state database {db}: database is locked: another process")
    assert "another `harness chat` on it, a DB browser" in str(raised.value)


def test_a_full_disk_is_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's "database or disk is full", and its "disk I/O error" where writing its `-shm` found no space
    (ENOSPC, as at start-up on a full disk), said what to do; another I/O error is said as SQLite says it."""
    import shutil
    from collections import namedtuple

    from harness.store import _said

    db = tmp_path / "state.db"
    store = Store(db)
    (pages,) = store.db.execute("PRAGMA page_count").fetchone()
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError) as raised:
        store.create_agent("agent-1", "big", [Block(label="human", value="x" * 100_000, limit=200_000)])
    store.close()
    assert str(raised.value) == (
        f"cannot write the state database {db}: the disk is full (database or disk is full): free some space on "
        "it, or give --db a file on another disk"
    )
    io_error = sqlite3.OperationalError("disk I/O error")
    io_error.sqlite_errorcode = 4874  # type: ignore[attr-defined]  # SQLITE_IOERR_SHMSIZE
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(600 << 10, 600 << 10, 0))
    assert _said(io_error, str(db)).startswith("the disk is full (disk I/O error): free some space")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 40, 1 << 30, 1 << 39))
    assert _said(io_error, str(db)) == "disk I/O error"


UNUSABLE = """
import json
from harness.errors import HarnessError
from harness.store import Store
said = []
for path, read_only in (("locked.db", True), ("locked.db", False), ("ro/state.db", False), ("ro/new.db", False),
                         ("closed/state.db", True)):
    try:
        Store(path, read_only=read_only).close()
        said.append(None)
    except HarnessError as exc:
        said.append([type(exc).__name__, str(exc)])
print(json.dumps(said))
"""


def test_a_database_the_file_system_refuses_is_a_user_error_saying_why(tmp_path: Path) -> None:
    """SQLite says "unable to open database file" or "attempt to write a readonly database", of no file and
    for no reason, and it was a StoreError (exit 1): it is a --db the harness cannot use (exit 2), named with
    what the file system refuses."""
    Store(tmp_path / "locked.db").close()
    (tmp_path / "ro").mkdir()
    Store(tmp_path / "ro" / "state.db").close()
    (tmp_path / "closed").mkdir()
    (tmp_path / "locked.db").chmod(0)
    (tmp_path / "ro").chmod(0o555)
    try:
        with closed_to_user(tmp_path / "closed"):
            done = run_python(UNUSABLE, cwd=tmp_path, as_user=True)
    finally:
        (tmp_path / "locked.db").chmod(0o644)
        (tmp_path / "ro").chmod(0o755)
    assert done.returncode == 0, done.stderr
    cannot = "cannot use it as the state database"
    works = " (`harness memory` reads it where it is; to chat on, copy it where it can be written and give --db "
    works += "the copy)"
    assert json.loads(done.stdout) == [
        ["UserError", f"locked.db: {cannot}: cannot read the file (Permission denied)"],
        ["UserError", f"locked.db: {cannot}: cannot write the file (Permission denied){works}"],
        [
            "UserError",
            f"ro/state.db: {cannot}: its folder must take new files too (SQLite keeps a journal beside it): "
            f"cannot create a file in the folder ro (Permission denied){works}",
        ],
        [  # no file: nothing for `harness memory` to read, nor to copy
            "UserError",
            f"ro/new.db: {cannot}: there is no such file yet, and it cannot be made: cannot create a file in the "
            "folder ro (Permission denied)",
        ],
        ["UserError", "closed/state.db: cannot enter the folder closed (Permission denied)"],
    ]


def older_database(path: Path, migrations: int) -> None:
    """A database as a harness with only the first `migrations` migrations left it: an agent and its blocks,
    written with the columns that harness had."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, sql in MIGRATIONS[:migrations]:
        db.executescript(sql)
        db.execute("INSERT INTO _migrations VALUES (?, '2026-11-23T00:00:00.000+00:00')", (name,))
    db.execute("INSERT INTO agents (id, name, created_at) VALUES ('agent-1', 'chat', '2026-11-23')")
    db.executemany(
        'INSERT INTO blocks (id, agent_id, position, label, value, "limit", description, read_only, metadata)'
        " VALUES (?, 'agent-1', ?, ?, ?, 5000, NULL, 0, '{}')",
        [("block-1", 0, "persona", "You are a helpful assistant"), ("block-2", 1, "human", "Name: Azin")],
    )
    db.commit()
    db.close()


@pytest.mark.parametrize("migrations", range(1, len(MIGRATIONS)))
def test_a_command_that_only_shows_reads_an_older_database_as_it_is(tmp_path: Path, migrations: int) -> None:
    """`harness memory` refused a database one migration behind ('needs migrating ...: `harness chat` with
    this --db migrates it'), which in a place it may not write (a CI artifact) nothing could migrate. What it
    reads, the agents and their blocks, every migration has: it is read unmigrated, the file unchanged."""
    db = tmp_path / "s.db"
    older_database(db, migrations)
    before = db.read_bytes()
    store = Store(db, read_only=True)
    assert store.pending == [name for name, _ in MIGRATIONS[migrations:]]
    agent = store.find_agent("chat")
    assert agent == "agent-1"
    blocks = store.get_core_memory(agent).get_blocks()
    assert [(b.label, b.value, b.schema) for b in blocks] == [
        ("persona", "You are a helpful assistant", None),
        ("human", "Name: Azin", None),
    ]
    block = store.get_block("block-2")
    assert block is not None and block.value == "Name: Azin"
    if migrations < 5:  # what it lacks is said, with what would work, never "no such table"
        with pytest.raises(UserError) as lacking:
            store.load_in_context(agent)
        assert str(lacking.value) == (
            f"{db} was written by an older harness and lacks what this command reads (no such table: in_context), "
            f"which its migrations {', '.join(store.pending)} add; a command that only shows migrates nothing: "
            "`harness chat` with this --db migrates it where the file may be written (elsewhere: copy it, and give "
            "--db the copy)"
        )
    store.close()
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]
    Store(db).close()  # a writer migrates it, as before
    reader = Store(db, read_only=True)
    assert reader.pending == []
    reader.close()


def test_a_database_that_cannot_be_written_says_what_works_when_a_writer_cannot_open_it(tmp_path: Path) -> None:
    """`harness chat` on a database in a place it may not write said only 'unable to open database file'.
    The place is made immutable (chattr, as root): a mode alone does not stop root."""
    import shutil
    import subprocess

    folder = tmp_path / "artifact"
    folder.mkdir()
    db = folder / "s.db"
    Store(db).close()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(db), str(folder)]).returncode != 0:
        pytest.skip("cannot make a file immutable here")
    try:
        with pytest.raises(UserError) as refused:
            Store(db)
        assert str(refused.value).startswith(f"{db}: cannot use it as the state database: cannot write the file (")
        assert str(refused.value).endswith(
            " (`harness memory` reads it where it is; to chat on, copy it where it can be written and give --db "
            "the copy)"
        )
        Store(db, read_only=True).close()
    finally:
        subprocess.run(["chattr", "-i", str(db), str(folder)], check=True)
