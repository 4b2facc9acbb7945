"""Model misbehaviour never aborts a suite: a malformed answer errors its scenario with a located message,
is recorded as it came, and replays to the same error, while every other scenario runs and the summary
table and the report are still written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, Project, Raw, make_project, reply
from tests.helpers import call

GOOD = reply("hello")["choices"][0]["message"]


def with_message(message: Any) -> dict[str, Any]:
    body = reply("hello")
    body["choices"][0]["message"] = message
    return body


def without(key: str) -> dict[str, Any]:
    body = reply("hello")
    del body[key]
    return body


MANY_CALLS = with_message({"role": "assistant", "content": None, "tool_calls": [call("send_message", {})] * 10_000})

# (answer, what the scenario's error says)
MALFORMED: dict[str, tuple[Any, str]] = {
    "truncated": (Raw(json.dumps(reply("hello"))[:40]), "answered with a body that is not JSON: {"),
    "nested_too_deep": (
        Raw('{"choices": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "answered with a body that Python's JSON decoder refuses",
    ),
    "empty": (Raw(""), "answered with an empty body"),
    "no_chunks": (Raw("data: [DONE]\n\n"), "answered with an event stream holding no chunks"),
    "json_null": (Raw("null"), "answered with null, not a chat completion"),
    "message_null": (with_message(None), "returned a choice without a message (message: null)"),
    "tool_calls_dict": (
        with_message({**GOOD, "tool_calls": {"0": GOOD["tool_calls"][0]}}),
        "returned tool_calls as an object, not a list",
    ),
    "choices_empty": ({**reply("hello"), "choices": []}, "returned no choices"),
    "choices_missing": (without("choices"), "returned no choices (choices: null)"),
    "choice_string": ({**reply("hello"), "choices": ["hello"]}, "returned a choice that is a string"),
    "call_without_name": (
        with_message({**GOOD, "tool_calls": [{"id": "x", "type": "function", "function": {"arguments": "{}"}}]}),
        "returned tool call 1 without a function name",
    ),
    "call_of_other_type": (
        with_message({**GOOD, "tool_calls": [{**GOOD["tool_calls"][0], "type": "custom"}]}),
        "returned tool call 1 of type 'custom': only functions can run",
    ),
    "content_number": (with_message({"role": "assistant", "content": 42}), "returned content as a number"),
    "10000_tool_calls": (MANY_CALLS, "returned 10000 tool calls in one answer (at most 256 run)"),
    "error_in_200": (
        Raw('{"error": {"message": "the prompt is too long", "code": 400}}'),
        "answered with an error: the prompt is too long (400)",
    ),
    "error_in_the_choice": (  # OpenRouter's, once the answer had begun: recorded, as at the top
        {
            **reply("hello"),
            "choices": [
                {**reply("hello")["choices"][0], "finish_reason": "error", "error": {"code": 400, "message": "bad"}}
            ],
        },
        "answered with a choice that ended in an error: bad (400)",
    ),
}

# The answers whose body does not decode: replayed, their errors name the cassette's text.
UNDECODED = {"truncated", "nested_too_deep", "empty", "no_chunks"}

BAD = """
agent: chat
description: the model answers with something the loop cannot use
turns:
  - user: hello?
    expect: {reply: {contains: hello}}
  - user: never sent
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    # Scenarios run in path order: "a_bad" first, then "remember".
    return make_project(tmp_path / "project", {"a_bad": BAD, "remember": REMEMBER})


