"""What a run tells its users: the summary table, the JSON report and the failure explanation."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.report import scenario_report, summary_table, unrunnable_report, write_report
from harness.report_html import html_report
from harness.scenarios.runner import ScenarioResult
from harness.secrets import MASK, Secrets
from tests.fakes import (
    FORGETFUL,
    FORGETFUL_RESPONSES,
    REMEMBER,
    REMEMBER_RESPONSES,
    Project,
    append,
    make_project,
    replace,
    reply,
)

TWO_TURNS = """
agent: chat
description: learns a name, then corrects it
turns:
  - user: "I am Azin."
    expect:
      tool_calls: [core_memory_append, send_message]
  - user: "Sorry, it is spelt Azín."
    expect:
      blocks:
        human: {contains: "Azín"}
expect:
  blocks:
    persona: unchanged
"""
TWO_TURNS_RESPONSES = [
    append("human", "Azin"),
    reply("Hello Azin"),
    replace("human", "Asin", "Azín"),  # fails: not in the block; the loop goes on
    replace("human", "Azin", "Azín"),
    reply("Noted, Azín"),
]


@pytest.fixture(scope="module")
def recorded_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each scenario recorded once: remember passes, forgetful fails, two_turns passes."""
    project = make_project(
        tmp_path_factory.mktemp("recorded"), {"remember": REMEMBER, "forgetful": FORGETFUL, "two_turns": TWO_TURNS}
    )
    for name, responses in (
        ("remember", REMEMBER_RESPONSES),
        ("forgetful", FORGETFUL_RESPONSES),
        ("two_turns", TWO_TURNS_RESPONSES),
    ):
        project.record(name, responses)
    return project.root


@pytest.fixture
def project(recorded_project: Path, tmp_path: Path) -> Project:
    shutil.copytree(recorded_project, tmp_path / "project")
    return Project(tmp_path / "project")


@pytest.fixture
def results(project: Project) -> list[ScenarioResult]:
    """The recorded scenarios replayed offline."""
    return [project.replay(name) for name in ("remember", "forgetful", "two_turns")]


def written(results: list[ScenarioResult], project: Project) -> dict[str, Any]:
    path = project.root / "report.json"
    write_report(results, path, project.root)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    data: dict[str, Any] = json.loads(text)
    return data


# ------------------------------------------------------------------ summary table


def test_summary_table_has_a_row_per_scenario_and_the_counts(results: list[ScenarioResult], project: Project) -> None:
    table = summary_table(results, project.root).splitlines()
    header = table[0].split()
    assert header == ["scenario", "agent", "turns", "steps", "result", "time"]
    assert set(table[1].replace(" ", "")) == {"-"}
    rows = [line.split() for line in table[2:5]]
    assert [row[:5] for row in rows] == [
        ["scenarios/remember.yaml", "chat", "1", "2", "PASS"],
        ["scenarios/forgetful.yaml", "chat", "1", "1", "FAIL"],
        ["scenarios/two_turns.yaml", "chat", "2", "5", "PASS"],
    ]
    assert all(row[6] == "ms" and row[5].isdigit() for row in rows)
    assert table[5:] == ["", "2 passed, 1 failed"]


def test_summary_table_columns_line_up(results: list[ScenarioResult], project: Project) -> None:
    table = summary_table(results, project.root).splitlines()
    starts = [table[0].index(column) for column in ("agent", "turns", "steps", "result", "time")]
    for line in table[2:5]:
        for start in starts:
            assert line[start - 2 : start] == "  " and line[start] != " "


def test_summary_table_columns_line_up_on_a_terminal_whatever_the_names(
    results: list[ScenarioResult], project: Project
) -> None:
    """Padded with `len`, a CJK or emoji name (two columns a character) or a decomposed accent (none for the
    accent) pushed the agent column of its row out of line."""
    names = {"plain": 5, "中文": 4, "party 🎉": 8, "cafe\u0301": 4}  # the columns each name takes
    rows = [
        dataclasses.replace(result, scenario=dataclasses.replace(result.scenario, path=project.scenario_path(name)))
        for result, name in zip([*results, results[0]], names, strict=True)
    ]
    plain = summary_table(rows, project.root).splitlines()
    for line, (name, width) in zip(plain[2:6], names.items(), strict=True):
        assert line.startswith(f"scenarios/{name}.yaml" + " " * (25 - len("scenarios/.yaml") - width) + "chat  ")
    coloured = summary_table(rows, project.root, colour=True).splitlines()
    assert [re.sub("\x1b\\[[0-9]*m", "", line) for line in coloured] == plain
    assert "\x1b[32mPASS\x1b[0m" in coloured[2]


