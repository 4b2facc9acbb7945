"""The embeddings exchange: one request body and one parser for live and replay; the live model posts
through the openai SDK (recorded by vcrpy), the replay model answers from the cassette without it, and a
request not recorded is a CassetteMiss with a diff."""

from __future__ import annotations

import json
import math
import sys
from array import array
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cassettes.mode import RecordMode
from harness.cassettes.recording import RecordingSession
from harness.cassettes.replay import ReplayCassette, ReplayEmbeddingModel
from harness.errors import CassetteMiss, LLMError, ModelAnswerError
from harness.llm.embeddings import embedding_request, parse_embeddings
from harness.llm.openai_client import OpenAIEmbeddingModel
from harness.llm.settings import EmbeddingSettings
from tests.fakes import FakeOpenAI, Raw

SETTINGS = EmbeddingSettings(name="all-minilm-l6-v2", base_url="http://127.0.0.1:9/v1")
URL = "http://127.0.0.1:9/v1"


def answer(*vectors: list[float], shuffled: bool = False) -> dict[str, object]:
    items = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {"object": "list", "data": items[::-1] if shuffled else items, "model": "all-minilm-l6-v2"}


def test_the_request_body() -> None:
    assert embedding_request(SETTINGS, ["a", "b"]) == {
        "model": "all-minilm-l6-v2",
        "input": ["a", "b"],
        "encoding_format": "float",
    }
    assert (
        embedding_request(EmbeddingSettings(name="text-embedding-3-small", dimensions=256), ["a"])["dimensions"] == 256
    )
    assert SETTINGS.embeddings_path == "/v1/embeddings"
    assert EmbeddingSettings(name="m").endpoint == "https://api.openai.com/v1"


