from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from harness.agent import AgentState
from harness.memory import Block, Memory
from harness.tools.registry import resolve_tool
from harness.tools.schema import ToolDefinitionError
from tests.helpers import ROOT


def test_builtin_resolves_by_name() -> None:
    tool = resolve_tool("send_message", ROOT)
    assert tool.name == "send_message" and tool.terminal


@pytest.mark.parametrize("reference", ["send_mesage", "module:", ":fn", "web_search"])
def test_unknown_tool_reference(reference: str) -> None:
    with pytest.raises(ToolDefinitionError, match=f"unknown tool '{reference}'"):
        resolve_tool(reference, ROOT)


def test_missing_module_and_function(tmp_path: Path) -> None:
    with pytest.raises(ToolDefinitionError, match="cannot import module 'no_such_module_xyz'") as raised:
        resolve_tool("no_such_module_xyz:fn", tmp_path)
    assert "already imported" not in str(raised.value)
    with pytest.raises(ToolDefinitionError, match=r"module 'examples\.task_queue' has no function 'nope'"):
        resolve_tool("examples.task_queue:nope", ROOT)


def test_module_failing_on_import_is_reported(tmp_path: Path) -> None:
    (tmp_path / "broken_tools_mod_a1.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ToolDefinitionError, match=r"importing 'broken_tools_mod_a1' .* RuntimeError: boom"):
        resolve_tool("broken_tools_mod_a1:fn", tmp_path)


def test_project_module_resolves_from_agents_folder(tmp_path: Path) -> None:
    (tmp_path / "project_tools_mod_b2.py").write_text(
        "def shout(agent_state, text: str) -> str:\n"
        '    """Shout text.\n\n    Args:\n        text (str): What to shout.\n    """\n'
        "    return text.upper()\n"
    )
    tool = resolve_tool("project_tools_mod_b2:shout", tmp_path)
    assert tool.name == "shout" and not tool.terminal
    assert tool.call(AgentState("a", "a", Memory()), {"text": "hi"}).message == "HI"


def test_task_queue_is_fifo() -> None:
    push = resolve_tool("examples.task_queue:task_queue_push", ROOT)
    pop = resolve_tool("examples.task_queue:task_queue_pop", ROOT)
    assert push.state_parameter == "self" and pop.state_parameter == "self"
    state = AgentState("a", "task_agent", Memory([Block("tasks", "[]", limit=2000)]))
    assert push.call(state, {"task_description": "Explain my name"}).ok
    assert push.call(state, {"task_description": "Tell a story"}).ok
    assert json.loads(state.memory.get_block("tasks").value) == ["Explain my name", "Tell a story"]
    assert pop.call(state, {}).message == "Explain my name"
    assert pop.call(state, {}).message == "Tell a story"
    assert state.memory.get_block("tasks").value == "[]"
    empty = pop.call(state, {})
    assert empty.ok and empty.message == "None"


@pytest.mark.parametrize(("code", "shown"), [("import sys\nsys.exit(3)\n", "3"), ("raise SystemExit\n", "None")])
def test_a_module_exiting_at_import_is_a_mistake_not_an_exit(tmp_path: Path, code: str, shown: str) -> None:
    """A silent exit 3 from `harness validate` before: the user's module ended the harness."""
    name = f"exiting_tools_{abs(hash(code)) % 10**6}"
    (tmp_path / f"{name}.py").write_text(code)
    with pytest.raises(ToolDefinitionError, match=rf"importing '{name}' .* called sys\.exit\({shown}\)"):
        resolve_tool(f"{name}:fn", tmp_path)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("import pytest\npytest.fail('Timeout (>1.0s) from pytest-timeout.')\n", pytest.fail.Exception),
        ("from harness.errors import Stopped\nraise Stopped(143)\n", SystemExit),
    ],
)
def test_what_stops_the_run_while_a_module_imports_goes_through(
    tmp_path: Path, code: str, kind: type[BaseException]
) -> None:
    """pytest ending the test (pytest-timeout's timeout landing in a slow import) or a worker told to stop
    is no mistake of the module's: it ends the test or the worker, as it would anywhere else."""
    name = f"stopped_tools_{abs(hash(code)) % 10**6}"
    (tmp_path / f"{name}.py").write_text(code)
    with pytest.raises(kind) as raised:
        resolve_tool(f"{name}:fn", tmp_path)
    assert not isinstance(raised.value, ToolDefinitionError)


