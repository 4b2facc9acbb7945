"""Scenario checks: one class per check, in two registries, from which the YAML schema is generated.

- `EXPECT_CHECKS`: the keys of an `expect:` (a turn's, or the final one over the whole run), e.g.
  `tool_calls`, `blocks`, `reply`, `stop_reason`, `archival_contains`, `archival_search`.
- `VALUE_CHECKS`: the keys that check a piece of text, a block's value or the reply, e.g. `contains`,
  `json_length`; each says which targets it applies to.

A check class names its YAML key, the wire type of its value (validated strictly by pydantic, with
located errors), a description for the JSON Schema, the agent names it refers to (blocks, tools; checked
before anything runs), and `check(observed) -> failures`. Adding a check is writing one class with the
`@expect_check` or `@value_check` decorator in the module of its kind: the wire models (`ExpectWire`,
`BlockChecksWire`, `ReplyChecksWire`) and so `harness schema scenario` pick it up.

    base.py      Failure, Observed, the Check base classes and the registries
    text.py      value checks of one piece of text (contains, matches, json_*, unchanged, judge)
    calls.py     tool_calls, not_tool_calls
    turn.py      blocks, reply, stop_reason, edited, tool_rules
    archival.py  archival_contains, archival_not_contains, archival_search
    snapshot.py  snapshot (memory golden files)
    context.py   recall, evictions, memory_warnings, summary
    wiring.py    the wire models, generated from the registries
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

# isort: off
# The check modules register their classes as they are imported: this order is the order of the keys in the
# JSON Schema and of the checks (hence of the failures) of an `expect:`.
from harness.scenarios.checks import text, calls, turn, archival, snapshot, context  # noqa: F401

# isort: on
from harness.lookalike import differ_only_in
from harness.scenarios.checks.base import (
    EXPECT_CHECKS,
    VALUE_CHECKS,
    Asker,
    ExpectCheck,
    Failure,
    Judgement,
    Observed,
    Reference,
    RefersTo,
    Snapshots,
    Target,
    Text,
    ValueCheck,
    Verdict,
    call_arguments,
    expect_check,
    value_check,
)
from harness.scenarios.checks.calls import ToolCalls, ToolCallWire
from harness.scenarios.checks.context import Evictions, Summary
from harness.scenarios.checks.snapshot import Snapshot
from harness.scenarios.checks.text import Some, matches_everything, searched
from harness.scenarios.checks.turn import Blocks, Reply, StopReasonIs
from harness.scenarios.checks.wiring import ValueChecksBase, expect_model, field_of, value_model
from harness.wire import StrictModel
from harness.yamlsource import Loc

__all__ = [
    "EXPECT_CHECKS",
    "VALUE_CHECKS",
    "Asker",
    "BlockChecksWire",
    "Blocks",
    "Evictions",
    "ExpectCheck",
    "ExpectWire",
    "Failure",
    "Judgement",
    "Observed",
    "Reference",
    "RefersTo",
    "ReplyChecksWire",
    "Snapshot",
    "Snapshots",
    "StopReasonIs",
    "Target",
    "Text",
    "ToolCallWire",
    "ToolCalls",
    "TurnExpectWire",
    "ValueCheck",
    "Verdict",
    "call_arguments",
    "check",
    "compile_expect",
    "differ_only_in",
    "expect_check",
    "matches_everything",
    "run_checks",
    "searched",
    "value_check",
]

if TYPE_CHECKING:
    BlockChecksWire = ValueChecksBase
    ReplyChecksWire = ValueChecksBase
else:
    BlockChecksWire = value_model("BlockChecks", Target.BLOCK)
    ReplyChecksWire = value_model("ReplyChecks", Target.REPLY)
Blocks.wire = Annotated[dict[str, BlockChecksWire], Some("mapping")]
Reply.wire = ReplyChecksWire
Summary.wire = ReplyChecksWire

if TYPE_CHECKING:
    ExpectWire = StrictModel
    TurnExpectWire = StrictModel
else:
    ExpectWire = expect_model(final=True)
    TurnExpectWire = expect_model(final=False)


def compile_expect(expect: StrictModel | None, loc: Loc) -> tuple[ExpectCheck, ...]:
    """The checks an `expect:` mapping holds, bound to their locations, in registry order."""
    if expect is None:
        return ()
    given = expect.model_fields_set
    return tuple(
        cls(getattr(expect, field_of(key)), (*loc, key)) for key, cls in EXPECT_CHECKS.items() if field_of(key) in given
    )


def run_checks(checks: Iterable[ExpectCheck], observed: Observed) -> list[Failure]:
    return [failure for check in checks for failure in check.check(observed)]


def check(expect: StrictModel | None, observed: Observed, loc: Loc) -> list[Failure]:
    """Shorthand: compile `expect` at `loc` and run it."""
    return run_checks(compile_expect(expect, loc), observed)
