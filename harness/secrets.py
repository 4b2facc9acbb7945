"""What is secret, and the one function that masks it in everything the harness writes.

Secret values are those of
- the variables agents read their keys from (`api_key_env`), every `*_API_KEY`, `*_TOKEN`, `*_SECRET` and
  `*_PASSWORD` variable, and `OPENAI_ORG_ID` / `OPENAI_PROJECT_ID` (the openai SDK sends them as headers);
- the user and password of a base URL, and its query parameters whose names say key, token, secret,
  password, signature, auth or credential (`?api-key=...`; `?api-version=...` is not secret);
- learned from an endpoint's answers: the values of its credential headers (`SECRET_HEADERS`), and the
  account ids its error answers name (`ACCOUNT_IDS`, `ACCOUNT_FIELDS`).

Each is replaced by `MASK` wherever it appears, as is, JSON-escaped (with or without `\\/` for `/`) or
percent-encoded. JSON is masked in its strings (so it stays JSON), other text anywhere in it. The mask
text never changes, so outputs (and replays) stay byte-identical run to run, and masking twice changes
nothing.

How short a secret may be: values under `MIN_LENGTH` (4) characters are never masked: no credential is
that short, and masking `1` or `no` would rewrite every number and word in the output. Neither are values
that read as a number or a boolean (`1234`, `true`, `off`: a `*_TOKEN` variable may be a flag), which would
also break JSON held in strings (a tool call's arguments). Values under `WHOLE_WORD_BELOW` (8) characters
are masked only where they stand alone, not inside a longer run of letters and digits: a key `memo` leaves
`memory` alone, while `Bearer memo` and `"memo"` are masked.

Shortened text (`mask_shortened`, for what pytest reports): a long value shown cut, as pytest's assertion
message shows `'I read your...gHjKlZxCvBnM'` (its `saferepr`), keeps a secret's first or last characters
beside the cut, where no exact match finds them. There, a piece of at least `FRAGMENT_MIN` (4) characters
that begins or ends a secret of `WHOLE_WORD_BELOW` characters or more is masked too: the piece before an
ellipsis (`...`, `…`) that begins one, the piece after one that ends one, and any piece of one between two
ellipses; so are the pieces pytest's diff leaves at its cuts ("Skipping 64 identical leading characters in
diff": each line of the diff, up to an empty line, begins at the cut, "trailing": ends at it). Elsewhere a
piece of a secret is left alone: `sk-proj-` in a sentence is no one's key. So is a piece that reads as a word
(`post` of the password `postgres`) beside an ellipsis saferepr did not put there (it cuts a repr in its
middle): `'Reading the blog post...'` is the text's own.

This module imports nothing from the harness: every layer that writes something out may use it.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "<SECRET>"
MIN_LENGTH = 4
WHOLE_WORD_BELOW = 8
FRAGMENT_MIN = 4  # the shortest piece of a secret masked beside a cut (see mask_shortened)
ELLIPSIS = re.compile(r"\.{3,}|\u2026+")
# pytest's diff of two long strings, which drops what they share before (or after) the first difference
SKIPPED_IN_DIFF = re.compile(r"Skipping \d+ identical (leading|trailing) characters in diff")
LINE = re.compile(r"(?m)^.*$")
DIFF_LINE_START = re.compile(r"(?m)^(?:E)?[ \t]*(?:[-+?][ \t])?")  # a line's margin, pytest's `E` and ndiff's mark
SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
SECRET_VARIABLES = ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
SECRET_PARAMETER_WORDS = ("key", "token", "secret", "password", "passwd", "pwd", "sig", "auth", "credential")
SECRET_PARAMETER_NAMES = ("code",)  # Azure Functions' function key (`?code=`): the whole name, not a word in one
# Credential headers: their values (a cookie's too) are secrets wherever they turn up (a library's debug log
# of the exchange shows them): a request's key, as a bearer token, Azure's `api-key`, Anthropic's
# `x-api-key`, Google's `x-goog-api-key` or a proxy's credentials; a cookie; and the account an answer
# names (OpenAI's organization and project, Anthropic's organization, "the organization ID associated with
# the API key"). Request and rate-limit ids (`x-request-id`, `cf-ray`, `x-groq-region`) name no account.
SECRET_HEADERS = (
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "openai-organization",
    "openai-project",
    "anthropic-organization-id",
    "cookie",
    "set-cookie",
)
NOT_SECRET = re.compile(r"[+-]?\d+(\.\d+)?|true|false|null|none|yes|on|off", re.IGNORECASE)
# The account ids providers name in their error answers, secrets like the organization header: OpenAI's
# organization (`org-` and 24 letters and digits) and project (`proj_...`) ids in a rate limit's or a
# refusal's message, Groq's organization (`org_` and a 26-character ULID, in every rate limit it sends),
# and OpenRouter's `user_id` field beside the error. Read from error answers only (status 400 and up),
# which hold no model output.
ACCOUNT_IDS = re.compile(
    r"(?<![A-Za-z0-9_-])(?:org-[A-Za-z0-9]{16,}|org_[0-9a-z]{26}|proj_[A-Za-z0-9]{16,})(?![A-Za-z0-9])"
)
ACCOUNT_FIELDS = ("user_id",)

T = TypeVar("T")


def header_secrets(headers: Mapping[str, Any]) -> set[str]:
    """The values of the credential headers among `headers` (a cookie's value too, without its name and
    attributes): dropped from the cassette, they are secrets wherever else they might turn up (a library's
    debug log of the exchange)."""
    found: set[str] = set()
    for name, values in headers.items():
        if name.lower() not in SECRET_HEADERS:
            continue
        for value in values if isinstance(values, list | tuple) else [values]:
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            found.add(text)
            if name.lower() in ("cookie", "set-cookie"):  # a Set-Cookie's first pair is the cookie, the rest
                pairs = text.split(";")  # its attributes (path, expiry), which are no secret
                pairs = pairs[:1] if name.lower() == "set-cookie" else pairs
                found |= {pair.partition("=")[2].strip() for pair in pairs if "=" in pair}
    return found


def answer_secrets(status: int, text: str) -> set[str]:
    """The account ids an error answer names (see `ACCOUNT_IDS`): masked, as the header values are, from
    then on, in the cassette the answer is recorded into and wherever else they turn up."""
    if status < 400 or not text:
        return set()
    found = set(ACCOUNT_IDS.findall(text))
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return found
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict):
            found |= {item[name] for name in ACCOUNT_FIELDS if isinstance(item.get(name), str)}
    return found


def maskable(value: str) -> bool:
    """Whether `value` can be masked without rewriting ordinary output (see the length rule above)."""
    return len(value) >= MIN_LENGTH and not NOT_SECRET.fullmatch(value)


def secret_parameter(name: str) -> bool:
    """Whether a URL query parameter of this name carries a credential (`api-key`, `access_token`, `sig`)."""
    lowered = name.lower()
    return lowered in SECRET_PARAMETER_NAMES or any(word in lowered for word in SECRET_PARAMETER_WORDS)


@dataclass(frozen=True)
class Secrets:
    """A set of secret values, and how to mask them."""

    values: frozenset[str] = frozenset()
    # What each value is (the variable it was read from, `a base URL's credentials`): (value, name) pairs, for
    # a message that must say which secret it found without showing it. Not part of what the set is.
    names: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False)

    @classmethod
    def collect(
        cls,
        names: Iterable[str] = (),
        urls: Iterable[str | None] = (),
        values: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> Secrets:
        """The values of the variables `names` and of the secret variables named above (from `environ`,
        default the process environment), the credentials in `urls`, and `values`."""
        environ = os.environ if environ is None else environ
        named = set(names) | set(SECRET_VARIABLES)
        found = {(value, name) for name, value in environ.items() if name in named or name.endswith(SECRET_SUFFIXES)}
        for url in urls:
            found |= {(value, "a base URL's credentials") for value in url_credentials(url)} if url else set()
        found |= {(value, "a credential an endpoint sent") for value in values}
        kept = frozenset(pair for pair in found if maskable(pair[0]))
        return cls(frozenset(value for value, _ in kept), kept)

    def __or__(self, other: Secrets) -> Secrets:
        return Secrets(self.values | other.values, self.names | other.names)

    def __bool__(self) -> bool:
        return bool(self.values)

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        """Every spelling of every value, longest first, after the mask itself (so a value inside the mask,
        such as `SECRET`, leaves it whole)."""
        if not self.values:
            return None
        spelt: dict[str, bool] = {}
        for value in self.values:
            for spelling in _spellings(value):
                spelt[spelling] = spelt.get(spelling, False) or len(value) >= WHOLE_WORD_BELOW
        alternatives = [re.escape(MASK)]
        for spelling in sorted(spelt, key=lambda s: (-len(s), s)):
            escaped = re.escape(spelling)
            alternatives.append(escaped if spelt[spelling] else rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])")
        return re.compile("|".join(alternatives))

    def mask(self, text: str) -> str:
        """`text` with every secret replaced by the mask."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def mask_shortened(self, text: str) -> str:
        """`text` masked, and the pieces of a secret it shows beside a cut (see the module's doc): for text
        that may have been shortened, as what pytest reports is."""
        text = self.mask(text)
        if not self._whole_spellings or not text:
            return text
        spans = [*self._pieces_at_ellipses(text), *self._pieces_at_skipped_diff(text)]
        if not spans:
            return text
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:  # overlapping pieces: one mask
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        kept, at = [], 0
        for start, end in merged:
            kept += [text[at:start], MASK]
            at = end
        return "".join(kept) + text[at:]

    @cached_property
    def _whole_spellings(self) -> tuple[str, ...]:
        """The spellings of the secrets long enough to have pieces masked (as a repr shows them too)."""
        spelt = {s for v in self.values if len(v) >= WHOLE_WORD_BELOW for s in _spellings(v) | {repr(v)[1:-1]}}
        return tuple(sorted(spelt))

    def _pieces_at_ellipses(self, text: str) -> list[tuple[int, int]]:
        """Around each ellipsis: a run of dots may hold a dot of the text beside the three of the cut."""
        spans: list[tuple[int, int]] = []
        cuts = list(ELLIPSIS.finditer(text))
        for index, cut in enumerate(cuts):
            dots = len(cut[0]) - 3 if cut[0].startswith(".") else 0  # the text's own, before or after the cut
            for end in range(cut.start(), cut.start() + dots + 1):
                length = self._beginning_before(text, end)
                if length and (not _word_like(text[end - length : end]) or _saferepr_cut(text, end, end + 3)):
                    spans.append((end - length, end))
            following = cuts[index + 1].start() if index + 1 < len(cuts) else len(text)
            between = text[cut.end() : following]
            if (
                following < len(text)
                and len(between) >= FRAGMENT_MIN
                and any(between in s for s in self._whole_spellings)
            ):
                spans.append((cut.end(), following))
                continue
            for start in range(cut.end() - dots, cut.end() + 1):
                length = self._ending_after(text, start)
                if length and (not _word_like(text[start : start + length]) or _saferepr_cut(text, start - 3, start)):
                    spans.append((start, start + length))
        return spans

    def _pieces_at_skipped_diff(self, text: str) -> list[tuple[int, int]]:
        """pytest's diff after "Skipping N identical leading (trailing) characters": each line after it
        begins (ends) where the text was cut."""
        spans: list[tuple[int, int]] = []
        found = list(SKIPPED_IN_DIFF.finditer(text))
        for index, skipped in enumerate(found):
            after = text.find("\n", skipped.end())
            # The diff: its lines up to the next such line or an empty one (each line is looked at once)
            ends = found[index + 1].start() if index + 1 < len(found) else len(text)
            ends = _blank_line(text, after, ends)
            for line in LINE.finditer(text, after + 1, ends) if after != -1 else ():
                if skipped[1] == "leading":
                    margin = DIFF_LINE_START.match(text, line.start(), line.end())
                    start = margin.end() if margin is not None else line.start()
                    length = self._ending_after(text, start, line.end())
                    spans += [(start, start + length)] if length else []
                else:
                    length = self._beginning_before(text, line.end(), line.start())
                    spans += [(line.end() - length, line.end())] if length else []
        return spans

    def _beginning_before(self, text: str, end: int, floor: int = 0) -> int:
        """The length of the longest beginning of a secret (at least FRAGMENT_MIN) that `text` ends with at
        `end`, or 0."""
        best = 0
        tail = text[max(floor, end - FRAGMENT_MIN) : end]
        if len(tail) < FRAGMENT_MIN:
            return 0
        for spelling in self._whole_spellings:
            found = spelling.find(tail)
            while found != -1:
                length = found + FRAGMENT_MIN
                if length > best and end - length >= floor and text.startswith(spelling[:length], end - length):
                    best = length
                found = spelling.find(tail, found + 1)
        return best

    def _ending_after(self, text: str, start: int, ceiling: int | None = None) -> int:
        """The length of the longest ending of a secret (at least FRAGMENT_MIN) that `text` holds from
        `start`, or 0."""
        ceiling = len(text) if ceiling is None else ceiling
        best = 0
        head = text[start : min(ceiling, start + FRAGMENT_MIN)]
        if len(head) < FRAGMENT_MIN:
            return 0
        for spelling in self._whole_spellings:
            found = spelling.find(head)
            while found != -1:
                length = len(spelling) - found
                if length > best and start + length <= ceiling and text.startswith(spelling[found:], start):
                    best = length
                found = spelling.find(head, found + 1)
        return best

    def named_in(self, text: str) -> list[str]:
        """What the secrets `text` spells are (`OPENAI_API_KEY`, `a base URL's credentials`), sorted, never
        their values: for a message saying where a secret was found."""
        pattern = self._pattern
        if pattern is None:
            return []
        spelt = {m.group() for m in pattern.finditer(text)} - {MASK}
        found = {value for value in self.values if spelt & _spellings(value)}
        names = {name for value, name in self.names if value in found}
        return sorted(names) if names or not found else ["a secret"]

    def found_in(self, text: str) -> bool:
        """Whether `text` spells a secret (the mask itself does not count)."""
        pattern = self._pattern
        return pattern is not None and any(m.group() != MASK for m in pattern.finditer(text))

    def mask_data(self, value: T) -> T:
        """JSON-like data (dicts, lists, tuples, strings) with every string masked, keys included."""
        if self._pattern is None:
            return value
        return self._masked(value)  # type: ignore[no-any-return]

    def _masked(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self._masked(k): self._masked(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._masked(v) for v in value)
        return value

    def mask_json_text(self, text: str) -> str:
        """A body that may be JSON: masked in its decoded strings when it is (so it stays JSON, escaped
        spellings are found, and it is written again only when something was masked), anywhere
        otherwise."""
        if self._pattern is None or not text:
            return text
        try:
            data = json.loads(text)
            masked = self.mask_data(data)
            return text if masked == data else json.dumps(masked, ensure_ascii=False)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than walking it goes
            return self.mask(text)

    def mask_url(self, url: str) -> str:
        """The URL without user or password, with the values of secret query parameters masked, and any
        other secret in it masked."""
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        query = "&".join(
            f"{name}={MASK}" if sep and secret_parameter(unquote(name)) else f"{name}{sep}{value}"
            for name, sep, value in (piece.partition("=") for piece in parts.query.split("&") if piece)
        )
        return self.mask(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def url_credentials(url: str) -> set[str]:
    """The user, password and secret query values of `url`, as written and decoded; read leniently from a
    URL that urlsplit refuses (an unbalanced `[`), whose credentials must be masked all the same."""
    try:
        parts = urlsplit(url)
        netloc, query = parts.netloc, parts.query
    except ValueError:
        netloc = re.split(r"[/?#]", url.partition("://")[2] or url, maxsplit=1)[0]
        query = url.partition("?")[2].partition("#")[0]
    found: set[str] = set()
    userinfo, at, _host = netloc.rpartition("@")
    if at:
        found |= {piece for piece in userinfo.split(":", 1) if piece}
        # httpx sends them as HTTP Basic auth: an endpoint that echoes its Authorization header shows this.
        user, _, password = userinfo.partition(":")
        found.add(base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode())
    for piece in query.split("&"):
        name, sep, value = piece.partition("=")
        if sep and value and secret_parameter(unquote(name)):
            found.add(value)
    return found | {unquote(value) for value in found}


def _spellings(value: str) -> set[str]:
    """How `value` can be written: as is, JSON-escaped once or twice (a tool call's arguments are JSON
    inside JSON; `ensure_ascii` either way, `/` as `\\/` or not), percent-encoded (as a path or as a form)."""
    escaped = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    escaped |= {json.dumps(once)[1:-1] for once in escaped}
    spelt = {value} | escaped | {e.replace("/", "\\/") for e in escaped}
    spelt |= {quote(value, safe=""), quote(value), quote_plus(value)}
    return spelt


def _word_like(piece: str) -> bool:
    """Whether a piece of a secret reads as an ordinary word (`post` of the password `postgres`): letters
    only, in lower, upper or title case. Such a piece beside an ellipsis is masked only where pytest's
    saferepr cut the text (`_saferepr_cut`), not beside a sentence's own `...`."""
    return piece.isalpha() and (piece.islower() or piece.isupper() or piece.istitle())


def _saferepr_cut(text: str, start: int, end: int) -> bool:
    """Whether the ellipsis at `text[start:end]` sits where pytest's saferepr puts it in a quoted repr it
    shortened: the middle, as many characters from the opening quote to it as from it to the closing quote
    (one more after)."""
    opening = max(text.rfind("'", 0, start), text.rfind('"', 0, start))
    if opening == -1:
        return False
    closing = text.find(text[opening], end)
    return closing != -1 and (closing + 1 - end) - (start - opening) in (0, 1)


def _blank_line(text: str, after: int, ends: int) -> int:
    """Where the first empty line between `after` and `ends` begins (the end of pytest's diff), else `ends`."""
    found = text.find("\n\n", after, ends) if after != -1 else -1
    return ends if found == -1 else found + 1
