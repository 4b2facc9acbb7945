"""Checking an import runs nothing of the Agent File's: the tools module is checked as a stub that keeps what
describing its tools needs (signatures, docstrings, imports, typed-field classes) and nothing else."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from harness.agentfile.stub import checkable_stub
from harness.cli import main
from harness.tools.schema import tool_from_function
from tests.agentfile.conftest import small_agent_file

SOURCE = '''
import os
from datetime import date
from typing import Literal, Optional

from pydantic import BaseModel

open(MARK, "w").write("ran")  # top-level code of the file's: never run by a check
os.system("echo ran")


def logged(function):
    open(MARK, "w").write("decorator ran")
    return function


class Point(BaseModel):
    """A point."""

    x: int
    y: int = 0


class Loud:
    print("class body ran")


@logged
def plot(point: Point, when: date, label: Optional[str] = None, mode: Literal["a", "b"] = "a",
         scale: float = float("nan"), side: "open(MARK, 'w')" = None) -> str:
    """Plot a point.

    Args:
        point: the point
        when: the day
        label: a label
        mode: how
        scale: how big
        side: which side
    """
    open(MARK, "w").write("body ran")
    return "ok"
'''


def test_the_stub_keeps_signatures_docstrings_imports_and_field_classes_only(tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    stub = checkable_stub(SOURCE.replace("MARK", repr(str(mark))))
    tree = ast.parse(stub)
    kinds = [type(node).__name__ for node in tree.body]
    assert kinds == ["Import", "ImportFrom", "ImportFrom", "ImportFrom", "FunctionDef", "ClassDef", "FunctionDef"]
    namespace: dict[str, object] = {}
    exec(compile(stub, "agent_tools.py", "exec"), namespace)  # what describing the tools does
    assert not mark.exists()
    tool = tool_from_function(namespace["plot"])  # type: ignore[arg-type]
    properties = tool.openai_schema()["function"]["parameters"]["properties"]
    assert set(properties) == {"point", "when", "label", "mode", "scale", "side", "request_heartbeat"}
    assert properties["mode"]["enum"] == ["a", "b"]
    assert not mark.exists()  # describing the tool evaluated no annotation of the file's either
    assert "body ran" not in stub and "class body ran" not in stub and "os.system" not in stub


def test_harness_import_runs_none_of_the_files_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tool source opening a file at its top: `harness import` ran it while checking what it wrote."""
    mark = tmp_path / "PWNED"
    source = f"import os\nopen({str(mark)!r}, 'w').write('ran')\n" + (
        'def hello(x: str) -> str:\n    """Say hello.\n\n    Args:\n        x: who\n    """\n    return x\n'
    )
    agent_file = small_agent_file([{"id": "tool-1", "name": "hello", "tool_type": "custom", "source_code": source}])
    path = tmp_path / "a.af"
    path.write_text(json.dumps(agent_file), encoding="utf-8")
    assert main(["import", str(path), "--out", str(tmp_path / "out")]) == 0
    assert not mark.exists()
    assert "open(" in (tmp_path / "out" / "agent_tools.py").read_text(encoding="utf-8")  # the source, untouched
    assert "wrote" in capsys.readouterr().out
