from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.agentfile.importer import TOOLS_MODULE

DATA = Path(__file__).parent / "data"
REAL_FILES = sorted(DATA.glob("*.af"))


@pytest.fixture(autouse=True)
def _fresh_tools_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every imported project writes its own `agent_tools.py`: no test may see another's cached module, and
    the project folders tools are imported from leave sys.path as it was."""
    monkeypatch.delitem(sys.modules, TOOLS_MODULE, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))


def load_json(path: Path) -> Any:
    """An Agent File's data, double encoding undone."""
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    while isinstance(data, str):
        data = json.loads(data)
    return data


@pytest.fixture
def forget_tools() -> Callable[[], None]:
    """Drop the cached tools module, for a test that loads a second project in the same process."""

    def forget() -> None:
        sys.modules.pop(TOOLS_MODULE, None)

    return forget
