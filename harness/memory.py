"""Core memory: labelled blocks of text with a character limit, rendered into the system prompt.

Semantics follow Letta (the seed notebook): a value over the block's limit is refused with Letta's exact
message, and `compile` renders Letta's prompt template byte for byte.

Every change of a block goes through one path, `Memory`: a value (`update_block_value`, or assigning
`block.value`, which is routed there), a new block, a deletion, a rename or a new description. That path
checks the rules a block was declared with (limit, read_only, and a JSON Schema if it has one), records the
change in `edits`, and bumps `revision`, which is how the loop knows the store has something to persist.
A block's limit, read_only flag, schema, label and id cannot be assigned: a tool cannot lift its own limits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harness import jsontext
from harness.errors import MemoryEditError

__all__ = [
    "DEFAULT_LIMIT",
    "READ_ONLY_BLOCK_EDIT_ERROR",
    "Block",
    "BlockEdit",
    "EditKind",
    "Memory",
    "MemoryEditError",
    "OverLimit",
    "UnknownBlock",
]

DEFAULT_LIMIT = 5000
# letta/constants.py (0.8 to 0.16.8): ERROR_MESSAGE_PREFIX + " This block is read-only and cannot be edited."
READ_ONLY_BLOCK_EDIT_ERROR = "Error This block is read-only and cannot be edited."


def new_block_id() -> str:
    return f"block-{uuid.uuid4()}"


class EditKind(StrEnum):
    """What a change did to a block."""

    VALUE = "value"  # old and new value
    CREATE = "create"  # old is "", new the first value
    DELETE = "delete"  # old the last value, new is ""
    RENAME = "rename"  # label is the new label; old and new are the labels
    DESCRIBE = "describe"  # old and new description ("" for none)


@dataclass(frozen=True)
class BlockEdit:
    """One accepted change of a block, kept so a failing assertion can show how a value came to be."""

    label: str
    old: str
    new: str
    kind: EditKind = EditKind.VALUE


def _over_limit(limit: int, requested: int) -> str:
    return f"Edit failed: Exceeds {limit} character limit (requested {requested})"


@dataclass(frozen=True)
class UnknownBlock:
    """Why a MemoryEditError: no block has this label."""

    label: str
    labels: tuple[str, ...]

    def letta_text(self) -> str:
        """What Letta's `Memory.get_block` says of it, as `str()` of its KeyError (quotes included)."""
        return str(KeyError(f"Block field {self.label} does not exist (available sections = {', '.join(self.labels)})"))


@dataclass(frozen=True)
class OverLimit:
    """Why a MemoryEditError: `value` is longer than `block` allows."""

    block: Block
    value: str


def as_letta_says(exc: BaseException) -> str:
    """An exception's text as Letta's memory words it: an unknown label is its `get_block`'s KeyError."""
    cause = exc.cause if isinstance(exc, MemoryEditError) else None
    return cause.letta_text() if isinstance(cause, UnknownBlock) else str(exc)


def schema_problem(schema: dict[str, Any], value: str) -> str | None:
    """Why `value` is not JSON matching `schema`, in a sentence the model can act on; None when it is."""
    import jsonschema  # only blocks with a schema pay for it
    import referencing

    try:
        data = jsontext.parse(value)
    except ValueError as exc:
        return f"the value is not JSON ({exc})"
    # An empty registry: a reference is resolved within the schema, never fetched (jsonschema's default
    # would open any URL a `$ref` names).
    validator = jsonschema.validators.validator_for(schema)(schema, registry=referencing.Registry())
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    except RecursionError:
        return "the value is nested too deeply to check against the block's schema"
    if error is None:
        return None
    where = "".join(f"[{part!r}]" for part in error.absolute_path)
    return f"{error.message}" + (f" (at {where})" if where else "")


