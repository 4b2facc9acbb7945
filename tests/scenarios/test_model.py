"""Scenario files: validation errors are located (file:line, dotted key, valid keys) and collected together."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pydantic
import pytest

from harness.archival import Seed
from harness.errors import Problem, ScenarioError
from harness.scenarios.checks import (
    EXPECT_CHECKS,
    VALUE_CHECKS,
    BlockChecksWire,
    Blocks,
    ExpectWire,
    StopReasonIs,
    ToolCalls,
    ToolCallWire,
)
from harness.scenarios.checks.text import compiles
from harness.scenarios.model import Scenario, TurnWire, check_against_agent, load_scenario

LABELS = ["persona", "human"]
AGENTS = ["chat", "task_agent"]


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[Problem]:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert all(p.file == str(path) for p in info.value.problems)
    return info.value.problems


def by_key(problems: list[Problem]) -> dict[str, Problem]:
    return {p.key: p for p in problems}


def loaded(tmp_path: Path, text: str) -> Scenario:
    return load_scenario(write(tmp_path, text))


def agent_problems(scenario: Scenario, labels: list[str] = LABELS, agents: list[str] = AGENTS) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        check_against_agent(scenario, labels, agents)
    return info.value.problems


# ------------------------------------------------------------------ a valid file


def test_valid_scenario_loads_with_its_name_turns_and_checks(tmp_path: Path) -> None:
    scenario = loaded(
        tmp_path,
        """
        agent: chat
        description: stores the name
        blocks: {human: "First met today."}
        max_steps: 3
        turns:
          - user: "Hi, I am Azin"
            expect:
              tool_calls: [core_memory_append, {name: send_message, args: {message: hi}}]
              not_tool_calls: [core_memory_replace]
              blocks:
                human: {contains: [Azin, First], not_contains: Bob, matches: "A.in", max_length: 100}
                persona: unchanged
              reply: {equals: hi}
              stop_reason: replied
          - user: bye
        expect:
          blocks:
            human: {json: null, json_length: 0}
        xfail: the model forgets
    """,
    )
    assert scenario.name == "scenario"
    assert [t.user for t in scenario.turns] == ["Hi, I am Azin", "bye"]
    checks = {check.key: check for check in scenario.turns[0].checks}
    assert list(checks) == ["tool_calls", "not_tool_calls", "blocks", "reply", "stop_reason"]  # registry order
    assert isinstance(checks["tool_calls"], ToolCalls)
    assert checks["tool_calls"].loc == ("turns", 0, "expect", "tool_calls")
    assert checks["tool_calls"].value == [
        ToolCallWire(name="core_memory_append"),
        ToolCallWire(name="send_message", args={"message": "hi"}),
    ]
    blocks = checks["blocks"]
    assert isinstance(blocks, Blocks)
    human = {check.key: check.value for check in blocks.checks["human"]}
    assert human == {"contains": ["Azin", "First"], "not_contains": "Bob", "matches": "A.in", "max_length": 100}
    assert [(c.key, c.value) for c in blocks.checks["persona"]] == [("unchanged", True)]
    assert isinstance(checks["stop_reason"], StopReasonIs) and checks["stop_reason"].value == "replied"
    assert scenario.turns[1].checks == ()
    assert scenario.max_steps == 3
    assert scenario.xfail == "the model forgets"
    (final,) = scenario.checks
    assert isinstance(final, Blocks)
    # `json: null` is a real check (the value must be JSON null), not an absent one
    assert [(c.key, c.value) for c in final.checks["human"]] == [("json", None), ("json_length", 0)]
    assert [c.loc for c in final.checks["human"]] == [
        ("expect", "blocks", "human", "json"),
        ("expect", "blocks", "human", "json_length"),
    ]
    check_against_agent(scenario, LABELS, AGENTS)  # every reference resolves: no error


def test_a_snapshot_in_a_turns_expect_is_a_located_mistake_the_schema_does_not_offer(tmp_path: Path) -> None:
    """It validated, then failed at run time ("snapshots can only be checked in the final `expect:`")."""
    (problem,) = problems_of(tmp_path, "agent: chat\nturns:\n  - user: hi\n    expect:\n      snapshot: true\n")
    assert (problem.key, problem.line) == ("turns[0].expect.snapshot", 5)
    assert problem.message.startswith("'snapshot' is not a key here: a snapshot is checked in the final `expect:`")
    turn = TurnWire.model_json_schema()["$defs"]["TurnExpect"]["properties"]
    assert list(turn) == [key for key in EXPECT_CHECKS if key != "snapshot"]
    loaded(tmp_path, "agent: chat\nturns:\n  - user: hi\nexpect:\n  snapshot: true\n")  # where it belongs


def test_the_schema_is_generated_from_the_check_registries() -> None:
    schema = ExpectWire.model_json_schema()
    assert list(schema["properties"]) == list(EXPECT_CHECKS)
    bare, full = schema["$defs"]["BlockChecks"]["anyOf"]  # `human: unchanged`, or the checks
    assert bare == {"const": "unchanged"}
    block_checks = full["properties"]
    assert list(block_checks) == list(VALUE_CHECKS)  # `json` by its YAML name
    reply_checks = schema["$defs"]["ReplyChecks"]["properties"]
    assert "contains" in reply_checks and "json" not in reply_checks and "unchanged" not in reply_checks
    assert block_checks["json_length"]["description"] == VALUE_CHECKS["json_length"].description


def test_name_defaults_to_the_file_stem_and_can_be_given(tmp_path: Path) -> None:
    path = write(tmp_path, "agent: chat\nturns: [{user: hi}]\n", name="remember_name.yml")
    assert load_scenario(path).name == "remember_name"
    assert load_scenario(path, name="chat/remember_name").name == "chat/remember_name"


def test_line_locates_keys_in_the_file(tmp_path: Path) -> None:
    scenario = loaded(
        tmp_path,
        """
        agent: chat
        turns:
          - user: first
          - user: second
            expect:
              blocks:
                human: {contains: x}
    """,
    )
    assert scenario.line(("agent",)) == 1
    assert scenario.line(("turns", 1, "user")) == 4
    assert scenario.line(("turns", 1, "expect", "blocks", "human", "contains")) == 7
    # a key that is not in the file falls back to its deepest written ancestor
    assert scenario.line(("turns", 0, "expect", "reply")) == 3


# ------------------------------------------------------------------ located errors, all at once


def test_misspelt_keys_are_all_reported_with_line_key_valid_keys_and_a_suggestion(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        agent: chat
        descripton: typo at the top
        turns:
          - user: hi
            expect:
              tool_call: [send_message]
              blocks:
                human: {contans: Azin}
          - usr: bye
    """,
    )
    found = by_key(problems)
    top = found["descripton"]
    assert top.line == 2
    assert "unknown key 'descripton'" in top.message
    assert "did you mean 'description'?" in top.message
    valid = "valid keys: agent, description, blocks, archival, max_steps, turns, simulate, expect, xfail, cassette"
    assert valid in top.message

    expect_key = found["turns[0].expect.tool_call"]
    assert expect_key.line == 6
    assert "did you mean 'tool_calls'?" in expect_key.message
    assert "valid keys: tool_calls, not_tool_calls, blocks, reply, stop_reason" in expect_key.message

    block_key = found["turns[0].expect.blocks.human.contans"]
    assert block_key.line == 8
    assert "did you mean 'contains'?" in block_key.message
    # the alias `json`, not the Python field name, is what the user is told to write
    valid = block_key.message.split("valid keys: ")[1].split(", ")
    assert "json" in valid and "json_" not in valid

    turn_key = found["turns[1].usr"]
    assert turn_key.line == 9
    assert "did you mean 'user'?" in turn_key.message
    assert found["turns[1].user"].message == "required key is missing"


