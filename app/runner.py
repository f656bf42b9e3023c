"""A protocol run on a background thread with its own event loop.

Streamlit reruns the page script on every interaction, so a run cannot live in the
script: :class:`RunHandle` owns a thread and an event loop, collects the run's events
as they come, keeps the :class:`~minions.types.Result` (or what went wrong) and can be
cancelled from the page thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from minions.errors import MinionsError, one_line
from minions.types import Result

logger = logging.getLogger(__name__)

#: makes the run's coroutine, given the sink that receives its events
RunFactory = Callable[[Callable[[Any], None]], Coroutine[Any, Any, Result]]
RunState = Literal["running", "answered", "budget_exceeded", "error", "stopped"]


@dataclass(frozen=True)
class RunInfo:
    """What a run was asked to do, for labels and the comparison table."""

    protocol: str
    local: str
    remote: str
    task: str
    documents: tuple[str, ...] = ()
    price_as: str = ""


@dataclass(eq=False)
class RunHandle:
    """One run: start it, watch ``events``, ``cancel()`` it, read ``result``."""

    info: RunInfo
    factory: RunFactory = field(repr=False)
    number: int = 0
    result: Result | None = field(default=None, repr=False)
    #: what ended the run when it raised instead of returning a Result
    error: str | None = None
    stopped: bool = False
    started_at: float = 0.0
    finished_at: float | None = None
    _events: list[Any] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _task: asyncio.Task[Result] | None = field(default=None, repr=False)
    _cancel_requested: bool = False

    def start(self) -> RunHandle:
        self.started_at = time.time()
        self._thread = threading.Thread(
            target=self._main, name=f"minions-run-{self.number}", daemon=True
        )
        self._thread.start()
        return self

    def _sink(self, event: Any) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Any]:
        """A snapshot of the events so far."""
        with self._lock:
            return list(self._events)

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    @property
    def state(self) -> RunState:
        if not self.done:
            return "running"
        if self.stopped:
            return "stopped"
        if self.result is not None:
            return self.result.status
        return "error"

    @property
    def seconds(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def cancel(self) -> None:
        """Ask the run to stop; it ends as ``stopped`` with the events seen so far."""
        with self._lock:
            self._cancel_requested = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (tests); ``False`` if it is still running."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            with self._lock:
                self._loop = loop
                self._task = loop.create_task(self.factory(self._sink))
                if self._cancel_requested:
                    self._task.cancel()
            self.result = loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            self.stopped = True
        except MinionsError as exc:  # its message says what went wrong and what to do
            logger.info("run %d failed: %s", self.number, exc)
            self.error = one_line(str(exc))
        except Exception as exc:  # shown on the page as a message, logged with traceback
            logger.exception("run %d failed", self.number)
            self.error = (
                f"The run stopped on an unexpected problem ({one_line(str(exc)) or 'no message'})."
                " The app's log has the details; try again, and report it if it happens again."
            )
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self.finished_at = time.time()
