"""Turn pydantic validation errors on YAML data into located, human problems (file:line: key: fix)."""

from __future__ import annotations

import difflib
import math
import re
import typing
from typing import Annotated, Any

import pydantic
import pydantic_core

from harness.errors import Problem
from harness.yamlsource import Loc, YamlDocument


class StrictModel(pydantic.BaseModel):
    """Base of every wire model: unknown keys are errors, never silently ignored. Each model's validator
    is built when the model is first used (`defer_build`): importing them all built every one, about a
    tenth of a second at every start, for the few a run validates with."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, defer_build=True)


_YAML_BOOLEANS = "YAML reads yes, no, on, off, true and false as booleans"
BOOLEAN = "a boolean (true or false)"


class _Scalar:
    """What a number or a boolean of a wire model takes: the YAML scalar of its type, never what pydantic's
    lax mode would turn into one. pydantic takes True for 1 (YAML reads `yes`, `on` and `true` as True:
    `max_steps: yes` would be one step), "3" for 3 and "off" for False; the JSON Schema an editor checks
    against refuses them, and so does the loader. An integer written `5.0` is an integer, as JSON Schema
    says (and `5.5` is refused)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "an integer", "a number", BOOLEAN

    def __call__(self, value: Any) -> Any:
        wanted = self.kind
        if wanted == BOOLEAN:
            if isinstance(value, bool):
                return value
        elif not isinstance(value, bool) and isinstance(value, int | float):
            return value
        if isinstance(value, bool):
            raise ValueError(f"expected {wanted}, not {str(value).lower()} ({_YAML_BOOLEANS})")
        if isinstance(value, str):
            raise ValueError(f"expected {wanted}, not the text {_shown(value)}{_written(value, wanted)}")
        if isinstance(value, int | float):
            raise ValueError(f"expected {wanted}, not the number {_shown(value)}")
        return value  # a list, a mapping, null: the type's own message says what it is


def _written(text: str, kind: str) -> str:
    """How to write `text` so YAML reads it as `kind`, when it can be: without the quotes (`"3"`), or in
    YAML's own form of a number YAML reads as text (`1e3`: an exponent needs a dot and a sign)."""
    import yaml  # only for a mistake's message

    if len(text) > 100:
        return ""
    try:
        unquoted = yaml.safe_load(text)
    except yaml.YAMLError:
        unquoted = None
    if kind == BOOLEAN:
        return ": write it without quotes" if isinstance(unquoted, bool) else ""
    if isinstance(unquoted, int | float) and not isinstance(unquoted, bool):
        return ": write it without quotes"
    try:
        number = float(text)
    except ValueError:
        return ""
    if kind == "an integer":
        if not (math.isfinite(number) and number.is_integer()):
            return ""
        return f", which YAML reads as text: write {int(number)}"
    return f", which YAML reads as text: write {yaml.safe_dump(number).splitlines()[0]}"


class _ScalarAnnotation:
    """`Annotated[int, ..., NOT_BOOLEAN]`: the number's check around the type's own validation (and its
    constraints, placed before it, which its JSON Schema keeps), worded for that type."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> pydantic_core.CoreSchema:
        kind = BOOLEAN if source is bool else "an integer" if source is int else "a number"
        return pydantic_core.core_schema.no_info_before_validator_function(_Scalar(kind), handler(source))


# On every number and boolean of every wire model, after its constraints (`Annotated[int, pydantic.Field(ge=1),
# NOT_BOOLEAN]`): the YAML scalar of its type, never a boolean for a number, a quoted text or a number for a
# boolean (see `_Scalar`). `Boolean` is a boolean so guarded.
NOT_BOOLEAN = _ScalarAnnotation()
Boolean = Annotated[bool, NOT_BOOLEAN]


class JsonSchema:
    """Metadata of a type (`Annotated[str, ..., JsonSchema(minLength=1)]`) adding keywords to its JSON Schema
    alone: an editor flags what the loader refuses (an empty text, list or mapping that would check nothing),
    while the loader keeps its own validator, whose located message says why."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: pydantic_core.CoreSchema, handler: pydantic.GetJsonSchemaHandler
    ) -> dict[str, Any]:
        schema: dict[str, Any] = handler(core_schema)
        handler.resolve_ref_schema(schema).update(self.keywords)
        return schema


