"""How a request is recognised in a cassette: method, the endpoint's operation and the canonical JSON body.

The operation is the end of the URL path that names what is asked (`chat/completions`, `embeddings`),
not the prefix before it: a cassette recorded through `http://host/some/prefix/v1` replays against any
other base URL (a proxy, another port, Azure's deployment path), since the request is the same.

A key is equal for two requests exactly when their canonical bodies (sorted keys, no whitespace) are
equal. It is built from parts so a long conversation is never re-encoded whole at each step: a chat
request's messages are canonicalised one by one and each message object is encoded once (the loop sends
the same message dicts again at every step, and a delta cassette shares them between its requests).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from harness import jsontext

RequestKey = tuple[str, str, str, tuple[str, ...] | None]
_BIG_PARTS = frozenset({"messages", "tools"})
# How many requests back `Keyer.digest` finds a message object again: an agent's step, its summarizer's,
# a simulated user's and a judge's requests interleave.
_RECENT = 4


OPERATIONS = ("chat/completions", "embeddings", "completions")
# A stored request key (see `digest`) names its scheme, so a cassette written by a harness that keys
# requests another way is keyed from its bodies instead of trusted.
KEY_SCHEME = "k1"


def operation(path: str) -> str:
    """What a request path asks for, without the base URL's prefix (`/x/v1/chat/completions` ->
    `chat/completions`); a path that names no known operation is kept whole."""
    path = path.rstrip("/")
    for name in OPERATIONS:
        if path == name or path.endswith("/" + name):
            return name
    return path


def path_prefix(path: str) -> str:
    """The base URL's path before the operation (`/x/v1/chat/completions` -> `/x/v1`)."""
    name = operation(path)
    stripped = path.rstrip("/")
    return stripped[: len(stripped) - len(name)].rstrip("/") if name != stripped else ""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> str:
    """Sorted keys, no whitespace, text as is (one encoder, built once: `json.dumps` with options builds
    a new one per call)."""
    return _CANONICAL.encode(value)


def canonical_body(body: bytes | str | None) -> str:
    """A raw body with JSON key order and whitespace normalised away (non-JSON is kept as text)."""
    if body is None:
        return ""
    try:
        return canonical(jsontext.parse(body))
    except ValueError:
        return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


def decode_body(body: bytes | str | None) -> Any:
    """A raw body as JSON data when it is JSON, else as text."""
    if body is None or body == b"" or body == "":
        return ""
    try:
        return jsontext.parse(body)
    except ValueError:
        return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


def _text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def digest(key: RequestKey, message_digests: list[bytes] | None = None) -> str:
    """A request key as a short text a cassette can store: equal for equal keys (a 128-bit BLAKE2b of its
    parts, each message hashed on its own so a long conversation hashes only its new messages), prefixed
    with the scheme. Canonical JSON holds no raw NUL, so NUL separates the parts unambiguously."""
    method, path, part, texts = key
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(f"{method}\0{path}\0{'J' if texts is not None else 'T'}\0".encode())
    hasher.update(part.encode("utf-8", "surrogatepass"))
    if texts is not None:
        hasher.update(b"\0")
        hasher.update(b"".join(message_digests if message_digests is not None else map(_text_digest, texts)))
    return f"{KEY_SCHEME}:{hasher.hexdigest()}"


def current_digest(value: object) -> bool:
    """Whether `value` is a stored key of this scheme."""
    return isinstance(value, str) and value.startswith(KEY_SCHEME + ":") and len(value) == len(KEY_SCHEME) + 33


_T = TypeVar("_T")


def _carried_over(items: Sequence[Any], before: Sequence[Any], done: list[_T], derive: Callable[[Any], _T]) -> list[_T]:
    """`derive` of each of `items`, taking `done` (derived from `before`) over in one step where every item
    but the first is the very object `before` had at that place: a conversation resends its history after
    a new system message, so a step's cost barely grows with the history."""
    reused = min(len(before), len(items))
    if reused > 1 and all(map(operator.is_, itertools.islice(items, 1, reused), itertools.islice(before, 1, reused))):
        return [derive(items[0]), *done[1:reused], *map(derive, itertools.islice(items, reused, None))]
    return [derive(item) for item in items]


