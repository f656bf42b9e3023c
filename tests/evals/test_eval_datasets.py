"""Dataset loaders on the shared data (FinanceBench, medical records QA) and the QASPER
fixture: counts, contexts, seeded determinism, selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_helpers import FINANCEBENCH, MEDICAL, QASPER_FIXTURE, needs_financebench, needs_medical

from minions.errors import ConfigurationError
from minions.evals.datasets import (
    ChoiceGold,
    Entry,
    FinanceGold,
    ReferenceGold,
    financebench,
    load_examples,
    longhealth,
    parse_context,
    select_ids,
)
from minions.tokens import approx_tokens

# --- FinanceBench ----------------------------------------------------------------------


@needs_financebench
def test_financebench_catalog_has_every_question() -> None:
    entries = financebench.catalog(FINANCEBENCH)
    assert len(entries) == 87
    assert entries[0].id == "financebench_id_00005"
    assert sum(e.metadata["question_type"] == "metrics-generated" for e in entries) == 30


@needs_financebench
def test_financebench_pages_keeps_the_evidence_in_document_order() -> None:
    examples = load_examples("financebench", context="pages:6", limit=25)
    assert len(examples) == 25
    for example in examples:
        meta = example.metadata
        kept, evidence = meta["kept_pages"], meta["evidence_pages"]
        assert set(evidence) <= set(kept)
        assert kept == sorted(kept)
        assert len(kept) == max(6, len(evidence))
        (doc,) = example.documents
        assert doc.name == meta["doc_name"]
        assert len(doc.pages) == len(kept)
        assert isinstance(example.gold, FinanceGold)
        assert example.context.startswith(f"pages:6 of {meta['doc_name']}")


@needs_financebench
def test_financebench_pages_are_the_filing_pages_named_in_the_metadata() -> None:
    (example,) = load_examples("financebench", context="pages:4", ids=["financebench_id_03029"])
    record = next(
        json.loads(line)
        for line in (FINANCEBENCH / "questions.jsonl").read_text().splitlines()
        if "financebench_id_03029" in line
    )
    (full,) = load_examples("financebench", context="full", ids=["financebench_id_03029"])
    kept = example.metadata["kept_pages"]
    for page, number in zip(example.documents[0].pages, kept, strict=True):
        assert page == full.documents[0].pages[number - 1]  # 1-based PDF page numbers
    evidence = record["evidence"][0]["evidence_page_num"]
    assert example.metadata["evidence_pages"] == [evidence + 1]
    assert f"{evidence + 1}*" in example.context
    assert example.gold.text == "$1577.00"


@needs_financebench
def test_financebench_distractors_are_seeded() -> None:
    def kept(seed: int) -> list[list[int]]:
        examples = load_examples("financebench", context="pages:8", limit=10, seed=seed)
        return [e.metadata["kept_pages"] for e in examples]

    assert kept(0) == kept(0)
    assert kept(0) != kept(1)


@needs_financebench
def test_financebench_full_is_the_whole_filing() -> None:
    (example,) = load_examples("financebench", context="full", ids=["financebench_id_03029"])
    assert example.metadata["kept_pages"] is None
    assert len(example.documents[0].pages) == example.metadata["document_pages"]
    assert example.context.startswith("full: 3M_2018_10K")


@needs_financebench
def test_financebench_where_and_sample() -> None:
    metrics = load_examples(
        "financebench", context="pages:2", where={"question_type": "metrics-generated"}, sample=5
    )
    assert len(metrics) == 5
    assert {e.metadata["question_type"] for e in metrics} == {"metrics-generated"}
    again = load_examples(
        "financebench", context="pages:2", where={"question_type": "metrics-generated"}, sample=5
    )
    assert [e.id for e in again] == [e.id for e in metrics]


def _fake_pdf(pages: list[str]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


QUESTION = {
    "financebench_id": "financebench_id_00001",
    "company": "Acme",
    "doc_name": "ACME_2023_10K",
    "question_type": "metrics-generated",
    "question_reasoning": "",
    "question": "What is Acme's FY2023 revenue (in USD millions)?",
    "answer": "$4200.00",
    "evidence": [{"evidence_text": "Revenue", "doc_name": "ACME_2023_10K", "evidence_page_num": 2}],
}


def _github_layout(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    (root / "pdfs").mkdir()
    missing = {**QUESTION, "financebench_id": "financebench_id_00002", "doc_name": "GONE_2020_10K"}
    lines = [json.dumps(QUESTION), json.dumps(missing)]
    (root / "data" / "financebench_open_source.jsonl").write_text("\n".join(lines) + "\n")
    pages = ["Cover page", "Letter to shareholders", "Revenue was $4,200 million.", "Auditor"]
    (root / "pdfs" / "ACME_2023_10K.pdf").write_bytes(_fake_pdf(pages))


def test_financebench_reads_the_github_layout(tmp_path: Path) -> None:
    _github_layout(tmp_path)
    (example,) = load_examples("financebench", data=tmp_path, context="pages:2", seed=3)
    assert example.id == "financebench_id_00001"  # the question whose PDF is missing is left out
    assert 3 in example.metadata["kept_pages"]
    assert any("Revenue was $4,200 million." in page for page in example.documents[0].pages)


def test_financebench_download_fetches_the_questions_and_pdfs(tmp_path: Path) -> None:
    source = tmp_path / "source"
    _github_layout(source)
    fetched: list[str] = []

    def fetch(url: str, destination: Path) -> None:
        fetched.append(url)
        path = url.split(financebench.GITHUB_COMMIT + "/", 1)[1]
        if not (source / path).exists():
            raise OSError("404 Not Found")
        destination.write_bytes((source / path).read_bytes())

    target = financebench.download(tmp_path / "cache", fetch=fetch)
    assert (target / "pdfs" / "ACME_2023_10K.pdf").exists()
    assert not (target / "pdfs" / "GONE_2020_10K.pdf").exists()
    assert all(url.startswith("https://raw.githubusercontent.com/patronus-ai/") for url in fetched)
    assert len(financebench.catalog(target)) == 1
    fetched.clear()
    financebench.download(tmp_path / "cache", fetch=fetch)
    assert fetched == [financebench._github_url("pdfs/GONE_2020_10K.pdf")]  # only the missing


def test_financebench_evidence_outside_the_filing_is_an_error(tmp_path: Path) -> None:
    _github_layout(tmp_path)
    record = {**QUESTION, "evidence": [{**QUESTION["evidence"][0], "evidence_page_num": 40}]}  # type: ignore[dict-item]
    (tmp_path / "data" / "financebench_open_source.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(ConfigurationError, match="outside"):
        load_examples("financebench", data=tmp_path, context="pages:2")


def test_a_missing_dataset_path_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--data"):
        load_examples("financebench", data=tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="--data"):
        load_examples("qasper")


# --- LongHealth ------------------------------------------------------------------------


@needs_medical
def test_longhealth_catalog_and_ids() -> None:
    entries = longhealth.catalog(MEDICAL)
    assert len(entries) == 246
    assert entries[0].id == "patient_01/q1"
    assert len({e.metadata["patient"] for e in entries}) == 14


@needs_medical
def test_longhealth_question_lists_the_options_and_asks_for_letter_and_text() -> None:
    (example,) = load_examples("longhealth", ids=["patient_01/q1"])
    assert isinstance(example.gold, ChoiceGold)
    for letter, text in example.gold.options.items():
        assert f"\n{letter}. {text}" in example.question
    assert "letter" in example.question and "text" in example.question
    assert example.gold.correct == "B" and example.gold.text == "B. 164 mg/dL"


@needs_medical
def test_longhealth_full_context_is_every_text_of_the_patient_in_order() -> None:
    record = json.loads(MEDICAL.read_text())["patient_01"]
    (example,) = load_examples("longhealth", ids=["patient_01/q2"])
    texts = [record["texts"][f"text_{i}"] for i in range(len(record["texts"]))]
    assert example.documents[0].pages == texts
    assert example.metadata["kept_texts"][10] == "patient_01/text_10"


@needs_medical
def test_longhealth_texts_n_keeps_the_best_ranked_texts_in_record_order() -> None:
    examples = load_examples("longhealth", context="texts:3", limit=6)
    for example in examples:
        kept = example.metadata["kept_texts"]
        assert len(kept) == 3 == len(example.documents[0].pages)
        numbers = [int(k.rsplit("_", 1)[1]) for k in kept]
        assert numbers == sorted(numbers)
        assert all(k.startswith(example.metadata["patient"]) for k in kept)
        assert example.context.startswith("texts:3: 3 texts of patient_01")
    # the latest triglycerides value is in a text that mentions triglycerides
    assert any("Triglycerides" in page for page in examples[0].documents[0].pages)


@needs_medical
def test_longhealth_tokens_n_stays_within_the_budget() -> None:
    for example in load_examples("longhealth", context="tokens:1500", limit=5):
        assert sum(approx_tokens(p) for p in example.documents[0].pages) <= 1500


@needs_medical
def test_longhealth_distractors_mix_other_patients_up_to_the_budget() -> None:
    def load(seed: int) -> list[str]:
        (example,) = load_examples(
            "longhealth", context="distractors:30000", ids=["patient_02/q1"], seed=seed
        )
        assert sum(approx_tokens(p) for p in example.documents[0].pages) <= 30000
        return list(example.metadata["kept_texts"])

    kept = load(0)
    own = [k for k in kept if k.startswith("patient_02/")]
    record = json.loads(MEDICAL.read_text())["patient_02"]
    assert len(own) == len(record["texts"])
    assert len(kept) > len(own)
    assert load(0) == kept
    assert load(1) != kept


@pytest.mark.parametrize("context", ["pages:3", "texts", "texts:0", "tokens:x", "full:3"])
def test_longhealth_rejects_bad_contexts(context: str) -> None:
    with pytest.raises(ConfigurationError, match="context"):
        parse_context(context, longhealth.CONTEXTS, longhealth.DEFAULT_CONTEXT)


# --- QASPER ----------------------------------------------------------------------------


def test_qasper_reads_the_fixture() -> None:
    examples = load_examples("qasper", data=QASPER_FIXTURE)
    assert [e.id for e in examples] == [
        "1909.00001/q-encoders",
        "1909.00001/q-sst2",
        "1909.00001/q-time",
        "2004.00002/q-count",
    ]  # the question nobody answered is left out
    golds = [e.gold for e in examples]
    assert all(isinstance(g, ReferenceGold) for g in golds)
    assert [g.references for g in golds] == [  # type: ignore[union-attr]
        ["LSTM encoder, CNN encoder", "an LSTM and a CNN"],
        ["Yes"],
        ["Unanswerable"],
        ["10,000 tweets"],
    ]
    paper = examples[0].documents[0]
    assert paper.name == "1909.00001"
    assert paper.pages[0].startswith("Tiny Encoders for Sentiment\n\nAbstract\n")
    assert paper.pages[2].startswith("Experiments\n\nWe train an LSTM encoder")
    assert len(paper.pages) == 4
    assert examples[3].documents[0].pages[-1] == "German tweets are 12% longer on average."


def test_qasper_takes_only_full_context() -> None:
    with pytest.raises(ConfigurationError, match="full"):
        load_examples("qasper", data=QASPER_FIXTURE, context="pages:2")


# --- selection -------------------------------------------------------------------------

ENTRIES = [Entry(id=f"e{i}", metadata={"kind": "a" if i % 2 else "b"}) for i in range(10)]


def test_select_ids_keeps_dataset_order() -> None:
    assert select_ids(ENTRIES, ids=["e5", "e1"]) == ["e1", "e5"]
    assert select_ids(ENTRIES, where={"kind": "a"}, limit=2) == ["e1", "e3"]
    sampled = select_ids(ENTRIES, sample=4, seed=7)
    assert sampled == sorted(sampled, key=lambda i: int(i[1:])) and len(sampled) == 4
    assert select_ids(ENTRIES, sample=4, seed=7) == sampled
    assert select_ids(ENTRIES, sample=4, seed=8) != sampled


def test_select_ids_rejects_unknown_ids_and_empty_filters() -> None:
    with pytest.raises(ConfigurationError, match="unknown example ids: nope"):
        select_ids(ENTRIES, ids=["e1", "nope"])
    with pytest.raises(ConfigurationError, match="no example has kind=c"):
        select_ids(ENTRIES, where={"kind": "c"})


def test_unknown_dataset() -> None:
    with pytest.raises(ConfigurationError, match="financebench, longhealth, qasper"):
        load_examples("squad")
