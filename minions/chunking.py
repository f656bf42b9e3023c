"""Chunkers: split a document into ordered, page-aware chunks.

Every chunker is a pure, deterministic function of a ``Document`` (or a plain ``str``,
taken as a one-page document named "text") and returns ``list[Chunk]``. The chunks
share these invariants, which the tests check:

- ``chunk.text == doc.text[chunk.start:chunk.end]``, never empty, with no leading or
  trailing whitespace;
- chunks come in document order, and everything between them is whitespace, so the
  chunks, minus their overlap, hold every word of the document once;
- a cut never falls inside a word (a run of non-whitespace), unless one word alone
  is longer than the size;
- ``page_start``/``page_end`` are the 1-based pages of the chunk's first and last
  character.

This module is imported inside the sandbox that runs the remote model's code, so it
imports only the standard library, pydantic and light minions modules.
"""

from __future__ import annotations

import inspect
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from minions.documents import Document
from minions.errors import ConfigurationError
from minions.tokens import approx_tokens

__all__ = [
    "CHUNKERS",
    "Chunk",
    "chunk",
    "chunk_by_chars",
    "chunk_by_pages",
    "chunk_by_paragraphs",
    "chunk_by_sections",
    "chunk_by_tokens",
]

Span = tuple[int, int]
Measure = Callable[[str, int, int], int]  # (text, start, end) -> size of text[start:end]

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


class Chunk(BaseModel):
    """A piece of one document, with where it came from so answers can cite it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    doc: str
    index: int = Field(ge=0, description="position in this document's chunking")
    text: str
    page_start: int = Field(ge=1, description="1-based page of the first character")
    page_end: int = Field(ge=1, description="1-based page of the last character")
    start: int = Field(ge=0, description="offset of the first character in Document.text")
    end: int = Field(ge=0, description="offset after the last character in Document.text")

    @model_validator(mode="after")
    def _consistent(self) -> Chunk:
        if self.end - self.start != len(self.text):
            raise ValueError("end - start must equal len(text)")
        if self.page_end < self.page_start:
            raise ValueError("page_end must not come before page_start")
        return self

    @property
    def pages(self) -> str:
        """``"p. 3"`` or ``"pp. 3-5"``, for citations."""
        if self.page_start == self.page_end:
            return f"p. {self.page_start}"
        return f"pp. {self.page_start}-{self.page_end}"


def chunk_by_pages(doc: Document | str, pages_per_chunk: int = 1) -> list[Chunk]:
    """``pages_per_chunk`` pages a chunk; pages with no text make no chunk."""
    doc = _as_document(doc)
    _check_positive("pages_per_chunk", pages_per_chunk)
    starts = doc.page_offsets[::pages_per_chunk]
    ends = [*starts[1:], len(doc.text)]
    return _chunks(doc, zip(starts, ends, strict=True))


def chunk_by_chars(doc: Document | str, size: int = 4000, overlap: int = 0) -> list[Chunk]:
    """Chunks of at most ``size`` characters; each repeats up to ``overlap`` characters
    (whole words) of the one before."""
    doc = _as_document(doc)
    _check_overlap(size, overlap)
    return _chunks(doc, _windows(doc.text, 0, len(doc.text), size, overlap, _char_count, 1))


def chunk_by_tokens(doc: Document | str, size: int = 1000, overlap: int = 0) -> list[Chunk]:
    """Chunks of at most ``size`` tokens by ``minions.tokens.approx_tokens`` (no
    tokenizer); each repeats up to ``overlap`` tokens (whole words) of the one before."""
    doc = _as_document(doc)
    _check_overlap(size, overlap)
    # approx_tokens counts at least characters / 4, so `size` tokens span <= 4 * size chars
    return _chunks(doc, _windows(doc.text, 0, len(doc.text), size, overlap, _token_count, 4))


def chunk_by_paragraphs(doc: Document | str, max_chars: int = 4000) -> list[Chunk]:
    """Consecutive paragraphs (split at blank lines and page breaks) packed into chunks
    of at most ``max_chars``; a longer paragraph is split like ``chunk_by_chars``."""
    doc = _as_document(doc)
    _check_positive("max_chars", max_chars)
    text = doc.text
    return _chunks(doc, _pack(text, _paragraphs(text, 0, len(text)), max_chars))


def chunk_by_sections(doc: Document | str, max_chars: int = 8000) -> list[Chunk]:
    """One chunk a section, each starting at a heading: a Markdown heading, a numbered
    part of a report ("PART II", "Item 7.") or a short line in capitals. A section
    longer than ``max_chars`` is split like ``chunk_by_paragraphs``."""
    doc = _as_document(doc)
    _check_positive("max_chars", max_chars)
    text = doc.text
    spans: list[Span] = []
    for start, end in _sections(text):
        if end - start <= max_chars:
            spans.append((start, end))
        else:
            spans.extend(_pack(text, _paragraphs(text, start, end), max_chars))
    return _chunks(doc, spans)


CHUNKERS: dict[str, Callable[..., list[Chunk]]] = {
    "pages": chunk_by_pages,
    "chars": chunk_by_chars,
    "tokens": chunk_by_tokens,
    "paragraphs": chunk_by_paragraphs,
    "sections": chunk_by_sections,
}


def chunk(
    doc: Document | str, method: str = "pages", *, size: int | None = None, **options: Any
) -> list[Chunk]:
    """Chunk with the chunker registered as ``method`` in ``CHUNKERS``.

    ``size`` sets the chunker's first option, whatever its name (pages_per_chunk,
    size or max_chars), so a config can say ``chunking="pages", chunk_size=2``.
    """
    chunker = CHUNKERS.get(method)
    if chunker is None:
        raise ConfigurationError(
            f"Unknown chunking method {method!r}; choose one of: {', '.join(CHUNKERS)}"
        )
    parameters = list(inspect.signature(chunker).parameters)[1:]
    if size is not None:
        options[parameters[0]] = size
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ConfigurationError(
            f"Chunking method {method!r} has no option {', '.join(unknown)}; "
            f"its options are: {', '.join(parameters)}"
        )
    return chunker(doc, **options)


# helpers ------------------------------------------------------------------------------


def _as_document(doc: Document | str) -> Document:
    if isinstance(doc, Document):
        return doc
    if isinstance(doc, str):
        return Document.from_pages([doc], name="text")
    raise ConfigurationError(f"Chunkers take a Document or a str, not {type(doc).__name__}")


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a whole number of at least 1, got {value!r}")


def _check_overlap(size: int, overlap: int) -> None:
    _check_positive("size", size)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ConfigurationError(
            f"overlap must be a whole number from 0 to size - 1 ({size - 1}), got {overlap!r}; "
            "lower the overlap or raise the size"
        )


def _chunks(doc: Document, spans: Iterable[Span]) -> list[Chunk]:
    """Chunks for the non-blank spans, trimmed of whitespace, numbered in order."""
    text, offsets = doc.text, doc.page_offsets
    chunks: list[Chunk] = []
    for span in spans:
        trimmed = _trim(text, *span)
        if trimmed is None:
            continue
        start, end = trimmed
        chunks.append(
            Chunk(
                doc=doc.name,
                index=len(chunks),
                text=text[start:end],
                page_start=bisect_right(offsets, start),
                page_end=bisect_right(offsets, end - 1),
                start=start,
                end=end,
            )
        )
    return chunks


def _trim(text: str, start: int, end: int) -> Span | None:
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
        span = _trim(text, pos, cut)
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
        trimmed = _trim(text, *span)
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
