"""Tool rules: which tools the agent may call next, and when its turn may end, as Letta's ToolRulesSolver.

Followed: letta/schemas/tool_rule.py, letta/helpers/tool_rule_solver.py and the loop's use of them
(letta/agents/letta_agent_v2.py `_get_valid_tools`, `_decide_continuation`; letta/agents/helpers.py
`_build_rule_violation_result`) at Letta 0.16.8. The call history is kept per user turn (Letta builds a
solver per request). Differences, for byte-identical replays: allowed tools keep the agent's declared order
(Letta lists a set), and with no rule the request is exactly what it was without rules.
`requires_approval` (human-in-the-loop) has no meaning offline and is not offered.
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harness.jsontext import parse

# letta/helpers/tool_rule_solver.py
COMPILED_PROMPT_DESCRIPTION = (
    "The following constraints define rules for tool usage and guide desired behavior. These rules must be "
    "followed to ensure proper tool execution and workflow. A single response may contain multiple tool calls."
)


class ToolRuleType(StrEnum):
    """Letta's `ToolRuleType` values (letta/schemas/enums.py)."""

    RUN_FIRST = "run_first"  # InitToolRule
    EXIT_LOOP = "exit_loop"  # TerminalToolRule
    CONTINUE_LOOP = "continue_loop"  # ContinueToolRule
    CONDITIONAL = "conditional"  # ConditionalToolRule
    CONSTRAIN_CHILD_TOOLS = "constrain_child_tools"  # ChildToolRule
    MAX_COUNT_PER_STEP = "max_count_per_step"  # MaxCountPerStepToolRule
    PARENT_LAST_TOOL = "parent_last_tool"  # ParentToolRule
    REQUIRED_BEFORE_EXIT = "required_before_exit"  # RequiredBeforeExitToolRule


@dataclass(frozen=True)
class ToolRule:
    type: ToolRuleType
    tool_name: str
    children: tuple[str, ...] = ()  # constrain_child_tools, parent_last_tool
    max_count_limit: int = 0  # max_count_per_step
    child_output_mapping: tuple[tuple[Any, str], ...] = ()  # conditional: (output, tool), in order
    default_child: str | None = None  # conditional
    require_output_mapping: bool = False  # conditional

    def tool_names(self) -> list[str]:
        """Every tool this rule names (for validation)."""
        names = [self.tool_name, *self.children, *(tool for _, tool in self.child_output_mapping)]
        return names + ([self.default_child] if self.default_child else [])

    def valid_tools(self, history: Sequence[str], available: set[str], last_response: str | None) -> set[str]:
        """Letta's `get_valid_tools` for the rules that restrict the next call."""
        last_tool = history[-1] if history else None
        if self.type is ToolRuleType.CONSTRAIN_CHILD_TOOLS:
            return set(self.children) if last_tool == self.tool_name else available
        if self.type is ToolRuleType.PARENT_LAST_TOOL:
            return set(self.children) if last_tool == self.tool_name else available - set(self.children)
        if self.type is ToolRuleType.MAX_COUNT_PER_STEP:
            return available - {self.tool_name} if history.count(self.tool_name) >= self.max_count_limit else available
        if self.type is ToolRuleType.CONDITIONAL:
            return self._conditional(last_tool, available, last_response)
        return available

    def _conditional(self, last_tool: str | None, available: set[str], last_response: str | None) -> set[str]:
        if last_tool != self.tool_name:
            return available
        if not last_response:
            raise ValueError("Conditional tool rule requires an LLM response to determine which child tool to use")
        try:
            response = parse(last_response)
            output = response.get("message", "") if isinstance(response, dict) else ""
        except ValueError:
            if self.require_output_mapping:
                return set()
            return {self.default_child} if self.default_child else available
        for key, tool in self.child_output_mapping:
            if _matches_key(str(output), key):
                return {tool}
        if self.require_output_mapping:
            return set()
        return {self.default_child} if self.default_child else available

    def render_prompt(self) -> str | None:
        """Letta's `render_prompt` texts, shown to the model in `<tool_usage_rules>`."""
        kind = self.type
        if kind is ToolRuleType.CONSTRAIN_CHILD_TOOLS:
            children = ", ".join(self.children)
            return (
                f"<tool_rule>\nAfter using {self.tool_name}, you must use one of these tools: {children}\n</tool_rule>"
            )
        if kind is ToolRuleType.PARENT_LAST_TOOL:
            return f"<tool_rule>\n{', '.join(self.children)} can only be used after {self.tool_name}\n</tool_rule>"
        if kind is ToolRuleType.CONDITIONAL:
            return (
                f"<tool_rule>\n{self.tool_name} will determine which tool to use next based on its output\n</tool_rule>"
            )
        if kind is ToolRuleType.EXIT_LOOP:
            return f"<tool_rule>\n{self.tool_name} ends your response (yields control) when called\n</tool_rule>"
        if kind is ToolRuleType.CONTINUE_LOOP:
            return f"<tool_rule>\n{self.tool_name} requires continuing your response when called\n</tool_rule>"
        if kind is ToolRuleType.MAX_COUNT_PER_STEP:
            return f"<tool_rule>\n{self.tool_name}: at most {self.max_count_limit} use(s) per response\n</tool_rule>"
        if kind is ToolRuleType.REQUIRED_BEFORE_EXIT:
            return f"<tool_rule>{self.tool_name} must be called before ending the conversation</tool_rule>"
        return None


