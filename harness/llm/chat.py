"""A chat-completions exchange as plain data: the request body a model sends, and the response parsed.

Both the live client (through the openai SDK) and the replay model (from a cassette, without the SDK)
build their requests with `chat_request` and read answers with `parse_answer`: one definition of the
wire format, so a recorded request and a replayed one are the same dict, and key the same, and a recorded
answer (good, malformed or an HTTP error) gives the same outcome live and replayed.

Providers differ from OpenAI's own answers in ways the parser absorbs (each with a test built from a real
body, tests/llm/provider_bodies/): tool calls without `"type"` (Mistral), `arguments` as a JSON object or
left out (TGI, Ollama, some llama.cpp builds), tool calls without ids (Gemini), `content` as a list of
parts (Vertex), fields the next request must echo back (DeepSeek's `reasoning_content`, Gemini 3's
`extra_content.google.thought_signature`), `refusal`, streamed (SSE) answers (Azure's first chunk names
no model, Groq puts the usage under `x_groq`, Gemini streams calls without `index`, Ollama all at 0), and
errors in a 200 answer (OpenRouter's, at the top or in the choice). Anything else a model endpoint can
send is a `ModelAnswerError` naming the endpoint, never a crash.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from harness import jsontext
from harness.errors import LLMError, ModelAnswerError, UnknownModel
from harness.llm.settings import ModelSettings, ToolChoice

# Fields of an assistant message (and of one of its tool calls) that a provider needs back on the next
# request: DeepSeek's thinking mode rejects a tool-call turn without its `reasoning_content`, Gemini 3 one
# without the `thought_signature` it put in `extra_content`, OpenRouter asks for `reasoning_details`.
ECHOED_MESSAGE_FIELDS = ("reasoning_content", "reasoning_details", "extra_content")
ECHOED_CALL_FIELDS = ("extra_content",)
_LEADING_SPACE = re.compile(r"\s*")
# More calls than this in one answer is a runaway generation, not a plan: the scenario ends with an error.
MAX_TOOL_CALLS = 256
# The statuses that answer what a request says (RFC 9110: 400, the server cannot process it; 422, it
# understands it and refuses it): the only ones that can be about what the model generated (Groq's 400
# `tool_use_failed`, a context overflow, Mistral's 422 for a tool-call id). Such an answer is recorded, and
# replays to the same error, unless its body says it is about something else (`Cause`). Every other error
# status says nothing about the model (credentials, billing, a wrong URL or model name, the size a server or
# an account's tier takes, rate limits, the server's state): never written into a cassette, so a bad key or
# a failing server cannot replace a good recording; the scenario errors and the old takes stay.
REQUEST_STATUSES = frozenset({400, 422})


DEFAULT_CREDENTIAL = "the API key from $OPENAI_API_KEY"


class Cause(StrEnum):
    """Why an error answer is the environment's and not the model's, for what the error tells to check."""

    KEY = "key"  # the credential (Gemini and xAI refuse a bad key with HTTP 400)
    ACCOUNT = "account"  # its balance, billing or region (DeepSeek's 402, Anthropic's 400)
    LIMIT = "limit"  # a rate or size limit of the account's tier or the server (Groq's 413 and 429)
    MODEL = "model"  # a model name the endpoint does not know (DeepSeek, Mistral, OpenRouter answer 400)
    PAGE = "page"  # a body that is not JSON: a proxy's or gateway's page (nginx's HTML 400 and 413)
    URL = "url"  # 404 of no model: a base URL with a wrong path
    OTHER = "other"  # a status that says nothing about the model, and nothing more (5xx, 405, 409...)


# What providers put in an error's `code`, `type`, `status` or `reason` (compared lowercased) when the
# error is not about what the request said.
CAUSE_CODES: dict[str, Cause] = {
    "invalid_api_key": Cause.KEY,  # OpenAI, Groq
    "api_key_invalid": Cause.KEY,  # Google's reason, under a 400 INVALID_ARGUMENT
    "authentication_error": Cause.KEY,  # Anthropic
    "insufficient_quota": Cause.ACCOUNT,  # OpenAI
    "billing_hard_limit_reached": Cause.ACCOUNT,  # OpenAI
    "billing_not_active": Cause.ACCOUNT,  # OpenAI
    "rate_limit_exceeded": Cause.LIMIT,  # OpenAI; Groq's tier limit, as HTTP 413 too
    "rate_limit_error": Cause.LIMIT,  # Anthropic
    "resource_exhausted": Cause.LIMIT,  # Google
    "model_not_found": Cause.MODEL,  # OpenAI, Groq, LM Studio (400, 403 or 404)
    "invalid_model": Cause.MODEL,  # Mistral's type (`code` "1500"), Perplexity
    "model_not_available": Cause.MODEL,  # Together
}
# How providers' error messages begin when they are not about what the request said (case ignored). At
# the start only: a message that quotes the request (a tool call, the model's text) never begins with these.
CAUSE_MESSAGES: tuple[tuple[re.Pattern[str], Cause], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), cause)
    for pattern, cause in (
        # Google's "API key not valid. Please pass a valid API key." and "API key expired."; xAI's (400) and
        # OpenAI's "Incorrect API key provided: ..."
        (r"api[ _-]?key (?:not valid|expired|is invalid)|(?:incorrect|invalid) api[ _-]?key", Cause.KEY),
        # DeepSeek's 402, Anthropic's 400, OpenAI's 429, Gemini's 400 FAILED_PRECONDITION
        (r"insufficient balance|your credit balance is too low|you exceeded your current quota", Cause.ACCOUNT),
        (r"user location is not supported", Cause.ACCOUNT),
        # OpenAI, vLLM, Groq, xAI: "The model `x` does not exist (or you do not have access to it)"
        (r"the model [`'\"]?\S+?[`'\"]? does not exist", Cause.MODEL),
        (r"model [\"'][^\"']*[\"'] not found", Cause.MODEL),  # Ollama: model "x" not found, try pulling it first
        (r"models/\S+ is not found", Cause.MODEL),  # Google
        (r"\S+ is not a valid model id", Cause.MODEL),  # OpenRouter
        # Mistral's "Invalid model: x", Perplexity's "Invalid model 'x'", LM Studio's 'Invalid model identifier "x"'
        (r"invalid model(?: id(?:entifier)?)?\s*[:'\"`.]", Cause.MODEL),
        (r"model not (?:exist|found)\b", Cause.MODEL),  # DeepSeek ("Model Not Exist"), Fireworks
        (r"unable to access model\b", Cause.MODEL),  # Together
    )
)
# What an error answer of each cause tells to check, after the provider's message.
CAUSE_HINTS = {
    Cause.ACCOUNT: "check the account's balance, billing or plan",
    Cause.LIMIT: "a limit of the account's tier or of the server, not the model's answer",
    Cause.PAGE: "a page, not JSON, which no model endpoint sends: a proxy or gateway in between?",
    Cause.URL: "check the base URL (its path) and the model name",
}


def environment_cause(status: int | None, text: str) -> Cause | None:
    """Why an error answer (`status` and body text; None for an error in a 2xx body) is the environment's,
    or None when it is the model's doing (recorded, and replayed to the same error)."""
    if status is not None and status >= 500:
        return Cause.OTHER
    said = _said_cause(text)
    if said is Cause.PAGE and status == 404:  # a web server's page for a path it has not: a wrong base URL
        return Cause.URL
    if said is not None or status is None or status in REQUEST_STATUSES:
        return said
    return {401: Cause.KEY, 403: Cause.KEY, 402: Cause.ACCOUNT, 404: Cause.URL, 413: Cause.LIMIT}.get(
        status, Cause.LIMIT if status == 429 else Cause.OTHER
    )


def recorded_error(status: int, text: str = "") -> bool:
    """Whether an error answer is the model's doing, and so recorded."""
    return 400 <= status < 500 and environment_cause(status, text) is None


def _said_cause(text: str) -> Cause | None:
    """What an error body says of its cause, if it is one of `Cause`'s (a body that is not JSON: a page)."""
    try:
        data = jsontext.loads(without_bom(text))
    except ValueError:
        return Cause.PAGE if text.strip() else None
    error = _error_object(data)
    if error is None:
        return None
    labels = [error.get(key) for key in ("code", "type", "status")]
    details = error.get("details")
    labels += [d.get("reason") for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    for label in labels:
        if isinstance(label, str) and label.lower() in CAUSE_CODES:
            return CAUSE_CODES[label.lower()]
    message = error.get("message")
    if isinstance(message, str):
        for pattern, cause in CAUSE_MESSAGES:
            if pattern.match(message.strip()):
                return cause
    return None


def _error_object(data: Any) -> dict[str, Any] | None:
    """The error object of a provider's error body: OpenAI's `error` (Google's in a list of one), or
    vLLM's and Mistral's older shape, the body itself (`{"object": "error", "message": ...}`)."""
    if isinstance(data, list) and len(data) == 1:  # Google wraps its errors in a list
        data = data[0]
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, str):
        return {"message": error}
    if isinstance(error, dict):
        return error
    return data if data.get("object") == "error" else None


