"""Scenarios from data: a template scenario with `dataset: rows.jsonl`, one scenario (and cassette) a row."""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import main
from harness.scenarios.dataset import MAX_VALUE, _fill, row_id
from harness.scenarios.model import load_scenarios_partially
from tests.fakes import FakeOpenAI, append, make_project, reply

TEMPLATE = """
agent: chat
dataset: names.jsonl
turns:
  - user: "Hi! My name is {name}."
    expect:
      reply: {contains: "{name}"}
expect:
  blocks:
    human: {contains: "{name}"}
"""
NAMES = ["Azin", "Bahar", "Cyrus", "Dara", "Elham"]


def write_dataset(folder: Path, rows: list[dict[str, object]]) -> None:
    (folder / "names.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_five_rows_make_five_scenarios_with_their_own_cassettes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    write_dataset(project.root / "scenarios", [{"id": name.lower(), "name": name} for name in NAMES])
    answers = [a for name in NAMES for a in (append("human", name), reply(f"Nice to meet you, {name}!"))]
    with FakeOpenAI(answers) as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 0
    capsys.readouterr()
    tapes = sorted(p.name for p in (project.cassettes / "names").iterdir())
    assert tapes == [f"{name.lower()}.yaml" for name in NAMES]
    assert main(["run", "--agents", str(project.agents)]) == 0  # offline, row by row
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines() if line.startswith("scenarios/")]
    assert rows == [f"scenarios/names.yaml[{name.lower()}]" for name in NAMES]
    assert out.splitlines()[-1] == "5 passed"


def test_rows_are_filled_into_every_string(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    write_dataset(project.root / "scenarios", [{"name": "Azin"}, {"name": "{not a field}"}])
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert problems == []
    assert [s.name for s in scenarios] == ["names[1]", "names[2]"]  # no id: the line number
    assert [s.turns[0].user for s in scenarios] == ["Hi! My name is Azin.", "Hi! My name is {not a field}."]
    assert [s.row for s in scenarios] == ["1", "2"]


@pytest.mark.parametrize(
    ("rows", "dataset", "message"),
    [
        ([{"nom": "Azin"}], "names.jsonl", "names.jsonl:1: the row has no field 'name'"),
        (["Azin"], "names.jsonl", "names.jsonl:1: a row must be a JSON object"),
        ([{"id": "a", "name": "A"}, {"id": "a", "name": "B"}], "names.jsonl", "the id 'a' is used twice"),
        ([], "names.jsonl", "the dataset names.jsonl has no rows"),
        ([{"name": "A"}], "../../outside.jsonl", "the dataset '../../outside.jsonl' leads outside"),
        ([{"name": "A"}], "missing.jsonl", "cannot read the dataset missing.jsonl: No such file or directory"),
        (
            [{"name": "A"}],
            '"{id}.jsonl"',  # a row's field never names the file the rows come from
            "cannot read the dataset {id}.jsonl: No such file or directory (the dataset's path is read as "
            "written: a row's fields fill the template, not this key)",
        ),
    ],
)
def test_dataset_mistakes_are_located(tmp_path: Path, rows: list[object], dataset: str, message: str) -> None:
    project = make_project(tmp_path / "p", {"names": TEMPLATE.replace("names.jsonl", dataset)})
    folder = project.root / "scenarios"
    (folder / "names.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    assert any(message in problem.message for problem in problems), problems
    assert all(problem.line is not None for problem in problems)


def test_a_dataset_file_is_one_pytest_item_failing_if_any_row_fails(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path, {"names": TEMPLATE})
    write_dataset(project.root / "scenarios", [{"id": "a", "name": "Azin"}, {"id": "b", "name": "Bahar"}])
    answers = [append("human", "Azin"), reply("Hi Azin!"), reply("Hello!")]  # row b never stores the name
    with FakeOpenAI(answers) as server:
        assert main(["record", "--agents", str(project.agents), "--base-url", server.base_url]) == 1
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenarios/names.yaml: dataset row 'b':",
            "scenarios/names.yaml:6: turns[[]0].expect.reply.contains: the reply does not contain 'Bahar'",
        ]
    )