@pytest.mark.parametrize(
    ("tool_calls", "key", "meant", "valid"),
    [
        (
            "{mode: exact, calls: [x], args_mtach: exact}",
            "tool_calls.args_mtach",
            "args_match",
            "mode, calls, args_match",
        ),
        ("{mode: exact, calls: [{name: x, agrs: {}}]}", "tool_calls.calls[0].agrs", "args", "name, args, args_match"),
        ("[{name: x, agrs: {}}]", "tool_calls[0].agrs", "args", "name, args, args_match"),
    ],
)
def test_an_unknown_key_in_either_form_of_tool_calls_lists_the_valid_ones(
    tmp_path: Path, tool_calls: str, key: str, meant: str, valid: str
) -> None:
    """The mapping form said "valid keys: " and nothing (its union's branches are tagged `Annotated`s)."""
    (problem,) = problems_of(
        tmp_path, f"agent: chat\nturns:\n  - user: hi\n    expect:\n      tool_calls: {tool_calls}\n"
    )
    assert problem.key == f"turns[0].expect.{key}"
    assert f"unknown key '{key.rsplit('.', 1)[1]}'; did you mean '{meant}'?" in problem.message
    assert f"valid keys: {valid}" in problem.message


def test_error_text_is_file_line_column_key_message(tmp_path: Path) -> None:
    path = write(tmp_path, "agent: chat\nturns:\n  - user: hi\n    expct: {}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}:4:5: turns[0].expct: unknown key 'expct'; did you mean 'expect'?")


