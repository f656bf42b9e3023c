"""Sensitive spans in text, found offline with patterns: who, when, where, which record.

What the leakage meter (:mod:`minions.privacy`) counts and, later, what a shield masks.
No model is downloaded: the recognizers are regular expressions for the kinds a record
or a filing carries —

- ``PERSON``: a name after a title (Dr., Mrs., Mr., Ms., Prof.) or after "patient", and
  then every other mention of a name found so (its surname alone included);
- ``ORG``: capitalised words ending in Hospital, Clinic, Medical Center, Inc and the like;
- ``DATE``: 05/23/1995, 1995-05-23, 23.05.1995, May 23, 1995, 23 May 1995;
- ``ID``: record, patient, account and member numbers (MRN 123456, ID: A-1234567);
- ``PHONE``, ``EMAIL``; ``AMOUNT``: dollar and euro figures;
- ``ADDRESS``: a house number, a street name and a street word (12 Main Street).

:func:`same_value` tells whether two spans of one kind say the same thing however they
are written (a date in another format, a surname for the full name), so a span
re-formatted on its way to the remote is still counted as sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from minions.values import parse_date

Kind = Literal["PERSON", "ORG", "DATE", "ID", "PHONE", "EMAIL", "AMOUNT", "ADDRESS"]
KINDS: tuple[Kind, ...] = ("PERSON", "ORG", "DATE", "ID", "PHONE", "EMAIL", "AMOUNT", "ADDRESS")

_UPPER, _LOWER = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
#: a capitalised word as a name is written (O'Connell, Anne-Marie)
NAME = rf"(?:[{_UPPER}](?:'[{_UPPER}])?[{_LOWER}]+(?:['-][{_UPPER}]?[{_LOWER}]+)*)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_PATTERNS: list[tuple[Kind, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("PHONE", re.compile(r"(?<!\w)(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")),
    (
        "DATE",
        re.compile(
            rf"\b\d{{1,2}}/\d{{1,2}}/\d{{4}}\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}\.\d{{1,2}}\.\d{{4}}\b"
            rf"|\b{_MONTH} \d{{1,2}},? \d{{4}}\b|\b\d{{1,2}} {_MONTH} \d{{4}}\b"
        ),
    ),
    (
        "ID",
        re.compile(
            r"\b(?:MRN|ID|record|patient|account|member|case)(?: (?:no\.?|number|#))?[:# ]\s*"
            r"(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,}\b",
            re.I,
        ),
    ),
    ("AMOUNT", re.compile(r"(?:[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion|[MBK]))?)")),
    (
        "ADDRESS",
        re.compile(
            rf"\b\d{{1,5}} (?:{NAME} ){{1,3}}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|"
            r"Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl)\b\.?"
        ),
    ),
    (
        "ORG",
        re.compile(
            rf"\b(?:{NAME}'?s? |(?:Of|of|&|And|and) ){{0,5}}{NAME}? ?(?:Hospital|Clinic|Medical "
            r"(?:Center|Centre|Ctr)|Medical Ctr|Health(?:care)? (?:System|Center)|Corporation|"
            r"Health Care|Urgent Care|Inc|LLC|Ltd|University)(?: (?:Of|of) (?:" + NAME + r" ?)+)?\b"
        ),
    ),
]
_TITLED = re.compile(
    rf"\b(?:Dr|Mrs|Mr|Ms|Miss|Prof)\.? ((?:{NAME} ){{0,2}}{NAME})|"
    rf"\b[Pp]atients?:? ((?:{NAME} ){{1,2}}{NAME})\b"
)


@dataclass(frozen=True)
class Span:
    """A sensitive span of a text: its kind and where it is."""

    kind: Kind
    start: int
    end: int
    text: str


def find_spans(text: str, names: Iterable[str] = ()) -> list[Span]:
    """The sensitive spans of ``text``, by position; overlapping finds keep the first
    (patterns are tried in the order above, then names). ``names`` are people known
    otherwise (the local model's list, :mod:`minions.pii_names`): their mentions are
    ``PERSON`` spans like those of a titled name."""
    spans: list[Span] = []
    taken: list[tuple[int, int]] = []

    def add(kind: Kind, start: int, end: int) -> None:
        if start < end and not any(s < end and start < e for s, e in taken):
            taken.append((start, end))
            spans.append(Span(kind, start, end, text[start:end]))

    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            add(kind, m.start(), m.end())
    known: set[str] = set()
    for m in _TITLED.finditer(text):
        group = 1 if m.group(1) else 2
        add("PERSON", m.start(group), m.end(group))
        known.add(m.group(group))
    for name in [*known, *names]:
        known |= {name, name.split()[-1]}  # the surname alone too
    for name in sorted(known, key=len, reverse=True):  # every other mention
        for m in re.finditer(rf"\b{re.escape(name)}\b", text):
            add("PERSON", m.start(), m.end())
    return sorted(spans, key=lambda s: s.start)


def normalize(kind: Kind, text: str) -> str:
    """What two spans of ``kind`` that say the same share: a date's ISO form, digits
    alone for numbers, the folded words otherwise."""
    if kind == "DATE" and (value := parse_date(text)) is not None:
        return value.isoformat()
    if kind in ("PHONE", "ID", "AMOUNT"):
        return re.sub(r"\D", "", text)
    return " ".join(re.findall(r"\w+", text.casefold()))


def same_value(kind: Kind, a: str, b: str) -> bool:
    """Whether spans ``a`` and ``b`` of ``kind`` say the same: equal once normalised, or
    for a name, one is the other's surname."""
    x, y = normalize(kind, a), normalize(kind, b)
    if x == y:
        return True
    return kind == "PERSON" and (x.split()[-1:] == y.split() or y.split()[-1:] == x.split())