def not_null_schema(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of an optional key that may be left out but not left empty (`expect:` alone): its
    JSON Schema loses the `null` branch the `X | None` annotation gives it, as the loader refuses null."""
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if "anyOf" in schema and len(branches) == 1:
        del schema["anyOf"]
        schema.update(branches[0])
    if schema.get("default", ...) is None:
        del schema["default"]


class Shorthand:
    """Mixin for a wire model that may also be written as a bare scalar (`model: gpt-4o-mini`,
    `human: unchanged`): its JSON Schema says so, so an editor accepts what the loader accepts."""

    @classmethod
    def shorthand_schema(cls) -> dict[str, Any] | None:
        """The JSON Schema of the bare form, or None where the model has none."""
        return {"type": "string"}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: pydantic_core.CoreSchema, handler: pydantic.GetJsonSchemaHandler
    ) -> dict[str, Any]:
        schema: dict[str, Any] = handler(core_schema)
        bare = cls.shorthand_schema()
        if bare is None:
            return schema
        target = handler.resolve_ref_schema(schema)
        full = dict(target)
        target.clear()
        target.update({"anyOf": [bare, full]})
        for key in ("title", "description"):
            if key in full:
                target[key] = full[key]
        return schema


M = typing.TypeVar("M", bound=pydantic.BaseModel)


def validate_document(model: type[M], doc: YamlDocument) -> tuple[M | None, list[Problem]]:
    """Validate the whole document at once so every mistake in a file is reported together."""
    try:
        return model.model_validate(doc.data if doc.data is not None else {}), []
    except pydantic.ValidationError as exc:
        problems = [_problem(model, doc, err) for err in exc.errors(include_url=False)]
        return None, _merge_branches(_dedupe(problems))


def _problem(root: type[pydantic.BaseModel], doc: YamlDocument, err: Any) -> Problem:
    loc: Loc = tuple(part for part in err["loc"] if not _is_branch_tag(part))
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        misplaced = getattr(_model_at(root, loc[:-1]), "misplaced_keys", {}).get(key)
        if misplaced is not None:  # a key of another place (a snapshot in a turn's expect): say where it goes
            return doc.problem(loc, f"'{key}' is not a key here: {misplaced}")
        valid = _fields_at(root, loc[:-1])
        hint = ""
        close = difflib.get_close_matches(key, valid, n=1)
        if close:
            hint = f"did you mean '{close[0]}'? "
        return doc.problem(loc, f"unknown key '{key}'; {hint}valid keys: {', '.join(valid)}")
    if kind == "missing":
        return doc.problem(loc, "required key is missing")
    if kind in ("model_type", "model_attributes_type", "dict_type"):  # not a mapping: name no Python class
        got = err.get("input")
        shown = {list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}.get(
            type(got), "empty" if got is None else type(got).__name__
        )
        if isinstance(got, str | int | float):
            shown += f" ({_shown(got)})"
        return doc.problem(loc, f"should be a mapping (`key: value` lines), not {shown}")
    message = err["msg"]
    if kind.startswith("value_error"):
        message = message.removeprefix("Value error, ")
    elif "input" in err and not isinstance(err["input"], dict | list):
        message += f" (got {_shown(err['input'])})"
    return doc.problem(loc, message)


_LONGEST_SHOWN = 80  # characters of a value a message repeats


def _shown(value: Any) -> str:
    """`repr(value)` as a message shows it: shortened, since a value may be a megabyte long, and an integer
    past Python's digit limit (4300) has no repr at all (ValueError)."""
    if isinstance(value, int) and value.bit_length() > 4 * _LONGEST_SHOWN:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    if isinstance(value, str):
        head = value[:_LONGEST_SHOWN]
        while len(repr(head)) > _LONGEST_SHOWN + 2:  # its quotes aside; escapes (`\x1f`) lengthen a repr
            head = head[:-1]
        if head != value:
            return f"{head!r}... ({len(value)} characters)"
    return repr(value)


def _is_branch_tag(part: Any) -> bool:
    # pydantic names union branches and function validators in `loc`; they are not YAML keys.
    return isinstance(part, str) and (
        part.startswith("function-") or part in _BRANCH_TAGS or _PARAMETRISED_TAG.fullmatch(part) is not None
    )


_PARAMETRISED_TAG = re.compile(r"[a-z][a-z-]*\[.*\]")  # str-enum[SnapshotMode], list[str], dict[str,any]...


_BRANCH_TAGS = {
    "str",
    "int",
    "float",
    "bool",
    "calls-list",
    "calls-mapping",
    "history-file",
    "history-messages",
    "tool-name",
    "declared-tool",
}


def _fields_at(root: type[pydantic.BaseModel], loc: Loc) -> list[str]:
    """The keys valid at `loc`."""
    model = _model_at(root, loc)
    return [] if model is None else [field.alias or name for name, field in model.model_fields.items()]


def _model_at(root: type[pydantic.BaseModel], loc: Loc) -> type[pydantic.BaseModel] | None:
    """The model of the mapping at `loc`, found by walking the model's annotations along the path."""
    current: Any = root
    for part in loc:
        current = _unwrap(current, part)
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) in (list, dict, tuple):
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, pydantic.BaseModel) else None


