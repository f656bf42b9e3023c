"""``minions.batch`` on the local engine with scripted models: rows, exports, resume,
torn lines, settings, the batch-wide budget, row limits, interruption, scheduling, and
the ``minions batch`` command (Ctrl-C included, as a real SIGINT)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import minions.batch
from minions.batch import (
    RowJob,
    RowSink,
    WorkQueue,
    batch,
    batch_async,
)
from minions.batch_inputs import BatchDocument, Question, question_id
from minions.batch_rows import BatchRow
from minions.clients.scripted import ScriptedClient
from minions.errors import ConfigurationError
from minions.limits import Limits
from minions.rowstore import RESULTS, RowWriter
from tests import batch_clients as bc

ROOT = Path(__file__).resolve().parents[1]
PRICE = "openai:gpt-4o"
WIDE = {"COLUMNS": "200"}


def clients(delay_s: float = 0.0) -> dict[str, ScriptedClient]:
    return {
        "local": ScriptedClient("local", replies=bc.local_reply, local=True, delay_s=delay_s),
        "remote": ScriptedClient("remote", replies=bc.remote_reply),
    }


def run(out: Path, docs: int = 3, **kwargs: Any) -> minions.batch.BatchResult:
    kwargs = {**clients(), "price_as": PRICE, **bc.OPTIONS, **kwargs}
    return batch(bc.documents(docs), bc.QUESTIONS, out=out, protocol="minions", **kwargs)


def lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]


def keys(rows: list[BatchRow]) -> list[tuple[str, str]]:
    return [(r.doc_id, r.question_id) for r in rows]


def test_one_row_per_pair_written_as_it_finishes_then_parquet_and_csv(tmp_path: Path) -> None:
    seen: list[int] = []
    result = run(tmp_path, on_row=lambda row, progress: seen.append(len(lines(tmp_path))))

    assert seen == [1, 2, 3, 4, 5, 6]  # on disk before the next row is reported
    assert result.complete and result.stopped is None
    assert [(r.doc_id, r.answer) for r in result.rows] == [
        (f"doc-{i}", f"CODE-D{i}") for i in range(3) for _ in range(2)
    ]
    row = result.rows[0]
    assert row.key == ("doc-0", question_id(bc.QUESTIONS[0]), "minions", row.settings_hash)
    assert row.citations == ['doc-0, p. 1: "The code word is CODE-D0."']
    assert row.usage["remote"].calls == 2 and row.usage["local"].calls == 3
    assert row.remote_usd and row.remote_only_usd and row.worker == "local"

    table = pq.read_table(result.parquet)
    assert table.num_rows == 6
    citations = table.schema.field("citations").type
    assert pa.types.is_list(citations) and pa.types.is_string(citations.value_type)
    data = table.to_pylist()
    assert data[0]["citations"] == row.citations
    assert data[0]["remote_calls"] == 2 and data[0]["local_input_tokens"] > 0
    assert data[0]["remote_usd"] == pytest.approx(row.remote_usd)
    csv_text = (tmp_path / "results.csv").read_text()
    assert csv_text.splitlines()[0].startswith("doc_id,question_id,protocol,settings_hash")
    assert "local_input_tokens" in csv_text.splitlines()[0]
    assert '"doc-0, p. 1: ""The code word is CODE-D0."""' in csv_text


def test_a_rerun_skips_finished_rows_and_new_documents_add_theirs(tmp_path: Path) -> None:
    run(tmp_path, docs=2)
    again = clients()
    result = run(tmp_path, docs=3, **again)

    assert len(again["remote"].calls) == 2 * 2  # only doc-2's two rows ran
    assert result.progress.done_before == 4 and len(result.rows) == 6
    assert len(lines(tmp_path)) == 6
    nothing = clients()
    run(tmp_path, docs=3, **nothing)
    assert nothing["remote"].calls == [] and len(lines(tmp_path)) == 6


def torn(line: bytes, kind: str) -> bytes:
    if kind == "bad JSON":
        return line[:40]
    if kind == "bad UTF-8":  # cut inside the two bytes of "µ"
        return line[: line.index("µ".encode()) + 1]
    return line  # a whole row without its newline