def _matches_key(output: str, key: Any) -> bool:
    """Letta's ConditionalToolRule._matches_key: booleans, then numbers, then strings."""
    if isinstance(key, bool):
        return output.lower() == ("true" if key else "false")
    if isinstance(key, int):
        try:
            return int(output) == key
        except ValueError:
            return False
    if isinstance(key, float):
        try:
            return float(output) == key
        except ValueError:
            return False
    return output == str(key)


_CHILD_BASED = (ToolRuleType.CONSTRAIN_CHILD_TOOLS, ToolRuleType.CONDITIONAL, ToolRuleType.MAX_COUNT_PER_STEP)
_PROMPT_ORDER = (
    (ToolRuleType.RUN_FIRST,),
    (ToolRuleType.CONTINUE_LOOP,),
    _CHILD_BASED,
    (ToolRuleType.PARENT_LAST_TOOL,),
    (ToolRuleType.EXIT_LOOP,),
)


class ToolRulesSolver:
    """One user turn's view of the rules: the calls made so far decide what may come next."""

    def __init__(self, rules: Iterable[ToolRule]) -> None:
        self.rules = tuple(rules)
        self.history: list[str] = []

    def _of(self, *types: ToolRuleType) -> list[ToolRule]:
        return [rule for rule in self.rules if rule.type in types]

    def register_tool_call(self, tool_name: str) -> None:
        self.history.append(tool_name)

    def allowed_tool_names(self, available: Sequence[str], last_response: str | None) -> list[str]:
        """The tools the model may call next, in the agent's order; all of them when the rules leave none
        (Letta's `_get_valid_tools` asks with error_on_empty=False and falls back to every tool)."""
        init = self._of(ToolRuleType.RUN_FIRST)
        if not self.history and init:
            names = {rule.tool_name for rule in init}
        else:
            names = set(available)
            for rule in self._of(*_CHILD_BASED, ToolRuleType.PARENT_LAST_TOOL):
                names &= rule.valid_tools(self.history, set(available), last_response)
        allowed = [name for name in available if name in names]
        return allowed or list(available)

    def should_force_tool_call(self) -> bool:
        """Letta's `should_force_tool_call`: at the start of a turn with a run_first rule, or right after the
        tool of a constrain_child_tools, conditional or parent_last_tool rule (the rules whose
        `requires_force_tool_call` is true), the next answer must call a tool."""
        if not self.history:
            return bool(self._of(ToolRuleType.RUN_FIRST))
        forcing = (ToolRuleType.CONSTRAIN_CHILD_TOOLS, ToolRuleType.CONDITIONAL, ToolRuleType.PARENT_LAST_TOOL)
        return any(rule.tool_name == self.history[-1] for rule in self._of(*forcing))

    def is_terminal_tool(self, tool_name: str) -> bool:
        return any(rule.tool_name == tool_name for rule in self._of(ToolRuleType.EXIT_LOOP))

    def has_children_tools(self, tool_name: str) -> bool:
        return any(rule.tool_name == tool_name for rule in self._of(*_CHILD_BASED))

    def is_continue_tool(self, tool_name: str) -> bool:
        return any(rule.tool_name == tool_name for rule in self._of(ToolRuleType.CONTINUE_LOOP))

    def uncalled_required_tools(self, available: Sequence[str]) -> list[str]:
        """Required-before-exit tools not called yet this turn, in the agent's order."""
        required = {rule.tool_name for rule in self._of(ToolRuleType.REQUIRED_BEFORE_EXIT)}
        return [name for name in available if name in required and name not in self.history]

    def violation_message(self, tool_name: str, valid: list[str]) -> str:
        """Letta's `_build_rule_violation_result` text, with the rules that may have been broken."""
        previous = self.history[-1] if self.history else None
        hints = [
            prompt
            for rule in self._prompt_rules()
            if rule.tool_name == tool_name or (previous and rule.tool_name == previous)
            if (prompt := rule.render_prompt())
        ]
        hint_text = (
            ("\n** Hint: Possible rules that were violated:\n" + "\n".join(f"\t- {h}" for h in hints)) if hints else ""
        )
        return f"[ToolConstraintError] Cannot call {tool_name}, valid tools include: {valid}.{hint_text}"

    def _prompt_rules(self) -> list[ToolRule]:
        return [rule for types in _PROMPT_ORDER for rule in self._of(*types)]

    def compile_prompt(self) -> str | None:
        """Letta's `<tool_usage_rules>` section of the system message, or None when no rule renders."""
        prompts = [prompt for rule in self._prompt_rules() if (prompt := rule.render_prompt())]
        if not prompts:
            return None
        return f"<tool_usage_rules>\n{COMPILED_PROMPT_DESCRIPTION}\n\n" + "\n".join(prompts) + "\n</tool_usage_rules>"


