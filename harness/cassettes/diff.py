"""Why a request missed: the recorded request most like it, and a line diff a person can read."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from typing import Any

from harness import jsontext
from harness.cassettes.format import FINGERPRINT_KEY
from harness.cassettes.keys import canonical, canonical_body
from harness.cassettes.scrub import request_parts
from harness.errors import NearestRecorded
from harness.lookalike import diff_lines, differ_only_in
from harness.loops import kinds
from harness.loops.kinds import DEFAULT_LOOP, LoopName
from harness.secrets import MASK, Secrets


def request_lines(body: Any) -> list[str]:
    """A request (decoded JSON, or text) rendered line by line: settings, tool names, each message's text.
    Objects in sorted key order, as requests are matched (canonical JSON): two bodies whose keys come in
    another order give the same lines, and a diff shows only what differs."""
    if isinstance(body, str | bytes):
        try:
            body = jsontext.parse(body or b"{}")
        except ValueError:
            return diff_lines(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
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
            lines += diff_lines(content)
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
            lines += diff_lines(called)
            # What a provider needs echoed with a call (Gemini's `extra_content`), and a `type` not "function".
            extra = {k: v for k, v in call.items() if k not in ("id", "function") and (k, v) != ("type", "function")}
            extra |= {f"function.{k}": v for k, v in function.items() if k not in ("name", "arguments")}
            lines += [f"tool_call {call.get('id')} {_one_line(k)}: {_json(extra[k])}" for k in sorted(extra)]
        if message.get("tool_call_id"):
            lines += diff_lines(f"tool_call_id: {message['tool_call_id']}")
        # Any other field (`name`, DeepSeek's `reasoning_content`...): a miss on one of them is shown too.
        lines += [f"{_one_line(k)}: {_json(message[k])}" for k in sorted(message) if k not in _MESSAGE_SHOWN]
    return lines


_MESSAGE_SHOWN = frozenset({"role", "content", "tool_calls", "tool_call_id"})


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
    recorded_lines = request_lines(recorded[best])
    if recorded_lines == sent_lines and _canonical(recorded[best]) != _canonical(sent):
        # A difference the readable lines leave out (a hand-edited body's odd shape): the canonical JSON's, so
        # an empty diff always means the very body was recorded.
        recorded_lines, sent_lines = _jsondiff_lines(recorded[best]), _jsondiff_lines(sent)
    diff = difflib.unified_diff(
        recorded_lines,
        sent_lines,
        fromfile=f"recorded (interaction {best})",
        tofile="sent now",
        lineterm="",
        n=2,
    )
    return NearestRecorded(best, tuple(diff))


def _canonical(body: Any) -> str:
    """A body as requests are matched: its canonical JSON (text that is not JSON, as it is)."""
    return canonical_body(body) if isinstance(body, str | bytes) else canonical(body)


def _jsondiff_lines(body: Any) -> list[str]:
    """A body's JSON, sorted and indented, every character but printable ASCII escaped: one line a value."""
    if isinstance(body, str | bytes):
        try:
            body = jsontext.parse(body)
        except ValueError:
            return diff_lines(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
    return json.dumps(body, sort_keys=True, indent=1).split("\n")


def unseen_difference(recorded: Any, sent: Any) -> str | None:
    """What the recorded request and the one sent differ in when their diff shows lines that look the same
    (a user message retyped with a decomposed `é`): `differ_only_in` of their lines, as a failed text check
    says it; None when they differ otherwise."""
    recorded_text, sent_text = "\n".join(request_lines(recorded)), "\n".join(request_lines(sent))
    return differ_only_in(recorded_text, sent_text, "the recorded request and the one sent")


def masked_secret(recorded: Any, sent: Any, secrets: Secrets | None = None) -> tuple[str, list[str]] | None:
    """Why `sent` missed when the recorded request differs from it only where the recording masked a secret
    (`<SECRET>`: the value of a key in a user's turn, of a token in a tool's result): such a request can never
    replay, and the diff would show two identical lines (what was sent now is masked too when shown). The cause,
    and lines saying where the recording holds the mask; what this request has there is named by its secret
    (`secrets`, read from the environment by default) and never shown. None when they differ otherwise."""
    if not (isinstance(recorded, dict) and isinstance(sent, dict)) or not _masked_alike(recorded, sent, []):
        return None
    places: list[tuple[str, list[str], list[str]]] = []  # (where, its lines holding the mask, what was sent there)
    for (place, was), (_, now) in zip(request_parts(recorded), request_parts(sent), strict=True):
        texts: list[tuple[str, str]] = []  # (recorded text holding the mask, what the mask stands for now)
        _masked_alike(was, now, texts)
        if texts:
            lines = [line for text, _ in texts for line in diff_lines(text) if MASK in line]
            places.append((place, lines, [value for _, value in texts]))
    if not places:
        return None
    secrets = Secrets.collect() if secrets is None else secrets
    sent_there = sorted({_what_is(value, secrets) for _, _, values in places for value in values})
    where = ", ".join(place for place, _, _ in places)
    cause = (
        f"the recorded request held a secret, masked as {MASK}, in {where}, where this one has "
        f"{' and '.join(sent_there)}; it cannot replay: keep secrets out of prompts, turns and tool results, then "
        "record it again"
    )
    notes: list[str] = []
    for place, lines, _ in places:
        notes += [f"  {place} as recorded:", *(f"    {line}" for line in lines[:3])]
    return cause, notes


def _masked_alike(recorded: Any, sent: Any, texts: list[tuple[str, str]]) -> bool:
    """Whether `sent` is `recorded` but for what the recording masked: each string of `recorded` holding the
    mask matches the string sent with any text in its place; `texts` gets each (recorded, what stood there)."""
    if isinstance(recorded, str) and isinstance(sent, str):
        if recorded == sent:
            return True
        if MASK not in recorded:
            return False
        pieces = recorded.split(MASK)
        found = re.fullmatch("(.*?)".join(re.escape(piece) for piece in pieces), sent, re.DOTALL)
        if found is None:
            return False
        texts += [(recorded, value) for value in found.groups()]
        return True
    if isinstance(recorded, dict) and isinstance(sent, dict):
        return recorded.keys() == sent.keys() and all(_masked_alike(recorded[k], sent[k], texts) for k in recorded)
    if isinstance(recorded, list) and isinstance(sent, list):
        pairs = zip(recorded, sent, strict=False)
        return len(recorded) == len(sent) and all(_masked_alike(a, b, texts) for a, b in pairs)
    return bool(recorded == sent and type(recorded) is type(sent))


def _what_is(value: str, secrets: Secrets) -> str:
    """What a request has where its recording has the mask, never the text itself (it may be the secret)."""
    if value == MASK:
        return MASK
    names = secrets.named_in(value) if secrets.found_in(value) else []
    if names:
        return f"the value of {' and '.join(names)}"
    return "nothing" if not value else f"other text ({len(value)} characters, not shown)"


# ------------------------------------------------------------------ whose change a miss is

# The fields the harness itself adds to a chat request, whatever the agents file says: each loop's (Letta's
# request defaults, `parallel_tool_calls` beside tools). A request that differs from the one recorded in them
# alone differs by the harness's doing (an upgrade, or the loop), not by anything the user wrote.
_LOOP_FIELDS = frozenset(key for loop in LoopName for key, _ in (*kinds.extra_body(loop), *kinds.tools_body(loop)))
# Said by the user too (`stream: true`), or sent beside tools only (a summary request of every loop goes
# without `parallel_tool_calls`): neither tells the loop.
_NOT_THE_LOOPS = frozenset({"stream"} | {key for loop in LoopName for key, _ in kinds.tools_body(loop)})


def request_loop(body: Any) -> LoopName | None:
    """The loop a chat request was sent by, told by the fields each loop adds to every request (none for
    `harness`); None for a body that is no chat request, or whose fields are no loop's of today."""
    if not (isinstance(body, dict) and isinstance(body.get("messages"), list)):
        return None
    present = {key for key in _LOOP_FIELDS - _NOT_THE_LOOPS if key in body}
    found = [loop for loop in LoopName if present == {key for key, _ in kinds.extra_body(loop)} - _NOT_THE_LOOPS]
    return found[0] if len(found) == 1 else None


def harness_field(key: str, *values: Any) -> bool:
    """Whether a request's top-level field `key` (with these values, recorded and sent) is one the harness
    adds itself, not a setting of the user's (`stream` is one of theirs when true)."""
    return key in _LOOP_FIELDS and not (key == "stream" and True in values)


def harness_changes(recorded: Any, sent: Any) -> list[str]:
    """What differs between two chat requests, field by field (`parallel_tool_calls false -> not sent`),
    when all that differs is fields the harness adds itself (their messages, tools and every setting the
    agents file gives the same); empty otherwise."""
    if not (isinstance(recorded, dict) and isinstance(sent, dict)) or recorded == sent:
        return []
    differing = sorted(
        key for key in recorded.keys() | sent.keys() if recorded.get(key, _NOT_SENT) != sent.get(key, _NOT_SENT)
    )
    if not all(harness_field(key, recorded.get(key), sent.get(key)) for key in differing):
        return []  # a setting of the user's, the messages or the tools
    return [f"{key} {_sent(recorded, key)} -> {_sent(sent, key)}" for key in differing]


_NOT_SENT = object()


def _sent(body: dict[str, Any], key: str) -> str:
    return json.dumps(body[key]) if key in body else "not sent"


def miss_cause(recorded: Any, sent: Any, recorded_loop: LoopName | None = None) -> str | None:
    """Why `sent` missed where the recorded request most like it was `recorded`, when it is the harness's
    doing alone rather than a change to the user's files: the request is another loop's than the recording's
    (`recorded_loop`, from the cassette's metadata, else told from `recorded`) and what the user gave it is the
    same (`users_part`), or the harness adds other fields to it than it did then (an upgrade). None when
    neither is so (see `loop_change` for another loop's request that differs in the user's part too)."""
    was, now = _loops(recorded, sent, recorded_loop)
    if was is not None and now is not None:
        if users_part(recorded) != users_part(sent):
            return None
        default = f" ({now} is the default loop since 2026-11-24)" if now is DEFAULT_LOOP else ""
        return (
            f"the cassette was recorded under `loop: {was}`, and this request is {now}'s{default}: `loop: {was}` on "
            "the agent (or in `defaults:` of the agents file) replays it, or record it again"
        )
    changes = harness_changes(recorded, sent)
    if changes:
        return (
            "nothing the agents file or the scenario gives this request changed, but the harness sends it otherwise "
            f"than the one that recorded it did (an upgrade?): {'; '.join(changes)}; record it again"
        )
    return None


def tool_result_change(recorded: Any, sent: Any) -> str | None:
    """Why `sent` missed when the first thing in it that differs from `recorded` is a tool's result (the
    messages before it as recorded, the same call answered): the tool returned something else than when it
    was recorded, which is the tool's doing (a clock, random numbers, a file or a service it reads), not a
    change to the agent or the scenario. The tool list and `tool_choice` may differ too: tool rules follow
    a result (a conditional rule picks the next tool by it). None otherwise."""
    if not (isinstance(recorded, dict) and isinstance(sent, dict)):
        return None
    old, new = recorded.get("messages"), sent.get("messages")
    if not (isinstance(old, list) and isinstance(new, list)):
        return None
    settings = (recorded.keys() | sent.keys()) - {"messages", "tools", "tool_choice"}
    if any(recorded.get(key, _NOT_SENT) != sent.get(key, _NOT_SENT) for key in settings):
        return None
    at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), None)
    if at is None:
        return None
    was, now = old[at], new[at]
    if not (isinstance(was, dict) and isinstance(now, dict) and was.get("role") == now.get("role") == "tool"):
        return None
    call_id = now.get("tool_call_id")
    if was.get("tool_call_id") != call_id or {k: v for k, v in was.items() if k != "content"} != {
        k: v for k, v in now.items() if k != "content"
    }:
        return None
    results = [_tool_result(was.get("content")), _tool_result(now.get("content"))]
    if results[0] == results[1]:  # the same result, told at another time (the clock): not the tool's doing
        return None
    a, b = _shown_results(*results)
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    name = _called(new[:at], call_id)
    tool = f"the tool '{name}'" if name is not None else "a tool"
    return (
        f"{tool} returned another result than when the cassette was recorded (recorded {_quoted(a, first)}, "
        f"now {_quoted(b, first)}): a tool that reads a clock, random numbers, files, the environment or a "
        "service gives another result on replay; make it deterministic (the time from agent_state.now(), random "
        "numbers from Python's `random`, which each run seeds, data the scenario gives), or, if its code changed "
        "or the cassette was recorded before runs seeded `random`, record it again"
    )


