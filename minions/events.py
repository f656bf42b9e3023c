"""Typed events a run emits, and the sinks that receive them.

Protocols never print: they emit events. The CLI draws progress from them, the app
its live view, and :class:`JsonlLog` records them. A sink is any callable taking an
:class:`Event`; :class:`Events` fans one event out to many sinks.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from minions.types import ChunkRef, JobOutput, Usage

logger = logging.getLogger(__name__)


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = ""
    time: float = Field(default_factory=time.time)


class RunStarted(_Event):
    kind: Literal["run_started"] = "run_started"
    protocol: str
    task: str
    local_model: str
    remote_model: str
    documents: list[str]
    config: dict[str, Any] = Field(default_factory=dict)


class _Call(_Event):
    round: int
    purpose: str
    prompt: str
    reply: str
    usage: Usage
    latency_s: float
    error: str | None = None


class RemoteCall(_Call):
    """The remote model answered (or failed) one request."""

    kind: Literal["remote_call"] = "remote_call"
    usd: float | None = None


class LocalCall(_Call):
    """The local model answered one request that is not a job (e.g. Minion chat)."""

    kind: Literal["local_call"] = "local_call"


class PlannedJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: int
    task_id: int
    task: str
    chunk: ChunkRef
    sample: int = 0


class JobsPlanned(_Event):
    kind: Literal["jobs_planned"] = "jobs_planned"
    round: int
    jobs: list[PlannedJob]
    code: str | None = None


class JobDone(_Event):
    kind: Literal["job_done"] = "job_done"
    round: int
    job_id: int
    task_id: int
    chunk: ChunkRef
    output: JobOutput | None
    error: str | None = None
    usage: Usage
    latency_s: float

    @property
    def abstained(self) -> bool:
        return self.output is None or self.output.abstained


class RoundFinished(_Event):
    kind: Literal["round_finished"] = "round_finished"
    round: int
    decision: str | None
    feedback: str | None = None


class Note(_Event):
    """Something the user should know about the run (e.g. a fallback it took)."""

    kind: Literal["note"] = "note"
    round: int = 0
    text: str


class RunFinished(_Event):
    kind: Literal["run_finished"] = "run_finished"
    status: str
    answer: str | None
    error: str | None = None
    usage: dict[str, Usage]
    remote_usd: float | None
    remote_only_usd: float | None
    seconds: float


Event = Annotated[
    RunStarted
    | RemoteCall
    | LocalCall
    | JobsPlanned
    | JobDone
    | RoundFinished
    | Note
    | RunFinished,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

Sink = Callable[[Any], None]


class Events:
    """Fans each event out to every sink. A failing sink is logged, never fatal."""

    def __init__(self, sinks: Iterable[Sink] = ()) -> None:
        self.sinks: list[Sink] = list(sinks)

    def add(self, sink: Sink) -> None:
        self.sinks.append(sink)

    def __call__(self, event: _Event) -> None:
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:
                logger.exception("event sink %r failed on %s", sink, type(event).__name__)


def as_events(events: Events | Sink | Iterable[Sink] | None) -> Events:
    """Accept an :class:`Events`, a single sink, several sinks or ``None``."""
    if isinstance(events, Events):
        return events
    if events is None:
        return Events()
    if callable(events):
        return Events([events])
    return Events(events)


class Recorder:
    """A sink that keeps every event in a list (tests, the app)."""

    def __init__(self) -> None:
        self.events: list[_Event] = []

    def __call__(self, event: _Event) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if getattr(e, "kind", None) == kind]


class JsonlLog:
    """A sink that appends each event as one JSON line to ``path`` (flushed per line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def __call__(self, event: _Event) -> None:
        line = event.model_dump_json()
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    @staticmethod
    def read(path: str | Path) -> list[Event]:
        """Parse a log written by :class:`JsonlLog` back into events."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return [EVENT_ADAPTER.validate_python(json.loads(line)) for line in lines if line]
