"""Batch runs: one protocol over many documents x questions, one row per pair.

::

    result = minions.batch(["filings/"], ["What was the capital expenditure?"],
                           out="runs/capex", protocol="minions", local="ollama:qwen2.5:3b",
                           remote="openai:gpt-4o-mini", max_rounds=1)
    result.rows, result.parquet, result.progress.remote_usd

Every row is appended to ``OUT/results.jsonl`` as it finishes (a whole line, synced), so
Ctrl-C or a crash keeps every finished row; the same call again resumes and skips them.
``OUT/run.json`` holds the :class:`~minions.batch_rows.BatchSettings`; other settings
into the same folder are refused. When the batch ends the rows are exported to
``results.parquet`` and ``results.csv``.

``limits`` bound the whole batch (remote dollars and calls over every row in the
folder, the wall time of this call): once one is reached no row starts, rows in flight
finish, and :attr:`BatchResult.stopped` says why. ``row_limits`` bound each row as
:class:`~minions.limits.Limits` bound a run.

Engines: ``"local"`` runs the rows in this process, up to ``concurrency`` at once,
document by document, so the rows in flight read the same chunks and the local model's
prompt cache serves them. ``"ray"`` (:mod:`minions.batch_ray`) spreads documents over
Ray workers, each with its own local model; this process writes the rows.

The clients of a batch are built by :func:`batch_clients`, in this process and in each
Ray worker alike: a wrapper every batch call should go through goes there.

This module logs; progress bars are the CLI's (``on_start`` and ``on_row`` feed them).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar
from typing import Protocol as Interface

from minions import rowstore
from minions._callable import callable_module
from minions.api import (
    DEFAULT_LOCAL,
    choose_remote,
    stand_in_note,
)
from minions.asyncio_bridge import run_sync
from minions.batch_inputs import (
    BatchDocument,
    PageSelection,
    Question,
    collect_documents,
    read_questions,
)
from minions.batch_rows import CSV, PARQUET, BatchRow, BatchSettings, write_csv, write_parquet
from minions.clients import Client, capabilities_of, get_client, parse_spec, provider_class
from minions.clients.cache import cached
from minions.documents import Document
from minions.errors import BudgetExceeded, ConfigurationError
from minions.limits import Limits
from minions.pricing import price
from minions.progress import Throughput
from minions.run import Privacy
from minions.types import Result, Usage

if TYPE_CHECKING:
    from minions.protocol import Learner

__all__ = [
    "BatchCache",
    "BatchProgress",
    "BatchResult",
    "ClientSpec",
    "Engine",
    "LocalEngine",
    "WorkQueue",
    "batch",
    "batch_async",
    "batch_clients",
    "run_row",
]

logger = logging.getLogger(__name__)

EngineName = Literal["local", "ray"]
P = ParamSpec("P")
T = TypeVar("T")


# --- clients -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSpec:
    """A client to build where the rows run: a spec and :func:`~minions.get_client`
    keywords. It pickles when its options do (for ``scripted:``, a reply function at
    module level), so Ray workers can build it."""

    spec: str
    options: dict[str, Any] = field(default_factory=dict)


#: how a batch is told its clients: a spec, a :class:`ClientSpec`, or (local engine
#: only) a ready client
ClientSource = str | ClientSpec | Client
#: the response cache of a batch: on (the default folder), off, or a folder; plain
#: data, so that Ray workers open the same one
BatchCache = bool | str | Path


def spec_of(source: ClientSource) -> str:
    """The ``provider:model`` a client source names (the batch's settings record it)."""
    if isinstance(source, Client):
        return source.spec
    return source.spec if isinstance(source, ClientSpec) else source


def _build(source: ClientSource, threads: int | None, cache: BatchCache) -> Client:
    if isinstance(source, Client):
        return cached(source, cache)
    spec, options = (
        (source.spec, source.options) if isinstance(source, ClientSpec) else (source, {})
    )
    if threads is not None and "n_threads" not in options:
        # a provider running in this process (llama.cpp) gets the worker's share of cores
        parameters = inspect.signature(provider_class(parse_spec(spec)[0])).parameters
        if "n_threads" in parameters:
            options = {**options, "n_threads": threads}
    return get_client(spec, cache=cache, **options)


def batch_clients(
    local: ClientSource,
    remote: ClientSource,
    *,
    threads: int | None = None,
    cache: BatchCache = True,
) -> tuple[Client, Client]:
    """The local and remote clients every row of a batch calls, built once per engine
    process: by the local engine in this process, by each Ray worker in its own.

    This is the one place a batch's clients are made, so the wrapper every batch call
    passes through, the response cache (``cache``: on, off, or its folder; see
    :mod:`minions.clients.cache`), is applied here. ``threads`` is the worker's share of
    CPU cores, given to a provider that takes ``n_threads``.
    """
    return _build(local, threads, cache), _build(remote, threads, cache)


# --- the work ------------------------------------------------------------------------


@dataclass(frozen=True)
class RowJob:
    """One (document, question) to run."""

    document: BatchDocument
    question: Question

    def key(self, settings: BatchSettings) -> tuple[str, str, str, str]:
        return self.document.id, self.question.id, settings.protocol, settings.hash

    def without_text(self) -> RowJob:
        """The job without the document's inline text (sent apart, once per document)."""
        light = self.document.model_copy(update={"text": None, "pages": None, "questions": []})
        return RowJob(light, self.question)


def plan_jobs(documents: Sequence[BatchDocument], questions: Sequence[Question]) -> list[RowJob]:
    """Every (document, question), document by document: the batch's questions, then
    the document's own. A document with no question at all is an error."""
    jobs = []
    for document in documents:
        mine = list({q.id: q for q in [*questions, *document.questions]}.values())
        if not mine:
            raise ConfigurationError(
                f"document {document.id!r} has no question: pass -q, --questions FILE, or "
                'give it "questions" in the manifest'
            )
        jobs += [RowJob(document, question) for question in mine]
    return jobs


class WorkQueue:
    """The jobs of a batch by document, handed out so that one document's rows stay on
    one local model.

    :meth:`next` gives a lane the next row of the document its group (the lanes that
    share one local model) is on; once that document has no row left, the next
    document nobody has started; at the end, a row of the document with the most rows
    left.
    """

    def __init__(self, jobs: Sequence[RowJob]) -> None:
        self._docs: dict[str, list[RowJob]] = {}
        for job in jobs:
            self._docs.setdefault(job.document.id, []).append(job)
        self._unstarted = list(self._docs)
        self._current: dict[int, str] = {}

    def __len__(self) -> int:
        return sum(map(len, self._docs.values()))

    def jobs(self) -> list[RowJob]:
        """The jobs not handed out yet, without taking them."""
        return [job for jobs in self._docs.values() for job in jobs]

    def next(self, group: int = 0) -> RowJob | None:
        doc = self._current.get(group)
        if doc is None or not self._docs[doc]:
            if self._unstarted:
                doc = self._unstarted.pop(0)
            else:
                left = [d for d, jobs in self._docs.items() if jobs]
                if not left:
                    return None
                doc = max(left, key=lambda d: len(self._docs[d]))
            self._current[group] = doc
        return self._docs[doc].pop(0)

    def put_back(self, job: RowJob) -> None:
        """Run ``job`` again (its worker died): first of its document's rows."""
        self._docs[job.document.id].insert(0, job)
        if job.document.id not in self._unstarted and job.document.id not in self._current.values():
            self._unstarted.insert(0, job.document.id)


# --- one row -------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def taught(job: RowJob, share: float) -> bool:
    """Whether the teacher answers this row too: a stable draw from the row's key, so
    a resumed batch teaches the same rows."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{job.document.id}\0{job.question.id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


async def run_row(
    settings: BatchSettings,
    job: RowJob,
    document: Document | BaseException,
    local: Client,
    remote: Client,
    *,
    worker: str,
    learner: Learner | None = None,
) -> BatchRow:
    """Run the batch's protocol on one (document, question). A failure (the document
    did not load, the protocol raised) is a row with status "error"; only Ctrl-C and
    cancellation propagate. With a ``learner`` (``teach``), the row runs with its
    policy as it is now and, when :func:`taught`, the teacher runs too and the
    policy learns from both."""
    from minions.protocol import get_protocol  # the registry; protocols depend on the core

    started = time.perf_counter()
    result: Result | None = None
    extra: dict[str, Any] = {}
    if isinstance(document, BaseException):
        error: str | None = f"{type(document).__name__}: {document}"
    else:
        try:
            strategy = (
                learner.student()
                if learner is not None
                else get_protocol(settings.protocol)(**settings.options)
            )
            arguments: dict[str, Any] = dict(
                local=local,
                remote=remote,
                price_as=settings.price_as,
                limits=settings.limits,
                privacy=settings.privacy,
            )
            result = await strategy.run(job.question.text, [document], **arguments)
            error = result.error
            if learner is not None:
                extra["stage"], extra["escalations"] = learner.route(strategy)
                if taught(job, settings.teach):
                    teacher = await learner.teacher.run(job.question.text, [document], **arguments)
                    lesson = learner.learn(strategy, result, teacher)
                    extra.update(
                        taught=True,
                        teacher_agrees=lesson.agrees,
                        teacher_usd=teacher.cost.remote_usd,
                    )
        except Exception as exc:
            logger.warning(
                "%s / %s raised %s: %s", job.document.id, job.question.id, type(exc).__name__, exc
            )
            error = f"{type(exc).__name__}: {exc}"
    return BatchRow(
        doc_id=job.document.id,
        question_id=job.question.id,
        protocol=settings.protocol,
        settings_hash=settings.hash,
        question=job.question.text,
        answer=result.answer if result else None,
        citations=list(result.citations) if result else [],
        status=result.status if result else "error",
        error=error,
        usage=dict(result.usage) if result else {},
        remote_usd=result.cost.remote_usd if result else None,
        remote_only_usd=result.cost.remote_only_usd if result else None,
        wall_s=round(time.perf_counter() - started, 3),
        local_s=round(result.timings.local_s, 3) if result else 0.0,
        remote_s=round(result.timings.remote_s, 3) if result else 0.0,
        sandbox_s=round(result.timings.sandbox_s, 3) if result else 0.0,
        rounds=len(result.rounds) if result else 0,
        local_model=settings.local,
        remote_model=settings.remote,
        price_as=settings.price_as,
        metadata=job.document.metadata,
        worker=worker,
        finished_at=_now(),
        **extra,
    )


# --- progress and the rows' sink ------------------------------------------------------


@dataclass
class BatchProgress(Throughput):
    """Running totals of a batch, updated as each row finishes."""

    errors: int = 0
    remote_usd: float = 0.0
    remote_only_usd: float = 0.0
    remote_calls: int = 0
    unpriced: int = 0
    in_flight: int = 0
    workers: int = 0
    stopped: str | None = None

    def add(self, row: BatchRow, *, before: bool = False) -> None:
        self.done += 1
        self.done_before += before
        self.errors += row.status == "error"
        remote = row.usage.get("remote", Usage())
        self.remote_calls += remote.calls
        if row.remote_usd is None and remote.calls:
            self.unpriced += 1
        self.remote_usd += row.remote_usd or 0.0
        self.remote_only_usd += row.remote_only_usd or 0.0


@dataclass
class BatchResult:
    """What a batch call returns: this batch's rows in order (documents, then
    questions), where they were written, and whether it finished."""

    rows: list[BatchRow]
    out: Path
    progress: BatchProgress
    parquet: Path | None = None
    csv: Path | None = None
    #: why the batch stopped starting rows (a batch-wide limit), or None
    stopped: str | None = None

    @property
    def complete(self) -> bool:
        return len(self.rows) == self.progress.total


OnStart = Callable[[BatchProgress], None]
OnRow = Callable[[BatchRow, BatchProgress], None]


class RowSink:
    """Where the engines hand finished rows: written once each (a row whose key was
    already written by this call is dropped), counted, reported; and the batch-wide
    limits, checked before each row starts (:meth:`admit`)."""

    def __init__(
        self,
        writer: rowstore.RowWriter,
        progress: BatchProgress,
        limits: Limits | None,
        on_row: OnRow | None,
    ) -> None:
        self.writer = writer
        self.progress = progress
        self.limits = limits
        self.on_row = on_row
        self.written: set[tuple[str, str, str, str]] = set()
        self.duplicates = 0

    def admit(self) -> bool:
        """Whether another row may start; once a batch-wide limit is reached, never."""
        if self.progress.stopped is not None:
            return False
        if self.limits is not None:
            try:
                self.limits.check_before_call(
                    "remote",
                    elapsed_s=self.progress.elapsed_s,
                    remote_calls=self.progress.remote_calls,
                    remote_usd=self.progress.remote_usd,
                )
            except BudgetExceeded as exc:
                self.stop(f"the batch starts no more rows: {exc}".replace("the run", "the batch"))
                return False
        return True

    def stop(self, reason: str) -> None:
        if self.progress.stopped is None:
            self.progress.stopped = reason
            logger.warning("%s", reason)

    def record(self, row: BatchRow) -> None:
        if row.key in self.written:
            self.duplicates += 1
            logger.warning(
                "%s / %s: a second copy of the row was dropped", row.doc_id, row.question_id
            )
            return
        self.writer.write(row)
        self.written.add(row.key)
        self.progress.add(row)
        logger.info("%s / %s: %s in %.1fs", row.doc_id, row.question_id, row.status, row.wall_s)
        if self.on_row is not None:
            self.on_row(row, self.progress)


# --- engines -------------------------------------------------------------------------


class Engine(Interface):
    """Runs a batch's jobs and hands each finished row to the sink."""

    async def run(self, queue: WorkQueue, sink: RowSink, settings: BatchSettings) -> None: ...


