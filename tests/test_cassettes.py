"""Cassettes through the real stack: record from a local OpenAI-compatible server, then replay offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from vcr.request import Request

from harness.cassettes import (
    IndexedCassette,
    canonical_body,
    endpoint_kind,
    nearest_recorded,
    request_key,
    request_lines,
    same_request,
    use_cassette,
)
from harness.errors import LLMError
from harness.report import write_report
from harness.scenarios.runner import ScenarioResult
from tests.fakes import (
    FAKE_COOKIE,
    FAKE_KEY,
    FAKE_ORG,
    FORGETFUL,
    FORGETFUL_RESPONSES,
    MODEL,
    REMEMBER,
    REMEMBER_RESPONSES,
    FakeOpenAI,
    Project,
    make_project,
    reply,
)

USER_LINE = 'user: "Hi! My name is Azin."'


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", FAKE_ORG)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "project", {"remember": REMEMBER, "forgetful": FORGETFUL})


@pytest.fixture
def recorded(project: Project, secrets: None) -> tuple[ScenarioResult, FakeOpenAI]:
    return project.record("remember", REMEMBER_RESPONSES)


def cassette_of(project: Project, name: str = "remember") -> Path:
    return project.cassettes / f"{name}.yaml"


def report_of(results: list[ScenarioResult], path: Path, root: Path) -> dict[str, Any]:
    write_report(results, path, root)
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for scenario in report["scenarios"]:
        del scenario["timing"]
    return report


# ------------------------------------------------------------------ recording


def test_recording_passes_and_the_secrets_were_really_sent(recorded: tuple[ScenarioResult, FakeOpenAI]) -> None:
    result, server = recorded
    assert result.outcome == "passed", result.explain()
    assert len(server.received) == 2
    first = server.received[0]
    assert first.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert first.headers["openai-organization"] == FAKE_ORG
    assert first.body["model"] == MODEL
    assert first.body["messages"][-1] == {"role": "user", "content": "Hi! My name is Azin."}
    # the server's cookie came back with the second request: it would be in the cassette if not filtered
    assert "cookie-secret-value-123" in server.received[1].headers.get("cookie", "")


def test_the_cassette_holds_no_secret(project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]) -> None:
    text = cassette_of(project).read_text(encoding="utf-8")
    assert FAKE_KEY not in text
    assert "Bearer" not in text
    assert FAKE_ORG not in text
    assert "set-cookie" not in text.lower()
    assert FAKE_COOKIE.split(";")[0] not in text
    assert "cookie-secret-value" not in text
    assert "openai-processing-ms" not in text  # only content-type headers are kept
    data = yaml.safe_load(text)
    for interaction in data["interactions"]:
        assert {k.lower() for k in interaction["request"]["headers"]} <= {"content-type"}
        assert {k.lower() for k in interaction["response"]["headers"]} <= {"content-type"}


def test_the_cassette_names_the_model_and_endpoint(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    result, _server = recorded
    data = yaml.safe_load(cassette_of(project).read_text(encoding="utf-8"))
    info = data["metadata"]["recorded_with"]
    assert info["model"] == MODEL
    assert info["endpoint"] == "openai-compatible (local)"
    assert info["base_url"].startswith("http://127.0.0.1:")
    assert info["server"] == "fp_fake"
    assert result.recorded_with == info  # a record run reports what it wrote


def test_bodies_are_readable_json(project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]) -> None:
    text = cassette_of(project).read_text(encoding="utf-8")
    assert "!!binary" not in text
    assert "Hi! My name is Azin." in text  # the user's words, readable in the file
    data = yaml.safe_load(text)
    assert len(data["interactions"]) == 2
    for interaction, response in zip(data["interactions"], REMEMBER_RESPONSES, strict=True):
        request_body = interaction["request"]["body"]
        assert isinstance(request_body, str)
        assert json.loads(request_body)["model"] == MODEL
        body = interaction["response"]["body"]["string"]
        assert isinstance(body, str)
        assert json.loads(body) == response
        assert body.startswith("{\n  ")  # indented, one key a line


def test_a_secret_echoed_in_a_body_is_replaced(
    project: Project, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write_scenario(
        "leak", "agent: chat\nturns:\n  - user: what is my key?\n    expect: {reply: {contains: 'your key is'}}\n"
    )
    result, _ = project.record("leak", [reply(f"your key is {FAKE_KEY}")])
    assert result.outcome == "passed"
    text = cassette_of(project, "leak").read_text(encoding="utf-8")
    assert FAKE_KEY not in text
    assert "<SECRET>" in text
    assert project.replay("leak").outcome == "passed"  # with the key in the environment
    monkeypatch.delenv("OPENAI_API_KEY")
    assert project.replay("leak").outcome == "passed"  # and without it, as in CI


# ------------------------------------------------------------------ replay


def test_replay_passes_offline_and_is_deterministic(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")  # replay needs no key
    monkeypatch.delenv("OPENAI_ORG_ID")
    recording, server = recorded
    assert server._server is None  # stopped: nothing can answer a live request now
    first, second = project.replay("remember"), project.replay("remember")
    for result in (first, second):
        assert result.outcome == "passed", result.explain()
        assert result.stale == [] and result.failures == [] and result.unplayed == []
        assert result.turns[0].result is not None
        assert result.turns[0].result.reply == "Nice to meet you, Azin!"
        assert result.turns[0].blocks["human"] == "Name: Bob\nAzin"
        assert result.recorded_with["model"] == MODEL
    one = report_of([first], tmp_path / "one.json", project.root)
    two = report_of([second], tmp_path / "two.json", project.root)
    assert one == two
    assert (tmp_path / "one.json").read_text() != ""
    # replaying reproduces the recording run exactly
    assert report_of([recording], tmp_path / "recorded.json", project.root) == one


def test_replay_never_reaches_the_network(project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]) -> None:
    with FakeOpenAI([reply("live")]) as live:
        project.write_agents(base_url=live.base_url)
        result = project.replay("remember")
    assert result.outcome == "passed"
    assert live.received == []


def test_a_changed_user_message_makes_replay_stale(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI], tmp_path: Path
) -> None:
    path = project.scenario_path("remember")
    text = path.read_text(encoding="utf-8")
    assert USER_LINE in text
    path.write_text(text.replace(USER_LINE, 'user: "Hi! My name is Azim."'), encoding="utf-8")
    result = project.replay("remember")
    assert result.outcome == "failed"
    assert result.failures == []  # no check ran on a turn that never happened
    stale = "\n".join(result.stale)
    assert result.stale[0].startswith(f"{path}:4: turns[0].user: ")
    assert "turn 1, step 1" in result.stale[0]
    assert "    -Hi! My name is Azin." in result.stale
    assert "    +Hi! My name is Azim." in result.stale
    assert f"re-record with: harness record {path}" in stale
    assert result.explain().startswith(result.stale[0])
    report = report_of([result], tmp_path / "stale.json", project.root)
    (scenario,) = report["scenarios"]
    assert scenario["outcome"] == "failed"
    assert scenario["failures"] == result.stale
    assert scenario["turns"][0]["stop_reason"] == "stale_cassette"
    assert report["summary"]["failed"] == 1


def test_a_change_in_a_later_step_names_that_step(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    # a different agent prompt changes every request; the step and turn where replay stops are named
    cassette = cassette_of(project)
    data = yaml.safe_load(cassette.read_text(encoding="utf-8"))
    second = json.loads(data["interactions"][1]["request"]["body"])
    second["temperature"] = 0.5
    data["interactions"][1]["request"]["body"] = json.dumps(second)
    cassette.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = project.replay("remember")
    assert result.outcome == "failed"
    assert "turn 1, step 2" in result.stale[0]
    assert "    -temperature: 0.5" in result.stale
    assert "    +temperature: 0.0" in result.stale


def test_a_scenario_never_recorded(project: Project) -> None:
    result = project.replay("forgetful")
    assert result.outcome == "failed"
    path = project.scenario_path("forgetful")
    assert result.stale == [
        f"{path}:4: no cassette at {cassette_of(project, 'forgetful')}: this scenario has not been recorded yet",
        f"  record it with: harness record {path}",
    ]
    assert not cassette_of(project, "forgetful").exists()  # replay never writes


def test_an_xfail_scenario_with_a_stale_cassette_fails(project: Project) -> None:
    project.write_scenario("known_bug", FORGETFUL + "xfail: the model forgets names\n")
    assert project.replay("known_bug").outcome == "failed"


def test_xfail_outcomes(project: Project, secrets: None) -> None:
    project.write_scenario("known_bug", FORGETFUL + "xfail: the model forgets names\n")
    result, _ = project.record("known_bug", FORGETFUL_RESPONSES)
    assert result.outcome == "xfailed" and result.ok
    assert project.replay("known_bug").outcome == "xfailed"
    project.write_scenario("fixed", REMEMBER + "xfail: it used to forget\n")
    result, _ = project.record("fixed", REMEMBER_RESPONSES)
    assert result.outcome == "xpassed" and not result.ok
    assert "expected to fail (it used to forget) but every check passed" in result.explain()


def test_an_extra_interaction_is_reported_unplayed_and_pruned_by_rerecording(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    cassette = cassette_of(project)
    data = yaml.safe_load(cassette.read_text(encoding="utf-8"))
    extra = json.loads(json.dumps(data["interactions"][0]))
    body = json.loads(extra["request"]["body"])
    body["messages"][-1]["content"] = "a question this scenario no longer asks"
    extra["request"]["body"] = json.dumps(body)
    data["interactions"].insert(1, extra)
    cassette.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = project.replay("remember")
    assert result.outcome == "passed"
    assert result.unplayed == [1]
    result, _ = project.record("remember", REMEMBER_RESPONSES)
    assert len(yaml.safe_load(cassette.read_text(encoding="utf-8"))["interactions"]) == 2
    assert project.replay("remember").unplayed == []


def test_scenario_cassette_paths(project: Project) -> None:
    runner = project.runner()
    assert runner.cassette_path(project.scenario("remember")) == project.cassettes / "remember.yaml"
    nested = project.write_scenario("chat/deep", "agent: chat\nturns: [{user: hi}]\n")
    assert runner.cassette_path(project.scenario("chat/deep")) == project.cassettes / "chat" / "deep.yaml"
    assert nested.exists()
    project.write_scenario("named", "agent: chat\ncassette: shared/one.yaml\nturns: [{user: hi}]\n")
    assert runner.cassette_path(project.scenario("named")) == project.cassettes / "shared" / "one.yaml"


# ------------------------------------------------------------------ matching and rendering


def request(body: str, path: str = "/v1/chat/completions", method: str = "POST") -> Request:
    return Request(method, f"http://127.0.0.1:8080{path}", body, {})


def test_requests_match_on_canonical_json_bodies() -> None:
    assert canonical_body('{"b": 1, "a": [1, 2]}') == canonical_body(b'{\n  "a": [1,2],\n  "b": 1\n}')
    assert canonical_body(None) == ""
    assert canonical_body("not json") == "not json"
    assert same_request(request('{"a": 1, "b": 2}'), request('{"b":2,"a":1}')) is True
    for other in (
        request('{"a": 1, "b": 3}'),
        request('{"a": 1, "b": 2}', path="/v1/embeddings"),
        request('{"a": 1, "b": 2}', method="PUT"),
    ):
        assert same_request(request('{"a": 1, "b": 2}'), other) is False
    assert request_key(request('{"z": "é"}')) == 'POST /v1/chat/completions\n{"z":"é"}'


def test_endpoint_kinds() -> None:
    llama = {"body": {"string": json.dumps({"timings": {"predicted_ms": 1.0}})}}
    assert endpoint_kind("https://api.openai.com/v1", None) == "openai"
    assert endpoint_kind("http://127.0.0.1:8088/v1", llama) == "llama.cpp (llama-server)"
    assert endpoint_kind("http://localhost:11434/v1", {"body": {"string": "{}"}}) == "openai-compatible (local)"
    assert endpoint_kind("https://llm.example.com/v1", None) == "openai-compatible"


def test_request_lines_render_settings_tools_and_messages() -> None:
    body = json.dumps(
        {
            "model": "m",
            "tools": [{"type": "function", "function": {"name": "send_message"}}],
            "messages": [
                {"role": "system", "content": "line one\nline two"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "call_1_0", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "call_1_0", "content": "ok"},
            ],
        }
    )
    assert request_lines(body) == [
        'model: "m"',
        'tool: {"function": {"name": "send_message"}, "type": "function"}',
        "--- message 0 (system)",
        "line one",
        "line two",
        "--- message 1 (assistant)",
        "tool_call call_1_0: f({})",
        "--- message 2 (tool)",
        "ok",
        "tool_call_id: call_1_0",
    ]
    assert request_lines("plain\ntext") == ["plain", "text"]


def test_nearest_recorded_prefers_the_most_similar_request(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    data = yaml.safe_load(cassette_of(project).read_text(encoding="utf-8"))
    second = json.loads(data["interactions"][1]["request"]["body"])
    second["messages"][1]["content"] = "Hi! My name is Azim."
    with use_cassette(cassette_of(project), "none") as session:
        found = nearest_recorded(session, json.dumps(second))
    assert found is not None
    index, diff = found
    assert index == 1
    assert "-Hi! My name is Azin." in diff and "+Hi! My name is Azim." in diff
    with use_cassette(project.cassettes / "absent.yaml", "none") as session:
        assert nearest_recorded(session, json.dumps(second)) is None


def test_a_key_under_a_custom_variable_is_masked_too(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # The agent reads its key from MY_LLM_SECRET, a name the *_API_KEY rule does not cover.
    monkeypatch.setenv("MY_LLM_SECRET", FAKE_KEY)
    text = project.agents.read_text(encoding="utf-8").replace(
        "temperature: 0}", "temperature: 0, api_key_env: MY_LLM_SECRET}"
    )
    project.agents.write_text(text, encoding="utf-8")
    project.write_scenario(
        "leak", "agent: chat\nturns:\n  - user: what is my key?\n    expect: {reply: {contains: 'your key is'}}\n"
    )
    result, server = project.record("leak", [reply(f"your key is {FAKE_KEY}")])
    assert result.outcome == "passed"
    assert any(FAKE_KEY in str(received.headers) for received in server.received), "the key was not even sent"
    assert FAKE_KEY not in cassette_of(project, "leak").read_text(encoding="utf-8")


def _interaction(body: dict[str, Any], answer: str) -> tuple[Request, dict[str, Any]]:
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["application/json"]},
        "body": {"string": json.dumps(reply(answer)).encode()},
    }
    return request(json.dumps(body)), response


def test_indexed_replay_finds_each_request_once_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    bodies = [{"messages": [{"role": "user", "content": f"step {i}"}]} for i in range(50)]
    with use_cassette(path, "all") as session:
        assert session.cassette is not None
        for i, body in enumerate(bodies):
            session.cassette.append(*_interaction(body, f"answer {i}"))
        # The same request twice, answered twice (as when a model repeats itself): played in order.
        session.cassette.append(*_interaction(bodies[7], "answer 7 again"))
    with use_cassette(path, "none") as session:
        cassette = session.cassette
        assert isinstance(cassette, IndexedCassette)
        answers = []
        for i in (49, 3, 7, 7, 0):
            probe = request(json.dumps(bodies[i], indent=4))  # other whitespace, same JSON
            assert cassette.can_play_response_for(probe)
            played = json.loads(cassette.play_response(probe)["body"]["string"])
            answers.append(json.loads(played["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]))
        assert [a["message"] for a in answers] == ["answer 49", "answer 3", "answer 7", "answer 7 again", "answer 0"]
        assert not cassette.can_play_response_for(request(json.dumps(bodies[7])))  # both answers used up
        assert request(json.dumps(bodies[7])) in cassette
        assert request('{"messages": []}') not in cassette
        assert sorted(i for i, n in cassette.play_counts.items() if n) == [0, 3, 7, 49, 50]


def test_a_recording_that_breaks_off_keeps_the_old_cassette(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    before = cassette_of(project).read_bytes()
    # The endpoint answers the first step, then fails (HTTP 500): the run fails, the old takes stay.
    with FakeOpenAI(REMEMBER_RESPONSES[:1]) as server, pytest.raises(LLMError, match="HTTP 500"):
        project.runner("all", base_url=server.base_url).run(project.scenario("remember"))
    assert cassette_of(project).read_bytes() == before
    assert [p.name for p in project.cassettes.iterdir()] == ["remember.yaml"]  # no temporary file left
    assert project.replay("remember").outcome == "passed"


def test_an_unreadable_cassette_is_an_error_naming_it(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    path = cassette_of(project)
    path.write_text("interactions: [unclosed\n", encoding="utf-8")
    result = project.replay("remember")  # this scenario cannot run; a suite goes on with the others
    assert result.outcome == "error" and not result.ok
    assert result.error is not None and result.error.startswith(f"{path} is not a readable cassette (ParserError: ")
    assert result.error.endswith("re-record it with `harness record --mode all`")
    assert "\n" not in result.error
    assert path.read_text(encoding="utf-8") == "interactions: [unclosed\n"  # replay never rewrites it
    # Re-recording everything replaces it.
    result, _ = project.record("remember", REMEMBER_RESPONSES)
    assert result.outcome == "passed"
    assert project.replay("remember").outcome == "passed"
