"""A reader for plain YAML, several times faster than libyaml's: block mappings, block sequences of
mappings or plain scalars, plain scalars and literal blocks, nothing else. It reads the cassettes the
harness writes, and scenario files written plainly. Anything outside that subset (quotes, flow
collections, anchors, tags, comments, indentation indicators...) makes `read` return `NOTHING`, and the
caller parses the text with PyYAML instead, so a file this reader takes gives exactly what PyYAML gives
(plain scalars are typed by PyYAML's own resolver; only strings, booleans, decimal integers and floats,
and nulls are taken): PyYAML's libyaml loader, which the harness uses when PyYAML has it, and its pure
Python one alike. Where those two differ (libyaml refuses a literal block whose first line starts with a
tab), the text is left to the caller's, so one file gets one answer whatever else it holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml.resolver

NOTHING: Any = object()  # "not in the subset": parse it with PyYAML

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*):(?: (.*))?\Z")
_PLAIN = re.compile(r"[^-?:,\[\]{}#&*!|>'\"%@`\s][^\t]*\Z")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]*)\.[0-9]*([eE][-+][0-9]+)?\Z")  # as PyYAML writes a float (0.7, 1.0e-05)
_LITERAL = {"|": "clip", "|-": "strip", "|+": "keep"}
# Deeper is left to PyYAML, behind the harness's limits (64 levels: this stays well inside them whichever way
# levels are counted), and this reader never recurses far.
_MAX_DEPTH = 48
_RESOLVER = yaml.resolver.Resolver()
# The first characters of PyYAML's implicit (non-string) scalars: bool, null, int, float, timestamp, merge,
# value (yaml.resolver.Resolver.yaml_implicit_resolvers' keys). A plain scalar starting otherwise is a string.
# (None when a resolver applies to any first character: then every scalar goes through the resolver.)
_RESOLVED_FIRST: frozenset[str] | None = (
    None
    if None in _RESOLVER.yaml_implicit_resolvers
    else frozenset(first for first in _RESOLVER.yaml_implicit_resolvers if first is not None)
)
_TYPES: dict[str, Callable[[str], Any]] = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": float,
    "tag:yaml.org,2002:null": lambda _: None,
    "tag:yaml.org,2002:bool": lambda value: value.lower() in ("yes", "true", "on"),  # PyYAML's bool_values
}


class _Outside(Exception):
    """The text leaves the subset."""


def read(text: str) -> Any:
    """The data of `text`, or NOTHING when it is not in the subset."""
    if not text.endswith("\n"):  # a last line without its break: PyYAML ends a literal block there its own way
        return NOTHING
    lines = text.split("\n")
    try:
        position = _skip_blank(lines, 0)
        if position == len(lines) or _indent(lines[position]) != 0:
            return NOTHING
        value, position = _mapping(lines, position, 0)
        if _skip_blank(lines, position) != len(lines):
            return NOTHING
        return value
    except _Outside:
        return NOTHING


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _skip_blank(lines: list[str], position: int) -> int:
    while position < len(lines) and not lines[position].strip(" "):
        position += 1
    return position


def _mapping(lines: list[str], position: int, indent: int, first: str | None = None, depth: int = 0) -> tuple[Any, int]:
    """Keys at `indent`; `first` is the first entry's text when it followed a "- " on its line."""
    if depth > _MAX_DEPTH:
        raise _Outside
    result: dict[str, Any] = {}
    count = len(lines)
    prefix = " " * indent
    while True:
        if first is not None:
            entry, first = first, None
        else:
            while position < count and not lines[position].strip(" "):
                position += 1
            if position == count:
                return result, position
            line = lines[position]
            if not line.startswith(prefix) or line[indent : indent + 1] == " ":
                return result, position  # indented less, or more: not this mapping's key
            entry = line[indent:]
            if entry.startswith("- "):
                return result, position
        key, value = _entry(entry)
        if key in result:
            raise _Outside  # PyYAML would keep the last; leave duplicates to it
        position += 1
        if value is None or value == "":
            result[key], position = _nested(lines, position, indent, depth)
        elif value in _LITERAL:
            result[key], position = _literal(lines, position, indent, _LITERAL[value])
        else:
            result[key] = _plain(value)


_ENTRIES: dict[str, tuple[str, str | None]] = {}  # "key:" / "key: |": the same few lines recur in every file
_KEYS: set[str] = set()  # keys seen valid


def _entry(entry: str) -> tuple[str, str | None]:
    """`key: value` split (value None when nothing follows the colon), as `_KEY` reads it."""
    hit = _ENTRIES.get(entry)
    if hit is not None:
        return hit
    key, colon, rest = entry.partition(":")
    if not colon:
        raise _Outside
    if key not in _KEYS:
        if not _KEY.match(key + ":") or not isinstance(_typed_plain(key), str):
            raise _Outside  # not a key as `_KEY` reads one, or one PyYAML reads as a boolean or null (`on:`)
        if len(_KEYS) < 10_000:
            _KEYS.add(key)
    if not rest:
        value = None
    elif rest[0] == " " and "\n" not in rest:
        value = rest[1:]
    else:
        raise _Outside  # "key:value" (no space after the colon): not a key as `_KEY` reads one
    if (value is None or value in _LITERAL) and len(_ENTRIES) < 10_000:
        _ENTRIES[entry] = (key, value)
    return key, value