class DocumentCache:
    """Each document loaded once (off the event loop) while rows of it are left."""

    def __init__(self, selection: PageSelection | None, jobs: Sequence[RowJob]) -> None:
        self.selection = selection
        self._left: dict[str, int] = {}
        for job in jobs:
            self._left[job.document.id] = self._left.get(job.document.id, 0) + 1
        self._loading: dict[str, asyncio.Task[Document | BaseException]] = {}

    async def get(self, document: BatchDocument) -> Document | BaseException:
        """The loaded document, or the error loading it raised."""
        task = self._loading.get(document.id)
        if task is None:
            task = asyncio.ensure_future(self._load(document))
            self._loading[document.id] = task
        return await asyncio.shield(task)

    async def _load(self, document: BatchDocument) -> Document | BaseException:
        try:
            return await asyncio.to_thread(document.load, self.selection)
        except Exception as exc:
            logger.warning("%s did not load: %s", document.id, exc)
            return exc

    def done_with(self, document: BatchDocument) -> None:
        """One row of ``document`` finished; forget it after its last."""
        self._left[document.id] -= 1
        if self._left[document.id] <= 0:
            self._loading.pop(document.id, None)

    def holds(self, document: BatchDocument) -> bool:
        """Whether rows of ``document`` are left."""
        return self._left.get(document.id, 0) > 0


