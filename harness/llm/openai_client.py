"""The live models: chat completions with tools, and embeddings, through the official `openai` SDK.

Any OpenAI-compatible `base_url` works (OpenAI, llama.cpp's llama-server, vLLM, Ollama). Failures become
one-line `LLMError`s that say what to check, with every credential masked (an endpoint's error message
may quote the key it refused). Only code that talks to a real endpoint imports this module.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

import httpcore2
import httpx2
import openai

from harness.errors import LLMError
from harness.llm.chat import PLAYED_HEADER, ChatResponse, chat_request, parse_answer, retried, short, without_bom
from harness.llm.embeddings import Vector, embedding_request, parse_embeddings
from harness.llm.settings import (
    CHAT_COMPLETIONS,
    EMBEDDINGS,
    EmbeddingSettings,
    KeyHeader,
    ModelSettings,
    ToolChoice,
    without_credentials,
)
from harness.secrets import Secrets, answer_secrets, header_secrets
from harness.yamlsource import CASSETTE_LIMITS

_T = TypeVar("_T")

NO_KEY = "no-key"  # local servers accept any key; the SDK insists on one

# The most of an answer the harness reads: what a cassette keeps of a body. An endpoint whose answer
# never ends (a stream run away, a misrouted download) filled 2.5 GB in 32 s before.
MAX_ANSWER_BYTES = CASSETTE_LIMITS.max_scalar


class _SDKEndpoint:
    """One OpenAI-compatible endpoint reached through the SDK's client: the key, the headers, the retries."""

    section = "model"  # the agents.yaml key its settings come from (for messages)

    def __init__(
        self,
        settings: ModelSettings | EmbeddingSettings,
        *,
        http_client: httpx2.Client | None = None,
        api_key: str | None = None,
        secrets: Secrets | None = None,
        learned: set[str] | None = None,
        owner: str | None = None,
    ) -> None:
        """`secrets` (default: the environment's) are masked in what the endpoint answers before the agent
        sees it, as the cassette will have it: a key the endpoint echoes never enters the agent's memory,
        history, store or report, and the recording run sees what its replays will. `learned` gets the
        credential header values the endpoint answers with (a cookie, which the client sends back and a
        server may echo), secrets from then on: shared with whoever masks the run's other outputs. `owner`:
        whose settings these are (`agents.yaml:40: agents.a.embedding: agent 'a'`), said before a missing key."""
        self.settings = settings
        self.base_url = settings.endpoint
        self.shown_url = without_credentials(self.base_url)  # what errors print
        key = api_key or os.environ.get(settings.api_key_env)
        if not key:
            if settings.base_url is None:
                raise LLMError(
                    ("" if owner is None else f"{owner}: ")
                    + f"no API key: set the environment variable {settings.api_key_env} "
                    f"(or point `{self.section}.base_url` at a local OpenAI-compatible server)"
                )
            key = NO_KEY
        self._secrets = (Secrets.collect() if secrets is None else secrets) | Secrets.collect(
            names=[settings.api_key_env], urls=[self.base_url], values=[key] if key != NO_KEY else []
        )
        self._learned: set[str] = set() if learned is None else learned
        self._with_learned: tuple[int, Secrets] = (0, self._secrets)
        # Azure's classic header instead of a bearer token (the SDK's own Omit takes its header away).
        self.headers: dict[str, str | openai.Omit] = (
            {"api-key": key, "Authorization": openai.Omit()} if settings.key_header == KeyHeader.API_KEY else {}
        )
        self._worker = _Worker()
        weakref.finalize(self, self._worker.close)  # its thread ends with the endpoint
        self.client = openai.OpenAI(
            api_key=key,
            # A query in the base URL (Azure's `?api-version=`) is every request's query: the SDK would
            # append the path after it.
            base_url=settings.endpoint_path,
            default_query=settings.endpoint_query or None,
            timeout=settings.timeout,
            max_retries=0,  # retried here, where a timeout is not retried (see `_post`)
            http_client=http_client or bounded_client(),
        )

    def _post(self, operation: str, body: dict[str, Any]) -> tuple[int, str]:
        """The answer's status and text (masked). A connection error and the statuses the SDK would retry
        (408, 409, 429, 5xx) are retried `max_retries` times with backoff (honouring Retry-After up to a
        minute), as the SDK does; a request that times out is not: a hung endpoint costs one `timeout`, not
        `max_retries + 1` of them. `timeout` bounds the whole request, its answer read to the end: the
        SDK's (httpx's) timeout bounds each read, which an endpoint sending a byte now and then (a slow
        stream, a proxy's keep-alive) never trips."""
        attempt = -1
        while True:
            attempt += 1
            last = attempt >= self.settings.max_retries
            try:
                # The SDK's documented way to post a prepared body: `chat.completions.create` would first
                # walk every message and tool through its TypedDict transform, which costs more than the
                # whole replay of a step, and changes nothing in plain JSON like ours. The raw answer (a
                # stream included, read whole) is parsed by the same function replay uses.
                response = self._worker.run(
                    self.settings.timeout,
                    lambda: _read(
                        self.client.post(
                            "/" + operation,
                            body=body,
                            cast_to=httpx2.Response,
                            options={"headers": self.headers} if self.headers else {},
                        )
                    ),
                )
            except (openai.APITimeoutError, _TimedOut):
                raise self._error(
                    f"the {self.section} endpoint {self.shown_url} did not answer within {self.settings.timeout:g} s"
                ) from None
            except _TooLarge:
                raise self._too_large() from None
            except httpx2.DecodingError as exc:  # the body read past the SDK, by `_read`
                raise self._undecodable(exc) from None
            except openai.APIConnectionError as exc:
                if isinstance(exc.__cause__, httpx2.DecodingError):  # it answered: no retry decodes it better
                    raise self._undecodable(exc.__cause__) from None
                if isinstance(exc.__cause__, _TooLarge):  # read by vcrpy, under the SDK, when recording
                    raise self._too_large() from None
                if not last:
                    time.sleep(_backoff(attempt, None))
                    continue
                cause = exc.__cause__
                raise self._error(
                    f"cannot reach the {self.section} endpoint {self.shown_url}: {cause or exc}{self._tls_hint(cause)}"
                ) from None
            except openai.APIStatusError as exc:
                response = exc.response
                self._learn(response, _text(response))  # a retried answer is recorded too (Groq's 429)
                if retried(response.status_code) and response.headers.get(PLAYED_HEADER):
                    attempt -= 1  # a recorded retry follows: played at once, as replay plays it
                    continue
                if retried(response.status_code) and not last:
                    time.sleep(_backoff(attempt, response.headers.get("retry-after")))
                    continue
            break
        if response.is_redirect:
            location = response.headers.get("location")
            raise self._error(
                f"the {self.section} endpoint {self.shown_url} answered HTTP {response.status_code}, a redirect"
                + (f" to {without_credentials(location)}" if location else "")
                + f": the harness follows no redirect (a recording keys each request by its URL); point "
                f"`{self.section}.base_url` (or --base-url) at the endpoint itself"
            )
        received = _text(response)
        self._learn(response, received)
        # Masked before anything reads it: an echoed key never reaches the agent, its memory or a message.
        text = self.secrets.mask(received)
        if 200 <= response.status_code < 300 and not _JSON_OR_EVENTS.match(page := without_bom(text)):
            # An HTML page (a proxy's, a gateway's, a captive portal's) or other text: no model endpoint
            # answers that, so it is the environment's, as a 502 would be: never recorded as the model's
            # answer (the cassette keeps its old takes). JSON the parser refuses (cut off) is still the answer.
            kind = response.headers.get("content-type") or "no Content-Type"
            raise self._error(
                f"the {self.section} endpoint {self.shown_url} answered HTTP {response.status_code} with a body "
                f"that is not JSON ({kind}), which no model endpoint sends (a proxy or gateway in between?): "
                f"{short(page, 200)}"
            )
        return response.status_code, text

    def _learn(self, response: httpx2.Response, text: str) -> None:
        """The credentials and account ids an answer names, in its headers or, an error answer, in its body
        (Groq's rate limits name the organization): secrets from then on, in this answer, the cassette it
        is recorded into and every other output."""
        self._learned |= header_secrets(_header_lists(response.headers))
        self._learned |= answer_secrets(response.status_code, text)

    @property
    def secrets(self) -> Secrets:
        """What is masked now: the secrets given, and every value learned so far."""
        if len(self._learned) != self._with_learned[0]:
            learned = Secrets.collect(values=self._learned, environ={})
            self._with_learned = (len(self._learned), self._secrets | learned)
        return self._with_learned[1]

    def _too_large(self) -> LLMError:
        return self._error(
            f"the {self.section} endpoint {self.shown_url}'s answer is larger than {MAX_ANSWER_BYTES >> 20} MB, "
            "the most the harness reads (and a cassette keeps): is it an answer that never ends, or is "
            f"`{self.section}.base_url` pointing at something other than a model endpoint?"
        )

    def _tls_hint(self, cause: BaseException | None) -> str:
        """A plain-HTTP server reached with https:// fails in the TLS handshake with OpenSSL's words only."""
        if self.base_url.lower().startswith("https://") and "WRONG_VERSION_NUMBER" in str(cause):
            return f" (the server may speak plain HTTP: try http:// in `{self.section}.base_url`, or --base-url)"
        return ""

    def _undecodable(self, error: httpx2.DecodingError) -> LLMError:
        return self._error(
            f"the {self.section} endpoint {self.shown_url} answered with a body its Content-Encoding does not "
            f"decode: {error}"
        )

    def _error(self, message: str) -> LLMError:
        return LLMError(self.secrets.mask(message))


