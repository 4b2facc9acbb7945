"""A tools module reduced to what describing its tools needs, so that checking an import runs nothing of the
Agent File's: each function's signature and docstring (its body, decorators and any default or annotation
that is not a plain value or type left out), the imports (they run installed packages, not the file), type
aliases (`Mode = Literal["a", "b"]`), and classes reduced to their typed fields (a pydantic model's
`Field(...)` values and methods left out). Everything else at the top of the module is dropped, and an
annotation naming what was dropped reads `Any`: the stub never fails where the module it stands for would not.

`harness import` checks the agents.yaml it would write by loading it, as `harness validate` will: against
this stub, in a scratch folder. The module written beside agents.yaml is the file's source, untouched; it
runs only when the user runs the project.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import typing

_PLAIN_NAMES = {"None", "True", "False"}
_TYPING = "_harness_stub_typing"  # the stub's own import of typing, for its `Any`
# What a type alias may subscript (`Literal[...]`, `list[...]`): generics, whose subscript runs no code of the
# file's (`CONFIG["key"]` may raise, or do anything the file's class says).
_GENERICS = frozenset({*typing.__all__, *collections.abc.__all__, "list", "dict", "set", "frozenset", "tuple", "type"})


def checkable_stub(source: str) -> str:
    """`source` (a module that parses) as a stub: see the module doc."""
    module = ast.parse(source)
    kept: list[ast.stmt] = []
    for node in module.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            kept.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kept.append(_function_stub(node))
        elif isinstance(node, ast.ClassDef):
            if _class_stub(node):
                kept.append(node)
        elif _is_alias(node):
            kept.append(node)
    kept = [*ast.parse(f"import typing as {_TYPING}").body, *_without_dropped_names(module, kept)]
    return ast.unparse(ast.fix_missing_locations(ast.Module(body=kept, type_ignores=[])))


def _any() -> ast.expr:
    """`Any`, for an annotation the stub cannot keep, under a name of the stub's own (the module's `Any` may
    be anything, or nothing)."""
    return ast.Attribute(ast.Name(_TYPING, ast.Load()), "Any", ast.Load())


def _without_dropped_names(module: ast.Module, kept: list[ast.stmt]) -> list[ast.stmt]:
    """`kept`, where what names a definition the stub dropped does without it: a class or alias built on one
    goes too, an annotation naming one reads `Any`. A name the module binds nowhere stays, to fail as it would."""
    dropped_statements = [node for node in module.body if not any(node is k for k in kept)]
    dropped = {name for node in dropped_statements for name in binds(node)}
    while True:
        bound = {name for node in kept for name in binds(node)} | set(dir(builtins))
        missing = dropped - bound
        built_on_missing = [
            node
            for node in kept
            if (isinstance(node, ast.ClassDef) and any(_names(base) & missing for base in node.bases))
            or (
                isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None and _names(node.value) & missing
            )
        ]
        if not built_on_missing:
            break
        kept = [node for node in kept if not any(node is gone for gone in built_on_missing)]
        dropped |= {name for node in built_on_missing for name in binds(node)}
    for node in kept:
        for holder, key in _annotation_slots(node):
            annotation = getattr(holder, key)
            if annotation is not None and _names(annotation) & missing:
                setattr(holder, key, None if key == "returns" else _any())
    return kept


def _annotation_slots(node: ast.stmt) -> list[tuple[ast.AST, str]]:
    """Where the stub's statement holds an annotation that is evaluated: a function's parameters and return,
    a class's fields, an alias's declared type."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        arguments = node.args
        slots: list[tuple[ast.AST, str]] = [
            (argument, "annotation") for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        ]
        return [*slots, (node, "returns")]
    if isinstance(node, ast.ClassDef):
        return [(statement, "annotation") for statement in node.body if isinstance(statement, ast.AnnAssign)]
    if isinstance(node, ast.AnnAssign):
        return [(node, "annotation")]
    return []


