"""The determinism check of `harness run --twice`: two replays of one suite must give the same JSON report
apart from timings; otherwise each difference is named by scenario and field."""

from __future__ import annotations

import json
from typing import Any

IGNORED = frozenset({"timing"})  # wall-clock time differs run to run by nature


def differences(first: dict[str, Any], second: dict[str, Any], limit: int = 20) -> list[str]:
    """Lines `scenario: field: first -> second`, at most `limit` of them (then a count of the rest)."""
    found: list[str] = []
    one = {_name(s): s for s in first["scenarios"]}
    two = {_name(s): s for s in second["scenarios"]}
    for name in sorted(one.keys() ^ two.keys()):
        found.append(f"{name}: ran only in the {'first' if name in one else 'second'} run")
    for name in [name for name in one if name in two]:
        found += [f"{name}: {where}" for where in _compare(one[name], two[name], "")]
    if len(found) > limit:
        found = [*found[:limit], f"... and {len(found) - limit} more"]
    return found


def _name(entry: dict[str, Any]) -> str:
    """A scenario entry's name: its path, and which repeat when it was recorded more than once."""
    repeat = entry.get("repeat", 1)
    return str(entry["scenario"]) + (f" #{repeat}" if repeat != 1 else "")


def _compare(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in list(a) + [k for k in b if k not in a]:
            if key in IGNORED:
                continue
            field = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(f"{field}: only in the {'first' if key in a else 'second'} run")
            else:
                out += _compare(a[key], b[key], field)
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            out += _compare(x, y, f"{path}[{index}]")
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items in the first run, {len(b)} in the second")
        return out
    if a != b or type(a) is not type(b):
        return [f"{path}: {_short(a)} in the first run, {_short(b)} in the second"]
    return []


def _short(value: Any, width: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."
