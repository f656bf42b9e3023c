"""How much of the documents reaches the remote: the verbatim part of the leakage meter.

Every protocol sends the remote something derived from the documents (Minion's local
replies, MinionS's job outputs and quotes; remote_only the documents themselves). For
each remote call and for the run, :class:`Meter` measures two figures over everything
the call sent (every message, the system prompt included):

- **8-gram share**: of the distinct word 8-grams of the documents (words folded to
  lower case, punctuation dropped), the share that appear in remote-bound text. A
  sentence copied counts; a paraphrase or a lone figure does not. ``remote_only`` sends
  everything and is the 100% reference.
- **Longest verbatim span**: the most characters of remote-bound text in one run of
  words that all lie in a document in that order (found through the 8-grams, so spans
  under 8 words count as 0).

The run's share is over the union of its calls' 8-grams, so a passage sent twice counts
once. Sensitive spans (names, dates, identifiers) are another part of the meter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from minions.documents import Document
from minions.types import CallExposure, Message, Privacy

N = 8
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[re.Match[str]]:
    return list(_WORD.finditer(text))


def _grams(words: Sequence[re.Match[str]]) -> list[int]:
    folded = [w.group(0).casefold() for w in words]
    return [hash(tuple(folded[i : i + N])) for i in range(len(folded) - N + 1)]


class Meter:
    """The verbatim exposure of ``documents`` in the remote calls of one run."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self._grams: set[int] = set()
        for doc in documents:
            for page in doc.pages:  # a page break is no place for an 8-gram to span
                self._grams.update(_grams(_words(page)))
        self._sent: set[int] = set()
        self._longest = 0
        self.calls: list[CallExposure] = []

    def measure(self, messages: Sequence[Message], purpose: str, round: int) -> CallExposure:
        """Record one remote call's messages; its exposure."""
        text = "\n".join(m.content for m in messages)
        words = _words(text)
        grams = _grams(words)
        hits = [g in self._grams for g in grams]
        sent = {g for g, hit in zip(grams, hits, strict=True) if hit}
        longest = _longest_span(text, words, hits)
        self._sent |= sent
        self._longest = max(self._longest, longest)
        call = CallExposure(
            purpose=purpose,
            round=round,
            ngram_share=self._share(sent),
            longest_span_chars=longest,
        )
        self.calls.append(call)
        return call

    def _share(self, grams: set[int]) -> float:
        return len(grams) / len(self._grams) if self._grams else 0.0

    def privacy(self) -> Privacy:
        """The run so far: its calls, the share of the union, the longest span."""
        return Privacy(
            document_ngrams=len(self._grams),
            ngram_share=self._share(self._sent),
            longest_span_chars=self._longest,
            calls=list(self.calls),
        )


def _longest_span(text: str, words: Sequence[re.Match[str]], hits: Sequence[bool]) -> int:
    """Characters of the longest run of consecutive matching 8-grams (the words they
    cover, from the first's start to the last's end)."""
    longest, run_start = 0, None
    for i, hit in enumerate([*hits, False]):
        if hit and run_start is None:
            run_start = i
        elif not hit and run_start is not None:
            first, last = words[run_start], words[i - 1 + N - 1]
            longest = max(longest, last.end() - first.start())
            run_start = None
    return longest
