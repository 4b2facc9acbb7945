"""`harness cassettes check` with more than one agent in a recording (a scenario's turns with `agent:`, a
pytest test's `harness_agent` calls), and a stored fingerprint older than the cassette's last check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cassettes import format
from harness.cli import main
from harness.config import load_agents
from harness.fingerprint import agent_fingerprint
from harness.scenarios.hygiene import _first_difference, _said
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, Project, make_project, reply

OTHER = """
  other:
    system: You are the other agent.
    model: {temperature: 0.5}
    blocks:
      - {label: persona, value: "The other one"}
      - {label: human, value: "Name: Bob"}
"""
OTHER_FIRST = """
agent: chat
description: the other agent speaks first
turns:
  - agent: other
    user: "Hello from the other turn"
  - user: "Hi! My name is Azin."
"""
OTHER_SECOND = """
agent: chat
description: the other agent speaks second
turns:
  - user: "Hi! My name is Azin."
  - agent: other
    user: "Hello from the other turn"
"""


def check(project: Project, capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, list[str]]:
    code = main(["cassettes", "check", "--agents", str(project.agents), *map(str, paths)])
    return code, capsys.readouterr().out.splitlines()


def reasons(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.startswith("  ")]


def metadata(cassette: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(cassette.read_text(encoding="utf-8"))["metadata"]
    return data


def rewrite(cassette: Path, change: Any) -> None:
    """The cassette written again after `change(vcr_dict)`: its keys worked out from the bodies as recording does."""
    written = format.to_vcr_dict(format.parse(cassette.read_text(encoding="utf-8"), str(cassette)))
    change(written)
    cassette.write_text(format.dump(written), encoding="utf-8")


def later_request_sent_otherwise(index: int) -> Any:
    """Interaction `index`'s request as an older harness sent it (a field it no longer sends): a miss there
    and nowhere before, whatever the agents file says."""

    def change(written: dict[str, Any]) -> None:
        request = written["interactions"][index]["request"]
        request["body"] = json.dumps({**json.loads(request["body"]), "top_p": 1})

    return change


def with_other_agent(project: Project) -> None:
    project.agents.write_text(project.agents.read_text(encoding="utf-8") + OTHER, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = make_project(tmp_path / "project", {"remember": REMEMBER})
    project.record("remember", REMEMBER_RESPONSES)
    return project


def an_older_fingerprint(cassette: Path) -> None:
    """The stored fingerprint as it was before a change no request shows (a block's description): ok."""

    def change(written: dict[str, Any]) -> None:
        stored = written["metadata"]["agent"]
        stored["fingerprint"] = "0" * 16
        stored["parts"]["blocks"]["persona"] = "0" * 16

    rewrite(cassette, change)


def test_an_out_of_date_fingerprint_does_not_hide_where_a_later_miss_is(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its change was the only reason given (`block 'persona' changed`), never the turn and step that missed."""
    cassette = project.cassettes / "remember.yaml"
    an_older_fingerprint(cassette)
    rewrite(cassette, later_request_sent_otherwise(1))
    code, lines = check(project, capsys)
    assert code == 1
    said = reasons(lines)
    assert said[0].startswith("the first request is unchanged; turn 1, step 2 differs (")
    assert said[1:] == [
        "also changed since this cassette was recorded (no request before the miss shows it): block 'persona' changed"
    ]


def test_an_ok_cassettes_out_of_date_fingerprint_is_said_and_record_stale_writes_it_anew(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was left as it was (ok: nothing recorded), and named as the cause of every later stale verdict."""
    cassette = project.cassettes / "remember.yaml"
    an_older_fingerprint(cassette)
    before = format.parse(cassette.read_text(encoding="utf-8"), str(cassette))
    code, lines = check(project, capsys)
    assert code == 0  # harmless: it replays as recorded
    assert lines[0].endswith("remember.yaml: ok, its fingerprint out of date (harmless: it replays as recorded)")
    assert lines[1:3] == ["  block 'persona' changed", "1 ok"]
    assert lines[3].startswith("an out-of-date fingerprint is written anew, the exchanges as they are, by: harness")
    with FakeOpenAI([]) as server:
        record = ["record", "--agents", str(project.agents), "--base-url", server.base_url, "--stale"]
        assert main(record) == 0
    assert server.received == []
    err = capsys.readouterr().err
    assert "remember.yaml: fingerprint out of date, written anew: block 'persona' changed" in err
    assert "remember.yaml: updated (2 kept, the agents' fingerprint written anew)" in err
    after = format.parse(cassette.read_text(encoding="utf-8"), str(cassette))
    assert after.interactions == before.interactions
    assert {key: value for key, value in after.metadata.items() if key != "agent"} == {
        key: value for key, value in before.metadata.items() if key != "agent"
    }
    assert after.metadata["agent"] == agent_fingerprint(project.config().get("chat"))
    assert check(project, capsys) == (0, ["1 ok"])


def test_another_agents_first_turn_is_not_compared_with_the_scenarios_agents_first_request(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was: `temperature 0.5 -> 0.0` and the other agent's system prompt against this one's, neither
    changed, and not the turn that missed."""
    with_other_agent(project)
    project.write_scenario("first", OTHER_FIRST)
    project.record("first", [reply("Hello."), *REMEMBER_RESPONSES])
    rewrite(project.cassettes / "first.yaml", later_request_sent_otherwise(2))  # turn 2's second request
    code, lines = check(project, capsys, project.scenario_path("first"))
    assert code == 1
    said = reasons(lines)
    assert len(said) == 1 and said[0].startswith("the first request is unchanged; turn 2, step 2 differs ("), said


def recorded_with_other_agent_second(project: Project) -> Path:
    """The scenario whose second turn is the other agent's, recorded; its cassette."""
    with_other_agent(project)
    project.write_scenario("second", OTHER_SECOND)
    project.record("second", [reply("Hi Azin."), reply("Hello.")])
    return project.cassettes / "second.yaml"


def test_a_change_to_the_agent_speaking_second_is_named_with_that_agent(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was put down to "a tool's behaviour, max_steps or a later turn", the other agent never named."""
    cassette = recorded_with_other_agent_second(project)
    assert set(metadata(cassette)["agent"]["others"]) == {"other"}
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(agents.replace("You are the other agent.", "You are the kind other agent."))
    code, lines = check(project, capsys, project.scenario_path("second"))
    assert code == 1
    assert reasons(lines) == [
        "agent 'other': system prompt changed: -You are the other agent. / +You are the kind other agent."
    ]
    project.agents.write_text(agents.replace("model: {temperature: 0.5}", "model: {temperature: 0.7}"))
    assert reasons(check(project, capsys, project.scenario_path("second"))[1]) == [
        "agent 'other': model settings changed: temperature 0.5 -> 0.7"
    ]


def test_a_cassette_storing_the_scenarios_agents_fingerprint_alone_still_checks(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """As recorded before the others' were kept: it loads, replays, and the other agent's change is named."""
    cassette = recorded_with_other_agent_second(project)
    rewrite(cassette, lambda written: written["metadata"]["agent"].pop("others"))
    assert check(project, capsys, project.scenario_path("second")) == (0, ["1 ok"])
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(agents.replace("You are the other agent.", "You are the kind other agent."))
    assert reasons(check(project, capsys, project.scenario_path("second"))[1]) == [
        "agent 'other': system prompt changed: -You are the other agent. / +You are the kind other agent."
    ]


PYTHON_TEST = """
def test_saves_name(harness_agent):
    agent = harness_agent("chat")
    assert agent.send("My name is Azin.").stop_reason == "replied"
"""


def test_a_python_tests_cassette_is_checked_by_its_agents_fingerprints(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cassettes check` said all was well (the test's cassette not listed) and `record --stale` recorded
    nothing, while pytest failed."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path)
    pytester.makepyfile(test_agent=PYTHON_TEST)
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        pytester.runpytest("--harness-record-mode", "new", "--harness-base-url", server.base_url).assert_outcomes(
            passed=1
        )
    capsys.readouterr()  # pytester's output
    cassette = project.cassettes / "test_agent" / "test_saves_name.yaml"
    assert metadata(cassette)["agent"]["name"] == "chat"
    assert check(project, capsys) == (
        0,
        [
            "1 ok",
            "1 of the ok are Python tests' cassettes, checked by their agents' fingerprints alone: only pytest replays "
            "them (a change to a tool's code or to the test itself shows there)",
        ],
    )
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(agents.replace("You are a test agent with memory.", "You are a test agent."))
    code, lines = check(project, capsys)
    assert code == 1
    record = f"pytest --harness-record-mode new --harness-agents {project.agents} test_agent.py::test_saves_name"
    assert lines[:4] == [
        "cassettes/test_agent/test_saves_name.yaml: stale (test_agent.py)",
        "  agent 'chat': system prompt changed",
        f"  record it again with: {record}",
        "1 stale",
    ]
    assert "harness record --stale" not in "\n".join(lines)  # it records no test
    project.write_scenario("remember", REMEMBER)  # `record` needs a scenario; this one is recorded as well
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        base_url = server.base_url
        assert main(["record", "--agents", str(project.agents), "--base-url", base_url, "--stale"]) == 1
    assert len(server.received) == 2
    err = capsys.readouterr().err
    told = f"{record.removesuffix(' test_agent.py::test_saves_name')} --harness-base-url {base_url}"
    assert f"test_saves_name.yaml: stale: agent 'chat': system prompt changed; record it again with: {told}" in err
    assert "error: 1 Python test cassette(s) need recording" in err
    pytester.runpytest("test_agent.py").assert_outcomes(failed=1)  # as the check said
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        pytester.runpytest(*record.split()[1:], "--harness-base-url", server.base_url).assert_outcomes(passed=1)
    capsys.readouterr()
    assert check(project, capsys)[0] == 0


def test_reasons_say_one_change_once_and_in_words() -> None:
    assert _said("tool 'lookup' changed", ["tools changed: lookup description"])
    assert not _said("tool 'lookup' changed", ["tools changed: lookups description"])
    assert _said("tool 'b' added", ["tools added: a, b"])
    assert _said("model name 'a' -> 'b'", ["model settings changed: model 'a' -> 'b', temperature 0.0 -> 0.5"])
    assert _said("model temperature 0.0 -> 0.5", ["model settings changed: temperature 0.0 -> 0.5"])
    assert _said("agent 'x': system prompt changed", ["agent 'x': system prompt changed: -a / +b"])
    assert not _said("agent 'x': system prompt changed", ["system prompt changed: -a / +b"])
    assert not _said("the agent's system prompt changed", ["agent 'x': system prompt changed: -a / +b"])
    # a rule's section after a blank line: the first line with text, not `+`
    assert _first_difference("You are gamma.", "You are gamma.\n\nTool rules:\n- lookup first") == "+Tool rules:"
    assert _first_difference("a\nb", "a\n\nb") == "blank lines only (a prompt's trailing newline?)"


def test_reordered_tools_and_changed_rules_are_said_by_name(tmp_path: Path) -> None:
    agents = tmp_path / "agents.yaml"
    text = """
defaults:
  model: {name: m, base_url: "http://127.0.0.1:9/v1", temperature: 0}
agents:
  a:
    loop: harness
    system: hi
    tools: [send_message, core_memory_append, core_memory_replace]
    tool_rules:
      - {type: run_first, tool_name: core_memory_append}
"""
    agents.write_text(text, encoding="utf-8")
    before = agent_fingerprint(load_agents(agents).get("a"))
    agents.write_text(
        text.replace("core_memory_append, core_memory_replace", "core_memory_replace, core_memory_append")
    )
    from harness.fingerprint import fingerprint_changes

    assert fingerprint_changes(before, agent_fingerprint(load_agents(agents).get("a"))) == [
        "tools reordered: send_message, core_memory_append, core_memory_replace -> "
        "send_message, core_memory_replace, core_memory_append"
    ]
    agents.write_text(text + "      - {type: exit_loop, tool_name: send_message}\n", encoding="utf-8")
    now = agent_fingerprint(load_agents(agents).get("a"))
    assert fingerprint_changes(before, now) == ["tool rules changed: +exit_loop send_message"]
    older = {key: value for key, value in before.items() if key != "rules"}  # stored before rules were kept
    assert fingerprint_changes(older, now) == ["tool rules changed"]
