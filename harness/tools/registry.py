"""Find a tool by name: a built-in Letta tool, `package.module:function` imported from the project, or
`path/to/file.py:function` loaded from a file (relative to the agents file's folder)."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from harness.tools.builtin import BUILTIN_TOOLS, TERMINAL_TOOLS
from harness.tools.runtime import stops_the_run
from harness.tools.schema import Tool, ToolDefinitionError, tool_from_function


def resolve_tool(reference: str, project_dir: Path) -> Tool:
    """Resolve a tool reference from agents.yaml.

    Import paths resolve from the agents file's folder first (as pytest does with its rootdir), so a
    project's `examples/task_queue.py` is found without being installed. Importing runs the module's
    code: an exception or `sys.exit` there is a ToolDefinitionError; a module that never finishes importing
    (an endless loop at import) hangs the command, as it would hang any Python program importing it.
    """
    if reference in BUILTIN_TOOLS:
        return tool_from_function(BUILTIN_TOOLS[reference], terminal=reference in TERMINAL_TOOLS)
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        close = difflib.get_close_matches(reference, BUILTIN_TOOLS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ToolDefinitionError(
            f"unknown tool '{reference}'; {hint}use a built-in ({', '.join(BUILTIN_TOOLS)}) "
            "or an import path 'package.module:function'"
        )
    root = str(project_dir.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        module = _from_file(module_name, project_dir) if _is_file(module_name) else importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolDefinitionError(
            f"cannot import module '{module_name}' for tool '{reference}': {exc}{_in_the_way(module_name, root)}"
        ) from None
    except BaseException as exc:  # any Exception, or a BaseException class of the module's own
        if stops_the_run(exc):  # Ctrl-C, or pytest ending the test (a pytest-timeout timeout): not the module's
            raise
        if isinstance(exc, SystemExit):  # the user's module must not end the harness (a silent exit 3 before)
            raise ToolDefinitionError(
                f"importing '{module_name}' for tool '{reference}' called sys.exit({exc.code!r}): a tool module "
                "must not exit when imported (move that code under `if __name__ == '__main__':`)"
            ) from None
        raise ToolDefinitionError(
            f"importing '{module_name}' for tool '{reference}' failed: {type(exc).__name__}: {exc}"
        ) from None
    function = getattr(module, attribute, None)
    if function is None:
        raise ToolDefinitionError(f"module '{module_name}' has no function '{attribute}'")
    return tool_from_function(function, terminal=attribute in TERMINAL_TOOLS)


def _in_the_way(module_name: str, root: str) -> str:
    """Why a package of the project cannot be imported when one of its name was imported from elsewhere
    first (under pytest, a test helper package `tests/helpers/`, which pytest's default import mode puts on
    sys.path): Python takes the package it has, whatever sys.path says now. "" when that is not the case."""
    top = module_name.partition(".")[0]
    loaded = sys.modules.get(top)
    if loaded is None or top == module_name:
        return ""
    places = [getattr(loaded, "__file__", None), *getattr(loaded, "__path__", [])]
    found = [Path(place) for place in places if place]
    own = Path(root) / top  # the project's package (or module, top.py) of that name
    if any(path.resolve() in (own, own / "__init__.py", own.with_suffix(".py")) for path in found):
        return ""
    if not found:
        return f"; '{top}' is already imported ({loaded!r}), not from the agents file's folder {root}"
    folder = (found[0].parent if found[0].name == "__init__.py" else found[0]).parent  # the one holding it
    as_file = module_name.replace(".", "/") + ".py"
    return (
        f"; '{top}' is already imported from {found[0]}, not from the agents file's folder {root}: another "
        f"package of that name (a test helper's, which pytest put on sys.path) is in the way. Rename one of "
        f"them, make {folder.name}/ a package ({folder.name}/__init__.py, its helpers imported as "
        f"{folder.name}.{top}), or name the tool by its file ('{as_file}:...')"
    )


def _is_file(module_name: str) -> bool:
    return module_name.endswith(".py") or "/" in module_name or "\\" in module_name


def _from_file(path_text: str, project_dir: Path) -> ModuleType:
    """A tools module given by its file (a Letta tool's source saved as it is), imported once under a
    name of its own (its stem and a digest of its path, so two `tools.py` in two folders stay two)."""
    path = (project_dir / path_text).resolve()
    if path.suffix != ".py" or not path.is_file():
        raise ImportError(f"no Python file {path_text!r} in {project_dir} (a file reference is 'path/to/file.py')")
    stem = re.sub(r"\W", "_", path.stem)
    name = f"{stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path_text!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # while it runs: its own dataclasses and pydantic models look it up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
