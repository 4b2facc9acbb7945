"""The fast reader agrees with PyYAML on every text it takes, and leaves the rest to PyYAML."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cassettes.format import _Dumper
from harness.yamlsubset import NOTHING, read

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,6}", fullmatch=True)
lines = st.text(alphabet=st.sampled_from(list('ab {}":,[]é😀1\t#-|')), max_size=12)
multiline = st.lists(lines, min_size=1, max_size=5).map("\n".join)
awkward = st.sampled_from(
    ["yes", "no", "on", "null", "~", "1:30", "2020-01-01", "0x1f", "1_000", "1.5",
     "0.7", "1.0e-05", "-.5", "1.", "6.8e+3", "a: b", "x #y", " lead", "trail ",
     "\nlead", "end\n\n", "", "'q'", "- item", "key:", "é", "\u2028", "\ufeff", "*alias", "&anchor x", "!tag x"]
)  # fmt: skip
scalars = st.one_of(
    multiline,
    multiline.map(lambda t: t + "\n"),
    multiline.map(lambda t: t + "\n\n"),
    st.integers(-5, 10**12),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    awkward,
    st.from_regex(r"[a-z][a-z0-9 ./()]{0,20}[a-z]", fullmatch=True),
)
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.dictionaries(keys, inner, min_size=1, max_size=4),
        st.lists(st.dictionaries(keys, inner, min_size=1, max_size=3), min_size=1, max_size=3),
        st.lists(inner, max_size=3),
    ),
    max_leaves=12,
)
documents = st.dictionaries(keys, trees, min_size=1, max_size=4)


@given(documents, st.sampled_from(["ours", "pyyaml", "pyyaml-narrow"]))
def test_what_it_reads_pyyaml_reads_the_same(document: dict[str, Any], style: str) -> None:
    if style == "ours":
        text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
    else:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000 if style == "pyyaml" else 20)
    got = read(text)
    if got is not NOTHING:
        assert got == yaml.safe_load(text)


@given(st.text(alphabet=st.sampled_from(list("ab: -|\n#'\"{}[]&*!1.\t\r\u2028")), max_size=60))
def test_any_text_is_read_as_pyyaml_reads_it_or_left_to_it(text: str) -> None:
    got = read(text)
    if got is NOTHING:
        return
    assert got == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: |\n  x\n  y\n",
        "a: |-\n  x\n\n  y\n",
        "a: |+\n  x\n\n\nb: 1\n",
        "a:\n- b: 1\n  c:\n    d: null\n- b: two words\nz: 3\n",
        "interactions:\n- request:\n    uri: http://h/v1/chat/completions\n    body:\n      delta: |\n        {}\n",
        "temperature: 0.7\ntop_p: 1.0\nsmall: 1.0e-05\nbare: 3.\n",  # floats as PyYAML writes them
        "a: yes\nb: Off\nc: true\nd: NO\n",  # YAML 1.1 booleans, as PyYAML reads them
        "tool_calls:\n- send_message\n- 2\n- a:b\n- http://x/y\nnext: 1\n",  # a list of plain scalars
        "a:\n  - x\n  - k: v\n    w: 1\n  - null\n",  # scalars and mappings in one list, indented
    ],
)
def test_the_layouts_a_cassette_uses_are_read(text: str) -> None:
    got = read(text)
    assert got is not NOTHING
    assert got == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 'q'\n",
        "a: [1]\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: 1_0.5\n",
        "a: .inf\n",
        "a: 01.5\n",
        "a: 1:30.5\n",
        "a: 0x1f\n",
        "on: 1\n",  # keys PyYAML reads as booleans or null
        "a:\n  Null: x\n",
        "a:\n- yes: 1\n",
        "a:\n- x\n  y\n",  # a plain scalar item going on below its line (PyYAML folds it)
        "a:\n- x:\ty\n",  # a tab after the colon: a mapping to PyYAML
        "a: x\ry\n",  # PyYAML reads a carriage return as a line break
        "a: x\u2028y\n",
        "a: |\n  x\u2028y\n",  # PyYAML reads a U+2028 in a block as a break, indentation and all
        "a: |\n  x\n  y\u2029\n",
        "a: |\n  x\n  y\x85\n",
        "a: |\n  x",  # no break at the end of the file: PyYAML clips none
        "a: x",
        "a: |+\n\n",  # an empty block that keeps its breaks
        "a:\n- |\n  block\n",
        "a:\n-\n",
        "a: 012\n",
        "a: 1_0\n",
    ],
)
def test_anything_else_is_left_to_pyyaml(text: str) -> None:
    assert read(text) is NOTHING


block_lines = st.sampled_from(
    ["a:", "- b", "  - c", "- d: 1", "  e: x", "-  f", "- g:", "    h", "- 1", "- yes", "- a:b", "k: v", "  - 'q'",
     "-", " - x", "- x # c", "- |", "  text", "on: 1", "- yes: x", "  Null:", "y: n"]
)  # fmt: skip


@given(st.lists(block_lines, max_size=8).map("\n".join))
def test_block_sequences_are_read_as_pyyaml_reads_them(text: str) -> None:
    got = read(text)
    if got is NOTHING:
        return
    assert got == yaml.safe_load(text)


# Every character YAML's reader refuses (`yaml.reader.Reader.NON_PRINTABLE`) but the surrogates, which no UTF-8
# file holds, and some it takes.
REFUSED = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0x85), *range(0x86, 0xA0))]
REFUSED += ["\ufffe", "\uffff"]
TAKEN = ["a", " ", "\t", "\x85", "\xa0", "é", "\ufffd", "😀"]
LAYOUTS = ["a: x{}y\n", "a: |\n  x{}y\n", "a:\n- x{}y\n", "a:\n  b: x{}y\n", "a: |-\n  x\n  {}\n"]


@given(st.sampled_from(LAYOUTS), st.sampled_from(REFUSED + TAKEN))
def test_a_character_pyyaml_refuses_is_left_to_it(layout: str, char: str) -> None:
    """It took ESC and DEL in plain and literal values, which PyYAML refuses: a scenario holding one was
    valid written plainly, and "invalid YAML" once an unrelated comment sent it to PyYAML."""
    text = layout.format(char)
    got = read(text)
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        assert char in REFUSED or char in "\t\x85"  # a tab or NEL in a plain scalar: not YAML there either
        assert got is NOTHING
        return
    assert char in TAKEN
    if got is not NOTHING:
        assert got == expected


# The loader the harness uses when this reader leaves a text to it (`yamlsource._LOADER`): libyaml's when
# PyYAML has it, which refuses some texts PyYAML's pure loader takes.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _loaded(text: str) -> Any:
    try:
        return yaml.load(text, Loader=LOADER)
    except yaml.YAMLError as exc:
        return ("refused", type(exc).__name__)


@pytest.mark.parametrize(
    "text",
    [
        "user: |\n  \tcol1\tcol2\n  a\tb\n",  # pasted TSV
        "a: |\n\n    \tx\n",  # after a blank line
        "a: |-\n  \t\n",
        "a:\n  b: |\n    \tx\n",
    ],
)
def test_a_literal_block_opening_with_a_tab_is_left_to_the_loader(text: str) -> None:
    """libyaml refuses it ("found a tab character where an indentation space is expected"), PyYAML's pure
    loader takes it: a scenario holding one was valid written plainly, and refused once an unrelated comment
    sent it to libyaml."""
    assert read(text) is NOTHING
    assert read(text.replace("\t", "x", 1)) is not NOTHING  # the rest of it is in the subset


# Documents as the subset reads them, and near it: keys, plain values, lists and literal blocks at varied
# indentation, their text made of tabs, line breaks of every kind YAML knows, quotes, markers and non-ASCII.
_ATOMS = ["a", "é", "中", "🎉", " ", "\t", "\t\t", "\r", "\xa0", "\u3000", "-", ":", "#", "'", '"', "|", "1", "0", "x"]
_ATOMS += ["\ufeff", "\u2028", "\x85", "~", "null", "yes", "&", "*", "!", "%", "@", ",", "[", "{", "\\", "?"]
_pieces = st.sampled_from(["ab", "c d", "é"]) | st.sampled_from(_ATOMS)  # text the subset takes, often enough
_fuzz_scalar = st.lists(_pieces, min_size=1, max_size=5).map("".join)
_indents = st.sampled_from(["", " ", "  ", "  ", "    ", "    ", "\t", "  \t", " \t "])
_fuzz_entry = st.one_of(
    st.tuples(st.just("plain"), _fuzz_scalar),
    st.tuples(
        st.sampled_from(["|", "|-", "|+"]), st.lists(st.tuples(_indents, _fuzz_scalar | st.just("")), max_size=3)
    ),
    st.tuples(st.just("list"), st.lists(st.tuples(st.sampled_from(["  - ", "- ", "  -\t"]), _fuzz_scalar), min_size=1)),
)


def _document(entries: list[tuple[str, Any]], newline: str) -> str:
    lines: list[str] = []
    for number, (kind, body) in enumerate(entries):
        if kind == "plain":
            lines.append(f"k{number}: {body}")
        elif kind == "list":
            lines.append(f"k{number}:")
            lines += [dash + item for dash, item in body]
        else:
            lines.append(f"k{number}: {kind}")
            lines += [indent + text for indent, text in body]
    return newline.join(lines) + newline


@settings(max_examples=300)
@given(st.lists(_fuzz_entry, min_size=1, max_size=3), st.sampled_from(["\n", "\n", "\r\n"]))
def test_what_it_reads_the_harness_loader_reads_the_same(entries: list[tuple[str, Any]], newline: str) -> None:
    """Against the loader the harness falls back to (libyaml's), not PyYAML's pure one only: a text the subset
    takes must load there, to the same data."""
    text = _document(entries, newline)
    got = read(text)
    if got is not NOTHING:
        assert _loaded(text) == got
