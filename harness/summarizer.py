"""Letta's summarizer (0.16.8, letta/services/summarizer/): evict the oldest messages, ask the model for a
summary of them, and put the summary in their place.

`compact` follows `compact_messages` in its default mode, `sliding_window`
(summarizer_sliding_window.py): starting from evicting 40% of the messages and growing by 10%, it looks
for a cutoff at an assistant message (so a tool call is never parted from its results) that leaves the
system message and the kept messages under 70% of the context window (`sliding_window_percentage` 0.3);
the messages before the cutoff are summarized with Letta's `SLIDING_PROMPT`. If no cutoff works, or the
model's summary has no text ("Summary failed to generate"), it falls back to mode `all` (summarizer_all.py,
`ALL_PROMPT`), which summarizes everything but the last message; if the sliding-window result is still over
the trigger, it summarizes that result in mode `all` with `SLIDING_PROMPT` still (Letta passes the sliding
window's own config to `summarize_all`). A summary in mode `all` with no text fails the step, and nothing is
evicted. A previous summary is among the messages summarized next time: the summary is recursive, as
MemGPT's.

The summary request is an ordinary call of the agent's `ChatModel` (system: the prompt; user: the
transcript; no tools), so it is recorded in the scenario's cassette and replayed offline. The summary goes
into history as Letta's packed system alert (`package_summarize_message_no_counts`, role user).

Deliberate differences: the `all` fallback keeps the last message (with its tool call when it is a tool
result): the harness compacts before a request, which must still hold what it answers; Letta compacts after
a step. Whether the sliding window brought the request under the trigger is decided with the summary
message counted (Letta leaves it out, which in a small window compacts again at the very next request);
when the fallback runs after a sliding-window summary, that summary is summarized too (Letta's fallback
drops it). No retry with a clamped transcript when the summary request itself overflows, and an endpoint
error on the sliding window's summary request ends the step (Letta falls back to `all` on any error but a
context overflow). The summary is asked of the agent's own model; Letta 0.16.8 without
`compaction_settings.model` asks `get_default_summarizer_model(provider)` (`openai/gpt-5-mini`,
`anthropic/claude-haiku-4-5`, `google_ai/gemini-2.5-flash`). Every loop compacts this way, `letta-memgpt`
too (Letta 0.6.23's summarizer, after a context-overflow error, is not reproduced).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.errors import LLMError, SummaryFailed
from harness.llm.chat import ChatModel

SLIDING_WINDOW_PERCENTAGE = 0.3  # letta/settings.py partial_evict_summarizer_percentage
CLIP_CHARS = 50000  # CompactionSettings.clip_chars
SUMMARY_TRUNCATION_SUFFIX = "... [summary truncated to fit]"
TRIGGER = "post_step_context_check"

ALL_WORD_LIMIT = 500
SLIDING_WORD_LIMIT = 300

# letta/prompts/summarizer_prompt.py, verbatim.
_SECTIONS_HEAD = """1.**High level goals**: What is the high level goal and ongoing task? Capture the user's explicit requests and intent in detail. If there is an existing summary in the transcript, make sure to take it into consideration to continue tracking the higher level goals and long-term progress.

2. **What happened**: The conversations, tasks, and exchanges that took place. What did the user ask for? What did you do? How did things progress? If there is a previous summary being evicted, please extract a concise version of the critical info from it.

3. **Important details**: Enumerate specific files and code sections examined, modified, or created, as well as important plan files, GitHub issues/PR links, and Linear ticket IDs. For each item, include why it matters and any relevant names, data, configs, or facts discussed.
   - **Preserve identifiers verbatim** (plan filename/path, exact URL, issue/PR number, ticket ID); do not paraphrase or truncate.
   - **Preserve referenced identifiers unless explicitly resolved**: Keep exact URLs/IDs from the conversation unless there is clear evidence they are no longer relevant.
   - Do not omit details likely to be referenced later.

4. **Errors and fixes**: List all errors that you ran into, and how you fixed them. Pay special attention to specific user feedback that you received and record verbatim if useful."""  # noqa: E501

ALL_PROMPT = f"""Your task is to create a detailed summary of the conversation so far, paying close attention to the user's explicit requests and your previous actions.
This summary should be thorough in capturing technical details, code patterns, and architectural decisions that would be essential for continuing development work without losing context. Your summary should include the following sections:

{_SECTIONS_HEAD}

5. **Current state**:Describe in detail precisely what is currently being worked on, paying special attention to the most recent messages from both user and assistant. Include file names and code snippets where applicable.

6.**Optional Next Step**: List the next step that you will take that is related to the most recent work you were doing. IMPORTANT: ensure that this step is DIRECTLY in line with the user's most recent explicit requests and the most current task. If your last task was concluded, then only list next steps if they are explicitly in line with the users request. If there is a next step, include direct quotes from the most recent conversation showing exactly what task you were working on and where you left off.

7. **Lookup hints**: For any detailed content (long lists, extensive data, specific conversations) that couldn't fit in the summary, note the topic and key terms that could be used to find it in message history later.