class TextEnds(StrEnum):
    """When an answer without a tool call ends a turn."""

    NEVER = "never"  # every request says tool_choice: required, so the model always calls a tool
    ALWAYS = "always"  # harness, letta-memgpt under tool_choice auto: whatever the rules say
    # letta-v1: tool_choice is auto unless a rule forces a call (Letta's should_force_tool_call), and an
    # answer while a required_before_exit tool is uncalled gets a reminder and the turn goes on
    UNFORCED = "unforced"


@dataclass(frozen=True)
class TurnEnds:
    """How a loop flavour lets a turn end besides a call of an exit_loop tool (harness/agent.py's turn)."""

    text: TextEnds
    # A call no child, conditional, max-count or continue rule keeps going ends the turn when it asks for no
    # heartbeat (harness, letta-memgpt); under letta-v1 every call but an exit_loop one goes on.
    quiet_call: bool


def _forcing(rules: Sequence[ToolRule]) -> tuple[bool, set[str]]:
    """Letta's `should_force_tool_call` as a table: at a turn's start, and right after each tool."""
    forcing = (ToolRuleType.CONSTRAIN_CHILD_TOOLS, ToolRuleType.CONDITIONAL, ToolRuleType.PARENT_LAST_TOOL)
    at_start = any(rule.type is ToolRuleType.RUN_FIRST for rule in rules)
    return at_start, {rule.tool_name for rule in rules if rule.type in forcing}