def default_concurrency(local: ClientSource) -> int:
    """Rows in flight per local model: as many requests as the local client serves at
    once (one for llama.cpp)."""
    capabilities = (
        local.capabilities if isinstance(local, Client) else capabilities_of(spec_of(local))
    )
    return capabilities.max_parallel_requests


class LocalEngine:
    """This process: one pair of clients, ``concurrency`` rows at once, all lanes on the
    same document until its rows are handed out (one local model, one prompt cache)."""

    def __init__(
        self,
        local: ClientSource,
        remote: ClientSource,
        *,
        concurrency: int | None = None,
        cache: BatchCache = True,
    ) -> None:
        self.local, self.remote, self.cache = local, remote, cache
        self.concurrency = concurrency or default_concurrency(local)
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, got {self.concurrency}")

    async def run(self, queue: WorkQueue, sink: RowSink, settings: BatchSettings) -> None:
        from minions.protocol import get_protocol

        local, remote = batch_clients(self.local, self.remote, cache=self.cache)
        # a protocol that routes (auto) reports its stage on every row, and learns
        # from the teacher on the taught ones
        learner = get_protocol(settings.protocol)(**settings.options).learner()
        pages = PageSelection.parse(settings.pages) if settings.pages else None
        documents = DocumentCache(pages, queue.jobs())
        sink.progress.workers = 1

        async def lane() -> None:
            while sink.admit() and (job := queue.next(0)) is not None:
                sink.progress.in_flight += 1
                try:
                    document = await documents.get(job.document)
                    row = await run_row(
                        settings, job, document, local, remote, worker="local", learner=learner
                    )
                finally:
                    sink.progress.in_flight -= 1
                documents.done_with(job.document)
                sink.record(row)

        async with asyncio.TaskGroup() as group:
            for _ in range(self.concurrency):
                group.create_task(lane())


