"""JSON that a model or an endpoint wrote, nested at any depth: whatever reads it (a call's arguments, a
masked body, the HTML report, recall, snapshots) takes it as text it cannot decode, never as a
RecursionError that would end the run (a model once answered `{"message": [[[...50,000 deep`)."""

from __future__ import annotations

import sys

import pytest

from harness.recall import _json_object
from harness.records import ToolCallRecord
from harness.report_html import _pretty
from harness.scenarios.snapshots import _equivalent
from harness.secrets import MASK, Secrets

SECRET = "sk-deep-SECRET123"


def nested(depth: int) -> str:
    """An object whose `message` holds `depth` nested arrays, the secret at the bottom."""
    return '{"message": ' + "[" * depth + f'"{SECRET}"' + "]" * depth + "}"


DEPTHS = [1, 50, sys.getrecursionlimit() - 100, sys.getrecursionlimit() + 100, 100_000]


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_call_whose_arguments_are_nested_too_deep_has_no_parsed_arguments(depth: int) -> None:
    call = ToolCallRecord("id", "send_message", nested(depth), ok=True, result="", heartbeat=False)
    parsed = call.parsed_arguments
    assert parsed is None or list(parsed) == ["message"]
    if depth <= 50:
        assert parsed is not None


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deep_body_is_masked_all_the_same(depth: int) -> None:
    masked = Secrets(frozenset({SECRET})).mask_json_text(nested(depth))
    assert SECRET not in masked
    assert MASK in masked


@pytest.mark.parametrize("depth", DEPTHS)
def test_the_html_report_shows_deep_arguments_as_written_or_indented(depth: int) -> None:
    text = _pretty(nested(depth))
    assert SECRET in text
    assert text == nested(depth) or text.startswith('{\n  "message": [')


@pytest.mark.parametrize("depth", DEPTHS)
def test_recall_and_snapshots_take_deep_json_as_text(depth: int) -> None:
    value = _json_object(nested(depth))
    assert value is None or list(value) == ["message"]
    assert _equivalent(nested(depth), nested(depth))  # the same text, whatever its depth
    assert not _equivalent(nested(depth), nested(depth + 1))
