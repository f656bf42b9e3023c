"""Structured extraction over a corpus: one row per document, one column per field.

::

    table = minions.extract(["filings/"], ["capex:number:FY2018 capital expenditure, USD millions"],
                            out="runs/capex", local="ollama:qwen2.5:3b", remote="openai:gpt-4o")
    table.rows[0].values["capex"], table.parquet, table.remote_usd

**Plan once, read locally, aggregate locally.** The remote writes one plan for the
whole extraction from the field specifications and a summary of the documents'
metadata (:mod:`minions.extract_plan`); it never reads the text, and its cost does not
grow with the corpus. Per document and field, BM25 (:mod:`minions.retrieval`) picks the
``top_k`` chunks most likely to hold the value and the local model reads each under a
JSON schema (the quote first, then the value as written); the rules of
:mod:`minions.extract_values` turn the candidates into one cell (majority over the
normalised non-null values, the agreement, conflicts recorded), and the local model
breaks a tie only when the rules cannot.

``review=N`` shows the remote N sampled cells with the snippets they cite, once, after
the first documents, so it can revise the plan (those documents are then read again
with the revised plan). It sends document text: it is off by default and the plan file
and the result say how many characters it sent. ``synthesize=True`` adds function
synthesis (:mod:`minions.extract_synth`).

**The output folder** (``out``): ``run.json`` (the :class:`ExtractSettings`; other
settings into the same folder are refused), ``plan.json`` (the plan, its remote usage,
the review and the synthesized functions; a resumed run reads it and does not plan
again), ``results.jsonl`` (one :class:`ExtractRow` a line, appended as each document
finishes, so Ctrl-C or a crash keeps every finished document and the same call
resumes), then ``results.parquet`` and ``results.csv``: the table, with per field the
columns ``<field>``, ``<field>__pages`` and ``<field>__agreement``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from minions import rowstore
from minions._callable import callable_module
from minions.api import (
    DEFAULT_LOCAL,
    choose_remote,
    stand_in_note,
)
from minions.asyncio_bridge import run_sync
from minions.batch import BatchCache, ClientSource, _as_documents, batch_clients, spec_of
from minions.batch_inputs import BatchDocument, PageSelection
from minions.batch_rows import replace_atomically, settings_hash
from minions.chunking import Chunk, chunk
from minions.citations import check_quote
from minions.clients import Client
from minions.documents import Document
from minions.errors import ConfigurationError, ProtocolError
from minions.extract_fields import (
    FieldSpec,
    answer_schema,
    fields_from_json_schema,
    fields_from_model,
    parse_fields,
)
from minions.extract_plan import (
    ExtractionPlan,
    FieldPlan,
    ReviewCell,
    make_plan,
    review_plan,
)
from minions.extract_values import (
    Candidate,
    Cell,
    aggregate,
    coerce,
    resolve_tie,
    supports,
    values_in,
)
from minions.limits import Limits
from minions.pricing import price
from minions.progress import Throughput
from minions.prompts import render
from minions.retrieval import rank_chunks
from minions.run import Privacy, Run, remote_only_usage
from minions.types import Message, Result, RunStatus, Usage

__all__ = [
    "PLAN",
    "ExtractProgress",
    "ExtractResult",
    "ExtractRow",
    "ExtractSettings",
    "PlanFile",
    "as_fields",
    "extract",
    "extract_async",
    "table_columns",
]

logger = logging.getLogger(__name__)

PLAN = "plan.json"
PARQUET = "results.parquet"
CSV = "results.csv"
LIST_SEPARATOR = " | "

FieldsInput = type[BaseModel] | Mapping[str, Any] | Sequence[str | FieldSpec] | str


def as_fields(fields: FieldsInput) -> list[FieldSpec]:
    """Fields from a pydantic model, a JSON schema, ``name:type:description`` strings
    or :class:`FieldSpec` objects."""
    if isinstance(fields, type) and issubclass(fields, BaseModel):
        return fields_from_model(fields)
    if isinstance(fields, Mapping):
        return fields_from_json_schema(fields)
    return parse_fields([fields] if isinstance(fields, str) else fields)


class ExtractSettings(BaseModel):
    """How every row of an extraction is computed; the same settings resume it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: list[FieldSpec]
    local: str
    remote: str
    price_as: str | None = None
    top_k: int = Field(default=3, ge=1, description="chunks read per field and document")
    chunking: str = "pages"
    chunk_size: int | None = None
    pages: str | None = Field(default=None, description="the pages kept of every document")
    review: int = Field(default=0, ge=0, description="cells shown to the remote in the review")
    synthesize: bool = False
    local_max_tokens: int = Field(
        default=192, ge=16, description="the most tokens the local model writes per read"
    )
    remote_max_tokens: int = Field(
        default=1536, ge=64, description="the most tokens the remote writes per reply"
    )
    sample_docs: int = Field(
        default=3,
        ge=1,
        description="documents read first, before any is written, when there is a review "
        "to sample cells from or functions to fit on them",
    )
    limits: Limits | None = Field(default=None, description="each document's own limits")
    privacy: Privacy = Field(default="off", description="see minions.shield")

    def options(self, role: str) -> dict[str, Any]:
        """The options of every ``role`` call: deterministic (so the response cache
        serves a rerun), and bounded."""
        tokens = self.local_max_tokens if role == "local" else self.remote_max_tokens
        return {"temperature": 0.0, "max_tokens": tokens}

    @property
    def hash(self) -> str:
        """12 hex digits of the settings (privacy "off" hashes as extractions written
        before that setting)."""
        return settings_hash(self, added_later={"privacy": "off"})


