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
once.

**Sensitive values.** The documents' names, organisations, dates, identifiers, phone
numbers, e-mails, amounts and addresses (:func:`minions.pii.find_spans`), distinct by
value, and how many of them reached the remote: written as in the document, or in
another form that says the same (:func:`minions.pii.normalize`: a date written
another way; a person's surname alone), found by running the same recognizers on the
remote-bound text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from minions.documents import Document
from minions.pii import Span, find_spans, normalize
from minions.types import CallExposure, Message, Privacy, SensitiveCount

N = 8
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[re.Match[str]]:
    return list(_WORD.finditer(text))


def _grams(words: Sequence[re.Match[str]]) -> list[int]:
    folded = [w.group(0).casefold() for w in words]
    return [hash(tuple(folded[i : i + N])) for i in range(len(folded) - N + 1)]


class Meter:
    """The verbatim exposure of ``documents`` in the remote calls of one run."""

    def __init__(self, documents: Iterable[Document], names: Iterable[str] = ()) -> None:
        self._pages = [page for doc in documents for page in doc.pages]
        self._grams: set[int] = set()
        for page in self._pages:  # a page break is no place for an 8-gram to span
            self._grams.update(_grams(_words(page)))
        self.add_names(names)
        self._values_sent: set[tuple[str, str]] = set()
        self._sent: set[int] = set()
        self._longest = 0
        self.calls: list[CallExposure] = []

    def add_names(self, names: Iterable[str]) -> None:
        """Count ``names`` (found by the local name pass) among the documents' sensitive
        values too; the 8-grams do not change."""
        self._names = list(names)
        #: the documents' sensitive values: (kind, normalised) -> a span as written
        self._values: dict[tuple[str, str], Span] = {}
        for page in self._pages:
            for span in find_spans(page, self._names):
                self._values.setdefault((span.kind, normalize(span.kind, span.text)), span)

    def measure(self, messages: Sequence[Message], purpose: str, round: int) -> CallExposure:
        """Record one remote call's messages; its exposure."""
        text = "\n".join(m.content for m in messages)
        words = _words(text)
        grams = _grams(words)
        hits = [g in self._grams for g in grams]
        sent = {g for g, hit in zip(grams, hits, strict=True) if hit}
        longest = _longest_span(text, words, hits)
        values = self._carried(text)
        self._sent |= sent
        self._longest = max(self._longest, longest)
        self._values_sent |= values
        call = CallExposure(
            purpose=purpose,
            round=round,
            ngram_share=self._share(sent),
            longest_span_chars=longest,
            sensitive_sent=_by_kind(values),
        )
        self.calls.append(call)
        return call

    def _carried(self, text: str) -> set[tuple[str, str]]:
        """The documents' sensitive values that ``text`` carries, in any form: the same
        recognizers run on it, values compared once normalised; a person's surname
        alone, untitled, counts too."""
        carried: set[tuple[str, str]] = {
            (s.kind, normalize(s.kind, s.text)) for s in find_spans(text, self._names)
        }
        carried &= set(self._values)
        for key, span in self._values.items():
            if span.kind == "PERSON" and key not in carried:
                surname = span.text.split()[-1]
                if len(surname) > 2 and re.search(rf"\b{re.escape(surname)}\b", text):
                    carried.add(key)
        return carried

    def _share(self, grams: set[int]) -> float:
        return len(grams) / len(self._grams) if self._grams else 0.0

    def privacy(self) -> Privacy:
        """The run so far: its calls, the share of the union, the longest span."""
        found = _by_kind(set(self._values))
        sent = _by_kind(self._values_sent)
        return Privacy(
            document_ngrams=len(self._grams),
            ngram_share=self._share(self._sent),
            longest_span_chars=self._longest,
            sensitive={k: SensitiveCount(found=n, sent=sent.get(k, 0)) for k, n in found.items()},
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


def _by_kind(values: Iterable[tuple[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind, _ in values:
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))
