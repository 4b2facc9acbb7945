"""harness/archival.py: Letta's tag matching (any/all) and the cosine similarity search ranks by, as
properties over generated tags and vectors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.archival import TagMatchMode, cosine, tags_match

TAGS = st.lists(st.sampled_from(["meetings", "roadmap", "q2", "people", "food"]), max_size=5)
# Values as embedding models write them: no subnormals, whose squares vanish.
FINITE = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 6))


@given(TAGS, TAGS)
def test_any_keeps_a_passage_sharing_at_least_one_tag(passage: list[str], wanted: list[str]) -> None:
    expected = not wanted or bool(set(passage) & set(wanted))
    assert tags_match(passage, wanted, TagMatchMode.ANY) is expected


@given(TAGS, TAGS)
def test_all_keeps_a_passage_holding_every_tag(passage: list[str], wanted: list[str]) -> None:
    assert tags_match(passage, wanted, TagMatchMode.ALL) is set(wanted).issubset(passage)


@given(TAGS, TAGS)
def test_all_is_stricter_than_any(passage: list[str], wanted: list[str]) -> None:
    if tags_match(passage, wanted, TagMatchMode.ALL) and wanted:
        assert tags_match(passage, wanted, TagMatchMode.ANY)


@given(TAGS)
def test_no_tags_asked_keeps_everything_and_an_untagged_passage_matches_no_tag(wanted: list[str]) -> None:
    for mode in TagMatchMode:
        assert tags_match(["x"], None, mode) and tags_match([], [], mode)
        if wanted:
            assert not tags_match([], wanted, mode)


@given(
    st.lists(FINITE, min_size=1, max_size=8).flatmap(
        lambda a: st.tuples(st.just(a), st.lists(FINITE, min_size=len(a), max_size=len(a)))
    )
)
def test_cosine_is_symmetric_and_bounded(pair: tuple[list[float], list[float]]) -> None:
    a, b = pair
    assert cosine(a, b) == pytest.approx(cosine(b, a))
    assert -1 - 1e-9 <= cosine(a, b) <= 1 + 1e-9


@given(st.lists(FINITE.filter(lambda x: abs(x) > 1e-3), min_size=1, max_size=8), st.floats(0.01, 100))
def test_cosine_ignores_length(vector: list[float], scale: float) -> None:
    assert cosine(vector, [x * scale for x in vector]) == pytest.approx(1.0)
    assert cosine(vector, [-x for x in vector]) == pytest.approx(-1.0)


def test_cosine_of_a_zero_vector_is_zero_and_lengths_must_agree() -> None:
    assert cosine([0.0, 0.0], [1.0, 2.0]) == 0.0
    assert cosine([1.0, 0.0], [0.0, 1.0]) == 0.0
    assert math.isclose(cosine([1.0, 1.0], [1.0, 0.0]), math.sqrt(0.5))
    with pytest.raises(ValueError, match="vectors of different lengths \\(2 and 3\\): another embedding model"):
        cosine([1.0, 0.0], [1.0, 0.0, 0.0])
