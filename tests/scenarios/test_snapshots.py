"""Memory snapshots: golden files of the blocks, written with --update-snapshots and compared after."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.scenarios.snapshots import SnapshotFile
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, Project, make_project, reply

SNAPPED = REMEMBER + "  snapshot: true\n"
JSON_END = """
agent: chat
blocks: {human: '{"name": "Azin", "likes": ["tea", "maps"]}'}
turns:
  - user: hello
expect:
  snapshot: end
"""


def recorded(tmp_path: Path, text: str, responses: list[dict[str, object]]) -> Project:
    project = make_project(tmp_path / "p", {"snap": text})
    project.record("snap", responses)
    return project


def run(project: Project, *args: str) -> int:
    return main(["run", "--agents", str(project.agents), *args])


def test_update_writes_every_turn_then_runs_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = recorded(tmp_path, SNAPPED, REMEMBER_RESPONSES)
    snapshot = project.root / "snapshots" / "snap.yaml"
    assert run(project) == 1  # not written yet
    assert f"no snapshot at {snapshot} yet: write it with --update-snapshots" in capsys.readouterr().err
    assert run(project, "--update-snapshots") == 0
    written = yaml.safe_load(snapshot.read_text(encoding="utf-8"))
    assert written == {
        "turns": [{"persona": "You are a helpful assistant", "human": "Name: Bob\nAzin"}],
        "end": {"persona": "You are a helpful assistant", "human": "Name: Bob\nAzin"},
    }
    assert run(project) == 0
    capsys.readouterr()
    written["turns"][0]["human"] = "Name: Bob"
    snapshot.write_text(yaml.safe_dump(written), encoding="utf-8")
    assert run(project) == 1
    err = capsys.readouterr().err
    assert "expect.snapshot: block 'human' after turn 1 differs from the snapshot" in err
    assert "  +Azin" in err  # the per-block diff


def test_end_state_equivalence_compares_json_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = recorded(tmp_path, JSON_END, [reply("Hi!")])
    assert run(project, "--update-snapshots") == 0
    snapshot = project.root / "snapshots" / "snap.yaml"
    assert set(yaml.safe_load(snapshot.read_text(encoding="utf-8"))) == {"end"}  # the end state only
    snapshot.write_text(
        yaml.safe_dump(
            {"end": {"persona": "You are a helpful assistant", "human": '{"likes": ["tea", "maps"],  "name": "Azin"}'}}
        ),
        encoding="utf-8",
    )
    assert run(project) == 0  # same JSON, other key order and spacing
    snapshot.write_text(
        yaml.safe_dump(
            {"end": {"persona": "You are a helpful assistant", "human": '{"likes": ["maps", "tea"], "name": "Azin"}'}}
        ),
        encoding="utf-8",
    )
    assert run(project) == 1  # a list's order is part of the state
    assert "block 'human' at the end differs from the snapshot" in capsys.readouterr().err


def test_snapshot_json_tells_true_from_1_and_shows_a_difference_that_does_not_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`true` and `1` were one JSON value (Python's True == 1); a block that gained a trailing newline failed
    with no expected or actual at all (the diff of its lines was empty)."""
    project = recorded(
        tmp_path, JSON_END.replace("""'{"name": "Azin", "likes": ["tea", "maps"]}'""", "'[true]'"), [reply("Hi")]
    )
    assert run(project, "--update-snapshots") == 0
    snapshot = project.root / "snapshots" / "snap.yaml"
    snapshot.write_text(yaml.safe_dump({"end": {"persona": "You are a helpful assistant", "human": "[1]"}}))
    assert run(project) == 1
    err = capsys.readouterr().err
    assert "block 'human' at the end differs from the snapshot" in err
    assert "expected: '[1]'\n  actual:   '[true]'" in err
    snapshot.write_text(yaml.safe_dump({"end": {"persona": "You are a helpful assistant\n", "human": "[true]"}}))
    assert run(project) == 1
    err = capsys.readouterr().err
    assert "expected: 'You are a helpful assistant\\n'\n  actual:   'You are a helpful assistant'\n" in err
    assert "  note: the texts differ only in trailing newlines" in err


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 10)}]\n" for a, b in zip("abcdefg", "bcdefgh", strict=True)
)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (BOMB + "end:\n  persona: p\n  human: *h\n", ":6:4: more than 200000 values once aliases are expanded"),
        ("end: {human: " + "[" * 50_000 + "]" * 50_000 + "}\n", ":1:76: nested more than 64 levels deep"),
        ("end:\n  human: a\n  human: b\n", ":3: end.human: duplicate key"),
    ],
)
def test_a_snapshot_is_read_bounded_as_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    """It was read with yaml.safe_load: an alias bomb was expanded (10^8 values printed in the failure),
    deep nesting a RecursionError, a duplicate key silently the last."""
    project = recorded(tmp_path, JSON_END, [reply("Hi!")])
    snapshot = project.root / "snapshots" / "snap.yaml"
    snapshot.parent.mkdir()
    snapshot.write_text(text, encoding="utf-8")
    assert run(project) == 1  # found while the scenario runs, as a snapshot that differs
    err = capsys.readouterr().err
    assert f"{snapshot}{says}" in err, err
    assert "write it again with --update-snapshots" in err and "Traceback" not in err and len(err) < 2000