class ExtractRow(BaseModel):
    """One document's cells."""

    model_config = ConfigDict(extra="forbid")

    id: str
    settings_hash: str
    status: RunStatus
    error: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    pages: dict[str, list[int]] = Field(default_factory=dict)
    agreement: dict[str, float | None] = Field(default_factory=dict)
    conflicts: list[str] = Field(default_factory=list, description="fields whose candidates differ")
    cells: dict[str, Cell] = Field(default_factory=dict)
    candidates: dict[str, list[Candidate]] = Field(default_factory=dict)
    usage: dict[str, Usage] = Field(default_factory=dict)
    remote_usd: float | None = None
    remote_only_usd: float | None = Field(
        default=None, description="sending the whole document and the fields to the remote"
    )
    remote_only_input_tokens: int = 0
    local_calls_saved: int = Field(default=0, description="reads the synthesized functions spared")
    wall_s: float = 0.0
    local_s: float = 0.0
    sandbox_s: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)
    finished_at: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.id, self.settings_hash


class PlanFile(BaseModel):
    """``plan.json``: the plan and what making it cost."""

    model_config = ConfigDict(extra="forbid")

    plan: ExtractionPlan
    from_remote: bool = True
    usage: dict[str, Usage] = Field(default_factory=dict)
    remote_usd: float | None = None
    notes: list[str] = Field(default_factory=list)
    reviewed: bool = False
    review_chars_sent: int = Field(default=0, description="document text the review sent")
    plan_changed_by_review: bool = False
    functions: dict[str, Any] = Field(default_factory=dict, description="see extract_synth")
    created_at: str = ""

    def add(self, result: Result) -> None:
        """Count a remote step's usage and notes (planning, review, synthesis)."""
        for role, usage in result.usage.items():
            self.usage[role] = self.usage.get(role, Usage()) + usage
        if result.cost.remote_usd is not None:
            self.remote_usd = (self.remote_usd or 0.0) + result.cost.remote_usd
        self.notes += [n for n in result.notes if n not in self.notes]


class _Extraction:
    """What the runs of an extraction are of (:class:`minions.run.Owner`)."""

    name: ClassVar[str] = "extract"

    def __init__(self, settings: ExtractSettings) -> None:
        self.config = settings


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fill(text: str, metadata: Mapping[str, Any]) -> str:
    """``{key}`` placeholders filled from ``metadata``; unknown ones kept."""
    return re.sub(r"\{(\w+)\}", lambda m: str(metadata.get(m[1], m[0])), text)