def test_a_key_far_from_any_valid_one_gets_no_suggestion(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "agent: chat\nturns: [{user: hi}]\nzzzzqqq: 1\n")
    assert problem.key == "zzzzqqq"
    assert "did you mean" not in problem.message
    assert "valid keys: agent, description" in problem.message


def test_value_errors_name_the_bad_value_and_the_allowed_ones(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        agent: chat
        max_steps: 0
        turns:
          - user: hi
            expect:
              stop_reason: finished
              blocks:
                human: {max_length: -1, json_length: many}
              not_tool_calls: send_message
    """,
    )
    found = by_key(problems)
    assert found["max_steps"].line == 2 and "greater than or equal to 1" in found["max_steps"].message
    stop = found["turns[0].expect.stop_reason"]
    assert stop.line == 6
    allowed = "'replied', 'no_heartbeat', 'no_tool_call', 'max_steps', 'refused', 'length', 'content_filter'"
    assert f"{allowed}, 'invalid_answer' or 'no_tools_left'" in stop.message
    assert "(got 'finished')" in stop.message
    assert "greater than or equal to 0" in found["turns[0].expect.blocks.human.max_length"].message
    assert found["turns[0].expect.blocks.human.json_length"].message == "expected an integer, not the text 'many'"
    assert "valid list" in found["turns[0].expect.not_tool_calls"].message


def test_missing_required_keys_and_empty_turns(tmp_path: Path) -> None:
    found = by_key(problems_of(tmp_path, "description: nothing else\n"))
    assert found["agent"].message == "required key is missing"
    assert found["turns"].message == "required key is missing"
    (empty,) = problems_of(tmp_path, "agent: chat\nturns: []\n")
    assert (empty.key, empty.line) == ("turns", 2)
    assert "at least 1 item" in empty.message


@pytest.mark.parametrize("key", sorted(EXPECT_CHECKS))
@pytest.mark.parametrize("where", ["turn", "run"])
def test_a_check_key_left_empty_is_a_located_mistake(tmp_path: Path, key: str, where: str) -> None:
    """`blocks:` with nothing under it was read as a check of nothing: a traceback for some checks (the
    whole run ended), a silent pass for others."""
    if where == "turn":
        text, line, prefix = f"agent: chat\nturns:\n  - user: hi\n    expect:\n      {key}:\n", 5, "turns[0].expect"
    else:
        text, line, prefix = f"agent: chat\nturns:\n  - user: hi\nexpect:\n  {key}:\n", 5, "expect"
    problems = problems_of(tmp_path, text)
    assert [(p.key, p.line) for p in problems] == [(f"{prefix}.{key}", line)], problems


@pytest.mark.parametrize(
    ("text", "key", "line", "says"),
    [
        ("turns:\n  - user: hi\n    expect:\n", "turns[0].expect", 4, "`expect:` left empty checks nothing"),
        ("turns:\n  - user: hi\n    expect: {}\n", "turns[0].expect", 4, "an empty `expect:` checks nothing"),
        ("turns:\n  - user: hi\nexpect:\n", "expect", 4, "`expect:` left empty checks nothing"),
        ("turns:\n  - user: hi\nexpect:\n  # reply: {contains: x}\n", "expect", 4, "left empty"),
    ],
)
def test_an_empty_expect_is_a_located_mistake(tmp_path: Path, text: str, key: str, line: int, says: str) -> None:
    """An `expect:` whose last check is commented out checked nothing and passed."""
    problems = problems_of(tmp_path, "agent: chat\n" + text)
    assert [(p.key, p.line) for p in problems] == [(key, line)], problems
    assert says in problems[0].message and "(and would pass)" in problems[0].message


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("xfail: ''\nturns: [{user: hi}]\n", "xfail", "give the reason this scenario is expected to fail"),
        ("xfail:\nturns: [{user: hi}]\n", "xfail", "give the reason"),  # was read as no xfail at all
        ('xfail: "  \\t "\nturns: [{user: hi}]\n', "xfail", "give the reason"),  # was "expected to fail (  )"
        (
            "turns: [{user: hi}]\nexpect: {recall: {query: x, roles: []}}\n",
            "expect.recall.roles",
            "every role, not none",
        ),
        (
            "turns: [{user: hi}]\nexpect: {evictions: {turns: [99]}}\n",
            "expect.evictions.turns[0]",
            "the scenario has 1 turn",
        ),
        (
            "turns: [{user: hi}, {user: ho, expect: {evictions: {turns: [1]}}}]\n",
            "turns[1].expect.evictions.turns[0]",
            "a turn's `expect:` sees its own evictions only (turn 2's)",
        ),
        (
            "simulate: {persona: p, goal: g, stop_when: ''}\n",
            "simulate.stop_when",
            '"" is in every reply, so the conversation would end after the first',
        ),
        (
            "simulate: {persona: p, goal: g, max_turns: 3}\nexpect: {evictions: {turns: [4]}}\n",
            "expect.evictions.turns[0]",
            "the scenario has 3 turn(s)",
        ),
    ],
)
def test_what_could_only_mislead_is_a_located_mistake(tmp_path: Path, text: str, key: str, says: str) -> None:
    """An empty xfail reason, `roles: []` (which meant every role), a simulated user stopping at "" (after
    the first reply, whatever it said), evictions in a turn never played."""
    problems = problems_of(tmp_path, "agent: chat\n" + text)
    assert [problem.key for problem in problems] == [key], problems
    assert says in problems[0].message


def test_evictions_in_turns_the_scenario_plays_are_kept(tmp_path: Path) -> None:
    scenario = loaded(
        tmp_path,
        "agent: chat\nturns: [{user: a}, {user: b, expect: {evictions: {turns: [2]}}}]\n"
        "expect: {evictions: {turns: [1, 2]}}\n",
    )
    assert [(check.key, check.value.turns) for check in scenario.turns[1].checks] == [("evictions", [2])]
    assert [(check.key, check.loc, check.value.turns) for check in scenario.checks] == [
        ("evictions", ("expect", "evictions"), [1, 2])
    ]


@pytest.mark.parametrize("key", sorted(key for key in VALUE_CHECKS if key != "json"))  # `json:` alone: JSON null
def test_a_value_check_left_empty_is_a_located_mistake(tmp_path: Path, key: str) -> None:
    text = f"agent: chat\nturns:\n  - user: hi\n    expect:\n      blocks:\n        human:\n          {key}:\n"
    problems = problems_of(tmp_path, text)
    assert [(p.key, p.line) for p in problems] == [(f"turns[0].expect.blocks.human.{key}", 7)], problems


def test_a_document_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "- user: hi\n- user: bye\n")
    assert problem.line == 1
    assert problem.message == "should be a mapping (`key: value` lines), not a list"


def test_invalid_yaml_is_located(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "agent: chat\nturns:\n  - user: [unclosed\n")
    assert problem.line is not None and problem.line >= 3
    assert problem.message.startswith("invalid YAML")


def test_duplicate_keys_are_an_error_not_silently_overwritten(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "agent: chat\nturns: [{user: hi}]\nagent: other\n")
    assert (problem.key, problem.line, problem.message) == ("agent", 3, "duplicate key")


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "absent.yaml")


# ------------------------------------------------------------------ block checks


def test_unchanged_shorthand_is_the_unchanged_check(tmp_path: Path) -> None:
    scenario = loaded(
        tmp_path,
        """
        agent: chat
        turns: [{user: hi}]
        expect:
          blocks:
            persona: unchanged
            human: {unchanged: true, contains: Bob}
    """,
    )
    (blocks,) = scenario.checks
    assert isinstance(blocks, Blocks)
    assert [(c.key, c.value) for c in blocks.checks["persona"]] == [("unchanged", True)]
    assert [(c.key, c.value) for c in blocks.checks["human"]] == [("contains", "Bob"), ("unchanged", True)]
    assert BlockChecksWire.model_validate("unchanged") == BlockChecksWire.model_validate({"unchanged": True})


def test_a_misspelt_shorthand_is_an_error(tmp_path: Path) -> None:
    (problem,) = problems_of(
        tmp_path,
        """
        agent: chat
        turns: [{user: hi}]
        expect:
          blocks:
            persona: unchnaged
    """,
    )
    assert (problem.key, problem.line) == ("expect.blocks.persona", 5)
    assert "'unchnaged'" in problem.message


def test_a_block_check_with_no_checks_is_an_error(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        agent: chat
        turns:
          - user: hi
            expect:
              blocks:
                persona: {}
                human: null
    """,
    )
    found = by_key(problems)
    empty = found["turns[0].expect.blocks.persona"]
    assert empty.line == 6
    assert empty.message == f"give at least one check: {', '.join(VALUE_CHECKS)}"
    assert "turns[0].expect.blocks.human" in found
    with pytest.raises(pydantic.ValidationError, match="give at least one check"):
        BlockChecksWire.model_validate({})