def test_a_row_nested_deeper_than_json_reads_is_a_located_mistake(tmp_path: Path) -> None:
    """It was a RecursionError traceback out of `validate` and `run`."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    deep = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (project.root / "scenarios" / "names.jsonl").write_text(f'{{"name": "Azin"}}\n{deep}\n', encoding="utf-8")
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert [s.name for s in scenarios] == ["names[1]"]
    assert [p.message for p in problems] == ["names.jsonl:2: not JSON: JSON nested too deeply to decode"]


def test_a_field_is_named_alone_never_reached_into(tmp_path: Path) -> None:
    """`{name.__class__}` rendered "<class 'str'>" (str.format reaches into Python objects); now it names a
    mistake of the template's, told once without a row (it said "the row has no field 'name.upper'", which
    no row could have). `{0}` and `{}` are no template of a row's: kept as written."""
    template = TEMPLATE.replace('"Hi! My name is {name}."', '"Hi {name}, {{literal}} {name.__class__}"')
    project = make_project(tmp_path / "p", {"names": template})
    write_dataset(project.root / "scenarios", [{"name": "Azin"}])
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    assert [p.message for p in problems] == [
        "{name.__class__}: a field is named alone, {name}: attributes (`.upper`) and indexes (`[0]`) are not supported"
    ]
    write_dataset(project.root / "scenarios", [{"name": "Azin"}, {"name": "Bahar"}])
    project.write_scenario("names", TEMPLATE.replace('"Hi! My name is {name}."', '"Hi {name[0]}"'))
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    assert [p.message for p in problems] == [
        "{name[0]}: a field is named alone, {name}: attributes (`.upper`) and indexes (`[0]`) are not supported"
    ]
    project.write_scenario("names", TEMPLATE.replace('"Hi! My name is {name}."', '"Hi {name}, {{literal}}"'))
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert problems == [] and scenarios[0].turns[0].user == "Hi Azin, {literal}"
    project.write_scenario("names", TEMPLATE.replace('"Hi! My name is {name}."', '"Hi there, {0} {}"'))
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert problems == [] and scenarios[0].turns[0].user == "Hi there, {0} {}"  # not a row's template


@pytest.mark.parametrize("text", ["Hi {name}, set {", "Hi {name}, {0}", "Hi {name} }", "{name}{"])
def test_a_string_naming_a_field_that_str_format_cannot_read_is_a_located_mistake(tmp_path: Path, text: str) -> None:
    """A lone brace beside `{name}` made the whole string literal, silently: the row's name never went in."""
    template = TEMPLATE.replace('"Hi! My name is {name}."', json.dumps(text))
    project = make_project(tmp_path / "p", {"names": template})
    write_dataset(project.root / "scenarios", [{"name": "Azin"}])
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    assert [p.message for p in problems] == [
        "names.jsonl:1: names the field 'name' but is not a template str.format reads (a lone brace, a conversion "
        "or a format spec?): write a literal brace as {{ or }}"
    ]
    assert problems[0].line is not None
    project.write_scenario("names", TEMPLATE.replace('"Hi! My name is {name}."', json.dumps("a lone { brace")))
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert problems == [] and scenarios[0].turns[0].user == "a lone { brace"  # naming no field: as written


