"""`harness run --twice`'s comparison: reports differ only beyond timings, or each difference is named."""

from __future__ import annotations

import copy
from typing import Any

from harness.determinism import differences

REPORT: dict[str, Any] = {
    "summary": {"passed": 2},
    "scenarios": [
        {
            "scenario": "scenarios/a.yaml",
            "outcome": "passed",
            "turns": [{"reply": "hi", "steps": [{"tool_calls": [{"result": "ok"}]}]}],
            "timing": {"seconds": 0.01},
        },
        {"scenario": "scenarios/b.yaml", "outcome": "passed", "turns": [], "timing": {"seconds": 0.02}},
    ],
}


def test_timings_alone_are_no_difference() -> None:
    other = copy.deepcopy(REPORT)
    other["scenarios"][0]["timing"]["seconds"] = 3.5
    assert differences(REPORT, other) == []


def test_names_the_scenario_and_the_field() -> None:
    other = copy.deepcopy(REPORT)
    other["scenarios"][0]["turns"][0]["steps"][0]["tool_calls"][0]["result"] = "ok at 12:00:01"
    other["scenarios"][1]["outcome"] = "failed"
    assert differences(REPORT, other) == [
        'scenarios/a.yaml: turns[0].steps[0].tool_calls[0].result: "ok" in the first run, "ok at 12:00:01" in the '
        "second",
        'scenarios/b.yaml: outcome: "passed" in the first run, "failed" in the second',
    ]


def test_lengths_keys_types_and_scenarios_that_ran_once() -> None:
    other = copy.deepcopy(REPORT)
    other["scenarios"][0]["turns"].append({"reply": "again"})
    other["scenarios"][0]["extra"] = 1
    other["scenarios"][1]["turns"] = {}
    other["scenarios"].append({"scenario": "scenarios/c.yaml"})
    assert differences(REPORT, other) == [
        "scenarios/c.yaml: ran only in the second run",
        "scenarios/a.yaml: turns: 1 items in the first run, 2 in the second",
        "scenarios/a.yaml: extra: only in the second run",
        "scenarios/b.yaml: turns: [] in the first run, {} in the second",
    ]
    assert differences(REPORT, {"summary": {}, "scenarios": []}) == [
        "scenarios/a.yaml: ran only in the first run",
        "scenarios/b.yaml: ran only in the first run",
    ]


def test_equal_values_of_other_types_differ() -> None:
    other = copy.deepcopy(REPORT)
    other["scenarios"][1]["outcome"] = 1
    flagged = copy.deepcopy(REPORT)
    flagged["scenarios"][1]["outcome"] = True
    assert differences(flagged, other) == ["scenarios/b.yaml: outcome: true in the first run, 1 in the second"]


def test_many_differences_are_cut_short() -> None:
    one = {"summary": {}, "scenarios": [{"scenario": "s", "values": list(range(30))}]}
    two = {"summary": {}, "scenarios": [{"scenario": "s", "values": [v + 1 for v in range(30)]}]}
    found = differences(one, two, limit=5)
    assert len(found) == 6 and found[-1] == "... and 25 more"
    assert found[0] == "s: values[0]: 0 in the first run, 1 in the second"


def test_repeats_of_one_scenario_are_compared_repeat_by_repeat() -> None:
    one = {"summary": {}, "scenarios": [{"scenario": "s", "repeat": 1, "x": 1}, {"scenario": "s", "repeat": 2, "x": 2}]}
    two = copy.deepcopy(one)
    assert differences(one, two) == []
    two["scenarios"][1]["x"] = 3
    assert differences(one, two) == ["s #2: x: 2 in the first run, 3 in the second"]
