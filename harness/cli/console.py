"""What every command prints through, and how it shows paths and colour."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pathlib import Path

    from harness.factory import AgentFactory
    from harness.secrets import Secrets

NO_SCENARIOS = 5  # the exit code when no scenario is found or selected, as pytest's


class Console:
    """stdout and stderr with secrets masked: those of the environment and of `--base-url` from the start,
    the agents' (their key variables and base URLs) once a command has loaded them.

    What it prints never ends a command halfway: text a stream cannot encode (`PYTHONIOENCODING=ascii`, a
    cp1252 console) is degraded to escapes, and a stdout that cannot be written (a full disk, closed, its
    reader gone: `| head`) is noted in `lost`, which `main` says last, exiting 1 (141, quietly, for a reader
    gone), once the command is done (its reports written)."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self.lost: str | None = None  # why stdout could not be written; nothing more is sent to it then

    def learn(self, factory: AgentFactory) -> None:
        self.secrets = self.secrets | factory.secrets()

    def out(self, text: str = "", end: str = "\n") -> None:
        if self.lost is None:
            try:
                self.lost = write_line(sys.stdout, self._shown(text), end)
            except BrokenPipeError:
                self.lost = READER_GONE

    @property
    def reader_gone(self) -> bool:
        """stdout's reader went away (`harness run | head`): the command goes on, quietly, and ends with 141."""
        return self.lost is READER_GONE

    def err(self, text: str = "") -> None:
        with contextlib.suppress(BrokenPipeError):  # nowhere left to say anything: the exit code tells
            write_line(sys.stderr, self._shown(text))

    def _shown(self, text: str) -> str:
        return self.secrets.mask(text)


READER_GONE = "its reader went away"  # Console.lost when stdout's reader left: said by the exit code, 141


def write_line(stream: TextIO | None, text: str, end: str = "\n") -> str | None:
    """`text` and `end` written to `stream` and flushed, as it can show it (`printable`); why it could not
    be, or None. A reader that went away (`| head`) raises BrokenPipeError: the caller ends quietly (141)."""
    if stream is None:  # started with the stream closed (`>&-`)
        return "it is closed"
    try:
        stream.write(printable(text, stream) + end)
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:  # ENOSPC on a full disk, EIO, EBADF
        return exc.strerror or str(exc)
    except ValueError as exc:  # closed while the command ran
        return str(exc)
    return None


_ESCAPED = re.compile("[\udc80-\udcff]+")


def printable(text: str, stream: object) -> str:
    """`text` as `stream` can encode it, never an error.

    A file name the locale could not decode (`PYTHONUTF8=0 LC_ALL=C`: Python keeps each byte above 127 as
    a lone surrogate) is shown from its bytes read as UTF-8 (escaped as `\\xc3` where they are not), so it
    names the file rather than a row of U+FFFD; any other lone surrogate (half an emoji a tool wrote)
    becomes U+FFFD; and what the stream's encoding cannot hold becomes a backslash escape (`\\u2603`)."""
    if text.isascii():
        return text
    from harness.jsontext import storable

    text = storable(_ESCAPED.sub(_read_as_utf8, text))
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:  # an encoding Python does not know: as the stream's own errors will have it
        return text
    return text


def _read_as_utf8(run: re.Match[str]) -> str:
    """A run of bytes kept as lone surrogates, read as UTF-8 (`\\xff` for a byte that is not)."""
    return bytes(ord(char) - 0xDC00 for char in run[0]).decode("utf-8", "backslashreplace")


def lost_stdout_text(why: str) -> str:
    """The last line of a command whose stdout could not be written (its exit code is then 1)."""
    return f"error: cannot write to stdout ({why}): what this command printed there is lost"


def discard_stdout() -> None:
    """Whatever is left for stdout goes nowhere: a failed write leaves its text buffered, and the flush at
    exit would fail again ("Exception ignored", exit code 120)."""
    import os

    with contextlib.suppress(AttributeError, OSError, ValueError):  # closed, or a test's capture: nothing to flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


Command = Callable[[argparse.Namespace, Console], int]


def colour(stream: object) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    import os

    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def shown(path: Path) -> str:
    """`path` as typed from the current folder when it is below it."""
    import os

    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative
