"""Cassettes through the real stack: record from a local OpenAI-compatible server, then replay offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from vcr.request import Request

from harness.cassettes import format
from harness.cassettes.diff import nearest_recorded, request_lines
from harness.cassettes.keys import Keyer, canonical_body
from harness.cassettes.mode import RecordMode
from harness.cassettes.recording import IndexedCassette, RecordingSession, same_request
from harness.cassettes.replay import ReplayCassette
from harness.cassettes.scrub import endpoint_kind
from harness.errors import CassetteError, CassetteMiss
from harness.report import write_report
from harness.scenarios.runner import ScenarioResult
from harness.secrets import MASK
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
    Raw,
    append,
    completion,
    make_project,
    reply,
)
from tests.helpers import call

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


def edit_cassette(path: Path, change: Any) -> None:
    """Rewrite a cassette through its own format, `change` getting every request body whole."""
    data = format.parse(path.read_text(encoding="utf-8"), str(path))
    change(data.interactions)
    path.write_text(format.dump(format.to_vcr_dict(data)), encoding="utf-8")


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
        assert "headers" not in interaction["request"]
        assert {k.lower() for k in interaction["response"].get("headers", {})} <= {"content-type"}


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


def test_bodies_are_readable_json_and_later_requests_are_deltas(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    _result, server = recorded
    text = cassette_of(project).read_text(encoding="utf-8")
    assert "!!binary" not in text
    assert '  {"role":"user","content":"Hi! My name is Azin."}' in text  # one message a line, readable
    data = yaml.safe_load(text)
    first, second = data["interactions"]
    assert json.loads(first["request"]["body"])["model"] == MODEL  # the first request whole
    delta = json.loads(second["request"]["body"]["delta"])  # the second: only what changed
    assert set(delta) == {"messages"}
    assert delta["messages"][1] == {"same": [1, 1]}  # the user message, not repeated
    assert delta["messages"][0]["edit"] == 0  # the system message, spliced where memory changed
    edit = delta["messages"][0]
    # two places changed: the block's size and its new line (not the text in between)
    assert [insert for _at, _cut, insert in edit["splices"]] == ["14", "Azin\n"]
    assert [m["role"] for m in delta["messages"][2:]] == ["assistant", "tool"]
    for interaction, response in zip(data["interactions"], REMEMBER_RESPONSES, strict=True):
        body = interaction["response"]["body"]
        assert json.loads(body) == response
        assert body.count("\n") == 1  # one line
    # Read back, every body is whole again, and exactly what was sent.
    parsed = format.parse(text, "remember.yaml")
    assert [i.request.body for i in parsed.interactions] == [r.body for r in server.received]


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


def test_a_secret_echoed_into_memory_is_masked_before_the_agent_sees_it(
    project: Project, secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block's character count in later prompts depends on what the agent stored: it must have stored
    the mask, as replay will, or the recording would not replay."""
    project.write_scenario("leak", "agent: chat\nturns:\n  - user: remember my key\n")
    responses = [append("human", f"key {FAKE_KEY}"), reply(f"stored {FAKE_KEY}")]
    result, server = project.record("leak", responses)
    assert result.outcome == "passed"
    assert result.turns[0].blocks["human"] == f"Name: Bob\nkey {MASK}"
    assert FAKE_KEY not in json.dumps(server.received[1].body)  # not even sent back to the endpoint
    assert FAKE_KEY not in cassette_of(project, "leak").read_text(encoding="utf-8")
    monkeypatch.delenv("OPENAI_API_KEY")
    replayed = project.replay("leak")
    assert replayed.outcome == "passed" and replayed.steps == 2
    assert replayed.turns[0].blocks == result.turns[0].blocks


def test_credential_headers_an_endpoint_sent_are_secrets_from_then_on(project: Project) -> None:
    """Dropped from the cassette, the values are masked wherever else they turn up (a library's debug log)."""
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        runner = project.runner("all", base_url=server.base_url)
        assert "cookie-secret-value-123" not in runner.factory.secrets().values
        runner.run(project.scenario("remember"))
    values = runner.factory.secrets().values
    assert {"cookie-secret-value-123", FAKE_ORG} <= values
    assert "path=/" not in values and "/" not in values


