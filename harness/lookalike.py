"""Texts that look alike: what two different texts differ in when it does not show (a character composed
or decomposed, CRLF, a trailing newline), said beside a failed text check and a cassette miss, whose
diffs would show two lines that look the same, or none; and file names that are one file where letter
case and Unicode normalisation are ignored."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def folded(name: str) -> str:
    """A file name or path as a file system that ignores letter case and Unicode normalisation compares it
    (macOS's and Windows' by default): two that fold alike are one file there. Case is folded one character
    to one, as APFS/HFS+ and NTFS fold it (simple case folding, an upcase table): `Straße` and `Strasse`,
    `ﬁle` and `file`, are two files there, though `str.casefold` (full folding: ß -> ss) makes them one."""
    if name.isascii():  # the usual name: ASCII letters fold one to one, and NFC leaves ASCII as it is
        return name.lower()
    return nfc("".join(_fold_one(char) for char in nfc(name)))


def _fold_one(char: str) -> str:
    """One character's case folded to one character: through its upper case (so final and small sigma, `ẞ` and `ß`,
    fold alike), then lower; a character whose upper or lower case is several (`ß` -> `SS`, `İ` -> `i̇`) stays
    as it is at that step."""
    upper = char.upper()
    upper = upper if len(upper) == 1 else char
    lower = upper.lower()
    return lower if len(lower) == 1 else upper


_INVISIBLE_DIFFERENCES: list[tuple[str, Callable[[str], str]]] = [
    ("Unicode normalisation (one character composed, NFC, vs decomposed, NFD)", nfc),
    ("line endings (\\r\\n vs \\n)", lambda text: text.replace("\r\n", "\n").replace("\r", "\n")),
    ("trailing newlines (a YAML `|` block ends with one, `|-` does not)", lambda text: text.rstrip("\n")),
    ("whitespace at the start or end", lambda text: text.strip()),
]


def differ_only_in(expected: str, actual: str, what: str = "the texts") -> str | None:
    """What two different texts (`what`, said so) differ in when it is something that does not show (their
    diff, or the two side by side, look the same); None when they differ otherwise. Checks and cassette
    keys compare exactly, as written: this only says why."""
    if expected == actual:
        return None
    steps = range(len(_INVISIBLE_DIFFERENCES))
    for size in range(1, len(_INVISIBLE_DIFFERENCES) + 1):  # the fewest differences that explain it
        for chosen in itertools.combinations(steps, size):
            a, b = expected, actual
            for index in chosen:
                canonical = _INVISIBLE_DIFFERENCES[index][1]
                a, b = canonical(a), canonical(b)
            if a == b:
                found = " and ".join(_INVISIBLE_DIFFERENCES[index][0] for index in chosen)
                return f"{what} differ only in {found}, compared exactly as written"
    return None