def test_summary_table_counts_xfail_outcomes(results: list[ScenarioResult], project: Project) -> None:
    results[0].outcome, results[1].outcome = "xfailed", "xpassed"
    table = summary_table(results, project.root).splitlines()
    assert "XFAIL" in table[2].split() and "XPASS" in table[3].split()
    assert table[-1] == "1 passed, 1 xfailed, 1 xpassed"


def test_summary_table_of_nothing(tmp_path: Path) -> None:
    assert summary_table([], tmp_path).splitlines()[-1] == "no scenarios"


def test_summary_table_shows_paths_outside_the_root_in_full(results: list[ScenarioResult], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    table = summary_table(results[:1], elsewhere)
    assert str(results[0].scenario.path) in table


# ------------------------------------------------------------------ JSON report


def test_report_summary_and_scenario_entries(results: list[ScenarioResult], project: Project) -> None:
    report = written(results, project)
    assert report["summary"] == {"passed": 2, "failed": 1, "xfailed": 0, "xpassed": 0, "error": 0}
    scenarios = report["scenarios"]
    assert [s["scenario"] for s in scenarios] == [  # by path, whatever order they ran in
        "scenarios/forgetful.yaml",
        "scenarios/remember.yaml",
        "scenarios/two_turns.yaml",
    ]
    scenarios = [scenarios[1], scenarios[0], scenarios[2]]  # remember, forgetful, two_turns: as they ran
    assert set(scenarios[0]) == {
        "scenario",
        "agent",
        "model",
        "description",
        "row",
        "repeat",
        "outcome",
        "xfail_reason",
        "failures",
        "failed_checks",
        "cassette",
        "not_recorded",
        "recorded_with",
        "unplayed_interactions",
        "initial_blocks",
        "turns",
        "timing",
    }
    assert [s["outcome"] for s in scenarios] == ["passed", "failed", "passed"]
    assert scenarios[0]["agent"] == "chat"
    assert scenarios[0]["description"] == "the agent stores the user's name"
    assert scenarios[0]["cassette"] == "cassettes/remember.yaml"
    assert scenarios[0]["initial_blocks"] == {"persona": "You are a helpful assistant", "human": "Name: Bob"}
    assert scenarios[0]["recorded_with"]["endpoint"] == "openai-compatible (local)"
    assert scenarios[0]["unplayed_interactions"] == [] and scenarios[0]["not_recorded"] is False
    assert scenarios[0]["failures"] == [] and scenarios[0]["failed_checks"] == []
    assert isinstance(scenarios[0]["timing"]["seconds"], float)


def test_report_entries_are_ordered_by_path_whatever_the_order_they_ran_in(
    results: list[ScenarioResult], project: Project
) -> None:
    """By path part by part, as a folder is walked (`scenarios/a/x.yaml` before `scenarios/a-b.yaml`), a file
    that could not run among the others: `harness run` kept the order of its PATHs, errors last."""
    from harness.report import json_report

    unrunnable = [(project.root / "scenarios" / "a-b.yaml", "x"), (project.root / "scenarios" / "a" / "x.yaml", "y")]
    orders = [json_report(ordered, project.root, unrunnable=unrunnable) for ordered in (results, results[::-1])]
    for report in orders:
        assert [s["scenario"] for s in report["scenarios"]] == [
            "scenarios/a/x.yaml",
            "scenarios/a-b.yaml",
            "scenarios/forgetful.yaml",
            "scenarios/remember.yaml",
            "scenarios/two_turns.yaml",
        ]
    for report in orders:
        for entry in report["scenarios"]:
            entry.pop("timing")
    assert orders[0] == orders[1]


def test_report_failures_are_the_explanation_lines(results: list[ScenarioResult], project: Project) -> None:
    failed = written(results, project)["scenarios"][0]
    path = project.scenario_path("forgetful")
    # the explanation's lines, the scenario file named from the project's root as the other fields name it
    assert failed["failures"] == [
        line.replace(f"{path}:", "scenarios/forgetful.yaml:", 1) for line in results[1].explain().splitlines()
    ]
    assert failed["failures"][0] == (
        "scenarios/forgetful.yaml:7: turns[0].expect.blocks.human.contains: block 'human' does not contain 'Carol'"
    )
    assert "  in turn 1: user: 'My name is Carol.'" in failed["failures"]
    assert failed["failed_checks"] == [
        {
            "file": "scenarios/forgetful.yaml",
            "line": 7,
            "key": "turns[0].expect.blocks.human.contains",
            "message": "block 'human' does not contain 'Carol'",
            "turn": 1,
        }
    ]


def test_report_turns_hold_messages_tool_calls_results_and_blocks(
    results: list[ScenarioResult], project: Project
) -> None:
    turns = written(results, project)["scenarios"][2]["turns"]
    assert [t["user"] for t in turns] == ["I am Azin.", "Sorry, it is spelt Azín."]
    assert [t["stop_reason"] for t in turns] == ["replied", "replied"]
    assert [t["reply"] for t in turns] == ["Hello Azin", "Noted, Azín"]
    # blocks as they were after each turn
    assert turns[0]["blocks"] == {"persona": "You are a helpful assistant", "human": "Name: Bob\nAzin"}
    assert turns[1]["blocks"] == {"persona": "You are a helpful assistant", "human": "Name: Bob\nAzín"}

    steps = turns[1]["steps"]
    assert [[c["name"] for c in s["tool_calls"]] for s in steps] == [
        ["core_memory_replace"],
        ["core_memory_replace"],
        ["send_message"],
    ]
    failed_call, good_call = steps[0]["tool_calls"][0], steps[1]["tool_calls"][0]
    assert failed_call["ok"] is False
    assert "Old content 'Asin' not found in memory block 'human'" in failed_call["result"]
    assert json.loads(failed_call["arguments"])["old_content"] == "Asin"
    assert good_call["ok"] is True and good_call["request_heartbeat"] is True
    assert steps[2]["tool_calls"][0]["request_heartbeat"] is False
    assert all(s["model"] == "fake-model-7b" and s["thoughts"] is None for s in steps)

    messages = turns[1]["messages"]
    assert messages[0] == {"role": "user", "content": "Sorry, it is spelt Azín."}
    assert [m["role"] for m in messages] == ["user"] + ["assistant", "tool"] * 3
    first_call = messages[1]["tool_calls"][0]
    assert messages[2]["tool_call_id"] == first_call["id"]
    assert json.loads(messages[2]["content"])["status"] == "Failed"
    assert turns[0]["messages"][0] == {"role": "user", "content": "I am Azin."}  # each turn has its own messages


def test_a_turn_whose_agent_started_from_other_blocks_reports_them(tmp_path: Path) -> None:
    """`blocks_before` is given where a turn's agent did not start from the blocks the turn before left
    (another agent took one of the two): the sleep-time agent's own, with the shared block as the primary
    left it, then the primary's with the shared block as the sleep-time agent left it."""
    from tests.scenarios.test_shared_blocks import RESPONSES, shared_project

    project = shared_project(tmp_path)
    project.record("shared", RESPONSES)
    turns = scenario_report(project.replay("shared"), project.root)["turns"]
    assert [turn.get("blocks_before") for turn in turns] == [
        None,
        {"persona": "I tidy memory", "project": "Project: harness\nShips Friday"},
        {"human": "Name: Bob", "project": "Project: harness\nDeadline: Friday"},
    ]


def test_report_is_utf8_not_escaped(results: list[ScenarioResult], project: Project) -> None:
    written(results, project)
    text = (project.root / "report.json").read_text(encoding="utf-8")
    assert '"user": "Sorry, it is spelt Azín."' in text
    assert '"human": "Name: Bob\\nAzín"' in text


def test_a_stale_turn_is_reported_as_such(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"remember": REMEMBER})
    result = project.replay("remember")  # never recorded
    report = written([result], project)["scenarios"][0]
    assert report["outcome"] == "error"  # nothing to play, as a recording the endpoint failed says
    assert report["turns"] == [
        {
            "user": "Hi! My name is Azin.",
            "stop_reason": "stale_cassette",
            "reply": None,
            "steps": [],
            "messages": [{"role": "user", "content": "Hi! My name is Azin."}],
            "blocks": {"persona": "You are a helpful assistant", "human": "Name: Bob"},
        }
    ]
    assert any("has not been recorded yet" in line for line in report["failures"])


