"""The Ray engine of :mod:`minions.batch`: documents spread over Ray workers.

Each worker is a Ray actor that builds its own clients once (:func:`~minions.batch.batch_clients`),
so each loads its local model once, and reserves ``cpus_per_worker`` cores (given to a
provider that takes ``n_threads``); by default the cluster gets as many workers as its
CPUs hold (on 2 cores, one worker of 2 threads: two of two threads would only fight).
The driver, this process, hands a worker one document at a time, one row at a time,
ships it the loaded document (so no node needs the files) and writes every row itself.

It connects to the cluster in ``RAY_ADDRESS`` (``ray start --head`` on one machine,
``ray start --address=HEAD:6379`` on the others, ``RAY_ADDRESS=HEAD:6379`` here), or
starts a local one for the batch and shuts it down afterwards. Every node needs
minions (and the local model's extra) installed; the workers get the driver's
``MINIONS_*`` environment variables.

A worker killed mid-row (a crash, the OOM killer, a lost node) is restarted up to
``MAX_RESTARTS`` times and Ray runs its row again (``MAX_TASK_RETRIES``); a row whose
worker is gone for good goes back to the queue for the others. A row that arrives
twice is written once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from minions.batch import (
    BatchCache,
    ClientSource,
    DocumentCache,
    RowJob,
    RowSink,
    WorkQueue,
    batch_clients,
    default_concurrency,
    run_row,
)
from minions.batch_inputs import PageSelection
from minions.batch_rows import BatchRow, BatchSettings
from minions.clients import Client
from minions.errors import ConfigurationError, MinionsError, MissingDependencyError

__all__ = ["MAX_RESTARTS", "MAX_TASK_RETRIES", "RayEngine"]

logger = logging.getLogger(__name__)

#: times a dead worker is started again
MAX_RESTARTS = 3
#: times Ray runs a row again whose worker died while running it
MAX_TASK_RETRIES = 3
#: cores a worker reserves unless told otherwise
DEFAULT_CPUS_PER_WORKER = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "ray", "The ray batch engine") from exc
    return ray


def minions_environment() -> dict[str, str]:
    """The ``MINIONS_*`` variables of this process (cache folders and the like), which
    the workers get too: a batch's settings are the driver's wherever its rows run."""
    return {name: value for name, value in os.environ.items() if name.startswith("MINIONS_")}


class BatchWorker:
    """A Ray actor's body: the batch's clients, built once, and rows run on request."""

    def __init__(
        self,
        settings: BatchSettings,
        local: ClientSource,
        remote: ClientSource,
        threads: int,
        cache: BatchCache,
    ) -> None:
        self.settings = settings
        self.local, self.remote = batch_clients(local, remote, threads=threads, cache=cache)
        ray = _ray()
        self.name = f"ray:{ray.util.get_node_ip_address()}:{os.getpid()}"

    async def run(self, job: RowJob, document: Any) -> str:
        row = await run_row(self.settings, job, document, self.local, self.remote, worker=self.name)
        return row.model_dump_json()

    def pid(self) -> int:
        return os.getpid()


class RayEngine:
    """Rows on Ray workers; see the module's description."""

    def __init__(
        self,
        local: ClientSource,
        remote: ClientSource,
        *,
        concurrency: int | None = None,
        workers: int | None = None,
        cpus_per_worker: int | None = None,
        address: str | None = None,
        cache: BatchCache = True,
    ) -> None:
        for role, source in (("local", local), ("remote", remote)):
            if isinstance(source, Client):
                raise ConfigurationError(
                    f"the ray engine builds its clients in each worker: pass the {role} client "
                    "as a spec string or a minions.batch.ClientSpec, not a client object"
                )
        if workers is not None and workers < 1:
            raise ConfigurationError(f"workers must be at least 1, got {workers}")
        if cpus_per_worker is not None and cpus_per_worker < 1:
            raise ConfigurationError(f"cpus_per_worker must be at least 1, got {cpus_per_worker}")
        self.local, self.remote = local, remote
        self.concurrency = concurrency or default_concurrency(local)
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker or DEFAULT_CPUS_PER_WORKER
        self.address = address
        self.cache = cache
        #: the actors of the batch running now (tests kill one)
        self.actors: list[Any] = []

    def _connect(self) -> bool:
        """Connect to RAY_ADDRESS (or ``address``) or start a local cluster; True when
        this call started the connection (and so ends it)."""
        ray = _ray()
        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        logger.info(
            "ray: %s", f"connecting to {address}" if address else "starting a local cluster"
        )
        ray.init(address=address, include_dashboard=False if address is None else None)
        return True

    def worker_count(self) -> int:
        cpus = int(_ray().cluster_resources().get("CPU", 1))
        if self.cpus_per_worker > cpus:
            raise ConfigurationError(
                f"a worker needs {self.cpus_per_worker} CPUs but the Ray cluster has {cpus}; "
                "pass a smaller --cpus-per-worker"
            )
        return self.workers or max(1, cpus // self.cpus_per_worker)

    async def run(self, queue: WorkQueue, sink: RowSink, settings: BatchSettings) -> None:
        ray = _ray()
        started_here = self._connect()
        try:
            count = self.worker_count()
            actor_class = ray.remote(BatchWorker).options(
                num_cpus=self.cpus_per_worker,
                max_restarts=MAX_RESTARTS,
                max_task_retries=MAX_TASK_RETRIES,
                max_concurrency=self.concurrency,
                runtime_env={"env_vars": minions_environment()},
            )
            self.actors = [
                actor_class.remote(
                    settings, self.local, self.remote, self.cpus_per_worker, self.cache
                )
                for _ in range(count)
            ]
            sink.progress.workers = count
            logger.info("ray: %d workers of %d CPUs", count, self.cpus_per_worker)
            await self._run_lanes(queue, sink, settings)
        finally:
            for actor in self.actors:
                ray.kill(actor)
            self.actors = []
            if started_here:
                ray.shutdown()

    async def _run_lanes(self, queue: WorkQueue, sink: RowSink, settings: BatchSettings) -> None:
        ray = _ray()
        pages = PageSelection.parse(settings.pages) if settings.pages else None
        documents = _ShippedDocuments(DocumentCache(pages, queue.jobs()))
        dead: dict[int, str] = {}

        async def lane(index: int, actor: Any) -> None:
            while index not in dead and sink.admit() and (job := queue.next(index)) is not None:
                sink.progress.in_flight += 1
                try:
                    document = await documents.get(job)
                    reply = await actor.run.remote(job.without_text(), document)
                except ray.exceptions.RayActorError as exc:
                    queue.put_back(job)
                    dead[index] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    logger.warning(
                        "ray worker %d is gone (%s); its row goes to another", index, exc
                    )
                    return
                finally:
                    sink.progress.in_flight -= 1
                documents.done_with(job)
                sink.record(BatchRow.model_validate_json(reply))

        async with asyncio.TaskGroup() as group:
            for index, actor in enumerate(self.actors):
                for _ in range(self.concurrency):
                    group.create_task(lane(index, actor))
        if len(dead) == len(self.actors) and len(queue):
            raise MinionsError(
                f"every Ray worker died ({'; '.join(dict.fromkeys(dead.values()))}); "
                f"{len(queue)} rows did not run. Finished rows are saved: fix the cause and "
                "rerun the same command to resume"
            )


class _ShippedDocuments:
    """Each document loaded once in the driver and put in Ray's object store while rows
    of it are left; workers receive it by reference."""

    def __init__(self, cache: DocumentCache) -> None:
        self.cache = cache
        self.refs: dict[str, Any] = {}

    async def get(self, job: RowJob) -> Any:
        ref = self.refs.get(job.document.id)
        if ref is None:
            loaded = await self.cache.get(job.document)
            ref = self.refs.setdefault(job.document.id, _ray().put(loaded))
        return ref

    def done_with(self, job: RowJob) -> None:
        self.cache.done_with(job.document)
        if not self.cache.holds(job.document):
            self.refs.pop(job.document.id, None)