Write in first person as a factual record of what occurred. Be concise but thorough - the goal is to preserve enough context that the recent messages make sense and important information isn't lost to prevent duplicate work or repeated mistakes.

Keep your summary under {ALL_WORD_LIMIT} words. Only output the summary."""  # noqa: E501

SLIDING_PROMPT = f"""The following messages are being evicted from the BEGINNING of your context window. Write a detailed summary that captures what happened in these messages to appear BEFORE the remaining recent messages in context, providing background for what comes after. Include the following sections:

{_SECTIONS_HEAD}

5. **Lookup hints**: For any detailed content (long lists, extensive data, specific conversations) that couldn't fit in the summary, note the topic and key terms that could be used to find it in message history later.

Write in first person as a factual record of what occurred. Be thorough and detailed - the goal is to preserve enough context that the recent messages make sense and important information isn't lost to prevent duplicate work or repeated mistakes.

Keep your summary under {SLIDING_WORD_LIMIT} words. Only output the summary."""  # noqa: E501


@dataclass(frozen=True)
class Compaction:
    messages: list[dict[str, Any]]  # the new history: the summary message, then the kept messages
    evicted: int
    kept: int
    summary: str
    mode: str  # sliding_window | all


def local_time(now: datetime) -> str:
    """letta/helpers/datetime_helpers.get_local_time("UTC"): e.g. `2025-01-01 12:00:00 PM UTC+0000`."""
    return now.strftime("%Y-%m-%d %I:%M:%S %p %Z%z").strip()


def system_alert(message: str, time: str, **extra: Any) -> str:
    """Letta's packed system alert (letta/system.py), as its json_dumps writes it (indent 2, unicode kept)."""
    return json.dumps({"type": "system_alert", "message": message, "time": time, **extra}, indent=2, ensure_ascii=False)


def transcript(messages: list[dict[str, Any]]) -> str:
    """Letta's `simple_formatter`: one `[role] text -> tool(arguments)` line a message."""
    lines = []
    for message in messages:
        if message.get("role") == "system":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(part.get("text", part)) if isinstance(part, dict) else str(part) for part in content)
        text = str(content or "")
        calls = message.get("tool_calls")
        if calls and isinstance(calls, list):
            parts = []
            for call in calls:
                function = (call.get("function") or {}) if isinstance(call, dict) else {}
                parts.append(f"{function.get('name', '?')}({function.get('arguments', '')})")
            text = (text + " " if text else "") + "-> " + ", ".join(parts)
        if text:
            lines.append(f"[{message.get('role', '?')}] {text}")
    return "<start_transcript>\n" + "\n".join(lines) + "\n<end_transcript>\n. Generate the summary."


def summarize(model: ChatModel, prompt: str, messages: list[dict[str, Any]], mode: str) -> str:
    """Letta's `simple_summary` without the acknowledgement (`prompt_acknowledgement` defaults to off).
    An answer with no text raises SummaryFailed (Letta's "Summary failed to generate"); an endpoint's
    error says it was this compaction's summary request, not the agent's own step, that failed."""
    try:
        response = model.complete(
            [{"role": "system", "content": prompt}, {"role": "user", "content": transcript(messages)}], []
        )
    except SummaryFailed:
        raise
    except LLMError as exc:
        raise type(exc)(f"the compaction's summary request (mode {mode}) failed: {exc}") from exc
    summary = (response.content or "").strip()
    if not summary:
        raise SummaryFailed(
            f"Summary failed to generate: the compaction's summary request (mode {mode}) was answered with no "
            f"text (finish reason {response.finish_reason!r}, {len(response.tool_calls)} tool call(s))"
        )
    if len(summary) > CLIP_CHARS:
        summary = summary[:CLIP_CHARS] + SUMMARY_TRUNCATION_SUFFIX
    return summary


def sliding_cutoff(
    system: str,
    messages: list[dict[str, Any]],
    window: int,
    count: Callable[[list[dict[str, Any]]], int],
    inputs: int = 1,
) -> int | None:
    """Where the kept messages start (an index into `messages`, an assistant message, never among the last
    `inputs` messages, what the request answers), or None when no cutoff brings the rest under the goal
    (Letta raises, and falls back).
    Letta's loop, float for float: its eviction percentage grows by adding 0.1 to 0.3, so it reaches
    0.8999999999999999, not 0.9, and `round` of that times 35 messages is 31, not 32."""
    full = [{"role": "system", "content": system}, *messages]
    total = len(full)
    goal = (1 - SLIDING_WINDOW_PERCENTAGE) * window
    tokens = float(window)
    cutoff = None
    eviction = SLIDING_WINDOW_PERCENTAGE
    while tokens >= goal and eviction < 1.0:
        eviction += 0.10
        upto = round(eviction * total)
        cutoff = next((i for i in reversed(range(1, upto + 1)) if i < total and full[i]["role"] == "assistant"), None)
        if cutoff is None:
            continue
        tokens = count([full[0], *full[cutoff:]])
    if cutoff is None or eviction >= 1.0 or cutoff < 2 or cutoff >= total - inputs:
        return None  # (cutoff 1 would evict nothing: the history starts with an assistant message)
    return cutoff - 1