def unfinishable(
    rules: Sequence[ToolRule], tools: Sequence[str], ends: TurnEnds, *, budget: int = 100_000
) -> str | None:
    """Why no sequence of calls these rules allow can end a turn under a loop that ends turns as `ends`
    says, or None when one can. Once every required_before_exit tool has been called, a turn can end at a
    call of an exit_loop tool, at a quiet call of one that no child, conditional, max-count or continue rule
    keeps going (`ends.quiet_call`), and with an answer without a call where `ends.text` allows one. A
    conditional rule is assumed to allow any of its outcomes (the output is unknown before the run).

    Without max_count_per_step rules what the rules allow next depends on the last call alone, so this is
    reachability among the tools: a turn can end when the tools it must call can be reached one from the
    next (in the order their strongly connected parts come) from its first call, and a tool that ends it
    from the last of them; polynomial (a graph search from each required tool). Counting calls makes the
    question NP-hard (a max-count of 1 on every tool, all of them required, asks for a Hamiltonian path),
    so with max-count rules that graph, widened to whatever a count could make the rules fall back to,
    refuses what can never end, and the rest is searched call by call, counts and all, for at most `budget`
    steps, past which the rules get the benefit of the doubt (None)."""
    if ends.text is TextEnds.ALWAYS:
        return None
    turns = _Turns(rules, tools, ends)
    if turns.ends_at_start:
        return None
    reached = turns.reach(turns.first)
    widened = turns.finishable(reached)  # without max-count rules: the answer
    if turns.limits:
        searched = turns.search(budget)
        if searched is None and widened:  # a sequence ends the turn, or the search gave up
            return None
        if searched is not None:
            reached = searched
    elif widened:
        return None
    never = sorted(turns.names(turns.required & ~reached))
    if never:
        return f"no sequence of calls these rules allow reaches required_before_exit tool(s): {', '.join(never)}"
    return "no sequence of calls these rules allow can end a turn (every turn would run to max_steps)"