@pytest.mark.parametrize(
    ("turn", "rows", "message"),
    [
        ('"{name:>{w}}"', [{"name": "x", "w": 3_000_000_000}], "a format width or precision of 3000000000: at most"),
        ('"{name:>{w}}"', [{"name": "x", "w": 5_000_000}], "a format width or precision of 5000000: at most 1048576"),
        ('"{name:.{w}f}"', [{"name": 1.5, "w": 10**40}], "a format width or precision of 1" + "0" * 40),
        ('"{text}{text}"', [{"text": "x" * 600_000}], "a value of more than 1048576 characters: at most 1048576"),
        ('"{text}"', [{"text": "x" * 1_100_000}], "a value of more than 1048576 characters"),
        ('"{text:>1048576}!"', [{"text": "x"}], "filled in, a value of 1048577 characters: at most 1048576"),
        ('"{tags:>5}"', [{"tags": ["a"]}], "cannot be formatted as the template asks: unsupported format string"),
        # a spec the text does not take was a template left unfilled, sent to the model as written
        ('"Hi {name:d}"', [{"name": "Azin"}], "cannot be formatted as the template asks: Unknown format code 'd'"),
    ],
)
def test_a_row_filling_in_a_value_past_the_limit_is_a_located_mistake(
    tmp_path: Path, turn: str, rows: list[dict[str, object]], message: str
) -> None:
    """`{name:>{w}}` with w = 3e9 allocated 3 GB (a MemoryError traceback out of `validate`), and `{text}`
    repeated built values of any size from a tiny file: a value is refused before it is built."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE.replace('"Hi! My name is {name}."', turn)})
    write_dataset(project.root / "scenarios", rows)
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert scenarios == []
    assert len(problems) == 1 and message in problems[0].message, problems
    assert (problems[0].line, problems[0].key) == (4, "turns[0].user")


def test_a_row_filling_in_more_than_a_file_holds_is_a_located_mistake(tmp_path: Path) -> None:
    """Each value under the limit, but the row's fields add more than a whole file may hold."""
    turns = "".join(f'  - user: "{{text}}{index}"\n' for index in range(6))
    project = make_project(tmp_path / "p", {"names": f"agent: chat\ndataset: names.jsonl\nturns:\n{turns}"})
    write_dataset(project.root / "scenarios", [{"text": "x" * 1_000_000}])
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    assert [(p.line, p.key) for p in problems] == [(8, "turns[4].user")]
    assert "the row fills in more than 4194304 characters in all: at most 4194304 a row" in problems[0].message


@given(
    st.integers(0, 10**12) | st.integers(0, 1_200_000),
    st.sampled_from([("", "y"), ("*^", "y"), ("", "y" * 400_000), (".3f", 1234.5), (",", 10**30)]),
    st.integers(1, 4),
)
def test_whatever_the_template_asks_a_filled_value_is_the_format_or_a_mistake_never_past_the_limit(
    width: int, align_or_type: tuple[str, object], repeat: int
) -> None:
    flag, value = align_or_type
    spec = f"{flag}{width}" if flag == "*^" else f"{width}{flag}"
    template = f"{{v:{spec}}}" * repeat
    filled, mistake = _fill({"turns": [{"user": template}]}, {"v": value}, ())
    longest = max(width, len(format(value, "" if flag == "*^" else flag)))
    if width > MAX_VALUE or repeat * longest > MAX_VALUE:
        assert mistake is not None and mistake[0] == ("turns", 0, "user")
    else:
        assert mistake is None and filled["turns"][0]["user"] == template.format(v=value)


def test_a_row_whose_value_breaks_a_check_is_named(tmp_path: Path) -> None:
    """Row 3 filled `(` into a `matches:` pattern: the error was located in the template only."""
    project = make_project(
        tmp_path / "p", {"names": TEMPLATE.replace('reply: {contains: "{name}"}', 'reply: {matches: "{name}"}')}
    )
    write_dataset(
        project.root / "scenarios",
        [{"id": "a", "name": "Azin"}, {"id": "b", "name": "Bahar"}, {"id": "c", "name": "Cy(rus"}],
    )
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    (problem,) = problems
    assert (problem.key, problem.line) == ("turns[0].expect.reply.matches", 6)
    assert problem.message.startswith("names.jsonl:3: invalid regular expression: missing ),")


def test_a_mistake_of_the_template_itself_is_told_once_without_a_row(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"names": TEMPLATE + "  reply: {max_length: 0, equals: 3}\n"})
    write_dataset(project.root / "scenarios", [{"id": "a", "name": "Azin"}, {"id": "b", "name": "Bahar"}])
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    (problem,) = problems
    assert problem.key == "expect.reply.equals" and "names.jsonl" not in problem.message