def status_error(status: int, text: str, where: str, credential: str, model: str = "") -> LLMError:
    """The error an HTTP error answer is, from `where` (the endpoint, named): the model's answer (recorded),
    or the environment's, saying what to check; a model name the endpoint does not know is the user's."""
    cause = environment_cause(status, text)
    said = f"{where} answered HTTP {status}: {provider_message(text)}"
    if cause is None:
        return ModelAnswerError(said)
    if cause is Cause.KEY:
        shown = "" if status in (401, 403) else f": {provider_message(text)}"
        return LLMError(f"{where} refused {credential} (HTTP {status}{shown})")
    if cause is Cause.MODEL:
        name = f" {model!r}" if model else ""
        return UnknownModel(f"{said}; check the model name{name}: the endpoint does not know it", model)
    hint = CAUSE_HINTS.get(cause)
    return LLMError(f"{said}; {hint}" if hint else said)


# Letta 0.16.8's openai_client.py is_openai_reasoning_model: models that take no `parallel_tool_calls`.
OPENAI_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")

# What the openai SDK retries (`_should_retry`): replay consumes recorded retries the same way.
RETRIED_STATUSES = frozenset({408, 409, 429})
# The header a recording session puts on an answer it plays from the cassette: a recorded retry follows it,
# asked for at once and not counted against `max_retries`, as replay consumes it.
PLAYED_HEADER = "x-harness-played"


class CallIds(StrEnum):
    """The tool-call ids the loop puts back into history (and so on the wire).

    PROVIDER keeps the id the provider gave (providers that check ids, like Mistral, get their own back)
    and makes one up where it gave none or repeated one: 9 letters and digits, the strictest rule known
    (Mistral's), derived from the message's position so replays stay byte-identical. LOCAL renames every
    call `call_{message}_{index}`: what cassettes recorded before PROVIDER existed hold, kept so they
    replay unchanged."""

    PROVIDER = "provider"
    LOCAL = "local"


@dataclass(frozen=True)
class ToolCall:
    id: str  # the provider's id, "" when it gave none
    name: str
    arguments: str  # JSON text
    extra: dict[str, Any] = field(default_factory=dict)  # provider fields echoed back on this call


@dataclass(frozen=True)
class ChatResponse:
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    model: str
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    refusal: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # provider fields echoed back on the message


class ChatModel(Protocol):
    """What the agent loop needs from a model endpoint."""

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice | None = None
    ) -> ChatResponse:
        """One answer; `tool_choice` overrides the settings' for this request (a loop whose tool rules force
        a call: Letta's `requires_subsequent_tool_call`)."""
        ...


def chat_request(
    settings: ModelSettings,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    tool_choice: ToolChoice | None = None,
) -> dict[str, Any]:
    """The JSON body of a chat completion with tools, exactly as it goes on the wire."""
    body: dict[str, Any] = {"model": settings.name, "messages": messages, "temperature": settings.temperature}
    if tools:
        body["tools"] = tools
        body["tool_choice"] = str(tool_choice or settings.tool_choice)
        # OpenAI's reasoning models take no parallel_tool_calls (Letta 0.16.8 leaves it out for them)
        reasoning = settings.parallel_by_model and settings.name.startswith(OPENAI_REASONING_PREFIXES)
        body.update(item for item in settings.tools_body if not (reasoning and item[0] == "parallel_tool_calls"))
    if settings.max_tokens is not None:
        body["max_tokens"] = settings.max_tokens
    if settings.seed is not None:
        body["seed"] = settings.seed
    body.update(settings.extra_body)
    if settings.stream:
        body["stream"] = True
    return body


def retried(status: int) -> bool:
    """Whether the openai SDK sends the request again after this status (so a recording holds the retry)."""
    return status in RETRIED_STATUSES or status >= 500


