"""The gold tables for measuring extraction, and the report that scores runs on them.

The gold tests read the project's copies of the data (../shared/data) and skip when
they are absent; the report tests build their run folders by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from eval_helpers import MEDICAL, needs_financebench, needs_medical

from minions.batch_rows import BatchRow
from minions.evals import extract_gold, extract_report
from minions.evals.datasets import longhealth
from minions.evals.extract_gold import GoldSet, financebench_gold, medical_gold, read_gold
from minions.extract import ExtractRow, PlanFile
from minions.extract_fields import parse_field
from minions.extract_plan import ExtractionPlan
from minions.types import Usage
from minions.values import figures


@pytest.fixture(scope="module")
def medical() -> GoldSet:
    if not MEDICAL.exists():
        pytest.skip(f"the medical records QA copy is not at {MEDICAL}")
    return medical_gold()


def _cells(gold: GoldSet, field: str) -> dict[str, Any]:
    return {c.id: c for c in gold.cells if c.field == field}


@needs_medical
def test_medical_gold_has_one_document_per_patient_and_the_same_fields(medical: GoldSet) -> None:
    assert [d.id for d in medical.documents] == [f"patient_{n:02d}" for n in range(1, 15)]
    assert [f.name for f in medical.fields] == [
        "birth_date",
        "diagnosis_date",
        "latest_lab",
        "medications_on_date",
    ]
    assert medical.skipped == []
    assert len(medical.cells) == 14 * 4
    for spec in medical.fields:
        for document in medical.documents:
            assert set(spec.placeholders()) <= set(document.metadata)
            described = spec.describe(document.metadata)
            assert all(str(document.metadata[k]) in described for k in spec.placeholders())


@needs_medical
def test_medical_gold_agrees_with_the_records_and_their_letters(medical: GoldSet) -> None:
    benchmark = longhealth._benchmark(MEDICAL.resolve())
    documents = {d.id: d for d in medical.documents}
    for patient, cell in _cells(medical, "birth_date").items():
        assert cell.gold == benchmark[patient]["birthday"]
    for patient, cell in _cells(medical, "diagnosis_date").items():
        year, month, day = cell.gold.split("-")
        condition = documents[patient].metadata["condition"]
        letters = "\n".join(documents[patient].pages)
        assert f"- {condition} (diagnosed {month}/{day}/{year}" in letters
        assert (
            f"- {condition} (diagnosed {month}/{day}/{year}"
            in documents[patient].pages[cell.pages[0] - 1]
        )
    for patient, cell in _cells(medical, "medications_on_date").items():
        visit = documents[patient].metadata["visit_date"]
        question = next(
            q
            for q in benchmark[patient]["questions"]
            if q["kind"] == "extraction/medication_on_date" and visit in q["question"]
        )
        assert question["correct"] in cell.gold
        for page in cell.pages:
            assert f"Date: {visit}" in documents[patient].pages[page - 1]
    for patient, cell in _cells(medical, "latest_lab").items():
        metadata = documents[patient].metadata
        line = f"- {metadata['lab']}: "
        page = documents[patient].pages[cell.pages[0] - 1]
        assert line in page
        assert not any(line in later for later in documents[patient].pages[cell.pages[0] :])
        assert isinstance(cell.gold, float)


@needs_medical
def test_medication_names_drop_the_bracket_of_indication_and_dosage(medical: GoldSet) -> None:
    patient_04 = _cells(medical, "medications_on_date")["patient_04"].gold
    assert "Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet" in patient_04
    assert not any("(" in name for name in patient_04)


@needs_medical
def test_the_command_writes_the_four_files_and_patients_keeps_the_first(tmp_path: Path) -> None:
    extract_gold.main("medical", tmp_path, patients=5)
    fields, documents, cells = read_gold(tmp_path)
    assert [d.id for d in documents] == [f"patient_{n:02d}" for n in range(1, 6)]
    assert len(cells) == 20
    lines = (tmp_path / "fields.txt").read_text().splitlines()
    assert [parse_field(line) for line in lines] == fields
    asked = [
        json.loads(x) for x in (tmp_path / "manifest_questions.jsonl").read_text().splitlines()
    ]
    first = asked[0]["questions"]
    assert [q["id"] for q in first] == [f.name for f in fields]
    assert documents[0].metadata["condition"] in first[1]["question"]
    assert first[0]["question"].startswith("What is the patient's date of birth?")
    # the batch manifest reads as one
    from minions.batch_inputs import read_manifest

    assert [d.id for d in read_manifest(tmp_path / "manifest_questions.jsonl")] == [
        d.id for d in documents
    ]
    assert read_manifest(tmp_path / "manifest.jsonl")[0].questions == []


@needs_financebench
def test_financebench_gold_is_about_ten_line_item_figures() -> None:
    gold = financebench_gold()
    assert 8 <= len(gold.cells) <= 12
    assert all(isinstance(c.gold, float) and c.gold > 0 for c in gold.cells)
    assert len({c.id for c in gold.cells}) == len(gold.documents)
    by_id = {c.id: c for c in gold.cells}
    assert by_id["3M_2018_10K"].gold == 1577.0
    assert by_id["PEPSICO_2021_10K"].gold == 4600.0  # $4.60 billion
    assert [s.id for s in gold.skipped] == ["AMERICANWATERWORKS_2020_10K"]
    for document in gold.documents:
        assert re.fullmatch(r"FY\d{4}", document.metadata["fiscal_year"])
        assert len(document.pages) == len(document.metadata["source_pages"]) <= 5
        for spec in gold.fields:
            assert "USD millions" in spec.describe(document.metadata)
    for cell in gold.cells:
        document = next(d for d in gold.documents if d.id == cell.id)
        shown = [abs(f.value) for p in cell.pages for f in figures(document.pages[p - 1])]
        # in millions or thousands, within 1% ($4.60 billion is 4,625 million)
        assert any(abs(v / d - cell.gold) <= 0.01 * cell.gold for v in shown for d in (1, 1000))


# --- the report -------------------------------------------------------------------------


def _gold_folder(tmp_path: Path) -> Path:
    fields = [
        parse_field("birth_date:date:the patient's date of birth"),
        parse_field("capex:number:capital expenditure in {fiscal_year}, in USD millions"),
        parse_field("meds:list[str]:the medications prescribed on {visit_date}"),
    ]
    documents = [
        extract_gold.GoldDocument(
            id=f"d{i}",
            pages=["page one", "page two"],
            metadata={"fiscal_year": "FY2018", "visit_date": "x"},
        )
        for i in (1, 2)
    ]
    cells = [
        extract_gold.GoldCell(id="d1", field="birth_date", gold="1967-05-29", how="t", pages=[1]),
        extract_gold.GoldCell(id="d1", field="capex", gold=1577.0, how="t", pages=[2]),
        extract_gold.GoldCell(
            id="d2", field="meds", gold=["Simvistatin 10 MG", "Aspirin"], how="t"
        ),
    ]
    folder = tmp_path / "gold"
    GoldSet(fields=fields, documents=documents, cells=cells).write(folder)
    return folder


def _extract_run(folder: Path, rows: list[ExtractRow], remote: Usage, usd: float | None) -> Path:
    folder.mkdir()
    (folder / "results.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in rows))
    plan = PlanFile(plan=ExtractionPlan(fields=[]), usage={"remote": remote}, remote_usd=usd)
    (folder / "plan.json").write_text(plan.model_dump_json())
    return folder


def _row(doc: str, values: dict[str, Any], pages: dict[str, list[int]]) -> ExtractRow:
    return ExtractRow(
        id=doc,
        settings_hash="abc",
        status="answered",
        values=values,
        pages=pages,
        agreement={k: 1.0 for k in values},
        usage={"local": Usage(input_tokens=1000, output_tokens=50, calls=4)},
        wall_s=2.5,
    )


def test_the_report_scores_one_right_and_one_wrong_cell_as_half(tmp_path: Path) -> None:
    gold = _gold_folder(tmp_path)
    run = _extract_run(
        tmp_path / "run",
        [_row("d1", {"birth_date": "1967-05-29", "capex": 1620.0}, {"birth_date": [2]})],
        Usage(input_tokens=800, output_tokens=300, calls=1),
        0.01,
    )
    report = extract_report.build_report(gold, [run])
    (score,) = report.runs
    assert [c.correct for c in score.cells] == [True, False]  # 1620 is 2.7% off 1577
    assert score.accuracy == 0.5
    assert score.ci is not None and score.ci[0] <= 0.5 <= score.ci[1]
    assert score.cited == 0.0  # the birth date was cited on page 2, the gold says page 1
    assert score.run.remote.input_tokens == 800 and score.run.local.input_tokens == 1000
    markdown = extract_report.render_markdown(report)
    assert "50.0%" in markdown and "(1/2)" in markdown and "$0.0100" in markdown
    assert "d1 / `capex`: gold 1577.0; got 1620.0" in markdown


def test_a_list_cell_needs_every_item_and_recall_gives_partial_credit(tmp_path: Path) -> None:
    gold = _gold_folder(tmp_path)
    exact = _extract_run(
        tmp_path / "exact",
        [_row("d2", {"meds": ["simvistatin 10 mg.", " Aspirin"]}, {})],
        Usage(),
        None,
    )
    partial = _extract_run(
        tmp_path / "partial",
        [_row("d2", {"meds": ["Simvistatin 10 MG (daily)", "Ibuprofen"]}, {})],
        Usage(),
        None,
    )
    report = extract_report.build_report(gold, [exact, partial])
    first, second = report.runs
    assert first.accuracy == 1.0 and first.list_recall == 1.0
    assert second.accuracy == 0.0 and second.list_recall == 0.5


def test_number_and_date_values_are_compared_as_values() -> None:
    date = parse_field("x:date:a date")
    number = parse_field("y:number:a figure in USD millions")
    assert extract_report.score_value(date, "2012-07-02", "07/02/2012")[0]
    assert not extract_report.score_value(date, "2012-07-02", "2012-07-03")[0]
    assert extract_report.score_value(number, 4600.0, 4625.0)[0]  # 0.5% off
    assert not extract_report.score_value(number, 400.0, 389.0)[0]
    assert not extract_report.score_value(number, 164.0, None)[0]


def _batch_folder(folder: Path, answers: dict[tuple[str, str], str]) -> Path:
    folder.mkdir()
    rows = [
        BatchRow(
            doc_id=doc,
            question_id=field,
            protocol="minions",
            settings_hash="abc",
            question="?",
            answer=text,
            status="answered",
            usage={"remote": Usage(input_tokens=500, output_tokens=20, calls=1)},
            remote_usd=0.002,
            remote_only_usd=0.02,
            wall_s=3.0,
            local_model="l",
            remote_model="r",
        )
        for (doc, field), text in answers.items()
    ]
    (folder / "results.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in rows))
    return folder


def test_batch_answers_are_read_from_their_text(tmp_path: Path) -> None:
    gold = _gold_folder(tmp_path)
    batch = _batch_folder(
        tmp_path / "batch",
        {
            ("d1", "birth_date"): "The patient was born on May 29, 1967.",
            ("d1", "capex"): "Capital expenditure was $1,577 million.",
            ("d2", "meds"): "- Simvistatin 10 MG\n- Aspirin",
        },
    )
    run = _extract_run(tmp_path / "run", [_row("d1", {}, {})], Usage(), None)
    report = extract_report.build_report(gold, [run], [batch])
    extract, asked = report.runs
    assert [c.correct for c in asked.cells] == [True, True, True]
    assert asked.run.remote.input_tokens == 1500 and asked.run.remote_usd == pytest.approx(0.006)
    assert extract.accuracy == 0.0  # a document without values is wrong on its cells
    markdown = extract_report.render_markdown(report)
    assert "Remote tokens against documents" in markdown  # 1 and 2 documents
    assert "$0.0600" in markdown  # the batch's remote-only counterfactual


def test_a_run_served_from_the_response_cache_reports_what_the_work_costs(tmp_path: Path) -> None:
    """A rerun's plan came from the cache: its tokens and dollars still count."""
    from minions.extract import ExtractSettings
    from minions.pricing import price
    from minions.rowstore import RUN_INFO, RunInfo

    gold = _gold_folder(tmp_path)
    cached = Usage(calls=1, cache_hits=1, cache_hit_input_tokens=800, cache_hit_output_tokens=300)
    run = _extract_run(
        tmp_path / "run", [_row("d1", {"birth_date": "1967-05-29"}, {})], cached, 0.0
    )
    settings = ExtractSettings(
        fields=[], local="scripted:l", remote="scripted:r", price_as="openai:gpt-4o"
    )
    info = RunInfo[ExtractSettings](settings=settings, created_at="2026-12-02T00:00:00+00:00")
    (run / RUN_INFO).write_text(info.model_dump_json())
    (score,) = extract_report.build_report(gold, [run]).runs
    assert score.run.remote.input_tokens == 800 and score.run.remote.output_tokens == 300
    expected = price(Usage(input_tokens=800, output_tokens=300, calls=1), "openai:gpt-4o").usd
    assert expected and score.run.remote_usd == pytest.approx(expected)


