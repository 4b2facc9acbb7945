"""Provider flavours, each from a real response body (tests/llm/provider_bodies/, source noted in each
file): recorded through a local stub server with the real stack (openai SDK + vcrpy), then replayed
offline to the very same run (the JSON report of the replay equals the recording's, every recorded
exchange played)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.report import write_report
from harness.scenarios.runner import ScenarioResult
from harness.secrets import MASK
from tests.fakes import MODEL, FakeOpenAI, Project, Raw, Received, make_project, reply

BODIES = Path(__file__).parent / "provider_bodies"
AGENTS = """
defaults:
  loop: {loop}
  model: {{name: {model}, base_url: "{base_url}", max_retries: {retries}, timeout: 10, temperature: 0{extra}}}
  tools: [send_message, core_memory_append, core_memory_replace]
  max_steps: 4
agents:
  chat:
    system: You are a test agent with memory.
    blocks:
      - {{label: persona, value: "You are a helpful assistant"}}
      - {{label: human, value: "Name: Bob"}}
"""
ONE_TURN = "agent: chat\nturns:\n  - user: {user}\n"
TWO_TURNS = "agent: chat\nturns:\n  - user: hello\n  - user: and now?\n"


def answers(flavour: str) -> list[Raw]:
    data = json.loads((BODIES / f"{flavour}.json").read_text(encoding="utf-8"))
    assert data["source"]  # every body says where it comes from
    return [
        Raw(json.dumps(a["json"]), a.get("status", 200))
        if "json" in a
        else Raw(a["text"], a.get("status", 200), a.get("content_type", "application/json"))
        for a in data["answers"]
    ]


def report(result: ScenarioResult, path: Path, root: Path) -> dict[str, Any]:
    """The JSON report, without timings, and with the endpoint's port (the stub's, or the unreachable one
    replay is given) as PORT."""
    write_report([result], path, root)
    text = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", path.read_text(encoding="utf-8"))
    data: dict[str, Any] = json.loads(text)
    for scenario in data["scenarios"]:
        del scenario["timing"]
    return data


class Flavour:
    """One flavour recorded through the stub and replayed."""

    def __init__(
        self,
        root: Path,
        scenario: str,
        base_path: str = "/v1",
        extra: str = "",
        retries: int = 0,
        loop: str = "harness",
    ) -> None:
        self.project: Project = make_project(root, {"it": scenario})
        self.loop = loop
        self.base_path = base_path
        self.extra = extra
        self.retries = retries
        self.received: list[Received] = []

    def write_agents(self, base_url: str) -> None:
        text = AGENTS.format(
            model=MODEL, base_url=base_url, extra=self.extra, retries=self.retries, loop=self.loop
        ).lstrip()
        self.project.agents.write_text(text, encoding="utf-8")

    def run(self, responses: list[Any]) -> tuple[ScenarioResult, ScenarioResult]:
        with FakeOpenAI(list(responses)) as server:
            self.write_agents(server.base_url.removesuffix("/v1") + self.base_path)
            recorded = self.project.runner("all").run(self.project.scenario("it"))
            self.received = server.received
            assert not server.responses, "scripted answers left unused"
        self.write_agents("http://127.0.0.1:9" + self.base_path)  # nothing listens there: replay is offline
        replayed = self.project.runner("none").run(self.project.scenario("it"))
        root = self.project.root
        assert report(replayed, root / "replayed.json", root) == report(recorded, root / "recorded.json", root)
        assert replayed.unplayed == [] and replayed.stale == []
        again = self.project.runner("none").run(self.project.scenario("it"))
        assert report(again, root / "again.json", root) == report(replayed, root / "replayed.json", root)
        return recorded, replayed

    @property
    def cassette(self) -> str:
        return (self.project.cassettes / "it.yaml").read_text(encoding="utf-8")


def steps(result: ScenarioResult) -> list[Any]:
    return [step for turn in result.turns if turn.result for step in turn.result.steps]


def test_mistral_tool_call_without_type_runs_and_its_id_goes_back(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, ONE_TURN.format(user="What's the status of my transaction T1001?"))
    recorded, _ = flavour.run([*answers("mistral"), reply("It is paid.")])
    first = steps(recorded)[0]
    assert [(c.name, c.call_id, c.ok) for c in first.tool_calls] == [("retrieve_payment_status", "D681PevKs", False)]
    assert "No function named 'retrieve_payment_status'" in first.tool_calls[0].result  # run, not dropped
    second = flavour.received[1].body["messages"]
    assert second[2]["tool_calls"][0]["id"] == "D681PevKs" and second[3]["tool_call_id"] == "D681PevKs"
    assert second[2]["tool_calls"][0]["type"] == "function"
    assert recorded.turns[0].result is not None and recorded.turns[0].result.stop_reason == "replied"


def test_mistral_under_letta_memgpt_with_mistral_tool_call_ids_gets_only_ids_it_accepts(tmp_path: Path) -> None:
    """Letta 0.6's boot call id (a uuid cut to 29 characters) is refused by Mistral; with
    `mistral_tool_call_ids: true` every id in every request is 9 letters and digits: the boot call's, and
    Mistral's own, kept."""
    flavour = Flavour(
        tmp_path,
        ONE_TURN.format(user="What's the status of my transaction T1001?"),
        extra=", mistral_tool_call_ids: true",
        loop="letta-memgpt",
    )
    recorded, _ = flavour.run([*answers("mistral"), reply("It is paid.")])
    assert recorded.outcome == "passed" and len(flavour.received) == 2
    for received in flavour.received:
        messages = received.body["messages"]
        ids = [c["id"] for m in messages for c in m.get("tool_calls") or ()]
        ids += [m["tool_call_id"] for m in messages if m["role"] == "tool"]
        assert ids and all(re.fullmatch(r"[a-zA-Z0-9]{9}", i) for i in ids), ids
    assert "D681PevKs" in json.dumps(flavour.received[1].body)


