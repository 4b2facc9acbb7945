"""`harness run` and `harness record`: exit 0 all passed, 1 a scenario failed, 2 a mistake in the files."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.secrets import MASK
from tests.fakes import (
    FORGETFUL,
    FORGETFUL_RESPONSES,
    REMEMBER,
    REMEMBER_RESPONSES,
    FakeByContent,
    FakeOpenAI,
    Project,
    Raw,
    completion,
    make_project,
)
from tests.helpers import call


@pytest.fixture(scope="module")
def recorded_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("recorded"), {"remember": REMEMBER, "forgetful": FORGETFUL})
    project.record("remember", REMEMBER_RESPONSES)
    project.record("forgetful", FORGETFUL_RESPONSES)
    return project.root


@pytest.fixture
def project(recorded_project: Path, tmp_path: Path) -> Project:
    shutil.copytree(recorded_project, tmp_path / "project")
    return Project(tmp_path / "project")


def run(project: Project, *args: str) -> int:
    return main(["run", "--agents", str(project.agents), *args])


def test_all_passing_exits_0_with_the_summary(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(project, str(project.scenario_path("remember"))) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["scenario", "agent", "turns", "steps", "result", "time"]
    assert lines[2].split()[:5] == ["scenarios/remember.yaml", "chat", "1", "2", "PASS"]
    assert lines[-1] == "1 passed"
    assert err == ""


def test_a_failure_exits_1_and_explains_it(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(project) == 1  # default: every scenario under scenarios/ beside the agents file
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "1 passed, 1 failed"
    path = project.scenario_path("forgetful")
    assert f"{path}:7: turns[0].expect.blocks.human.contains: block 'human' does not contain 'Carol'" in err
    assert "  in turn 1: user: 'My name is Carol.'" in err
    assert "Traceback" not in err


def test_exitfirst_stops_at_the_first_failure_and_every_report_says_what_was_not_run(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table, JSON and Markdown read `1 failed` with nothing of the runs left out, where pytest says
    "stopping after 1 failures". The JSON's other keys stay as they were; a full run has no `not_run`."""
    said = "stopped at the first failure (-x): 1 scenario run(s) not run"
    files = {name: tmp_path / name for name in ("r.json", "r.md", "r.html")}
    reports = ["--report", str(files["r.json"]), "--summary-md", str(files["r.md"]), "--html", str(files["r.html"])]
    markdown = []
    for _ in range(2):  # the same Markdown run to run (it holds no timings)
        assert run(project, "-x", *reports) == 1
        out, _ = capsys.readouterr()
        assert "forgetful" in out and "remember" not in out
        assert out.splitlines()[-2:] == ["1 failed", said]
        markdown.append(files["r.md"].read_text(encoding="utf-8"))
    assert markdown[0] == markdown[1]
    before = {name: path.read_text(encoding="utf-8") for name, path in files.items()}
    data = json.loads(before["r.json"])
    assert list(data) == ["summary", "not_run", "scenarios"]
    assert data["not_run"] == {"count": 1, "reason": "stopped at the first failure (-x)"}
    assert data["summary"]["failed"] == 1 and len(data["scenarios"]) == 1
    assert before["r.md"].splitlines()[2:5] == [
        "**1 failed**",
        "",
        "Stopped at the first failure (-x): 1 scenario run(s) not run.",
    ]
    assert f'<p class="muted" id="not-run">{said}</p>' in before["r.html"]
    assert run(project, *reports) == 1  # everything ran: nothing said, no key
    out, _ = capsys.readouterr()
    assert out.splitlines()[-1] == "1 passed, 1 failed"
    assert list(json.loads(files["r.json"].read_text(encoding="utf-8"))) == ["summary", "scenarios"]
    assert "not run" not in files["r.md"].read_text(encoding="utf-8")
    assert 'id="not-run"' not in files["r.html"].read_text(encoding="utf-8")


