"""The model endpoint: chat completions with tools through the official `openai` SDK.

Any OpenAI-compatible `base_url` works (OpenAI, llama.cpp's llama-server, vLLM, Ollama). Failures become
one-line `LLMError`s that say what to check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx2
import openai
from openai.types.chat import ChatCompletion

from harness.config import ModelSettings
from harness.errors import LLMError

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "no-key"  # local servers accept any key; the SDK insists on one


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


class OpenAIChatModel:
    def __init__(
        self, settings: ModelSettings, *, http_client: httpx2.Client | None = None, api_key: str | None = None
    ) -> None:
        """`api_key` overrides the environment (replay passes a dummy: a cassette needs no key)."""
        self.settings = settings
        self.base_url = settings.base_url or OPENAI_BASE_URL
        self.shown_url = without_credentials(self.base_url)  # what errors print
        key = api_key or os.environ.get(settings.api_key_env)
        if not key:
            if settings.base_url is None:
                raise LLMError(
                    f"no API key: set the environment variable {settings.api_key_env} "
                    "(or point `model.base_url` at a local OpenAI-compatible server)"
                )
            key = NO_KEY
        self.client = openai.OpenAI(
            api_key=key,
            base_url=self.base_url,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            http_client=http_client,
        )

    def request_body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.name,
            "messages": messages,
            "temperature": self.settings.temperature,
        }
        if tools:
            body["tools"] = tools
            body["tool_choice"] = self.settings.tool_choice
        if self.settings.max_tokens is not None:
            body["max_tokens"] = self.settings.max_tokens
        if self.settings.seed is not None:
            body["seed"] = self.settings.seed
        return body

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse:
        try:
            # The SDK's documented way to post a prepared body: `chat.completions.create` would first walk
            # every message and tool through its TypedDict transform, which costs more than the whole replay
            # of a step, and changes nothing in plain JSON like ours.
            completion = self.client.post(
                "/chat/completions", body=self.request_body(messages, tools), cast_to=ChatCompletion
            )
        except openai.APITimeoutError:
            raise LLMError(
                f"the model endpoint {self.shown_url} did not answer within {self.settings.timeout:g} s"
            ) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__
            raise LLMError(f"cannot reach the model endpoint {self.shown_url}: {cause or exc}", cause=cause) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise LLMError(
                f"the model endpoint {self.shown_url} refused the API key from ${self.settings.api_key_env} "
                f"(HTTP {exc.status_code})"
            ) from None
        except openai.APIStatusError as exc:
            raise LLMError(
                f"the model endpoint {self.shown_url} answered HTTP {exc.status_code}: {_short(exc.message)}"
            ) from None
        if not completion.choices:
            raise LLMError(f"the model endpoint {self.shown_url} returned no choices")
        choice = completion.choices[0]
        message = choice.message
        calls = tuple(
            ToolCall(call.id, call.function.name, call.function.arguments or "")
            for call in message.tool_calls or ()
            if call.type == "function"
        )
        usage = completion.usage.model_dump(exclude_none=True) if completion.usage else {}
        return ChatResponse(message.content, calls, completion.model, choice.finish_reason, usage)


def without_credentials(url: str) -> str:
    """The URL with no user, password, query or fragment: safe to print and to store."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
