"""Blocks shared by the agents a scenario drives (agents.yaml `shared_blocks`, attached with `attach_blocks`).

In Letta a shared block is one row that every attached agent reads at each step. A scenario runs one turn
at a time, so handing the values over at turn boundaries gives each agent exactly what Letta's would read:
the value the last writer left. The hand-over goes through each agent's `Memory` (its one change path), so
limits and schemas hold and the store persists it like any change. A shared block one agent renames or
deletes leaves the others' copy as it was (Letta would rename it for all): documented in README.
"""

from __future__ import annotations

from harness.agent import Agent
from harness.config import AgentSpec


class SharedBlocks:
    def __init__(self, first: Agent) -> None:
        values = first.memory.values()
        self.values = {label: values[label] for label in _shared_labels(first.spec) if label in values}
        # Fixed at the start: `take` adds every agent's shared labels to `values`, including blocks that
        # other agents share among themselves and the first agent does not attach.
        self._first = set(_shared_labels(first.spec))
        # Each shared block's value at the scenario's start (a block only later agents attach: when the first
        # of them was created): what `unchanged` compares a joining agent's copy with.
        self.start = dict(self.values)

    def values_for(self, spec: AgentSpec) -> dict[str, str]:
        """Initial values for a new agent's shared blocks: what the others have made of them so far."""
        return {label: self.values[label] for label in _shared_labels(spec) if label in self.values}

    def initial_for(self, agent: Agent) -> dict[str, str]:
        """A newly created agent's blocks as the scenario started: its own as created (they did not exist
        before), the shared ones at their value at the scenario's start, not as the others have changed them
        by the time it joins: another agent's change of a shared block is a change of this agent's too."""
        values = agent.memory.values()
        for label in _shared_labels(agent.spec):
            if label in values:
                values[label] = self.start.setdefault(label, values[label])
        return values

    def shared_with_first(self, spec: AgentSpec) -> set[str]:
        """The labels `spec`'s agent shares with the first agent (the scenario's own): its changes to those
        are changes to the first's blocks."""
        return {label for label in _shared_labels(spec) if label in self._first}

    def give(self, agent: Agent) -> None:
        """Before `agent` acts: its shared blocks hold what the other agents left."""
        held = agent.memory.values()
        for label in _shared_labels(agent.spec):
            if label in held and label in self.values and held[label] != self.values[label]:
                agent.memory.update_block_value(label, self.values[label])

    def take(self, agent: Agent) -> None:
        """After `agent` acted: what it left in its shared blocks is what the others read next."""
        held = agent.memory.values()
        for label in _shared_labels(agent.spec):
            if label in held:
                self.values[label] = held[label]


def shared_labels(spec: AgentSpec) -> frozenset[str]:
    """The labels of the blocks `spec`'s agent shares with others (its `attach_blocks`)."""
    return frozenset(_shared_labels(spec))


def _shared_labels(spec: AgentSpec) -> list[str]:
    return [block.label for block in spec.blocks if block.shared]
