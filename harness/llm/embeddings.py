"""An embeddings exchange as plain data: the request body an embedding model sends, and the answer parsed.

As with chat (`llm.chat`), the live client (through the openai SDK) and the replay model (from a cassette)
both build their requests with `embedding_request` and read answers with `parse_embeddings`: what is
recorded is what replays, and a changed request (another model, other texts) misses with a diff.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, Protocol

from harness import jsontext
from harness.errors import ModelAnswerError
from harness.llm.chat import (
    DEFAULT_CREDENTIAL,
    answered_error,
    not_json,
    shown_json,
    status_error,
    undecoded_by,
    without_bom,
)
from harness.llm.settings import EmbeddingSettings

Vector = list[float]


class EmbeddingModel(Protocol):
    """What archival memory needs from an embedding endpoint: one vector per text, in order."""

    def embed(self, texts: list[str]) -> list[Vector]: ...


def embedding_request(settings: EmbeddingSettings, texts: list[str]) -> dict[str, Any]:
    """The JSON body of an `/embeddings` request, exactly as it goes on the wire. `encoding_format` is
    asked for explicitly: the SDK's `embeddings.create` would ask for base64, and a cassette of floats is
    one a person can read."""
    body: dict[str, Any] = {"model": settings.name, "input": texts, "encoding_format": "float"}
    if settings.dimensions is not None:
        body["dimensions"] = settings.dimensions
    return body


def parse_embeddings(
    status: int,
    text: str,
    endpoint: str,
    count: int,
    credential: str = DEFAULT_CREDENTIAL,
    dimensions: int | None = None,
    model: str = "",
    *,
    recorded: str | None = None,
) -> list[Vector]:
    """An HTTP answer to an embeddings request of `count` texts: their vectors, in the order asked (the
    `index` of each item says which; OpenAI sorts them, not every server does). Anything else is an
    error naming the endpoint, which must already be free of credentials; an error status is classified
    as chat's are (`status_error`); `recorded`, where a replayed answer is in its cassette (`undecoded_by`)."""
    where = f"the embedding endpoint {endpoint}"
    if not 200 <= status < 300:
        raise status_error(status, text, where, credential, model)
    try:
        data = jsontext.loads(without_bom(text))
    except ValueError as error:
        raise not_json(f"{undecoded_by('embedding', endpoint, recorded)} answered with a body", text, error) from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        if isinstance(data, dict) and "error" in data:
            raise answered_error(f"{where} answered with", data, text)
        raise ModelAnswerError(f"{where} answered without a `data` list of embeddings: {shown_json(text)}")
    if len(items) != count:
        raise ModelAnswerError(f"{where} returned {len(items)} embeddings for {count} texts")
    vectors: list[Vector | None] = [None] * count
    for position, item in enumerate(items):
        index = item.get("index", position) if isinstance(item, dict) else None
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < count or vectors[index] is not None:
            raise ModelAnswerError(f"{where} returned embedding {position + 1} with a wrong or repeated index")
        if not isinstance(vector, list) or not vector or not set(map(type, vector)) <= {float, int}:
            raise ModelAnswerError(f"{where} returned embedding {position + 1} that is not a list of numbers")
        bad = _not_finite(vector)
        if bad is not None:  # numbers, but no vector: said as what they are, where it said "not ... numbers"
            what = "NaN or infinity" if isinstance(vector[bad], float) else "an integer too big for a float"
            raise ModelAnswerError(f"{where} returned embedding {position + 1} that holds {what} (item {bad + 1})")
        if not all(map(math.isfinite, array("f", [max(vector), min(vector)]))):  # kept as 32-bit floats: inf, NaN
            raise ModelAnswerError(
                f"{where} returned embedding {position + 1} with a number beyond what a 32-bit float holds"
            )
        vectors[index] = [float(x) for x in vector]
    sizes = {len(vector) for vector in vectors if vector is not None}
    if len(sizes) > 1:
        raise ModelAnswerError(f"{where} returned embeddings of different lengths ({sorted(sizes)})")
    if dimensions is not None and sizes != {dimensions}:  # a server that ignores `dimensions`
        raise ModelAnswerError(
            f"{where} returned embeddings of {sizes.pop()} numbers where `dimensions: {dimensions}` was asked"
        )
    return [vector for vector in vectors if vector is not None]


def _not_finite(vector: list[float]) -> int | None:
    """Where the first item that is no finite number is (NaN, infinity, an integer too big for a float), or
    None. A vector holds a thousand floats or so: its sum is checked first, at C speed; an infinite or NaN
    sum (or an integer too big for a float) is looked at item by item."""
    try:
        if math.isfinite(sum(vector)):  # an overflow to inf only sends the vector to the item check
            return None
    except (OverflowError, ValueError):
        pass
    return next((k for k, number in enumerate(vector) if not _finite(number)), None)


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer too big for a float
        return False
