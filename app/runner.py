"""A protocol run, or a batch, on a background thread with its own event loop.

Streamlit reruns the page script on every interaction, so a run cannot live in the
script: a :class:`Background` owns a thread and an event loop, keeps what the coroutine
returned (or what went wrong) and can be cancelled from the page thread.
:class:`RunHandle` collects a run's events as they come and keeps its
:class:`~minions.types.Result`; :class:`BatchHandle` collects a batch's rows and
progress and keeps its :class:`~minions.batch.BatchResult`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Self, TypeVar

from minions.errors import MinionsError, one_line
from minions.types import Result

if TYPE_CHECKING:
    from minions.batch import BatchProgress, BatchResult
    from minions.batch_rows import BatchRow

logger = logging.getLogger(__name__)

#: makes the run's coroutine, given the sink that receives its events
RunFactory = Callable[[Callable[[Any], None]], Coroutine[Any, Any, Result]]
RunState = Literal["running", "answered", "budget_exceeded", "error", "stopped"]
T = TypeVar("T")


@dataclass(frozen=True)
class RunInfo:
    """What a run was asked to do, for labels and the comparison table."""

    protocol: str
    local: str
    remote: str
    task: str
    documents: tuple[str, ...] = ()
    price_as: str = ""


@dataclass(eq=False, kw_only=True)
class Background(Generic[T]):
    """A coroutine on a thread of its own with its own event loop: ``start()`` it,
    ``cancel()`` it from the page thread, then read ``result``, ``error`` or ``stopped``.
    Subclasses say which coroutine (:meth:`_coroutine`)."""

    #: what it is, in messages and thread names
    what: ClassVar[str] = "run"
    number: int = 0
    result: T | None = field(default=None, repr=False)
    #: what ended it when it raised instead of returning
    error: str | None = None
    stopped: bool = False
    started_at: float = 0.0
    finished_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _task: asyncio.Task[T] | None = field(default=None, repr=False)
    _cancel_requested: bool = False
    #: what the coroutine reported as it went (a run's events, a batch's rows)
    _reported: list[Any] = field(default_factory=list, repr=False)

    def _coroutine(self) -> Coroutine[Any, Any, T]:
        raise NotImplementedError

    def _report(self, item: Any) -> None:
        with self._lock:
            self._reported.append(item)

    def _reports(self) -> list[Any]:
        with self._lock:
            return list(self._reported)

    def start(self) -> Self:
        self.started_at = time.time()
        self._thread = threading.Thread(
            target=self._main, name=f"minions-{self.what}-{self.number}", daemon=True
        )
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    @property
    def seconds(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def cancel(self) -> None:
        """Ask it to stop; it ends with ``stopped`` set."""
        with self._lock:
            self._cancel_requested = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until it ends (tests); ``False`` if it is still running."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            with self._lock:
                self._loop = loop
                self._task = loop.create_task(self._coroutine())
                if self._cancel_requested:
                    self._task.cancel()
            self.result = loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            self.stopped = True
        except MinionsError as exc:  # its message says what went wrong and what to do
            logger.info("%s %d failed: %s", self.what, self.number, exc)
            self.error = one_line(str(exc))
        except Exception as exc:  # shown on the page as a message, logged with traceback
            logger.exception("%s %d failed", self.what, self.number)
            self.error = (
                f"The {self.what} stopped on an unexpected problem "
                f"({one_line(str(exc)) or 'no message'}). The app's log has the details; "
                "try again, and report it if it happens again."
            )
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self.finished_at = time.time()


@dataclass(eq=False)
class RunHandle(Background[Result]):
    """One run: start it, watch ``events``, ``cancel()`` it, read ``result``."""

    info: RunInfo
    factory: RunFactory = field(repr=False)

    def _coroutine(self) -> Coroutine[Any, Any, Result]:
        return self.factory(self._report)

    @property
    def events(self) -> list[Any]:
        """A snapshot of the events so far."""
        return self._reports()

    @property
    def state(self) -> RunState:
        if not self.done:
            return "running"
        if self.stopped:
            return "stopped"
        if self.result is not None:
            return self.result.status
        return "error"


#: makes the batch's coroutine, given the handle whose ``on_start`` and ``on_row`` it
#: passes to :func:`minions.batch.batch_async`
BatchFactory = Callable[["BatchHandle"], Coroutine[Any, Any, "BatchResult"]]


@dataclass(eq=False)
class BatchHandle(Background["BatchResult"]):
    """A batch into ``out``: its progress and the rows this call ran, as they finish."""

    what: ClassVar[str] = "batch"
    out: Path
    factory: BatchFactory = field(repr=False)
    #: the batch's running totals, once its documents and rows are known
    progress: BatchProgress | None = None

    def _coroutine(self) -> Coroutine[Any, Any, BatchResult]:
        return self.factory(self)

    def on_start(self, progress: BatchProgress) -> None:
        self.progress = progress

    def on_row(self, row: BatchRow, progress: BatchProgress) -> None:
        self._report(row)

    @property
    def rows(self) -> list[BatchRow]:
        """A snapshot of the rows run so far (not those done before)."""
        return self._reports()