@pytest.mark.parametrize("quantifier", ["{2,4}", "{,4}", "{2,}"])
def test_a_regex_quantifier_in_a_template_says_to_double_its_braces(tmp_path: Path, quantifier: str) -> None:
    """It said "the row has no field '2,4'", once a row, with no hint."""
    pattern = f"[A-Z][a-z]{quantifier}"
    project = make_project(
        tmp_path / "p", {"names": TEMPLATE.replace('reply: {contains: "{name}"}', f'reply: {{matches: "{pattern}"}}')}
    )
    write_dataset(project.root / "scenarios", [{"id": "a", "name": "Azin"}, {"id": "b", "name": "Bahar"}])
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    (problem,) = problems
    assert problem.key == "turns[0].expect.reply.matches"
    assert problem.message == (
        f"{quantifier} is a regular expression's quantifier, not a row's field: in a dataset template a literal "
        f"brace is written twice, {{{quantifier}}}"
    )
    doubled = pattern.replace("{", "{{").replace("}", "}}")
    project.write_scenario("names", TEMPLATE.replace('reply: {contains: "{name}"}', f'reply: {{matches: "{doubled}"}}'))
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert problems == []
    assert [scenario.turns[0].checks[0].checks[0].value for scenario in scenarios] == [pattern, pattern]


def test_a_rows_value_the_agent_refuses_names_the_rows_line_and_the_templates_own_mistake_is_told_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An initial value over the block's limit, a tool the agent lacks, an agent it does not have: the
    message said where in the template, not which of a hundred rows."""
    template = """
        agent: "{agent}"
        dataset: names.jsonl
        blocks: {human: "{bio}", humn: "x"}
        turns:
          - user: "Hi"
            expect:
              not_tool_calls: ["{tool}"]
        """
    project = make_project(tmp_path / "p", {"names": template})
    rows = [
        {"agent": "chat", "bio": "Name: Azin", "tool": "send_message"},
        {"agent": "chat", "bio": "x" * 6000, "tool": "send_message"},
        {"agent": "chat", "bio": "Name: Dara", "tool": "nope"},
        {"agent": "Azin", "bio": "Name: Dara", "tool": "send_message"},
    ]
    write_dataset(project.root / "scenarios", rows)
    project.agents.write_text(
        project.agents.read_text(encoding="utf-8").replace('value: "Name: Bob"', 'value: "Name: Bob", limit: 5000'),
        encoding="utf-8",
    )
    assert main(["validate", "--agents", str(project.agents)]) == 2
    err = capsys.readouterr().err
    path = project.scenario_path("names")
    told = [line.strip() for line in err.splitlines()[1:]]
    assert told == [  # in line order, as README says (they were in the order they were found)
        f"{path}:1:1: agent: names.jsonl:4: no agent named 'Azin'; defined: chat",
        f"{path}:3:10: blocks.human: names.jsonl:2: the initial value of block 'human' has 6000 characters, over "
        "the block's limit of 5000: shorten it, or raise the block's `limit` in the agents file",
        f"{path}:3:26: blocks.humn: agent 'chat' has no block 'humn'; its blocks: persona, human",  # once
        f"{path}:7:24: turns[0].expect.not_tool_calls[0]: names.jsonl:3: agent 'chat' has no tool 'nope'; its "
        "tools: send_message, core_memory_append, core_memory_replace",
    ]


def test_rows_are_json_lines_split_at_newlines_alone(tmp_path: Path) -> None:
    """JSON allows U+2028 and NEL raw in a string, and `json.dumps(ensure_ascii=False)` writes them so: the
    rows were split at them too (`str.splitlines`), refused as "not JSON" on lines the file does not have.
    A CRLF line ending is a row's too (its `\\r` is JSON whitespace), and line numbers count `\\n`s."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    rows = [{"id": "zoe", "name": "Zoé\u2028Martin"}, {"id": "nel", "name": "A\x85B"}, {"id": "ff", "name": "C\x0cD"}]
    text = "".join(json.dumps(row, ensure_ascii=False) + "\r\n" for row in rows) + "\r\n" + "{oops\r\n"
    (project.root / "scenarios" / "names.jsonl").write_bytes(text.encode("utf-8"))
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert [s.turns[0].user for s in scenarios] == [f"Hi! My name is {row['name']}." for row in rows]
    assert [s.row for s in scenarios] == ["zoe", "nel", "ff"]
    assert [p.message.split(": not JSON")[0] for p in problems] == ["names.jsonl:5"]  # a blank line 4 between


