"""Shared blocks (agents.yaml `shared_blocks` + `attach_blocks`) and scenarios that drive several agents: a
primary and a sleep-time agent editing the block they share, recorded through the real stack against a
fake server and replayed offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError, ScenarioError
from harness.scenarios.results import Outcome
from tests.fakes import FakeOpenAI, Project, append, make_project, reply

AGENTS = """
defaults:
  model: {{name: fake-model-7b, base_url: "{base_url}", max_retries: 0, timeout: 10, temperature: 0}}
  tools: [send_message, core_memory_append, core_memory_replace]
  max_steps: 4
shared_blocks:
  - {{label: project, value: "Project: harness", limit: 200}}
agents:
  primary:
    system: You are the primary agent.
    blocks:
      - {{label: human, value: "Name: Bob"}}
    attach_blocks: [project]
  sleeptime:
    system: You reorganise the memory you share with the primary agent.
    blocks:
      - {{label: persona, value: "I tidy memory"}}
    attach_blocks: [project]
"""

SCENARIO = """
agent: primary
turns:
  - user: "We ship on Friday."
    expect:
      edited: {project: core_memory_append}
  - agent: sleeptime
    user: "Tidy the shared memory."
    expect:
      edited: {project: core_memory_replace}
      blocks:
        project: {contains: "Deadline: Friday"}
        persona: unchanged
  - user: "When do we ship?"
    expect:
      reply: {contains: Friday}
expect:
  blocks:
    project: {equals: "Project: harness\\nDeadline: Friday"}
    human: unchanged
"""


def shared_project(root: Path) -> Project:
    project = make_project(root)
    project.agents.write_text(AGENTS.format(base_url="http://127.0.0.1:9/v1").lstrip(), encoding="utf-8")
    project.write_scenario("shared", SCENARIO)
    return project


def replace_call(label: str, old: str, new: str) -> dict[str, object]:
    from tests.fakes import replace

    return replace(label, old, new)


RESPONSES = [
    append("project", "Ships Friday"),
    reply("Noted."),
    replace_call("project", "Ships Friday", "Deadline: Friday"),
    reply("Tidied."),
    reply("On Friday."),
]


def systems(server: FakeOpenAI) -> list[str]:
    return [r.body["messages"][0]["content"] for r in server.received]


def test_an_agent_reads_what_another_left_in_a_shared_block(tmp_path: Path) -> None:
    project = shared_project(tmp_path)
    recorded, server = project.record("shared", RESPONSES)
    assert recorded.outcome == Outcome.PASSED, recorded.explain()
    prompts = systems(server)
    assert "You reorganise" in prompts[2] and "Ships Friday" in prompts[2]  # the primary's edit, seen by the other
    assert "Name: Bob" not in prompts[2]  # the primary's own block is not shared
    assert "You are the primary" in prompts[4] and "Deadline: Friday" in prompts[4]  # and the other's, back
    assert "Ships Friday" not in prompts[4]
    assert [turn.agent for turn in recorded.turns] == [None, "sleeptime", None]
    replayed = project.replay("shared")
    assert replayed.outcome == Outcome.PASSED, replayed.explain()
    assert [t.blocks for t in replayed.turns] == [t.blocks for t in recorded.turns]


def test_a_failure_in_a_turn_another_agent_took_names_that_agent(tmp_path: Path) -> None:
    project = shared_project(tmp_path)
    project.write_scenario("shared", SCENARIO.replace('project: {contains: "Deadline: Friday"}', "project: unchanged"))
    result, _ = project.record("shared", RESPONSES)
    assert "  in turn 2 (agent sleeptime): user: 'Tidy the shared memory.'" in result.explain().splitlines()


def test_the_final_expect_looks_at_the_scenarios_own_agent(tmp_path: Path) -> None:
    project = shared_project(tmp_path)
    project.write_scenario(
        "shared",
        SCENARIO.replace("expect:\n  blocks:", "expect:\n  not_tool_calls: [core_memory_replace]\n  blocks:"),
    )
    result, _ = project.record("shared", RESPONSES)
    assert result.outcome == Outcome.PASSED, result.explain()  # the replace was the sleep-time agent's


def test_the_final_edited_counts_the_other_agents_changes_of_the_blocks_it_shares(tmp_path: Path) -> None:
    """The final `edited:` looks at the whole run: it said no call changed `project` while the block's history
    (and `unchanged`) showed the sleep-time agent's replace. The other agent's own block of the same label
    (`human` here, not shared) is not the scenario agent's: its changes do not count."""
    project = shared_project(tmp_path)
    project.agents.write_text(
        project.agents.read_text().replace('{label: persona, value: "I tidy memory"}', '{label: human, value: "x"}')
    )
    scenario = SCENARIO.replace("        persona: unchanged\n", "")
    project.write_scenario(
        "shared", scenario + "  edited: {project: [core_memory_append, core_memory_replace], human: false}\n"
    )
    responses = [*RESPONSES[:3], append("human", "tidied"), *RESPONSES[3:]]
    result, _ = project.record("shared", responses)
    assert result.outcome == Outcome.PASSED, result.explain()
    project.write_scenario("shared", scenario + "  edited: {project: false}\n")
    (failure,) = project.replay("shared").failures
    assert failure.message == "block 'project' was changed by core_memory_append, core_memory_replace"


