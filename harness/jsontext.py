"""Text any UTF-8 file or database can hold, whatever a model wrote.

A model can write a lone surrogate (`"\\ud800"` in its JSON decodes to one): Python strings hold it, but
no UTF-8 writer does, so a cassette, a report or the store would fail on it. JSON text keeps it as the
escape it came as (lossless: decoding gives it back); plain text shows U+FFFD in its place.
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


def storable(text: str) -> str:
    """Plain text with U+FFFD for each lone surrogate."""
    return text if _SURROGATE.search(text) is None else _SURROGATE.sub("\ufffd", text)
