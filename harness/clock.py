"""Time and ids a run can fix: a frozen clock and seeded ids, so a replay is byte-identical.

Letta stamps every message it sends the model with the time (`"time": "2025-02-11 02:26:32 PM UTC+0000"`)
and tools may read the clock (`agent_state.now()`); a recording made at one instant would never replay at
another. An agent with `clock:` in agents.yaml runs on a `FrozenClock`: it starts at the given instant and
moves forward by `tick` each time the model answers, whatever the wall clock does, so every run of a
scenario reads the same times. The same declaration seeds the ids the harness makes (`SeededIds`), such as
the tool-call id of Letta's boot message, and, with the scenario's cassette, Python's `random` module for the
run (`kept_random`, `seed_random`): a custom tool drawing random numbers draws the same ones on replay.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "RECORDED_RUN_CLOCK",
    "ClockSpec",
    "FrozenClock",
    "Ids",
    "RandomIds",
    "SeededIds",
    "clock_and_ids",
    "ids_for",
    "kept_random",
    "seed_random",
    "system_now",
]

DEFAULT_TICK = 1.0  # seconds a model answer takes on a frozen clock


def system_now() -> datetime:
    """The wall clock, in UTC (what a tool reads when no clock is declared)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ClockSpec:
    """`clock:` of agents.yaml: where a frozen clock starts, how far each model answer moves it, and the
    seed of the ids the harness makes."""

    start: datetime  # timezone-aware
    tick: float = DEFAULT_TICK
    seed: int = 0


# The clock of a recorded or replayed run whose agent declares none, on a loop that puts the time on the
# wire (Letta's): the same instant, ticks and ids on every run, so its cassette replays.
RECORDED_RUN_CLOCK = ClockSpec(start=datetime(2025, 1, 1, 12, 0, tzinfo=UTC))


class FrozenClock:
    """A clock that moves only when told: `advance()` after each model answer."""

    def __init__(self, spec: ClockSpec) -> None:
        self._now = spec.start
        self._tick = timedelta(seconds=spec.tick)

    def now(self) -> datetime:
        return self._now

    def advance(self) -> None:
        self._now += self._tick


class Ids:
    """Where the harness's ids come from."""

    def uuid(self) -> uuid.UUID:
        raise NotImplementedError


class RandomIds(Ids):
    def uuid(self) -> uuid.UUID:
        return uuid.uuid4()


class SeededIds(Ids):
    """uuid4-shaped ids from a seeded generator: the same seed gives the same ids, run after run."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._random.getrandbits(128), version=4)


def ids_for(spec: ClockSpec | None) -> Ids:
    """The id source of an agent declared with `spec`: seeded by it, or random without one."""
    return RandomIds() if spec is None else SeededIds(spec.seed)


def clock_and_ids(spec: ClockSpec | None) -> tuple[Callable[[], datetime], Callable[[], None], Ids]:
    """`now`, `advance` and the id source for an agent declared with `spec` (None: the wall clock, which
    advances by itself, and random ids)."""
    if spec is None:
        return system_now, lambda: None, RandomIds()
    clock = FrozenClock(spec)
    return clock.now, clock.advance, SeededIds(spec.seed)


@contextmanager
def kept_random() -> Iterator[None]:
    """Python's global `random` state put back after the block as it was before it, whatever the block
    seeded or drew: a scenario seeds it (`seed_random`), and nothing outside the scenario (pytest's other
    tests, pytest-randomly's seeding, hypothesis) sees a difference."""
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


def seed_random(seed: int, identity: str) -> None:
    """Seed Python's global `random` from a clock's `seed` and the run's `identity` (its cassette): a custom
    tool calling `random.random()` (an imported Letta tool picking a branch) draws the same numbers when
    recorded and on every replay, as pytest-randomly seeds each test."""
    text = f"{seed}/{identity}".encode("utf-8", "surrogatepass")  # a file name read under a C locale
    random.seed(int.from_bytes(hashlib.sha256(text).digest()[:8], "big"))
