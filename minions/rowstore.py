"""A run folder: ``run.json`` (the settings) and ``results.jsonl`` (one row a line).

What ``minions eval`` and ``minions batch`` share. A row is appended as one complete
line in one binary write, flushed and synced (:class:`RowWriter`), so a crash or Ctrl-C
can only cut the last line short; reading takes only newline-terminated lines
(:func:`read_rows`), so a torn last line of any kind (part of a row, cut inside a UTF-8
character, a row without its newline) is skipped with a warning and its row runs again.
The same settings into the same folder resume it; other settings are refused
(:func:`claim_folder`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from minions.errors import ConfigurationError

__all__ = [
    "RESULTS",
    "RUN_INFO",
    "RowWriter",
    "RunInfo",
    "claim_folder",
    "drop_unfinished_line",
    "read_rows",
    "read_run_info",
]

logger = logging.getLogger(__name__)

RUN_INFO = "run.json"
RESULTS = "results.jsonl"

SettingsT = TypeVar("SettingsT", bound=BaseModel)
RowT = TypeVar("RowT", bound=BaseModel)


class RunInfo(BaseModel, Generic[SettingsT]):
    """The content of ``run.json``."""

    model_config = ConfigDict(extra="forbid")

    settings: SettingsT
    created_at: str
    minions_version: str = ""


def read_run_info(out: Path, settings_model: type[SettingsT]) -> RunInfo[SettingsT]:
    """The ``run.json`` of a run folder, its settings read as ``settings_model``."""
    try:
        text = (out / RUN_INFO).read_text(encoding="utf-8")
        return RunInfo[settings_model].model_validate_json(text)  # type: ignore[valid-type]
    except (OSError, ValidationError) as exc:
        raise ConfigurationError(f"cannot read {out / RUN_INFO}: {exc}") from None


def claim_folder(out: Path, settings: BaseModel) -> None:
    """Write ``out/run.json`` for ``settings``, or check that the one there has the same
    settings (an error naming what changed otherwise). A folder that holds rows but no
    ``run.json`` is refused."""
    path = out / RUN_INFO
    if not path.exists():
        if (out / RESULTS).exists():
            raise ConfigurationError(
                f"{out} holds {RESULTS} but no {RUN_INFO}; choose another output folder"
            )
        from minions import __version__

        out.mkdir(parents=True, exist_ok=True)
        info = RunInfo(
            settings=settings,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            minions_version=__version__,
        )
        path.write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return
    stored = read_run_info(out, type(settings)).settings
    if stored != settings:
        old, new = stored.model_dump(), settings.model_dump()
        changed = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in new if old[k] != new[k])
        raise ConfigurationError(
            f"{out} holds a run with other settings ({changed}). Rerun with the settings in "
            f"{path} to resume it, or choose another output folder (--out) for a new run."
        )


def read_rows(path: Path, model: type[RowT], key: Callable[[RowT], Hashable]) -> list[RowT]:
    """The rows of a results file, the last one of each ``key``, in order of first
    appearance.

    A row is a complete line. What follows the last newline is a row cut off while it
    was being written (a crash, a full disk): it is skipped with a warning whatever it
    holds and run again. A damaged complete line is an error that names it.
    """
    if not path.exists():
        return []
    *lines, unfinished = path.read_bytes().split(b"\n")
    if unfinished:
        logger.warning("%s: skipping an unfinished last line (%d bytes)", path, len(unfinished))
    rows: dict[Hashable, RowT] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = model.model_validate_json(line)
        except ValidationError as exc:
            raise ConfigurationError(
                f"line {number} of {path} is not a results row ({exc.error_count()} problems); "
                "remove that line to go on"
            ) from None
        rows[key(row)] = row
    return list(rows.values())


def drop_unfinished_line(path: Path) -> None:
    """Cut ``path`` after its last newline, so new rows start on a line of their own."""
    if not path.exists():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning("%s: removing an unfinished last line (%d bytes)", path, len(data) - end)
        with path.open("r+b") as file:
            file.truncate(end)


class RowWriter:
    """Appends rows to a results file, each a complete line in one write, flushed and
    synced at once (a crash can only cut the last line short). A context manager."""

    def __init__(self, path: Path) -> None:
        drop_unfinished_line(path)
        self.file = path.open("ab")

    def write(self, row: BaseModel) -> None:
        self.file.write(row.model_dump_json().encode() + b"\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