def _tool_result(content: Any) -> Any:
    """What a tool returned, from its message's content: Letta's loops wrap it as `{"status", "message",
    "time"}` (the time is the clock's, not the tool's); the harness loop sends it as it is."""
    if isinstance(content, str):
        try:
            wrapped = jsontext.parse(content)
        except ValueError:
            return content
        if isinstance(wrapped, dict) and "message" in wrapped and "status" in wrapped:
            return {key: value for key, value in wrapped.items() if key != "time"}
    return content


def _shown_results(was: Any, now: Any) -> tuple[str, str]:
    """Two results as text to quote: Letta's `message` alone when that is all that differs."""
    if isinstance(was, dict) and isinstance(now, dict) and _but_message(was) == _but_message(now):
        was, now = was.get("message"), now.get("message")
    a, b = (each if isinstance(each, str) else _json(each) for each in (was, now))
    return a, b


def _but_message(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "message"}


def _called(messages: list[Any], call_id: Any) -> str | None:
    """The name of the tool the call `call_id` among `messages` (an assistant's `tool_calls`) called."""
    for message in reversed(messages):
        for call in _items(message.get("tool_calls")) if isinstance(message, dict) else []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and call.get("id") == call_id:
                name = function.get("name")
                return name if isinstance(name, str) else None
    return None