#: what a value looks like in the reply; no example figure (a 0.5B model copied
#: "1,234.5 million" from an example as the value of a lab test)
_SHAPES = {
    "str": '"<the value as written, or null>"',
    "int": '"<the number as written, or null>"',
    "number": '"<the figure as the passage writes it, with its unit or scale word if any, '
    'or null>"',
    "date": '"<the date as written, or null>"',
    "bool": "true, false or null",
}


class TieChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    choice: str


# --- one document ----------------------------------------------------------------------


@dataclass
class Reader:
    """Reads the fields of one document with the local model (and the synthesized
    functions, when there are some)."""

    settings: ExtractSettings
    fields: list[FieldSpec]
    plan: list[FieldPlan]
    local: Client
    remote: Client
    functions: Any = None  # extract_synth.Functions, when synthesized
    _schemas: dict[str, type[BaseModel]] = field(default_factory=dict)

    def chunks(self, document: Document) -> list[Chunk]:
        return chunk(document, self.settings.chunking, size=self.settings.chunk_size)

    def query(self, spec: FieldSpec, plan: FieldPlan, metadata: Mapping[str, Any]) -> str:
        parts = [spec.describe(metadata), _fill(plan.task, metadata), plan.where, *plan.synonyms]
        return " ".join(p for p in parts if p)

    def hints(self, plan: FieldPlan, metadata: Mapping[str, Any]) -> str:
        lines = []
        if plan.where:
            lines.append(f"Usually found: {_fill(plan.where, metadata)}")
        if plan.synonyms:
            lines.append(f"Also written as: {', '.join(plan.synonyms)}")
        if plan.unit:
            lines.append(f"Unit: {plan.unit}")
        if plan.rules:
            lines.append(f"Rules: {_fill(plan.rules, metadata)}")
        return "\n".join(lines) + ("\n" if lines else "")

    async def read(
        self, run: Run, spec: FieldSpec, plan: FieldPlan, hit: Chunk, metadata: Mapping[str, Any]
    ) -> Candidate:
        """One chunk read for one field: a candidate (null when unreadable)."""
        if spec.name not in self._schemas:  # built once per field, not once per read
            self._schemas[spec.name] = answer_schema(spec)
        schema = self._schemas[spec.name]
        shape = '["<each item as written>", ...] or null' if spec.is_list else _SHAPES[spec.base]
        messages = [
            Message.system(render("extract_read_system")),
            Message.user(
                render(
                    "extract_read",
                    doc=hit.doc,
                    pages=hit.pages,
                    text=hit.text,
                    name=spec.name,
                    type=spec.type,
                    description=spec.describe(metadata) or spec.name,
                    task=_fill(plan.task, metadata),
                    hints=self.hints(plan, metadata),
                    shape=shape,
                )
            ),
        ]
        pages = list(range(hit.page_start, hit.page_end + 1))
        try:
            answer = await run.call_json(
                "local", messages, schema, purpose=f"read {spec.name}", round=run.rounds[-1],
                attempts=2, **self.settings.options("local"),
            )  # fmt: skip
        except ProtocolError as exc:
            run.note(f"{spec.name} on {hit.pages}: {exc}")
            return Candidate(pages=pages)
        quote = getattr(answer, "quote", None)
        value = getattr(answer, "value", None)
        found = bool(quote) and check_quote(quote, hit.text).verified
        if not found or quote is None:
            return Candidate(value=value, quote=quote, pages=pages)
        normal = coerce(spec, value, plan.unit)
        if supports(spec, quote, normal, plan.unit):
            return Candidate(value=value, quote=quote, verified=True, pages=pages)
        # the quote is the chunk's; a value it does not state is not: when the quote
        # states exactly one value of the type, that one is taken
        stated = values_in(spec, quote, plan.unit) if spec.base in ("date", "number", "int") else []
        if len(stated) == 1:
            return Candidate(
                value=stated[0], quote=quote, verified=True, pages=pages, source="quote"
            )
        return Candidate(value=value, quote=quote, pages=pages)

    async def tiebreak(
        self, run: Run, spec: FieldSpec, plan: FieldPlan, cell: Cell, metadata: Mapping[str, Any]
    ) -> Cell:
        """The local model chooses among the values a tie left (the rules could not)."""
        letters = "ABCDEFGH"[: len(cell.tied)]
        options = "\n".join(
            f"{letter}. {json.dumps(value)}"
            for letter, value in zip(letters, cell.tied, strict=False)
        )
        messages = [
            Message.user(
                render(
                    "extract_tie", name=spec.name, task=_fill(plan.task, metadata), options=options
                )
            )
        ]
        try:
            reply = await run.call_json(
                "local", messages, TieChoice, purpose=f"tie {spec.name}", round=run.rounds[-1],
                attempts=2, **self.settings.options("local"),
            )  # fmt: skip
        except ProtocolError:
            return cell
        letter = reply.choice.strip().upper()[:1]
        return resolve_tie(cell, cell.tied[letters.index(letter)]) if letter in letters else cell

    async def field(
        self,
        run: Run,
        spec: FieldSpec,
        plan: FieldPlan,
        chunks: Sequence[Chunk],
        metadata: Mapping[str, Any],
    ) -> tuple[Cell, list[Candidate], int]:
        """One field of one document: its cell, its candidates, the local reads the
        functions spared."""
        hits = [
            h.chunk
            for h in rank_chunks(self.query(spec, plan, metadata), chunks, k=self.settings.top_k)
        ]
        if self.functions is not None:
            answered = await self.functions.answer(run, spec, hits, plan.unit, metadata)
            if answered is not None:
                return answered, [], len(hits)
        candidates = [await self.read(run, spec, plan, hit, metadata) for hit in hits]
        cell = aggregate(spec, candidates, plan.unit)
        if cell.tied:
            cell = await self.tiebreak(run, spec, plan, cell, metadata)
        return cell, candidates, 0

    async def document(self, doc: BatchDocument, loaded: Document | BaseException) -> ExtractRow:
        """Every field of one document; a failure is a row with status "error"."""
        started = time.perf_counter()
        if isinstance(loaded, BaseException):
            return ExtractRow(
                id=doc.id,
                settings_hash=self.settings.hash,
                status="error",
                error=f"{type(loaded).__name__}: {loaded}",
                metadata=doc.metadata,
                wall_s=round(time.perf_counter() - started, 3),
                finished_at=_now(),
            )
        names = ", ".join(f.name for f in self.fields)
        run = Run(
            _Extraction(self.settings),
            f"extract {names}",
            [loaded],
            local=self.local,
            remote=self.remote,
            price_as=self.settings.price_as,
            limits=self.settings.limits,
            privacy=self.settings.privacy,
        )
        cells: dict[str, Cell] = {}
        candidates: dict[str, list[Candidate]] = {}
        saved = 0

        async def body() -> None:
            nonlocal saved
            run.new_round()
            chunks = self.chunks(loaded)
            for spec, plan in zip(self.fields, self.plan, strict=True):
                cell, found, spared = await self.field(run, spec, plan, chunks, doc.metadata)
                cells[spec.name], candidates[spec.name] = cell, found
                saved += spared
            run.answer = json.dumps({k: c.value for k, c in cells.items()}, default=str)

        result = await run.execute(body())
        counterfactual = remote_only_usage(run.task, [loaded], result.answer)
        return ExtractRow(
            id=doc.id,
            settings_hash=self.settings.hash,
            status=result.status,
            error=result.error,
            values={k: c.value for k, c in cells.items()},
            pages={k: c.pages for k, c in cells.items()},
            agreement={k: c.agreement for k, c in cells.items()},
            conflicts=[k for k, c in cells.items() if c.conflict],
            cells=cells,
            candidates=candidates,
            usage=dict(result.usage),
            remote_usd=result.cost.remote_usd,
            remote_only_usd=price(
                counterfactual, self.settings.price_as or self.settings.remote
            ).usd,
            remote_only_input_tokens=counterfactual.input_tokens,
            local_calls_saved=saved,
            wall_s=round(time.perf_counter() - started, 3),
            local_s=round(result.timings.local_s, 3),
            sandbox_s=round(result.timings.sandbox_s, 3),
            metadata=doc.metadata,
            finished_at=_now(),
        )


