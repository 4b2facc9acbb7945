from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harness.memory import Memory
from harness.tools.context import AgentState


def test_an_agents_clock_is_the_wall_clock_by_default() -> None:
    state = AgentState("a", "a", Memory([]))
    assert state.archival is None
    assert abs(state.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert state.now().tzinfo is not None
