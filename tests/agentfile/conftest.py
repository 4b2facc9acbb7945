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


def small_agent_file(tools: list[dict[str, Any]], **agent: Any) -> dict[str, Any]:
    """A current-format Agent File of one agent `a` (send_message, then `tools`; `agent` overrides its
    fields), for tests that need one shape of file the data folder has not."""
    tools = [{"id": "tool-0", "name": "send_message", "tool_type": "letta_core"}, *tools]
    return {
        "agents": [
            {
                "id": "agent-0",
                "name": "a",
                "system": "You are X",
                "agent_type": "memgpt_agent",
                "llm_config": {
                    "model": "m",
                    "model_endpoint_type": "openai",
                    "model_endpoint": "http://h/v1",
                    "context_window": 8000,
                },
                "block_ids": ["block-0"],
                "tool_ids": [tool["id"] for tool in tools],
                **agent,
            }
        ],
        "blocks": [{"id": "block-0", "label": "human", "value": "Name: Bob", "limit": 5000}],
        "tools": tools,
        "groups": [],
        "files": [],
        "sources": [],
        "mcp_servers": [],
    }
