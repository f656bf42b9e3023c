"""The rules that turn what local models read into one table cell, without the remote.

Each chunk a local model read for a field gives a :class:`Candidate`: the value as the
text writes it, the quote it came from, the pages. :func:`coerce` normalises a value
by its field's type: a number keeps its sign and is brought to the field's unit (scale
words: "1.2 billion" is 1,200 in USD millions; a value without one is taken to be in
the unit already), a date becomes ISO ``YYYY-MM-DD``, a bool is read from yes/no/true/
false, a list is its distinct normalised items. :func:`aggregate` then takes the
majority over the non-null candidates:

- the chosen value's **agreement** is the share of the non-null candidates that give
  it (None when every candidate is null);
- a tie between values is broken by the rules where they can: values whose quote was
  found in the chunk and states them over the others; otherwise the cell is a
  **conflict**, and the caller may let the local model choose among the tied values
  (:attr:`Cell.tied`);
- a list gathers its items over the candidates (a list is often spread over pages);
  its agreement is the mean share of non-null candidates that name each item.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from minions.extract_fields import FieldSpec
from minions.values import figures, parse_date, scale_of

__all__ = [
    "Candidate",
    "Cell",
    "aggregate",
    "coerce",
    "resolve_tie",
    "same",
    "supports",
    "values_in",
]

_TRUE = {"yes", "true", "y", "1", "present", "positive"}
_FALSE = {"no", "false", "n", "0", "absent", "negative", "none"}
_NULLS = {"", "null", "none", "n/a", "na", "not found", "unknown", "not stated", "-"}


class Candidate(BaseModel):
    """What one chunk gave for a field."""

    model_config = ConfigDict(extra="forbid")

    value: Any = None
    quote: str | None = None
    verified: bool = Field(
        default=False, description="the quote is in the chunk and states the value"
    )
    pages: list[int] = Field(default_factory=list)
    source: str = Field(
        default="local", description="local; quote: the value its quote states, not the one written"
    )


class Cell(BaseModel):
    """One field of one document, as the table holds it."""

    model_config = ConfigDict(extra="forbid")

    value: Any = None
    pages: list[int] = Field(default_factory=list)
    agreement: float | None = None
    conflict: bool = False
    #: the values a tie left to choose from (normalised), when the rules could not
    tied: list[Any] = Field(default_factory=list)
    candidates: int = 0
    non_null: int = 0
    verified: bool = False
    method: str = Field(default="majority", description="majority, rule, local, none")


def _number(raw: Any, unit: str | None) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    found = [f for f in figures(str(raw)) if not f.percent or "%" in (unit or "")]
    if not found:
        return None
    first = found[0]
    if first.scale == 1.0:
        return first.value
    return first.value * first.scale / scale_of(unit or "")


def coerce(field: FieldSpec, raw: Any, unit: str | None = None) -> Any:
    """``raw`` as a value of ``field``'s type in ``unit`` (see the module), or None."""
    if raw is None:
        return None
    if field.is_list:
        items = raw if isinstance(raw, list) else re.split(r"[;\n]|,\s(?=[A-Z])", str(raw))
        single = field.model_copy(update={"type": field.base})
        kept = [coerce(single, item, unit) for item in items]
        distinct = {_fold(v): v for v in reversed(kept) if v is not None}
        return list(reversed(distinct.values())) or None
    text = str(raw).strip()
    if text.casefold().strip(".") in _NULLS:
        return None
    if field.base == "str":
        return re.sub(r"\s+", " ", text).strip(" .;,")
    if field.base == "date":
        parsed = parse_date(text)
        if parsed is None:  # a date inside words: "on 07/19/1961."
            for piece in re.findall(r"\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2}", text):
                parsed = parse_date(piece)
                break
        return parsed.isoformat() if parsed else None
    if field.base == "bool":
        if isinstance(raw, bool):
            return raw
        word = text.casefold().strip(".")
        return True if word in _TRUE else False if word in _FALSE else None
    number = _number(raw, unit)
    if number is None:
        return None
    if field.base == "int":
        return round(number)
    return round(number, 6)


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


_DATES = re.compile(
    r"\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2}"
    r"|[A-Z][a-z]+\.? \d{1,2}, \d{4}|\d{1,2} [A-Z][a-z]+\.? \d{4}"
)


