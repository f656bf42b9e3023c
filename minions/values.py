"""Values read from text: figures with their scale words, and calendar dates.

One reading of "1,234.5 million", "(12)" or "07/19/1961" for the whole package: the
eval scorers, the privacy recognizers and the extraction rules all use these.
"""

from __future__ import annotations

import re
from datetime import date
from typing import NamedTuple

__all__ = ["MONTHS", "SCALES", "Figure", "figures", "parse_date", "scale_of"]

MONTHS = (  # English, whatever the locale
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
)  # fmt: skip
SCALES = {
    "thousand": 1e3, "k": 1e3,
    "million": 1e6, "mn": 1e6, "mm": 1e6, "m": 1e6,
    "billion": 1e9, "bn": 1e9, "b": 1e9,
    "trillion": 1e12, "tn": 1e12,
}  # fmt: skip
_FIGURE = re.compile(
    r"""(?<![\w.,)])
    (?P<open>\(\s*)?
    (?P<sign>[-\u2212\u2013]\s?)?
    (?P<currency>\$|US\$|USD\s?)?\s?
    (?P<sign2>[-\u2212\u2013])?
    (?<![\w.])(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    (?:\s?(?P<percent>%|percent\b|per\s?cent\b)
      |\s?(?P<scale>thousand|million|billion|trillion|mn|mm|bn|tn|k|m|b)\b)?
    (?P<close>\s*\))?""",
    re.X | re.I,
)


class Figure(NamedTuple):
    """A number read from text: its value with sign, scale factor, whether it is a
    percentage, its decimals, and the text it was read from."""

    value: float
    scale: float
    percent: bool
    decimals: int
    text: str


def figures(text: str) -> list[Figure]:
    """Every number in ``text``, years and numbers inside words left out."""
    found = []
    for match in _FIGURE.finditer(text):
        digits = match["digits"]
        bare = not (match["currency"] or match["percent"] or match["scale"] or match["sign"])
        if bare and re.fullmatch(r"(19|20)\d\d|2100", digits):
            continue  # a year
        negative = bool(match["sign"] or match["sign2"] or (match["open"] and match["close"]))
        value = float(digits.replace(",", ""))
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        scale = SCALES[match["scale"].lower()] if match["scale"] else 1.0
        found.append(
            Figure(
                -value if negative else value,
                scale,
                bool(match["percent"]),
                decimals,
                match[0].strip(),
            )
        )
    return found


def parse_date(text: str) -> date | None:
    """The calendar date ``text`` writes (``07/19/1961`` in US order, ``1961-07-19``,
    ``19.07.1961``, ``July 19, 1961``, ``19 Jul 1961``), or None when it writes none."""
    t = text.strip().rstrip(".")
    try:
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", t):  # US order, as the data
            return date(int(m[3]), int(m[1]), int(m[2]))
        if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", t):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", t):
            return date(int(m[3]), int(m[2]), int(m[1]))
        words = re.findall(r"[A-Za-z]+|\d+", t)
        named, day = (words[0], words[1]) if words[0].isalpha() else (words[1], words[0])
        return date(int(words[2]), MONTHS.index(named[:3].lower()) + 1, int(day))
    except (ValueError, IndexError):
        return None


_UNIT_SCALE = re.compile(r"\b(thousand|million|billion|trillion)s?\b", re.I)


def scale_of(unit: str) -> float:
    """The scale a unit names: 1e6 for "USD millions", 1 for "mg/dL"."""
    match = _UNIT_SCALE.search(unit)
    return SCALES[match[1].lower()] if match else 1.0