def _nested(lines: list[str], position: int, indent: int, depth: int) -> tuple[Any, int]:
    """What follows `key:` with nothing after it: a mapping or a sequence below it, or null."""
    following = _skip_blank(lines, position)
    if following == len(lines):
        return None, position
    line = lines[following]
    deeper = _indent(line)
    if line[deeper:].startswith("- ") and deeper >= indent:
        return _sequence(lines, following, deeper, depth + 1)
    if deeper > indent:
        return _mapping(lines, following, deeper, depth=depth + 1)
    return None, position


def _sequence(lines: list[str], position: int, indent: int, depth: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while True:
        position = _skip_blank(lines, position)
        if position == len(lines) or _indent(lines[position]) != indent:
            return items, position
        entry = lines[position][indent:]
        if not entry.startswith("- "):
            return items, position
        rest = entry[2:]
        if ": " in rest or rest.endswith(":"):  # "- key: value": a mapping
            item, position = _mapping(lines, position, indent + 2, first=rest, depth=depth + 1)
        else:  # "- value": a plain scalar, on its line alone (a line indented below it leaves the subset)
            item = _plain(rest)
            position += 1
        items.append(item)


_PLAINS: dict[str, Any] = {}  # scalars recur across cassettes (model names, settings, tool names)


def _plain(value: str) -> Any:
    hit = _PLAINS.get(value, NOTHING)
    if hit is not NOTHING:
        return hit
    result = _typed_plain(value)
    if len(_PLAINS) < 10_000:
        _PLAINS[value] = result
    return result


# What PyYAML reads as a line break (or a byte order mark) inside a plain scalar, where `str.split("\n")` does
# not (\r, \x85, U+2028, U+2029, U+FEFF), and what its reader refuses anywhere in a document (C0 and C1 controls
# but tab and newline, DEL, surrogates, U+FFFE and U+FFFF: `yaml.reader.Reader.NON_PRINTABLE`, libyaml's too).
# Every character of a document this reader takes is in a key (`_KEY`: letters and digits), a plain scalar or
# a literal block, each searched with this: refused here as there, in the one search that was made anyway.
_BREAKS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def _typed_plain(value: str) -> Any:
    if not _PLAIN.match(value) or value != value.rstrip() or ": " in value or " #" in value or value.endswith(":"):
        raise _Outside
    if _BREAKS.search(value):
        raise _Outside
    if _RESOLVED_FIRST is not None and value[0] not in _RESOLVED_FIRST:
        return value  # no implicit type of PyYAML's starts with this character: a string
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    make = _TYPES.get(tag)
    if make is None or (make is int and not _DECIMAL.match(value)) or (make is float and not _FLOAT.match(value)):
        raise _Outside  # 0x1f, 012 (octal), 1_000, 1:30, .inf, 1_0.5: PyYAML reads these its own way
    try:
        return make(value)
    except ValueError:  # an integer past Python's digit limit: PyYAML's path refuses it, located
        raise _Outside from None


def _literal(lines: list[str], position: int, indent: int, chomping: str) -> tuple[str, int]:
    start = position
    block: int | None = None
    content: list[str] = []
    count = len(lines)
    while position < count:  # blank lines before the first line of text, which sets the block's indent
        line = lines[position]
        if line.strip(" "):
            here = _indent(line)
            if line[here] == "\t":
                raise _Outside  # libyaml refuses a tab where the block's indentation is still being read
            if here > indent:
                block = here
            break
        if line:
            raise _Outside  # spaces before the first line of text: leave it to PyYAML
        content.append("")
        position += 1
    if block is not None:
        prefix = " " * block
        while position < count:  # one startswith a line: the block is most of a cassette's lines
            line = lines[position]
            if line.startswith(prefix):
                content.append(line[block:])  # text, or a blank line as long as the indent or longer
            elif not line.strip(" "):
                content.append("")
            else:
                break
            position += 1
    if block is None:
        position = start  # an empty block: its blank lines are not ours to take
        content = []
    if block is not None and position == len(lines) and content and content[-1] == "":
        content.pop()  # the newline that ends the file
    trailing = 0
    while content and content[-1] == "":
        content.pop()
        trailing += 1
    if not content and chomping == "keep":
        raise _Outside  # an empty `|+` block: PyYAML keeps the breaks it ends on, which this does not count
    text = "\n".join(content)
    if _BREAKS.search(text):
        raise _Outside  # PyYAML reads U+2028 (and the like) in a block as a line break, indentation and all
    if chomping == "strip" or not content:
        return ("\n" * trailing if chomping == "keep" else "") if not content else text, position
    if chomping == "clip":
        return text + "\n", position
    return text + "\n" * (trailing + 1), position
