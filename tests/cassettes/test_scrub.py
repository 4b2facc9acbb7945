"""What a cassette keeps of an exchange: only `content-type` headers, and bodies with secrets masked."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.cassettes import format
from harness.cassettes.scrub import (
    SecretSent,
    SecretsSent,
    header_secrets,
    kept_headers,
    masked_body,
    masked_response,
    request_parts,
    secrets_in_request,
)
from harness.secrets import MASK, Secrets

KEY = "sk-scrub/clé-0123456789"
SECRETS = Secrets(frozenset({KEY}))


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("scan_first", [True, False])
def test_a_request_body_spelt_by_json_dumps_is_masked(ensure_ascii: bool, scan_first: bool) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": f"my key is {KEY}"}]}, ensure_ascii=ensure_ascii)
    out = masked_body(SECRETS, body.encode(), json_dumps_spelling=scan_first)
    assert isinstance(out, bytes)
    assert json.loads(out) == {"messages": [{"role": "user", "content": f"my key is {MASK}"}]}


def test_a_body_without_a_secret_is_the_same_object() -> None:
    body = json.dumps({"messages": []}).encode()
    assert masked_body(SECRETS, body) is body
    assert masked_body(SECRETS, body, json_dumps_spelling=True) is body


def test_bodies_that_are_not_json_or_not_text() -> None:
    assert masked_body(SECRETS, f"<html>{KEY}</html>") == f"<html>{MASK}</html>"
    binary = b"\xff\xfe" + KEY.encode()
    assert masked_body(SECRETS, binary) == "\ufffd\ufffd" + MASK  # not UTF-8: read as the live client reads it
    assert masked_body(SECRETS, {"k": KEY}) == {"k": MASK}


def test_a_response_keeps_only_content_type_and_loses_the_secret() -> None:
    response = {
        "status": {"code": 401, "message": "Unauthorized"},
        "headers": {"Content-Type": ["application/json"], "Set-Cookie": [f"s={KEY}"], "openai-organization": ["o"]},
        "body": {"string": json.dumps({"error": {"message": f"bad key {KEY}"}}).replace("/", "\\/").encode()},
    }
    out = masked_response(SECRETS, response)
    assert out["headers"] == {"Content-Type": ["application/json"]}
    assert json.loads(out["body"]["string"]) == {"error": {"message": f"bad key {MASK}"}}
    assert out["status"] == response["status"]
    assert kept_headers({"CONTENT-TYPE": "x", "Authorization": "y"}) == {"CONTENT-TYPE": "x"}


# What the agent saw while recording (the live client masks the decoded answer) is what the cassette
# gives back on replay (the answer masked as it was saved, written, read back): a recording replays.
texts = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)


@given(
    st.lists(texts, min_size=1, max_size=4),
    st.text(string.ascii_letters + string.digits + "-_/+=.", min_size=8, max_size=30),
    st.booleans(),
)
def test_the_live_answer_and_the_replayed_answer_are_masked_alike(pieces: list[str], key: str, slashes: bool) -> None:
    secrets = Secrets(frozenset({key}))
    answer = {"choices": [{"message": {"content": key.join(pieces), "tool_calls": [{"id": key}]}}], "n": 1}
    raw = json.dumps(answer, ensure_ascii=False)
    raw = raw.replace("/", "\\/") if slashes else raw
    seen_live = secrets.mask_data(json.loads(raw))
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": raw.encode()}}
    request = {"method": "POST", "uri": "http://h/v1/chat/completions", "body": "{}", "headers": {}}
    saved = {"interactions": [{"request": request, "response": masked_response(secrets, response)}], "version": 1}
    text = format.dump(saved)
    # The cassette's own words (the URI, its keys) are no answer: a key spelling one of them is left out.
    skeleton = {"interactions": [{"request": request, "response": {**response, "body": {"string": b"{}"}}}]}
    assume(key not in format.dump({**skeleton, "version": 1}))
    assert key not in text
    replayed = format.parse(text, "c.yaml").interactions[0].response["body"]["string"]
    assert json.loads(replayed) == seen_live


# A body that is not UTF-8 (an answer in latin-1, an error page in cp1252) is bytes to vcrpy; a key it
# echoes is ASCII within it, and must be masked all the same: the cassette is committed, and a replay
# without the key in the environment (CI) would print it.
ASCII_KEY = "sk-probe-SECRETKEY1234567890"
ASCII_SECRETS = Secrets(frozenset({ASCII_KEY}))


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@given(st.lists(st.binary(max_size=12), min_size=2, max_size=5), st.booleans())
def test_a_body_that_is_not_utf8_is_written_masked_as_the_live_run_read_it(
    pieces: list[bytes], as_request: bool
) -> None:
    raw = ASCII_KEY.encode().join(pieces)
    assume(_not_utf8(raw))
    body = masked_body(ASCII_SECRETS, raw, json_dumps_spelling=as_request)
    assert isinstance(body, str)  # text, never `!!binary` (base64 the mask cannot see into)
    assert ASCII_KEY not in body
    assert body == ASCII_SECRETS.mask_json_text(raw.decode("utf-8", "replace"))  # what the live run used, masked
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": raw}}
    request = {"method": "POST", "uri": "http://h/v1/chat/completions", "body": body, "headers": {}}
    text = format.dump({"interactions": [{"request": request, "response": masked_response(ASCII_SECRETS, response)}]})
    assert ASCII_KEY not in text
    assert "!!binary" not in text
    read = format.parse(text, "c.yaml").interactions[0]
    assert ASCII_KEY not in read.response["body"]["string"]


def test_a_json_answer_in_latin1_is_stored_as_the_text_the_live_run_saw() -> None:
    answer = {"choices": [{"message": {"content": f"Caf\u00e9 your key is Bearer {ASCII_KEY}"}}]}
    raw = json.dumps(answer, ensure_ascii=False).encode("latin-1")
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": raw}}
    stored = masked_response(ASCII_SECRETS, response)["body"]["string"]
    assert json.loads(stored) == {"choices": [{"message": {"content": f"Caf\ufffd your key is Bearer {MASK}"}}]}
    live = ASCII_SECRETS.mask(raw.decode("utf-8", "replace"))  # what `openai_client` hands the agent
    assert json.loads(stored) == json.loads(live)


def test_a_header_kept_as_bytes_is_masked_as_text() -> None:
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": [b"text/plain; key=" + ASCII_KEY.encode() + b"\xe9"]},
        "body": {"string": "{}"},
    }
    assert masked_response(ASCII_SECRETS, response)["headers"] == {"Content-Type": [f"text/plain; key={MASK}\ufffd"]}


def test_the_values_of_credential_headers_are_secrets_but_cookie_attributes_are_not() -> None:
    headers = {
        "Set-Cookie": ["__cf_bm=c00kie-value; Path=/; Max-Age=3600; Domain=.example.com; HttpOnly"],
        "openai-organization": "org-x1234",
        "anthropic-organization-id": "0c4d8f1e-anthropic-org",
        "Cookie": "a=first-cookie; b=second-cookie",
        "Content-Type": ["application/json"],
        "x-ratelimit-remaining": "99",
    }
    assert header_secrets(headers) == {
        "__cf_bm=c00kie-value; Path=/; Max-Age=3600; Domain=.example.com; HttpOnly",
        "c00kie-value",
        "org-x1234",
        "0c4d8f1e-anthropic-org",
        "a=first-cookie; b=second-cookie",
        "first-cookie",
        "second-cookie",
    }


# ------------------------------------------------------------------ a secret a recording sent


NAMED = Secrets.collect(environ={"OPENAI_API_KEY": KEY, "SVC_TOKEN": "tok-abcdefgh"})
CALLED: dict[str, object] = {
    "role": "assistant",
    "tool_calls": [{"id": "c1", "function": {"name": "lookup", "arguments": "{}"}}],
}


def _request(*messages: dict[str, object]) -> dict[str, object]:
    return {"model": "m", "tools": [], "messages": [{"role": "system", "content": "sys"}, *messages]}


def test_a_requests_parts_are_named_as_a_miss_diff_names_them() -> None:
    body = _request({"role": "user", "content": "hi"}, CALLED, {"role": "tool", "tool_call_id": "c1", "content": "x"})
    assert [place for place, _ in request_parts(body)] == [
        "message 0 (system)",
        "message 1 (user)",
        "message 2 (assistant)",
        "message 3 (tool: the result of lookup)",
        "its model",
        "its tools",
    ]
    assert [place for place, _ in request_parts("not json")] == ["its body"]


def test_the_parts_holding_a_secret_name_its_variable() -> None:
    body = _request(
        {"role": "user", "content": f"my key is {KEY}"},
        CALLED,
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"message": "token tok-abcdefgh"})},
    )
    found = [(place, names) for place, _, names in secrets_in_request(NAMED, body)]
    assert found == [
        ("message 1 (user)", ["OPENAI_API_KEY"]),
        ("message 3 (tool: the result of lookup)", ["SVC_TOKEN"]),
    ]
    assert secrets_in_request(NAMED, _request({"role": "user", "content": f"masked {MASK}"})) == []


def test_a_part_is_told_once_though_every_later_request_sends_it_again() -> None:
    told = SecretsSent()
    first = _request({"role": "user", "content": f"key {KEY}"})
    second = _request({"role": "user", "content": f"key {KEY}"}, {"role": "assistant", "content": "ok"})
    assert told.found(NAMED, [first, second]) == [SecretSent("message 1 (user)", ("OPENAI_API_KEY",))]
    assert told.found(NAMED, [second]) == []
