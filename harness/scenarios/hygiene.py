"""`harness cassettes check`: which cassettes are missing, orphaned, stale or carry unused exchanges, and
why, with no model and no network.

Every scenario is replayed offline (a fraction of a millisecond a step), which is the exact test of
whether its cassette still answers what the agent would send now. For a stale one the first request the
agent would send is compared, part by part, with the first one recorded, to say what changed: the model
settings, a tool's description or parameters, tools added or removed, the system prompt (the agent's own
text or a block's value), the first user message. A cassette whose first request still matches went stale
later in the conversation: a tool's behaviour, `max_steps` or the scenario's later turns; that is said
first, and what the stored fingerprints name after it (they may be older than the last check). Each agent a
scenario drives is compared with its own recorded requests and fingerprint, said with its name. A Python
test's cassette, which only pytest replays, is checked by its agents' fingerprints alone.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.cassettes.diff import fingerprint_loop, harness_field, masked_secret, request_loop
from harness.cassettes.format import FINGERPRINT_KEY
from harness.cassettes.python_tests import owning_test, selected_tests
from harness.cassettes.replay import ReplayCassette
from harness.config import AgentSpec
from harness.errors import CassetteError, CassetteKeyMismatch
from harness.files import unreachable_reason
from harness.fingerprint import NAME_KEY, OTHERS_KEY, STEPS_GIVEN_KEY, agents_changes, agents_fingerprint
from harness.llm.chat import ChatResponse
from harness.llm.settings import ToolChoice
from harness.loops.kinds import DEFAULT_LOOP
from harness.project import DEFAULT_SNAPSHOTS, Project
from harness.scenarios.model import Scenario
from harness.scenarios.results import ScenarioResult
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
    # a Python test's cassette that stores no fingerprint of its agents (recorded before they were kept):
    # only pytest, replaying it, can say whether it is up to date
    UNCHECKED = "not checked"

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
    test: Path | None = None  # the test file of a Python test's cassette (checked by its agents' fingerprints)
    # An ok cassette's fingerprint that names changes no request shows (a block's description): out of date,
    # harmless; `record --stale` writes it anew, so that a later stale verdict does not name them as its cause
    drift: list[str] = field(default_factory=list)


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
        tests: list[CassetteStatus] = []
        for path in _cassette_files(runner.project.cassettes_dir):
            if _key(path) in used:
                continue
            test = owning_test(path, runner.project.cassettes_dir, runner.project.root)
            if test is None:
                statuses.append(CassetteStatus(path, CassetteState.ORPHAN, reasons=["no scenario or test uses it"]))
            else:
                tests.append(python_test_status(runner, path, test))
        statuses += tests
        snapshots = runner.project.root / DEFAULT_SNAPSHOTS
        wanted = {_key(runner.snapshot_path(scenario)) for scenario in scenarios if has_snapshot(scenario)}
        statuses += [
            CassetteStatus(path, CassetteState.ORPHAN, reasons=["a snapshot no scenario's `snapshot:` check uses"])
            for path in _cassette_files(snapshots)
            if _key(path) not in wanted
        ]
    return statuses


def python_test_cassettes(runner: ScenarioRunner, scenarios: Iterable[Scenario]) -> list[CassetteStatus]:
    """The status of every Python test's cassette (not one of `scenarios`'), by its agents' fingerprints."""
    used = {_key(Project.variant_path(runner.cassette_path(scenario), 1)) for scenario in scenarios}
    statuses = []
    for path in _cassette_files(runner.project.cassettes_dir):
        test = owning_test(path, runner.project.cassettes_dir, runner.project.root) if _key(path) not in used else None
        if test is not None:
            statuses.append(python_test_status(runner, path, test))
    return statuses


