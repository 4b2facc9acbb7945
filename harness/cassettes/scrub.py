"""What never reaches a cassette: credentials in headers, and the values of secret environment variables
wherever they appear. Also how a cassette names the endpoint that produced it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

KEPT_HEADERS = frozenset({"content-type"})
SECRET_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "set-cookie")
SECRET_SUFFIXES = ("_API_KEY", "_TOKEN")
MASK = "<SECRET>"
MIN_SECRET_LENGTH = 8  # shorter values would mask ordinary words


def secret_values(named: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of the variables `named` and of every `*_API_KEY` / `*_TOKEN` variable."""
    environ = os.environ if environ is None else environ
    names = set(named)
    return tuple(
        value
        for name, value in environ.items()
        if (name in names or name.endswith(SECRET_SUFFIXES)) and len(value) >= MIN_SECRET_LENGTH
    )


def kept_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}


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
        return json.loads(raw) if raw else None
    except ValueError:
        return None
