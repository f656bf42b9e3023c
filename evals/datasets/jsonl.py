"""A user's own labelled questions, one JSON object a line (``minions eval --dataset
my_questions.jsonl``)::

    {"id": "capex", "question": "What was 3M's FY2018 capital expenditure (in USD millions)?",
     "documents": ["3m-2018-10k.txt"], "answer": "$1577.00", "scorer": "numeric"}
    {"id": "year-end", "question": "On what date does 3M's fiscal year end?",
     "documents": [{"text": "3M's fiscal year ends on December 31."}],
     "answer": "December 31", "scorer": "judge"}

Keys of a line:

- ``id``: text (or a whole number), unique in the file;
- ``question``: what the models are asked;
- ``documents``: one or more, each the path of a file :func:`minions.load_document`
  reads (relative to the folder of the JSONL file, or absolute), or ``{"text": ...}``
  (with an optional ``"name"``);
- ``answer``: the reference answer (text, or a JSON number);
- ``scorer``: how an answer is graded against it: ``numeric`` (the answer is one
  figure, matched by value within 1%), ``choice`` (multiple choice), ``exact`` (equal
  after normalising case, punctuation and spaces) or ``judge`` (the model given by
  ``--judge`` decides whether the answer states what the reference states);
- ``options``: for ``choice`` only, 2 to 5 option texts, a list (lettered A, B, ...)
  or an object by letter; ``answer`` is the correct letter or that option's text. The
  options are put to the models after the question, with how to answer;
- ``metadata`` (optional): an object; ``--where key=value`` selects on it.

Rows carry the scorer in their metadata, and the report gives accuracy per scorer.
The only context mode is ``full``. Every line is checked when the file is opened,
before anything runs: each bad line is named with what to fix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minions.documents import Document, load_document
from minions.errors import ConfigurationError, DocumentError

from . import (
    LETTERS,
    AnswerGold,
    ChoiceGold,
    Dataset,
    Entry,
    Example,
    Gold,
    choice_question,
    parse_context,
)

if TYPE_CHECKING:
    from minions.types import Usage

    from ..scoring import Judge, Score

__all__ = ["SCORERS", "JsonlDataset"]

SCORERS = ("numeric", "choice", "exact", "judge")
REQUIRED = ("id", "question", "documents", "answer", "scorer")
OPTIONAL = ("options", "metadata")
CONTEXTS = {"full": False}
DEFAULT_CONTEXT = "full"
#: bad lines listed in one error
MOST_SHOWN = 10


@dataclass(frozen=True)
class _Question:
    """A checked line: documents are files still to load, or inline texts."""

    line: int
    id: str
    question: str
    documents: list[Path | Document]
    gold: Gold
    metadata: dict[str, Any]


class _BadLine(Exception):
    """What is wrong with one line (the problems, joined)."""


class JsonlDataset(Dataset):
    """The questions of one ``.jsonl`` file, checked when it is opened (see the module
    docs); documents are read when the chosen examples are loaded."""

    def __init__(self, data: str | Path | None = None) -> None:
        super().__init__(data)
        if data is None:
            raise ConfigurationError("pass the path of a .jsonl file of questions")
        self.path = Path(data)
        if not self.path.is_file():
            what = "is a folder" if self.path.is_dir() else "does not exist"
            raise ConfigurationError(
                f"{self.path} {what}; --dataset takes a registered dataset's name or the "
                "path of a .jsonl file of your own questions"
            )
        self.questions = _read(self.path)

    def catalog(self) -> list[Entry]:
        return [Entry(id=q.id, metadata=q.metadata) for q in self.questions]

    def load(
        self, ids: Sequence[str] | None = None, context: str | None = None, seed: int = 0
    ) -> list[Example]:
        parse_context(context, CONTEXTS, DEFAULT_CONTEXT)
        wanted = None if ids is None else set(ids)
        files: dict[Path, Document] = {}  # a file several questions share is read once
        return [_example(q, files) for q in self.questions if wanted is None or q.id in wanted]

    async def score(
        self, example: Example, answer: str | None, judge: Judge | None = None
    ) -> tuple[Score, Usage]:
        from ..scoring import score_example  # scoring imports the datasets package

        return await score_example(example, answer, judge=judge)


def _example(question: _Question, files: dict[Path, Document]) -> Example:
    documents = []
    for document in question.documents:
        if isinstance(document, Path):
            if document not in files:
                try:
                    files[document] = load_document(document)
                except DocumentError as exc:
                    raise ConfigurationError(f"line {question.line}: {exc}") from None
            document = files[document]
        documents.append(document)
    tokens = sum(d.metadata.approx_tokens for d in documents)
    return Example(
        id=question.id,
        question=question.question,
        documents=documents,
        gold=question.gold,
        metadata=question.metadata,
        context=f"full: {', '.join(d.name for d in documents)} (~{tokens} tokens)",
    )


# --- checking the file ------------------------------------------------------------------


def _read(path: Path) -> list[_Question]:
    """Every question of ``path``; an error listing the bad lines when there are any."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8"
        ) from None
    questions: list[_Question] = []
    problems = []
    first_line: dict[str, int] = {}
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            question = _question(number, text, path.parent)
        except _BadLine as bad:
            problems.append(f"line {number}: {bad}")
            continue
        if question.id in first_line:
            problems.append(
                f"line {number}: id {question.id!r} is already the id of line "
                f"{first_line[question.id]}; give every question its own id"
            )
            continue
        first_line[question.id] = number
        questions.append(question)
    if problems:
        more = len(problems) - MOST_SHOWN
        shown = problems[:MOST_SHOWN] + ([f"... and {more} more"] if more > 0 else [])
        raise ConfigurationError(
            f"{path} has {len(problems)} bad line(s):\n  " + "\n  ".join(shown)
        )
    if not questions:
        raise ConfigurationError(
            f"{path} holds no questions; write one JSON object a line with the keys "
            f"{', '.join(REQUIRED)}"
        )
    return questions


