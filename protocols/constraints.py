"""What a question constrains, kept in every job's task.

The remote rewrites the user's question into short tasks for the local model, and in
doing so often drops what the question pins down: the options of a multiple-choice
question, the date or fiscal year, the unit. A job asked "Which medication was prescribed?"
without the five options, or "What was capex?" without the year, answers a different
question. :func:`constraints_of` reads those terms from the question once;
:func:`missing_terms` gives the ones a task left out, which the job prompt then states,
whether the plan came as code or as JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPTION = re.compile(r"^\s*\(?([A-J])[.)]\s+(\S.*?)\s*$", re.M)
_DATE = re.compile(
    r"\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|"
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4}\b"
)
_YEAR = re.compile(r"\b(?:FY\s?'?)?((?:19|20)\d{2})\b|\bFY\s?'?(\d{2})\b", re.I)
_UNIT = re.compile(
    r"\b(?:(?:USD|US\$|U\.S\. dollars|dollars|EUR|euros?)\s+(?:in\s+)?)?"
    r"(?:thousands|millions|billions)\b|\bpercent(?:age)?s?\b|%|\bbasis points\b",
    re.I,
)


@dataclass(frozen=True)
class Constraints:
    """The terms of a question that every task about it must keep."""

    options: tuple[str, ...] = ()  # "A. text", in order
    dates: tuple[str, ...] = ()  # as the question writes them
    years: tuple[str, ...] = ()  # four digits, or FY and two digits
    units: tuple[str, ...] = ()


def constraints_of(question: str) -> Constraints:
    """The options (two or more lettered lines), dates, years (outside the dates) and
    units ``question`` names."""
    options = tuple(f"{letter}. {text}" for letter, text in _OPTION.findall(question))
    body = _OPTION.sub("", question) if len(options) >= 2 else question
    dates = tuple(dict.fromkeys(_DATE.findall(body)))
    rest = _DATE.sub(" ", body)
    years = tuple(dict.fromkeys(four or f"FY{two}" for four, two in _YEAR.findall(rest)))
    units = tuple(dict.fromkeys(m.group(0) for m in _UNIT.finditer(rest)))
    return Constraints(
        options=options if len(options) >= 2 else (), dates=dates, years=years, units=units
    )


def missing_terms(task: str, constraints: Constraints) -> list[str]:
    """The constraints ``task`` does not state, as phrases for the job prompt."""
    folded = task.casefold()
    terms = []
    options = constraints.options
    if options and not all(o.split(". ", 1)[1].casefold() in folded for o in options):
        terms.append("the answer is one of these options:\n" + "\n".join(options))
    dates = [d for d in constraints.dates if d.casefold() not in folded]
    if dates:
        terms.append(f"the date{'s' if len(dates) > 1 else ''} asked about: {', '.join(dates)}")
    years = [y for y in constraints.years if y.casefold() not in folded]
    if years:
        terms.append(f"the year{'s' if len(years) > 1 else ''} asked about: {', '.join(years)}")
    units = [u for u in constraints.units if u.casefold() not in folded]
    if units:
        terms.append(f"the unit asked for: {', '.join(units)}")
    return terms