def python_test_status(runner: ScenarioRunner, path: Path, test: Path) -> CassetteStatus:
    """A Python test's cassette (`harness_agent`), which only pytest replays: checked by the fingerprints of
    the agents its test made, stored when it was recorded. Stale when one of them changed (said with the
    pytest command that records it again); ok when none did (a change a fingerprint cannot see, such as a
    tool's code or the test's own, only pytest finds); not checked when it stores none."""
    try:
        stored = ReplayCassette(path).recorded_fingerprint()
    except CassetteError as exc:
        record = pytest_record(runner, path, test)
        return CassetteStatus(
            path, CassetteState.UNREADABLE, reasons=[exc.reason, f"record it with: {record}"], test=test
        )
    name = stored.get(NAME_KEY) if isinstance(stored, dict) else None
    if not isinstance(stored, dict) or not isinstance(name, str):
        reason = (
            "a Python test's cassette that stores no fingerprint of its agents (recorded before they were kept): "
            "only pytest can tell whether it is up to date; recorded again it stores them: "
            + pytest_record(runner, path, test)
        )
        return CassetteStatus(path, CassetteState.UNCHECKED, reasons=[reason], test=test)
    given = stored.get(STEPS_GIVEN_KEY)
    steps = given if isinstance(given, dict) else {}
    others = stored.get(OTHERS_KEY)
    names = [name, *(other for other in (others if isinstance(others, dict) else {}) if other != name)]
    missing = [each for each in names if each not in runner.factory.config.agents]
    if missing:
        gone = ", ".join(f"'{each}'" for each in missing)
        record = pytest_record(runner, path, test)
        reasons = [f"its test made agent(s) {gone}, which the agents file no longer has", f"record it with: {record}"]
        return CassetteStatus(path, CassetteState.STALE, reasons=reasons, test=test)
    specs = {}
    for each in names:
        max_steps = steps.get(each)
        specs[each] = runner.factory.spec(each, max_steps if isinstance(max_steps, int) else None)
    now = agents_fingerprint(specs[name], {each: specs[each] for each in names[1:]}, name=name)
    changes = [
        change if _owner(change) else f"agent '{name}': {change.removeprefix(_THE_AGENTS)}"
        for change in agents_changes(stored, now)
    ]
    if changes:  # the command worked out only for a cassette that needs it (`selected_tests` may try readings)
        record = pytest_record(runner, path, test)
        return CassetteStatus(
            path, CassetteState.STALE, reasons=[*changes, f"record it again with: {record}"], test=test
        )
    return CassetteStatus(path, CassetteState.OK, test=test)


_THE_AGENTS = "the agent's "


def _from_here(path: Path) -> str:
    """`path` from the current folder, where the command is pasted (as it was given when above it)."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative


def pytest_record(runner: ScenarioRunner, cassette: Path, test: Path) -> str:
    """The pytest command that records a Python test's cassette again (mode `new`: what still matches is
    kept), with this command's agents file, cassette folder, endpoint and model given as pytest's options:
    the test's node id, quoted for a shell (`'test_a.py::test_x[a b]'`), worked out from the cassette's name
    as `selected_tests` can (the function's, or the file's, where it cannot)."""
    options = dict(zip(runner.record_options[::2], runner.record_options[1::2], strict=False))
    words = ["pytest", "--harness-record-mode", "new"]
    for flag in ("--agents", "--cassettes", "--base-url", "--model"):
        if flag in options:
            words += [f"--harness-{flag.removeprefix('--')}", options[flag]]
    file = _from_here(test)
    words += [f"{file}::{selected}" for selected in selected_tests(cassette, test)] or [file]
    return shlex.join(words)


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
        return CassetteStatus(path, CassetteState.OK, scenario, drift=_drift(runner, scenario, spec, path))
    try:  # read once more, for what it recorded: its first request and the agent's fingerprint
        cassette: ReplayCassette | None = ReplayCassette(path)
    except CassetteError:
        cassette = None
    stored = cassette.recorded_fingerprint() if cassette is not None else None
    changed = agents_changes(stored, runner.fingerprint(scenario, spec))
    loop = _loop_changed(spec, stored, cassette) if cassette is not None else []
    if loop:  # said with the setting that replays it
        changed = [change for change in changed if not change.startswith("loop flavour ")]
    if result.unplayed:
        reasons = [f"{len(result.unplayed)} recorded exchange(s) never asked for", *loop, *changed]
        return CassetteStatus(path, CassetteState.UNUSED, scenario, reasons)
    if cassette is not None and not cassette.played:  # one flag per recorded exchange
        return CassetteStatus(path, CassetteState.STALE, scenario, ["it holds no recorded exchange", *changed])
    where = next((line for line in result.stale if "no recorded response for turn" in line), None)
    at = re.search(r"turn (\d+), step (\d+)", where or "")
    reasons = _first_request_changes(runner, scenario, spec, cassette, result, at) if cassette is not None else []
    unsaid = [change for change in changed if not _said(change, reasons)]
    if reasons:
        return CassetteStatus(path, CassetteState.STALE, scenario, [*loop, *reasons, *unsaid])
    # Every agent's first request is as recorded: the miss is said first, where it is. A change the stored
    # fingerprint names is said after it, as what it is: a fingerprint can be older than the cassette's
    # last check (a change no request shows, such as a block's description, leaves the cassette ok and
    # its fingerprint as it was), so it may not be why.
    if where is not None or not result.stale:
        why = result.stale_cause or "a tool's behaviour, max_steps or a later turn changed"
        reasons = [f"the first request is unchanged; {at.group() if at else 'a later request'} differs ({why})"]
    else:  # a judge's, an archival search's, a simulated user's or another agent's: as replay says it
        reasons = [result.stale[0].removeprefix(str(scenario.path)).lstrip(":0123456789 ")]
    if unsaid:
        reasons.append(
            "also changed since this cassette was recorded (no request before the miss shows it): " + "; ".join(unsaid)
        )
    return CassetteStatus(path, CassetteState.STALE, scenario, [*loop, *reasons])


def _drift(runner: ScenarioRunner, scenario: Scenario, spec: AgentSpec, path: Path) -> list[str]:
    """What an ok cassette's stored fingerprint says changed since it was recorded (nothing on the wire)."""
    try:
        stored = ReplayCassette(path).recorded_fingerprint()
    except CassetteError:
        return []
    return agents_changes(stored, runner.fingerprint(scenario, spec)) if stored is not None else []


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
    runner: ScenarioRunner,
    scenario: Scenario,
    spec: AgentSpec,
    cassette: ReplayCassette,
    result: ScenarioResult,
    at: re.Match[str] | None,
) -> list[str]:
    """What differs between the first request an agent sends now and its first one recorded. A miss at
    another agent's first request (or at the scenario's agent's, when another spoke first) compares the
    request sent with the recorded one it stands where, said with that agent's name. Otherwise, when the
    scenario's agent speaks first, its first request is built and compared (a simulated user writes the first
    message itself: then the recorded one stands for it); when another agent speaks first, every first
    request before the miss replayed as recorded."""
    speakers = [scenario.agent_of(turn) for turn in scenario.turns]
    if at is not None and int(at.group(2)) == 1 and 0 < int(at.group(1)) <= len(speakers):
        turn = int(at.group(1)) - 1
        name = speakers[turn]
        if speakers.index(name) == turn and turn > 0:  # that agent's first turn, after another agent's
            return _missed_first_request(scenario, name, cassette, result)
    if speakers and speakers[0] != scenario.agent:
        if at is not None and at.group() == "turn 1, step 1":
            return _missed_first_request(scenario, speakers[0], cassette, result)
        return []
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


