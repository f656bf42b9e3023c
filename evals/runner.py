"""Run protocols over a dataset and record one JSONL row per (example, protocol).

The output folder holds ``run.json`` (the settings) and ``results.jsonl`` (the rows).
Each row is appended as one complete line, flushed and synced as soon as its pair
finishes, so Ctrl-C or a crash loses at most the pairs in flight (a row it cuts short
is dropped with a warning). Running the same settings into the same folder again
resumes: finished pairs are skipped (with ``retry_errors``, rows that ended in an
error are run again and the newer row wins). Other settings into a folder
that holds a run is an error. A failed run (an exception, or a Result with status
"error") is recorded in its row and the eval goes on.

This module logs; presentation (progress bars, tables) is the CLI's.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import minions
from minions import rowstore
from minions.clients import Client, get_client
from minions.errors import ConfigurationError
from minions.limits import Limits
from minions.protocol import get_protocol, parse_option
from minions.protocols.confidence import signals
from minions.rowstore import RESULTS, RUN_INFO, RowWriter
from minions.run import Privacy
from minions.types import Result, RunStatus, Usage

from .datasets import Dataset, Example, get_dataset, load_examples
from .scoring import Judge, Score, needs_judge

__all__ = [
    "RESULTS",
    "RUN_INFO",
    "EvalRow",
    "EvalSettings",
    "Progress",
    "parse_options",
    "read_rows",
    "run_eval",
]

logger = logging.getLogger(__name__)

TRACES = "traces"


class EvalSettings(BaseModel):
    """What a run is: the same settings resume a run, other settings are another run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(description="a registered dataset, or the path of a .jsonl file")
    data: str | None = Field(default=None, description="dataset path; None: the shared copy")
    context: str | None = Field(default=None, description="context mode; None: the default")
    protocols: list[str] = Field(min_length=1)
    local: str
    remote: str
    price_as: str | None = None
    judge: str | None = None
    ids: list[str] | None = None
    where: dict[str, str] = Field(default_factory=dict)
    sample: int | None = Field(default=None, ge=1)
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="protocol options, by protocol"
    )
    limits: Limits | None = Field(default=None, description="every run's limits")
    privacy: Privacy = Field(default="off", description="see minions.shield")


#: the content of ``run.json``
RunInfo = rowstore.RunInfo[EvalSettings]


class EvalRow(BaseModel):
    """The outcome of one protocol on one example."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    example_id: str
    protocol: str
    question: str
    gold: str
    answer: str | None
    score: Score
    status: RunStatus
    error: str | None = None
    usage: dict[str, Usage] = Field(default_factory=dict)
    judge_usage: Usage | None = None
    remote_usd: float | None = None
    remote_only_usd: float | None = None
    cost_ratio: float | None = Field(
        default=None, description="remote_only_usd / remote_usd: how many times cheaper"
    )
    wall_s: float
    rounds: int = 0
    ngram_share: float | None = Field(
        default=None, description="of the documents' word 8-grams the remote was sent"
    )
    longest_span_chars: int | None = Field(
        default=None, description="the longest verbatim span of the documents it was sent"
    )
    signals: dict[str, float] = Field(
        default_factory=dict, description="the run's confidence signals (protocols.confidence)"
    )
    context: str = ""
    local_model: str
    remote_model: str
    price_as: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    finished_at: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return self.dataset, self.example_id, self.protocol

    def tokens(self, role: Literal["local", "remote"]) -> int:
        return self.usage.get(role, Usage()).total_tokens


@dataclass
class Progress:
    """Running totals a progress display shows after each row."""

    total: int
    done: int = 0
    correct: int = 0
    decided: int = 0
    errors: int = 0
    remote_usd: float = 0.0

    def add(self, row: EvalRow) -> None:
        self.done += 1
        self.errors += row.status == "error"
        self.remote_usd += row.remote_usd or 0.0
        if row.score.correct is not None:
            self.decided += 1
            self.correct += row.score.correct

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.decided if self.decided else None


OnRow = Callable[[EvalRow, Progress], None]


def parse_options(pairs: Sequence[str], protocols: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--option`` values, ``key=value`` or ``protocol.key=value``, by protocol.

    Values are read as JSON when they parse (``3``, ``true``, ``null``), else as text.
    An unscoped key goes to every protocol whose options have it; a key no chosen
    protocol has is an error.
    """
    options: dict[str, dict[str, Any]] = {p: {} for p in protocols}
    for pair in pairs:
        try:
            key, value = parse_option(pair)
        except ConfigurationError:
            raise ConfigurationError(
                f"--option {pair!r} must look like key=value or protocol.key=value"
            ) from None
        scope, dot, name = key.rpartition(".")
        if dot:
            if scope not in options:
                raise ConfigurationError(
                    f"--option {pair!r} names protocol {scope!r}, "
                    f"which is not among {', '.join(protocols)}"
                )
            targets = [scope]
        else:
            targets = [p for p in protocols if name in get_protocol(p).Config.model_fields]
            if not targets:
                raise ConfigurationError(
                    f"no protocol among {', '.join(protocols)} has an option {name!r}; "
                    "`minions protocols` lists each protocol's options"
                )
        for protocol in targets:
            options[protocol][name] = value
    return {p: o for p, o in options.items() if o}


