"""Record modes, as `harness record --mode` and `pytest --harness-record-mode` name them, and what a
recording did to a cassette."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RecordMode(StrEnum):
    NONE = "none"  # replay only: never touch the network (the default)
    NEW = "new"  # record what the cassette lacks, keep what still matches, drop what no longer does
    ALL = "all"  # re-record every exchange


@dataclass(frozen=True)
class CassetteChange:
    """What one recording session did to its cassette, so `harness record` can say it, not do it silently."""

    mode: RecordMode
    existed: bool  # there was a cassette file before
    kept: int  # recorded interactions replayed again (mode new)
    recorded: int  # interactions recorded from the live endpoint now
    dropped: int  # recorded interactions no longer asked for, pruned on save (mode new)
    saved: bool  # the file was written
    # A scenario's first cassette whose number of repeats recorded changed: (what it said, what it says now)
    repeats: tuple[int | None, int] | None = None
    # Its exchanges all still matched, and the agents' fingerprint it stored named changes: written anew
    fingerprint: bool = False

    def describe(self) -> str:
        if not self.saved:
            return f"unchanged ({self.kept} interaction(s) still match)" if self.existed else "nothing recorded"
        if not self.existed:
            return f"new cassette ({self.recorded} interaction(s))"
        if self.mode == RecordMode.ALL:
            return f"replaced ({self.recorded} interaction(s) recorded again)"
        parts = [f"{self.recorded} recorded"] if self.recorded or not (self.repeats or self.fingerprint) else []
        parts.append(f"{self.kept} kept")
        if self.dropped:
            parts.append(f"{self.dropped} no longer used dropped")
        if self.repeats is not None:
            said, now = self.repeats
            parts.append(f"repeats recorded: {said if said is not None else 'not said'} -> {now}")
        if self.fingerprint:
            parts.append("the agents' fingerprint written anew")
        return "updated (" + ", ".join(parts) + ")"