def protected_tail(messages: list[dict[str, Any]], inputs: int = 1) -> int:
    """Where the `all` mode's kept messages start: the last `inputs` messages (what the request answers:
    the last message, and the memory-pressure warning after it when one was just added), with the first's
    assistant call when it is a tool result (so a call and its results stay together)."""
    first = max(len(messages) - inputs, 0)
    start = first
    while start > 0 and messages[start]["role"] == "tool":
        start -= 1
    if messages[start]["role"] != "assistant" and start < first:
        start = first  # tool results without their call in history: keep the inputs only
    return max(start, 0)


def compact(
    system: str,
    messages: list[dict[str, Any]],
    tool_tokens: int,
    window: int,
    trigger: int,
    tokens_before: int,
    count: Callable[[list[dict[str, Any]]], int],
    model: ChatModel,
    now: Callable[[], datetime],
    inputs: int = 1,
) -> Compaction | None:
    """Letta's `compact_messages` (sliding_window, falling back to all) over `messages` (the history after
    the system message); None when there is nothing to evict (the system message and the last message
    alone are over the trigger). `count` counts a list of messages, the system message first;
    `tool_tokens` is what the tool schemas add to a request; `inputs`, how many of the last messages the
    request answers, never evicted (2 when the memory-pressure warning follows the last message, as
    Letta's MemGPT agent summarizes the history before the warning it sends, never the warning)."""
    stats = _Stats(len(messages) + 1, tokens_before, window, tool_tokens, count, system)
    cutoff = sliding_cutoff(system, messages, window, count, inputs)
    current, prompt = messages, ALL_PROMPT  # no cutoff, or its summary failed: Letta's fallback_config
    if cutoff is not None:
        kept = messages[cutoff:]
        try:
            summary = summarize(model, SLIDING_PROMPT, messages[:cutoff], "sliding_window")
        except SummaryFailed:
            pass  # Letta: "Sliding window summarization failed ... Falling back to all mode."
        else:
            result = _packed(summary, "sliding_window", kept, stats, now)
            if stats.tokens(result) < trigger:
                return Compaction(result, cutoff, len(kept), summary, "sliding_window")
            # Still over: `summarize_all` with the sliding window's own settings, so SLIDING_PROMPT again
            # (compact_messages set `summarizer_config.prompt` for mode sliding_window), over this summary too.
            current, prompt = result, SLIDING_PROMPT
    start = protected_tail(current, inputs)
    if all(_is_summary(message) for message in current[:start]):
        return None  # nothing but a summary before the last message: summarizing it again would not help
    kept = current[start:]
    summary = summarize(model, prompt, current[:start], "all")  # SummaryFailed: the step fails, nothing evicted
    return Compaction(_packed(summary, "all", kept, stats, now), len(messages) - len(kept), len(kept), summary, "all")


def _is_summary(message: dict[str, Any]) -> bool:
    content = message.get("content")
    alert = isinstance(content, str) and content.startswith('{\n  "type": "system_alert"')
    return message.get("role") == "user" and alert


@dataclass(frozen=True)
class _Stats:
    """What Letta's compaction_stats report, from what the compaction started with."""

    messages_before: int  # the system message included, as Letta counts
    tokens_before: int
    window: int
    tool_tokens: int
    count: Callable[[list[dict[str, Any]]], int]
    system: str

    def tokens(self, kept: list[dict[str, Any]]) -> int:
        """The request's tokens with `kept` after the system message, tools included (Letta's
        `context_token_estimate`)."""
        return self.count([{"role": "system", "content": self.system}, *kept]) + self.tool_tokens


def _packed(
    summary: str, mode: str, kept: list[dict[str, Any]], stats: _Stats, now: Callable[[], datetime]
) -> list[dict[str, Any]]:
    """The new history: Letta's summary message (package_summarize_message_no_counts, with the
    compaction_stats its post-step compaction passes), then `kept`."""
    after = len(kept) + 2  # the system message, the summary and the kept messages, as Letta counts them
    if mode == "sliding_window":
        text = (
            f"Note: {stats.messages_before - after} messages from the beginning of the conversation have been "
            "hidden from view due to memory constraints.\n"
            + f"The following is a summary of the previous messages:\n {summary}"
        )
    else:
        text = (
            "Note: prior messages have been hidden from view due to conversation memory constraints.\n"
            + f"The following is a summary of the previous messages:\n {summary}"
        )
    compaction_stats = {
        "trigger": TRIGGER,
        "context_tokens_before": stats.tokens_before,
        "context_tokens_after": stats.tokens(kept),  # as Letta counts it: the summary aside
        "context_window": stats.window,
        "messages_count_before": stats.messages_before,
        "messages_count_after": after,
    }
    packed = system_alert(text, local_time(now()), compaction_stats=compaction_stats)
    return [{"role": "user", "content": packed}, *kept]
