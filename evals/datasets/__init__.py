"""Datasets: examples of (id, question, documents, gold answer, metadata).

A :class:`Dataset` does two things: it loads its examples and it scores an answer to
one. Datasets are registered under the entry-point group ``minions.datasets``, the
built-in ones (``financebench``, ``longhealth``, ``qasper``) exactly as a third
party's would be; :func:`get_dataset` finds one by name, or reads a user's own
questions from a ``.jsonl`` file (:mod:`.jsonl`).

The built-in datasets are modules of functions, wrapped by :class:`ModuleDataset`:

- ``resolve_path(data) -> Path``: the dataset's files (``--data``, or a default copy);
- ``catalog(path) -> list[Entry]``: every example's id and metadata, cheaply (no
  documents are built), so a run can pick examples before reading any filing;
- ``load(path, ids=None, context=None, seed=0) -> list[Example]``: the chosen examples
  with their documents, cut to the ``context`` mode (see each module).

:func:`load_examples` picks and loads with the selection flags of ``minions eval``
(``ids``, ``where``, ``sample``, ``limit``). Data is read in place; nothing is copied.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from minions.documents import Document
from minions.errors import ConfigurationError
from minions.plugins import load, registered

if TYPE_CHECKING:
    from minions.types import Usage

    from ..scoring import Judge, Score

__all__ = [
    "GROUP",
    "SHARED_DATA",
    "AnswerGold",
    "ChoiceGold",
    "ContextSpec",
    "Dataset",
    "Entry",
    "Example",
    "FinanceGold",
    "Gold",
    "ModuleDataset",
    "ReferenceGold",
    "available_datasets",
    "choice_question",
    "get_dataset",
    "load_examples",
    "parse_context",
    "select_ids",
]

#: the entry-point group datasets register under
GROUP = "minions.datasets"

#: ``<repo>/../shared/data``, where the project keeps its copies of the datasets
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

LETTERS = "ABCDE"

CHOICE_PROMPT = (
    "{question}\n\nOptions:\n{options}\n\nExactly one option is correct. Answer with the "
    "letter of the correct option followed by its text."
)


def choice_question(question: str, options: dict[str, str]) -> str:
    """A multiple-choice question as put to the models: the options by letter, and how
    to answer."""
    lines = "\n".join(f"{letter}. {text}" for letter, text in options.items())
    return CHOICE_PROMPT.format(question=question.strip(), options=lines)


class ChoiceGold(BaseModel):
    """A multiple-choice answer: the options by letter and the correct letter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["choice"] = "choice"
    options: dict[str, str]
    correct: str

    @property
    def text(self) -> str:
        return f"{self.correct}. {self.options[self.correct]}"


class _AnswerText(BaseModel):
    """A gold that is one answer as text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    answer: str

    @property
    def text(self) -> str:
        return self.answer


class FinanceGold(_AnswerText):
    """A FinanceBench answer as the dataset gives it (a figure, or a sentence)."""

    kind: Literal["finance"] = "finance"


class AnswerGold(_AnswerText):
    """A reference answer from a user's JSONL file and the scorer that grades against
    it: ``numeric`` (by value), ``exact`` (equal text) or ``judge`` (an LLM judge)."""

    kind: Literal["answer"] = "answer"
    scorer: Literal["numeric", "exact", "judge"]


class ReferenceGold(BaseModel):
    """Reference answers of several annotators (QASPER): any of them counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["references"] = "references"
    references: list[str] = Field(min_length=1)

    @property
    def text(self) -> str:
        return " | ".join(self.references)


Gold = Annotated[ChoiceGold | FinanceGold | ReferenceGold | AnswerGold, Field(discriminator="kind")]


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


class Dataset(ABC):
    """Labelled questions over documents: it loads its examples and scores an answer.

    A subclass registered under the entry-point group ``minions.datasets`` is built
    with ``data``, what ``--data`` gave (``None``: its default copy, where it has
    one), and says what to pass when that data is not there.
    """

    def __init__(self, data: str | Path | None = None) -> None:
        self.data = data

    @abstractmethod
    def load(
        self, ids: Sequence[str] | None = None, context: str | None = None, seed: int = 0
    ) -> list[Example]:
        """The examples ``ids`` (all when ``None``) in dataset order, their documents cut
        to ``context`` (``None``: the dataset's default mode); ``seed`` seeds any draw."""

    @abstractmethod
    async def score(
        self, example: Example, answer: str | None, judge: Judge | None = None
    ) -> tuple[Score, Usage]:
        """The score of ``answer`` to ``example`` (graded by ``judge`` where the dataset
        uses one and one is given) and the tokens the judge took."""

    def catalog(self) -> list[Entry]:
        """Every example's id and metadata; override it where that is cheaper than
        :meth:`load`."""
        return [Entry(id=e.id, metadata=e.metadata) for e in self.load()]


class ModuleDataset(Dataset):
    """A dataset written as a module of functions (``resolve_path``, ``catalog``,
    ``load``; see this package's docs), scored by the rules of its golds
    (:func:`minions.evals.scoring.score_example`)."""

    functions: ClassVar[ModuleType]

    def __init__(self, data: str | Path | None = None) -> None:
        super().__init__(data)
        self.path: Path = self.functions.resolve_path(data)

    def catalog(self) -> list[Entry]:
        entries: list[Entry] = self.functions.catalog(self.path)
        return entries

    def load(
        self, ids: Sequence[str] | None = None, context: str | None = None, seed: int = 0
    ) -> list[Example]:
        examples: list[Example] = self.functions.load(
            self.path, ids=ids, context=context, seed=seed
        )
        return examples

    async def score(
        self, example: Example, answer: str | None, judge: Judge | None = None
    ) -> tuple[Score, Usage]:
        from ..scoring import score_example  # scoring imports this package

        return await score_example(example, answer, judge=judge)


class _UnknownDataset(ConfigurationError):
    pass


def available_datasets() -> list[str]:
    """Names of every registered dataset."""
    return sorted(registered(GROUP))


def get_dataset(name: str, data: str | Path | None = None) -> Dataset:
    """The registered dataset ``name`` over ``data``; a ``name`` ending in ``.jsonl`` is
    the path of a user's own questions (:class:`.jsonl.JsonlDataset`)."""
    if Path(name).suffix.lower() == ".jsonl":
        if data is not None:
            raise ConfigurationError(
                f"--data is for registered datasets; {name} names its documents itself"
            )
        from .jsonl import JsonlDataset

        return JsonlDataset(name)
    try:
        cls = load(GROUP, name, Dataset, "dataset", _UnknownDataset)
    except _UnknownDataset as exc:
        raise ConfigurationError(
            f"{exc}; or pass the path of a .jsonl file of your own questions"
        ) from None
    dataset: Dataset = cls(data)
    return dataset


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
    dataset: str | Dataset,
    *,
    data: str | Path | None = None,
    context: str | None = None,
    ids: Sequence[str] | None = None,
    where: dict[str, str] | None = None,
    sample: int | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[Example]:
    """Pick examples of ``dataset`` (see :func:`select_ids`) and build them. A name is
    looked up with :func:`get_dataset` over ``data``, which defaults to the dataset's
    copy under ``../shared/data`` where there is one."""
    if isinstance(dataset, str):
        dataset = get_dataset(dataset, data)
    chosen = select_ids(
        dataset.catalog(), ids=ids, where=where, sample=sample, limit=limit, seed=seed
    )
    return dataset.load(ids=chosen, context=context, seed=seed)


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
