"""The cassette file: vcrpy's YAML layout (`version`, `interactions`, `metadata`), written so that it grows
linearly with a conversation and reads like one.

A chat agent sends its whole history at every step, so a plain cassette repeats every earlier message,
the tool schemas and the system prompt in every interaction: quadratic in the number of turns. Here the
first request of a cassette is stored whole, and each later one as what changed since the previous request:

    body:
      delta: |
        {"messages": [
          {"same": [0, 3]},                                      <- messages 0..3 of the previous request
          {"edit": 4, "at": 120, "cut": 9, "insert": "Azin"},    <- message 4 of it, its content spliced
          {"role": "assistant", "content": null, "tool_calls": [...]},
          {"role": "tool", "tool_call_id": "call_4_0", "content": "..."}
        ]}

with `"set": {...}` for top-level keys that changed (model settings, tools) and `"unset": [...]` for keys
that went away. A request's `method` is written only when it is not POST, a response's `status` only when
it is not 200, its headers only when they say more than "this is JSON", and request headers never.

Bodies are JSON laid out one message (or tool) per line inside literal YAML blocks: few YAML nodes to
parse (libyaml reads them fast), and a re-recording diffs message by message. Responses are one JSON
line each. Cassettes written before this format (every body whole, vcrpy's own layout) load unchanged.

Reading builds every request body as decoded JSON, sharing the message objects a delta reuses, and the
canonical text of each message likewise, so keying a long cassette encodes each distinct message once;
writing matches an agent's history by exact equality, so it too is linear in the conversation.
"""

from __future__ import annotations

import contextlib
import http
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from harness.cassettes import yamlsubset
from harness.cassettes.keys import canonical
from harness.errors import CassetteError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ORDER = ("metadata", "version", "interactions")
# Left out when they are what (almost) every chat-completion exchange has: a POST answered 200 OK.
DEFAULT_METHOD = "POST"
DEFAULT_STATUS = 200
# Characters YAML reads as line breaks or markers inside a block scalar: kept escaped in the JSON we write.
_YAML_UNSAFE = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029", "\ufeff": "\\ufeff"}


@dataclass
class RecordedRequest:
    method: str
    uri: str
    body: Any  # decoded JSON, or text for a body that is not JSON
    headers: dict[str, Any] = field(default_factory=dict)
    # The canonical JSON of each message of a chat body, built as the body is: a reused message's text
    # is reused too, so keying a whole cassette encodes each distinct message once.
    message_texts: list[str] | None = None


@dataclass
class Interaction:
    request: RecordedRequest
    response: dict[str, Any]  # vcrpy's response dict: status, headers, body.string


@dataclass
class CassetteData:
    interactions: list[Interaction]
    metadata: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ reading


def parse(text: str, name: str) -> CassetteData:
    """A cassette file's text; anything malformed is a CassetteError naming the file."""
    try:
        data = _load_yaml(text)
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise ValueError("no `interactions` list")
        metadata = data.get("metadata") or {}
        previous: Any = None
        texts: list[str] | None = None
        interactions: list[Interaction] = []
        for number, item in enumerate(data["interactions"]):
            try:
                request, response = item["request"], item["response"]
                stored = request.get("body")
                body = _read_body(stored, previous)
                texts = _message_texts(stored, body, texts)
                method = request.get("method", DEFAULT_METHOD)
                recorded = RecordedRequest(method, request["uri"], body, request.get("headers") or {}, texts)
                interactions.append(Interaction(recorded, _read_response(response)))
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise ValueError(f"interaction {number}: {type(exc).__name__}: {exc}") from None
            previous = body
    except (yaml.YAMLError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise CassetteError(
            f"{name} is not a readable cassette ({type(exc).__name__}: {reason}); "
            "restore it from version control, or re-record it with `harness record --mode all`"
        ) from None
    return CassetteData(interactions, metadata if isinstance(metadata, dict) else {})


_SCALARS: dict[str, Any] = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:null": lambda _: None,
    "tag:yaml.org,2002:bool": lambda value: value.lower() in ("true", "yes", "on"),
}