def test_the_final_edited_ignores_a_block_the_other_agents_share_without_the_scenarios_agent(
    tmp_path: Path,
) -> None:
    """`helper` and `other` share `team`; `primary` has its own, unshared `team`. Helper's edit of the shared
    one is not a change of primary's block, so `edited: {team: false}` holds, as `unchanged` does (it counted
    any label some agent shared with anyone once that agent had spoken)."""
    project = make_project(tmp_path)
    write_team_agents(project, '{label: team, value: "my own team notes"}')
    project.write_scenario(
        "s",
        """
agent: primary
turns:
  - user: "hello"
  - agent: helper
    user: "update the team"
expect:
  blocks:
    team: unchanged
  edited: {team: false}
""",
    )
    result, _ = project.record("s", [reply("hi"), append("team", "Team: b"), reply("done")])
    assert result.outcome == Outcome.PASSED, result.explain()


def test_a_turns_checks_are_checked_against_its_own_agent(tmp_path: Path) -> None:
    project = shared_project(tmp_path)
    project.write_scenario(
        "shared",
        """
        agent: primary
        turns:
          - agent: sleeptime
            user: hi
            expect: {blocks: {human: unchanged}}
          - agent: nobody
            user: hi
        """,
    )
    with pytest.raises(ScenarioError) as caught:
        project.runner().spec_for(project.scenario("shared"))
    messages = [(p.line, p.key, p.message) for p in caught.value.problems]
    assert (
        5,
        "turns[0].expect.blocks.human",
        "agent 'sleeptime' has no block 'human'; its blocks: persona, project",
    ) in messages
    assert (6, "turns[1].agent", "no agent named 'nobody'; defined: primary, sleeptime") in messages


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        (
            ("attach_blocks: [project]", "attach_blocks: [projct]", 1),
            "agents.primary.attach_blocks[0]",
            "no shared block 'projct'; did you mean 'project'? shared blocks: project",
        ),
        (
            ('{{label: human, value: "Name: Bob"}}', '{{label: project, value: "mine"}}', 1),
            "agents.primary.attach_blocks[0]",
            "the agent has a block 'project' of its own: give one of the two another label",
        ),
        (
            ("attach_blocks: [project]", "attach_blocks: [project, project]", 1),
            "agents.primary.attach_blocks[1]",
            "'project' is attached twice",
        ),
        (
            (
                '  - {{label: project, value: "Project: harness", limit: 200}}',
                '  - {{label: project, value: "a"}}\n  - {{label: project, value: "b"}}',
                1,
            ),
            "shared_blocks[1].label",
            "duplicate block label 'project'",
        ),
    ],
)
def test_attach_mistakes_are_located(tmp_path: Path, edit: tuple[str, str, int], key: str, message: str) -> None:
    path = tmp_path / "agents.yaml"
    old, new, count = edit
    path.write_text(AGENTS.replace(old, new, count).format(base_url="http://127.0.0.1:9/v1").lstrip())
    from harness.config import load_agents

    with pytest.raises(ConfigError) as caught:
        load_agents(path)
    assert [(p.key, p.message) for p in caught.value.problems] == [(key, message)]


