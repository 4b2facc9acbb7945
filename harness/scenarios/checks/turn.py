"""What a turn left: `blocks` (value checks by label), `reply`, `stop_reason`, `edited` (which blocks the
memory tools changed) and `tool_rules` (what the tool rules allowed and refused)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import pydantic

from harness.memory import EditKind
from harness.records import StopReason
from harness.scenarios.checks.base import ExpectCheck, Failure, Observed, Reference, RefersTo, Text, expect_check
from harness.scenarios.checks.text import Some, no_empty_lists
from harness.scenarios.checks.wiring import value_checks
from harness.wire import Boolean, JsonSchema, StrictModel
from harness.yamlsource import Loc


@expect_check
class Blocks(ExpectCheck):
    key = "blocks"
    description = "Checks on blocks' values, by label"

    def __init__(self, value: Any, loc: Loc) -> None:
        super().__init__(value, loc)
        self.checks = {label: value_checks(checks, (*loc, label)) for label, checks in value.items()}

    def references(self) -> Iterable[Reference]:
        return [Reference((*self.loc, label), RefersTo.BLOCK, label) for label in self.value]

    def check(self, observed: Observed) -> list[Failure]:
        failures: list[Failure] = []
        for label, checks in self.checks.items():
            if label not in observed.blocks:  # never created, or deleted or renamed by the memory tool
                held = ", ".join(observed.blocks) or "none"
                message = f"the agent has no block '{label}' (its blocks: {held})"
                failures.append(Failure((*self.loc, label), message, label=label))  # its history: who took it
                continue
            text = Text(
                observed.blocks[label],
                label,
                observed.initial_blocks.get(label),
                observed.judge,
                observed.judgements,
            )
            for check in checks:
                failures += check.check_text(text)
        return failures


@expect_check
class Reply(ExpectCheck):
    key = "reply"
    description = "Checks on the reply (the last send_message text)"

    def __init__(self, value: Any, loc: Loc) -> None:
        super().__init__(value, loc)
        self.checks = value_checks(value, loc)

    def check(self, observed: Observed) -> list[Failure]:
        if observed.reply is None:
            return [Failure(self.loc, "the agent sent no reply")]
        text = Text(observed.reply, None, judge=observed.judge, judgements=observed.judgements)
        return [failure for check in self.checks for failure in check.check_text(text)]


@expect_check
class StopReasonIs(ExpectCheck):
    key = "stop_reason"
    wire = StopReason
    description = "Why the turn ended: " + ", ".join(reason.value for reason in StopReason)

    def check(self, observed: Observed) -> list[Failure]:
        if self.value == observed.stop_reason:
            return []
        return [Failure(self.loc, "the turn ended otherwise", str(self.value), str(observed.stop_reason))]


@expect_check
class Edited(ExpectCheck):
    key = "edited"
    wire = Annotated[
        dict[str, Boolean | str | Annotated[list[str], JsonSchema(minItems=1)]],
        Some("mapping"),
        pydantic.AfterValidator(no_empty_lists),
    ]
    description = (
        "Which tool calls changed which blocks, by label: true (some call changed it), false (no call did), or "
        "the tool (or tools) that changed it, e.g. {human: memory_replace}"
    )

    def references(self) -> Iterable[Reference]:
        for label, wanted in self.value.items():
            yield Reference((*self.loc, label), RefersTo.BLOCK, label)
            if isinstance(wanted, str):
                yield Reference((*self.loc, label), RefersTo.TOOL, wanted)
            elif isinstance(wanted, list):
                for index, name in enumerate(wanted):
                    yield Reference((*self.loc, label, index), RefersTo.TOOL, name)

    def check(self, observed: Observed) -> list[Failure]:
        failures: list[Failure] = []
        calls = observed.tool_calls if observed.editing_calls is None else observed.editing_calls
        edits = [edit for call in calls for edit in call.edits]
        for label, wanted in self.value.items():
            if not (label in observed.initial_blocks or any(edit.label == label for edit in edits)):
                # an agent that can create blocks is not checked for labels before the run: a misspelt one
                # would pass `false` (no call changed a block that never was)
                held = ", ".join(observed.blocks) or "none"
                failures.append(
                    Failure((*self.loc, label), f"the agent never had a block '{label}' (its blocks: {held})")
                )
                continue
            # A rename edit is recorded under the new label; the old label changed too. A description set
            # changes the block as a value does (Letta's BlockUpdate either way, and the model reads both).
            changes = [
                (call.name, edit.kind)
                for call in calls
                for edit in call.edits
                if edit.label == label or (edit.kind == EditKind.RENAME and edit.old == label)
            ]
            editors = [name for name, _ in changes]
            made = sorted(set(editors))
            loc = (*self.loc, label)
            if wanted is True and not editors:
                failures.append(Failure(loc, f"no tool call changed block '{label}'", label=label))
            elif wanted is False and editors:
                message = (
                    f"block '{label}' was changed by {', '.join(made)}{_what_changed(kind for _, kind in changes)}"
                )
                failures.append(Failure(loc, message, expected=[], actual=made, label=label))
            elif isinstance(wanted, str | list):
                names = [wanted] if isinstance(wanted, str) else wanted
                for name in names:
                    if name not in editors:
                        what = f"by {', '.join(made)} only" if made else "by no tool call"
                        message = f"block '{label}' was not changed by '{name}' (changed {what})"
                        failures.append(Failure(loc, message, expected=names, actual=made, label=label))
        return failures


_CHANGED = {
    EditKind.VALUE: "its value",
    EditKind.DESCRIBE: "its description",
    EditKind.RENAME: "renamed",
    EditKind.CREATE: "created",
    EditKind.DELETE: "deleted",
}


def _what_changed(kinds: Iterable[EditKind]) -> str:
    """What the calls did to the block, when it was more than a value change (a `false` that failed on a
    description set or a rename, said so, is not read as the value having changed)."""
    seen = list(dict.fromkeys(kinds))
    return "" if seen == [EditKind.VALUE] else ": " + ", ".join(_CHANGED[kind] for kind in seen)


class ToolRulesWire(StrictModel):
    """What the agent's tool rules did (a turn's, or the whole run's)."""

    model_config = pydantic.ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["refused"]}, {"required": ["offered"]}]}
    )

    refused: list[str] | None = pydantic.Field(
        None, description="The calls the rules refused (Letta's ToolConstraintError), in order; [] for none"
    )
    offered: list[list[str]] | None = pydantic.Field(
        None, description="The tools the rules offered at each step, in order (e.g. [[core_memory_append], ...])"
    )

    @pydantic.model_validator(mode="after")
    def _checks_something(self) -> ToolRulesWire:
        if self.refused is None and self.offered is None:
            raise ValueError("give `refused` or `offered`: what the rules must have done")
        return self