# --- the table ---------------------------------------------------------------------------


def table_columns(fields: Sequence[FieldSpec]) -> list[str]:
    """The table's columns: ``id``, per field ``<field>``, ``<field>__pages`` and
    ``<field>__agreement``, then ``status``, ``conflicts`` and the row's costs."""
    per_field = [f"{f.name}{suffix}" for f in fields for suffix in ("", "__pages", "__agreement")]
    return ["id", *per_field, "status", "conflicts", "local_tokens", "wall_s", "error"]


def _record(row: ExtractRow, fields: Sequence[FieldSpec]) -> dict[str, Any]:
    local = row.usage.get("local", Usage())
    record: dict[str, Any] = {"id": row.id}
    for spec in fields:
        record[spec.name] = row.values.get(spec.name)
        record[f"{spec.name}__pages"] = row.pages.get(spec.name, [])
        record[f"{spec.name}__agreement"] = row.agreement.get(spec.name)
    record.update(
        status=row.status,
        conflicts=row.conflicts,
        local_tokens=local.input_tokens + local.output_tokens,
        wall_s=row.wall_s,
        error=row.error,
    )
    return record


def write_parquet(rows: Sequence[ExtractRow], fields: Sequence[FieldSpec], path: Path) -> Path:
    """The table as Parquet: a number column is float64, int int64, bool bool, a date
    date32, a list a list column; pages lists of int32."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    scalar = {
        "str": pa.string(),
        "int": pa.int64(),
        "number": pa.float64(),
        "date": pa.date32(),
        "bool": pa.bool_(),
    }
    columns: list[tuple[str, Any]] = [("id", pa.string())]
    for spec in fields:
        kind = scalar[spec.base]
        columns += [
            (spec.name, pa.list_(kind) if spec.is_list else kind),
            (f"{spec.name}__pages", pa.list_(pa.int32())),
            (f"{spec.name}__agreement", pa.float64()),
        ]
    columns += [
        ("status", pa.string()),
        ("conflicts", pa.list_(pa.string())),
        ("local_tokens", pa.int64()),
        ("wall_s", pa.float64()),
        ("error", pa.string()),
    ]
    records = [_record(row, fields) for row in rows]
    for record in records:  # ISO dates to dates
        for spec in fields:
            if spec.base == "date" and record[spec.name] is not None:
                value = record[spec.name]
                record[spec.name] = [_date(v) for v in value] if spec.is_list else _date(value)
    table = pa.Table.from_pylist(records, schema=pa.schema(columns))
    return replace_atomically(path, lambda p: pq.write_table(table, p))


def _date(value: str) -> Any:
    from datetime import date

    return date.fromisoformat(value)


def write_csv(rows: Sequence[ExtractRow], fields: Sequence[FieldSpec], path: Path) -> Path:
    """The table as CSV: lists joined by ``" | "``, nulls empty."""
    import csv

    names = table_columns(fields)

    def cell(value: Any) -> Any:
        if isinstance(value, list):
            return LIST_SEPARATOR.join(str(v) for v in value)
        return "" if value is None else value

    def write(target: Path) -> None:
        with target.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=names)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: cell(v) for k, v in _record(row, fields).items()})

    return replace_atomically(path, write)


# --- progress ------------------------------------------------------------------------------


@dataclass
class ExtractProgress(Throughput):
    """Running totals of an extraction, updated as each document finishes."""

    errors: int = 0
    plan_remote_usd: float = 0.0
    remote_usd: float = 0.0
    remote_only_usd: float = 0.0
    local_tokens: int = 0

    def add(self, row: ExtractRow, *, before: bool = False) -> None:
        self.done += 1
        self.done_before += before
        self.errors += row.status == "error"
        self.remote_usd += row.remote_usd or 0.0
        self.remote_only_usd += row.remote_only_usd or 0.0
        local = row.usage.get("local", Usage())
        self.local_tokens += local.input_tokens + local.output_tokens


@dataclass
class ExtractResult:
    """What an extraction returns: the rows in document order, the plan, the files."""

    rows: list[ExtractRow]
    fields: list[FieldSpec]
    plan: PlanFile
    out: Path
    progress: ExtractProgress
    parquet: Path | None = None
    csv: Path | None = None

    @property
    def remote_usd(self) -> float | None:
        """What the remote was paid: the plan (and review, synthesis), nothing per document."""
        return self.plan.remote_usd

    @property
    def remote_tokens(self) -> int:
        usage = self.plan.usage.get("remote", Usage())
        return usage.input_tokens + usage.output_tokens

    @property
    def remote_only_usd(self) -> float:
        """What sending every document whole to the remote would have cost."""
        return sum(r.remote_only_usd or 0.0 for r in self.rows)

    def table(self) -> list[dict[str, Any]]:
        """The rows as the table's records."""
        return [_record(row, self.fields) for row in self.rows]