def loop_change(recorded: Any, sent: Any, recorded_loop: LoopName | None = None) -> str | None:
    """The loop changed and so did what the user gave the request (their messages, the model or a setting
    no loop sets): said beside the usual guess, since switching the loop back alone would still miss. The
    first user message that differs is quoted, as the diff may be cut off before it. None otherwise."""
    was, now = _loops(recorded, sent, recorded_loop)
    if was is None or now is None:
        return None
    before, after = users_part(recorded), users_part(sent)
    if before == after:
        return None
    said = f"this request is {now}'s, the cassette was recorded under `loop: {was}`, and "
    old, new = before["messages"], after["messages"]
    if old != new:
        first = next((i for i in range(min(len(old), len(new))) if old[i] != new[i]), min(len(old), len(new)))
        pair = [texts[first] if first < len(texts) else None for texts in (old, new)]
        a, b = (str(each) for each in pair)
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        shown = [_quoted(each, at) if each is not None else "nothing" for each in pair]
        said += f"what the user says differs too (recorded {shown[0]}, sent now {shown[1]})"
    else:
        keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        said += f"the user's settings differ too ({', '.join(keys)})"
    return said + f": `loop: {was}` alone would not replay it"


def _loops(recorded: Any, sent: Any, recorded_loop: LoopName | None) -> tuple[LoopName | None, LoopName | None]:
    """The recording's loop and this request's when they differ; (None, None) when they do not, or either is
    not known."""
    was = request_loop(recorded) or recorded_loop
    now = request_loop(sent)
    return (was, now) if was is not None and now is not None and was != now else (None, None)