def test_attached_blocks_follow_the_agents_own_and_are_marked_shared(tmp_path: Path) -> None:
    project = shared_project(tmp_path)
    spec = project.config().get("primary")
    assert [(b.label, b.shared) for b in spec.blocks] == [("human", False), ("project", True)]
    assert spec.blocks[1].limit == 200


def test_progress_numbers_steps_by_the_scenarios_turn(tmp_path: Path) -> None:
    from harness.records import StepRecord
    from harness.scenarios.runner import ScenarioRunner

    project = shared_project(tmp_path)
    seen: list[int] = []

    def on_step(step: StepRecord) -> None:
        seen.append(step.turn)

    with FakeOpenAI(list(RESPONSES)) as server:
        factory = project.runner("all", base_url=server.base_url).factory
        result = ScenarioRunner(factory, on_step=on_step).run(project.scenario("shared"))
    assert result.outcome == Outcome.PASSED, result.explain()
    assert seen == [0, 0, 1, 1, 2]  # the sleep-time agent's first turn is the scenario's second
    assert [step.turn for step in result.turns[1].result.steps] == [0, 0]  # its own records keep its count


@pytest.fixture(scope="module")
def agents_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shared") / "agents.yaml"
    path.write_text(AGENTS.format(base_url="http://127.0.0.1:9/v1").lstrip(), encoding="utf-8")
    return path


@given(writes=st.lists(st.tuples(st.sampled_from(["primary", "sleeptime"]), st.text(max_size=30)), max_size=12))
@settings(max_examples=60, deadline=None)
def test_each_agent_reads_the_value_the_last_writer_left(agents_file: Path, writes: list[tuple[str, str]]) -> None:
    """Turns in any order, each writing the shared block (or its own): before an agent acts it holds what
    the last writer of the shared block left, and its own blocks are never touched by the hand-over."""
    from harness.agent import Agent
    from harness.config import AgentsConfig, load_agents
    from harness.scenarios.sharing import SharedBlocks

    config: AgentsConfig = load_agents(agents_file)
    agents = {name: Agent(config.get(name), model=None) for name in ("primary", "sleeptime")}  # type: ignore[arg-type]
    shared = SharedBlocks(agents["primary"])
    last = "Project: harness"
    for name, value in writes:
        agent = agents[name]
        own = {k: v for k, v in agent.memory.values().items() if k != "project"}
        shared.give(agent)
        assert agent.memory.values()["project"] == last
        assert {k: v for k, v in agent.memory.values().items() if k != "project"} == own
        agent.memory.update_block_value("project", value)
        shared.take(agent)
        last = value