OnStart = Callable[[ExtractProgress], None]
OnRow = Callable[[ExtractRow, ExtractProgress], None]


# --- the extraction --------------------------------------------------------------------------


def _summary_entry(doc: BatchDocument, loaded: Document | BaseException | None) -> dict[str, Any]:
    """What the plan is told of one document (never its text): its type and pages
    when it was loaded, and its metadata."""
    if not isinstance(loaded, Document):
        loaded = None
    kind = (
        loaded.metadata.type
        if loaded is not None
        else (Path(doc.path).suffix.lstrip(".") if doc.path else "text")
    )
    return {
        "type": kind,
        "pages": len(loaded.pages) if loaded is not None else 0,
        "metadata": doc.metadata,
    }


def _check_placeholders(fields: Sequence[FieldSpec], documents: Sequence[BatchDocument]) -> None:
    for spec in fields:
        for key in spec.placeholders():
            missing = [d.id for d in documents if key not in d.metadata]
            if missing:
                shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
                raise ConfigurationError(
                    f"field {spec.name!r} names {{{key}}} but {len(missing)} document(s) have "
                    f'no metadata {key!r} ({shown}); give it in the manifest\'s "metadata"'
                )


def _load(doc: BatchDocument, selection: PageSelection | None) -> Document | BaseException:
    try:
        return doc.load(selection)
    except Exception as exc:
        logger.warning("%s did not load: %s", doc.id, exc)
        return exc


