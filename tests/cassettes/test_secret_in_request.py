"""A secret's value inside a request a recording sends (a key in a user's turn, a token in a tool's result):
the cassette masks it, so the request it holds is never the one sent again. The recording says so (naming
the secret's variable, never its value) and errors; a replay's miss says a masked secret is the cause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.scenarios.hygiene import CassetteState, check_cassettes
from harness.secrets import MASK
from tests.fakes import FAKE_KEY, Project, Raw, completion, make_project, reply
from tests.helpers import call

TOKEN = "tok-service-9f8e7d6c5b4a"
KEY_IN_TURN = f'agent: chat\nturns:\n  - user: "my key is {FAKE_KEY}, keep it"\n'
TOKEN_IN_RESULT = "agent: chat\nturns:\n  - user: call the service\n"
TOOLS = '''
import os


def service(topic: str) -> str:
    """Ask the service.

    Args:
        topic: what about
    """
    return "token is " + os.environ["MY_SERVICE_TOKEN"]
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MY_SERVICE_TOKEN", TOKEN)
    project = make_project(tmp_path / "project", {"key": KEY_IN_TURN, "tool": TOKEN_IN_RESULT})
    text = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(text.replace("core_memory_replace]", "core_memory_replace, 'svc:service']"))
    (project.root / "svc.py").write_text(TOOLS, encoding="utf-8")
    return project


TOOL_RESPONSES: list[dict[str, Any] | Raw] = [
    completion(call("service", {"topic": "x", "request_heartbeat": True})),
    reply("done"),
]


def test_a_key_in_a_users_turn_errors_the_recording_naming_the_variable_and_the_message(project: Project) -> None:
    result, _ = project.record("key", [reply("noted")])
    assert result.outcome == "error"
    assert result.error is not None
    first, advice = result.error.split("\n")
    assert first == (
        f"{project.scenario_path('key')}:3: turns[0].user: turn 1 sent the value of OPENAI_API_KEY in message 1 "
        "(user) of its request"
    )
    assert f"masks a secret as {MASK}" in advice and "can never replay" in advice
    assert "keep secrets out of prompts, turns and tool results" in advice
    assert "record it again with: harness record" in advice
    assert FAKE_KEY not in result.error
    text = (project.cassettes / "key.yaml").read_text(encoding="utf-8")  # written: what the model did is kept
    assert FAKE_KEY not in text and MASK in text


def test_a_token_in_a_tool_result_names_the_tool_and_the_variable(project: Project) -> None:
    result, _ = project.record("tool", TOOL_RESPONSES)
    assert result.outcome == "error"
    assert result.error is not None
    assert result.error.splitlines()[0].endswith(
        "turns[0].user: turn 1 sent the value of MY_SERVICE_TOKEN in message 3 (tool: the result of service) of "
        "its request"
    )
    assert TOKEN not in result.error
    assert result.error.count("sent the value of") == 1  # told once, not again with the next request


def test_a_recording_whose_requests_hold_no_secret_passes(project: Project) -> None:
    """The model echoing a secret is masked as the answer arrives: no request sends it back."""
    project.write_scenario("echo", "agent: chat\nturns:\n  - user: what is my key?\n")
    result, _ = project.record("echo", [reply(f"your key is {FAKE_KEY}")])
    assert result.outcome == "passed" and result.error is None


@pytest.mark.parametrize("key_in_environment", [True, False])
def test_replaying_says_a_masked_secret_is_the_cause_and_shows_no_identical_lines(
    project: Project, monkeypatch: pytest.MonkeyPatch, key_in_environment: bool
) -> None:
    project.record("key", [reply("noted")])
    if not key_in_environment:  # in CI, say: the scenario still holds the key, no variable names it
        monkeypatch.delenv("OPENAI_API_KEY")
    result = project.replay("key")
    assert result.outcome == "failed" and result.stale
    told = "\n".join(result.stale)
    has = "the value of OPENAI_API_KEY" if key_in_environment else f"other text ({len(FAKE_KEY)} characters, not shown)"
    assert result.stale_cause == (
        f"the recorded request held a secret, masked as {MASK}, in message 1 (user), where this one has {has}; it "
        "cannot replay: keep secrets out of prompts, turns and tool results, then record it again"
    )
    assert "the agent, its prompt or tools" not in told and "diff between" not in told
    assert result.stale[1:3] == ["  message 1 (user) as recorded:", f"    my key is {MASK}, keep it"]
    assert FAKE_KEY not in told


def test_replaying_a_tool_result_that_held_a_token(project: Project) -> None:
    project.record("tool", TOOL_RESPONSES)
    result = project.replay("tool")
    assert result.stale_cause is not None
    assert result.stale_cause.startswith(
        f"the recorded request held a secret, masked as {MASK}, in message 3 (tool: the result of service), where "
        "this one has the value of MY_SERVICE_TOKEN"
    )
    assert TOKEN not in "\n".join(result.stale)


def test_cassettes_check_gives_the_masked_secret_as_the_reason(project: Project) -> None:
    project.record("key", [reply("noted")])
    [status] = check_cassettes(project.runner(), [project.scenario("key")], orphans=False)
    assert status.state == CassetteState.STALE
    assert status.reasons[0].startswith(f"the recorded request held a secret, masked as {MASK}, in message 1 (user)")