def _load_yaml(text: str) -> Any:
    """What this module writes is read by `yamlsubset` (several times faster than libyaml); anything else
    (a cassette from another tool, or edited by hand) by libyaml, which composes the node tree, with plain
    data built from it here: several times cheaper than PyYAML's general constructor for the few node
    kinds a cassette holds (anything else, such as floats, timestamps or binary, goes through PyYAML's
    safe constructor). Aliases share one object."""
    data = yamlsubset.read(text)
    if data is not yamlsubset.NOTHING:
        return data
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        built: dict[int, Any] = {}

        def build(node: yaml.Node) -> Any:
            done = built.get(id(node))
            if done is not None:
                return done
            if isinstance(node, yaml.ScalarNode):
                make = _SCALARS.get(node.tag)
                value = make(node.value) if make is not None else loader.construct_object(node, deep=True)
            elif isinstance(node, yaml.SequenceNode):
                value = [build(item) for item in node.value]
            elif isinstance(node, yaml.MappingNode):
                if any(key.tag == "tag:yaml.org,2002:merge" for key, _ in node.value):
                    value = loader.construct_object(node, deep=True)
                else:
                    value = {build(key): build(item) for key, item in node.value}
            else:  # pragma: no cover - libyaml knows no other node kinds
                value = loader.construct_object(node, deep=True)
            built[id(node)] = value
            return value

        return build(node)
    finally:
        loader.dispose()


def _read_body(stored: Any, previous: Any) -> Any:
    if isinstance(stored, dict) and "delta" in stored:
        if not isinstance(previous, dict):
            raise ValueError("a delta body must follow a JSON request body")
        return apply_delta(previous, json.loads(stored["delta"]))
    if stored is None:
        return ""
    if isinstance(stored, bytes):
        stored = stored.decode("utf-8", "replace")
    if isinstance(stored, str):
        try:
            return json.loads(stored)
        except ValueError:
            return stored
    raise ValueError(f"a request body must be text or a delta, not {type(stored).__name__}")


def _message_texts(stored: Any, body: Any, previous: list[str] | None) -> list[str] | None:
    """The canonical text of each message of `body`, reusing the previous request's where a delta did."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    messages = body["messages"]
    if not (isinstance(stored, dict) and "delta" in stored and previous is not None):
        return [canonical(m) for m in messages]
    items = json.loads(stored["delta"]).get("messages")
    if items is None:
        return previous
    texts: list[str] = []
    for item in items:
        if isinstance(item, dict) and "same" in item:
            first, last = item["same"]
            texts += previous[first : last + 1]
        else:
            texts.append(canonical(messages[len(texts)]))
    return texts


def _read_response(stored: Any) -> dict[str, Any]:
    """vcrpy's response dict from the compact form this module writes (or from vcrpy's own)."""
    if not isinstance(stored, dict):
        raise ValueError("a response must be a mapping")
    status = stored.get("status", DEFAULT_STATUS)
    body = stored.get("body")
    if isinstance(status, int) and not isinstance(status, bool):
        status = {"code": status, "message": _reason(status)}
    if isinstance(body, str | bytes | None):
        body = {"string": body if body is not None else ""}
    headers = stored.get("headers")
    if headers is None:
        headers = {"content-type": ["application/json"]} if _is_json(body.get("string")) else {}
    return {**stored, "status": status, "headers": headers, "body": body}


def _reason(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


def _is_json(text: Any) -> bool:
    return isinstance(text, str) and text.lstrip()[:1] in ("{", "[")


def apply_delta(previous: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """The request body `delta` describes, sharing `previous`'s unchanged values (not copies)."""
    body = {k: v for k, v in previous.items() if k not in delta.get("unset", ())}
    body.update(delta.get("set", {}))
    if "messages" in delta:
        before = previous["messages"]
        messages: list[Any] = []
        for item in delta["messages"]:
            if isinstance(item, dict) and "same" in item:
                first, last = item["same"]
                if not 0 <= first <= last < len(before):
                    raise ValueError(f"'same' refers to messages {first}..{last} of {len(before)}")
                messages += before[first : last + 1]
            elif isinstance(item, dict) and "edit" in item:
                old = before[item["edit"]]
                content = old["content"]
                at, cut = item["at"], item["cut"]
                messages.append({**old, "content": content[:at] + item["insert"] + content[at + cut :]})
            else:
                messages.append(item)
        body["messages"] = messages
    return body


# ------------------------------------------------------------------ writing


