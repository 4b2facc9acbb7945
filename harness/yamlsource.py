"""YAML loading that remembers where every key came from, so errors can name file, line and key, and
that is bounded: every file the harness reads goes through `read_text` (size, regular file, UTF-8) and
every YAML document through `check_limits` (nesting depth, scalar size, nodes after alias expansion)
before anything is built from it, so no input can exhaust memory, time or the stack.
"""

from __future__ import annotations

import codecs
import errno
import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness import yamlsubset
from harness.errors import Problem, UserError

Loc = tuple[str | int, ...]

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How big a file the harness accepts. Generous for what people write, far below what would hurt."""

    max_bytes: int = 4 * MB  # the whole file
    max_scalar: int = 1 * MB  # one value
    max_depth: int = 64  # mappings and lists inside each other
    max_nodes: int = 200_000  # values, counting each alias as the whole value it repeats


FILE_LIMITS = Limits()  # agents files, scenario files, prompts
# Reading a cassette takes about four times its size (its bytes, its text, its lines, the data built): 64 MB
# keeps a command under 400 MB, where 256 MB ran out of a 1 GiB allowance. A 200-turn conversation recorded
# from bench/replay.py's stub is 0.4 MB; a real model's, a few MB; one embeddings answer of 2048 texts (an
# endpoint's most, 1536 floats each) about 40 MB.
CASSETTE_LIMITS = Limits(max_bytes=64 * MB, max_scalar=64 * MB, max_depth=64, max_nodes=20_000_000)

_WIDE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


class TooBig(ValueError):
    """A limit was passed; `line` and `column` (1-based) say where, when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def read_text(path: Path, limits: Limits = FILE_LIMITS) -> str:
    """A text file's content: a regular file, at most `limits.max_bytes`, UTF-8 (a UTF-8 byte order mark
    is dropped). Raises FileNotFoundError, OSError (a path holding a NUL too), or TooBig / UnicodeError-free
    ValueError with a message saying what is wrong and what is expected (a file too big for the memory the
    process may use, under `ulimit -v` or in a small container, too)."""
    try:
        return _read_text(path, limits)
    except MemoryError:
        raise TooBig("too big to read in the memory this process may use") from None


def _read_text(path: Path, limits: Limits) -> str:
    # Read with os.read, no buffered file object: a scenario run reads two files (its own and its cassette).
    descriptor, status = _open_regular(path)
    try:
        # Ask for what the file holds (one more byte tells a file that grew past the limit): os.read(n)
        # allocates n bytes up front. A file that grew while we read: the rest, bounded.
        chunks: list[bytes] = []
        size = 0
        ask = min(status.st_size, limits.max_bytes) + 1
        while ask > 0 and (chunk := os.read(descriptor, ask)):
            chunks.append(chunk)
            size += len(chunk)
            ask = min(limits.max_bytes + 1 - size, MB)
        data = b"".join(chunks)
    finally:
        os.close(descriptor)
    if len(data) > limits.max_bytes:
        raise TooBig(f"larger than {limits.max_bytes // MB} MB: the harness reads files up to that size")
    for bom, name in _WIDE_BOMS.items():
        if data.startswith(bom):
            raise TooBig(f"the file is {name} text: save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TooBig(
            f"not UTF-8: byte {exc.start} (0x{data[exc.start]:02x}) cannot be decoded; save the file as UTF-8",
            line,
            column,
        ) from None
    if "\x00" in text:
        at = text.index("\x00")
        raise TooBig(
            "contains NUL characters (is it UTF-16 without a byte order mark?): save it as UTF-8",
            text.count("\n", 0, at) + 1,
            at - (text.rfind("\n", 0, at) + 1) + 1,
        )
    return text


