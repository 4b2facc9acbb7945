"""A custom tool's source from an Agent File, read without running it: whether `harness validate` would take
it (`source_problem`), whether the letta-memgpt loop could ever call it (`uncoerced_problem`), what its module
binds (to merge several tools' sources into one agent_tools.py), and the rewrites an import makes so it can
be kept (a docstring written from the stored schema, `from __future__` imports taken out)."""

from __future__ import annotations
import __future__

import ast
import builtins
import functools
import importlib.util
import keyword
import re
import sys
from typing import Any

from harness.agentfile.stub import binds
from harness.tools.letta_schema import LETTA_COERCED_TYPES
from harness.tools.schema import STATE_PARAMETERS, read_docstring

NO_DOCSTRING = "has no docstring"
# The typing names Letta puts in scope of a tool's source, which agent_tools.py's header imports; with
# AgentState, the names it gives every tool: a tool's source must not define them.
TYPING_NAMES = ("Any", "Dict", "List", "Literal", "Optional", "Tuple", "Union")
MODULE_NAMES = frozenset({*TYPING_NAMES, "AgentState"})
# agent_tools.py's header line giving every tool those typing names: what Letta's `from typing import *` gives
# it, so `harness export` writes no import for a name that line binds (agentfile.toolsource).
LETTA_SCOPE_IMPORT = f"from typing import {', '.join(TYPING_NAMES)}  # noqa: F401, UP035"


