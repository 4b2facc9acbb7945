"""`snapshot`: the memory a run ends with, compared with (or written to) a golden file."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import pydantic

from harness.scenarios.checks.base import ExpectCheck, Failure, Observed, expect_check
from harness.wire import Boolean, JsonSchema


class SnapshotMode(StrEnum):
    TURNS = "turns"  # every block after every turn
    END = "end"  # the blocks at the end: the same end state passes, whatever path the agent took


def _snapshot_taken(value: bool | SnapshotMode) -> bool | SnapshotMode:
    if value is False:
        raise ValueError("`snapshot: false` checks nothing: leave it out, or give true, turns or end")
    return value


@expect_check
class Snapshot(ExpectCheck):
    key = "snapshot"
    final_only = "a snapshot is checked in the final `expect:` only (it holds the blocks after every turn)"
    wire = Annotated[
        Annotated[Boolean, JsonSchema(const=True)] | SnapshotMode, pydantic.AfterValidator(_snapshot_taken)
    ]
    description = (
        "Compare the blocks with the scenario's golden file under snapshots/ (true or turns: after every "
        "turn; end: at the end only); `--update-snapshots` writes it"
    )

    def check(self, observed: Observed) -> list[Failure]:
        if self.value is False:
            return []
        if observed.snapshots is None:
            return [Failure(self.loc, "snapshots can only be checked in the final `expect:` of a run")]
        actual: dict[str, Any] = {"end": observed.blocks}
        if self.value is True or self.value == SnapshotMode.TURNS:
            actual = {"turns": observed.turn_blocks, **actual}
        return observed.snapshots.compare(self.loc, actual)