def values_in(field: FieldSpec, text: str, unit: str | None = None) -> list[Any]:
    """The values of ``field``'s type that ``text`` writes: its dates, its figures
    (brought to ``unit``), for a string or a list the text itself."""
    if field.base == "date":
        found = _DATES.findall(text)
        return [v for v in (coerce(field, f) for f in found) if v is not None]
    if field.base in ("number", "int"):
        single = field.model_copy(update={"type": field.base})
        return [v for f in figures(text) if (v := coerce(single, f.text, unit)) is not None]
    return [text]


def supports(field: FieldSpec, quote: str, value: Any, unit: str | None = None) -> bool:
    """Whether ``quote`` states ``value`` (normalised): one of its dates or figures is
    the value; a string or each list item is in it (case folded)."""
    if value is None:
        return False
    if field.base in ("str", "bool") or field.is_list:
        items = value if isinstance(value, list) else [value]
        folded = quote.casefold()
        return all(str(item).casefold() in folded for item in items)
    return any(same(field, value, v) for v in values_in(field, quote, unit))


def same(field: FieldSpec, a: Any, b: Any) -> bool:
    """Whether two normalised values of ``field`` agree: numbers within 0.5%, strings
    case-folded, lists as sets."""
    if a is None or b is None:
        return a is b
    if field.is_list:
        return {_fold(x) for x in a} == {_fold(x) for x in b}
    if field.base in ("number", "int") and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 0.005 * max(abs(float(a)), abs(float(b)), 1e-9)
    return bool(_fold(a) == _fold(b))


def _groups(field: FieldSpec, values: Sequence[tuple[Any, Candidate]]) -> list[list[Candidate]]:
    groups: list[tuple[Any, list[Candidate]]] = []
    for value, candidate in values:
        for key, members in groups:
            if same(field, key, value):
                members.append(candidate)
                break
        else:
            groups.append((value, [candidate]))
    return [members for _, members in groups]


def aggregate(field: FieldSpec, candidates: Sequence[Candidate], unit: str | None = None) -> Cell:
    """One cell from a field's candidates (see the module)."""
    values = [(coerce(field, c.value, unit), c) for c in candidates]
    present = [(v, c) for v, c in values if v is not None]
    if not present:
        return Cell(candidates=len(candidates), method="none")
    if field.is_list:
        return _gather(field, present, len(candidates))
    groups = _groups(field, present)
    by_value = {id(c): v for v, c in present}
    top = max(len(g) for g in groups)
    best = [g for g in groups if len(g) == top]
    method = "majority"
    if len(best) > 1:  # a tie: verified quotes first
        verified = [g for g in best if any(c.verified for c in g)]
        if len(verified) == 1:
            best, method = verified, "rule"
    if len(best) > 1:
        return Cell(
            pages=sorted({p for g in best for c in g for p in c.pages}),
            agreement=top / len(present),
            conflict=True,
            tied=[by_value[id(g[0])] for g in best],
            candidates=len(candidates),
            non_null=len(present),
            method="none",
        )
    chosen = best[0]
    return Cell(
        value=by_value[id(chosen[0])],
        pages=sorted({p for c in chosen for p in c.pages}),
        agreement=len(chosen) / len(present),
        conflict=len(groups) > 1,
        candidates=len(candidates),
        non_null=len(present),
        verified=any(c.verified for c in chosen),
        method=method,
    )


def _gather(field: FieldSpec, present: Sequence[tuple[Any, Candidate]], total: int) -> Cell:
    counts: Counter[Any] = Counter()
    written: dict[Any, Any] = {}
    for value, _ in present:
        for item in value:
            counts[_fold(item)] += 1
            written.setdefault(_fold(item), item)
    items = list(written.values())
    agreement = sum(counts.values()) / (len(counts) * len(present))
    return Cell(
        value=items,
        pages=sorted({p for _, c in present for p in c.pages}),
        agreement=round(agreement, 4),
        conflict=len({frozenset(map(_fold, v)) for v, _ in present}) > 1,
        candidates=total,
        non_null=len(present),
        verified=any(c.verified for _, c in present),
        method="majority",
    )


def resolve_tie(cell: Cell, choice: Any) -> Cell:
    """``cell`` with the tie settled on ``choice`` (one of :attr:`Cell.tied`)."""
    return cell.model_copy(update={"value": choice, "tied": [], "method": "local"})