@pytest.mark.parametrize("how", ["an answer the loop cannot use", "a cassette miss"])
def test_a_turn_broken_off_at_step_2_reports_the_step_that_ran(tmp_path: Path, how: str) -> None:
    """Step 1 appends to the human block; step 2 gets no usable answer (`choices: []`), or finds no
    recorded answer. The report showed the turn with no step at all beside a block diff adding "Azin", the
    summary counted 0 steps, and the block's history lacked the call that made the edit."""
    from tests.fakes import Raw

    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    no_choices = Raw(json.dumps({"id": "x", "object": "chat.completion", "model": "m", "choices": []}))
    project.record("remember", [append("human", "Azin"), no_choices if how != "a cassette miss" else reply("Hi")])
    if how == "a cassette miss":  # the second exchange lost: replay misses at step 2
        import yaml

        cassette = project.cassettes / "remember.yaml"
        data = yaml.safe_load(cassette.read_text(encoding="utf-8"))
        data["interactions"] = data["interactions"][:1]
        cassette.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = project.replay("remember")
    assert result.outcome == ("error" if how != "a cassette miss" else "failed")
    data = written([result], project)
    (turn,) = data["scenarios"][0]["turns"]
    assert 'class="name">core_memory_append' in html_report(data)  # the HTML's step list, beside its diff
    assert turn["stop_reason"] == ("model_error" if how != "a cassette miss" else "stale_cassette")
    assert [call["name"] for step in turn["steps"] for call in step["tool_calls"]] == ["core_memory_append"]
    assert turn["blocks"]["human"] == "Name: Bob\nAzin"  # the edit the step made, and now the step beside it
    assert result.steps == 1
    assert summary_table([result], project.root).splitlines()[2].split()[3] == "1"  # the steps column
    assert result.history("human")[1].startswith("turn 1 step 1 core_memory_append(")


