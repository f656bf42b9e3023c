"""Gold tables for measuring ``minions extract``: documents, fields and gold cells.

``python -m minions.evals.extract_gold medical|financebench --out DIR`` writes into DIR:

- ``manifest.jsonl``: the documents in the manifest format of ``minions batch``
  (:mod:`minions.batch_inputs`), ``{"id", "pages", "metadata"}`` a line;
- ``manifest_questions.jsonl``: the same documents, each with ``questions``, one per
  field (id = the field's name, the question = the field's description filled from the
  document's metadata, asking for the value alone), to run the same cells through
  ``minions batch`` for comparison;
- ``fields.txt``: one field a line, ``name:type:description``
  (:func:`minions.extract_fields.parse_field`); a description names per-document values
  as ``{key}``, every such key being in every document's metadata, so the field set is
  the same for all documents;
- ``gold.jsonl``: one gold cell a line, ``{"id", "field", "gold", "how", "pages"}``
  (``pages``: the document pages, 1-based, that state the value; empty when every page
  does). Values are typed as the extractor writes them: dates ISO, numbers, lists.

Every gold value is built mechanically from the data; the cells a rule could not back
are left out and listed (logged, and printed by the command).

**medical** (``../shared/data/medical/records_qa.json``, LongHealth layout): one
document per patient, id ``patient_NN``, its pages the patient's letters in record
order (page k is ``text_{k-1}``). Fields:

- ``birth_date``: the record's ``birthday``;
- ``diagnosis_date``: from the patient's first ``extraction/diagnosis_date`` question:
  the condition quoted in it (metadata ``condition``) and its ``correct`` option as an
  ISO date, kept when it is the earliest "(diagnosed MM/DD/YYYY)" date the letters give
  that condition;
- ``latest_lab``: from the first ``extraction/latest_lab_value`` question: the test
  quoted in it (``lab``), the number of its ``correct`` option and the unit
  (``lab_unit``), kept when it is the value of that test in the last letter that
  reports the test;
- ``medications_on_date``: from the ``extraction/medication_on_date`` question whose
  day has the most prescriptions (the first of equals; most days have one): its date
  (``visit_date``, as the letters write it) and, as gold, every medication in the
  "Medication prescribed at this visit" sections of the letters dated that day (names
  without the bracket of indication and dosage), kept when the question's ``correct``
  option is among them.

A patient without a question of a kind has no gold cell for that field (its metadata
key is empty), which the command lists; none of the 14 lacks one. ``--patients N``
keeps the first N patients (by key).

**financebench** (``../shared/data/financebench``): the metrics-generated questions
whose reasoning is "Information extraction" (ratios, margins, growth rates and sums of
items are "Numerical reasoning" and are not taken), whose justification names a metric
of :data:`LINE_ITEMS` ("The metric capital expenditures was directly extracted ...")
and whose gold is one figure in USD millions or billions. One document per filing, id
its ``doc_name``, its pages the evidence pages and two pages either side (metadata
``source_pages``, 1-based PDF pages, and ``evidence_pages``). A field per line item,
with the fiscal year in metadata (``fiscal_year``, e.g. ``FY2018``); gold in USD
millions (a gold in billions times 1,000), kept when an evidence page writes the
justification's line item name followed, in one of its first three columns, by the
figure (in millions, or thousands) within the scoring tolerance of the gold as stated
(1%, or half a unit of its last digit). That leaves 10 cells on 10 filings: American
Water Works' FY2020 dividends are left out, their gold of $0.40 billion being the
filing's 389 million rounded too far. A filing's other fields have no gold cell and
are not scored.

Generate::

    python -m minions.evals.extract_gold medical --out runs/gold/medical
    python -m minions.evals.extract_gold medical --patients 5 --out runs/gold/medical5
    python -m minions.evals.extract_gold financebench --out runs/gold/financebench
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from minions.extract_fields import FieldSpec, parse_field
from minions.values import figures

from .datasets import financebench, longhealth
from .scoring import RELATIVE_TOLERANCE, gold_figure

__all__ = [
    "FIELDS",
    "GOLD",
    "LINE_ITEMS",
    "MANIFEST",
    "MANIFEST_QUESTIONS",
    "GoldCell",
    "GoldDocument",
    "GoldSet",
    "Skipped",
    "field_question",
    "financebench_gold",
    "medical_gold",
    "read_gold",
]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
MANIFEST_QUESTIONS = "manifest_questions.jsonl"
FIELDS = "fields.txt"
GOLD = "gold.jsonl"


class GoldCell(BaseModel):
    """The gold value of one field of one document, and where it came from."""

    model_config = ConfigDict(extra="forbid")

    id: str
    field: str
    gold: Any
    how: str
    pages: list[int] = Field(default_factory=list, description="1-based; empty: every page")


class GoldDocument(BaseModel):
    """One document of the manifest."""

    model_config = ConfigDict(extra="forbid")

    id: str
    pages: list[str]
    metadata: dict[str, Any] = Field(default_factory=dict)


class Skipped(BaseModel):
    """A cell left out of the gold, and why."""

    model_config = ConfigDict(extra="forbid")

    id: str
    field: str
    why: str


class GoldSet(BaseModel):
    """Documents, fields and gold cells, as written to a gold folder."""

    model_config = ConfigDict(extra="forbid")

    fields: list[FieldSpec]
    documents: list[GoldDocument]
    cells: list[GoldCell]
    skipped: list[Skipped] = Field(default_factory=list)

    def check(self) -> None:
        """Every placeholder is in every document's metadata; cells name known ones."""
        for spec in self.fields:
            for document in self.documents:
                spec.describe(document.metadata)  # raises naming the missing key
        names = {f.name for f in self.fields}
        ids = {d.id for d in self.documents}
        for cell in self.cells:
            if cell.field not in names or cell.id not in ids:
                raise ValueError(f"gold cell {cell.id}/{cell.field} names no field or document")

    def write(self, out: Path) -> None:
        """The four files of a gold folder (see the module docs)."""
        self.check()
        out.mkdir(parents=True, exist_ok=True)
        _write_jsonl(out / MANIFEST, (d.model_dump() for d in self.documents))
        _write_jsonl(
            out / MANIFEST_QUESTIONS,
            (
                {
                    **d.model_dump(),
                    "questions": [
                        {"id": f.name, "question": field_question(f, d.metadata)}
                        for f in self.fields
                    ],
                }
                for d in self.documents
            ),
        )
        (out / FIELDS).write_text(
            "".join(f"{f.name}:{f.type}:{f.description}\n" for f in self.fields), encoding="utf-8"
        )
        _write_jsonl(out / GOLD, (c.model_dump() for c in self.cells))
        logger.info(
            "wrote %d documents and %d gold cells to %s", len(self.documents), len(self.cells), out
        )


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_gold(folder: str | Path) -> tuple[list[FieldSpec], list[GoldDocument], list[GoldCell]]:
    """The fields, documents and gold cells of a gold folder."""
    folder = Path(folder)
    fields = [
        parse_field(line)
        for line in (folder / FIELDS).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]

    def lines(name: str) -> list[str]:
        return [x for x in (folder / name).read_text(encoding="utf-8").splitlines() if x.strip()]

    documents = [GoldDocument.model_validate_json(x) for x in lines(MANIFEST)]
    cells = [GoldCell.model_validate_json(x) for x in lines(GOLD)]
    return fields, documents, cells


