"""What a batch reads: documents, questions and the pages to keep.

Documents come from paths, globs (``docs/**/*.pdf``), folders (searched recursively for
the supported types) and a manifest JSONL, one document per line::

    {"id": "3m-2018", "path": "filings/3m-2018.pdf", "metadata": {"sector": "industrials"}}
    {"id": "memo-7", "text": "The whole text of a short document.", "questions": ["Who signed it?"]}
    {"id": "acme", "pages": ["page 1 text", "page 2 text"],
     "questions": [{"id": "rev", "question": "What was the revenue?"}]}

``path`` is relative to the manifest's folder; ``text`` or ``pages`` carry the document
inline; ``id`` is required unless there is a ``path``. A document's id is its manifest
id, else its path relative to the common folder of all the paths given.

Questions come from ``-q`` (repeatable), a text file (one a line; blank lines and lines
starting with ``#`` are skipped) or a ``.jsonl`` file of ``{"id": ..., "question": ...}``,
and per document from the manifest. A question without an id gets one from its text
(``q-`` and a hash), so it keeps its id when other questions are added or reordered.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from minions.documents import SUFFIXES, SUPPORTED_TYPES, Document, load_document
from minions.errors import ConfigurationError, DocumentError

__all__ = [
    "BatchDocument",
    "PageSelection",
    "Question",
    "collect_documents",
    "question_id",
    "read_manifest",
    "read_questions",
]

#: how many bad manifest or question lines one error lists
_MAX_LISTED = 10
_GLOB_CHARS = re.compile(r"[*?\[]")


class Question(BaseModel):
    """A question and its id (the id keys the batch's rows)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)


def question_id(text: str) -> str:
    """The id of a question given without one: ``q-`` and 10 hex digits of its text."""
    return "q-" + hashlib.sha256(text.strip().encode()).hexdigest()[:10]


def _question(value: str | dict[str, Any], where: str) -> Question:
    if isinstance(value, str):
        if not value.strip():
            raise ConfigurationError(f"{where}: a question is empty")
        return Question(id=question_id(value), text=value.strip())
    if not isinstance(value, dict) or set(value) - {"id", "question"} or "question" not in value:
        raise ConfigurationError(
            f'{where}: a question is a string or {{"id": ..., "question": ...}}, got {value!r}'
        )
    text = str(value["question"]).strip()
    if not text:
        raise ConfigurationError(f"{where}: a question is empty")
    return Question(id=str(value.get("id") or question_id(text)), text=text)


def _unique(questions: Iterable[Question], where: str) -> list[Question]:
    """``questions`` without repeats; one id for two different questions is an error."""
    found: dict[str, Question] = {}
    for question in questions:
        other = found.setdefault(question.id, question)
        if other.text != question.text:
            raise ConfigurationError(
                f"{where}: question id {question.id!r} names two questions "
                f"({other.text!r} and {question.text!r}); give each its own id"
            )
    return list(found.values())


def read_questions(texts: Sequence[str] = (), file: str | Path | None = None) -> list[Question]:
    """The questions of ``-q`` values and a questions file (text or ``.jsonl``)."""
    questions = [_question(text, "-q") for text in texts]
    if file is not None:
        path = Path(file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the questions file {path}: {exc}") from None
        jsonl = path.suffix.lower() == ".jsonl"
        given = len(questions)
        for number, line in enumerate(lines, 1):
            if not line.strip() or (not jsonl and line.lstrip().startswith("#")):
                continue
            where = f"line {number} of {path}"
            if jsonl:
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigurationError(f"{where} is not JSON ({exc.msg})") from None
                questions.append(_question(value, where))
            else:
                questions.append(_question(line, where))
        if len(questions) == given:
            raise ConfigurationError(f"the questions file {path} holds no question")
    return _unique(questions, "the questions")


# --- pages ---------------------------------------------------------------------------

_RANGE = re.compile(r"^\s*(\d+)\s*(?:(-)\s*(\d+)?)?\s*$")


class PageSelection(BaseModel):
    """1-based, inclusive page ranges, ``"1-8"``, ``"3"``, ``"1-2,9"`` or ``"10-"``
    (page 10 to the end); every document keeps only these pages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ranges: tuple[tuple[int, int | None], ...]

    @classmethod
    def parse(cls, spec: str) -> PageSelection:
        ranges: list[tuple[int, int | None]] = []
        for part in spec.split(","):
            match = _RANGE.match(part)
            if match is None:
                raise ConfigurationError(
                    f"--pages {spec!r}: {part.strip()!r} is not a page or a range; write "
                    "e.g. 1-8, 3, 1-2,9 or 10- (1-based, inclusive)"
                )
            start = int(match[1])
            end = None if match[2] and not match[3] else int(match[3] or match[1])
            if start < 1 or (end is not None and end < start):
                raise ConfigurationError(
                    f"--pages {spec!r}: {part.strip()!r} is empty (pages count from 1)"
                )
            ranges.append((start, end))
        return cls(ranges=tuple(ranges))

    def __str__(self) -> str:
        return ",".join(
            f"{a}-" if b is None else str(a) if a == b else f"{a}-{b}" for a, b in self.ranges
        )

    def keeps(self, number: int) -> bool:
        return any(a <= number and (b is None or number <= b) for a, b in self.ranges)

    def apply(self, document: Document) -> Document:
        """``document`` with only the selected pages (renumbered from 1)."""
        pages = [p for n, p in enumerate(document.pages, 1) if self.keeps(n)]
        if not pages:
            raise DocumentError(
                f"{document.name} has {document.page_count} pages; --pages {self} selects "
                "none of them"
            )
        return Document.from_pages(
            pages, name=document.name, type=document.metadata.type, source=document.metadata.source
        )


# --- documents -----------------------------------------------------------------------


class BatchDocument(BaseModel):
    """One document of a batch: where its text is, its metadata and its own questions.
    Loading is deferred to :meth:`load`, when its first row starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    path: str | None = None
    text: str | None = None
    pages: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    questions: list[Question] = Field(default_factory=list)

    def load(self, selection: PageSelection | None = None) -> Document:
        """The document, named by its id, with only the ``selection`` of its pages."""
        if self.path is not None:
            document = load_document(Path(self.path), name=self.id)
        elif self.pages is not None:
            document = Document.from_pages(self.pages, name=self.id)
        else:
            document = Document.from_text(self.text or "", name=self.id)
        return selection.apply(document) if selection else document


class _ManifestLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1)
    path: str | None = None
    text: str | None = None
    pages: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    questions: list[str | dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> _ManifestLine:
        given = [k for k in ("path", "text", "pages") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f'give exactly one of "path", "text", "pages" (got {given or "none"})')
        if self.id is None and self.path is None:
            raise ValueError('a document given by "text" or "pages" needs an "id"')
        return self


def read_manifest(path: str | Path) -> list[BatchDocument]:
    """The documents of a manifest JSONL, every line checked before anything runs; the
    error lists each bad line with what to fix."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the manifest {path}: {exc}") from None
    documents: list[BatchDocument] = []
    problems: list[str] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"line {number}"
        try:
            line = _ManifestLine.model_validate_json(raw)
            documents.append(_manifest_document(line, path.parent, f"{where} of {path}"))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            problems.append(f"{where}: {field + ': ' if field else ''}{first['msg']}")
        except ConfigurationError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        more = (
            f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        )
        raise ConfigurationError(
            f"the manifest {path} has {len(problems)} bad lines (one JSON object a line with "
            '"id" and one of "path", "text", "pages"; optional "metadata", "questions"):\n  '
            + "\n  ".join(problems[:_MAX_LISTED])
            + more
        )
    if not documents:
        raise ConfigurationError(f"the manifest {path} holds no document; write one JSON a line")
    return documents


def _manifest_document(line: _ManifestLine, folder: Path, where: str) -> BatchDocument:
    questions = _unique((_question(q, where) for q in line.questions), where)
    file: str | None = None
    if line.path is not None:
        resolved = (folder / line.path).resolve()
        if not resolved.is_file():
            raise ConfigurationError(f"no such file {line.path} (looked for {resolved})")
        file = str(resolved)
    return BatchDocument(
        id=line.id or Path(line.path or "").as_posix(),
        path=file,
        text=line.text,
        pages=line.pages,
        metadata=line.metadata,
        questions=questions,
    )


def _expand(source: str | Path) -> list[Path]:
    """The files a path, folder or glob names."""
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not found:
            raise ConfigurationError(f"the folder {path} holds no {SUPPORTED_TYPES} file")
        return found
    if isinstance(source, str) and _GLOB_CHARS.search(source):
        matched = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
        if not matched:
            raise ConfigurationError(f"{source!r} matches no file; check the pattern")
        return matched
    raise ConfigurationError(
        f"no such file or folder: {source}. Check the path (a glob such as 'docs/**/*.pdf' "
        "is expanded; quote it so the shell does not)"
    )


def collect_documents(
    sources: Sequence[str | Path] = (), manifest: str | Path | None = None
) -> list[BatchDocument]:
    """The documents of paths, folders, globs and a manifest, each once, ids unique.

    A file's id is its path relative to the common folder of all the files given
    (``reports/2023/acme.pdf`` and ``reports/2024/acme.pdf`` are ``2023/acme.pdf`` and
    ``2024/acme.pdf``; a single file is its name).
    """
    files = list(dict.fromkeys(p.resolve() for s in sources for p in _expand(s)))
    root = Path(os.path.commonpath([f.parent for f in files])) if files else Path()
    documents = [BatchDocument(id=f.relative_to(root).as_posix(), path=str(f)) for f in files]
    if manifest is not None:
        documents += read_manifest(manifest)
    if not documents:
        raise ConfigurationError(
            "no documents: pass files, folders or globs, or --manifest FILE.jsonl"
        )
    seen: dict[str, BatchDocument] = {}
    for document in documents:
        if document.id in seen:
            raise ConfigurationError(
                f"two documents have the id {document.id!r} ({_origin(seen[document.id])} and "
                f"{_origin(document)}); give them distinct ids in the manifest"
            )
        seen[document.id] = document
    return documents


def _origin(document: BatchDocument) -> str:
    return document.path or "inline text in the manifest"
