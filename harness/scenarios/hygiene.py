"""`harness cassettes check`: which cassettes are missing, orphaned, stale or carry unused exchanges, and
why, with no model and no network.

Every scenario is replayed offline (a fraction of a millisecond a step), which is the exact test of
whether its cassette still answers what the agent would send now. For a stale one the first request the
agent would send is compared, part by part, with the first one recorded, to say what changed: the model
settings, a tool's description or parameters, tools added or removed, the system prompt (the agent's own
text or a block's value), the first user message. A cassette whose first request still matches went stale
later in the conversation: a tool's behaviour, `max_steps` or the scenario's later turns.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.cassettes.diff import fingerprint_loop, harness_field, masked_secret, request_loop
from harness.cassettes.format import FINGERPRINT_KEY
from harness.cassettes.python_tests import owning_test
from harness.cassettes.replay import ReplayCassette
from harness.config import AgentSpec
from harness.errors import CassetteError, CassetteKeyMismatch
from harness.files import unreachable_reason
from harness.fingerprint import agent_fingerprint, fingerprint_changes
from harness.llm.chat import ChatResponse
from harness.llm.settings import ToolChoice
from harness.loops.kinds import DEFAULT_LOOP
from harness.project import DEFAULT_SNAPSHOTS, Project
from harness.scenarios.model import Scenario
from harness.scenarios.runner import ScenarioRunner, harness_record, has_snapshot


class CassetteState(StrEnum):
    OK = "ok"
    MISSING = "missing"  # a scenario with no cassette
    STALE = "stale"  # the cassette no longer answers what the agent sends
    UNUSED = "unused"  # it answers, but holds exchanges the scenario no longer makes
    UNREADABLE = "unreadable"
    # a request body that does not match its stored key (edited by hand, merged from two recordings): replay
    # goes by the keys, recording by the bodies; restored or recorded anew, never recorded over (`--stale`)
    EDITED = "edited"
    ORPHAN = "orphan"  # a cassette no scenario or test uses
    # a repeat's cassette above the number of repeats its scenario's first cassette says were recorded (left by
    # an earlier, larger `--repeat`): replay skips it; recording it again would not remove it
    UNUSED_REPEAT = "unused repeat"

    @property
    def needs_recording(self) -> bool:
        return self in (CassetteState.MISSING, CassetteState.STALE, CassetteState.UNUSED)

    @property
    def left_alone(self) -> bool:
        """`record --stale` records over neither: an unreadable cassette would lose what is left of it, an
        edited one would be taken by its bodies for what was recorded. Restored, or recorded anew whole."""
        return self in (CassetteState.UNREADABLE, CassetteState.EDITED)


@dataclass
class CassetteStatus:
    cassette: Path
    state: CassetteState
    scenario: Scenario | None = None
    reasons: list[str] = field(default_factory=list)


def check_cassettes(
    runner: ScenarioRunner, scenarios: Iterable[Scenario], *, orphans: bool = True
) -> list[CassetteStatus]:
    """The status of every scenario's cassette, then (with `orphans`) of every cassette nothing uses."""
    scenarios = list(scenarios)
    statuses: list[CassetteStatus] = []
    for scenario in scenarios:
        cassette = runner.cassette_path(scenario)
        recorded = len(Project.variants(cassette))  # each repeat, read once from the first cassette
        statuses += [_status(runner, scenario, variant, recorded) for variant in range(1, recorded + 1)]
        statuses += [
            _leftover(runner, scenario, cassette, variant, recorded) for variant in Project.leftover_repeats(cassette)
        ]
    if orphans:
        used = {_key(status.cassette) for status in statuses}
        statuses += [
            CassetteStatus(path, CassetteState.ORPHAN, reasons=["no scenario or test uses it"])
            for path in _cassette_files(runner.project.cassettes_dir)
            if _key(path) not in used and owning_test(path, runner.project.cassettes_dir, runner.project.root) is None
        ]
        snapshots = runner.project.root / DEFAULT_SNAPSHOTS
        wanted = {_key(runner.snapshot_path(scenario)) for scenario in scenarios if has_snapshot(scenario)}
        statuses += [
            CassetteStatus(path, CassetteState.ORPHAN, reasons=["a snapshot no scenario's `snapshot:` check uses"])
            for path in _cassette_files(snapshots)
            if _key(path) not in wanted
        ]
    return statuses


