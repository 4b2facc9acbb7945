"""Scenarios from data: a scenario file with `dataset: rows.jsonl` is a template, one scenario a row.

Every string value of the template may name a row's fields as `{field}` (Python's `str.format`, a field by its
name alone: `{name.upper}` or `{name[0]}` is a mistake; `{{` and `}}` are literal braces; a string naming a field
that `str.format` cannot read, say beside a lone brace, is a mistake, not text kept as written). A key is never
filled in: one naming a field is a mistake (a block would be looked up as `{label}`). A row's `id` field (a
JSON string or number; else its line number) names its scenario, `<file>[<id>]`, and its cassette, `<the file's
cassette without .yaml>/<id>.yaml`: written in NFC, letters (any script's), digits, marks and `.`/`_`/`-` kept,
each run of other characters one `_`, no leading `.` (a hidden file); an id that keeps nothing, or is a Windows
device name (`CON`), is a mistake. Two ids that would be one file name where letter case or Unicode
normalisation is ignored (macOS, Windows) are refused, naming both rows: there recording one row would
overwrite the other's cassette. The file is JSON Lines: rows end at `\\n` alone (a `\\r` before it is the
JSON's whitespace), so a row's strings may hold U+2028 or NEL raw, as JSON allows and
`json.dumps(ensure_ascii=False)` writes them.
The dataset file is read bounded, like every file, and must stay inside the scenario's folder tree (no
absolute path, no `..` out of the project). What a row fills in is bounded too: a filled value is at most
1 MB, as any value read from a file, and a row's fields add at most 4 MB, as a whole file may hold.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness import jsontext
from harness.errors import Problem
from harness.files import OutsideProject, confined
from harness.lookalike import folded
from harness.yamlsource import FILE_LIMITS, Loc, YamlDocument, read_text

DATASET_KEY = "dataset"
_JSON_WHITESPACE = " \t\r"  # `\n` ends the line


def row_id(given: object) -> str:
    """The name part a row's `id` gives (empty when nothing of it is kept): NFC, then each run of characters
    other than letters and digits (`str.isalnum`, as a Python test's cassette name keeps), marks (an
    accent no precomposed letter holds, a Devanagari vowel sign: part of a letter) and `.`, `_`, `-` as one `_`."""
    kept: list[str] = []
    replacing = False
    for char in unicodedata.normalize("NFC", str(given)):
        if char.isalnum() or char in "_.-" or unicodedata.category(char).startswith("M"):
            kept.append(char)
            replacing = False
        elif not replacing:
            kept.append("_")
            replacing = True
    return "".join(kept).lstrip("._").rstrip("_")  # no hidden file (`../x` is `x`)


_NOT_JSON_TOLD = 3  # a CSV file is not JSON on every line: one message a line drowned the rest
# Names Windows keeps for devices, whatever the extension (`CON.yaml` is the console): a cassette cannot be one.
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{port}{n}" for port in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]]
)


def _json(value: object) -> str:
    """A row's value as the JSON it was (`null`, `true`, `""`), cut to a message's length."""
    text = jsontext.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _name_of(row: dict[str, Any], number: int) -> tuple[str, str]:
    """(the row's name, "") or ("", what is wrong with its `id`): no `id` is its line number; an id that
    is no string or number, keeps no character of a file name, or is a Windows device name is a mistake
    (it silently became the line number, `None`, `True`, or a cassette Windows cannot write)."""
    if "id" not in row:
        return str(number), ""
    given = row["id"]
    valid = 'a text of letters, digits, ".", "_" or "-" ("azin") or a number, or no "id" for the line number'
    if isinstance(given, bool) or not isinstance(given, str | int | float):
        return "", f"the id {_json(given)} is not a text or a number: give {valid}"
    name = row_id(given if isinstance(given, str) else _json(given))
    if not name:
        what = "is empty" if given == "" else "keeps no letter or digit for its cassette's file name"
        return "", f"the id {_json(given)} {what}: give {valid}"
    if name.split(".")[0].upper() in _WINDOWS_DEVICES:
        return "", (
            f"the id '{name}' is a device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9), where its "
            f"cassette {name}.yaml cannot be written: give the row another id"
        )
    return name, ""


def rows_of(doc: YamlDocument) -> tuple[list[tuple[str, str, YamlDocument]], list[Problem]]:
    """(row id, where the row is, `rows.jsonl:N`, the scenario document for that row) for each row of the
    template's dataset."""
    data = doc.data
    given = data.get(DATASET_KEY) if isinstance(data, dict) else None
    if not isinstance(given, str):
        return [], [doc.problem((DATASET_KEY,), "should be the path of a JSON Lines file (one JSON object a line)")]
    if given.lower().endswith((".yaml", ".yml")):
        return [], [
            doc.problem(
                (DATASET_KEY,),
                f"the dataset {given} is named as YAML: a dataset is a JSON Lines file named .jsonl (every .yaml "
                "file under scenarios/ is read as a scenario, this one too); rename it",
            )
        ]
    template_path = Path(doc.path)
    try:
        path = confined(template_path.parent, given)
        text = read_text(path)
    except OutsideProject as exc:
        return [], [doc.problem((DATASET_KEY,), f"the dataset {exc}")]
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if _FIELD.search(given):  # the rows come from this file: none of their fields can name it
            reason += " (the dataset's path is read as written: a row's fields fill the template, not this key)"
        return [], [doc.problem((DATASET_KEY,), f"cannot read the dataset {given}: {reason}")]
    template = {key: value for key, value in data.items() if key != DATASET_KEY}
    rows: list[tuple[str, str, YamlDocument]] = []
    problems: list[Problem] = []
    seen: dict[str, tuple[int, str]] = {}  # folded id: the first row's line and id
    not_json = 0  # lines that are not JSON: a few told one by one, the rest in one message
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(_JSON_WHITESPACE):
            continue
        try:
            row = jsontext.parse(line)
        except ValueError as exc:
            not_json += 1
            if not_json <= _NOT_JSON_TOLD:
                problems.append(doc.problem((DATASET_KEY,), f"{given}:{number}: not JSON: {exc}"))
            continue
        if not isinstance(row, dict):
            problems.append(doc.problem((DATASET_KEY,), f"{given}:{number}: a row must be a JSON object"))
            continue
        name, wrong = _name_of(row, number)
        if wrong:
            problems.append(doc.problem((DATASET_KEY,), f"{given}:{number}: {wrong}"))
            continue
        first, first_name = seen.setdefault(folded(name), (number, name))
        if first != number:
            what = (
                f"the id '{name}' is used twice ({given}:{first} too)"
                if first_name == name
                else f"the ids '{first_name}' ({given}:{first}) and '{name}' differ only in letter case or Unicode "
                "normalisation: their cassettes would be one file on macOS and Windows"
            )
            problems.append(doc.problem((DATASET_KEY,), f"{given}:{number}: {what}; give each row an id of its own"))
            continue
        filled, missing = _fill(template, row, ())
        if missing:
            loc, what, of_template = missing
            problem = doc.problem(loc, what if of_template else f"{given}:{number}: {what}")
            if problem not in problems:  # the template's own mistake is told once, not once a row
                problems.append(problem)
            continue
        rows.append((name, f"{given}:{number}", replace(doc, data=filled)))
    if not_json > _NOT_JSON_TOLD:
        more = not_json - _NOT_JSON_TOLD
        problems.append(
            doc.problem(
                (DATASET_KEY,),
                f"{given}: {more} more line(s) are not JSON: the file is not JSON Lines (one JSON object a line, "
                '{"id": "azin", "name": "Azin"}); a CSV or another table must be converted to it',
            )
        )
    if not rows and not problems:
        problems.append(doc.problem((DATASET_KEY,), f"the dataset {given} has no rows"))
    return rows, problems


# What a row may fill in: each filled value at most what a file's value may be (1 MB), and what one row's
# fields add to the template at most what a whole file may hold (4 MB). A tiny template repeats a field at
# will (`{text}{text}...`) and pads it to any width (`{name:>{width}}`): refused before it is built.
MAX_VALUE = FILE_LIMITS.max_scalar
MAX_ROW = FILE_LIMITS.max_bytes
_NUMBER = re.compile(r"[0-9]+")


class _TooLong(Exception):
    """A value a row fills in would pass a limit; the message says which."""


class _Unformattable(Exception):
    """A row's value its field's format spec does not take (told apart from a text that is no template)."""


class _ReachingIn(Exception):
    """`{name.upper}`, `{name[0]}` of a row's field: a field is named alone (args: as written, the field)."""


class _RowFields(string.Formatter):
    """`str.format` where a field is a row's field by its name alone: `{name.__class__}` or `{name[0]}`
    would reach into Python objects, which no row means (it is a missing field). It counts what the fields
    add, and stops before a value passes MAX_VALUE or a row MAX_ROW."""

    def __init__(self) -> None:
        self.row_left = MAX_ROW  # characters the row's fields may still add
        self.value_left = MAX_VALUE  # ...to the string being filled

    def format_field(self, value: Any, format_spec: str) -> Any:
        for number in _NUMBER.findall(format_spec):  # a width or precision is what format() allocates
            if len(number) > 9 or int(number) > MAX_VALUE:
                raise _TooLong(f"a format width or precision of {number}: at most {MAX_VALUE}, as a value may be long")
        try:
            piece = format(value, format_spec)
        except (TypeError, ValueError) as exc:  # `{name:d}` of a text, `{tags:>5}` of a list
            raise _Unformattable(str(exc)) from None
        self.row_left -= len(piece)
        self.value_left -= len(piece)
        if self.value_left < 0:
            raise _TooLong(f"filled in, a value of more than {MAX_VALUE} characters: at most {MAX_VALUE} a value")
        if self.row_left < 0:
            raise _TooLong(f"the row fills in more than {MAX_ROW} characters in all: at most {MAX_ROW} a row")
        return piece

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        if field_name.isdigit():  # `{0}`, `{}`: no template of a row's (kept as written, see `_fill`)
            raise IndexError(field_name)
        named = re.match(r"[^.\[]*", field_name).group()  # type: ignore[union-attr]  # matches any text
        if named != field_name:
            raise _ReachingIn(field_name, named)
        if field_name not in kwargs:
            raise KeyError(field_name)
        return kwargs[field_name], field_name


_FIELD = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_QUANTIFIER = re.compile(r"[0-9]*,[0-9]*")  # `{2,4}`, `{,4}`, `{2,}` (`{2}` is no field: kept as written)


def _fill(
    value: Any, row: dict[str, Any], loc: Loc, fields: _RowFields | None = None
) -> tuple[Any, tuple[Loc, str, bool] | None]:
    """`value` with every string formatted from `row`; the first mistake (a missing field, a value too
    long), where, and whether it is the template's whatever the row (a regex's `{2,4}` read as a field)."""
    if fields is None:
        fields = _RowFields()
    if isinstance(value, str):
        if "{" not in value:  # no field (what format makes of it: itself, or a lone `}` kept as written)
            return value, None  # and not formatted again for every row: a long text cost each row its length
        fields.value_left = MAX_VALUE
        try:
            filled = fields.vformat(value, (), row)
        except KeyError as exc:
            name = str(exc.args[0])
            if _QUANTIFIER.fullmatch(name):  # `[a-z]{2,4}`: no row's field, whatever the row
                return value, (
                    loc,
                    f"{{{name}}} is a regular expression's quantifier, not a row's field: in a dataset template a "
                    f"literal brace is written twice, {{{{{name}}}}}",
                    True,
                )
            return value, (loc, f"the row has no field '{name}'", False)
        except _ReachingIn as exc:
            written, named = exc.args
            return value, (
                loc,
                f"{{{written}}}: a field is named alone, {{{named}}}: attributes (`.upper`) and indexes (`[0]`) "
                "are not supported",
                True,
            )
        except _TooLong as exc:
            return value, (loc, str(exc), False)
        except _Unformattable as exc:  # a row's value the field's format spec does not take
            return value, (loc, f"a field cannot be formatted as the template asks: {exc}", False)
        except (ValueError, IndexError):  # not a template (JSON text, a lone brace, `{0}`): kept as written
            named = [field for field in _FIELD.findall(value) if field in row]
            if named:  # ...unless it names a row's field, which would silently not be filled in
                return value, (
                    loc,
                    f"names the field '{named[0]}' but is not a template str.format reads (a lone brace, a "
                    "conversion or a format spec?): write a literal brace as {{ or }}",
                    False,
                )
            return value, None
        if len(filled) > MAX_VALUE:  # the template's own text around the fields took it past the limit
            return value, (loc, f"filled in, a value of {len(filled)} characters: at most {MAX_VALUE} a value", False)
        return filled, None
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            field = _FIELD.search(key) if isinstance(key, str) else None
            if field:  # a key stays as written: `{label}` would be looked up as a block named "{label}"
                return value, (
                    (*loc, key),
                    f"a placeholder cannot be a key: keys are not filled in from the row ('{key}' stays as "
                    f"written, {field.group()} is filled in values only); write the key itself",
                    True,
                )
            out[key], missing = _fill(item, row, (*loc, key), fields)
            if missing:
                return value, missing
        return out, None
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            filled, missing = _fill(item, row, (*loc, index), fields)
            if missing:
                return value, missing
            items.append(filled)
        return items, None
    return value, None
