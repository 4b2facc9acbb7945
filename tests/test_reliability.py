"""Repeats and pass^k: recorded as variants of a scenario's cassette, replayed offline to the same figures."""

from __future__ import annotations

import itertools
import json
from math import comb
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import main
from harness.reliability import pass_hat_k, reliability_of_entries
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, make_project, reply


@given(st.integers(1, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_pass_hat_k_as_tau2_defines_it(runs: tuple[int, int]) -> None:
    n, c = runs
    figures = [pass_hat_k(n, c, k) for k in range(1, n + 1)]
    assert figures[0] == pytest.approx(c / n)  # pass^1 is pass@1
    assert all(a >= b for a, b in itertools.pairwise(figures))  # never rises with k
    assert (figures[-1] == 1.0) is (c == n)  # all n must pass for pass^n
    for k, figure in enumerate(figures, start=1):
        assert figure == pytest.approx(comb(c, k) / comb(n, k))
        assert (figure == 0.0) is (c < k)


def test_pass_hat_k_outside_the_runs_is_zero() -> None:
    assert pass_hat_k(3, 3, 4) == 0.0 and pass_hat_k(3, 3, 0) == 0.0


def reliability_part(out: str) -> str:
    """The reliability table and what follows it."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["scenario", "passes"])
    return "\n".join(lines[start:])


def test_repeats_are_recorded_as_variants_and_replay_to_the_same_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    agents = str(project.agents)
    # Repeats 1 and 2 store the name; repeat 3 only chats.
    with FakeOpenAI([*REMEMBER_RESPONSES, *REMEMBER_RESPONSES, reply("Hello!")]) as server:
        code = main(
            [
                "record",
                "--agents",
                agents,
                "--base-url",
                server.base_url,
                "--repeat",
                "3",
                "--report",
                str(tmp_path / "live.json"),
            ]
        )
    assert code == 1  # one repeat failed
    live = capsys.readouterr()
    assert "[3/3] recording" in live.err and "(repeat 3)" in live.err
    cassette = project.cassettes / "remember.yaml"
    assert [p.name for p in sorted(cassette.parent.iterdir())] == [
        "remember.repeat-2.yaml",
        "remember.repeat-3.yaml",
        "remember.yaml",
    ]
    table = reliability_part(live.out)
    lines = table.splitlines()
    assert lines[0].split() == ["scenario", "passes", "pass@1", "pass^1", "pass^2", "pass^3"]
    assert lines[2].split() == ["scenarios/remember.yaml", "2/3", "0.67", "0.67", "0.33", "0.00"]
    assert lines[3].split()[:3] == ["suite", "(mean)", "2/3"]
    assert "scenarios/remember.yaml repeat 3 failed: turns[0].expect.tool_calls[0]" in table

    assert main(["run", "--agents", agents, "--report", str(tmp_path / "replay.json")]) == 1  # offline
    replayed = capsys.readouterr().out
    assert reliability_part(replayed) == table
    assert "scenarios/remember.yaml #2" in replayed and "scenarios/remember.yaml #3" in replayed
    live_report = json.loads((tmp_path / "live.json").read_text(encoding="utf-8"))
    replay_report = json.loads((tmp_path / "replay.json").read_text(encoding="utf-8"))
    assert live_report["reliability"] == replay_report["reliability"]
    assert replay_report["reliability"]["scenarios"][0]["pass_hat"] == {"1": 2 / 3, "2": 1 / 3, "3": 0.0}
    assert [s["repeat"] for s in replay_report["scenarios"]] == [1, 2, 3]
    assert main(["cassettes", "check", "--agents", agents]) == 0  # repeats are not orphans
    assert capsys.readouterr().out.splitlines()[-1] == "3 ok"  # each repeat checked


def test_repeat_without_live_is_a_mistake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    assert main(["run", "--agents", str(project.agents), "--repeat", "2"]) == 2
    assert "--repeat records repeats: give it with --live" in capsys.readouterr().err


def test_run_live_records_every_repeat_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    with FakeOpenAI([*REMEMBER_RESPONSES, *REMEMBER_RESPONSES]) as server:
        code = main(["run", "--live", "--agents", str(project.agents), "--base-url", server.base_url, "--repeat", "2"])
    assert code == 0
    assert len(server.received) == 4
    assert (project.cassettes / "remember.repeat-2.yaml").is_file()
    assert [
        line.split()[:2]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("scenarios/remember.yaml  ")
    ] == [["scenarios/remember.yaml", "2/2"]]


def test_a_stale_repeat_is_found_and_recorded_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    agents = str(project.agents)
    with FakeOpenAI([*REMEMBER_RESPONSES, *REMEMBER_RESPONSES, *REMEMBER_RESPONSES]) as server:
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--repeat", "3"]) == 0
    repeat_2 = project.cassettes / "remember.repeat-2.yaml"
    first, third = (
        (project.cassettes / "remember.yaml").read_bytes(),
        (project.cassettes / "remember.repeat-3.yaml").read_bytes(),
    )
    data = yaml.safe_load(repeat_2.read_text(encoding="utf-8"))
    data["interactions"] = data["interactions"][:1]  # the reply's exchange lost
    repeat_2.write_text(yaml.safe_dump(data), encoding="utf-8")
    capsys.readouterr()
    assert main(["cassettes", "check", "--agents", agents]) == 1
    out = capsys.readouterr().out
    assert "remember.repeat-2.yaml: stale (" in out and out.splitlines()[-2] == "2 ok, 1 stale"
    assert main(["run", "--agents", agents]) == 1  # the replay fails on it too

    with FakeOpenAI([REMEMBER_RESPONSES[1]]) as server:
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--stale"]) == 0
    assert len(server.received) == 1  # only the lost exchange: the rest replays
    err = capsys.readouterr().err
    # Without --repeat too, each progress line says which repeat it records (the three read the same)
    recording = [line for line in err.splitlines() if " recording " in line]
    assert [line.split()[0] for line in recording] == ["[1/3]", "[2/3]", "[3/3]"]
    assert all(line.endswith(f"remember.yaml (repeat {n}) ...") for n, line in enumerate(recording, 1))
    assert "remember.repeat-2.yaml: updated (1 recorded, 1 kept)" in err
    assert "remember.yaml: unchanged" in err and "remember.repeat-3.yaml: unchanged" in err
    assert (project.cassettes / "remember.yaml").read_bytes() == first
    assert (project.cassettes / "remember.repeat-3.yaml").read_bytes() == third
    assert main(["cassettes", "check", "--agents", agents]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 ok"


def test_a_suite_mixing_repeated_and_single_runs_counts_pass_hat_k_over_the_scenarios_run_k_times() -> None:
    """pass^j over the scenarios run j times or more (a different set for each j) let pass^3 come out above
    pass^1; over the scenarios repeated most, the suite's pass^j falls as j grows, as each scenario's does."""
    from harness.reliability import ScenarioReliability, reliability_report, reliability_table

    repeated = ScenarioReliability(Path("a.yaml"), runs=3, passes=2)
    single = ScenarioReliability(Path("b.yaml"), runs=1, passes=1)
    report = reliability_report([repeated, single], {})
    assert report["suite"]["pass_at_1"] == (2 / 3 + 1) / 2  # over every scenario
    assert report["suite"]["pass_hat"] == {"1": 2 / 3, "2": 1 / 3, "3": 0.0}
    assert report["suite"]["pass_hat_over"] == 1
    failing = ScenarioReliability(Path("c.yaml"), runs=1, passes=0)
    rising = reliability_report([ScenarioReliability(Path("a.yaml"), runs=3, passes=3), failing], {})["suite"]
    assert rising["pass_hat"]["1"] >= rising["pass_hat"]["2"] >= rising["pass_hat"]["3"]
    table = reliability_table([repeated, single], {})
    row = next(line for line in table.splitlines() if line.startswith("b.yaml"))
    assert row.split() == ["b.yaml", "1/1", "1.00", "1.00", "-", "-"]
    suite = next(line for line in table.splitlines() if line.startswith("suite"))
    # the row says which figure is over which scenarios: pass@1 0.83 beside pass^1 0.67 read as a bug
    assert suite.startswith("suite (mean; pass@1 of all 2, pass^j of the 1 run 3x)")
    assert suite.split()[-5:] == ["3/4", "0.83", "0.67", "0.33", "0.00"]


def passes_row(out: str) -> list[str]:
    """The pass^k row of scenarios/remember.yaml."""
    return next(line.split() for line in out.splitlines() if line.startswith("scenarios/remember.yaml  "))


def test_a_last_repeat_whose_recording_failed_replays_as_not_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repeat 3's endpoint failed: nothing is written for it. The replay guessed the repeats from the files
    and played 2 of 2 (exit 0, `cassettes check` all ok), where the recording had measured 1 failure in 3."""
    from tests.fakes import Raw

    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    agents = str(project.agents)
    down = Raw(json.dumps({"error": {"message": "down", "type": "server_error"}}), 500)
    with FakeOpenAI([*REMEMBER_RESPONSES, *REMEMBER_RESPONSES, down]) as server:
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--repeat", "3"]) == 1
    live = capsys.readouterr().out
    assert not (project.cassettes / "remember.repeat-3.yaml").exists()
    assert (project.cassettes / "remember.yaml").read_text(encoding="utf-8").startswith("metadata:\n  repeats: 3\n")

    assert main(["run", "--agents", agents]) == 1  # offline
    replayed = capsys.readouterr().out
    assert (
        passes_row(replayed) == passes_row(live) == ["scenarios/remember.yaml", "2/3", "0.67", "0.67", "0.33", "0.00"]
    )
    assert main(["run", "--agents", agents, "-k", "remember", "--report", str(tmp_path / "r.json")]) == 1
    third = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["scenarios"][2]
    assert third["repeat"] == 3 and third["outcome"] == "error"  # as its recording said
    assert "no cassette at cassettes/remember.repeat-3.yaml: repeat 3 has not been recorded" in third["failures"][1]
    assert third["not_recorded"] is True  # said so under the table: it read "repeat 3 failed: stale cassette"
    assert "scenarios/remember.yaml repeat 3 failed: not recorded" in replayed
    (entry,) = reliability_of_entries(json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["scenarios"])
    assert entry.failed_checks == {3: ["not recorded"]}
    told = f"harness record --agents {agents} {project.scenario_path('remember')}"
    assert third["failures"][2] == f"  record it with: {told}"
    capsys.readouterr()

    assert main(["cassettes", "check", "--agents", agents]) == 1
    out = capsys.readouterr().out
    assert "remember.repeat-3.yaml: missing (" in out and "  not recorded yet (repeat 3 of the 3 recorded)" in out
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:  # only the missing repeat is recorded
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--stale"]) == 0
    assert "remember.repeat-3.yaml: new cassette" in capsys.readouterr().err
    assert main(["run", "--agents", agents]) == 0
    assert passes_row(capsys.readouterr().out)[1] == "3/3"


def test_measuring_again_with_fewer_repeats_replays_what_was_just_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--repeat 3`, then `--repeat 2`: the replay counted the third repeat of the first measurement too.
    `--mode all` (and `run --live`) replaces a scenario's recordings, the repeat above included; `--mode new`
    keeps the file, which replay skips and `cassettes check` names."""
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    agents = str(project.agents)
    third = project.cassettes / "remember.repeat-3.yaml"
    forgets = [reply("Hello!")]
    with FakeOpenAI([*REMEMBER_RESPONSES, *REMEMBER_RESPONSES, *REMEMBER_RESPONSES]) as server:
        assert main(["run", "--live", "--agents", agents, "--base-url", server.base_url, "--repeat", "3"]) == 0
    capsys.readouterr()
    with FakeOpenAI([*REMEMBER_RESPONSES, *forgets]) as server:
        assert main(["run", "--live", "--agents", agents, "--base-url", server.base_url, "--repeat", "2"]) == 1
    live = capsys.readouterr()
    assert not third.exists()
    assert "remember.repeat-3.yaml: removed (a repeat above the 2 just recorded)" in live.err
    assert main(["run", "--agents", agents]) == 1
    assert (
        passes_row(capsys.readouterr().out)
        == passes_row(live.out)[:5]
        == [
            "scenarios/remember.yaml",
            "1/2",
            "0.50",
            "0.50",
            "0.00",
        ]
    )

    with FakeOpenAI([*REMEMBER_RESPONSES, *REMEMBER_RESPONSES, *REMEMBER_RESPONSES]) as server:
        command = ["record", "--agents", agents, "--base-url", server.base_url, "--mode", "all", "--repeat", "3"]
        assert main(command) == 0
    capsys.readouterr()
    with FakeOpenAI([]) as server:  # mode new: everything still matches, only the count changes
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--repeat", "2"]) == 0
    err = capsys.readouterr().err
    assert "remember.yaml: updated (2 kept, repeats recorded: 3 -> 2)" in err
    assert third.exists()  # kept: `--mode new` deletes no recording
    assert main(["run", "--agents", agents]) == 0
    assert passes_row(capsys.readouterr().out)[1] == "2/2"  # the repeat above 2 left out
    assert main(["cassettes", "check", "--agents", agents]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        f"{third}: unused repeat ({project.scenario_path('remember')})",
        "  cassettes/remember.yaml says 2 repeat(s) were recorded, so replay skips this one: delete it, or record "
        f"3 repeats again: harness record --repeat 3 --agents {agents} {project.scenario_path('remember')}",
    ]
    assert out[2] == "2 ok, 1 unused repeat"
    with FakeOpenAI([]) as server:  # nothing to record: recording would not remove it
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--stale"]) == 0
    third.unlink()
    assert main(["cassettes", "check", "--agents", agents]) == 0


def test_repeats_recorded_before_the_count_was_kept_are_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first cassette that says no count (recorded by an earlier harness) replays as before: every repeat
    up to the last file; recording it again without --repeat adds no count."""
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    agents = str(project.agents)
    with FakeOpenAI([*REMEMBER_RESPONSES, *REMEMBER_RESPONSES, *REMEMBER_RESPONSES]) as server:
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--repeat", "3"]) == 0
    first = project.cassettes / "remember.yaml"
    first.write_text(first.read_text(encoding="utf-8").replace("  repeats: 3\n", "", 1), encoding="utf-8")
    capsys.readouterr()
    assert main(["run", "--agents", agents]) == 0
    assert passes_row(capsys.readouterr().out)[1] == "3/3"
    with FakeOpenAI([*REMEMBER_RESPONSES, *REMEMBER_RESPONSES, *REMEMBER_RESPONSES]) as server:
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--mode", "all"]) == 0
    assert "repeats:" not in first.read_text(encoding="utf-8")
    capsys.readouterr()
    (project.cassettes / "remember.repeat-3.yaml").unlink()
    assert main(["run", "--agents", agents]) == 0  # two files: two repeats, as before
    assert passes_row(capsys.readouterr().out)[1] == "2/2"


def test_a_check_failing_twice_in_a_repeat_is_named_once() -> None:
    """A snapshot with two differing blocks said "repeat 2 failed: expect.snapshot, expect.snapshot"."""
    from harness.reliability import reliability_of_entries, reliability_table

    twice = [{"key": "expect.snapshot"}, {"key": "expect.snapshot"}, {"key": "expect.reply"}]
    entries = [
        {"scenario": "s.yaml", "cassette": "c.yaml", "outcome": "passed", "repeat": 1},
        {"scenario": "s.yaml", "cassette": "c.yaml", "outcome": "failed", "repeat": 2, "failed_checks": twice},
    ]
    (entry,) = reliability_of_entries(entries)
    assert entry.failed_checks == {2: ["expect.snapshot", "expect.reply"]}
    assert "s.yaml repeat 2 failed: expect.snapshot, expect.reply" in reliability_table([entry], {})


def test_pass_hat_k_over_the_repeats_x_left_out_says_over_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run -x` stopping at repeat 2 of 3 printed pass^k over the 2 run as if they were the scenario's
    figures: the entry says `(2 of 3 repeats run)`, and the JSON entry has `repeats` beside `runs`."""
    from tests.fakes import Raw

    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    agents = str(project.agents)
    down = Raw(json.dumps({"error": {"message": "down", "type": "server_error"}}), 500)
    with FakeOpenAI([*REMEMBER_RESPONSES, down, *REMEMBER_RESPONSES]) as server:
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--repeat", "3"]) == 1
    capsys.readouterr()
    html = tmp_path / "r.html"
    assert main(["run", "--agents", agents, "-x", "--report", str(tmp_path / "r.json"), "--html", str(html)]) == 1
    out = capsys.readouterr().out
    assert next(line.split() for line in out.splitlines() if line.startswith("scenarios/remember.yaml (")) == [
        *["scenarios/remember.yaml", "(2", "of", "3", "repeats", "run)"],
        *["1/2", "0.50", "0.50", "0.00"],
    ]
    entry = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["reliability"]["scenarios"][0]
    assert (entry["runs"], entry["repeats"], entry["row"]) == (2, 3, None)
    assert "<td>scenarios/remember.yaml (2 of 3 repeats run)</td><td>1/2</td>" in html.read_text(encoding="utf-8")
    assert main(["run", "--agents", agents, "--report", str(tmp_path / "all.json")]) == 1  # all run: no mark
    assert "repeats run" not in capsys.readouterr().out
    entry = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))["reliability"]["scenarios"][0]
    assert (entry["runs"], entry["repeats"]) == (3, 3)


def test_a_reliability_entry_names_its_dataset_row() -> None:
    """The row was in the display string alone (`x.yaml[p1] on m`): a reader of the JSON had to parse it."""
    from harness.reliability import ScenarioReliability, reliability_report

    entries = [ScenarioReliability(Path("x.yaml"), 2, 1, row="p1", model="m")]
    entry = reliability_report(entries, {})["scenarios"][0]
    assert (entry["scenario"], entry["row"], entry["model"]) == ("x.yaml[p1] on m", "p1", "m")