def test_vectors_come_back_in_the_order_asked() -> None:
    text = json.dumps(answer([1.0, 0.0], [0.0, 1], shuffled=True))
    assert parse_embeddings(200, text, URL, 2) == [[1.0, 0.0], [0.0, 1.0]]


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (401, "{}", LLMError, f"the embedding endpoint {URL} refused the API key from $OPENAI_API_KEY (HTTP 401)"),
        (503, '{"error": {"message": "loading model"}}', LLMError, "answered HTTP 503: loading model"),
        (400, '{"error": {"message": "input is too long"}}', ModelAnswerError, "answered HTTP 400: input is too long"),
        (200, "<html>", ModelAnswerError, "answered with a body that is not JSON: <html>"),
        (200, '{"error": "overloaded"}', ModelAnswerError, "answered with an error: overloaded"),
        (200, '{"error": {"message": "slow down", "code": 429}}', LLMError, "answered with an error: slow down (429)"),
        (200, '{"object": "list"}', ModelAnswerError, "answered without a `data` list of embeddings"),
        (200, json.dumps(answer([1.0])), ModelAnswerError, "returned 1 embeddings for 2 texts"),
        (
            200,
            json.dumps({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]}),
            ModelAnswerError,
            "returned embedding 2 with a wrong or repeated index",
        ),
        (
            200,
            json.dumps({"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": "AAAA"}]}),
            ModelAnswerError,
            "returned embedding 2 that is not a list of numbers",
        ),
        (
            200,
            '{"data": [{"index": 0, "embedding": [NaN]}, {"index": 1, "embedding": [1.0]}]}',
            ModelAnswerError,
            "returned embedding 1 that holds NaN or infinity (item 1)",
        ),
        (
            200,
            '{"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [2.0, 0.5, -Infinity]}]}',
            ModelAnswerError,
            "returned embedding 2 that holds NaN or infinity (item 3)",
        ),
        (
            200,
            '{"data": [{"index": 0, "embedding": [1.0, ' + "9" * 400 + ']}, {"index": 1, "embedding": [1.0, 2.0]}]}',
            ModelAnswerError,
            "returned embedding 1 that holds an integer too big for a float (item 2)",
        ),
        (200, json.dumps(answer([1.0], [1.0, 2.0])), ModelAnswerError, "returned embeddings of different lengths"),
        (  # finite as a 64-bit float, infinite as the 32-bit float a passage keeps: its cosine NaN, ranking garbled
            200,
            json.dumps(answer([1.0, 0.0], [1e39, 0.0])),
            ModelAnswerError,
            "returned embedding 2 with a number beyond what a 32-bit float holds",
        ),
    ],
)
def test_what_cannot_be_used_is_an_error_naming_the_endpoint(
    status: int, body: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        parse_embeddings(status, body, URL, 2)
    assert message in str(info.value)
    assert type(info.value) is error
    if status != 401:
        assert f"the embedding endpoint {URL}" in str(info.value)


def test_recorded_through_the_sdk_replayed_without_it(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with FakeOpenAI([answer([0.1, 0.2], [0.3, 0.4]), answer([0.5, 0.6])]) as server:
        settings = EmbeddingSettings(name="all-minilm-l6-v2", base_url=server.base_url, max_retries=0)
        live = OpenAIEmbeddingModel(settings)
        with RecordingSession(path, RecordMode.ALL).open():
            recorded = [live.embed(["Azin's dentist is on March 3", "ghormeh sabzi"]), live.embed(["dentist?"])]
    assert [received.path for received in server.received] == ["/v1/embeddings", "/v1/embeddings"]
    assert [received.body for received in server.received] == [
        embedding_request(settings, ["Azin's dentist is on March 3", "ghormeh sabzi"]),
        embedding_request(settings, ["dentist?"]),
    ]
    text = path.read_text(encoding="utf-8")
    assert "uri: http://127.0.0.1:" in text and "/v1/embeddings" in text and "March 3" in text

    model = ReplayEmbeddingModel(settings, ReplayCassette(path))
    assert model.embed(["dentist?"]) == recorded[1]  # keyed by body, not by order
    assert model.embed(["Azin's dentist is on March 3", "ghormeh sabzi"]) == recorded[0]
    with pytest.raises(CassetteMiss) as miss:
        model.embed(["dentist?"])  # each recorded answer plays once
    assert miss.value.cassette == str(path)


def test_a_stale_embedding_request_is_a_miss_with_a_diff(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with FakeOpenAI([answer([0.1, 0.2])]) as server:
        settings = EmbeddingSettings(name="all-minilm-l6-v2", base_url=server.base_url, max_retries=0)
        with RecordingSession(path, RecordMode.ALL).open():
            OpenAIEmbeddingModel(settings).embed(["Azin's dentist is on March 3"])
    model = ReplayEmbeddingModel(settings, ReplayCassette(path))
    with pytest.raises(CassetteMiss) as miss:
        model.embed(["Azin's dentist is on March 4"])
    lines = miss.value.diff_lines()
    assert any(line.strip().startswith('-input: ["Azin\'s dentist is on March 3"]') for line in lines), lines
    assert any(line.strip().startswith('+input: ["Azin\'s dentist is on March 4"]') for line in lines), lines
    other_model = ReplayEmbeddingModel(EmbeddingSettings(name="text-embedding-3-small", base_url=settings.base_url),
                                       ReplayCassette(path))  # fmt: skip
    with pytest.raises(CassetteMiss):
        other_model.embed(["Azin's dentist is on March 3"])


def test_live_errors_name_the_embedding_endpoint(tmp_path: Path) -> None:
    with FakeOpenAI([Raw('{"error": {"message": "input too long"}}', status=400)]) as server:
        settings = EmbeddingSettings(name="m", base_url=server.base_url, max_retries=0)
        with pytest.raises(
            ModelAnswerError, match=r"^the embedding endpoint http://127\.0\.0\.1:\d+/v1 answered HTTP 400"
        ):
            OpenAIEmbeddingModel(settings).embed(["x"])
    with pytest.raises(LLMError, match=r"^cannot reach the embedding endpoint http://127\.0\.0\.1:9/v1: "):
        OpenAIEmbeddingModel(EmbeddingSettings(name="m", base_url=URL, max_retries=0, timeout=5)).embed(["x"])


def test_no_key_and_no_local_endpoint_says_which_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match=r"point `embedding.base_url` at a local OpenAI-compatible server"):
        OpenAIEmbeddingModel(EmbeddingSettings(name="text-embedding-3-small"))


def test_a_retried_status_replays_as_recorded(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with FakeOpenAI([Raw('{"error": {"message": "busy"}}', status=503), answer([1.0])]) as server:
        settings = EmbeddingSettings(name="m", base_url=server.base_url, max_retries=1)
        with RecordingSession(path, RecordMode.ALL).open():
            assert OpenAIEmbeddingModel(settings).embed(["x"]) == [[1.0]]
    cassette = ReplayCassette(path)
    assert ReplayEmbeddingModel(settings, cassette).embed(["x"]) == [[1.0]]
    assert cassette.unplayed == []


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e307, max_value=1.7e308),  # big enough for a sum to overflow
    st.integers(-(10**400), 10**400),
    st.booleans(),
    st.text(max_size=2),
    st.none(),
)


@given(st.lists(numbers, min_size=1, max_size=8))
def test_a_vector_is_taken_exactly_when_every_item_is_a_finite_number(vector: list[Any]) -> None:
    """The fast check (types as a set, the sum first) agrees with checking item by item; an integer too
    big for a float is no number either (it was an OverflowError)."""
    expected = all(
        isinstance(x, int | float) and not isinstance(x, bool) and abs(x) <= sys.float_info.max for x in vector
    )
    body = json.dumps({"data": [{"index": 0, "embedding": vector}]}, allow_nan=True)
    if expected and not all(math.isfinite(x) for x in array("f", [float(x) for x in vector])):
        with pytest.raises(ModelAnswerError, match="beyond what a 32-bit float holds"):  # passages keep float32
            parse_embeddings(200, body, "http://e", 1)
    elif expected:
        assert parse_embeddings(200, body, "http://e", 1) == [[float(x) for x in vector]]
    elif set(map(type, vector)) <= {float, int}:  # numbers, not finite ones: which, and where
        says = r"that holds (NaN or infinity|an integer too big for a float) \(item"
        with pytest.raises(ModelAnswerError, match=says):
            parse_embeddings(200, body, "http://e", 1)
    else:
        with pytest.raises(ModelAnswerError, match="not a list of numbers"):
            parse_embeddings(200, body, "http://e", 1)


def test_an_answer_without_vectors_is_quoted_as_the_cassette_stores_it() -> None:
    """Ollama's `{"embeddings": ...}` answer: the same words recorded and replayed from the compact body."""
    sent = '{"model": "m",\n "embeddings": [[0.5, 0.25]]}'
    says = {}
    for name, text in (("sent", sent), ("stored", json.dumps(json.loads(sent), separators=(",", ":")))):
        with pytest.raises(ModelAnswerError) as raised:
            parse_embeddings(200, text, URL, 1)
        says[name] = str(raised.value)
    assert says["sent"] == says["stored"]
    assert says["sent"].endswith(
        'answered without a `data` list of embeddings: {"model":"m","embeddings":[[0.5,0.25]]}'
    )


def test_an_answer_with_a_byte_order_mark_is_read() -> None:
    assert parse_embeddings(200, "\ufeff" + json.dumps(answer([1.0, 0.0])), URL, 1) == [[1.0, 0.0]]


def test_vectors_of_another_length_than_the_dimensions_asked_are_an_unusable_answer() -> None:
    """A server that ignores `dimensions` (asked 8, gave 16): the vectors were taken as they came."""
    text = json.dumps(answer([0.5] * 16))
    with pytest.raises(ModelAnswerError, match=r"returned embeddings of 16 numbers where `dimensions: 8` was asked"):
        parse_embeddings(200, text, URL, 1, dimensions=8)
    assert len(parse_embeddings(200, text, URL, 1, dimensions=16)[0]) == 16
