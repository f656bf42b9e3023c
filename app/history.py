"""The app's run history: the last runs kept across reloads, on this machine only.

Each finished run is one JSON line (:class:`SavedRun`: what was asked, how it ended,
what it spent, and its :class:`~minions.types.Result` when it left one) in
``history.jsonl`` in the user's data directory (``$MINIONS_DATA_DIR``, or the
platform's, e.g. ``~/.local/share/minions``). The file holds the questions and answers
of private documents: it is never sent anywhere, only the last :data:`MAX_RUNS` runs
are kept, and :func:`clear` deletes it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from minions.app.runner import RunHandle, RunState
from minions.types import Result, Usage

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "MINIONS_DATA_DIR"
FILE = "history.jsonl"
#: how many runs the history keeps (the oldest go first)
MAX_RUNS = 200


def data_dir() -> Path:
    """``$MINIONS_DATA_DIR``, or the platform's user data directory for minions."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("minions"))


def path() -> Path:
    """Where the history is kept."""
    return data_dir() / FILE


class SavedRun(BaseModel):
    """A finished run as the history keeps it."""

    model_config = ConfigDict(extra="forbid")

    number: int
    state: RunState
    protocol: str
    local: str
    remote: str
    task: str
    documents: list[str] = Field(default_factory=list)
    price_as: str = ""
    started_at: float = Field(default_factory=time.time)
    seconds: float = 0.0
    #: remote dollars spent (the Result's when there is one, else the calls' so far)
    spent_usd: float | None = 0.0
    #: tokens and calls per role (the Result's when there is one, else the events')
    usage: dict[str, Usage] = Field(default_factory=dict)
    #: what ended a run that left no Result
    error: str | None = None
    result: Result | None = None

    @classmethod
    def of(cls, handle: RunHandle, spent_usd: float | None, usage: dict[str, Usage]) -> SavedRun:
        """The record of a finished run; ``spent_usd`` and ``usage`` are what its calls
        cost and used, from its events (kept when the run left no Result, e.g. when it
        was stopped)."""
        info, result = handle.info, handle.result
        return cls(
            number=handle.number,
            state=handle.state,
            protocol=info.protocol,
            local=info.local,
            remote=info.remote,
            task=info.task,
            documents=list(info.documents),
            price_as=info.price_as,
            started_at=handle.started_at,
            seconds=handle.seconds,
            spent_usd=result.cost.total_usd if result is not None else spent_usd,
            usage=result.usage if result is not None else usage,
            error=handle.error,
            result=result,
        )


def load(file: Path | None = None) -> list[SavedRun]:
    """The saved runs, oldest first; a damaged line is skipped with a log line."""
    file = file or path()
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        logger.warning("cannot read the run history %s: %s", file, exc)
        return []
    runs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            runs.append(SavedRun.model_validate_json(line))
        except ValidationError as exc:
            logger.warning("skipping line %d of %s: %s", number, file, exc.errors()[0]["msg"])
    return runs[-MAX_RUNS:]


def append(run: SavedRun, file: Path | None = None) -> None:
    """Add ``run``; past :data:`MAX_RUNS` runs, the file is rewritten without the
    oldest (atomically: a crash leaves the old file or the new one)."""
    file = file or path()
    file.parent.mkdir(parents=True, exist_ok=True)
    with file.open("a", encoding="utf-8") as out:
        out.write(run.model_dump_json() + "\n")
    lines = [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) > MAX_RUNS:
        partial = file.with_suffix(".jsonl.partial")
        partial.write_text("\n".join(lines[-MAX_RUNS:]) + "\n", encoding="utf-8")
        partial.replace(file)


def clear(file: Path | None = None) -> None:
    """Delete the history."""
    (file or path()).unlink(missing_ok=True)
