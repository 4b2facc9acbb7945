"""The interface between the agent and its loop flavour, and the harness's own flavour.

The agent (harness/agent.py) owns the turn: history, steps, tool rules, persistence. A `Loop` decides what
differs between flavours: how the user's text and the tool results are packaged, what the request holds
(system message, tools), which of the model's calls run and how, what keeps a turn going and what is said
to the model between steps. `HarnessLoop` is the harness's simplified MemGPT loop, byte for byte what the
agent did before loops existed (its cassettes replay unchanged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from harness import jsontext
from harness.clock import Ids
from harness.config import AgentSpec
from harness.llm.chat import ChatResponse, ToolCall
from harness.llm.settings import ToolChoice
from harness.loops.kinds import LoopName
from harness.records import StopReason
from harness.tools.builtin import BUILTIN_TOOLS
from harness.tools.context import AgentState
from harness.tools.runtime import UserCall
from harness.tools.schema import HEARTBEAT_PARAMETER, Tool, ToolResult


class LoopHost(Protocol):
    """What a loop sees of the agent running it."""

    spec: AgentSpec
    state: AgentState
    messages: list[dict[str, Any]]
    ids: Ids
    evicted_messages: int  # history messages compaction moved out of context so far


class TurnAborted(Exception):
    """The loop gives up on the model's answer, as Letta's message call raises: the turn ends with
    `stop_reason`, and nothing of the step that failed stays in history (Letta persists a step only once it
    has run). `response` is the last answer, for the turn's record."""

    def __init__(self, stop_reason: StopReason, message: str, response: ChatResponse) -> None:
        super().__init__(message)
        self.stop_reason = stop_reason
        self.response = response


class NothingToAsk(Exception):
    """The loop has no request to send for the next step: the turn ends there with `stop_reason`, and the
    step's input (a heartbeat) is not kept, as Letta keeps only a step that ran."""

    def __init__(self, stop_reason: StopReason) -> None:
        super().__init__(stop_reason.value)
        self.stop_reason = stop_reason


@dataclass(frozen=True)
class CallOutcome:
    """A tool call run: its result, whether it asked for a heartbeat, and its arguments as parsed;
    `returned`: what the loop packages as the result's message when it is not the text (Letta 0.16.8 nests a
    dict a tool returns as a JSON object)."""

    result: ToolResult
    heartbeat: bool
    arguments: dict[str, Any]
    returned: dict[str, Any] | None = None


class Loop(Protocol):
    """One flavour of the agent loop (a fresh instance per agent: it may keep per-agent state)."""

    name: LoopName
    # Plain text without a tool call: the reply the user sees (True), or private reasoning (False).
    text_is_reply: bool
    # A call of a tool the agent lacks: refused as the tool rules refuse one (True), or run and failed.
    unknown_tool_breaks_rules: bool
    # A failed call keeps the turn going even when a tool rule would end it there (an exit_loop tool).
    failure_overrides_rules: bool

    def initial_messages(self, host: LoopHost) -> list[dict[str, Any]]:
        """The history a new agent starts with."""

    def user_message(self, text: str, now: datetime) -> dict[str, Any]:
        """The user's text as it goes into history (a new turn starts)."""

    def request_messages(self, host: LoopHost) -> list[dict[str, Any]]:
        """The messages of the next request: the system message, then the history."""

    def system_text(self, host: LoopHost) -> str:
        """The system message as the context window measures it before a request."""

    def tools(self, host: LoopHost, offered: list[Tool]) -> list[dict[str, Any]]:
        """The tool schemas of the next request (`offered`: what the tool rules allow now)."""

    def answer(self, ask: Callable[[], ChatResponse]) -> ChatResponse:
        """The model's answer, as the loop reads it (`ask` sends the request once); TurnAborted when the
        loop gives up on it."""

    def calls(self, response: ChatResponse) -> tuple[ToolCall, ...]:
        """The calls of the answer that run."""

    def assistant_message(
        self, response: ChatResponse, calls: tuple[ToolCall, ...], call_ids: list[str]
    ) -> dict[str, Any] | None:
        """The answer as it goes into history (None: nothing is kept of it)."""

    def run_tool(self, host: LoopHost, tool: Tool | None, call: ToolCall) -> CallOutcome:
        """Run one call (`tool` is None when the agent has no tool of that name)."""

    def tool_message(self, call_id: str, outcome: CallOutcome, now: datetime) -> dict[str, Any]:
        """A call's result as it goes into history."""

    def call_goes_on(self, tool: Tool | None, outcome: CallOutcome) -> bool:
        """Whether this call keeps the turn going (before tool rules have their say)."""

    def follow_up(self, failed: bool, now: datetime) -> dict[str, Any] | None:
        """What is added to history before the next step of a turn that goes on (None: nothing)."""

    def tool_choice(self, forced: bool) -> ToolChoice | None:
        """The next request's `tool_choice` when the tool rules force a call (`forced`) or not; None: the
        agent's own."""

    def required_reminder(self, uncalled: list[str], now: datetime) -> dict[str, Any] | None:
        """What is added to history when an answer without a tool call would end a turn whose
        `required_before_exit` tools are not all called: the turn goes on with it (None: the turn ends)."""


