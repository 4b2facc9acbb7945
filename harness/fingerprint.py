"""An agent's fingerprint: what a recording depends on, hashed part by part, stored in each cassette.

`metadata.agent` in a cassette holds a hash of the whole and of each part: the system prompt, every
tool's schema, every block's spec (value, limit, description, read_only, schema), the model settings
that go on the wire (by value: they are short), the loop (max_steps, tool rules, context_window), and the
embedding model of archival memory when the agent has one (its name and dimensions, on the wire too). `harness cassettes
check` compares it with the agent as configured now, to name what changed since the recording.

Beside the hashed parts (so that the whole hash stays what older cassettes stored): the tool rules as text
(`rules`, said by value when they change), and under `others` each other agent the recording drove, by
name (a scenario's turns with `agent:`; a pytest test's `harness_agent` calls, whose first agent's name is
`name`, with the `max_steps=` it gave under `max_steps_given`). A cassette that stores the main agent's
alone (older ones) is compared for that agent alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from harness.config import AgentSpec, BlockSpec
from harness.loops.kinds import LoopName
from harness.tools.rules import ToolRule

OTHERS_KEY = "others"
NAME_KEY = "name"  # a pytest test's first agent: a scenario's cassette is its scenario's agent's
STEPS_GIVEN_KEY = "max_steps_given"  # a pytest test's `harness_agent(name, max_steps=N)`, by name


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _block_fields(block: BlockSpec) -> dict[str, Any]:
    """What a block's spec is; `shared` only when set, so blocks hash as they did before it existed."""
    fields = dataclasses.asdict(block)
    if not fields["shared"]:
        del fields["shared"]
    return fields


def agent_fingerprint(spec: AgentSpec) -> dict[str, Any]:
    model = spec.model
    parts: dict[str, Any] = {
        "system": _hash(spec.system),
        "tools": {tool.name: _hash(tool.openai_schema()) for tool in spec.tools},
        "blocks": {block.label: _hash(_block_fields(block)) for block in spec.blocks},
        "model": {
            "name": model.name,
            "temperature": model.temperature,
            "max_tokens": model.max_tokens,
            "tool_choice": str(model.tool_choice),
            "seed": model.seed,
        },
        "loop": {
            "max_steps": spec.max_steps,
            "tool_rules": _hash([str(rule) for rule in spec.tool_rules]),
            **({"context_window": spec.context_window} if spec.context_window is not None else {}),
        },
    }
    # Only when not the defaults, so the fingerprints recorded before loops and clocks existed still hold.
    if spec.loop is not LoopName.HARNESS:
        parts["loop"]["flavour"] = str(spec.loop)
    if spec.clock is not None:
        parts["loop"]["clock"] = f"{spec.clock.start.isoformat()} +{spec.clock.tick:g}s seed {spec.clock.seed}"
    if model.put_inner_thoughts_in_kwargs is not None:  # only when set: older fingerprints stay as recorded
        parts["model"]["put_inner_thoughts_in_kwargs"] = model.put_inner_thoughts_in_kwargs
    if model.mistral_tool_call_ids:  # likewise
        parts["model"]["mistral_tool_call_ids"] = True
    if spec.context_window is not None and not spec.memory_warning:
        # The warning is off by default now (as in Letta); every window warned before: an agent that warns
        # keeps the fingerprint it was recorded with.
        parts["loop"]["memory_warning"] = False
    if spec.embedding is not None:  # only then: the fingerprints of agents without one stay as recorded
        parts["embedding"] = {"name": spec.embedding.name, "dimensions": spec.embedding.dimensions}
    fingerprint: dict[str, Any] = {"fingerprint": _hash(parts), "parts": parts}
    if spec.tool_rules:
        fingerprint["rules"] = [_rule_text(rule) for rule in spec.tool_rules]
    return fingerprint


def agents_fingerprint(spec: AgentSpec, others: Mapping[str, AgentSpec], name: str | None = None) -> dict[str, Any]:
    """The fingerprint of a recording's agent `spec` (`name`: said when nothing else names it, as for a
    pytest test's first agent), with each other agent's it drove under `others`."""
    fingerprint = agent_fingerprint(spec)
    if name is not None:
        fingerprint[NAME_KEY] = name
    if others:
        fingerprint[OTHERS_KEY] = {other: agent_fingerprint(other_spec) for other, other_spec in others.items()}
    return fingerprint


