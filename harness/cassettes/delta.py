"""Request deltas: how a chat request is stored as what changed since the previous one, and back.

`body_delta` finds, for each message of a request, where an earlier request (its base, usually the previous
one) held it: the next message of a run (an agent's history stays in order), the same position (the
system message after a memory edit is spliced where it changed), or anywhere; `apply_delta` rebuilds the
request sharing the base's message objects.

Writing a long conversation must stay linear, so the writer decodes each request reusing the previous
one's messages wherever their JSON text stands again (`decode_reusing`), and compares messages by
identity or exact equality (`strict_loads` makes JSON numbers compare as their text does).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from harness import jsontext
from harness.cassettes.keys import canonical
from harness.yamlsource import TooBig

# What one cassette's requests may hold once rebuilt, in all: a delta reuses earlier requests' messages
# and splices texts, so a few KB of hand-edited, merged or hostile deltas could otherwise rebuild gigabytes
# (each {"same": [0, n-1]} twice over doubles a request). Far above what a recording holds: a 200-turn
# conversation with a 100 KB system message edited at every step is 20 MB of text and some 40,000
# messages; 4 million messages cost about 80 MB and a few seconds to key, 128 MB of text (the file's own,
# at most 64 MB, and edited texts) about twice that, keeping reading near the documented 400 MB.
MAX_MESSAGES = 4_000_000
MAX_CHARACTERS = 128 << 20
# Settings and tools a delta keeps from its base are not copied, but keyed again with each request (their
# canonical JSON encoded and hashed): 40 KB of tools in each of 13,000 requests, a few seconds of keying.
MAX_KEPT = 512 << 20


class Budget:
    """What is left of `MAX_MESSAGES`, `MAX_CHARACTERS` and `MAX_KEPT` while one cassette is read: each
    message a rebuilt request holds counts (a reused one again: it is a reference to keep and to key), each
    text decoded or made by an edit counts its characters (a shared one once), and each request rebuilt
    from a delta counts its other values' JSON. Taken before the rebuilding allocates (or, for what a delta
    keeps, before it is keyed), so an out-of-bounds cassette is refused in bounded time and memory (TooBig)."""

    __slots__ = ("characters", "kept", "messages")

    def __init__(self) -> None:
        self.messages = MAX_MESSAGES
        self.characters = MAX_CHARACTERS
        self.kept = MAX_KEPT

    def take_messages(self, count: int) -> None:
        self.messages -= count
        if self.messages < 0:
            raise TooBig(
                f"its requests hold more than {MAX_MESSAGES:,} messages in all, rebuilt from their deltas "
                "(a message reused counted again): far more than a recording holds"
            )

    def take_characters(self, count: int) -> None:
        self.characters -= count
        if self.characters < 0:
            raise TooBig(
                f"its requests and answers hold more than {MAX_CHARACTERS >> 20} MB of text in all, rebuilt from "
                "their deltas (an edited message counted again in full, and a text a YAML alias repeats): far more "
                "than a recording holds"
            )

    def take_text(self, text: object) -> None:
        """`take_characters` for a text as stored (anything else is no text, refused where it is read)."""
        if isinstance(text, (str, bytes)):
            self.characters -= len(text)
            if self.characters < 0:
                self.take_characters(0)

    def take_kept(self, count: int) -> None:
        self.kept -= count
        if self.kept < 0:
            raise TooBig(
                f"its requests hold more than {MAX_KEPT >> 20} MB of settings and tools in all, as JSON (each "
                "request counting those its delta keeps from its base again): far more than a recording holds"
            )


# The shapes of a delta's message items, by their exact keys; any other item is a message as it was sent.
# A message that happens to have one of these shapes is written wrapped, as {"literal": message}.
SAME = frozenset({"same"})
EDITS = (frozenset({"edit", "at", "cut", "insert"}), frozenset({"edit", "splices"}))
LITERAL = frozenset({"literal"})


def item_kind(item: Any) -> frozenset[str] | None:
    """The directive shape `item` has (SAME, one of EDITS, LITERAL), or None for a message as sent."""
    if isinstance(item, dict):
        keys = frozenset(item)
        if keys in (SAME, LITERAL, *EDITS):
            return keys
    return None


def literal(message: Any) -> Any:
    """`message` as a delta item: as it is, or wrapped when it has a directive's shape."""
    return {"literal": message} if item_kind(message) is not None else message


