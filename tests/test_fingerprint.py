"""An agent's fingerprint as stored in a cassette, and what `cassettes check` says changed."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.config import load_agents
from harness.fingerprint import agent_fingerprint, fingerprint_changes
from tests.helpers import ROOT

NOW = agent_fingerprint(load_agents(ROOT / "agents.yaml").get("chat"))
_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_PLACES = st.sampled_from(
    [
        (),
        ("parts",),
        ("parts", "tools"),
        ("parts", "blocks"),
        ("parts", "model"),
        ("parts", "loop"),
        ("parts", "system"),
    ]
)


def test_the_same_agent_changed_nothing_and_a_changed_block_is_named() -> None:
    assert fingerprint_changes(NOW, NOW) == []
    stored = copy.deepcopy(NOW)
    stored["fingerprint"] = "0" * 16
    stored["parts"]["blocks"]["human"] = "0" * 16
    assert fingerprint_changes(stored, NOW) == ["block 'human' changed"]


@given(place=_PLACES, value=_VALUE)
def test_a_stored_fingerprint_edited_by_hand_into_anything_is_explained(place: tuple[str, ...], value: Any) -> None:
    """Parts that are a number, tools that are a list...: a list of changes, never an exception (it was an
    AttributeError traceback out of `harness cassettes check` on a stale cassette)."""
    stored: Any = copy.deepcopy(NOW)
    stored["fingerprint"] = "edited"
    if place:
        parent = stored
        for step in place[:-1]:
            parent = parent[step]
        parent[place[-1]] = value
    else:
        stored = value
    changes = fingerprint_changes(stored, NOW)
    assert all(isinstance(change, str) for change in changes)
    assert changes or not isinstance(stored, dict)  # a stored fingerprint that differs says so


def test_a_setting_taken_out_of_the_agent_is_named() -> None:
    """Only the settings the agent has now were compared: one removed (context_window, clock) said only
    "the agent's fingerprint changed"."""
    stored = copy.deepcopy(NOW)
    stored["fingerprint"] = "0" * 16
    stored["parts"]["loop"]["context_window"] = 2600
    assert fingerprint_changes(stored, NOW) == ["loop context_window 2600 -> (not set)"]


def test_each_other_agent_is_compared_by_name_and_one_stored_without_them_still_compares() -> None:
    from harness.fingerprint import agents_changes

    other = copy.deepcopy(NOW)
    now = {**NOW, "others": {"helper": other}}
    assert agents_changes(now, now) == []
    stored = copy.deepcopy(now)
    stored["others"]["helper"]["fingerprint"] = "0" * 16
    stored["others"]["helper"]["parts"]["system"] = "0" * 16
    assert agents_changes(stored, now) == ["agent 'helper': system prompt changed"]
    older = {key: value for key, value in stored.items() if key != "others"}  # the main agent's alone
    assert agents_changes(older, now) == []


@given(order=st.permutations(list(NOW["parts"]["tools"])))
def test_tools_in_another_order_are_said_reordered_whatever_the_order(order: list[str]) -> None:
    """The hash cannot see the order (its keys are sorted); the stored parts keep it, as it goes on the wire."""
    now = copy.deepcopy(NOW)
    now["parts"]["tools"] = {name: NOW["parts"]["tools"][name] for name in order}
    expected = (
        []
        if order == list(NOW["parts"]["tools"])
        else [f"tools reordered: {', '.join(NOW['parts']['tools'])} -> {', '.join(order)}"]
    )
    assert fingerprint_changes(NOW, now) == expected
