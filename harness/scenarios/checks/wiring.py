"""The wire models generated from the registries: a key per registered check, each with its class's wire type
and description, so a new check class appears in `harness schema scenario` by itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pydantic

from harness.scenarios.checks.base import EXPECT_CHECKS, VALUE_CHECKS, Check, Target, ValueCheck
from harness.wire import Shorthand, StrictModel
from harness.yamlsource import Loc

# Keys that are also attributes of pydantic models: the Python field gets a trailing underscore, the
# YAML key stays as written (an alias).
_RESERVED = frozenset(dir(pydantic.BaseModel))


def wire_fields(registry: Mapping[str, type[Check]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, cls in registry.items():
        name = f"{key}_" if key in _RESERVED else key
        alias = key if name != key else None
        # Not Optional: a key left empty (`blocks:` alone) is a mistake to locate, not a check of nothing;
        # None is only the default of a key not written.
        fields[name] = (cls.wire, pydantic.Field(None, alias=alias, description=cls.description))
    return fields


def field_of(key: str) -> str:
    return f"{key}_" if key in _RESERVED else key


def _some_value_check(schema: dict[str, Any], model: type[pydantic.BaseModel]) -> None:
    """The JSON Schema's side of `ValueChecksBase._not_empty`: at least one check, `unchanged: false` none."""
    schema["minProperties"] = 1
    if "unchanged" in model.model_fields:
        schema["not"] = {"required": ["unchanged"], "properties": {"unchanged": {"const": False}}, "maxProperties": 1}


class ValueChecksBase(Shorthand, StrictModel):
    """Checks of one piece of text; at least one must be given. `unchanged` alone may be written bare."""

    model_config = pydantic.ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, json_schema_extra=_some_value_check
    )

    @pydantic.model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"unchanged": True} if value == "unchanged" and "unchanged" in cls.model_fields else value

    @classmethod
    def shorthand_schema(cls) -> dict[str, Any] | None:
        return {"const": "unchanged"} if "unchanged" in cls.model_fields else None

    @pydantic.model_validator(mode="after")
    def _not_empty(self) -> ValueChecksBase:
        given = set(self.model_fields_set)
        alone = "`unchanged: false` checks nothing; " if getattr(self, "unchanged", None) is False else ""
        if alone:
            given.discard("unchanged")
        if not given:
            keys = ", ".join(field.alias or name for name, field in type(self).model_fields.items())
            raise ValueError(f"{alone}give at least one check: {keys}")
        return self


def value_model(name: str, target: Target) -> type[ValueChecksBase]:
    registry = {k: c for k, c in VALUE_CHECKS.items() if target in c.targets}
    model: type[ValueChecksBase] = pydantic.create_model(
        name, __base__=ValueChecksBase, __doc__=f"Checks on {target.value} text", **wire_fields(registry)
    )
    return model


def value_checks(checks: StrictModel, loc: Loc) -> list[ValueCheck]:
    given = checks.model_fields_set
    return [
        cls(getattr(checks, field_of(key)), (*loc, key)) for key, cls in VALUE_CHECKS.items() if field_of(key) in given
    ]


class _ExpectBase(StrictModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, json_schema_extra={"minProperties": 1})
    misplaced_keys: ClassVar[dict[str, str]] = {}  # keys that belong elsewhere, and where (for the message)

    @pydantic.model_validator(mode="after")
    def _not_empty(self) -> _ExpectBase:
        """`expect: {}` (say, its last check commented out) checks nothing, and would pass."""
        if not self.model_fields_set:
            keys = ", ".join(field.alias or name for name, field in type(self).model_fields.items())
            raise ValueError(f"an empty `expect:` checks nothing (and would pass): give at least one check: {keys}")
        return self


def expect_model(final: bool) -> type[StrictModel]:
    """The final `expect:` takes every check; a turn's, those that can be checked after a turn (a snapshot
    cannot: it is written or compared once, after the last turn)."""
    registry = {key: cls for key, cls in EXPECT_CHECKS.items() if final or cls.final_only is None}
    model: type[_ExpectBase] = pydantic.create_model(
        "Expect" if final else "TurnExpect",
        __base__=_ExpectBase,
        __doc__="What must hold after the last turn, over the whole run" if final else "What must hold after a turn",
        **wire_fields(registry),
    )
    model.misplaced_keys = {
        key: str(cls.final_only) for key, cls in EXPECT_CHECKS.items() if not final and cls.final_only is not None
    }
    return model
