"""Why a request missed, and whose doing that is: another loop's request than the recording's, or fields the
harness itself adds changed (an upgrade), told apart from a change to the user's files. And the diff that
shows it: an empty one means the very body was recorded (replay then blames the stored key), so two bodies
that differ must never render alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cassettes.diff import (
    fingerprint_loop,
    harness_changes,
    loop_change,
    masked_secret,
    miss_cause,
    nearest_recorded,
    request_lines,
    request_loop,
    tool_result_change,
)
from harness.cassettes.keys import canonical
from harness.errors import CassetteMiss, MissedRequest
from harness.llm.chat import chat_request
from harness.llm.settings import ModelSettings, ToolChoice
from harness.loops import kinds
from harness.loops.kinds import LoopName
from harness.secrets import MASK, Secrets

MESSAGES = [{"role": "system", "content": "You are a test agent."}, {"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "send_message", "parameters": {"type": "object"}}}]
USER_SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.sampled_from([0.0, 0.7]),
        "max_tokens": st.integers(1, 9),
        "seed": st.integers(0, 9),
        "stream": st.just(True),
        "tool_choice": st.sampled_from(["auto", "required"]),
    },
)


def request(loop: LoopName, settings: dict[str, Any], tools: bool = True) -> dict[str, Any]:
    """A chat request exactly as an agent of `loop` sends it (the fields its loop adds, as agents.yaml's
    compiler gives them)."""
    given = {**settings, "tool_choice": ToolChoice(settings.get("tool_choice", kinds.default_tool_choice(loop)))}
    model = ModelSettings(
        name="m",
        **given,
        extra_body=kinds.extra_body(loop),
        tools_body=kinds.tools_body(loop),
        parallel_by_model=kinds.parallel_by_model(loop),
    )
    return chat_request(model, list(MESSAGES), TOOLS if tools else [])


@given(st.sampled_from(list(LoopName)), USER_SETTINGS, st.booleans())
def test_a_request_tells_the_loop_that_sent_it_whatever_the_user_set(
    loop: LoopName, settings: dict[str, Any], tools: bool
) -> None:
    assert request_loop(request(loop, settings, tools)) is loop


@given(st.sampled_from(list(LoopName)), USER_SETTINGS, USER_SETTINGS)
def test_a_change_of_the_users_settings_is_never_taken_for_the_harnesss(
    loop: LoopName, before: dict[str, Any], after: dict[str, Any]
) -> None:
    old, new = request(loop, before), request(loop, after)
    assert harness_changes(old, new) == []
    assert miss_cause(old, new) is None


def test_fields_the_harness_adds_alone_are_said_field_by_field() -> None:
    """An upgrade stopped sending `parallel_tool_calls: false` beside no tools: every judge and simulated user
    request missed, and the reason blamed the judge's rubric or the persona."""
    now = request(LoopName.LETTA_MEMGPT, {}, tools=False)
    recorded = {**now, "parallel_tool_calls": False}
    assert harness_changes(recorded, now) == ["parallel_tool_calls false -> not sent"]
    assert miss_cause(recorded, now) == (
        "nothing the agents file or the scenario gives this request changed, but the harness sends it otherwise "
        "than the one that recorded it did (an upgrade?): parallel_tool_calls false -> not sent; record it again"
    )
    assert harness_changes({**recorded, "temperature": 0.5}, now) == []  # and the user's too: not said so
    assert harness_changes({**recorded, "messages": []}, now) == []


@pytest.mark.parametrize("recorded_under", [LoopName.HARNESS, LoopName.LETTA_V1])
def test_a_request_of_another_loop_than_the_recordings_names_the_setting_that_replays_it(
    recorded_under: LoopName,
) -> None:
    recorded = request(recorded_under, {})
    assert miss_cause(recorded, request(LoopName.LETTA_MEMGPT, {})) == (
        f"the cassette was recorded under `loop: {recorded_under}`, and this request is letta-memgpt's "
        f"(letta-memgpt is the default loop since 2026-11-24): `loop: {recorded_under}` on the agent (or in "
        "`defaults:` of the agents file) replays it, or record it again"
    )
    # a recorded request whose fields are no loop's of today: the cassette's metadata says which
    odd = {**recorded, "top_p": 1}
    assert request_loop(odd) is None
    assert miss_cause(odd, request(LoopName.LETTA_V1, {}), recorded_under) is not None
    assert miss_cause(odd, request(recorded_under, {}), recorded_under) == (
        "nothing the agents file or the scenario gives this request changed, but the harness sends it otherwise "
        "than the one that recorded it did (an upgrade?): top_p 1 -> not sent; record it again"
    )


