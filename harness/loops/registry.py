"""A fresh loop of each flavour, by name."""

from __future__ import annotations

from harness.config import AgentSpec
from harness.loops.base import HarnessLoop, Loop
from harness.loops.kinds import LoopName
from harness.loops.letta_memgpt import LettaMemGPTLoop
from harness.loops.letta_v1 import LettaV1Loop


def new_loop(spec: AgentSpec) -> Loop:
    """A new loop for the agent `spec` declares (each agent has its own: a loop keeps state across steps)."""
    if spec.loop is LoopName.LETTA_MEMGPT:
        return LettaMemGPTLoop(spec)
    if spec.loop is LoopName.LETTA_V1:
        return LettaV1Loop(spec)
    return HarnessLoop()