# ------------------------------------------------------------------ explanation


def test_explain_shows_location_turn_values_and_block_history(project: Project) -> None:
    project.write_scenario("strict", TWO_TURNS.replace('human: {contains: "Azín"}', 'human: {equals: "Azín"}'))
    result, _ = project.record("strict", TWO_TURNS_RESPONSES)
    assert result.outcome == "failed"
    lines = result.explain().splitlines()
    path = project.scenario_path("strict")
    assert lines[0] == f"{path}:10: turns[1].expect.blocks.human.equals: block 'human' differs"
    assert lines[1] == "  in turn 2: user: 'Sorry, it is spelt Azín.'"
    # a value with a newline is shown as a diff
    assert lines[2:7] == ["  --- expected", "  +++ actual", "  @@ -1 +1,2 @@", "  +Name: Bob", "   Azín"]
    assert "  history of block 'human':" in lines
    history = lines[lines.index("  history of block 'human':") + 1 :]
    assert history[0] == "    initial: 'Name: Bob'"
    assert history[1].startswith("    turn 1 step 1 core_memory_append(")
    assert history[1].endswith(": 'Name: Bob' -> 'Name: Bob\\nAzin'")
    assert history[2].startswith("    turn 2 step 2 core_memory_replace(")
    assert history[2].endswith(": 'Name: Bob\\nAzin' -> 'Name: Bob\\nAzín'")
    assert len(history) == 3  # the failed replace changed nothing and is not in the history


def test_a_turns_failure_shows_the_blocks_history_up_to_that_turn(project: Project) -> None:
    """Turn 1's check saw the block after turn 1: turn 2's edits, listed after it, read as what it checked."""
    first = TWO_TURNS.replace(
        "tool_calls: [core_memory_append, send_message]", 'blocks: {human: {contains: "Carol"}}'
    ).replace('human: {contains: "Azín"}', 'human: {contains: "Carol"}')
    project.write_scenario("first", first)
    result, _ = project.record("first", TWO_TURNS_RESPONSES)
    lines = result.explain().splitlines()
    starts = [i for i, line in enumerate(lines) if line == "  history of block 'human':"]
    turn_1, turn_2 = lines[starts[0] + 1 : starts[1]], lines[starts[1] + 1 :]
    assert [line.split(" core_memory")[0] for line in turn_1[1:] if line.startswith("    turn")] == [
        "    turn 1 step 1"
    ]
    assert [line.split(" core_memory")[0] for line in turn_2[1:]] == ["    turn 1 step 1", "    turn 2 step 2"]


def test_explain_after_the_last_turn(project: Project) -> None:
    project.write_scenario("final", REMEMBER.replace('human: {equals: "Name: Bob\\nAzin"}', "human: unchanged"))
    result, _ = project.record("final", REMEMBER_RESPONSES)
    lines = result.explain().splitlines()
    assert lines[0].endswith("expect.blocks.human.unchanged: block 'human' changed since the scenario started")
    assert lines[1] == "  after the last turn"
    check = scenario_report(result, project.root)["failed_checks"][0]
    assert (check["key"], check["turn"]) == ("expect.blocks.human.unchanged", None)


def test_the_report_masks_secrets(
    results: list[ScenarioResult], project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project.root / "report.json"
    assert "Azin" in json.dumps(written(results, project))
    write_report(results, path, project.root, Secrets(frozenset({"Azin"})))
    text = path.read_text(encoding="utf-8")
    assert "Azin" not in text and MASK in text
    assert json.loads(text)["summary"] == written(results, project)["summary"]
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "Azin")  # by default, the environment's secrets
    write_report(results, path, project.root)
    assert "Azin" not in path.read_text(encoding="utf-8")


def test_an_unrunnable_scenario_has_the_entry_shape_of_one_that_ran(
    results: list[ScenarioResult], project: Project
) -> None:
    entry = unrunnable_report(project.scenario_path("bad"), project.root, "scenarios/bad.yaml:1:1: agent: no\n  more")
    assert set(entry) == set(scenario_report(results[0], project.root))
    assert entry["scenario"] == "scenarios/bad.yaml" and entry["outcome"] == "error"
    assert entry["failures"] == ["scenarios/bad.yaml:1:1: agent: no", "  more"]
