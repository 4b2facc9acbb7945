"""Checking an import runs nothing of the Agent File's: the tools module is checked as a stub that keeps what
describing its tools needs (signatures, docstrings, imports, typed-field classes) and nothing else."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

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
    assert kinds == [
        "Import",
        "Import",
        "ImportFrom",
        "ImportFrom",
        "ImportFrom",
        "FunctionDef",
        "ClassDef",
        "FunctionDef",
    ]
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


MODELS = '''
from typing import List, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Mode = Literal["fast", "slow"]
Settings = dict(retries=3)  # a call at the top: dropped


class SearchTask(BaseModel):
    """A search."""

    query: str = Field(description="Search query")
    limit: int = 3

    @field_validator("query")
    def _strip(cls, value):
        return value.strip()


class Configured(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a computed member: the class is dropped
    x: int


class Child(Configured):
    y: int


def search(tasks: List[SearchTask], mode: Mode, other: Child, later: "Configured") -> str:
    """Search.

    Args:
        tasks: the searches
        mode: how
        other: a child
        later: a forward reference
    """
    return "ok"
'''


def test_the_stub_keeps_field_models_and_aliases_and_reads_any_for_what_it_drops() -> None:
    """Letta's own fixtures (mock_alice.af) have a tool taking a pydantic model declared with `Field(...)`: the
    stub dropped the class, kept the annotation naming it, and the import was refused with a NameError."""
    stub = checkable_stub(MODELS)
    assert "Field(" not in stub and "_strip" not in stub and "dict(retries" not in stub
    namespace: dict[str, Any] = {}
    exec(compile(stub, "agent_tools.py", "exec", dont_inherit=True), namespace)
    assert set(namespace["SearchTask"].model_fields) == {"query", "limit"}
    assert "Configured" not in namespace and "Child" not in namespace
    parameters = tool_from_function(namespace["search"]).openai_schema()["function"]["parameters"]
    properties = parameters["properties"]
    assert properties["tasks"]["items"] == {"$ref": "#/$defs/SearchTask"}
    assert parameters["$defs"]["SearchTask"]["properties"].keys() == {"query", "limit"}
    assert properties["mode"]["enum"] == ["fast", "slow"]
    assert (properties["other"], properties["later"]) == (
        {"description": "a child"},
        {"description": "a forward reference"},
    )


def test_the_stub_still_fails_on_a_name_the_module_never_binds() -> None:
    """Only what the stub itself dropped reads Any: a name defined nowhere fails the check as it fails the module."""
    source = 'def f(x: Missing) -> str:\n    """F.\n\n    Args:\n        x: it\n    """\n'
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from elsewhere import Missing\n" + source
    for module in (source, typed):
        with pytest.raises(NameError):
            exec(compile(checkable_stub(module), "agent_tools.py", "exec", dont_inherit=True), {})


def test_import_keeps_a_tool_whose_source_declares_a_field_model(tmp_path: Path) -> None:
    """The import was refused (exit 2, nothing written) though what it would write validates."""
    tool = {"id": "tool-1", "name": "search", "tool_type": "custom", "source_code": MODELS}
    agent_file = small_agent_file([tool], agent_type="letta_v1_agent")  # letta-memgpt coerces no model
    path = tmp_path / "a.af"
    path.write_text(json.dumps(agent_file), encoding="utf-8")
    assert main(["import", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "agent_tools:search" in (tmp_path / "out" / "agents.yaml").read_text(encoding="utf-8")
    assert main(["validate", "--agents", str(tmp_path / "out" / "agents.yaml")]) == 0
