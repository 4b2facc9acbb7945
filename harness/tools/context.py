"""What a tool function receives as its hidden `agent_state` (or `self`) parameter.

It lives beside the tools, not the loop: tools depend on it, the loop hands it over, and neither imports
the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from harness.archival import Archival
from harness.memory import Memory


class ToolResults(Protocol):
    """The results of tools declared by a JSON schema alone, as a scenario gives them."""

    def next_result(self, tool: str, arguments: dict[str, Any]) -> str: ...


@dataclass
class AgentState:
    """The agent as its tools see it: `.memory.get_block(label)`, `.memory.update_block_value(label, value)`,
    `.archival` (None when the agent has no `embedding:` model), and `.now()`, the time (the agent's frozen
    clock when agents.yaml declares `clock:`, a ticking one in a scenario run, so a tool reading it replays
    byte for byte)."""

    id: str
    name: str
    memory: Memory
    tool_results: ToolResults | None = None  # what declared tools return (a scenario's `tool_results:`)
    archival: Archival | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
