"""The wire format: every answer a model endpoint can give is a ChatResponse or a ModelAnswerError/LLMError
naming the endpoint, never another exception (property test), and the shapes providers really send are
read as the loop needs them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import LLMError, ModelAnswerError, UnknownModel
from harness.llm.chat import (
    Cause,
    environment_cause,
    parse_answer,
    parse_body,
    parse_completion,
    provider_message,
    recorded_error,
    retried,
)
from harness.llm.embeddings import parse_embeddings
from tests.helpers import call, completion

URL = "http://llm.test/v1"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
KEYS = ["choices", "message", "tool_calls", "function", "arguments", "name", "content", "usage", "model", "id", "type"]


def mutated(body: Any, path: list[str], value: Any) -> Any:
    """`body` with the value at the first key of `path` found anywhere in it replaced."""
    if isinstance(body, dict):
        return {k: value if k == path[0] else mutated(v, path, value) for k, v in body.items()}
    if isinstance(body, list):
        return [mutated(v, path, value) for v in body]
    return body


@given(st.sampled_from(KEYS), JSON)
def test_any_mangled_completion_is_a_response_or_a_model_answer_error(key: str, value: Any) -> None:
    body = mutated(completion(call("send_message", {"message": "hi"}), content="x"), [key], value)
    try:
        response = parse_completion(body, URL)
    except ModelAnswerError as exc:
        assert str(exc).startswith(f"the model endpoint {URL} ")
        return
    for tool_call in response.tool_calls:
        assert isinstance(tool_call.arguments, str) and isinstance(tool_call.name, str) and tool_call.name


@given(st.text())
def test_any_body_text_is_a_response_or_a_model_answer_error(text: str) -> None:
    try:
        parse_body(text, URL)
    except ModelAnswerError as exc:
        assert str(exc).startswith(f"the model endpoint {URL} ") and "\n" not in str(exc)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, "{}"), ("", "{}"), ("  ", "{}"), ('{"a": 1}', '{"a": 1}'), ({"a": "é"}, '{"a": "é"}'), ([1], "[1]")],
)
def test_arguments_missing_empty_or_not_text(raw: Any, expected: str) -> None:
    body = completion(call("send_message", {}))
    function = body["choices"][0]["message"]["tool_calls"][0]["function"]
    if raw is None:
        del function["arguments"]
    else:
        function["arguments"] = raw
    assert parse_completion(body, URL).tool_calls[0].arguments == expected


def test_tgi_parameters_stand_for_missing_arguments() -> None:
    body = completion(call("send_message", {}))
    function = body["choices"][0]["message"]["tool_calls"][0]["function"]
    del function["arguments"]
    function["parameters"] = {"message": "hi"}
    assert parse_completion(body, URL).tool_calls[0].arguments == '{"message": "hi"}'


def test_content_parts_keep_only_text() -> None:
    body = completion(content=None)
    body["choices"][0]["message"]["content"] = [
        {"type": "text", "text": "a"},
        {"type": "image_url", "image_url": {"url": "x"}},
        "b",
        {"text": "c"},
    ]
    assert parse_completion(body, URL).content == "abc"


def test_a_refusal_content_part_is_the_refusal() -> None:
    body = completion(content=None)
    body["choices"][0]["message"]["content"] = [{"type": "refusal", "refusal": "I refuse."}]
    answer = parse_completion(body, URL)
    assert answer.refusal == "I refuse." and not answer.content
    body["choices"][0]["message"]["refusal"] = "Top level."  # the message's own field comes first
    assert parse_completion(body, URL).refusal == "Top level."


def test_status_errors() -> None:
    groq = json.dumps({"error": {"message": "Failed", "type": "invalid_request_error", "code": "tool_use_failed"}})
    with pytest.raises(ModelAnswerError, match=r"answered HTTP 400: Failed \(tool_use_failed\)$"):
        parse_answer(400, groq, URL)
    with pytest.raises(LLMError, match=r"refused the API key from \$MY_KEY \(HTTP 401\)") as info:
        parse_answer(401, groq, URL, "the API key from $MY_KEY")
    assert not isinstance(info.value, ModelAnswerError)  # never recorded
    with pytest.raises(LLMError) as server_error:
        parse_answer(503, "<html>busy</html>", URL)
    assert not isinstance(server_error.value, ModelAnswerError)
    assert str(server_error.value) == f"the model endpoint {URL} answered HTTP 503: <html>busy</html>"
    gemini = json.dumps([{"error": {"code": 400, "message": "missing a thought_signature", "status": "INVALID"}}])
    assert provider_message(gemini) == "missing a thought_signature (400)"
    assert provider_message("") == "(an empty body)"
    assert [retried(s) for s in (400, 408, 409, 429, 500, 503)] == [False, True, True, True, True, True]
    assert [recorded_error(s) for s in (400, 404, 413, 422, 429, 500)] == [True, False, False, True, False, False]


ERROR_CAUSES = json.loads((Path(__file__).parent / "provider_bodies" / "error_causes.json").read_text(encoding="utf-8"))


def error_body(case: dict[str, Any]) -> str:
    return json.dumps(case["json"]) if "json" in case else case["text"]


@pytest.mark.parametrize("case", ERROR_CAUSES["cases"], ids=lambda case: case["provider"].partition(":")[0])
def test_an_error_answer_is_the_models_only_when_it_answers_what_the_request_said(case: dict[str, Any]) -> None:
    """Real error bodies: a bad key, an empty balance, a tier's limit, a proxy's page or a model name the
    endpoint does not know are the environment's (never recorded, saying what to check), whatever the status;
    a context overflow or a refused tool-call id answers what the request said (recorded)."""
    status, body = case["status"], error_body(case)
    cause = environment_cause(status, body)
    assert cause == (None if case["cause"] is None else Cause(case["cause"]))
    assert recorded_error(status, body) is (cause is None)
    with pytest.raises(LLMError) as info:
        parse_answer(status, body, URL, "the API key from $GEMINI_API_KEY", "the-model")
    said = str(info.value)
    assert isinstance(info.value, ModelAnswerError) is (cause is None)
    assert isinstance(info.value, UnknownModel) is (cause is Cause.MODEL)
    hint = {
        None: f"the model endpoint {URL} answered HTTP {status}: ",
        Cause.KEY: f"the model endpoint {URL} refused the API key from $GEMINI_API_KEY (HTTP {status}: ",
        Cause.ACCOUNT: "; check the account's balance, billing or plan",
        Cause.LIMIT: "; a limit of the account's tier or of the server, not the model's answer",
        Cause.PAGE: "; a page, not JSON, which no model endpoint sends: a proxy or gateway in between?",
        Cause.MODEL: "; check the model name 'the-model': the endpoint does not know it",
    }[cause]
    assert hint in said
    with pytest.raises(LLMError) as embedding:
        parse_embeddings(status, body, URL, 1, "the API key from $GEMINI_API_KEY", model="the-model")
    assert type(embedding.value) is type(info.value)  # embeddings classify errors the same way
    assert str(embedding.value) == said.replace("the model endpoint", "the embedding endpoint")


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (401, Cause.KEY),
        (402, Cause.ACCOUNT),
        (403, Cause.KEY),
        (404, Cause.URL),
        (405, Cause.OTHER),
        (409, Cause.OTHER),
        (410, Cause.OTHER),
        (413, Cause.LIMIT),
        (429, Cause.LIMIT),
        (503, Cause.OTHER),
    ],
)
def test_an_error_status_other_than_400_or_422_is_never_the_models(status: int, cause: Cause) -> None:
    """Only 400 and 422 answer what a request says; any other status, whatever its body, is recorded never."""
    body = json.dumps({"error": {"message": "This model's maximum context length is 4096 tokens", "code": 400}})
    assert environment_cause(status, body) is cause
    assert environment_cause(400, body) is None and environment_cause(422, body) is None
    # A page: a proxy's, or a web server's for a path it does not have (a base URL without its /v1)
    assert environment_cause(status, "<html>Not here</html>") is {404: Cause.URL, 503: Cause.OTHER}.get(
        status, Cause.PAGE
    )


@pytest.mark.parametrize(
    "message",
    [
        "Invalid model output: the tool call is not JSON",  # about what the model generated
        "tool call validation failed: attempted to call tool 'model_not_found' which was not in request.tools",
        "Invalid 'messages[2].content': the model does not exist here",
        "prompt is too long: 208326 tokens > 200000 maximum; API key not valid",
    ],
)
def test_a_cause_is_read_from_a_messages_start_never_from_what_it_quotes(message: str) -> None:
    """A provider's message may quote the request (the model's own text or tool call): only how it begins,
    and its codes, say it is about the key, the account or the model name."""
    assert environment_cause(400, json.dumps({"error": {"message": message, "type": "invalid_request_error"}})) is None


def test_an_error_in_a_2xx_body_is_classified_by_its_code_and_its_words() -> None:
    """OpenRouter's error in a 200 answer: a status in `code` that says nothing of the model, or words that
    do (a key, a balance), are the environment's; anything else is the model's answer."""
    assert environment_cause(None, json.dumps({"error": {"message": "Insufficient Balance"}})) is Cause.ACCOUNT
    assert environment_cause(None, json.dumps({"error": {"message": "Upstream failed"}})) is None


def sse(*events: Any) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def test_a_stream_adds_up_to_a_completion() -> None:
    azure_first = {"choices": [], "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}
    text = sse(
        azure_first,
        {"model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "th"}}]},
        {"choices": [{"index": 0, "delta": {"reasoning_content": "ink", "content": "Hi"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"x"'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": {"total_tokens": 3}},
    )
    response = parse_body(text, URL)
    assert response.content == "Hi" and response.model == "m" and response.finish_reason == "tool_calls"
    assert response.extra == {"reasoning_content": "think"}
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [("a", "f", '{"x": 1}')]
    assert response.usage == {"total_tokens": 3}
    # CRLF line ends and comments are fine.
    assert parse_body(": keep-alive\r\n" + text.replace("\n", "\r\n"), URL).content == "Hi"


def call_delta(call_id: str | None, name: str | None, arguments: str, index: int | None) -> dict[str, Any]:
    """A chunk whose delta holds one part of a tool call (what is None is left out)."""
    part: dict[str, Any] = {"type": "function", "function": {"arguments": arguments}}
    if name is not None:
        part["function"]["name"] = name
    if call_id is not None:
        part["id"] = call_id
    if index is not None:
        part["index"] = index
    return {"choices": [{"index": 0, "delta": {"tool_calls": [part]}}]}


@pytest.mark.parametrize(
    ("index", "finish"),
    [(None, "stop"), (0, "tool_calls")],
    ids=["gemini-without-index", "ollama-index-0-for-every-call"],
)
def test_a_new_call_id_at_an_index_another_call_holds_starts_a_new_call(index: int | None, finish: str) -> None:
    """Gemini streams each call in its own delta without `index` (its arguments may follow in indexless
    deltas without an id); Ollama's /v1 puts every call at index 0. Two ids are two calls, never one call
    with two JSON texts for arguments."""
    text = sse(
        call_delta("a", "core_memory_append", '{"label"', index),
        call_delta(None, None, ': "human"}', index),
        call_delta("b", "send_message", '{"message": "Hi"}', index),
        {"choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": finish}]},
    )
    calls = [(c.id, c.name, c.arguments) for c in parse_body(text, URL).tool_calls]
    assert calls == [("a", "core_memory_append", '{"label": "human"}'), ("b", "send_message", '{"message": "Hi"}')]


def test_openais_streamed_calls_keep_their_indexes_and_an_id_repeated_continues_its_call() -> None:
    """The id on a call's first delta only, the rest at its index without one; interleaved indexes, and a
    provider that repeats the id on every delta, add up to the same calls, ordered by index."""
    text = sse(
        call_delta("b", "g", "", 1),
        call_delta("a", "f", '{"x"', 0),
        call_delta(None, None, '{"y": 2}', 1),
        call_delta("a", None, ": 1}", 0),
    )
    calls = [(c.id, c.name, c.arguments) for c in parse_body(text, URL).tool_calls]
    assert calls == [("a", "f", '{"x": 1}'), ("b", "g", '{"y": 2}')]


def test_a_streams_id_model_and_created_come_from_the_first_chunk_that_names_them() -> None:
    """Azure's first chunk has `"id": ""`, `"model": ""`, `"created": 0`: they name nothing."""
    empty = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": []}
    named = {"id": "c1", "model": "gpt-4o", "created": 7, "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    later = {**named, "id": "c2", "model": "other", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    assert parse_body(sse(empty, named, later), URL).model == "gpt-4o"


@pytest.mark.parametrize(
    ("last", "usage"),
    [
        ({"x_groq": {"id": "req_1", "usage": {"total_tokens": 5}}}, {"total_tokens": 5}),  # Groq's place
        ({"usage": {"total_tokens": 6}, "x_groq": {"usage": {"total_tokens": 5}}}, {"total_tokens": 6}),
        ({"usage": None, "x_groq": {"usage": {"total_tokens": 5}}}, {"total_tokens": 5}),
        ({"x_groq": {"id": "req_1"}}, {}),
    ],
)
def test_a_streams_usage_is_the_top_level_one_else_groqs(last: dict[str, Any], usage: dict[str, Any]) -> None:
    text = sse({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}, {"choices": [], **last})
    assert parse_body(text, URL).usage == usage


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("data: [DONE]\n\n", "an event stream holding no chunks"),
        ("data: {not json\n\n", "streamed an event that is not JSON: {not json"),
        ('data: {"error": {"message": "overloaded"}}\n\n', "streamed an error: overloaded"),
        ("data: [1]\n\n", "streamed a list, not a chat.completion.chunk"),
        ('data: {"choices": [{"delta": {"tool_calls": 5}}]}\n\n', "streamed tool calls that are a number, not a list"),
        ('data: {"choices": [{"delta": {"tool_calls": [5]}}]}\n\n', "streamed a tool call that is a number"),
        (
            'data: {"choices": [{"delta": {"tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]}}]}\n\n'
            'data: {"choices": [{"delta": {"tool_calls": [{"function": {"arguments": "}"}}]}}]}\n\n',
            "streamed a tool call's arguments as an object, then as text",
        ),
    ],
)
def test_a_stream_that_cannot_be_read_is_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(ModelAnswerError, match=f"^the model endpoint {URL} .*{says}"):
        parse_body(text, URL)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
