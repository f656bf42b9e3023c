"""A batch's settings and rows, and the tables they are exported to.

One :class:`BatchRow` per (document, question), keyed by (document id, question id,
protocol, settings hash). ``results.jsonl`` holds the rows as they finish (see
:mod:`minions.rowstore`); at the end of a batch :func:`write_parquet` and
:func:`write_csv` export them with usage as flat columns (``local_input_tokens``,
``remote_calls``, ... one per :class:`~minions.types.Usage` field and role), citations as
a list column in Parquet and joined in CSV, metadata as JSON text.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from minions.limits import Limits
from minions.run import Privacy
from minions.types import RunStatus, Usage

__all__ = [
    "CSV",
    "PARQUET",
    "ROLES",
    "BatchRow",
    "BatchSettings",
    "columns",
    "replace_atomically",
    "write_csv",
    "write_parquet",
]

PARQUET = "results.parquet"
CSV = "results.csv"
ROLES = ("local", "remote")
#: what joins a row's citations in a CSV cell
CITATION_SEPARATOR = " | "


class BatchSettings(BaseModel):
    """How every row of a batch is computed. The same settings resume a batch; other
    settings are another batch (another ``--out``). How the rows are run (the engine,
    the concurrency, the batch-wide budget) is not part of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: str
    options: dict[str, Any] = Field(default_factory=dict, description="the protocol's options")
    local: str
    remote: str
    price_as: str | None = None
    limits: Limits | None = Field(default=None, description="each row's own limits")
    pages: str | None = Field(default=None, description="the pages kept of every document")
    privacy: Privacy = Field(default="off", description="see minions.shield")
    teach: float = Field(
        default=0.0, ge=0.0, le=1.0, description="the share of rows a teacher also answers"
    )

    @property
    def hash(self) -> str:
        """12 hex digits of the settings (the options in any order hash the same;
        privacy "off" and teach 0 hash as batches written before those settings)."""
        return settings_hash(self, added_later={"privacy": "off", "teach": 0.0})


def settings_hash(settings: BaseModel, added_later: dict[str, Any]) -> str:
    """12 hex digits of ``settings``. A setting in ``added_later`` that holds its value
    there (its default) is left out, so folders written before it existed still match."""
    data = settings.model_dump(mode="json")
    for key, default in added_later.items():
        if data.get(key) == default:
            del data[key]
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class BatchRow(BaseModel):
    """The outcome of the batch's protocol on one (document, question)."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str
    question_id: str
    protocol: str
    settings_hash: str
    question: str
    answer: str | None
    citations: list[str] = Field(default_factory=list)
    status: RunStatus
    error: str | None = None
    usage: dict[str, Usage] = Field(default_factory=dict)
    remote_usd: float | None = None
    remote_only_usd: float | None = None
    wall_s: float
    local_s: float = Field(default=0.0, description="of wall_s, waiting on local calls")
    remote_s: float = Field(default=0.0, description="of wall_s, waiting on remote calls")
    sandbox_s: float = Field(default=0.0, description="of wall_s, running code in the sandbox")
    rounds: int = 0
    local_model: str
    remote_model: str
    price_as: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, description="the document's")
    worker: str = Field(default="", description="where the row ran: local, or ray:<node>:<pid>")
    stage: str | None = Field(default=None, description="auto: the stage that answered")
    escalations: int = Field(default=0, description="auto: the stages that passed the row on")
    taught: bool = Field(default=False, description="--teach: the teacher answered it too")
    teacher_agrees: bool | None = None
    teacher_usd: float | None = Field(default=None, description="what the teacher's run cost")
    finished_at: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.doc_id, self.question_id, self.protocol, self.settings_hash

    def flat(self) -> dict[str, Any]:
        """The row as one flat record (the export's columns)."""
        record: dict[str, Any] = {}
        for name, value in self.model_dump(exclude={"usage"}).items():
            if name == "metadata":
                value = json.dumps(value, sort_keys=True, default=str)
            record[name] = value
        for role in ROLES:
            usage = self.usage.get(role, Usage())
            for field in Usage.model_fields:
                record[f"{role}_{field}"] = getattr(usage, field)
        return record


def columns() -> list[tuple[str, str]]:
    """The export's columns and their kinds (``str``, ``int``, ``float``, ``bool``,
    ``list``), in order: the row's fields with usage flattened after them."""
    kinds = {"citations": "list", "metadata": "str"}
    found = []
    for name, field in BatchRow.model_fields.items():
        if name == "usage":
            continue
        annotation = str(field.annotation)
        kind = kinds.get(name) or next(
            (k for k in ("float", "bool", "int") if k in annotation), "str"
        )
        found.append((name, kind))
    for role in ROLES:
        for name, field in Usage.model_fields.items():
            found.append((f"{role}_{name}", "int" if field.annotation is int else "float"))
    return found


def replace_atomically(path: Path, write: Any) -> Path:
    """Write ``path`` through a temporary file in its folder, then rename it."""
    partial = path.with_name(f".{path.name}.partial")
    write(partial)
    os.replace(partial, path)
    return path


def write_parquet(rows: Sequence[BatchRow], path: str | Path) -> Path:
    """``rows`` as a Parquet file (pyarrow), replaced atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    schema = pa.schema(
        [
            (name, pa.list_(pa.string()) if kind == "list" else types[kind])
            for name, kind in columns()
        ]
    )
    table = pa.Table.from_pylist([row.flat() for row in rows], schema=schema)
    return replace_atomically(Path(path), lambda p: pq.write_table(table, p))


def write_csv(rows: Sequence[BatchRow], path: str | Path) -> Path:
    """``rows`` as CSV (citations joined by ``" | "``), replaced atomically."""
    names = [name for name, _ in columns()]

    def write(target: Path) -> None:
        with target.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=names)
            writer.writeheader()
            for row in rows:
                record = row.flat()
                record["citations"] = CITATION_SEPARATOR.join(record["citations"])
                writer.writerow({k: "" if v is None else v for k, v in record.items()})

    return replace_atomically(Path(path), write)