class Keyer:
    """Computes request keys, encoding every distinct message or top-level value object once.

    The cache holds each encoded object (so its id cannot be reused while cached): a keyer belongs to one
    cassette or one conversation and lives as long as it. It is kept in a dict by id and a list, not as a
    (value, text) tuple per object: a long conversation then leaves no new container per step for the
    garbage collector to walk.
    """

    def __init__(self, *, by_identity: bool = True) -> None:
        """`by_identity=False` for bodies decoded afresh each time (what vcrpy hands a recording): their
        objects are never seen again, so caching them by id would only keep every one of them alive."""
        self._by_identity = by_identity
        self._encoded: dict[int, str] = {}  # id of an encoded object -> its canonical JSON
        self._kept: list[Any] = []  # the encoded objects, alive while their ids are keys of `_encoded`
        self._last: tuple[list[Any], list[str]] = ([], [])  # the previous request's messages, and texts
        self._digests: dict[str, bytes] = {}  # each message text's own digest (`digest`)
        self._last_digests: tuple[tuple[str, ...], list[bytes]] = ((), [])  # the previous request's
        # The messages of the last requests `digest` keyed, with their digests: they stay alive while here.
        self._recent: list[tuple[list[Any], list[bytes]]] = []

    def _message_texts(self, messages: list[Any]) -> list[str]:
        """The texts of `messages`, the previous request's taken over where its message objects stand again."""
        if not self._by_identity:
            return [canonical(message) for message in messages]
        texts = _carried_over(messages, *self._last, self._encode)
        self._last = (list(messages), texts)
        return texts

    def _encode(self, value: Any) -> str:
        if not self._by_identity or not isinstance(value, dict | list):
            return canonical(value)
        text = self._encoded.get(id(value))
        if text is None:
            text = self._encoded[id(value)] = canonical(value)
            self._kept.append(value)
        return text

    def _encode_items(self, value: Any) -> str:
        """A list encoded item by item: a loop builds a new list of tools at every step, but each tool's
        schema is the same object every time (canonical JSON of a list is its items' joined by commas)."""
        if not isinstance(value, list):
            return self._encode(value)
        return "[" + ",".join([self._encode(item) for item in value]) + "]"

    def key(self, method: str, path: str, body: Any, message_texts: list[str] | None = None) -> RequestKey:
        """The key of a request to `path` (only its operation counts). `body` is decoded JSON (or text, for
        a body that is not JSON); `message_texts`, when known, are the canonical texts of its messages (a
        cassette reader builds them as it goes)."""
        path = operation(path)
        if isinstance(body, dict):
            messages = body.get("messages")
            if isinstance(messages, list):
                # The big parts (messages, tool schemas) are encoded once per object; the small settings
                # are encoded together. Equal keys <=> equal canonical bodies still holds: every part is
                # canonical JSON and the parts are told apart by position.
                settings = canonical({k: v for k, v in body.items() if k not in _BIG_PARTS})
                tools = self._encode_items(body["tools"]) if "tools" in body else ""
                texts = message_texts if message_texts is not None else self._message_texts(messages)
                return (method.upper(), path, f"{settings}\n{tools}", tuple(texts))
            return (method.upper(), path, canonical(body), None)
        return (method.upper(), path, body if isinstance(body, str) else canonical(body), None)

    def digest(self, method: str, path: str, body: Any, message_texts: list[str] | None = None) -> str:
        """`digest` of the request's key, each distinct message text hashed once.

        A chat body whose texts are not given (replay keys every request it is sent) is digested message by
        message, no canonical text kept, and a message object is found again only among the last few
        requests' (`_RECENT`): a conversation resends its own, while a caller that builds each step's
        messages anew (a simulated user did) would otherwise keep every object of every step alive.
        Holding the texts, or every object, made replay's memory grow with the square of the conversation."""
        if message_texts is None and self._by_identity and isinstance(body, dict):
            messages = body.get("messages")
            if isinstance(messages, list):
                settings = canonical({k: v for k, v in body.items() if k not in _BIG_PARTS})
                tools = self._encode_items(body["tools"]) if "tools" in body else ""
                parts = self._message_digests(messages)
                return digest((method.upper(), operation(path), f"{settings}\n{tools}", ()), parts)
        return self.digest_of(self.key(method, path, body, message_texts))

    def _message_digests(self, messages: list[Any]) -> list[bytes]:
        """Each message's `_text_digest`: carried over from a recent request whose messages (but the first, a
        system message rebuilt at each step) are these very objects, else looked up among the recent ones'."""
        parts: list[bytes] | None = None
        for before, done in reversed(self._recent):
            reused = min(len(before), len(messages))
            if reused > 1 and all(
                map(operator.is_, itertools.islice(messages, 1, reused), itertools.islice(before, 1, reused))
            ):
                first = done[0] if messages[0] is before[0] else self._message_digest(messages[0], {})
                parts = [first, *done[1:reused]]
                parts += [self._message_digest(m, {}) for m in itertools.islice(messages, reused, None)]
                break
        if parts is None:
            known = {id(m): d for before, done in self._recent for m, d in zip(before, done, strict=True)}
            parts = [self._message_digest(m, known) for m in messages]
        self._recent = [*self._recent[1 - _RECENT :], (list(messages), parts)]
        return parts

    @staticmethod
    def _message_digest(message: Any, known: dict[int, bytes]) -> bytes:
        found = known.get(id(message)) if isinstance(message, dict | list) else None
        return found if found is not None else _text_digest(canonical(message))

    def digest_of(self, key: RequestKey) -> str:
        """`digest(key)`, each distinct message text hashed once, the previous request's digests taken over
        where its texts stand again (as in `_message_texts`)."""
        texts = key[3]
        if texts is None:
            return digest(key)
        parts = _carried_over(texts, *self._last_digests, self._text_digest)
        self._last_digests = (texts, parts)
        return digest(key, parts)

    def _text_digest(self, text: str) -> bytes:
        hit = self._digests.get(text)
        if hit is None:
            hit = self._digests[text] = _text_digest(text)
        return hit
