"""BM25 ranking of chunks."""

from __future__ import annotations

import pytest

from minions.chunking import chunk_by_pages
from minions.documents import Document
from minions.errors import ConfigurationError
from minions.retrieval import ScoredChunk, rank_chunks
from tests.docs_helpers import financebench_questions, financebench_records, requires_financebench

PAGES = [
    "The cafeteria menu changes every week and offers soup and salad.",
    "Total revenue for fiscal 2023 was 4.2 billion dollars, up from 3.9 billion.",
    "Employees may park in the north garage; badges are required at the gate.",
    "Revenue recognition follows ASC 606 for contracts with customers.",
]
CHUNKS = chunk_by_pages(Document.from_pages(PAGES, name="report"))


def test_the_chunk_holding_the_answer_ranks_first() -> None:
    ranked = rank_chunks("What was total revenue in fiscal 2023?", CHUNKS, k=2)
    assert [r.chunk.page_start for r in ranked] == [2, 4]
    assert ranked[0].score > ranked[1].score > 0
    assert isinstance(ranked[0], ScoredChunk) and ranked[0].chunk is CHUNKS[1]


def test_k_limits_the_results_and_unmatched_chunks_are_left_out() -> None:
    assert len(rank_chunks("revenue", CHUNKS, k=1)) == 1
    ranked = rank_chunks("revenue", CHUNKS, k=10)
    assert sorted(r.chunk.index for r in ranked) == [1, 3]
    assert ranked[0].score >= ranked[1].score


@pytest.mark.parametrize("query", ["", "the of and", "zeppelin"])
def test_queries_matching_nothing_return_nothing(query: str) -> None:
    assert rank_chunks(query, CHUNKS) == []


def test_no_chunks_or_blank_chunks_return_nothing() -> None:
    assert rank_chunks("revenue", []) == []
    assert rank_chunks("revenue", chunk_by_pages("a . ,")) == []


def test_ranking_is_deterministic_and_ties_keep_chunk_order() -> None:
    same = chunk_by_pages(Document.from_pages(["red apple", "green pear", "red apple"], name="d"))
    ranked = rank_chunks("apple", same, k=5)
    assert [r.chunk.index for r in ranked] == [0, 2]
    assert ranked == rank_chunks("apple", same, k=5)


@pytest.mark.parametrize("k", [0, -1, 2.0, True])
def test_k_must_be_a_positive_whole_number(k: object) -> None:
    with pytest.raises(ConfigurationError, match="k must be"):
        rank_chunks("revenue", CHUNKS, k=k)  # type: ignore[arg-type]


# Questions whose evidence page a plain BM25 query of the question text ranks first
# (checked with this ranking, not hand-tuned): 16 of the 87 questions are.
FINANCEBENCH_QUESTIONS = [
    "financebench_id_00705",  # PepsiCo 8-K: credit agreement increase
    "financebench_id_01163",  # Nike 10-K: cash flow by activity
    "financebench_id_01491",  # J&J 8-K: Kenvue separation proceeds
    "financebench_id_02049",  # JPMorgan 10-Q: VaR
]


@requires_financebench
@pytest.mark.parametrize("question_id", FINANCEBENCH_QUESTIONS)
def test_evidence_page_ranks_first_on_financebench(question_id: str) -> None:
    question = next(q for q in financebench_questions() if q["financebench_id"] == question_id)
    record = next(r for r in financebench_records() if r["doc_name"] == question["doc_name"])
    doc = Document.from_pages(record["pages"], name=record["doc_name"])
    ranked = rank_chunks(question["question"], chunk_by_pages(doc), k=5)
    evidence_pages = {e["evidence_page_num"] + 1 for e in question["evidence"]}  # 0-based
    assert ranked[0].chunk.page_start in evidence_pages
    assert ranked[0].chunk.doc == question["doc_name"]
