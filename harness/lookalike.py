"""Texts that look alike: what two different texts differ in when it does not show (a character composed
or decomposed, CRLF, a trailing newline), said beside a failed text check and a cassette miss, whose
diffs would show two lines that look the same, or none; the lines of such a diff (a cassette miss's, a block's
in the HTML report), where two texts never look alike; and file names that are one file where letter
case and Unicode normalisation are ignored."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable

from harness import jsontext


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


# What `str.splitlines` breaks a line at besides "\n" (a terminal acts on "\r" too): text is split on "\n"
# only, and a line holding one of these is shown as a JSON string, escaped, so `\r\n` against `\n` (a CRLF
# checkout) or a U+2028 against a line break is a visible difference, not two lines that read the same.
_HIDDEN_BREAKS = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_JSON_UNESCAPED = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}  # json.dumps keeps them raw


def diff_lines(text: str) -> list[str]:
    """`text` as the lines of a diff (a cassette miss's, a block's in the HTML report): split on "\\n" alone
    (so a trailing newline is a last empty line), each line `shown_line`."""
    return [shown_line(line) for line in text.split("\n")]


def shown_line(line: str) -> str:
    """A line as it is, or as a JSON string when it holds a character `_HIDDEN_BREAKS` names, or reads as
    one such JSON string itself (starts and ends with a quote): two different lines never show alike."""
    if _HIDDEN_BREAKS.search(line) is None and not (len(line) > 1 and line[0] == line[-1] == '"'):
        return line
    shown = jsontext.dumps(line)
    for char, escaped in _JSON_UNESCAPED.items():
        shown = shown.replace(char, escaped)
    return shown


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
