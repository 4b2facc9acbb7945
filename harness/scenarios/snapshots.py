"""Memory snapshots (golden files, as syrupy keeps them): the blocks a scenario ends with, or holds after
every turn, stored under `snapshots/` and compared on every run.

Blocks holding JSON are compared as JSON (key order and spacing aside), so a snapshot says what state
the agent reached, not how it spelled it: with `snapshot: end`, a scenario passes when the end state
matches, whatever path the agent took (tau2-bench's state equivalence).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from harness.errors import OutputError, Problem, ScenarioError
from harness.files import cannot_write
from harness.jsontext import parse, same_json
from harness.output import write_output
from harness.scenarios.checks import Failure
from harness.yamlsource import Loc, dotted, parse_yaml, read_text


class _SnapshotDumper(yaml.SafeDumper):
    """PyYAML writes U+0085 (NEL) as it is inside a quoted scalar, and reads it back as a line break folded
    into a space: a label or value holding one (any text, as the model writes it) is written double-quoted,
    where it is the escape `\\N`. Every other character reads back as written."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if "\x85" in value else None)


_SnapshotDumper.add_representer(str, _represent_text)


@dataclass
class SnapshotFile:
    path: Path
    update: bool  # write what the run gave instead of comparing

    def compare(self, loc: Loc, actual: dict[str, Any]) -> list[Failure]:
        if self.update:
            text = yaml.dump(
                actual,
                Dumper=_SnapshotDumper,
                allow_unicode=True,
                sort_keys=False,
                default_flow_style=False,
                width=1000,
            )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(cannot_write(self.path, exc, "no snapshot was written")) from None
            write_output(self.path, text, "the snapshot is left as it was")
            return []
        if not self.path.is_file():
            return [Failure(loc, f"no snapshot at {self.path} yet: write it with --update-snapshots")]
        try:  # bounded and located as every file the harness reads: an alias bomb is refused, not expanded
            document = parse_yaml(read_text(self.path), str(self.path), ScenarioError)
        except (OSError, ValueError) as exc:
            raise ScenarioError(
                f"{self.path}: not a snapshot the harness reads ({exc}); write it again with --update-snapshots"
            ) from None
        except ScenarioError as exc:
            raise ScenarioError(
                [replace(problem, message=problem.message + _AGAIN) for problem in exc.problems]
            ) from None
        expected = {} if document.data is None else document.data
        misshapen = [
            Problem(str(self.path), *document.locate(where), dotted(key), what + _AGAIN)
            for where, key, what in _misshapen(expected)
        ]
        if misshapen:
            raise ScenarioError(misshapen)
        failures: list[Failure] = []
        for when in ("turns", "end"):
            if when in actual and when not in expected:
                failures.append(
                    Failure(loc, f"the snapshot has no `{when}` section: write it again with --update-snapshots")
                )
        for index, blocks in enumerate(actual.get("turns", [])):
            recorded = expected.get("turns") or []
            failures += _blocks(
                loc, f"after turn {index + 1}", recorded[index] if index < len(recorded) else {}, blocks
            )
        if "turns" in actual and len(expected.get("turns") or []) > len(actual["turns"]):
            failures.append(
                Failure(loc, f"the snapshot has {len(expected['turns'])} turns, the run {len(actual['turns'])}")
            )
        if "end" in actual and "end" in expected:
            failures += _blocks(loc, "at the end", expected["end"] or {}, actual["end"])
        return failures


_AGAIN = "; not a snapshot the harness reads: write it again with --update-snapshots"


def _misshapen(data: Any) -> list[tuple[Loc, Loc, str]]:
    """Where a snapshot (a hand edit, a merge) is not of the shape --update-snapshots writes, and how: `turns`
    a list of the blocks after each turn, `end` the blocks at the end, blocks a mapping from text labels.
    Compared as it was, `turns: 5` or a `null:` label failed the scenario with an internal TypeError. Each
    is where it is, the key to name (a label that is not text is named by its section), and what is wrong."""
    if not isinstance(data, dict):
        return [((), (), f"expected a mapping of `turns` and `end`, not {_kind(data)}")]
    found: list[tuple[Loc, Loc, str]] = []
    turns = data.get("turns")
    if turns is not None and not isinstance(turns, list):
        found.append((("turns",), ("turns",), f"expected a list of the blocks after each turn, not {_kind(turns)}"))
    sections = [(("turns", index), blocks) for index, blocks in enumerate(turns if isinstance(turns, list) else [])]
    for loc, blocks in [*sections, (("end",), data.get("end"))]:
        if blocks is not None and not isinstance(blocks, dict):
            found.append((loc, loc, f"expected the blocks by label, not {_kind(blocks)}"))
        for label in blocks if isinstance(blocks, dict) else []:
            if not isinstance(label, str):
                found.append(((*loc, label), loc, f"a block label is text, not {_kind(label)}: quote it"))
    return found


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return {dict: "a mapping", list: "a list", str: "text", type(None): "null"}.get(type(value), type(value).__name__)


def _blocks(loc: Loc, when: str, expected: Any, actual: dict[str, str]) -> list[Failure]:
    expected = expected if isinstance(expected, dict) else {}
    failures = []
    for label in sorted(set(expected) | set(actual), key=lambda name: (name not in actual, name)):
        old, new = expected.get(label), actual.get(label)
        if not _equivalent(old, new):
            message = f"block '{label}' {when} differs from the snapshot"
            failures.append(Failure(loc, message, expected=str(old), actual=str(new), label=label))
    return failures


def _equivalent(old: Any, new: Any) -> bool:
    """The same text, or the same JSON (spacing and key order aside; true is not 1)."""
    if isinstance(old, str) and isinstance(new, str):
        if old == new:
            return True
        try:
            return same_json(parse(old), parse(new))
        except (ValueError, RecursionError):  # not JSON, or too deep to decode or compare
            return False
    return False
