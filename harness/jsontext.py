"""Text any UTF-8 file, database or request body can hold, whatever a model wrote.

A model can write a lone surrogate (`"\\ud800"` in its JSON decodes to one, say half an emoji cut by
`max_tokens`): Python strings hold it, but no UTF-8 writer does, so a cassette, a report, the store or the
next request (the SDK encodes its body as UTF-8) would fail on it. What a model or an endpoint wrote is
decoded by `loads`, which puts U+FFFD in place of each lone surrogate before anything keeps or resends it.
JSON text written by `dumps` keeps one as its escape (lossless: decoding gives it back); `storable` plain
text shows U+FFFD in its place.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(json_text: str) -> str:
    """JSON text with every lone surrogate written as its `\\uXXXX` escape (only valid inside JSON
    strings, which is the only place `json.dumps` puts them)."""
    if _SURROGATE.search(json_text) is None:
        return json_text
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", json_text)


def dumps(value: Any, **options: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, **options)` that any UTF-8 writer takes."""
    return escape_surrogates(json.dumps(value, ensure_ascii=False, **options))


def as_text(value: Any) -> str:
    """A string as it is, any other JSON value as its JSON text (`42`, `true`, `["a"]`): how a message, a
    tool argument or a recalled value is read and searched as text. Plain `json.dumps` (a lone surrogate
    stays one): the callers that keep the text make it `storable`."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def storable(text: str) -> str:
    """Plain text with U+FFFD for each lone surrogate."""
    return text if _SURROGATE.search(text) is None else _SURROGATE.sub("\ufffd", text)


# What a terminal or a page acts on rather than shows (C0 but tab and newline, DEL, C1, bidi overrides and
# isolates): a model or a tool can write them into a block or a reply, and an escape sequence would retitle
# the window, clear the screen, or make the text read otherwise than it is.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def inert(text: str) -> str:
    """`text` with each control written as an escape (`\\x1b`, `\\u202e`), shown rather than obeyed."""
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def parse(text: str | bytes, **options: Any) -> Any:
    """`json.loads(text, **options)`, exactly, but JSON nested deeper than the parser goes is a ValueError
    like any malformed JSON: `json` raises RecursionError there, which would escape every `except
    ValueError` that handles text that is not JSON (a hand-edited cassette, a dataset row, an answer)."""
    try:
        return json.loads(text, **options)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None


def loads(text: str, **options: Any) -> Any:
    """`parse` for what a model or an endpoint wrote: each lone surrogate in it comes back as U+FFFD."""
    value = parse(text, **options)
    if not _may_decode_to_a_surrogate(text):
        return value
    try:
        return without_surrogates(value)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None


def _may_decode_to_a_surrogate(text: str) -> bool:
    """Whether `text` holds a surrogate or the escape of one (a pair decodes whole, but may be there too).
    Substring searches and an encode: a regular expression cost as much as decoding the JSON itself."""
    if "\\ud" in text or "\\uD" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def without_surrogates(value: Any) -> Any:
    """JSON-like data with U+FFFD for each lone surrogate in its strings, keys included."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {storable(key): without_surrogates(item) for key, item in value.items()}
    return value


def same_json(a: Any, b: Any) -> bool:
    """Equality of JSON values: Python's `==`, except that true and false are not the numbers 1 and 0 (in
    Python `True == 1`, so `json: true` passed a block holding 1, and `[1, 0]` one holding `[true, false]`).
    A number is still equal to the same number written otherwise (`1 == 1.0`), as in JSON. Iterative: data
    nested as deep as the parser goes is compared without recursion."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if isinstance(x, bool) or isinstance(y, bool):
            if not (isinstance(x, bool) and isinstance(y, bool) and x == y):
                return False
        elif isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            pending += [(x[key], y[key]) for key in x]
        elif isinstance(x, list | tuple) and isinstance(y, list | tuple):
            if len(x) != len(y):
                return False
            pending += zip(x, y, strict=True)
        elif isinstance(x, dict | list | tuple) or isinstance(y, dict | list | tuple) or x != y:
            return False
    return True