def apply_delta(previous: dict[str, Any], delta: dict[str, Any], budget: Budget | None = None) -> dict[str, Any]:
    """The request body `delta` describes, sharing `previous`'s unchanged values (not copies). A
    ValueError says what is wrong with a delta edited by hand; TooBig, that it rebuilds past `budget`
    (the cassette's, shared by all its requests; a fresh one when not given)."""
    if budget is None:
        budget = Budget()
    body = {k: v for k, v in previous.items() if k not in delta.get("unset", ())}
    body.update(delta.get("set", {}))
    if "messages" in delta:
        before = previous["messages"]
        messages: list[Any] = []
        items = delta["messages"]
        room = budget.messages - len(items)  # one each, a `same` span its length less one on top
        for number, item in enumerate(items):
            kind = item_kind(item)
            if kind is None:
                messages.append(item)
            elif kind == LITERAL:
                messages.append(item["literal"])
            elif kind == SAME:
                first, last = _span(item["same"], len(before), number)
                room -= last - first
                if room < 0:
                    break
                messages += before[first : last + 1]
            else:
                old = _edited(before, item["edit"], number)
                splices = item["splices"] if "splices" in item else [[item["at"], item["cut"], item["insert"]]]
                messages.append({**old, "content": _spliced(old["content"], splices, budget)})
        budget.take_messages(budget.messages - room)
        body["messages"] = messages
    elif isinstance(body.get("messages"), list):  # the base's (or a `set`) list, held and keyed again
        budget.take_messages(len(body["messages"]))
    return body


def _span(same: Any, count: int, number: int) -> tuple[int, int]:
    if not (isinstance(same, list) and len(same) == 2 and all(type(n) is int for n in same)):
        raise ValueError(f"message item {number}: 'same' must be [first, last], two message numbers")
    first, last = same
    if not 0 <= first <= last < count:
        raise ValueError(f"message item {number}: 'same' refers to messages {first}..{last} of {count}")
    return first, last


def _edited(before: list[Any], index: Any, number: int) -> dict[str, Any]:
    if type(index) is not int or not 0 <= index < len(before):
        raise ValueError(f"message item {number}: 'edit' must be a message number below {len(before)}")
    old = before[index]
    if not (isinstance(old, dict) and isinstance(old.get("content"), str)):
        raise ValueError(f"message item {number}: 'edit' refers to message {index}, which has no text content")
    return old