def test_credentials_in_the_base_url_never_reach_the_cassette(project: Project) -> None:
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        url = (
            server.base_url.replace("http://", "http://u5er-name:pa55-word@")
            + "?api-version=2024-10-21&api-key=query-k3y"
        )
        result = project.runner("all", base_url=url).run(project.scenario("remember"))
    assert "basic" in server.received[0].headers["authorization"].lower()  # httpx sent them
    text = cassette_of(project).read_text(encoding="utf-8")
    for secret in ("u5er-name", "pa55-word", "query-k3y"):
        assert secret not in text
        assert secret not in json.dumps(result.recorded_with)
    uris = [i["request"]["uri"] for i in yaml.safe_load(text)["interactions"]]
    assert all(uri.startswith("http://127.0.0.1:") and "api-version=2024-10-21" in uri for uri in uris)
    assert all(f"api-key={MASK}" in uri for uri in uris)


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
    assert scenario["failures"] == [line.replace(f"{path}:", "scenarios/remember.yaml:", 1) for line in result.stale]
    assert scenario["turns"][0]["stop_reason"] == "stale_cassette"
    assert report["summary"]["failed"] == 1


def test_a_change_in_a_later_step_names_that_step(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    # a different agent prompt changes every request; the step and turn where replay stops are named
    def warmer(interactions: list[format.Interaction]) -> None:
        interactions[1].request.body = {**interactions[1].request.body, "temperature": 0.5}

    edit_cassette(cassette_of(project), warmer)
    result = project.replay("remember")
    assert result.outcome == "failed"
    assert "turn 1, step 2" in result.stale[0]
    assert "    -temperature: 0.5" in result.stale
    assert "    +temperature: 0.0" in result.stale


def test_a_scenario_never_recorded(project: Project) -> None:
    result = project.replay("forgetful")
    assert result.outcome == "error"  # it could not run, as the recording that wrote nothing could not
    path = project.scenario_path("forgetful")
    assert result.stale == [
        f"{path}:4: no cassette at cassettes/forgetful.yaml: this scenario has not been recorded yet",
        f"  record it with: harness record {path}",
    ]
    assert not cassette_of(project, "forgetful").exists()  # replay never writes


def test_an_xfail_scenario_with_a_stale_cassette_fails(project: Project) -> None:
    project.write_scenario("known_bug", FORGETFUL + "xfail: the model forgets names\n")
    assert project.replay("known_bug").outcome == "error"  # not xfailed: nothing was played


def test_xfail_outcomes(project: Project, secrets: None) -> None:
    project.write_scenario("known_bug", FORGETFUL + "xfail: the model forgets names\n")
    result, _ = project.record("known_bug", FORGETFUL_RESPONSES)
    assert result.outcome == "xfailed" and result.ok
    assert project.replay("known_bug").outcome == "xfailed"
    project.write_scenario("fixed", REMEMBER + "xfail: it used to forget\n")
    result, _ = project.record("fixed", REMEMBER_RESPONSES)
    assert result.outcome == "xpassed" and not result.ok
    # located at the `xfail:` key, as every failed check is at its own (the line was missing)
    assert result.explain() == (
        f"{project.scenario_path('fixed')}:17: xfail: expected to fail (it used to forget) but every check passed: "
        "remove `xfail` if the behaviour is fixed"
    )


def test_an_extra_interaction_makes_replay_stale_and_recording_new_prunes_it(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    cassette = cassette_of(project)

    def ask_more(interactions: list[format.Interaction]) -> None:
        body = json.loads(json.dumps(interactions[0].request.body))
        body["messages"][-1]["content"] = "a question this scenario no longer asks"
        extra = format.Interaction(
            format.RecordedRequest("POST", interactions[0].request.uri, body), interactions[0].response
        )
        interactions.insert(1, extra)

    edit_cassette(cassette, ask_more)
    result = project.replay("remember")
    assert result.outcome == "failed"
    assert result.unplayed == [1]
    assert "holds 1 recorded interaction(s) this run never asked for (indexes [1])" in result.explain()
    with FakeOpenAI([]) as server:  # mode new: everything still matches, nothing goes to the endpoint
        result = project.runner("new", base_url=server.base_url).run(project.scenario("remember"))
    assert result.change is not None
    assert (result.change.kept, result.change.recorded, result.change.dropped) == (2, 0, 1)
    assert result.change.describe() == "updated (0 recorded, 2 kept, 1 no longer used dropped)"
    assert len(yaml.safe_load(cassette.read_text(encoding="utf-8"))["interactions"]) == 2
    assert project.replay("remember").outcome == "passed"


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


def test_a_chat_key_is_equal_exactly_when_the_canonical_bodies_are() -> None:
    keyer = Keyer()
    system = {"role": "system", "content": "é"}
    body = {"model": "m", "messages": [system, {"role": "user", "content": "hi"}], "tools": [{"a": 1}]}
    same = json.loads(json.dumps(body, indent=3))
    assert keyer.key("POST", "/v1/chat/completions", body) == keyer.key("post", "/v1/chat/completions", same)
    moved = {"model": "m", "messages": [{"role": "user", "content": "hi"}, system], "tools": [{"a": 1}]}
    merged = {"model": "m", "messages": [{"role": "system", "content": "éhi"}], "tools": [{"a": 1}]}
    for other in (moved, merged, {**body, "tools": []}, {**body, "model": "n"}):
        assert keyer.key("POST", "/v1/chat/completions", body) != keyer.key("POST", "/v1/chat/completions", other)
    assert keyer.key("POST", "/a", "text") != keyer.key("POST", "/a", "text2")


def test_endpoint_kinds() -> None:
    llama = json.dumps({"timings": {"predicted_ms": 1.0}})
    assert endpoint_kind("https://api.openai.com/v1", None) == "openai"
    assert endpoint_kind("http://127.0.0.1:8088/v1", llama) == "llama.cpp (llama-server)"
    assert endpoint_kind("http://localhost:11434/v1", "{}") == "openai-compatible (local)"
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


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
# A request body with any value where a list of messages, tools or tool calls belongs (edited by hand).
_ODD_BODY = st.fixed_dictionaries(
    {},
    optional={
        "model": _JSON,
        "tools": _JSON,
        "messages": st.one_of(
            _JSON, st.lists(st.fixed_dictionaries({"role": _JSON}, optional={"content": _JSON, "tool_calls": _JSON}))
        ),
    },
)


def _reordered(value: Any) -> Any:
    """`value` with every object's keys in reverse order: the same request to canonical JSON."""
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(item) for item in value]
    return value


@given(body=_ODD_BODY | _JSON, settings=st.dictionaries(st.text(max_size=5), _JSON, max_size=4))
def test_a_body_renders_the_same_whatever_its_key_order(body: Any, settings: dict[str, Any]) -> None:
    """Requests match on canonical JSON (sorted keys); the lines a miss is explained with did not: a setting
    recorded in one place and sent in another showed as removed and added though it had not changed."""
    if isinstance(body, dict):
        body = {**settings, **body}
    assert request_lines(_reordered(body)) == request_lines(body)
    assert request_lines(json.dumps(_reordered(body))) == request_lines(json.dumps(body))


def test_a_miss_diff_shows_only_what_changed_when_the_keys_come_in_another_order() -> None:
    recorded = {"model": "m", "tool_choice": "required", "parallel_tool_calls": False, "temperature": 0}
    recorded["messages"] = [{"role": "user", "content": "Hi, I am Azin."}]
    sent = {"parallel_tool_calls": False, "temperature": 0, "model": "m", "tool_choice": "required"}
    sent["messages"] = [{"content": "Hi, I am Azim.", "role": "user"}]
    found = nearest_recorded([json.dumps(recorded)], [False], sent)
    assert found is not None
    changed = [line for line in found.diff if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert changed == ["-Hi, I am Azin.", "+Hi, I am Azim."]


def test_a_tool_call_written_over_several_lines_is_several_diff_lines() -> None:
    """Letta's loop writes a call's arguments as indented JSON: its continuation lines came out of a miss diff
    with no `-` or `+`, as if outside it."""
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "send_message", "arguments": '{\n  "message": "hi"\n}'},
    }
    body = {"messages": [{"role": "assistant", "tool_calls": [call]}, {"role": "tool", "tool_call_id": "c1\nx"}]}
    assert request_lines(body) == [
        "--- message 0 (assistant)",
        "tool_call c1: send_message({",
        '  "message": "hi"',
        "})",
        "--- message 1 (tool)",
        "tool_call_id: c1",
        "x",
    ]