_ANSWER_HOW = {
    "date": "Answer with the date only, as YYYY-MM-DD.",
    "number": "Answer with the number only.",
    "int": "Answer with the number only.",
    "bool": "Answer yes or no.",
    "str": "Answer with the value only.",
}


def field_question(spec: FieldSpec, metadata: dict[str, Any]) -> str:
    """The field as a question for ``minions batch``, asking for just the value."""
    described = spec.describe(metadata)
    if spec.is_list:
        return f"What are {described}? List each one on its own line, and nothing else."
    return f"What is {described}? {_ANSWER_HOW[spec.base]}"


def _iso(us_date: str) -> str:
    """MM/DD/YYYY as YYYY-MM-DD."""
    return datetime.strptime(us_date, "%m/%d/%Y").date().isoformat()


# --- medical -------------------------------------------------------------------------

MEDICAL_FIELDS = [
    FieldSpec(name="birth_date", type="date", description="the patient's date of birth"),
    FieldSpec(
        name="diagnosis_date", type="date", description="the date {condition} was first diagnosed"
    ),
    FieldSpec(
        name="latest_lab",
        type="number",
        description="the most recent documented value of the laboratory test {lab}, in {lab_unit}",
    ),
    FieldSpec(
        name="medications_on_date",
        type="list[str]",
        description="the medications prescribed at the visit(s) on {visit_date}, each named "
        "as in the record",
    ),
]