def agents_changes(recorded: Any, now: dict[str, Any]) -> list[str]:
    """`fingerprint_changes` of the main agent, then of each other agent both fingerprints hold, each said
    with its name (`agent 'beta': system prompt changed`). An agent the stored one does not hold (a cassette
    recorded before the others were kept, or one the scenario did not drive then) is not compared."""
    changes = fingerprint_changes(recorded, now)
    stored = _mapping(recorded.get(OTHERS_KEY)) if isinstance(recorded, dict) else {}
    for name, fingerprint in _mapping(now.get(OTHERS_KEY)).items():
        if name in stored:
            changes += [
                f"agent '{name}': {change.removeprefix('the agent' + chr(39) + 's ')}"
                for change in fingerprint_changes(stored[name], fingerprint)
            ]
    return changes


def fingerprint_changes(recorded: Any, now: dict[str, Any]) -> list[str]:
    """What differs between a stored fingerprint and the agent's now, part by part (empty if the same or
    nothing was stored). The order of the tools is on the wire but not in the hash: it is compared apart."""
    if not isinstance(recorded, dict):
        return []
    old, new = _mapping(recorded.get("parts")), now["parts"]
    if recorded.get("fingerprint") == now["fingerprint"]:
        return _reordered(list(_mapping(old.get("tools"))), list(new["tools"]))
    changes = []
    if old.get("system") != new["system"]:
        changes.append("the agent's system prompt changed")
    for kind, noun in (("tools", "tool"), ("blocks", "block")):
        before, after = _mapping(old.get(kind)), new[kind]
        for name in after:
            if name not in before:
                changes.append(f"{noun} '{name}' added")
            elif before[name] != after[name]:
                changes.append(f"{noun} '{name}' changed")
        changes += [f"{noun} '{name}' removed" for name in before if name not in after]
    for kind in ("model", "loop", "embedding"):
        if kind not in old and kind not in new:
            continue
        if kind == "embedding" and (kind not in old or kind not in new):
            changes.append("embedding model added" if kind in new else "embedding model removed")
            continue
        before, after = _mapping(old.get(kind)), _mapping(new.get(kind))
        keys = [*after, *(key for key in before if key not in after)]  # a setting taken out says so too
        changes += [
            _rules_change(recorded.get("rules"), now.get("rules"))
            if (kind, key) == ("loop", "tool_rules")
            else f"{kind} {key} {_shown(before, key)} -> {_shown(after, key)}"
            for key in keys
            if before.get(key, _UNSET) != after.get(key, _UNSET)
        ]
    if not changes:
        changes = _reordered(list(_mapping(old.get("tools"))), list(new["tools"]))
    return changes or ["the agent's fingerprint changed"]


def _reordered(before: list[str], after: list[str]) -> list[str]:
    """The tools, the same ones in another order (the stored parts keep the order they were written in)."""
    if before != after and sorted(before) == sorted(after):
        return [f"tools reordered: {', '.join(before)} -> {', '.join(after)}"]
    return []


def _rule_text(rule: ToolRule) -> str:
    """A tool rule as the agents file gives it, for a reason: its type, its tool and what it names."""
    text = f"{rule.type} {rule.tool_name}"
    if rule.children:
        text += f" -> {', '.join(rule.children)}"
    if rule.max_count_limit:
        text += f" (max {rule.max_count_limit})"
    return text


def _rules_change(before: Any, after: Any) -> str:
    """The tool rules that changed, by value when the stored fingerprint kept them (a hash alone, otherwise)."""
    old = [str(rule) for rule in before] if isinstance(before, list) else None
    new = [str(rule) for rule in after] if isinstance(after, list) else []
    if old is None:
        return "tool rules changed"
    parts = [f"+{rule}" for rule in new if rule not in old] + [f"-{rule}" for rule in old if rule not in new]
    return "tool rules changed: " + (", ".join(parts) if parts else "the same rules in another order or form")


_UNSET = object()


def _shown(part: dict[str, Any], key: str) -> str:
    return repr(part[key]) if key in part else "(not set)"


def _mapping(value: Any) -> dict[str, Any]:
    """A stored part as a mapping; anything else (a cassette edited by hand) as an empty one."""
    return value if isinstance(value, dict) else {}