def test_a_snapshot_no_scenario_uses_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = recorded(tmp_path, SNAPPED, REMEMBER_RESPONSES)
    assert run(project, "--update-snapshots") == 0
    stale = project.root / "snapshots" / "gone.yaml"
    stale.write_text("end: {}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    out = capsys.readouterr().out
    assert "gone.yaml: orphan" in out and "a snapshot no scenario's `snapshot:` check uses" in out
    assert "snap.yaml: orphan" not in out


def test_the_pytest_option_updates_snapshots(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path, {"snap": SNAPPED})
    project.record("snap", REMEMBER_RESPONSES)
    pytester.runpytest().assert_outcomes(failed=1)
    pytester.runpytest("--harness-update-snapshots").assert_outcomes(passed=1)
    assert (pytester.path / "snapshots" / "snap.yaml").is_file()
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_update_with_repeats_writes_the_first_repeats_memory(tmp_path: Path, jobs: str) -> None:
    """Every repeat wrote one golden file: it held the memory of whichever repeat finished last (the last
    at -j 1, any at -j 2), and the replay after it failed the others."""
    from tests.fakes import append

    project = recorded(tmp_path, SNAPPED, [append("human", "Azin Shirazi"), reply("Nice to meet you, Azin!")])
    (project.cassettes / "snap.yaml").rename(project.cassettes / "snap.repeat-2.yaml")
    project.record("snap", REMEMBER_RESPONSES)
    snapshot = project.root / "snapshots" / "snap.yaml"
    for _ in range(2):
        run(project, "--update-snapshots", "-j", jobs)
        assert yaml.safe_load(snapshot.read_text(encoding="utf-8"))["end"]["human"] == "Name: Bob\nAzin"


def test_a_snapshot_file_that_is_not_one_is_the_users_to_fix_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was reported as "the harness failed on this scenario: ScenarioError: ...", as a bug of ours."""
    project = recorded(tmp_path, SNAPPED, REMEMBER_RESPONSES)
    snapshot = project.root / "snapshots" / "snap.yaml"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_text("end: [unclosed\n", encoding="utf-8")
    assert run(project) == 1
    err = capsys.readouterr().err
    assert "snap.yaml: a check of the final expect: " in err and "write it again with --update-snapshots" in err
    assert "the harness failed" not in err


AGAIN = "; not a snapshot the harness reads: write it again with --update-snapshots"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("turns: 5\nend: {human: x}\n", ":1:1: turns: expected a list of the blocks after each turn, not the number 5"),
        ("end:\n  null: a\n  b: c\n", ":2:3: end: a block label is text, not null: quote it"),
        ("turns:\n- {1: a}\nend: {}\n", ":2:4: turns[0]: a block label is text, not the number 1: quote it"),
        ("turns: [[a]]\nend: {}\n", ":1:9: turns[0]: expected the blocks by label, not a list"),
        ("end: yes\n", ":1:1: end: expected the blocks by label, not a boolean"),
        ("- a\n- b\n", ":1:1: expected a mapping of `turns` and `end`, not a list"),
    ],
)
def test_a_snapshot_of_another_shape_is_located_in_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    """A hand edit or a merge gave valid YAML of another shape: `turns: 5` or a `null:` label failed the
    scenario as an internal TypeError naming neither the file nor the fix."""
    project = recorded(tmp_path, SNAPPED, REMEMBER_RESPONSES)
    snapshot = project.root / "snapshots" / "snap.yaml"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_text(text, encoding="utf-8")
    assert run(project) == 1
    err = capsys.readouterr().err
    assert f"{snapshot}{says}{AGAIN}" in err, err
    assert "the harness failed" not in err and "Error" not in err


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=4))
@example({"notes.md": "x", "2025": "y", "": "z", "a: b": "w", "café": "v"})
@example({"a\x85b": "c\x85"})  # PyYAML reads a NEL it wrote in single quotes back as a space
def test_a_snapshot_keeps_any_label_the_memory_tool_takes(blocks: dict[str, str]) -> None:
    """The `memory` tool takes any text as a label, as Letta does (`notes.md`, `2025`, `yes`, ``, `a: b`):
    a snapshot written from such blocks compares equal to them when read back."""
    with tempfile.TemporaryDirectory() as folder:
        snapshot = SnapshotFile(Path(folder) / "snap.yaml", update=True)
        assert snapshot.compare(("expect",), {"end": blocks}) == []
        assert SnapshotFile(snapshot.path, update=False).compare(("expect",), {"end": blocks}) == []


def test_a_snapshot_the_disk_cannot_take_fails_its_scenario_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk failed the scenario as "the harness failed on this scenario: OSError: ..."."""
    import errno
    import os

    project = recorded(tmp_path, SNAPPED, REMEMBER_RESPONSES)
    snapshot = project.root / "snapshots" / "snap.yaml"
    snapshot.parent.mkdir()
    snapshot.write_text("turns: []\n", encoding="utf-8")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert run(project, "--update-snapshots") == 1
    err = capsys.readouterr().err
    assert f"{snapshot}: cannot write: No space left on device; the snapshot is left as it was" in err
    assert "the harness failed" not in err and "Traceback" not in err
    assert snapshot.read_text(encoding="utf-8") == "turns: []\n"
    assert [path.name for path in snapshot.parent.iterdir()] == ["snap.yaml"]


def test_two_scenarios_sharing_a_cassette_keep_a_snapshot_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Snapshots follow the scenario's path, not its `cassette:`: two scenarios checking one conversation two
    ways (every turn, the end alone) wrote one file, and each update broke the other."""
    every = REMEMBER + "  snapshot: true\ncassette: shared.yaml\n"
    project = make_project(tmp_path / "p", {"every": every, "end": every.replace("snapshot: true", "snapshot: end")})
    project.record("every", REMEMBER_RESPONSES)
    assert run(project, "--update-snapshots") == 0
    snapshots = project.root / "snapshots"
    assert sorted(p.name for p in snapshots.iterdir()) == ["end.yaml", "every.yaml"]
    assert set(yaml.safe_load((snapshots / "end.yaml").read_text(encoding="utf-8"))) == {"end"}
    assert set(yaml.safe_load((snapshots / "every.yaml").read_text(encoding="utf-8"))) == {"turns", "end"}
    capsys.readouterr()
    assert run(project) == 0, capsys.readouterr().err
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 0  # no snapshot is an orphan
