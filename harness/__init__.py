"""A declarative testbed for LLM agents with editable memory, in the style of Letta/MemGPT.

The names below are imported on first use, so `import harness` (or loading its pytest plugin, or
`harness --help`) costs nothing until one is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.agent import Agent
    from harness.config import AgentSpec, load_agents
    from harness.errors import ConfigError, HarnessError, MemoryEditError, RunError, UserError
    from harness.memory import Block, Memory
    from harness.project import Project
    from harness.records import StepRecord, StopReason, TurnResult
    from harness.tools.context import AgentState

_EXPORTS = {
    "Agent": "harness.agent",
    "AgentSpec": "harness.config",
    "AgentState": "harness.tools.context",
    "Block": "harness.memory",
    "ConfigError": "harness.errors",
    "HarnessError": "harness.errors",
    "Memory": "harness.memory",
    "MemoryEditError": "harness.errors",
    "Project": "harness.project",
    "RunError": "harness.errors",
    "StepRecord": "harness.records",
    "StopReason": "harness.records",
    "TurnResult": "harness.records",
    "UserError": "harness.errors",
    "load_agents": "harness.config",
}

__all__ = [
    "Agent",
    "AgentSpec",
    "AgentState",
    "Block",
    "ConfigError",
    "HarnessError",
    "Memory",
    "MemoryEditError",
    "Project",
    "RunError",
    "StepRecord",
    "StopReason",
    "TurnResult",
    "UserError",
    "load_agents",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