def universal_newlines(text: str) -> str:
    """`text` with its line endings as Python's text mode reads them (`open(path, "r")`, universal newlines):
    `\r\n` and a lone `\r` become `\n`. How Letta reads a prompt file (`get_system_text`), so one checked out
    with CRLF (git's `core.autocrlf` on Windows) is the prompt recorded from an LF checkout. YAML folds line
    endings itself; a plain text file whose content reaches a request goes through this."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def read_head(path: Path, size: int) -> bytes:
    """The first `size` bytes of a regular file, opened as `read_text` opens it (a FIFO cannot block it).
    Raises OSError, or TooBig for what is not a regular file."""
    descriptor, _ = _open_regular(path)
    try:
        return os.read(descriptor, size)
    finally:
        os.close(descriptor)


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """A descriptor of `path` open for reading, and its status; TooBig (the descriptor closed) for what is
    not a regular file. Opened without blocking: opening a FIFO for reading would otherwise wait for a
    writer, forever."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except ValueError:  # "embedded null byte": an OSError, as every caller takes a path that cannot be opened
        raise OSError(errno.EINVAL, "the path holds a NUL character, which no file name can") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise TooBig("not a regular file: give a text file")
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor, status


def check_limits(text: str, limits: Limits = FILE_LIMITS) -> None:
    """Walk the YAML events (libyaml's parser is a state machine: no recursion, whatever the nesting) and
    raise TooBig at the first value past a limit. Aliases count as the whole value they repeat, so an
    alias bomb stops here, before any structure is built from it."""
    try:
        _walk_events(_LOADER(text), limits)
    except yaml.YAMLError as exc:
        _past_parser_nesting(exc, text, limits)
        raise


def _past_parser_nesting(exc: yaml.YAMLError, text: str, limits: Limits) -> None:
    """libyaml 0.2.5 and later refuse nesting past their own depth (1000) while scanning ahead, before an
    event says where this harness's limit was passed: the TooBig that says it, from PyYAML's own
    parser (no such depth, no recursion either), when `exc` is that refusal."""
    if "maximum nesting depth" in str(getattr(exc, "problem", "") or exc) and _LOADER is not yaml.SafeLoader:
        _walk_events(yaml.SafeLoader(text), limits)