def parse_answer(
    status: int,
    text: str,
    endpoint: str,
    credential: str = DEFAULT_CREDENTIAL,
    model: str = "",
    *,
    recorded: str | None = None,
) -> ChatResponse:
    """An HTTP answer (status and body text) as the loop sees it, live and replayed alike. `endpoint` must
    already be free of credentials; `credential` is what a refusal names (`Endpoint.credential`), `model`
    the name an unknown model's error names; `recorded`, where a replayed answer is in its cassette (see
    `undecoded_by`)."""
    if not 200 <= status < 300:
        raise status_error(status, text, f"the model endpoint {endpoint}", credential, model)
    return parse_body(text, endpoint, recorded)


def undecoded_by(section: str, endpoint: str, recorded: str | None) -> str:
    """Who an error about a body that does not decode (empty, not JSON, JSON Python refuses) names: the
    `section` (model, embedding) endpoint, or, for a replayed answer, its recording at `recorded` (the
    cassette's file and interaction): the text at fault is that file's, which may never have come from the
    endpoint (a cassette edited by hand, damaged, merged). An answer that decodes says what the recording
    said, word for word, so a replay reports what its recording did."""
    if recorded is None:
        return f"the {section} endpoint {endpoint}"
    return f"the recording of the {section} endpoint {endpoint} ({recorded})"


def provider_message(text: str) -> str:
    """What a provider's error body says: `error.message` (and its code) when it is OpenAI's error shape,
    or vLLM's older one (`message` at the top), else the body, shortened to one line."""
    try:
        data = jsontext.loads(text)
    except ValueError:
        return short(text) or "(an empty body)"
    error = _error_object(data)
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        code = error.get("code") or error.get("type")
        return short(error["message"] + (f" ({code})" if isinstance(code, str | int) and code != "" else ""))
    return shown_json(text)


def without_bom(text: str) -> str:
    """A body without the byte order mark some servers put first (the SDK's own JSON reading skips it)."""
    return text[1:] if text.startswith("\ufeff") else text


def shown_json(text: str) -> str:
    """A body in one line as a cassette writes it (JSON compact): a recorded answer quoted in an error reads
    the same when recorded and when replayed from the cassette."""
    try:
        return short(json.dumps(jsontext.loads(text), ensure_ascii=False, separators=(",", ":")))
    except ValueError:
        return short(text)


def answered_error(what: str, data: Any, text: str) -> LLMError:
    """An error in a 2xx body (OpenRouter answers 200 before its upstream fails, and puts the failure at
    the top, or in the choice, with `finish_reason: "error"`, when the answer had begun). One whose `code`
    is a status that says nothing of the model (a rate limit, an outage) is the environment's, as that
    HTTP status would be: never recorded as the model's answer. Anything else is the model's answer."""
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, str) and code.isdigit() and len(code) == 3:
        code = int(code)
    status = code if type(code) is int and 400 <= code < 600 else None
    kind = ModelAnswerError if environment_cause(status, text) is None else LLMError
    return kind(f"{what} an error: {provider_message(text)}")


def parse_body(text: str, endpoint: str, recorded: str | None = None) -> ChatResponse:
    """A 2xx body: a chat completion, or a stream of chunks (server-sent events); `recorded`, where a
    replayed one is in its cassette (`undecoded_by`)."""
    where = f"the model endpoint {endpoint}"
    undecoded = undecoded_by("model", endpoint, recorded)
    text = without_bom(text)
    leading = _LEADING_SPACE.match(text)
    start = leading.end() if leading else 0
    if start == len(text):
        raise ModelAnswerError(f"{undecoded} answered with an empty body")
    if text.startswith(("data:", "event:", ":"), start):  # server-sent events
        return parse_completion(_assembled(text, where, undecoded), endpoint)
    try:
        data = jsontext.loads(text)
    except ValueError as error:
        raise not_json(f"{undecoded} answered with a body", text, error) from None
    return parse_completion(data, endpoint)


