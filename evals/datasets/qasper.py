"""QASPER: questions about NLP research papers, answered by several annotators.

Reads the json layout of QASPER's releases (``qasper-dev-v0.3.json``,
``qasper-test-v0.3.json``): ``{paper_id: {"title", "abstract", "full_text":
[{"section_name", "paragraphs": [...]}], "qas": [{"question", "question_id",
"answers": [{"answer": {"unanswerable", "extractive_spans", "yes_no",
"free_form_answer", ...}}]}]}}``. No data is shipped; pass ``--data`` with the file.

Each annotator's answer becomes one reference, as QASPER's own evaluator reads it:
"Unanswerable", the extractive spans joined by ", ", the free-form answer, or
"Yes"/"No". The paper is one document: page 1 is the title and abstract, then one page
per section. The only context mode is ``full``. Ids are ``<paper_id>/<question_id>``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from minions.documents import Document
from minions.errors import ConfigurationError

from . import Entry, Example, ModuleDataset, ReferenceGold, existing_path, parse_context

__all__ = ["CONTEXTS", "Qasper", "catalog", "load", "references", "resolve_path"]

CONTEXTS = {"full": False}
DEFAULT_CONTEXT = "full"


def resolve_path(data: str | Path | None) -> Path:
    """The QASPER json file given with ``--data`` (there is no default copy)."""
    return existing_path(data, None, "a QASPER json file (e.g. qasper-dev-v0.3.json)")


@cache
def _papers(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as file:
        papers = json.load(file)
    if not isinstance(papers, dict):
        raise ConfigurationError(
            f"{path} is not in QASPER's json layout (an object keyed by paper id)"
        )
    return papers


def _questions(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, paper id, question record) in file order; questions no annotator answered
    are left out."""
    return [
        (f"{paper_id}/{qa['question_id']}", paper_id, qa)
        for paper_id, paper in _papers(path).items()
        for qa in paper.get("qas", [])
        if references(qa)
    ]


def catalog(path: Path) -> list[Entry]:
    return [
        Entry(id=example_id, metadata={"paper": paper_id})
        for example_id, paper_id, _ in _questions(path)
    ]


def references(qa: dict[str, Any]) -> list[str]:
    """One reference answer per annotator, as QASPER's evaluator takes them."""
    found = []
    for annotation in qa.get("answers", []):
        answer = annotation["answer"]
        if answer.get("unanswerable"):
            found.append("Unanswerable")
        elif answer.get("extractive_spans"):
            found.append(", ".join(answer["extractive_spans"]))
        elif answer.get("free_form_answer", "").strip():
            found.append(answer["free_form_answer"].strip())
        elif answer.get("yes_no") is not None:
            found.append("Yes" if answer["yes_no"] else "No")
    return list(dict.fromkeys(found))


def _document(paper_id: str, paper: dict[str, Any]) -> Document:
    pages = [f"{paper.get('title', '').strip()}\n\nAbstract\n{paper.get('abstract', '').strip()}"]
    for section in paper.get("full_text", []):
        body = "\n\n".join(p.strip() for p in section.get("paragraphs", []) if p and p.strip())
        heading = (section.get("section_name") or "").strip()
        if body or heading:
            pages.append(f"{heading}\n\n{body}".strip())
    return Document.from_pages(pages, name=paper_id)


def load(
    path: Path, ids: Sequence[str] | None = None, context: str | None = None, seed: int = 0
) -> list[Example]:
    """The questions ``ids`` (all when ``None``) over their whole paper."""
    parse_context(context, CONTEXTS, DEFAULT_CONTEXT)
    papers = _papers(path)
    wanted = None if ids is None else set(ids)
    examples = []
    for example_id, paper_id, qa in _questions(path):
        if wanted is not None and example_id not in wanted:
            continue
        document = _document(paper_id, papers[paper_id])
        examples.append(
            Example(
                id=example_id,
                question=qa["question"].strip(),
                documents=[document],
                gold=ReferenceGold(references=references(qa)),
                metadata={"paper": paper_id, "title": papers[paper_id].get("title", "")},
                context=f"full: paper {paper_id}, {len(document.pages)} sections "
                f"(~{document.metadata.approx_tokens} tokens)",
            )
        )
    return examples


class Qasper(ModuleDataset):
    """QASPER as a :class:`~minions.evals.datasets.Dataset` (entry point ``qasper``)."""

    functions = sys.modules[__name__]
