"""Check that a quote a local model gave really is in the text it read.

A small model asked for "the exact words from the text" often paraphrases, trims, or
copies a sentence with a different figure. :func:`check_quote` tries, in order:

1. **exact** — the quote is a substring of the text;
2. **normalized** — the same after folding case, Unicode forms (NFKC, curly quotes,
   dashes) and runs of whitespace;
3. **fuzzy** — the most similar part of the text, cut at word boundaries, scores at
   least :data:`FUZZY_THRESHOLD` (rapidfuzz's ``ratio``, 0-100), which forgives a
   dropped word or a typo but not a paraphrase.

Numbers are what matter most in the documents this is for, so a quote verifies only if
every number in it appears in the matched part of the text: a figure changed on the
way (4.3 for 4.2, 2019 for 2018) never verifies, however close the words are. Quotes
shorter than :data:`MIN_QUOTE_CHARS` (after normalizing) never verify: "the" is in every
text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from minions.types import QuoteCheck, QuotedPassage

if TYPE_CHECKING:
    from minions.documents import Document

FUZZY_THRESHOLD = 90.0
MIN_QUOTE_CHARS = 8

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# curly quotes and dashes as their ASCII forms
_FOLD = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)
_QUOTE_MARKS = "\"'\u2018\u2019\u201c\u201d"


UNVERIFIED = QuoteCheck(verified=False, method="none")
#: a passage between double quotes (straight or curly) in a free-text reply
_QUOTED = re.compile(
    rf'"([^"\n]{{{MIN_QUOTE_CHARS},600}})"|\u201c([^\u201d\n]{{{MIN_QUOTE_CHARS},600}})\u201d'
)


def check_quote(quote: str | None, text: str) -> QuoteCheck:
    """Find ``quote`` in ``text`` exactly, normalized, or fuzzily (see the module)."""
    if not quote:
        return UNVERIFIED
    quote = quote.strip().strip(_QUOTE_MARKS).strip()
    folded_quote, _ = _normalize(quote)
    if len(folded_quote) < MIN_QUOTE_CHARS:
        return UNVERIFIED
    at = text.find(quote)
    if at >= 0:
        return QuoteCheck(verified=True, method="exact", score=100.0, start=at, end=at + len(quote))
    folded_text, positions = _normalize(text)
    at = folded_text.find(folded_quote)
    if at >= 0:
        start, end = positions[at], positions[at + len(folded_quote) - 1] + 1
        return QuoteCheck(verified=True, method="normalized", score=100.0, start=start, end=end)
    span = _best_span(folded_quote, folded_text)
    if span is None:
        return UNVERIFIED
    score, (low, high) = span
    start, end = positions[low], positions[high - 1] + 1
    verified = score >= FUZZY_THRESHOLD and _numbers_kept(folded_quote, folded_text[low:high])
    return QuoteCheck(
        verified=verified, method="fuzzy" if verified else "none", score=score, start=start, end=end
    )


def states_answer(answer: str | None, quote: str | None) -> bool | None:
    """Whether ``quote`` states one of the figures of ``answer``: the same digits, in
    the same or another thousands scale ("$1.6 billion" states 1,600 and "1,600
    million"; sign and currency aside). ``None`` when the answer has no figure (a name,
    a letter, a year), so there is nothing to check."""
    from minions.values import figures

    wanted = figures(answer or "")
    if not wanted:
        return None
    stated = figures(quote or "")

    def same(a: float, b: float) -> bool:
        return any(
            abs(abs(a) - abs(b) * 1000.0**k) <= 1e-9 * max(abs(a), 1.0) for k in range(-3, 4)
        )

    return any(same(a.value, q.value) for a in wanted for q in stated)


def quotes_in(reply: str) -> list[str]:
    """The passages a free-text reply quotes between double quotes, in order, each
    once; shorter ones than a quote can verify with are left out."""
    found = (a or b for a, b in _QUOTED.findall(reply))
    return list(dict.fromkeys(q.strip() for q in found if q.strip()))


def locate_quote(quote: str, documents: Sequence[Document]) -> QuotedPassage:
    """Where ``quote`` is in ``documents``: the first page that verifies it (exact or
    normalized before fuzzy, by :func:`check_quote`), else the best unverified try."""
    best: QuotedPassage | None = None
    for doc in documents:
        for number, text in enumerate(doc.pages, 1):
            check = check_quote(quote, text)
            if check.verified and check.method != "fuzzy":
                return QuotedPassage(text=quote, doc=doc.name, page=number, check=check)
            if best is None or (check.verified, check.score) > (best.verified, best.check.score):
                best = QuotedPassage(text=quote, doc=doc.name, page=number, check=check)
    if best is None or not best.verified:
        return QuotedPassage(text=quote, check=UNVERIFIED)
    return best


def _best_span(quote: str, text: str) -> tuple[float, tuple[int, int]] | None:
    """The part of ``text`` (cut at word boundaries) most like ``quote``, and its
    similarity (rapidfuzz ``ratio``, 0-100). ``partial_ratio`` finds where to look;
    the ends are then moved word by word, so a dropped or added word costs only its
    own length."""
    found = fuzz.partial_ratio_alignment(quote, text, score_cutoff=FUZZY_THRESHOLD - 20)
    if found is None:
        return None
    slack = max(12, len(quote) // 4)
    low, high = max(0, found.dest_start - slack), min(len(text), found.dest_end + slack)
    starts = [i for i in range(low, high) if i == 0 or text[i - 1] == " "]
    ends = [i for i in range(low + 1, high + 1) if i == len(text) or text[i] == " "]
    best: tuple[float, tuple[int, int]] | None = None
    for start in starts:
        for end in ends:
            if end - start < len(quote) // 2 or end - start > 2 * len(quote):
                continue
            score = fuzz.ratio(quote, text[start:end])
            if best is None or score > best[0]:
                best = (score, (start, end))
    return best


def _normalize(text: str) -> tuple[str, list[int]]:
    """``text`` folded (NFKC, case, quotes and dashes, one space for any whitespace run)
    and, for each folded character, the offset of the character it came from."""
    out: list[str] = []
    positions: list[int] = []
    in_space = False
    for index, char in enumerate(text):
        folded = unicodedata.normalize("NFKC", char).translate(_FOLD).casefold()
        for piece in folded:
            if piece.isspace():
                if in_space or not out:
                    continue
                piece, in_space = " ", True
            else:
                in_space = False
            out.append(piece)
            positions.append(index)
    while out and out[-1] == " ":
        out.pop()
        positions.pop()
    return "".join(out), positions


def _numbers_kept(quote: str, span: str) -> bool:
    """Every number of the quote is in the span, as often (1,577 and 1577 are one)."""
    wanted = Counter(n.replace(",", "") for n in _NUMBER.findall(quote))
    present = Counter(n.replace(",", "") for n in _NUMBER.findall(span))
    return all(present[n] >= count for n, count in wanted.items())
