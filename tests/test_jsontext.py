"""jsontext.loads: what a model or an endpoint wrote, decoded into text any writer and any request takes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import jsontext

KEYS = st.text(st.characters(exclude_categories=["Cs"]), max_size=5)  # keys with one: see the example below
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(st.characters()),  # lone surrogates included
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in texts(item)]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [key, *texts(item)]]
    return []


@given(JSON, st.booleans())
def test_decoded_text_is_what_json_decodes_with_each_lone_surrogate_replaced(value: Any, ascii: bool) -> None:
    text = json.dumps(value) if ascii else jsontext.dumps(value)  # escaped, or raw UTF-8 text
    decoded, expected = jsontext.loads(text), json.loads(text)
    assert texts(decoded) == [jsontext.storable(piece) for piece in texts(expected)]
    json.dumps(decoded, ensure_ascii=False).encode("utf-8")  # any writer, and the SDK's request body, take it
    if texts(decoded) == texts(expected):
        assert decoded == expected


def test_a_surrogate_pair_decodes_whole_and_a_lone_half_is_a_replacement_character() -> None:
    assert jsontext.loads('"\\ud83d\\ude00"') == "\U0001f600"
    assert jsontext.loads('{"\\ud83d": ["x\\ude00y"]}') == {"\ufffd": ["x\ufffdy"]}
    assert jsontext.loads('"\\\\ud83d"') == "\\ud83d"  # an escaped backslash, then text: no surrogate


@pytest.mark.parametrize("deep", ["[" * 100_000, '{"a":' * 100_000, "[" * 100_000 + "]" * 100_000])
def test_json_nested_deeper_than_the_parser_goes_is_a_value_error(deep: str) -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        jsontext.loads(deep)


def canonical(value: Any) -> str:
    """A JSON value's one spelling: two values are equal JSON exactly when theirs are (floats aside)."""
    return json.dumps(value, sort_keys=True)


def bools_as_numbers(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list):
        return [bools_as_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: bools_as_numbers(item) for key, item in value.items()}
    return value


@given(JSON, JSON)
def test_same_json_is_equality_of_the_canonical_spelling(a: Any, b: Any) -> None:
    assert jsontext.same_json(a, b) is (canonical(a) == canonical(b))
    assert jsontext.same_json(a, b) is jsontext.same_json(b, a)


@given(JSON)
def test_same_json_tells_booleans_from_numbers_at_any_depth(value: Any) -> None:
    """Python's `==` takes True for 1: `json: true` passed a block holding 1."""
    assert jsontext.same_json(value, json.loads(json.dumps(value)))
    numbers = bools_as_numbers(value)
    assert jsontext.same_json(value, numbers) is (canonical(value) == canonical(numbers))


def test_same_json_examples() -> None:
    assert not jsontext.same_json(True, 1) and not jsontext.same_json(0, False)
    assert not jsontext.same_json([True, False], [1, 0]) and not jsontext.same_json({"a": [1]}, {"a": [True]})
    assert jsontext.same_json(1, 1.0) and jsontext.same_json({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
    assert not jsontext.same_json([1], (1, 2)) and not jsontext.same_json({"a": 1}, {"b": 1})
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert jsontext.same_json(deep, deep)


@given(JSON)
def test_as_text_is_a_string_itself_and_any_other_value_its_json(value: Any) -> None:
    """One rule for reading a message, an argument or a recalled value as text (it was written out at each)."""
    text = jsontext.as_text(value)
    if isinstance(value, str):
        assert text is value
    else:
        assert jsontext.same_json(json.loads(text), value)
        assert text == json.dumps(value, ensure_ascii=False)