@functools.cache  # each kept source is compared with every later one
def top_level_definitions(source: str) -> dict[str, tuple[str, bool]]:
    """Each name the module's top level binds: what binds it (an import as `from m import n as a`, anything
    else as its statement's text), and whether that is an import."""
    found: dict[str, tuple[str, bool]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = f"from {'.' * node.level}{node.module or ''} " if isinstance(node, ast.ImportFrom) else ""
            for alias in node.names:
                bound = (alias.asname or alias.name).split(".")[0]
                found[bound] = (f"{module}import {alias.name} as {bound}", True)
            continue
        text = ast.get_source_segment(source, node) or ast.dump(node)
        names: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        for defined in names:
            found[defined] = (text, False)
    return found


def without_future_imports(source: str) -> tuple[str, int] | str | None:
    """`source` without its `from __future__` imports, which agent_tools.py (every tool's source after its own
    header) cannot hold, and how many annotations were written as strings to keep what postponing them meant
    (one naming what is not defined yet where it stands: a `TYPE_CHECKING` import, a class further down); None
    where the source has none (or does not parse: `source_problem` says so), why not where it cannot be."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    futures = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == "__future__"]
    if not futures:
        return None
    features = {alias.name for node in futures for alias in node.names}
    optional = sorted(
        feature
        for feature in features
        if feature != "annotations"
        and (getattr(__future__, feature, None) is None or getattr(__future__, feature).mandatory > sys.version_info)
    )
    if optional:
        return f"imports {optional[0]} from __future__, which one tool of agent_tools.py cannot have alone"
    lines = [line.encode("utf-8") for line in source_lines(source)]
    gone: set[int] = set()  # 0-based lines the imports stand on
    for node in futures:
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        before, after = lines[first][: node.col_offset], lines[last][node.end_col_offset or 0 :]
        if before.strip() or not (after.strip() == b"" or after.strip().startswith(b"#")):
            return "shares a line with its `from __future__` import, which agent_tools.py cannot hold"
        gone |= set(range(first, last + 1))
    quoted = 0
    if "annotations" in features:
        available = set(dir(builtins)) | MODULE_NAMES
        for statement in tree.body:
            late = [
                annotation
                for annotation in _evaluated_annotations(statement)
                if not _annotation_names(annotation) <= available
            ]
            for annotation in sorted(late, key=lambda a: (a.lineno, a.col_offset), reverse=True):
                first, last = annotation.lineno - 1, (annotation.end_lineno or annotation.lineno) - 1
                head = lines[first][: annotation.col_offset]
                tail = lines[last][annotation.end_col_offset or 0 :]
                lines[first : last + 1] = [head + repr(ast.unparse(annotation)).encode("utf-8") + tail]
                lines[first + 1 : first + 1] = [b""] * (last - first)  # the line numbers after stay as they were
                quoted += 1
            available |= binds(statement)
    return b"".join(line for index, line in enumerate(lines) if index not in gone).decode("utf-8"), quoted


def _evaluated_annotations(node: ast.AST, local: bool = False) -> list[ast.expr]:
    """The annotations `node` evaluates unless they are postponed (a parameter's, a return's, a class field's;
    a variable's inside a function never is), but those already written as strings."""
    found: list[ast.expr] = []
    if isinstance(node, ast.arg) and node.annotation is not None:
        found.append(node.annotation)
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
        found.append(node.returns)
    elif isinstance(node, ast.AnnAssign) and not local:
        found.append(node.annotation)
    inside = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or (local and not isinstance(node, ast.ClassDef))
    for child in ast.iter_child_nodes(node):
        found += _evaluated_annotations(child, inside)
    return [annotation for annotation in found if not isinstance(annotation, ast.Constant)]


def _annotation_names(annotation: ast.expr) -> set[str]:
    return {node.id for node in ast.walk(annotation) if isinstance(node, ast.Name)}


def source_lines(source: str) -> list[str]:
    """The lines of `source` as `ast` numbers them (`\r\n`, `\r` or `\n` ends one), each with its end."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", source)


def with_docstring(source: str, name: str, schema: dict[str, Any]) -> str | None:
    """`source` with a Google-style docstring for function `name` written from its JSON schema (Letta offers
    the model the schema it stores, so a tool may have none); None where that cannot be done."""
    tree = ast.parse(source)
    function = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name), None
    )
    description = schema.get("description")
    parameters = schema.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    if function is None or not isinstance(description, str) or not description.strip():
        return None
    first = function.body[0].lineno - 1  # 0-based line of the body's first statement
    if first == function.lineno - 1:
        return None  # `def f(): return 1`: no line to put a docstring on
    lines = source_lines(source)  # as `ast` counts lines (a lone \r ends one too)
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip(" \t"))]
    end = lines[first - 1][len(lines[first - 1].rstrip("\r\n")) :]  # the def's line ending, for the docstring's
    doc = description.strip().splitlines()
    if isinstance(properties, dict) and properties:
        doc += ["", "Args:"]
        for parameter, spec in properties.items():
            text = spec.get("description", "") if isinstance(spec, dict) else ""
            doc.append(f"    {parameter}: {' '.join(str(text).split())}")
    body = end.join(f"{indent}{line}" if line else "" for line in doc)
    escaped = body.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    docstring = f'{indent}"""{escaped.lstrip()}{end}{indent}"""{end}'
    return "".join([*lines[:first], docstring, *lines[first:]])


def source_problem(name: str, source: str) -> str | None:
    """Why `harness validate` would refuse this tool's source, read without running it; None if it would not."""
    if not name.isidentifier() or keyword.iskeyword(name):
        return f"cannot define a function named '{name}'"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        return f"is not Python ({exc.__class__.__name__}: {exc})"
    for module in _top_level_imports(tree):
        if importlib.util.find_spec(module) is None:
            return f"imports '{module}' when loaded, which is not installed here"
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    function = next((node for node in functions if node.name == name), None)
    if function is None:
        return f"defines no function '{name}'"
    docstring = ast.get_docstring(function, clean=False) or ""
    if not docstring.strip():
        return NO_DOCSTRING
    try:
        doc = read_docstring(docstring)
    except ValueError as exc:
        return str(exc)
    documented = {param.arg_name: (param.description or "").strip() for param in doc.params}
    arguments = function.args
    if arguments.vararg or arguments.kwarg:
        return "takes *args or **kwargs, which cannot be described to the model"
    if arguments.posonlyargs:
        return "takes positional-only parameters, and a tool's arguments are passed by name"
    parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    if all(name in {parameter.arg for parameter in parameters} for name in STATE_PARAMETERS):
        return "takes both `self` and `agent_state`, and the agent is passed to one of them"
    for parameter in parameters:
        if parameter.arg in STATE_PARAMETERS:  # the agent, wherever it stands
            continue
        if parameter.annotation is None:
            return f"gives parameter '{parameter.arg}' no type hint"
        if not documented.get(parameter.arg):
            return f"does not describe parameter '{parameter.arg}' in its docstring"
    return None


def uncoerced_problem(name: str, source: str) -> str | None:
    """Why the letta-memgpt loop could never run the tool, read without running it (as `harness validate`
    reads it, `letta_schema.uncoerced_parameters`): a parameter annotated, as written, with a type Letta
    0.6.23 does not convert an argument to, which fails every call passing one ("Unsupported annotation")."""
    function = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
    )
    uncoerced = [
        f"'{argument.arg}' (`{ast.unparse(argument.annotation)}`)"
        for argument in function.args.args
        if argument.annotation is not None
        and argument.arg not in STATE_PARAMETERS
        and ast.unparse(argument.annotation) not in LETTA_COERCED_TYPES
    ]
    if not uncoerced:
        return None
    return (
        f"annotates {', '.join(uncoerced)} with a type Letta 0.6.23 does not convert an argument to, so under "
        'the letta-memgpt loop every call passing one fails ("Unsupported annotation"); it knows only '
        f"{', '.join(LETTA_COERCED_TYPES)}"
    )


def _top_level_imports(tree: ast.Module) -> list[str]:
    """The top-level packages the module imports when loaded (imports inside a function run only when it does)."""
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [alias.name.partition(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module.partition(".")[0])
    return list(dict.fromkeys(found))