def _missed_first_request(scenario: Scenario, name: str, cassette: ReplayCassette, result: ScenarioResult) -> list[str]:
    """Agent `name`'s first request, as sent at the miss, compared with the recorded request at its place
    (the first not played), said with the agent's name when it is not the scenario's own."""
    if result.missed is None:
        return []
    index, sent = result.missed
    recorded = cassette.recorded_bodies()
    body = recorded[index] if index is not None and index < len(recorded) else None
    if not (isinstance(body, dict) and isinstance(sent, dict) and isinstance(sent.get("messages"), list)):
        return []
    prefix = "" if name == scenario.agent else f"agent '{name}': "
    return [prefix + reason for reason in _compare(body, sent, len(sent["messages"]) - 1)]


_AGENT = re.compile(r"agent '[^']*': ")


def _owner(reason: str) -> str:
    """The `agent 'name': ` a reason starts with: another agent's; empty for the scenario's own agent."""
    named = _AGENT.match(reason)
    return named.group() if named else ""


def _said(change: str, reasons: list[str]) -> bool:
    """Whether a fingerprint's change is one the first request's comparison said already, in its words
    (`model temperature 0.0 -> 0.5` beside `model settings changed: temperature 0.0 -> 0.5`, `tool 'x'
    changed` beside `tools changed: x description`); another agent's only beside that agent's."""
    if change in reasons:
        return True
    prefix = _owner(change)
    change = change.removeprefix(prefix)
    reasons = [r.removeprefix(prefix) for r in reasons if _owner(r) == prefix]  # this agent's reasons
    if change.startswith("model "):
        said = [r.removeprefix("model settings changed: ") for r in reasons if r.startswith("model settings changed:")]
        wire = change.removeprefix("model name ")  # the name goes on the wire as `model`
        wire = f"model {wire}" if wire != change else change.removeprefix("model ")
        return any(wire in r.split(", ") for r in said)
    if change in ("the agent's system prompt changed", "system prompt changed"):
        return any(r.startswith("system prompt changed:") for r in reasons)
    if tool := re.fullmatch(r"tool '(.*)' (changed|added|removed)", change):
        name, how = tool.groups()
        if how == "changed":
            return any(r.startswith(f"tools changed: {name} ") for r in reasons)
        listed = f"tools {how}: "
        return any(name in r.removeprefix(listed).split(", ") for r in reasons if r.startswith(listed))
    if change.startswith("tools reordered"):
        return any(r.startswith("tools reordered") for r in reasons)
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
        reasons.append(f"tools reordered: {', '.join(old)} -> {', '.join(new)}")
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
    # A blank line says nothing readable: the first line with text that differs is shown.
    removed = [line for line in diff if line.startswith("-") and line[1:].strip()]
    added = [line for line in diff if line.startswith("+") and line[1:].strip()]
    for old_line, new_line in zip(removed, added, strict=False):
        # A block's `characters="9/5000"` header follows its value: show the value that changed.
        if _COUNTS.sub("", old_line[1:]) != _COUNTS.sub("", new_line[1:]):
            return f"{_short(old_line)} / {_short(new_line)}"
    parts = removed[:1] + added[:1]
    if parts:
        return " / ".join(_short(part) for part in parts)
    return "blank lines only (a prompt's trailing newline?)" if diff else "whitespace only"


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