async def _take(
    loaded: dict[str, Document | BaseException], doc: BatchDocument, selection: PageSelection | None
) -> Document | BaseException:
    """The document loaded for planning, or loaded now (off the event loop)."""
    if doc.id in loaded:
        return loaded.pop(doc.id)
    return await asyncio.to_thread(_load, doc, selection)


def _sample_cells(rows: Sequence[ExtractRow], n: int, seed: int = 0) -> list[ReviewCell]:
    cells = [
        ReviewCell(field=name, value=value, snippet=quote)
        for row in rows
        for name, value in row.values.items()
        if value is not None
        for quote in [next((c.quote for c in row.candidates.get(name, []) if c.quote), None)]
        if quote
    ]
    random.Random(seed).shuffle(cells)
    return cells[:n]


async def _remote_step(
    settings: ExtractSettings,
    local: Client,
    remote: Client,
    documents: Sequence[Document],
    task: str,
) -> Run:
    return Run(
        _Extraction(settings),
        task,
        documents,
        local=local,
        remote=remote,
        price_as=settings.price_as,
        privacy=settings.privacy,
    )


async def extract_async(
    documents: str | Path | Sequence[str | Path | BatchDocument | Document] = (),
    fields: FieldsInput = (),
    *,
    out: str | Path,
    manifest: str | Path | None = None,
    local: ClientSource | None = None,
    remote: ClientSource | None = None,
    price_as: str | None = None,
    top_k: int = 3,
    chunking: str = "pages",
    chunk_size: int | None = None,
    pages: str | None = None,
    review: int = 0,
    synthesize: bool = False,
    sample_docs: int = 3,
    local_max_tokens: int = 192,
    remote_max_tokens: int = 1536,
    limits: Limits | None = None,
    privacy: Privacy = "off",
    cache: BatchCache = True,
    on_start: OnStart | None = None,
    on_row: OnRow | None = None,
) -> ExtractResult:
    """Extract ``fields`` from every document not yet in ``out``; see the module.

    ``documents`` and ``manifest`` are as in :func:`minions.batch`; ``fields`` a pydantic
    model, a JSON schema, ``name:type:description`` strings or :class:`FieldSpec`
    objects. ``top_k`` chunks are read per field and document, cut by ``chunking``
    (a :data:`minions.chunking.CHUNKERS` name) of ``chunk_size``. ``limits`` bound each
    document's run; ``cache`` is the response cache (on, off, or a folder).
    ``privacy="strict"`` puts what the remote is sent (the documents' metadata, review
    snippets, format descriptions) behind the shield (:mod:`minions.shield`).
    """
    out = Path(out)
    specs = as_fields(fields)
    local = local if local is not None else DEFAULT_LOCAL
    remote, price_as, stand_in = choose_remote(remote, price_as)
    if stand_in:
        logger.warning(stand_in_note())
    selection = PageSelection.parse(pages) if pages else None
    settings = ExtractSettings(
        fields=specs,
        local=spec_of(local),
        remote=spec_of(remote),
        price_as=price_as,
        top_k=top_k,
        chunking=chunking,
        chunk_size=chunk_size,
        pages=str(selection) if selection else None,
        review=review,
        synthesize=synthesize,
        sample_docs=sample_docs,
        local_max_tokens=local_max_tokens,
        remote_max_tokens=remote_max_tokens,
        limits=limits,
        privacy=privacy,
    )
    chunk(Document.from_text("x"), chunking, size=chunk_size)  # an unknown chunker fails now
    docs = _as_documents(documents, manifest)
    if not docs:
        raise ConfigurationError("no documents to extract from; pass paths, a folder or --manifest")
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigurationError(f"document ids must be distinct; given twice: {', '.join(twice)}")
    _check_placeholders(specs, docs)
    rowstore.claim_folder(out, settings)
    local_client, remote_client = batch_clients(local, remote, cache=cache)

    results = out / rowstore.RESULTS
    finished = {row.key: row for row in _read_rows(results)}
    progress = ExtractProgress(total=len(docs))
    pending = []
    for doc in docs:
        row = finished.get((doc.id, settings.hash))
        if row is None:
            pending.append(doc)
        else:
            progress.add(row, before=True)

    plan_file = _read_plan(out)
    first_loaded: dict[str, Document | BaseException] = {}
    if plan_file is None:
        # the plan is told the metadata and sizes of a few documents, never their text
        for doc in docs[:3]:
            first_loaded[doc.id] = await asyncio.to_thread(_load, doc, selection)
        summary = [_summary_entry(d, first_loaded.get(d.id)) for d in docs]
        run = await _remote_step(settings, local_client, remote_client, [], "plan the extraction")
        made: dict[str, Any] = {}

        async def planning() -> None:
            made["plan"], made["from_remote"] = await make_plan(
                run, specs, summary, **settings.options("remote")
            )

        result = await run.execute(planning())
        if "plan" not in made:
            raise ProtocolError(f"planning the extraction failed: {result.error}")
        plan_file = PlanFile(plan=made["plan"], from_remote=made["from_remote"], created_at=_now())
        plan_file.add(result)
        _write_plan(out, plan_file)
        logger.info(
            "planned %d fields with %d remote call(s)", len(specs), result.usage["remote"].calls
        )
    progress.plan_remote_usd = plan_file.remote_usd or 0.0
    if on_start is not None:
        on_start(progress)

    reader = Reader(settings, specs, plan_file.plan.for_fields(specs), local_client, remote_client)
    if synthesize:
        from minions.extract_synth import Synthesizer

        synthesizer = Synthesizer(settings, specs, local_client, remote_client)
        reader.functions = synthesizer.restore(plan_file)
    if pending:
        with rowstore.RowWriter(results) as writer:
            pilot: list[ExtractRow] = []
            needs_review = bool(review) and not plan_file.reviewed
            needs_functions = synthesize and reader.functions is None
            if needs_functions and len(pending) <= settings.sample_docs:
                # functions answer the documents after the pilot: with none left they
                # would be written and scored, then never run
                needs_functions = False
                note = (
                    f"no functions synthesized: all {len(pending)} document(s) to read "
                    f"are the pilot (sample_docs={settings.sample_docs}), none would be "
                    "left for them"
                )
                logger.info(note)
                if note not in plan_file.notes:
                    plan_file.notes.append(note)
            if needs_review or needs_functions:
                # the first documents are read before anything is written: the review
                # samples their cells (and may have them read again), the functions
                # are fitted on them
                for doc in pending[: settings.sample_docs]:
                    loaded = await _take(first_loaded, doc, selection)
                    pilot.append(await reader.document(doc, loaded))
                if needs_review:
                    pilot = await _review(
                        out, plan_file, settings, specs, reader, pilot, docs, selection
                    )
                if needs_functions:
                    reader.functions = await synthesizer.fit(
                        plan_file, reader, pilot, docs, selection
                    )
                    _write_plan(out, plan_file)
                for row in pilot:
                    _finish(writer, progress, row, on_row)
            for doc in pending[len(pilot) :]:
                loaded = await _take(first_loaded, doc, selection)
                _finish(writer, progress, await reader.document(doc, loaded), on_row)
    order = {doc.id: i for i, doc in enumerate(docs)}
    rows = sorted(
        (r for r in _read_rows(results) if r.settings_hash == settings.hash and r.id in order),
        key=lambda r: order[r.id],
    )
    return ExtractResult(
        rows=rows,
        fields=specs,
        plan=plan_file,
        out=out,
        progress=progress,
        parquet=write_parquet(rows, specs, out / PARQUET),
        csv=write_csv(rows, specs, out / CSV),
    )


