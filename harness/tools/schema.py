"""Turn a typed, docstring'd Python function into an OpenAI tool: schema, validation, call.

pydantic builds both the JSON schema and the argument validator from one model made from the signature,
so what the model is told and what the harness accepts cannot drift apart.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import docstring_parser
import pydantic

from harness.errors import RunError, ToolDefinitionError
from harness.tools.context import AgentState
from harness.tools.runtime import UserCall, exception_name, printed, stops_the_run

__all__ = ["HEARTBEAT_PARAMETER", "Tool", "ToolDefinitionError", "ToolResult", "tool_from_function"]

# Parameters the harness fills in itself, wherever they stand (Letta's TOOL_RESERVED_KWARGS); they never
# appear in the schema the model sees.
STATE_PARAMETERS = ("agent_state", "self")

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # OpenAI's rule for a function name

# Letta 0.16.8's generate_schema, for a docstring that gives no summary or body (`Args:` on its first line).
NO_DESCRIPTION = "No description available"

HEARTBEAT_PARAMETER = "request_heartbeat"
HEARTBEAT_SCHEMA = {
    "type": "boolean",
    "description": "Request an immediate heartbeat after function execution. Set to `True` if you want to "
    "send a follow-up message or run a follow-up function.",
}


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    message: str
    # What a custom tool printed (Letta's ToolReturn stdout and stderr): for the run's record, never the model.
    stdout: str = ""
    stderr: str = ""

    def to_content(self) -> str:
        """What the model receives, shaped as Letta's `package_function_response` (without the clock)."""
        return json.dumps({"status": "OK" if self.ok else "Failed", "message": self.message})


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    function: Callable[..., Any]
    arguments_model: type[pydantic.BaseModel]
    state_parameter: str | None
    terminal: bool
    declared_parameters: dict[str, Any] | None = None  # a tool declared by its JSON schema alone (tools/declared.py)

    def parameters_schema(self) -> dict[str, Any]:
        if self.declared_parameters is not None:
            schema: dict[str, Any] = copy.deepcopy(self.declared_parameters)  # the heartbeat goes into a copy
        else:
            schema = _clean_schema(self.arguments_model.model_json_schema())
        if not self.terminal:
            schema["properties"][HEARTBEAT_PARAMETER] = dict(HEARTBEAT_SCHEMA)
            schema["required"] = [*schema.get("required", []), HEARTBEAT_PARAMETER]
        return schema

    @property
    def parameter_names(self) -> frozenset[str]:
        """The arguments the model may pass (what a scenario's `args:` may name)."""
        return frozenset(self.openai_schema()["function"]["parameters"]["properties"])  # built once

    def openai_schema(self) -> dict[str, Any]:
        """The tool as the model is told of it. Built once per tool and shared: treat it as read-only."""
        return self._openai_schema

    @cached_property
    def _openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters_schema(),
            },
        }

    def call(self, agent_state: AgentState, arguments: dict[str, Any], user: UserCall | None = None) -> ToolResult:
        """Validate and run (`user`: a custom tool's call, contained); any failure of the tool's becomes a
        Failed result for the model, never an exception (a RunError under it, and what stops the run, go
        on up)."""
        declared = self.declared_parameters is not None
        kwargs, problems = self._declared_kwargs(arguments) if declared else self._kwargs(arguments)
        if kwargs is None:
            return ToolResult(False, f"Error executing function {self.name}: invalid arguments: {problems}")
        try:
            text = str(self.invoke(agent_state, kwargs, user))  # a value whose str() raises fails as the call would
        except RunError:
            # An endpoint or cassette failing under the tool (archival memory's embeddings) is no answer
            # of the tool's to show the model: it ends the run, as a chat request failing does, so a
            # recording never keeps an outage as the model's doing (Letta returns it to the model).
            raise
        except BaseException as exc:  # sys.exit(), any BaseException of the tool's: the call fails, not the run
            if stops_the_run(exc):
                raise
            error = f"Error executing function {self.name}: {exception_name(exc)}: {exc}"
            return ToolResult(False, error, *printed(user))
        return ToolResult(True, text, *printed(user))

    def invoke(self, agent_state: AgentState, kwargs: dict[str, Any], user: UserCall | None = None) -> Any:
        """The function run on `kwargs` (through `user`, a custom tool's contained call), the agent's state
        filled in where it takes it. A call that raises leaves memory as it found it: Letta runs a tool on a
        copy of the agent's state and keeps the memory of a call that returned (0.6's
        `update_memory_if_changed`; its sandbox returns no state from a call that raised)."""
        function = self.function
        if self.state_parameter is None:
            return user.run(lambda: function(**kwargs)) if user is not None else function(**kwargs)
        given = {**kwargs, self.state_parameter: agent_state}
        checkpoint = agent_state.memory.checkpoint()
        try:
            return user.run(lambda: function(**given)) if user is not None else function(**given)
        except BaseException:
            agent_state.memory.restore(checkpoint)
            raise

    def _kwargs(self, arguments: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """The function's arguments as its signature types them, or why they are not valid."""
        try:
            parsed = self.arguments_model.model_validate(arguments)
        except pydantic.ValidationError as exc:
            return None, "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
            )
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}, ""

    def _declared_kwargs(self, arguments: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """A declared tool's arguments, as given, if its JSON schema takes them."""
        errors = sorted(self._declared_validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        if errors:
            return None, "; ".join(
                f"{'.'.join(str(p) for p in error.absolute_path) or 'arguments'}: {error.message}" for error in errors
            )
        return dict(arguments), ""

    @cached_property
    def _declared_validator(self) -> Any:
        """Built once per tool (a validator per call cost more than the call)."""
        import jsonschema

        schema = self.declared_parameters or {}
        return jsonschema.validators.validator_for(schema)(schema)


def tool_from_function(function: Callable[..., Any], *, terminal: bool = False) -> Tool:
    name = getattr(function, "__name__", None)
    if not name or not callable(function):
        raise ToolDefinitionError(f"{function!r} is not a named function")
    where = f"tool function '{function.__module__}.{function.__qualname__}'"
    if not re.fullmatch(NAME_PATTERN, name):
        raise ToolDefinitionError(
            f"{where}: its name is not one a model's API takes as a function name (ASCII letters, digits, '_' "
            "and '-', at most 64 characters): rename the function"
        )
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        raise ToolDefinitionError(f"{where} is async: tools are called as plain functions; define it with `def`")
    if inspect.isgeneratorfunction(function):
        raise ToolDefinitionError(f"{where} yields: a tool returns its result; use `return`, not `yield`")
    if not (function.__doc__ or "").strip():
        raise ToolDefinitionError(f"{where} has no docstring: the model needs a description of the tool")
    try:
        doc = read_docstring(function.__doc__)
    except ValueError as exc:
        raise ToolDefinitionError(f"{where}: {exc}") from None
    description = "\n\n".join(part for part in (doc.short_description, doc.long_description) if part)
    description = description or NO_DESCRIPTION
    documented = {param.arg_name: param for param in doc.params}
    signature = inspect.signature(function)
    state = [name for name in signature.parameters if name in STATE_PARAMETERS]
    if len(state) > 1:
        raise ToolDefinitionError(
            f"{where} takes both `self` and `agent_state`: the agent is passed to one of them; drop `self` "
            "(Letta passes the agent to `agent_state` and nothing to `self`)"
        )
    state_parameter = state[0] if state else None
    fields: dict[str, Any] = {}
    for param_name, param in signature.parameters.items():
        if param.kind is param.POSITIONAL_ONLY:  # Letta's sandbox and the harness pass every argument by name
            raise ToolDefinitionError(
                f"{where}: parameter '{param_name}' is positional-only (before `/`), and a tool's arguments are "
                "passed by name: every call would fail; remove the `/`"
            )
        if param_name == state_parameter:  # wherever it stands, as Letta's TOOL_RESERVED_KWARGS
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            stars = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise ToolDefinitionError(
                f"{where}: {stars}{param_name} cannot be described to the model; name each argument"
            )
        if param.annotation is inspect.Parameter.empty:
            raise ToolDefinitionError(
                f"{where}: parameter '{param_name}' has no type annotation (add one, e.g. `{param_name}: str`)"
            )
        described = documented.get(param_name)
        if described is None or not (described.description or "").strip():
            raise ToolDefinitionError(f"{where}: {_not_described(function.__doc__, doc, param_name)}")
        annotation = _resolve(function, param_name, param.annotation, where)
        _check_describable(annotation, param_name, where)
        default = ... if param.default is inspect.Parameter.empty else param.default
        if not _finite(default):  # every request carries the tool's schema, defaults included
            raise ToolDefinitionError(
                f"{where}: the default of '{param_name}' ({default!r}) cannot be written as JSON; use a finite "
                "number or None"
            )
        fields[param_name] = (
            annotation,
            pydantic.Field(default=default, description=" ".join((described.description or "").split())),
        )
    try:
        model = pydantic.create_model(f"{name}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields)
    except Exception as exc:  # pydantic refusing the parameters together (a default of the wrong type...)
        raise ToolDefinitionError(
            f"{where}: its parameters cannot be described to the model: {_first_line(exc)}"
        ) from None
    return Tool(name, description, function, model, state_parameter, terminal)


def read_docstring(text: str | None) -> docstring_parser.Docstring:
    """A tool's docstring as Letta's `generate_schema` reads it: `docstring_parser.parse` of the raw
    `__doc__`, its style found by the parser (Google, NumPy, Sphinx or Epydoc: the one describing most).
    A docstring Google's parser refuses (`Args:` then `None`, an empty `Args:`) is read in another style,
    as in Letta; one no style can read is a ValueError saying why (never the parser's traceback)."""
    try:
        return docstring_parser.parse(text or "")
    except Exception as exc:  # the parser's ParseError, or anything else it raises on odd text
        raise ValueError(f"its docstring cannot be read in any style Letta reads: {_first_line(exc)}") from None


# The styles docstring_parser reads (its AUTO style tries each, as Letta's generate_schema parses): their
# names, where each describes a parameter, and how.
_STYLES: dict[docstring_parser.DocstringStyle, tuple[str, str, str]] = {
    docstring_parser.DocstringStyle.GOOGLE: ("Google", "Args section", "`{name} (type): what it is`"),
    docstring_parser.DocstringStyle.NUMPYDOC: (
        "NumPy",
        "Parameters section",
        "`{name} : type`, then what it is on the next line, indented",
    ),
    docstring_parser.DocstringStyle.REST: ("Sphinx", "`:param` fields", "`:param {name}: what it is`"),
    docstring_parser.DocstringStyle.EPYDOC: ("Epydoc", "`@param` fields", "`@param {name}: what it is`"),
}


def _not_described(text: str | None, doc: docstring_parser.Docstring, name: str) -> str:
    """Why parameter `name` has no text in the docstring as Letta reads it, saying so when its style is
    the problem: a part in a style the parser cannot read, or a docstring mixing styles (the parser reads
    the one describing most, and nothing of the others)."""
    unreadable: list[str] = []
    elsewhere: list[str] = []
    for style, (style_name, _, _) in _STYLES.items():
        try:
            alone = docstring_parser.parse(text or "", style=style)
        except Exception as exc:
            unreadable.append(f"its {style_name}-style part cannot be read ({_first_line(exc)})")
            continue
        if style != doc.style and any(p.arg_name == name and (p.description or "").strip() for p in alone.params):
            elsewhere.append(style_name)
    found = next((p for p in doc.params if p.arg_name == name), None)
    if doc.params and doc.style in _STYLES:
        style_name, section, how = _STYLES[doc.style]
        what = "has no text" if found is not None else "is not described"
        reason = f"parameter '{name}' {what} in the docstring's {section} (read as {style_name} style"
        if elsewhere:
            reason += (
                f": the parser reads one style, the one with most entries, as in Letta; its {elsewhere[0]}-style "
                f"text for '{name}' is not read); write the whole docstring in one style"
            )
        else:
            reason += f", as Letta reads it); add {how.format(name=name)}"
        return "; ".join([reason, *unreadable])
    advice = (
        f"describe it as Letta reads docstrings: `{name} (type): what it is` in an `Args:` section (Google "
        f"style), or in NumPy's `Parameters` section or a Sphinx `:param {name}:` field"
    )
    return "; ".join([f"parameter '{name}' is not described in the docstring", *unreadable, advice])


def _finite(value: Any) -> bool:
    """No NaN or infinity in `value` (JSON has no such number), as deep as lists and dicts go."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    return True


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _check_describable(annotation: Any, param_name: str, where: str) -> None:
    """The parameter's type must have a JSON Schema: the model is told the tool through one."""
    try:
        schema = pydantic.TypeAdapter(annotation).json_schema()
    except Exception as exc:  # no schema (a Callable), or pydantic refusing the type (typing.TypedDict, a bad Field)
        shown = getattr(annotation, "__name__", None) or repr(annotation)
        reason = _first_line(exc)
        raise ToolDefinitionError(
            f"{where}: parameter '{param_name}' has type {shown}, which cannot be described to the model as JSON "
            f"({reason}); use str, int, float, bool, list or dict, which every loop runs (letta-v1 and harness "
            "also take a Literal, an Enum, a pydantic model, or a list or dict of those; letta-memgpt fails every "
            "call passing one, as Letta 0.6.23 does)"
        ) from None
    if _has_empty_enum(schema):
        shown = getattr(annotation, "__name__", None) or repr(annotation)
        raise ToolDefinitionError(
            f"{where}: parameter '{param_name}' has type {shown}, which has no values (an Enum without members): "
            "the model could never pass one; give the Enum members or use another type"
        )


def _has_empty_enum(schema: Any) -> bool:
    if isinstance(schema, dict):
        return schema.get("enum") == [] or any(_has_empty_enum(value) for value in schema.values())
    if isinstance(schema, list):
        return any(_has_empty_enum(value) for value in schema)
    return False


def resolved_annotations(function: Callable[..., Any]) -> dict[str, tuple[Any, Any]]:
    """The annotation (a string one evaluated, as the schema's) and default of each parameter the model is
    offered, for a function `tool_from_function` took."""
    where = f"tool function '{function.__module__}.{function.__qualname__}'"
    return {
        name: (_resolve(function, name, param.annotation, where), param.default)
        for name, param in inspect.signature(function).parameters.items()
        if name not in STATE_PARAMETERS
    }


def _resolve(function: Callable[..., Any], param_name: str, annotation: Any, where: str) -> Any:
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, vars(typing) | getattr(function, "__globals__", {}))
    except Exception as exc:
        raise ToolDefinitionError(
            f"{where}: the annotation of '{param_name}' ({annotation!r}) cannot be resolved: {exc}"
        ) from None


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's titles and, for optional parameters, the `null` branch: the model should just omit
    them, and small models choke on `anyOf`."""
    schema = _drop_titles(schema)
    schema.pop("additionalProperties", None)
    schema.setdefault("properties", {})
    for prop in schema["properties"].values():
        branches = prop.get("anyOf")
        if branches and {"type": "null"} in branches:
            rest = [b for b in branches if b != {"type": "null"}]
            if len(rest) == 1:
                del prop["anyOf"]
                prop.update(rest[0])
        if prop.get("default", 0) is None:
            del prop["default"]
    schema.setdefault("required", [])
    return schema


def _drop_titles(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_titles(v) for k, v in value.items() if k != "title" or not isinstance(v, str)}
    if isinstance(value, list):
        return [_drop_titles(v) for v in value]
    return value
