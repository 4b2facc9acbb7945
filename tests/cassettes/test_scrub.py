"""What a cassette keeps of an exchange: only `content-type` headers, and bodies with secrets masked."""

from __future__ import annotations

import json

import pytest

from harness.cassettes.scrub import kept_headers, masked_body, masked_response
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
    assert masked_body(SECRETS, binary) is binary  # not UTF-8: nothing we could recognise
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