@pytest.mark.parametrize(
    ("loop", "told"),
    [
        ({"max_steps": 4}, LoopName.HARNESS),  # recorded before loops were named: the harness's own
        ({"max_steps": 4, "flavour": "letta-v1"}, LoopName.LETTA_V1),
        ({"flavour": "a-newer-loop"}, None),
        ("edited by hand", None),
    ],
)
def test_the_fingerprint_says_which_loop_recorded_a_cassette(loop: Any, told: LoopName | None) -> None:
    assert fingerprint_loop({"agent": {"fingerprint": "x", "parts": {"loop": loop}}}) is told
    assert fingerprint_loop({}) is None


# ------------------------------------------------------------------ the diff

# "\n" and every other character `str.splitlines` breaks at, a quote and a backslash (what a JSON string
# shows escaped), and text.
_TEXT = st.text(alphabet=st.sampled_from(list('a é"\\\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\t')), max_size=8)
_HIDDEN = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _chat(content: Any, **fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "system", "content": content, **fields}]}


def _changed(diff: tuple[str, ...]) -> list[str]:
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")]


def test_a_prompt_with_crlf_line_endings_shows_its_carriage_returns() -> None:
    """A CRLF checkout's prompt against the LF one recorded: `splitlines` read both as the same lines, the diff
    was empty, and replay said the cassette's key was edited by hand."""
    found = nearest_recorded([_chat("You are Sam.\nBe brief.")], [False], _chat("You are Sam.\r\nBe brief."))
    assert found is not None
    assert _changed(found.diff) == ["-You are Sam.", '+"You are Sam.\\r"']


def test_a_trailing_newline_is_a_difference() -> None:
    found = nearest_recorded([_chat("Be brief.")], [False], _chat("Be brief.\n"))
    assert found is not None
    assert _changed(found.diff) == ["+"]


@given(_TEXT)
def test_no_line_holds_a_character_a_terminal_or_splitlines_breaks_at(text: str) -> None:
    for line in request_lines(_chat(text)) + request_lines(text):
        assert not any(char in line for char in "\n" + _HIDDEN)


@given(_TEXT, _TEXT)
def test_two_texts_render_alike_only_when_equal(a: str, b: str) -> None:
    assert (request_lines(_chat(a)) == request_lines(_chat(b))) == (a == b)


def test_a_line_that_reads_as_a_json_string_is_told_from_the_line_it_would_show() -> None:
    """A line holding a carriage return is shown as a JSON string; a line that is that JSON string, quotes and
    all, is shown quoted again."""
    assert request_lines(_chat("a\r"))[-1] == '"a\\r"'
    assert request_lines(_chat('"a\\r"'))[-1] == '"\\"a\\\\r\\""'
    assert request_lines(_chat('"quoted" then text'))[-1] == '"quoted" then text'  # read as it is


