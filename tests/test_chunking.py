"""Chunkers: examples, hypothesis property tests of the shared invariants, and every
FinanceBench document."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minions.chunking import (
    CHUNKERS,
    Chunk,
    chunk,
    chunk_by_chars,
    chunk_by_pages,
    chunk_by_paragraphs,
    chunk_by_sections,
    chunk_by_tokens,
)
from minions.documents import Document
from minions.errors import ConfigurationError
from minions.tokens import approx_tokens
from tests.docs_helpers import assert_chunk_invariants, financebench_records, requires_financebench

# -- examples ---------------------------------------------------------------------------


def test_chunk_pages_label() -> None:
    one = Chunk(doc="d", index=0, text="ab", page_start=3, page_end=3, start=0, end=2)
    many = one.model_copy(update={"page_end": 5})
    assert (one.pages, many.pages) == ("p. 3", "pp. 3-5")


def test_chunk_rejects_inconsistent_offsets() -> None:
    with pytest.raises(ValueError, match="len"):
        Chunk(doc="d", index=0, text="abc", page_start=1, page_end=1, start=0, end=2)
    with pytest.raises(ValueError, match="page_end"):
        Chunk(doc="d", index=0, text="ab", page_start=2, page_end=1, start=0, end=2)


def test_chunk_by_pages_groups_pages_and_skips_blank_ones() -> None:
    doc = Document.from_pages(["one", "two", "  ", "four", "five"], name="r.pdf")
    chunks = chunk_by_pages(doc, pages_per_chunk=2)
    assert [(c.text, c.pages) for c in chunks] == [
        ("one\ftwo", "pp. 1-2"),
        ("four", "p. 4"),
        ("five", "p. 5"),
    ]
    assert [c.text for c in chunk_by_pages(doc)] == ["one", "two", "four", "five"]


def test_chunk_by_chars_cuts_between_words_and_overlaps_whole_words() -> None:
    chunks = chunk_by_chars("alpha beta gamma delta epsilon", size=12, overlap=6)
    assert [c.text for c in chunks] == ["alpha beta", "beta gamma", "gamma delta", "epsilon"]
    assert all(c.doc == "text" and c.pages == "p. 1" for c in chunks)


def test_a_word_longer_than_the_size_is_cut() -> None:
    assert [c.text for c in chunk_by_chars("abcdefghij xy", size=4)] == ["abcd", "efgh", "ij", "xy"]


def test_chunk_by_tokens_respects_the_token_estimate() -> None:
    text = "Revenue was $1,234.5 million, up 7% (see Note 3). " * 40
    chunks = chunk_by_tokens(text, size=50, overlap=10)
    assert len(chunks) > 1
    assert all(approx_tokens(c.text) <= 50 for c in chunks)


def test_chunk_by_paragraphs_packs_paragraphs() -> None:
    text = "aaa aaa\n\nbbb\n\nccc ccc ccc\n \nddd\fpage two"
    chunks = chunk_by_paragraphs(text, max_chars=12)
    assert [c.text for c in chunks] == ["aaa aaa\n\nbbb", "ccc ccc ccc", "ddd\fpage two"]


def test_chunk_by_sections_starts_chunks_at_headings() -> None:
    text = (
        "Preamble line.\n# Intro\nSome words.\n```\n# not a heading\n```\n"
        "Setext title\n============\nBody.\nITEM 7. MANAGEMENT'S DISCUSSION\nMore.\n"
        "RISK FACTORS\nRisky."
    )
    starts = [c.text.splitlines()[0] for c in chunk_by_sections(text)]
    assert starts == [
        "Preamble line.",
        "# Intro",
        "Setext title",
        "ITEM 7. MANAGEMENT'S DISCUSSION",
        "RISK FACTORS",
    ]


def test_chunk_by_sections_splits_a_long_section_by_paragraphs() -> None:
    text = "# Title\n\n" + "\n\n".join(["word " * 30] * 4)
    chunks = chunk_by_sections(text, max_chars=200)
    assert len(chunks) == 4 and all(len(c.text) <= 200 for c in chunks)


def test_chunk_dispatches_by_name_with_a_generic_size() -> None:
    doc = Document.from_pages(["a", "b", "c"], name="d")
    assert set(CHUNKERS) == {"pages", "chars", "tokens", "paragraphs", "sections"}
    assert chunk(doc, "pages", size=2) == chunk_by_pages(doc, pages_per_chunk=2)
    assert chunk(doc, "chars", size=3, overlap=1) == chunk_by_chars(doc, 3, 1)
    assert chunk(doc, "sections") == chunk_by_sections(doc)


def test_chunk_rejects_unknown_methods_and_options() -> None:
    with pytest.raises(ConfigurationError, match="choose one of: pages, chars"):
        chunk("x", "sentences")
    with pytest.raises(ConfigurationError, match="its options are: size, overlap"):
        chunk("x", "chars", window=3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: chunk_by_chars("x", size=10, overlap=10), "overlap must be"),
        (lambda: chunk_by_tokens("x", size=5, overlap=-1), "overlap must be"),
        (lambda: chunk_by_chars("x", size=0), "size must be"),
        (lambda: chunk_by_pages("x", pages_per_chunk=0), "pages_per_chunk must be"),
        (lambda: chunk_by_paragraphs("x", max_chars=2.5), "max_chars must be"),
        (lambda: chunk_by_sections(b"x"), "Document or a str"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        call()


def test_blank_documents_have_no_chunks() -> None:
    blank = Document.from_pages(["", " \n "], name="blank")
    assert all(chunk(blank, name) == [] for name in CHUNKERS)


def test_importing_chunking_stays_light() -> None:
    code = (
        "import sys, minions.chunking\n"
        "heavy = {'pypdfium2', 'charset_normalizer', 'bm25s', 'numpy'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- properties -------------------------------------------------------------------------

_words = st.one_of(
    st.text(alphabet="abcxyzÉé0123456789$%,.()-'", min_size=1, max_size=12),
    st.text(alphabet="lonGword", min_size=20, max_size=60),  # longer than small sizes
    st.sampled_from(["# Heading", "ITEM 7.", "RISK FACTORS", "Title\n=====", "```"]),
)
_spaces = st.sampled_from([" ", " ", "\n", "\n\n", " \n \n", "\t", "\u00a0", "\n\n\n"])
_page = st.lists(st.tuples(_words, _spaces), max_size=40).map(
    lambda pairs: "".join(word + space for word, space in pairs)
)
documents = st.one_of(
    st.lists(_page, min_size=1, max_size=6).map(lambda pages: Document.from_pages(pages, name="d")),
    st.text(max_size=300).map(lambda text: Document.from_pages([text], name="d")),  # any text
)


# no deadline: other test runs may share the machine, and these examples are tiny anyway
property_test = settings(deadline=None)


@st.composite
def size_and_overlap(draw: st.DrawFn, largest: int) -> tuple[int, int]:
    size = draw(st.integers(1, largest))
    return size, draw(st.integers(0, size - 1))


@property_test
@given(documents, st.integers(1, 4))
def test_pages_property(doc: Document, pages_per_chunk: int) -> None:
    chunks = chunk_by_pages(doc, pages_per_chunk)
    assert_chunk_invariants(doc, chunks)
    for c in chunks:
        assert (c.page_start - 1) // pages_per_chunk == (c.page_end - 1) // pages_per_chunk
    assert chunks == chunk_by_pages(doc, pages_per_chunk)


@property_test
@given(documents, size_and_overlap(120))
def test_chars_property(doc: Document, sizes: tuple[int, int]) -> None:
    size, overlap = sizes
    chunks = chunk_by_chars(doc, size, overlap)
    assert_chunk_invariants(doc, chunks, size=size, overlap=overlap)
    assert chunks == chunk_by_chars(doc, size, overlap)


@property_test
@given(documents, size_and_overlap(40))
def test_tokens_property(doc: Document, sizes: tuple[int, int]) -> None:
    size, overlap = sizes
    chunks = chunk_by_tokens(doc, size, overlap)
    assert_chunk_invariants(doc, chunks, size=size, measure=approx_tokens, overlap=overlap)
    assert chunks == chunk_by_tokens(doc, size, overlap)


@pytest.mark.parametrize("chunker", [chunk_by_paragraphs, chunk_by_sections])
@property_test
@given(doc=documents, max_chars=st.integers(1, 300))
def test_paragraphs_and_sections_property(chunker, doc: Document, max_chars: int) -> None:
    chunks = chunker(doc, max_chars)
    assert_chunk_invariants(doc, chunks, size=max_chars)
    assert chunks == chunker(doc, max_chars)


@settings(max_examples=30, deadline=None)
@given(documents, st.integers(1, 500), st.integers(1, 500))
def test_overlap_never_exceeds_the_size(doc: Document, a: int, b: int) -> None:
    size, overlap = max(a, b), min(a, b)
    if overlap == size:
        with pytest.raises(ConfigurationError):
            chunk_by_chars(doc, size, overlap)
    else:
        assert_chunk_invariants(doc, chunk_by_chars(doc, size, overlap), size=size, overlap=overlap)


# -- every FinanceBench document --------------------------------------------------------


@requires_financebench
def test_every_financebench_document_is_covered_by_the_chunkers() -> None:
    """The issue's "Shown by": each of the 74 documents (34 M characters), as
    Document.from_pages, through the chunkers, with the chunks (minus overlap) equal to
    the pages. To keep this to seconds the cheap chunkers (pages, chars, paragraphs)
    run on every document and the slower ones (tokens, sections: about 2 s each over
    the whole set) on a seeded sample of 8."""
    records = list(financebench_records())
    assert len(records) == 74
    sample = {r["doc_name"] for r in random.Random(3).sample(records, 8)}
    for record in records:
        doc = Document.from_pages(record["pages"], name=record["doc_name"])
        assert doc.pages == record["pages"]
        assert_chunk_invariants(doc, chunk_by_pages(doc, pages_per_chunk=3))
        assert_chunk_invariants(doc, chunk_by_chars(doc, 4000, 400), size=4000, overlap=400)
        assert_chunk_invariants(doc, chunk_by_paragraphs(doc, 3000), size=3000)
        if doc.name in sample:
            tokens = chunk_by_tokens(doc, 1000, 100)
            assert_chunk_invariants(doc, tokens, size=1000, measure=approx_tokens, overlap=100)
            assert_chunk_invariants(doc, chunk_by_sections(doc, 8000), size=8000)


def test_a_registered_chunker_reaches_chunk_the_prompt_and_the_sandbox(monkeypatch):
    from minions import spans
    from minions.chunking import describe_chunkers

    def line_spans(text: str, lines_per_chunk: int = 1) -> list[spans.Span]:
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        return [(s, s + len(text[s:].split("\n")[0])) for s in starts[::lines_per_chunk]]

    monkeypatch.setitem(
        spans.CHUNKERS, "lines", spans.Chunker("lines", "lines", line_spans, "one line a chunk")
    )
    assert [c.text for c in chunk("a\nb", "lines")] == ["a", "b"]
    assert "- chunk_by_lines(chunk, lines_per_chunk=1): one line a chunk" in describe_chunkers()


def test_the_sandbox_helpers_are_made_from_the_registry():
    from minions import sandbox
    from minions.chunking import CHUNKERS

    code = (
        "def f(chunks, previous_jobs):\n"
        "    c = chunks[0]\n"
        "    return [[len(p.text) for p in h(c)] for h in "
        "[chunk_by_pages, chunk_by_chars, chunk_by_tokens, chunk_by_paragraphs, "
        "chunk_by_sections]]\n"
    )
    text = "First page text here.\fSecond page.\n\nWith a paragraph."
    piece = {"id": 0, "doc": "d", "page_start": 1, "page_end": 2, "text": text}
    piece.update(start=0, end=len(text))
    lengths = sandbox.run(code, "f", {"chunks": [piece]}, helpers="minions.protocols.sandbox_scope")
    expected = [[e - s for s, e in c.cut(text)] for c in CHUNKERS.values()]
    assert lengths == expected
    assert lengths[0] == [21, 31]
