"""A protocol's options as widgets, read from its pydantic ``Config``.

:func:`option_fields` turns the Config's fields into plain descriptions (testable
without Streamlit); :func:`render_options` draws one widget per field: whole numbers
and decimals as number inputs, a ``Literal`` as a select box, a bool as a toggle.
An optional field (``int | None``) starts blank, and blank means "not set". A field
of another type keeps its default and says so.

Labels and help are the Config's own words: a field's ``title`` is its label (else its
name in plain words) and its ``description`` the help. The fields a protocol marks
basic (``json_schema_extra=minions.protocol.BASIC``) come first; the rest are under
"Advanced options".
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import streamlit as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

OptionKind = Literal["int", "float", "bool", "choice", "text", "other"]


@dataclass(frozen=True)
class OptionField:
    """One option of a protocol, described for a widget."""

    name: str
    kind: OptionKind
    default: Any
    optional: bool = False
    description: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    title: str = ""
    basic: bool = False

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` as ``(X, True)``; anything else as ``(annotation, False)``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _kind(annotation: Any) -> OptionKind:
    if get_origin(annotation) is Literal:
        return "choice"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is str:
        return "text"
    return "other"


def _bounds(info: FieldInfo, kind: OptionKind) -> tuple[float | None, float | None]:
    """Inclusive bounds for a number input (an exclusive int bound moves by one; an
    exclusive float bound is left to validation)."""
    step = 1 if kind == "int" else 0
    low = high = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = float(item.ge)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Gt):
            low = float(item.gt) + step  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            high = float(item.le)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            high = float(item.lt) - step  # type: ignore[arg-type]
    return low, high


def option_fields(config: type[BaseModel]) -> list[OptionField]:
    """Every field of ``config`` described for a widget, in declaration order."""
    fields = []
    for name, info in config.model_fields.items():
        annotation, optional = _strip_none(info.annotation)
        kind = _kind(annotation)
        low, high = _bounds(info, kind) if kind in ("int", "float") else (None, None)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        fields.append(
            OptionField(
                name=name,
                kind=kind,
                default=info.get_default(call_default_factory=True),
                optional=optional,
                description=info.description or "",
                choices=get_args(annotation) if kind == "choice" else (),
                minimum=low,
                maximum=high,
                title=info.title or "",
                basic=bool(extra.get("basic")),
            )
        )
    return fields


def _shown(value: Any) -> str:
    """A default as a person reads it."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _help(field: OptionField) -> str:
    what = field.description or field.label
    what = what[0].upper() + what[1:] if what else what
    blank = " Leave it blank to leave it unset." if field.optional else ""
    return f"{what.rstrip('.')}. Default: {_shown(field.default)}.{blank} (option `{field.name}`)"


def _number(field: OptionField, key: str) -> Any:
    if field.kind == "int":
        as_number: type = int
        extra: dict[str, Any] = {"step": 1}
    else:
        as_number = float
        extra = {"step": 0.1, "format": "%g"}
    bound: dict[str, Any] = {
        "min_value": None if field.minimum is None else as_number(field.minimum),
        "max_value": None if field.maximum is None else as_number(field.maximum),
    }
    value: Any = None if field.default is None else as_number(field.default)
    return st.number_input(
        field.label,
        value=value,
        placeholder="not set",
        help=_help(field),
        key=key,
        **bound,
        **extra,
    )


def render_widget(field: OptionField, key: str) -> Any:
    """Draw the widget for one option and return its value (``None`` when blank)."""
    if field.kind == "bool":
        return st.toggle(field.label, value=bool(field.default), help=_help(field), key=key)
    if field.kind == "choice":
        choices = list(field.choices)
        index = choices.index(field.default) if field.default in choices else None
        return st.selectbox(
            field.label, choices, index=index, placeholder="not set", help=_help(field), key=key
        )
    if field.kind in ("int", "float"):
        return _number(field, key)
    if field.kind == "text":
        text = st.text_input(field.label, value=field.default or "", help=_help(field), key=key)
        return text if text or not field.optional else None
    st.caption(f"{field.label}: {_shown(field.default)} (not settable here)")
    return field.default


def render_options(config: type[BaseModel], key_prefix: str) -> dict[str, Any]:
    """Widgets for every option of ``config``, the basic ones first and the rest under
    "Advanced options"; returns the options that differ from their defaults (what the
    run is given)."""
    fields = option_fields(config)
    chosen = {}
    basic = [f for f in fields if f.basic]
    advanced = [f for f in fields if not f.basic]
    places = ((basic, st.container), (advanced, partial(st.expander, "Advanced options")))
    for group, place in places:
        if not group:
            continue
        with place():
            for field in group:
                value = render_widget(field, key=f"{key_prefix}.{field.name}")
                if value != field.default:
                    chosen[field.name] = value
    return chosen
