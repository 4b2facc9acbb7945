"""Context pressure: token counting, Letta's memory-pressure warning, and eviction with a recursive summary
(the summarizer's invariants, as properties)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import hypothesis
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.agent import Agent
from harness.config import AgentSpec
from harness.context_window import (
    MESSAGE_SUMMARY_WARNING_STR,
    ApproxTokenCounter,
    ContextWindow,
    token_counter,
)
from harness.llm.chat import ChatResponse, ToolCall
from harness.recall import RecallJournal, SqliteRecall
from harness.records import ContextEventKind
from harness.summarizer import (
    ALL_PROMPT,
    SLIDING_PROMPT,
    SLIDING_WINDOW_PERCENTAGE,
    compact,
    protected_tail,
    sliding_cutoff,
    transcript,
)
from harness.tools.context import AgentState, steady_clock

SYSTEM = "You are a test agent."


class Summaries:
    """A ChatModel for the summarizer: answers every request with a numbered summary, and keeps them."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse:
        assert tools == []
        self.requests.append(messages)
        return ChatResponse(f"summary {len(self.requests)}", (), "m")


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def call_and_results(call_id: str, calls: int, text: str) -> list[dict[str, Any]]:
    ids = [f"{call_id}_{n}" for n in range(calls)]
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "core_memory_append", "arguments": json.dumps(text)}}
            for i in ids
        ],
    }
    return [assistant, *({"role": "tool", "tool_call_id": i, "content": text} for i in ids)]


def count(messages: list[dict[str, Any]]) -> int:
    return ApproxTokenCounter().count(messages)


# ------------------------------------------------------------------ counting


