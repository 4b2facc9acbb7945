from __future__ import annotations

import enum
import json
import sys
import typing
from collections.abc import Callable
from typing import Annotated, Any

import docstring_parser
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.agent import AgentState
from harness.memory import Memory
from harness.tools.builtin import core_memory_append, core_memory_replace, send_message
from harness.tools.schema import HEARTBEAT_PARAMETER, ToolDefinitionError, ToolResult, tool_from_function
from tests.helpers import ROOT

STATE = AgentState("agent-test", "test", Memory())


def test_non_terminal_tool_gets_required_heartbeat() -> None:
    schema = tool_from_function(core_memory_append).openai_schema()
    assert schema["type"] == "function"
    function = schema["function"]
    assert function["name"] == "core_memory_append"
    assert function["description"] == "Append to the contents of core memory."
    params = function["parameters"]
    assert list(params["properties"]) == ["label", "content", HEARTBEAT_PARAMETER]
    assert params["required"] == ["label", "content", HEARTBEAT_PARAMETER]
    assert params["properties"][HEARTBEAT_PARAMETER]["type"] == "boolean"
    assert params["properties"]["label"] == {
        "type": "string",
        "description": "Section of the memory to be edited (persona or human).",
    }


def test_terminal_send_message_has_no_heartbeat() -> None:
    params = tool_from_function(send_message, terminal=True).parameters_schema()
    assert list(params["properties"]) == ["message"]
    assert params["required"] == ["message"]


def test_hidden_state_parameters_are_absent() -> None:
    for function in (send_message, core_memory_append, core_memory_replace):
        text = json.dumps(tool_from_function(function).openai_schema())
        assert "agent_state" not in text
        assert tool_from_function(function).state_parameter == "agent_state"
    from harness.tools.registry import resolve_tool

    push = resolve_tool("examples.task_queue:task_queue_push", ROOT)
    assert "self" not in push.parameters_schema()["properties"]
    assert push.parameters_schema()["required"] == ["task_description", HEARTBEAT_PARAMETER]


def test_schema_has_no_pydantic_titles() -> None:
    text = json.dumps(tool_from_function(core_memory_replace).openai_schema())
    assert '"title"' not in text


def test_parameters_schema_is_fresh_each_time() -> None:
    tool = tool_from_function(core_memory_append)
    first = tool.parameters_schema()
    first["required"].append("mutated")
    assert tool.parameters_schema()["required"] == ["label", "content", HEARTBEAT_PARAMETER]


def no_annotation(agent_state, label, content: str) -> None:  # type: ignore[no-untyped-def]
    """Do something.

    Args:
        label (str): The label.
        content (str): The content.
    """


def undocumented_arg(agent_state: Any, label: str, content: str) -> None:
    """Do something.

    Args:
        label (str): The label.
    """


def empty_description(label: str) -> None:
    """Do something.

    Args:
        label (str):
    """


def no_docstring(label: str) -> None:
    pass


def var_args(*labels: str) -> None:
    """Do something.

    Args:
        labels (str): Labels.
    """


def var_keywords(**labels: str) -> None:
    """Do something.

    Args:
        **labels (str): Labels.
    """


def positional_only(agent_state: Any, label: str, /) -> None:
    """Do something.

    Args:
        label (str): The label.
    """