def test_invalid_regular_expressions_are_errors(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """
        agent: chat
        turns:
          - user: hi
            expect:
              blocks:
                human: {matches: "(unclosed"}
              reply: {matches: "[a-"}
        expect:
          blocks:
            human: {matches: "^ok$"}
    """,
    )
    found = by_key(problems)
    assert set(found) == {"turns[0].expect.blocks.human.matches", "turns[0].expect.reply.matches"}
    block = found["turns[0].expect.blocks.human.matches"]
    assert block.line == 6
    assert block.message.startswith("invalid regular expression: ")
    assert "missing )" in block.message
    assert found["turns[0].expect.reply.matches"].line == 7


@pytest.mark.parametrize(
    ("pattern", "said"),
    [
        ("(?:" * 250 + "a" + ")" * 250, "its groups are nested too deep to compile"),  # regex: RecursionError
        ("a{4294967296}", "the repetition number is too large (the most is 4,294,967,294)"),  # re: OverflowError
        ("(?:a{1000}){1000}", "written out, it is 1,001,001 pieces"),  # regex: 275 MB; {60000}{60000} 5.7 GB
        ("b{100000}", "it is 100,001 pieces"),
    ],
)
def test_a_pattern_python_cannot_compile_is_a_located_error_whatever_it_raises(
    tmp_path: Path, pattern: str, said: str
) -> None:
    """Python raises more than re.error for a pattern it cannot compile, and `regex` writes out each copy
    a repeat asks for: each is the user's mistake at the pattern's line, found without compiling it."""
    (problem,) = problems_of(
        tmp_path, f"agent: chat\nturns:\n  - user: hi\nexpect:\n  reply: {{matches: '{pattern}'}}\n"
    )
    assert (problem.key, problem.line) == ("expect.reply.matches", 5)
    assert problem.message.startswith("invalid regular expression: ")
    assert said in problem.message


