"""Core memory: labelled blocks of text with a character limit, rendered into the system prompt.

Semantics follow Letta (the seed notebook): `update_block_value` refuses a value over the block's limit
with Letta's exact message, and `compile` renders Letta's prompt template byte for byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.errors import MemoryEditError

__all__ = ["DEFAULT_LIMIT", "Block", "BlockEdit", "Memory", "MemoryEditError"]

DEFAULT_LIMIT = 5000


def new_block_id() -> str:
    return f"block-{uuid.uuid4()}"


@dataclass
class Block:
    label: str
    value: str
    limit: int = DEFAULT_LIMIT
    description: str | None = None
    read_only: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_block_id)

    def __post_init__(self) -> None:
        if len(self.value) > self.limit:
            raise MemoryEditError(_over_limit(self.limit, len(self.value)))


def _over_limit(limit: int, requested: int) -> str:
    return f"Edit failed: Exceeds {limit} character limit (requested {requested})"


@dataclass(frozen=True)
class BlockEdit:
    """One accepted change of a block, kept so a failing assertion can show how a value came to be."""

    label: str
    old: str
    new: str


class Memory:
    """An ordered set of blocks keyed by label. Every accepted edit is appended to `edits`."""

    def __init__(self, blocks: Iterable[Block] = ()) -> None:
        self._blocks: dict[str, Block] = {}
        self.edits: list[BlockEdit] = []
        for block in blocks:
            self.set_block(block)

    def set_block(self, block: Block) -> None:
        """Add a block, or replace the one with the same label (as Letta's `Memory.set_block`)."""
        self._blocks[block.label] = block

    def list_block_labels(self) -> list[str]:
        return list(self._blocks)

    def get_blocks(self) -> list[Block]:
        return list(self._blocks.values())

    def __iter__(self) -> Iterator[Block]:
        return iter(self._blocks.values())

    def get_block(self, label: str) -> Block:
        try:
            return self._blocks[label]
        except KeyError:
            labels = ", ".join(self._blocks) or "none"
            raise MemoryEditError(f"Block with label '{label}' does not exist (available: {labels})") from None

    def update_block_value(self, label: str, value: str) -> None:
        block = self.get_block(label)
        if not isinstance(value, str):
            raise MemoryEditError(f"Edit failed: value must be a string, not {type(value).__name__}")
        if block.read_only:
            raise MemoryEditError(f"Edit failed: block '{label}' is read-only")
        if len(value) > block.limit:
            raise MemoryEditError(_over_limit(block.limit, len(value)))
        if value != block.value:
            self.edits.append(BlockEdit(label, block.value, value))
            block.value = value

    def values(self) -> dict[str, str]:
        return {block.label: block.value for block in self._blocks.values()}

    def compile(self) -> str:
        """Render Letta's template:
        `<{label} characters="{len}/{limit}">\\n{value}\\n</{label}>` joined by newlines."""
        return "\n".join(
            f'<{b.label} characters="{len(b.value)}/{b.limit}">\n{b.value}\n</{b.label}>' for b in self._blocks.values()
        )