class OpenAIChatModel(_SDKEndpoint):
    settings: ModelSettings

    def __init__(
        self,
        settings: ModelSettings,
        *,
        http_client: httpx2.Client | None = None,
        api_key: str | None = None,
        secrets: Secrets | None = None,
        learned: set[str] | None = None,
    ) -> None:
        super().__init__(settings, http_client=http_client, api_key=api_key, secrets=secrets, learned=learned)

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice | None = None
    ) -> ChatResponse:
        """One answer (see `_post` for what is retried)."""
        status, text = self._post(CHAT_COMPLETIONS, chat_request(self.settings, messages, tools, tool_choice))
        return parse_answer(status, text, self.shown_url, self.settings.credential, self.settings.name)


class OpenAIEmbeddingModel(_SDKEndpoint):
    """Embeddings from an OpenAI-compatible `/embeddings` endpoint, posted through the SDK's client as chat
    is: inside a recording, vcrpy writes them into the scenario's cassette."""

    settings: EmbeddingSettings
    section = "embedding"

    def __init__(
        self,
        settings: EmbeddingSettings,
        *,
        http_client: httpx2.Client | None = None,
        api_key: str | None = None,
        secrets: Secrets | None = None,
        learned: set[str] | None = None,
        owner: str | None = None,
    ) -> None:
        super().__init__(
            settings, http_client=http_client, api_key=api_key, secrets=secrets, learned=learned, owner=owner
        )

    def embed(self, texts: list[str]) -> list[Vector]:
        status, text = self._post(EMBEDDINGS, embedding_request(self.settings, texts))
        return parse_embeddings(
            status,
            text,
            self.shown_url,
            len(texts),
            self.settings.credential,
            self.settings.dimensions,
            self.settings.name,
        )


