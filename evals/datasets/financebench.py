"""FinanceBench: questions about public companies' filings (10-K, 10-Q, 8-K, earnings).

Two layouts are read:

- the project's copy (``../shared/data/financebench``): ``questions.jsonl`` (the
  original records) and ``documents.jsonl.gz`` (``{"doc_name", "pages": [...]}`` per
  filing, page ``i`` being PDF page ``i``, 0-indexed);
- the public source, the FinanceBench GitHub repository's layout
  (``data/financebench_open_source.jsonl`` and ``pdfs/<doc_name>.pdf``), read through
  :func:`minions.documents.load_document`. :func:`download` fetches it into the cache.

Context modes:

- ``full`` (the default): the whole filing, one document page per PDF page;
- ``pages:N``: the evidence pages plus distractor pages of the same filing drawn at
  random (seeded by ``--seed`` and the example id; pages without text are never drawn)
  up to N pages, in document order. When a question has N or more evidence pages, all
  of them are kept.

Page numbers are 1-based PDF page numbers everywhere in this module's output
(FinanceBench's ``evidence_page_num`` is 0-indexed). Document page ``k`` of an example
is PDF page ``metadata["kept_pages"][k - 1]``; ``kept_pages`` is ``None`` in ``full``
mode, where document page ``k`` is PDF page ``k``. Ids are ``financebench_id``.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import sys
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from minions.documents import Document, load_document
from minions.errors import ConfigurationError
from minions.models import cache_dir

from . import (
    SHARED_DATA,
    Entry,
    Example,
    FinanceGold,
    ModuleDataset,
    existing_path,
    parse_context,
    seeded,
)

__all__ = ["CONTEXTS", "FinanceBench", "catalog", "download", "load", "resolve_path"]

logger = logging.getLogger(__name__)

CONTEXTS = {"full": False, "pages": True}
DEFAULT_CONTEXT = "full"

QUESTIONS = "questions.jsonl"
DOCUMENTS = "documents.jsonl.gz"
GITHUB_QUESTIONS = Path("data") / "financebench_open_source.jsonl"
GITHUB_PDFS = "pdfs"
#: the commit of patronus-ai/financebench the project's copy was made from
GITHUB_COMMIT = "cc39aeb4afdf33909ee1412188bf89035950c2eb"
GITHUB_RAW = "https://raw.githubusercontent.com/patronus-ai/financebench/{commit}/{path}"

_METADATA_FIELDS = ("company", "doc_name", "question_type", "question_reasoning")


def resolve_path(data: str | Path | None) -> Path:
    """The dataset folder: ``data``, or the project's copy."""
    return existing_path(
        data,
        SHARED_DATA / "financebench",
        "a FinanceBench folder (questions.jsonl + documents.jsonl.gz, or the GitHub "
        "repository's data/ and pdfs/; --download fetches the latter)",
    )


def _records(path: Path) -> list[dict[str, Any]]:
    questions = path / QUESTIONS
    if not questions.exists():
        questions = path / GITHUB_QUESTIONS
    if not questions.exists():
        raise ConfigurationError(
            f"{path} has neither {QUESTIONS} nor {GITHUB_QUESTIONS}; pass --data with a "
            "FinanceBench folder, or --download to fetch the public source"
        )
    records = _read_jsonl(questions)
    if questions.name != QUESTIONS:  # the public layout: keep questions whose PDF is here
        present = [r for r in records if (path / GITHUB_PDFS / f"{r['doc_name']}.pdf").exists()]
        if len(present) < len(records):
            logger.info(
                "%d questions skipped: their PDF is not in %s",
                len(records) - len(present),
                path / GITHUB_PDFS,
            )
        records = present
    return sorted(records, key=lambda r: str(r["financebench_id"]))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def catalog(path: Path) -> list[Entry]:
    """Every question's id and metadata (company, filing, question type)."""
    return [
        Entry(id=r["financebench_id"], metadata={k: r.get(k) for k in _METADATA_FIELDS})
        for r in _records(path)
    ]


def load(
    path: Path, ids: Sequence[str] | None = None, context: str | None = None, seed: int = 0
) -> list[Example]:
    """The questions ``ids`` (all when ``None``) with their filings cut to ``context``."""
    spec = parse_context(context, CONTEXTS, DEFAULT_CONTEXT)
    records = _records(path)
    if ids is not None:
        wanted = set(ids)
        records = [r for r in records if r["financebench_id"] in wanted]
    filings = _filings(path, {r["doc_name"] for r in records})
    return [_example(r, filings[r["doc_name"]], spec.n, seed) for r in records]


