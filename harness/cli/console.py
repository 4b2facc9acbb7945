"""What every command prints through, and how it shows paths and colour."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from harness.factory import AgentFactory
    from harness.secrets import Secrets

NO_SCENARIOS = 5  # the exit code when no scenario is found or selected, as pytest's


class Console:
    """stdout and stderr with secrets masked: those of the environment and of `--base-url` from the start,
    the agents' (their key variables and base URLs) once a command has loaded them."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets

    def learn(self, factory: AgentFactory) -> None:
        self.secrets = self.secrets | factory.secrets()

    def out(self, text: str = "") -> None:
        print(self._shown(text), flush=True)

    def err(self, text: str = "") -> None:
        print(self._shown(text), file=sys.stderr, flush=True)

    def _shown(self, text: str) -> str:
        """Masked, and printable by any UTF-8 terminal (a lone surrogate a tool wrote shows as U+FFFD)."""
        from harness.jsontext import storable

        return storable(self.secrets.mask(text))


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