def binds(node: ast.stmt) -> set[str]:
    """The names a top-level statement binds (at any depth of an `if` or `try`: those run at import too), but
    not in `if TYPE_CHECKING:`, which never runs: a name only bound there is unbound in the module as well."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.If) and _names(node.test) & {"TYPE_CHECKING"}:
        return {name for statement in node.orelse for name in binds(statement)}
    found: set[str] = set()
    for current in ast.walk(node):
        if isinstance(current, ast.Import | ast.ImportFrom):
            found |= {alias.asname or alias.name.split(".")[0] for alias in current.names}
        elif isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(current.name)
        elif isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            found.add(current.id)
    return found


def _names(node: ast.expr) -> set[str]:
    """The names an expression reads, forward references (annotations written as strings) included."""
    found: set[str] = set()
    for current in ast.walk(node):
        if isinstance(current, ast.Name):
            found.add(current.id)
        elif isinstance(current, ast.Constant) and isinstance(current.value, str):
            try:
                found |= _names(ast.parse(current.value.strip(), mode="eval").body)
            except SyntaxError:
                continue
    return found


def _function_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The signature and docstring; a default that is no plain value becomes None, an annotation that is no
    plain type `Any` (either could call anything when the `def` runs)."""
    arguments = node.args
    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        if argument.annotation is not None and not _is_type(argument.annotation):
            argument.annotation = _any()
    arguments.defaults = [d if _is_value(d) else ast.Constant(None) for d in arguments.defaults]
    arguments.kw_defaults = [d if d is None or _is_value(d) else ast.Constant(None) for d in arguments.kw_defaults]
    if arguments.vararg is not None:
        arguments.vararg.annotation = None
    if arguments.kwarg is not None:
        arguments.kwarg.annotation = None
    docstring = ast.get_docstring(node, clean=False)
    body: list[ast.stmt] = [ast.Expr(ast.Constant(docstring))] if docstring is not None else []
    node.body = [*body, ast.Expr(ast.Constant(...))]
    node.decorator_list = []
    node.returns = node.returns if node.returns is None or _is_type(node.returns) else None
    return node


def _class_stub(node: ast.ClassDef) -> bool:
    """Reduce the class in place to what describes it as a type (a TypedDict, a pydantic model, an Enum of
    values): its docstring and typed fields, a field's value kept when it is a plain one (`Field(...)` is a
    call of the file's to the stub); methods and nested classes go. False where that would change what the
    class is (a decorator, a computed base or keyword, a member such as `auto()` an Enum would lack) or its
    body runs other code."""
    if node.decorator_list or not all(_is_type(base) for base in node.bases):
        return False
    if not all(keyword.arg is not None and _is_value(keyword.value) for keyword in node.keywords):
        return False
    body: list[ast.stmt] = []
    for statement in node.body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            body.append(statement)  # a docstring
        elif isinstance(statement, ast.AnnAssign):
            if not isinstance(statement.target, ast.Name):
                return False
            if not _is_type(statement.annotation):
                statement.annotation = _any()
            if statement.value is not None and not _is_value(statement.value):
                statement.value = None  # `Field(description=...)`: a required field, for the stub
            body.append(statement)  # a typed field
        elif isinstance(statement, ast.Assign | ast.AugAssign):
            if not (
                isinstance(statement, ast.Assign)
                and all(isinstance(t, ast.Name) for t in statement.targets)
                and _is_value(statement.value)
            ):
                return False
            body.append(statement)  # an Enum member
        elif not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return False  # code the class runs when defined
        # a method (a validator) or a nested class (`Config`) is no part of the fields
    node.body = body or [ast.Pass()]
    return True


def _is_alias(node: ast.stmt) -> bool:
    """A top-level `Name = <type or plain value>` (or `Name: T = ...`): a type alias or constant an
    annotation may name, whose value subscripts generics only."""
    if isinstance(node, ast.Assign):
        targets_ok = all(isinstance(target, ast.Name) for target in node.targets)
        value: ast.expr | None = node.value
    elif isinstance(node, ast.AnnAssign):
        targets_ok = isinstance(node.target, ast.Name) and _is_type(node.annotation)
        value = node.value
    else:
        return False
    return targets_ok and value is not None and (_is_value(value) or _is_generic_type(value))


def _is_generic_type(node: ast.expr) -> bool:
    if not _is_type(node) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    for current in ast.walk(node):
        if isinstance(current, ast.Subscript):
            base = current.value
            name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
            if name not in _GENERICS:
                return False
    return True


def _is_value(node: ast.expr) -> bool:
    """A literal: a constant, or a list, tuple, set or dict of them (a negative number too)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in _PLAIN_NAMES
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return all(_is_value(item) for item in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_value(k) for k in node.keys) and all(_is_value(v) for v in node.values)
    return False


def _is_type(node: ast.expr) -> bool:
    """A type as annotations write one: names, dotted names, subscripts (`list[str]`, `Literal["a", 1]`),
    unions with `|`, and strings of those; no call, no lambda, nothing that computes."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Attribute):
        return _is_type(node.value)
    if isinstance(node, ast.Subscript):
        return _is_type(node.value) and _is_type_argument(node.slice)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_type(node.left) and _is_type(node.right)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):  # a forward reference, evaluated when the tool is described
            try:
                return _is_type(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return False
        return node.value is None
    return False


def _is_type_argument(node: ast.expr) -> bool:
    if isinstance(node, ast.Tuple | ast.List):
        return all(_is_type_argument(item) for item in node.elts)
    return _is_type(node) or _is_value(node)  # Literal["a", 1], Annotated[int, "why"]