def test_fields_a_provider_needs_echoed_are_diffed() -> None:
    """DeepSeek's `reasoning_content` beside a message, Gemini's `extra_content` beside a call: a miss on
    one of them had an empty diff."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    recorded = _chat(None, tool_calls=[call], reasoning_content="think")
    sent = _chat(None, tool_calls=[{**call, "extra_content": {"google": {"thought_signature": "x"}}}])
    found = nearest_recorded([recorded], [False], sent)
    assert found is not None
    assert _changed(found.diff) == [
        '-reasoning_content: "think"',
        '+tool_call c1 extra_content: {"google": {"thought_signature": "x"}}',
    ]


_KEYS = st.sampled_from(["id", "a", "name"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.floats(-1, 1) | _TEXT,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_KEYS, inner, max_size=2),
    max_leaves=6,
)
_CALL = st.fixed_dictionaries({}, optional={"id": _JSON, "type": _JSON, "function": _JSON, "x": _JSON})
_MESSAGE = st.fixed_dictionaries(
    {}, optional={"role": _JSON, "content": _JSON, "tool_calls": st.lists(_CALL, max_size=2) | _JSON, "name": _JSON}
)
_BODY = st.fixed_dictionaries({}, optional={"model": _JSON, "messages": st.lists(_MESSAGE, max_size=2) | _JSON})


@given(_BODY, _BODY, st.booleans())
def test_the_diff_is_empty_exactly_when_the_bodies_are_the_same_request(
    recorded: dict[str, Any], sent: dict[str, Any], as_text: bool
) -> None:
    """Whatever a hand-edited body holds where a message, a call or a role belongs."""
    found = nearest_recorded([json.dumps(recorded) if as_text else recorded], [False], sent)
    assert found is not None
    assert (found.diff == ()) == (canonical(recorded) == canonical(sent))


def said(body: dict[str, Any], text: str, packaged: bool = False) -> dict[str, Any]:
    """`body` with its user message saying `text` (packaged as Letta 0.6's loop packages it)."""
    content = json.dumps({"type": "user_message", "message": text, "time": "now"}) if packaged else text
    login = {"role": "user", "content": json.dumps({"type": "login", "last_login": "Never"})}
    return {
        **body,
        "messages": [body["messages"][0], *([login] if packaged else []), {"role": "user", "content": content}],
    }


@given(
    st.sampled_from(list(LoopName)),
    st.sampled_from(list(LoopName)),
    st.text(min_size=1, max_size=20),
    st.text(min_size=1, max_size=20),
)
def test_another_loop_is_the_whole_cause_only_when_the_user_said_the_same(
    was: LoopName, now: LoopName, before: str, after: str
) -> None:
    """A miss under another loop whose user message was edited too: switching the loop back alone still
    misses, so the loop is not given as the cause in place of the guess; it is said beside it, with the edit."""
    recorded = said(request(was, {}), before, packaged=was is LoopName.LETTA_MEMGPT)
    sent = said(request(now, {}), after, packaged=now is LoopName.LETTA_MEMGPT)
    cause, also = miss_cause(recorded, sent), loop_change(recorded, sent)
    if was == now:
        assert cause is None and also is None
    elif before == after:
        assert cause is not None and cause.startswith(f"the cassette was recorded under `loop: {was}`")
        assert also is None
    else:
        assert cause is None
        assert also is not None and "what the user says differs too" in also
        assert also.endswith(f"`loop: {was}` alone would not replay it")


def test_a_miss_under_another_loop_with_an_edited_message_keeps_the_guess_and_shows_the_edit() -> None:
    recorded = said(request(LoopName.LETTA_MEMGPT, {}), "I work at a children's hospital in Toronto.", packaged=True)
    sent = said(request(LoopName.LETTA_V1, {}), "I work at a bakery in Lyon.")
    miss = CassetteMiss("c.yaml", MissedRequest("POST", "/chat/completions", sent), None)
    miss.cause, miss.also = miss_cause(recorded, sent), loop_change(recorded, sent)
    assert miss.reason("the scenario changed") == (
        "the scenario changed; this request is letta-v1's, the cassette was recorded under `loop: letta-memgpt`, "
        'and what the user says differs too (recorded "I work at a children\'s hospital in Toronto.", sent now '
        '"I work at a bakery in Lyon."): `loop: letta-memgpt` alone would not replay it'
    )
    # a setting of the user's (the model) differs beside the loop: said too
    other_model = {**said(request(LoopName.LETTA_V1, {}), "hi"), "model": "n"}
    assert miss_cause(said(request(LoopName.HARNESS, {}), "hi"), other_model) is None
    assert loop_change(said(request(LoopName.HARNESS, {}), "hi"), other_model) == (
        "this request is letta-v1's, the cassette was recorded under `loop: harness`, and the user's settings "
        "differ too (model): `loop: harness` alone would not replay it"
    )


# ------------------------------------------------------------------ a secret the recording masked


def _turn(text: str, *more: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": text}, *more]}


NAMED = Secrets.collect(environ={"MY_SERVICE_TOKEN": "tok-0123456789"})


def test_a_request_that_differs_only_where_the_recording_masked_a_secret_says_so() -> None:
    cause, notes = masked_secret(_turn(f"key {MASK}!"), _turn("key tok-0123456789!"), NAMED) or ("", [])
    assert cause == (
        f"the recorded request held a secret, masked as {MASK}, in message 1 (user), where this one has the value "
        "of MY_SERVICE_TOKEN; it cannot replay: keep secrets out of prompts, turns and tool results, then record "
        "it again"
    )
    assert notes == ["  message 1 (user) as recorded:", f"    key {MASK}!"]


def test_a_tool_result_is_named_by_its_tool() -> None:
    called = {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "lookup", "arguments": "{}"}}]}
    recorded = _turn("hi", called, {"role": "tool", "tool_call_id": "c1", "content": f"token {MASK}"})
    sent = _turn("hi", called, {"role": "tool", "tool_call_id": "c1", "content": "token something-else"})
    cause, _ = masked_secret(recorded, sent, NAMED) or ("", [])
    assert "in message 3 (tool: the result of lookup), where this one has other text (14 characters, not shown)" in (
        cause
    )
    assert "something-else" not in cause


