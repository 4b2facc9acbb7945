"""Checking a turn (or the whole run) against a scenario's `expect:`; every failed check is reported."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from harness.records import StopReason, ToolCallRecord
from harness.scenarios.model import BlockCheck, Expectations, TextCheck, ToolCallCheck
from harness.yamlsource import Loc, dotted

LONG = 60  # values longer than this are shown as a diff, not side by side


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "no value to show", unlike None, which a `json: null` check may expect


@dataclass(frozen=True)
class Failure:
    loc: Loc
    message: str
    expected: Any = UNSET
    actual: Any = UNSET
    label: str | None = None  # the block concerned, for its edit history

    @property
    def key(self) -> str:
        return dotted(self.loc)

    def detail(self) -> list[str]:
        if (
            isinstance(self.expected, str)
            and isinstance(self.actual, str)
            and (len(self.expected) > LONG or len(self.actual) > LONG or "\n" in self.expected + self.actual)
        ):
            diff = difflib.unified_diff(
                self.expected.splitlines(), self.actual.splitlines(), "expected", "actual", lineterm="", n=2
            )
            return list(diff)
        lines = []
        if self.expected is not UNSET:
            lines.append(f"expected: {_show(self.expected)}")
        if self.actual is not UNSET:
            lines.append(f"actual:   {_show(self.actual)}")
        return lines


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)


@dataclass
class Observed:
    """What the checks look at: for a turn, that turn; for the final `expect`, the whole run."""

    blocks: dict[str, str]
    initial_blocks: dict[str, str]
    tool_calls: list[ToolCallRecord]
    reply: str | None
    stop_reason: StopReason


def check(expect: Expectations | None, observed: Observed, loc: Loc) -> list[Failure]:
    if expect is None:
        return []
    failures: list[Failure] = []
    if expect.tool_calls is not None:
        failures += _check_tool_calls(expect.tool_calls, observed.tool_calls, (*loc, "tool_calls"))
    for index, name in enumerate(expect.not_tool_calls or []):
        made = [call for call in observed.tool_calls if call.name == name]
        if made:
            failures.append(
                Failure(
                    (*loc, "not_tool_calls", index),
                    f"'{name}' was called {len(made)} time(s)",
                    actual=[c.arguments for c in made],
                )
            )
    for label, block_check in (expect.blocks or {}).items():
        failures += _check_block(block_check, label, observed, (*loc, "blocks", label))
    if expect.reply is not None:
        if observed.reply is None:
            failures.append(Failure((*loc, "reply"), "the agent sent no reply"))
        else:
            failures += _check_text(expect.reply, observed.reply, (*loc, "reply"), None)
    if expect.stop_reason is not None and expect.stop_reason != observed.stop_reason:
        failures.append(
            Failure(
                (*loc, "stop_reason"), "the turn ended otherwise", str(expect.stop_reason), str(observed.stop_reason)
            )
        )
    return failures


def _check_tool_calls(expected: list[ToolCallCheck], calls: list[ToolCallRecord], loc: Loc) -> list[Failure]:
    position = 0
    for index, wanted in enumerate(expected):
        while position < len(calls) and not _call_matches(wanted, calls[position]):
            position += 1
        if position == len(calls):
            made = [f"{c.name}({c.arguments}) -> {'ok' if c.ok else 'FAILED'}: {c.result}" for c in calls]
            what = f"no call to '{wanted.name}'" + (f" with arguments {wanted.args}" if wanted.args else "")
            if wanted.ok is not None:
                what += " that succeeded" if wanted.ok else " that failed"
            if wanted.result_contains is not None:
                what += f" with a result containing {wanted.result_contains!r}"
            if index:
                what += " after the calls matched before it"
            return [Failure((*loc, index), what, expected=[c.name for c in expected], actual=made)]
        position += 1
    return []


def _call_matches(wanted: ToolCallCheck, call: ToolCallRecord) -> bool:
    if call.name != wanted.name:
        return False
    if wanted.ok is not None and call.ok != wanted.ok:
        return False
    if wanted.result_contains is not None and wanted.result_contains not in call.result:
        return False
    arguments = call.parsed_arguments or {}
    return all(key in arguments and arguments[key] == value for key, value in wanted.args.items())


def _check_block(block_check: BlockCheck, label: str, observed: Observed, loc: Loc) -> list[Failure]:
    value = observed.blocks.get(label, "")
    failures = _check_text(block_check, value, loc, label)
    fields = block_check.model_fields_set
    if block_check.unchanged and value != observed.initial_blocks.get(label):
        failures.append(
            Failure((*loc, "unchanged"), f"block '{label}' changed", observed.initial_blocks.get(label), value, label)
        )
    if "json_" in fields or block_check.json_length is not None:
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            failures.append(
                Failure(
                    (*loc, "json" if "json_" in fields else "json_length"),
                    f"block '{label}' is not valid JSON ({exc})",
                    actual=value,
                    label=label,
                )
            )
            return failures
        if "json_" in fields and parsed != block_check.json_:
            failures.append(
                Failure((*loc, "json"), f"block '{label}' holds other JSON", block_check.json_, parsed, label)
            )
        if block_check.json_length is not None:
            length = len(parsed) if isinstance(parsed, list | dict | str) else None
            if length != block_check.json_length:
                failures.append(
                    Failure(
                        (*loc, "json_length"),
                        f"block '{label}' JSON has another length",
                        block_check.json_length,
                        length,
                        label,
                    )
                )
    return failures


def _check_text(text_check: TextCheck, value: str, loc: Loc, label: str | None) -> list[Failure]:
    what = f"block '{label}'" if label else "the reply"
    failures = []
    if text_check.equals is not None and value != text_check.equals:
        failures.append(Failure((*loc, "equals"), f"{what} differs", text_check.equals, value, label))
    for key, needles, want in (
        ("contains", text_check.contains, True),
        ("not_contains", text_check.not_contains, False),
    ):
        for needle in [needles] if isinstance(needles, str) else needles or []:
            if (needle in value) != want:
                verb = "does not contain" if want else "contains"
                failures.append(Failure((*loc, key), f"{what} {verb} {needle!r}", actual=value, label=label))
    if text_check.matches is not None and re.search(text_check.matches, value) is None:
        failures.append(
            Failure((*loc, "matches"), f"{what} does not match /{text_check.matches}/", actual=value, label=label)
        )
    if text_check.max_length is not None and len(value) > text_check.max_length:
        failures.append(
            Failure(
                (*loc, "max_length"),
                f"{what} is {len(value)} characters long",
                text_check.max_length,
                len(value),
                label,
            )
        )
    return failures