SCALARS = st.integers() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=3)
FUNCTION = st.fixed_dictionaries(
    {}, optional={"name": st.just("f") | JSON_VALUES, "arguments": st.text(max_size=3) | SCALARS | JSON_VALUES}
)
TOOL_CALL = st.fixed_dictionaries(
    {}, optional={"index": st.sampled_from([0, 1]) | JSON_VALUES, "id": JSON_VALUES, "function": FUNCTION | SCALARS}
)
DELTA = st.fixed_dictionaries(
    {},
    optional={
        "content": JSON_VALUES,
        "reasoning_content": JSON_VALUES,
        "tool_calls": st.lists(TOOL_CALL | SCALARS, max_size=3) | SCALARS | JSON_VALUES,
    },
)
# Mostly the shape of a chat.completion.chunk, with anything in its places; sometimes anything at all.
CHUNK = st.fixed_dictionaries(
    {"choices": st.lists(st.fixed_dictionaries({"delta": DELTA}, optional={"finish_reason": JSON_VALUES}), max_size=2)},
    optional={"id": JSON_VALUES, "usage": JSON_VALUES},
) | st.fixed_dictionaries({}, optional={"choices": JSON_VALUES, "error": JSON_VALUES})


@settings(max_examples=400)  # a few ms each; the shapes that broke it are a few in a hundred
@given(st.lists(CHUNK | JSON_VALUES, max_size=4))
def test_any_stream_adds_up_to_an_answer_or_is_a_clear_error(chunks: list[Any]) -> None:
    """Whatever JSON an endpoint streams, in whatever shape: an answer, or a ModelAnswerError naming it."""
    text = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
    try:
        parse_body(text, URL)
    except ModelAnswerError as error:
        assert str(error).startswith(f"the model endpoint {URL} ")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("<html>busy</html>", "answered with a body that is not JSON: <html>busy</html>"),
        ('{"created": ' + "9" * 5000 + "}", r"answered with a body that Python's JSON decoder refuses \(Exceeds the"),
        ('{"x": ' + "[" * 100_000, r"answered with a body that Python's JSON decoder refuses \(JSON nested too deep"),
    ],
)
def test_a_body_that_does_not_decode_says_why_when_it_is_json(body: str, says: str) -> None:
    with pytest.raises(ModelAnswerError, match=f"^the model endpoint {URL} {says}"):
        parse_body(body, URL)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"error": {"message": "Rate limit exceeded", "code": 429}}', LLMError),
        ('{"error": {"message": "Provider returned error", "code": "502"}}', LLMError),
        ('data: {"error": {"message": "upstream timed out", "code": 504}}\n\n', LLMError),
        ('{"error": {"message": "the prompt is too long", "code": 400}}', ModelAnswerError),
        ('{"error": {"message": "bad tool schema", "code": "invalid_request_error"}}', ModelAnswerError),
        ('{"error": "overloaded"}', ModelAnswerError),
        # OpenRouter's error inside the choice, once the answer had begun (finish_reason "error")
        (json.dumps({"choices": [{"finish_reason": "error", "error": {"code": 502, "message": "cut"}}]}), LLMError),
        (json.dumps({"choices": [{"finish_reason": "stop", "error": {"code": "429", "message": "slow"}}]}), LLMError),
        (
            json.dumps({"choices": [{"finish_reason": "error", "error": {"code": 400, "message": "bad"}}]}),
            ModelAnswerError,
        ),
        (
            'data: {"choices": [{"delta": {}, "finish_reason": "error", "error": {"code": 503, "message": "x"}}]}\n\n',
            LLMError,
        ),
        (
            'data: {"choices": [{"delta": {}, "finish_reason": "error", "error": {"message": "bad"}}]}\n\n',
            ModelAnswerError,
        ),
    ],
)
def test_an_error_in_a_2xx_body_is_the_environments_when_its_code_says_so(body: str, error: type[Exception]) -> None:
    """OpenRouter answers 200 before its upstream fails, and puts the failure in the body: an outage or a
    rate limit so reported must not be recorded as the model's answer (as that HTTP status is not)."""
    with pytest.raises(LLMError) as raised:
        parse_answer(200, body, URL)
    assert type(raised.value) is error
    assert "an error: " in str(raised.value)


