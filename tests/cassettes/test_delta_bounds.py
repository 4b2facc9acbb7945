"""The bounds on what a cassette's deltas rebuild (`delta.Budget`): a written cassette is never refused, a
few KB of hand-edited or hostile deltas are, quickly, naming the interaction."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given

from harness.cassettes import delta, format
from harness.cassettes.keys import canonical
from harness.cassettes.replay import ReplayCassette
from harness.errors import CassetteError
from tests.cassettes.test_format import as_sent, as_vcr, conversations

HEAD = "version: 1\ninteractions:\n"
URI = "http://127.0.0.1:8088/v1/chat/completions"


def whole(body: str) -> str:
    return f"- request:\n    uri: {URI}\n    body: |\n      {body}\n  response:\n    body: |\n      {{}}\n"


def as_delta(text: str) -> str:
    return (
        f"- request:\n    uri: {URI}\n    body:\n      delta: |\n        {text}\n  response:\n    body: |\n      {{}}\n"
    )


def doubling(deltas: int) -> str:
    """Each delta rebuilds the one before twice over: 2**deltas messages from a few KB."""
    items = [whole('{"model": "m", "messages": [{"role": "user", "content": "x"}]}')]
    items += [
        as_delta(f'{{"messages": [{{"same": [0, {2**k - 1}]}}, {{"same": [0, {2**k - 1}]}}]}}') for k in range(deltas)
    ]
    return HEAD + "".join(items)


def held(bodies: list[Any]) -> tuple[int, int, int]:
    """The messages the requests hold in all, the characters of their messages' texts, and the length of
    the JSON of their other values."""
    objects = [b for b in map(as_sent, bodies) if isinstance(b, dict)]
    chats = [b["messages"] for b in objects if isinstance(b.get("messages"), list)]
    contents = [m.get("content") if isinstance(m, dict) else None for messages in chats for m in messages]
    others = sum(len(canonical(v)) for b in objects for k, v in b.items() if k != "messages")
    return sum(map(len, chats)), sum(len(c) for c in contents if isinstance(c, str)), others


def bounded(messages: int, characters: int, kept: int = 1_000_000) -> Any:
    return mock.patch.multiple(delta, MAX_MESSAGES=messages, MAX_CHARACTERS=characters, MAX_KEPT=kept)


@given(conversations())
def test_a_written_cassette_is_read_within_what_its_conversation_holds(bodies: list[Any]) -> None:
    """The budget counts the conversation, not how the writer encoded it: every message each request holds
    (exactly), and no more text than the file and the messages' texts (edited ones are made anew)."""
    text = format.dump(as_vcr(bodies))
    messages, characters, others = held(bodies)
    with bounded(messages, len(text) + characters, others):
        for keys_only in (False, True):
            format.parse(text, "c.yaml", keys_only=keys_only)
    if messages:
        with (
            bounded(messages - 1, len(text) + characters, others),
            pytest.raises(CassetteError, match="messages in all"),
        ):
            format.parse(text, "c.yaml")


def test_a_long_conversation_with_a_big_system_message_edited_at_every_step_is_read() -> None:
    """200 turns, a 100 KB system message edited at each: 20 MB of distinct texts from a file under 1 MB
    (README's example, read with the real bounds)."""
    system = "".join(f"line {i} of the persona block, some text here\n" for i in range(2500))
    bodies: list[Any] = []
    history: list[dict[str, Any]] = []
    for turn in range(200):
        system = system.replace(f"line {turn} ", f"line {turn}, seen at turn {turn}, ", 1)
        history.append({"role": "user", "content": f"message {turn}"})
        bodies.append({"model": "m", "messages": [{"role": "system", "content": system}, *history]})
        history.append({"role": "assistant", "content": f"answer {turn}"})
    text = format.dump(as_vcr(bodies))
    read = format.parse(text, "c.yaml")
    assert [i.request.body["messages"][0]["content"] for i in read.interactions] == [
        b["messages"][0]["content"] for b in bodies
    ]
    assert len(text) < 1e6 and sum(len(b["messages"][0]["content"]) for b in bodies) > 20e6
    assert sum(len(b["messages"]) for b in bodies) == 40_200


def test_deltas_that_double_a_request_are_refused_quickly_at_their_interaction() -> None:
    """40 deltas (8 KB) would rebuild 2**40 messages: refused past 4 million, in a fraction of a second."""
    text = doubling(40)
    started = time.perf_counter()
    with pytest.raises(CassetteError) as error:
        format.parse(text, "cassettes/bomb.yaml")
    assert time.perf_counter() - started < 2
    assert error.value.path == "cassettes/bomb.yaml"
    line = format.interaction_line(text, 21)
    assert error.value.reason == (
        f"not a cassette the harness reads: interaction 21 (line {line}): its requests hold more than 4,000,000 "
        "messages in all, rebuilt from their deltas (a message reused counted again): far more than a recording holds"
    )