# --- the batch -------------------------------------------------------------------------


def _as_documents(
    documents: str | Path | Sequence[str | Path | BatchDocument | Document],
    manifest: str | Path | None,
) -> list[BatchDocument]:
    if isinstance(documents, (str, Path)):
        documents = [documents]
    paths = [d for d in documents if isinstance(d, (str, Path))]
    given = [
        d if isinstance(d, BatchDocument) else BatchDocument(id=d.name, pages=d.pages)
        for d in documents
        if isinstance(d, (BatchDocument, Document))
    ]
    if given and not paths and manifest is None:
        return given
    return collect_documents(paths, manifest) + given if (paths or manifest) else given


def _check_budget_is_priced(limits: Limits | None, settings: BatchSettings) -> None:
    if limits is None or limits.max_remote_usd is None:
        return
    spec = settings.price_as or settings.remote
    if price(Usage(input_tokens=1000, calls=1), spec).usd is None:
        raise ConfigurationError(
            f"--max-remote-usd is set but {spec} has no known price; pass --price-as "
            "provider:model (e.g. openai:gpt-4o) so the batch's budget can be enforced"
        )


async def batch_async(
    documents: str | Path | Sequence[str | Path | BatchDocument | Document] = (),
    questions: str | Sequence[str | Question] = (),
    *,
    out: str | Path,
    manifest: str | Path | None = None,
    questions_file: str | Path | None = None,
    protocol: str = "minions",
    local: ClientSource | None = None,
    remote: ClientSource | None = None,
    price_as: str | None = None,
    limits: Limits | None = None,
    row_limits: Limits | None = None,
    pages: str | None = None,
    engine: EngineName | Engine = "local",
    concurrency: int | None = None,
    workers: int | None = None,
    cpus_per_worker: int | None = None,
    retry_errors: bool = False,
    cache: BatchCache = True,
    privacy: Privacy = "off",
    teach: float = 0.0,
    on_start: OnStart | None = None,
    on_row: OnRow | None = None,
    **config: Any,
) -> BatchResult:
    """Run ``protocol`` on every (document, question) not yet in ``out``; see the
    module's description. ``config`` are the protocol's options.

    ``documents`` are paths, folders, globs, :class:`~minions.documents.Document` or
    :class:`~minions.batch_inputs.BatchDocument` objects; ``manifest`` a JSONL of
    documents (with their own questions); ``questions`` strings or
    :class:`~minions.batch_inputs.Question` objects, ``questions_file`` a text or JSONL
    file of them. ``pages`` keeps those pages of every document (``"1-8"``).

    ``engine`` is ``"local"`` or ``"ray"`` (``workers`` of ``cpus_per_worker`` cores
    each, default: as many as the cluster's CPUs hold; see :mod:`minions.batch_ray`);
    ``concurrency`` is rows in flight per local model (default: what the local client
    serves at once). ``retry_errors`` runs rows that ended in an error again.
    ``cache`` (on by default; False, or a folder) answers the deterministic calls a
    row makes from the response cache (:mod:`minions.clients.cache`), in every worker.
    ``privacy="strict"`` runs every row behind the shield (:mod:`minions.shield`).
    ``teach`` (a share, e.g. 0.1) has a teacher answer that share of the rows too, for
    a protocol that learns from it (``auto``: its deferral policy), on the local engine.
    """
    from minions.protocol import get_protocol

    out = Path(out)
    strategy = get_protocol(protocol)(**config)  # unknown protocols and options fail now
    if teach and strategy.learner() is None:
        raise ConfigurationError(
            f"--teach needs a protocol that learns from a teacher (auto); {protocol} does not"
        )
    if teach and engine != "local":
        raise ConfigurationError(
            "--teach runs on the local engine: the policy learns in one process"
        )
    local = local if local is not None else DEFAULT_LOCAL
    remote, price_as, stand_in = choose_remote(remote, price_as)
    if stand_in:
        logger.warning(stand_in_note())
    selection = PageSelection.parse(pages) if pages else None
    settings = BatchSettings(
        protocol=protocol,
        options=config,
        local=spec_of(local),
        remote=spec_of(remote),
        price_as=price_as,
        limits=row_limits,
        pages=str(selection) if selection else None,
        privacy=privacy,
        teach=teach,
    )
    _check_budget_is_priced(limits, settings)
    if isinstance(questions, str):
        questions = [questions]
    asked = [q for q in questions if isinstance(q, Question)]
    asked += read_questions([q for q in questions if isinstance(q, str)], questions_file)
    jobs = plan_jobs(_as_documents(documents, manifest), asked)
    runner = _engine(engine, local, remote, concurrency, workers, cpus_per_worker, cache)

    rowstore.claim_folder(out, settings)
    results = out / rowstore.RESULTS
    finished = {row.key: row for row in _read_rows(results)}
    progress = BatchProgress(total=len(jobs))
    pending = []
    for job in jobs:
        row = finished.get(job.key(settings))
        if row is None or (retry_errors and row.status == "error"):
            pending.append(job)
        else:
            progress.add(row, before=True)
    logger.info(
        "%s: %d rows, %d done before, %d to run", out, progress.total, progress.done, len(pending)
    )
    if on_start is not None:
        on_start(progress)
    if pending:
        with rowstore.RowWriter(results) as writer:
            sink = RowSink(writer, progress, limits, on_row)
            await runner.run(WorkQueue(pending), sink, settings)
    order = {job.key(settings): i for i, job in enumerate(jobs)}
    rows = sorted((r for r in _read_rows(results) if r.key in order), key=lambda r: order[r.key])
    return BatchResult(
        rows=rows,
        out=out,
        progress=progress,
        parquet=write_parquet(rows, out / PARQUET),
        csv=write_csv(rows, out / CSV),
        stopped=progress.stopped,
    )


