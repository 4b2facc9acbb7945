"""What never reaches a cassette: headers other than `content-type` (credentials, cookies, organization and
project ids), and secret values (see `harness.secrets`) in the URI, bodies and metadata. Also how a
cassette names the endpoint that produced it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness import jsontext
from harness.secrets import MASK, Secrets, header_secrets

__all__ = [
    "MASK",
    "SecretSent",
    "header_secrets",
    "kept_headers",
    "masked_body",
    "masked_response",
    "request_parts",
    "secrets_in_request",
]

KEPT_HEADERS = frozenset({"content-type"})


def kept_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}


def masked_body(secrets: Secrets, body: Any, *, json_dumps_spelling: bool = False) -> Any:
    """A request or response body (bytes, text or decoded JSON) with secrets masked; the same object when
    there was none. `json_dumps_spelling`: the body was encoded by `json.dumps` (a request the SDK sent),
    so a secret in it is spelt one of the ways the mask looks for, and a scan of the text (several times
    cheaper than decoding a long conversation) says whether there is anything to mask.

    Bytes that are not UTF-8 (vcrpy hands a body over as bytes then: an answer in latin-1, say) come back
    as text: decoded as the live client decodes them (`body_text`, U+FFFD for each byte that is not UTF-8),
    and masked. The cassette holds what the recording run used, masked, and replays to the same; kept as
    bytes (YAML's `!!binary`), a key the endpoint echoed would be written as it came."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:  # as the live run read it, masked, as text
            return masked_body(secrets, body_text(body), json_dumps_spelling=json_dumps_spelling)
        if json_dumps_spelling and not secrets.found_in(text):
            return body
        masked = secrets.mask_json_text(text)
        return body if masked == text else masked.encode("utf-8")
    if isinstance(body, str):
        if json_dumps_spelling and not secrets.found_in(body):
            return body
        return secrets.mask_json_text(body)
    return secrets.mask_data(body)


def body_text(body: bytes) -> str:
    """A body's bytes as text, as the live client reads an answer (`llm.openai_client`) and replay reads a
    recorded one: UTF-8, whatever charset the server claims, U+FFFD for each byte that is not."""
    return body.decode("utf-8", "replace")


def masked_response(secrets: Secrets, response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy's response dict with only kept headers, and secrets masked in them and in the body."""
    out = dict(response)
    headers = kept_headers(response.get("headers") or {})
    out["headers"] = secrets.mask_data({name: _header_texts(values) for name, values in headers.items()})
    body = response.get("body")
    if isinstance(body, dict) and "string" in body:
        out["body"] = {**body, "string": masked_body(secrets, body["string"])}
    return out


def _header_texts(values: Any) -> Any:
    """A kept header's value (or list of values) with bytes as text: the mask reads text only. vcrpy keeps
    headers as httpx gives them, text, but bytes would be written unmasked, as `!!binary`."""
    if isinstance(values, bytes):
        return body_text(values)
    if isinstance(values, list):
        return [body_text(value) if isinstance(value, bytes) else value for value in values]
    return values


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
        raw = body_text(raw)
    if not isinstance(raw, str):
        return raw
    try:
        return jsontext.parse(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class SecretSent:
    """A part of a request a recording sent (`message 1 (user)`) that held the value of a secret: `names`,
    what the secrets are (`OPENAI_API_KEY`), never their values. The cassette masks it, so it never replays."""

    place: str
    names: tuple[str, ...]


def request_parts(body: Any) -> Iterator[tuple[str, Any]]:
    """A request's parts as a miss's diff names them, each with what it holds: every message (`message 1
    (user)`; a tool's result names the tool, `message 5 (tool: the result of lookup)`) and every other field
    (`its tools`, an embedding request's `its input`). A body that is no JSON object is one part."""
    if not isinstance(body, dict):
        yield "its body", body
        return
    called: dict[Any, Any] = {}  # tool-call id -> the tool's name, from the calls before a result
    for key in sorted(body):
        if key != "messages" or not isinstance(body[key], list):
            yield f"its {key}", body[key]
            continue
        for index, message in enumerate(body[key]):
            role = message.get("role") if isinstance(message, dict) else None
            if role == "tool" and isinstance(message, dict) and message.get("tool_call_id") in called:
                yield f"message {index} (tool: the result of {called[message['tool_call_id']]})", message
                continue
            yield f"message {index} ({role})", message
            for call in message.get("tool_calls") or [] if isinstance(message, dict) else []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(call.get("id"), str):
                    called[call["id"]] = function.get("name")


def secrets_in_request(secrets: Secrets, body: Any) -> list[tuple[str, Any, list[str]]]:
    """The parts of a request (`request_parts`) that hold a secret's value, which the cassette masks: the
    request as recorded can then never be sent again, and never replays. Each with what it holds and what
    the secrets are (their variables' names, never their values)."""
    found: list[tuple[str, Any, list[str]]] = []
    for place, part in request_parts(body):
        texts = [text for text in _strings(part) if secrets.found_in(text)]
        if texts:
            found.append((place, part, sorted({name for text in texts for name in secrets.named_in(text)})))
    return found


def _strings(value: Any) -> Iterator[str]:
    """Every string in JSON-like data, keys included: what `Secrets.mask_data` masks."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


class SecretsSent:
    """The parts of the requests of a recording that held a secret, each told once: a message that holds one
    is sent again with every later request of its conversation."""

    def __init__(self) -> None:
        self._told: set[str] = set()

    def found(self, secrets: Secrets, bodies: list[Any]) -> list[SecretSent]:
        told: list[SecretSent] = []
        for body in bodies:
            for place, part, names in secrets_in_request(secrets, body):
                seen = json.dumps(part, sort_keys=True, default=str)  # held in memory only, never shown
                if seen not in self._told:
                    self._told.add(seen)
                    told.append(SecretSent(place, tuple(names)))
        return told