# --- the output folder ----------------------------------------------------------------


def read_run_info(out: Path) -> rowstore.RunInfo[EvalSettings]:
    """The ``run.json`` of a run folder."""
    return rowstore.read_run_info(out, EvalSettings)


def read_rows(out: Path) -> list[EvalRow]:
    """The rows of ``results.jsonl``, the last one of each (example, protocol); a torn
    last line is skipped with a warning (see :mod:`minions.rowstore`)."""
    return rowstore.read_rows(out / RESULTS, EvalRow, key=lambda row: row.key)


# --- one pair -----------------------------------------------------------------------


@dataclass
class _Context:
    settings: EvalSettings
    dataset: Dataset
    local: Client
    remote: Client
    judge: Judge | None
    traces: Path | None


def _judge(client: Client | None, spec: str | None) -> Judge | None:
    if client is not None:
        return Judge(client)
    return Judge(get_client(spec)) if spec else None


def _usd_ratio(result: Result) -> float | None:
    """How many times cheaper than remote-only; ``None`` when unpriced or free."""
    ratio = result.cost.savings_ratio
    return None if ratio is None or math.isinf(ratio) else ratio


async def _run_pair(example: Example, protocol: str, ctx: _Context) -> EvalRow:
    settings = ctx.settings
    started = time.perf_counter()
    try:
        result = await minions.ask_async(
            example.question,
            example.documents,
            protocol=protocol,
            local=ctx.local,
            remote=ctx.remote,
            price_as=settings.price_as,
            limits=settings.limits,
            privacy=settings.privacy,
            **settings.options.get(protocol, {}),
        )
    except Exception as exc:
        logger.warning("%s on %s raised %s: %s", protocol, example.id, type(exc).__name__, exc)
        result = None
        error: str | None = f"{type(exc).__name__}: {exc}"
    wall_s = time.perf_counter() - started
    if result is not None:
        error = result.error
        score, judge_usage = await ctx.dataset.score(example, result.answer, ctx.judge)
        if ctx.traces is not None:
            _write_trace(ctx.traces, protocol, example.id, result)
    else:
        score = Score(correct=False, method="error", detail=error or "")
        judge_usage = Usage()
    return EvalRow(
        dataset=settings.dataset,
        example_id=example.id,
        protocol=protocol,
        question=example.question,
        gold=example.gold.text,
        answer=result.answer if result else None,
        score=score,
        status=result.status if result else "error",
        error=error,
        usage=dict(result.usage) if result else {},
        judge_usage=judge_usage if ctx.judge is not None else None,
        remote_usd=result.cost.remote_usd if result else None,
        remote_only_usd=result.cost.remote_only_usd if result else None,
        cost_ratio=_usd_ratio(result) if result else None,
        wall_s=round(wall_s, 3),
        rounds=len(result.rounds) if result else 0,
        ngram_share=result.privacy.ngram_share if result else None,
        longest_span_chars=result.privacy.longest_span_chars if result else None,
        signals=signals(result.rounds, result.answer).model_dump() if result else {},
        context=example.context,
        local_model=settings.local,
        remote_model=settings.remote,
        price_as=settings.price_as,
        metadata=example.metadata,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _write_trace(folder: Path, protocol: str, example_id: str, result: Result) -> None:
    path = folder / protocol / (re.sub(r"[^\w.-]+", "__", example_id) + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.to_json(), encoding="utf-8")


# --- the run -------------------------------------------------------------------------


async def run_eval(
    settings: EvalSettings,
    out: str | Path,
    *,
    local: Client | None = None,
    remote: Client | None = None,
    judge: Client | None = None,
    concurrency: int = 1,
    retry_errors: bool = False,
    traces: bool = False,
    on_start: Callable[[Progress], None] | None = None,
    on_row: OnRow | None = None,
) -> list[EvalRow]:
    """Run every (example, protocol) pair of ``settings`` not yet in ``out`` and return
    all rows of the run (the final table).

    ``local``, ``remote`` and ``judge`` clients default to the settings' specs (tests
    pass scripted clients). Up to ``concurrency`` pairs run at once. ``traces`` saves
    each Result as ``traces/<protocol>/<id>.json``.
    """
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
    out = Path(out)
    for protocol in settings.protocols:  # unknown protocols and options fail before any work
        get_protocol(protocol)(**settings.options.get(protocol, {}))
    dataset = get_dataset(settings.dataset, settings.data)
    examples = load_examples(
        dataset,
        context=settings.context,
        ids=settings.ids,
        where=settings.where,
        sample=settings.sample,
        limit=settings.limit,
        seed=settings.seed,
    )
    if judge is None and settings.judge is None:
        _check_no_judge_needed(examples)
    rowstore.claim_folder(out, settings)
    finished = {row.key: row for row in read_rows(out)}
    progress = Progress(total=len(examples) * len(settings.protocols))
    pending = []
    for example in examples:
        for protocol in settings.protocols:
            row = finished.get((settings.dataset, example.id, protocol))
            if row is None or (retry_errors and row.status == "error"):
                pending.append((example, protocol))
            else:
                progress.add(row)
    logger.info(
        "%s: %d pairs, %d done before, %d to run", out, progress.total, progress.done, len(pending)
    )
    if on_start is not None:
        on_start(progress)
    if pending:
        ctx = _Context(
            settings=settings,
            dataset=dataset,
            local=local or get_client(settings.local),
            remote=remote or get_client(settings.remote),
            judge=_judge(judge, settings.judge),
            traces=out / TRACES if traces else None,
        )
        await _run_pending(pending, ctx, out / RESULTS, concurrency, progress, on_row)
    pairs = [(str(settings.dataset), e.id, p) for e in examples for p in settings.protocols]
    order = {key: i for i, key in enumerate(pairs)}
    rows = [r for r in read_rows(out) if r.key in order]
    return sorted(rows, key=lambda r: order[r.key])


def _check_no_judge_needed(examples: Sequence[Example]) -> None:
    """An error when some examples can only be graded by a judge and none was given."""
    needing = [e.id for e in examples if needs_judge(e.gold)]
    if needing:
        more = f" and {len(needing) - 5} more" if len(needing) > 5 else ""
        raise ConfigurationError(
            f"{', '.join(needing[:5])}{more} use scorer judge: pass --judge with a model spec "
            "(e.g. --judge openai:gpt-4o-mini) to grade them"
        )


async def _run_pending(
    pending: list[tuple[Example, str]],
    ctx: _Context,
    results: Path,
    concurrency: int,
    progress: Progress,
    on_row: OnRow | None,
) -> None:
    writer = RowWriter(results)
    slots = asyncio.Semaphore(concurrency)
    stopping = False

    async def one(example: Example, protocol: str) -> None:
        nonlocal stopping
        async with slots:
            if stopping:  # a crash or Ctrl-C in another pair: start nothing new
                return
            try:
                row = await _run_pair(example, protocol, ctx)
            except BaseException:
                stopping = True
                raise
        writer.write(row)
        progress.add(row)
        logger.info(
            "%s %s: %s (%s) in %.1fs",
            row.example_id,
            protocol,
            row.status,
            row.score.correct,
            row.wall_s,
        )
        if on_row is not None:
            on_row(row, progress)

    try:
        async with asyncio.TaskGroup() as group:
            for example, protocol in pending:
                group.create_task(one(example, protocol))
    finally:
        writer.close()
