"""What never reaches a cassette: headers other than `content-type` (credentials, cookies, organization and
project ids), and secret values (see `harness.secrets`) in the URI, bodies and metadata. Also how a
cassette names the endpoint that produced it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from harness import jsontext
from harness.secrets import MASK, Secrets, header_secrets

__all__ = ["MASK", "header_secrets", "kept_headers", "masked_body", "masked_response"]

KEPT_HEADERS = frozenset({"content-type"})


def kept_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}


def masked_body(secrets: Secrets, body: Any, *, json_dumps_spelling: bool = False) -> Any:
    """A request or response body (bytes, text or decoded JSON) with secrets masked; the same object when
    there was none. `json_dumps_spelling`: the body was encoded by `json.dumps` (a request the SDK sent),
    so a secret in it is spelt one of the ways the mask looks for, and a scan of the text (several times
    cheaper than decoding a long conversation) says whether there is anything to mask."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body  # not text: nothing we could recognise in it
        if json_dumps_spelling and not secrets.found_in(text):
            return body
        masked = secrets.mask_json_text(text)
        return body if masked == text else masked.encode("utf-8")
    if isinstance(body, str):
        if json_dumps_spelling and not secrets.found_in(body):
            return body
        return secrets.mask_json_text(body)
    return secrets.mask_data(body)


def masked_response(secrets: Secrets, response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy's response dict with only kept headers, and secrets masked in them and in the body."""
    out = dict(response)
    out["headers"] = secrets.mask_data(kept_headers(response.get("headers") or {}))
    body = response.get("body")
    if isinstance(body, dict) and "string" in body:
        out["body"] = {**body, "string": masked_body(secrets, body["string"])}
    return out


def endpoint_kind(base_url: str, response_body: Any) -> str:
    host = urlsplit(base_url).hostname or ""
    if host.endswith("openai.com"):
        return "openai"
    body = _json(response_body)
    if isinstance(body, dict) and "timings" in body:
        return "llama.cpp (llama-server)"
    if host in ("127.0.0.1", "localhost", "::1"):
        return "openai-compatible (local)"
    return "openai-compatible"


def _json(raw: Any) -> Any:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return raw
    try:
        return jsontext.parse(raw) if raw else None
    except ValueError:
        return None