def check_schema(schema: dict[str, Any]) -> str | None:
    """Why `schema` is not a valid JSON Schema, or names what it cannot reach; None when it is usable."""
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        return exc.message
    for ref in _references(schema):
        if not _resolves(schema, ref):
            return (
                f"$ref {ref!r} does not resolve within the schema: only references to its own parts "
                "('#', '#/$defs/NAME', '#/properties/...') are followed, never files or URLs"
            )
    return None


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    """Whether `ref` is a JSON pointer into `schema` (RFC 6901, in a URI fragment) that finds something."""
    from urllib.parse import unquote

    if not ref.startswith("#"):
        return False
    node: Any = schema
    pointer = unquote(ref[1:])
    if pointer == "":
        return True
    if not pointer.startswith("/"):
        return False  # a plain-name fragment ($anchor): not followed
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


class Block:
    """A labelled section of core memory. Its value can be read and assigned; an assignment goes through
    the memory that holds the block (or, for a block in no memory yet, through the same checks)."""

    def __init__(
        self,
        label: str,
        value: str,
        limit: int = DEFAULT_LIMIT,
        description: str | None = None,
        read_only: bool = False,
        metadata: dict[str, Any] | None = None,
        id: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> None:
        self._label = label
        self._limit = limit
        self._read_only = read_only
        self._schema = schema
        self._id = id or new_block_id()
        self._description = description
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}
        self._owner: Memory | None = None
        self._value = ""
        self._value = self.checked(value, initial=True)

    @property
    def label(self) -> str:
        """`Memory.rename_block` changes it."""
        return self._label

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON Schema the value must match (parsed as JSON), if any."""
        return self._schema

    @property
    def id(self) -> str:
        return self._id

    @property
    def description(self) -> str | None:
        """`Memory.update_block_description` changes it."""
        return self._description

    @property
    def value(self) -> str:
        return self._value

    @value.setter
    def value(self, value: str) -> None:
        owner = self._owner
        if owner is not None and owner.holds(self):
            owner.update_block_value(self._label, value)
        else:
            self._value = self.checked(value)

    def checked(self, value: object, *, initial: bool = False) -> str:
        """`value` if this block may take it, else a MemoryEditError saying why (the model reads it)."""
        if not isinstance(value, str):
            raise MemoryEditError(f"Edit failed: value must be a string, not {type(value).__name__}")
        if self._read_only and not initial:
            raise MemoryEditError(READ_ONLY_BLOCK_EDIT_ERROR)
        if len(value) > self._limit:
            raise MemoryEditError(_over_limit(self._limit, len(value)), OverLimit(self, value))
        if self._schema is not None:
            problem = schema_problem(self._schema, value)
            if problem is not None:
                raise MemoryEditError(
                    f"Edit failed: block '{self._label}' must hold JSON matching its schema: {problem}"
                )
        return value

    def _fields(self) -> tuple[Any, ...]:
        return (
            self._label,
            self._value,
            self._limit,
            self._description,
            self._read_only,
            self.metadata,
            self._id,
            self._schema,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Block) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Block(label={self._label!r}, value={self._value!r}, limit={self._limit}, "
            f"description={self._description!r}, read_only={self._read_only}, id={self._id!r})"
        )


@dataclass(frozen=True)
class MemoryCheckpoint:
    blocks: tuple[tuple[Block, str, str, str | None], ...]
    edits: int
    revision: int


class Memory:
    """An ordered set of blocks keyed by label: the one path every change of a block goes through."""

    def __init__(self, blocks: Iterable[Block] = ()) -> None:
        self._blocks: dict[str, Block] = {}
        self.edits: list[BlockEdit] = []
        self.revision = 0  # bumped by every accepted change
        for block in blocks:
            self._attach(block)

    def _attach(self, block: Block) -> None:
        block._owner = self
        self._blocks[block.label] = block

    def holds(self, block: Block) -> bool:
        return self._blocks.get(block.label) is block

    def _record(self, edit: BlockEdit) -> None:
        self.edits.append(edit)
        self.revision += 1

    def checkpoint(self) -> MemoryCheckpoint:
        """What `restore` puts back: the blocks, in order, with their labels, values and descriptions."""
        saved = tuple((block, block._label, block._value, block._description) for block in self._blocks.values())
        return MemoryCheckpoint(saved, len(self.edits), self.revision)

    def restore(self, checkpoint: MemoryCheckpoint) -> None:
        """Memory as it was at `checkpoint`, and its edits since forgotten: a tool call that raised changed
        nothing (Letta runs a tool on a copy of the agent's state, kept only from a call that returned)."""
        if self.revision == checkpoint.revision:
            return
        kept = {id(block) for block, *_ in checkpoint.blocks}
        for block in self._blocks.values():
            if id(block) not in kept:
                block._owner = None
        for block, label, value, description in checkpoint.blocks:
            block._label, block._value, block._description = label, value, description
            block._owner = self
        self._blocks = {block._label: block for block, *_ in checkpoint.blocks}
        del self.edits[checkpoint.edits :]
        self.revision = checkpoint.revision

    # ------------------------------------------------------------ reading

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
            raise MemoryEditError(
                f"Block with label '{label}' does not exist (available: {labels})",
                UnknownBlock(label, tuple(self._blocks)),
            ) from None

    def values(self) -> dict[str, str]:
        return {block.label: block.value for block in self._blocks.values()}

    def compile(self) -> str:
        """Render Letta's template:
        `<{label} characters="{len}/{limit}">\\n{value}\\n</{label}>` joined by newlines."""
        return "\n".join(
            f'<{b.label} characters="{len(b.value)}/{b.limit}">\n{b.value}\n</{b.label}>' for b in self._blocks.values()
        )

    # ------------------------------------------------------------ changing (the one path)

    def update_block_value(self, label: str, value: str) -> None:
        block = self.get_block(label)
        value = block.checked(value)
        if value != block.value:
            self._record(BlockEdit(label, block.value, value))
            block._value = value

    def set_block(self, block: Block) -> None:
        """Add a block, or replace the value and description of the one with the same label (as Letta's
        `Memory.set_block`); the replaced block keeps the rules it was declared with."""
        existing = self._blocks.get(block.label)
        if existing is None:
            self.add_block(block)
            return
        if (block.limit, block.read_only, block.schema) != (existing.limit, existing.read_only, existing.schema):
            raise MemoryEditError(
                f"Edit failed: block '{block.label}' keeps the limit, read_only and schema it was declared "
                "with; only its value and description can change"
            )
        if block.value != existing.value:
            self.update_block_value(block.label, block.value)
        self.update_block_description(block.label, block.description)

    def add_block(self, block: Block) -> None:
        if block.label in self._blocks:
            raise MemoryEditError(f"Error: Memory block '{block.label}' already exists")
        _check_label(block.label)
        self._attach(block)
        self._record(BlockEdit(block.label, "", block.value, EditKind.CREATE))

    def delete_block(self, label: str) -> Block:
        block = self._writable(label)
        del self._blocks[label]
        block._owner = None
        self._record(BlockEdit(label, block.value, "", EditKind.DELETE))
        return block

    def rename_block(self, old_label: str, new_label: str) -> None:
        block = self._writable(old_label)
        if new_label == old_label:
            return
        if new_label in self._blocks:
            raise MemoryEditError(f"Error: Memory block '{new_label}' already exists")
        _check_label(new_label)
        # Keep the block's place in the prompt.
        self._blocks = {(new_label if key == old_label else key): b for key, b in self._blocks.items()}
        block._label = new_label
        self._record(BlockEdit(new_label, old_label, new_label, EditKind.RENAME))

    def update_block_description(self, label: str, description: str | None) -> None:
        block = self.get_block(label)
        if description == block.description:
            return
        block = self._writable(label)
        self._record(BlockEdit(label, block.description or "", description or "", EditKind.DESCRIBE))
        block._description = description

    def _writable(self, label: str) -> Block:
        block = self.get_block(label)
        if block.read_only:
            raise MemoryEditError(READ_ONLY_BLOCK_EDIT_ERROR)
        return block


def _check_label(label: object) -> None:
    """A label a tool gives is taken as Letta takes it: any text (`Block.label` is a free string, and the
    `memory` tool's `create` and `rename` make it from the path: `notes.md`, `my notes`, `2025`, `café`,
    `a/b`). agents.yaml's labels have their own, narrower rule (config.BLOCK_LABEL_PATTERN)."""
    if not isinstance(label, str):
        raise MemoryEditError(f"Edit failed: a block label is text, not {type(label).__name__}")
