"""The privacy shield: sensitive values leave the machine as numbered placeholders.

With ``privacy="strict"`` (or ``"strict+names"``) a run (:class:`minions.run.Run`) puts
every remote-bound message through :meth:`Shield.mask` before it is sent, recorded or
metered: each sensitive value of the documents or the task (:func:`minions.pii.find_spans`) becomes
a typed, numbered placeholder, ``[PERSON_1]``, ``[DATE_3]``, the same one for the same
value however it is written (a date in another format, a surname alone), so the remote
can still reason about them ("is [DATE_3] after [DATE_1]?"). Values found only in the
message (a figure a local model rewrote) get placeholders of their own. The remote's
replies come back through :meth:`Shield.rehydrate` before the protocol reads them, so
local models and the final answer see real values.

The map from placeholders to values lives in this object only: it is never written to
the Result, the events or the logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from minions.documents import Document
from minions.pii import KINDS, find_spans, normalize

PLACEHOLDER = re.compile(r"\[(" + "|".join(KINDS) + r")_(\d+)\]")


class Shield:
    """Placeholders for the sensitive values of one run."""

    def __init__(
        self, documents: Iterable[Document], task: str = "", names: Iterable[str] = ()
    ) -> None:
        names = list(names)
        self._by_key: dict[tuple[str, str], str] = {}  # (kind, normalised) -> placeholder
        self._value: dict[str, str] = {}  # placeholder -> the value as first written
        self._names: dict[str, str] = {}  # a name as written, and its last word -> placeholder
        self._counts: dict[str, int] = {}
        for text in [task, *(page for doc in documents for page in doc.pages)]:
            for span in find_spans(text, names):
                self._placeholder(span.kind, span.text)

    def __repr__(self) -> str:  # never the values
        return f"<Shield {len(self._value)} placeholders>"

    def _placeholder(self, kind: str, written: str) -> str:
        key = (kind, normalize(kind, written))  # type: ignore[arg-type]
        surname = written.split()[-1] if kind == "PERSON" else ""
        if key not in self._by_key and surname in self._names:
            # "Mrs. Caballero" and "Lina Caballero" are one person to the remote (two
            # people of one surname are too: a shield may merge, it must not leak)
            self._by_key[key] = self._names[surname]
        if key not in self._by_key:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            placeholder = f"[{kind}_{self._counts[kind]}]"
            self._by_key[key] = placeholder
            self._value[placeholder] = written
        if kind == "PERSON":
            self._names.setdefault(written, self._by_key[key])
            if len(surname) > 2:
                self._names.setdefault(surname, self._by_key[key])
        return self._by_key[key]

    def mask(self, text: str) -> str:
        """``text`` with every sensitive value as its placeholder: the names known so
        far first (longest first, so a full name goes whole), then what the
        recognizers find in it."""
        for name, placeholder in sorted(self._names.items(), key=lambda n: -len(n[0])):
            text = re.sub(rf"\b{re.escape(name)}\b", placeholder, text)
        out, at = [], 0
        for span in find_spans(text):
            if PLACEHOLDER.search(span.text):
                continue
            out += [text[at : span.start], self._placeholder(span.kind, span.text)]
            at = span.end
        return "".join([*out, text[at:]])

    def rehydrate(self, text: str) -> str:
        """``text`` with its placeholders back to the values (unknown ones kept)."""
        return PLACEHOLDER.sub(lambda m: self._value.get(m.group(0), m.group(0)), text)

    def rehydrate_data(self, value: Any) -> Any:
        """:meth:`rehydrate` on every string in JSON-like ``value``."""
        if isinstance(value, str):
            return self.rehydrate(value)
        if isinstance(value, list):
            return [self.rehydrate_data(v) for v in value]
        if isinstance(value, dict):
            return {k: self.rehydrate_data(v) for k, v in value.items()}
        return value