@given(
    st.integers(100, 700) | st.integers(100, 700).map(str) | st.text(max_size=6) | st.none(),
    st.text(max_size=20).filter(str.strip),
    st.booleans(),
)
def test_an_error_in_the_choice_is_handled_as_the_same_error_at_the_top(code: Any, message: str, stream: bool) -> None:
    """OpenRouter's choice-level error, streamed or not: the same kind of error as at the top of the body
    (the environment's, never recorded, or the model's answer), and the provider's message in it."""
    error = {"code": code, "message": message}
    with pytest.raises(LLMError) as at_top:
        parse_answer(200, json.dumps({"error": error}), URL)
    choice = {"index": 0, "finish_reason": "error", "error": error}
    if stream:
        body = sse({"choices": [{**choice, "delta": {}}]})
    else:
        body = json.dumps({"choices": [{**choice, "message": {"role": "assistant", "content": "part"}}]})
    with pytest.raises(LLMError) as in_choice:
        parse_answer(200, body, URL)
    assert type(in_choice.value) is type(at_top.value)
    assert str(in_choice.value).endswith(str(at_top.value).split(" an error: ", 1)[1])


@given(JSON)
def test_an_answer_quoted_in_an_error_reads_the_same_however_its_json_is_spaced(data: Any) -> None:
    """A cassette stores a JSON body compact: the error quoting a recorded answer must read the same in the
    recording run (the body as it came) and in every replay (the body as stored)."""
    as_sent, as_stored = json.dumps(data, indent=2), json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    assert provider_message(as_sent) == provider_message(as_stored)