def _leftover(
    runner: ScenarioRunner, scenario: Scenario, cassette: Path, variant: int, recorded: int
) -> CassetteStatus:
    """A repeat's cassette above the `recorded` repeats the scenario was last recorded with. The advice names
    the last repeat on disk, so following it from any one line uses every leftover."""
    last = Project.repeats_on_disk(cassette)
    reason = (
        f"{runner.project.relative(cassette)} says {recorded} repeat(s) were recorded, so replay skips this one: "
        f"delete it, or record {last} repeats again: "
        + harness_record(scenario.path, flags=("--repeat", str(last)), options=runner.record_options)
    )
    return CassetteStatus(Project.variant_path(cassette, variant), CassetteState.UNUSED_REPEAT, scenario, [reason])


def _status(runner: ScenarioRunner, scenario: Scenario, variant: int, recorded: int) -> CassetteStatus:
    """Repeat `variant` of the `recorded` repeats of `scenario`."""
    path = Project.variant_path(runner.cassette_path(scenario), variant)
    unreachable = unreachable_reason(path)
    if unreachable is not None:  # behind a cassette folder it may not enter: as an unreadable cassette
        return CassetteStatus(path, CassetteState.UNREADABLE, scenario, [unreachable])
    if not path.exists():
        said = f" (repeat {variant} of the {recorded} recorded)" if variant > 1 else ""
        return CassetteStatus(path, CassetteState.MISSING, scenario, [f"not recorded yet{said}"])
    try:  # replay trusts the keys stored beside the request bodies: check them against the bodies
        ReplayCassette(path, verify=True)
    except CassetteError as exc:  # the status names the cassette: its reason does not again
        edited = isinstance(exc, CassetteKeyMismatch)
        return CassetteStatus(
            path, CassetteState.EDITED if edited else CassetteState.UNREADABLE, scenario, [exc.reason]
        )
    spec = runner.spec_for(scenario)
    result = runner.run(scenario, spec, variant)
    if result.error is not None and not result.error_recorded:  # a recorded answer's error replays: up to date
        return CassetteStatus(path, CassetteState.UNREADABLE, scenario, [result.error])
    if not (result.unplayed or result.stale):
        return CassetteStatus(path, CassetteState.OK, scenario)
    try:  # read once more, for what it recorded: its first request and the agent's fingerprint
        cassette: ReplayCassette | None = ReplayCassette(path)
    except CassetteError:
        cassette = None
    stored = cassette.recorded_fingerprint() if cassette is not None else None
    changed = fingerprint_changes(stored, agent_fingerprint(spec))
    loop = _loop_changed(spec, stored, cassette) if cassette is not None else []
    if loop:  # said with the setting that replays it
        changed = [change for change in changed if not change.startswith("loop flavour ")]
    if result.unplayed:
        reasons = [f"{len(result.unplayed)} recorded exchange(s) never asked for", *loop, *changed]
        return CassetteStatus(path, CassetteState.UNUSED, scenario, reasons)
    if cassette is not None and not cassette.played:  # one flag per recorded exchange
        return CassetteStatus(path, CassetteState.STALE, scenario, ["it holds no recorded exchange", *changed])
    reasons = _first_request_changes(runner, scenario, spec, cassette) if cassette is not None else []
    reasons += [change for change in changed if not _said(change, reasons)]
    if not reasons:
        where = next((line for line in result.stale if "no recorded response for turn" in line), None)
        match = re.search(r"turn \d+, step \d+", where or "")
        if where is not None or not result.stale:
            why = result.stale_cause or "a tool's behaviour, max_steps or a later turn changed"
            reasons = [
                f"the first request is unchanged; {match.group() if match else 'a later request'} differs ({why})"
            ]
        else:  # a judge's, an archival search's, a simulated user's or another agent's: as replay says it
            reasons = [result.stale[0].removeprefix(str(scenario.path)).lstrip(":0123456789 ")]
    return CassetteStatus(path, CassetteState.STALE, scenario, [*loop, *reasons])


