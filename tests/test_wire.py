"""Pydantic's errors as located problems: whatever the value, the message says it in a few words."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from hypothesis import given
from hypothesis import strategies as st

from harness.wire import StrictModel, _shown, validate_document
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