def body_delta(previous: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """What `apply_delta(previous, ...)` needs to rebuild `body`."""
    texts_before = [canonical(m) for m in previous["messages"]]
    return _body_delta(previous, body, texts_before, [canonical(m) for m in body["messages"]])[0]


def _body_delta(
    previous: dict[str, Any], body: dict[str, Any], texts_before: list[str], texts_now: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The delta, and the texts of `body`'s messages (the next request's `texts_before`). A message's
    text is its JSON, canonical or as sent, the same kind for both requests: equal texts, equal messages.

    Messages are matched where an agent's history keeps them (the next one of the run matched before,
    or the same position) by equality, which `_strict_loads` makes exact, and their texts reused; only
    other messages are encoded, and looked for anywhere by their text. So a long conversation is
    written in time linear in its length."""
    delta: dict[str, Any] = {}
    changed = {k: v for k, v in body.items() if k != "messages" and (k not in previous or not _same(previous[k], v))}
    if changed:
        delta["set"] = changed
    gone = [k for k in previous if k not in body]
    if gone:
        delta["unset"] = gone
    before = previous["messages"]
    messages = body["messages"]
    first_seen: dict[str, int] | None = None
    items: list[Any] = []
    texts: list[str] = []
    position = 0
    while position < len(messages):
        message = messages[position]
        run = items[-1]["same"] if items and isinstance(items[-1], dict) and "same" in items[-1] else None
        start = None
        if run is not None and run[1] + 1 < len(before) and _same(before[run[1] + 1], message):
            start = run[1] + 1
        elif position < len(before) and _same(before[position], message):
            start = position
            run = None
        if start is not None:
            length = _common_run(before, start, messages, position)
            if run is not None:
                run[1] += length
            else:
                items.append({"same": [start, start + length - 1]})
            texts += texts_before[start : start + length]
            position += length
            continue
        text = texts_now[position]
        texts.append(text)
        if first_seen is None:
            first_seen = {}
            for index, other in enumerate(texts_before):
                first_seen.setdefault(other, index)
        found = first_seen.get(text)
        if found is not None:
            items.append({"same": [found, found]})
        elif position < len(before) and _spliceable(before[position], message):
            items.append(_splice(position, before[position]["content"], message["content"]))
        else:
            items.append(message)
        position += 1
    delta["messages"] = items
    return delta, texts


def _common_run(before: list[Any], start: int, messages: list[Any], position: int) -> int:
    """How many messages from `messages[position]` on equal those from `before[start]` on (at least the
    first does). Whole slices are compared at C speed: the longest run first, then halving."""
    low, high = 1, min(len(before) - start, len(messages) - position)
    if _same(before[start : start + high], messages[position : position + high]):
        return high
    high -= 1
    while low < high:
        middle = (low + high + 1) // 2
        if _same(before[start : start + middle], messages[position : position + middle]):
            low = middle
        else:
            high = middle - 1
    return low


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON, given values from `_strict_loads` (both ways round: `True == 1` in Python, but a
    strict 1 refuses True)."""
    return a is b or bool(a == b and b == a)