def _loop_changed(spec: AgentSpec, stored: Any, cassette: ReplayCassette) -> list[str]:
    """The loop the cassette was recorded under, when it is not the agent's: its fingerprint says which (a
    cassette recorded before fingerprints were kept: the fields its agent's first request carries), and
    what setting replays it. Said first: every other difference follows from it."""
    was = fingerprint_loop({FINGERPRINT_KEY: stored})
    if was is None:
        was = next((request_loop(body) for body in cassette.recorded_bodies() if request_loop(body) is not None), None)
    if was is None or was == spec.loop:
        return []
    default = f" ({spec.loop} is the default loop since 2026-11-24)" if spec.loop is DEFAULT_LOOP else ""
    return [
        f"recorded under `loop: {was}`; agent '{spec.name}' runs {spec.loop}{default}: `loop: {was}` on it (or in "
        "`defaults:` of the agents file) replays this cassette, or record it again"
    ]


def _first_request_changes(
    runner: ScenarioRunner, scenario: Scenario, spec: AgentSpec, cassette: ReplayCassette
) -> list[str]:
    """What differs between the first request the agent sends now and the first one recorded (a simulated
    user writes the first message itself: then the recorded one stands for it)."""
    recorded = cassette.recorded_bodies()
    first = next(  # the agent's: a judge's or a simulated user's request offers no tools
        (b for b in recorded if isinstance(b, dict) and "messages" in b and ("tools" in b) == bool(spec.tools)), None
    )
    if first is None:
        return []
    # The agent as the scenario's run builds it (its id, block ids and boot call's id drawn the same way, the
    # history after the loop's first messages): its first request is built, never sent.
    agent = runner.factory.new_agent(
        spec,
        cassette=cassette,
        agent_id=runner.agent_id(scenario),
        blocks=scenario.blocks,
        model=_NoModel(),
        history=list(scenario.history),
    )
    user_index = len(agent.messages) + 1  # after the system message, the loop's first messages and the history
    if scenario.turns:
        agent.messages.append(agent.loop.user_message(scenario.turns[0].user, agent.state.now()))
    else:
        old_messages = first.get("messages") or []
        agent.messages.append(copy.deepcopy(old_messages[user_index]) if user_index < len(old_messages) else {})
    now = agent.first_request()
    secret = masked_secret(first, now)  # differs only where the recording masked a secret: that is the reason
    return [secret[0]] if secret is not None else _compare(first, now, user_index)


def _said(change: str, reasons: list[str]) -> bool:
    """Whether a fingerprint's change is one the first request's comparison said already, in its words
    (`model temperature 0.0 -> 0.5` beside `model settings changed: temperature 0.0 -> 0.5`)."""
    if change in reasons:
        return True
    if change.startswith("model "):
        said = [r.removeprefix("model settings changed: ") for r in reasons if r.startswith("model settings changed:")]
        return any(change.removeprefix("model ") in r.split(", ") for r in said)
    if change == "the agent's system prompt changed":
        return any(r.startswith("system prompt changed:") for r in reasons)
    return False


class _NoModel:
    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice | None = None
    ) -> ChatResponse:
        raise AssertionError("cassettes check never asks a model")