def _walk_events(loader: Any, limits: Limits) -> None:
    sizes: list[int] = []  # the nodes counted so far in each open collection
    anchored: dict[str, int] = {}
    anchors: list[str | None] = []
    total = 0
    aliased = False
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                aliased = True
                count = anchored.get(event.anchor or "", 1)
            elif isinstance(event, yaml.ScalarEvent):
                if len(event.value) > limits.max_scalar:
                    raise _too_big(
                        f"a value of {len(event.value)} characters: at most {limits.max_scalar} per value", event
                    )
                count = 1
                if event.anchor:
                    anchored[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                if len(sizes) >= limits.max_depth:
                    raise _too_big(f"nested more than {limits.max_depth} levels deep", event)
                sizes.append(1)
                anchors.append(event.anchor)
                continue
            elif isinstance(event, yaml.CollectionEndEvent):
                count = sizes.pop()
                anchor = anchors.pop()
                if anchor:
                    anchored[anchor] = count
                if sizes:
                    sizes[-1] += count
                total += 1  # the collection itself: its values were counted as they came
                if total > limits.max_nodes:
                    raise _too_big(_too_many(limits, aliased), event)
                continue
            else:
                continue
            total += count  # each value once, as `measure` counts it (an alias: the whole value it repeats)
            if sizes:
                sizes[-1] += count
            if total > limits.max_nodes:
                raise _too_big(_too_many(limits, aliased), event)
    finally:
        loader.dispose()


def _too_many(limits: Limits, aliased: bool) -> str:
    """A file of too many values: an alias bomb when aliases made them, else a file too big to read."""
    if aliased:
        return f"more than {limits.max_nodes} values once aliases are expanded (an alias bomb?)"
    return f"more than {limits.max_nodes} values: too big a file to read"


def _too_big(message: str, event: Any) -> TooBig:
    mark = event.start_mark
    return TooBig(message, mark.line + 1 if mark else None, mark.column + 1 if mark else None)


@dataclass
class YamlDocument:
    """Plain Python data from a YAML file plus the (line, column) of every mapping key and list item.

    Positions are only wanted to locate a problem, so a file parsed without one keeps its `text` and
    works them out when first asked (a valid file never pays for them). Copies (`replace(doc, data=...)`,
    a dataset's rows) share them: worked out for one, they are the others' too (each row of a 900 KB
    template composed it again, 10 ms a row)."""

    path: str
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    text: str | None = None  # the YAML text, while its positions are still to be worked out

    def locate(self, loc: Loc) -> tuple[int | None, int | None]:
        """Line and column of the deepest known prefix of `loc` (1-based)."""
        if self.text is not None and self.positions:  # a copy's (a dataset row's): its template's, shared
            self.text = None
        if self.text is not None:
            text, self.text = self.text, None
            loader, node = compose(text)
            try:
                if node is not None:
                    _record_positions(node, (), self, UserError, set())
            finally:
                loader.dispose()
        loc = tuple(map(_loc_part, loc))
        for end in range(len(loc), -1, -1):
            pos = self.positions.get(loc[:end])
            if pos is not None:
                return pos
        return None, None

    def problem(self, loc: Loc, message: str) -> Problem:
        line, column = self.locate(loc)
        return Problem(self.path, line, column, dotted(loc), message)


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(path: Path, error: type[UserError] = UserError) -> YamlDocument:
    """Parse `path`; a syntax error, a limit passed or a file that is not UTF-8 text becomes a located
    UserError of type `error`."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise error([Problem(str(path), None, None, "", "file not found")]) from None
    except TooBig as exc:
        raise error([Problem(str(path), exc.line, exc.column, "", str(exc))]) from None
    except OSError as exc:
        raise error([Problem(str(path), None, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    return parse_yaml(text, str(path), error)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# YAML 1.1 reads `1:30` as 90 (base 60); PyYAML builds one with a big integer multiplied once a digit, in time
# quadratic in its length: nobody writes one longer than this.
_LONGEST_BASE_60 = 64
# The most digits Python writes an integer with (its int/str conversion limit, 4300 by default; 0 is none).
_MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_MAX_BITS = int(_MAX_DIGITS * math.log2(10))  # an integer of fewer bits has fewer digits


class ValueRefused(yaml.constructor.ConstructorError):
    """A scalar YAML types as a number or a date that is none (`2025-02-30`), or that no one could use (a
    base-60 number of thousands of digits): located at the value, where PyYAML raised a bare ValueError."""

    def __init__(self, node: yaml.ScalarNode, problem: str) -> None:
        super().__init__(None, None, f"{problem}; quote it to keep it as text", node.start_mark)


def _shown_scalar(node: yaml.ScalarNode) -> str:
    return f"`{node.value}`" if len(node.value) <= 40 else f"a value of {len(node.value)} characters"


def _construct_number(loader: Any, node: yaml.ScalarNode) -> Any:
    """PyYAML's int or float, refused where it would take quadratic time, raise a bare ValueError or
    OverflowError (`0b_`, a base-60 float past a float's range), or be an integer Python cannot print."""
    value = node.value
    if len(value) > _LONGEST_BASE_60 and ":" in value:
        raise ValueRefused(
            node,
            f"a base-60 number (YAML 1.1 reads `1:30` as 90) of {len(value)} characters: at most {_LONGEST_BASE_60}",
        )
    number: int | float
    try:
        if node.tag == _INT:
            number = yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
        else:
            number = yaml.constructor.SafeConstructor.construct_yaml_float(loader, node)
    except (ValueError, OverflowError):
        digits = value.lstrip("+-").replace("_", "")
        if digits.isdigit() and len(digits) > _MAX_DIGITS:
            raise ValueRefused(node, f"an integer of {len(digits)} digits: at most {_MAX_DIGITS}") from None
        kind = "an integer" if node.tag == _INT else "a number"
        raise ValueRefused(node, f"{_shown_scalar(node)} reads as {kind} but is not one") from None
    if isinstance(number, int) and number.bit_length() > _MAX_BITS:
        raise ValueRefused(node, f"an integer of more than {_MAX_DIGITS} digits: at most {_MAX_DIGITS}")
    return number


def _construct_timestamp(loader: Any, node: yaml.ScalarNode) -> Any:
    """PyYAML's date or datetime, located where it raised a bare ValueError (February 30th, hour 25)."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError) as exc:
        raise ValueRefused(node, f"{_shown_scalar(node)} reads as a date or time but is not one ({exc})") from None


class _Constructing(_LOADER):  # type: ignore[misc,valid-type]
    """libyaml's loader (when PyYAML has it) with the number and date constructors above."""


for _tag, _construct in ((_INT, _construct_number), (_FLOAT, _construct_number), (_TIMESTAMP, _construct_timestamp)):
    _Constructing.add_constructor(_tag, _construct)


# Below this many "[" and "{", libyaml's composer (which recurses in C) is safe whatever the nesting, and
# the limits are checked on the node tree; above it, on the event stream first (no recursion at all).
_FLOW_SAFE = 2000


def compose(text: str, limits: Limits = FILE_LIMITS, *, measured: bool = True) -> tuple[Any, yaml.Node | None]:
    """libyaml's loader and the document's node tree, within `limits` (TooBig past them). Nothing is
    built from the tree yet: the caller constructs data from it, knowing it is bounded (`measured`
    False: the caller measures the tree itself, as `_build_plain` does while building)."""
    if text.count("[") + text.count("{") > _FLOW_SAFE:
        check_limits(text, limits)
    loader = _Constructing(text)
    try:
        node = loader.get_single_node()
        if node is not None and measured:
            measure(node, limits)
    except yaml.YAMLError as exc:
        loader.dispose()
        _past_parser_nesting(exc, text, limits)
        raise
    except BaseException:
        loader.dispose()
        raise
    return loader, node


class _NotPlain(Exception):
    """The document holds something `_build_plain` leaves to PyYAML (or passes a limit)."""


_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_PLAIN_SCALARS: dict[str, Any] = {
    _STR: lambda loader, node: node.value,
    "tag:yaml.org,2002:null": lambda loader, node: None,
    "tag:yaml.org,2002:bool": lambda loader, node: loader.construct_yaml_bool(node),
    _INT: _construct_number,
    _FLOAT: _construct_number,
}


def _build_plain(loader: Any, root: yaml.Node, limits: Limits) -> Any:
    """The data of a document of plain mappings (string keys, none twice), sequences and scalars (strings,
    null, booleans, numbers), measured against `limits` as it is built: one walk where `measure`, PyYAML's
    constructor and the duplicate-key check took three. Anything else (other tags, merge keys, a key
    that is not a string or comes twice, a recursive alias, a limit reached) raises _NotPlain, and the
    caller takes the exact path. Aliases share their value, as PyYAML's do."""
    built: dict[int, tuple[Any, int]] = {}
    building: set[int] = set()

    def build(node: yaml.Node, depth: int) -> tuple[Any, int]:
        done = built.get(id(node))
        if done is not None:
            return done
        if isinstance(node, yaml.ScalarNode):
            make = _PLAIN_SCALARS.get(node.tag)
            if make is None or len(node.value) > limits.max_scalar:
                raise _NotPlain
            result: tuple[Any, int] = (make(loader, node), 1)
        else:
            if depth > limits.max_depth or id(node) in building:
                raise _NotPlain
            building.add(id(node))
            size = 1
            if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
                items = []
                for child in node.value:
                    value, count = build(child, depth + 1)
                    items.append(value)
                    size += count
                result = (items, size)
            elif isinstance(node, yaml.MappingNode) and node.tag == _MAP:
                mapping: dict[str, Any] = {}
                for key_node, value_node in node.value:
                    if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                        raise _NotPlain  # merge keys, numbers, booleans, collections as keys
                    key = key_node.value
                    if key in mapping or len(key) > limits.max_scalar:
                        raise _NotPlain  # a duplicate: the exact path says where
                    value, count = build(value_node, depth + 1)
                    mapping[key] = value
                    size += 1 + count
                result = (mapping, size)
            else:
                raise _NotPlain
            building.discard(id(node))
            if size > limits.max_nodes:
                raise _NotPlain
        built[id(node)] = result
        return result

    return build(root, 1)[0]


def measure(root: yaml.Node, limits: Limits) -> None:
    """Depth, value sizes and the number of values once aliases are expanded (an aliased node counts
    each time it is used, and is walked once): TooBig at the first past a limit."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    aliased = False
    while stack:
        node, depth, children_done = stack.pop()
        if id(node) in sizes and not children_done:
            aliased = True  # a node met again: an alias of it
            continue
        if id(node) in open_nodes and not children_done:
            raise _at("a value that contains itself (a recursive alias)", node)
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) > limits.max_scalar:
                raise _at(f"a value of {len(node.value)} characters: at most {limits.max_scalar} per value", node)
            sizes[id(node)] = 1
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        if children_done:
            size = 1 + sum(sizes[id(child)] for child in children)
            if size > limits.max_nodes:
                raise _at(_too_many(limits, aliased), node)
            sizes[id(node)] = size
            open_nodes.discard(id(node))
            continue
        if depth > limits.max_depth:
            raise _at(f"nested more than {limits.max_depth} levels deep", node)
        open_nodes.add(id(node))
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)


def _at(message: str, node: yaml.Node) -> TooBig:
    mark = node.start_mark
    return TooBig(message, mark.line + 1 if mark else None, mark.column + 1 if mark else None)


def parse_yaml(text: str, name: str, error: type[UserError] = UserError) -> YamlDocument:
    """One parse (two for text with thousands of brackets): the node tree is checked against the limits,
    gives the positions and catches the duplicate keys that PyYAML itself silently overwrites, and the
    data is constructed from that same tree: in one walk for a plain document (`_build_plain`), whose
    positions are worked out only if a problem needs them. A file in `yamlsubset`'s plain subset (a
    scenario file written plainly) is read by it, without libyaml: the same data, limits that hold by its
    size."""
    # A line holds at most three values ("- key: value"), so a file of fewer lines than a third of the
    # limit holds fewer values; no value is longer than the file.
    if len(text) <= FILE_LIMITS.max_scalar and text.count("\n") < FILE_LIMITS.max_nodes // 3:
        data = yamlsubset.read(text)
        if data is not yamlsubset.NOTHING:
            return YamlDocument(name, data, text=text)
    try:
        loader, node = compose(text, measured=False)
        try:
            try:
                data = _build_plain(loader, node, FILE_LIMITS) if node is not None else None
                plain = True
            except _NotPlain:
                if node is not None:
                    measure(node, FILE_LIMITS)
                data = loader.construct_document(node) if node is not None else None
                plain = False
        finally:
            loader.dispose()
    except TooBig as exc:
        raise error([Problem(name, exc.line, exc.column, "", str(exc))]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        said = f"invalid YAML: {exc.problem}" if not isinstance(exc, ValueRefused) else str(exc.problem)
        if mark is not None and "tab" not in said and "\t" in _line_of(text, mark.line)[: mark.column + 1]:
            said += " (a tab: YAML indents with spaces only)"
        elif mark is not None and _tab_opens_block(text, exc):
            said += (
                " (a `|` block whose first line starts with a tab must say how far its text is indented past its"
                " key: `|2` for 2 spaces)"
            )
        raise error([Problem(name, line, col, "", said)]) from None
    except yaml.reader.ReaderError as exc:  # located by a character offset (libyaml's, in bytes): said as line:col
        line, col = unacceptable_at(text)
        said = f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise error([Problem(name, line, col, "", said + _ESCAPE_HINT)]) from None
    except yaml.YAMLError as exc:
        raise error([Problem(name, None, None, "", f"invalid YAML: {exc}")]) from None
    if plain:  # no duplicate key: its positions can wait until a problem needs them
        return YamlDocument(name, data, text=text)
    doc = YamlDocument(name, data)
    if node is not None:
        _record_positions(node, (), doc, error, set())
    return doc


# What YAML's reader refuses anywhere in a document (`yaml.reader.Reader.NON_PRINTABLE`; libyaml's is the same).
_UNACCEPTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPE_HINT = ' (to keep it, write the value in double quotes with the character escaped, as "\\e" or "\\x7f")'


def unacceptable_at(text: str) -> tuple[int | None, int | None]:
    """Line and column (1-based) of the first character YAML's reader refuses: where its ReaderError is,
    which it locates by an offset alone (libyaml's counts bytes, not characters)."""
    found = _UNACCEPTABLE.search(text)
    if found is None:
        return None, None
    at = found.start()
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1


_KEYS = yaml.SafeLoader("")  # constructs one scalar key at a time, as the document's own loader does


def _held_key(node: yaml.ScalarNode) -> Any:
    """The key as the constructed mapping holds it (a string, a number, a boolean, None)."""
    construct = _Constructing.yaml_constructors.get(node.tag)
    try:
        key = construct(_KEYS, node) if construct is not None else None  # scalar constructors keep no state
        hash(key)
        if construct is None:
            raise TypeError
    except (yaml.YAMLError, TypeError, ValueError):
        return ("text", node.tag, node.value)
    return ("nan", node.value) if key != key else key


def _loc_part(key: Any) -> str | int:
    """A key as pydantic names it in an error's `loc` (and positions are stored under): a string or an
    integer as it is (a boolean as itself, equal to its integer), anything else (None, a float, a date)
    as its repr."""
    return key if isinstance(key, str | int) else repr(key)


def _tab_opens_block(text: str, exc: yaml.MarkedYAMLError) -> bool:
    """Whether libyaml refused a block scalar's first line of text for starting with a tab (its indentation
    is read from that line), which an indentation indicator (`|2`) lets it take."""
    start, at = exc.context_mark, exc.problem_mark
    if start is None or at is None or "tab" not in str(exc.problem) or "block scalar" not in str(exc.context):
        return False
    return all(not _line_of(text, line).strip(" ") for line in range(start.line + 1, at.line))


def _line_of(text: str, index: int) -> str:
    """Line `index` (from 0) of `text`, found without splitting the whole file."""
    start = 0
    for _ in range(index):
        start = text.find("\n", start) + 1
        if start == 0:
            return ""
    end = text.find("\n", start)
    return text[start:] if end < 0 else text[start:end]


def _record_positions(node: yaml.Node, loc: Loc, doc: YamlDocument, error: type[UserError], walked: set[int]) -> None:
    """Positions of every key and item (an aliased node's under its first place only)."""
    if id(node) in walked:
        return
    walked.add(id(node))
    doc.positions.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, str] = {}  # each key as Python holds it: `1`, `true` and `1.0` are one key there
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            held = _held_key(key_node)
            key = _loc_part(held) if not isinstance(held, tuple) else "nan" if held[0] == "nan" else key_node.value
            if held in seen:
                line = key_node.start_mark.line + 1
                earlier = seen[held]
                problem = "duplicate key"
                if earlier != key_node.value:
                    problem += (
                        f": `{key_node.value}` and `{earlier}` are one key once read (quote them to keep them apart)"
                    )
                named = key if type(key) is int else key_node.value  # `true`, not [True]; `1`, [1]
                raise error([Problem(doc.path, line, None, dotted((*loc, named)), problem)])
            seen[held] = key_node.value
            child = (*loc, key)
            doc.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _record_positions(value_node, child, doc, error, walked)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_positions(item, (*loc, index), doc, error, walked)
