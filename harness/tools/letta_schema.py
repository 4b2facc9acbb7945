"""A custom tool's parameters as Letta sees them.

- As its `generate_schema` writes them (letta/functions/schema_generator.py, 0.6.23 and 0.16.8):
  `type_to_json_schema_type` and `pydantic_model_to_json_schema`, ported with their quirks, so the Letta
  loops offer a tool as Letta would. Where Letta's generator raises (a type it refuses: the whole tool, in
  Letta), the parameter's schema is None and the loop offers the harness's own for it. The harness's
  argument checks stay pydantic's.
- As Letta 0.6.23 converts their arguments before each call (`coerce_dict_args_by_annotations`, which
  reads the annotations as written in the source): which annotations it knows, so `harness validate` can
  refuse, for the letta-memgpt loop, a parameter whose every argument would fail the call.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import textwrap
import typing
from collections.abc import Callable
from typing import Any, Literal

import pydantic

from harness.tools.schema import STATE_PARAMETERS, resolved_annotations

LettaVersion = Literal["0.6.23", "0.16.8"]

_TYPE_MAP: dict[Any, str] = {int: "integer", str: "string", bool: "boolean", float: "number", None: "null"}


# letta/functions/ast_parsers.py BUILTIN_TYPES (0.6.23): the annotations, as written, that
# coerce_dict_args_by_annotations converts an argument to. Any other fails the call ("Unsupported annotation":
# its resolve_type falls back to ast.literal_eval, which never gives a type).
LETTA_COERCED_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    "str": str,
    "dict": dict,
    "list": list,
    "set": set,
    "tuple": tuple,
    "bool": bool,
}


@functools.cache
def source_annotations(function: Callable[..., Any]) -> dict[str, str]:
    """The annotations of a function's parameters as written in its source (Letta reads the source); read
    once per function (a call's replay costs less than reading and parsing it): treat it as read-only.
    Keyword-only parameters are not among them (get_function_annotations_from_source reads `args.args`)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == function.__name__:
            return {arg.arg: ast.unparse(arg.annotation) for arg in node.args.args if arg.annotation is not None}
    return {}


def uncoerced_parameters(function: Callable[..., Any]) -> dict[str, str]:
    """The parameters (and their annotations as written) whose every argument Letta 0.6.23 fails to
    coerce: the model may pass them, and each call that does fails with "Unsupported annotation"."""
    return {
        name: annotation
        for name, annotation in source_annotations(function).items()
        if name not in STATE_PARAMETERS and annotation not in LETTA_COERCED_TYPES
    }


def letta_memgpt_problem(function: Callable[..., Any], agent: str) -> str | None:
    """Why a custom tool cannot run under the letta-memgpt loop (`agent` runs it), or None: a parameter
    whose every argument fails the call, as in Letta 0.6.23 (and so in the loop, which copies it)."""
    uncoerced = uncoerced_parameters(function)
    if not uncoerced:
        return None
    shown = ", ".join(f"'{name}' (`{annotation}`)" for name, annotation in uncoerced.items())
    return (
        f"tool function '{function.__module__}.{function.__qualname__}': agent '{agent}' runs the letta-memgpt "
        f"loop, where every call passing {'' if len(uncoerced) == 1 else 'any of '}{shown} fails with "
        '"Unsupported annotation", as in Letta 0.6.23: '
        "it converts each argument to its parameter's annotation as written in the source, and knows only "
        f"{', '.join(LETTA_COERCED_TYPES)}; annotate {'it' if len(uncoerced) == 1 else 'them'} with one of "
        "those (a list or dict without its item types), or run the agent on `loop: letta-v1` or `loop: harness`"
    )


class LettaRefuses(ValueError):
    """Letta's generator raises on this type (ValueError, NotImplementedError, KeyError, TypeError...)."""


@functools.cache
def letta_parameters(function: Callable[..., Any], version: LettaVersion) -> tuple[dict[str, Any], list[str]]:
    """Each parameter's property as `generate_schema` writes it before adding the description (None where
    Letta refuses its type), and the parameters it requires: no default and not `Optional[...]`. Worked out
    once per function and version: treat the result as read-only."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, (annotation, default) in resolved_annotations(function).items():
        if name in STATE_PARAMETERS:
            continue
        try:
            properties[name] = _parameter(annotation, version)
        except Exception:  # Letta's generator raising, whatever it raises
            properties[name] = None
        if default is inspect.Parameter.empty and not is_optional(annotation):
            required.append(name)
    return properties, required


def is_optional(annotation: Any) -> bool:
    """schema_generator.is_optional: a `typing.Union` holding None (`X | None` is not one, to Letta)."""
    return typing.get_origin(annotation) is typing.Union and type(None) in typing.get_args(annotation)


def _parameter(annotation: Any, version: LettaVersion) -> dict[str, Any]:
    """generate_schema's branch for one parameter: a pydantic model unpacked, any other type mapped; a
    `list[str]`'s items written `{"type": "string"}` (they are already)."""
    if inspect.isclass(annotation) and not typing.get_origin(annotation) and issubclass(annotation, pydantic.BaseModel):
        return _model(annotation, version)
    return _type(annotation, version)


def _type(py_type: Any, version: LettaVersion) -> dict[str, Any]:
    """type_to_json_schema_type."""
    origin = typing.get_origin(py_type)
    if is_optional(py_type):
        arguments = typing.get_args(py_type)
        if len(arguments) != 2:  # Letta asserts "Optional type must have exactly one type argument"
            raise LettaRefuses(f"Optional type must have exactly one type argument, but got {py_type}")
        return _type(arguments[0], version)
    if origin is typing.Union:
        raise LettaRefuses("General Union types are not yet supported")
    if py_type is list or origin is list:
        arguments = typing.get_args(py_type)
        if not arguments:
            return {"type": "array", "items": {"type": "string"}}
        if inspect.isclass(arguments[0]) and issubclass(arguments[0], pydantic.BaseModel):
            return {"type": "array", "items": _model(arguments[0], version)}
        return {"type": "array", "items": _type(arguments[0], version)}
    if version == "0.16.8" and origin is Literal:
        return {"type": "string", "enum": list(typing.get_args(py_type))}  # "string" whatever the values
    if version == "0.16.8" and origin is tuple:
        arguments = typing.get_args(py_type)
        if not arguments:
            raise LettaRefuses("Tuple type must have at least one element")
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            raise LettaRefuses("Variable-length tuples (e.g., Tuple[int, ...]) are not supported")
        return {
            "type": "array",
            "prefixItems": [_type(argument, version) for argument in arguments],
            "minItems": len(arguments),
            "maxItems": len(arguments),
        }
    if py_type is dict or origin is dict:
        if typing.get_args(py_type):
            raise LettaRefuses(f"Dictionary types {py_type} with nested type arguments are not supported")
        return {"type": "object"}
    if inspect.isclass(py_type) and issubclass(py_type, pydantic.BaseModel):
        return _model(py_type, version)
    try:
        return {"type": _TYPE_MAP[py_type]}
    except (KeyError, TypeError):
        raise LettaRefuses(f"Python type {py_type} has no corresponding JSON schema type") from None


def _model(model: type[pydantic.BaseModel], version: LettaVersion) -> dict[str, Any]:
    """pydantic_model_to_json_schema: the model's JSON schema with its references put in place, each
    property cut to its type and description (a property without a description is refused)."""
    full: dict[str, Any] = json.loads(json.dumps(model.model_json_schema()))  # 0.16.8 writes into it
    return _clean_schema(full, full, version)


def _resolve_ref(ref: str, full: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#/$defs/"):
        raise LettaRefuses(f"Unexpected reference format: {ref}")
    name = ref.split("/")[-1]
    if name not in full.get("$defs", {}):
        raise LettaRefuses(f"Reference {name} not found in schema definitions")
    found: dict[str, Any] = full["$defs"][name]
    return found


def _clean_property(prop: dict[str, Any], full: dict[str, Any] | None, version: LettaVersion) -> dict[str, Any]:
    """clean_property. 0.16.8 takes the full schema too, but its clean_schema calls it without for a bare
    primitive (an array's items): a TypeError there, a refusal here (`full` None)."""
    if "description" not in prop:
        raise LettaRefuses(f"Property {prop} lacks a 'description' key")
    if version == "0.16.8":
        if full is None:
            raise LettaRefuses("clean_property() missing 1 required positional argument: 'full_schema'")
        if "type" not in prop and "$ref" in prop:
            prop["type"] = "object"
        if "$ref" in prop:
            nested = _clean_schema(_resolve_ref(prop["$ref"], full), full, version)
            return {"type": "object", **nested, "description": prop["description"]}
        if "anyOf" in prop:
            others = [branch for branch in prop["anyOf"] if branch.get("type") != "null"]
            if len(others) != 1 or "type" not in others[0]:
                raise LettaRefuses(f"Complex anyOf patterns are not supported: {prop}")
            return {"type": others[0]["type"], "description": prop["description"]}
    if "type" not in prop:
        raise LettaRefuses("'type'")  # Letta's KeyError
    return {"type": prop["type"], "description": prop["description"]}


def _clean_schema(part: dict[str, Any], full: dict[str, Any], version: LettaVersion) -> dict[str, Any]:
    """clean_schema."""
    if "$ref" in part:
        part = _resolve_ref(part["$ref"], full)
    if "type" not in part:
        raise LettaRefuses(f"Schema part lacks a 'type' key: {part}")
    if part["type"] == "array":
        items = part["items"]
        if "$ref" in items:
            items = _resolve_ref(items["$ref"], full)
        cleaned_items = _clean_schema(items, full, version)
        return {"type": "array", "items": cleaned_items, "description": part.get("description", "")}
    if part["type"] == "object":
        if "properties" not in part:
            raise LettaRefuses(f"Object schema lacks 'properties' key: {part}")
        properties: dict[str, Any] = {}
        for name, prop in part["properties"].items():
            if "items" in prop:
                if "description" not in prop:
                    raise LettaRefuses(f"Property {prop} lacks a 'description' key")
                properties[name] = {
                    "type": "array",
                    "items": _clean_schema(prop["items"], full, version),
                    "description": prop["description"],
                }
            else:
                properties[name] = _clean_property(prop, full, version)
        cleaned: dict[str, Any] = {"type": "object", "properties": properties, "required": part.get("required", [])}
        if "description" in part:
            cleaned["description"] = part["description"]
        return cleaned
    return _clean_property(part, None, version)
