"""A tools module reduced to what describing its tools needs, so that checking an import runs nothing of the
Agent File's: each function's signature and docstring (its body, decorators and any default or annotation
that is not a plain value or type left out), the imports (they run installed packages, not the file), and
classes whose bodies only declare typed fields. Everything else at the top of the module is dropped.

`harness import` checks the agents.yaml it would write by loading it, as `harness validate` will: against
this stub, in a scratch folder. The module written beside agents.yaml is the file's source, untouched; it
runs only when the user runs the project.
"""

from __future__ import annotations

import ast

_PLAIN_NAMES = {"None", "True", "False"}


def checkable_stub(source: str) -> str:
    """`source` (a module that parses) as a stub: see the module doc."""
    module = ast.parse(source)
    kept: list[ast.stmt] = []
    for node in module.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            kept.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kept.append(_function_stub(node))
        elif isinstance(node, ast.ClassDef) and _declares_fields_only(node):
            kept.append(node)
    return ast.unparse(ast.fix_missing_locations(ast.Module(body=kept, type_ignores=[])))


def _function_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The signature and docstring; a default that is no plain value becomes None, an annotation that is no
    plain type `Any` (either could call anything when the `def` runs)."""
    arguments = node.args
    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        if argument.annotation is not None and not _is_type(argument.annotation):
            argument.annotation = ast.Name("Any", ast.Load())
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


def _declares_fields_only(node: ast.ClassDef) -> bool:
    """A class that only declares typed fields (a TypedDict, a pydantic model, an Enum of values): its body
    runs when defined, so any other statement there is code of the file's."""
    if node.decorator_list or node.keywords or not all(_is_type(base) for base in node.bases):
        return False
    for statement in node.body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and _is_type(statement.annotation)
            and (statement.value is None or _is_value(statement.value))
        ):
            continue  # a typed field
        if (
            isinstance(statement, ast.Assign)
            and all(isinstance(t, ast.Name) for t in statement.targets)
            and _is_value(statement.value)
        ):
            continue  # an Enum member
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
