"""The Letta loops offer a custom tool as Letta's generate_schema writes it (harness/tools/letta_schema.py):
its output for each kind of parameter is checked against Letta's own in tests/test_loops.py (the
conformance fixture); here, what must hold for any mix of them."""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path
from typing import Any, Literal, Optional

import pydantic
from hypothesis import given
from hypothesis import strategies as st

from harness.loops.letta_memgpt import (
    INNER_THOUGHTS_KWARG,
    INNER_THOUGHTS_KWARG_DESCRIPTION,
    coerce_arguments,
    letta_tool_schema,
)
from harness.loops.letta_v1 import letta_v1_tool_schema
from harness.tools.letta_schema import LETTA_COERCED_TYPES, letta_memgpt_problem, source_annotations
from harness.tools.schema import HEARTBEAT_PARAMETER, tool_from_function


class Step(pydantic.BaseModel):
    """One step."""

    name: str = pydantic.Field(description="Its name.")
    done: Optional[bool] = pydantic.Field(None, description="Whether it is done.")  # noqa: UP045


class Plan(pydantic.BaseModel):
    title: str = pydantic.Field(description="The title.")
    first: Step = pydantic.Field(description="The first step.")


# Annotations Letta's generator describes (the names are how the generated source writes them), and
# whether each is `Optional[...]` (not required, to Letta, even without a default).
KINDS = {
    "str": False,
    "int": False,
    "float": False,
    "bool": False,
    "list": False,
    "list[str]": False,
    "List[int]": False,
    "dict": False,
    "Dict": False,
    "Optional[str]": True,
    "Optional[List[str]]": True,
    "Optional[dict]": True,
    "Literal['a', 'b']": False,
    "Step": False,
    "list[Step]": False,
    "Plan": False,
}

parameters = st.lists(st.tuples(st.sampled_from(sorted(KINDS)), st.booleans()), min_size=1, max_size=5).map(
    lambda drawn: sorted(drawn, key=lambda kind_default: kind_default[1])
)  # no default first


def build(drawn: list[tuple[str, bool]]) -> Any:
    """A tool taking one parameter of each drawn kind (p0, p1, ...), those drawn with a default last."""
    signature = ", ".join(f"p{i}: {kind}" + (" = None" if default else "") for i, (kind, default) in enumerate(drawn))
    described = "".join(f"\n        p{i}: the {kind} value." for i, (kind, _) in enumerate(drawn))
    source = f'def tool({signature}) -> str:\n    """Use values.\n\n    Args:{described}\n    """\n    return "ok"\n'
    scope: dict[str, Any] = {"Step": Step, "Plan": Plan, "Literal": Literal, "Optional": Optional}
    scope |= {"List": list, "Dict": dict}
    exec(source, scope)
    return scope["tool"]


def keys_in_lettas_order(schema: Any) -> bool:
    """type_to_json_schema_type's and pydantic_model_to_json_schema's properties: `type` first; and a
    parameter's or a model's description last (generate_schema adds it after)."""
    if isinstance(schema, dict):
        if "type" in schema and next(iter(schema)) != "type":
            return False
        return all(keys_in_lettas_order(value) for value in schema.values())
    if isinstance(schema, list):
        return all(keys_in_lettas_order(value) for value in schema)
    return True


@given(parameters)
def test_letta_v1_writes_any_mix_of_parameters_as_lettas_generator(drawn: list[tuple[str, bool]]) -> None:
    """A model in place (no `$ref`/`$defs`), a bare dict with nothing more (pydantic adds
    `additionalProperties: true`), no default, `Optional[...]` not required even without a default."""
    tool = tool_from_function(build(drawn))
    parameters = letta_v1_tool_schema(tool)["function"]["parameters"]
    names = [f"p{i}" for i in range(len(drawn))]
    assert list(parameters) == ["type", "properties", "required"]
    assert list(parameters["properties"]) == names
    assert parameters["required"] == [
        name for name, (kind, default) in zip(names, drawn, strict=True) if not default and not KINDS[kind]
    ]
    text = json.dumps(parameters)
    assert "$ref" not in text and "$defs" not in text and "additionalProperties" not in text
    assert '"default"' not in text
    for name, (kind, _) in zip(names, drawn, strict=True):
        prop = parameters["properties"][name]
        assert list(prop)[-1] == "description" and prop["description"] == f"the {kind} value."
        if kind in ("dict", "Dict", "Optional[dict]"):
            assert prop == {"type": "object", "description": f"the {kind} value."}
    assert keys_in_lettas_order(parameters)


