"""The results a scenario gives its agents' declared tools (`tool_results:`), handed out call by call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from harness.tools.declared import NoDeclaredResult


class ScenarioToolResults:
    """One text for every call of a tool, or a list given out in order (a call past its end fails, and the
    model reads why, as with any failed tool)."""

    def __init__(self, results: Mapping[str, str | tuple[str, ...]]) -> None:
        self.results = results
        self.calls: Counter[str] = Counter()

    def next_result(self, tool: str, arguments: dict[str, Any]) -> str:
        given = self.results.get(tool)
        if given is None:
            raise NoDeclaredResult(f"the scenario gives no result for '{tool}' (see `tool_results:`)")
        if isinstance(given, str):
            return given
        number = self.calls[tool]
        self.calls[tool] += 1
        if number >= len(given):
            raise NoDeclaredResult(f"the scenario gives {len(given)} result(s) for '{tool}'; this is call {number + 1}")
        return given[number]