def test_ids_keep_letters_of_any_script_and_ascii_ids_are_named_as_before(tmp_path: Path) -> None:
    """`café` was `caf` and `中文` the row's number, with no word: letters, digits and marks of any script
    are kept now (NFC), as a Python test's cassette name keeps them; an ASCII id gives the name it gave."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    ids = ["café", "中文", "हिन्दी", "cafe\u0301s", "a/b c", "x..y-z", 7, "Ünïcode 🎉 party"]
    write_dataset(project.root / "scenarios", [{"id": id_, "name": "A"} for id_ in ids])
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert problems == []
    assert [s.row for s in scenarios] == ["café", "中文", "हिन्दी", "cafés", "a_b_c", "x..y-z", "7", "Ünïcode_party"]


@given(st.text(st.characters(max_codepoint=127)))
def test_an_ascii_id_is_named_as_the_ascii_rule_named_it(given_id: str) -> None:
    """The recorded cassettes keep their names: for ASCII the rule is the old `[^A-Za-z0-9_.-]+` -> `_`, but
    for a leading `.` (a hidden file: `../../etc` was `.._.._etc.yaml`), dropped now."""
    assert row_id(given_id) == re.sub(r"[^A-Za-z0-9_.-]+", "_", given_id).lstrip("._").rstrip("_")


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("Zoe", "zoe", "the ids 'Zoe' (names.jsonl:1) and 'zoe' differ only in letter case or Unicode normalisation"),
        ("STRASSE", "strasse", "the ids 'STRASSE' (names.jsonl:1) and 'strasse' differ only in letter case"),
        ("STRAẞE", "straße", "the ids 'STRAẞE' (names.jsonl:1) and 'straße' differ only in letter case"),
        ("café", "cafe\u0301", "the id 'café' is used twice (names.jsonl:1 too)"),  # NFD: one name in NFC
        ("a/b", "a_b", "the id 'a_b' is used twice (names.jsonl:1 too)"),
    ],
)
def test_ids_that_are_one_file_name_where_case_or_normalisation_is_ignored_are_refused_naming_both_rows(
    tmp_path: Path, first: str, second: str, message: str
) -> None:
    """`Zoe.yaml` and `zoe.yaml` are one file on macOS and Windows: recording one row overwrote the other's
    cassette there."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    write_dataset(project.root / "scenarios", [{"id": first, "name": "A"}, {"id": second, "name": "B"}])
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert [s.row for s in scenarios] == [row_id(first)]
    [problem] = problems
    assert problem.message.startswith(f"names.jsonl:2: {message}") and problem.line == 2  # the `dataset:` key
    assert problem.message.endswith("; give each row an id of its own")


# Characters that are one another in some other letter case or Unicode normalisation, and some that go.
CONFUSABLE = st.sampled_from(
    ["a", "A", "é", "e\u0301", "É", "ß", "ss", "SS", "ǅ", "ǆ", "Ǆ", "\u017f", "s", "\u212a", "k", "/", "_"]
)


def one_to_one(name: str, case: Callable[[str], str]) -> str:
    """`name` as a file system that folds case one character to one (`case` of a character when that is one
    character) and ignores Unicode normalisation compares it: APFS's simple case folding (lower), NTFS's
    upcase table (upper)."""
    return "".join(case(c) if len(case(c)) == 1 else c for c in unicodedata.normalize("NFD", name))


@given(st.lists(st.lists(CONFUSABLE | st.characters(), max_size=4).map("".join), min_size=2, max_size=6))
def test_the_ids_of_accepted_rows_name_files_no_file_system_confuses(ids: list[str]) -> None:
    """No two accepted rows' names are one file where case is folded one character to one (upper or lower)
    and normalisation ignored."""
    with tempfile.TemporaryDirectory() as folder:
        write_dataset(Path(folder), [{"id": id_, "name": "A"} for id_ in ids])
        (Path(folder) / "names.yaml").write_text(TEMPLATE, encoding="utf-8")
        scenarios, problems = load_scenarios_partially(Path(folder) / "names.yaml")
    kept = [s.row or "" for s in scenarios]
    assert len(kept) + len(problems) == len(ids)
    for case in (str.lower, str.upper):
        assert len({one_to_one(name, case) for name in kept}) == len(kept)
    assert all(name == unicodedata.normalize("NFC", name) for name in kept)


