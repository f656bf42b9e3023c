"""The extraction plan: what the remote writes once, for the whole corpus.

The remote is sent the field specifications and a summary of the documents' metadata
(how many, their types and sizes, the metadata keys with a few example values) and
never a word of their text. It replies with an :class:`ExtractionPlan`: per field the
local model's task, where the value is usually found, synonyms, the unit and the
rules. The summary's size does not grow with the corpus, so neither does the
remote's bill. A reply that does not validate is re-asked; when none does, the plan
falls back to the fields' own descriptions and says so.

:func:`review_plan` is the optional second call (``--review N``): the remote is shown
N sampled cells with the snippets they cite, and may revise the plan once. It sends
document text, so it is off by default and its character count is recorded.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from minions.errors import ProtocolError
from minions.extract_fields import FieldSpec
from minions.prompts import render
from minions.run import Run
from minions.types import Message

__all__ = [
    "ExtractionPlan",
    "FieldPlan",
    "ReviewCell",
    "fallback_plan",
    "make_plan",
    "metadata_summary",
    "review_plan",
]

logger = logging.getLogger(__name__)

#: example values shown per metadata key
EXAMPLES_PER_KEY = 3


class FieldPlan(BaseModel):
    """What the local model does for one field."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100)
    task: str = Field(
        max_length=400, description="the instruction for the local model; may hold {placeholders}"
    )
    where: str = Field(default="", max_length=300, description="where the value is usually found")
    synonyms: list[str] = Field(
        default_factory=list, max_length=8, description="other words for it"
    )
    unit: str | None = Field(default=None, max_length=60, description="the unit of the values")
    rules: str = Field(default="", max_length=300, description="how to write the value")


class ExtractionPlan(BaseModel):
    """One :class:`FieldPlan` per field, in the fields' order."""

    model_config = ConfigDict(extra="forbid")

    fields: list[FieldPlan]

    def for_fields(self, fields: Sequence[FieldSpec]) -> list[FieldPlan]:
        """The plan of each field, in order; a field the remote left out (or named
        otherwise) gets its fallback."""
        mine = {p.name: p for p in self.fields}
        return [mine.get(f.name) or _fallback(f) for f in fields]


def _fallback(field: FieldSpec) -> FieldPlan:
    task = field.description or field.name.replace("_", " ")
    return FieldPlan(name=field.name, task=f"Find {task}.")


def fallback_plan(fields: Sequence[FieldSpec]) -> ExtractionPlan:
    """The plan made of the fields' own descriptions."""
    return ExtractionPlan(fields=[_fallback(f) for f in fields])


def metadata_summary(documents: Sequence[Mapping[str, Any]]) -> str:
    """A description of the corpus of a size that does not grow with it: the count,
    the types and page counts, and each metadata key with a few example values.
    ``documents`` are ``{"type", "pages", "metadata"}`` mappings."""
    types = Counter(str(d.get("type") or "text") for d in documents)
    pages = [int(d.get("pages") or 0) for d in documents]
    keys: dict[str, list[str]] = {}
    for doc in documents:
        for key, value in (doc.get("metadata") or {}).items():
            examples = keys.setdefault(key, [])
            text = str(value)[:80]
            if text not in examples and len(examples) < EXAMPLES_PER_KEY:
                examples.append(text)
    kinds = ", ".join(f"{n} {t}" for t, n in types.most_common())
    lines = [f"{len(documents)} documents ({kinds}), {min(pages)}-{max(pages)} pages each"]
    if keys:
        lines.append("metadata per document (key: example values):")
        lines += [f"- {key}: {'; '.join(values)}" for key, values in keys.items()]
    return "\n".join(lines)


def _field_lines(fields: Sequence[FieldSpec]) -> str:
    return "\n".join(f"- {f.name} ({f.type}): {f.description or f.name}" for f in fields)


async def make_plan(
    run: Run,
    fields: Sequence[FieldSpec],
    documents: Sequence[Mapping[str, Any]],
    **options: Any,
) -> tuple[ExtractionPlan, bool]:
    """The remote's plan for ``fields`` (one call, re-asked when malformed), and
    whether it came from the remote (False: the fallback, noted in ``run``)."""
    messages = [
        Message.system(render("extract_plan_system")),
        Message.user(
            render(
                "extract_plan", fields=_field_lines(fields), documents=metadata_summary(documents)
            )
        ),
    ]
    round_ = run.new_round()
    try:
        plan = await run.call_json(
            "remote", messages, ExtractionPlan, purpose="plan", round=round_, **options
        )
    except ProtocolError as exc:
        run.note(f"the remote wrote no usable plan ({exc}); each field's description is its task")
        return fallback_plan(fields), False
    unknown = sorted({p.name for p in plan.fields} - {f.name for f in fields})
    if unknown:
        run.note(f"the plan named fields that were not asked for: {', '.join(unknown)} (ignored)")
    return ExtractionPlan(fields=plan.for_fields(fields)), True


class ReviewCell(BaseModel):
    """A cell shown to the remote in a review: the value and the snippet it cites."""

    model_config = ConfigDict(extra="forbid")

    field: str
    value: Any
    snippet: str


async def review_plan(
    run: Run,
    plan: ExtractionPlan,
    fields: Sequence[FieldSpec],
    cells: Sequence[ReviewCell],
    **options: Any,
) -> ExtractionPlan:
    """The plan after the remote checked it against ``cells`` (one call); the plan
    unchanged when its reply is unusable."""
    shown = "\n".join(
        f"- {c.field}: {json.dumps(c.value)} (cited: {json.dumps(c.snippet)})" for c in cells
    )
    messages = [
        Message.system(render("extract_plan_system")),
        Message.user(render("extract_review", plan=plan.model_dump_json(indent=1), cells=shown)),
    ]
    try:
        revised = await run.call_json(
            "remote", messages, ExtractionPlan, purpose="review", round=run.new_round(), **options
        )
    except ProtocolError as exc:
        run.note(f"the review gave no usable plan ({exc}); the plan stays as it was")
        return plan
    return ExtractionPlan(fields=revised.for_fields(fields))
