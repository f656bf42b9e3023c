"""Sensitive spans found offline (minions.pii), and their recall and precision on the
medical set against a gold list built from the records' structure."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from minions.documents import Document
from minions.evals.datasets.longhealth import sensitive_gold
from minions.pii import find_spans, normalize, same_value
from minions.privacy import Meter
from minions.types import Message

MEDICAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "medical" / "records_qa.json"
log = logging.getLogger(__name__)

LETTER = (
    "Mercy Medical Ctr\nDate: 02/05/2014\n\nWe report on our patient Lina Caballero, born "
    "on 07/19/1961, MRN: 00482913, phone (617) 555-0134, lina@example.org, living at "
    "12 Elm Street. Invoice $1,250.00.\n\nKind regards,\nDr. Kara O'Connell"
)


def kinds(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in find_spans(text)]


def test_each_kind_is_found_where_a_letter_puts_it():
    assert kinds(LETTER) == [
        ("ORG", "Mercy Medical Ctr"),
        ("DATE", "02/05/2014"),
        ("PERSON", "Lina Caballero"),
        ("DATE", "07/19/1961"),
        ("ID", "MRN: 00482913"),
        ("PHONE", "(617) 555-0134"),
        ("EMAIL", "lina@example.org"),
        ("ADDRESS", "12 Elm Street."),
        ("AMOUNT", "$1,250.00"),
        ("PERSON", "Kara O'Connell"),
    ]
    # a name found once is found again, the surname alone too
    assert ("PERSON", "Caballero") in kinds("Our patient Lina Caballero. Later Caballero said.")


def test_a_value_written_another_way_is_the_same_value():
    assert same_value("DATE", "07/19/1961", "1961-07-19")
    assert same_value("DATE", "July 19, 1961", "19 Jul 1961")
    assert not same_value("DATE", "07/19/1961", "07/19/1962")
    assert same_value("PERSON", "Lina Caballero", "Caballero")
    assert same_value("PHONE", "(617) 555-0134", "617.555.0134")
    assert normalize("DATE", "13/45/2020") == "13 45 2020"  # not a date: its words


def test_the_meter_counts_a_reformatted_birth_date_and_a_bare_surname_as_sent():
    meter = Meter([Document.from_pages([LETTER], name="letter")])
    call = meter.measure(
        [Message.user("Is 1961-07-19 the birth date? Ask Caballero's doctor at the hospital.")],
        "question",
        1,
    )
    assert call.sensitive_sent == {"DATE": 1, "PERSON": 1}
    run = meter.privacy()
    assert run.sensitive["DATE"].found == 2 and run.sensitive["DATE"].sent == 1
    assert run.sensitive["PERSON"].found == 2 and run.sensitive["PERSON"].sent == 1
    assert run.sensitive["ID"].sent == 0


def _gold(record: dict, text: str) -> set[tuple[str, int, int]]:
    """Where the gold values (:func:`sensitive_gold`) sit in ``text``."""
    return {
        (kind, m.start(), m.end())
        for kind, value in sensitive_gold(record, text)
        for m in re.finditer(re.escape(value), text)
    }


@pytest.mark.skipif(not MEDICAL.exists(), reason=f"needs the shared medical set at {MEDICAL}")
def test_recall_and_precision_on_the_medical_gold_list():
    """Recall must stay at 95% or more: every gold span sits where a generic pattern
    (a title or "patient" before a name, an institution word, a numeric date) finds it,
    so a miss is a pattern that broke. Precision is lower by design: the letters' other
    dates (diagnoses, prescriptions) and departments ("Outpatient Clinic") are found
    and are sensitive too, but are not on the gold list."""
    records = json.loads(MEDICAL.read_text())
    gold = found = hits = kept = 0
    for record in records.values():
        for text in record["texts"].values():
            truth, spans = _gold(record, text), find_spans(text)

            def overlaps(kind: str, start: int, end: int, spans=spans) -> bool:
                return any(s.kind == kind and s.start < end and start < s.end for s in spans)

            gold += len(truth)
            hits += sum(overlaps(*t) for t in truth)
            found += len(spans)
            kept += sum(
                any(k == s.kind and a < s.end and s.start < b for k, a, b in truth) for s in spans
            )
    recall, precision = hits / gold, kept / found
    log.warning("medical gold: %d spans, recall %.3f, precision %.3f", gold, recall, precision)
    assert gold > 5000
    assert recall >= 0.95
    assert precision >= 0.5