class HarnessLoop:
    """The harness's simplified MemGPT loop: every call of an answer runs; results are
    `{"status", "message"}` JSON; the user's text goes as it is; plain text is the reply."""

    name = LoopName.HARNESS
    text_is_reply = True
    unknown_tool_breaks_rules = False
    failure_overrides_rules = False
    _system_message: dict[str, Any] | None = None  # the last request's, reused while its text stands

    def initial_messages(self, host: LoopHost) -> list[dict[str, Any]]:
        return []

    def user_message(self, text: str, now: datetime) -> dict[str, Any]:
        return {"role": "user", "content": text}

    def request_messages(self, host: LoopHost) -> list[dict[str, Any]]:
        system = host.spec.system_message(host.state.memory)
        if self._system_message is None or self._system_message["content"] != system:
            # One message object for as long as its text stands: a request is keyed by its message objects.
            self._system_message = {"role": "system", "content": system}
        return [self._system_message, *host.messages]

    def system_text(self, host: LoopHost) -> str:
        return host.spec.system_message(host.state.memory)

    def tools(self, host: LoopHost, offered: list[Tool]) -> list[dict[str, Any]]:
        return [tool.openai_schema() for tool in offered]

    def answer(self, ask: Callable[[], ChatResponse]) -> ChatResponse:
        return ask()

    def calls(self, response: ChatResponse) -> tuple[ToolCall, ...]:
        return response.tool_calls

    def assistant_message(
        self, response: ChatResponse, calls: tuple[ToolCall, ...], call_ids: list[str]
    ) -> dict[str, Any] | None:
        """With the provider's fields the next request must echo (DeepSeek's `reasoning_content`,
        Gemini's `extra_content`): they are recorded with it."""
        message: dict[str, Any] = {"role": "assistant", "content": response.content or None, **response.extra}
        if calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                    **call.extra,
                }
                for call_id, call in zip(call_ids, calls, strict=True)
            ]
        return message

    def run_tool(self, host: LoopHost, tool: Tool | None, call: ToolCall) -> CallOutcome:
        name, raw_arguments = call.name, call.arguments
        if tool is None:
            known = ", ".join(t.name for t in host.spec.tools)
            unknown = ToolResult(False, f"No function named '{name}'; available functions: {known}")
            return CallOutcome(unknown, False, {})
        arguments = self.arguments(name, raw_arguments)
        if isinstance(arguments, CallOutcome):
            return arguments
        heartbeat = truthy(arguments.pop(HEARTBEAT_PARAMETER, False))
        return CallOutcome(tool.call(host.state, arguments, user_call(tool, host.spec)), heartbeat, arguments)

    @staticmethod
    def arguments(name: str, raw: str) -> dict[str, Any] | CallOutcome:
        """A call's arguments as a JSON object, or the failed outcome that says why they are not one."""
        try:
            arguments = jsontext.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return CallOutcome(ToolResult(False, f"Error parsing arguments of {name} as JSON: {exc}"), False, {})
        if not isinstance(arguments, dict):
            return CallOutcome(ToolResult(False, f"Arguments of {name} must be a JSON object"), False, {})
        return arguments

    def tool_message(self, call_id: str, outcome: CallOutcome, now: datetime) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": call_id, "content": outcome.result.to_content()}

    def call_goes_on(self, tool: Tool | None, outcome: CallOutcome) -> bool:
        terminal = tool is not None and tool.terminal
        return not outcome.result.ok or (outcome.heartbeat and not terminal)

    def follow_up(self, failed: bool, now: datetime) -> dict[str, Any] | None:
        return None

    def tool_choice(self, forced: bool) -> ToolChoice | None:
        return None

    def required_reminder(self, uncalled: list[str], now: datetime) -> dict[str, Any] | None:
        return None  # plain text is the reply, and it ends the turn


def user_call(tool: Tool, spec: AgentSpec) -> UserCall | None:
    """A custom tool's call, contained as Letta's sandbox contains it and given the agent's `tool_timeout`
    (harness/tools/runtime.py); None for the harness's own tools (built-in, declared by a schema alone),
    which Letta runs in its server, unbounded."""
    if tool.declared_parameters is not None or BUILTIN_TOOLS.get(tool.name) is tool.function:
        return None
    return UserCall(tool.name, spec.tool_timeout)


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