class _StrictInt(int):
    """A JSON integer that equals only integers: never True, never 1.0."""

    def __eq__(self, other: object) -> bool:
        return type(other) is _StrictInt and int(self) == int(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = int.__hash__


class _StrictFloat(float):
    """A JSON number with a fraction or exponent that equals only the same number written the same way
    (so 0.0 is not -0.0, and 1.0 is not 1)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is _StrictFloat and float.__repr__(self) == float.__repr__(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = float.__hash__


def _strict_loads(text: str) -> Any:
    """JSON whose values compare equal exactly when their canonical JSON is equal (they encode as usual)."""
    return json.loads(text, parse_int=_StrictInt, parse_float=_StrictFloat)


def _spliceable(old: Any, new: Any) -> bool:
    """The same message but for its text (the system message after a memory edit)."""
    return (
        isinstance(old, dict)
        and isinstance(new, dict)
        and isinstance(old.get("content"), str)
        and isinstance(new.get("content"), str)
        and old.keys() == new.keys()
        and all(old[k] == new[k] for k in old if k != "content")
    )


def _splice(position: int, old: str, new: str) -> dict[str, Any]:
    limit = min(len(old), len(new))
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    return {
        "edit": position,
        "at": prefix,
        "cut": len(old) - prefix - suffix,
        "insert": new[prefix : len(new) - suffix],
    }


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in _YAML_UNSAFE.items():
        if char in text:
            text = text.replace(char, escaped)
    return text


def layout(body: dict[str, Any]) -> str:
    """A JSON object laid out one top-level key per line, and one item per line in lists of objects."""
    lines = ["{"]
    items = list(body.items())
    for number, (key, value) in enumerate(items):
        comma = "," if number < len(items) - 1 else ""
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{_json(key)}: [")
            lines += [f"  {_json(v)}{',' if i < len(value) - 1 else ''}" for i, v in enumerate(value)]
            lines.append(f"]{comma}")
        else:
            lines.append(f"{_json(key)}: {_json(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


class _Dumper(_DUMPER):  # type: ignore[misc,valid-type]
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str_representer)


def dump(data: dict[str, Any]) -> str:
    """vcrpy's cassette dict (`interactions` of request/response dicts, `version`, `metadata`) as text.

    Request bodies may be given raw (text), decoded, or as this format's deltas; each is written whole or
    as a delta from the one before it, whichever the rule above says."""
    out = {key: data[key] for key in ORDER if key in data}
    written: list[dict[str, Any]] = []
    previous: Any = None
    texts = NO_TEXTS
    for interaction in data.get("interactions", []):
        request = dict(interaction["request"])
        request.pop("headers", None)  # nothing in them is needed to replay, and some would be secret
        if request.get("method") == DEFAULT_METHOD:
            del request["method"]
        body, body_texts = _read_written_body(request.get("body"), previous, texts)
        if isinstance(previous, dict) and _chat(previous) and isinstance(body, dict) and _chat(body):
            request["body"] = {"delta": layout(_body_delta(previous, body, texts.texts, body_texts.texts)[0])}
        elif isinstance(body, dict):
            request["body"] = layout(body)
        else:
            request["body"] = body
        previous, texts = body, body_texts
        written.append({"request": request, "response": _compact_response(interaction["response"])})
    if "interactions" in out:
        out["interactions"] = written
    return yaml.dump(out, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def _read_written_body(stored: Any, previous: Any, before: Texts) -> tuple[Any, Texts]:
    """A request body to write, decoded (strictly), and the JSON text of each of its messages."""
    if isinstance(stored, dict) and "delta" in stored:
        body = _read_body(stored, previous)
        messages = body.get("messages") if isinstance(body, dict) else None
        return body, Texts([canonical(m) for m in messages], "", messages) if isinstance(messages, list) else NO_TEXTS
    if not isinstance(stored, str | bytes):
        stored = json.dumps(stored)  # decoded already: decode again, strictly
    if isinstance(stored, bytes):
        stored = stored.decode("utf-8", "replace")
    try:
        return _decode_reusing(stored, before)
    except (ValueError, IndexError):
        try:
            body = _strict_loads(stored)
        except ValueError:
            return stored, NO_TEXTS
        messages = body.get("messages") if isinstance(body, dict) else None
        return body, Texts([canonical(m) for m in messages], "", messages) if isinstance(messages, list) else NO_TEXTS


_DECODER = json.JSONDecoder(parse_int=_StrictInt, parse_float=_StrictFloat)
_SPACE = re.compile(r"[ \t\n\r]*")
_AFTER_VALUE = frozenset(" \t\n\r,]")


@dataclass(frozen=True)
class Texts:
    """The JSON text of each message of a request as written, how they were separated, and the decoded
    messages: what the next request's decoding may reuse."""

    texts: list[str]
    separator: str
    messages: list[Any]


NO_TEXTS = Texts([], "", [])


def _decode_reusing(raw: str, before: Texts) -> tuple[Any, Texts]:
    """Decode a JSON object, taking each message that is, as text, the next message of the previous
    request (or the one at its position) from that request instead of decoding it again: an agent
    resends its whole history at every step, and this keeps writing a long conversation linear. The same
    text is the same value, so the result is what decoding the whole would give. Raises ValueError for
    anything but a JSON object."""
    position = _SPACE.match(raw, 0).end()  # type: ignore[union-attr]
    if not raw.startswith("{", position):
        raise ValueError("not a JSON object")
    position = _SPACE.match(raw, position + 1).end()  # type: ignore[union-attr]
    body: dict[str, Any] = {}
    texts = NO_TEXTS
    if raw.startswith("}", position):
        position += 1
    else:
        while True:
            key, position = _DECODER.raw_decode(raw, position)
            if not isinstance(key, str):
                raise ValueError("a key that is not a string")
            position = _SPACE.match(raw, position).end()  # type: ignore[union-attr]
            if not raw.startswith(":", position):
                raise ValueError("':' expected")
            position = _SPACE.match(raw, position + 1).end()  # type: ignore[union-attr]
            if key == "messages" and raw.startswith("[", position):
                body[key], texts, position = _decode_messages(raw, position + 1, before)
            else:
                body[key], position = _DECODER.raw_decode(raw, position)
            position = _SPACE.match(raw, position).end()  # type: ignore[union-attr]
            if raw.startswith(",", position):
                position = _SPACE.match(raw, position + 1).end()  # type: ignore[union-attr]
                continue
            if raw.startswith("}", position):
                position += 1
                break
            raise ValueError("',' or '}' expected")
    if _SPACE.match(raw, position).end() != len(raw):  # type: ignore[union-attr]
        raise ValueError("text after the JSON object")
    return body, texts


def _decode_messages(raw: str, position: int, before: Texts) -> tuple[list[Any], Texts, int]:
    """The messages array from after its "[" on, reusing `before`'s messages where their text stands."""
    texts_before, separator = before.texts, before.separator
    messages: list[Any] = []
    texts: list[str] = []
    own_separator = ""
    position = _SPACE.match(raw, position).end()  # type: ignore[union-attr]
    if raw.startswith("]", position):
        return messages, Texts([], "", messages), position + 1
    following = 0  # the previous request's message after the last one reused
    while True:
        for candidate in (following, len(messages)):
            length = _reusable(raw, position, texts_before, candidate, separator)
            if length:
                chunk = texts_before[candidate : candidate + length]
                messages += before.messages[candidate : candidate + length]
                texts += chunk
                if length > 1:
                    own_separator = separator
                position += sum(map(len, chunk)) + len(separator) * (length - 1)
                following = candidate + length
                break
        else:
            value, end = _DECODER.raw_decode(raw, position)
            messages.append(value)
            texts.append(raw[position:end])
            position = end
        after = _SPACE.match(raw, position).end()  # type: ignore[union-attr]
        if raw.startswith(",", after):
            following_start = _SPACE.match(raw, after + 1).end()  # type: ignore[union-attr]
            own_separator = own_separator or raw[position:following_start]
            position = following_start
            continue
        if raw.startswith("]", after):
            return messages, Texts(texts, own_separator, messages), after + 1
        raise ValueError("',' or ']' expected")


def _reusable(raw: str, position: int, texts: list[str], first: int, separator: str) -> int:
    """How many of the previous request's messages, from `first` on, stand as text at `position`:
    the whole rest at once if it can, else the longest run found by halving (0 if not even one)."""

    def stands(count: int) -> bool:
        end = position + sum(map(len, texts[first : first + count])) + len(separator) * (count - 1)
        if end > len(raw) or not (end == len(raw) or raw[end] in _AFTER_VALUE):
            return False
        return raw.startswith(separator.join(texts[first : first + count]), position)

    if first >= len(texts) or not stands(1):
        return 0
    most = len(texts) - first if separator else 1
    if most == 1 or stands(most):
        return most
    low, high = 1, most - 1
    while low < high:
        middle = (low + high + 1) // 2
        if stands(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _compact_response(response: dict[str, Any]) -> dict[str, Any]:
    """The response as written: a JSON body on one line, the status as its code when the phrase is the
    standard one, and no headers when all they say is that the body is JSON."""
    out = dict(response)
    status = out.get("status")
    if isinstance(status, dict) and status.get("message") == _reason(status.get("code", 0)):
        out["status"] = status["code"]
    if out.get("status") == DEFAULT_STATUS:
        del out["status"]
    stored = out.get("body")
    if isinstance(stored, dict) and set(stored) == {"string"} and isinstance(stored["string"], str):
        text = stored["string"]
        with contextlib.suppress(ValueError):
            text = _json(json.loads(text)) + "\n"
        out["body"] = text
    headers = out.get("headers") or {}
    types = [str(v) for k, values in headers.items() if k.lower() == "content-type" for v in values]
    only_json = {k.lower() for k in headers} <= {"content-type"} and all("json" in t for t in types)
    if only_json and _is_json(out.get("body")):
        out.pop("headers", None)
    return out


def _chat(body: dict[str, Any]) -> bool:
    return isinstance(body.get("messages"), list)


def to_vcr_dict(cassette: CassetteData) -> dict[str, Any]:
    """What vcrpy's deserializer expects: every body whole, as text."""
    interactions = [
        {
            "request": {
                "method": i.request.method,
                "uri": i.request.uri,
                "body": i.request.body if isinstance(i.request.body, str) else json.dumps(i.request.body),
                "headers": i.request.headers,
            },
            "response": i.response,
        }
        for i in cassette.interactions
    ]
    data: dict[str, Any] = {"version": 1, "interactions": interactions}
    if cassette.metadata:
        data["metadata"] = cassette.metadata
    return data
