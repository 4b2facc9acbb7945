"""The agent loop, with Letta/MemGPT semantics.

A user message starts a turn of one or more steps. Each step sends the system message (the prompt with
memory compiled afresh) and the history to the model, then runs its tool calls in order:

- a failed call (bad JSON, unknown tool, invalid arguments, an exception, a refused memory edit) goes back
  to the model as the tool's result, `{"status": "Failed", "message": ...}`, and the loop goes on;
- a non-terminal call with `request_heartbeat: true` makes the loop go on;
- `send_message` is terminal: the turn ends with the reply unless another call asks to go on;
- plain text with no tool call ends the turn; the text counts as the reply (stop reason `no_tool_call`),
  since it is what the user would see from a chat model;
- `max_steps` ends a turn that would go on.

Tool rules (Letta's, see harness/tools/rules.py), when an agent has any: each step offers only the tools
the rules allow next; a call to another tool is refused with Letta's `[ToolConstraintError]` result and the
loop goes on; an `exit_loop` tool ends the turn (a failed call of one does not where the loop says a failure
goes on: letta-memgpt), a `constrain_child_tools`/`conditional`/`max_count_per_step`
or `continue_loop` tool keeps it going, and a turn that would end with a `required_before_exit` tool not yet
called goes on.

What differs between loop flavours (`loop:` in agents.yaml: the harness's, Letta 0.6's MemGPT agent,
Letta's v1 loop) is asked of the agent's `Loop` (harness/loops/): packaging, the request, which calls run
and how, what keeps a turn going. A frozen clock (`clock:`) advances once per model answer.

Context pressure (an agent with `context_window`, harness/context_window.py): before each request the
history may be compacted (old messages evicted, a summary in their place) or get Letta's memory-pressure
warning; the step's record says which (`StepRecord.context`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from harness.clock import Ids, RandomIds, clock_and_ids
from harness.config import AgentSpec
from harness.context_window import ContextWindow, token_counter
from harness.llm.chat import CallIds, ChatModel, ChatResponse, ToolCall, chat_request
from harness.llm.settings import ToolChoice
from harness.loops.base import CallOutcome, Loop, NothingToAsk, TurnAborted
from harness.loops.registry import new_loop
from harness.memory import Block, Memory
from harness.records import (
    ContextEventKind,
    InContext,
    StepRecord,
    StopReason,
    ToolCallRecord,
    TurnOpening,
    TurnResult,
)
from harness.tools.context import AgentState
from harness.tools.rules import ToolRulesSolver
from harness.tools.schema import ToolResult

__all__ = ["Agent", "AgentState", "Journal", "StepRecord", "StopReason", "ToolCallRecord", "TurnResult"]


class Journal(Protocol):
    """Where the loop writes what happened, as it happens (the SQLite store is one): ids and records only,
    never the live agent, so persistence does not depend on the loop."""

    def save_user_message(self, agent_id: str, turns: int, turn: int, message: dict[str, Any]) -> None: ...

    def save_step(
        self,
        agent_id: str,
        step: StepRecord,
        messages: list[dict[str, Any]],
        blocks: list[Block] | None,
        in_context: InContext | None = None,
        opening: TurnOpening | None = None,
    ) -> None:
        """`blocks` is every block memory holds when memory changed since the last save, else None;
        `in_context`, once the history was compacted, what of it is in context after this step; `opening`,
        at a turn's first step, the user's message it answers: saved with it, all or nothing (a message is
        kept only once the model answers it)."""


class Agent:
    def __init__(
        self,
        spec: AgentSpec,
        model: ChatModel,
        *,
        state: AgentState | None = None,
        messages: list[dict[str, Any]] | None = None,
        turns: int = 0,
        journal: Journal | None = None,
        on_step: Callable[[StepRecord], None] | None = None,
        call_ids: CallIds = CallIds.PROVIDER,
        ids: Ids | None = None,
    ) -> None:
        """`journal` persists each step as it finishes; `on_step` then sees it (progress while recording).
        `call_ids` says which tool-call ids go into history (a cassette says which ones it recorded).
        `ids` is where the agent's ids come from (seeded with a `clock:`), shared with whoever made `state`."""
        self.spec = spec
        self.model = model
        now, self._advance_clock, seeded = clock_and_ids(spec.clock)
        self._loop_now = (
            now  # the loop's time: the frozen clock, else the wall clock (a state's own clock is the tools')
        )
        self.ids = ids or seeded
        self.state = state or AgentState(self.new_id(self.ids), spec.name, spec.new_memory(ids=self.ids))
        if state is None or spec.clock is not None:  # a state given keeps its clock (steady when recorded)
            self.state.now = now
        self.loop: Loop = new_loop(spec)
        self.messages: list[dict[str, Any]] = messages if messages is not None else self.loop.initial_messages(self)
        # A new agent's first messages (Letta's boot sequence) are persisted with its first user message.
        self._unsaved_history = 0 if messages is not None else len(self.messages)
        self.turns = turns
        self.journal = journal
        self.on_step = on_step
        self._unsaved_user_message = False
        self.call_ids = call_ids
        self._used_ids: set[str] | None = None  # every tool-call id in history, built when first needed
        self._tool_names = [tool.name for tool in spec.tools]
        self._saved_revision = self.memory.revision
        # The steps `send` finished before it raised (the endpoint, a cassette miss, Ctrl-C at a later step):
        # they ran, and their tool calls and memory edits stand, so a report shows them.
        self.steps_before_error: tuple[StepRecord, ...] = ()
        self._user_message: dict[str, Any] = {}
        self._compacted = False  # the history was compacted in the last turn
        self.evicted_messages = 0  # messages compaction moved out of context (Letta's count of them in recall)
        # The last compaction's summary message, first in the history while it stands (persisted with each
        # step, so a resumed agent resumes its compacted context): `resume` gives a persisted one back.
        self.summary_message: dict[str, Any] | None = None
        window = spec.context_window
        counter = token_counter(spec.model.name)
        self.context = ContextWindow(window, model, self.state.now, counter, spec.memory_warning) if window else None

    def start_from(self, history: list[dict[str, Any]]) -> None:
        """A new agent's history is `history` (a conversation it already had) instead of the loop's first
        messages (Letta 0.6's boot sequence), persisted as those would be, with its first user message."""
        self.messages[:] = history
        self._unsaved_history = len(self.messages)

    @staticmethod
    def new_id(ids: Ids | None = None) -> str:
        return f"agent-{(ids or RandomIds()).uuid()}"

    @property
    def memory(self) -> Memory:
        return self.state.memory

    def system_message(self) -> str:
        return self.loop.system_text(self)

    def request_messages(self) -> list[dict[str, Any]]:
        return self.loop.request_messages(self)

    def first_request(self) -> dict[str, Any]:
        """The body the first step of a turn would send now, the tool rules applied (what `cassettes check`
        compares with a recording); nothing is sent."""
        solver = ToolRulesSolver(self.spec.tool_rules) if self.spec.tool_rules else None
        offered = self._allowed(solver)
        schemas = self.loop.tools(self, [tool for tool in self.spec.tools if tool.name in offered])
        choice = self.loop.tool_choice(solver is not None and solver.should_force_tool_call())
        return chat_request(self.spec.model, self.request_messages(), schemas, choice)

    def turn_messages(self) -> list[dict[str, Any]]:
        """The last turn's messages in history: from its user message on (after a compaction that evicted
        it, every message after the summary), and the summary first when the turn compacted the history."""
        start = next((i for i in range(len(self.messages) - 1, -1, -1) if self.messages[i] is self._user_message), 1)
        turn = self.messages[start:]
        return [self.messages[0], *turn] if self._compacted and start > 0 else turn

    def send(self, text: str) -> TurnResult:
        """Run one user turn to its end; each finished step is persisted before the next starts."""
        turn = self.turns
        self.turns += 1
        # The user's message is persisted with the first answer to it: a message the endpoint never
        # answered (down, refused) is not a turn, in memory or after a restart.
        history = self.messages[:]
        self._compacted = False
        self._user_message = self.loop.user_message(text, self._loop_now())
        self.messages.append(self._user_message)
        self._unsaved_user_message = True
        steps: list[StepRecord] = []
        self.steps_before_error = ()
        replies: list[str] = []
        solver = ToolRulesSolver(self.spec.tool_rules) if self.spec.tool_rules else None
        # What the next step answers besides history: the user's message, then a follow-up (a heartbeat)
        # when the loop adds one. Held as the objects, not as positions: a compaction moves every message.
        step_input: list[dict[str, Any]] = [self._user_message]
        while True:
            try:
                step, go_on, step_replies = self._step(turn, len(steps), solver, step_input)
            except TurnAborted as aborted:  # the loop gave up on the answer: nothing of this step is kept
                self._unsaved_user_message = False
                steps.append(self._aborted_step(turn, len(steps), aborted))
                return TurnResult(text, tuple(steps), aborted.stop_reason, tuple(replies), str(aborted))
            except NothingToAsk as nothing:  # no request for this step: the turn ends, its input unkept
                if not steps:
                    raise AssertionError("a loop found nothing to ask at a turn's first step") from None
                added = {id(message) for message in step_input}
                self.messages[:] = [message for message in self.messages if id(message) not in added]
                return TurnResult(text, tuple(steps), nothing.stop_reason, tuple(replies))
            except BaseException:
                if not steps and self._unsaved_user_message:
                    self.messages[:] = history  # as before the turn (a compaction for it included)
                    self.turns -= 1
                self.steps_before_error = tuple(steps)
                raise
            steps.append(step)
            replies += step_replies
            if not step.tool_calls:
                reason = _no_call_reason(step)
                if step.content and self.loop.text_is_reply:
                    replies.append(step.content)
                uncalled = solver.uncalled_required_tools(self._tool_names) if solver is not None else []
                reminder = self.loop.required_reminder(uncalled, self._loop_now()) if uncalled else None
                if reminder is not None:
                    # Letta's v1 loop adds it even at the last step (its `is_final_step` is never set), and
                    # keeps it: the turn then stops at its bound, and the next one sees it.
                    self.messages.append(reminder)
                    if len(steps) < self.spec.max_steps:
                        step_input = [reminder]
                        continue
                    if self.journal is not None:
                        self.journal.save_user_message(self.state.id, self.turns, turn, reminder)
                    reason = StopReason.MAX_STEPS
            elif go_on:
                if len(steps) < self.spec.max_steps:
                    failed = any(not call.ok for call in step.tool_calls)
                    follow_up = self.loop.follow_up(failed, self._loop_now())
                    step_input = [] if follow_up is None else [follow_up]
                    if follow_up is not None:
                        self.messages.append(follow_up)
                    continue
                reason = StopReason.MAX_STEPS
            elif step_replies:
                reason = StopReason.REPLIED
            else:
                reason = StopReason.NO_HEARTBEAT
            return TurnResult(text, tuple(steps), reason, tuple(replies))

    def _allowed(self, solver: ToolRulesSolver | None) -> list[str]:
        if solver is None:
            return self._tool_names
        return solver.allowed_tool_names(self._tool_names, self._last_function_response())

    def _violation(self, solver: ToolRulesSolver | None, name: str) -> str | None:
        """Letta's refusal of a call the rules do not allow now. A tool the agent lacks fails as the loop
        says: run and failed, or (Letta's v1 loop) refused as not among the tools offered."""
        if name not in self._tool_names:
            if not self.loop.unknown_tool_breaks_rules:
                return None
            return (solver or ToolRulesSolver(())).violation_message(name, self._allowed(solver))
        if solver is None:
            return None
        allowed = self._allowed(solver)
        return None if name in allowed else solver.violation_message(name, allowed)

    def _last_function_response(self) -> str | None:
        return next((str(m["content"]) for m in reversed(self.messages) if m["role"] == "tool"), None)

    def _step(
        self, turn: int, index: int, solver: ToolRulesSolver | None, step_input: list[dict[str, Any]]
    ) -> tuple[StepRecord, bool, list[str]]:
        """One request and its calls. `step_input`: what was added to history for it (the user's message, or
        a follow-up), saved with it; taken as objects before a compaction moves (or evicts) them."""
        offered = self._allowed(solver)
        tools = [tool for tool in self.spec.tools if tool.name in offered]
        schemas = self.loop.tools(self, tools)
        first_step = self._unsaved_user_message
        unsaved_history = self.messages[: self._unsaved_history] if first_step else []
        context = self.context.before_request(self.system_message(), self.messages, schemas) if self.context else ()
        if any(event.kind is ContextEventKind.EVICTION for event in context):
            self._compacted = True
            self.summary_message = self.messages[0]  # a compaction puts its summary first
        self.evicted_messages += sum(event.evicted for event in context if event.kind is ContextEventKind.EVICTION)
        # Letta's memory-pressure warning goes into history before the request: saved with this step
        warning = [self.messages[-1]] if any(event.kind is ContextEventKind.WARNING for event in context) else []
        messages = self.request_messages()
        choice = self.loop.tool_choice(solver is not None and solver.should_force_tool_call())
        try:
            response = self.loop.answer(lambda: self._ask(messages, schemas, choice))
        except TurnAborted:  # nothing of this step stays: its input, and the warning it got
            added = {id(message) for message in (*step_input, *warning)}
            self.messages[:] = [message for message in self.messages if id(message) not in added]
            raise
        first_message = len(self.messages)
        calls = self.loop.calls(response)
        call_ids = self._call_ids(calls, first_message)
        assistant = self.loop.assistant_message(response, calls, call_ids)
        if assistant is not None:  # Letta's v1 loop keeps nothing of an empty answer
            self.messages.append(assistant)
        try:
            records, go_on, replies = self._run_calls(solver, calls, call_ids)
        except BaseException:
            # A tool's endpoint failed (or Ctrl-C): no call of this step is left in history without its
            # result, which no endpoint would take in a later request. The user's message stays: the model
            # answered it (its step, never run to its end, is not kept).
            del self.messages[first_message:]
            if first_step:
                self._opened(turn, unsaved_history)
            raise
        if solver is not None and not go_on and calls and solver.uncalled_required_tools(self._tool_names):
            go_on = True  # Letta: "Continuing, user expects these tools: [...] to be called still."
        step = StepRecord(
            turn,
            index,
            response.content,
            tuple(records),
            response.model,
            response.usage,
            response.finish_reason,
            response.refusal,
            # what the request offered: the loop may leave out more than the rules do (Letta 0.6 the tool
            # whose call failed in the step before)
            offered=tuple(schema["function"]["name"] for schema in schemas) if solver is not None else None,
            context=context,
        )
        if self.journal is not None:
            # Whatever changed memory (a tool, or code between turns), it all went through Memory, whose
            # revision says whether there is anything to persist.
            revision = self.memory.revision
            blocks = self.memory.get_blocks() if revision != self._saved_revision else None
            pending = warning if first_step else [*step_input, *warning]  # the user's message opens the turn
            saved = [*pending, *self.messages[first_message:]]
            opening = TurnOpening((*unsaved_history, self._user_message), self.turns) if first_step else None
            try:
                self.journal.save_step(self.state.id, step, saved, blocks, self._in_context(), opening)
            except BaseException:
                # Not kept (a full disk, a locked database): nor is it in history, which later requests send.
                # At a turn's first step `send` puts history back as it was before the turn.
                added = {id(message) for message in (*step_input, *warning)}
                del self.messages[first_message:]
                self.messages[:] = [message for message in self.messages if id(message) not in added]
                raise
            self._saved_revision = revision
        if first_step:
            self._unsaved_user_message = False
            self._unsaved_history = 0
        if self.on_step is not None:
            self.on_step(step)
        return step, go_on, replies

    def _opened(self, turn: int, unsaved_history: list[dict[str, Any]]) -> None:
        """The user's message (and a new agent's first messages) kept without a step: the model answered it,
        and the step answering it could not run to its end."""
        if self.journal is not None:
            for message in (*unsaved_history, self._user_message):
                self.journal.save_user_message(self.state.id, self.turns, turn, message)
        self._unsaved_user_message = False
        self._unsaved_history = 0

    def _in_context(self) -> InContext | None:
        """What the journal persists of a compacted history: every message in it but the summary is saved."""
        summary = self.summary_message
        if summary is None or not self.messages or self.messages[0] is not summary:
            return None
        return InContext(summary, len(self.messages) - 1, self.evicted_messages)

    def _run_calls(
        self, solver: ToolRulesSolver | None, calls: tuple[ToolCall, ...], call_ids: list[str]
    ) -> tuple[list[ToolCallRecord], bool, list[str]]:
        """Run a step's calls, their results into history: their records, whether the loop goes on, and
        the replies sent."""
        records: list[ToolCallRecord] = []
        go_on = False
        replies: list[str] = []
        for call_id, call in zip(call_ids, calls, strict=True):
            edits_before = len(self.memory.edits)
            violation = self._violation(solver, call.name)
            if violation is not None:
                outcome = CallOutcome(ToolResult(False, violation), False, {})
                go_on = True  # Letta: "Continuing: tool rule violation."
            else:
                tool = self.spec.tool(call.name)
                outcome = self.loop.run_tool(self, tool, call)
                call_goes_on = self.loop.call_goes_on(tool, outcome)
                if solver is not None and tool is not None:
                    solver.register_tool_call(call.name)
                    failure_goes_on = self.loop.failure_overrides_rules and not outcome.result.ok
                    if solver.is_terminal_tool(call.name) and not failure_goes_on:
                        call_goes_on = False
                    elif solver.has_children_tools(call.name) or solver.is_continue_tool(call.name):
                        call_goes_on = True
                go_on = go_on or call_goes_on
            result = outcome.result
            if result.ok and call.name == "send_message":
                replies.append(str(outcome.arguments.get("message", "")))
            records.append(
                ToolCallRecord(
                    call_id,
                    call.name,
                    call.arguments,
                    result.ok,
                    result.message,
                    outcome.heartbeat,
                    tuple(self.memory.edits[edits_before:]),
                    refused=violation is not None,
                    stdout=result.stdout,
                    stderr=result.stderr,
                )
            )
            self.messages.append(self.loop.tool_message(call_id, outcome, self._loop_now()))
        return records, go_on, replies

    def _aborted_step(self, turn: int, index: int, aborted: TurnAborted) -> StepRecord:
        """The record of a step the loop gave up on: the last answer, no call run; not persisted."""
        response = aborted.response
        step = StepRecord(turn, index, response.content, (), response.model, response.usage, response.finish_reason)
        if self.on_step is not None:
            self.on_step(step)
        return step

    def _ask(
        self, messages: list[dict[str, Any]], schemas: list[dict[str, Any]], choice: ToolChoice | None = None
    ) -> ChatResponse:
        """One request; the frozen clock (if any) moves on with the answer."""
        response = (
            self.model.complete(messages, schemas) if choice is None else self.model.complete(messages, schemas, choice)
        )
        self._advance_clock()
        return response

    def _call_ids(self, calls: tuple[ToolCall, ...], first_message: int) -> list[str]:
        """The ids the calls that run get in history (see `CallIds`)."""
        if self.call_ids == CallIds.LOCAL:
            return [f"call_{first_message}_{i}" for i in range(len(calls))]
        if self._used_ids is None:
            self._used_ids = {
                str(call.get("id"))
                for message in self.messages
                for call in message.get("tool_calls") or ()
                if isinstance(call, dict)
            }
        ids: list[str] = []
        for number, call in enumerate(calls):
            call_id = call.id
            if not call_id or call_id in self._used_ids:  # none given, or one already in history
                call_id = _made_up_id(first_message, number, self._used_ids)
            self._used_ids.add(call_id)
            ids.append(call_id)
        return ids


_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _made_up_id(message: int, number: int, used: set[str]) -> str:
    """A tool-call id for a call the provider gave none (or a repeated one): 9 letters and digits (Mistral
    rejects any other id), from the call's place in history, so the same conversation gets the same ids."""
    value = message * 1024 + number
    while True:
        digits = ""
        rest = value
        for _ in range(8):
            rest, digit = divmod(rest, len(_ID_ALPHABET))
            digits = _ID_ALPHABET[digit] + digits
        candidate = "h" + digits
        if candidate not in used:
            return candidate
        value += 1 << 40  # taken (by a provider id that happens to look like ours): try another


def _no_call_reason(step: StepRecord) -> StopReason:
    """Why a step without tool calls ended the turn: the provider may say (refused, cut off, filtered)."""
    if step.refusal:
        return StopReason.REFUSED
    if step.finish_reason == "length":
        return StopReason.LENGTH
    if step.finish_reason == "content_filter":
        return StopReason.CONTENT_FILTER
    return StopReason.NO_TOOL_CALL
