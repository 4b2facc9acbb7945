"""Pydantic's errors as located problems: whatever the value, the message says it in a few words."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.config import AgentsFileWire
from harness.scenarios.history import HistoryFileWire
from harness.scenarios.model import ScenarioWire
from harness.wire import StrictModel, _Scalar, _shown, validate_document
from harness.yamlsource import YamlDocument, parse_yaml


class Inner(StrictModel):
    name: str


class Settings(StrictModel):
    temperature: Annotated[float, pydantic.Field(ge=0, le=2)] | None = None
    limit: Annotated[int, pydantic.Field(gt=0, le=100)] | None = None
    inner: Inner | None = None


def messages(data: Any) -> list[str]:
    model, problems = validate_document(Settings, YamlDocument("f.yaml", data))
    assert model is None
    return [str(problem) for problem in problems]


def test_an_integer_past_pythons_digit_limit_is_shown_by_its_size() -> None:
    """repr() of an int of more than 4300 digits raises ValueError (the YAML reader refuses one; data built
    otherwise, or a limit Python was started with, may still hold one)."""
    huge = 16**20000 - 1  # `0x` and 20,000 f's
    assert messages({"temperature": huge}) == [
        "f.yaml: temperature: Input should be a valid number (got an integer of about 24083 digits)"
    ]
    assert messages({"limit": huge, "inner": huge}) == [
        "f.yaml: limit: Input should be less than or equal to 100 (got an integer of about 24083 digits)",
        "f.yaml: inner: should be a mapping (`key: value` lines), not a number (an integer of about 24083 digits)",
    ]


def test_a_long_text_is_shown_shortened() -> None:
    doc = parse_yaml("inner:\n  name: [x]\nlimit: " + "a" * 100_000 + "\n", "f.yaml")
    _, problems = validate_document(Settings, doc)
    assert [str(problem) for problem in problems] == [
        f"f.yaml:3:1: limit: Input should be a valid integer, unable to parse string as an integer (got "
        f"{'a' * 80!r}... (100000 characters))",
        "f.yaml:2:3: inner.name: Input should be a valid string",
    ]


@given(st.one_of(st.integers(-(2**14000), 2**14000), st.text(max_size=500), st.floats(), st.booleans(), st.none()))
def test_any_value_is_shown_in_a_few_words(value: Any) -> None:
    shown = _shown(value)
    assert len(shown) <= 120
    if len(repr(value)) <= 80:
        assert shown == repr(value)


def unguarded_numbers(model: type[pydantic.BaseModel]) -> list[str]:
    """Where `model`'s validator takes an int, a float or a bool without `NOT_BOOLEAN` first, which refuses
    what pydantic's lax mode would coerce into one (a boolean for a number, "3", "off")."""
    found: list[str] = []

    def walk(node: Any, path: str, guarded: bool) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("int", "float", "bool") and not guarded:
                found.append(path)
            guard = node.get("type") == "function-before" and isinstance(node["function"]["function"], _Scalar)
            for key, child in node.items():
                walk(child, f"{path}.{key}", guard and key == "schema")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}[{index}]", False)

    model.model_rebuild()  # built when first used (`defer_build`)
    walk(model.__pydantic_core_schema__, model.__name__, False)
    return found


@pytest.mark.parametrize("model", [AgentsFileWire, ScenarioWire, HistoryFileWire])
def test_every_number_and_boolean_of_the_files_is_guarded(model: type[pydantic.BaseModel]) -> None:
    """A number field declared as a bare `int` or `float` would take `yes` as 1 again, and "3" as 3; a bare
    `bool`, "off" as false."""
    assert unguarded_numbers(model) == []
    assert unguarded_numbers(Settings) != []  # the walk finds one


@given(
    st.sampled_from(["yes", "no", "on", "off", "true", "false", "True", "NO"]),
    st.sampled_from(["max_steps: {}", "simulate: {{user: u, max_turns: {}}}"]),
)
def test_a_boolean_is_no_number_of_a_scenario(word: str, line: str) -> None:
    doc = parse_yaml(f"agent: chat\nturns:\n  - user: hi\n{line.format(word)}\n", "s.yaml")
    _, problems = validate_document(ScenarioWire, doc)
    refused = [p for p in problems if p.message.startswith(("expected a number, not ", "expected an integer, not "))]
    assert [p.line for p in refused] == [4], problems


def test_a_value_whose_escapes_lengthen_it_is_shortened_by_what_shows() -> None:
    value = "\x1f" * 60 + "\U0001f600" * 30  # 90 characters, a repr of 300
    shown = _shown(value)
    assert len(shown) <= 120 and shown.endswith("... (90 characters)")
    assert _shown("\x1f" * 30) == repr("\x1f" * 20) + "... (30 characters)"  # 30 characters, a repr of 122