def test_report_writes_json(project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    assert run(project, "--report", str(report)) == 1
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["summary"] == {"passed": 1, "failed": 1, "xfailed": 0, "xpassed": 0, "error": 0}
    by_name = {s["scenario"]: s for s in data["scenarios"]}
    assert set(by_name) == {"scenarios/remember.yaml", "scenarios/forgetful.yaml"}
    assert by_name["scenarios/remember.yaml"]["turns"][0]["blocks"]["human"] == "Name: Bob\nAzin"
    assert by_name["scenarios/forgetful.yaml"]["failures"][0].endswith("block 'human' does not contain 'Carol'")


def test_a_scenario_mistake_exits_2_with_a_located_message(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = project.write_scenario("bad", "agent: chat\nturns:\n  - user: hi\n    expect: {blocks: {human: {}}}\n")
    assert run(project, str(bad)) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing else was asked for: nothing ran
    assert (
        err == f"error: {bad}:4:23: turns[0].expect.blocks.human: give at least one check: equals, contains, "
        "not_contains, matches, max_length, json, json_length, unchanged, judge\n"
    )


def test_several_mistakes_are_listed_together(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    bad = project.write_scenario("bad", "agent: chat\nturn: [{user: hi}]\nxfial: oops\n")
    assert run(project, str(bad)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 3 problems\n")
    assert f"  {bad}:2:1: turn: unknown key 'turn'; did you mean 'turns'?" in err
    assert f"  {bad}:3:1: xfial: unknown key 'xfial'; did you mean 'xfail'?" in err
    assert f"  {bad}:1:1: turns: required key is missing" in err
    assert "Traceback" not in err


def test_a_scenario_file_with_a_mistake_fails_alone_the_others_run_and_the_run_exits_2(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """One bad scenario never costs the suite its results: each file is checked before anything runs, the
    valid ones run, the mistakes are listed last (where a CI log is read) and in the report, exit 2."""
    wrong = project.write_scenario(
        "zzz_wrong", "agent: chat\nturns:\n  - user: hi\n    expect: {blocks: {tasks: {json: []}}}\n"
    )
    report = tmp_path / "report.json"
    assert run(project, "--report", str(report)) == 2
    out, err = capsys.readouterr()
    assert "scenarios/remember.yaml   chat   1      2      PASS" in out
    assert "1 passed, 1 failed, 1 error" in out  # forgetful.yaml fails its check; counted as the reports count
    assert "scenarios/zzz_wrong.yaml  -      -      -      ERROR   -" in out
    assert err.startswith("note: 1 scenario file(s) with mistakes will not run (listed at the end); the others run\n")
    assert err.endswith(
        f"\nerror: {wrong}:4:23: turns[0].expect.blocks.tasks: agent 'chat' has no block 'tasks'; "
        "its blocks: persona, human\n"
    )
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["summary"] == {"passed": 1, "failed": 1, "xfailed": 0, "xpassed": 0, "error": 1}
    entry = next(s for s in data["scenarios"] if s["scenario"] == "scenarios/zzz_wrong.yaml")
    assert entry["outcome"] == "error" and "has no block 'tasks'" in entry["failures"][0]
    project.write_scenario("zzz_wrong", "agent: nobody\nturns: [{user: hi}]\n")
    assert run(project) == 2
    assert "agent: no agent named 'nobody'; defined: chat" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["2025-02-30", "2025-02-11T25:00:00Z", "9" * 5000])
def test_a_value_yaml_types_but_python_cannot_build_fails_only_its_scenario_file(
    project: Project, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """PyYAML raises a bare ValueError for an impossible date or an integer past Python's digit limit: that
    scenario file is a located mistake, the others still run."""
    wrong = project.write_scenario("zzz_wrong", f"agent: chat\ndescription: {value}\nturns:\n  - user: hi\n")
    assert run(project) == 2
    out, err = capsys.readouterr()
    assert "scenarios/remember.yaml   chat   1      2      PASS" in out
    assert "scenarios/zzz_wrong.yaml  -      -      -      ERROR   -" in out
    assert f"error: {wrong}:2:14: " in err and err.endswith("; quote it to keep it as text\n")
    assert "Traceback" not in err


def test_a_missing_path_or_agents_file_exits_2(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(project, str(project.root / "nope.yaml")) == 2
    assert "nope.yaml: no such scenario file or folder" in capsys.readouterr().err
    assert main(["run", "--agents", str(project.root / "missing.yaml")]) == 2
    assert "missing.yaml: file not found" in capsys.readouterr().err


def test_defaults_to_agents_yaml_in_the_working_folder(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    assert main(["run", "scenarios/remember.yaml"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 passed"


def test_xfail_counts_as_ok(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    forgetful = project.scenario_path("forgetful")
    forgetful.write_text(forgetful.read_text() + "xfail: the model does not store names\n")
    assert run(project) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 passed, 1 xfailed"


def test_a_stale_cassette_exits_1_with_the_record_command(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    path = project.scenario_path("remember")
    path.write_text(path.read_text().replace("Azin.", "Azim."))
    assert run(project, str(path)) == 1
    err = capsys.readouterr().err
    # the cassette as the report's `cassette` field says it: the same text from any checkout
    assert "the cassette cassettes/remember.yaml has no recorded response for turn 1, step 1" in err
    assert "    +Hi! My name is Azim." in err.splitlines()
    assert f"  re-record with: harness record --agents {project.agents} {path}" in err.splitlines()


def test_record_then_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path, {"remember": REMEMBER})
    cassettes = tmp_path / "tapes"
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(
            ["record", "--agents", str(project.agents), "--cassettes", str(cassettes), "--base-url", server.base_url]
        )
    assert code == 0
    assert len(server.received) == 2
    _out, err = capsys.readouterr()
    assert f"[1/1] recording {project.scenario_path('remember')} ..." in err
    assert "  turn 1 step 1: core_memory_append\n  turn 1 step 2: send_message\n" in err  # progress, step by step
    assert (cassettes / "remember.yaml").exists()
    assert main(["run", "--agents", str(project.agents), "--cassettes", str(cassettes)]) == 0
    assert run(project) == 1  # the default cassette folder holds nothing


def test_record_failures_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path, {"forgetful": FORGETFUL})
    with FakeOpenAI(list(FORGETFUL_RESPONSES)) as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 1
    assert "does not contain 'Carol'" in capsys.readouterr().err


def test_unplayed_interactions_fail_the_scenario(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    cassette = project.cassettes / "remember.yaml"
    data = yaml.safe_load(cassette.read_text())
    extra = json.loads(json.dumps(data["interactions"][0]))  # the first request: stored whole
    extra["request"]["body"] = extra["request"]["body"].replace("Azin", "Nobody")
    data["interactions"].append(extra)
    cassette.write_text(yaml.safe_dump(data))
    assert run(project, str(project.scenario_path("remember"))) == 1
    out, err = capsys.readouterr()
    assert "holds 1 recorded interaction(s) this run never asked for (indexes [2])" in err
    assert out.splitlines()[-1] == "1 failed"


def test_an_unreadable_cassette_errors_that_scenario_only(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    broken = project.cassettes / "forgetful.yaml"
    broken.write_text("interactions: [\n", encoding="utf-8")
    assert run(project) == 1
    out, err = capsys.readouterr()
    rows = {line.split()[0]: line.split()[4] for line in out.splitlines()[2:4]}
    assert rows == {"scenarios/forgetful.yaml": "ERROR", "scenarios/remember.yaml": "PASS"}
    assert out.splitlines()[-1] == "1 passed, 1 error"
    scenario = project.scenario_path("forgetful")
    assert f"error: {scenario}:4: cassettes/forgetful.yaml is not a readable cassette (ParserError: " in err
    assert "Traceback" not in err
    assert broken.read_text(encoding="utf-8") == "interactions: [\n"


def test_an_unreadable_cassette_is_named_from_the_projects_root_in_reports_with_the_command_that_records_it(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from another folder with absolute paths: the failure named the cassette by its absolute path, the
    one failure without a file:line, and told `harness record --mode all` with no scenario to record."""
    (project.cassettes / "remember.yaml").write_text("interactions: [\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    scenario = project.scenario_path("remember")
    assert run(project, str(scenario), "--report", "r.json") == 1
    (failure,) = json.loads((elsewhere / "r.json").read_text(encoding="utf-8"))["scenarios"][0]["failures"]
    assert failure.startswith("error: scenarios/remember.yaml:4: cassettes/remember.yaml is not a readable cassette (")
    told = failure.split("record it anew with: ")[1]
    assert shlex.split(told) == ["harness", "record", "--mode", "all", "--agents", str(project.agents), str(scenario)]
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        assert main([*shlex.split(told)[1:], "--base-url", server.base_url]) == 0
    assert run(project, str(scenario)) == 0


def test_an_unreadable_cassette_a_scenario_names_is_located_at_its_cassette_key(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_scenario("other", FORGETFUL.replace("agent: chat\n", "agent: chat\ncassette: shared.yaml\n"))
    (project.cassettes / "shared.yaml").write_text("interactions: [\n", encoding="utf-8")
    assert run(project, str(project.scenario_path("other"))) == 1
    assert (
        f"error: {project.scenario_path('other')}:2: cassettes/shared.yaml is not a readable" in capsys.readouterr().err
    )


# ---------------------------------------------------------------- recording never destroys work silently


def record(project: Project, base_url: str, *args: str) -> int:
    return main(["record", "--agents", str(project.agents), "--base-url", base_url, *args])


def test_record_by_default_keeps_cassettes_that_still_match(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harness record` with no flags must not re-record a suite recorded from the real model."""
    cassette = project.cassettes / "remember.yaml"
    before = cassette.read_bytes()
    with FakeOpenAI([]) as server:
        assert record(project, server.base_url, str(project.scenario_path("remember"))) == 0
    assert server.received == []
    assert cassette.read_bytes() == before
    assert "cassettes/remember.yaml: unchanged (2 interaction(s) still match)" in capsys.readouterr().err


ERROR_CAUSES = json.loads(
    (Path(__file__).parents[1] / "llm" / "provider_bodies" / "error_causes.json").read_text(encoding="utf-8")
)["cases"]


@pytest.mark.parametrize(
    "case", [c for c in ERROR_CAUSES if c["cause"] is not None], ids=lambda c: c["provider"].partition(":")[0]
)
def test_an_error_that_says_nothing_about_the_model_never_replaces_a_good_cassette(
    project: Project, capsys: pytest.CaptureFixture[str], case: dict[str, object]
) -> None:
    """Gemini's bad key (HTTP 400), Groq's tier limit (413), DeepSeek's empty balance (402), a proxy's HTML
    page, a model name the endpoint does not know (400 at DeepSeek, Mistral, OpenRouter): `record --mode
    all` keeps the cassette's old takes, and the error says what to check. A model name the endpoint does not
    know (a `--model` typo, recorded in the default mode as a new conversation) is the user's: exit 2."""
    cassette = project.cassettes / "remember.yaml"
    before = cassette.read_bytes()
    body = json.dumps(case["json"]) if "json" in case else str(case["text"])
    kind = "application/json" if "json" in case else "text/html"
    model = ["--model", "mistral-larg-latest"] if case["cause"] == "model" else ["--mode", "all"]
    with FakeOpenAI([Raw(body, int(str(case["status"])), kind)]) as server:
        code = record(project, server.base_url, *model, str(project.scenario_path("remember")))
    err = capsys.readouterr().err
    assert cassette.read_bytes() == before
    assert "cassettes/remember.yaml: " not in err  # neither replaced nor updated
    hint = {
        "key": "refused the API key from $OPENAI_API_KEY",
        "account": "check the account's balance, billing or plan",
        "limit": "a limit of the account's tier or of the server",
        "page": "a proxy or gateway in between?",
        "model": "check the model name 'mistral-larg-latest': the endpoint does not know it",
    }[str(case["cause"])]
    assert hint in err
    if case["cause"] == "model":
        assert code == 2
        assert err.splitlines()[-1].startswith(
            "error: the model endpoint does not know the model 'mistral-larg-latest': check the name given to --model"
        )
    else:
        assert code == 1
    assert "Traceback" not in err


def test_an_error_about_what_the_request_said_is_recorded_as_the_models_answer(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """A context overflow (OpenAI's 400 context_length_exceeded) is the conversation's doing: recorded, and
    replayed to the same error."""
    (case,) = [c for c in ERROR_CAUSES if c["provider"].startswith("OpenAI: the conversation")]
    with FakeOpenAI([Raw(json.dumps(case["json"]), 400)]) as server:
        code = record(project, server.base_url, "--mode", "all", str(project.scenario_path("remember")))
    assert code == 1
    assert "cassettes/remember.yaml: replaced (1 interaction(s) recorded again)" in capsys.readouterr().err
    assert run(project, str(project.scenario_path("remember"))) == 1
    assert "answered HTTP 400: This model's maximum context length is 128000 tokens" in capsys.readouterr().err


def test_record_mode_all_says_which_cassettes_it_replaced(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        assert record(project, server.base_url, "--mode", "all", str(project.scenario_path("remember"))) == 0
    assert len(server.received) == 2
    assert "cassettes/remember.yaml: replaced (2 interaction(s) recorded again)" in capsys.readouterr().err


def test_record_a_missing_cassette_says_it_is_new(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path, {"remember": REMEMBER})
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        assert record(project, server.base_url) == 0
    assert "cassettes/remember.yaml: new cassette (2 interaction(s))" in capsys.readouterr().err


@pytest.mark.parametrize("existing_mode", [None, 0o644, 0o600])
def test_recorded_cassettes_honour_the_umask_and_an_existing_files_mode(
    tmp_path: Path, existing_mode: int | None
) -> None:
    import os

    project = make_project(tmp_path, {"remember": REMEMBER})
    cassette = project.cassettes / "remember.yaml"
    if existing_mode is not None:
        cassette.parent.mkdir(parents=True)
        cassette.write_text("", encoding="utf-8")
        cassette.chmod(existing_mode)
    old_umask = os.umask(0o027)
    try:
        with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
            assert record(project, server.base_url, "--mode", "all") == 0
    finally:
        os.umask(old_umask)
    assert cassette.stat().st_mode & 0o777 == (0o640 if existing_mode is None else existing_mode)
    assert [p.name for p in cassette.parent.iterdir()] == ["remember.yaml"]  # no temporary file left


@pytest.mark.parametrize("where", ["missing/report.json", "."])
def test_a_report_path_that_cannot_be_written_fails_before_the_run(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    target = tmp_path / where
    with FakeOpenAI([]) as server:
        assert record(project, server.base_url, "--mode", "all", "--report", str(target)) == 2
    assert server.received == []
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: --report {target}: ")


def test_a_report_over_a_file_the_run_reads_is_refused_before_the_run(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--report agents.yaml` (a slip of the shell's completion) must not replace the agents file, nor `--html`
    a cassette; a report elsewhere in the scenarios folder that is not YAML is fine."""
    cassette = project.cassettes / "remember.yaml"
    targets = {
        "--report": (project.agents, "the agents file"),
        "--html": (cassette, f"a YAML file in the cassette folder {project.cassettes}"),
        "--summary-md": (project.scenario_path("remember"), "a YAML file in the scenarios folder"),
    }
    for flag, (path, what) in targets.items():
        before = path.read_bytes()
        assert run(project, flag, str(path)) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"error: {flag} {path}: that is {what}")
        assert path.read_bytes() == before
    assert run(project, "--report", str(project.root / "scenarios" / "report.json")) == 1  # forgetful fails
    assert (project.root / "scenarios" / "report.json").is_file()


@pytest.mark.parametrize(
    ("flag", "example"), [("--report", "report.json"), ("--html", "report.html"), ("--summary-md", "summary.md")]
)
def test_an_empty_report_name_is_a_mistake_not_no_report(
    project: Project, capsys: pytest.CaptureFixture[str], flag: str, example: str
) -> None:
    """`--report "$REPORT"` with the variable unset must not pass as a run that wrote nothing."""
    assert run(project, flag, "") == 2
    assert capsys.readouterr().err == f"error: {flag} '': give a file name, e.g. {example}\n"


def test_two_conversations_in_one_cassette_are_a_mistake_one_conversation_checked_twice_is_not(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recording either of two scenarios sharing a cassette dropped the other's exchanges (record --mode new
    keeps only what the run used); the same turns with other checks share one fine."""
    project.write_scenario("again", REMEMBER.replace("agent: chat", "agent: chat\ncassette: remember.yaml"))
    again = project.scenario_path("again")
    again.write_text(again.read_text().replace("contains: Azin", "not_contains: Bob"), encoding="utf-8")
    assert main(["validate", "--agents", str(project.agents)]) == 0
    capsys.readouterr()
    project.write_scenario("other", FORGETFUL.replace("agent: chat", "agent: chat\ncassette: remember.yaml"))
    assert main(["validate", "--agents", str(project.agents)]) == 2
    err = capsys.readouterr().err
    assert f"{project.scenario_path('other')}:2:1: cassette: shares its cassette " in err
    assert f"{project.scenario_path('again')}, which has another conversation" in err  # the first to name it


def test_a_cassette_folder_that_is_a_file_exits_2_before_the_run(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(project, "--cassettes", str(project.agents)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: the cassette folder {project.agents} is a file: give a folder (--cassettes)\n"


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every atomic write fails as on a full disk (ENOSPC), where it syncs the file before renaming it."""
    import errno
    import os

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)


def test_reports_a_full_disk_refuses_are_said_in_one_line_each_and_exit_1(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk at the end of a run gave a traceback through write_atomically; the scenarios passed, so
    the exit code must still say the reports are missing."""
    monkeypatch.chdir(tmp_path)
    for name in ("r.json", "r.html", "r.md"):
        Path(name).write_text("old", encoding="utf-8")
    _full_disk(monkeypatch)
    remember = str(project.scenario_path("remember"))
    assert run(project, remember, "--report", "r.json", "--html", "r.html", "--summary-md", "r.md") == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "1 passed"
    assert err.splitlines() == [
        f"error: {name}: cannot write: No space left on device; the file is left as it was"
        for name in ("r.json", "r.html", "r.md")
    ]
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_file()) == ["r.html", "r.json", "r.md"]
    assert all(Path(name).read_text(encoding="utf-8") == "old" for name in ("r.json", "r.html", "r.md"))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full (a device that is always full)")
def test_a_step_summary_a_full_disk_refuses_is_said_in_one_line(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "/dev/full")
    assert run(project, str(project.scenario_path("remember")), "--report", "/dev/full") == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: /dev/full: cannot write: No space left on device; the file is left as it was",
        "error: $GITHUB_STEP_SUMMARY /dev/full: cannot write: No space left on device; the job's summary misses "
        "this run",
    ]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full (a device that is always full)")
def test_a_summary_does_not_link_an_html_report_a_full_disk_refused(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Markdown summary and the job's page, written after it, linked the HTML report that was never
    written."""
    page = tmp_path / "page.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(page))
    summary = tmp_path / "summary.md"
    remember = str(project.scenario_path("remember"))
    assert run(project, remember, "--html", "/dev/full", "--summary-md", str(summary)) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: /dev/full: cannot write: No space left on device; the file is left as it was"
    ]
    for written in (summary, page):
        text = written.read_text(encoding="utf-8")
        assert "1 passed" in text and "HTML report" not in text


def test_a_cassette_a_full_disk_refuses_is_named_with_why_and_keeps_its_old_takes(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "the harness failed on this scenario: OSError: [Errno 28] ...", naming neither the file nor
    the disk."""
    cassette = project.cassettes / "remember.yaml"
    before = cassette.read_bytes()
    _full_disk(monkeypatch)
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "--mode", "all",
                     str(project.scenario_path("remember"))])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert f"error: {cassette}: cannot write: No space left on device; the cassette keeps its old takes" in err
    assert "the harness failed" not in err and "Traceback" not in err
    assert cassette.read_bytes() == before
    assert not [path for path in project.cassettes.iterdir() if path.name.endswith(".tmp")]


def test_a_cassette_a_full_disk_refuses_in_a_worker_is_named_too(project: Project, tmp_path: Path) -> None:
    """`-j 2`: the workers are processes of their own, so the disk is filled for the whole command (a file
    size limit, which fails a write as a full disk does)."""
    import os
    import resource
    import subprocess

    cassette = project.cassettes / "remember.yaml"
    before = cassette.read_bytes()
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "record", "--agents", str(project.agents), "--base-url",
             server.base_url, "--mode", "all", "-j", "2", str(project.scenario_path("remember"))],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200)),
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"{cassette}: cannot write: File too large; the cassette keeps its old takes" in done.stderr
    assert "the harness failed" not in done.stderr and "Traceback" not in done.stderr
    assert cassette.read_bytes() == before


# ---------------------------------------------------------------- CLI habits


def test_no_scenarios_exits_5_like_pytest(project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A CI job pointed at the wrong folder must not pass green."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(project, str(empty)) == 5
    assert capsys.readouterr().err == f"no scenarios in {empty}\n"
    assert run(project, "-k", "nothing_is_called_this") == 5
    assert "no scenarios selected by -k 'nothing_is_called_this'" in capsys.readouterr().err
    # the reports asked for are written all the same, saying so (a CI step reading one found no file)
    report, html = tmp_path / "r.json", tmp_path / "r.html"
    assert run(project, "-k", "nothing_is_called_this", "--report", str(report), "--html", str(html)) == 5
    assert json.loads(report.read_text(encoding="utf-8"))["scenarios"] == []
    assert "<!DOCTYPE html>" in html.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ("remember", ["remember"]),
        ("REMEMBER", ["remember"]),
        ("not remember", ["forgetful"]),
        ("remember or forgetful", ["forgetful", "remember"]),
        ("scenarios and (rem or forg) and not forgetful", ["remember"]),
        ("not " * 100 + "forgetful", ["forgetful"]),  # as deep as it goes
    ],
)
def test_k_selects_scenarios_by_path(
    project: Project, capsys: pytest.CaptureFixture[str], expression: str, selected: list[str]
) -> None:
    run(project, "-k", expression)
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines()[2:] if line.startswith("scenarios/")]
    assert rows == [f"scenarios/{name}.yaml" for name in selected]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("remember and", "at column 13: expected a word, 'not' or '(', found the end"),
        ("(remember", "at column 10: expected ')', found the end"),
        ("remember forgetful", "at column 10: expected 'and', 'or' or the end, found 'forgetful'"),
        ("or x", "at column 1: expected a word, 'not' or '(', found 'or'"),
        ("not " * 1000 + "x", "at column 401: expected at most 100 nested 'not' and '(', found 'not'"),
        ("(" * 5000 + "x" + ")" * 5000, "at column 101: expected at most 100 nested 'not' and '(', found '('"),
    ],
)
def test_a_broken_k_expression_is_a_located_mistake(
    project: Project, capsys: pytest.CaptureFixture[str], expression: str, message: str
) -> None:
    assert run(project, "-k", expression) == 2
    assert capsys.readouterr().err == f"error: -k {expression!r}: {message}\n"


def test_colour_only_on_a_terminal_without_no_color(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    run(project)
    assert "\x1b[" not in capsys.readouterr().out  # captured: not a terminal
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    run(project)
    out = capsys.readouterr().out
    assert "\x1b[32mPASS\x1b[0m" in out and "\x1b[31mFAIL\x1b[0m" in out
    monkeypatch.setenv("NO_COLOR", "1")
    run(project)
    assert "\x1b[" not in capsys.readouterr().out


# ---------------------------------------------------------------- --html, --summary-md, --twice


def test_html_writes_one_self_contained_page(project: Project, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert run(project, "--html", str(page)) == 1
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "http" not in text.replace(str(project.root), "")
    assert "<b>1</b> passed</li>" in text and "<b>1</b> failed</li>" in text
    assert '<a href="#s1">scenarios/forgetful.yaml</a>' in text
    assert '<details class="scenario failed" id="s1" data-outcome="failed" open>' in text


def test_html_and_markdown_mask_secrets(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "Carol")  # a value of the environment's secret variables
    page, summary = tmp_path / "report.html", tmp_path / "summary.md"
    assert run(project, "--html", str(page), "--summary-md", str(summary)) == 1
    for path in (page, summary):
        text = path.read_text(encoding="utf-8")
        assert "Carol" not in text and MASK.strip("<>") in text  # escaped as HTML or Markdown


def test_summary_md_counts_failures_and_links_the_html(project: Project, tmp_path: Path) -> None:
    (tmp_path / "html").mkdir()
    page, summary = tmp_path / "html" / "report.html", tmp_path / "summary.md"
    assert run(project, "--html", str(page), "--summary-md", str(summary)) == 1
    text = summary.read_text(encoding="utf-8")
    assert "**1 passed, 1 failed**" in text
    assert (
        "| `scenarios/forgetful.yaml` | failed | `scenarios/forgetful.yaml:7` "
        "`turns[0].expect.blocks.human.contains`: block 'human' does not contain 'Carol' |" in text
    )
    assert text.splitlines()[-1] == "[HTML report](html/report.html)"


def test_the_github_step_summary_is_appended_to(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert run(project) == 1
    assert run(project, str(project.scenario_path("remember"))) == 0
    text = target.read_text(encoding="utf-8")
    assert text.count("## harness scenarios") == 2  # one a run, appended
    assert "**1 passed, 1 failed**" in text and "**1 passed**" in text
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "gone" / "step.md"))
    assert run(project) == 2  # checked before the run
    assert "error: $GITHUB_STEP_SUMMARY " in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--html", "--summary-md"])
def test_a_report_file_that_cannot_be_written_fails_before_the_run(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    target = tmp_path / "missing" / "out"
    assert run(project, flag, str(target)) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing ran
    assert err == f"error: {flag} {target}: the folder {target.parent} does not exist; create it first\n"


def test_twice_passes_when_both_replays_agree(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(project, "--twice", str(project.scenario_path("remember"))) == 0
    err = capsys.readouterr().err
    assert err == "the second replay gave the same report for 1 scenario(s), timings aside\n"
    assert run(project, "--twice") == 1  # a failing scenario still fails, determinism aside
    assert "the second replay gave the same report for 2 scenario(s)" in capsys.readouterr().err


def test_twice_fails_naming_the_scenario_and_field_that_differ(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tool whose result changes from call to call (a clock, a counter) makes replay non-deterministic: the
    scenario passes each time, but not the same way."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the tool's folder goes on the path: restored after
    module = "counting_tool_for_twice"
    (project.root / f"{module}.py").write_text(
        textwrap.dedent(
            '''
            import itertools

            _calls = itertools.count(1)


            def note(text: str) -> str:
                """Note something down.

                Args:
                    text: what to note
                """
                return f"note {next(_calls)}: {text}"
            '''
        ),
        encoding="utf-8",
    )
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(agents.replace("core_memory_replace]", f'core_memory_replace, "{module}:note"]'))
    project.write_scenario("noting", "agent: chat\nturns:\n  - user: note it\n")
    noting = str(project.scenario_path("noting"))
    try:
        # no heartbeat: the turn ends after the call, so the result never reaches a recorded request
        project.record("noting", [completion(call("note", {"text": "x", "request_heartbeat": False}))])
        assert run(project, noting) == 0
        capsys.readouterr()
        assert run(project, "--twice", noting) == 1
    finally:
        sys.modules.pop(module, None)
    out, err = capsys.readouterr()
    assert "PASS" in out
    assert err.startswith("error: the second replay differs from the first (not deterministic):\n")
    assert (
        '  scenarios/noting.yaml: turns[0].steps[0].tool_calls[0].result: "note 3: x" in the first run, '
        '"note 4: x" in the second' in err.splitlines()
    )


def test_twice_and_html_with_repeats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each repeat replays from its own cassette, in both runs; the page gets the pass^k table."""
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    with FakeOpenAI([*REMEMBER_RESPONSES, *REMEMBER_RESPONSES]) as server:
        assert record(project, server.base_url, "--repeat", "2") == 0
    capsys.readouterr()
    page = tmp_path / "report.html"
    assert run(project, "--twice", "--html", str(page)) == 0
    assert capsys.readouterr().err == "the second replay gave the same report for 2 scenario(s), timings aside\n"
    text = page.read_text(encoding="utf-8")
    assert '<table id="reliability">' in text
    assert '<a href="#s2">scenarios/remember.yaml #2</a>' in text


WRECK_TOOLS = '''
import asyncio


class Cancelling:
    def __getattr__(self, name):
        raise asyncio.CancelledError()


def wreck(agent_state) -> str:
    """Break the agent's state (a tool's bug).

    Returns:
        str: what it did.
    """
    agent_state.memory = None
    return "wrecked"


def curse(agent_state) -> str:
    """Break the agent's state with an object that raises a BaseException when read.

    Returns:
        str: what it did.
    """
    agent_state.memory = Cancelling()
    return "cursed"
'''


def test_an_exception_nothing_expected_errors_that_scenario_and_the_others_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At -j 1 as in -j N's worker processes: one scenario's crash is that scenario's error, never the suite's
    (it was a traceback that ended the command, with no summary and the later scenarios never run)."""
    project = make_project(tmp_path, {"a_wreck": "agent: wrecker\nturns:\n  - user: go\n", "remember": REMEMBER})
    (tmp_path / "wrecktools.py").write_text(WRECK_TOOLS)
    with project.agents.open("a") as agents:
        agents.write("  wrecker:\n    system: You break things.\n    tools: [send_message, 'wrecktools:wreck']\n")
    wreck = completion(call("wreck", {"request_heartbeat": True}))
    with FakeOpenAI([wreck, *REMEMBER_RESPONSES]) as server:
        code = main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "--mode", "all"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out + err
    assert "a_wreck.yaml: the harness failed on this scenario: AttributeError: " in err
    assert out.splitlines()[-1] == "1 passed, 1 error"
    assert not (project.cassettes / "a_wreck.yaml").exists()  # a run that crashed records nothing
    assert (project.cassettes / "remember.yaml").exists()
    assert main(["run", "--agents", str(project.agents), str(project.scenario_path("remember"))]) == 0


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_base_exception_nothing_expected_errors_that_scenario_and_the_others_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    """Any BaseException of the user's code (asyncio.CancelledError here, raised by what a tool left in the
    agent's state, after its call) is that scenario's error: at -j 1 only Exception and SystemExit were,
    and this ended the command with a traceback, no summary, the later scenarios never run; a `-j N`
    worker died of it, with a traceback."""
    project = make_project(tmp_path, {"a_curse": "agent: curser\nturns:\n  - user: go\n", "remember": REMEMBER})
    (tmp_path / "wrecktools.py").write_text(WRECK_TOOLS)
    with project.agents.open("a") as agents:
        agents.write("  curser:\n    system: You break things.\n    tools: [send_message, 'wrecktools:curse']\n")
    fake = (
        FakeByContent()
        .script("go", completion(call("curse", {"request_heartbeat": True})))
        .script("Hi! My name is Azin.", *REMEMBER_RESPONSES)
    )
    with fake as server:
        code = main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "-j", jobs])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out + err
    assert "a_curse.yaml: the harness failed on this scenario: CancelledError: " in err
    assert out.splitlines()[-1] == "1 passed, 1 error"
    assert (project.cassettes / "remember.yaml").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('cassette: "' + "a" * 300 + '.yaml"\n', "is 305 bytes long: at most 200 for a cassette"),
        ('cassette: "a\\x00b"\n', "holds a NUL character"),
        ("cassette: " + "d" * 300 + "/x.yaml\n", "is 300 bytes long"),
        ("models: [" + "m" * 250 + "]\n", "bytes long: at most 200 for a cassette"),
    ],
    ids=["long-name", "nul", "long-folder", "long-model-name"],
)
def test_a_cassette_path_no_file_system_takes_is_a_located_mistake(
    project: Project, capsys: pytest.CaptureFixture[str], extra: str, message: str
) -> None:
    """They were OSError / ValueError tracebacks out of `run` (and `validate` said ok)."""
    project.write_scenario("odd", "agent: chat\n" + extra + "turns:\n  - user: hi\n")
    for command in ("validate", "run"):
        assert main([command, "--agents", str(project.agents), str(project.scenario_path("odd"))]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert f"{project.scenario_path('odd')}:" in err


def test_replaying_from_a_cassette_folder_that_does_not_exist_says_so_first(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in --cassettes failed every scenario as not recorded, with nothing pointing at the typo."""
    code = main(["run", "--agents", str(project.agents), "--cassettes", str(project.root / "casettes")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("note: there is no cassette folder ") and "casettes" in err.splitlines()[0]
    assert main(["run", "--agents", str(project.agents), str(project.scenario_path("remember"))]) == 0
    assert "note:" not in capsys.readouterr().err


def test_recording_one_scenario_into_a_cassette_another_owns_is_refused_though_the_other_is_not_run(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harness record scenarios/other.yaml` would overwrite remember's recording: refused before any call."""
    project.write_scenario("other", FORGETFUL.replace("agent: chat", "agent: chat\ncassette: remember.yaml"))
    before = (project.cassettes / "remember.yaml").read_bytes()
    code = main(["record", "--agents", str(project.agents), "--base-url", "http://127.0.0.1:9/v1",
                 str(project.scenario_path("other"))])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "cassette: shares its cassette " in err and "remember.yaml, which has another conversation" in err
    assert (project.cassettes / "remember.yaml").read_bytes() == before
    assert (
        main(["run", "--agents", str(project.agents), str(project.scenario_path("other"))]) != 2
    )  # replaying: no harm


def test_recording_into_a_folder_that_takes_no_file_is_refused_before_any_request(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Told at the first save, after every live request was made (and paid for)."""
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(["record", "--agents", str(project.agents), "--base-url", server.base_url,
                     "--cassettes", "/proc/harness-cassettes", "--mode", "all"])  # fmt: skip
    assert code == 2
    assert server.received == []
    err = capsys.readouterr().err
    assert err.startswith(
        "error: the cassette folder /proc/harness-cassettes: cannot create a file in the folder /proc"
    )


def test_two_reports_into_one_file_are_a_mistake(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    """The Markdown summary replaced the HTML report, then linked to itself."""
    out = project.root / "r.out"
    assert run(project, "--html", str(out), "--summary-md", str(out)) == 2
    assert capsys.readouterr().err == f"error: --html and --summary-md name one file, {out}: give each report its own\n"
    assert not out.exists()
    assert run(project, "--report", "/dev/null", "--html", "/dev/null") in (0, 1)  # a device takes both


def test_the_default_scenario_folder_gives_the_paths_it_would_as_typed(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no PATH the failures named absolute paths (reports changed with the checkout's location), with
    `scenarios/` relative ones, and pytest's are relative."""
    monkeypatch.chdir(project.root)
    said = []
    for given in ([], ["scenarios"]):
        assert main(["run", *given]) == 1
        said.append(capsys.readouterr().err)  # the failures, explained
    assert said[0] == said[1]
    assert str(project.root) not in said[0]
    assert "scenarios/forgetful.yaml:" in said[0]


def test_the_report_is_the_same_from_a_subfolder(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The failure lines located the scenario by the path as typed there (`forgetful.yaml:5: ...` from
    scenarios/), where the report's other fields name it from the project's root."""
    reports = []
    for folder, typed in (("", "scenarios/forgetful.yaml"), ("scenarios", "forgetful.yaml")):
        monkeypatch.chdir(project.root / folder)
        report = project.root / f"report-{folder or 'root'}.json"
        assert main(["run", "--agents", str(project.agents), typed, "--report", str(report)]) == 1
        data = json.loads(report.read_text(encoding="utf-8"))
        for entry in data["scenarios"]:
            entry.pop("timing")
        reports.append(data)
    assert reports[0] == reports[1]
    assert reports[0]["scenarios"][0]["failures"][0].startswith("scenarios/forgetful.yaml:")
    capsys.readouterr()


def test_the_record_command_told_is_one_a_shell_takes_whatever_the_path(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scenario file named with a space: the command told to record it was two arguments once pasted."""
    spaced = project.scenario_path("remember").with_name("my remember.yaml")
    spaced.write_text(project.scenario_path("remember").read_text(encoding="utf-8"), encoding="utf-8")
    assert run(project, str(spaced)) == 1
    told = next(line for line in capsys.readouterr().err.splitlines() if "record it with: " in line)
    assert shlex.split(told.split("record it with: ")[1]) == [
        "harness",
        "record",
        "--agents",
        str(project.agents),
        str(spaced),
    ]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_record_command_told_carries_the_options_given_and_works_from_where_it_was_started(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, jobs: str
) -> None:
    """From a subfolder with `--agents ../agents.yaml --cassettes ../tapes`, the commands told were `harness
    record fresh.yaml` and `harness record remember.yaml`, which look for an agents file there and find none;
    pytest's hint carried its options already. Under -j 2 the workers tell the same."""
    project.write_scenario("fresh", "agent: chat\nturns:\n  - user: hello\n    expect: {reply: {equals: hi!}}\n")
    (project.root / "cassettes").rename(project.root / "tapes")
    stale = project.scenario_path("remember")
    stale.write_text(stale.read_text().replace("Azin.", "Azim."))
    monkeypatch.chdir(project.root / "scenarios")
    options = ["--agents", "../agents.yaml", "--cassettes", "../tapes"]
    assert main(["run", *options, "-j", jobs, "fresh.yaml", "remember.yaml"]) == 1
    err = capsys.readouterr().err.splitlines()
    told = [line.split(" with: ", 1)[1] for line in err if "record it with: " in line or "re-record with: " in line]
    told.sort()  # under -j 2, in the order the workers finish
    assert [shlex.split(command) for command in told] == [
        ["harness", "record", *options, "fresh.yaml"],
        ["harness", "record", *options, "remember.yaml"],
    ]
    with FakeOpenAI([completion(content="hi!")]) as server:
        assert main([*shlex.split(told[0])[1:], "--base-url", server.base_url]) == 0
    assert main(["run", *options, "fresh.yaml"]) == 0


def test_a_report_goes_into_a_pipe_through_dev_stdout(project: Project) -> None:
    """`harness run --report /dev/stdout | jq`: the link resolves to no path (`pipe:[n]`), and the report was
    refused as a file its folder (/proc/<pid>/fd) could not take."""
    import subprocess
    import sys

    code = "import sys\nfrom harness.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    for flag in ("--report", "--html"):
        args = ["run", "--agents", str(project.agents), str(project.scenario_path("remember")), flag, "/dev/stdout"]
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert ('"scenario": "scenarios/remember.yaml"' if flag == "--report" else "<!DOCTYPE html>") in done.stdout


HANGING_TOOLS = '''
import os
import time


def lookup(key: str) -> str:
    """Look a key up in a service that may never answer.

    Args:
        key: the key.
    """
    if os.environ.get("HANG_LOOKUP"):
        time.sleep(3600)
    return "found"
'''

LOOKUP = """
agent: looker
turns:
  - user: "Look up k1."
"""


def test_a_tool_that_never_returns_fails_its_scenario_in_bounded_time_and_the_others_run(tmp_path: Path) -> None:
    """Recorded with a tool that answered, replayed with it hanging: `harness run` hung for ever, no
    summary, the other scenarios never run. Past `tool_timeout` the call fails with Letta's text, the
    conversation is no longer the recorded one (stale), and the run goes on. (In a child process: a hang
    must not hang the tests.)"""
    import os
    import subprocess

    from tests.helpers import ROOT

    project = make_project(tmp_path, {"a_lookup": LOOKUP, "remember": REMEMBER})
    (tmp_path / "lookuptools.py").write_text(HANGING_TOOLS)
    with project.agents.open("a") as agents:
        agents.write(
            "  looker:\n    system: You look things up.\n    tool_timeout: 1\n"
            "    tools: [send_message, 'lookuptools:lookup']\n"
        )
    looked = [completion(call("lookup", {"key": "k1", "request_heartbeat": True})), completion(content="Found it.")]
    with FakeOpenAI([*looked, *REMEMBER_RESPONSES]) as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HANG_LOOKUP": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--agents", str(project.agents), "--report", "r.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-1] == "1 passed, 1 failed"
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    looked_up = next(entry for entry in report["scenarios"] if entry["scenario"].endswith("a_lookup.yaml"))
    assert looked_up["turns"][0]["steps"][0]["tool_calls"][0]["result"] == (
        "Error executing function lookup: TimeoutError: Executing tool lookup timed out after 1.0 seconds."
    )


CHATTY_TOOLS = '''
import sys


def lookup(key: str) -> str:
    """Look a key up, printing as it goes.

    Args:
        key: the key.
    """
    print(f"debug: looking up {key}")
    print("warning: cache cold", file=sys.stderr)
    return "found"
'''


def test_what_a_tool_prints_stays_out_of_the_console_and_is_kept_in_the_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Letta captures its sandbox's output into the call's stdout and stderr; the harness let it through to
    its console, into the results table. The reports keep it with the call; the model never sees it."""
    project = make_project(tmp_path, {"chatty": "agent: looker\nturns:\n  - user: Look up k1.\n"})
    (tmp_path / "chattytools.py").write_text(CHATTY_TOOLS)
    with project.agents.open("a") as agents:
        agents.write("  looker:\n    system: You look things up.\n    tools: [send_message, 'chattytools:lookup']\n")
    looked = [completion(call("lookup", {"key": "k1", "request_heartbeat": True})), completion(content="Found.")]
    with FakeOpenAI(looked) as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 0
    capsys.readouterr()
    report, html = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["run", "--agents", str(project.agents), "--report", str(report), "--html", str(html)]) == 0
    out, err = capsys.readouterr()
    assert "debug:" not in out + err and "cache cold" not in out + err
    [entry] = json.loads(report.read_text(encoding="utf-8"))["scenarios"]
    [lookup] = entry["turns"][0]["steps"][0]["tool_calls"]
    assert (lookup["stdout"], lookup["stderr"]) == ("debug: looking up k1\n", "warning: cache cold\n")
    assert "found" in lookup["result"] and "debug" not in json.dumps(entry["turns"][0]["messages"])
    page = html.read_text(encoding="utf-8")
    assert "<b>stdout:</b> <pre>debug: looking up k1\n</pre>" in page


@pytest.mark.parametrize("command", [["record", "--mode", "all"], ["run", "--live"]])
def test_recording_one_scenario_beside_another_whose_cassette_leaves_the_folder_tells_that_one_located(
    project: Project, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """The project's other scenarios are looked at when recording (whose cassette would be overwritten);
    one with `cassette: ../elsewhere.yaml` crashed the command with a traceback, recording nothing."""
    bad = project.write_scenario("bad", FORGETFUL.replace("agent: chat", "agent: chat\ncassette: ../elsewhere.yaml"))
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main([*command, "--agents", str(project.agents), "--base-url", server.base_url,
                     str(project.scenario_path("remember"))])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2
    assert f"{bad}:2:1: cassette: the cassette '../elsewhere.yaml' leads outside " in err
    assert "Traceback" not in err
    assert "1 passed" in out  # the scenario asked for was recorded
    assert not server.responses


def test_a_cassette_whose_deltas_rebuild_too_much_errors_that_scenario_only(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """8 KB of deltas each doubling the request before: the run went on until memory ran out."""
    from tests.cassettes.test_delta_bounds import doubling

    (project.cassettes / "forgetful.yaml").write_text(doubling(40), encoding="utf-8")
    assert run(project) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "1 passed, 1 error"
    assert "cassettes/forgetful.yaml is not a cassette the harness reads: interaction 21 (line 170): " in err
    assert "Traceback" not in err


CHANCE_TOOLS = '''
import random
from pathlib import Path


def draw() -> str:
    """Draw a number (as an Agent File's tool does: `random.random() > 0.5` picks a branch).

    Returns:
        str: the number drawn.
    """
    return f"{random.random():.12f}"


def read_note() -> str:
    """Read the note beside this module.

    Returns:
        str: the note.
    """
    return (Path(__file__).parent / "note.txt").read_text()
'''


def _chance_project(tmp_path: Path, tool: str) -> Project:
    project = make_project(tmp_path, {"chance": "agent: chancer\nturns:\n  - user: go\n"})
    (tmp_path / f"chance{tool}.py").write_text(CHANCE_TOOLS)  # a module of its own: imported once a name
    (tmp_path / "note.txt").write_text("first")
    with project.agents.open("a") as agents:
        agents.write(f"  chancer:\n    system: You draw.\n    tools: [send_message, 'chance{tool}:{tool}']\n")
    responses = [
        completion(call(tool, {"request_heartbeat": True})),
        completion(call("send_message", {"message": "done"})),
    ]
    with FakeOpenAI(responses) as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 0
    return project


def test_a_tool_drawing_random_numbers_replays_what_it_drew_and_leaves_randoms_state_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each run seeds Python's `random` (from its cassette and the clock's seed), recording and replay
    alike, in -j N's workers too: the outreach Agent File's `random.random() > 0.5` tool replayed one run in
    two. Whatever seeded `random` outside the run (pytest-randomly) draws on as if no run had happened."""
    import random

    random.seed(1)
    project = _chance_project(tmp_path, "draw")
    random.seed(2)  # what the tool would draw unseeded differs from the recording's
    expected = random.Random(2).random()
    assert run(project) == 0
    assert random.random() == expected
    assert run(project, "-j", "2") == 0
    capsys.readouterr()


def test_a_tool_returning_another_result_than_recorded_is_said_to_be_the_tools_doing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "the agent, its prompt or tools, the model settings or the scenario changed": the tool read a
    file that changed. `harness cassettes check` says it in the same words."""
    project = _chance_project(tmp_path, "read_note")
    (tmp_path / "note.txt").write_text("second")
    capsys.readouterr()
    assert run(project) == 1
    err = capsys.readouterr().err
    said = (
        "has no recorded response for turn 1, step 2 (the tool 'read_note' returned another result than when the "
        'cassette was recorded (recorded "first", now "second"): a tool that reads a clock, random numbers, files'
    )
    assert said in err
    assert "the scenario changed" not in err
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    out = capsys.readouterr().out
    assert "turn 1, step 2 differs (the tool 'read_note' returned another result than when the cassette" in out


def _embedding_project(tmp_path: Path, tools: str) -> Project:
    project = make_project(tmp_path, {"keep": "agent: keeper\nturns:\n  - user: keep this\n"})
    with project.agents.open("a") as agents:
        agents.write(
            "  keeper:\n    system: You keep notes.\n"
            f"    tools: [{tools}]\n"
            "    embedding:\n      name: text-embedding-3-small\n"
        )
    return project


def test_an_embedding_model_the_run_never_uses_needs_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An imported Agent File names an embedding model whatever its tools: recording a scenario that never
    embeds a text asked for OPENAI_API_KEY all the same (the chat model was on a local server)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    project = _embedding_project(tmp_path, "send_message")
    with FakeOpenAI([completion(call("send_message", {"message": "ok"}))]) as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 0
    assert [received.path for received in server.received] == ["/v1/chat/completions"]
    assert "no API key" not in capsys.readouterr().err


def test_an_embedding_model_without_its_key_names_the_agent_and_its_embedding_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    project = _embedding_project(tmp_path, "send_message, archival_memory_insert")
    line = project.agents.read_text().splitlines().index("    embedding:") + 1
    insert = completion(call("archival_memory_insert", {"content": "a note", "request_heartbeat": True}))
    with FakeOpenAI([insert]) as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 1
    err = capsys.readouterr().err
    assert (
        f"turn 1, step 1: {project.agents}:{line}: agents.keeper.embedding: agent 'keeper': no API key: set the "
        "environment variable OPENAI_API_KEY (or point `embedding.base_url` at a local OpenAI-compatible server)"
    ) in err
    assert "Traceback" not in err
