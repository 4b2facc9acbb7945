from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harness.memory import Memory
from harness.tools.context import AgentState


def test_an_agents_clock_is_the_wall_clock_by_default() -> None:
    state = AgentState("a", "a", Memory([]))
    assert state.archival is None
    assert abs(state.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert state.now().tzinfo is not None


def test_a_runs_seeding_of_random_is_put_back_after_it() -> None:
    """A scenario seeds Python's `random` for its tools; whatever drew numbers around it (pytest-randomly,
    hypothesis, the other tests) draws on as if no scenario had run."""
    import random

    from harness.clock import kept_random, seed_random

    random.seed(1234)
    expected = random.Random(1234).random()
    with kept_random():
        seed_random(0, "a.yaml")
        random.random()
    assert random.random() == expected


def test_a_seeded_run_draws_the_same_numbers_for_one_identity_and_seed_only() -> None:
    import random

    from harness.clock import kept_random, seed_random

    def draws(seed: int, identity: str) -> list[float]:
        with kept_random():
            seed_random(seed, identity)
            return [random.random() for _ in range(3)]

    assert draws(0, "a.yaml") == draws(0, "a.yaml")
    assert draws(0, "a.yaml") != draws(0, "b.yaml")
    assert draws(0, "a.yaml") != draws(1, "a.yaml")


def test_a_cassette_path_no_utf_8_spells_seeds_too() -> None:
    """Under a C locale a non-ASCII file name is read with surrogate escapes: its scenario crashed."""
    import random

    from harness.clock import kept_random, seed_random

    with kept_random():
        seed_random(0, "gr\udcc3\udcbc.yaml")
        first = random.random()
        seed_random(0, "gr\udcc3\udcbc.yaml")
        assert random.random() == first
