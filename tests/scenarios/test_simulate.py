"""Simulated users: a model plays the user through the scenario's cassette; the conversation replays."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import AgentSpec
from harness.errors import ScenarioError
from harness.llm.chat import ChatResponse
from harness.llm.settings import ModelSettings
from harness.scenarios.hygiene import CassetteState, check_cassettes
from harness.scenarios.model import Simulation, load_scenario
from harness.scenarios.simulate import OPENING, STOP, SimulatedUser
from tests.fakes import REMEMBER_RESPONSES, FakeOpenAI, completion, make_project, reply
from tests.helpers import call

SIMULATED = """
agent: chat
simulate:
  persona: "Azin, a terse data scientist"
  goal: "get the assistant to remember your name"
  max_turns: 3
expect:
  blocks:
    human: {contains: Azin}
"""


def says(text: str) -> dict[str, object]:
    return completion(content=text)


def test_the_simulated_user_writes_the_turns_and_the_conversation_replays(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"sim": SIMULATED})
    answers = [says("Hi, I'm Azin."), *REMEMBER_RESPONSES, says(STOP)]
    with FakeOpenAI(answers) as server:
        recorded = project.runner("all", base_url=server.base_url).run(project.scenario("sim"))
    assert recorded.outcome == "passed", recorded.explain()
    assert [turn.user for turn in recorded.turns] == ["Hi, I'm Azin."]
    simulator = [r.body for r in server.received if "tools" not in r.body]
    assert len(simulator) == 2
    assert "Azin, a terse data scientist" in simulator[0]["messages"][0]["content"]
    assert simulator[0]["messages"][1] == {"role": "user", "content": OPENING}
    # The second call sees the conversation with roles swapped: its own message, then the agent's reply.
    assert simulator[1]["messages"][2:] == [
        {"role": "assistant", "content": "Hi, I'm Azin."},
        {"role": "user", "content": "Nice to meet you, Azin!"},
    ]
    replayed = project.replay("sim")  # offline
    assert replayed.outcome == "passed" and replayed.unplayed == []
    assert [turn.user for turn in replayed.turns] == ["Hi, I'm Azin."]


def test_max_turns_stop_when_and_first_message(tmp_path: Path) -> None:
    text = SIMULATED.replace("max_turns: 3", "max_turns: 2\n  first_message: Hello there\n  stop_when: Azin")
    project = make_project(tmp_path / "p", {"sim": text})
    with FakeOpenAI([*REMEMBER_RESPONSES]) as server:  # no simulator call: the opening is given, the reply stops
        result = project.runner("all", base_url=server.base_url).run(project.scenario("sim"))
    assert [turn.user for turn in result.turns] == ["Hello there"]
    assert result.outcome == "passed"
    endless = make_project(tmp_path / "q", {"sim": SIMULATED.replace("max_turns: 3", "max_turns: 2")})
    with FakeOpenAI([says("one"), reply("ok"), says("two"), reply("ok")]) as server:
        result = endless.runner("all", base_url=server.base_url).run(endless.scenario("sim"))
    assert [turn.user for turn in result.turns] == ["one", "two"]  # max_turns, then the final checks


def test_a_changed_persona_is_a_miss(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"sim": SIMULATED})
    with FakeOpenAI([says("Hi, I'm Azin."), *REMEMBER_RESPONSES, says(STOP)]) as server:
        project.runner("all", base_url=server.base_url).run(project.scenario("sim"))
    project.write_scenario("sim", SIMULATED.replace("terse", "chatty"))
    result = project.replay("sim")
    assert result.outcome == "failed"
    assert "has no recorded answer for the simulated user's message 1" in result.stale[0]


def cut_off() -> dict[str, object]:
    """An answer stopped at max_tokens before any text."""
    body = completion(content="")
    body["choices"][0]["finish_reason"] = "length"  # type: ignore[index]
    return body


@pytest.mark.parametrize(
    ("answer", "sent"),
    [
        (
            completion(call("send_message", {"message": "I am a data scientist"})),
            'finish_reason \'tool_calls\'; a tool call send_message({"message": "I am a data scientist"}))',
        ),
        (cut_off(), "finish_reason 'length')"),
        (says("  \n "), "finish_reason 'stop'; only blank text '  \\n ')"),
    ],
)
def test_a_simulated_user_answering_with_no_text_is_an_error_not_a_stop(
    tmp_path: Path, answer: dict[str, object], sent: str
) -> None:
    """An answer with no text ended the conversation as `###STOP###` does: the scenario stopped after 1 of
    its max_turns and passed, and nothing said why."""
    project = make_project(tmp_path / "p", {"sim": SIMULATED})
    with FakeOpenAI([says("Hi, I'm Azin."), *REMEMBER_RESPONSES, answer]) as server:
        recorded = project.runner("all", base_url=server.base_url).run(project.scenario("sim"))
    assert recorded.outcome == "error"
    assert recorded.error is not None
    assert "the simulated user gave no message at turn 2: its model answered with no text (" in recorded.error
    assert recorded.error.endswith(sent)
    assert [turn.user for turn in recorded.turns] == ["Hi, I'm Azin."]
    replayed = project.replay("sim")  # the answer is recorded: it replays to the same error
    assert (replayed.outcome, replayed.error) == ("error", recorded.error)
    [status] = check_cassettes(project.runner("none"), [project.scenario("sim")], orphans=False)
    assert status.state == CassetteState.OK, status.reasons


def test_a_simulated_user_stopping_before_its_first_message_replays_as_the_same_error(tmp_path: Path) -> None:
    """Its recorded `###STOP###` replays to the same error: `cassettes check` called the cassette unreadable."""
    project = make_project(tmp_path / "p", {"sim": SIMULATED})
    with FakeOpenAI([says(STOP)]) as server:
        recorded = project.runner("all", base_url=server.base_url).run(project.scenario("sim"))
    assert recorded.outcome == "error"
    assert recorded.error is not None and "ended the conversation before writing a message" in recorded.error
    [status] = check_cassettes(project.runner("none"), [project.scenario("sim")], orphans=False)
    assert status.state == CassetteState.OK, status.reasons


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agent: chat\n", "turns: required key is missing"),
        (SIMULATED + "turns: [{user: hi}]\n", "give `turns` (scripted user messages) or `simulate`"),
        ("agent: chat\nsimulate: {persona: x}\n", "simulate.goal: required key is missing"),
        # they passed, and the simulator played nobody
        ('agent: chat\nsimulate: {persona: "", goal: g}\n', "simulate.persona: is empty: give who the simulated"),
        ('agent: chat\nsimulate: {persona: p, goal: "  "}\n', "simulate.goal: is only blanks: give what the"),
    ],
)
def test_turns_or_simulate(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert message in str(caught.value)


def test_the_simulator_sends_the_messages_of_earlier_turns_as_the_same_objects() -> None:
    """Replay finds a message object it keyed a step before (`Keyer.digest`): messages built anew at each turn
    were all canonicalised again at every turn, a conversation's square."""

    sent: list[list[dict[str, object]]] = []

    class Model:
        def complete(self, messages: list[dict[str, object]], tools: list[dict[str, object]]) -> ChatResponse:
            sent.append(messages)
            return ChatResponse(content=f"message {len(sent)}", tool_calls=(), model="m")

    spec = AgentSpec("a", "s", ModelSettings(name="m"), (), ())
    user = SimulatedUser(Simulation(persona="Azin", goal="g"), spec, lambda spec: Model())
    exchanges: list[tuple[str, str | None]] = []
    for _ in range(3):
        text = user.next_message(exchanges)
        assert text is not None
        exchanges.append((text, f"reply to {text}"))
    assert [len(each) for each in sent] == [2, 4, 6]
    assert all(a is b for a, b in zip(sent[1], sent[2], strict=False))
    assert sent[2][2:] == [
        {"role": "assistant", "content": "message 1"},
        {"role": "user", "content": "reply to message 1"},
        {"role": "assistant", "content": "message 2"},
        {"role": "user", "content": "reply to message 2"},
    ]
    assert sent[1] is not sent[2]  # each request its own list: what one keeps, the next turn does not change
    # A conversation that is not the one before (another scenario's) starts over.
    other = [("another", None)]
    assert user.next_message(other) == "message 4"
    assert sent[3][2:] == [{"role": "assistant", "content": "another"}, {"role": "user", "content": "(no reply)"}]