# How a body that is JSON or a stream of server-sent events starts (after blanks; `parse_body` takes an empty
# one as the model's). Anything else is not what a model endpoint sends.
_JSON_OR_EVENTS = re.compile(r'\s*(?:$|[-{\["0-9]|true|false|null|data:|event:|:)')


def _backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before retry `attempt + 1`: the server's Retry-After when it gives a sane one, else
    0.5 s doubling up to 8 s (the SDK's schedule, without its jitter: recordings stay comparable)."""
    if retry_after is not None:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = -1.0
        if 0 <= seconds <= 60:
            return seconds
    return float(min(0.5 * 2**attempt, 8.0))


def _header_lists(headers: httpx2.Headers) -> dict[str, list[str]]:
    """Each header's values apart (`items()` joins two Set-Cookie headers into one text)."""
    lists: dict[str, list[str]] = {}
    for name, value in headers.multi_items():
        lists.setdefault(name, []).append(value)
    return lists


class _TimedOut(Exception):
    """The whole request took longer than the endpoint's `timeout`."""


class _TooLarge(Exception):
    """The answer went past `MAX_ANSWER_BYTES`."""


class _Abandoned(Exception):
    """The request's caller stopped waiting for it: what is left of its answer is not read."""


class _Budget:
    """What one request may still read, and whether its caller still waits for it."""

    def __init__(self) -> None:
        self.left = MAX_ANSWER_BYTES
        self.abandoned = threading.Event()


_current = threading.local()  # `budget`: the request the worker thread is sending, while it sends it


class _BoundedStream(httpcore2.NetworkStream):
    """A connection whose reads count against the current request's budget: the answer is read bounded
    beneath vcrpy too, which reads a recorded answer whole inside the transport before the SDK sees it."""

    def __init__(self, stream: httpcore2.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        budget: _Budget | None = getattr(_current, "budget", None)
        if budget is not None and budget.abandoned.is_set():
            raise _Abandoned
        data = self._stream.read(max_bytes, timeout)
        if budget is not None:
            budget.left -= len(data)
            if budget.left < 0:
                raise _TooLarge
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.NetworkStream:
        return _BoundedStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _BoundedBackend(httpcore2.NetworkBackend):
    """httpcore's network backend, its connections bounded (`_BoundedStream`)."""

    def __init__(self, backend: httpcore2.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore2.NetworkStream:
        return _BoundedStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore2.NetworkStream:
        return _BoundedStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class BoundedTransport(httpx2.HTTPTransport):
    """httpx's transport (vcrpy patches its class, so recording sees every request), reading at most
    `MAX_ANSWER_BYTES` of an answer and nothing more of one whose caller has stopped waiting. httpx takes
    no network backend, so its pool's is wrapped: the one place below vcrpy, which reads a recorded answer
    to its end before anyone else sees a byte of it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bounded = bound_pool(self._pool)


def bound_pool(pool: Any) -> bool:
    """Wrap the network backend of httpcore's `pool`; False, and `pool` left as it is, where it has none
    where this httpcore keeps it (not public: checked, never assumed). A later httpcore that moved it costs
    the bound (answers read unbounded, as before it), never every request (tests/llm/test_openai_client.py
    holds the version installed to it)."""
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(backend, httpcore2.NetworkBackend):
        return False
    pool._network_backend = _BoundedBackend(backend)
    return True


def bounded_client(**kwargs: Any) -> httpx2.Client:
    """The SDK's default client (its timeouts and connection limits) over a `BoundedTransport`."""
    return openai.DefaultHttpxClient(transport=BoundedTransport(limits=openai.DEFAULT_CONNECTION_LIMITS), **kwargs)


_Job = Callable[[], Any]
_Outcome = tuple[bool, Any]  # (True, what send() returned) or (False, what it raised)


class _Worker:
    """Runs an endpoint's requests, one at a time, on a daemon thread, so the caller can stop waiting once
    the timeout has passed: httpx cannot be told to give up on a response it is reading. The thread and
    its two queues are kept for the next request (a thread started per request, or an Event a request,
    cost about twice as much as the queues' hand-off, which is 0.1-0.3 ms a request against an instant
    local server). A request that overran is marked abandoned: its thread reads no more of the answer
    (`_BoundedStream`), which an endpoint sending without end would otherwise fill memory with, and ends;
    the next request gets a new thread and new queues, so a late answer is never taken for another's."""

    def __init__(self) -> None:
        self._queues: tuple[queue.SimpleQueue[tuple[_Job, _Budget] | None], queue.SimpleQueue[_Outcome]] | None = None

    def run(self, seconds: float, send: Callable[[], _T]) -> _T:
        """`send()`, or _TimedOut once `seconds` have passed; `send` reads at most `MAX_ANSWER_BYTES` of
        its answer over a `BoundedTransport` (_TooLarge)."""
        if self._queues is None:
            self._queues = (queue.SimpleQueue(), queue.SimpleQueue())
            threading.Thread(target=_serve, args=self._queues, name="harness-requests", daemon=True).start()
        jobs, outcomes = self._queues
        budget = _Budget()
        jobs.put((send, budget))
        try:
            done, value = outcomes.get(timeout=seconds)
        except queue.Empty:
            budget.abandoned.set()
            self.close()  # that thread ends once its request does
            raise _TimedOut from None
        if done:
            return cast(_T, value)
        raise value

    def close(self) -> None:
        if self._queues is not None:
            self._queues[0].put(None)
            self._queues = None


def _serve(jobs: queue.SimpleQueue[tuple[_Job, _Budget] | None], outcomes: queue.SimpleQueue[_Outcome]) -> None:
    while (item := jobs.get()) is not None:
        job, _current.budget = item
        try:
            outcomes.put((True, job()))
        except BaseException as exc:  # handed to the caller as it is
            outcomes.put((False, exc))
        finally:
            _current.budget = None


def _read(response: httpx2.Response) -> httpx2.Response:
    response.read()  # to the end, within the deadline (a no-op where the SDK has read it already)
    return response


def _text(response: httpx2.Response) -> str:
    """The body as text, whatever the server claims its charset to be."""
    return response.content.decode("utf-8", "replace")
