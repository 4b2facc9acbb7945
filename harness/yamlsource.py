"""YAML loading that remembers where every key came from, so errors can name file, line and key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import Problem, UserError

Loc = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Plain Python data from a YAML file plus the (line, column) of every mapping key and list item."""

    path: str
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Loc) -> tuple[int | None, int | None]:
        """Line and column of the deepest known prefix of `loc` (1-based)."""
        for end in range(len(loc), -1, -1):
            pos = self.positions.get(tuple(loc[:end]))
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
    """Parse `path`; a syntax error becomes a located UserError of type `error`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error([Problem(str(path), None, None, "", "file not found")]) from None
    except OSError as exc:
        raise error([Problem(str(path), None, None, "", f"cannot read: {exc.strerror}")]) from None
    return parse_yaml(text, str(path), error)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


def parse_yaml(text: str, name: str, error: type[UserError] = UserError) -> YamlDocument:
    """One parse: the node tree gives the positions and catches the duplicate keys that PyYAML itself
    silently overwrites, and the data is constructed from that same tree."""
    try:
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise error([Problem(name, line, col, "", f"invalid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise error([Problem(name, None, None, "", f"invalid YAML: {exc}")]) from None
    doc = YamlDocument(name, data)
    if node is not None:
        _record_positions(node, (), doc, error)
    return doc


def _record_positions(node: yaml.Node, loc: Loc, doc: YamlDocument, error: type[UserError]) -> None:
    doc.positions.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key: str | int = key_node.value
            if key_node.tag == "tag:yaml.org,2002:int":
                key = int(key_node.value)
            if str(key) in seen:
                line = key_node.start_mark.line + 1
                raise error([Problem(doc.path, line, None, dotted((*loc, key)), "duplicate key")])
            seen.add(str(key))
            child = (*loc, key)
            doc.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _record_positions(value_node, child, doc, error)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_positions(item, (*loc, index), doc, error)
