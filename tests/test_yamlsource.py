"""Config and scenario YAML: whatever the text, `parse_yaml` gives what PyYAML gives, stops at the same
limits and duplicate keys, and locates keys where the text has them, whether it built the document in its
one plain walk or took PyYAML's way."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import UserError
from harness.yamlsource import (
    Limits,
    TooBig,
    YamlDocument,
    _build_plain,
    _NotPlain,
    _record_positions,
    check_limits,
    compose,
    measure,
    parse_yaml,
    universal_newlines,
)

keys = st.sampled_from(["a", "b", "turns", "user", "1", "yes", "<<", "x y"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False),
    st.text(alphabet=st.sampled_from(list("ab :-#'\"\n\t{}[]&*!1.")), max_size=12),
)
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=10,
)
pieces = st.sampled_from(
    [
        *["a: 1\n", "a: 1\n", "b:\n  - x\n  - 2\n", "c: &x {k: v}\nd: *x\n", "<<: {m: 1}\n", "e: !!set {p: null}\n"],
        *["f: 0x1F\n", "g: 2001-12-14\n", "h: !!binary aGk=\n", "1: one\n", "i: [1, [2, [3]]]\n", "j: 'q'\n"],
        *["k: ~\n", "l: yes\n", "m: 1_000\n", "n: .inf\n", "o: |\n  block\n", "? [p]\n: q\n", "r: &r [*r]\n"],
    ]
)


def eager_positions(text: str) -> dict[Any, Any]:
    loader, node = compose(text)
    try:
        doc = YamlDocument("f.yaml", None)
        if node is not None:
            _record_positions(node, (), doc, UserError, set())
        return doc.positions
    finally:
        loader.dispose()


def same_as_pyyaml(text: str) -> None:
    try:
        expected: Any = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        with pytest.raises(UserError):
            parse_yaml(text, "f.yaml")
        return
    except (TypeError, RecursionError):  # unhashable keys, recursive aliases: PyYAML's own failures
        return
    try:
        doc = parse_yaml(text, "f.yaml")
    except UserError as exc:  # a duplicate key (PyYAML keeps the last) or a limit: located
        assert exc.problems[0].line is not None or "duplicate" not in str(exc)
        return
    assert doc.data == expected
    assert repr(doc.data) == repr(expected)  # 1 and True, 1.0 and 1, are told apart
    lazy = doc.text is not None
    doc.locate(("a",))
    assert doc.text is None
    if lazy:  # worked out on demand, as they would have been at once
        assert doc.positions == eager_positions(text)


@given(st.dictionaries(keys, trees, max_size=4))
def test_a_document_dumped_by_pyyaml_parses_as_pyyaml_reads_it(document: dict[str, Any]) -> None:
    same_as_pyyaml(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


@given(st.lists(pieces, max_size=5).map("".join))
def test_any_mix_of_yaml_features_parses_as_pyyaml_reads_it(text: str) -> None:
    same_as_pyyaml(text)


def test_a_plain_walk_stops_at_the_limits_and_the_exact_path_says_where() -> None:
    loader, node = compose("a:\n  b:\n    c: [1, 2, 3]\n", measured=False)
    try:
        assert _build_plain(loader, node, Limits()) == {"a": {"b": {"c": [1, 2, 3]}}}
        for limits in (Limits(max_depth=2), Limits(max_nodes=8), Limits(max_scalar=0)):
            with pytest.raises(_NotPlain):
                _build_plain(loader, node, limits)
    finally:
        loader.dispose()
    assert parse_yaml("a: [1, {b: c}]\n", "f.yaml").text is not None  # plain: positions wait
    assert parse_yaml("a: &x {b: 1}\nc:\n  <<: *x\n", "f.yaml").text is None  # a merge key: PyYAML's way
    with pytest.raises(UserError, match=r"f.yaml:3: b: duplicate key"):
        parse_yaml("a: 1\nb: 2\nb: 3\n", "f.yaml")


def test_a_plain_file_is_read_without_libyaml_and_a_deep_one_still_stops_at_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "agent: chat\nturns:\n- user: Hi, I am Azin.\n  expect:\n    stop_reason: replied\nxfail: no\n"
    with monkeypatch.context() as patched:
        patched.setattr("harness.yamlsource.compose", lambda *args, **kwargs: pytest.fail("libyaml was used"))
        doc = parse_yaml(text, "f.yaml")
    assert doc.data == yaml.safe_load(text)
    assert doc.locate(("turns", 0, "expect")) == (4, 3)  # located from the text when a problem needs it
    deep = "".join(f"{'  ' * level}a:\n" for level in range(70)) + f"{'  ' * 70}b: 1\n"
    with pytest.raises(UserError, match="nested more than 64 levels deep") as caught:
        parse_yaml(deep, "f.yaml")
    assert caught.value.problems[0].line is not None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a: [" + ", ".join(["1"] * 60) + "]\n", "more than 50 values: too big a file to read"),
        ("x: &x [1, 2, 3, 4, 5, 6, 7, 8]\ny: [*x, *x, *x, *x, *x, *x, *x]\n", "aliases are expanded (an alias bomb?)"),
    ],
)
def test_too_many_values_is_called_an_alias_bomb_only_when_aliases_made_them(text: str, says: str) -> None:
    small = Limits(max_nodes=50)
    with pytest.raises(TooBig, match=re.escape(says)):
        check_limits(text, small)  # the file as libyaml's events see it
    with pytest.raises(TooBig, match=re.escape(says)):
        measure(compose(text, small, measured=False)[1], small)  # as PyYAML's node tree holds it


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("m:\n  1: b\n  true: c\n", "`true` and `1`"),
        ("m: {0: b, false: c}\n", "`false` and `0`"),
        ("m: {null: b, ~: c}\n", "`~` and `null`"),
        ("m: {1: b, 1.0: c}\n", "`1.0` and `1`"),
    ],
)
def test_keys_one_once_read_are_a_duplicate(text: str, shown: str) -> None:
    """Two keys YAML spells apart but Python holds as one (True == 1): the mapping kept one of them."""
    with pytest.raises(UserError, match=rf"f.yaml:\d+: m\.\S+: duplicate key: {shown} are one key once read"):
        parse_yaml(text, "f.yaml")
    assert parse_yaml("m: {'1': b, 1: c}\n", "f.yaml").data == {"m": {"1": "b", 1: "c"}}


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        (
            "a: 1\nclock: 2025-02-30T10:00:00Z\n",
            (2, 8),
            "`2025-02-30T10:00:00Z` reads as a date or time but is not one",
        ),
        ("clock: 2025-02-11T25:00:00Z\n", (1, 8), "(hour must be in 0..23)"),
        ("a: x\ndescription: 2025-02-30\n", (2, 14), "(day is out of range for month)"),
        ("a: [x]\nb: {c: 0000-01-01}\n", (2, 8), "(year 0 is out of range)"),
        ("max_steps: " + "9" * 5000 + "\n", (1, 12), "an integer of 5000 digits: at most 4300"),
        ("a: [x]\nb: -" + "9" * 5000 + "\n", (2, 4), "an integer of 5000 digits: at most 4300"),
        ("a: 0x" + "f" * 20000 + "\n", (1, 4), "an integer of more than 4300 digits"),
        ("a: [1]\nb: 0b_\n", (2, 4), "`0b_` reads as an integer but is not one"),
        ("a: 1" + ":0" * 200 + ".5\n", (1, 4), "a base-60 number (YAML 1.1 reads `1:30` as 90) of 403 characters"),
        ("max_steps: 1" + ":0" * 500_000 + "\n", (1, 12), "of 1000001 characters: at most 64"),
    ],
)
def test_a_number_or_date_that_is_none_is_refused_where_it_stands(text: str, where: tuple[int, int], says: str) -> None:
    """PyYAML raises a bare ValueError (or OverflowError) for these, or takes quadratic time (base 60)."""
    with pytest.raises(UserError) as caught:
        parse_yaml(text, "f.yaml")
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == where
    assert says in problem.message and problem.message.endswith("; quote it to keep it as text")
    assert parse_yaml("clock: '2025-02-30T10:00:00Z'\n", "f.yaml").data == {"clock": "2025-02-30T10:00:00Z"}


@given(
    st.integers(0, 9999),
    st.integers(0, 19),
    st.integers(0, 39),
    st.one_of(st.none(), st.tuples(st.integers(0, 29), st.integers(0, 69), st.integers(0, 69))),
)
def test_any_date_shaped_value_reads_as_pyyaml_reads_it_or_is_a_located_problem(
    year: int, month: int, day: int, time: tuple[int, int, int] | None
) -> None:
    value = f"{year:04}-{month:02}-{day:02}" + (f"T{time[0]:02}:{time[1]:02}:{time[2]:02}Z" if time else "")
    text = f"a: [x]\nwhen: {value}\n"
    try:
        expected = yaml.load(text, Loader=yaml.SafeLoader)
    except (ValueError, OverflowError):
        with pytest.raises(UserError) as caught:
            parse_yaml(text, "f.yaml")
        assert (caught.value.problems[0].line, caught.value.problems[0].column) == (2, 7)
        return
    assert parse_yaml(text, "f.yaml").data == expected


@given(st.integers(1, 6000), st.sampled_from(["", "-", "+"]), st.booleans())
def test_an_integer_of_any_length_reads_as_python_reads_it_or_is_a_located_problem(
    digits: int, sign: str, plain: bool
) -> None:
    value = sign + "7" * digits
    text = f"a: {value}\n" if plain else f"a: [{value}]\n"  # yamlsubset's path, libyaml's
    if digits > 4300:
        with pytest.raises(UserError, match=rf"f.yaml:1:\d+: an integer of {digits} digits: at most 4300"):
            parse_yaml(text, "f.yaml")
    else:
        data = parse_yaml(text, "f.yaml").data
        assert data == {"a": int(value) if plain else [int(value)]}


class _Strings(pydantic.BaseModel):
    m: dict[str, str]


@given(
    st.sampled_from(["null", "~", "Null", "yes", "on", "False", "1", "0x1f", "017", "1_000", "1:30", "1.5", ".nan"]),
    st.sampled_from(["2001-12-14", "-.inf", "2.5e+3", "2001-12-14T21:59:43.10-05:00"]),
    st.integers(0, 3),
)
def test_a_key_yaml_reads_as_no_string_is_located_where_it_stands(key: str, other: str, before: int) -> None:
    """pydantic names a key None as 'None' and True as 1 in its errors; positions were stored under the key's
    text ('null', 'yes'), so the problem was put at line 1, column 1."""
    lines = ["a: 1", *(f"b{index}: 2" for index in range(before)), "m:", "  x: y", f"  {key}: z", f"  {other}: w"]
    doc = parse_yaml("\n".join(lines) + "\n", "f.yaml")
    with pytest.raises(pydantic.ValidationError) as caught:
        _Strings.model_validate({"m": doc.data["m"]})
    located = [doc.locate(("m", *error["loc"][1:])) for error in caught.value.errors()]
    assert located == [(before + 4, 3), (before + 5, 3)]


def test_a_null_or_boolean_key_of_a_scenario_is_reported_at_its_line() -> None:
    from harness.scenarios.model import ScenarioWire
    from harness.wire import validate_document

    for key in ("null", "yes"):
        doc = parse_yaml(f"agent: chat\ndescription: d\nturns:\n  - user: hi\n{key}: x\n", "f.yaml")
        _, problems = validate_document(ScenarioWire, doc)
        assert [(p.line, p.column) for p in problems] == [(5, 1)], problems


def refused(check: Any) -> bool:
    try:
        check()
    except TooBig:
        return True
    return False


def node_walk_refuses(text: str, limits: Limits) -> bool:
    loader, node = compose(text, Limits(), measured=False)
    try:
        return refused(lambda: measure(node, limits))
    finally:
        loader.dispose()


@given(trees, st.integers(1, 80))
def test_the_event_walk_counts_each_value_once_as_the_node_walk_does(tree: Any, max_nodes: int) -> None:
    """The event walk (a file of more than 2000 brackets) added a collection's whole size when it closed, on
    top of its values counted already: each value counted once a level it was nested in, so a flow-style
    file was refused as too big where the same data in block style was read."""
    document = {"a": tree, "b": [tree, {"c": tree}]}  # `tree` three times: dumped as an anchor and two aliases
    limits = Limits(max_nodes=max_nodes)
    verdicts = set()
    for flow in (True, False):
        text = yaml.safe_dump(document, default_flow_style=flow)
        verdicts |= {refused(lambda: check_limits(text, limits)), node_walk_refuses(text, limits)}  # noqa: B023
    assert len(verdicts) == 1


def test_a_flow_style_file_of_many_brackets_is_read_as_its_block_style_twin() -> None:
    turns = [
        {"user": f"hi{i}", "expect": {"tool_calls": ["send_message"], "blocks": {"human": {"contains": "x"}}}}
        for i in range(3000)
    ]
    document = {"agent": "chat", "turns": turns}  # 42,005 values, 24,002 brackets in flow style
    block = yaml.safe_dump(document, default_flow_style=False, sort_keys=False)
    flow = yaml.safe_dump(document, default_flow_style=True, sort_keys=False)
    assert flow.count("[") + flow.count("{") > 2000 and "*" not in flow  # read through the event walk
    assert parse_yaml(flow, "f.yaml").data == parse_yaml(block, "f.yaml").data == document


def test_a_tab_where_yaml_wants_spaces_is_said_to_be_one() -> None:
    with pytest.raises(UserError, match=r"f.yaml:2:1: invalid YAML: .*\(a tab: YAML indents with spaces only\)"):
        parse_yaml("agents:\n\tchat: {system: x}\n", "f.yaml")
    with pytest.raises(UserError) as raised:
        parse_yaml("a: [1, 2\nb: 3\n", "f.yaml")
    assert "tab" not in str(raised.value)


@pytest.mark.parametrize("before", ["", "# a comment\n"])
def test_a_control_character_is_refused_at_its_line_and_column_however_the_file_is_read(before: str) -> None:
    """Written plainly, a scenario with an ESC was read (by yamlsubset); with a comment, refused at
    "position 46" (libyaml's offset, in bytes). Now refused either way, at its line and column."""
    text = before + "agent: chat\nturns:\n  - user: héllo\x1b[31m there\n"
    line = 3 + before.count("\n")
    with pytest.raises(UserError) as raised:
        parse_yaml(text, "f.yaml")
    assert str(raised.value).startswith(
        f"f.yaml:{line}:16: invalid YAML: unacceptable character #x001b: control characters are not allowed "
        '(to keep it, write the value in double quotes with the character escaped, as "\\e" or "\\x7f")'
    )


def test_a_file_too_big_for_the_memory_allowed_is_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `ulimit -v`, reading a big cassette raised MemoryError: a traceback naming no file."""
    import os

    from harness.yamlsource import read_text

    path = tmp_path / "big.yaml"
    path.write_text("a: 1\n", encoding="utf-8")

    def exhausted(descriptor: int, size: int) -> bytes:
        raise MemoryError

    monkeypatch.setattr(os, "read", exhausted)
    with pytest.raises(TooBig, match="too big to read in the memory this process may use"):
        read_text(path)


@given(st.text(alphabet=st.sampled_from(list("a\r\n\x0b\x0c\x1c\x85\u2028é ")), max_size=30))
def test_universal_newlines_reads_as_python_text_mode(text: str) -> None:
    """Only CRLF and CR fold, as in `open(path, "r")` (Letta's prompt read); NEL, U+2028 and the other
    characters `str.splitlines` breaks at are text."""
    text_mode = io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8")
    assert universal_newlines(text) == text_mode.read()


def test_a_literal_block_opening_with_a_tab_is_refused_saying_how_to_write_it() -> None:
    """libyaml reads a `|` block's indentation from its first line of text, and a tab there is an error;
    with the indentation given (`|2`) the same text is taken, tabs and all."""
    text = "turns:\n  - user: |\n      \tcol1\tcol2\n      a\tb\n"
    with pytest.raises(UserError) as caught:
        parse_yaml(text, "s.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (3, 7)
    assert problem.message.endswith("(a `|` block whose first line starts with a tab must say how far its text is "
                                    "indented past its key: `|2` for 2 spaces)")  # fmt: skip
    assert parse_yaml(text.replace("|", "|2"), "s.yaml").data == {"turns": [{"user": "\tcol1\tcol2\na\tb\n"}]}
    with pytest.raises(UserError) as caught:  # a tab below a block's first line: no such advice
        parse_yaml("a: |\n  x\n \tb: 1\n", "s.yaml")
    assert "`|2`" not in caught.value.problems[0].message
