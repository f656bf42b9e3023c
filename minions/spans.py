"""Where chunkers cut: pure functions from text to ``(start, end)`` spans.

Every function here takes the text of a document (pages joined by ``\f``) and returns
the spans of its chunks in order, trimmed of whitespace and never blank; the chunkers of
:mod:`minions.chunking` turn them into ``Chunk`` objects. This module imports only the
standard library and :mod:`minions.tokens`, because the sandbox child compiles it from
source, in its own restricted world, for the helpers the remote's code calls.
"""

from __future__ import annotations

import re
from bisect import bisect_right

# typing, not collections.abc: the sandbox child allows typing and no submodules
from typing import Callable, Iterable, Iterator, NamedTuple  # noqa: UP035

from minions.tokens import approx_tokens

Span = tuple[int, int]
Measure = Callable[[str, int, int], int]  # (text, start, end) -> size of text[start:end]

PAGE_BREAK = "\f"
Cut = Callable[..., list[Span]]  # (text, size-like option, ...) -> spans


class Chunker(NamedTuple):
    """A registered way to cut text: its ``name`` in configs and prompts, the ``unit``
    its first option (the size) counts, the function, and a line for listings."""

    name: str
    unit: str
    cut: Cut
    description: str


#: Every chunker by name. The chunkers of :mod:`minions.chunking`, the MinionS
#: ``chunking`` option, the sandbox helpers ``chunk_by_<name>`` and the prompt text
#: that lists them are all made from this; adding a chunker is one function here and
#: its ``@chunker`` line.
CHUNKERS: dict[str, Chunker] = {}


def chunker(name: str, unit: str, description: str) -> Callable[[Cut], Cut]:
    """Register the decorated function as the chunker ``name``."""

    def register(cut: Cut) -> Cut:
        CHUNKERS[name] = Chunker(name, unit, cut, description)
        return cut

    return register


_NON_SPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s")
_WORD_START = re.compile(r"(?<!\S)\S")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\f")  # a blank line or a page break
# A heading line: Markdown (# Title), a numbered part of a report (PART II, Item 7.,
# Chapter 3, Section 2, Article IV), or a short line in capitals. Lines start after
# \n or \f (a page may open with a heading).
_HEADING = re.compile(
    r"""(?:\A|[\n\f])(?P<line>
        [ ]{0,3}\#{1,6}(?:[ \t][^\n\f]*)?
      | [ \t]*(?:PART|Part|ITEM|Item|CHAPTER|Chapter|SECTION|Section|ARTICLE|Article)
        [ \t]+[0-9IVXLC]+[A-Z]?\b[^\n\f]{0,80}
      | [ \t]*[A-Z][A-Z&',:()/ \t-]{2,78}[A-Z)]
    )[ \t]*(?![^\n\f])""",
    re.X,
)
# The underline of a Markdown heading written as a line over === or ---.
_UNDERLINE = re.compile(r"\n {0,3}(?:=+|-+)[ \t]*(?![^\n\f])")
_CODE_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.M | re.S)


def page_offsets(text: str) -> list[int]:
    """Where each page starts in ``text``."""
    return [0] + [i + 1 for i, c in enumerate(text) if c == PAGE_BREAK]


def page_of(offsets: list[int], at: int) -> int:
    """The 1-based page of the character at offset ``at``."""
    return bisect_right(offsets, at)


@chunker("pages", "pages", "whole pages, pages_per_chunk of them a chunk")
def page_spans(text: str, pages_per_chunk: int = 1) -> list[Span]:
    """``pages_per_chunk`` pages a chunk; pages with no text make no chunk."""
    check_positive("pages_per_chunk", pages_per_chunk)
    starts = page_offsets(text)[::pages_per_chunk]
    ends = [*starts[1:], len(text)]
    return _trimmed(text, zip(starts, ends, strict=True))


@chunker("chars", "characters", "at most size characters, cut between words")
def char_spans(text: str, size: int = 4000, overlap: int = 0) -> list[Span]:
    """Chunks of at most ``size`` characters; each repeats up to ``overlap`` characters
    (whole words) of the one before."""
    check_overlap(size, overlap)
    return _trimmed(text, _windows(text, 0, len(text), size, overlap, _char_count, 1))


@chunker("tokens", "tokens", "at most size tokens (approximate), cut between words")
def token_spans(text: str, size: int = 1000, overlap: int = 0) -> list[Span]:
    """Chunks of at most ``size`` tokens by ``approx_tokens``; each repeats up to
    ``overlap`` tokens (whole words) of the one before."""
    check_overlap(size, overlap)
    # approx_tokens counts at least characters / 4, so `size` tokens span <= 4 * size chars
    return _trimmed(text, _windows(text, 0, len(text), size, overlap, _token_count, 4))


@chunker("paragraphs", "characters", "paragraphs packed into at most max_chars")
def paragraph_spans(text: str, max_chars: int = 4000) -> list[Span]:
    """Consecutive paragraphs (split at blank lines and page breaks) packed into chunks
    of at most ``max_chars``; a longer paragraph is split like ``char_spans``."""
    check_positive("max_chars", max_chars)
    return _trimmed(text, _pack(text, _paragraphs(text, 0, len(text)), max_chars))


@chunker("sections", "characters", "one section (heading to heading), at most max_chars")
def section_spans(text: str, max_chars: int = 8000) -> list[Span]:
    """One chunk a section, each starting at a heading: a Markdown heading, a numbered
    part of a report ("PART II", "Item 7.") or a short line in capitals. A section
    longer than ``max_chars`` is split like ``paragraph_spans``."""
    check_positive("max_chars", max_chars)
    spans: list[Span] = []
    for start, end in _sections(text):
        if end - start <= max_chars:
            spans.append((start, end))
        else:
            spans.extend(_pack(text, _paragraphs(text, start, end), max_chars))
    return _trimmed(text, spans)


