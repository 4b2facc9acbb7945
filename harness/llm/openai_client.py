"""The live model: chat completions with tools through the official `openai` SDK.

Any OpenAI-compatible `base_url` works (OpenAI, llama.cpp's llama-server, vLLM, Ollama). Failures become
one-line `LLMError`s that say what to check, with every credential masked (an endpoint's error message
may quote the key it refused). Only code that talks to a real endpoint imports this module.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx2
import openai

from harness.errors import LLMError
from harness.llm.chat import ChatResponse, chat_request, parse_completion
from harness.llm.settings import CHAT_COMPLETIONS, ModelSettings, without_credentials
from harness.secrets import Secrets

NO_KEY = "no-key"  # local servers accept any key; the SDK insists on one


class OpenAIChatModel:
    def __init__(
        self,
        settings: ModelSettings,
        *,
        http_client: httpx2.Client | None = None,
        api_key: str | None = None,
        secrets: Secrets | None = None,
    ) -> None:
        """`secrets` (default: the environment's) are masked in what the endpoint answers before the agent
        sees it, as the cassette will have it: a key the endpoint echoes never enters the agent's memory,
        history, store or report, and the recording run sees what its replays will."""
        self.settings = settings
        self.base_url = settings.endpoint
        self.shown_url = without_credentials(self.base_url)  # what errors print
        key = api_key or os.environ.get(settings.api_key_env)
        if not key:
            if settings.base_url is None:
                raise LLMError(
                    f"no API key: set the environment variable {settings.api_key_env} "
                    "(or point `model.base_url` at a local OpenAI-compatible server)"
                )
            key = NO_KEY
        self.secrets = (Secrets.collect() if secrets is None else secrets) | Secrets.collect(
            names=[settings.api_key_env], urls=[self.base_url], values=[key] if key != NO_KEY else []
        )
        self.client = openai.OpenAI(
            api_key=key,
            base_url=self.base_url,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            http_client=http_client,
        )

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse:
        try:
            # The SDK's documented way to post a prepared body: `chat.completions.create` would first walk
            # every message and tool through its TypedDict transform, which costs more than the whole replay
            # of a step, and changes nothing in plain JSON like ours. The raw response is parsed by the same
            # function replay uses.
            response = self.client.post(
                "/" + CHAT_COMPLETIONS, body=chat_request(self.settings, messages, tools), cast_to=httpx2.Response
            )
        except openai.APITimeoutError:
            raise self._error(
                f"the model endpoint {self.shown_url} did not answer within {self.settings.timeout:g} s"
            ) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__
            raise self._error(f"cannot reach the model endpoint {self.shown_url}: {cause or exc}") from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise self._error(
                f"the model endpoint {self.shown_url} refused the API key from ${self.settings.api_key_env} "
                f"(HTTP {exc.status_code})"
            ) from None
        except openai.APIStatusError as exc:
            raise self._error(
                f"the model endpoint {self.shown_url} answered HTTP {exc.status_code}: {self._short(exc.message)}"
            ) from None
        try:
            data = json.loads(response.content)
        except ValueError:
            raise self._error(
                f"the model endpoint {self.shown_url} answered with a body that is not JSON: "
                f"{self._short(response.content.decode('utf-8', 'replace'))}"
            ) from None
        return parse_completion(self.secrets.mask_data(data), self.shown_url)

    def _error(self, message: str) -> LLMError:
        return LLMError(self.secrets.mask(message))

    def _short(self, text: str, limit: int = 300) -> str:
        """An endpoint's text on one line, masked before it is cut (so no part of a secret is left)."""
        text = " ".join(self.secrets.mask(text).split())
        return text if len(text) <= limit else text[: limit - 1] + "…"