_US_DATE = r"\d\d/\d\d/\d{4}"
_DIAGNOSED = re.compile(
    rf"^- (?P<name>.+) \(diagnosed (?P<date>{_US_DATE})(?:; resolved {_US_DATE})?\)$", re.M
)
#: the condition or test a question quotes ("... with 'X'?", "... of 'X' for Mr. O'Neil?")
_QUOTED = re.compile(r"(?:with|of) '(.+?)'(?: for |\?)")


class _Letter(BaseModel):
    """What the rules read from one letter (page ``page`` of the patient's document)."""

    model_config = ConfigDict(extra="forbid")

    page: int
    date: str  # MM/DD/YYYY as written
    diagnosed: list[tuple[str, str]]  # (condition, MM/DD/YYYY)
    prescribed: list[str]
    labs: list[tuple[str, str]]  # (test, value as written, with its unit)


def _section(text: str, header: str) -> list[str]:
    """The ``- item`` lines under a header line (``header`` a regular expression)."""
    match = re.search(rf"^{header}\n((?:- .*(?:\n|$))+)", text, re.M)
    return [line[2:].strip() for line in match[1].splitlines()] if match else []


def _medication_name(item: str) -> str:
    """``Simvistatin 10 MG (for X; 1.0 dose(s) ...)`` -> ``Simvistatin 10 MG``: the
    bracket that closes the line is dropped, brackets nested in it included."""
    if not item.endswith(")"):
        return item
    depth = 0
    for i in range(len(item) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(item[i], 0)
        if depth == 0:
            return item[:i].strip()
    return item


def _letter(page: int, text: str) -> _Letter:
    dated = re.search(rf"^Date: ({_US_DATE})$", text, re.M)
    labs = []
    for item in _section(text, r"Laboratory results \(.*\):"):
        name, _, value = item.rpartition(": ")
        labs.append((name, value))
    return _Letter(
        page=page,
        date=dated[1] if dated else "",
        diagnosed=[(m["name"], m["date"]) for m in _DIAGNOSED.finditer(text)],
        prescribed=[_medication_name(i) for i in _section(text, "Medication prescribed.*:")],
        labs=labs,
    )


def _questions(record: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The record's questions of ``extraction/<kind>``, by number."""
    found = [q for q in record["questions"] if q.get("kind") == f"extraction/{kind}"]
    return sorted(found, key=lambda q: int(q["No"]))


def _quoted(question: dict[str, Any]) -> str:
    match = _QUOTED.search(question["question"])
    return match[1] if match else ""


#: what a rule gives: the document's metadata it fills, and the gold cell or why not
Rule = tuple[dict[str, Any], GoldCell | str]


def _diagnosis(patient: str, record: dict[str, Any], letters: list[_Letter]) -> Rule:
    questions = _questions(record, "diagnosis_date")
    if not questions:
        return {"condition": ""}, "the patient has no extraction/diagnosis_date question"
    question = questions[0]
    condition, stated = _quoted(question), str(question["correct"]).strip()
    dates = [
        (_iso(d), letter.page)
        for letter in letters
        for name, d in letter.diagnosed
        if name == condition
    ]
    metadata = {"condition": condition}
    if not dates:
        return metadata, f"no letter says {condition!r} was diagnosed"
    first = min(d for d, _ in dates)  # ISO dates sort as dates
    if _iso(stated) != first:
        return (
            metadata,
            f"the question's {stated} is not the first diagnosis in the letters ({first})",
        )
    return metadata, GoldCell(
        id=patient,
        field="diagnosis_date",
        gold=first,
        how=f"question No {question['No']} ({stated}), the first '(diagnosed ...)' of "
        f"{condition!r} in the letters",
        pages=sorted({p for d, p in dates if d == first}),
    )


def _latest_lab(patient: str, record: dict[str, Any], letters: list[_Letter]) -> Rule:
    questions = _questions(record, "latest_lab_value")
    if not questions:
        return {"lab": "", "lab_unit": ""}, "the patient has no latest_lab_value question"
    question = questions[0]
    lab, stated = _quoted(question), str(question["correct"]).strip()
    match = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(.*)", stated)
    metadata = {"lab": lab, "lab_unit": match[2].strip() if match else ""}
    reports = [(letter, value) for letter in letters for name, value in letter.labs if name == lab]
    if match is None or not reports:
        return metadata, f"{stated!r} is not a number and unit, or no letter reports {lab!r}"
    letter, value = reports[-1]
    if value != stated:
        return (
            metadata,
            f"the question's {stated!r} is not the last value in the letters ({value!r})",
        )
    return metadata, GoldCell(
        id=patient,
        field="latest_lab",
        gold=float(match[1]),
        how=f"question No {question['No']} ({stated!r}), the last report of {lab!r} in the "
        f"letters ({letter.date})",
        pages=[letter.page],
    )


def _prescribed_on(visit: str, letters: list[_Letter]) -> list[str]:
    return list(dict.fromkeys(m for x in letters if x.date == visit for m in x.prescribed))


def _medications(patient: str, record: dict[str, Any], letters: list[_Letter]) -> Rule:
    def visit_of(question: dict[str, Any]) -> str:
        on = re.search(rf"on ({_US_DATE})", question["question"])
        return on[1] if on else ""

    questions = _questions(record, "medication_on_date")
    if not questions:
        return {"visit_date": ""}, "the patient has no medication_on_date question"
    # the question whose day has the most prescriptions (the first of equals)
    question = max(questions, key=lambda q: len(_prescribed_on(visit_of(q), letters)))
    visit, correct = visit_of(question), str(question["correct"]).strip()
    gold = _prescribed_on(visit, letters)
    metadata = {"visit_date": visit}
    if correct not in gold:
        return metadata, f"the question's {correct!r} is not prescribed in the letters of {visit}"
    return metadata, GoldCell(
        id=patient,
        field="medications_on_date",
        gold=gold,
        how=f"question No {question['No']} ({correct!r}), every 'Medication prescribed' item "
        f"of the letters dated {visit}",
        pages=[x.page for x in letters if x.date == visit and x.prescribed],
    )


def medical_gold(data: str | Path | None = None, patients: int | None = None) -> GoldSet:
    """The medical gold set (see the module docs), of the first ``patients`` patients."""
    path = longhealth.resolve_path(data)
    benchmark = longhealth._benchmark(path)
    documents, cells, skipped = [], [], []
    for patient in sorted(benchmark)[:patients]:
        record = benchmark[patient]
        texts = [str(record["texts"][key]) for key in longhealth._text_keys(record)]
        letters = [_letter(page, text) for page, text in enumerate(texts, 1)]
        metadata: dict[str, Any] = {"patient": patient}
        cells.append(
            GoldCell(
                id=patient,
                field="birth_date",
                gold=date.fromisoformat(record["birthday"]).isoformat(),
                how="the record's birthday (every letter states it)",
            )
        )
        for field, rule in (
            ("diagnosis_date", _diagnosis),
            ("latest_lab", _latest_lab),
            ("medications_on_date", _medications),
        ):
            found, cell = rule(patient, record, letters)
            metadata.update(found)
            if isinstance(cell, GoldCell):
                cells.append(cell)
            else:
                logger.warning("%s/%s left out: %s", patient, field, cell)
                skipped.append(Skipped(id=patient, field=field, why=cell))
        documents.append(GoldDocument(id=patient, pages=texts, metadata=metadata))
    gold = GoldSet(fields=MEDICAL_FIELDS, documents=documents, cells=cells, skipped=skipped)
    gold.check()
    return gold


# --- financebench --------------------------------------------------------------------

#: (field, FinanceBench's metric name, description): the line items taken as fields;
#: the metric is named in a question's justification ("The metric X was directly
#: extracted ... The line item name, as seen in the 10K, was: Y.")
LINE_ITEMS: list[tuple[str, str, str]] = [
    (
        "capital_expenditure",
        "capital expenditures",
        "capital expenditure (purchases of property, plant and equipment) in fiscal year "
        "{fiscal_year}, from the cash flow statement, in USD millions",
    ),
    (
        "total_current_assets",
        "total current assets",
        "total current assets at the end of fiscal year {fiscal_year}, from the balance "
        "sheet, in USD millions",
    ),
    (
        "total_current_liabilities",
        "total current liabilities",
        "total current liabilities at the end of fiscal year {fiscal_year}, from the "
        "balance sheet, in USD millions",
    ),
    (
        "total_assets",
        "total assets",
        "total assets at the end of fiscal year {fiscal_year}, from the balance sheet, in "
        "USD millions",
    ),
    (
        "inventories",
        "inventories",
        "total inventories at the end of fiscal year {fiscal_year}, from the balance sheet, "
        "in USD millions",
    ),
    (
        "net_ppe",
        "ppne, net",
        "net property, plant and equipment at the end of fiscal year {fiscal_year}, from the "
        "balance sheet, in USD millions",
    ),
    (
        "cost_of_goods_sold",
        "cost of goods sold",
        "cost of goods sold (cost of revenue) in fiscal year {fiscal_year}, from the income "
        "statement, in USD millions",
    ),
    (
        "net_income",
        "net income",
        "net income (attributable to the company's shareholders) in fiscal year "
        "{fiscal_year}, from the income statement, in USD millions",
    ),
    (
        "operating_cash_flow",
        "cash from operations",
        "net cash provided by operating activities in fiscal year {fiscal_year}, from the "
        "cash flow statement, in USD millions",
    ),
    (
        "cash_dividends_paid",
        "total cash dividends paid out",
        "cash dividends paid in fiscal year {fiscal_year}, from the cash flow statement, in "
        "USD millions",
    ),
]

_DESCRIPTIONS = {name: description for name, _, description in LINE_ITEMS}
#: one field for every filing: each document's metadata says which line item it is, so
#: one extraction (one plan) covers filings asked about different line items
LINE_ITEM_FIELD = FieldSpec(name="line_item", type="number", description="the {line_item}")

#: pages kept either side of an evidence page
NEIGHBOURS = 2
#: figures read after a line item's name: one a year column
COLUMNS = 3
_UNIT = re.compile(r"\bUSD (millions|billions)\b", re.I)
_METRIC = re.compile(r"\bThe metric (.+?) was directly extracted\b")
_ITEM = re.compile(r"line item name, as seen in the 10K, was: (.+?)\.?$")


def _line_item(justification: str) -> str | None:
    metric = _METRIC.search(justification)
    named = [f for f, name, _ in LINE_ITEMS if metric and metric[1].strip().lower() == name]
    return named[0] if named else None


def _shown(page: str, item: str, millions: float, decimals: int, factor: float) -> bool:
    """Whether ``page`` writes line ``item`` with a figure (in millions, or thousands)
    in one of its first columns within the scoring tolerance of the gold as stated
    (1% relative, or half a unit of its last digit)."""
    tolerance = max(RELATIVE_TOLERANCE * millions, 0.5 * 10**-decimals * factor)
    name = r"\s+".join(re.escape(word) for word in item.split())
    for match in re.finditer(name, page, re.I):
        for figure in figures(page[match.end() : match.end() + 150])[:COLUMNS]:
            if any(abs(abs(figure.value) / d - millions) <= tolerance + 1e-9 for d in (1, 1000)):
                return True
    return False


def financebench_gold(data: str | Path | None = None) -> GoldSet:
    """The FinanceBench gold set (see the module docs)."""
    path = financebench.resolve_path(data)
    records = [
        r
        for r in financebench._records(path)
        if r.get("question_type") == "metrics-generated"
        and r.get("question_reasoning") == "Information extraction"
    ]
    filings = financebench._filings(path, {r["doc_name"] for r in records})
    cells: dict[str, list[tuple[GoldCell, list[int]]]] = {}
    years: dict[str, str] = {}
    skipped = []
    for r in records:
        example, doc = r["financebench_id"], r["doc_name"]
        field = _line_item(str(r.get("justification", "")))
        item = _ITEM.search(str(r.get("justification", "")))
        figure = gold_figure(str(r["answer"]))
        unit = _UNIT.search(r["question"])
        year = re.search(r"\bFY\s?(\d{4})\b", r["question"])
        if not (field and item and figure and unit and year) or figure.percent:
            why = f"{example}: not a line item of LINE_ITEMS in USD millions/billions"
            skipped.append(Skipped(id=doc, field=field or "?", why=why))
            continue
        factor = 1000.0 if unit[1].lower() == "billions" else 1.0
        millions = round(abs(figure.value) * factor, 6)
        evidence = sorted({int(e["evidence_page_num"]) for e in r["evidence"]})
        pages = filings[doc]
        if not any(_shown(pages[p], item[1], millions, figure.decimals, factor) for p in evidence):
            why = (
                f"{example}: the evidence page(s) {[p + 1 for p in evidence]} do not show "
                f"{item[1]!r} within the tolerance of the gold {r['answer']} (USD {unit[1]})"
            )
            skipped.append(Skipped(id=doc, field=field, why=why))
            continue
        fiscal_year = f"FY{year[1]}"
        if years.setdefault(doc, fiscal_year) != fiscal_year or any(
            c.field == field for c, _ in cells.get(doc, [])
        ):
            why = f"{example}: {doc} already has a cell of another year or of {field}"
            skipped.append(Skipped(id=doc, field=field, why=why))
            continue
        how = (
            f"{example}: gold {r['answer']} (USD {unit[1]})"
            + (" x 1,000" if factor != 1 else "")
            + f"; the evidence page shows {item[1]!r} with it"
        )
        cells.setdefault(doc, []).append(
            (GoldCell(id=doc, field=field, gold=millions, how=how), evidence)
        )
    for left in skipped:
        logger.warning("%s/%s left out: %s", left.id, left.field, left.why)
    documents, gold_cells = [], []
    for doc in sorted(cells):
        pages = filings[doc]
        evidence = sorted({p for _, e in cells[doc] for p in e})
        kept = sorted(
            {
                p
                for e in evidence
                for p in range(e - NEIGHBOURS, e + NEIGHBOURS + 1)
                if 0 <= p < len(pages)
            }
        )
        first = next(r for r in records if r["doc_name"] == doc)
        documents.append(
            GoldDocument(
                id=doc,
                pages=[pages[p] for p in kept],
                metadata={
                    "company": first["company"],
                    "fiscal_year": years[doc],
                    "source_pages": [p + 1 for p in kept],
                    # the one field's description: what this filing's cell is
                    "line_item": _DESCRIPTIONS[cells[doc][0][0].field].format(
                        fiscal_year=years[doc]
                    ),
                },
            )
        )
        cell, cell_evidence = cells[doc][0]  # one cell a filing: the first question's
        at = [kept.index(p) + 1 for p in cell_evidence]
        how = f"{cell.field}: {cell.how}"
        gold_cells.append(cell.model_copy(update={"pages": at, "field": "line_item", "how": how}))
    fields = [LINE_ITEM_FIELD]
    gold = GoldSet(fields=fields, documents=documents, cells=gold_cells, skipped=skipped)
    gold.check()
    return gold


# --- the command ---------------------------------------------------------------------


def main(
    dataset: str,
    out: Path,
    data: Path | None = None,
    patients: int | None = None,
) -> GoldSet:
    """Build the gold set of ``dataset`` and write it to ``out``."""
    if dataset == "medical":
        gold = medical_gold(data, patients)
    elif dataset == "financebench":
        gold = financebench_gold(data)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose medical or financebench")
    gold.write(out)
    return gold


if __name__ == "__main__":
    from typing import Annotated

    import typer

    def _command(
        dataset: Annotated[str, typer.Argument(help="medical or financebench")],
        out: Annotated[Path, typer.Option("--out", help="the folder to write")],
        data: Annotated[
            Path | None, typer.Option("--data", help="the dataset's file or folder")
        ] = None,
        patients: Annotated[
            int | None, typer.Option("--patients", help="medical: keep the first N patients")
        ] = None,
    ) -> None:
        logging.basicConfig(level=logging.ERROR)
        gold = main(dataset, out, data, patients)
        by_field = {f.name: sum(c.field == f.name for c in gold.cells) for f in gold.fields}
        print(f"{len(gold.documents)} documents, {len(gold.cells)} gold cells -> {out}")
        print("cells by field: " + ", ".join(f"{k} {v}" for k, v in by_field.items()))
        for item in gold.skipped:
            print(f"left out {item.id}/{item.field}: {item.why}")

    typer.run(_command)