@expect_check
class ToolRulesOutcome(ExpectCheck):
    key = "tool_rules"
    wire = ToolRulesWire
    description = "What the tool rules did: calls they refused, tools offered at each step"

    def references(self) -> Iterable[Reference]:
        wanted: ToolRulesWire = self.value
        yield Reference(self.loc, RefersTo.TOOL_RULES, "tool_rules")
        for index, name in enumerate(wanted.refused or ()):
            yield Reference((*self.loc, "refused", index), RefersTo.TOOL, name)
        for step, names in enumerate(wanted.offered or ()):
            for index, name in enumerate(names):
                yield Reference((*self.loc, "offered", step, index), RefersTo.TOOL, name)

    def check(self, observed: Observed) -> list[Failure]:
        wanted: ToolRulesWire = self.value
        failures: list[Failure] = []
        if wanted.refused is not None:
            refused = [call.name for call in observed.tool_calls if call.refused]
            if refused != wanted.refused:
                message = "the rules refused other calls" if refused else "the rules refused no call"
                failures.append(Failure((*self.loc, "refused"), message, wanted.refused, refused))
        if wanted.offered is not None:
            offered = [list(step.offered) if step.offered is not None else None for step in observed.steps]
            if any(names is None for names in offered):
                failures.append(Failure((*self.loc, "offered"), "the agent has no tool rules: every tool was offered"))
            elif [sorted(names or ()) for names in offered] != [sorted(names) for names in wanted.offered]:
                failures.append(
                    Failure((*self.loc, "offered"), "the rules offered other tools", wanted.offered, offered)
                )
        return failures