def bad_annotation(label: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
    """Do something.

    Args:
        label (NoSuchType): The label.
    """


@pytest.mark.parametrize(
    ("function", "fragment"),
    [
        (no_annotation, "parameter 'label' has no type annotation"),
        (undocumented_arg, "parameter 'content' is not described in the docstring's Args section"),
        (empty_description, "parameter 'label' has no text in the docstring's Args section"),
        (no_docstring, "has no docstring"),
        (var_args, ": *labels cannot be described"),
        (var_keywords, ": **labels cannot be described"),  # it said *labels
        # every call failed: the arguments are passed by name (the agent's too)
        (positional_only, "parameter 'agent_state' is positional-only (before `/`)"),
        (bad_annotation, "annotation of 'label' ('NoSuchType') cannot be resolved"),
    ],
)
def test_undescribable_functions_are_refused_by_name(function: Any, fragment: str) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        tool_from_function(function)
    message = str(info.value)
    assert f"'{__name__}.{function.__name__}'" in message
    assert fragment in message


def search(agent_state: Any, query: str, limit: int = 5, tag: str | None = None) -> str:
    """Search things.

    Longer explanation of the search.

    Args:
        query (str): What to look for.
        limit (int): How many
            results at most.
        tag (Optional[str]): Only results with this tag.
    """
    return f"{query}|{limit}|{tag}"


def test_optional_parameters() -> None:
    tool = tool_from_function(search)
    params = tool.parameters_schema()
    assert params["required"] == ["query", HEARTBEAT_PARAMETER]
    assert params["properties"]["tag"] == {"type": "string", "description": "Only results with this tag."}
    assert "anyOf" not in json.dumps(params)
    assert params["properties"]["limit"] == {
        "type": "integer",
        "default": 5,
        "description": "How many results at most.",
    }
    assert tool.description == "Search things.\n\nLonger explanation of the search."
    assert tool.call(STATE, {"query": "q"}) == ToolResult(True, "q|5|None")
    assert tool.call(STATE, {"query": "q", "limit": 2, "tag": "t"}) == ToolResult(True, "q|2|t")
    assert tool.call(STATE, {"query": "q", "tag": None}).ok


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({}, "query: Field required"),
        ({"query": 3}, "query: Input should be a valid string"),
        ({"query": "q", "limit": "many"}, "limit: Input should be a valid integer"),
        ({"query": "q", "colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_arguments_give_failed_result(arguments: dict[str, Any], fragment: str) -> None:
    result = tool_from_function(search).call(STATE, arguments)
    assert not result.ok
    assert result.message.startswith("Error executing function search: invalid arguments: ")
    assert fragment in result.message
    assert json.loads(result.to_content()) == {"status": "Failed", "message": result.message}


def explode(x: int) -> None:
    """Always fails.

    Args:
        x (int): Anything.
    """
    raise KeyError("nope")


def test_exception_in_tool_gives_failed_result() -> None:
    tool = tool_from_function(explode)
    assert tool.state_parameter is None
    assert tool.call(STATE, {"x": 1}) == ToolResult(False, "Error executing function explode: KeyError: 'nope'")


def quit_quietly(x: int) -> None:
    """Leaves.

    Args:
        x (int): Anything.
    """
    raise SystemExit(0)


def test_a_tool_that_calls_sys_exit_fails_its_call() -> None:
    """Not the harness: `harness run` exited 0 with no output, its later scenarios never run (green in CI)."""
    tool = tool_from_function(quit_quietly)
    assert tool.call(STATE, {"x": 1}) == ToolResult(False, "Error executing function quit_quietly: SystemExit: 0")


@given(st.dictionaries(st.text(max_size=8), st.none() | st.booleans() | st.integers() | st.text(max_size=5)))
def test_arbitrary_arguments_never_raise(arguments: dict[str, Any]) -> None:
    tool = tool_from_function(core_memory_append)
    result = tool.call(AgentState("a", "a", Memory()), arguments)
    assert isinstance(result, ToolResult)
    assert not result.ok  # no block exists, so nothing can succeed
    assert json.loads(result.to_content())["status"] == "Failed"


class Opaque:
    """Not a pydantic model: no JSON Schema."""


def takes_a_callback(callback: Callable[[int], int]) -> None:
    """Call back.

    Args:
        callback: what to call
    """


def takes_an_object(thing: Opaque) -> None:
    """Use a thing.

    Args:
        thing: the thing
    """


class PlainTypedDict(typing.TypedDict):  # pydantic refuses typing's own TypedDict before Python 3.12
    x: int


def takes_a_typed_dict(point: PlainTypedDict) -> None:
    """Use a point.

    Args:
        point: the point
    """


def takes_a_bad_field(count: Annotated[int, pydantic.Field(gt="a")]) -> None:
    """Count.

    Args:
        count: how many
    """


def has_a_nan_default(scale: float = float("nan")) -> None:
    """Scale.

    Args:
        scale: by how much
    """


@pytest.mark.parametrize(
    ("function", "parameter"),
    [(takes_a_callback, "callback"), (takes_an_object, "thing"), (takes_a_bad_field, "count")]
    + ([(takes_a_typed_dict, "point")] if sys.version_info < (3, 12) else []),
)
def test_a_parameter_type_with_no_json_schema_is_a_definition_error(function: Any, parameter: str) -> None:
    with pytest.raises(ToolDefinitionError) as caught:
        tool_from_function(function)
    message = str(caught.value)
    assert f"parameter '{parameter}' has type " in message
    assert "cannot be described to the model as JSON" in message
    # it recommended a Literal, an Enum or a pydantic model, which fail every call under the default loop
    assert message.endswith(
        "; use str, int, float, bool, list or dict, which every loop runs (letta-v1 and harness also take a "
        "Literal, an Enum, a pydantic model, or a list or dict of those; letta-memgpt fails every call passing "
        "one, as Letta 0.6.23 does)"
    )


def test_a_default_json_cannot_write_is_a_definition_error() -> None:
    """A NaN default would fail every request that carries the tool's schema, unlocated, at record time."""
    with pytest.raises(ToolDefinitionError, match=r"the default of .scale. \(nan\) cannot be written as JSON"):
        tool_from_function(has_a_nan_default)


async def an_async_tool(query: str) -> str:
    """Search.

    Args:
        query: what for
    """
    return query


def a_generator_tool(query: str) -> Any:
    """Search.

    Args:
        query: what for
    """
    yield query


@pytest.mark.parametrize(
    ("function", "says"),
    [(an_async_tool, "is async: tools are called as plain functions"), (a_generator_tool, "yields: a tool returns")],
)
def test_an_async_or_generator_tool_is_refused(function: Any, says: str) -> None:
    """Called as a plain function, it would hand the model a coroutine's or a generator's repr."""
    with pytest.raises(ToolDefinitionError, match=says):
        tool_from_function(function)


class NoMembers(enum.Enum):
    pass


def takes_no_members(choice: NoMembers) -> None:
    """Choose.

    Args:
        choice: which one
    """


def takes_a_list_of_no_members(choices: list[NoMembers]) -> None:
    """Choose several.

    Args:
        choices: which ones
    """


@pytest.mark.parametrize(
    ("function", "parameter"), [(takes_no_members, "choice"), (takes_a_list_of_no_members, "choices")]
)
def test_an_enum_without_members_is_a_definition_error(function: Any, parameter: str) -> None:
    """Its schema is `"enum": []`: no argument could ever validate, so every call of the tool would fail."""
    with pytest.raises(ToolDefinitionError, match=rf"parameter '{parameter}' has type .*which has no values"):
        tool_from_function(function)


def takes_a_text(text: str) -> str:
    return text


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=120) | st.sampled_from(["Args:", "Args:\n    None"]))
def test_any_docstring_is_read_or_refused_with_a_definition_error(docstring: str) -> None:
    """A docstring the parser chokes on was a traceback from `harness validate`, `run` and `compile`
    (exit 1): `Args:` then `None`, an empty `Args:`, `Args:` on the first line. Any text is read as
    Letta reads it, or refused with a located error."""
    takes_a_text.__doc__ = f"Echo a text.\n\n    Args:\n        text (str): the text.\n\n    {docstring}"
    try:
        tool = tool_from_function(takes_a_text)
    except ToolDefinitionError:
        return
    assert tool.description  # Letta's "No description available" at worst


def test_a_docstring_no_style_reads_is_a_located_definition_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str | None, style: object = None) -> None:
        raise docstring_parser.ParseError("Expected a colon in 'None'.")

    monkeypatch.setattr(docstring_parser, "parse", refuse)
    with pytest.raises(ToolDefinitionError) as caught:
        tool_from_function(search)
    assert str(caught.value) == (
        f"tool function '{__name__}.search': its docstring cannot be read in any style Letta reads: "
        "Expected a colon in 'None'."
    )


