"""``minions.batch`` on the Ray engine with the real smollm2 pack as the local model: a
local Ray cluster the engine starts and stops itself, one worker that loads the model
once, a scripted remote (so only the local side is real), two documents x one question.

It checks the plumbing (rows with real local usage, written by the driver, exported),
not whether a 135M model reads well.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from minions.batch import batch
from minions.documents import Document, load_document
from tests import batch_clients as bc

pytestmark = pytest.mark.e2e

ray = pytest.importorskip(
    "ray", reason="ray is not installed; pip install 'minions[ray]' to test the ray engine"
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "3m-2018-10k-pages-45-64.txt"
LOCAL = "llamacpp:smollm2-135m"


def test_two_documents_on_a_ray_worker_with_the_smollm2_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    pages = load_document(EXAMPLE).pages
    docs = [
        Document.from_pages(pages[0:2], name="3m-pages-45-46"),
        Document.from_pages(pages[2:4], name="3m-pages-47-48"),
    ]
    started = time.perf_counter()
    result = batch(
        docs,
        ["What were 3M's purchases of property, plant and equipment in 2018?"],
        out=tmp_path,
        protocol="minions",
        local=LOCAL,
        remote=bc.remote(),
        price_as="openai:gpt-4o",
        engine="ray",
        retrieval_top_k=2,
        local_max_tokens=64,
        **bc.OPTIONS,
    )
    print(f"2 rows on the ray engine in {time.perf_counter() - started:.0f} s")

    assert [r.doc_id for r in result.rows] == ["3m-pages-45-46", "3m-pages-47-48"]
    for row in result.rows:
        assert row.status == "answered", row.error
        assert row.local_model == LOCAL and row.usage["local"].input_tokens > 0
        assert row.worker.startswith("ray:")
    assert len({r.worker for r in result.rows}) == 1  # one worker, its model loaded once
    assert pq.read_table(result.parquet).num_rows == 2
    assert not ray.is_initialized()  # the engine stopped the cluster it started