def test_vllms_older_error_shape_says_its_message() -> None:
    body = json.dumps(
        {"object": "error", "message": "maximum context length is 4096 tokens", "type": "BadRequestError", "code": 400}
    )
    assert provider_message(body) == "maximum context length is 4096 tokens (400)"


def test_a_body_with_a_byte_order_mark_is_read_as_the_sdk_reads_it() -> None:
    body = "\ufeff" + json.dumps(completion(call("send_message", {"message": "hi"})))
    assert parse_body(body, URL).tool_calls[0].name == "send_message"


@settings(max_examples=200)
@given(st.binary(max_size=60) | st.text(max_size=60))
def test_a_body_quoted_in_an_error_never_carries_a_control_character(body: bytes | str) -> None:
    """Bytes that are not text (a compressed answer replayed undecoded) are quoted with their controls
    escaped: a terminal would act on them, and a report would carry them."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    for status in (200, 400):
        try:
            parse_answer(status, text, URL)
        except LLMError as error:
            assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", str(error)), str(error)


def test_a_gzip_body_is_quoted_escaped() -> None:
    import gzip

    with pytest.raises(ModelAnswerError) as error:
        parse_body(gzip.compress(b'{"id": "x"}').decode("utf-8", "replace"), URL)
    assert "\\x08\\x00" in str(error.value) and "\x08" not in str(error.value)
