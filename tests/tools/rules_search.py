"""The harness's first check that tool rules let a turn end, kept as the oracle of the one it has now: a
search of every state a turn can be in (the last call, the required tools called, each max-count tool's
calls), exponential in the rules, exact on small ones. One change: a max-count tool's calls are counted
once each, as the loop counts them (this search counted the last one twice)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from harness.tools.rules import TextEnds, ToolRule, ToolRulesSolver, ToolRuleType, TurnEnds


def searched_unfinishable(
    rules: Sequence[ToolRule], tools: Sequence[str], ends: TurnEnds, *, budget: int = 20_000
) -> str | None:
    if ends.text is TextEnds.ALWAYS:
        return None
    solver = ToolRulesSolver(rules)
    required = set(solver.uncalled_required_tools(tools))
    forcing = (ToolRuleType.CONSTRAIN_CHILD_TOOLS, ToolRuleType.CONDITIONAL, ToolRuleType.PARENT_LAST_TOOL)
    forced_at_start = any(rule.type is ToolRuleType.RUN_FIRST for rule in rules)
    forced_after = {rule.tool_name for rule in rules if rule.type in forcing}
    text_ends = ends.text is TextEnds.UNFORCED
    if text_ends and not required and not forced_at_start:
        return None
    caps = {rule.tool_name: rule.max_count_limit for rule in rules if rule.type is ToolRuleType.MAX_COUNT_PER_STEP}
    conditional_outputs = [None, "not json", '{"message": "\x00unmatched"}'] + [
        json.dumps({"message": str(key).lower() if isinstance(key, bool) else str(key)})
        for rule in rules
        for key, _ in rule.child_output_mapping
    ]
    start: tuple[str | None, frozenset[str], tuple[tuple[str, int], ...]] = (None, frozenset(), ())
    seen = {start}
    frontier = [start]
    while frontier:
        last, called, counts = frontier.pop()
        tally = dict(counts)
        history = [name for name, count in counts if name != last for _ in range(count)]
        if last:
            history += [last] * max(tally.get(last, 0), 1)
        solver.history = history
        allowed: set[str] = set()
        for output in conditional_outputs if last else [None]:
            try:
                allowed |= set(solver.allowed_tool_names(tools, output))
            except ValueError:
                continue
        for name in allowed:
            done = called | {name}
            if required <= done:
                if solver.is_terminal_tool(name):
                    return None
                keeps_going = solver.has_children_tools(name) or solver.is_continue_tool(name)
                if ends.quiet_call and not keeps_going:
                    return None
                if text_ends and name not in forced_after:
                    return None
            after = dict(counts)
            if name in caps:
                after[name] = min(after.get(name, 0) + 1, caps[name])
            state = (name, frozenset(done & required), tuple(sorted(after.items())))
            if state not in seen:
                if len(seen) >= budget:
                    return None
                seen.add(state)
                frontier.append(state)
    never = sorted(required - set().union(*(state[1] for state in seen)))
    if never:
        return f"no sequence of calls these rules allow reaches required_before_exit tool(s): {', '.join(never)}"
    return "no sequence of calls these rules allow can end a turn (every turn would run to max_steps)"
