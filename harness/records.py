"""What a run leaves behind: tool calls, steps, turns and why a turn stopped.

Plain frozen records shared by the loop that makes them, the store that persists them, the checks that
judge them and the reports that show them; this module depends on nothing but memory's `BlockEdit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harness.jsontext import loads
from harness.memory import BlockEdit


class StopReason(StrEnum):
    """Why a turn ended."""

    REPLIED = "replied"  # send_message, nothing asked to go on
    NO_HEARTBEAT = "no_heartbeat"  # tools ran, none asked to go on, no reply
    NO_TOOL_CALL = "no_tool_call"  # plain text
    MAX_STEPS = "max_steps"
    # No tool call, and the provider says why (the step's `finish_reason` or `refusal`):
    REFUSED = "refused"  # the model refused (`message.refusal`)
    LENGTH = "length"  # cut off at max_tokens or the context size (`finish_reason: length`)
    CONTENT_FILTER = "content_filter"  # withheld by the provider's filter (`finish_reason: content_filter`)
    # letta-memgpt: an answer Letta 0.6 could not use, three times (arguments that are not JSON, a bad finish
    # reason): Letta's message call raises there, and nothing of that step stays in history
    INVALID_ANSWER = "invalid_answer"
    # letta-memgpt: the tool that failed in the step before was the only one the rules allowed, so no tool is
    # left to offer; Letta 0.6 sends no request and ends the turn (its `_get_ai_reply` returns None)
    NO_TOOLS_LEFT = "no_tools_left"


@dataclass(frozen=True)
class ToolCallRecord:
    call_id: str
    name: str
    arguments: str
    ok: bool
    result: str
    heartbeat: bool
    edits: tuple[BlockEdit, ...] = ()
    refused: bool = False  # the tool rules did not allow this call now: it never ran (Letta's ToolConstraintError)
    stdout: str = ""  # what a custom tool printed (Letta's ToolReturn stdout/stderr; the model never sees it)
    stderr: str = ""

    @property
    def parsed_arguments(self) -> dict[str, Any] | None:
        """The arguments as the loops read them (`jsontext.loads`): a lone surrogate the model escaped is
        U+FFFD, as the tool got it, not a character a failure's text, pytest's report or a page cannot hold."""
        try:
            value = loads(self.arguments)
        except ValueError:  # not JSON, or nested deeper than the decoder goes
            return None
        return value if isinstance(value, dict) else None


class ContextEventKind(StrEnum):
    """What context pressure did before a step's request (harness/context_window.py)."""

    WARNING = "warning"  # Letta's memory-pressure warning went to the model
    EVICTION = "eviction"  # old messages left the context (to recall) and a summary took their place
    # over the trigger with nothing left to evict (alone, or after an eviction that left the request over the
    # whole window): the request went as it was (an endpoint may refuse it)
    OVERFLOW = "overflow"


@dataclass(frozen=True)
class ContextEvent:
    kind: ContextEventKind
    tokens_before: int  # the request's tokens as counted (see `counter`) before the event
    tokens_after: int  # ... and after it (the warning adds a message; an eviction removes many)
    context_window: int
    counter: str  # how tokens were counted (Letta's documented estimate)
    evicted: int = 0  # messages moved out of context
    kept: int = 0  # history messages still in context (the summary aside)
    summary: str | None = None  # what the summarizer model wrote
    mode: str | None = None  # Letta's summarizer mode that made the summary: sliding_window or all


@dataclass(frozen=True)
class InContext:
    """What compaction left in an agent's context, for a store to persist with the step (so a resumed agent
    resumes its compacted context, as Letta keeps its in-context message ids): the summary message, first
    after the system message, then the last `kept` messages saved; `evicted`, the messages compaction has
    moved out of context so far (Letta's count of them in recall)."""

    summary: dict[str, Any]
    kept: int
    evicted: int


@dataclass(frozen=True)
class TurnOpening:
    """What a turn's first step answers and a store saves with it, all or nothing: the user's message (and
    before it a new agent's first messages), and the agent's turn count with this turn."""

    messages: tuple[dict[str, Any], ...]
    turns: int


@dataclass(frozen=True)
class StepRecord:
    turn: int
    index: int
    content: str | None
    tool_calls: tuple[ToolCallRecord, ...]
    model: str
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None  # as the provider said: stop, tool_calls, length, content_filter...
    refusal: str | None = None  # the model's refusal text, when it refused
    offered: tuple[str, ...] | None = None  # the tools the rules offered at this step; None: no rules, all of them
    context: tuple[ContextEvent, ...] = ()  # what context pressure did before this step's request

    @property
    def edited_labels(self) -> set[str]:
        return {edit.label for call in self.tool_calls for edit in call.edits}


@dataclass(frozen=True)
class TurnResult:
    user: str
    steps: tuple[StepRecord, ...]
    stop_reason: StopReason
    replies: tuple[str, ...]
    error: str | None = None  # what Letta's message call raised, when the loop ended the turn as Letta fails it

    @property
    def reply(self) -> str | None:
        return self.replies[-1] if self.replies else None

    @property
    def tool_calls(self) -> list[ToolCallRecord]:
        return [call for step in self.steps for call in step.tool_calls]
