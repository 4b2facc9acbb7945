"""A model matrix (`models: [a, b]` in a scenario file): the scenario runs once per model, each with its own
cassette, side by side in the summary; replay, `cassettes check` and pytest see the same cassettes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.fakes import FakeByContent, Project, append, error_answer, make_project, reply

MATRIX = """
agent: chat
models: [small-model, org/big-model:2]
turns:
  - user: "Hi! My name is Azin."
    expect:
      blocks:
        human: {contains: Azin}
"""


def fake() -> FakeByContent:
    """The big model saves the name; the small one only chats."""
    return (
        FakeByContent()
        .script("Hi! My name is Azin.", reply("Hello!"), model="small-model")
        .script(
            "Hi! My name is Azin.", append("human", "Azin"), reply("Nice to meet you, Azin!"), model="org/big-model:2"
        )
    )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "p", {"matrix": MATRIX})


def test_each_model_records_its_own_cassette_and_replays_side_by_side(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agents = str(project.agents)
    with fake() as server:
        code = main(["record", "--agents", agents, "--base-url", server.base_url, "-j", "2", "--repeat", "2"])
    assert code == 1
    assert sorted({r.body["model"] for r in server.received}) == ["org/big-model:2", "small-model"]
    recorded = capsys.readouterr().out
    assert sorted(p.name for p in project.cassettes.iterdir()) == [
        "matrix@org_big-model_2.repeat-2.yaml",
        "matrix@org_big-model_2.yaml",
        "matrix@small-model.repeat-2.yaml",
        "matrix@small-model.yaml",
    ]
    html, markdown = tmp_path / "r.html", tmp_path / "r.md"
    code = main(
        [
            "run",
            "--agents",
            agents,
            "--report",
            str(tmp_path / "r.json"),
            "--html",
            str(html),
            "--summary-md",
            str(markdown),
        ]
    )
    assert code == 1  # offline
    out = capsys.readouterr().out
    assert out.split("\n\n")[1:] == recorded.split("\n\n")[1:]  # the counts, matrix and repeats tables
    lines = out.splitlines()
    assert lines[0].split() == ["scenario", "agent", "model", "turns", "steps", "result", "time"]
    assert [line.split()[3:7] for line in lines[2:6]] == [
        ["small-model", "1", "1", "FAIL"],
        ["small-model", "1", "1", "FAIL"],
        ["org/big-model:2", "1", "2", "PASS"],
        ["org/big-model:2", "1", "2", "PASS"],
    ]
    side_by_side = out.split("\n\n")[2].splitlines()
    assert side_by_side[0].split() == ["scenario", "small-model", "org/big-model:2"]
    assert side_by_side[2].split() == ["scenarios/matrix.yaml", "0/2", "passed", "2/2", "passed"]
    reliability = [line.split() for line in out.splitlines() if line.startswith("scenarios/matrix.yaml on ")]
    assert [row[:5] for row in reliability[:2]] == [
        ["scenarios/matrix.yaml", "on", "small-model", "0/2", "0.00"],
        ["scenarios/matrix.yaml", "on", "org/big-model:2", "2/2", "1.00"],
    ]
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [(s["model"], s["repeat"], s["outcome"]) for s in report["scenarios"]] == [
        ("small-model", 1, "failed"),
        ("small-model", 2, "failed"),
        ("org/big-model:2", 1, "passed"),
        ("org/big-model:2", 2, "passed"),
    ]
    assert "scenarios/matrix.yaml on small-model #2" in html.read_text(encoding="utf-8")
    assert "scenarios/matrix.yaml on small-model #2" in markdown.read_text(encoding="utf-8")
    assert "on org/big-model:2" not in markdown.read_text(encoding="utf-8")  # it passed: not listed
    assert main(["cassettes", "check", "--agents", agents]) == 0  # none is an orphan
    assert capsys.readouterr().out.splitlines()[-1] == "4 ok"  # each repeat checked


def test_each_models_failure_names_the_model(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    """Two models failing alike printed two identical explanations: which one failed was in the table only."""
    project.write_scenario("matrix", MATRIX.replace("contains: Azin", "contains: Carol"))
    with fake() as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 1
    capsys.readouterr()
    assert main(["run", "--agents", str(project.agents)]) == 1
    headers = [line for line in capsys.readouterr().err.splitlines() if not line.startswith(" ")]
    path = project.scenario_path("matrix")
    assert headers == [
        f"{path}: model 'small-model':",
        f"{path}:7: turns[0].expect.blocks.human.contains: block 'human' does not contain 'Carol'",
        "",
        f"{path}: model 'org/big-model:2':",
        f"{path}:7: turns[0].expect.blocks.human.contains: block 'human' does not contain 'Carol'",
        "",
    ]


def test_a_matrix_scenario_with_one_cassette_missing(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    with fake() as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 1
    (project.cassettes / "matrix@small-model.yaml").unlink()
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    out = capsys.readouterr().out
    assert "cassettes/matrix@small-model.yaml: missing (scenarios/matrix.yaml)" in out.replace(
        str(project.root) + "/", ""
    )
    assert out.splitlines()[-2] == "1 ok, 1 missing"


def test_pytest_runs_every_model_of_the_matrix(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path, {"matrix": MATRIX})
    with fake() as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 1
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["scenarios/matrix.yaml::matrix"])
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)  # the small model's run fails the file's test; the big one's passes
    result.stdout.fnmatch_lines(["*matrix.yaml: model 'small-model':", "*block 'human' does not contain 'Azin'*"])
    result.stdout.no_fnmatch_line("*model 'org/big-model:2'*")  # the run that passed is not named
    (project.cassettes / "matrix@small-model.yaml").unlink()
    project.write_scenario("matrix", MATRIX.replace("small-model, ", ""))
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ("[]", "models: List should have at least 1 item"),
        ("[a, a]", "model 'a' is listed twice (a)"),
        ("[a/b, a:b]", "model 'a:b' and 'a/b' share one cassette name (a_b)"),
        ("['']", "models[0]: is empty: give the model's name"),
        ("[a, '  ']", "models[1]: is only blanks: give the model's name"),  # it passed, and ran
    ],
)
def test_a_bad_matrix_is_a_located_mistake(
    project: Project, models: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project.write_scenario("matrix", MATRIX.replace("[small-model, org/big-model:2]", models))
    assert main(["validate", "--agents", str(project.agents)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2" in err and message in err
    assert "Traceback" not in err


def test_every_agent_of_a_matrix_run_talks_to_its_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path / "p")
    helper = "\n  helper:\n    system: You help.\n    blocks:\n      - {label: human, value: Nobody}\n"
    project.agents.write_text(project.agents.read_text(encoding="utf-8") + helper, encoding="utf-8")
    project.write_scenario(
        "two",
        "agent: chat\nmodels: [m-one, m-two]\nturns:\n  - user: Hello.\n  - agent: helper\n    user: Hi helper.\n",
    )
    fake = FakeByContent().script("Hello.", reply("Hi!")).script("Hi helper.", reply("Hello!"))
    with fake as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "-j", "2"]) == 0
    by_model = sorted((r.body["model"], r.body["messages"][-1]["content"]) for r in server.received)
    assert by_model == [("m-one", "Hello."), ("m-one", "Hi helper."), ("m-two", "Hello."), ("m-two", "Hi helper.")]
    assert "2 passed" in capsys.readouterr().out


def test_a_model_the_endpoint_does_not_know_replays_as_the_repeats_recording_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`models: [small-model, typo-model]` recorded `--repeat 3`: the typo's 3 errors wrote no cassette, so
    nothing kept its count; replay counted it 1 run, failed (pass^k over the other model alone). Replay now
    plays 3 runs not recorded, errors as the recording's were, and the figures agree."""
    project = make_project(tmp_path / "p", {"matrix": MATRIX.replace("org/big-model:2", "typo-model")})
    unknown = error_answer(404, "The model `typo-model` does not exist", "model_not_found")
    server = fake().script("Hi! My name is Azin.", unknown, model="typo-model")
    agents = str(project.agents)
    with server:
        assert main(["record", "--agents", agents, "--base-url", server.base_url, "--repeat", "3"]) == 2
    recorded = capsys.readouterr()
    path = project.scenario_path("matrix")
    assert recorded.err.splitlines()[-1] == f"  {path}:2: models[1]: 'typo-model'"  # where the name was asked for
    assert "(or a scenario's `model:`, or its `models:`, where it was asked for)" in recorded.err
    assert not list(project.cassettes.glob("matrix@typo-model*"))
    assert main(["run", "--agents", agents, "--report", str(tmp_path / "r.json")]) == 1
    replayed = capsys.readouterr().out

    def counts(out: str) -> list[str]:
        return [line for line in out.splitlines() if line[:1].isdigit()]

    assert counts(replayed) == ["3 failed, 3 error"] == counts(recorded.out)
    table = replayed.split("\n\n")[-1]  # pass^k
    assert [line.split()[:5] for line in table.splitlines() if "on typo-model  " in line] == [
        ["scenarios/matrix.yaml", "on", "typo-model", "0/3", "0.00"]
    ]
    assert table.replace("not recorded", "error") == recorded.out.split("\n\n")[-1]
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    typo = [s for s in report["scenarios"] if s["model"] == "typo-model"]
    assert [(s["repeat"], s["outcome"]) for s in typo] == [(1, "error"), (2, "error"), (3, "error")]
    entry = report["reliability"]["scenarios"][1]
    assert (entry["model"], entry["runs"], entry["failed_checks"]["3"]) == ("typo-model", 3, ["not recorded"])