def test_a_pattern_within_the_pieces_limit_compiles() -> None:
    """The limit counts the copies a repeat must match, not the ones it may: these are all fine."""
    from harness.scenarios.checks.text import _pieces

    for pattern in ("b{99999}", "(?:ab){0,4294967294}", "(?:a{1000}){1,1000}", "(?:a|bc){3}" * 1000):
        assert compiles(pattern) == pattern
    assert _pieces("(?:a|bc){3}") == 1 + 3 * (1 + 1 + 2)  # the repeat, then 3 x (the branch, a, b c)


def test_reply_checks_do_not_accept_block_only_keys(tmp_path: Path) -> None:
    (problem,) = problems_of(
        tmp_path,
        """
        agent: chat
        turns:
          - user: hi
            expect:
              reply: {json: 1}
    """,
    )
    assert problem.key == "turns[0].expect.reply.json"
    assert "valid keys: equals, contains, not_contains, matches, max_length" in problem.message


def test_tool_call_checks(tmp_path: Path) -> None:
    assert ToolCallWire.model_validate("send_message") == ToolCallWire(name="send_message", args={})
    problems = problems_of(
        tmp_path,
        """
        agent: chat
        turns:
          - user: hi
            expect:
              tool_calls: [{nme: send_message}, {name: x, arg: {}}]
    """,
    )
    found = by_key(problems)
    assert "did you mean 'name'?" in found["turns[0].expect.tool_calls[0].nme"].message
    assert found["turns[0].expect.tool_calls[0].name"].message == "required key is missing"
    assert "did you mean 'args'?" in found["turns[0].expect.tool_calls[1].arg"].message


