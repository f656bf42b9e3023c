"""The Ray engine on a real local Ray cluster (2 CPUs; every process on this machine)
with scripted models: the same rows as the local engine, and no row lost or written
twice when a worker is killed mid-row, whether it comes back or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minions.batch import BatchResult, ClientSpec, batch
from minions.clients.scripted import ScriptedClient
from minions.errors import ConfigurationError
from tests import batch_clients as bc

ray = pytest.importorskip(
    "ray", reason="ray is not installed; pip install 'minions[ray]' to test the ray engine"
)

PRICE = "openai:gpt-4o"


@pytest.fixture(scope="module")
def cluster() -> Any:
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def run(out: Path, *, docs: int = 4, **kwargs: Any) -> BatchResult:
    """A batch of scripted rows; without the response cache unless told (rows are
    compared with their usage, so every call is made)."""
    kwargs = {
        "local": bc.local(),
        "remote": bc.remote(),
        "price_as": PRICE,
        "cache": False,
        **bc.OPTIONS,
        **kwargs,
    }
    return batch(bc.documents(docs), bc.QUESTIONS, out=out, protocol="minions", **kwargs)


def decided(result: BatchResult) -> list[tuple[Any, ...]]:
    """What the rows say, without where and when they ran."""
    return [(r.key, r.answer, r.status, r.citations, r.usage, r.remote_usd) for r in result.rows]


def pids(result: BatchResult) -> set[int]:
    return {int(r.worker.rsplit(":", 1)[1]) for r in result.rows}


def test_the_ray_engine_writes_the_same_rows_as_the_local_engine(
    cluster: Any, tmp_path: Path
) -> None:
    local = run(tmp_path / "local")
    on_ray = run(tmp_path / "ray", engine="ray")

    assert len(on_ray.rows) == 8 and decided(on_ray) == decided(local)
    assert {r.worker for r in local.rows} == {"local"}
    assert all(r.worker.startswith("ray:") for r in on_ray.rows)
    assert on_ray.progress.workers == 1  # 2 CPUs, 2 per worker: one worker, not two fighting
    assert ray.is_initialized()  # the engine leaves a cluster it did not start running


def test_ray_workers_answer_from_the_drivers_response_cache(cluster: Any, tmp_path: Path) -> None:
    """The workers open the cache folder of the driver's settings: jobs the local engine
    ran are not run again on Ray."""
    local = run(tmp_path / "local", cache=True)
    on_ray = run(tmp_path / "ray", engine="ray", cache=True)
    calls = sum(r.usage["local"].calls for r in on_ray.rows)
    assert calls == 4 * 2 * 3  # 4 documents x 2 questions x 3 chunks
    assert sum(r.usage["local"].cache_hits for r in on_ray.rows) == calls
    assert [r.answer for r in on_ray.rows] == [r.answer for r in local.rows]


def test_a_worker_killed_mid_row_comes_back_and_no_row_is_lost_or_doubled(
    cluster: Any, tmp_path: Path
) -> None:
    expected = run(tmp_path / "local")
    marker = tmp_path / "killed"
    result = run(tmp_path / "ray", engine="ray", local=bc.killing_local(marker))

    killed = int(marker.read_text())  # the worker's pid, SIGKILLed in its first local call
    assert killed not in pids(result)  # every row was written by the restarted worker
    assert decided(result) == decided(expected)
    written = (tmp_path / "ray" / "results.jsonl").read_text().splitlines()
    assert len(written) == len(set(written)) == 8


def test_a_worker_gone_for_good_hands_its_row_to_another(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from minions import batch_ray

    monkeypatch.setattr(batch_ray, "MAX_RESTARTS", 0)
    monkeypatch.setattr(batch_ray, "MAX_TASK_RETRIES", 0)
    expected = run(tmp_path / "local")
    marker = tmp_path / "killed"
    result = run(
        tmp_path / "ray",
        engine="ray",
        local=bc.killing_local(marker),
        workers=2,
        cpus_per_worker=1,
    )

    killed = int(marker.read_text())
    assert killed not in pids(result) and len(pids(result)) == 1  # the survivor did it all
    assert decided(result) == decided(expected)
    assert len((tmp_path / "ray" / "results.jsonl").read_text().splitlines()) == 8


def test_workers_get_the_drivers_minions_variables(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINIONS_BATCH_TEST", "from the driver")
    remote = ClientSpec("scripted:remote", {"replies": bc.environment_reply})
    result = batch(
        bc.documents(1), bc.QUESTIONS[:1], out=tmp_path, protocol="remote_only",
        local=bc.local(), remote=remote, engine="ray",
    )  # fmt: skip
    assert [r.answer for r in result.rows] == ["from the driver"]


def test_the_ray_engine_takes_specs_not_client_objects(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="builds its clients in each worker"):
        run(tmp_path, engine="ray", local=ScriptedClient("local", local=True))
    with pytest.raises(ConfigurationError, match="for the ray engine"):
        run(tmp_path / "x", workers=2)