@given(recorded=st.lists(_ODD_BODY | _JSON, min_size=1, max_size=3), sent=_ODD_BODY)
def test_any_recorded_body_is_shown_and_diffed_without_an_exception(recorded: list[Any], sent: Any) -> None:
    """A miss explains itself whatever a cassette edited by hand holds (tools that are a number, tool calls
    that are not mappings...): the diff is made, never a TypeError in its place."""
    for body in [*recorded, sent]:  # one diff line each: a line break in one would lose the diff's prefix
        assert all(isinstance(line, str) and "\n" not in line and "\r" not in line for line in request_lines(body))
    found = nearest_recorded(recorded, [False] * len(recorded), sent)
    assert found is not None and 0 <= found.index < len(recorded)


def test_nearest_recorded_prefers_the_most_similar_request(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    cassette = ReplayCassette(cassette_of(project))
    bodies = cassette.recorded_bodies()
    second = json.loads(json.dumps(bodies[1]))
    second["messages"][1]["content"] = "Hi! My name is Azim."
    found = nearest_recorded(bodies, cassette.played, second)
    assert found is not None
    assert found.index == 1
    assert "-Hi! My name is Azin." in found.diff and "+Hi! My name is Azim." in found.diff
    assert nearest_recorded([], [], second) is None
    with pytest.raises(CassetteMiss) as miss:
        cassette.respond("POST", "/v1/chat/completions", second)
    assert miss.value.nearest == found
    assert miss.value.request.body == second


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


def _answer(answer: tuple[int, str]) -> str:
    status, text = answer
    assert status == 200
    played = json.loads(text)
    return str(json.loads(played["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])["message"])


@pytest.fixture
def fifty(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A cassette of 50 distinct requests, and the 8th once more with another answer."""
    path = tmp_path / "c.yaml"
    bodies = [{"messages": [{"role": "user", "content": f"step {i}"}]} for i in range(50)]
    with RecordingSession(path, RecordMode.ALL).open() as session:
        assert session.cassette is not None
        for i, body in enumerate(bodies):
            session.cassette.append(*_interaction(body, f"answer {i}"))
        # The same request twice, answered twice (as when a model repeats itself): played in order.
        session.cassette.append(*_interaction(bodies[7], "answer 7 again"))
    return path, bodies


def test_replay_finds_each_request_once_in_any_order(fifty: tuple[Path, list[dict[str, Any]]]) -> None:
    path, bodies = fifty
    cassette = ReplayCassette(path)
    answers = [_answer(cassette.respond("POST", "/v1/chat/completions", bodies[i])) for i in (49, 3, 7, 7, 0)]
    assert answers == ["answer 49", "answer 3", "answer 7", "answer 7 again", "answer 0"]
    with pytest.raises(CassetteMiss):  # both answers used up
        cassette.respond("POST", "/v1/chat/completions", bodies[7])
    assert [i for i, played in enumerate(cassette.played) if played] == [0, 3, 7, 49, 50]
    assert len(cassette.unplayed) == 46


def test_recording_new_plays_back_through_the_index(fifty: tuple[Path, list[dict[str, Any]]]) -> None:
    path, bodies = fifty
    with RecordingSession(path, RecordMode.NEW).open() as session:
        cassette = session.cassette
        assert isinstance(cassette, IndexedCassette)
        for i in (49, 3, 7, 7, 0):
            probe = request(json.dumps(bodies[i], indent=4))  # other whitespace, same JSON
            assert cassette.can_play_response_for(probe)
            cassette.play_response(probe)
        assert not cassette.can_play_response_for(request(json.dumps(bodies[7])))  # both answers used up
        assert request(json.dumps(bodies[7])) not in cassette  # vcrpy: "in" means "can still be played"
        assert request(json.dumps(bodies[8])) in cassette
        assert request('{"messages": []}') not in cassette
        assert sorted(i for i, n in cassette.play_counts.items() if n) == [0, 3, 7, 49, 50]


def test_a_recording_that_breaks_off_keeps_the_old_cassette(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    before = cassette_of(project).read_bytes()
    # The endpoint answers the first step, then fails (HTTP 500): the scenario errors, the old takes stay.
    with FakeOpenAI(REMEMBER_RESPONSES[:1]) as server:
        result = project.runner("all", base_url=server.base_url).run(project.scenario("remember"))
    assert result.outcome == "error"
    assert result.error is not None
    located = (
        f"{project.scenario_path('remember')}:4: turns[0].user: turn 1, step 2: the model endpoint http://127.0.0.1:"
    )
    assert result.error.startswith(located)
    assert result.error.endswith("answered HTTP 500: fake server: script exhausted (server_error)")
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
    scenario = project.scenario_path("remember")  # located at its first turn, the cassette named from the root
    assert result.error is not None
    assert result.error.startswith(f"{scenario}:4: cassettes/remember.yaml is not a readable cassette (ParserError: ")
    assert result.error.endswith(
        f"; restore it from version control, or record it anew with: harness record --mode all {scenario}"
    )
    assert "\n" not in result.error
    assert path.read_text(encoding="utf-8") == "interactions: [unclosed\n"  # replay never rewrites it
    # Re-recording everything replaces it.
    result, _ = project.record("remember", REMEMBER_RESPONSES)
    assert result.outcome == "passed"
    assert project.replay("remember").outcome == "passed"


def test_a_cassette_in_the_earlier_layout_still_replays(
    project: Project, recorded: tuple[ScenarioResult, FakeOpenAI]
) -> None:
    """Cassettes written before the delta layout (every body whole, indented JSON, vcrpy's status and
    headers) replay as they did."""
    path = cassette_of(project)
    data = format.parse(path.read_text(encoding="utf-8"), str(path))
    earlier = {
        "metadata": data.metadata,
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": i.request.uri,
                    "body": json.dumps(i.request.body, indent=2) + "\n",
                    "headers": {"content-type": ["application/json"]},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["application/json"]},
                    "body": {"string": json.dumps(json.loads(i.response["body"]["string"]), indent=2) + "\n"},
                },
            }
            for i in data.interactions
        ],
    }
    path.write_text(yaml.safe_dump(earlier, sort_keys=False), encoding="utf-8")
    assert "delta" not in path.read_text(encoding="utf-8")
    result = project.replay("remember")
    assert result.outcome == "passed", result.explain()
    assert result.unplayed == []


def test_recording_new_sends_a_repeated_request_again_and_replay_finds_every_answer(tmp_path: Path) -> None:
    """Letta's loop asks again, with the very same request, after an answer it cannot use. Recording in mode
    `new` over an existing cassette (what `harness record` does) must send each of those requests to the
    endpoint: vcrpy would answer the second with the interaction recorded a moment before, and the file
    would then hold fewer answers than a replay asks for."""
    project = Project(tmp_path)
    project.agents.write_text(
        "defaults:\n"
        "  model: {name: fake-model-7b, base_url: 'http://127.0.0.1:9/v1', max_retries: 0, timeout: 10}\n"
        "  tools: [send_message]\n"
        "agents:\n  chat: {system: You are a test agent., loop: letta-memgpt}\n",
        encoding="utf-8",
    )
    project.write_scenario("again", "agent: chat\nturns:\n  - user: hi\n")
    project.record("again", [reply("Old take")])  # a cassette to re-record over, as `harness record` finds
    project.write_scenario("again", "agent: chat\nturns:\n  - user: hello\n    expect: {reply: {equals: Hi}}\n")
    cut = completion(call("send_message", '{"inner_thoughts": "x", "message": "Hi th'))  # arguments cut off
    cut["choices"][0]["finish_reason"] = "length"
    with FakeOpenAI(
        [
            {**cut, "id": "a"},
            {**cut, "id": "b"},
            completion(call("send_message", {"inner_thoughts": "t", "message": "Hi"})),
        ]
    ) as server:
        result = project.runner("new", base_url=server.base_url).run(project.scenario("again"))
    assert len(server.received) == 3  # each ask went to the endpoint
    assert result.checks_passed and result.change is not None and result.change.recorded == 3
    replayed = project.replay("again")
    assert replayed.checks_passed and not replayed.stale and replayed.steps == 1


_YAML_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_EDITED = [
    ("request", "uri"),
    ("request", "method"),
    ("request", "headers"),
    ("request", "headers", "accept"),
    ("response", "status"),
    ("response", "status", "message"),
    ("response", "body"),
    ("response", "headers"),
    ("response", "headers", "content-type"),
]


@hypothesis.settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(_EDITED), value=_YAML_VALUE)
def test_recording_over_a_cassette_edited_by_hand_plays_what_vcrpy_can_use_or_says_why(
    tmp_path_factory: pytest.TempPathFactory, field: tuple[str, ...], value: Any
) -> None:
    """`harness record --mode new` hands vcrpy the recorded responses it still matches: a field edited by hand
    into any value is either read into the shape vcrpy's stubs build a response from (a header given as one
    text becomes a list of one) or a CassetteError naming the file, never a crash inside vcrpy."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    written = {
        "version": 1,
        "interactions": [
            {
                "request": {"method": "POST", "uri": "http://127.0.0.1:8080/v1/chat/completions", "body": body},
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["application/json"]},
                    "body": {"string": '{"choices": []}'},
                },
            }
        ],
    }
    data = yaml.safe_load(format.dump(written))
    parent = data["interactions"][0]
    for step in field[:-1]:
        parent = parent.setdefault(step, {})
    parent[field[-1]] = value
    path = tmp_path_factory.mktemp("edited") / "c.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    try:
        with RecordingSession(path, RecordMode.NEW).open() as session:
            cassette = session.cassette
            assert cassette is not None
            probe = request(body)
            if cassette.can_play_response_for(probe):
                played = cassette.play_response(probe)
                assert isinstance(played["status"]["code"], int)
                assert isinstance(played["status"].get("message") or "", str)
                assert isinstance(played["body"]["string"], str | bytes)
                assert all(isinstance(v, str) for values in played["headers"].values() for v in values)
    except CassetteError as exc:
        assert str(path) in str(exc)


# ------------------------------------------------------------------ answers that are not UTF-8


def _latin1_reply(text: str) -> dict[str, Any]:
    """`reply(text)` with its arguments' JSON unescaped (`json.dumps` escapes an é, which latin-1 then keeps)."""
    return completion(call("send_message", json.dumps({"message": text}, ensure_ascii=False)))


def _latin1_answers() -> dict[str, Raw]:
    """An endpoint that answers in latin-1 (whatever it says its charset is) and echoes the key it was sent:
    a plain answer, an HTTP 400 error, an event stream."""
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": f"Caf\u00e9 {FAKE_KEY}"}, "finish_reason": "stop"}
        ],
    }
    error = {"error": {"message": f"Caf\u00e9: context too long for key {FAKE_KEY}", "code": "context_length_exceeded"}}
    return {
        "json": Raw(
            json.dumps(_latin1_reply(f"Caf\u00e9, your key is {FAKE_KEY}"), ensure_ascii=False).encode("latin-1"),
            content_type="application/json; charset=latin-1",
        ),
        "error": Raw(json.dumps(error, ensure_ascii=False).encode("latin-1"), status=400),
        "stream": Raw(
            f"data: {json.dumps(chunk, ensure_ascii=False)}\n\ndata: [DONE]\n\n".encode("latin-1"),
            content_type="text/event-stream",
        ),
    }