def test_edits_of_a_long_message_are_refused_before_the_text_they_make_would_pass_the_budget() -> None:
    """Each one-character edit of a long message makes a new text as long: counted in full, before it is made."""
    big = "a" * 100_000
    text = HEAD + whole(json.dumps({"messages": [{"role": "system", "content": big}]}))
    text += "".join(as_delta(f'{{"messages": [{{"edit": 0, "at": {i}, "cut": 1, "insert": "b"}}]}}') for i in range(30))
    made: list[int] = []
    spliced = delta._spliced
    with (
        bounded(1000, 1_000_000),
        mock.patch.object(delta, "_spliced", lambda *args: made.append(1) or spliced(*args)),
        pytest.raises(CassetteError, match=r"interaction 9 \(line \d+\): its requests and answers hold more than 0 MB"),
    ):
        format.parse(text, "c.yaml")
    # the file's text (100 KB) and 8 edits fit in 1,000,000 characters; the 9th is refused before it is made
    assert len(made) == 9


def test_deltas_without_messages_count_the_messages_they_keep() -> None:
    """A delta that changes no message keeps its base's list: held and keyed again by each request."""
    text = HEAD + whole('{"messages": [' + ", ".join(['{"role": "user", "content": "x"}'] * 10) + "]}")
    text += as_delta('{"set": {"temperature": 1}}') * 5
    with bounded(60, 1_000_000):
        format.parse(text, "c.yaml")
    with (
        bounded(59, 1_000_000),
        pytest.raises(CassetteError, match=r"interaction 5 .*: its requests hold more than 59"),
    ):
        format.parse(text, "c.yaml")


def test_deltas_that_keep_big_tools_count_them_in_each_request() -> None:
    """A delta keeps its base's tools without copying them, but each request is keyed with them again:
    1 MB of tools kept by 100,000 empty deltas (a 10 MB file) was hours of `cassettes check`."""
    tools = [{"type": "function", "function": {"name": "f", "description": "d" * 10_000}}]
    text = HEAD + whole(json.dumps({"tools": tools, "messages": [{"role": "user", "content": "x"}]}))
    text += as_delta("{}") * 20 + as_delta(json.dumps({"set": {"tools": tools * 2}})) + as_delta("{}") * 20
    size = len(canonical(tools))
    with bounded(1000, 1_000_000, 20 * size + 2 * (size + 1) * 21):  # a list of two is one comma longer
        format.parse(text, "c.yaml")
    with bounded(1000, 1_000_000, 30 * size), pytest.raises(CassetteError) as error:
        format.parse(text, "c.yaml")
    assert "interaction 26 (line " in error.value.reason
    assert error.value.reason.endswith(
        "more than 0 MB of settings and tools in all, as JSON (each request counting those its delta keeps from "
        "its base again): far more than a recording holds"
    )


@pytest.mark.parametrize("where", ["request", "response"])
def test_a_text_a_yaml_alias_repeats_counts_each_time(where: str) -> None:
    """An alias stands for a long body at the cost of a few characters; each request or answer decodes it."""
    body = json.dumps({"messages": [{"role": "user", "content": "x" * 1000}]})
    first = f"- request: {{uri: {URI}, body: &b '{body}'}}\n  response: {{body: '{{}}'}}\n"
    if where == "response":
        first = f"- request: {{uri: {URI}, body: '{{}}'}}\n  response: {{body: &b '{body}'}}\n"
    again = (
        f"- request: {{uri: {URI}, body: *b}}\n" if where == "request" else f"- request: {{uri: {URI}, body: '{{}}'}}\n"
    )
    again += "  response: {body: *b}\n" if where == "response" else "  response: {body: '{}'}\n"
    text = HEAD + first + again * 20
    with bounded(1000, 10_000), pytest.raises(CassetteError, match=r"interaction [0-9] .*more than 0 MB of text"):
        format.parse(text, "c.yaml")


def test_keying_a_cassette_in_a_process_out_of_memory_is_one_error_naming_it(tmp_path: Path) -> None:
    """`cassettes check` keys every body: a MemoryError there was a traceback, not the cassette's error."""
    cassette = tmp_path / "c.yaml"
    cassette.write_text(doubling(2), encoding="utf-8")

    def exhausted(*args: Any) -> str:
        raise MemoryError

    with mock.patch("harness.cassettes.replay.Keyer.digest", exhausted), pytest.raises(CassetteError) as error:
        ReplayCassette(cassette, verify=True)
    assert error.value.reason.startswith("too big (0 MB) to read in the memory this process may use")