def _finish(
    writer: rowstore.RowWriter, progress: ExtractProgress, row: ExtractRow, on_row: OnRow | None
) -> None:
    writer.write(row)
    progress.add(row)
    logger.info("%s: %s in %.1fs", row.id, row.status, row.wall_s)
    if on_row is not None:
        on_row(row, progress)


async def _review(
    out: Path,
    plan_file: PlanFile,
    settings: ExtractSettings,
    specs: list[FieldSpec],
    reader: Reader,
    pilot: list[ExtractRow],
    docs: Sequence[BatchDocument],
    selection: PageSelection | None,
) -> list[ExtractRow]:
    """Show the remote cells sampled from the pilot rows, once; with a revised plan,
    read the pilot documents again. The pilot rows, as they now are."""
    cells = _sample_cells(pilot, settings.review)
    run = await _remote_step(settings, reader.local, reader.remote, [], "review the plan")
    revised: dict[str, ExtractionPlan] = {}

    async def reviewing() -> None:
        revised["plan"] = await review_plan(
            run, plan_file.plan, specs, cells, **settings.options("remote")
        )

    result = await run.execute(reviewing())
    plan_file.add(result)
    plan_file.reviewed = True
    plan_file.review_chars_sent = sum(len(c.snippet) for c in cells)
    new = revised.get("plan", plan_file.plan)
    if new != plan_file.plan:
        plan_file.plan, plan_file.plan_changed_by_review = new, True
        reader.plan = new.for_fields(specs)
        by_id = {d.id: d for d in docs}
        pilot = [
            await reader.document(
                by_id[r.id], await asyncio.to_thread(_load, by_id[r.id], selection)
            )
            for r in pilot
        ]
    _write_plan(out, plan_file)
    logger.info(
        "review: %d cells shown (%d characters of document text), plan %s",
        len(cells),
        plan_file.review_chars_sent,
        "revised" if plan_file.plan_changed_by_review else "kept",
    )
    return pilot


def _read_rows(path: Path) -> list[ExtractRow]:
    return rowstore.read_rows(path, ExtractRow, key=lambda row: row.key)


def _read_plan(out: Path) -> PlanFile | None:
    path = out / PLAN
    if not path.exists():
        return None
    try:
        return PlanFile.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigurationError(
            f"cannot read {path}: {exc}; delete it to plan again, or choose another --out"
        ) from None


def _write_plan(out: Path, plan_file: PlanFile) -> None:
    text = plan_file.model_dump_json(indent=2) + "\n"
    replace_atomically(out / PLAN, lambda p: p.write_text(text, encoding="utf-8"))


def extract(*args: Any, **kwargs: Any) -> ExtractResult:
    """Blocking :func:`extract_async` (same parameters)."""
    return run_sync(extract_async(*args, **kwargs))


callable_module(__name__, extract)