def harness(command: str, project: Project, report: Path, *args: str) -> int:
    return main([command, "--agents", str(project.agents), "--report", str(report), *args])


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_answer_errors_its_scenario_and_the_suite_goes_on(
    name: str, project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answer, says = MALFORMED[name]
    with FakeOpenAI([answer, *REMEMBER_RESPONSES]) as server:
        endpoint = server.base_url
        code = harness("record", project, tmp_path / "recorded.json", "--base-url", endpoint)
    assert not server.responses  # the other scenario was recorded too
    recorded_out, recorded_err = capsys.readouterr()
    # Replayed offline, the same outcome.
    replayed = harness("run", project, tmp_path / "replayed.json")
    out, err = capsys.readouterr()
    live = f"the model endpoint {endpoint} "
    # A body that does not decode is the cassette's text, named as such (the endpoint said nothing this run,
    # and a hand-edited cassette's never came from it); an answer that decodes is told word for word.
    played = f"the recording of the model endpoint {endpoint} (cassettes/a_bad.yaml:29, interaction 0) "
    for exit_code, summary, errors, report, who in (
        (code, recorded_out, recorded_err, tmp_path / "recorded.json", live),
        (replayed, out, err, tmp_path / "replayed.json", played if name in UNDECODED else live),
    ):
        assert exit_code == 1
        assert "Traceback" not in errors
        rows = {line.split()[0]: line.split() for line in summary.splitlines() if line.startswith("scenarios/")}
        assert rows["scenarios/a_bad.yaml"][4] == "ERROR"
        assert rows["scenarios/remember.yaml"][4] == "PASS"
        assert summary.splitlines()[-1] == "1 passed, 1 error"
        located = f"{project.scenario_path('a_bad')}:4: turns[0].user: turn 1, step 1: {who}{says}"
        assert located in errors
        data = json.loads(report.read_text(encoding="utf-8"))
        assert data["summary"]["error"] == 1 and data["summary"]["passed"] == 1
        bad = next(s for s in data["scenarios"] if s["scenario"] == "scenarios/a_bad.yaml")
        assert bad["outcome"] == "error"
        assert says in bad["failures"][0]
        assert [t["stop_reason"] for t in bad["turns"]] == ["model_error"]  # the second turn never ran
    error_line = next(line for line in recorded_err.splitlines() if says in line)
    replayed_line = next(line for line in err.splitlines() if says in line)
    assert error_line.split(says)[1] == replayed_line.split(says)[1]


@pytest.mark.parametrize(
    "answer",
    [
        {**reply("hello"), "usage": "12 tokens"},
        without("model"),
        {**reply("hello"), "model": None, "usage": None, "unknown": {"field": [1, 2]}},
    ],
    ids=["usage_string", "model_missing", "nulls_and_unknown_fields"],
)
def test_what_is_not_worth_failing_over_is_tolerated(
    answer: dict[str, Any], project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only = str(project.scenario_path("a_bad"))
    with FakeOpenAI([answer, reply("hello again")]) as server:
        assert harness("record", project, tmp_path / "recorded.json", "--base-url", server.base_url, only) == 0
    assert harness("run", project, tmp_path / "replayed.json", only) == 0
    for report in ("recorded.json", "replayed.json"):
        data = json.loads((tmp_path / report).read_text(encoding="utf-8"))
        first = data["scenarios"][0]["turns"][0]
        assert first["reply"] == "hello"
        assert first["steps"][0]["model"] == (answer.get("model") or "")
    assert "Traceback" not in capsys.readouterr().err


def test_an_html_page_answered_with_200_keeps_the_old_cassette(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A proxy answering 200 with its error page, while `record --mode all` ran: the good cassette was
    replaced by one ending in the page, as if the model had answered it. It is the environment's, as a 502
    is: the scenario errors naming what came back, and the cassette keeps its old takes."""
    remember = str(project.scenario_path("remember"))
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        assert harness("record", project, tmp_path / "first.json", "--base-url", server.base_url, remember) == 0
    cassette = project.cassettes / "remember.yaml"
    before = cassette.read_bytes()
    page = Raw("<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
    with FakeOpenAI([REMEMBER_RESPONSES[0], page]) as server:
        code = main(
            ["record", "--agents", str(project.agents), "--base-url", server.base_url, "--mode", "all", remember]
        )
    assert code == 1
    assert cassette.read_bytes() == before
    err = capsys.readouterr().err
    assert f"{remember}:4: turns[0].user: turn 1, step 2: the model endpoint http://127.0.0.1:" in err
    assert (
        "answered HTTP 200 with a body that is not JSON (text/html), which no model endpoint sends (a proxy or "
        "gateway in between?): <html><body><h1>502 Bad Gateway</h1></body></html>"
    ) in err
    assert "replaced" not in err and "Traceback" not in err
    assert harness("run", project, tmp_path / "replayed.json", remember) == 0  # the old takes still replay
