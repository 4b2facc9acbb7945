"""Why a request missed: the recorded request most like it, and a line diff a person can read."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any

from harness import jsontext
from harness.errors import NearestRecorded
from harness.lookalike import differ_only_in


def request_lines(body: Any) -> list[str]:
    """A request (decoded JSON, or text) rendered line by line: settings, tool names, each message's text.
    Objects in sorted key order, as requests are matched (canonical JSON): two bodies whose keys come in
    another order give the same lines, and a diff shows only what differs."""
    if isinstance(body, str | bytes):
        try:
            body = jsontext.parse(body or b"{}")
        except ValueError:
            return (body.decode("utf-8", "replace") if isinstance(body, bytes) else body).splitlines()
    if not isinstance(body, dict):
        return [_json(body)]
    lines = [f"{_one_line(key)}: {_json(body[key])}" for key in sorted(body) if key not in ("messages", "tools")]
    for tool in _items(body.get("tools")):
        lines.append(f"tool: {_json(tool)}")
    for index, message in enumerate(_items(body.get("messages"))):
        if not isinstance(message, dict):
            lines.append(f"--- message {index}: {_json(message)}")
            continue
        lines.append(f"--- message {index} ({_one_line(message.get('role'))})")
        content = message.get("content")
        if isinstance(content, str):
            lines += content.splitlines() or [""]
        elif content is not None:
            lines.append(_json(content))
        for call in _items(message.get("tool_calls")):
            if not isinstance(call, dict):
                lines.append(f"tool_call: {_json(call)}")
                continue
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            # Arguments over several lines (indented JSON, as Letta's loop writes them) are several diff lines.
            called = f"tool_call {call.get('id')}: {function.get('name')}({function.get('arguments')})"
            lines += called.splitlines() or [called]
        if message.get("tool_call_id"):
            lines += f"tool_call_id: {message['tool_call_id']}".splitlines()
    return lines


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _one_line(value: Any) -> str:
    """A key or a role as it is, or as JSON when it would break the line or is an object or a list (a cassette
    edited by hand)."""
    text = _json(value) if isinstance(value, dict | list) else str(value)
    return text if len(text.splitlines()) <= 1 and not text.endswith(("\n", "\r")) else json.dumps(text)


def _items(value: Any) -> list[Any]:
    """A list as it is; anything else in its place (a cassette edited by hand) shown as one item."""
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def nearest_recorded(recorded: Sequence[Any], played: Sequence[bool], sent: Any) -> NearestRecorded | None:
    """The recorded body most like `sent` (preferring ones not yet played) and a unified diff to it."""
    if not recorded:
        return None
    sent_lines = request_lines(sent)
    candidates = [i for i in range(len(recorded)) if not played[i]] or list(range(len(recorded)))

    def similarity(index: int) -> float:
        return difflib.SequenceMatcher(None, request_lines(recorded[index]), sent_lines, autojunk=False).ratio()

    best = max(candidates, key=similarity)
    diff = difflib.unified_diff(
        request_lines(recorded[best]),
        sent_lines,
        fromfile=f"recorded (interaction {best})",
        tofile="sent now",
        lineterm="",
        n=2,
    )
    return NearestRecorded(best, tuple(diff))


def unseen_difference(recorded: Any, sent: Any) -> str | None:
    """What the recorded request and the one sent differ in when their diff shows lines that look the same
    (a user message retyped with a decomposed `é`): `differ_only_in` of their lines, as a failed text check
    says it; None when they differ otherwise."""
    recorded_text, sent_text = "\n".join(request_lines(recorded)), "\n".join(request_lines(sent))
    return differ_only_in(recorded_text, sent_text, "the recorded request and the one sent")
