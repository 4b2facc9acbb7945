"""A declarative testbed for LLM agents with editable memory, in the style of Letta/MemGPT."""

from harness.agent import Agent, AgentState, StepRecord, TurnResult
from harness.config import AgentSpec, load_agents
from harness.errors import ConfigError, HarnessError, RunError, UserError
from harness.memory import Block, Memory, MemoryEditError

__all__ = [
    "Agent",
    "AgentSpec",
    "AgentState",
    "Block",
    "ConfigError",
    "HarnessError",
    "Memory",
    "MemoryEditError",
    "RunError",
    "StepRecord",
    "TurnResult",
    "UserError",
    "load_agents",
]