def test_a_package_of_the_same_name_imported_first_is_named_with_the_ways_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under pytest a test module's `from helpers import GREETING` imports `tests/helpers/` as `helpers`:
    the project's `helpers.calc` beside agents.yaml then cannot be imported, and the error said only "No
    module named 'helpers.calc'"."""
    name = "helpers_shadowed_c3"
    project = tmp_path / "project"
    (project / name).mkdir(parents=True)
    (project / name / "__init__.py").write_text("")
    (project / name / "calc.py").write_text(
        'def add(a: int, b: int) -> int:\n    """Add.\n\n    Args:\n        a: one.\n        b: the other.\n    """\n'
        "    return a + b\n"
    )
    helpers = project / "tests" / name
    helpers.mkdir(parents=True)
    (helpers / "__init__.py").write_text("GREETING = 'hi'\n")
    shadow = types.ModuleType(name)
    shadow.__file__, shadow.__path__ = str(helpers / "__init__.py"), [str(helpers)]
    monkeypatch.setitem(sys.modules, name, shadow)
    with pytest.raises(ToolDefinitionError) as raised:
        resolve_tool(f"{name}.calc:add", project)
    assert str(raised.value) == (
        f"cannot import module '{name}.calc' for tool '{name}.calc:add': No module named '{name}.calc'; "
        f"'{name}' is already imported from {helpers / '__init__.py'}, not from the agents file's folder "
        f"{project}: another package of that name (a test helper's, which pytest put on sys.path) is in the "
        f"way. Rename one of them, make tests/ a package (tests/__init__.py, its helpers imported as "
        f"tests.{name}), or name the tool by its file ('{name}/calc.py:...')"
    )
    assert resolve_tool(f"{name}/calc.py:add", project).name == "add"  # the way out it names works
    monkeypatch.delitem(sys.modules, name)  # the project's own package, once nothing is in the way
    assert resolve_tool(f"{name}.calc:add", project).name == "add"


def test_a_file_reference_loads_the_tools_module_from_its_path(tmp_path: Path) -> None:
    """`path/to/file.py:function`, as agents.yaml's schema says: relative to the agents file's folder; two
    files of one name in two folders stay two modules."""
    for folder, word in (("a", "one"), ("b", "two")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "tools.py").write_text(
            f"def say(text: str) -> str:\n"
            '    """Say text.\n\n    Args:\n        text (str): What to say.\n    """\n'
            f"    return '{word} ' + text\n"
        )
    state = AgentState("a", "a", Memory())
    first, second = resolve_tool("a/tools.py:say", tmp_path), resolve_tool("b/tools.py:say", tmp_path)
    assert [tool.call(state, {"text": "hi"}).message for tool in (first, second)] == ["one hi", "two hi"]
    with pytest.raises(ToolDefinitionError, match=r"cannot import module 'c/tools\.py'.*no Python file"):
        resolve_tool("c/tools.py:say", tmp_path)


@pytest.mark.parametrize("name", ["a" * 65, "café"])
def test_a_function_whose_name_no_api_takes_is_refused(tmp_path: Path, name: str) -> None:
    """OpenAI's rule for a function name, as for declared tools: a name past it passed until the first
    live request was refused."""
    module = f"named_tools_c3_{len(name)}"  # one module per case: an imported module stays imported
    (tmp_path / f"{module}.py").write_text(
        f"def {name}(text: str) -> str:\n"
        '    """Say text.\n\n    Args:\n        text (str): What to say.\n    """\n'
        "    return text\n",
        encoding="utf-8",
    )
    with pytest.raises(ToolDefinitionError, match="its name is not one a model's API takes"):
        resolve_tool(f"{module}:{name}", tmp_path)