@pytest.mark.parametrize("kind", ["json", "error", "stream"])
def test_an_answer_that_is_not_utf8_is_recorded_masked_and_replays_as_recorded_without_the_key(
    project: Project, secrets: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    """The live run reads it as UTF-8 with U+FFFD for the latin-1 bytes, and masks the key it echoes; the
    cassette holds that text, masked, not the bytes (`!!binary`, which the mask could not see into), so a
    replay without the key in the environment (CI) shows what the recording showed, and no key."""
    project.write_scenario("echo", "agent: chat\nturns:\n  - user: what is my key?\n")
    recording, _ = project.record("echo", [_latin1_answers()[kind]])
    assert (recording.outcome == "error") is (kind == "error"), recording.explain()
    text = cassette_of(project, "echo").read_text(encoding="utf-8")
    assert FAKE_KEY not in text
    assert "!!binary" not in text
    assert "Caf\ufffd" in text and MASK in text  # readable: what the live run saw
    if kind == "stream":  # the event stream it was, one event a line
        body = yaml.safe_load(text)["interactions"][0]["response"]["body"]
        assert body.startswith("data: {") and body.endswith("}\n\ndata: [DONE]\n\n")
        assert body.count("\n") == 4
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_ORG_ID")
    replayed = project.replay("echo")
    assert replayed.stale == [] and replayed.unplayed == []
    recorded_report = report_of([recording], tmp_path / "recorded.json", project.root)
    replayed_report = report_of([replayed], tmp_path / "replayed.json", project.root)
    assert FAKE_KEY not in (tmp_path / "replayed.json").read_text(encoding="utf-8")
    assert FAKE_KEY not in replayed.explain()
    assert "Caf\ufffd" in json.dumps(replayed_report, ensure_ascii=False)
    assert replayed_report == recorded_report


def test_an_old_cassette_with_a_binary_answer_replays_as_before(project: Project, secrets: None) -> None:
    """A cassette written before answers that are not UTF-8 were stored as text holds them as `!!binary`:
    it replays them read as the live client reads them (U+FFFD for each byte that is not UTF-8), and a
    re-recording (mode new) that keeps the exchange writes it as that text."""
    project.write_scenario(
        "old", "agent: chat\nturns:\n  - user: hello\n    expect: {reply: {contains: 'Caf\ufffd for Bob'}}\n"
    )
    project.record("old", [_latin1_answers()["json"]])
    path = cassette_of(project, "old")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    old = json.dumps(_latin1_reply("Caf\u00e9 for Bob"), ensure_ascii=False).encode("latin-1")
    data["interactions"][0]["response"] = {
        "status": {"code": 200, "message": "OK"},
        "headers": {},
        "body": {"string": old},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert "!!binary" in path.read_text(encoding="utf-8")
    assert project.replay("old").outcome == "passed"
    scenario = project.scenario_path("old")
    scenario.write_text(scenario.read_text(encoding="utf-8") + "  - user: again\n", encoding="utf-8")
    with FakeOpenAI([reply("again")]) as server:  # the first exchange is kept, the second recorded
        kept = project.runner("new", base_url=server.base_url).run(project.scenario("old"))
    assert kept.outcome == "passed", kept.explain()
    assert len(server.received) == 1
    text = path.read_text(encoding="utf-8")
    assert "!!binary" not in text and "Caf\ufffd for Bob" in text
    assert project.replay("old").outcome == "passed"
