"""What two texts that look alike differ in: said beside a failed text check and a cassette miss."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.lookalike import _fold_one, diff_lines, differ_only_in, folded, nfc


@pytest.mark.parametrize(
    ("a", "b", "found"),
    [
        ("Zo\u00e9", "Zoe\u0301", "Unicode normalisation (one character composed, NFC, vs decomposed, NFD)"),
        ("a\r\nb", "a\nb", "line endings (\\r\\n vs \\n)"),
        (
            "a\r\nb\n",
            "a\nb",
            "line endings (\\r\\n vs \\n) and trailing newlines (a YAML `|` block ends with one, `|-` does not)",
        ),
    ],
)
def test_what_does_not_show_is_named_in_the_fewest_differences(a: str, b: str, found: str) -> None:
    assert differ_only_in(a, b) == f"the texts differ only in {found}, compared exactly as written"
    assert differ_only_in(a, b, "the requests") == f"the requests differ only in {found}, compared exactly as written"


def test_texts_that_are_equal_or_differ_visibly_get_nothing() -> None:
    assert differ_only_in("a", "a") is None and differ_only_in("Zo\u00e9", "Zoe") is None


@pytest.mark.parametrize(
    ("a", "b", "one_file"),
    [
        ("Zoe.yaml", "ZOE.yaml", True),
        ("caf\u00e9", "CAFE\u0301", True),
        ("\u1e9e", "\u00df", True),  # capital sharp s: its lower case is one character
        ("\u03c2", "\u03a3", True),  # final sigma and capital sigma (both fold to small sigma)
        ("\u212a", "k", True),  # Kelvin sign: simple case folding makes it k
        ("Stra\u00dfe", "Strasse", False),  # ß -> ss is full case folding, which no file system does
        ("\ufb01le", "file", False),  # the ligature ﬁ likewise
        ("\u0130", "i", False),  # İ lowers to two characters (i and a combining dot)
    ],
)
def test_names_fold_as_file_systems_fold_case_one_character_to_one(a: str, b: str, one_file: bool) -> None:
    assert (folded(a) == folded(b)) is one_file


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_an_ascii_name_folds_as_any_name_does_character_by_character(name: str) -> None:
    assert folded(name) == nfc("".join(_fold_one(char) for char in nfc(name)))


TEXT = st.text(st.sampled_from('ab"\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029'), max_size=8)


@given(TEXT, TEXT)
def test_two_texts_never_give_the_same_diff_lines(a: str, b: str) -> None:
    """The lines a cassette miss's and the HTML report's diffs show: two different texts (a trailing newline,
    CRLF, U+2028 against a line break) never look alike there, and no line holds a break a screen acts on."""
    shown = diff_lines(a)
    assert (shown == diff_lines(b)) == (a == b)
    assert not any(char in line for line in shown for char in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def test_diff_lines_split_at_newlines_alone() -> None:
    assert diff_lines("a\r\nb\n") == ['"a\\r"', "b", ""]
    assert diff_lines('"q"') == ['"\\"q\\""']  # a line that reads as an escaped one is escaped too
