"""What two texts that look alike differ in: said beside a failed text check and a cassette miss."""

from __future__ import annotations

import pytest

from harness.lookalike import differ_only_in


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
