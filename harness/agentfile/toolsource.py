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
import symtable
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.agentfile.sourcecheck import LETTA_SCOPE_IMPORT

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
        own = _dedent(inspect.getsource(function))
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
        self.bound = [_bound(node) for node in tree.body]
        imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        self.imported = bool(imports) and self._letta_scope(imports[0])

    def source(self) -> ToolSource:
        target = self.body.index(self.target)
        chosen: set[int] = {target}
        pending = [(name, target) for name in self._reads(self.target)]
        seen: set[tuple[str, int]] = set()
        harness: set[str] = set()
        while pending:
            name, at = pending.pop()
            if (name, at) in seen or name == self.target.name:
                continue
            seen.add((name, at))
            index = self._binding(name, at)
            if index is None or index in chosen:
                continue
            node = self.body[index]
            root = _import_root(node, name)
            if root == "harness" or self._letta_scope(node) or self._another_tools(name, index, at):
                harness.add(name)
            elif root != "__future__":
                chosen.add(index)
                pending += [(used, index) for used in self._reads(node)]
        defined = {name for index in chosen for name in self.bound[index]}
        pieces: list[tuple[int, str]] = []  # (statement, its text) for each statement written
        for index in sorted(chosen):
            node = self.body[index]
            if isinstance(node, ast.Import | ast.ImportFrom):
                aliases = [a for a in node.names if _import_root(node, _alias_name(a)) not in ("harness", "__future__")]
                if not aliases:
                    continue
                if len(aliases) < len(node.names):  # rewritten without what Letta cannot import
                    pieces.append((index, ast.unparse(_with_aliases(node, aliases))))
                    continue
            pieces.append((index, self._text(node, defined)))
        text = ""
        written: set[str] = set()
        previous: int | None = None
        for index, piece in pieces:
            node = self.body[index]
            is_import = isinstance(node, ast.Import | ast.ImportFrom)
            if is_import and piece in written:  # an import two statements make alike (a module of several
                continue  # tools' sources, each with its own imports) is written once
            written.add(piece)
            if previous is not None:
                text += self._between(previous, index)
            text += piece
            previous = index
        missing = sorted(name for name in harness if name not in LETTA_SCOPE)
        return ToolSource(text + "\n", missing)

    def _binding(self, name: str, at: int) -> int | None:
        """The top-level statement whose binding of `name` the statement `at` sees: the last one before it
        (where the module binds a name again, it is the one in effect where the statement runs), else the
        first after it (a function reads a global when called); a `def` or `class` naming itself is itself."""
        if name in self.bound[at] and isinstance(self.body[at], ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return at
        before = [index for index in range(at) if name in self.bound[index]]
        if before:
            return before[-1]
        return next((index for index in range(at + 1, len(self.body)) if name in self.bound[index]), None)

    def _reads(self, node: ast.stmt) -> set[str]:
        """The global names the statement reads, when it runs or when what it defines is called; a local
        variable of a function is none (a helper's `result` is not another tool's top-level `result`)."""
        text = self._lines(node)
        if self.postponed:  # then the annotations are not read
            text = "from __future__ import annotations\n" + text
        try:
            table = symtable.symtable(text, "<tool>", "exec")
        except (SyntaxError, ValueError):
            return _names(node, self.postponed)
        found: set[str] = set()
        tables = [table]
        while tables:
            current = tables.pop()
            module = current.get_type() == "module"
            found |= {
                symbol.get_name()
                for symbol in current.get_symbols()
                if (symbol.is_referenced() if module else symbol.is_global())
            }
            tables += current.get_children()
        return found

    def _another_tools(self, name: str, index: int, at: int) -> bool:
        """Whether, in a module `harness import` wrote (its first import is the Letta scope line), statement
        `index` is the typing import of another tool's source than statement `at`'s: a definition lies
        between them. Each source there has its imports right above it; one that has none relies on Letta's
        scope, and is written so."""
        if not self.imported or name not in TYPING_SCOPE or not _plain_typing_import(self.body[index], name):
            return False
        definitions = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        return index < at and any(isinstance(self.body[i], definitions) for i in range(index + 1, at))

    def _letta_scope(self, node: ast.stmt) -> bool:
        """Whether `node` is the line agent_tools.py gives every tool Letta's typing names with: what Letta
        has in scope needs no import written."""
        return self._lines(node).strip() == LETTA_SCOPE_IMPORT

    def _lines(self, node: ast.stmt) -> str:
        decorators = getattr(node, "decorator_list", [])
        first = min([node.lineno, *(d.lineno for d in decorators)])
        return "".join(self.lines[first - 1 : node.end_lineno or node.lineno])

    def _between(self, previous: int, index: int) -> str:
        """What separates two statements written: the module's own lines between them (blank lines,
        comments) where they are next to each other there, else a blank line after an import followed by
        an import, two before anything else."""
        node, before = self.body[index], self.body[previous]
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        last = before.end_lineno or before.lineno
        if index == previous + 1 and first > last:
            return "\n" + "".join(self.lines[last : first - 1])
        imports = ast.Import | ast.ImportFrom
        return "\n" if isinstance(node, imports) and isinstance(before, imports) else "\n\n\n"

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
        return b"".join(lines).decode("utf-8").rstrip("\n")


def _dedent(text: str) -> str:
    """`text` without the indentation all its lines share, as textwrap.dedent, but a line of whitespace
    alone keeps what the margin leaves of it: inside a string literal it is part of the value."""
    lines = text.splitlines(keepends=True)
    margins = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip()]
    margin = margins[0] if margins else ""
    for other in margins:
        while not other.startswith(margin):
            margin = margin[:-1]
    return "".join(line[len(margin) :] if line.startswith(margin) else line for line in lines)


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


def _plain_typing_import(node: ast.stmt, name: str) -> bool:
    """Whether `node` is `from typing import ... name ...` (no alias): what Letta's `from typing import *` gives."""
    return (
        isinstance(node, ast.ImportFrom)
        and node.module == "typing"
        and not node.level
        and any(a.name == name and a.asname is None for a in node.names)
    )


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
