"""Tool rules, checked against Letta's own solver tests (tests/test_tool_rule_solver.py at letta-ai/letta
0.16.8, ported: the harness keeps the agent's tool order, and falls back to every tool when the rules leave
none, as Letta's loop does with error_on_empty=False) and against properties of its documented semantics."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.tools.rules import TextEnds, ToolRule, ToolRulesSolver, ToolRuleType, TurnEnds, unfinishable
from tests.tools.rules_search import searched_unfinishable

START, PREP, NEXT, HELPER, FINAL, END = "start_tool", "prep_tool", "next_tool", "helper_tool", "final_tool", "end_tool"
ALL = [START, PREP, NEXT, HELPER, FINAL, END]
T = ToolRuleType
# How turns end under tool_choice required (harness, letta-memgpt: after a call asking no heartbeat), and
# under letta-v1 (on an answer without a call where no rule forces one).
MEMGPT = TurnEnds(TextEnds.NEVER, quiet_call=True)
V1 = TurnEnds(TextEnds.UNFORCED, quiet_call=False)


def rule(kind: ToolRuleType, tool: str, **kwargs: object) -> ToolRule:
    return ToolRule(kind, tool, **kwargs)  # type: ignore[arg-type]


def test_init_rules_allow_only_their_tools_at_the_start() -> None:
    solver = ToolRulesSolver([rule(T.RUN_FIRST, START), rule(T.RUN_FIRST, PREP)])
    assert solver.allowed_tool_names(ALL, None) == [START, PREP]
    solver.register_tool_call(START)
    assert solver.allowed_tool_names(ALL, None) == ALL


def test_child_rule_allows_only_children_after_its_tool() -> None:
    solver = ToolRulesSolver([rule(T.RUN_FIRST, START), rule(T.CONSTRAIN_CHILD_TOOLS, START, children=(NEXT, HELPER))])
    solver.register_tool_call(START)
    assert solver.allowed_tool_names(ALL, None) == [NEXT, HELPER]
    assert solver.has_children_tools(START) and not solver.has_children_tools(NEXT)


def test_chain_then_terminal() -> None:
    solver = ToolRulesSolver(
        [
            rule(T.RUN_FIRST, START),
            rule(T.CONSTRAIN_CHILD_TOOLS, START, children=(NEXT,)),
            rule(T.CONSTRAIN_CHILD_TOOLS, NEXT, children=(FINAL,)),
            rule(T.EXIT_LOOP, FINAL),
        ]
    )
    assert solver.allowed_tool_names(ALL, None) == [START]
    solver.register_tool_call(START)
    assert solver.allowed_tool_names(ALL, None) == [NEXT]
    solver.register_tool_call(NEXT)
    assert solver.allowed_tool_names(ALL, None) == [FINAL]
    assert solver.is_terminal_tool(FINAL) and not solver.is_terminal_tool(START)


def test_conditional_rule_follows_the_output() -> None:
    conditional = rule(T.CONDITIONAL, START, child_output_mapping=((True, END), (False, START)))
    solver = ToolRulesSolver([rule(T.RUN_FIRST, START), conditional, rule(T.EXIT_LOOP, END)])
    solver.register_tool_call(START)
    assert solver.allowed_tool_names(ALL, '{"status": "OK", "message": "true"}') == [END]
    assert solver.allowed_tool_names(ALL, '{"status": "OK", "message": "False"}') == [START]
    # No match and no default: any tool; not JSON: the default child.
    assert solver.allowed_tool_names(ALL, '{"message": "maybe"}') == ALL
    with_default = ToolRulesSolver(
        [rule(T.CONDITIONAL, START, child_output_mapping=(("a", NEXT),), default_child=HELPER)]
    )
    with_default.register_tool_call(START)
    assert with_default.allowed_tool_names(ALL, "not json") == [HELPER]
    assert with_default.allowed_tool_names(ALL, '{"message": "a"}') == [NEXT]


def test_conditional_numeric_keys_match_as_numbers() -> None:
    solver = ToolRulesSolver([rule(T.CONDITIONAL, START, child_output_mapping=((1, NEXT), (2.5, HELPER)))])
    solver.register_tool_call(START)
    assert solver.allowed_tool_names(ALL, '{"message": "01"}') == [NEXT]
    assert solver.allowed_tool_names(ALL, '{"message": "2.50"}') == [HELPER]


def test_conditional_needs_a_response() -> None:
    solver = ToolRulesSolver([rule(T.CONDITIONAL, START, child_output_mapping=((True, END),))])
    solver.register_tool_call(START)
    with pytest.raises(ValueError, match="Conditional tool rule requires an LLM response"):
        solver.allowed_tool_names(ALL, None)


def test_max_count_removes_the_tool_after_its_limit() -> None:
    solver = ToolRulesSolver([rule(T.MAX_COUNT_PER_STEP, START, max_count_limit=2)])
    solver.register_tool_call(START)
    assert START in solver.allowed_tool_names(ALL, None)
    solver.register_tool_call(START)
    assert solver.allowed_tool_names(ALL, None) == [PREP, NEXT, HELPER, FINAL, END]
    # When it was the only tool, the rules leave none: the loop falls back to every tool (as Letta's).
    assert solver.allowed_tool_names([START], None) == [START]


def test_parent_rule_hides_children_until_the_parent_ran() -> None:
    solver = ToolRulesSolver([rule(T.PARENT_LAST_TOOL, PREP, children=(FINAL,))])
    assert FINAL not in solver.allowed_tool_names(ALL, None)
    solver.register_tool_call(PREP)
    assert solver.allowed_tool_names(ALL, None) == [FINAL]


def test_required_before_exit_lists_uncalled_tools_in_order() -> None:
    solver = ToolRulesSolver([rule(T.REQUIRED_BEFORE_EXIT, FINAL), rule(T.REQUIRED_BEFORE_EXIT, PREP)])
    assert solver.uncalled_required_tools(ALL) == [PREP, FINAL]
    solver.register_tool_call(FINAL)
    assert solver.uncalled_required_tools(ALL) == [PREP]
    assert solver.uncalled_required_tools([START]) == []  # only tools the agent has count


def test_violation_message_is_letta_text_with_hints() -> None:
    solver = ToolRulesSolver([rule(T.RUN_FIRST, START), rule(T.EXIT_LOOP, END)])
    assert solver.violation_message(END, [START]) == (
        "[ToolConstraintError] Cannot call end_tool, valid tools include: ['start_tool'].\n"
        "** Hint: Possible rules that were violated:\n"
        "\t- <tool_rule>\nend_tool ends your response (yields control) when called\n</tool_rule>"
    )
    assert solver.violation_message(NEXT, [START]) == (
        "[ToolConstraintError] Cannot call next_tool, valid tools include: ['start_tool']."
    )


def test_compiled_prompt_in_letta_order_without_required_before_exit() -> None:
    solver = ToolRulesSolver(
        [
            rule(T.EXIT_LOOP, END),
            rule(T.REQUIRED_BEFORE_EXIT, FINAL),
            rule(T.CONSTRAIN_CHILD_TOOLS, START, children=(NEXT, HELPER)),
            rule(T.CONTINUE_LOOP, PREP),
            rule(T.MAX_COUNT_PER_STEP, NEXT, max_count_limit=1),
        ]
    )
    assert solver.compile_prompt() == (
        "<tool_usage_rules>\n"
        "The following constraints define rules for tool usage and guide desired behavior. These rules must be "
        "followed to ensure proper tool execution and workflow. A single response may contain multiple tool calls."
        "\n\n<tool_rule>\nprep_tool requires continuing your response when called\n</tool_rule>\n"
        "<tool_rule>\nAfter using start_tool, you must use one of these tools: next_tool, helper_tool\n</tool_rule>\n"
        "<tool_rule>\nnext_tool: at most 1 use(s) per response\n</tool_rule>\n"
        "<tool_rule>\nend_tool ends your response (yields control) when called\n</tool_rule>\n"
        "</tool_usage_rules>"
    )
    assert ToolRulesSolver([rule(T.RUN_FIRST, START)]).compile_prompt() is None


# ------------------------------------------------------------------ properties

names = st.sampled_from(ALL)
rules = st.one_of(
    st.builds(rule, st.sampled_from([T.RUN_FIRST, T.EXIT_LOOP, T.CONTINUE_LOOP, T.REQUIRED_BEFORE_EXIT]), names),
    st.builds(
        lambda tool, children: rule(T.CONSTRAIN_CHILD_TOOLS, tool, children=tuple(children)),
        names,
        st.lists(names, min_size=1, max_size=3, unique=True),
    ),
    st.builds(
        lambda tool, children: rule(T.PARENT_LAST_TOOL, tool, children=tuple(children)),
        names,
        st.lists(names, min_size=1, max_size=3, unique=True),
    ),
    st.builds(lambda tool, n: rule(T.MAX_COUNT_PER_STEP, tool, max_count_limit=n), names, st.integers(1, 3)),
)


@given(st.lists(rules, max_size=5), st.lists(names, max_size=6))
def test_allowed_is_a_nonempty_ordered_subset_honouring_every_rule(
    rule_set: list[ToolRule], history: list[str]
) -> None:
    solver = ToolRulesSolver(rule_set)
    for name in history:
        solver.register_tool_call(name)
    allowed = solver.allowed_tool_names(ALL, None)
    assert allowed and allowed == [name for name in ALL if name in allowed]
    # Either every restriction holds, or none could hold together and every tool is offered (the fallback).
    if allowed == ALL:
        return
    last = history[-1] if history else None
    inits = [r.tool_name for r in rule_set if r.type is T.RUN_FIRST]
    if not history and inits:
        assert set(allowed) == set(inits)
        return
    for r in rule_set:
        if r.type is T.CONSTRAIN_CHILD_TOOLS and last == r.tool_name:
            assert set(allowed) <= set(r.children)
        if r.type is T.PARENT_LAST_TOOL:
            inside = set(allowed) <= set(r.children)
            assert inside if last == r.tool_name else not set(allowed) & set(r.children)
        if r.type is T.MAX_COUNT_PER_STEP and history.count(r.tool_name) >= r.max_count_limit:
            assert r.tool_name not in allowed


def test_unfinishable_finds_closed_child_cycles_only() -> None:
    tools = ["send_message", "a", "b"]
    cycle = [rule(T.RUN_FIRST, "a"), rule(T.CONSTRAIN_CHILD_TOOLS, "a", children=("b",))]
    assert unfinishable([*cycle, rule(T.CONSTRAIN_CHILD_TOOLS, "b", children=("a",))], tools, MEMGPT) is not None
    assert unfinishable([*cycle, rule(T.CONSTRAIN_CHILD_TOOLS, "b", children=("send_message",))], tools, MEMGPT) is None
    # Letta's loop keeps a turn going past an exit_loop tool while a required tool is uncalled.
    required = [
        rule(T.REQUIRED_BEFORE_EXIT, "b"),
        rule(T.PARENT_LAST_TOOL, "a", children=("b",)),
        rule(T.EXIT_LOOP, "a"),
    ]
    assert unfinishable(required, tools, MEMGPT) is None
    assert unfinishable([], tools, MEMGPT) is None
    # A continue_loop tool that is the only one ever allowed never lets a turn end.
    only_a = [rule(T.RUN_FIRST, "a"), rule(T.CONTINUE_LOOP, "a"), rule(T.CONSTRAIN_CHILD_TOOLS, "a", children=("a",))]
    assert unfinishable(only_a, tools, MEMGPT) == (
        "no sequence of calls these rules allow can end a turn (every turn would run to max_steps)"
    )
    unreachable = [rule(T.REQUIRED_BEFORE_EXIT, "b"), *only_a]
    assert unfinishable(unreachable, tools, MEMGPT) == (
        "no sequence of calls these rules allow reaches required_before_exit tool(s): b"
    )


def test_an_exit_loop_tool_ends_a_turn_whatever_child_rule_it_also_has() -> None:
    """The loop tests exit_loop first (Letta's _decide_continuation does): void.af's send_message is exit_loop
    and constrain_child_tools, and Letta's base rules with a max-count on send_message are the same shape."""
    void = [
        rule(T.EXIT_LOOP, "send_message"),
        rule(T.CONSTRAIN_CHILD_TOOLS, "send_message", children=("a",)),
        rule(T.CONTINUE_LOOP, "a"),
    ]
    assert unfinishable(void, ["send_message", "a"], MEMGPT) is None
    capped = [rule(T.EXIT_LOOP, "send_message"), rule(T.MAX_COUNT_PER_STEP, "send_message", max_count_limit=1)]
    assert (
        unfinishable(
            [*capped, rule(T.CONTINUE_LOOP, "a"), rule(T.CONTINUE_LOOP, "b")], ["send_message", "a", "b"], MEMGPT
        )
        is None
    )


# Rules that never hide a tool at a turn's start (no run_first, no parent_last_tool) nor hold the turn back
# (no required_before_exit): whatever they are, a call of an exit_loop tool ends the turn there.
unforcing_start = st.one_of(
    st.builds(rule, st.sampled_from([T.EXIT_LOOP, T.CONTINUE_LOOP]), names),
    st.builds(
        lambda tool, children: rule(T.CONSTRAIN_CHILD_TOOLS, tool, children=tuple(children)),
        names,
        st.lists(names, min_size=1, max_size=3, unique=True),
    ),
    st.builds(lambda tool, n: rule(T.MAX_COUNT_PER_STEP, tool, max_count_limit=n), names, st.integers(1, 3)),
    st.builds(
        lambda tool, outputs, default: rule(
            T.CONDITIONAL, tool, child_output_mapping=tuple(outputs.items()), default_child=default
        ),
        names,
        st.dictionaries(st.sampled_from(["a", "b", "1"]), names, min_size=1, max_size=2),
        st.none() | names,
    ),
)


@given(st.lists(unforcing_start, max_size=6), names, st.sampled_from([MEMGPT, V1]))
def test_a_turn_can_end_at_a_first_call_of_an_exit_loop_tool(
    rule_set: list[ToolRule], terminal: str, ends: TurnEnds
) -> None:
    """Every tool continue_loop, so that only the exit_loop tool can end the turn, and it still can."""
    keep_going = [rule(T.CONTINUE_LOOP, name) for name in ALL]
    assert unfinishable([*keep_going, *rule_set, rule(T.EXIT_LOOP, terminal)], ALL, ends) is None


def test_letta_v1_ends_a_turn_with_text_after_continue_and_max_count_tools() -> None:
    """Letta V3 sends tool_choice auto after them (they force no call) and ends the turn on a text answer:
    the rules Letta itself gives a letta_v1_agent's base tools (a continue_loop on each)."""
    tools = ["memory_replace", "memory_insert", "conversation_search"]
    base = [rule(T.CONTINUE_LOOP, name) for name in tools]
    for rule_set in (base, [*base, rule(T.REQUIRED_BEFORE_EXIT, "memory_insert")]):
        assert unfinishable(rule_set, tools, V1) is None
        # where a call must ask for no heartbeat to end a turn, they never let one end
        assert unfinishable(rule_set, tools, MEMGPT) is not None
    capped = [rule(T.MAX_COUNT_PER_STEP, name, max_count_limit=1) for name in tools]
    assert unfinishable([*capped, *base], tools, V1) is None
    # A rule that forces the next call leaves no room for text: a closed cycle never ends under V1 either.
    cycle = [rule(T.CONSTRAIN_CHILD_TOOLS, "memory_replace", children=("memory_insert",))]
    cycle.append(rule(T.CONSTRAIN_CHILD_TOOLS, "memory_insert", children=("memory_replace",)))
    assert unfinishable([rule(T.RUN_FIRST, "memory_replace"), *cycle], tools, V1) is not None
    assert unfinishable(cycle, tools, V1) is None  # the turn's first answer may be text


# Rules that never force a call under Letta V3 (requires_force_tool_call false): a turn may end with text
# once the required tools, each allowed at any time, have been called.
unforcing = st.one_of(
    st.builds(rule, st.sampled_from([T.EXIT_LOOP, T.CONTINUE_LOOP, T.REQUIRED_BEFORE_EXIT]), names),
    st.builds(lambda tool, n: rule(T.MAX_COUNT_PER_STEP, tool, max_count_limit=n), names, st.integers(1, 3)),
)


@given(st.lists(unforcing, max_size=8))
def test_letta_v1_turns_can_end_under_rules_that_force_no_call(rule_set: list[ToolRule]) -> None:
    assert unfinishable(rule_set, ALL, V1) is None


@given(st.lists(rules, max_size=6))
def test_text_that_ends_a_turn_whatever_the_rules_lets_every_rule_set_finish(rule_set: list[ToolRule]) -> None:
    """harness and letta-memgpt under tool_choice auto: an answer without a call ends the turn."""
    assert unfinishable(rule_set, ALL, TurnEnds(TextEnds.ALWAYS, quiet_call=True)) is None


# ------------------------------------------------------------------ the check, against an exhaustive search

FEW = ["a", "b", "c", "d"]
few = st.sampled_from(FEW)
any_rule = st.one_of(
    st.builds(
        rule,
        st.sampled_from([T.RUN_FIRST, T.EXIT_LOOP, T.CONTINUE_LOOP, T.REQUIRED_BEFORE_EXIT, T.REQUIRED_BEFORE_EXIT]),
        few,
    ),
    st.builds(
        lambda kind, tool, children: rule(kind, tool, children=tuple(children)),
        st.sampled_from([T.CONSTRAIN_CHILD_TOOLS, T.PARENT_LAST_TOOL]),
        few,
        st.lists(few, min_size=1, max_size=3, unique=True),
    ),
    st.builds(lambda tool, n: rule(T.MAX_COUNT_PER_STEP, tool, max_count_limit=n), few, st.integers(1, 3)),
    st.builds(
        lambda tool, outputs, default, strict: rule(
            T.CONDITIONAL,
            tool,
            child_output_mapping=tuple(outputs.items()),
            default_child=default,
            require_output_mapping=strict,
        ),
        few,
        st.dictionaries(st.sampled_from(["yes", "no", "1", True, 1, 2.5]), few, min_size=1, max_size=3),
        st.none() | few,
        st.booleans(),
    ),
)
ENDINGS = [MEMGPT, V1, TurnEnds(TextEnds.NEVER, quiet_call=False)]


@settings(max_examples=400)
@given(st.lists(any_rule, max_size=9), st.sampled_from(ENDINGS), st.lists(few, min_size=1, max_size=4, unique=True))
def test_the_check_answers_as_a_search_of_every_state(
    rule_set: list[ToolRule], ends: TurnEnds, tools: list[str]
) -> None:
    """Same verdict and same reason as the search it replaced, which tries every sequence of calls."""
    assert unfinishable(rule_set, tools, ends) == searched_unfinishable(rule_set, tools, ends)


def test_rules_with_more_states_than_a_search_could_try_are_judged() -> None:
    """12 tools that must all be called, each followed only by another: 12 x 2**11 states (which tools were
    called, which came last), past the exhaustive search's budget, which then let them pass."""
    tools = [f"t{i}" for i in range(12)]
    rule_set = [rule(T.CONSTRAIN_CHILD_TOOLS, tool, children=tuple(t for t in tools if t != tool)) for tool in tools]
    rule_set += [rule(T.REQUIRED_BEFORE_EXIT, tool) for tool in tools]
    assert unfinishable(rule_set, tools, MEMGPT) == (
        "no sequence of calls these rules allow can end a turn (every turn would run to max_steps)"
    )
    assert unfinishable([*rule_set, rule(T.EXIT_LOOP, "t5")], tools, MEMGPT) is None


def test_the_check_takes_polynomial_time_without_max_count_rules() -> None:
    """24 tools, each conditional on six outputs, ten of them required: the search took minutes."""
    tools = [f"t{i}" for i in range(24)]
    rule_set = [
        rule(
            T.CONDITIONAL,
            tool,
            child_output_mapping=tuple((f"k{j}", tools[(i + j + 1) % 24]) for j in range(6)),
            default_child=tools[(i + 1) % 24],
        )
        for i, tool in enumerate(tools)
    ]
    rule_set += [rule(T.REQUIRED_BEFORE_EXIT, tool) for tool in tools[:10]]
    began = time.perf_counter()
    assert unfinishable(rule_set, tools, V1) == (
        "no sequence of calls these rules allow can end a turn (every turn would run to max_steps)"
    )
    assert unfinishable([*rule_set, rule(T.EXIT_LOOP, "t23")], tools, V1) is None
    assert unfinishable([*rule_set, rule(T.CONTINUE_LOOP, "t23")], tools, MEMGPT) is not None
    assert time.perf_counter() - began < 2
