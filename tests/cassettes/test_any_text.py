"""Cassettes survive any text a model writes: unicode line breaks (U+0085, U+2028, U+2029, \\x0b, \\x0c, \\r),
byte order marks, control characters and lone surrogates round-trip through the writer and the reader,
and through a whole record -> save -> load -> replay."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import jsontext
from harness.cassettes import format
from harness.report import write_report
from harness.store import Store
from tests.fakes import Raw, completion, make_project, reply
from tests.helpers import call

BREAKS = "\x85\u2028\u2029\x0b\x0c\r\n\ufeff\x00\x1b\t"
# Text with the awkward characters over-represented (hypothesis' text() alone rarely draws them).
TEXT = st.text(st.sampled_from(BREAKS) | st.characters(exclude_categories=["Cs"]), max_size=40)
ANY_TEXT = st.text(st.sampled_from(BREAKS) | st.characters(), max_size=40)  # lone surrogates too


def cassette(request_text: str, response_body: str) -> dict[str, Any]:
    body = {"model": "m", "messages": [{"role": "user", "content": request_text}]}
    return {
        "version": 1,
        "interactions": [
            {
                "request": {"method": "POST", "uri": "http://h/v1/chat/completions", "body": json.dumps(body)},
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {},
                    "body": {"string": response_body},
                },
            }
        ],
    }


@given(ANY_TEXT, ANY_TEXT)
def test_json_bodies_round_trip_through_the_file_format(request_text: str, answer: str) -> None:
    response = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]})
    text = format.dump(cassette(request_text, response))
    text.encode("utf-8")  # a file can hold it
    back = format.parse(text, "c.yaml").interactions[0]
    assert back.request.body["messages"][0]["content"] == request_text
    assert json.loads(back.response["body"]["string"])["choices"][0]["message"]["content"] == answer


@given(TEXT)
def test_text_bodies_round_trip_exactly(answer: str) -> None:
    body = "data: " + answer  # a body that is not JSON is stored as it is
    back = format.parse(format.dump(cassette("hi", body)), "c.yaml").interactions[0]
    assert back.response["body"]["string"] == body


def test_a_text_body_with_a_lone_surrogate_is_written_with_a_replacement_character() -> None:
    # An HTTP body is bytes decoded with replacement, so it never holds one; written anyway, never a crash.
    back = format.parse(format.dump(cassette("hi", "data: \ud800")), "c.yaml").interactions[0]
    assert back.response["body"]["string"] == "data: \ufffd"


@settings(max_examples=25)
@given(ANY_TEXT)
def test_any_model_text_comes_back_after_record_save_load_replay(answer: str) -> None:
    # Exactly, but for a lone surrogate, which comes back as U+FFFD (it could not be sent again).
    with tempfile.TemporaryDirectory() as folder:
        project = make_project(Path(folder) / "p", {"it": "agent: chat\nturns:\n  - user: say it\n"})
        answers = [completion(call("send_message", {"message": answer}), content=answer or None)]
        recorded, _ = project.record("it", answers)
        replayed = project.replay("it")
        for result in (recorded, replayed):
            turn = result.turns[0].result
            assert turn is not None, result.explain()
            assert turn.reply == jsontext.storable(answer)
            assert turn.steps[0].content == (jsontext.storable(answer) or None)
        assert replayed.unplayed == []


def test_a_lone_surrogate_a_model_writes_is_a_replacement_character_that_can_be_sent_again(tmp_path: Path) -> None:
    lone = "half \ud83d of an emoji"
    two_turns = "agent: chat\nturns:\n  - user: remember it\n  - user: and now?\n"
    project = make_project(tmp_path / "p", {"it": two_turns})
    # The model's JSON says "\ud83d", in its text and (escaped once more) inside a tool call's arguments:
    # decoded, each is a lone surrogate, which the SDK could not encode into the next request.
    edit = call("core_memory_append", {"label": "human", "content": lone, "request_heartbeat": True})
    raw = json.dumps(completion(edit, content=lone))
    assert "\\ud83d" in raw and "\\\\ud83d" in raw
    recorded, server = project.record("it", [json.loads(raw), reply("noted"), reply("still here")])
    assert len(server.received) == 3  # both later requests went out, with the text the loop kept
    system = server.received[2].body["messages"][0]["content"]
    assert "half \ufffd of an emoji" in system  # the block, as the edit left it
    replayed = project.replay("it")
    for result in (recorded, replayed):
        assert result.ok, result.explain()
        assert [turn.result.reply for turn in result.turns if turn.result] == ["noted", "still here"]
        assert "half \ufffd of an emoji" in result.turns[0].blocks["human"]
        assert result.turns[0].result is not None and result.turns[0].result.steps[0].content == jsontext.storable(lone)
    report = tmp_path / "report.json"
    write_report([recorded, replayed], report, project.root)
    assert "half \ufffd of an emoji" in json.dumps(json.loads(report.read_text(encoding="utf-8")), ensure_ascii=False)
    assert "\\ud83d" in (project.cassettes / "it.yaml").read_text(encoding="utf-8")  # the answer, as it came
    store = Store(tmp_path / "state.db")
    store.create_agent("a", "chat", [])
    store.save_step("a", recorded.turns[0].result.steps[0], [{"role": "assistant", "content": "\ud800"}], [])
    store.close()
    assert jsontext.storable(lone) == "half \ufffd of an emoji"
    assert jsontext.dumps(lone) == '"half \\ud83d of an emoji"'


def test_a_reply_with_every_line_break_replays(tmp_path: Path) -> None:
    text = "one\x85two\u2028three\u2029four\x0bfive\x0csix\rseven\r\neight\nnine"
    project = make_project(tmp_path / "p", {"it": "agent: chat\nturns:\n  - user: say it\n"})
    project.record("it", [reply(text)])
    replayed = project.replay("it")
    assert replayed.turns[0].result is not None and replayed.turns[0].result.reply == text


def compressed(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        import gzip

        return gzip.compress(data)
    if encoding == "br":
        import brotli  # a dev dependency: vcrpy decodes brotli answers with it

        return bytes(brotli.compress(data))
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        from backports import zstd  # a dev dependency below Python 3.14
    return bytes(zstd.compress(data))


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_a_compressed_answer_is_stored_decoded(encoding: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"it": "agent: chat\nturns:\n  - user: say it\n"})
    body = json.dumps(reply("squeezed")).encode()
    answer = Raw(compressed(encoding, body), headers=(("Content-Encoding", encoding),))
    recorded, _ = project.record("it", [answer])
    assert recorded.turns[0].result is not None and recorded.turns[0].result.reply == "squeezed"
    text = (project.cassettes / "it.yaml").read_text(encoding="utf-8")
    stored = yaml.safe_load(text)["interactions"][0]["response"]
    assert json.loads(stored["body"]) == reply("squeezed")  # decoded, readable
    assert "content-encoding" not in {k.lower() for k in stored.get("headers", {})}
    replayed = project.replay("it")
    assert replayed.turns[0].result is not None and replayed.turns[0].result.reply == "squeezed"
