"""A custom tool's call, contained as Letta contains it in its sandbox process.

Letta 0.16.8 runs a custom tool in a subprocess: whatever the tool does (raise any exception, call
`sys.exit`, never return) fails that call, and the agent goes on. The harness runs the tool
in its own process (its module imported once, its state kept between calls, `-j 1` without any process at
all), so what a subprocess would contain is contained here:

- Any exception the tool raises, a BaseException of its own too (`asyncio.CancelledError`), fails the
  call. Only what stops the harness itself goes through (`stops_the_run`): Ctrl-C (and the CLI's SIGTERM,
  a KeyboardInterrupt), a worker told to stop (`Stopped`), and pytest ending the test (its outcome
  exceptions: a pytest-timeout timeout is one), which the tool's sandbox process would never have seen.
- What no Python code can catch ends the process: `os._exit`, a crash in C code (a segfault), a signal.
  The harness does not swap `os._exit` (a process-wide global) for one that raises. Under `-j N` that fails
  the one scenario whose worker died; under `-j 1` it ends the run (README: Custom tools).
- A call has `timeout` seconds (Letta's `tool_sandbox_timeout`, 180 by default): then it fails with
  Letta's TimeoutError text (`ToolTimeout`). Letta kills the sandbox process; here SIGALRM raises a
  BaseException in the tool, wherever it runs (a `sleep`, a socket read, a loop), which unwinds it: its
  `finally` blocks run, and what it did to memory is undone as for any call that raised (Tool.invoke),
  so nothing is left running that could touch the agent afterwards (a thread left to run on would). The
  exception is raised again every second until the tool lets go of it; a tool that swallows every
  BaseException, or is stuck in C code that never returns to Python, cannot be stopped in its process.
  Only the main thread gets signals: a call run in another thread (the harness embedded in a program's
  thread), or while another timer is set (pytest-timeout's signal method), runs unbounded.
- What the tool prints (`sys.stdout`, `sys.stderr`) is captured, as Letta captures its sandbox's output
  into the call's `stdout`/`stderr` (never shown to the model): it went to the harness's console, into the
  results table. The run's record keeps it (`--report`), up to PRINTED_KEPT characters a stream a call: past
  that, its first and last halves with a note of how much was left out between them (`CappedText`), where
  Letta keeps it all in its sandbox result (but writes no report). Output written past Python's `sys`
  streams (a subprocess the tool starts, C code writing to the file descriptors) is not captured.
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from harness.errors import Stopped

__all__ = [
    "PRINTED_KEPT",
    "TOOL_SANDBOX_TIMEOUT",
    "CappedText",
    "ToolTimeout",
    "UserCall",
    "exception_name",
    "printed",
    "stops_the_run",
]

T = TypeVar("T")

# letta/settings.py ToolSettings.tool_sandbox_timeout (0.16.8): how long Letta's local sandbox lets a tool run.
TOOL_SANDBOX_TIMEOUT = 180.0
RAISE_AGAIN = 1.0  # seconds between raises in a tool that caught the first


def stops_the_run(exc: BaseException) -> bool:
    """Ctrl-C (the CLI's SIGTERM too), a worker told to stop, or the test runner ending the test (pytest's
    outcome exceptions: `pytest.fail`, `skip`, `exit`, and so pytest-timeout's signal method, which raises
    `Failed` wherever the test is): never a tool's or a scenario's failure. A tool's own `sys.exit` is not
    among them. pytest is not imported for it: its exceptions exist only once pytest has loaded them."""
    if isinstance(exc, KeyboardInterrupt | Stopped):
        return True
    outcomes = sys.modules.get("_pytest.outcomes")
    return outcomes is not None and isinstance(exc, outcomes.OutcomeException | outcomes.Exit)


class ToolTimeout(TimeoutError):
    """A call that ran past its time, as Letta 0.16.8's local sandbox raises it (`_execute_tool_subprocess`),
    its seconds a float as Letta's setting holds them: a `TimeoutError`, `Executing tool X timed out after
    180.0 seconds.` (`exception_name` names it so)."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(f"Executing tool {name} timed out after {float(seconds)} seconds.")
        self.name = name
        self.seconds = seconds


def exception_name(exc: BaseException) -> str:
    """The exception's class name as an error text gives it; a call out of time is Letta's TimeoutError."""
    return "TimeoutError" if isinstance(exc, ToolTimeout) else type(exc).__name__


class _Deadline(BaseException):
    """The call's time is up: raised in the tool (a BaseException, which its `except Exception` lets by)."""


def printed(user: UserCall | None) -> tuple[str, str]:
    """What a contained call printed, (stdout, stderr); nothing for a tool run without one (the harness's)."""
    return ("", "") if user is None else (user.stdout, user.stderr)


# What a call's stdout (and its stderr) keeps: a debug print in a loop wrote 40 MB a call, and ten calls
# made a 419 MB report and 1.27 GB of memory. The first and last halves are kept; Letta reads a failed
# call's error from the last lines of stderr, which the last half holds.
PRINTED_KEPT = 65_536


class CappedText(io.TextIOBase):
    """A text stream (what `sys.stdout` is while a tool runs) keeping the first and last `kept // 2`
    characters written to it, however much is: `getvalue()` is all of it when that fits, else the two
    halves with `... N characters left out ...` between them. Nothing more is held while it is written."""

    def __init__(self, kept: int = PRINTED_KEPT) -> None:
        super().__init__()
        self.half = kept // 2
        self.head: list[str] = []  # the first writes, up to `half` characters
        self.head_length = 0
        self.tail: list[str] = []  # the last writes; more than `half` characters only until the next trim
        self.tail_length = 0
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # as io.StringIO says it
            raise TypeError(f"string argument expected, got '{type(text).__name__}'")
        self.written += len(text)
        rest = text
        if self.head_length < self.half:
            room = self.half - self.head_length
            self.head.append(text[:room])
            self.head_length += min(len(text), room)
            rest = text[room:]
        if rest:
            self.tail.append(rest[-self.half :])
            self.tail_length += min(len(rest), self.half)
            if self.tail_length > 2 * self.half:  # trimmed now and then: each character is copied at most twice
                last = "".join(self.tail)[-self.half :]
                self.tail, self.tail_length = [last], len(last)
        return len(text)

    def getvalue(self) -> str:
        head, tail = "".join(self.head), "".join(self.tail)[-self.half :]
        left_out = self.written - len(head) - len(tail)
        if left_out == 0:
            return head + tail
        return f"{head}\n... {left_out:,} characters left out ...\n{tail}"


def _can_alarm() -> bool:
    """SIGALRM can bound a call here: the main thread (Python runs signal handlers there), a platform with
    interval timers, and no timer running: someone else's (it would be lost), or an outer call's (a call made
    inside another is bounded by the outer one)."""
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )


class UserCall:
    """One call of a user's tool function (`name`), contained, with `timeout` seconds (None: no bound):
    `run` calls it. Built-in and declared tools are the harness's own code and run without one."""

    def __init__(self, name: str, timeout: float | None = None) -> None:
        self.name = name
        self.timeout = timeout
        self.expired = False  # the time ran out (even if the tool let go only when it returned)
        self.stdout = ""  # what the call printed
        self.stderr = ""

    def run(self, function: Callable[[], T]) -> T:
        """`function()`, past its time stopped and raised as ToolTimeout, what it prints kept in `stdout` and
        `stderr` (a call made inside another is contained, and bounded, by the outer one; its output is its
        own)."""
        bounded = self.timeout is not None and _can_alarm()
        if bounded:
            assert self.timeout is not None
            previous = signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, self.timeout, RAISE_AGAIN)
        streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = printed = CappedText(), CappedText()
        try:
            try:
                value = function()
            except BaseException as exc:
                if self.expired and not stops_the_run(exc):
                    raise ToolTimeout(self.name, self.timeout or 0.0) from None
                raise
        finally:
            if bounded:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            sys.stdout, sys.stderr = streams
            self.stdout, self.stderr = printed[0].getvalue(), printed[1].getvalue()
        if self.expired:  # it returned, but only once its time was up: Letta had stopped it by then
            raise ToolTimeout(self.name, self.timeout or 0.0)
        return value

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        """SIGALRM: the time is up. Raised in the tool's code (or what it called), never in this module's,
        where the call has already returned and is being wound up."""
        self.expired = True
        if frame is not None and frame.f_globals.get("__name__") == __name__:
            return
        raise _Deadline
