"""LongHealth: five-option questions about a patient's long medical record.

Reads LongHealth's ``benchmark_v5.json`` layout (``{"patient_01": {"name", "texts":
{"text_0": ...}, "questions": [{"No", "question", "answer_a".."answer_e", "correct"}]}}``,
``correct`` being the text of the right option), which the project's synthetic
``../shared/data/medical/records_qa.json`` follows. ``--data`` takes the file or a
folder holding one of those two names.

The question put to the models lists the five options and asks for the letter and
the option's text. Ids are ``patient_01/q3`` (patient key / question ``No``).

Context modes (one document per example, one page per text, texts in record order
unless said otherwise):

- ``full`` (the default): all the patient's texts;
- ``texts:N``: the N texts of the patient that BM25 ranks highest against the
  question and its options (:func:`minions.retrieval.rank_chunks`); when fewer than N
  texts share a word with the query, the most recent other texts fill up. Meant for
  small local models: LongHealth gives no answer locations here, so the cut is by
  relevance, not by where the answer is, and the row records which texts were kept;
- ``tokens:N``: the same ranking, taking texts while they fit in N tokens (at least
  one text);
- ``distractors:N``: LongHealth's distractor setting: all the patient's texts plus
  texts of other patients (drawn at random, seeded) while the total fits in N tokens,
  all shuffled (seeded) into one record.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from minions.chunking import chunk_by_pages
from minions.documents import Document
from minions.errors import ConfigurationError
from minions.retrieval import rank_chunks
from minions.tokens import approx_tokens

from . import (
    LETTERS,
    SHARED_DATA,
    ChoiceGold,
    ContextSpec,
    Entry,
    Example,
    ModuleDataset,
    choice_question,
    existing_path,
    parse_context,
    seeded,
)

__all__ = [
    "CONTEXTS",
    "LongHealth",
    "catalog",
    "load",
    "question_text",
    "resolve_path",
    "sensitive_gold",
]

CONTEXTS = {"full": False, "texts": True, "tokens": True, "distractors": True}
DEFAULT_CONTEXT = "full"
FILE_NAMES = ("benchmark_v5.json", "records_qa.json")

TextId = tuple[str, str]  # (patient key, text key)


def resolve_path(data: str | Path | None) -> Path:
    """The benchmark file: ``data`` (a file, or a folder holding one), or the project's."""
    path = existing_path(
        data, SHARED_DATA / "medical" / "records_qa.json", "a LongHealth benchmark_v5.json"
    )
    if path.is_dir():
        for name in FILE_NAMES:
            if (path / name).exists():
                return path / name
        raise ConfigurationError(f"{path} holds neither of {', '.join(FILE_NAMES)}")
    return path