def no_summary(x: str) -> str:
    """
    Args:
        x (str): a value.
    """
    return x


def test_a_docstring_opening_with_its_args_describes_the_tool_as_letta_does() -> None:
    """Letta 0.16.8's generate_schema reads the parameters (from `__doc__` as written: cleaned first, the
    section loses its indentation and Google's parser refuses it) and says "No description available"."""
    tool = tool_from_function(no_summary)
    assert tool.description == "No description available"
    assert tool.parameters_schema()["properties"]["x"] == {"type": "string", "description": "a value."}


def forecast(city: str, days: int) -> str:
    return city


@pytest.mark.parametrize(
    ("docstring", "says"),
    [
        (  # a Google section the parser cannot read: it was "not described in the docstring's Args section"
            "Forecast.\n\n    Args:\n        city - the city.\n        days - how many.\n    ",
            "parameter 'city' is not described in the docstring; its Google-style part cannot be read (Expected a "
            "colon in 'city - the city.'.); describe it as Letta reads docstrings: `city (type): what it is` in an "
            "`Args:` section (Google style), or in NumPy's `Parameters` section or a Sphinx `:param city:` field",
        ),
        (  # two styles: the parser reads the one with most entries, Sphinx's here
            "Forecast.\n\n    Args:\n        city (str): the city.\n\n    :param days: how many.\n    ",
            "parameter 'city' is not described in the docstring's `:param` fields (read as Sphinx style: the parser "
            "reads one style, the one with most entries, as in Letta; its Google-style text for 'city' is not "
            "read); write the whole docstring in one style",
        ),
        (
            "Forecast.\n\n    Parameters\n    ----------\n    city : str\n        The city.\n    ",
            "parameter 'days' is not described in the docstring's Parameters section (read as NumPy style, as "
            "Letta reads it); add `days : type`, then what it is on the next line, indented",
        ),
        (
            "Forecast.\n\n    Args:\n        city (str): the city.\n    ",
            "parameter 'days' is not described in the docstring's Args section (read as Google style, as Letta "
            "reads it); add `days (type): what it is`",
        ),
    ],
)
def test_an_undescribed_parameter_says_when_the_docstring_style_is_the_problem(docstring: str, says: str) -> None:
    forecast.__doc__ = docstring
    with pytest.raises(ToolDefinitionError) as caught:
        tool_from_function(forecast)
    assert str(caught.value) == f"tool function '{__name__}.forecast': {says}"