@pytest.mark.parametrize("kind", ["bad JSON", "bad UTF-8", "missing newline"])
def test_a_torn_last_line_is_dropped_with_a_warning_and_its_row_runs_again(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    run(tmp_path)
    data = (tmp_path / RESULTS).read_bytes().splitlines(keepends=True)
    last = BatchRow.model_validate_json(data[-1]).model_copy(update={"answer": "5 µg"})
    (tmp_path / RESULTS).write_bytes(
        b"".join(data[:-1]) + torn(last.model_dump_json().encode(), kind)
    )

    again = clients()
    result = run(tmp_path, **again)

    assert "unfinished last line" in caplog.text
    assert len(again["remote"].calls) == 2  # the torn row, and only it
    written = (tmp_path / RESULTS).read_bytes()
    assert written.startswith(b"".join(data[:-1])) and written.endswith(b"\n")
    assert len(lines(tmp_path)) == 6 and result.rows[-1].answer == "CODE-D2"


def test_other_settings_into_the_same_folder_are_refused(tmp_path: Path) -> None:
    run(tmp_path, docs=1)
    with pytest.raises(ConfigurationError, match=r"other settings \(options: .*max_rounds"):
        run(tmp_path, docs=1, max_rounds=2)
    with pytest.raises(ConfigurationError, match="pages: None -> '1-2'"):
        run(tmp_path, docs=1, pages="1-2")
    run(tmp_path, docs=1, concurrency=3)  # how rows run is not a setting: it resumes


def test_the_batch_budget_starts_no_row_once_reached_and_lets_rows_in_flight_finish(
    tmp_path: Path,
) -> None:
    one_row = run(tmp_path / "probe", docs=1).rows[0].remote_usd
    assert one_row
    budget = Limits(max_remote_usd=one_row * 2.5)
    result = run(tmp_path / "b", docs=4, concurrency=2, limits=budget, **clients(delay_s=0.02))

    # rows 1-2 ran together (under budget), then 3-4 started (still under), then none
    assert len(result.rows) == 4 and all(r.status == "answered" for r in result.rows)
    assert not result.complete
    assert result.stopped and "max_remote_usd" in result.stopped and "the batch" in result.stopped
    assert pq.read_table(result.parquet).num_rows == 4
    more = run(tmp_path / "b", docs=4, limits=Limits(max_remote_usd=one_row * 100))
    assert more.complete and more.progress.done_before == 4


def test_a_budget_needs_a_priced_remote(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no known price; pass --price-as"):
        run(tmp_path, price_as=None, limits=Limits(max_remote_usd=1.0))


def test_row_limits_bound_each_row_and_the_batch_goes_on(tmp_path: Path) -> None:
    result = run(tmp_path, row_limits=Limits(max_remote_calls=1))

    assert len(result.rows) == 6
    assert {r.status for r in result.rows} == {"budget_exceeded"}
    assert all("max_remote_calls" in (r.error or "") for r in result.rows)
    assert all(r.usage["remote"].calls == 1 for r in result.rows)


def test_a_document_that_does_not_load_is_an_error_row_and_the_rest_run(tmp_path: Path) -> None:
    broken = BatchDocument(id="broken", path=str(tmp_path / "gone.pdf"))
    docs = [broken, *bc.documents(1)]
    result = batch(docs, bc.QUESTIONS[:1], out=tmp_path / "o", **clients(), **bc.OPTIONS)

    assert [(r.doc_id, r.status) for r in result.rows] == [
        ("broken", "error"),
        ("doc-0", "answered"),
    ]
    assert "No such file" in (result.rows[0].error or "")
    retried = clients()
    batch(docs, bc.QUESTIONS[:1], out=tmp_path / "o", retry_errors=True, **retried, **bc.OPTIONS)
    assert len(retried["remote"].calls) == 0  # the broken row again: it fails before any call
    assert len(lines(tmp_path / "o")) == 3


async def test_a_cancelled_batch_keeps_every_finished_row_and_resumes_without_duplicates(
    tmp_path: Path,
) -> None:
    done: list[str] = []
    models = clients(delay_s=0.05)
    task = asyncio.ensure_future(
        batch_async(
            bc.documents(4),
            bc.QUESTIONS,
            out=tmp_path,
            price_as=PRICE,
            on_row=lambda row, progress: done.append(row.doc_id),
            **models,
            **bc.OPTIONS,
        )
    )
    while len(done) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    kept = lines(tmp_path)
    assert len(kept) == len(done) >= 3

    result = await batch_async(
        bc.documents(4), bc.QUESTIONS, out=tmp_path, price_as=PRICE, **clients(), **bc.OPTIONS
    )
    written = [(r["doc_id"], r["question_id"]) for r in lines(tmp_path)]
    assert len(written) == len(set(written)) == 8
    assert result.progress.done_before == len(kept)


def local_hits(rows: list[BatchRow]) -> tuple[int, int]:
    """(local calls answered from the response cache, local calls) over ``rows``."""
    return (
        sum(r.usage["local"].cache_hits for r in rows),
        sum(r.usage["local"].calls for r in rows),
    )


def test_a_second_batch_reads_the_local_jobs_from_the_response_cache_unless_told_not_to(
    tmp_path: Path,
) -> None:
    """The clients of a batch go through the response cache, on by default: the same
    jobs in a new folder cost no local compute; cache=False sends every call."""
    spec = {"local": bc.local(), "remote": bc.remote()}
    first = run(tmp_path / "a", **spec)
    hits, calls = local_hits(first.rows)
    assert calls == 3 * 2 * 3  # 3 documents x 2 questions x 3 chunks
    # the remote gives both questions the same task: the second's jobs are the first's
    assert hits == calls // 2

    again = run(tmp_path / "b", **spec)
    assert local_hits(again.rows) == (calls, calls)
    assert all(r.usage["local"].input_tokens == 0 for r in again.rows)
    assert [r.answer for r in again.rows] == [r.answer for r in first.rows]

    uncached = run(tmp_path / "c", **spec, cache=False)
    assert local_hits(uncached.rows) == (0, calls)


def job(doc: str, question: str) -> RowJob:
    return RowJob(BatchDocument(id=doc, text="x"), Question(id=question, text=question))


def test_the_queue_keeps_a_groups_lanes_on_one_document_and_groups_on_their_own() -> None:
    queue = WorkQueue([job(d, q) for d in "abc" for q in ("1", "2", "3")])

    assert [queue.next(0).document.id for _ in range(2)] == ["a", "a"]  # type: ignore[union-attr]
    assert queue.next(1).document.id == "b"  # type: ignore[union-attr]
    assert queue.next(0).document.id == "a"  # type: ignore[union-attr]
    assert queue.next(0).document.id == "c"  # type: ignore[union-attr]  # a is done: next new one
    lost = queue.next(1)
    assert lost is not None and lost.document.id == "b"
    queue.put_back(lost)  # its worker died
    rest = [queue.next(2) for _ in range(len(queue))]
    assert sorted((j.document.id, j.question.id) for j in rest if j) == [
        ("b", "2"), ("b", "3"), ("c", "2"), ("c", "3")
    ]  # fmt: skip
    assert queue.next(0) is None


def test_a_row_that_arrives_twice_is_written_once(tmp_path: Path) -> None:
    result = run(tmp_path / "one", docs=1)
    progress = minions.batch.BatchProgress(total=2)
    with RowWriter(tmp_path / RESULTS) as writer:
        sink = RowSink(writer, progress, None, None)
        for row in [result.rows[0], result.rows[0], result.rows[1]]:
            sink.record(row)
    assert sink.duplicates == 1 and progress.done == 2
    assert len((tmp_path / RESULTS).read_text().splitlines()) == 2


# --- the command -----------------------------------------------------------------------


def manifest(folder: Path, count: int) -> Path:
    path = folder / "manifest.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": d.name, "pages": d.pages, "metadata": {"n": i}}
        for i, d in enumerate(bc.documents(count))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cli_args(out: Path, source: Path, *extra: str) -> list[str]:
    return [
        "batch", "--out", str(out), "--manifest", str(source),
        "-q", bc.QUESTIONS[0], "-q", bc.QUESTIONS[1],
        "--local", "scripted:local", "--remote", "scripted:remote", "--price-as", PRICE,
        *[arg for key, value in bc.OPTIONS.items() for arg in ("-o", f"{key}={value}")],
        *extra,
    ]  # fmt: skip


def test_the_command_writes_rows_and_tables_and_refuses_other_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from minions.cli import app

    monkeypatch.setattr(minions.batch, "batch_clients", bc.scripted_clients())
    source = manifest(tmp_path, 2)
    done = CliRunner().invoke(
        app, env=WIDE, args=cli_args(tmp_path / "o", source, "--pages", "1-3")
    )

    assert done.exit_code == 0, done.output
    assert "4 of 4" in done.output and "results.parquet" in done.output
    rows = lines(tmp_path / "o")
    assert len(rows) == 4  # in the order they finished
    assert {r["doc_id"]: r["metadata"] for r in rows} == {"doc-0": {"n": 0}, "doc-1": {"n": 1}}
    assert json.loads((tmp_path / "o" / "run.json").read_text())["settings"]["pages"] == "1-3"

    other = CliRunner().invoke(
        app, env=WIDE, args=cli_args(tmp_path / "o", source, "-o", "max_rounds=3")
    )
    assert other.exit_code == 1 and "other settings" in other.output
    bad = CliRunner().invoke(app, env=WIDE, args=cli_args(tmp_path / "p", source, "--pages", "x"))
    assert bad.exit_code == 1 and "is not a page or a range" in bad.output
    q = tmp_path / "q"
    budget = CliRunner().invoke(
        app, env=WIDE, args=cli_args(q, source, "--max-remote-usd", "1e-6", "--concurrency", "1")
    )
    assert budget.exit_code == 1 and "starts no more rows" in budget.output
    assert len(lines(tmp_path / "q")) == 1  # the first row started before anything was spent


def test_no_cache_sends_every_call_of_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from minions.cli import app

    monkeypatch.setattr(minions.batch, "batch_clients", bc.scripted_clients())
    source = manifest(tmp_path, 2)
    hits = {}
    for name, extra in (("first", ()), ("cached", ()), ("uncached", ("--no-cache",))):
        done = CliRunner().invoke(app, env=WIDE, args=cli_args(tmp_path / name, source, *extra))
        assert done.exit_code == 0, done.output
        hits[name] = sum(r["usage"]["local"]["cache_hits"] for r in lines(tmp_path / name))
    # 2 documents x 2 questions x 3 chunks; the second question repeats the first's jobs
    assert hits == {"first": 2 * 3, "cached": 2 * 2 * 3, "uncached": 0}


def test_ctrl_c_stops_the_command_cleanly_and_a_rerun_completes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = manifest(tmp_path, 6)
    out = tmp_path / "o"
    script = "import sys; from tests.batch_clients import run_cli; run_cli(sys.argv[1:], 0.1)"
    child = subprocess.Popen(
        [sys.executable, "-c", script, *cli_args(out, source)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 120
    while not (out / RESULTS).exists() or len((out / RESULTS).read_text().splitlines()) < 3:
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)

    assert child.returncode == 130, stderr
    assert "interrupted" in stderr and "Rerun the same command to resume" in stderr
    kept = lines(out)  # every line a whole row
    assert 3 <= len(kept) < 12

    from minions.cli import app

    monkeypatch.setattr(minions.batch, "batch_clients", bc.scripted_clients())
    done = CliRunner().invoke(app, env=WIDE, args=cli_args(out, source))
    assert done.exit_code == 0, done.output
    written = [(r["doc_id"], r["question_id"]) for r in lines(out)]
    assert len(written) == len(set(written)) == 12
    assert written[: len(kept)] == [(r["doc_id"], r["question_id"]) for r in kept]