def test_a_blocks_history_holds_the_edits_of_that_agents_block(tmp_path: Path) -> None:
    """The sleep-time agent has a `human` block of its own (not shared) and appends to it; the primary's
    `human` fails its final check. Its history listed the sleep-time agent's append as a change of the
    primary's block, from the primary's initial value ('Name: Bob' -> 'x\\ntidied'). A turn's failure about
    the sleep-time agent's block starts from that block's value when the agent joined."""
    project = shared_project(tmp_path)
    project.agents.write_text(
        project.agents.read_text().replace('{label: persona, value: "I tidy memory"}', '{label: human, value: "x"}')
    )
    scenario = SCENARIO.replace("        persona: unchanged\n", "")
    project.write_scenario("shared", scenario)
    responses = [*RESPONSES[:3], append("human", "tidied"), *RESPONSES[3:]]
    result, _ = project.record("shared", responses)
    assert result.outcome == Outcome.PASSED, result.explain()
    project.write_scenario("shared", scenario.replace("    human: unchanged", "    human: {contains: Zed}"))
    explained = project.replay("shared").explain().splitlines()
    at = explained.index("  history of block 'human':")
    assert explained[at + 1 :] == ["    initial: 'Name: Bob'"]
    # the sleep-time agent's turn: its own block, and the shared one with the primary's edit before it joined
    checked = '        project: {contains: "Deadline: Friday"}\n'
    project.write_scenario(
        "shared", scenario.replace(checked, "        project: {contains: Zed}\n        human: {contains: Zed}\n")
    )
    explained = project.replay("shared").explain().splitlines()
    at = explained.index("  history of block 'human':")
    assert explained[at + 1] == "    initial: 'x'"
    assert explained[at + 2].startswith("    turn 2 step 2 core_memory_append(") and explained[at + 2].endswith(
        "): 'x' -> 'x\\ntidied'"
    )
    # the shared one from the scenario's start: the primary's edit before it joined, named with the primary
    at = explained.index("  history of block 'project':")
    assert explained[at + 1] == "    initial: 'Project: harness'"
    assert explained[at + 2].startswith("    turn 1 step 1 (agent primary) core_memory_append(")
    assert explained[at + 2].endswith("): 'Project: harness' -> 'Project: harness\\nShips Friday'")
    assert explained[at + 3].startswith("    turn 2 step 1 core_memory_replace(")


LATER_UNCHANGED = """
agent: primary
turns:
  - user: "We ship on Friday."
  - agent: sleeptime
    user: "Anything to tidy?"
    expect:
      edited: {project: false}
      blocks: {project: unchanged, persona: unchanged}
  - user: "Still there?"
    expect:
      blocks: {project: unchanged}
expect:
  blocks: {project: unchanged}
"""


def test_unchanged_in_a_later_agents_turn_compares_with_the_shared_blocks_value_at_the_scenarios_start(
    tmp_path: Path,
) -> None:
    """The primary appends to the shared block; the sleep-time agent, joining in turn 2, changes nothing. Its
    `project: unchanged` passed: it compared with the block as the agent joined, the primary's append in it,
    while the same check in the primary's turn 3 and the final expect failed. A change made in an earlier
    turn fails it, by whichever agent, and the history says whose it was; the joining agent's own block
    (`persona`) is compared with its value when the agent was created."""
    project = shared_project(tmp_path)
    project.write_scenario("later", LATER_UNCHANGED)
    responses = [append("project", "Ships Friday"), reply("Noted."), reply("Nothing to tidy."), reply("Yes.")]
    result, _ = project.record("later", responses)
    assert [(f.key, f.message) for f in result.failures] == [
        ("turns[1].expect.blocks.project.unchanged", "block 'project' changed since the scenario started"),
        ("turns[2].expect.blocks.project.unchanged", "block 'project' changed since the scenario started"),
        ("expect.blocks.project.unchanged", "block 'project' changed since the scenario started"),
    ]
    assert [(f.expected, f.actual) for f in result.failures] == 3 * [
        ("Project: harness", "Project: harness\nShips Friday")
    ]
    explained = project.replay("later").explain().splitlines()
    at = explained.index("  in turn 2 (agent sleeptime): user: 'Anything to tidy?'")
    history = explained[explained.index("  history of block 'project':", at) + 1 :][:2]
    assert history[0] == "    initial: 'Project: harness'"
    assert history[1].startswith("    turn 1 step 1 (agent primary) core_memory_append(")
    assert history[1].endswith("): 'Project: harness' -> 'Project: harness\\nShips Friday'")
    assert result.agent_initial_blocks == {"sleeptime": {"persona": "I tidy memory", "project": "Project: harness"}}


