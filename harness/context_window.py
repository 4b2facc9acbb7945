"""Context pressure, MemGPT's core idea: an agent with a `context_window` (tokens) is warned as its history
grows, and past the limit its oldest messages are evicted (to recall, where `conversation_search` still
finds them) and a summary takes their place (harness/summarizer.py).

Before each request the loop asks `ContextWindow.before_request`, which counts the request (system message,
history and tool schemas) and, following Letta 0.16.8:

- over `SUMMARIZATION_TRIGGER_MULTIPLIER` (0.9) of the window, compacts the history (Letta's
  `post_step_context_check`: its agent checks after a step, which is the same history as before the next
  request, the new user message aside);
- else, for an agent with `memory_warning: true`, over `MEMORY_WARNING_THRESHOLD` (0.75) of it, and once
  until the next compaction, appends Letta's memory-pressure warning (`get_token_limit_warning()`) as a
  user message. Letta 0.6.23 sends it only with `summarizer_settings.send_memory_warning_message`, False
  by default (so it is off by default here too), and Letta 0.16.8's v1 agent has none. Letta's legacy
  MemGPT agent warns after the response that crossed the threshold and then chains one more step for it;
  here the warning goes with the request that crosses it, so the model can save what matters in that step.
  A warning that takes the request over the trigger is followed by a compaction of the history before it
  (Letta's MemGPT agent summarizes when the request carrying the warning overflows, and sends it still).

A compaction that leaves the request over the whole window (a huge last message, a long summary) is
followed by an `overflow` event, as is a request over the trigger with nothing to evict.

Tokens are counted with Letta 0.16.8's estimate for OpenAI-compatible endpoints: JSON bytes / 4, times
Letta's 1.3 safety margin (`ApproxTokenCounter` and `APPROX_TOKEN_SAFETY_MARGIN` in letta/services/...),
for every model (Letta asks Google's and Anthropic's counting endpoints instead). Counts are made locally,
never read from the provider's `usage`, so record and replay decide alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from harness.errors import ContextWindowExceeded
from harness.llm.chat import ChatModel
from harness.records import ContextEvent, ContextEventKind
from harness.summarizer import compact, local_time, system_alert

# letta/settings.py (SummarizerSettings.memory_warning_threshold) and letta/constants.py.
MEMORY_WARNING_THRESHOLD = 0.75
SUMMARIZATION_TRIGGER_MULTIPLIER = 0.9
APPROX_BYTES_PER_TOKEN = 4
APPROX_TOKEN_SAFETY_MARGIN = 1.3

# letta/constants.py MESSAGE_SUMMARY_WARNING_STR (with NON_USER_MSG_PREFIX), verbatim.
NON_USER_MSG_PREFIX = "[This is an automated system message hidden from the user] "
MESSAGE_SUMMARY_WARNING_STR = " ".join(
    [
        f"{NON_USER_MSG_PREFIX}The conversation history will soon reach its maximum length and be trimmed.",
        "Do NOT tell the user about this system alert, they should not know that the history is reaching max length.",
        "If there is any important new information or general memories about you or the user that you would "
        "like to save, you should save that information immediately by calling function core_memory_append, "
        "core_memory_replace, or archival_memory_insert.",
    ]
)


class TokenCounter(Protocol):
    name: str

    def count(self, value: Any) -> int:
        """Tokens of JSON-like data (messages, tool schemas) as it goes on the wire."""


class ApproxTokenCounter:
    """Letta's estimate (ApproxTokenCounter: ceil(JSON bytes / 4)) with its 1.3 safety margin, which it
    applies whenever it decides on compaction with an estimate."""

    name = "estimate (JSON bytes / 4 x 1.3)"

    def count(self, value: Any) -> int:
        size = len(json.dumps(value).encode("utf-8"))
        return int(math.ceil(size / APPROX_BYTES_PER_TOKEN) * APPROX_TOKEN_SAFETY_MARGIN)


def token_counter(model: str) -> TokenCounter:
    """Letta 0.16.8's counter for an agent (`create_token_counter`): Google and Anthropic models are counted
    by their provider's counting endpoint, every other (OpenAI's included) with ApproxTokenCounter and its
    margin. The harness counts locally, so record and replay decide alike: the estimate for every model.
    (It used tiktoken for gpt-4 and gpt-3.5-turbo, which Letta 0.16.8 never does on this path, so the
    sliding-window cutoff differed from Letta's.)"""
    del model
    return ApproxTokenCounter()


def describe(event: ContextEvent) -> str:
    """One line for a person (`harness chat`): what context pressure did before a step's request."""
    tokens = f"{event.tokens_before} -> {event.tokens_after} of {event.context_window} tokens"
    if event.kind is ContextEventKind.EVICTION:
        return f"context: {event.evicted} message(s) evicted to recall and summarized ({event.mode}), {tokens}"
    if event.kind is ContextEventKind.OVERFLOW:
        return f"context: over 90% with nothing (more) left to evict, sent as it was, {tokens}"
    return f"context: memory-pressure warning sent, {tokens}"


def token_limit_warning(now: datetime) -> str:
    """letta/system.py get_token_limit_warning(), with the agent's clock."""
    return system_alert(MESSAGE_SUMMARY_WARNING_STR, local_time(now))


class ContextWindow:
    """One agent's context pressure: the loop calls `before_request` before each request it sends."""

    def __init__(
        self,
        window: int,
        model: ChatModel,
        now: Callable[[], datetime],
        counter: TokenCounter | None = None,
        warn: bool = False,
    ) -> None:
        self.window = window
        self.model = model
        self.now = now
        self.counter = counter or ApproxTokenCounter()
        self.warn = warn  # the agent's `memory_warning` (Letta's send_memory_warning_message, off by default)
        self.alerted = False  # warned since the last compaction (Letta's agent_alerted_about_memory_pressure)

    @property
    def warning_tokens(self) -> float:
        return MEMORY_WARNING_THRESHOLD * self.window

    @property
    def trigger_tokens(self) -> int:
        return int(self.window * SUMMARIZATION_TRIGGER_MULTIPLIER)

    def tokens(self, system: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        return self.counter.count([{"role": "system", "content": system}, *messages]) + (
            self.counter.count(tools) if tools else 0
        )

    def _check_system_fits(self, system: str) -> None:
        """Letta's check once a compaction leaves the request over its trigger: is the system prompt the
        cause? (Every step would otherwise pay for a summary and still send a request over the window.)"""
        tokens = self.counter.count([{"role": "system", "content": system}])
        if tokens >= self.window:
            raise ContextWindowExceeded(
                f"The system prompt tokens {tokens} exceeds the context window {self.window}. Please reduce the "
                "size of your system prompt, memory blocks, or increase the context window."
            )

    def before_request(
        self, system: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> tuple[ContextEvent, ...]:
        """Compact `messages` in place when the request would pass the trigger, or warn once past the
        warning threshold; what happened, for the step's record. A warning that takes the request past the
        trigger is followed by a compaction of the history before it (Letta's MemGPT agent summarizes when
        the request carrying its warning overflows, and sends the warning still), so no request goes over
        the trigger unless nothing is left to evict (`overflow`)."""
        before = self.tokens(system, messages, tools)
        events: tuple[ContextEvent, ...] = ()
        inputs = 1
        if before <= self.trigger_tokens and self.warn and before > self.warning_tokens and not self.alerted:
            self.alerted = True
            messages.append({"role": "user", "content": token_limit_warning(self.now())})
            after = self.tokens(system, messages, tools)
            events = (ContextEvent(ContextEventKind.WARNING, before, after, self.window, self.counter.name),)
            before, inputs = after, 2
        if before <= self.trigger_tokens:
            return events
        return (*events, *self._compact(system, messages, tools, before, inputs))

    def _compact(
        self, system: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]], before: int, inputs: int
    ) -> tuple[ContextEvent, ...]:
        tool_tokens = self.counter.count(tools) if tools else 0
        done = compact(
            system,
            messages,
            tool_tokens,
            self.window,
            self.trigger_tokens,
            before,
            self.counter.count,
            self.model,
            self.now,
            inputs,
        )
        if done is None:  # nothing to evict: the request goes as it is (the endpoint may refuse it)
            self._check_system_fits(system)
            # Letta logs "Failed to summarize messages after fallback" and goes on; the step's record
            # says so, where it said nothing and a report read as if the context were fine.
            return (ContextEvent(ContextEventKind.OVERFLOW, before, before, self.window, self.counter.name),)
        messages[:] = done.messages
        self.alerted = False
        after = self.tokens(system, messages, tools)
        if after > self.trigger_tokens:
            self._check_system_fits(system)
        eviction = ContextEvent(
            ContextEventKind.EVICTION,
            before,
            after,
            self.window,
            self.counter.name,
            done.evicted,
            done.kept,
            done.summary,
            done.mode,
        )
        if after <= self.window:
            return (eviction,)
        # The summary (up to CLIP_CHARS characters) or the kept messages (a huge last message or tool result)
        # leave the request over the whole window: said, where the record read as an ordinary eviction.
        return (eviction, ContextEvent(ContextEventKind.OVERFLOW, after, after, self.window, self.counter.name))
