"""`harness cassettes check` and `harness record --stale`: which cassettes a change invalidates, and why."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import hypothesis
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.cassettes import format
from harness.cli import main
from tests.fakes import FORGETFUL, REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, Project, make_project
from tests.helpers import ROOT


def copy_of_the_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("agents.yaml", "prompts", "examples", "scenarios", "cassettes"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy(source, root / name)
    return root


def check(root: Path) -> subprocess.CompletedProcess[str]:
    """In a fresh process: the copy's own tool modules are imported, not the ones this process holds."""
    code = "import sys\nfrom harness.cli import main\nsys.exit(main(['cassettes', 'check']))\n"
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)


def test_the_shipped_cassettes_are_all_current(tmp_path: Path) -> None:
    result = check(copy_of_the_repo(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    shipped = len(list((ROOT / "cassettes").rglob("*.yaml")))
    assert shipped >= 14
    assert result.stdout.strip().splitlines()[-1] == f"{shipped} ok"


def test_a_changed_tool_description_names_exactly_the_scenarios_using_that_tool(tmp_path: Path) -> None:
    root = copy_of_the_repo(tmp_path)
    tools = root / "examples" / "task_queue.py"
    text = tools.read_text(encoding="utf-8")
    tools.write_text(text.replace("Get the next task from the task queue", "Take the next task off the queue"))
    agents = yaml.safe_load((root / "agents.yaml").read_text(encoding="utf-8"))["agents"]
    with_pop = {
        name for name, agent in agents.items() if "examples.task_queue:task_queue_pop" in (agent.get("tools") or [])
    }
    expected = sorted(
        str(path.relative_to(root))
        for path in (root / "scenarios").rglob("*.yaml")
        if yaml.safe_load(path.read_text(encoding="utf-8"))["agent"] in with_pop
    )
    assert expected  # the example suite has scenarios whose agent pops tasks
    result = check(root)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    stale = sorted(line.split("(")[1].rstrip("):") for line in lines if ": stale (" in line)
    assert stale == expected
    assert lines.count("  tools changed: task_queue_pop description") == len(expected)
    shipped = len(list((root / "cassettes").rglob("*.yaml")))
    assert lines[-2] == f"{shipped - len(expected)} ok, {len(expected)} stale"
    assert lines[-1] == "record what needs it with: harness record --stale"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = make_project(tmp_path / "project", {"remember": REMEMBER, "forgetful": FORGETFUL})
    project.record("remember", REMEMBER_RESPONSES)
    return project


def test_missing_orphan_and_unused_cassettes(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    orphan = project.cassettes / "gone.yaml"
    shutil.copy(project.cassettes / "remember.yaml", orphan)
    tests_dir = project.root / "tests"
    tests_dir.mkdir()
    (tests_dir / "test_agent.py").write_text("def test_saves_name(harness_agent):\n    pass\n", encoding="utf-8")
    used_by_a_test = project.cassettes / "tests" / "test_agent" / "test_saves_name.yaml"
    used_by_a_test.parent.mkdir(parents=True)
    shutil.copy(project.cassettes / "remember.yaml", used_by_a_test)
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    out = capsys.readouterr().out
    assert "forgetful.yaml: missing (" in out and "  not recorded yet" in out
    assert "gone.yaml: orphan" in out and "  no scenario or test uses it" in out
    # a test's cassette, not an orphan; copied from a scenario's, it stores no test's fingerprints: not checked
    assert "test_saves_name.yaml: orphan" not in out
    assert f"test_saves_name.yaml: not checked ({tests_dir / 'test_agent.py'})" in out
    assert "only pytest can tell whether it is up to date" in out
    assert out.splitlines()[-3:] == [
        "1 ok, 1 missing, 1 orphan, 1 not checked",
        # the missing one (--stale leaves orphans be), from the agents file given
        f"record what needs it with: harness record --stale --agents {project.agents}",
        "an orphan is used by no scenario: delete it, or name it in a scenario's `cassette:`",
    ]


def test_the_advice_for_leftover_repeats_records_as_many_as_are_left(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two repeats (3 and 4) left above a count of 2: each line named its own number, and recording 3 repeats
    again, as repeat 3's line said, would have left repeat 4 unused."""
    first = project.cassettes / "remember.yaml"
    text = first.read_text(encoding="utf-8")
    assert text.startswith("metadata:\n")
    first.write_text(text.replace("metadata:\n", "metadata:\n  repeats: 2\n", 1), encoding="utf-8")
    for n in (2, 3, 4):
        shutil.copy(first, project.cassettes / f"remember.repeat-{n}.yaml")
    main(["cassettes", "check", "--agents", str(project.agents)])
    advice = [line for line in capsys.readouterr().out.splitlines() if "repeats again: " in line]
    assert len(advice) == 2, advice
    told = f"harness record --repeat 4 --agents {project.agents} {project.scenario_path('remember')}"
    assert all(line.endswith(f"record 4 repeats again: {told}") for line in advice)


def test_a_request_body_edited_by_hand_is_reported_as_edited_with_one_fix(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replay matches on the keys stored beside the bodies; check verifies them, so an edit is not silent. It
    called the cassette `unreadable`, which `harness run` reads and replays by its keys, and advised deleting
    the `key:` lines above a footer saying to restore it or record it anew."""
    cassette = project.cassettes / "remember.yaml"
    text = cassette.read_text(encoding="utf-8")
    cassette.write_text(text.replace('"temperature": 0.0', '"temperature": 0.5', 1), encoding="utf-8")
    assert cassette.read_text(encoding="utf-8") != text
    assert main(["run", "--agents", str(project.agents), "-k", "remember"]) == 0  # replayed by its keys
    capsys.readouterr()
    assert main(["cassettes", "check", "--agents", str(project.agents), str(project.scenario_path("remember"))]) == 1
    remember = project.scenario_path("remember").as_posix()  # as the CLI shows a path outside the current folder
    assert capsys.readouterr().out.splitlines() == [
        f"{cassette.as_posix()}: edited ({remember})",
        "  the `key` of interaction 0 does not match its request body (edited by hand, or merged from two "
        "recordings): `harness run` replays by the key, what was recorded; `harness record` would go by the body",
        "1 edited",
        "restore the edited from version control, or record them anew: "
        f"harness record --mode all --agents {project.agents} {remember}",
    ]
    # `record --stale` leaves it alone (recording in mode new would take the body for what was recorded)
    with FakeOpenAI([]) as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "--stale"]) == 1
    assert "error: 1 scenario(s) with an edited cassette were left alone" in capsys.readouterr().err
    assert "0.5" in cassette.read_text(encoding="utf-8")


def test_an_unreadable_cassettes_reason_does_not_name_it_again(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The status line names the cassette; its reason held the machine's absolute path of it besides."""
    cassette = project.cassettes / "remember.yaml"
    cassette.write_text("interactions: [\n", encoding="utf-8")
    assert main(["cassettes", "check", "--agents", str(project.agents), str(project.scenario_path("remember"))]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("remember.yaml: unreadable (" + project.scenario_path("remember").as_posix() + ")")
    assert lines[1].startswith("  not a readable cassette (ParserError: ") and str(cassette) not in lines[1]


def test_a_cassette_whose_deltas_rebuild_too_much_is_unreadable_and_the_check_goes_on(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deltas doubling the request before: `cassettes check` crashed with a MemoryError, naming no cassette."""
    from tests.cassettes.test_delta_bounds import doubling

    (project.cassettes / "forgetful.yaml").write_text(doubling(40), encoding="utf-8")
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    out = capsys.readouterr().out
    assert "forgetful.yaml: unreadable (" in out and "\n1 ok, 1 unreadable\n" in out
    assert "  not a cassette the harness reads: interaction 21 (line 170): its requests hold more than 4,000,000" in out


@pytest.mark.parametrize("another_needs_recording", [False, True])
def test_record_stale_names_an_unreadable_cassette_it_leaves_alone_and_exits_1(
    project: Project, capsys: pytest.CaptureFixture[str], another_needs_recording: bool
) -> None:
    """A half-written cassette: `cassettes check` said unreadable (exit 1), `record --stale` said "every
    cassette is up to date: nothing to record" and exited 0, so a CI job took the suite as recorded."""
    from tests.fakes import FORGETFUL_RESPONSES

    cassette = project.cassettes / "remember.yaml"
    cassette.write_bytes(cassette.read_bytes()[: cassette.stat().st_size // 2])
    half = cassette.read_bytes()
    if not another_needs_recording:
        project.record("forgetful", FORGETFUL_RESPONSES)
    with FakeOpenAI(list(FORGETFUL_RESPONSES) if another_needs_recording else []) as server:
        base_url = server.base_url
        code = main(["record", "--agents", str(project.agents), "--base-url", base_url, "--stale"])
    assert code == 1
    assert cassette.read_bytes() == half  # left alone: recording over it would destroy what is left
    assert (project.cassettes / "forgetful.yaml").is_file()
    err = capsys.readouterr().err
    assert "every cassette is up to date" not in err
    assert "remember.yaml: unreadable: " in err
    remember = project.scenario_path("remember").as_posix()
    assert err.splitlines()[-1] == (
        "error: 1 scenario(s) with an unreadable cassette were left alone, not recorded: restore the cassette "
        f"from version control, or record it anew: harness record --mode all --agents {project.agents} "
        f"--base-url {base_url} {remember}"
    )
    assert ("recording" in err) == another_needs_recording


def test_record_stale_with_nothing_stale_still_lists_a_broken_files_mistakes_and_exits_2(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said the mistakes were "listed at the end", never listed them, and exited 0; then that "every
    cassette is up to date", where the broken file's were not checked."""
    from tests.fakes import FORGETFUL_RESPONSES

    project.record("forgetful", FORGETFUL_RESPONSES)
    broken = project.write_scenario("broken", "agent: chat\nturns: [{user: hi}]\nexpcet: {}\n")
    with FakeOpenAI([]) as server:
        code = main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "--stale"])
    assert code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "note: 1 scenario file(s) with mistakes will not run (listed at the end); the others run"
    assert err[-2:] == [
        "every cassette of the other scenario files is up to date: nothing to record; the 1 file(s) with mistakes "
        "were not checked",
        f"error: {broken}:3:1: expcet: unknown key 'expcet'; did you mean 'expect'? valid keys: agent, description, "
        "blocks, archival, max_steps, turns, simulate, expect, xfail, cassette, history, tool_results, dataset, models",
    ]


def test_check_reports_every_other_cassette_when_one_scenario_file_has_mistakes(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed only the broken file's mistake and exited 2: after an upgrade that refuses one file, the
    stale cassettes the upgrade made went unreported until every file was fixed (`run` and `record --stale`
    go on with the others)."""
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(agents.replace("temperature: 0", "temperature: 0.5"), encoding="utf-8")
    broken = project.write_scenario("broken", "agent: chat\nturns: [{user: hi}]\nexpcet: {}\n")
    shutil.copy(project.cassettes / "remember.yaml", project.cassettes / "broken.yaml")  # not an orphan
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 2
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert "remember.yaml: stale (" in captured.out and "forgetful.yaml: missing (" in captured.out
    assert "  model settings changed: temperature 0.0 -> 0.5" in out
    assert "broken.yaml" not in captured.out
    assert out[-2:] == [
        "1 missing, 1 stale",
        f"record what needs it with: harness record --stale --agents {project.agents}",
    ]
    err = captured.err.splitlines()
    assert err == [
        "note: 1 scenario file(s) with mistakes are not checked (listed at the end), the others are; orphans are "
        "not looked for meanwhile (their cassettes would look like ones)",
        f"error: {broken}:3:1: expcet: unknown key 'expcet'; did you mean 'expect'? valid keys: agent, description, "
        "blocks, archival, max_steps, turns, simulate, expect, xfail, cassette, history, tool_results, dataset, models",
    ]
    project.scenario_path("remember").unlink()
    project.scenario_path("forgetful").unlink()
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 2  # nothing else to check: the mistake
    assert capsys.readouterr().err.startswith(f"error: {broken}:3:1: expcet:")


def test_a_changed_agent_is_explained_part_by_part(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(
        agents.replace("temperature: 0", "temperature: 0.5").replace("Name: Bob", "Name: Robert"), encoding="utf-8"
    )
    assert main(["cassettes", "check", "--agents", str(project.agents), str(project.scenario_path("remember"))]) == 1
    out = capsys.readouterr().out
    assert "remember.yaml: stale" in out
    assert "  system prompt changed: -Name: Bob / +Name: Robert" in out
    assert "  model settings changed: temperature 0.0 -> 0.5" in out


def test_record_stale_records_only_what_needs_it(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    before = (project.cassettes / "remember.yaml").read_bytes()
    project.write_scenario("fresh", REMEMBER)
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(
            [
                "record",
                "--agents",
                str(project.agents),
                "--base-url",
                server.base_url,
                "--stale",
                str(project.scenario_path("remember")),
                str(project.scenario_path("fresh")),
            ]
        )
    assert code == 0
    assert len(server.received) == 2  # fresh only
    err = capsys.readouterr().err
    assert "fresh.yaml: missing: not recorded yet" in err
    assert "recording" in err and "remember.yaml ..." not in err
    assert (project.cassettes / "remember.yaml").read_bytes() == before
    with FakeOpenAI([]) as server:
        assert (
            main(
                [
                    "record",
                    "--agents",
                    str(project.agents),
                    "--base-url",
                    server.base_url,
                    "--stale",
                    str(project.scenario_path("remember")),
                    str(project.scenario_path("fresh")),
                ]
            )
            == 0
        )
    assert "every cassette is up to date: nothing to record" in capsys.readouterr().err


def test_each_recording_stores_the_agents_fingerprint_and_check_names_what_changed(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = yaml.safe_load((project.cassettes / "remember.yaml").read_text(encoding="utf-8"))["metadata"]["agent"]
    assert set(stored["parts"]) == {"system", "tools", "blocks", "model", "loop"}
    assert set(stored["parts"]["tools"]) == {"send_message", "core_memory_append", "core_memory_replace"}
    assert len(stored["fingerprint"]) == 16
    assert project.replay("remember").outcome == "passed"  # metadata never changes what replays
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(
        agents.replace("agents:\n  chat:\n", "agents:\n  chat:\n    max_steps: 1\n"), encoding="utf-8"
    )
    assert main(["cassettes", "check", "--agents", str(project.agents), str(project.scenario_path("remember"))]) == 1
    out = capsys.readouterr().out
    assert "remember.yaml: unused (" in out
    assert "  loop max_steps 4 -> 1" in out  # the fakes agent takes 4 steps at most


def test_a_stale_simulated_user_scenario_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No scripted first turn: the agent's first recorded request is compared, not the simulator's."""
    from tests.fakes import completion

    simulated = (
        "agent: chat\nsimulate: {persona: Azin, goal: be remembered, max_turns: 1}\n"
        "expect: {blocks: {human: {contains: Azin}}}\n"
    )
    project = make_project(tmp_path / "p", {"sim": simulated})
    project.record("sim", [completion(content="Hi, I'm Azin."), *REMEMBER_RESPONSES])
    project.agents.write_text(
        project.agents.read_text(encoding="utf-8").replace("Name: Bob", "Name: Rob"), encoding="utf-8"
    )
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    out = capsys.readouterr().out
    assert "sim.yaml: stale (" in out
    assert "  system prompt changed: -Name: Bob / +Name: Rob" in out
    assert "first user message changed" not in out


@pytest.mark.parametrize(
    ("changed", "says"),
    [
        (("Lisbon", "Porto"), "message 1 before the first user message (the history) changed: -I grew up in Lisbon"),
        (("user: hello", "user: hello again"), "first user message changed: -hello / +hello again"),
    ],
)
def test_a_stale_scenario_with_a_history_names_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changed: tuple[str, str], says: str
) -> None:
    """The history's first message was compared with the scenario's first turn: whichever changed, the
    reason named the wrong one."""
    with_history = (
        "agent: chat\nhistory:\n  - {role: user, content: I grew up in Lisbon}\n  - {role: assistant, content: Nice}\n"
        "turns:\n  - user: hello\n"
    )
    project = make_project(tmp_path / "p", {"hist": with_history})
    project.record("hist", REMEMBER_RESPONSES)
    path = project.scenario_path("hist")
    path.write_text(path.read_text(encoding="utf-8").replace(*changed), encoding="utf-8")
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    out = capsys.readouterr().out
    assert f"  {says}" in out


_ODD = st.sampled_from([5, 1.5, True, "x", None, {"a": 1}, [1, 2], [None], [[]], [{"function": 5}], [{"content": 5}]])


@hypothesis.settings(
    max_examples=25, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(["tools", "messages", "model", "tool_choice"]), value=_ODD)
def test_a_first_request_edited_by_hand_to_any_shape_is_explained_as_stale(
    project: Project, capsys: pytest.CaptureFixture[str], field: str, value: object
) -> None:
    """Keys deleted as the fix for a hand edit says, the body is keyed from what it holds, whatever that is:
    check says the cassette is stale and why, never a traceback (tools that were a number used to be one)."""
    cassette = project.cassettes / "remember.yaml"
    original = cassette.read_text(encoding="utf-8")
    try:
        data = format.parse(original, str(cassette))
        body = dict(data.interactions[0].request.body)
        body[field] = value
        written = format.to_vcr_dict(data)
        written["interactions"][0]["request"]["body"] = json.dumps(body)
        written["interactions"][0]["request"].pop("key", None)
        cassette.write_text(format.dump(written), encoding="utf-8")
        capsys.readouterr()
        assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
        out = capsys.readouterr().out
        assert "remember.yaml: stale" in out and "Traceback" not in out
    finally:
        cassette.write_text(original, encoding="utf-8")


def test_checking_some_scenarios_finds_no_orphans_in_the_others(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cassettes check scenarios/x.yaml` called every other scenario's cassette an orphan, to delete."""
    shutil.copy(project.cassettes / "remember.yaml", project.cassettes / "gone.yaml")
    assert main(["cassettes", "check", "--agents", str(project.agents), str(project.scenario_path("remember"))]) == 0
    assert capsys.readouterr().out.splitlines() == ["1 ok"]
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1  # the whole project: it is one
    assert "gone.yaml: orphan" in capsys.readouterr().out


def test_a_cassette_with_no_exchange_is_stale_for_that_reason(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was called stale because "the first request is unchanged; turn 1, step 1 differs"."""
    cassette = project.cassettes / "remember.yaml"
    cassette.write_text("version: 1\ninteractions: []\n", encoding="utf-8")
    assert main(["cassettes", "check", "--agents", str(project.agents), str(project.scenario_path("remember"))]) == 1
    out = capsys.readouterr().out
    assert "remember.yaml: stale" in out and "it holds no recorded exchange" in out
    assert "first request is unchanged" not in out


def check_of(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = f"import sys\nfrom harness.cli import main\nsys.exit(main(['cassettes', 'check', *{list(args)!r}]))\n"
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)


def edited(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_letta_agents_reasons_name_only_what_changed(tmp_path: Path) -> None:
    """The agent was built for the check with ids drawn otherwise than its run draws them: Letta's boot
    call had another id, and every stale cassette of a Letta agent blamed "the history" (message 1)."""
    root = copy_of_the_repo(tmp_path)
    edited(root, "scenarios/chat/recall_from_memory.yaml", "What is my name?", "What is my name, please?")
    edited(root, "scenarios/chat/simulated_user_introduces_herself.yaml", "from Tehran", "from Shiraz")
    result = check_of(
        root, "scenarios/chat/recall_from_memory.yaml", "scenarios/chat/simulated_user_introduces_herself.yaml"
    )
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert out.count('first user message changed: -  "message": "What is my name?", / +') == 3  # and its repeats
    assert "before the first user message" not in out
    simulated = out[out.index("simulated_user_introduces_herself.yaml: stale") :]
    assert "first user message changed" not in simulated  # the simulated user's own message stands for it


def test_a_recorded_provider_error_is_a_current_cassette(tmp_path: Path) -> None:
    """A 4xx about what the model generated is recorded and replays to the same error: `check` called the
    cassette unreadable and advised re-recording it, where `record --stale` found nothing to do."""
    root = copy_of_the_repo(tmp_path)
    cassette = root / "cassettes/chat/greeting_without_saving.yaml"
    lines = cassette.read_text(encoding="utf-8").split("\n")
    at = lines.index("  response:")
    lines[at + 1 : at + 3] = [
        "    status: 400",
        "    body: |",
        '      {"error":{"message":"Failed to call a function.","type":"invalid_request_error",'
        '"code":"tool_use_failed"}}',
    ]
    cassette.write_text("\n".join(lines), encoding="utf-8")
    result = check_of(root, "scenarios/chat/greeting_without_saving.yaml")
    assert (result.returncode, result.stdout.splitlines()[-1]) == (0, "1 ok"), result.stdout


def test_check_takes_the_model_the_cassettes_were_recorded_with(tmp_path: Path) -> None:
    """Recorded with `--model M`, replayed with `run --model M`: check could not be told, called them all
    stale and advised a paid re-recording with the agents file's model."""
    root = copy_of_the_repo(tmp_path)
    model = yaml.safe_load((root / "agents.yaml").read_text(encoding="utf-8"))["defaults"]["model"]["name"]
    edited(root, "agents.yaml", f"name: {model}", "name: another-model")
    scenario = "scenarios/chat/remember_name.yaml"
    assert check_of(root, scenario).returncode == 1
    result = check_of(root, scenario, "--model", model)
    assert (result.returncode, result.stdout.splitlines()[-1]) == (0, "1 ok"), result.stdout
    stale = check_of(root, scenario, "--model", "third-model")
    assert stale.stdout.splitlines()[-1] == "record what needs it with: harness record --stale --model third-model"


def test_a_judges_miss_is_the_reason_check_gives(tmp_path: Path) -> None:
    """Replay names the judge's missing answer; check said only that the first request was unchanged."""
    root = copy_of_the_repo(tmp_path)
    edited(root, "scenarios/chat/judge_name_and_job.yaml", "who is called Azin.", "who is called Azin, warmly.")
    result = check_of(root, "scenarios/chat/judge_name_and_job.yaml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "has no recorded answer for a check of" in result.stdout
    assert "a judge's rubric" in result.stdout


def test_dropping_unused_exchanges_stores_the_fingerprint_of_the_agent_now(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """record --stale only dropped them and left the fingerprint as it was: every later check named a change
    (max_steps 4 -> 1) the cassette already matched."""
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(
        agents.replace("agents:\n  chat:\n", "agents:\n  chat:\n    max_steps: 1\n"), encoding="utf-8"
    )
    remember = str(project.scenario_path("remember"))
    with FakeOpenAI([]) as server:
        main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "--stale", remember])
    capsys.readouterr()
    stored = yaml.safe_load((project.cassettes / "remember.yaml").read_text(encoding="utf-8"))["metadata"]["agent"]
    assert stored["parts"]["loop"]["max_steps"] == 1


def test_a_change_the_first_request_shows_is_said_once(tmp_path: Path) -> None:
    """The fingerprint said it again in its own words: `model temperature 0.0 -> 0.5` under `model settings
    changed: temperature 0.0 -> 0.5`, as the README's example does not show."""
    root = copy_of_the_repo(tmp_path)
    edited(root, "agents.yaml", "    temperature: 0\n", "    temperature: 0.5\n")
    result = check_of(root, "scenarios/chat/remember_name.yaml")
    reasons = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert reasons == ["model settings changed: temperature 0.0 -> 0.5"], result.stdout


def test_nothing_to_check_exits_5_as_run_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder holding no scenario: `harness run` exits 5 so a CI job pointed at the wrong folder does not pass
    green; `cassettes check`, which gates `record --stale` in CI, said "no cassettes" and exited 0."""
    project = make_project(tmp_path / "project")
    empty = project.root / "scenarios" / "empty"
    empty.mkdir(parents=True)
    agents = ["--agents", str(project.agents)]
    assert main(["run", *agents, str(empty)]) == 5
    capsys.readouterr()
    assert main(["cassettes", "check", *agents, str(empty)]) == 5
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"no scenarios in {empty}\n")
    assert main(["cassettes", "check", *agents]) == 5  # no scenario and no cassette in the whole project
    assert capsys.readouterr().err.startswith("nothing to check: no scenarios in ")
    project.cassettes.mkdir()
    (project.cassettes / "gone.yaml").write_text("interactions: []\n", encoding="utf-8")
    assert main(["cassettes", "check", *agents]) == 1  # a cassette with no scenario is still checked: an orphan
    assert "gone.yaml: orphan" in capsys.readouterr().out


def test_a_cassette_that_is_a_loop_of_links_is_checked_without_a_traceback(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Telling orphans from used cassettes resolves every path: a loop raised RuntimeError (Python 3.11)."""
    cassette = project.cassettes / "remember.yaml"
    cassette.unlink()
    cassette.symlink_to("remember.yaml")
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    out = capsys.readouterr().out
    assert "remember.yaml: missing (" in out


def test_a_cassette_recorded_under_another_loop_names_the_setting_that_replays_it(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default loop changed (harness -> letta-memgpt, 2026-11-24): every day-1 cassette missed, and
    nothing pointed to `loop: harness`. The fingerprint says which loop recorded it; a cassette without
    one, the fields its requests carry."""
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(agents.replace("  loop: harness", "  # loop: harness"), encoding="utf-8")
    remember = str(project.scenario_path("remember"))
    cassette = project.cassettes / "remember.yaml"
    said = (
        "recorded under `loop: harness`; agent 'chat' runs letta-memgpt (letta-memgpt is the default loop since "
        "2026-11-24): `loop: harness` on it (or in `defaults:` of the agents file) replays this cassette, or record "
        "it again"
    )
    for fingerprint in (True, False):
        if not fingerprint:  # as before fingerprints were kept
            data = format.parse(cassette.read_text(encoding="utf-8"), str(cassette))
            del data.metadata["agent"]
            cassette.write_text(format.dump(format.to_vcr_dict(data)), encoding="utf-8")
        assert main(["cassettes", "check", "--agents", str(project.agents), remember]) == 1
        out = capsys.readouterr().out.splitlines()
        assert out[1] == f"  {said}", out
        assert not any("loop flavour" in line for line in out)  # said once, with the setting
        assert any(line.startswith("  fields the harness adds to each request changed") for line in out)
        assert main(["run", "--agents", str(project.agents), remember]) == 1
        assert (
            "step 1 (the cassette was recorded under `loop: harness`, and this request is letta-memgpt's "
            "(letta-memgpt is the default loop since 2026-11-24): `loop: harness` on the agent (or in `defaults:` "
            "of the agents file) replays it, or record it again)"
        ) in capsys.readouterr().err
    project.agents.write_text(agents, encoding="utf-8")  # as it says
    assert main(["cassettes", "check", "--agents", str(project.agents), remember]) == 0


def test_a_request_the_harness_itself_sends_otherwise_is_not_blamed_on_the_users_files(tmp_path: Path) -> None:
    """After an upgrade stopped sending `parallel_tool_calls: false` beside no tools, check blamed 'a judge's
    rubric, model or judged text' and 'its persona, goal or model' and named no setting."""
    root = copy_of_the_repo(tmp_path)
    scenario = "scenarios/chat/judge_name_and_job.yaml"
    cassette = root / "cassettes/chat/judge_name_and_job.yaml"
    data = format.parse(cassette.read_text(encoding="utf-8"), str(cassette))
    written = format.to_vcr_dict(data)
    for interaction in written["interactions"]:  # what the harness of 2026-12-06 sent with the judge's
        body = json.loads(interaction["request"]["body"])
        if "tools" not in body:
            interaction["request"]["body"] = json.dumps({**body, "parallel_tool_calls": False})
    cassette.write_text(format.dump(written), encoding="utf-8")
    result = check_of(root, scenario)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "(nothing the agents file or the scenario gives this request changed, but the harness sends it otherwise "
        "than the one that recorded it did (an upgrade?): parallel_tool_calls false -> not sent; record it again)"
    ) in result.stdout
    assert "a judge's rubric" not in result.stdout


def test_a_later_request_the_harness_sends_otherwise_says_so(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first request unchanged and a later one missing was put down to 'a tool's behaviour, max_steps or a
    later turn': a field the harness itself added then, and no longer does, is none of those."""
    cassette = project.cassettes / "remember.yaml"
    written = format.to_vcr_dict(format.parse(cassette.read_text(encoding="utf-8"), str(cassette)))
    second = written["interactions"][1]["request"]
    second["body"] = json.dumps({**json.loads(second["body"]), "top_p": 1})  # as an older harness sent it
    cassette.write_text(format.dump(written), encoding="utf-8")
    assert main(["cassettes", "check", "--agents", str(project.agents), str(project.scenario_path("remember"))]) == 1
    assert capsys.readouterr().out.splitlines()[1] == (
        "  the first request is unchanged; turn 1, step 2 differs (nothing the agents file or the scenario gives "
        "this request changed, but the harness sends it otherwise than the one that recorded it did (an upgrade?): "
        "top_p 1 -> not sent; record it again)"
    )