@given(
    st.lists(st.sampled_from(["city", "days", "mode", "note", "tag"]), unique=True, max_size=4),
    st.integers(min_value=0, max_value=4),
    st.sampled_from(["agent_state", 'agent_state: "AgentState"', "self"]),
)
def test_the_agent_parameter_is_hidden_and_filled_in_wherever_it_stands(
    names: list[str], position: int, state: str
) -> None:
    """Letta hides `self` and `agent_state` in any position (TOOL_RESERVED_KWARGS) and passes the agent to
    the tool; the harness hid only a first one, and asked for a later `agent_state` to be described (which
    would have offered it to the model)."""
    position = min(position, len(names))
    parameters = [f"{name}: str" for name in names]
    parameters.insert(position, state)
    described = "".join(f"\n        {name} (str): the {name}." for name in names)
    source = (
        f"def tool({', '.join(parameters)}) -> str:\n"
        f'    """Use the agent.\n\n    Args:{described}\n    """\n'
        f"    return {state.split(':')[0]}.id + ''.join([{', '.join(names)}])\n"
    )
    scope: dict[str, Any] = {}
    exec(source, scope)
    tool = tool_from_function(scope["tool"])
    assert tool.state_parameter == state.split(":")[0]
    assert list(tool.parameters_schema()["properties"]) == [*names, HEARTBEAT_PARAMETER]
    assert tool.call(STATE, {name: name[0] for name in names}) == ToolResult(
        True, STATE.id + "".join(name[0] for name in names)
    )


def both_agent_parameters(self: Any, label: str, agent_state: Any) -> None:
    """Do something.

    Args:
        label (str): The label.
    """


def test_a_tool_taking_both_agent_parameters_is_refused() -> None:
    """Letta passes the agent to `agent_state` only: `self` would be missing from every call."""
    with pytest.raises(ToolDefinitionError, match=r"takes both `self` and `agent_state`.*drop `self`"):
        tool_from_function(both_agent_parameters)
