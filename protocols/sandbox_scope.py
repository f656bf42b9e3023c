"""What the remote's ``prepare_jobs`` code finds in scope inside the sandbox.

The sandbox imports this module in the child process before running the untrusted
code, puts ``__all__`` in the code's globals, turns the JSON arguments into objects
with :func:`sandbox_decode` and the return value back into JSON with
:func:`sandbox_encode`.
"""

from __future__ import annotations

from dataclasses import dataclass, is_dataclass
from typing import Any

from minions import chunking
from minions.chunking import Chunk
from minions.documents import Document

__all__ = [
    "Chunk",
    "JobManifest",
    "PreviousJob",
    "SandboxChunk",
    "chunk_by_chars",
    "chunk_by_pages",
    "chunk_by_paragraphs",
    "chunk_by_sections",
    "chunk_by_tokens",
]


class SandboxChunk(Chunk):
    """A chunk that also reads like a dict (``chunk["text"]``), as model-written code
    often expects."""

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in type(self).model_fields else default


@dataclass
class JobManifest:
    """One job: a task for the local model on one chunk."""

    chunk: Chunk
    task_id: int
    task: str
    advice: str = ""


@dataclass
class PreviousJob:
    """A job of an earlier round and what it found (``answer`` None: nothing)."""

    task_id: int
    task: str
    chunk: Chunk
    answer: str | None


def _split(source: Chunk | Document | str, chunker: Any, **kwargs: Any) -> list[Chunk]:
    """Run a chunker on a chunk, keeping the chunk's document name and page numbers."""
    if not isinstance(source, Chunk):
        return list(chunker(source, **kwargs))
    pages = source.text.split("\f")
    doc = Document.from_pages(pages, name=source.doc)
    shift = source.page_start - 1
    return [
        part.model_copy(
            update={
                "page_start": part.page_start + shift,
                "page_end": part.page_end + shift,
                "start": part.start + source.start,
                "end": part.end + source.start,
            }
        )
        for part in chunker(doc, **kwargs)
    ]


def chunk_by_pages(source: Chunk | Document | str, pages_per_chunk: int = 1) -> list[Chunk]:
    return _split(source, chunking.chunk_by_pages, pages_per_chunk=pages_per_chunk)


def chunk_by_chars(
    source: Chunk | Document | str, size: int = 4000, overlap: int = 0
) -> list[Chunk]:
    return _split(source, chunking.chunk_by_chars, size=size, overlap=overlap)


def chunk_by_tokens(
    source: Chunk | Document | str, size: int = 1000, overlap: int = 0
) -> list[Chunk]:
    return _split(source, chunking.chunk_by_tokens, size=size, overlap=overlap)


def chunk_by_paragraphs(source: Chunk | Document | str, max_chars: int = 4000) -> list[Chunk]:
    return _split(source, chunking.chunk_by_paragraphs, max_chars=max_chars)


def chunk_by_sections(source: Chunk | Document | str, max_chars: int = 8000) -> list[Chunk]:
    return _split(source, chunking.chunk_by_sections, max_chars=max_chars)


def sandbox_decode(kwargs: dict[str, Any]) -> dict[str, Any]:
    decoded = dict(kwargs)
    decoded["chunks"] = [SandboxChunk.model_validate(c) for c in kwargs.get("chunks", [])]
    decoded["previous_jobs"] = [
        PreviousJob(
            task_id=j["task_id"],
            task=j["task"],
            chunk=SandboxChunk.model_validate(j["chunk"]),
            answer=j.get("answer"),
        )
        for j in kwargs.get("previous_jobs", [])
    ]
    return decoded


def sandbox_encode(value: Any) -> Any:
    """JSON-ready values; objects (e.g. a JobManifest class the code defined itself)
    become dicts of their attributes."""
    if isinstance(value, (list, tuple)):
        return [sandbox_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: sandbox_encode(v) for k, v in value.items()}
    if isinstance(value, Chunk):
        return value.model_dump()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if is_dataclass(value) or hasattr(value, "__dict__"):
        return sandbox_encode(dict(vars(value)))
    return value
