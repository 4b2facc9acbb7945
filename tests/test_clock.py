from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harness.clock import SCENARIO_START, ticking
from harness.memory import Memory
from harness.tools.context import AgentState


def test_a_ticking_clock_moves_one_step_per_reading_and_starts_again_when_made_again() -> None:
    clock = ticking()
    assert [clock() for _ in range(3)] == [SCENARIO_START + timedelta(seconds=n) for n in range(3)]
    assert ticking()() == SCENARIO_START == datetime(2025, 1, 1, 9, tzinfo=UTC)
    daily = ticking(SCENARIO_START, timedelta(days=1))
    daily()
    assert daily() == datetime(2025, 1, 2, 9, tzinfo=UTC)


def test_an_agents_clock_is_the_wall_clock_by_default() -> None:
    state = AgentState("a", "a", Memory([]))
    assert state.archival is None
    assert abs(state.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert state.now().tzinfo is not None