# ------------------------------------------------------------------ references to agents.yaml


def test_unknown_agent_is_located_and_lists_the_defined_agents(tmp_path: Path) -> None:
    scenario = loaded(tmp_path, "description: d\nagent: chatt\nturns: [{user: hi}]\n")
    (problem,) = agent_problems(scenario)
    assert (problem.file, problem.line, problem.key) == (str(scenario.path), 2, "agent")
    assert problem.message == "no agent named 'chatt'; defined: chat, task_agent"


def test_unknown_block_labels_are_all_reported(tmp_path: Path) -> None:
    scenario = loaded(
        tmp_path,
        """
        agent: chat
        blocks: {humn: "x", persona: "y"}
        turns:
          - user: hi
            expect:
              blocks: {human: unchanged, tasks: {json: []}}
          - user: bye
        expect:
          blocks: {persona: unchanged, personna: unchanged}
    """,
    )
    found = by_key(agent_problems(scenario))
    assert set(found) == {"blocks.humn", "turns[0].expect.blocks.tasks", "expect.blocks.personna"}
    assert found["blocks.humn"].line == 2
    assert found["turns[0].expect.blocks.tasks"].line == 6
    assert found["expect.blocks.personna"].line == 9
    assert found["blocks.humn"].message == "agent 'chat' has no block 'humn'; its blocks: persona, human"


def test_block_labels_are_checked_against_the_scenario_agent(tmp_path: Path) -> None:
    scenario = loaded(
        tmp_path,
        """
        agent: task_agent
        turns:
          - user: hi
            expect:
              blocks: {tasks: {json: []}}
    """,
    )
    check_against_agent(scenario, ["persona", "human", "tasks"], AGENTS)
    (problem,) = agent_problems(scenario, labels=["persona", "human"])
    assert problem.key == "turns[0].expect.blocks.tasks"
    assert "agent 'task_agent' has no block 'tasks'" in problem.message


def test_an_expected_tool_the_agent_lacks_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "agent: chat\nturns:\n  - user: hi\n    expect:\n      tool_calls: [send_mesage]\n"
        "      not_tool_calls: [task_queue_pop]\n",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    with pytest.raises(ScenarioError) as caught:
        check_against_agent(scenario, ["human"], ["chat"], ["send_message", "core_memory_append"])
    text = str(caught.value)
    assert f"{path}:5:20: turns[0].expect.tool_calls[0].name: agent 'chat' has no tool 'send_mesage'" in text
    assert f"{path}:6:24: turns[0].expect.not_tool_calls[0]: agent 'chat' has no tool 'task_queue_pop'" in text