def body_delta(previous: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """What `apply_delta(previous, ...)` needs to rebuild `body`."""
    texts_before = [canonical(m) for m in previous["messages"]]
    return delta_with_texts(previous, body, texts_before, [canonical(m) for m in body["messages"]])[0]


def delta_with_texts(
    previous: dict[str, Any], body: dict[str, Any], texts_before: list[str], texts_now: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The delta, and the texts of `body`'s messages (the next request's `texts_before`). A message's
    text is its JSON, canonical or as sent, the same kind for both requests: equal texts, equal messages.

    Messages are matched where an agent's history keeps them (the next one of the run matched before,
    or the same position) by equality, which `strict_loads` makes exact, and their texts reused; only
    other messages are encoded, and looked for anywhere by their text. So a long conversation is
    written in time linear in its length."""
    delta: dict[str, Any] = {}
    # Keys in sorted order: a body rebuilt from a delta has its base's key order, and a cassette
    # written again from what was read must come out the same.
    changed = {
        k: body[k] for k in sorted(body) if k != "messages" and (k not in previous or not _same(previous[k], body[k]))
    }
    if changed:
        delta["set"] = changed
    gone = sorted(k for k in previous if k not in body)
    if gone:
        delta["unset"] = gone
    before = previous["messages"]
    messages = body["messages"]
    first_seen: dict[str, int] | None = None
    items: list[Any] = []
    texts: list[str] = []
    position = 0
    last_run: list[int] | None = None  # the `same` span of the last item, when it is one
    while position < len(messages):
        message = messages[position]
        run = last_run
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
                last_run = [start, start + length - 1]
                items.append({"same": last_run})
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
            last_run = [found, found]
            items.append({"same": last_run})
        elif position < len(before) and _spliceable(before[position], message):
            items.append(_splice(position, before[position]["content"], message["content"]))
            last_run = None
        else:
            items.append(literal(message))
            last_run = None
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
    """Equal as JSON, given values from `strict_loads` (both ways round: `True == 1` in Python, but a
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


def strict_loads(text: str) -> Any:
    """JSON whose values compare equal exactly when their canonical JSON is equal (they encode as usual)."""
    return jsontext.parse(text, parse_int=_StrictInt, parse_float=_StrictFloat)


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
    """How message `position`'s text `old` became `new`: one splice (`at`, `cut`, `insert`), or several
    (`splices`, each `[at, cut, insert]` in `old`'s offsets, in order) when the text changed in several
    places (a system message's timestamp and a memory block far below it)."""
    splices = _splices(old, new)
    if len(splices) == 1:
        at, cut, insert = splices[0]
        return {"edit": position, "at": at, "cut": cut, "insert": insert}
    return {"edit": position, "splices": [list(splice) for splice in splices]}


def _splices(old: str, new: str) -> list[tuple[int, int, str]]:
    """Line by line (a shortest edit script), each changed run of lines trimmed to the characters that
    differ; one splice when the texts differ in too many lines for several splices to say it shorter."""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    runs = _changed_runs(old_lines, new_lines)
    if runs is None:
        runs = [(0, len(old_lines), 0, len(new_lines))]
    old_starts = list(itertools.accumulate(map(len, old_lines), initial=0))
    new_starts = list(itertools.accumulate(map(len, new_lines), initial=0))
    splices: list[tuple[int, int, str]] = []
    for i1, i2, j1, j2 in runs:
        at, end = old_starts[i1], old_starts[i2]
        insert = new[new_starts[j1] : new_starts[j2]]
        prefix = _common_prefix(old[at:end], insert)
        suffix = _common_suffix(old[at + prefix : end], insert[prefix:])
        splices.append((at + prefix, end - at - prefix - suffix, insert[prefix : len(insert) - suffix]))
    return splices or [(0, 0, "")]


_MOST_EDITS = 64  # lines added or removed past which a text is spliced whole (see `_changed_runs`)


def _changed_runs(a: list[str], b: list[str]) -> list[tuple[int, int, int, int]] | None:
    """The runs of lines `(i1, i2, j1, j2)` where `a[i1:i2]` became `b[j1:j2]`, in order, from a shortest
    edit script (Myers' O(ND) greedy algorithm: cheap when few lines changed, as in a system message
    after a memory edit); None past `_MOST_EDITS` lines added or removed."""
    n, m = len(a), len(b)
    frontier = {1: 0}  # diagonal k = x - y -> the furthest x reached on it
    trace: list[dict[int, int]] = []
    found = None
    for d in range(min(n + m, _MOST_EDITS) + 1):
        trace.append(dict(frontier))
        for k in range(-d, d + 1, 2):
            down = k == -d or (k != d and frontier[k - 1] < frontier[k + 1])
            x = frontier[k + 1] if down else frontier[k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            frontier[k] = x
            if x >= n and y >= m:
                found = d
                break
        if found is not None:
            break
    if found is None:
        return None
    runs: list[list[int]] = []  # built from the end: [i1, i2, j1, j2]
    x, y = n, m
    for d in range(found, 0, -1):
        before = trace[d]
        k = x - y
        down = k == -d or (k != d and before[k - 1] < before[k + 1])
        previous_k = k + 1 if down else k - 1
        previous_x = before[previous_k]
        previous_y = previous_x - previous_k
        edit_x, edit_y = (previous_x, previous_y + 1) if down else (previous_x + 1, previous_y)
        if runs and runs[-1][0] == edit_x and runs[-1][2] == edit_y:  # no line alike in between
            runs[-1][0], runs[-1][2] = previous_x, previous_y
        else:
            runs.append([previous_x, edit_x, previous_y, edit_y])
        x, y = previous_x, previous_y
    return [(i1, i2, j1, j2) for i1, i2, j1, j2 in reversed(runs)]


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix, by halving (slices compare at C speed)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle :] == b[len(b) - middle :]:
            low = middle
        else:
            high = middle - 1
    return low


def _spliced(old: str, splices: list[Any], budget: Budget) -> str:
    """`old` with `splices` applied (each `[at, cut, insert]` in `old`'s offsets, in order, apart), its
    length taken from `budget` before the text is made."""
    done = 0
    length = len(old)
    for at, cut, insert in splices:
        if not (isinstance(at, int) and isinstance(cut, int) and isinstance(insert, str)) or not (
            done <= at and cut >= 0 and at + cut <= len(old)
        ):
            raise ValueError(f"a splice out of place: {[at, cut, insert]!r} in a text of {len(old)} characters")
        length += len(insert) - cut
        done = at + cut
    budget.take_characters(length)
    pieces: list[str] = []
    done = 0
    for at, cut, insert in splices:
        pieces += [old[done:at], insert]
        done = at + cut
    pieces.append(old[done:])
    return "".join(pieces)


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


def decode_reusing(raw: str, before: Texts) -> tuple[Any, Texts]:
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
