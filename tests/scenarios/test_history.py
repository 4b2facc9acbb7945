"""A scenario that starts from a conversation (`history:`): inline or from a file, checked as a
conversation the API takes, sent before the first turn, and written by `harness import` from an Agent
File's in-context messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenarios.model import load_scenario
from harness.scenarios.results import Outcome
from tests.fakes import make_project, reply

CALL = {"id": "call-1", "type": "function", "function": {"name": "send_message", "arguments": '{"message": "hi"}'}}
HISTORY = [
    {"role": "user", "content": "My name is Azin."},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call-1", "content": '{"status": "OK", "message": "None"}'},
]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_history_from_a_file_beside_the_scenario(tmp_path: Path) -> None:
    import yaml

    write(tmp_path / "history" / "azin.yaml", yaml.safe_dump({"messages": HISTORY}))
    scenario = load_scenario(write(tmp_path / "s.yaml", "agent: a\nhistory: history/azin.yaml\nturns: [{user: hi}]\n"))
    assert list(scenario.history) == HISTORY


def test_history_inline(tmp_path: Path) -> None:
    import yaml

    text = yaml.safe_dump({"agent": "a", "history": HISTORY, "turns": [{"user": "hi"}]})
    assert list(load_scenario(write(tmp_path / "s.yaml", text)).history) == HISTORY


@pytest.mark.parametrize(
    ("messages", "key", "message"),
    [
        ([{"role": "tool", "tool_call_id": "x", "content": "r"}], "history[0].tool_call_id",
         "answers no open tool call: no call before it has the id 'x'"),
        ([{"role": "assistant", "tool_calls": [CALL]}, {"role": "user", "content": "?"}], "history[0].tool_calls",
         "the call 'call-1' is not answered by a tool message before the conversation goes on"),
        ([{"role": "assistant", "tool_calls": [CALL]}], "history[0].tool_calls",
         "the call 'call-1' is never answered by a tool message"),
    ],
)  # fmt: skip
def test_a_history_the_api_would_refuse_is_located(
    tmp_path: Path, messages: list[dict[str, object]], key: str, message: str
) -> None:
    import yaml

    text = yaml.safe_dump({"agent": "a", "history": messages, "turns": [{"user": "hi"}]})
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path / "s.yaml", text))
    assert [(p.key, p.message) for p in caught.value.problems] == [(key, message)]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"role": "user"}, "a user message needs `content`"),
        ({"role": "user", "content": "x", "tool_call_id": "c"}, "a tool message, and only one, has `tool_call_id`"),
        ({"role": "developer", "content": "x"}, "Input should be 'system', 'user', 'assistant' or 'tool'"),
    ],
)
def test_a_message_of_the_wrong_shape_is_located(tmp_path: Path, message: dict[str, str], reason: str) -> None:
    import yaml

    text = yaml.safe_dump({"agent": "a", "history": [message], "turns": [{"user": "hi"}]})
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path / "s.yaml", text))
    assert any(reason in p.message and p.key.startswith("history[0]") for p in caught.value.problems), [
        str(p) for p in caught.value.problems
    ]


def test_a_history_file_outside_the_scenarios_folder_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere.yaml", "messages: []\n")
    path = write(tmp_path / "scenarios" / "s.yaml", "agent: a\nhistory: ../elsewhere.yaml\nturns: [{user: hi}]\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (problem,) = caught.value.problems
    assert problem.key == "history" and "leads outside" in problem.message


def test_a_mistake_in_the_history_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path / "h.yaml", "messages:\n  - role: user\n    contnt: hi\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path / "s.yaml", "agent: a\nhistory: h.yaml\nturns: [{user: hi}]\n"))
    problem = caught.value.problems[0]
    assert (Path(problem.file).name, problem.line) == ("h.yaml", 3)


def test_the_agent_starts_from_the_history_and_replays_it(tmp_path: Path) -> None:
    import yaml

    project = make_project(tmp_path)
    scenario = {"agent": "chat", "history": HISTORY, "turns": [{"user": "What is my name?"}]}
    project.write_scenario("resume", yaml.safe_dump(scenario, sort_keys=False))
    recorded, server = project.record("resume", [reply("Azin.")])
    assert recorded.outcome == Outcome.PASSED, recorded.explain()
    sent = server.received[0].body["messages"]
    assert sent[0]["role"] == "system" and sent[1:4] == HISTORY
    assert sent[4] == {"role": "user", "content": "What is my name?"}
    assert project.replay("resume").outcome == Outcome.PASSED


def test_under_letta_memgpt_the_history_takes_the_place_of_the_boot_messages(tmp_path: Path) -> None:
    """Letta 0.6 starts an agent given a message sequence from [system, *sequence] (no boot send_message, no
    "Never (first login)" event), and an imported agent resumes from exactly its in-context messages: the
    history came after a fresh boot and login, stamped before the conversation it followed."""
    import yaml

    project = make_project(tmp_path)
    project.agents.write_text(project.agents.read_text().replace("loop: harness", "loop: letta-memgpt"))
    scenario = {"agent": "chat", "history": HISTORY, "turns": [{"user": "What is my name?"}]}
    project.write_scenario("resume", yaml.safe_dump(scenario, sort_keys=False))
    recorded, server = project.record("resume", [reply("Azin.")])
    assert recorded.outcome == Outcome.PASSED, recorded.explain()
    sent = server.received[0].body["messages"]
    assert sent[0]["role"] == "system" and sent[1:4] == HISTORY
    assert '"type": "user_message"' in sent[4]["content"] and "What is my name?" in sent[4]["content"]
    assert len(sent) == 5
    assert project.replay("resume").outcome == Outcome.PASSED


def test_import_writes_the_in_context_messages_as_a_history_file(tmp_path: Path) -> None:
    from harness.agentfile.importer import import_agent_file
    from harness.agentfile.reading import read_agent_file

    data = Path(__file__).parent.parent / "agentfile" / "data" / "legacy_memgpt_agent.af"
    result = import_agent_file(read_agent_file(data), data.name)
    (name,) = result.histories
    path = write(tmp_path / "scenarios" / "history" / f"{name}.yaml", result.histories[name])
    scenario = write(
        tmp_path / "scenarios" / "s.yaml", f"agent: a\nhistory: history/{name}.yaml\nturns: [{{user: hi}}]\n"
    )
    history = load_scenario(scenario).history
    assert [m["role"] for m in history] == ["assistant", "tool", "user"]  # the system message is the harness's own
    assert history[0]["tool_calls"][0]["function"]["name"] == "send_message"
    assert path.read_text().startswith("# The in-context messages of agent")


def test_a_system_message_mid_conversation_is_taken(tmp_path: Path) -> None:
    """Letta sends its alerts as system messages mid-conversation; an imported history keeps them so."""
    import yaml

    history = [{"role": "user", "content": "hi"}, {"role": "system", "content": "alert"}]
    text = yaml.safe_dump({"agent": "a", "history": history, "turns": [{"user": "hi"}]})
    assert load_scenario(write(tmp_path / "s.yaml", text)).history == tuple(history)