def test_a_partial_batch_is_scored_on_what_it_asked_and_paired_on_the_same_cells(
    tmp_path: Path,
) -> None:
    gold = _gold_folder(tmp_path)
    batch = _batch_folder(  # still running: d1's capex not asked yet
        tmp_path / "batch", {("d1", "birth_date"): "Born 1967-05-29.", ("d2", "meds"): "none"}
    )
    run = _extract_run(
        tmp_path / "run",
        [
            _row("d1", {"birth_date": "1967-05-29", "capex": 1577.0}, {}),
            _row("d2", {"meds": ["Simvistatin 10 MG", "Aspirin"]}, {}),
        ],
        Usage(input_tokens=800, output_tokens=300, calls=1),
        0.03,
    )
    report = extract_report.build_report(gold, [run], [batch])
    extract, asked = report.runs
    assert [(c.field, c.correct) for c in asked.cells] == [("birth_date", True), ("meds", False)]
    assert len(extract.cells) == 3 and extract.accuracy == 1.0
    (line,) = [x for x in extract_report.same_cells_lines(report) if "`" in x]
    cells = [c.strip() for c in line.strip("|").split("|")]
    # on the two shared cells: extract 2 right, batch 1; $0.03 over 3 cells, $0.004 over 2
    assert cells[2:8] == ["2", "100.0% (2)", "50.0% (1)", cells[5], "$0.0100", "$0.0020"]
    assert cells[5] == "+50.0 pts (+0.0 to +100.0 pts)"


