"""A custom tool's call, contained as Letta contains it in its sandbox process.

Letta 0.16.8 runs a custom tool in a subprocess: whatever the tool does (raise any exception, call
`sys.exit` or `os._exit`) fails that call, and the agent goes on. The harness runs the tool in its own
process (its module imported once, its state kept between calls, `-j 1` without any process at all), so
what a subprocess would contain is contained here:

- Any exception the tool raises, a BaseException of its own too (`asyncio.CancelledError`), fails the
  call. Only what stops the harness itself goes through (`stops_the_run`): Ctrl-C (and the CLI's SIGTERM,
  a KeyboardInterrupt), a worker told to stop (`Stopped`).
- `os._exit(n)` called by the tool, in the thread and process running it, raises instead of ending the
  process, and fails the call as `sys.exit(n)` does. What no Python code can catch still ends the process:
  a crash in C code (a segfault), a signal, `os._exit` reached through a reference taken before the call
  (`from os import _exit` at import). Under `-j N` that fails the one scenario whose worker died; under
  `-j 1` it ends the run (README: Custom tools).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import NoReturn, TypeVar

from harness.errors import Stopped

__all__ = ["UserCall", "stops_the_run"]

T = TypeVar("T")


def stops_the_run(exc: BaseException) -> bool:
    """Ctrl-C (the CLI's SIGTERM too), or a worker told to stop: never a tool's or a scenario's failure."""
    return isinstance(exc, KeyboardInterrupt | Stopped)


class _Exited(BaseException):
    """`os._exit` called by a tool: a BaseException, so that the tool's own `except Exception` lets it by."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


_real_exit = os._exit
_calls: set[int] = set()  # the threads running a tool's call now
_calls_lock = threading.Lock()
_owner = os.getpid()  # the process whose threads those are (a child forked by a tool exits for real)


def _exit_in_a_tool(status: int) -> NoReturn:
    if os.getpid() == _owner and threading.get_ident() in _calls:
        raise _Exited(status)
    _real_exit(status)


class UserCall:
    """One call of a user's tool function (`name`), contained: `run` calls it. Built-in and declared tools
    are the harness's own code and run without one."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, function: Callable[[], T]) -> T:
        """`function()`, its `os._exit` raised as SystemExit (a call made inside another is contained by
        the outer one)."""
        global _owner
        thread = threading.get_ident()
        with _calls_lock:
            outermost = thread not in _calls
            if outermost:
                _calls.add(thread)
                _owner = os.getpid()
                os._exit = _exit_in_a_tool
        try:
            return function()
        except _Exited as exited:
            raise SystemExit(exited.status) from None
        finally:
            if outermost:
                with _calls_lock:
                    _calls.discard(thread)
                    if not _calls:
                        os._exit = _real_exit
