"""What a tool function receives as its hidden `agent_state` (or `self`) parameter.

It lives beside the tools, not the loop: tools depend on it, the loop hands it over, and neither imports
the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from harness.archival import Archival
from harness.memory import Memory
from harness.recall import Recall


class ToolResults(Protocol):
    """The results of tools declared by a JSON schema alone, as a scenario gives them."""

    def next_result(self, tool: str, arguments: dict[str, Any]) -> str: ...


@dataclass
class AgentState:
    """The agent as its tools see it: `.memory.get_block(label)`, `.memory.update_block_value(label, value)`,
    `.archival` (None when the agent has no `embedding:` model), `.recall.search(...)` (its history; None
    where the agent has no index), and `.now()`, the time (the agent's frozen clock when agents.yaml declares
    `clock:`, else in a recorded or replayed run a steady one, so whatever a tool shows the model of time
    replays byte for byte)."""

    id: str
    name: str
    memory: Memory
    tool_results: ToolResults | None = None  # what declared tools return (a scenario's `tool_results:`)
    archival: Archival | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    recall: Recall | None = None


CLOCK_START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def steady_clock(start: datetime = CLOCK_START, step_seconds: int = 1) -> Callable[[], datetime]:
    """A clock for recorded runs: `start`, then one `step_seconds` later at each call. What the model reads of
    time (a search result's timestamp, an alert's `time`) is then the same when the run is recorded and
    each time it is replayed."""
    calls = 0

    def now() -> datetime:
        nonlocal calls
        calls += 1
        return start + timedelta(seconds=(calls - 1) * step_seconds)

    return now