def parse_completion(data: Any, endpoint: str) -> ChatResponse:
    """A `chat.completion` body (decoded JSON) as the loop sees it; anything unusable is a
    ModelAnswerError that names the endpoint (`endpoint` must already be free of credentials)."""
    where = f"the model endpoint {endpoint}"
    if not isinstance(data, dict):
        raise ModelAnswerError(f"{where} answered with {_kind(data)}, not a chat completion")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        if "error" in data:
            raise answered_error(f"{where} answered with", data, json.dumps(data))
        shown = "" if isinstance(choices, list) else f" (choices: {_kind(choices)})"
        raise ModelAnswerError(f"{where} returned no choices{shown}")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise ModelAnswerError(f"{where} returned a choice that is {_kind(choice)}, not an object")
    if choice.get("error") is not None:  # OpenRouter: the upstream failed once the answer had begun
        raise answered_error(f"{where} answered with a choice that ended in", choice, json.dumps(choice))
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ModelAnswerError(f"{where} returned a choice without a message (message: {_kind(message)})")
    finish = choice.get("finish_reason")
    usage = data.get("usage")
    model = data.get("model")
    return ChatResponse(
        _content(message.get("content"), where),
        _tool_calls(message.get("tool_calls"), where),
        model if isinstance(model, str) else "",
        finish if isinstance(finish, str) else None,
        _without_nulls(usage) if isinstance(usage, dict) else {},
        _refusal(message),
        {name: message[name] for name in ECHOED_MESSAGE_FIELDS if message.get(name) is not None},
    )


def _tool_calls(raw: Any, where: str) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ModelAnswerError(f"{where} returned tool_calls as {_kind(raw)}, not a list")
    if len(raw) > MAX_TOOL_CALLS:
        raise ModelAnswerError(f"{where} returned {len(raw)} tool calls in one answer (at most {MAX_TOOL_CALLS} run)")
    calls: list[ToolCall] = []
    for number, call in enumerate(raw, 1):
        if not isinstance(call, dict):
            raise ModelAnswerError(f"{where} returned tool call {number} as {_kind(call)}, not an object")
        kind = call.get("type")
        if kind not in (None, "function"):  # Mistral leaves `type` out: a function call all the same
            raise ModelAnswerError(f"{where} returned tool call {number} of type {kind!r}: only functions can run")
        function = call.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise ModelAnswerError(f"{where} returned tool call {number} without a function name")
        assert isinstance(function, dict)
        call_id = call.get("id")
        calls.append(
            ToolCall(
                call_id if isinstance(call_id, str) else str(call_id) if isinstance(call_id, int) else "",
                name,
                # TGI 1.4-2.0 sent the arguments as an object under `parameters`
                _arguments(function["arguments"] if "arguments" in function else function.get("parameters")),
                {key: call[key] for key in ECHOED_CALL_FIELDS if call.get(key) is not None},
            )
        )
    return tuple(calls)


