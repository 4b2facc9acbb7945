"""Why a request missed, and whose doing that is: another loop's request than the recording's, or fields the
harness itself adds changed (an upgrade), told apart from a change to the user's files."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cassettes.diff import fingerprint_loop, harness_changes, miss_cause, request_loop
from harness.llm.chat import chat_request
from harness.llm.settings import ModelSettings, ToolChoice
from harness.loops import kinds
from harness.loops.kinds import LoopName

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
