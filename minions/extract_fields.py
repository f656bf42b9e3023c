"""The fields of an extraction: what each table column holds.

A field has a name (a column), a type and a description. Types are ``str``, ``int``,
``number``, ``date``, ``bool`` or a list of one of them (``list[str]``). Fields come
from a pydantic model (its annotations and ``Field(description=...)``), a JSON schema
(an object's ``properties``), or ``name:type:description`` strings (split at the first
two colons, so the description may hold more)::

    capex_2018:number:FY2018 purchases of property, plant and equipment, USD millions

A description may name a document's metadata as ``{key}``: ``the date {condition} was
first diagnosed`` reads each document's ``condition`` (from the manifest), so one field
set serves documents that each ask about their own condition. The remote plans with the
description as written; the local model reads it filled in.
"""

from __future__ import annotations

import datetime
import re
import string
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from minions.errors import ConfigurationError

__all__ = [
    "BASE_TYPES",
    "FieldSpec",
    "answer_schema",
    "fields_from_json_schema",
    "fields_from_model",
    "parse_field",
    "parse_fields",
]

BaseType = Literal["str", "int", "number", "date", "bool"]
BASE_TYPES: tuple[BaseType, ...] = ("str", "int", "number", "date", "bool")
_LIST = re.compile(r"^list\[(\w+)\]$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ALIASES = {"float": "number", "string": "str", "integer": "int", "boolean": "bool"}
#: column suffixes the table adds per field, which a field name must not end with
RESERVED_SUFFIXES = ("__pages", "__agreement")


class FieldSpec(BaseModel):
    """One column of the extracted table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the column's name: letters, digits and _")
    type: str = Field(default="str", description="str, int, number, date, bool or list[...]")
    description: str = Field(default="", description="what the value is; may name {metadata}")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.match(name) or name.endswith(RESERVED_SUFFIXES) or name == "id":
            raise ValueError(
                f"field name {name!r} must be letters, digits and _ (not starting with a "
                "digit), not 'id', and not end with __pages or __agreement"
            )
        return name

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        value = value.strip().lower().replace(" ", "")
        inner = _LIST.match(value)
        base = inner.group(1) if inner else value
        base = _ALIASES.get(base, base)
        if base not in BASE_TYPES:
            raise ValueError(
                f"unknown field type {value!r}; choose one of {', '.join(BASE_TYPES)} "
                "or a list of one, e.g. list[str]"
            )
        return f"list[{base}]" if inner else base

    @property
    def base(self) -> BaseType:
        """The type of one value (of each item, for a list)."""
        inner = _LIST.match(self.type)
        return typing.cast(BaseType, inner.group(1) if inner else self.type)

    @property
    def is_list(self) -> bool:
        return self.type.startswith("list[")

    def placeholders(self) -> list[str]:
        """The metadata keys the description names (``{key}``)."""
        return [
            key
            for _, key, _, _ in string.Formatter().parse(self.description)
            if key is not None and key != ""
        ]

    def describe(self, metadata: Mapping[str, Any]) -> str:
        """The description with ``{key}`` filled from a document's metadata."""
        values = {key: metadata[key] for key in self.placeholders() if key in metadata}
        missing = [key for key in self.placeholders() if key not in values]
        if missing:
            raise ConfigurationError(
                f"field {self.name!r} names {', '.join(missing)} but the document's "
                'metadata has no such key; give it in the manifest\'s "metadata"'
            )
        return self.description.format_map(values) if values else self.description


def parse_field(text: str) -> FieldSpec:
    """A ``name:type:description`` string (type and description optional)."""
    name, _, rest = text.partition(":")
    kind, _, description = rest.partition(":")
    try:
        return FieldSpec(
            name=name.strip(), type=kind.strip() or "str", description=description.strip()
        )
    except ValueError as exc:
        raise ConfigurationError(f"--field {text!r}: {_first_error(exc)}") from None


def parse_fields(items: Sequence[str | FieldSpec]) -> list[FieldSpec]:
    """Several ``--field`` strings (or :class:`FieldSpec` objects); names must be
    distinct, and there must be one at least."""
    return _distinct([i if isinstance(i, FieldSpec) else parse_field(i) for i in items])


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return str(errors()[0]["msg"]).removeprefix("Value error, ")
    return str(exc)


def _distinct(fields: list[FieldSpec]) -> list[FieldSpec]:
    if not fields:
        raise ConfigurationError("no field to extract; pass --field NAME:TYPE:DESCRIPTION")
    names = [f.name for f in fields]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigurationError(f"field names must be distinct; given twice: {', '.join(twice)}")
    return fields


_PYTHON_TYPES: dict[Any, BaseType] = {
    str: "str",
    int: "int",
    float: "number",
    datetime.date: "date",
    datetime.datetime: "date",
    bool: "bool",
}


def _type_name(annotation: Any, where: str) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        kept = [a for a in get_args(annotation) if a is not type(None)]
        if len(kept) == 1:
            return _type_name(kept[0], where)
    if origin is list:
        (item,) = get_args(annotation) or (str,)
        return f"list[{_type_name(item, where)}]"
    if annotation in _PYTHON_TYPES:
        return _PYTHON_TYPES[annotation]
    raise ConfigurationError(
        f"{where}: type {annotation!r} is not extractable; use str, int, float, bool, "
        "datetime.date or a list of one"
    )


def fields_from_model(model: type[BaseModel]) -> list[FieldSpec]:
    """The fields of a pydantic model: its annotations and descriptions."""
    return _distinct(
        [
            FieldSpec(
                name=name,
                type=_type_name(info.annotation, f"{model.__name__}.{name}"),
                description=info.description or "",
            )
            for name, info in model.model_fields.items()
        ]
    )


_JSON_TYPES: dict[str, BaseType] = {
    "string": "str",
    "integer": "int",
    "number": "number",
    "boolean": "bool",
}


def _json_type(schema: Mapping[str, Any], where: str) -> str:
    if "anyOf" in schema:  # pydantic's Optional: [{type: X}, {type: null}]
        kept = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(kept) == 1:
            return _json_type(kept[0], where)
    kind = schema.get("type")
    if isinstance(kind, list):
        kept_types = [k for k in kind if k != "null"]
        kind = kept_types[0] if len(kept_types) == 1 else None
    if kind == "array":
        return f"list[{_json_type(schema.get('items', {'type': 'string'}), where)}]"
    if kind == "string" and schema.get("format") in ("date", "date-time"):
        return "date"
    if kind in _JSON_TYPES:
        return _JSON_TYPES[kind]
    raise ConfigurationError(
        f"{where}: JSON schema type {kind!r} is not extractable; use string (format date "
        "for dates), integer, number, boolean or an array of one"
    )


def fields_from_json_schema(schema: Mapping[str, Any]) -> list[FieldSpec]:
    """The fields of a JSON schema object: its ``properties``."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        raise ConfigurationError(
            'a fields schema must be a JSON object schema with "properties", one per field'
        )
    return _distinct(
        [
            FieldSpec(
                name=name,
                type=_json_type(prop, f"property {name!r}"),
                description=str(prop.get("description", "")),
            )
            for name, prop in properties.items()
        ]
    )


def answer_schema(field: FieldSpec) -> type[BaseModel]:
    """The JSON schema a local model reads a chunk for ``field`` under: the quote
    first (so the value is grounded in it), then the value as written in the text (a
    figure keeps its scale word and unit, a date its format: the rules normalise
    them), or null."""
    value: Any = {"bool": bool | None}.get(field.base, Annotated[str, Field(max_length=300)] | None)
    if field.is_list:
        value = Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=20)] | None
    return create_model(
        f"{field.name}_answer",
        __config__=ConfigDict(extra="forbid"),
        quote=(
            Annotated[str, Field(max_length=500)] | None,
            Field(description="the words of the text that give the value, copied exactly"),
        ),
        value=(value, Field(description="the value as the text writes it, or null")),
    )
