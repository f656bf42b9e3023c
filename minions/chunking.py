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

Where the chunkers cut is decided by :mod:`minions.spans` (pure functions of the text),
which the sandbox child also compiles for the helpers the remote's code calls.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from minions import spans
from minions.documents import Document
from minions.errors import ConfigurationError

__all__ = [
    "CHUNKERS",
    "Chunk",
    "chunk",
    "chunk_by_chars",
    "chunk_by_pages",
    "chunk_by_paragraphs",
    "chunk_by_sections",
    "chunk_by_tokens",
    "chunker_options",
    "describe_chunkers",
]


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
    return _chunks(doc, spans.page_spans, pages_per_chunk=pages_per_chunk)


def chunk_by_chars(doc: Document | str, size: int = 4000, overlap: int = 0) -> list[Chunk]:
    """Chunks of at most ``size`` characters; each repeats up to ``overlap`` characters
    (whole words) of the one before."""
    return _chunks(doc, spans.char_spans, size=size, overlap=overlap)


def chunk_by_tokens(doc: Document | str, size: int = 1000, overlap: int = 0) -> list[Chunk]:
    """Chunks of at most ``size`` tokens by ``minions.tokens.approx_tokens`` (no
    tokenizer); each repeats up to ``overlap`` tokens (whole words) of the one before."""
    return _chunks(doc, spans.token_spans, size=size, overlap=overlap)


def chunk_by_paragraphs(doc: Document | str, max_chars: int = 4000) -> list[Chunk]:
    """Consecutive paragraphs (split at blank lines and page breaks) packed into chunks
    of at most ``max_chars``; a longer paragraph is split like ``chunk_by_chars``."""
    return _chunks(doc, spans.paragraph_spans, max_chars=max_chars)


def chunk_by_sections(doc: Document | str, max_chars: int = 8000) -> list[Chunk]:
    """One chunk a section, each starting at a heading: a Markdown heading, a numbered
    part of a report ("PART II", "Item 7.") or a short line in capitals. A section
    longer than ``max_chars`` is split like ``chunk_by_paragraphs``."""
    return _chunks(doc, spans.section_spans, max_chars=max_chars)


#: The chunker registry (:data:`minions.spans.CHUNKERS`): name, unit, function, description.
CHUNKERS = spans.CHUNKERS


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
    parameters = chunker_options(method)
    if size is not None:
        options[parameters[0]] = size
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ConfigurationError(
            f"Chunking method {method!r} has no option {', '.join(unknown)}; "
            f"its options are: {', '.join(parameters)}"
        )
    return _chunks(doc, chunker.cut, **options)


def chunker_options(method: str) -> list[str]:
    """The options of a registered chunker, its size first (``["size", "overlap"]``)."""
    return list(inspect.signature(CHUNKERS[method].cut).parameters)[1:]


def describe_chunkers() -> str:
    """One line per chunker for prompts: the sandbox helper, its options with their
    defaults, and what it does."""
    lines = []
    for name, c in CHUNKERS.items():
        parameters = list(inspect.signature(c.cut).parameters.values())[1:]
        options = ", ".join(f"{p.name}={p.default!r}" for p in parameters)
        lines.append(f"- chunk_by_{name}(chunk, {options}): {c.description}")
    return "\n".join(lines)


# helpers ------------------------------------------------------------------------------


def _as_document(doc: Document | str) -> Document:
    if isinstance(doc, Document):
        return doc
    if isinstance(doc, str):
        return Document.from_pages([doc], name="text")
    raise ConfigurationError(f"Chunkers take a Document or a str, not {type(doc).__name__}")


def _chunks(
    doc: Document | str, cut: Callable[..., list[spans.Span]], **options: Any
) -> list[Chunk]:
    """Chunks for the spans ``cut`` finds in the document's text, numbered in order."""
    doc = _as_document(doc)
    text = doc.text
    try:
        found = cut(text, **options)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    offsets = doc.page_offsets
    return [
        Chunk(
            doc=doc.name,
            index=index,
            text=text[start:end],
            page_start=spans.page_of(offsets, start),
            page_end=spans.page_of(offsets, end - 1),
            start=start,
            end=end,
        )
        for index, (start, end) in enumerate(found)
    ]
