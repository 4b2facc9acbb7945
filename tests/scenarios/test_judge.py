"""The `judge:` check: an LLM judge's exchange recorded in the scenario's cassette and replayed offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.scenarios.judge import INSTRUCTIONS, parse_verdict
from tests.fakes import REMEMBER_RESPONSES, FakeOpenAI, Project, completion, make_project

JUDGED = """
agent: chat
turns:
  - user: "Hi! My name is Azin."
    expect:
      reply: {judge: {rubric: "greets the user by the name Azin", threshold: 0.7}}
expect:
  blocks:
    human: {judge: {rubric: "records that the user is called Azin", model: judge-model}}
"""


def verdict(score: float, reason: str) -> dict[str, object]:
    return completion(content=json.dumps({"score": score, "reason": reason}))


@pytest.mark.parametrize(
    ("content", "score", "reason"),
    [
        ('{"score": 0.9, "reason": "greets Azin"}', 0.9, "greets Azin"),
        ('Sure!\n```json\n{"score": 1, "reason": "ok"}\n```', 1.0, "ok"),
        ('{"score": 7, "reason": "too keen"}', 0.0, None),  # a scale of 10: clamped, a 3 passed any threshold
        ('{"score": 1.5, "reason": "too keen"}', 0.0, None),
        ('{"score": -0.1, "reason": "too harsh"}', 0.0, None),
        ('{"score": NaN, "reason": "no idea"}', 0.0, None),
        ('{"score": 0, "reason": "wrong"}', 0.0, "wrong"),
        ('{"score": true, "reason": "a boolean is not a score"}', 0.0, None),
        ("It is fine.", 0.0, None),
        ('{"score": 0.4}', 0.4, "(no reason given)"),
    ],
)
def test_a_verdict_is_read_from_what_a_model_writes(content: str, score: float, reason: str | None) -> None:
    parsed = parse_verdict(content)
    assert parsed.score == score
    if reason is None:
        assert parsed.reason.startswith("the judge's answer is not a verdict: ")
    else:
        assert parsed.reason == reason


def record(project: Project, answers: list[dict[str, object]]) -> FakeOpenAI:
    with FakeOpenAI(answers) as server:
        project.runner("all", base_url=server.base_url).run(project.scenario("judged"))
    return server


def test_judges_are_recorded_in_the_cassette_and_replay_offline(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"judged": JUDGED})
    server = record(project, [*REMEMBER_RESPONSES, verdict(0.9, "greets Azin"), verdict(0.2, "Azin is missing")])
    judge_requests = [r.body for r in server.received if "tools" not in r.body]
    assert [r["model"] for r in judge_requests] == ["fake-model-7b", "judge-model"]  # the judge model is pinned
    assert judge_requests[0]["messages"][0]["content"] == INSTRUCTIONS
    assert judge_requests[0]["temperature"] == 0.0
    assert "Rubric: greets the user by the name Azin" in judge_requests[0]["messages"][1]["content"]
    assert "Text (block 'human'):\nName: Bob\nAzin" in judge_requests[1]["messages"][1]["content"]

    replayed = project.replay("judged")  # offline: the verdicts come from the cassette
    assert replayed.stale == [] and replayed.unplayed == []
    (failure,) = replayed.failures
    assert failure.key == "expect.blocks.human.judge"
    assert failure.message == (
        "the judge scored block 'human' 0.2, below 0.5, against the rubric 'records that the user is called Azin': "
        "Azin is missing"
    )
    # the block's value, not a diff against the rubric as if the rubric were the text expected
    assert failure.detail() == ["actual:   'Name: Bob\\nAzin'"]


def test_a_changed_rubric_is_a_miss_like_any_other(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"judged": JUDGED})
    record(project, [*REMEMBER_RESPONSES, verdict(0.9, "greets Azin"), verdict(1, "recorded")])
    assert project.replay("judged").outcome == "passed"
    project.write_scenario("judged", JUDGED.replace("greets the user", "welcomes the user"))
    result = project.replay("judged")
    assert result.outcome == "failed"
    assert result.stale[0].startswith(f"{project.scenario_path('judged')}:5: turns[0].expect.reply.judge: ")
    assert "has no recorded answer for a check of turn 1" in result.stale[0]
    assert any("welcomes the user" in line for line in result.stale)


def test_a_score_below_the_threshold_fails_with_the_judges_reason(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"judged": JUDGED})
    record(project, [*REMEMBER_RESPONSES, verdict(0.6, "says hi, no name"), verdict(1, "recorded")])
    (failure,) = project.replay("judged").failures
    assert failure.key == "turns[0].expect.reply.judge"
    assert failure.message == (
        "the judge scored the reply 0.6, below 0.7, against the rubric 'greets the user by the name Azin': "
        "says hi, no name"
    )
    assert failure.detail() == ["actual:   'Nice to meet you, Azin!'"]


@pytest.mark.parametrize("status", [500, 401, 400])
def test_the_judges_endpoint_failing_is_located_and_only_a_recorded_error_is_kept(tmp_path: Path, status: int) -> None:
    """A 400 is the endpoint's answer (recorded, replayed); a 401 or 5xx is the endpoint failing (the
    recording keeps the cassette's old takes). Both say which check, at its line and key, as an agent's failing
    step is located: it said only the file."""
    from tests.fakes import Raw

    project = make_project(tmp_path / "p", {"judged": JUDGED})
    record(project, [*REMEMBER_RESPONSES, verdict(0.9, "greets Azin"), verdict(1, "recorded")])
    good = (project.cassettes / "judged.yaml").read_bytes()
    failing = Raw(json.dumps({"error": {"message": "judge down", "type": "server_error"}}), status)
    with FakeOpenAI([*REMEMBER_RESPONSES, failing]) as server:
        result = project.runner("all", base_url=server.base_url).run(project.scenario("judged"))
    assert result.outcome == "error"
    assert result.error is not None and result.error.startswith(
        f"{project.scenario_path('judged')}:5: turns[0].expect.reply.judge: a check of turn 1 (its judge): "
    )
    kept = (project.cassettes / "judged.yaml").read_bytes()
    assert (kept != good) if status == 400 else (kept == good)


def test_every_verdict_is_kept_with_the_result_a_passing_ones_too(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"judged": JUDGED})
    record(project, [*REMEMBER_RESPONSES, verdict(0.7, "greets Azin, barely"), verdict(0.2, "Azin is missing")])
    result = project.replay("judged")
    passed, failed = result.judgements
    assert (passed.loc, passed.what, passed.score, passed.threshold, passed.passed) == (
        ("turns", 0, "expect", "reply", "judge"),
        "the reply",
        0.7,
        0.7,
        True,
    )
    assert passed.said() == (
        "turns[0].expect.reply.judge: the reply scored 0.7 >= 0.7 against the rubric "
        "'greets the user by the name Azin': greets Azin, barely"
    )
    assert (failed.what, failed.score, failed.passed, failed.reason) == ("block 'human'", 0.2, False, "Azin is missing")
    assert [f.key for f in result.failures] == ["expect.blocks.human.judge"]  # the failure as ever