def test_the_synthesis_table_counts_what_the_functions_answered(tmp_path: Path) -> None:
    from minions.extract import ExtractSettings
    from minions.extract_values import Cell
    from minions.rowstore import RunInfo

    gold = _gold_folder(tmp_path)
    values = {"birth_date": "1967-05-29", "capex": 1577.0}
    plain = _extract_run(tmp_path / "plain", [_row("d1", values, {})], Usage(), None)
    synth_row = _row("d1", {**values, "capex": 1600.0}, {}).model_copy(
        update={
            "cells": {"birth_date": Cell(method="function"), "capex": Cell(method="function")},
            "local_calls_saved": 6,
            "usage": {"local": Usage(input_tokens=400, output_tokens=20, calls=1)},
        }
    )
    synth = _extract_run(tmp_path / "synth", [synth_row], Usage(), None)
    settings = ExtractSettings(fields=[], local="l", remote="r", synthesize=True)
    info = RunInfo[ExtractSettings](settings=settings, created_at="now")
    (synth / "run.json").write_text(info.model_dump_json())
    report = extract_report.build_report(gold, [plain, synth])
    (line,) = [x for x in extract_report.synthesis_lines(report) if "synth`" in x]
    cells = [c.strip() for c in line.strip("|").split("|")]
    # both cells by functions, one right (1600 is 1.5% off 1577); plain had both right
    assert cells[1:] == ["1", "2/2 (100.0%)", "1/1", "1/2", "2/2", "6", "420", "1,050 (-60.0%)"]