def _example(record: dict[str, Any], pages: Sequence[str], n: int | None, seed: int) -> Example:
    example_id = record["financebench_id"]
    doc_name = record["doc_name"]
    evidence = sorted({int(e["evidence_page_num"]) for e in record["evidence"]})
    outside = [p for p in evidence if not 0 <= p < len(pages)]
    if outside:
        raise ConfigurationError(
            f"{example_id}: evidence page(s) {outside} lie outside {doc_name}'s {len(pages)} "
            "pages; the question and the filing do not match"
        )
    metadata: dict[str, Any] = {k: record.get(k) for k in _METADATA_FIELDS}
    metadata["evidence_pages"] = [p + 1 for p in evidence]
    metadata["document_pages"] = len(pages)
    if n is None:
        kept = list(range(len(pages)))
        metadata["kept_pages"] = None
        context = f"full: {doc_name}, all {len(pages)} pages"
    else:
        kept = _pages_with_distractors(pages, evidence, n, seeded(seed, example_id))
        metadata["kept_pages"] = [p + 1 for p in kept]
        marked = ", ".join(f"{p + 1}*" if p in evidence else str(p + 1) for p in kept)
        context = f"pages:{n} of {doc_name} ({len(pages)} pages): {marked} (* evidence)"
    document = Document.from_pages([pages[p] for p in kept], name=doc_name, type="pdf")
    return Example(
        id=example_id,
        question=record["question"],
        documents=[document],
        gold=FinanceGold(answer=record["answer"]),
        metadata=metadata,
        context=context,
    )


def _pages_with_distractors(
    pages: Sequence[str], evidence: list[int], n: int, rng: Any
) -> list[int]:
    """0-based pages to keep: the evidence, then random pages with text up to ``n``."""
    candidates = [p for p, text in enumerate(pages) if p not in evidence and text.strip()]
    wanted = max(0, min(n - len(evidence), len(candidates)))
    return sorted([*evidence, *rng.sample(candidates, wanted)])


def _filings(path: Path, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    names = set(names)
    if (path / DOCUMENTS).exists():
        return {name: _shared_pages(path / DOCUMENTS, name) for name in names}
    found = {}
    for name in names:
        pdf = path / GITHUB_PDFS / f"{name}.pdf"
        found[name] = tuple(load_document(pdf, name=name).pages)
    return found


@cache
def _shared_index(documents: Path) -> dict[str, tuple[str, ...]]:
    """Every filing in ``documents.jsonl.gz`` (34 M characters; read once a process)."""
    logger.info("reading %s", documents)
    filings = {}
    with gzip.open(documents, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            filings[record["doc_name"]] = tuple(record["pages"])
    return filings


def _shared_pages(documents: Path, name: str) -> tuple[str, ...]:
    filings = _shared_index(documents)
    if name not in filings:
        raise ConfigurationError(f"{documents} holds no document named {name!r}")
    return filings[name]


# --- the public source -------------------------------------------------------------

Fetch = Callable[[str, Path], None]


def _fetch(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` (written whole, or not at all)."""
    partial = destination.with_name(destination.name + ".part")
    with urllib.request.urlopen(url, timeout=120) as response:
        partial.write_bytes(response.read())
    partial.replace(destination)


def download(target: Path | None = None, *, fetch: Fetch = _fetch) -> Path:
    """Fetch FinanceBench's open-source questions and the PDFs they refer to from its
    GitHub repository (pinned commit) into ``target`` (default: the minions cache), in
    the repository's layout; files already there are kept. Returns the folder."""
    target = target or cache_dir() / "datasets" / "financebench"
    questions = target / GITHUB_QUESTIONS
    questions.parent.mkdir(parents=True, exist_ok=True)
    (target / GITHUB_PDFS).mkdir(exist_ok=True)
    if not questions.exists():
        fetch(_github_url(GITHUB_QUESTIONS.as_posix()), questions)
    missing = []
    for name in sorted({r["doc_name"] for r in _read_jsonl(questions)}):
        pdf = target / GITHUB_PDFS / f"{name}.pdf"
        if pdf.exists():
            continue
        logger.info("downloading %s", pdf.name)
        try:
            fetch(_github_url(f"{GITHUB_PDFS}/{name}.pdf"), pdf)
        except OSError as exc:  # urllib's HTTPError and URLError are OSErrors
            missing.append(name)
            logger.warning("could not download %s (%s); its questions are left out", name, exc)
    if missing:
        logger.warning("%d PDFs missing: %s", len(missing), ", ".join(missing))
    return target


def _github_url(path: str) -> str:
    return GITHUB_RAW.format(commit=GITHUB_COMMIT, path=re.sub(r"\s", "%20", path))


class FinanceBench(ModuleDataset):
    """FinanceBench as a :class:`~minions.evals.datasets.Dataset` (entry point ``financebench``)."""

    functions = sys.modules[__name__]
