"""Which tool-call ids a cassette's history holds: new recordings keep the provider's (metadata
`tool_call_ids: provider`); cassettes recorded before say nothing, hold `call_N_i`, and keep them, in
replay and when `--mode new` adds to them."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.cassettes import format
from harness.cassettes.replay import ReplayCassette
from harness.llm.chat import CallIds
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, Project, append, make_project, reply

TWO_TURNS = 'agent: chat\nturns:\n  - user: "Hi! My name is Azin."\n  - user: "I moved to Paris."\n'


def metadata(project: Project) -> dict[str, object]:
    data = yaml.safe_load((project.cassettes / "remember.yaml").read_text(encoding="utf-8"))
    return dict(data["metadata"])


def sent_ids(path: Path) -> list[str]:
    """The tool-call ids the recorded requests sent back."""
    data = format.parse(path.read_text(encoding="utf-8"), str(path))
    return sorted(
        {m["tool_call_id"] for i in data.interactions for m in i.request.body["messages"] if m["role"] == "tool"}
    )


def test_a_new_recording_keeps_provider_ids_and_says_so(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    project.record("remember", REMEMBER_RESPONSES)
    assert metadata(project)["tool_call_ids"] == "provider"
    assert ReplayCassette(project.cassettes / "remember.yaml").call_ids == CallIds.PROVIDER
    assert sent_ids(project.cassettes / "remember.yaml") == ["server-core_memory_append"]  # the fake's id
    assert project.replay("remember").outcome == "passed"


def recorded_with_local_ids(project: Project) -> Path:
    """`remember`'s cassette recorded as the harness did before provider ids: local ids in history."""
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        runner = project.runner("all", base_url=server.base_url)
        with runner.factory.cassette(project.cassettes / "remember.yaml") as session:
            agent = runner.factory.new_agent(runner.factory.spec("chat"), cassette=session)
            agent.call_ids = CallIds.LOCAL
            agent.send("Hi! My name is Azin.")
            session.note_recording(agent.spec.model)
    return project.cassettes / "remember.yaml"


def test_a_cassette_from_before_keeps_local_ids_when_new_turns_are_recorded(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    # A cassette as recorded before provider ids: local ids in history, no `tool_call_ids` metadata.
    path = recorded_with_local_ids(project)
    data = format.parse(path.read_text(encoding="utf-8"), str(path))
    del data.metadata["tool_call_ids"]
    path.write_text(format.dump(format.to_vcr_dict(data)), encoding="utf-8")
    assert ReplayCassette(path).call_ids == CallIds.LOCAL
    assert sent_ids(path) == ["call_1_0"]
    assert project.replay("remember").outcome == "passed"
    # A second turn, recorded with --mode new: the first turn replays from the cassette, the new one is
    # recorded with local ids too, and the cassette still says so.
    project.write_scenario("remember", TWO_TURNS)
    with FakeOpenAI([append("human", "Lives in Paris"), reply("Noted!")]) as server:
        result = project.runner("new", base_url=server.base_url).run(project.scenario("remember"))
    assert not result.stale and not result.error, result.explain()
    assert len(server.received) == 2  # only the new turn went to the endpoint
    assert metadata(project)["tool_call_ids"] == "local"
    assert sent_ids(path) == ["call_1_0", "call_3_0", "call_6_0"]  # all local, the new turn's too
    replayed = project.replay("remember")
    assert not replayed.stale and replayed.unplayed == [], replayed.explain()


def as_plain_vcrpy(path: Path) -> None:
    """The cassette as vcrpy itself writes one: every body whole, no keys, no harness metadata."""
    data = format.to_vcr_dict(format.parse(path.read_text(encoding="utf-8"), str(path)))
    del data["metadata"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def test_a_plain_vcrpy_cassette_holding_the_providers_ids_replays_past_the_first_step(tmp_path: Path) -> None:
    """A cassette without `metadata.tool_call_ids` was taken for one from before provider ids: its
    `server-core_memory_append` became `call_1_0`, and the exactly matching second request missed ('the
    agent changed'). What its requests send back tells which ids it holds."""
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    project.record("remember", REMEMBER_RESPONSES)
    path = project.cassettes / "remember.yaml"
    as_plain_vcrpy(path)
    assert "tool_call_ids" not in path.read_text(encoding="utf-8") and "key:" not in path.read_text(encoding="utf-8")
    assert ReplayCassette(path).call_ids == CallIds.PROVIDER
    replayed = project.replay("remember")
    assert replayed.outcome == "passed", replayed.explain()
    with FakeOpenAI([]) as server:  # recording in mode new plays it as replay does: nothing is asked
        result = project.runner("new", base_url=server.base_url).run(project.scenario("remember"))
    assert not result.stale and not result.error and not server.received, result.explain()
    assert project.replay("remember").outcome == "passed"


def test_a_plain_vcrpy_cassette_of_the_harness_from_before_provider_ids_keeps_local_ids(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    path = recorded_with_local_ids(project)
    as_plain_vcrpy(path)
    assert sent_ids(path) == ["call_1_0"]
    assert ReplayCassette(path).call_ids == CallIds.LOCAL
    assert project.replay("remember").outcome == "passed"