@cache
def _benchmark(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as file:
        data: dict[str, Any] = json.load(file)
    return data


def _questions(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, patient key, question record), patients in key order."""
    return [
        (f"{patient}/q{q['No']}", patient, q)
        for patient, record in sorted(_benchmark(path).items())
        for q in record["questions"]
    ]


def catalog(path: Path) -> list[Entry]:
    """Every question's id and metadata (patient, question kind when given)."""
    return [
        Entry(id=example_id, metadata={"patient": patient, "kind": q.get("kind")})
        for example_id, patient, q in _questions(path)
    ]


def question_text(question: dict[str, Any]) -> str:
    """The question as put to the models: the options and how to answer."""
    return choice_question(question["question"], _options(question))


def _options(question: dict[str, Any]) -> dict[str, str]:
    return {letter: str(question[f"answer_{letter.lower()}"]).strip() for letter in LETTERS}


def _gold(example_id: str, question: dict[str, Any]) -> ChoiceGold:
    options = _options(question)
    correct = [
        letter for letter, text in options.items() if text == str(question["correct"]).strip()
    ]
    if len(correct) != 1:
        raise ConfigurationError(
            f"{example_id}: 'correct' must equal the text of exactly one option, "
            f"but it matches {len(correct)}"
        )
    return ChoiceGold(options=options, correct=correct[0])


def load(
    path: Path, ids: Sequence[str] | None = None, context: str | None = None, seed: int = 0
) -> list[Example]:
    """The questions ``ids`` (all when ``None``) with the record cut to ``context``."""
    spec = parse_context(context, CONTEXTS, DEFAULT_CONTEXT)
    benchmark = _benchmark(path)
    wanted = None if ids is None else set(ids)
    examples = []
    for example_id, patient, question in _questions(path):
        if wanted is not None and example_id not in wanted:
            continue
        prompt = question_text(question)
        kept = _select_texts(benchmark, patient, prompt, spec, seed, example_id)
        name = f"{patient}-records" if spec.mode != "distractors" else "records"
        document = Document.from_pages([_text(benchmark, t) for t in kept], name=name)
        examples.append(
            Example(
                id=example_id,
                question=prompt,
                documents=[document],
                gold=_gold(example_id, question),
                metadata={
                    "patient": patient,
                    "kind": question.get("kind"),
                    "patient_texts": len(benchmark[patient]["texts"]),
                    "kept_texts": [f"{p}/{t}" for p, t in kept],
                },
                context=_describe(spec, patient, kept, document.metadata.approx_tokens),
            )
        )
    return examples


def _select_texts(
    benchmark: dict[str, Any],
    patient: str,
    query: str,
    spec: ContextSpec,
    seed: int,
    example_id: str,
) -> list[TextId]:
    own = [(patient, key) for key in _text_keys(benchmark[patient])]
    if spec.mode == "full":
        return own
    n = spec.n or 0
    if spec.mode == "distractors":
        return _with_distractors(benchmark, patient, own, n, seeded(seed, example_id))
    ranked = _ranked(benchmark, own, query)
    if spec.mode == "texts":
        chosen = ranked[:n]
    else:  # tokens
        chosen, total = [], 0
        for text_id in ranked:
            size = approx_tokens(_text(benchmark, text_id))
            if chosen and total + size > n:
                continue
            chosen.append(text_id)
            total += size
    return [t for t in own if t in set(chosen)]  # back in record order


def _ranked(benchmark: dict[str, Any], texts: list[TextId], query: str) -> list[TextId]:
    """``texts`` by BM25 against ``query``, then those sharing no word, newest first."""
    document = Document.from_pages([_text(benchmark, t) for t in texts], name="record")
    hits = rank_chunks(query, chunk_by_pages(document), k=len(texts))
    ranked = [texts[hit.chunk.page_start - 1] for hit in hits]
    return ranked + [t for t in reversed(texts) if t not in set(ranked)]


def _with_distractors(
    benchmark: dict[str, Any], patient: str, own: list[TextId], budget: int, rng: Any
) -> list[TextId]:
    others = [
        (p, key) for p in sorted(benchmark) if p != patient for key in _text_keys(benchmark[p])
    ]
    rng.shuffle(others)
    total = sum(approx_tokens(_text(benchmark, t)) for t in own)
    chosen = list(own)
    for text_id in others:
        size = approx_tokens(_text(benchmark, text_id))
        if total + size <= budget:
            chosen.append(text_id)
            total += size
    rng.shuffle(chosen)
    return chosen


def sensitive_gold(record: dict[str, Any], text: str) -> list[tuple[str, str]]:
    """The values of one of ``record``'s texts that the records' structure marks
    sensitive, as ``(kind, value as written)``: the patient's name and birth date
    (fields of the record), the signing clinician (after "Kind regards,"), the
    organisation (the first line) and the letter's date (the "Date:" line). The texts
    were rendered from structured data by templates, so this list is mechanical; it
    is the gold list the privacy detector and shield are measured against."""
    year, month, day = record["birthday"].split("-")
    items = [("PERSON", str(record["name"])), ("DATE", f"{month}/{day}/{year}")]
    if signed := re.search(r"Kind regards,\n(?:Dr\. )?(.+)", text):
        items.append(("PERSON", signed[1].strip()))
    items.append(("ORG", text.split("\n", 1)[0].strip()))
    if dated := re.search(r"^Date: (.+)$", text, re.M):
        items.append(("DATE", dated[1].strip()))
    return items


def _text_keys(record: dict[str, Any]) -> list[str]:
    """``text_0, text_1, ...`` in numeric order (``text_10`` after ``text_9``)."""
    return sorted(record["texts"], key=lambda k: (len(k), k))


def _text(benchmark: dict[str, Any], text_id: TextId) -> str:
    patient, key = text_id
    return str(benchmark[patient]["texts"][key])


def _describe(spec: ContextSpec, patient: str, kept: list[TextId], tokens: int) -> str:
    own = [t for p, t in kept if p == patient]
    if spec.mode == "full":
        return f"full: all {len(kept)} texts of {patient} (~{tokens} tokens)"
    if spec.mode == "distractors":
        return (
            f"{spec}: {len(own)} texts of {patient} and {len(kept) - len(own)} of other "
            f"patients, shuffled (~{tokens} tokens)"
        )
    return f"{spec}: {len(kept)} texts of {patient} ({', '.join(own)}; ~{tokens} tokens)"


class LongHealth(ModuleDataset):
    """LongHealth as a :class:`~minions.evals.datasets.Dataset` (entry point ``longhealth``)."""

    functions = sys.modules[__name__]