def test_the_estimate_is_lettas_bytes_over_four_with_its_margin() -> None:
    value = [{"role": "user", "content": "x" * 100}]
    size = len(json.dumps(value).encode())
    assert ApproxTokenCounter().count(value) == int(-(-size // 4) * 1.3)
    assert ApproxTokenCounter().count([{"content": "é" * 8}]) > ApproxTokenCounter().count([{"content": "e" * 8}])


def test_every_model_is_counted_with_lettas_estimate_as_letta_0_16_8_does() -> None:
    """create_token_counter gives ApproxTokenCounter to every endpoint but Google's and Anthropic's; the
    harness used tiktoken for gpt-4 and gpt-3.5-turbo, so its cutoffs differed from Letta's."""
    for model in ("gpt-4", "gpt-3.5-turbo", "gpt-4o-mini", "qwen2.5-coder-1.5b-instruct-q4_k_m"):
        counter = token_counter(model)
        assert counter.name == "estimate (JSON bytes / 4 x 1.3)"
        assert counter.count("hello world") == int(4 * 1.3)  # 13 bytes of JSON: 4 estimated tokens


# ------------------------------------------------------------------ the warning


def test_the_warning_goes_once_past_75_percent_as_lettas_system_alert() -> None:
    window = ContextWindow(4000, Summaries(), steady_clock(), warn=True)
    messages = [user("x" * 6000)]  # ~2000 tokens with the system message: under 3000
    assert window.before_request(SYSTEM, messages, []) == ()
    messages.append(user("y" * 3500))  # now over 3000, under 3600
    (event,) = window.before_request(SYSTEM, messages, [])
    assert event.kind is ContextEventKind.WARNING and 3000 < event.tokens_before <= 3600
    assert event.tokens_after > event.tokens_before
    warning = json.loads(messages[-1]["content"])
    assert messages[-1]["role"] == "user"
    assert warning == {
        "type": "system_alert",
        "message": MESSAGE_SUMMARY_WARNING_STR,
        "time": "2025-01-01 12:00:00 PM UTC+0000",
    }
    assert MESSAGE_SUMMARY_WARNING_STR.startswith("[This is an automated system message hidden from the user] ")
    assert window.before_request(SYSTEM, messages, []) == ()  # once until the next compaction


def test_a_warning_that_takes_the_request_over_the_trigger_is_followed_by_a_compaction() -> None:
    """The warning (about 200 tokens) pushed a 538-token request in a 600-token window to 742 tokens, sent
    as it was. Now the history before the warning is compacted (Letta's MemGPT agent summarizes when the
    request carrying its warning overflows), and the user's message and the warning are both kept."""
    model = Summaries()
    window = ContextWindow(1000, model, steady_clock(), warn=True)
    messages = [*long_history(3, 400), user("the question " + "q" * 400)]
    assert 750 < window.tokens(SYSTEM, messages, []) <= 900  # over 75%, under 90%: a warning, no compaction
    warning, eviction = window.before_request(SYSTEM, messages, [])
    assert warning.kind is ContextEventKind.WARNING and warning.tokens_after > 900
    assert eviction.kind is ContextEventKind.EVICTION and eviction.tokens_before == warning.tokens_after
    assert eviction.tokens_after == window.tokens(SYSTEM, messages, []) <= 900 and model.requests
    assert messages[-2] == user("the question " + "q" * 400)
    assert json.loads(messages[-1]["content"])["message"] == MESSAGE_SUMMARY_WARNING_STR


def test_a_warning_over_the_trigger_with_nothing_to_evict_is_an_overflow() -> None:
    window = ContextWindow(600, Summaries(), steady_clock(), warn=True)
    messages = [user("q" * 1300)]  # over 75% of 600, under 90%
    warning, overflow = window.before_request(SYSTEM, messages, [])
    assert warning.kind is ContextEventKind.WARNING and warning.tokens_after > 540
    assert overflow.kind is ContextEventKind.OVERFLOW and overflow.tokens_before == warning.tokens_after
    assert len(messages) == 2


def test_all_mode_keeps_the_message_the_warning_follows() -> None:
    model = Summaries()
    warning = {"role": "user", "content": '{\n  "type": "system_alert", "message": "w"}'}
    messages = [user("a" * 900), user("b" * 900), user("the question"), warning]
    done = compact(SYSTEM, messages, 0, 1000, 900, 1200, count, model, steady_clock(), inputs=2)
    assert done is not None and done.mode == "all" and done.evicted == 2
    assert done.messages[1:] == [user("the question"), warning]
    assert protected_tail([*call_and_results("c", 2, "r"), warning], 2) == 0  # a call stays with its results


def test_an_eviction_that_leaves_the_request_over_the_window_is_flagged_overflow() -> None:
    """A huge last message (or a summary of up to CLIP_CHARS characters) left the request over the whole
    window after a compaction, recorded as an ordinary eviction."""
    window = ContextWindow(1000, Summaries(), steady_clock())
    messages = [*long_history(3), user("z" * 4000)]
    eviction, overflow = window.before_request(SYSTEM, messages, [])
    assert eviction.kind is ContextEventKind.EVICTION and eviction.tokens_after > 1000
    assert overflow.kind is ContextEventKind.OVERFLOW
    assert overflow.tokens_before == overflow.tokens_after == eviction.tokens_after


def test_an_eviction_left_under_the_window_is_not_flagged() -> None:
    window = ContextWindow(1000, Summaries(), steady_clock())
    messages = long_history(12)
    (event,) = window.before_request(SYSTEM, messages, [])
    assert event.kind is ContextEventKind.EVICTION


# ------------------------------------------------------------------ eviction and summary


def long_history(turns: int, size: int = 200) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for n in range(turns):
        messages.append(user(f"fact {n}: " + "z" * size))
        messages += call_and_results(f"c{n}", 1, f"saved fact {n}")
    return messages


def test_eviction_summarizes_the_oldest_messages_and_keeps_the_rest() -> None:
    model = Summaries()
    window = ContextWindow(1000, model, steady_clock())
    messages = long_history(12)
    original = list(messages)
    (event,) = window.before_request(SYSTEM, messages, [])
    assert event.kind is ContextEventKind.EVICTION and event.mode == "sliding_window"
    assert event.tokens_before > 900 and event.tokens_after < 900
    assert window.tokens(SYSTEM, messages[1:], []) < 700  # Letta's goal: 70% of the window, the summary aside
    assert event.evicted + event.kept == len(original) and event.summary == "summary 1"
    assert messages[1:] == original[event.evicted :]
    assert messages[1]["role"] == "assistant"  # the kept part starts at an assistant message
    packed = json.loads(messages[0]["content"])
    assert packed["type"] == "system_alert"
    assert packed["message"].startswith("Note: ")
    assert (
        "messages from the beginning of the conversation have been hidden from view due to memory " in packed["message"]
    )
    assert packed["message"].endswith("The following is a summary of the previous messages:\n summary 1")
    assert packed["compaction_stats"]["trigger"] == "post_step_context_check"
    assert packed["compaction_stats"]["messages_count_before"] == len(original) + 1
    (request,) = model.requests
    assert request[0] == {"role": "system", "content": SLIDING_PROMPT}
    assert request[1]["content"].startswith("<start_transcript>\n[user] fact 0: ")
    assert "-> core_memory_append(" in request[1]["content"]
    assert request[1]["content"].endswith("\n<end_transcript>\n. Generate the summary.")


def test_the_next_summary_reads_the_previous_one_recursively() -> None:
    model = Summaries()
    window = ContextWindow(1000, model, steady_clock())
    messages = long_history(12)
    window.before_request(SYSTEM, messages, [])
    messages += long_history(8)
    (event,) = window.before_request(SYSTEM, messages, [])
    assert event.kind is ContextEventKind.EVICTION and event.summary == "summary 2"
    assert "summary 1" in model.requests[1][1]["content"]  # the first summary is among what is summarized


def test_without_an_assistant_message_to_cut_at_everything_but_the_last_message_is_summarized() -> None:
    model = Summaries()
    messages = [user("a" * 900), user("b" * 900), user("c" * 900), user("the question")]
    done = compact(SYSTEM, messages, 0, 1000, 900, 1200, count, model, steady_clock())
    assert done is not None and done.mode == "all"
    assert done.messages[1:] == [user("the question")] and done.evicted == 3
    assert model.requests[0][0]["content"] == ALL_PROMPT
    assert json.loads(done.messages[0]["content"])["message"].startswith(
        "Note: prior messages have been hidden from view due to conversation memory constraints.\n"
    )


def test_a_request_over_the_trigger_with_nothing_to_evict_leaves_a_trace() -> None:
    """It went out with no event at all, so a report (and `evictions: 0`) read as if the context were fine."""
    model = Summaries()
    window = ContextWindow(200, model, steady_clock())
    tools = [{"type": "function", "function": {"name": "t", "description": "d" * 2000, "parameters": {}}}]
    messages = [user("hello")]
    (event,) = window.before_request(SYSTEM, messages, tools)
    assert event.kind is ContextEventKind.OVERFLOW and event.tokens_before == event.tokens_after > 200
    assert (event.evicted, event.summary, model.requests, messages) == (0, None, [], [user("hello")])


def test_nothing_to_evict_is_no_compaction() -> None:
    model = Summaries()
    assert compact(SYSTEM * 500, [user("hi")], 0, 1000, 900, 5000, count, model, steady_clock()) is None
    # Only a summary before the last message: summarizing it again would not shrink anything.
    done = compact(SYSTEM, [user("a" * 3000), user("q")], 0, 1000, 900, 1200, count, model, steady_clock())
    assert done is not None and len(model.requests) == 1
    assert compact(SYSTEM * 300, done.messages, 0, 1000, 900, 1200, count, model, steady_clock()) is None
    assert len(model.requests) == 1


def test_transcript_is_lettas_simple_formatter() -> None:
    messages = [{"role": "system", "content": "s"}, user("hi"), *call_and_results("c", 1, "ok")]
    assert transcript(messages) == (
        '<start_transcript>\n[user] hi\n[assistant] -> core_memory_append("ok")\n[tool] ok\n'
        "<end_transcript>\n. Generate the summary."
    )


# A history made of whole units, as the loop writes them: a user message, or an assistant message with
# 1-3 tool calls followed by their results.
UNIT = st.one_of(
    st.builds(lambda n: [user("u" * n)], st.integers(1, 400)),
    st.builds(lambda k, n: call_and_results("c", k, "r" * n), st.integers(1, 3), st.integers(1, 300)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(UNIT, min_size=1, max_size=25), st.integers(200, 3000))
def test_eviction_invariants(units: list[list[dict[str, Any]]], size: int) -> None:
    """Whatever the history and window: the kept messages are the newest (a suffix, the last message
    always among them), no tool call is parted from its results, the summary comes first, and the request
    ends up under the trigger whenever the last unit alone fits."""
    messages = [message for unit in units for message in unit]
    for number, message in enumerate(messages):  # unique tool-call ids
        for call in message.get("tool_calls") or ():
            call["id"] = f"{call['id']}{number}"
        if message["role"] == "tool":
            message["tool_call_id"] = (
                f"{message['tool_call_id']}{max(i for i in range(number) if messages[i]['role'] == 'assistant')}"
            )
    original = [dict(m) for m in messages]
    window = ContextWindow(size, Summaries(), steady_clock())
    events = window.before_request(SYSTEM, messages, [])
    event_kinds = [e.kind.value for e in events] or ["none"]
    hypothesis.event(f"{event_kinds[0]} {events[0].mode if events and events[0].mode else ''}".strip())
    if not events or events[0].kind is not ContextEventKind.EVICTION:
        assert messages[: len(original)] == original  # at most a warning was appended
        return
    event = events[0]
    # An eviction is followed by an overflow exactly when it leaves the request over the whole window.
    assert [e.kind for e in events[1:]] == ([ContextEventKind.OVERFLOW] if event.tokens_after > size else [])
    kept = messages[1:]
    assert kept == original[len(original) - len(kept) :] and kept[-1] == original[-1]
    assert event.evicted == len(original) - len(kept) > 0
    assert json.loads(messages[0]["content"])["type"] == "system_alert"
    called: set[str] = set()
    for message in kept:
        called |= {call["id"] for call in message.get("tool_calls") or ()}
        if message["role"] == "tool":
            assert message["tool_call_id"] in called  # its call is kept, before it
    if kept[0]["role"] == "tool":
        raise AssertionError("a tool result kept without its call")
    tail = original[protected_tail(original) :]
    if window.tokens(SYSTEM, [messages[0], *tail], []) < window.trigger_tokens:
        assert event.tokens_after < window.trigger_tokens


# ------------------------------------------------------------------ in the loop


class Conversation:
    """A ChatModel for the agent: replies to every agent request, summarizes every summary request."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse:
        self.requests.append(messages)
        if not tools:
            return ChatResponse("The user said many facts.", (), "m")
        arguments = json.dumps({"message": f"ok {len(self.requests)}"})
        return ChatResponse(None, (ToolCall(f"id{len(self.requests)}", "send_message", arguments),), "m")


def test_the_loop_evicts_to_recall_and_records_it(chat_spec: AgentSpec) -> None:
    spec = replace(chat_spec, context_window=1200, memory_warning=True)
    recall = SqliteRecall.in_memory("agent-1")
    state = AgentState("agent-1", spec.name, spec.new_memory(), now=steady_clock(), recall=recall)
    model = Conversation()
    agent = Agent(spec, model, state=state, journal=RecallJournal(recall, state.now))
    events = []
    for n in range(12):
        result = agent.send(f"Remember fact number {n}: " + "w" * 150)
        now = [event for step in result.steps for event in step.context]
        events += now
        turn = agent.turn_messages()
        assert turn[-2:] == agent.messages[-2:]  # the turn's reply and its result
        evicted = any(event.kind is ContextEventKind.EVICTION for event in now)
        assert ("system_alert" in str(turn[0]["content"])) == evicted  # the summary is this turn's, first
    kinds = [event.kind for event in events]
    assert ContextEventKind.WARNING in kinds and ContextEventKind.EVICTION in kinds
    assert kinds.index(ContextEventKind.WARNING) < kinds.index(ContextEventKind.EVICTION)
    assert "Remember fact number 0" not in json.dumps(agent.messages)  # evicted from context...
    assert recall.search("fact number 0")[0].text.startswith("Remember fact number 0")  # ... not from recall
    summary_requests = [r for r in model.requests if r[0]["content"] in (SLIDING_PROMPT, ALL_PROMPT)]
    evictions = [event for event in events if event.kind is ContextEventKind.EVICTION]
    # one summary a sliding-window eviction; two for one that fell back to `all` (still SLIDING_PROMPT)
    assert len(summary_requests) == sum(1 if event.mode == "sliding_window" else 2 for event in evictions)
    assert all(r[0]["content"] == SLIDING_PROMPT for r in summary_requests)
    assert agent.messages[0]["role"] == "user" and "system_alert" in agent.messages[0]["content"]


def test_no_warning_unless_the_agent_asks_for_it_as_in_letta() -> None:
    """Letta 0.6.23 sends the warning only with summarizer_settings.send_memory_warning_message, False by
    default; Letta 0.16.8's v1 agent has none. The harness warned every agent with a window."""
    window = ContextWindow(4000, Summaries(), steady_clock())
    messages = [user("x" * 6000), user("y" * 3500)]  # over 75%, under 90%
    assert window.before_request(SYSTEM, messages, []) == () and len(messages) == 2


def test_a_compaction_rearms_the_warning() -> None:
    window = ContextWindow(1000, Summaries(), steady_clock(), warn=True)
    window.alerted = True
    messages = long_history(12)
    (event,) = window.before_request(SYSTEM, messages, [])
    assert event.kind is ContextEventKind.EVICTION and not window.alerted


def test_a_system_prompt_bigger_than_the_window_is_lettas_error_not_a_summary_a_step() -> None:
    """Every step paid for a summary and still sent a request over the window; Letta raises
    SystemPromptTokenExceededError once a compaction leaves the request over its trigger."""
    from harness.errors import ContextWindowExceeded, LLMError

    model = Summaries()
    window = ContextWindow(200, model, steady_clock())
    system = "s" * 700  # about 240 tokens
    history = [user("hello " * 20), *call_and_results("c1", 1, "ok"), user("more " * 20)]
    try:
        window.before_request(system, history, [])
    except ContextWindowExceeded as exc:
        assert isinstance(exc, LLMError)  # ends the scenario, located at its turn, as a refused request would
        assert str(exc).startswith("The system prompt tokens ") and "exceeds the context window 200." in str(exc)
    else:
        raise AssertionError("no error")
    assert len(model.requests) <= 1  # at most the one summary Letta also tries first


class Chains:
    """A ChatModel for the agent: per turn, some heartbeating memory calls and then a reply (its plan), in
    order; summary requests are summarized; a text answer once the plan is done."""

    def __init__(self, plan: list[int]) -> None:
        self.answers: list[ChatResponse] = []
        for turn, appends in enumerate(plan):
            for n in range(appends):
                arguments = {"label": "human", "content": f"fact {turn}.{n} " + "x" * 40, "request_heartbeat": True}
                call = ToolCall(f"t{turn}c{n}", "core_memory_append", json.dumps(arguments))
                self.answers.append(ChatResponse(None, (call,), "m", "tool_calls"))
            reply = ToolCall(f"t{turn}r", "send_message", json.dumps({"message": f"noted {turn}"}))
            self.answers.append(ChatResponse(None, (reply,), "m", "tool_calls"))

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: Any = None) -> Any:
        if not tools:
            return ChatResponse("The user said many facts.", (), "m")
        return self.answers.pop(0) if self.answers else ChatResponse("done", (), "m", "stop")


class Kept:
    """A journal that keeps what it is given, in order."""

    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []
        self.in_context: list[dict[str, Any]] | None = None  # as a store would resume it

    def save_user_message(self, agent_id: str, turns: int, turn: int, message: dict[str, Any]) -> None:
        self.saved.append(message)

    def save_step(
        self,
        agent_id: str,
        step: Any,
        messages: list[dict[str, Any]],
        blocks: Any,
        in_context: Any = None,
        opening: Any = None,
    ) -> None:
        if opening is not None:
            self.saved.extend(opening.messages)
        self.saved.extend(messages)
        if in_context is not None:
            self.in_context = [in_context.summary, *self.saved[len(self.saved) - in_context.kept :]]


@settings(max_examples=40, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@given(
    loop=st.sampled_from(["harness", "letta-memgpt", "letta-v1"]),
    window=st.sampled_from([1200, 1600, 2400]),
    plan=st.lists(st.integers(0, 3), min_size=1, max_size=8),
)
def test_every_message_of_a_turn_is_journaled_once_however_the_history_is_compacted(
    chat_spec: AgentSpec, loop: str, window: int, plan: list[int]
) -> None:
    """A step's messages were sliced from history by a position taken before its compaction moved them:
    a compacting turn's calls never reached recall or the state database (or reached them twice), and the
    memory-pressure warning of a turn's first step was never saved."""
    from harness.loops.kinds import LoopName

    spec = replace(chat_spec, context_window=window, loop=LoopName(loop), max_steps=6, memory_warning=True)
    journal = Kept()
    agent = Agent(spec, Chains(plan), journal=journal)  # type: ignore[arg-type]
    # Letta's loops start with a boot sequence (a send_message call and its result), saved with the first turn
    made = [call["id"] for message in agent.messages for call in message.get("tool_calls") or ()]
    warnings = 0
    for turn in range(len(plan)):
        result = agent.send(f"turn {turn}: " + "w" * 120)
        made += [call.call_id for step in result.steps for call in step.tool_calls]
        warnings += sum(event.kind is ContextEventKind.WARNING for step in result.steps for event in step.context)
        if agent.summary_message is not None:  # what a store resumes is the context the agent has
            assert journal.in_context is not None
            assert [id(message) for message in journal.in_context] == [id(message) for message in agent.messages]
    saved_calls = [call["id"] for message in journal.saved for call in message.get("tool_calls") or ()]
    saved_results = [message["tool_call_id"] for message in journal.saved if message["role"] == "tool"]
    assert sorted(saved_calls) == sorted(made) and sorted(saved_results) == sorted(made)
    assert len({id(message) for message in journal.saved}) == len(journal.saved)  # nothing saved twice
    saved_warnings = [m for m in journal.saved if MESSAGE_SUMMARY_WARNING_STR in str(m.get("content"))]
    assert len(saved_warnings) == warnings


# ------------------------------------------------------------------ Letta's fallbacks


class EmptySummaries(Summaries):
    """Answers the summary requests whose prompt is in `empty` with no text (a tool call, content None)."""

    def __init__(self, *empty: str) -> None:
        super().__init__()
        self.empty = empty

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse:
        answer = super().complete(messages, tools)
        if messages[0]["content"] in self.empty:
            return ChatResponse(None, (ToolCall("x", "send_message", "{}"),), "m", "tool_calls")
        return answer


def test_a_sliding_summary_with_no_text_falls_back_to_all() -> None:
    """Letta 0.16.8's "Summary failed to generate" in mode sliding_window falls back to mode `all`; the
    harness evicted the messages with an empty summary in their place."""
    model = EmptySummaries(SLIDING_PROMPT)
    messages = long_history(12)
    (event,) = ContextWindow(1000, model, steady_clock()).before_request(SYSTEM, messages, [])
    assert [request[0]["content"] for request in model.requests] == [SLIDING_PROMPT, ALL_PROMPT]
    assert event.mode == "all" and event.summary == "summary 2"
    assert json.loads(messages[0]["content"])["message"].endswith("previous messages:\n summary 2")


def test_a_summary_with_no_text_in_mode_all_fails_the_step_and_evicts_nothing() -> None:
    from harness.errors import ModelAnswerError, SummaryFailed

    model = EmptySummaries(SLIDING_PROMPT, ALL_PROMPT)
    messages = long_history(12)
    original = json.loads(json.dumps(messages))
    try:
        ContextWindow(1000, model, steady_clock()).before_request(SYSTEM, messages, [])
    except SummaryFailed as exc:
        assert isinstance(exc, ModelAnswerError)  # the model's doing: recorded, ends only its scenario
        assert str(exc).startswith("Summary failed to generate: the compaction's summary request (mode all)")
    else:
        raise AssertionError("no error")
    assert messages == original and len(model.requests) == 2


def test_the_fallback_after_a_sliding_window_still_over_the_trigger_keeps_the_sliding_prompt() -> None:
    """compact_messages sets `summarizer_config.prompt` for mode sliding_window and passes that config to
    `summarize_all` when the result is still over the trigger: SLIDING_PROMPT again (only the exception
    path, no cutoff or a failed summary, switches to ALL_PROMPT)."""
    model = Summaries()
    window = ContextWindow(2000, model, steady_clock())
    messages = [
        message for n in range(6) for message in [user(f"u{n} " + "x" * 300), *call_and_results(f"c{n}", 1, "ok")]
    ]
    messages += [user("u6 " + "x" * 3600), *call_and_results("c6", 1, "ok"), user("next")]
    tools = [{"type": "function", "function": {"name": "t", "description": "d" * 2400, "parameters": {}}}]
    (event,) = window.before_request("system " * 20, messages, tools)
    assert event.mode == "all"
    assert [request[0]["content"] for request in model.requests] == [SLIDING_PROMPT, SLIDING_PROMPT]


def test_a_failed_summary_request_says_it_was_the_compactions() -> None:
    from harness.errors import LLMError

    class Down(Summaries):
        def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse:
            raise LLMError("the model endpoint http://127.0.0.1:9/v1 answered HTTP 500: boom")

    messages = long_history(12)
    try:
        ContextWindow(1000, Down(), steady_clock()).before_request(SYSTEM, messages, [])
    except LLMError as exc:
        assert str(exc) == (
            "the compaction's summary request (mode sliding_window) failed: the model endpoint "
            "http://127.0.0.1:9/v1 answered HTTP 500: boom"
        )
    else:
        raise AssertionError("no error")


def _lettas_sliding_index(full: list[dict[str, Any]], window: int) -> int | None:
    """Letta 0.16.8's summarize_via_sliding_window cutoff search (summarizer_sliding_window.py), transcribed
    onto OpenAI dicts: the assistant_message_index, or None where Letta raises ValueError."""
    eviction_percentage = SLIDING_WINDOW_PERCENTAGE
    assistant_message_index = None
    goal_tokens = (1 - SLIDING_WINDOW_PERCENTAGE) * window
    approx_token_count = window
    while approx_token_count >= goal_tokens and eviction_percentage < 1.0:
        eviction_percentage += 0.10
        message_cutoff_index = round(eviction_percentage * len(full))
        assistant_message_index = next(
            (
                i
                for i in reversed(range(1, message_cutoff_index + 1))
                if i < len(full) and full[i]["role"] == "assistant"
            ),
            None,
        )
        if assistant_message_index is None:
            continue
        approx_token_count = count([full[0], *full[assistant_message_index:]])
    if assistant_message_index is None or eviction_percentage >= 1.0 or assistant_message_index >= len(full) - 1:
        return None
    return assistant_message_index


@settings(max_examples=400, deadline=None)
@given(st.lists(UNIT, min_size=1, max_size=30), st.integers(200, 6000), st.integers(10, 2000))
def test_the_sliding_cutoff_is_lettas_float_for_float(
    units: list[list[dict[str, Any]]], size: int, system: int
) -> None:
    """Letta grows its eviction percentage by adding 0.1 to 0.3 (0.8999999999999999, not 0.9): with 35
    or 55 messages `round` of it picks another cutoff than whole tenths did."""
    messages = [message for unit in units for message in unit]
    full = [{"role": "system", "content": "s" * system}, *messages]
    letta = _lettas_sliding_index(full, size)
    expected = None if letta is None or letta < 2 else letta - 1  # (the harness refuses to evict nothing)
    assert sliding_cutoff("s" * system, messages, size, count) == expected


def test_the_sliding_cutoff_at_35_messages_rounds_as_lettas_float() -> None:
    """0.8999999999999999 * 35 rounds to 31, where whole tenths gave 32: Letta looks back for an assistant
    message from 31 (and finds 29), the harness cut at 32."""
    messages: list[dict[str, Any]] = []
    for n in range(12):
        function = {"name": "f", "arguments": "{}"}
        call = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": f"c{n}", "type": "function", "function": function}],
        }
        messages += [user("u" * 307), call, {"role": "tool", "tool_call_id": f"c{n}", "content": "r"}]
    messages = messages[:34]
    full = [{"role": "system", "content": "s" * 100}, *messages]
    assert _lettas_sliding_index(full, 800) == 29
    assert sliding_cutoff("s" * 100, messages, 800, count) == 28