@given(parameters)
def test_letta_memgpt_sends_a_tool_strict_outputs_refuse_as_lettas_generator_wrote_it(
    drawn: list[tuple[str, bool]],
) -> None:
    """A bare dict makes convert_to_structured_output refuse the tool, and Letta 0.6.23 sends it as its
    generate_schema wrote it: a dict without `additionalProperties`, `Optional[...]` not required."""
    drawn = [("dict", False), *drawn]
    tool = tool_from_function(build(drawn))
    function = letta_tool_schema(tool, INNER_THOUGHTS_KWARG_DESCRIPTION)["function"]
    assert "strict" not in function
    parameters = function["parameters"]
    names = [f"p{i}" for i in range(len(drawn))]
    assert list(parameters["properties"]) == [INNER_THOUGHTS_KWARG, *names, HEARTBEAT_PARAMETER]
    assert parameters["required"] == [
        INNER_THOUGHTS_KWARG,
        *(name for name, (kind, default) in zip(names, drawn, strict=True) if not default and not KINDS[kind]),
        HEARTBEAT_PARAMETER,
    ]
    assert parameters["properties"]["p0"] == {"type": "object", "description": "the dict value."}
    assert "additionalProperties" not in json.dumps(parameters["properties"])


# Annotations as a tool's source may write them, and a module defining one tool for each (Letta reads the
# annotations from the source, so the tools must come from a file).
WRITTEN = [
    "str", "int", "float", "bool", "list", "dict", "set", "tuple", "list[str]", "List[int]", "dict[str, int]",
    "Dict", "Optional[str]", "str | None", "Literal['a', 'b']", "Step", "list[Step]", "'str'", "Any",
]  # fmt: skip


def _written_tools() -> list[Any]:
    source = "from typing import Any, Dict, List, Literal, Optional\n"
    for index, annotation in enumerate(WRITTEN):
        source += (
            f'\n\ndef tool{index}(x: {annotation}) -> str:\n    """Use x.\n\n    Args:\n        x: the x.\n    """\n'
        )
        source += "    return str(x)\n"
    path = Path(tempfile.mkdtemp()) / "written_tools.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("written_tools", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.Step = Step  # type: ignore[attr-defined]
    spec.loader.exec_module(module)
    return [getattr(module, f"tool{index}") for index in range(len(WRITTEN))]


WRITTEN_TOOLS = _written_tools()


@given(st.sampled_from(range(len(WRITTEN))), st.none() | st.booleans() | st.integers() | st.text(max_size=5))
def test_letta_memgpt_refuses_at_validate_exactly_what_fails_every_call(index: int, value: Any) -> None:
    """validate's refusal and the loop's conversion (0.6.23's coerce_dict_args_by_annotations) agree: a
    parameter is refused iff converting any argument for it fails with "Unsupported annotation"."""
    function = WRITTEN_TOOLS[index]
    tool_from_function(function)  # the harness describes every one of them
    refused = letta_memgpt_problem(function, "a") is not None
    try:
        coerce_arguments({"x": value}, source_annotations(function))
        unsupported = False
    except ValueError as exc:
        unsupported = "Unsupported annotation" in str(exc)
    assert refused == unsupported, WRITTEN[index]
    assert refused == (WRITTEN[index] not in LETTA_COERCED_TYPES)