def _arguments(raw: Any) -> str:
    """Arguments as JSON text: a string as given (an empty one is no arguments), anything else encoded
    (TGI and some Ollama and llama.cpp builds send an object)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return "{}"
    if isinstance(raw, str):
        return raw
    return json.dumps(raw, ensure_ascii=False)


def _content(raw: Any, where: str) -> str | None:
    """Text content; a list of parts (Vertex's compat layer) is the text of its text parts."""
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        texts = [
            part if isinstance(part, str) else part.get("text")
            for part in raw
            if isinstance(part, str) or (isinstance(part, dict) and part.get("type", "text") == "text")
        ]
        return "".join(text for text in texts if isinstance(text, str))
    raise ModelAnswerError(f"{where} returned content as {_kind(raw)}, not text")


def _refusal(message: dict[str, Any]) -> str | None:
    """`message.refusal`, or the text of its `refusal` content parts (the Responses API's shape, which some
    chat endpoints send): a refusal either way, never a silent empty reply."""
    refusal = _text_or_none(message.get("refusal"))
    content = message.get("content")
    if refusal is not None or not isinstance(content, list):
        return refusal
    parts = [part.get("refusal") for part in content if isinstance(part, dict) and part.get("type") == "refusal"]
    return _text_or_none("".join(part for part in parts if isinstance(part, str)))


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------ streamed answers


def _assembled(text: str, where: str, undecoded: str | None = None) -> dict[str, Any]:
    """The `chat.completion` a stream of `chat.completion.chunk` events adds up to; `undecoded`
    (`undecoded_by`) names who sent an event that does not decode."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    # Each call with the `index` it came at and its place in the stream; `at` maps an index to the call it
    # names now. A delta with a new id at an index another id holds starts a new call: Gemini sends each
    # call without an index (and its arguments in indexless deltas after it), Ollama every call at index 0.
    # OpenAI's shape (the id on a call's first delta only, the others without one) continues the call.
    calls: list[tuple[int, int, dict[str, Any]]] = []
    at: dict[int, dict[str, Any]] = {}
    completion: dict[str, Any] = {"choices": [{"index": 0, "message": message, "finish_reason": None}]}
    chunks = 0
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line.startswith("data:"):
            continue  # blank lines, comments, `event:` and `id:` fields
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        try:
            chunk = jsontext.loads(payload)
        except ValueError as error:
            raise not_json(f"{undecoded or where} streamed an event", payload, error) from None
        if not isinstance(chunk, dict):
            raise ModelAnswerError(f"{where} streamed {_kind(chunk)}, not a chat.completion.chunk")
        if "error" in chunk:
            raise answered_error(f"{where} streamed", chunk, payload)
        chunks += 1
        for key in ("id", "model", "created", "system_fingerprint"):
            # The first chunk that names it: Azure's first chunk (prompt_filter_results) names nothing,
            # with "" for id and model and 0 for created.
            if chunk.get(key) not in (None, "", 0):
                completion.setdefault(key, chunk[key])
        groq = chunk.get("x_groq")  # Groq streams its counts only in the last chunk's x_groq
        if isinstance(chunk.get("usage"), dict):
            completion["usage"] = chunk["usage"]
        elif "usage" not in completion and isinstance(groq, dict) and isinstance(groq.get("usage"), dict):
            completion["usage"] = groq["usage"]
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            continue  # Azure's first chunk (prompt_filter_results) and the usage chunk have no choices
        choice = choices[0]
        if choice.get("error") is not None:  # OpenRouter's choice-level error, streamed
            raise answered_error(f"{where} streamed a choice that ended in", choice, json.dumps(choice))
        if choice.get("finish_reason") is not None:
            completion["choices"][0]["finish_reason"] = choice["finish_reason"]
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            continue
        for key in ("content", "refusal", "reasoning_content"):
            if isinstance(delta.get(key), str):
                message[key] = (message.get(key) or "") + delta[key]
        for key in ("extra_content", "reasoning_details"):
            if delta.get(key) is not None:
                message[key] = delta[key]
        parts = delta.get("tool_calls") or []
        if not isinstance(parts, list):
            raise ModelAnswerError(f"{where} streamed tool calls that are {_kind(parts)}, not a list")
        for position, part in enumerate(parts):
            if not isinstance(part, dict):
                raise ModelAnswerError(f"{where} streamed a tool call that is {_kind(part)}")
            index = part.get("index", position)
            index = index if isinstance(index, int) else position
            call = at.get(index)
            new_id = part.get("id")
            if call is None or (new_id and call.get("id") and call["id"] != new_id):
                call = at[index] = {"function": {}}
                calls.append((index, len(calls), call))
            for key in ("id", "type", "extra_content"):
                if part.get(key):
                    call[key] = part[key]
            function = part.get("function")
            if isinstance(function, dict):
                if isinstance(function.get("name"), str) and function["name"]:
                    call["function"]["name"] = function["name"]
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    so_far = call["function"].get("arguments", "")
                    if not isinstance(so_far, str):
                        raise ModelAnswerError(
                            f"{where} streamed a tool call's arguments as {_kind(so_far)}, then as text"
                        )
                    call["function"]["arguments"] = so_far + arguments
                elif arguments is not None:
                    call["function"]["arguments"] = arguments
    if not chunks:
        raise ModelAnswerError(f"{undecoded or where} answered with an event stream holding no chunks: {short(text)}")
    if calls:
        message["tool_calls"] = [call for _, _, call in sorted(calls, key=lambda item: item[:2])]
    return completion


# ------------------------------------------------------------------ helpers


def not_json(what: str, text: str, error: ValueError) -> ModelAnswerError:
    """`what` (an answer's body, an event) did not decode: text that is not JSON shows itself; JSON that
    Python's decoder refuses (nested too deeply, an integer of more than 4300 digits) says why too."""
    if isinstance(error, json.JSONDecodeError):
        return ModelAnswerError(f"{what} that is not JSON: {short(text)}")
    return ModelAnswerError(f"{what} that Python's JSON decoder refuses ({error}): {short(text)}")


def short(text: str, limit: int = 300) -> str:
    """One line of at most `limit` characters, each control character written as its escape: a body
    quoted in an error may be bytes that are not text (a compressed answer), which a terminal would act on
    and a report would carry."""
    text = jsontext.inert(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _without_nulls(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None}
