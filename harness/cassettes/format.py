"""The cassette file: vcrpy's YAML layout (`version`, `interactions`, `metadata`), written so that it grows
linearly with a conversation and reads like one.

A chat agent sends its whole history at every step, so a plain cassette repeats every earlier message,
the tool schemas and the system prompt in every interaction: quadratic in the number of turns. Here the
first request of a cassette is stored whole, and each later one as what changed since the latest request of
its own conversation (`_delta_base_for`: the one before it unless `base` names another, as when an agent's
steps alternate with its summarizer's requests):

    body:
      delta: |
        {"messages": [
          {"same": [0, 3]},                                      <- messages 0..3 of the base request
          {"edit": 4, "at": 120, "cut": 9, "insert": "Azin"},    <- message 4 of it, its content spliced
                                                                    (or "splices": [[at, cut, insert], ...])
          {"role": "assistant", "content": null, "tool_calls": [...]},
          {"role": "tool", "tool_call_id": "call_4_0", "content": "..."}
        ]}

with `"set": {...}` for top-level keys that changed (model settings, tools) and `"unset": [...]` for keys
that went away. An item is a directive by its exact keys; a message that has those keys and no others is
written as `{"literal": message}`. Each request also stores its key (`keys.digest`, beside `uri`), so
replay finds requests without decoding a single recorded body; a cassette without keys is keyed from its
bodies. A request's `method` is written only when it is not POST, a response's `status` only when it is
not 200, its headers only when they say more than "this is JSON", and request headers never.

Bodies are JSON laid out one message (or tool) per line inside literal YAML blocks: few YAML nodes to
parse (libyaml reads them fast), and a re-recording diffs message by message. Responses are one JSON
line each. Cassettes written before this format (every body whole, vcrpy's own layout) load unchanged.

Reading builds every request body as decoded JSON, sharing the message objects a delta reuses, and the
canonical text of each message likewise, so keying a long cassette encodes each distinct message once;
writing (see `delta`) is linear in the conversation too.
"""

from __future__ import annotations

import contextlib
import http
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from harness import jsontext, yamlsubset
from harness.cassettes.delta import (
    NO_TEXTS,
    SAME,
    Budget,
    Texts,
    apply_delta,
    decode_reusing,
    delta_with_texts,
    item_kind,
    strict_loads,
)
from harness.cassettes.keys import Keyer, canonical, current_digest
from harness.cassettes.repeats import REPEATS_KEY, count_problem
from harness.errors import CassetteError
from harness.yamlsource import CASSETTE_LIMITS, TooBig, compose, unacceptable_at

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ORDER = ("metadata", "version", "interactions")
CALL_IDS_KEY = "tool_call_ids"  # metadata: which tool-call ids the recording put in history (llm.chat.CallIds)
FINGERPRINT_KEY = "agent"  # metadata: what the recording depends on (harness.fingerprint)
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
    key: str | None = None  # the stored `keys.digest` of the request, when it is of the current scheme


@dataclass
class Interaction:
    request: RecordedRequest
    response: dict[str, Any]  # vcrpy's response dict: status, headers, body.string


@dataclass
class CassetteData:
    interactions: list[Interaction]
    metadata: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ reading

_LOCAL_CALL_ID = re.compile(r"call_[0-9]+_[0-9]+")


def history_call_ids(bodies: Iterable[Any], answers: Iterable[str]) -> str | None:
    """Which tool-call ids a cassette's history holds (`llm.chat.CallIds`' value), told from what it recorded,
    for one whose metadata does not say (a plain vcrpy cassette, or the harness's from before it kept
    provider ids): "provider" when a request sends back an id a recorded answer gave, "local" when one
    sends back a `call_N_i`, None when no request tells (no call went back into history)."""
    sent = {
        call["id"]
        for body in bodies
        if isinstance(body, dict) and isinstance(body.get("messages"), list)
        for message in body["messages"]
        if isinstance(message, dict)
        and message.get("role") == "assistant"
        and isinstance(message.get("tool_calls"), list)
        for call in message["tool_calls"]
        if isinstance(call, dict) and isinstance(call.get("id"), str)
    }
    if not sent:
        return None
    if sent & _answered_call_ids(answers):
        return "provider"
    return "local" if any(_LOCAL_CALL_ID.fullmatch(each) for each in sent) else None


