"""Request deltas (harness/cassettes/delta.py) on their own: any request rebuilds exactly from any earlier
one, messages that are equal in Python but not as JSON are told apart, and a hand-edited delta that points
outside its base is refused rather than read as something else."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harness.cassettes.delta import apply_delta, body_delta, strict_loads
from harness.cassettes.keys import canonical

# Messages a request may hold, chosen to collide: JSON values Python calls equal (true, 1, 1.0; 0.0, -0.0),
# messages alike but for one field, and messages shaped like a delta's own items.
POOL: list[Any] = [
    True,
    1,
    1.0,
    0.0,
    -0.0,
    {"role": "system", "content": "memory: a"},
    {"role": "user", "content": "memory: a"},
    {"role": "system", "content": "memory: b"},
    {"role": "system", "content": "memory: b", "name": "x"},
    {"role": "assistant", "content": None},
    {"same": [0, 0]},
    {"literal": {"a": 1}},
    {"edit": 0, "at": 0, "cut": 1, "insert": "z"},
]
requests = st.lists(st.sampled_from(range(len(POOL))), max_size=6)


def decoded(picks: list[int], settings: dict[str, Any]) -> dict[str, Any]:
    """A request as the cassette writer holds it: decoded strictly (JSON numbers compare as written)."""
    return strict_loads(json.dumps({**settings, "messages": [POOL[n] for n in picks]}))  # type: ignore[no-any-return]


@given(requests, requests, st.sampled_from([{}, {"model": "m"}, {"model": "n", "temperature": 1}]))
@example([0], [1], {})  # true, then 1
@example([1], [0], {})  # 1, then true
@example([2], [1], {})  # 1.0, then 1
@example([3], [4], {})  # 0.0, then -0.0
def test_any_request_rebuilds_exactly_from_any_earlier_one(before: list[int], after: list[int], settings: Any) -> None:
    previous = decoded(before, {"model": "m", "temperature": 1.0})
    body = decoded(after, settings)
    delta = json.loads(json.dumps(body_delta(previous, body)))  # as a cassette stores and reads it
    assert canonical(apply_delta(previous, delta)) == canonical(body)


def test_a_message_with_a_directives_shape_is_stored_wrapped_and_read_unwrapped() -> None:
    """`{"literal": ...}` is part of the file format: cassettes already written hold it."""
    assert body_delta({"messages": []}, {"messages": [{"literal": 1}]})["messages"] == [{"literal": {"literal": 1}}]
    assert apply_delta({"messages": []}, {"messages": [{"literal": {"same": [0, 0]}}]}) == {
        "messages": [{"same": [0, 0]}]
    }


BASE = {"messages": [{"role": "system", "content": "abc"}]}


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ({"same": [0, 1]}, "message item 0: 'same' refers to messages 0..1 of 1"),
        ({"same": [-1, 0]}, "message item 0: 'same' refers to messages -1..0 of 1"),
        ({"edit": 1, "at": 0, "cut": 0, "insert": "x"}, "message item 0: 'edit' must be a message number below 1"),
        ({"edit": 0, "at": 2, "cut": 2, "insert": "x"}, "a splice out of place: [2, 2, 'x'] in a text of 3"),
        ({"edit": 0, "splices": [[2, 0, "x"], [1, 0, "y"]]}, "a splice out of place: [1, 0, 'y'] in a text of 3"),
    ],
)
def test_a_delta_pointing_outside_its_base_is_refused(item: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(says)):
        apply_delta(BASE, {"messages": [item]})
