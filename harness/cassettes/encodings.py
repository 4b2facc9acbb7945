"""A recorded answer's `Content-Encoding`, undone as the live client (httpx) undoes it.

vcrpy stores an answer as it came unless `decode_compressed_response` is set, and it is off by default: a
vcrpy user's cassette of a provider that compresses (they do, and the openai SDK asks for gzip, deflate, br
and zstd) holds gzip bytes under `content-encoding: gzip`. Recording through the harness stores answers
decoded; replay reads the rest here, with no HTTP library: gzip and deflate with zlib, brotli with the
`brotli` (or `brotlicffi`) package and zstd with Python 3.14's `compression.zstd` (or `backports.zstd`), as
httpx does, each imported only when an answer needs it. An encoding httpx does not know is left as it is,
as httpx leaves it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any

# What each encoding needs that Python may not have, as an install hint.
_NEEDS = {
    "br": "the `brotli` package (pip install brotli)",
    "zstd": "Python 3.14's compression.zstd or the `backports.zstd` package (pip install backports.zstd)",
}


class Undecodable(ValueError):
    """An encoded answer this Python cannot decode (a library missing), bytes that are not what the encoding
    says, or more than the limit once decoded: the reason, in words."""


def content_encodings(headers: Mapping[str, Any]) -> list[str]:
    """The codings of a `Content-Encoding` header (vcrpy's headers: each name with a list of values), in
    the order they were applied; `identity` left out."""
    codings: list[str] = []
    for name, values in headers.items():
        if isinstance(name, str) and name.lower() == "content-encoding":
            for value in [values] if isinstance(values, str) else values:
                codings += [c.strip().lower() for c in str(value).split(",") if c.strip()]
    return [coding for coding in codings if coding != "identity"]


def decoded(body: bytes, codings: list[str], limit: int) -> bytes:
    """`body` with `codings` undone, the last applied first; Undecodable when one cannot be, or when it
    would be more than `limit` bytes (a few kilobytes of gzip can claim gigabytes)."""
    for coding in reversed(codings):
        if not body:  # nothing to decode: httpx gives nothing back
            return body
        decode = _decoder(coding)
        if decode is None:  # unknown to httpx too: it hands the bytes over as they are
            continue
        try:
            body = decode(body, limit + 1)
        except Undecodable:
            raise
        except Exception as exc:  # zlib.error, brotli.error, ZstdError: not that encoding after all
            raise Undecodable(f"its {coding} body does not decode ({exc})") from None
        if len(body) > limit:
            raise Undecodable(f"its {coding} body decodes to more than {limit >> 20} MB, more than a cassette holds")
    return body


def _decoder(coding: str) -> Callable[[bytes, int], bytes] | None:
    if coding in ("gzip", "x-gzip"):
        return lambda data, most: _zlib(zlib.MAX_WBITS | 16, data, most)
    if coding == "deflate":
        return _inflate
    if coding == "br":
        return _brotli()
    if coding == "zstd":
        return _zstd()
    return None


def _inflate(data: bytes, most: int) -> bytes:
    """deflate as servers send it: zlib-wrapped, or (as some do) raw; httpx takes both."""
    wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0  # RFC 1950's header
    return _zlib(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, data, most)


def _zlib(wbits: int, data: bytes, most: int) -> bytes:
    """At most `most` bytes of `data` inflated; a stream cut off is an error, not the half of an answer."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, most)
    if len(out) < most and not inflater.eof:
        raise zlib.error("the compressed stream is cut off")
    return out


def _brotli() -> Callable[[bytes, int], bytes]:
    try:
        import brotli  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        try:
            import brotlicffi as brotli  # type: ignore[import-not-found, no-redef, unused-ignore]
        except ImportError:
            raise Undecodable(_missing("br")) from None

    def decode(data: bytes, most: int) -> bytes:
        """At most `most` bytes; a stream cut off is an error, as httpx's decoder says it (`brotli.decompress`
        of a cut-off stream raises too)."""
        decompressor = brotli.Decompressor()
        try:  # brotli >= 1.2 bounds its output; an older one (or brotlicffi) decodes it whole
            out = bytes(decompressor.process(data, output_buffer_limit=most))
        except TypeError:
            return bytes(brotli.decompress(data))
        while len(out) < most and not decompressor.is_finished() and not decompressor.can_accept_more_data():
            out += bytes(decompressor.process(b"", output_buffer_limit=most - len(out)))  # output held back
        if len(out) < most and not decompressor.is_finished():
            raise ValueError("the compressed stream is cut off")
        return out

    return decode


def _zstd() -> Callable[[bytes, int], bytes]:
    try:
        from compression import zstd  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        try:
            from backports import zstd  # type: ignore[import-not-found, import-untyped, no-redef, unused-ignore]
        except ImportError:
            raise Undecodable(_missing("zstd")) from None

    def decode(data: bytes, most: int) -> bytes:
        """At most `most` bytes, from every frame (a body may be several, one after another), as httpx
        decodes it; a frame cut off is an error (httpx: "Zstandard data is incomplete")."""
        out = b""
        while True:
            decompressor = zstd.ZstdDecompressor()
            out += bytes(decompressor.decompress(data, most - len(out)))
            if len(out) >= most:
                return out
            if not decompressor.eof:
                raise ValueError("the compressed stream is cut off")
            data = decompressor.unused_data
            if not data:
                return out

    return decode


def _missing(coding: str) -> str:
    return f"it is {coding}-compressed (content-encoding: {coding}), which needs {_NEEDS[coding]} to read"


def decompress_zstd(data: Any, limit: int) -> bytes | None:
    """`data` decompressed, with Python 3.14's `compression.zstd` or the `backports.zstd` package; None
    when neither is there (or it is not zstd after all, or more than `limit` bytes)."""
    if not isinstance(data, bytes):
        return None
    try:
        return decoded(data, ["zstd"], limit)
    except Undecodable:
        return None
