"""BM25 ranking of chunks (bm25s), for protocols that pre-select chunks before fanning out."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from minions.chunking import Chunk
from minions.errors import ConfigurationError

__all__ = ["ScoredChunk", "rank_chunks"]


class ScoredChunk(BaseModel):
    """A chunk and its BM25 score for a query (higher is more relevant)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunk: Chunk
    score: float


def rank_chunks(query: str, chunks: Sequence[Chunk], k: int = 5) -> list[ScoredChunk]:
    """The ``k`` chunks that best match ``query`` by BM25, highest score first.

    Words are lower-cased and English stop words dropped (no stemming). Chunks that
    share no word with the query are left out, so fewer than ``k`` may come back; ties
    keep the chunks' order.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigurationError(f"k must be a whole number of at least 1, got {k!r}")
    if not chunks:
        return []
    import bm25s
    import numpy as np

    corpus = bm25s.tokenize([c.text for c in chunks], stopwords="en", show_progress=False)
    query_words = bm25s.tokenize(query, stopwords="en", return_ids=False, show_progress=False)[0]
    if not corpus.vocab or not any(word in corpus.vocab for word in query_words):
        return []
    index = bm25s.BM25()
    index.index(corpus, show_progress=False)
    scores = index.get_scores(query_words)
    best = np.argsort(-scores, kind="stable")[:k]
    return [ScoredChunk(chunk=chunks[i], score=float(scores[i])) for i in best if scores[i] > 0]