def _unwrap(annotation: Any, part: str | int | None = None) -> Any:
    """Optional[X] / X | None / Annotated[X, ...] -> X. Of a union's branches (each unwrapped of its own
    `Annotated`: a discriminated union's are tagged), the one `part` goes into: a model for a key (the
    mapping form of `tool_calls:`), a list for an index (its list form); else the only model, else the first."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, type(int | None)):
            branches = [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
            models = [b for b in branches if isinstance(b, type) and issubclass(b, pydantic.BaseModel)]
            sequences = [b for b in branches if typing.get_origin(b) in (list, tuple)]
            if isinstance(part, int) and len(sequences) == 1:
                annotation = sequences[0]
            else:
                annotation = models[0] if len(models) == 1 else branches[0]
            continue
        return annotation


def _merge_branches(problems: list[Problem]) -> list[Problem]:
    """One problem per place: a value that fits no branch of a union (`str | list[str]`) fails each
    branch at the same key, and is told what each would take in one line."""
    merged: dict[tuple[str, int | None, int | None, str], list[str]] = {}
    for problem in problems:
        merged.setdefault((problem.file, problem.line, problem.column, problem.key), []).append(problem.message)
    out = []
    for (file, line, column, key), messages in merged.items():
        if len(messages) > 1 and all(message.startswith("Input should be ") for message in messages):
            got = _GOT.search(messages[0])
            suffix = got.group() if got and all(message.endswith(got.group()) for message in messages) else ""
            wanted = [message.removesuffix(suffix).removeprefix("Input should be ") for message in messages]
            messages = ["should be " + " or ".join(wanted) + suffix]
        elif len(messages) > 1 and all(_branch_message(message) for message in messages):
            messages = [_merged_scalar_branches(messages)]
        out += [Problem(file, line, column, key, message) for message in messages]
    return out


_GOT = re.compile(r" \(got .*\)$")
# `_Scalar`'s message: what was wanted, what was given, how to write it
_EXPECTED = re.compile(
    r"expected (?P<wanted>.+?), not (?P<given>.*?)(?P<hint>: write it without quotes|, which YAML reads as text: .*)?"
)


def _branch_message(message: str) -> bool:
    return message.startswith("Input should be ") or _EXPECTED.fullmatch(message) is not None


def _merged_scalar_branches(messages: list[str]) -> str:
    """A value no branch of a union with a boolean or a number takes (`snapshot: 1`, `edited: {human: 0}`), in
    one line: every branch's want, what was given, and how to write it where `_Scalar` can tell."""
    wanted: list[str] = []
    given = hint = ""
    for message in messages:
        scalar = _EXPECTED.fullmatch(message)
        if scalar is not None:
            wanted.append(scalar["wanted"])
            given = given or f", not {scalar['given']}"
            hint = hint or scalar["hint"] or ""
        else:
            got = _GOT.search(message)
            wanted.append(message.removeprefix("Input should be ").removesuffix(got.group() if got else ""))
    return "should be " + " or ".join(wanted) + given + hint


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for problem in problems:
        if str(problem) not in seen:
            seen.add(str(problem))
            out.append(problem)
    return out
