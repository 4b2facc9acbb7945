"""What a scenario's run sends and looks at, whichever file plays it."""

from __future__ import annotations

from pathlib import Path

from harness.errors import ScenarioError
from harness.scenarios.runner import ScenarioRunner
from tests.fakes import append, completion, make_project, reply

FIRST = """
agent: chat
turns:
  - user: "Hi! My name is Azin."
expect:
  blocks: {human: {contains: Azin}}
"""


def test_two_scenarios_checking_one_conversation_replay_from_one_cassette(tmp_path: Path) -> None:
    """The agent id reaches the requests (letta-v1's system message names it): named after the scenario's
    file, a second scenario over the first's cassette missed on `AGENT_ID: agent-second`, and re-recording
    it as advised made the first one stale."""
    project = make_project(tmp_path / "p", {"first": FIRST})
    project.agents.write_text(project.agents.read_text().replace("loop: harness", "loop: letta-v1"))
    recorded, server = project.record(
        "first", [append("human", "Azin"), reply("Nice to meet you, Azin!"), completion(content="Nice to meet you!")]
    )
    assert recorded.outcome == "passed"
    assert "AGENT_ID: agent-first" in server.received[0].body["messages"][0]["content"]
    project.write_scenario("second", FIRST.replace("agent: chat", "agent: chat\ncassette: first.yaml"))
    second = project.replay("second")
    assert second.stale == [] and second.unplayed == [] and second.outcome == "passed"
    assert project.replay("first").outcome == "passed"


def test_the_default_agent_id_is_the_scenario_file_stem(tmp_path: Path) -> None:
    """Every recorded cassette holds ids named after its scenario's file: they must not change."""
    project = make_project(tmp_path / "p", {"first": FIRST, "sub/second": FIRST + "cassette: other/shared.yaml\n"})
    assert ScenarioRunner.agent_id(project.scenario("first")) == "agent-first"
    assert ScenarioRunner.agent_id(project.scenario("first"), "sleeper") == "agent-first-sleeper"
    assert ScenarioRunner.agent_id(project.scenario("sub/second")) == "agent-shared"


def test_failures_are_listed_in_the_order_they_are_written(tmp_path: Path) -> None:
    """They came in the checks' registry order: the blocks check (written last) before the reply's."""
    text = FIRST.replace("expect:\n", "expect:\n  reply: {contains: Carol}\n  stop_reason: max_steps\n").replace(
        "{contains: Azin}", "{contains: Carol}"
    )
    project = make_project(tmp_path / "p", {"first": text})
    result, _ = project.record("first", [append("human", "Azin"), reply("Nice to meet you, Azin!")])
    lines = [project.scenario("first").line(failure.loc) for failure in result.failures]
    assert [failure.key for failure in result.failures] == [
        "expect.reply.contains",
        "expect.stop_reason",
        "expect.blocks.human.contains",
    ]
    assert lines == sorted(lines)


def test_a_heartbeat_argument_is_refused_for_a_loop_that_offers_none(tmp_path: Path) -> None:
    """letta-v1's tool schemas have no `request_heartbeat` (and it drops one passed anyway): a check naming
    it was validated, then could only fail once run. The letta-memgpt loop offers it, so a check may name it."""
    check = "turns[0].expect.tool_calls[0].args.request_heartbeat"
    scenario = """
        agent: chat
        turns:
          - user: hi
            expect:
              tool_calls: [{name: core_memory_append, args: {request_heartbeat: true}}]
        """
    project = make_project(tmp_path / "p", {"beat": scenario})
    for loop, refused in (("letta-v1", True), ("letta-memgpt", False), ("harness", False)):
        project.agents.write_text(project.agents.read_text().replace("loop: harness", f"loop: {loop}"))
        try:
            project.runner().spec_for(project.scenario("beat"))
            problems = []
        except ScenarioError as exc:
            problems = [(problem.key, problem.message) for problem in exc.problems]
        assert problems == (
            [(check, "tool 'core_memory_append' has no argument 'request_heartbeat'; its arguments: content, label")]
            if refused
            else []
        ), loop
        project.write_agents()