def _answered_call_ids(answers: Iterable[str]) -> set[str]:
    """The tool-call ids recorded answers gave: a completion's message, or a stream's deltas."""
    found: set[str] = set()
    for text in answers:
        events = [line[5:] for line in text.splitlines() if line.startswith("data:")] or [text]
        for event in events:
            try:
                data = jsontext.parse(event)
            except ValueError:
                continue
            choices = data.get("choices") if isinstance(data, dict) else None
            for choice in choices if isinstance(choices, list) else ():
                for part in ("message", "delta"):
                    message = choice.get(part) if isinstance(choice, dict) else None
                    calls = message.get("tool_calls") if isinstance(message, dict) else None
                    for call in calls if isinstance(calls, list) else ():
                        if isinstance(call, dict) and isinstance(call.get("id"), str) and call["id"]:
                            found.add(call["id"])
    return found


def parse(text: str, name: str, *, keys_only: bool = False) -> CassetteData:
    """A cassette file's text; anything malformed is a CassetteError naming the file.

    `keys_only`: when every request carries a key of the current scheme, the request bodies are left
    undecoded (`body` None): replay finds requests by key and reads the bodies only to explain a miss.
    The metadata's `agent` fingerprint is left out too: replay never reads it."""
    try:
        data = _load_yaml_of(text, keys_only)
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise ValueError("no `interactions` list")
        metadata = data.get("metadata") or {}
        if isinstance(metadata, dict) and (problem := count_problem(metadata)) is not None:
            line = _line_of_count(text)
            raise ValueError((f"line {line}: " if line is not None else "") + problem)
        bodies: list[Any] = []  # every request body so far: a delta names the one it applies to
        texts_of: list[list[str] | None] = []
        kept_of: dict[int, tuple[dict[str, int], int]] = {}  # a base's values but messages: their JSON's length
        interactions: list[Interaction] = []
        budget = Budget()  # what all its requests and answers may hold once rebuilt
        skip_bodies = keys_only and all(
            isinstance(item, dict)
            and isinstance(item.get("request"), dict)
            and current_digest(item["request"].get("key"))
            for item in data["interactions"]
        )
        for number, item in enumerate(data["interactions"]):
            try:
                request, response = item["request"], item["response"]
                if not isinstance(request, dict):
                    raise ValueError("a `request` must be a mapping")
                stored = request.get("body")
                key = request.get("key")
                method = request.get("method", DEFAULT_METHOD)
                if not isinstance(method, str) or not isinstance(request["uri"], str):
                    raise ValueError("a request's `method` and `uri` must be text (POST, http://...)")
                headers = _read_headers(request.get("headers") or {}, "request")
                if skip_bodies:
                    recorded = RecordedRequest(method, request["uri"], None, headers, None, key)
                    interactions.append(Interaction(recorded, _read_response(response, budget)))
                    continue
                body, texts = _read_stored_body(stored, bodies, texts_of, budget, kept_of)
                bodies.append(body)
                texts_of.append(texts)
                recorded = RecordedRequest(
                    method,
                    request["uri"],
                    body,
                    headers,
                    texts,
                    key if current_digest(key) else None,
                )
                interactions.append(Interaction(recorded, _read_response(response, budget)))
            except TooBig as exc:  # past the budget: not a cassette the harness reads, said where
                raise TooBig(f"{_interaction_at(text, number)}: {exc}") from None
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise ValueError(f"{_interaction_at(text, number)}: {type(exc).__name__}: {exc}") from None
    except MemoryError:  # a process allowed little memory (ulimit -v, a container): said, not a traceback
        raise CassetteError(name, too_big(text)) from None
    except TooBig as exc:
        where = f" at line {exc.line}" if exc.line else ""
        raise CassetteError(name, f"not a cassette the harness reads: {exc}{where}") from None
    except (yaml.YAMLError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        if isinstance(exc, yaml.reader.ReaderError):  # located by an offset (libyaml's in bytes): said as line:col
            line, column = unacceptable_at(text)
            reason = f"unacceptable character #x{exc.character:04x}: {exc.reason}, line {line}, column {column}"
        raise CassetteError(name, f"not a readable cassette ({type(exc).__name__}: {reason})") from None
    return CassetteData(interactions, metadata if isinstance(metadata, dict) else {})


def too_big(text: str) -> str:
    """Why a cassette of `text` could not be read where memory ran out (within the bounds `Budget` keeps)."""
    return (
        f"too big ({len(text) // (1 << 20)} MB) to read in the memory this process may use: run the command "
        "where it may use more"
    )


_COUNT_LINE = re.compile(r"^  " + REPEATS_KEY + ":", re.MULTILINE)


def _line_of_count(text: str) -> int | None:
    """The file line (1-based) of the metadata's repeat count, as this module writes it, or None."""
    found = _COUNT_LINE.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


_INTERACTION_START = re.compile(r"^- request:", re.MULTILINE)


def _interaction_at(text: str, number: int) -> str:
    """`interaction N (line L)`: where something in the cassette cannot be read."""
    line = interaction_line(text, number)
    return f"interaction {number}" + (f" (line {line})" if line is not None else "")


def interaction_line(text: str, number: int) -> int | None:
    """The file line (1-based) where interaction `number` starts, as this module and vcrpy write them
    (`- request:` at the margin), or None in a file laid out otherwise: said only when something in it
    cannot be read."""
    for index, found in enumerate(_INTERACTION_START.finditer(text)):
        if index == number:
            return text.count("\n", 0, found.start()) + 1
    return None


_NEXT_TOP_LEVEL = re.compile(r"^[^ \n]", re.MULTILINE)
_OUT_OF_BLOCK = re.compile(r"^(?! {4}| *$)", re.MULTILINE)  # a line of text indented less than the block's
_FINGERPRINT_KEY = "\n  " + FINGERPRINT_KEY + ":\n"


def _load_yaml_of(text: str, keys_only: bool) -> Any:
    """The cassette's YAML, its fingerprint left out for replay; a file that does not read is read again
    whole, so that the error's line is the file's (the fingerprint's lines come before most of it)."""
    shortened = _without_fingerprint(text) if keys_only else text
    try:
        return _load_yaml(shortened)
    except Exception:
        if shortened is text:
            raise
        return _load_yaml(text)


def _without_fingerprint(text: str) -> str:
    """The cassette's text without the `agent` block of its metadata (as `note_recording` writes it, the
    fingerprint `cassettes check` compares): a quarter of a one-step cassette's lines, which replay would
    parse for nothing. Text laid out otherwise is returned as it is."""
    if not text.startswith("metadata:\n"):
        return text
    metadata_end = _NEXT_TOP_LEVEL.search(text, 1)
    start = text.find(_FINGERPRINT_KEY, 0, metadata_end.start() if metadata_end else len(text))
    if start < 0:
        return text
    block_end = _OUT_OF_BLOCK.search(text, start + len(_FINGERPRINT_KEY))
    return text[: start + 1] + (text[block_end.start() :] if block_end else "")


_SCALARS: dict[str, Any] = {
    "tag:yaml.org,2002:str": str,
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
    loader, node = compose(text, CASSETTE_LIMITS)
    try:
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
                    value = {}
                    for key_node, item in node.value:
                        key = _mapping_key(key_node, build)
                        if key in value:
                            raise ValueError(_duplicate(key_node, node, build))
                        value[key] = build(item)
            else:  # pragma: no cover - libyaml knows no other node kinds
                value = loader.construct_object(node, deep=True)
            built[id(node)] = value
            return value

        return build(node)
    finally:
        loader.dispose()


def _mapping_key(node: yaml.Node, build: Callable[[yaml.Node], Any]) -> Any:
    """A mapping's key as built; a list or a mapping as a key (`? [a, b]`), which no dict can hold (a
    TypeError that named no file), refused with its line."""
    if isinstance(node, yaml.ScalarNode):
        return build(node)
    kind = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
    raise ValueError(f"line {node.start_mark.line + 1}: a mapping key that is a {kind}: a key is a plain value")


def _duplicate(key: yaml.Node, mapping: yaml.MappingNode, build: Callable[[yaml.Node], Any]) -> str:
    """A key given twice in one mapping (a merge that kept both sides?): PyYAML would keep the last silently,
    so a replay would play whichever side came second. Said with both lines."""
    first = next(k for k, _ in mapping.value if build(k) == build(key))  # built once: `build` keeps them
    said = key.value if isinstance(key.value, str) and len(key.value) <= 40 else "a key"
    return (
        f"line {key.start_mark.line + 1}: duplicate key `{said}` (first at line {first.start_mark.line + 1}): "
        "keep one (was a merge resolved by keeping both sides?)"
    )


def _read_stored_body(
    stored: Any,
    bodies: list[Any],
    texts_of: list[list[str] | None],
    budget: Budget,
    kept_of: dict[int, tuple[dict[str, int], int]],
) -> tuple[Any, list[str] | None]:
    """A request body as stored (whole, or a delta from an earlier one of `bodies`) decoded, and the
    canonical text of each of its messages (None for a body that is not a chat), reusing the texts of
    the body a delta reuses messages of. Its text (and what the delta rebuilds) is taken from `budget`
    first: a YAML alias can stand for a long text many times over at the cost of a few characters."""
    if isinstance(stored, dict) and "delta" in stored:
        budget.take_text(stored["delta"])
        delta = jsontext.parse(stored["delta"])
        base = _delta_base(delta, bodies)
        body = apply_delta(bodies[base], delta, budget)
        kept, total = _kept(bodies, base, kept_of)
        if "set" in delta or "unset" in delta:
            kept = {
                key: kept[key] if key in kept and value is bodies[base][key] else len(canonical(value))
                for key, value in body.items()
                if key != "messages"
            }
            total = sum(kept.values())
        kept_of[len(bodies)] = kept, total
        budget.take_kept(total)
        return body, _delta_texts(delta, body, texts_of[base])
    budget.take_text(stored)
    body = _read_body(stored)
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return body, None
    budget.take_messages(len(messages))
    return body, [canonical(m) for m in messages]


def _kept(bodies: list[Any], base: int, kept_of: dict[int, tuple[dict[str, int], int]]) -> tuple[dict[str, int], int]:
    """The length of the JSON of each value but the messages of the request body `base` (a dict), and
    their sum, found once: encoded the first time a delta applies to a body stored whole, carried over
    from delta to delta."""
    found = kept_of.get(base)
    if found is None:
        sizes = {key: len(canonical(value)) for key, value in bodies[base].items() if key != "messages"}
        found = kept_of[base] = sizes, sum(sizes.values())
    return found


def _delta_base(delta: Any, bodies: list[Any]) -> int:
    """Which earlier request a delta applies to: its `base`, else the one just before it."""
    if not isinstance(delta, dict):
        raise ValueError("a delta must be a JSON object")
    if not bodies:
        raise ValueError("a delta body must follow a JSON request body")
    base = delta.get("base", len(bodies) - 1)
    if type(base) is not int or not 0 <= base < len(bodies):
        raise ValueError(f"a delta's base must be an earlier request's number, not {base!r}")
    if not isinstance(bodies[base], dict):
        raise ValueError("a delta body must follow a JSON request body")
    return base


def _read_body(stored: Any) -> Any:
    """A request body stored whole."""
    if stored is None:
        return ""
    if isinstance(stored, bytes):
        stored = stored.decode("utf-8", "replace")
    if isinstance(stored, str):
        try:
            return jsontext.parse(stored)
        except ValueError:
            return stored
    raise ValueError(f"a request body must be text or a delta, not {type(stored).__name__}")


def _delta_texts(delta: dict[str, Any], body: Any, previous: list[str] | None) -> list[str] | None:
    """The canonical text of each message of `body`, reusing its base's where the delta did."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    messages = body["messages"]
    if previous is None:
        return [canonical(m) for m in messages]
    items = delta.get("messages")
    if items is None:
        return previous
    texts: list[str] = []
    for item in items:
        if item_kind(item) == SAME:
            first, last = item["same"]
            texts += previous[first : last + 1]
        else:
            texts.append(canonical(messages[len(texts)]))
    return texts


def _read_response(stored: Any, budget: Budget) -> dict[str, Any]:
    """vcrpy's response dict from the compact form this module writes (or from vcrpy's own), its text
    taken from `budget` (replay decodes every answer: a YAML alias could repeat a long one)."""
    if not isinstance(stored, dict):
        raise ValueError("a response must be a mapping")
    status = stored.get("status", DEFAULT_STATUS)
    body = stored.get("body")
    budget.take_text(body.get("string") if isinstance(body, dict) else body)
    if _status_code(status):
        status = {"code": status, "message": _reason(status)}
    elif not (isinstance(status, dict) and _status_code(status.get("code"))):
        raise ValueError("a response's `status` must be an HTTP status code such as 200")
    if isinstance(body, str | bytes | None):
        body = {"string": body if body is not None else ""}
    elif isinstance(body, dict) and isinstance(body.get("string"), str | bytes | None):
        body = {**body, "string": body.get("string") or ""}
    else:
        raise ValueError("a response's `body` must be text")
    headers = stored.get("headers")
    if headers is None:
        headers = {"content-type": ["application/json"]} if _is_json(body.get("string")) else {}
    else:
        headers = _read_headers(headers, "response")
    message = status.get("message", "")
    if not isinstance(message, str | None):
        raise ValueError("a response's `status.message` must be text, such as OK")
    return {**stored, "status": status, "headers": headers, "body": body}


def _read_headers(headers: Any, owner: str) -> dict[str, list[str]]:
    """vcrpy's headers: each name with its list of values (a single value is taken as a list of one)."""
    if not isinstance(headers, dict):
        raise ValueError(f"a {owner}'s `headers` must be a mapping of names to their values")
    read: dict[str, list[str]] = {}
    for name, values in headers.items():
        listed = [values] if isinstance(values, str) else values
        if not (isinstance(name, str) and isinstance(listed, list) and all(isinstance(v, str) for v in listed)):
            raise ValueError(f"a {owner}'s header {name!r} must be text or a list of texts")
        read[name] = listed
    return read


def _status_code(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _reason(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


def _is_json(text: Any) -> bool:
    return isinstance(text, str) and text.lstrip()[:1] in ("{", "[")


# ------------------------------------------------------------------ writing


def _json(value: Any) -> str:
    text = jsontext.dumps(value, separators=(",", ":"))
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


class _PureDumper(yaml.SafeDumper):
    """PyYAML's own emitter, for the text `_emit` cannot give libyaml's."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Text with a line break as a `|` block; with a NEL (U+0085) double-quoted, as libyaml writes it anyway:
    PyYAML's own emitter would write it raw, and YAML reads a raw one as a line break."""
    style = '"' if "\x85" in value else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)
_PureDumper.add_representer(str, _str_representer)


def dump(data: dict[str, Any]) -> str:
    """vcrpy's cassette dict (`interactions` of request/response dicts, `version`, `metadata`) as text.

    Request bodies may be given raw (text), decoded, or as this format's deltas; each is written whole or
    as a delta from the one before it, whichever the rule above says."""
    out = {key: data[key] for key in ORDER if key in data}
    written: list[dict[str, Any]] = []
    previous: Any = None
    texts = NO_TEXTS
    keyer = Keyer()
    bodies: list[Any] = []  # every body written, decoded, and its messages' texts: the bases of deltas
    texts_of: list[list[str]] = []  # their messages' canonical texts: equal texts, equal messages
    latest: dict[Any, int] = {}  # a conversation's signature -> its latest request (see `_conversation`)
    for interaction in data.get("interactions", []):
        given = interaction["request"]
        # Headers are dropped: nothing in them is needed to replay, and some would be secret.
        request = {name: given[name] for name in ("method", "uri", "body") if name in given}
        if request.get("method") == DEFAULT_METHOD:
            del request["method"]
        body, body_texts = _read_written_body(request.get("body"), previous, texts, bodies)
        path = urlsplit(str(given.get("uri", ""))).path
        key = keyer.key(given.get("method", DEFAULT_METHOD), path, body)
        request["key"] = keyer.digest_of(key)
        canonical_texts = list(key[3] or ())
        request["body"] = request.pop("body", None)  # the key before the body, which may be long
        base = _delta_base_for(body, bodies, latest, key[2])
        if base is not None:
            delta = delta_with_texts(bodies[base], body, texts_of[base], canonical_texts)[0]
            request["body"] = {"delta": layout({"base": base, **delta} if base != len(bodies) - 1 else delta)}
        elif isinstance(body, dict):
            request["body"] = layout(body)
        elif isinstance(body, str):
            request["body"] = jsontext.storable(body)  # not JSON: as it was
        else:
            request["body"] = _json(body)  # JSON, but not an object: its text
        previous, texts = body, body_texts
        bodies.append(body)
        texts_of.append(canonical_texts)
        written.append({"request": request, "response": _compact_response(interaction["response"])})
    if "interactions" in out:
        out["interactions"] = written
    return _emit(out)


def _emit(data: dict[str, Any]) -> str:
    """`data` as YAML text, the same whether PyYAML has libyaml or not.

    libyaml's emitter counts every character beyond U+FFFF (an emoji) as unprintable: a body holding one
    came out a double-quoted scalar of `\\U0001F600` escapes and `\\n`s, where PyYAML's own emitter keeps
    the `|` block, one message a line. A text libyaml escaped one in is written again by PyYAML's emitter
    (about five times libyaml's cost, paid only when recording such a cassette); the rest cost one search."""
    text = _yaml(data, _Dumper)
    if _DUMPER is not yaml.SafeDumper and _ASTRAL_ESCAPE.search(text) is not None:
        return _yaml(data, _PureDumper)
    return text


def _yaml(data: Any, dumper: type[yaml.SafeDumper]) -> str:
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=1000)


_ASTRAL_ESCAPE = re.compile(r"\\U[0-9A-F]{8}")  # how libyaml writes a character beyond U+FFFF


def _conversation(body: dict[str, Any], key_part: str) -> tuple[tuple[Any, str], tuple[Any, str] | None]:
    """Which conversation a chat request belongs to, loosely then strictly: the first line of its first
    message, then that and its tools (their canonical JSON, which ends `key_part`, the settings and tools
    part of the request's key). Several conversations share a cassette (a summarizer between an agent's
    steps, a simulated user, a judge, another agent), and a request is stored as a delta from the latest
    one of its own."""
    messages = body["messages"]
    first = messages[0] if messages and isinstance(messages[0], dict) else {}
    content = first.get("content")
    line = (first.get("role"), content.split("\n", 1)[0][:200] if isinstance(content, str) else "")
    return line, (line, key_part.split("\n", 1)[1]) if "tools" in body else None


def _delta_base_for(body: Any, bodies: list[Any], latest: dict[Any, int], key_part: str) -> int | None:
    """The earlier request `body` is written as a delta from (None: written whole), noting `body` as the
    latest of its conversation: the latest request with its first line and tools, else with its first
    line, else the request just before it, when that is a chat; a body that is no chat is written whole."""
    if not (isinstance(body, dict) and _chat(body)):
        return None
    line, strict = _conversation(body, key_part)
    previous = len(bodies) - 1
    base = latest.get(strict) if strict is not None else None
    if base is None:
        base = latest.get(line)
    if base is None and previous >= 0 and isinstance(bodies[previous], dict) and _chat(bodies[previous]):
        base = previous
    latest[line] = len(bodies)
    if strict is not None:
        latest[strict] = len(bodies)
    return base


def _canonical_texts(body: Any) -> Texts:
    messages = body.get("messages") if isinstance(body, dict) else None
    return Texts([canonical(m) for m in messages], "", messages) if isinstance(messages, list) else NO_TEXTS


def _read_written_body(stored: Any, previous: Any, before: Texts, bodies: list[Any]) -> tuple[Any, Texts]:
    """A request body to write, decoded (strictly), and the JSON text of each of its messages."""
    if isinstance(stored, dict) and "delta" in stored:
        delta = jsontext.parse(stored["delta"])
        body = apply_delta(bodies[_delta_base(delta, bodies)], delta)
        return body, _canonical_texts(body)
    if not isinstance(stored, str | bytes):
        stored = json.dumps(stored)  # decoded already: decode again, strictly
    if isinstance(stored, bytes):
        stored = stored.decode("utf-8", "replace")
    try:
        return decode_reusing(stored, before)
    except (ValueError, IndexError):
        try:
            body = strict_loads(stored)
        except ValueError:
            return stored, NO_TEXTS
        return body, _canonical_texts(body)


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
        text = jsontext.storable(stored["string"])  # a text body cannot hold a lone surrogate; JSON escapes it
        with contextlib.suppress(ValueError):
            text = _json(jsontext.parse(stored["string"])) + "\n"
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