class _Turns:
    """The calls a turn may make under some rules, as a graph over the agent's tools (sets of tools are
    bit masks, bit i the i-th tool): which may follow each, which end the turn (see `unfinishable`)."""

    def __init__(self, rules: Sequence[ToolRule], tools: Sequence[str], ends: TurnEnds) -> None:
        solver = ToolRulesSolver(rules)
        self.tools = list(dict.fromkeys(tools))
        self.everything = (1 << len(self.tools)) - 1
        self.required = self.mask(solver.uncalled_required_tools(self.tools))
        forced_at_start, forced_after = _forcing(rules)
        text_ends = ends.text is TextEnds.UNFORCED
        self.ends_at_start = text_ends and not self.required and not forced_at_start
        self.final = self.mask(
            name
            for name in self.tools
            if solver.is_terminal_tool(name)
            or (ends.quiet_call and not (solver.has_children_tools(name) or solver.is_continue_tool(name)))
            or (text_ends and name not in forced_after)
        )
        # max_count_per_step: a tool is withdrawn once called as often as its lowest limit.
        limits: dict[int, int] = {}
        for rule in rules:
            if rule.type is ToolRuleType.MAX_COUNT_PER_STEP and rule.tool_name in self.tools:
                index = self.tools.index(rule.tool_name)
                limits[index] = min(limits.get(index, rule.max_count_limit), rule.max_count_limit)
        self.limits = limits
        self.first = self.mask(solver.allowed_tool_names(self.tools, None))  # no call yet: no count matters
        # What the other rules allow after each tool (before falling back to every tool when they allow
        # none), one set for each output a conditional rule on it may read.
        outputs: list[str | None] = [None, "not json", '{"message": "\x00unmatched"}']
        outputs += [
            json.dumps({"message": str(key).lower() if isinstance(key, bool) else str(key)})
            for rule in rules
            for key, _ in rule.child_output_mapping
        ]
        outputs = list(dict.fromkeys(outputs))
        restricting = [
            rule
            for rule in rules
            if rule.type
            in (ToolRuleType.CONSTRAIN_CHILD_TOOLS, ToolRuleType.CONDITIONAL, ToolRuleType.PARENT_LAST_TOOL)
        ]
        available = set(self.tools)
        self.after: list[list[int]] = []
        for name in self.tools:
            history = [name]
            reading = [rule for rule in restricting if rule.type is ToolRuleType.CONDITIONAL and rule.tool_name == name]
            base = set(available)
            for rule in restricting:
                if rule.type is not ToolRuleType.CONDITIONAL or rule.tool_name != name:
                    base &= rule.valid_tools(history, available, None)
            sets: set[int] = set()
            for output in outputs if reading else [None]:
                allowed = set(base)
                try:
                    for rule in reading:
                        allowed &= rule.valid_tools(history, available, output)
                except ValueError:  # no output: Letta's conditional rule refuses to choose
                    continue
                sets.add(self.mask(allowed))
            self.after.append(sorted(sets))
        # The widened graph: what the rules allow, and every tool where a count could withdraw all of that.
        capped = self.mask(self.tools[index] for index in limits)
        self.successors = [
            functools.reduce(
                operator.or_, (allowed | (self.everything if allowed & ~capped == 0 else 0) for allowed in sets), 0
            )
            for sets in self.after
        ]

    def mask(self, names: Iterable[str]) -> int:
        chosen = set(names)
        return sum(1 << index for index, name in enumerate(self.tools) if name in chosen)

    def names(self, mask: int) -> list[str]:
        return [name for index, name in enumerate(self.tools) if mask >> index & 1]

    def reach(self, start: int) -> int:
        """The tools some sequence of calls in the widened graph reaches from those of `start` (included)."""
        seen = start
        frontier = [index for index in range(len(self.tools)) if start >> index & 1]
        while frontier:
            new = self.successors[frontier.pop()] & ~seen
            seen |= new
            frontier += [index for index in range(len(self.tools)) if new >> index & 1]
        return seen

    def finishable(self, reached: int) -> bool:
        """Whether some walk from a turn's start calls every required tool and then ends: the required tools
        must be reachable one from the next, in some order, and a tool that ends the turn from the last."""
        if self.required & ~reached:
            return False
        required = [index for index in range(len(self.tools)) if self.required >> index & 1]
        onward = {index: self.reach(1 << index) for index in required}
        # In a walk through them the first reaches the most of them (its strongly connected part first).
        order = sorted(required, key=lambda index: -(onward[index] & self.required).bit_count())
        if any(not onward[earlier] >> later & 1 for earlier, later in itertools.pairwise(order)):
            return False
        return bool(self.final & (onward[order[-1]] if order else reached))

    def search(self, budget: int) -> int | None:
        """The turn call by call, counting each max-count tool's calls: None when some sequence ends it (or
        after `budget` steps), else the required tools some sequence calls. A state is the last tool (-1:
        none yet), the required tools called, and the counts (each up to its limit) as one mixed-radix number."""
        weights: dict[int, int] = {}
        weight = 1
        for index, limit in self.limits.items():
            weights[index] = weight
            weight *= limit + 1
        start = (-1, 0, 0)
        seen = {start}
        frontier = [start]
        steps = 0
        while frontier:
            last, called, counts = frontier.pop()
            if last < 0:
                options = self.first
            else:
                spent = sum(
                    1 << index
                    for index, limit in self.limits.items()
                    if counts // weights[index] % (limit + 1) == limit
                )
                options = 0
                for allowed in self.after[last]:
                    options |= (allowed & ~spent) or self.everything
            for index in range(len(self.tools)):
                if not options >> index & 1:
                    continue
                steps += 1
                if steps > budget:
                    return None
                done = called | (self.required & 1 << index)
                if self.final >> index & 1 and done == self.required:
                    return None
                tally = counts
                if index in weights and counts // weights[index] % (self.limits[index] + 1) < self.limits[index]:
                    tally += weights[index]
                state = (index, done, tally)
                if state not in seen:
                    seen.add(state)
                    frontier.append(state)
        return functools.reduce(operator.or_, (state[1] for state in seen), 0)