def test_any_other_difference_is_not_put_down_to_the_secret() -> None:
    assert masked_secret(_turn(f"key {MASK}"), _turn("key x"), NAMED) is not None
    assert masked_secret(_turn(f"key {MASK}"), _turn("kay x"), NAMED) is None  # the user's text changed too
    assert masked_secret(_turn(f"key {MASK}"), {**_turn("key x"), "temperature": 1}, NAMED) is None
    assert masked_secret(_turn(f"key {MASK}"), _turn("key x", {"role": "user", "content": "more"}), NAMED) is None
    assert masked_secret(_turn("key"), _turn("key"), NAMED) is None  # the same request: no mask to blame
    assert masked_secret(_turn("key"), _turn("kay"), NAMED) is None
    assert masked_secret("text", "text", NAMED) is None


@given(
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    value=st.text(st.characters(codec="utf-8"), min_size=8, max_size=30),
)
def test_a_masked_secret_is_the_cause_exactly_when_nothing_else_differs(before: str, after: str, value: str) -> None:
    secrets = Secrets.collect(environ={"SOME_TOKEN": value})
    sent = _turn(before + value + after)
    recorded = secrets.mask_data(sent)
    told = masked_secret(recorded, sent, secrets)
    assert (told is not None) == (recorded != sent)
    if told is not None:  # names the secret, never shows the value sent, in the cause or the lines
        assert "the value of SOME_TOKEN" in told[0]
        assert value not in told[0] and all(value not in line for line in told[1])
    assert masked_secret(recorded, {**sent, "model": "other"}, secrets) is None  # a change outside the mask


def _letta_step(result: str, *, time: str = "2025-01-01 12:00:02 AM UTC+0000", tools: tuple[str, ...] = ("a",)) -> dict:
    """A Letta request after a call of `evaluate` answered `result`, offering `tools` next."""
    call = {"id": "call_1", "type": "function", "function": {"name": "evaluate", "arguments": "{}"}}
    content = json.dumps({"status": "OK", "message": result, "time": time})
    return {
        "model": "m",
        "messages": [
            *(dict(message) for message in MESSAGES),
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": content},
        ],
        "tools": [{"type": "function", "function": {"name": name}} for name in tools],
        "tool_choice": "required",
    }


def test_a_tool_returning_another_result_is_named_with_both_results_and_what_makes_it() -> None:
    """The Agent File's evaluate_candidate returns `random.random() > 0.5`, and a conditional rule offers
    send_email or reject by it: the miss is the tool's doing, not a change to the agent or the scenario."""
    said = tool_result_change(_letta_step("True", tools=("send_email",)), _letta_step("False", tools=("reject",)))
    assert said is not None
    assert said.startswith(
        "the tool 'evaluate' returned another result than when the cassette was recorded "
        '(recorded "True", now "False"): a tool that reads a clock, random numbers, files'
    )
    assert "agent_state.now()" in said


def test_a_plain_tool_result_is_quoted_shortened_where_it_differs() -> None:
    recorded, sent = _letta_step("x"), _letta_step("x")
    recorded["messages"][-1]["content"] = "A" * 200 + "1"
    sent["messages"][-1]["content"] = "A" * 200 + "2"
    said = tool_result_change(recorded, sent)
    assert said is not None
    assert '(recorded "…' + "A" * 20 in said and "A" * 100 not in said


@pytest.mark.parametrize(
    "change",
    ["earlier message", "time only", "another call", "a setting", "not a tool's"],
)
def test_anything_but_a_tool_result_differing_first_is_not_blamed_on_the_tool(change: str) -> None:
    recorded, sent = _letta_step("True"), _letta_step("False")
    if change == "earlier message":
        sent["messages"][1]["content"] = "hello"
    elif change == "time only":
        sent = _letta_step("True", time="2025-01-01 12:00:09 AM UTC+0000")
    elif change == "another call":
        sent["messages"][-1]["tool_call_id"] = "call_2"
    elif change == "a setting":
        sent["temperature"] = 0.5
    else:
        recorded["messages"][-1] = {"role": "user", "content": "True"}
        sent["messages"][-1] = {"role": "user", "content": "False"}
    assert tool_result_change(recorded, sent) is None