def test_a_new_check_is_one_class() -> None:
    from harness.scenarios import checks
    from harness.scenarios.checks import wiring

    @checks.value_check
    class StartsWith(checks.ValueCheck):
        key = "starts_with"
        wire = str
        description = "The text starts with this"

        def check_text(self, text: checks.Text) -> list[checks.Failure]:
            ok = text.value.startswith(self.value)
            return [] if ok else [self.failure(text, f"{text.what} starts otherwise", self.value, text.value)]

    try:
        model = wiring.value_model("BlockChecks", checks.Target.BLOCK)
        assert "starts_with" in model.model_json_schema()["anyOf"][1]["properties"]
        wire = model.model_validate({"starts_with": "Name:"})
        (compiled,) = wiring.value_checks(wire, ("expect", "blocks", "human"))
        assert compiled.loc == ("expect", "blocks", "human", "starts_with")
        (failure,) = compiled.check_text(checks.Text("Bob", "human"))
        assert failure.message == "block 'human' starts otherwise"
    finally:
        del checks.VALUE_CHECKS["starts_with"]


def test_checks_may_name_blocks_an_agent_with_the_memory_tool_can_create(tmp_path: Path) -> None:
    from harness.scenarios.model import scenario_problems

    path = tmp_path / "s.yaml"
    path.write_text("agent: a\nturns:\n  - user: hi\n    expect: {blocks: {projects: {contains: x}}}\n")
    scenario = load_scenario(path)
    assert scenario_problems(scenario, ["human"], ["a"], ["send_message", "memory"]) == []
    (problem,) = scenario_problems(scenario, ["human"], ["a"], ["send_message", "memory_insert"])
    assert problem.message == "agent 'a' has no block 'projects'; its blocks: human"


def test_archival_seeds_take_a_text_or_a_text_with_tags(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "agent: a\narchival:\n  - just text\n  - {text: tagged, tags: [x, y]}\nturns:\n  - user: hi\n",
        encoding="utf-8",
    )
    assert load_scenario(path).archival == (Seed("just text"), Seed("tagged", ("x", "y")))