def test_tgi_arguments_given_as_an_object_are_json_text(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, ONE_TURN.format(user="What's the weather in New York?"))
    recorded, _ = flavour.run([*answers("tgi_parameters_object"), reply("Sunny.")])
    call = steps(recorded)[0].tool_calls[0]
    assert call.name == "tools" and call.call_id == "0"  # a number as id: its text
    expected = {"format": "celsius", "location": "New York, NY", "num_days": 14}
    assert json.loads(call.arguments) == expected
    echoed = flavour.received[1].body["messages"][2]["tool_calls"][0]
    assert echoed["id"] == "0" and isinstance(echoed["function"]["arguments"], str)
    assert json.loads(echoed["function"]["arguments"]) == expected


def test_gemini_content_parts_and_repeated_ids(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, ONE_TURN.format(user="What is 2 + 2?"))
    recorded, _ = flavour.run([*answers("gemini_content_parts"), reply("4")])
    first = steps(recorded)[0]
    assert first.content == "\n\n"  # the text parts, joined
    ids = [c.call_id for c in first.tool_calls]
    assert ids[0] == "add" and len(set(ids)) == 3
    assert all(re.fullmatch(r"[a-zA-Z0-9]{9}", i) for i in ids[1:])
    assert [m["tool_call_id"] for m in flavour.received[1].body["messages"][3:6]] == ids