def _trimmed(text: str, spans: Iterable[Span]) -> list[Span]:
    """The spans without leading and trailing whitespace, blank ones left out."""
    return [span for span in (trim(text, *s) for s in spans) if span is not None]


def check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")


def check_overlap(size: int, overlap: int) -> None:
    check_positive("size", size)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ValueError(
            f"overlap must be a whole number from 0 to size - 1 ({size - 1}), got {overlap!r}; "
            "lower the overlap or raise the size"
        )


def trim(text: str, start: int, end: int) -> Span | None:
    """``(start, end)`` without leading and trailing whitespace; None if blank."""
    first = _NON_SPACE.search(text, start, end)
    if first is None:
        return None
    return first.start(), first.start() + len(text[first.start() : end].rstrip())


def _char_count(text: str, start: int, end: int) -> int:
    return end - start


def _token_count(text: str, start: int, end: int) -> int:
    return approx_tokens(text[start:end])


def _fit(
    text: str, anchor: int, length: int, budget: int, measure: Measure, *, backward: bool = False
) -> int:
    """A length n <= ``length`` such that ``text[anchor:anchor + n]`` (or, backward,
    ``text[anchor - n:anchor]``) measures at most ``budget``. It shrinks in proportion,
    which is exact for character counts and close for token counts; the measure must
    grow with the length and never exceed it."""
    while length > 0:
        span = (anchor - length, anchor) if backward else (anchor, anchor + length)
        size = measure(text, *span)
        if size <= budget:
            break
        length = min(length - 1, length * budget // size)
    return length


def _boundary(text: str, low: int, high: int) -> int | None:
    """The last cut in ``(low, high]`` that is not inside a word, or None."""
    for cut in range(high, low, -1):
        if text[cut].isspace() or text[cut - 1].isspace():
            return cut
    return None


def _windows(
    text: str, start: int, end: int, size: int, overlap: int, measure: Measure, max_chars: int
) -> Iterator[Span]:
    """Spans of ``text[start:end]`` measuring at most ``size``, cut between words, each
    starting so that it repeats at most ``overlap`` of the one before.

    ``max_chars`` is how many characters one unit of the measure can span at most.
    """
    first = _NON_SPACE.search(text, start, end)
    pos = first.start() if first else end
    covered = pos  # end of the previous span
    while pos < end:
        limit = pos + _fit(text, pos, min(size * max_chars, end - pos), size, measure)
        fresh = max(pos, _skip_space(text, covered, end))  # first character not yet covered
        cut = end if limit >= end else _boundary(text, fresh, limit)
        if cut is None and pos < fresh:
            pos = fresh  # the overlap leaves no room for the next word: drop the overlap
            continue
        if cut is None:  # the word at pos runs past the limit: keep it whole if it fits
            space = _SPACE.search(text, pos, end)
            word_end = space.start() if space else end
            cut = word_end if measure(text, pos, word_end) <= size else limit
        span = trim(text, pos, cut)
        if span is None:  # pragma: no cover - pos is always at a non-space character
            break
        yield span
        covered = span[1]
        pos = _skip_space(text, cut, end)
        if overlap and pos < end:
            longest = min(overlap * max_chars, covered - span[0] - 1)
            back = _fit(text, covered, longest, overlap, measure, backward=True)
            word = _WORD_START.search(text, covered - back, end)
            if word and span[0] < word.start() < pos:
                pos = word.start()


def _skip_space(text: str, start: int, end: int) -> int:
    found = _NON_SPACE.search(text, start, end)
    return found.start() if found else end


def _paragraphs(text: str, start: int, end: int) -> Iterator[Span]:
    """The pieces of ``text[start:end]`` between blank lines and page breaks."""
    for found in _PARAGRAPH_BREAK.finditer(text, start, end):
        yield start, found.start()
        start = found.end()
    yield start, end


def _pack(text: str, spans: Iterable[Span], max_chars: int) -> Iterator[Span]:
    """Consecutive spans joined while they fit in ``max_chars``; a span longer than
    that alone is split between words."""
    group: Span | None = None
    for span in spans:
        trimmed = trim(text, *span)
        if trimmed is None:
            continue
        start, end = trimmed
        if group is not None and end - group[0] <= max_chars:
            group = (group[0], end)
            continue
        if group is not None:
            yield group
        group = None
        if end - start <= max_chars:
            group = (start, end)
        else:
            yield from _windows(text, start, end, max_chars, 0, _char_count, 1)
    if group is not None:
        yield group


def _sections(text: str) -> Iterator[Span]:
    """Spans from one heading to the next (the text before the first is one too)."""
    has_fences = "```" in text or "~~~" in text
    fences = [found.span() for found in _CODE_FENCE.finditer(text)] if has_fences else []
    headings = {found.start("line") for found in _HEADING.finditer(text)}
    for underline in _UNDERLINE.finditer(text):
        title_end = underline.start()
        title_start = max(text.rfind("\n", 0, title_end), text.rfind("\f", 0, title_end)) + 1
        if text[title_start:title_end].strip():
            headings.add(title_start)
    starts = [0]
    for at in sorted(headings):
        if at > 0 and not any(a <= at < b for a, b in fences):
            starts.append(at)
    yield from zip(starts, [*starts[1:], len(text)], strict=True)