def _read_rows(path: Path) -> list[BatchRow]:
    return rowstore.read_rows(path, BatchRow, key=lambda row: row.key)


def _engine(
    engine: EngineName | Engine,
    local: ClientSource,
    remote: ClientSource,
    concurrency: int | None,
    workers: int | None,
    cpus_per_worker: int | None,
    cache: BatchCache,
) -> Engine:
    if not isinstance(engine, str):
        return engine
    if engine == "local":
        if workers is not None or cpus_per_worker is not None:
            raise ConfigurationError("workers and cpus_per_worker are for the ray engine")
        return LocalEngine(local, remote, concurrency=concurrency, cache=cache)
    if engine == "ray":
        from minions.batch_ray import RayEngine

        return RayEngine(
            local,
            remote,
            concurrency=concurrency,
            workers=workers,
            cpus_per_worker=cpus_per_worker,
            cache=cache,
        )
    raise ConfigurationError(f"unknown engine {engine!r}; choose local or ray")


def _blocking(function: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(function(*args, **kwargs))

    return blocking


#: Blocking :func:`batch_async`, with its parameters (inside a running event loop it
#: runs on a loop of its own in a worker thread).
batch = _blocking(batch_async)
batch.__name__ = batch.__qualname__ = "batch"
batch.__doc__ = "Blocking :func:`batch_async` (same parameters).\n\n" + (batch_async.__doc__ or "")


callable_module(__name__, batch)
