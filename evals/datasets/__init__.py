"""Datasets: examples of (id, question, documents, gold answer, metadata).

Each dataset module (``financebench``, ``longhealth``, ``qasper``) offers two functions:

- ``catalog(path) -> list[Entry]``: every example's id and metadata, cheaply (no
  documents are built), so a run can pick examples before reading any filing;
- ``load(path, ids=None, context=None, seed=0) -> list[Example]``: the chosen examples
  with their documents, cut to the ``context`` mode (see each module).

:func:`load_examples` does both with the selection flags of ``minions eval`` (``ids``,
``where``, ``sample``, ``limit``). Data is read in place; nothing is copied.
"""

from __future__ import annotations

import importlib
import random
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from minions.documents import Document
from minions.errors import ConfigurationError

__all__ = [
    "DATASETS",
    "SHARED_DATA",
    "ChoiceGold",
    "ContextSpec",
    "Entry",
    "Example",
    "FinanceGold",
    "Gold",
    "ReferenceGold",
    "dataset_module",
    "load_examples",
    "parse_context",
    "select_ids",
]

#: ``<repo>/../shared/data``, where the project keeps its copies of the datasets
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

DatasetName = Literal["financebench", "longhealth", "qasper"]
DATASETS: tuple[DatasetName, ...] = ("financebench", "longhealth", "qasper")

LETTERS = "ABCDE"


class ChoiceGold(BaseModel):
    """A multiple-choice answer: the options by letter and the correct letter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["choice"] = "choice"
    options: dict[str, str]
    correct: str

    @property
    def text(self) -> str:
        return f"{self.correct}. {self.options[self.correct]}"


class FinanceGold(BaseModel):
    """A FinanceBench answer as the dataset gives it (a figure, or a sentence)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["finance"] = "finance"
    answer: str

    @property
    def text(self) -> str:
        return self.answer


class ReferenceGold(BaseModel):
    """Reference answers of several annotators (QASPER): any of them counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["references"] = "references"
    references: list[str] = Field(min_length=1)

    @property
    def text(self) -> str:
        return " | ".join(self.references)


Gold = Annotated[ChoiceGold | FinanceGold | ReferenceGold, Field(discriminator="kind")]


class Entry(BaseModel):
    """An example's id and metadata, before its documents are built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class Example(BaseModel):
    """One question over documents with its gold answer.

    ``context`` says in words what the documents hold (``"pages:6 of 3M_2018_10K:
    pages 12, 60, ..."``) so a results row records what the models were given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    question: str
    documents: list[Document]
    gold: Gold
    metadata: dict[str, Any] = Field(default_factory=dict)
    context: str = ""


class ContextSpec(BaseModel):
    """A parsed ``--context``: a mode and, for most modes, a number (``pages:8``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: str
    n: int | None = None

    def __str__(self) -> str:
        return self.mode if self.n is None else f"{self.mode}:{self.n}"


_CONTEXT = re.compile(r"(?P<mode>[a-z_]+)(?::(?P<n>\d+))?")


def parse_context(spec: str | None, modes: dict[str, bool], default: str) -> ContextSpec:
    """Parse ``spec`` (``"full"``, ``"pages:8"``...) against ``modes``, which maps each
    mode to whether it takes a number. ``None`` means ``default``."""
    text = (spec or default).strip().lower()
    match = _CONTEXT.fullmatch(text)
    usage = ", ".join(f"{m}:N" if numbered else m for m, numbered in modes.items())
    if match is None or match["mode"] not in modes:
        raise ConfigurationError(f"unknown context {text!r}; this dataset takes: {usage}")
    mode, n = match["mode"], match["n"]
    if modes[mode] != (n is not None):
        raise ConfigurationError(f"context {text!r} is malformed; this dataset takes: {usage}")
    if n is not None and int(n) < 1:
        raise ConfigurationError(f"context {text!r} needs a number of at least 1")
    return ContextSpec(mode=mode, n=None if n is None else int(n))


def dataset_module(name: str) -> ModuleType:
    """The module of dataset ``name``."""
    if name not in DATASETS:
        raise ConfigurationError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return importlib.import_module(f"minions.evals.datasets.{name}")


def select_ids(
    entries: Sequence[Entry],
    *,
    ids: Sequence[str] | None = None,
    where: dict[str, str] | None = None,
    sample: int | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[str]:
    """The ids a run takes, in dataset order.

    ``ids`` keeps just those (an unknown id is an error); ``where`` keeps entries whose
    metadata field equals the value (as text); ``sample`` draws that many at random
    (seeded); ``limit`` then keeps the first ones.
    """
    chosen = list(entries)
    if ids:
        known = {e.id for e in chosen}
        unknown = [i for i in ids if i not in known]
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            hint = f"; ids look like {chosen[0].id!r}" if chosen else ""
            raise ConfigurationError(f"unknown example ids: {', '.join(unknown[:5])}{more}{hint}")
        wanted = set(ids)
        chosen = [e for e in chosen if e.id in wanted]
    for key, value in (where or {}).items():
        chosen = [e for e in chosen if str(e.metadata.get(key)) == value]
        if not chosen:
            raise ConfigurationError(f"no example has {key}={value}")
    if sample is not None and sample < len(chosen):
        keep = set(random.Random(f"sample:{seed}").sample(range(len(chosen)), sample))
        chosen = [e for i, e in enumerate(chosen) if i in keep]
    if limit is not None:
        chosen = chosen[:limit]
    return [e.id for e in chosen]


def load_examples(
    name: str,
    *,
    data: str | Path | None = None,
    context: str | None = None,
    ids: Sequence[str] | None = None,
    where: dict[str, str] | None = None,
    sample: int | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[Example]:
    """Pick examples of dataset ``name`` (see :func:`select_ids`) and build them.

    ``data`` defaults to the dataset's copy under ``../shared/data`` where there is one.
    """
    module = dataset_module(name)
    path = module.resolve_path(data)
    chosen = select_ids(
        module.catalog(path), ids=ids, where=where, sample=sample, limit=limit, seed=seed
    )
    examples: list[Example] = module.load(path, ids=chosen, context=context, seed=seed)
    return examples


def existing_path(path: str | Path | None, default: Path | None, what: str) -> Path:
    """``path`` (or ``default``) when it exists; otherwise an error saying what to pass."""
    chosen = Path(path) if path is not None else default
    if chosen is None:
        raise ConfigurationError(f"pass --data with the path of {what}")
    if not chosen.exists():
        raise ConfigurationError(f"{chosen} does not exist; pass --data with the path of {what}")
    return chosen.resolve()


def seeded(seed: int, example_id: str) -> random.Random:
    """A random generator for one example: the same seed and id, the same draws."""
    return random.Random(f"{seed}:{example_id}")
