"""A recorded answer's Content-Encoding undone as httpx undoes it: every coding the live client decodes,
chained, bounded, and a clear reason (never the bytes) when one cannot be."""

from __future__ import annotations

import gzip
import sys
import zlib

import brotli  # a dev dependency
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cassettes.encodings import Undecodable, content_encodings, decoded

if sys.version_info >= (3, 14):
    from compression import zstd  # type: ignore[import-not-found, unused-ignore]
else:
    from backports import zstd  # type: ignore[import-not-found, import-untyped, unused-ignore]

LIMIT = 1 << 20
ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": lambda data: bytes(brotli.compress(data)),
    "zstd": lambda data: bytes(zstd.compress(data)),
}


@given(st.binary(max_size=2000), st.lists(st.sampled_from(sorted(ENCODERS)), min_size=1, max_size=3))
def test_every_coding_httpx_decodes_comes_back_as_it_was(data: bytes, codings: list[str]) -> None:
    body = data
    for coding in codings:  # applied in the order the header lists them
        body = ENCODERS[coding](body)
    assert decoded(body, codings, LIMIT) == data


def test_raw_deflate_is_read_as_httpx_reads_it() -> None:
    assert decoded(zlib.compress(b"{}")[2:-4], ["deflate"], LIMIT) == b"{}"


def test_the_header_is_read_in_any_spelling_and_identity_is_nothing() -> None:
    assert content_encodings({"Content-Encoding": ["gzip, br"]}) == ["gzip", "br"]
    assert content_encodings({"content-encoding": "identity"}) == []
    assert content_encodings({"content-type": ["application/json"]}) == []


def test_an_unknown_coding_is_left_as_httpx_leaves_it() -> None:
    assert decoded(b"{}", ["compress"], LIMIT) == b"{}"


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_a_body_that_is_not_its_coding_or_is_cut_off_says_so(coding: str) -> None:
    with pytest.raises(Undecodable, match=f"^its {coding} body does not decode"):
        decoded(b"not compressed at all", [coding], LIMIT)
    if coding in ("gzip", "deflate"):
        with pytest.raises(Undecodable, match="cut off"):
            decoded(ENCODERS[coding](b"x" * 5000)[:20], [coding], LIMIT)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
@given(data=st.binary(min_size=1, max_size=3000), cut=st.floats(0, 1, exclude_max=True))
def test_a_body_cut_off_anywhere_is_an_error_never_a_shorter_answer(coding: str, data: bytes, cut: float) -> None:
    """A cut-off br or zstd answer replayed as an empty body: only gzip and deflate said so. httpx raises
    ("Zstandard data is incomplete"), and so does replay, whatever the coding; an empty body is empty."""
    whole = ENCODERS[coding](data)
    with pytest.raises(Undecodable, match=f"^its {coding} body does not decode"):
        decoded(whole[: max(1, int(len(whole) * cut))], [coding], LIMIT)
    assert decoded(b"", [coding], LIMIT) == b""


@given(st.lists(st.binary(max_size=2000), min_size=1, max_size=4))
def test_a_zstd_body_of_several_frames_decodes_every_frame_as_httpx_does(parts: list[bytes]) -> None:
    """Only the first frame came back (half the answer, no error)."""
    assert decoded(b"".join(ENCODERS["zstd"](part) for part in parts), ["zstd"], LIMIT) == b"".join(parts)
    with pytest.raises(Undecodable, match="cut off"):  # the last frame cut off
        decoded(b"".join(ENCODERS["zstd"](part) for part in parts)[:-1], ["zstd"], LIMIT)
    with pytest.raises(Undecodable, match=r"^its zstd body does not decode"):  # not a frame after the first
        decoded(ENCODERS["zstd"](parts[0]) + b"trailing bytes", ["zstd"], LIMIT)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_a_body_that_decodes_to_more_than_the_limit_is_refused(coding: str) -> None:
    bomb = ENCODERS[coding](b"0" * (3 * LIMIT))
    assert len(bomb) < LIMIT
    with pytest.raises(Undecodable, match=f"^its {coding} body decodes to more than 1 MB"):
        decoded(bomb, [coding], LIMIT)


@pytest.mark.parametrize(
    ("coding", "modules", "needs"),
    [
        ("br", ("brotli", "brotlicffi"), r"needs the `brotli` package \(pip install brotli\)"),
        ("zstd", ("compression", "compression.zstd", "backports", "backports.zstd"), "needs Python 3.14's compression"),
    ],
)
def test_a_coding_whose_library_is_missing_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, coding: str, modules: tuple[str, ...], needs: str
) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # import fails
    said = f"^it is {coding}-compressed \\(content-encoding: {coding}\\), which {needs}"
    with pytest.raises(Undecodable, match=said):
        decoded(ENCODERS[coding](b"{}"), [coding], LIMIT)
