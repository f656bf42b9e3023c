"""Shared helpers for the document, chunking and retrieval tests."""

from __future__ import annotations

import gzip
import io
import json
from bisect import bisect_right
from collections.abc import Callable, Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

import pytest

from minions.chunking import Chunk
from minions.documents import PAGE_BREAK, Document

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FINANCEBENCH = SHARED / "data" / "financebench"

requires_financebench = pytest.mark.skipif(
    not (FINANCEBENCH / "documents.jsonl.gz").is_file(),
    reason=f"FinanceBench data not found at {FINANCEBENCH} (the shared data folder is absent)",
)


def financebench_records() -> Iterator[dict[str, Any]]:
    """The documents of documents.jsonl.gz, one dict each (doc_name, pages, ...)."""
    with gzip.open(FINANCEBENCH / "documents.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def financebench_questions() -> list[dict[str, Any]]:
    with open(FINANCEBENCH / "questions.jsonl", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def pdf_bytes(pages: list[str | None]) -> bytes:
    """A PDF with one page per entry: text, or None for a page holding only an image."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if text is None:
            pdf.image(Image.new("RGB", (120, 80), (200, 40, 40)), x=20, y=20, w=80)
        else:
            pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, user_password: str = "") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def page_ends(doc: Document) -> list[int]:
    """Where each page of doc.text ends, its page break included."""
    return list(accumulate(len(page) + len(PAGE_BREAK) for page in doc.pages))


def inside_word(text: str, cut: int) -> bool:
    return 0 < cut < len(text) and not text[cut - 1].isspace() and not text[cut].isspace()


def word_around(text: str, cut: int) -> str:
    """The run of non-whitespace that a cut falls inside."""
    start, end = cut, cut
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end]


def assert_chunk_invariants(
    doc: Document,
    chunks: list[Chunk],
    *,
    size: int | None = None,
    measure: Callable[[str], int] = len,
    overlap: int = 0,
    check_pages: bool = True,
) -> None:
    """What every chunker promises (see minions/chunking.py): offsets and text agree,
    order, coverage of every word once (minus overlap), size and overlap limits, cuts
    between words, correct page spans."""
    text, ends = doc.text, page_ends(doc)
    covered = 0  # end of the previous chunk
    previous_start = -1
    rebuilt: list[str] = []  # the blank gaps, and each chunk minus its overlap
    for i, c in enumerate(chunks):
        assert (c.doc, c.index) == (doc.name, i)
        assert c.text == text[c.start : c.end]
        assert c.text and c.text == c.text.strip()
        assert c.start > previous_start and c.end > covered, "chunks must move forward"
        if c.start >= covered:
            gap = text[covered : c.start]
            assert not gap.strip(), "text between chunks must be blank"
            rebuilt += [gap, c.text]
        else:
            assert overlap, "chunks overlap though no overlap was asked for"
            assert measure(text[c.start : covered]) <= overlap
            rebuilt.append(text[covered : c.end])
        if size is not None:
            assert measure(c.text) <= size
            for cut in (c.start, c.end):
                if inside_word(text, cut):
                    assert measure(word_around(text, cut)) > size, "cut inside a word"
        if check_pages:
            pages = (bisect_right(ends, c.start) + 1, bisect_right(ends, c.end - 1) + 1)
            assert (c.page_start, c.page_end) == pages
        previous_start, covered = c.start, c.end
    assert not text[covered:].strip(), "text after the last chunk must be blank"
    rebuilt.append(text[covered:])
    assert "".join(rebuilt) == text
