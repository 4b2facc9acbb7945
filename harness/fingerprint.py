"""An agent's fingerprint: what a recording depends on, hashed part by part, stored in each cassette.

`metadata.agent` in a cassette holds a hash of the whole and of each part: the system prompt, every
tool's schema, every block's spec (value, limit, description, read_only, schema), the model settings
that go on the wire (by value: they are short), the loop (max_steps, tool rules, context_window), and the
embedding model of archival memory when the agent has one (its name and dimensions, on the wire too). `harness cassettes
check` compares it with the agent as configured now, to name what changed since the recording.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from harness.config import AgentSpec, BlockSpec
from harness.loops.kinds import LoopName


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
    return {"fingerprint": _hash(parts), "parts": parts}


def fingerprint_changes(recorded: Any, now: dict[str, Any]) -> list[str]:
    """What differs between a stored fingerprint and the agent's now, part by part (empty if the same or
    nothing was stored)."""
    if not isinstance(recorded, dict) or recorded.get("fingerprint") == now["fingerprint"]:
        return []
    old, new = _mapping(recorded.get("parts")), now["parts"]
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
            f"{kind} {key} {_shown(before, key)} -> {_shown(after, key)}"
            for key in keys
            if before.get(key, _UNSET) != after.get(key, _UNSET)
        ]
    return changes or ["the agent's fingerprint changed"]


_UNSET = object()


def _shown(part: dict[str, Any], key: str) -> str:
    return repr(part[key]) if key in part else "(not set)"


def _mapping(value: Any) -> dict[str, Any]:
    """A stored part as a mapping; anything else (a cassette edited by hand) as an empty one."""
    return value if isinstance(value, dict) else {}
