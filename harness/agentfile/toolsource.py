"""A custom tool's source as Letta runs it: one script holding the function and what it needs of its module.

Letta's sandbox (letta/services/tool_sandbox/base.py) writes lines of its own (`from typing import *`, and
`from letta import *`, which has AgentState, when the tool takes `agent_state`), appends the tool's whole
`source_code` and calls the function. The function's text alone lacks its module's imports and helpers (a
NameError in Letta); the whole module would bring every other tool and whatever runs at import. So the
source written is the module's top-level statements that bind a name the function uses (and, in turn, the
names those use), in the module's order, with the function. Three things are left out:

- imports from `harness`, which Letta has not: the names the harness gives a tool (typing's, AgentState)
  Letta puts in scope itself; any other is reported (`ToolSource.harness_names`);
- `from __future__` imports, a SyntaxError after Letta's lines; where the module postponed annotations, an
  annotation naming what the script does not define (a TYPE_CHECKING import) is written as a string, as the
  module would have read it;
- a statement that binds no name the function needs (a docstring, `if __name__ == "__main__":`, a call).
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The names a Letta tool finds in scope without importing them: `from typing import *` always, and
# AgentState (`from letta import *`) when the tool takes `agent_state`.
TYPING_SCOPE = frozenset(typing.__all__)
LETTA_SCOPE = TYPING_SCOPE | {"AgentState"}
_ANNOTATION_FIELDS = ("annotation", "returns")


@dataclass(frozen=True)
class ToolSource:
    """The script Letta runs for a tool, and the harness names it uses that Letta lacks."""

    text: str
    harness_names: list[str] = field(default_factory=list)


def tool_source(function: Callable[..., Any]) -> ToolSource | None:
    """The source of `function` as Letta runs it (see the module doc); the function's own text where it is
    no top-level `def` of a module whose source can be read; None where no source can be read at all."""
    try:
        own = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return None
    module = inspect.getmodule(function)
    try:
        module_source = inspect.getsource(module) if module is not None else ""
        tree = ast.parse(module_source)
    except (OSError, TypeError, SyntaxError, ValueError):
        return ToolSource(own)
    name = getattr(function, "__name__", "")
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name]
    if not defs:
        return ToolSource(own)
    return _Script(module_source, tree, defs[-1]).source()


class _Script:
    def __init__(self, source: str, tree: ast.Module, target: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.lines = source.splitlines(keepends=True)
        self.body = tree.body
        self.target = target
        self.postponed = any(
            isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
            for n in tree.body
        )

    def source(self) -> ToolSource:
        needed: set[str] = set()
        chosen: set[int] = {self.body.index(self.target)}
        pending = list(_names(self.target, self.postponed))
        harness: set[str] = set()
        while pending:
            name = pending.pop()
            if name in needed:
                continue
            needed.add(name)
            for index, node in enumerate(self.body):
                if index in chosen or name == self.target.name or name not in _bound(node):
                    continue
                root = _import_root(node, name)
                if root == "harness":
                    harness.add(name)
                elif root != "__future__":
                    chosen.add(index)
                    pending += _names(node, self.postponed)
        pieces: list[tuple[ast.stmt, set[str]]] = []  # what is written, and the names it binds
        for index in sorted(chosen):
            node = self.body[index]
            if isinstance(node, ast.Import | ast.ImportFrom):
                aliases = [
                    a
                    for a in node.names
                    if _alias_name(a) in needed and _import_root(node, _alias_name(a)) not in ("harness", "__future__")
                ]
                if aliases:
                    pieces.append((_with_aliases(node, aliases), {_alias_name(a) for a in aliases}))
            else:
                pieces.append((node, _bound(node)))
        defined = {name for _, bound in pieces for name in bound}
        text = ""
        for position, (node, _) in enumerate(pieces):
            is_import = isinstance(node, ast.Import | ast.ImportFrom)
            if position:
                text += (
                    "\n" if is_import and isinstance(pieces[position - 1][0], ast.Import | ast.ImportFrom) else "\n\n\n"
                )
            text += ast.unparse(node) if is_import else self._text(node, defined)
        missing = sorted(name for name in harness - defined if name not in LETTA_SCOPE)
        return ToolSource(text + "\n", missing)

    def _text(self, node: ast.stmt, defined: set[str]) -> str:
        """The statement's lines as written (its comments too); under postponed annotations, an annotation
        naming what is neither defined here, a builtin, nor typing's (Letta's `from typing import *`), as a
        string."""
        decorators = getattr(node, "decorator_list", [])
        first = min([node.lineno, *(d.lineno for d in decorators)])
        end = node.end_lineno or node.lineno
        lines = [line.encode("utf-8") for line in self.lines[first - 1 : end]]
        if self.postponed:
            available = defined | set(dir(builtins)) | TYPING_SCOPE
            quoted = [a for a in _annotations(node) if not _names(a, False) <= available]
            for annotation in sorted(quoted, key=lambda a: (a.lineno, a.col_offset), reverse=True):
                start, stop = annotation.lineno - first, (annotation.end_lineno or annotation.lineno) - first
                head = lines[start][: annotation.col_offset]
                tail = lines[stop][annotation.end_col_offset :]
                lines[start : stop + 1] = [head + repr(ast.unparse(annotation)).encode("utf-8") + tail]
        return textwrap.dedent(b"".join(lines).decode("utf-8")).rstrip("\n")


def _names(node: ast.AST, skip_annotations: bool) -> set[str]:
    """Every name `node` mentions (a superset of what it reads: harmless, it can only add a definition);
    annotations skipped where they are not evaluated."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name):
            found.add(current.id)
        for key, value in ast.iter_fields(current):
            if skip_annotations and key in _ANNOTATION_FIELDS:
                continue
            stack += [v for v in value if isinstance(v, ast.AST)] if isinstance(value, list) else []
            stack += [value] if isinstance(value, ast.AST) else []
    return found


def _annotations(node: ast.AST) -> list[ast.expr]:
    found: list[ast.expr] = []
    for current in ast.walk(node):
        for key in _ANNOTATION_FIELDS:
            value = getattr(current, key, None)
            if isinstance(value, ast.expr) and not isinstance(value, ast.Constant):
                found.append(value)
    return found


def _bound(node: ast.stmt) -> set[str]:
    """The names a top-level statement binds (at any depth of an `if` or `try`: those run at import too)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    found: set[str] = set()
    for current in ast.walk(node):
        if isinstance(current, ast.Import | ast.ImportFrom):
            found |= {_alias_name(alias) for alias in current.names}
        elif isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(current.name)
        elif isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            found.add(current.id)
    return found


def _alias_name(alias: ast.alias) -> str:
    return alias.asname or alias.name.split(".")[0]


def _import_root(node: ast.stmt, name: str) -> str | None:
    """The top package a top-level import statement takes `name` from (None for any other statement)."""
    if isinstance(node, ast.ImportFrom):
        return "." if node.level else (node.module or "").split(".")[0]
    if isinstance(node, ast.Import):
        return next((a.name.split(".")[0] for a in node.names if _alias_name(a) == name), None)
    return None


def _with_aliases(node: ast.Import | ast.ImportFrom, aliases: list[ast.alias]) -> ast.stmt:
    if isinstance(node, ast.ImportFrom):
        return ast.ImportFrom(module=node.module, names=aliases, level=node.level)
    return ast.Import(names=aliases)
