"""What the remote's ``prepare_jobs`` code finds in scope inside the sandbox.

The sandbox child compiles this module from source, in the same restricted world as the
untrusted code (it imports only :mod:`minions.spans`, which imports only the standard
library), so nothing of the parent's process is reachable from it. Everything in and out
is plain data:

- ``chunks`` are dicts (readable as ``chunk.text`` or ``chunk["text"]``) with ``id`` (the
  chunk's position in ``chunks``), ``doc``, ``page_start``, ``page_end``, ``text``, and
  ``start``/``end``, the piece's character offsets inside chunk ``id`` (0 and its length
  for a whole chunk);
- the ``chunk_by_*`` helpers cut a chunk (or a piece) into pieces of the same shape;
- a job is a dict naming a chunk id and a span in it, never carrying text: the parent
  cuts the text from its own chunks, so a job cannot bring text of its own.
"""

from __future__ import annotations

from typing import Any

from minions.spans import CHUNKERS, Chunker

PIECE_KEYS = ("id", "doc", "page_start", "page_end", "text", "start", "end")


class Data(dict):
    """A dict whose keys also read as attributes, as model-written code often expects."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no field {name!r}; the fields are {', '.join(self)}") from None


def _pieces(chunk: Any, cut: Any, *args: Any, **options: Any) -> list[Data]:
    if not isinstance(chunk, dict) or any(key not in chunk for key in PIECE_KEYS):
        raise TypeError("pass one of the chunks (or a piece a chunk_by_* helper returned)")
    text = chunk["text"]
    pieces = []
    for start, end in cut(text, *args, **options):
        pieces.append(
            Data(
                id=chunk["id"],
                doc=chunk["doc"],
                page_start=chunk["page_start"] + text.count("\f", 0, start),
                page_end=chunk["page_start"] + text.count("\f", 0, end - 1),
                text=text[start:end],
                start=chunk["start"] + start,
                end=chunk["start"] + end,
            )
        )
    return pieces


def _helper(c: Chunker) -> Any:
    def helper(chunk: Any, *args: Any, **options: Any) -> list[Data]:
        return _pieces(chunk, c.cut, *args, **options)

    helper.__name__ = helper.__qualname__ = f"chunk_by_{c.name}"
    helper.__doc__ = f"Pieces of a chunk: {c.description}."
    return helper


#: ``chunk_by_<name>`` for every registered chunker, made from the registry
HELPERS = {f"chunk_by_{name}": _helper(c) for name, c in CHUNKERS.items()}


def __getattr__(name: str) -> Any:  # the helpers are attributes of this module
    try:
        return HELPERS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def JobManifest(chunk: Any, task_id: int, task: str, advice: str = "") -> dict[str, Any]:
    """One job: ``task`` for the local model on ``chunk`` (a chunk or a piece of one)."""
    if not isinstance(chunk, dict) or "id" not in chunk:
        raise TypeError("JobManifest(chunk=...) takes one of the chunks or a piece of one")
    return {
        "chunk_id": chunk["id"],
        "start": chunk.get("start"),
        "end": chunk.get("end"),
        "task_id": task_id,
        "task": task,
        "advice": advice,
    }


__all__ = ["JobManifest", *HELPERS]


def sandbox_decode(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Chunks and previous jobs as :class:`Data`."""
    previous = []
    for job in kwargs.get("previous_jobs", []):
        chunk = job.get("chunk")
        previous.append(Data(job, chunk=Data(chunk) if chunk else None))
    return {
        **kwargs,
        "chunks": [Data(c) for c in kwargs.get("chunks", [])],
        "previous_jobs": previous,
    }


def sandbox_encode(value: Any) -> Any:
    """JSON-ready values; objects (e.g. a JobManifest class the code defined itself)
    become dicts of their attributes."""
    if isinstance(value, (list, tuple)):
        return [sandbox_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: sandbox_encode(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    attributes = _attributes(value)
    return sandbox_encode(attributes) if attributes is not None else value


def _attributes(value: Any) -> dict[str, Any] | None:
    try:
        return dict(value.__dict__)
    except AttributeError:
        return None
