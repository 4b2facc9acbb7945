"""What running a scenario gives: its outcome, every turn's record, and the failure report."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.cassettes.mode import CassetteChange
from harness.memory import BlockEdit, EditKind
from harness.records import StepRecord, TurnResult
from harness.scenarios.checks import Failure, Judgement, call_arguments
from harness.scenarios.model import Scenario


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    XFAILED = "xfailed"  # an `xfail` scenario failed, as it documents
    XPASSED = "xpassed"  # an `xfail` scenario passed: an error, the misbehaviour is gone
    ERROR = "error"  # it could not run on: an unreadable cassette, the endpoint, an answer the loop cannot use

    @property
    def ok(self) -> bool:
        return self in (Outcome.PASSED, Outcome.XFAILED)


@dataclass
class TurnRecord:
    index: int
    user: str
    result: TurnResult | None
    messages: list[dict[str, Any]]
    blocks: dict[str, str]
    error: str | None = None  # the model's answer that ended the scenario in this turn
    agent: str | None = None  # another agent that took this turn (its blocks are in `blocks`); None: the scenario's
    # A turn that broke off (`result` None: a cassette miss, an answer the loop cannot use) at a later step:
    # the steps it finished before, whose calls and edits stand (and show in `blocks`)
    unfinished_steps: tuple[StepRecord, ...] = ()
    # The blocks of the agent that took the turn just before it (shared ones as the last writer left them):
    # what a diff of the turn compares with. Not the turn before's `blocks` when another agent took that one.
    blocks_before: dict[str, str] | None = None

    @property
    def steps(self) -> tuple[StepRecord, ...]:
        """The steps the turn ran: all of them, or those before it broke off."""
        return self.result.steps if self.result is not None else self.unfinished_steps

    @property
    def renamed(self) -> dict[str, str]:
        """The blocks the turn renamed: each new label (in `blocks`) with the label it had before the turn. A
        chain of renames is one, a block renamed back or created in the turn is none: a report diffs the
        block against its value under the old label, not as a new block beside one that vanished."""
        origin: dict[str, str | None] = {}  # a label now: its label before the turn (None: created in it)
        for step in self.steps:
            for call in step.tool_calls:
                for edit in call.edits:
                    if edit.kind == EditKind.RENAME:
                        origin[edit.new] = origin.pop(edit.old, edit.old)
                    elif edit.kind == EditKind.CREATE:
                        origin[edit.label] = None
                    elif edit.kind == EditKind.DELETE:
                        origin.pop(edit.label, None)
        return {new: old for new, old in origin.items() if old is not None and old != new and new in self.blocks}


@dataclass
class ScenarioResult:
    scenario: Scenario
    cassette: Path
    outcome: Outcome = Outcome.PASSED
    failures: list[Failure] = field(default_factory=list)
    judgements: list[Judgement] = field(default_factory=list)  # every `judge:` verdict, passing ones too
    stale: list[str] = field(default_factory=list)  # lines explaining a replay miss
    stale_cause: str | None = None  # why it missed, when the harness's doing (`CassetteMiss.cause`)
    # A turn's miss: the index of the recorded exchange it stands where (the first not yet played, as
    # recorded in order) and the body sent now; what `cassettes check` compares another agent's first request with
    missed: tuple[int | None, Any] | None = None
    turns: list[TurnRecord] = field(default_factory=list)
    initial_blocks: dict[str, str] = field(default_factory=dict)
    # The other agents' blocks as the scenario started, by agent: their own as each was created (in a later
    # turn), the blocks they share at their value at the scenario's start (what their `unchanged` compares with)
    agent_initial_blocks: dict[str, dict[str, str]] = field(default_factory=dict)
    # The labels each agent the run drove shares with others (agents.yaml `attach_blocks`): whose edits
    # count in a block's history
    shared_labels: dict[str, frozenset[str]] = field(default_factory=dict)
    unplayed: list[int] = field(default_factory=list)
    recorded_with: dict[str, Any] = field(default_factory=dict)
    change: CassetteChange | None = None  # what recording did to the cassette
    variant: int = 1  # which repeat of the scenario (its cassette is the repeat's)
    repeats: int | None = None  # how many repeats of it the run meant to play (`-x` may stop before the last)
    seconds: float = 0.0
    error: str | None = None  # why the scenario could not run on (located when a model answer ended it)
    error_recorded: bool = False  # the error is an answer the cassette holds (a provider's 400): it replays
    unknown_model: str | None = None  # the model name the endpoint said it does not know: the user's to fix

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    @property
    def checks_passed(self) -> bool:
        """Every check held (whatever `xfail` says): a success, for reliability figures."""
        return self.outcome in (Outcome.PASSED, Outcome.XPASSED)

    @property
    def not_recorded(self) -> bool:
        """A replay miss because there is no cassette at all (never recorded, or a repeat whose recording
        failed), not because what is recorded no longer matches."""
        return bool(self.stale) and not self.cassette.exists()

    @property
    def steps(self) -> int:
        return sum(len(t.steps) for t in self.turns)

    def history(self, label: str, agent: str | None = None, last_turn: int | None = None) -> list[str]:
        """How block `label` of `agent` (default: the scenario's own) came to hold its value: every edit, with
        the call that made it, up to turn `last_turn` (a turn's check saw the value then: later edits would
        read as what it checked). Another agent's changes of the value count when it shares the block, named
        with that agent, those made before this agent joined too (its `unchanged` compares with the value at
        the scenario's start); its own block of the same label is another block, and its renaming or
        deleting a shared one changes only its own copy."""
        name = agent or self.scenario.agent
        initial = self.initial_blocks if name == self.scenario.agent else self.agent_initial_blocks.get(name, {})
        lines = [f"initial: {initial[label]!r}" if label in initial else "initial: no such block"]
        for turn in self.turns:
            if last_turn is not None and turn.index > last_turn:
                break
            by = self._agent_of(turn)
            if by != name and not (
                label in self.shared_labels.get(by, ()) and label in self.shared_labels.get(name, ())
            ):
                continue  # another agent's block of the same label
            for step in turn.steps:
                for call in step.tool_calls:
                    for edit in call.edits:
                        if by != name and edit.kind != EditKind.VALUE:
                            continue  # handed over between agents: a shared block's value alone
                        renamed = edit.kind == EditKind.RENAME
                        if edit.label == label or (renamed and edit.old == label):  # a rename: under its new label
                            where = f"turn {turn.index + 1} step {step.index + 1}"
                            where += f" (agent {by})" if by != name else ""
                            lines.append(f"{where} {call.name}({call_arguments(call)}): {edit_told(edit)}")
        return lines

    def end_blocks(self) -> dict[str, str]:
        """The scenario's own agent's blocks as the run left them: as its last turn left them, shared ones as
        the last agent to write them (a later turn of another agent) left them."""
        name = self.scenario.agent
        mine = self.shared_labels.get(name, frozenset())
        blocks, since = dict(self.initial_blocks), 0
        for n, turn in enumerate(self.turns):
            if self._agent_of(turn) == name:
                blocks, since = dict(turn.blocks), n + 1
        for turn in self.turns[since:]:
            for label in mine & self.shared_labels.get(self._agent_of(turn), frozenset()):
                if label in blocks and label in turn.blocks:
                    blocks[label] = turn.blocks[label]
        return blocks

    def _agent_of(self, turn: TurnRecord) -> str:
        return turn.agent or self.scenario.agent

    def _concerned(self, failure: Failure) -> str:
        """The agent a failing check looked at: its turn's, or (the final `expect`) the scenario's own."""
        if failure.loc[0] == "turns":
            return self.scenario.agent_of(self.scenario.turns[int(failure.loc[1])])
        return self.scenario.agent

    def run_name(self) -> str:
        """Which run of the file this is, when the file makes several: its dataset row, its matrix model (a
        matrix's failures told alike, one per model, said nothing of the model that failed)."""
        parts = [f"dataset row '{self.scenario.row}'"] if self.scenario.row is not None else []
        parts += [f"model '{self.scenario.model}'"] if self.scenario.model is not None else []
        return ", ".join(parts)

    def explain(self) -> str:
        """The failure report: file:line, key, turn, expected vs actual, the block's edit history."""
        path = self.scenario.path
        out: list[str] = [f"{path}: {run}:"] if (run := self.run_name()) else []
        if self.variant > 1:  # which of the recorded repeats (pytest plays them all in one item)
            out.append(f"{path}: repeat {self.variant} (cassette {self.cassette.name}):")
        out += [f"error: {self.error}"] if self.error else []
        if self.stale:
            out += self.stale
        for failure in self.failures:
            line = self.scenario.line(failure.loc)
            where = f"{path}:{line}" if line else str(path)
            out.append(f"{where}: {failure.key}: {failure.message}")
            index = int(failure.loc[1]) if failure.loc[0] == "turns" else None
            if index is not None:
                turn = self.scenario.turns[index]
                taken = f" (agent {turn.agent})" if turn.agent is not None else ""  # not the scenario's
                out.append(f"  in turn {index + 1}{taken}: user: {turn.user!r}")
            else:
                out.append("  after the last turn")
            out += [f"  {line}" for line in failure.detail()]
            if failure.label is not None:
                out.append(f"  history of block '{failure.label}':")
                out += [f"    {line}" for line in self.history(failure.label, self._concerned(failure), index)]
        if self.outcome == Outcome.XPASSED:  # located at the `xfail:` key, as a failed check is at its own
            line = self.scenario.line(("xfail",))
            where = f"{path}:{line}" if line else str(path)
            out.append(
                f"{where}: xfail: expected to fail ({self.scenario.xfail}) but every check passed: "
                "remove `xfail` if the behaviour is fixed"
            )
        return "\n".join(out)


STOPPED = "stopped at the first failure (-x)"


def not_run_line(report: dict[str, Any]) -> str | None:
    """What the reports say of the runs `-x` left out (pytest's "stopping after 1 failures"), or None."""
    left = report.get("not_run")
    return f"{left['reason']}: {left['count']} scenario run(s) not run" if left else None


def edit_told(edit: BlockEdit) -> str:
    """One change of a block as its history tells it: what kind of change it was, then the values (a value
    change as `old -> new`). A description or a label is not the value: told as a value change, a
    description set read `'' -> 'Who I am'` beneath an unchanged value."""
    if edit.kind == EditKind.RENAME:
        return f"renamed {edit.old!r} -> {edit.new!r}"
    if edit.kind == EditKind.DESCRIBE:
        return f"description changed from {_description(edit.old)} to {_description(edit.new)}"
    if edit.kind == EditKind.CREATE:
        return f"block created with value {edit.new!r}"
    if edit.kind == EditKind.DELETE:
        return f"block deleted (its value was {edit.old!r})"
    return f"{edit.old!r} -> {edit.new!r}"


def _description(text: str) -> str:
    return repr(text) if text else "none"  # an edit holds "" for no description


# The lines `explain()` starts with to say which run of a scenario failed (a dataset row, a matrix model, a
# repeat): headers, the reason follows them.
_RUN_HEADER = re.compile(r": (?:dataset row '.*'(?:, model '.*')?|model '.*'|repeat [0-9]+ \(cassette .*\)):$")


def reason_lines(explained: Iterable[str]) -> list[str]:
    """The lines of an explanation from its first reason on: blank lines and `explain()`'s run headers
    (`x.yaml: dataset row 'b':`, `x.yaml: model 'm':`, `x.yaml: repeat 3 (cassette x.repeat-3.yaml):`)
    before it left out."""
    lines = list(explained)
    start = 0
    while start < len(lines) and (not lines[start].strip() or _RUN_HEADER.search(lines[start].rstrip()) is not None):
        start += 1
    return lines[start:]


def crash_reason(exc: BaseException) -> str:
    """An exception no layer expected, on one line, as a run the harness failed on reports it."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def repeated_runs(entries: Iterable[Mapping[str, Any]]) -> set[tuple[Any, Any, Any]]:
    """The runs (scenario, dataset row, model) of a report's entries played more than once."""
    return {(e["scenario"], e.get("row"), e.get("model")) for e in entries if e.get("repeat", 1) > 1}


def entry_name(entry: Mapping[str, Any], repeated: set[tuple[Any, Any, Any]]) -> str:
    """A report entry's name as the summary table gives it: the scenario's path, its dataset row, the model
    of a matrix run, and which repeat when that run was repeated."""
    row, model = entry.get("row"), entry.get("model")
    name = str(entry["scenario"]) + (f"[{row}]" if row is not None else "") + (f" on {model}" if model else "")
    return name + (f" #{entry.get('repeat', 1)}" if (entry["scenario"], row, model) in repeated else "")