def test_gemini3_thought_signature_is_echoed_and_kept_in_the_cassette(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, ONE_TURN.format(user="Check flight AA100"))
    recorded, replayed = flavour.run([*answers("gemini3_thought_signature"), reply("On time.")])
    call = steps(recorded)[0].tool_calls[0]
    assert call.call_id == "function-call-1"  # the provider's own id goes back to it
    sent = flavour.received[1].body["messages"][2]["tool_calls"][0]
    assert sent["extra_content"] == {"google": {"thought_signature": "<Signature A>"}}
    assert sent["id"] == "function-call-1" and sent["function"]["name"] == "check_flight"
    assert flavour.cassette.count("<Signature A>") == 2  # the answer, and the request that echoed it
    assistant = replayed.turns[0].messages[1]  # in history, replayed
    assert assistant["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "<Signature A>"}}


def test_deepseek_reasoning_content_stays_in_history(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, TWO_TURNS)
    recorded, _ = flavour.run([*answers("deepseek_reasoning"), reply("Nothing new.")])
    assert recorded.turns[0].result is not None
    assert recorded.turns[0].result.reply == "Hello! How can I assist you today?"
    assistant = flavour.received[1].body["messages"][2]
    assert assistant["role"] == "assistant" and assistant["reasoning_content"].startswith("Okay, the user wrote")


def test_a_refusal_is_the_step_record_and_the_stop_reason(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, ONE_TURN.format(user="Help me with something bad"))
    recorded, replayed = flavour.run(answers("openai_refusal"))
    for result in (recorded, replayed):
        turn = result.turns[0].result
        assert turn is not None and turn.stop_reason == "refused" and turn.replies == ()
        assert turn.steps[0].refusal == "I'm very sorry, but I can't assist with that."
        assert turn.steps[0].finish_reason == "stop"


def test_finish_reason_length_and_content_filter_end_the_turn_saying_so(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, TWO_TURNS)
    recorded, _ = flavour.run(answers("finish_length_and_filter"))
    turns = [t.result for t in recorded.turns]
    assert [t.stop_reason for t in turns if t] == ["length", "content_filter"]
    assert [s.finish_reason for s in steps(recorded)] == ["length", "content_filter"]
    data = json.loads((flavour.project.root / "recorded.json").read_text(encoding="utf-8"))
    assert [t["steps"][0]["finish_reason"] for t in data["scenarios"][0]["turns"]] == ["length", "content_filter"]


def test_azure_deployment_url_api_version_and_api_key_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "azure-key-" + "7" * 22
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", key)
    flavour = Flavour(
        tmp_path,
        ONE_TURN.format(user="How do I access telemedicine services?"),
        base_path="/openai/deployments/gpt-35-turbo?api-version=2024-10-21",
        extra=", api_key_env: AZURE_OPENAI_API_KEY, key_header: api-key",
    )
    recorded, _ = flavour.run([*answers("azure_content_filter"), reply("Use the app.")])
    for received in flavour.received:
        assert received.path == "/openai/deployments/gpt-35-turbo/chat/completions?api-version=2024-10-21"
        assert received.headers["api-key"] == key
        assert "authorization" not in received.headers
    first = steps(recorded)[0]
    assert first.content == "this is the query"
    assert [c.name for c in first.tool_calls] == ["search_sources"]
    assert key not in flavour.cassette


def test_a_streamed_answer_is_recorded_readable_and_replayed(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, ONE_TURN.format(user="Weather in Boston?"), extra=", stream: true")
    recorded, _ = flavour.run(answers("openai_stream"))
    assert all(r.body["stream"] is True for r in flavour.received)
    first, second = steps(recorded)
    call = first.tool_calls[0]
    assert (call.name, call.call_id, json.loads(call.arguments)) == (
        "get_current_weather",
        "call_9ctHOJqO3bYrpm2A6S7nHd5k",
        {"location": "Boston, MA"},
    )
    assert first.usage == {"prompt_tokens": 83, "completion_tokens": 17, "total_tokens": 100}
    assert recorded.turns[0].result is not None and recorded.turns[0].result.reply == (
        "Hello! I'm just a computer program, so I don't have feelings, but I'm here and ready to help you "
        "with whatever you need. How can I assist you today?"
    )
    assert second.finish_reason == "stop"
    # Stored as the event stream it was, one event a line, readable.
    bodies = [i["response"]["body"] for i in yaml.safe_load(flavour.cassette)["interactions"]]
    assert all(isinstance(b, str) and b.startswith("data: {") for b in bodies)
    assert 'data: {"id":"chatcmpl-9blY98pEJe6mXGKivCZyl61vxaUFq"' in flavour.cassette


def test_groq_tool_use_failed_is_recorded_and_replays_to_the_same_located_error(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, TWO_TURNS)
    recorded, replayed = flavour.run(answers("groq_tool_use_failed"))
    says = (
        "answered HTTP 400: Failed to call a function. Please adjust your prompt. See 'failed_generation' for "
        "more details. (tool_use_failed)"
    )
    for result in (recorded, replayed):
        assert result.outcome == "error" and result.error is not None
        assert result.error.startswith(f"{flavour.project.scenario_path('it')}:3: turns[0].user: turn 1, step 1: ")
        assert says in result.error
        assert len(result.turns) == 1  # the second turn never ran
    interaction = yaml.safe_load(flavour.cassette)["interactions"][0]
    assert interaction["response"]["status"] == 400


def test_a_retried_server_error_is_recorded_and_replayed_as_the_sdk_retried(tmp_path: Path) -> None:
    flavour = Flavour(tmp_path, ONE_TURN.format(user="hello"), retries=1)
    overloaded = Raw(json.dumps({"error": {"message": "The server is overloaded", "type": "server_error"}}), 503)
    recorded, replayed = flavour.run([overloaded, reply("Hi!")])
    assert len(flavour.received) == 2  # the SDK sent it again
    for result in (recorded, replayed):
        assert result.outcome == "passed" and result.turns[0].result is not None
        assert result.turns[0].result.reply == "Hi!"
    assert [i["response"].get("status", 200) for i in yaml.safe_load(flavour.cassette)["interactions"]] == [503, 200]


def test_the_account_ids_in_error_answers_never_reach_the_cassette(tmp_path: Path) -> None:
    """Groq's 429 (recorded as a retry before the answer) names the organization; OpenRouter's 400 (here one
    about the request: recorded) carries the account's `user_id`. Masked in the cassette, and in what the
    recording run saw, so its replay reports the same."""
    org, user = "org_01jexampleorg0000000000000", "user_2exampleUserId0000000000000"
    limited = {
        "error": {
            "message": f"Rate limit reached for model `{MODEL}` in organization `{org}` service tier `on_demand` on "
            "tokens per minute (TPM): Limit 6000, Used 5034, Requested 1443. Please try again in 0s.",
            "type": "tokens",
            "code": "rate_limit_exceeded",
        }
    }
    flavour = Flavour(tmp_path / "groq", ONE_TURN.format(user="hello"), retries=1)
    recorded, _ = flavour.run([Raw(json.dumps(limited), 429), reply("Hi!")])
    assert recorded.outcome == "passed"
    assert org not in flavour.cassette and f"in organization `{MASK}`" in flavour.cassette
    too_long = {"error": {"message": "This endpoint's maximum context length is 8192 tokens.", "code": 400}}
    flavour = Flavour(tmp_path / "openrouter", ONE_TURN.format(user="hello"))
    recorded, _ = flavour.run([Raw(json.dumps({**too_long, "user_id": user}), 400)])
    assert recorded.error is not None and recorded.error_recorded
    assert user not in flavour.cassette and f'"user_id":"{MASK}"' in flavour.cassette


@pytest.mark.parametrize("mode", ["none", "new"])
def test_recorded_retries_replay_whatever_max_retries_says_now(tmp_path: Path, mode: str) -> None:
    """How many retries the client may make is no part of what the model was asked: a cassette recorded
    with `max_retries: 2` replays once it is 0 (this project's own agents.yaml says 0), in replay and in a
    recording session playing the cassette back; it answered "HTTP 429" with nothing contacted before."""
    flavour = Flavour(tmp_path, ONE_TURN.format(user="hello"), retries=2)
    limited = Raw(json.dumps({"error": {"message": "rate limited", "type": "rate_limit"}}), 429)
    flavour.run([limited, limited, reply("Hi!")])
    flavour.retries = 0
    flavour.write_agents("http://127.0.0.1:9/v1")  # nothing listens there
    result = flavour.project.runner(mode).run(flavour.project.scenario("it"))
    assert result.outcome == "passed", result.error
    assert result.turns[0].result is not None and result.turns[0].result.reply == "Hi!"
    statuses = [i["response"].get("status", 200) for i in yaml.safe_load(flavour.cassette)["interactions"]]
    assert statuses == [429, 429, 200]


def test_azure_streamed_answer_takes_its_model_from_the_chunks_that_name_one(tmp_path: Path) -> None:
    """Azure's first chunk names no model (`"model": ""`, `"created": 0`): the step's model is the one the
    later chunks name, live and replayed."""
    flavour = Flavour(tmp_path, ONE_TURN.format(user="'Translate to German: Hello world!'"), extra=", stream: true")
    recorded, replayed = flavour.run(answers("azure_stream"))
    for result in (recorded, replayed):
        (step,) = steps(result)
        assert (step.model, step.content, step.finish_reason) == ("gpt-4o-2024-08-06", "Hallo Welt!", "stop")
    data = json.loads((flavour.project.root / "recorded.json").read_text(encoding="utf-8"))
    assert data["scenarios"][0]["turns"][0]["steps"][0]["model"] == "gpt-4o-2024-08-06"


def test_groq_streamed_usage_under_x_groq_is_kept(tmp_path: Path) -> None:
    """Groq streams its token counts only in the last chunk's `x_groq.usage`: the step keeps them, as it
    keeps a non-streamed answer's `usage`."""
    flavour = Flavour(tmp_path, ONE_TURN.format(user="Plan a party"), extra=", stream: true")
    recorded, replayed = flavour.run([*answers("groq_stream"), reply("Done.")])
    for result in (recorded, replayed):
        first = steps(result)[0]
        assert [(c.name, c.call_id) for c in first.tool_calls] == [("test-tool", "call_O17Uplv4lJvD6DVdIvFFeRMw")]
        assert first.model == "gemma2-9b-it"
        assert first.usage["total_tokens"] == 457 and first.usage["queue_time"] == 0.061348671


def test_openrouter_choice_level_outage_errors_the_scenario_with_its_message_and_is_not_recorded(
    tmp_path: Path,
) -> None:
    """OpenRouter answers 200, then its upstream fails: the choice ends with `finish_reason: "error"` and an
    `error` whose code (502) says nothing of the model. As the same error at the top of the body: the
    scenario errors with the provider's message, and the answer is not written into the cassette."""
    flavour = Flavour(tmp_path, ONE_TURN.format(user="I am Azin, a data scientist"))
    with FakeOpenAI(answers("openrouter_choice_error")) as server:
        flavour.write_agents(server.base_url)
        result = flavour.project.runner("all").run(flavour.project.scenario("it"))
    assert result.outcome == "error" and result.error is not None
    assert result.error.endswith(
        "answered with a choice that ended in an error: Upstream provider stream was interrupted (502)"
    )
    cassettes = flavour.project.cassettes
    written = [p.read_text(encoding="utf-8") for p in cassettes.rglob("*")] if cassettes.exists() else []
    assert not any("Upstream provider" in text for text in written)