def test_archival_check_values_are_validated_where_written(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "agent: a\narchival: [{txt: x}]\nturns:\n  - user: hi\n    expect:\n"
        "      archival_search: {query: q, top_k: -1}\nexpect:\n  archival_search: {query: q}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "s.yaml:2:" in text and "archival[0].txt: unknown key 'txt'" in text
    assert (
        "s.yaml:6:" in text
        and "turns[0].expect.archival_search.top_k: Input should be greater than or equal to 0" in text
    )
    assert "s.yaml:8:" in text and "give `contains` or `not_contains`" in text


@pytest.mark.parametrize(
    ("expect", "key", "says"),
    [
        ("blocks: {human: {contains: ''}}", "expect.blocks.human.contains", '"" or [] checks nothing'),
        ("blocks: {human: {contains: []}}", "expect.blocks.human.contains", '"" or [] checks nothing'),
        ("blocks: {human: {not_contains: []}}", "expect.blocks.human.not_contains", '"" or [] checks nothing'),
        ("reply: {matches: ''}", "expect.reply.matches", '"" or [] checks nothing'),
        ("blocks: {human: {unchanged: false}}", "expect.blocks.human", "`unchanged: false` checks nothing"),
        ("blocks: {}", "expect.blocks", "an empty mapping checks nothing"),
        ("not_tool_calls: []", "expect.not_tool_calls", "an empty list checks nothing"),
        ("edited: {}", "expect.edited", "an empty mapping checks nothing"),
        ("edited: {human: []}", "expect.edited", "human: an empty list checks nothing"),
        ("tool_rules: {}", "expect.tool_rules", "give `refused` or `offered`"),
        ("evictions: {}", "expect.evictions", "give `count`, `at_least` or `turns`"),
        ("recall: {query: Azin, contains: []}", "expect.recall.contains", '"" or [] checks nothing'),
        ("archival_contains: []", "expect.archival_contains", '"" or [] checks nothing'),
        ("archival_search: {query: x, contains: []}", "expect.archival_search.contains", '"" or [] checks nothing'),
        ("snapshot: false", "expect.snapshot", "`snapshot: false` checks nothing"),
        ("reply: {judge: {rubric: polite, threshold: 0}}", "expect.reply.judge.threshold", "greater than 0"),
    ],
)
def test_a_check_that_would_check_nothing_is_a_located_mistake(
    tmp_path: Path, expect: str, key: str, says: str
) -> None:
    """Each of these passed whatever the agent did (a judge at threshold 0 passes any answer)."""
    problems = problems_of(tmp_path, f"agent: chat\nturns:\n  - user: hi\nexpect:\n  {expect}\n")
    assert [problem.key for problem in problems] == [key], problems
    assert says in problems[0].message


BOOLEAN = "a boolean (true or false)"
QUOTES = ": write it without quotes"


@pytest.mark.parametrize(
    ("expect", "key", "says"),
    [
        ("tool_calls: [{name: a, ok: 'off'}]", "tool_calls[0].ok", f"expected {BOOLEAN}, not the text 'off'{QUOTES}"),
        (
            "blocks: {human: {unchanged: 'yes'}}",
            "blocks.human.unchanged",
            f"expected {BOOLEAN}, not the text 'yes'{QUOTES}",
        ),
        ("blocks: {human: {unchanged: 1}}", "blocks.human.unchanged", f"expected {BOOLEAN}, not the number 1"),
        ("snapshot: 1", "snapshot", f"should be {BOOLEAN} or 'turns' or 'end', not the number 1"),
        ("snapshot: 'true'", "snapshot", f"should be {BOOLEAN} or 'turns' or 'end', not the text 'true'{QUOTES}"),
        (
            "edited: {human: 0}",
            "edited.human",
            f"should be {BOOLEAN} or a valid string or a valid list, not the number 0",
        ),
        (
            "reply: {judge: {rubric: r, threshold: '0.5'}}",
            "reply.judge.threshold",
            f"expected a number, not the text '0.5'{QUOTES}",
        ),
        ("tool_calls: {count: {x: '1'}}", "tool_calls.count.x", f"expected an integer, not the text '1'{QUOTES}"),
        (
            "tool_calls: {calls: [a], max_calls: '3'}",
            "tool_calls.max_calls",
            f"expected an integer, not the text '3'{QUOTES}",
        ),
        ("evictions: {turns: ['1']}", "evictions.turns[0]", f"expected an integer, not the text '1'{QUOTES}"),
        (
            "evictions: 1.5",
            "evictions.count",
            "Input should be a valid integer, got a number with a fractional part (got 1.5)",
        ),
        ("memory_warnings: '1'", "memory_warnings", f"expected an integer, not the text '1'{QUOTES}"),
    ],
)
def test_a_quoted_number_or_boolean_is_text_as_the_json_schema_says(
    tmp_path: Path, expect: str, key: str, says: str
) -> None:
    """pydantic's lax mode took `ok: 'off'` for false, `max_steps: '3'` for 3 and `snapshot: 1` for true; the
    JSON Schema an editor checks against refuses each, and so does the loader."""
    problems = problems_of(tmp_path, f"agent: chat\nmax_steps: '3'\nturns:\n  - user: hi\nexpect:\n  {expect}\n")
    assert [(p.key, p.message) for p in problems] == [
        ("max_steps", f"expected an integer, not the text '3'{QUOTES}"),
        (f"expect.{key}", says),
    ]


def test_an_integer_written_with_a_zero_fraction_is_an_integer_everywhere(tmp_path: Path) -> None:
    """JSON Schema's integer takes 2.0; `max_length: 5.0` was taken, `evictions: 1.0` refused."""
    scenario = loaded(
        tmp_path,
        """
        agent: chat
        simulate: {persona: p, goal: g, max_turns: 2.0}
        expect:
          evictions: 1.0
          blocks: {human: {max_length: 5.0, json_length: 2.0}}
        """,
    )
    assert scenario.simulate is not None and scenario.simulate.max_turns == 2
    checks = {check.key: check for check in scenario.checks}
    assert checks["evictions"].value.count == 1 and isinstance(checks["evictions"].value.count, int)
    blocks = checks["blocks"]
    assert isinstance(blocks, Blocks) and [check.value for check in blocks.checks["human"]] == [5, 2]