def _compare(recorded: dict[str, Any], now: dict[str, Any], user_index: int = 1) -> list[str]:
    reasons: list[str] = []
    settings = sorted((set(recorded) | set(now)) - {"messages", "tools"})
    changed = [key for key in settings if recorded.get(key) != now.get(key)]
    said = {key: f"{key} {recorded.get(key)!r} -> {now.get(key)!r}" for key in changed}
    # The agents file's settings, and the fields the harness adds itself (the loop's), each said as what it is.
    theirs = [key for key in changed if harness_field(key, recorded.get(key), now.get(key))]
    if len(theirs) < len(changed):
        reasons.append("model settings changed: " + ", ".join(said[key] for key in changed if key not in theirs))
    if theirs:
        reasons.append(
            "fields the harness adds to each request changed (no setting in the agents file: its loop's, or the "
            "harness's own after an upgrade): " + ", ".join(said[key] for key in theirs)
        )
    reasons += _tool_changes(recorded.get("tools") or [], now.get("tools") or [])
    old_messages = recorded.get("messages") or []
    new_messages = now.get("messages") or []
    for index, role in ((0, "system prompt"), (user_index, "first user message")):
        old = _content(old_messages, index)
        new = _content(new_messages, index)
        if old != new:
            reasons.append(f"{role} changed: {_first_difference(old, new)}")
    # Between them: the loop's first messages and the conversation the scenario starts from (`history:`).
    for index in range(1, user_index):
        if index < len(old_messages) and index < len(new_messages) and old_messages[index] != new_messages[index]:
            old, new = _content(old_messages, index), _content(new_messages, index)
            what = _first_difference(old, new) if old != new else "its role or tool calls"
            reasons.append(f"message {index} before the first user message (the history) changed: {what}")
            break
    return reasons


def _tool_changes(recorded: list[Any], now: list[Any]) -> list[str]:
    def by_name(tools: list[Any]) -> dict[str, dict[str, Any]]:
        named: dict[str, dict[str, Any]] = {}
        for tool in tools if isinstance(tools, list) else []:  # not a list: a cassette edited by hand
            function = tool.get("function", {}) if isinstance(tool, dict) else {}
            if isinstance(function, dict) and "name" in function:
                named[str(function["name"])] = function
        return named

    old, new = by_name(recorded), by_name(now)
    reasons = []
    if removed := [name for name in old if name not in new]:
        reasons.append(f"tools removed: {', '.join(removed)}")
    if added := [name for name in new if name not in old]:
        reasons.append(f"tools added: {', '.join(added)}")
    for name in (n for n in new if n in old):
        parts = [part for part in ("description", "parameters") if old[name].get(part) != new[name].get(part)]
        if parts:
            reasons.append(f"tools changed: {name} {' and '.join(parts)}")
    if not reasons and list(old) != list(new):
        reasons.append("tools reordered")
    return reasons


def _content(messages: list[Any], index: int) -> str:
    if isinstance(messages, list) and index < len(messages) and isinstance(messages[index], dict):
        return str(messages[index].get("content") or "")
    return ""


def _first_difference(old: str, new: str) -> str:
    """The first line that differs, as `-old / +new` (shortened)."""
    diff = [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]
    removed = [line for line in diff if line.startswith("-")]
    added = [line for line in diff if line.startswith("+")]
    for old_line, new_line in zip(removed, added, strict=False):
        # A block's `characters="9/5000"` header follows its value: show the value that changed.
        if _COUNTS.sub("", old_line[1:]) != _COUNTS.sub("", new_line[1:]):
            return f"{_short(old_line)} / {_short(new_line)}"
    parts = removed[:1] + added[:1]
    return " / ".join(_short(part) for part in parts) or "whitespace only"


_COUNTS = re.compile(r'characters="\d+/\d+"')


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cassette_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.yaml") if p.is_file() and not p.name.startswith("."))


def _key(path: Path) -> str:
    """The file `path` is; a loop of links is its own (reading it says what is wrong), not a traceback."""
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError on a loop
        return str(path.absolute())
