"""What a run shows while it goes: each model step as it lands (recording is slow: seconds a step on a
local model), and for a concurrent run a progress bar on a terminal (tqdm) or plain lines elsewhere (a CI
log, a pipe, a test), so what is captured never holds cursor movements."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from harness.records import StepRecord

if TYPE_CHECKING:
    from tqdm import tqdm


def step_line(step: StepRecord) -> str:
    calls = ", ".join(f"{c.name}{'' if c.ok else ' FAILED'}" for c in step.tool_calls) or "plain text"
    return f"turn {step.turn + 1} step {step.index + 1}: {calls}"


class Progress:
    """Lines about finished jobs (`[3/8] ...`), masked; with `bar`, a tqdm bar under them counting jobs
    and steps. Lines go above the bar, never through it."""

    def __init__(self, total: int, what: str, stream: TextIO, mask: Callable[[str], str], bar: bool) -> None:
        self.total = total
        self.stream = stream
        self.mask = mask
        self.done = 0
        self.steps = 0
        self._bar: tqdm[Any] | None = None
        if bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=what, unit="scenario", file=stream, dynamic_ncols=True, leave=False)

    def line(self, text: str) -> None:
        text = self.mask(text)
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def step(self) -> None:
        self.steps += 1
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.steps} steps")

    def finished(self, text: str) -> None:
        self.done += 1
        self.line(f"[{self.done}/{self.total}] {text}")
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