def test_unchanged_compares_a_block_two_later_agents_share_with_its_value_when_the_first_was_created(
    tmp_path: Path,
) -> None:
    """`helper` and `other` share `team`, which the scenario's agent does not attach: its start is its value
    when `helper` joined; `helper`'s change of it fails `other`'s `unchanged` (it passed when `other` joined
    later), and `other`'s history starts there, with `helper`'s edit."""
    project = make_project(tmp_path)
    write_team_agents(project, '{label: human, value: "Name: Bob"}')
    project.write_scenario(
        "s",
        """
agent: primary
turns:
  - user: "hello"
  - agent: helper
    user: "update the team"
  - agent: other
    user: "look at the team"
    expect:
      blocks: {team: unchanged, persona: unchanged}
""",
    )
    result, _ = project.record("s", [reply("hi"), append("team", "b"), reply("done"), reply("seen")])
    (failure,) = result.failures
    assert (failure.key, failure.expected, failure.actual) == (
        "turns[2].expect.blocks.team.unchanged",
        "Team: a",
        "Team: a\nb",
    )
    explained = result.explain().splitlines()
    at = explained.index("  history of block 'team':")
    assert explained[at + 1] == "    initial: 'Team: a'"
    assert explained[at + 2].startswith("    turn 2 step 1 (agent helper) core_memory_append(")
    assert result.agent_initial_blocks["other"] == {"persona": "I help too", "team": "Team: a"}


def test_another_agents_renaming_of_a_shared_block_is_not_in_this_agents_history(tmp_path: Path) -> None:
    """Renaming a shared block changes only the renaming agent's copy (the values alone are handed over): the
    sleep-time agent's history of `project` listed the primary's rename as a change of its own block."""
    from tests.fakes import call, completion

    project = shared_project(tmp_path)
    project.agents.write_text(
        project.agents.read_text().replace(
            "    attach_blocks: [project]\n  sleeptime:",
            "    tools: [send_message, memory]\n    attach_blocks: [project]\n  sleeptime:",
        )
    )
    project.write_scenario(
        "s",
        """
agent: primary
turns:
  - user: "Rename it."
  - agent: sleeptime
    user: "Look."
    expect:
      blocks: {project: {contains: Zed}}
""",
    )
    rename = {
        "command": "rename",
        "old_path": "/memories/project",
        "new_path": "/memories/proj",
        "request_heartbeat": True,
    }
    result, _ = project.record("s", [completion(call("memory", rename)), reply("Renamed."), reply("Seen.")])
    assert result.turns[0].blocks.get("proj") == "Project: harness", result.explain()
    explained = result.explain().splitlines()
    at = explained.index("  history of block 'project':")
    assert explained[at + 1 :] == ["    initial: 'Project: harness'"]


def write_team_agents(project: Project, primary_block: str) -> None:
    """`helper` and `other` share `team`; `primary` (the scenario's agent) holds `primary_block` alone."""
    project.agents.write_text(
        f"""
defaults:
  model: {{name: fake-model-7b, base_url: "http://127.0.0.1:9/v1", max_retries: 0, timeout: 10, temperature: 0}}
  tools: [send_message, core_memory_append]
  max_steps: 4
shared_blocks:
  - {{label: team, value: "Team: a", limit: 200}}
agents:
  primary:
    system: You are the primary agent.
    blocks:
      - {primary_block}
  helper:
    system: You help.
    blocks:
      - {{label: persona, value: "I help"}}
    attach_blocks: [team]
  other:
    system: Another helper.
    blocks:
      - {{label: persona, value: "I help too"}}
    attach_blocks: [team]
""".lstrip(),
        encoding="utf-8",
    )