# Settings each loop gives its own default: they differ between loops whatever the user wrote.
_LOOP_DEFAULTED = frozenset({"temperature", "tool_choice"})


def users_part(body: Any) -> dict[str, Any]:
    """What the user gave a chat request, whichever loop sent it: the texts of their messages (unpacked from
    Letta's `{"type": "user_message", "message"}`; a heartbeat, a login or another packaged message is the
    loop's own), and the settings no loop adds or defaults (the model, max_tokens...). The system prompt and
    the tools are left out: each loop renders them its own way."""
    if not isinstance(body, dict):
        return {"messages": [body]}
    said: list[Any] = []
    for message in _items(body.get("messages")):
        if not (isinstance(message, dict) and message.get("role") == "user"):
            continue
        content = message.get("content")
        try:
            packaged = jsontext.parse(content) if isinstance(content, str) else None
        except ValueError:
            packaged = None
        if isinstance(packaged, dict) and "type" in packaged:
            if packaged["type"] == "user_message":
                said.append(packaged.get("message"))
            continue
        said.append(content)
    settings = {
        key: value
        for key, value in body.items()
        if key not in ("messages", "tools") and key not in _LOOP_FIELDS and key not in _LOOP_DEFAULTED
    }
    return {"messages": said, **settings}


def _quoted(text: Any, at: int, most: int = 60) -> str:
    """A user's text on one line, as JSON: `most` characters of it from a little before `at`, where it
    begins to differ."""
    shown = text if isinstance(text, str) else _json(text)
    start = max(0, at - most // 3)
    cut = shown[start : start + most]
    return jsontext.dumps(("…" if start else "") + cut + ("…" if start + most < len(shown) else ""))


def fingerprint_loop(metadata: dict[str, Any]) -> LoopName | None:
    """The loop a cassette's agent ran when it was recorded, as its fingerprint (`metadata.agent`) says: its
    `loop.flavour`, given for every loop but `harness`; None for a cassette without one."""
    stored = metadata.get(FINGERPRINT_KEY)
    parts = stored.get("parts") if isinstance(stored, dict) else None
    loop = parts.get("loop") if isinstance(parts, dict) else None
    if not isinstance(loop, dict):
        return None
    try:
        return LoopName(loop.get("flavour", LoopName.HARNESS))
    except ValueError:  # a loop this harness does not know (a newer one's), or a hand edit
        return None
