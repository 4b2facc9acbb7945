"""A chat-completions exchange as plain data: the request body a model sends, and the response parsed.

Both the live client (through the openai SDK) and the replay model (from a cassette, without the SDK)
build their requests with `chat_request` and read answers with `parse_completion`: one definition of the
wire format, so a recorded request and a replayed one are the same dict, and key the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import LLMError
from harness.llm.settings import ModelSettings


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatResponse:
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    model: str
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


class ChatModel(Protocol):
    """What the agent loop needs from a model endpoint."""

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse: ...


def chat_request(
    settings: ModelSettings, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON body of a chat completion with tools, exactly as it goes on the wire."""
    body: dict[str, Any] = {"model": settings.name, "messages": messages, "temperature": settings.temperature}
    if tools:
        body["tools"] = tools
        body["tool_choice"] = str(settings.tool_choice)
    if settings.max_tokens is not None:
        body["max_tokens"] = settings.max_tokens
    if settings.seed is not None:
        body["seed"] = settings.seed
    return body


def parse_completion(data: Any, endpoint: str) -> ChatResponse:
    """A `chat.completion` body (decoded JSON) as the loop sees it; anything unusable is an LLMError that
    names the endpoint (`endpoint` must already be free of credentials)."""
    if not isinstance(data, dict):
        raise LLMError(f"the model endpoint {endpoint} answered with {type(data).__name__}, not a chat completion")
    choices = data.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise LLMError(f"the model endpoint {endpoint} returned no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise LLMError(f"the model endpoint {endpoint} returned a choice without a message")
    calls: list[ToolCall] = []
    for call in message.get("tool_calls") or ():
        if not isinstance(call, dict) or call.get("type") != "function":
            continue
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise LLMError(f"the model endpoint {endpoint} returned a tool call without a function name")
        calls.append(ToolCall(str(call.get("id") or ""), function["name"], function.get("arguments") or ""))
    content = message.get("content")
    usage = data.get("usage")
    return ChatResponse(
        content if isinstance(content, str) else None,
        tuple(calls),
        str(data.get("model") or ""),
        choice.get("finish_reason"),
        _without_nulls(usage) if isinstance(usage, dict) else {},
    )


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _without_nulls(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None}