def _question(number: int, text: str, folder: Path) -> _Question:
    """The question on line ``number``, or :class:`_BadLine` with all its problems."""
    record = _record(text)
    problems = _keys(record)
    id_ = record.get("id")
    if "id" in record and (isinstance(id_, bool) or not isinstance(id_, str | int) or id_ == ""):
        problems.append(f"id must be a non-empty text or a whole number, not {id_!r}")
    question = record.get("question")
    if "question" in record and not (isinstance(question, str) and question.strip()):
        problems.append(f"question must be a non-empty text, not {question!r}")
    documents = _documents(record.get("documents"), folder, problems)
    gold = _gold(record, problems)
    metadata = record.get("metadata", {})
    if not isinstance(metadata, dict):
        problems.append(f"metadata must be an object, not {metadata!r}")
    if problems:
        raise _BadLine("; ".join(problems))
    assert isinstance(question, str) and gold is not None and isinstance(metadata, dict)
    if isinstance(gold, ChoiceGold):
        question = choice_question(question, gold.options)
    return _Question(
        line=number,
        id=str(id_),
        question=question.strip(),
        documents=documents,
        gold=gold,
        metadata={**metadata, "scorer": record["scorer"]},
    )


def _record(text: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadLine(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise _BadLine(f"must be a JSON object {{...}}, not {type(record).__name__}")
    return record


def _keys(record: dict[str, Any]) -> list[str]:
    problems = []
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        problems.append(f"missing {', '.join(map(repr, missing))}")
    unknown = [k for k in record if k not in REQUIRED + OPTIONAL]
    if unknown:
        problems.append(
            f"unknown key(s) {', '.join(map(repr, unknown))}; a line has "
            f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}"
        )
    return problems


def _documents(value: Any, folder: Path, problems: list[str]) -> list[Path | Document]:
    """The documents of a line: paths (checked to exist) and inline texts."""
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        problems.append('documents must be a list of one or more paths or {"text": ...}')
        return []
    documents: list[Path | Document] = []
    for i, entry in enumerate(value):
        if isinstance(entry, str) and entry.strip():
            path = folder / entry  # an absolute entry stays absolute
            if not path.is_file():
                what = "is a folder" if path.is_dir() else "does not exist"
                problems.append(
                    f"document {entry!r} {what} ({path}; paths are relative to the folder "
                    "of the JSONL file)"
                )
            documents.append(path)
        elif isinstance(entry, dict) and _inline_text(entry):
            name = entry.get("name") or ("text" if len(value) == 1 else f"text-{i + 1}")
            documents.append(Document.from_text(entry["text"], name=name))
        else:
            problems.append(
                f'documents[{i}] must be a path or {{"text": "..."}} (with an optional '
                f'"name"), not {json.dumps(entry)[:80]}'
            )
    return documents


def _inline_text(entry: dict[str, Any]) -> bool:
    text, name = entry.get("text"), entry.get("name", "")
    return (
        set(entry) <= {"text", "name"}
        and isinstance(text, str)
        and bool(text.strip())
        and isinstance(name, str)
    )


def _gold(record: dict[str, Any], problems: list[str]) -> Gold | None:
    """The gold answer of a line for its scorer, or ``None`` (with the problem noted)."""
    scorer, answer, options = record.get("scorer"), record.get("answer"), record.get("options")
    if "scorer" in record and scorer not in SCORERS:
        problems.append(f"scorer must be one of {', '.join(SCORERS)}, not {scorer!r}")
        return None
    if options is not None and scorer != "choice":
        problems.append("options are for scorer choice only")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    if "answer" in record and not (isinstance(answer, str) and answer.strip()):
        problems.append(f"answer must be a non-empty text or a number, not {answer!r}")
        return None
    if scorer is None or not isinstance(answer, str):
        return None
    if scorer == "choice":
        return _choice(answer, options, problems)
    if scorer == "numeric":
        from ..scoring import gold_figure  # scoring imports the datasets package

        if gold_figure(answer) is None:
            problems.append(
                f'scorer numeric needs an answer that is one figure, such as "$1577.00", '
                f'"0.68" or "12%", not {answer!r}; use scorer exact or judge for others'
            )
            return None
    return AnswerGold(answer=answer.strip(), scorer=scorer)


def _choice(answer: str, options: Any, problems: list[str]) -> ChoiceGold | None:
    if isinstance(options, list) and all(isinstance(o, str) for o in options):
        options = dict(zip(LETTERS, options, strict=False)) if len(options) <= 5 else None
    if not (
        isinstance(options, dict)
        and 2 <= len(options) <= len(LETTERS)
        and all(k in LETTERS and isinstance(v, str) and v.strip() for k, v in options.items())
    ):
        problems.append(
            "scorer choice needs options: 2 to 5 option texts, as a list or an object by "
            'letter ({"A": "...", "B": "..."})'
        )
        return None
    options = {letter: text.strip() for letter, text in options.items()}
    if answer.strip().upper() in options:
        return ChoiceGold(options=options, correct=answer.strip().upper())
    matching = [k for k, v in options.items() if v.lower() == answer.strip().lower()]
    if len(matching) != 1:
        problems.append(
            f"answer {answer!r} must be the letter of one option ({', '.join(options)}) "
            "or the text of exactly one"
        )
        return None
    return ChoiceGold(options=options, correct=matching[0])