@pytest.mark.parametrize(("first", "second"), [("Straße", "Strasse"), ("ﬁle", "file"), ("STRASSE", "straße")])
def test_ids_that_only_full_case_folding_makes_one_are_two_files_and_both_kept(
    tmp_path: Path, first: str, second: str
) -> None:
    """`Straße` and `Strasse` were refused as "one file on macOS and Windows" (`str.casefold`: ß -> ss); those
    file systems fold case one character to one, so they are two files there."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    write_dataset(project.root / "scenarios", [{"id": first, "name": "A"}, {"id": second, "name": "B"}])
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert problems == []
    assert [s.row for s in scenarios] == [first, second]


@given(st.text().filter(lambda text: "{" not in text), st.dictionaries(st.text(min_size=1), st.text()))
def test_a_string_with_no_field_is_kept_as_formatting_would_keep_it(text: str, row: dict[str, str]) -> None:
    """`_fill` no longer formats a string without a `{` (once a row, a long one cost each row its length):
    formatting gives it back as it is, or fails and keeps it as written (a lone `}`)."""
    from harness.scenarios.dataset import _RowFields

    assert _fill(text, row, ()) == (text, None)
    with contextlib.suppress(ValueError):  # a lone `}`: kept as written
        assert _RowFields().vformat(text, (), row) == text


def test_what_is_the_same_for_every_row_is_worked_out_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dataset's time grew with rows x template: each row formatted every string of the template, composed
    the template's YAML again to locate a problem (10 ms a row for a 900 KB template), and worked out the
    template's cassette path, its agent and what it is checked against. Counted here over 40 rows."""
    import harness.yamlsource
    from harness.factory import AgentFactory
    from harness.project import Project
    from harness.scenarios.dataset import _RowFields

    counts: dict[str, int] = {}

    def counted(owner: object, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            if name != "compose" or "dataset: names.jsonl" in str(args[0]):  # the template's YAML
                counts[name] = counts.get(name, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    for owner, name in [
        (harness.yamlsource, "compose"),
        (Project, "cassette_path"),
        (AgentFactory, "spec"),
        (_RowFields, "vformat"),
    ]:
        counted(owner, name)
    template = "agent: chat\ndataset: names.jsonl\ndescription: the same for every row\nturns:\n  - user: '{name}'\n"
    project = make_project(tmp_path / "p", {"names": template})
    write_dataset(project.root / "scenarios", [{"name": f"n{index}"} for index in range(40)])
    assert main(["run", "--agents", str(project.agents)]) == 1  # no cassettes: each row fails, located
    assert "40 error" in capsys.readouterr().out
    # the template read (one compose), then located once for all rows; one string formatted a row
    assert counts == {"compose": 2, "cassette_path": 1, "spec": 1, "vformat": 40}


def test_a_row_id_too_long_for_a_cassette_name_names_the_rows_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was located at the template's first line (`names.yaml:1:1`), naming no row."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    write_dataset(project.root / "scenarios", [{"id": "a", "name": "A"}, {"id": "b" * 250, "name": "B"}])
    for command in ("validate", "run"):
        assert main([command, "--agents", str(project.agents)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert f"{project.scenario_path('names')}:2:1: dataset: names.jsonl:2: the cassette file name 'bbbb" in err
        assert "is 255 bytes long: at most 200 for a cassette" in err


@pytest.mark.parametrize(
    ("given_id", "message"),
    [
        ("", 'the id "" is empty: give a text of letters, digits'),  # it was the line number, silently
        ("!!", 'the id "!!" keeps no letter or digit for its cassette\'s file name'),
        (None, "the id null is not a text or a number"),  # it was 'None'
        (True, "the id true is not a text or a number"),  # it was 'True'
        ({"a": 1}, 'the id {"a": 1} is not a text or a number'),
        (
            "CON",
            "the id 'CON' is a device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9), where its cassette "
            "CON.yaml cannot be written",
        ),
        ("lpt1.v2", "the id 'lpt1.v2' is a device name on Windows"),
    ],
)
def test_an_id_that_names_no_cassette_is_a_located_mistake(tmp_path: Path, given_id: object, message: str) -> None:
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    write_dataset(project.root / "scenarios", [{"id": "a", "name": "A"}, {"id": given_id, "name": "B"}])
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert [s.row for s in scenarios] == ["a"]
    [problem] = problems
    assert problem.message.startswith(f"names.jsonl:2: {message}"), problem.message
    assert problem.line == 2  # the `dataset:` key


def test_an_id_gives_no_hidden_cassette_and_a_number_is_named_as_json_writes_it(tmp_path: Path) -> None:
    """`../../etc` was the cassette `.._.._etc.yaml`, a hidden file."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    write_dataset(project.root / "scenarios", [{"id": "../../etc", "name": "A"}, {"id": 2.5, "name": "B"}])
    scenarios, problems = load_scenarios_partially(project.scenario_path("names"))
    assert problems == []
    assert [s.row for s in scenarios] == ["etc", "2.5"]


def test_validate_tells_a_templates_mistakes_in_line_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A row's missing field (line 4 of the template) was told before the `dataset:` line's duplicate id."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    write_dataset(project.root / "scenarios", [{"id": "a"}, {"id": "a", "name": "B"}])
    assert main(["validate", "--agents", str(project.agents)]) == 2
    told = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    path = project.scenario_path("names")
    assert [line.split(": ")[0] for line in told] == [f"{path}:2:1", f"{path}:4:5"]
    assert "names.jsonl:2: the id 'a' is used twice" in told[0]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('max_steps: "{steps}"', "max_steps: a placeholder cannot stand for an integer"),
        (
            'simulate:\n  persona: "{name}"\n  goal: g\n  max_turns: "{steps}"',
            "simulate.max_turns: a placeholder cannot stand for an integer",
        ),
    ],
)
def test_a_placeholder_for_a_number_is_one_mistake_of_the_templates(tmp_path: Path, text: str, key: str) -> None:
    """It said, row by row, "expected an integer, not the text '3': write it without quotes": unquoted,
    `{steps}` is a YAML mapping."""
    template = TEMPLATE.replace("dataset: names.jsonl", f"dataset: names.jsonl\n{text}")
    if "simulate" in text:
        template = template.split("\nturns:")[0]
    project = make_project(tmp_path / "p", {"names": template})
    write_dataset(project.root / "scenarios", [{"name": "A", "steps": 3}, {"name": "B", "steps": 4}])
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    [problem] = problems
    assert str(problem).split(": ", 1)[1].startswith(key), problem
    assert "written without quotes; write the value itself" in problem.message
    assert "names.jsonl" not in problem.message  # the template's, whatever the row


def test_a_placeholder_in_a_key_is_a_located_mistake(tmp_path: Path) -> None:
    """`blocks: {"{label}": ...}` said "agent 'chat' has no block '{label}'": keys are not filled in."""
    template = TEMPLATE.replace("human: {contains:", '"{label}": {contains:')
    project = make_project(tmp_path / "p", {"names": template})
    write_dataset(project.root / "scenarios", [{"name": "A", "label": "human"}, {"name": "B", "label": "human"}])
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    [problem] = problems
    assert problem.key == "expect.blocks.{label}" and problem.line == 9
    assert problem.message.startswith("a placeholder cannot be a key: keys are not filled in from the row")


def test_a_file_that_is_no_json_lines_is_told_in_a_few_messages(tmp_path: Path) -> None:
    """A CSV of 5,000 rows gave 5,001 "not JSON" messages."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE})
    lines = ["id,name", *(f"r{n},N{n}" for n in range(5000))]
    (project.root / "scenarios" / "names.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    assert [p.message.split(": not JSON")[0] for p in problems[:3]] == [f"names.jsonl:{n}" for n in (1, 2, 3)]
    assert len(problems) == 4
    assert problems[3].message.startswith("names.jsonl: 4998 more line(s) are not JSON: the file is not JSON Lines")
    assert "a CSV or another table must be converted" in problems[3].message


def test_a_dataset_named_as_yaml_says_datasets_are_jsonl(tmp_path: Path) -> None:
    """Under scenarios/ the collector read `rows.yaml` as a scenario: `should be a mapping` or invalid YAML."""
    project = make_project(tmp_path / "p", {"names": TEMPLATE.replace("names.jsonl", "rows.yaml")})
    (project.root / "scenarios" / "rows.yaml").write_text('{"name": "A"}\n', encoding="utf-8")
    _, problems = load_scenarios_partially(project.scenario_path("names"))
    [problem] = problems
    assert problem.key == "dataset" and "a dataset is a JSON Lines file named .jsonl" in problem.message
