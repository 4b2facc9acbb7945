"""How to reach a model and what to ask of it: the runtime forms of an agent's `model:` and `embedding:`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

OPENAI_BASE_URL = "https://api.openai.com/v1"
CHAT_COMPLETIONS = "chat/completions"
EMBEDDINGS = "embeddings"


class ToolChoice(StrEnum):
    AUTO = "auto"
    REQUIRED = "required"


class KeyHeader(StrEnum):
    """Where the API key goes: `Authorization: Bearer KEY` (OpenAI and nearly everyone), or Azure's
    classic `api-key: KEY` header."""

    AUTHORIZATION = "authorization"
    API_KEY = "api-key"


class Endpoint:
    """Where requests go, for any settings with a `base_url` (chat and embedding models alike)."""

    base_url: str | None
    api_key_env: str

    @property
    def credential(self) -> str:
        """What proves who is asking, as a refusal names it: the user and password in `base_url` when it has
        them (httpx sends them as HTTP Basic auth, in the Authorization header a bearer key would have
        had), else the API key's variable."""
        parts = urlsplit(self.endpoint)
        if parts.username is not None or parts.password is not None:
            return "the user and password in its base URL (sent as HTTP Basic auth, in place of a bearer API key)"
        return f"the API key from ${self.api_key_env}"

    @property
    def endpoint(self) -> str:
        """The base URL requests go to: `base_url`, or OpenAI's when none is given. It may carry a query
        (Azure's `?api-version=...`), which every request then keeps as its query."""
        return self.base_url or OPENAI_BASE_URL

    @property
    def endpoint_path(self) -> str:
        """The base URL without its query: what the SDK appends `chat/completions` to."""
        parts = urlsplit(self.endpoint)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

    @property
    def endpoint_query(self) -> dict[str, str]:
        """The base URL's query parameters (Azure's `api-version`), sent with every request."""
        return dict(parse_qsl(urlsplit(self.endpoint).query, keep_blank_values=True))

    @property
    def completions_path(self) -> str:
        """The URL path a chat completion is posted to, as the SDK builds it (base path + chat/completions)."""
        return self.operation_path(CHAT_COMPLETIONS)

    @property
    def embeddings_path(self) -> str:
        """The URL path embeddings are posted to (base path + embeddings)."""
        return self.operation_path(EMBEDDINGS)

    def operation_path(self, operation: str) -> str:
        return urlsplit(self.endpoint).path.rstrip("/") + "/" + operation


@dataclass(frozen=True)
class ModelSettings(Endpoint):
    name: str
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 120.0
    max_retries: int = 2
    tool_choice: ToolChoice = ToolChoice.REQUIRED
    seed: int | None = None
    key_header: KeyHeader = KeyHeader.AUTHORIZATION
    stream: bool = False  # ask for server-sent events (models that only stream)
    # Letta's LLMConfig field, read by the letta-memgpt loop (None: Letta's default for the model).
    put_inner_thoughts_in_kwargs: bool | None = None
    # Every tool-call id the harness makes is 9 letters and digits (Mistral's rule), letta-memgpt's boot
    # call's too, which is otherwise a uuid cut to 29 characters as Letta 0.6 makes it.
    mistral_tool_call_ids: bool = False
    # Fields the agent's loop adds to every body (Letta 0.6's request defaults): not settable in YAML.
    extra_body: tuple[tuple[str, Any], ...] = ()
    # Fields the agent's loop adds to a body that offers tools (Letta's `parallel_tool_calls`).
    tools_body: tuple[tuple[str, Any], ...] = ()
    # Leave `parallel_tool_calls` out for OpenAI's reasoning models (letta-v1, as Letta 0.16.8 does).
    parallel_by_model: bool = False


@dataclass(frozen=True)
class EmbeddingSettings(Endpoint):
    """The embedding model of archival memory: an OpenAI-compatible `/embeddings` endpoint (the runtime form
    of an agent's `embedding:`). Its requests are recorded in the scenario's cassette like chat's."""

    name: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    dimensions: int | None = None  # asked of models that can shorten their vectors (text-embedding-3-*)
    timeout: float = 120.0
    max_retries: int = 2
    key_header: KeyHeader = KeyHeader.AUTHORIZATION


def http_url_problem(url: str) -> str | None:
    """What is wrong with `url` as an endpoint's base URL (None: nothing), said without repeating it: it
    may carry a credential. A typo (`htp://`, a port past 65535) is told before any request."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"not a URL this harness can reach ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "should be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080/v1"
    return None


def without_credentials(url: str) -> str:
    """The URL with no user, password, query or fragment: safe to print and to store."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))
