"""``minions eval`` end to end on the offline packs: two medical questions, one text of
context each, MinionS with small settings (local qwen2.5-coder-0.5b, remote stand-in
qwen2.5-coder-1.5b, priced as openai:gpt-4o), then ``minions eval report``.

It checks the plumbing (rows written with usage, a score method, dollars and a report),
not whether the small models answer right. Measured on the 2-core machine while
other work shared the cores (CPU pressure about 70%): 140-160 s for the run, about
70 s a question (two remote calls of 20-25 s, one local job of about 22 s).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minions.evals.cli import eval_app
from minions.evals.datasets import SHARED_DATA
from minions.evals.runner import RESULTS

pytestmark = pytest.mark.e2e

MEDICAL = SHARED_DATA / "medical" / "records_qa.json"


@pytest.mark.skipif(not MEDICAL.exists(), reason=f"the medical records QA is not at {MEDICAL}")
def test_two_medical_questions_on_the_offline_packs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "--dataset", "longhealth",
        "--ids", "patient_01/q1,patient_02/q1",
        "--context", "texts:1",
        "--protocols", "minions",
        "--local", "llamacpp:qwen2.5-coder-0.5b",
        "--remote", "llamacpp:qwen2.5-coder-1.5b",
        "--price-as", "openai:gpt-4o",
        "--option", "plan=json",
        "--option", "max_rounds=1",
        "--option", "num_tasks_per_round=1",
        "--option", "local_max_tokens=128",
        "--option", "remote_max_tokens=256",
        "--out", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    result = CliRunner().invoke(eval_app, args, env={"COLUMNS": "200"})
    seconds = time.perf_counter() - started
    print(f"eval of 2 questions took {seconds:.0f} s")
    assert result.exit_code == 0, result.output

    rows = [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]
    assert [(r["example_id"], r["protocol"]) for r in rows] == [
        ("patient_01/q1", "minions"),
        ("patient_02/q1", "minions"),
    ]
    for row in rows:
        assert row["score"]["method"], row
        assert row["usage"]["remote"]["input_tokens"] > 0, row
        if row["status"] == "answered":
            assert row["usage"]["local"]["input_tokens"] > 0, row
            assert row["remote_usd"] > 0 and row["remote_only_usd"] > 0
        assert row["context"].startswith("texts:1: 1 texts of patient_0")
        assert row["price_as"] == "openai:gpt-4o"

    report = CliRunner().invoke(eval_app, ["report", str(out)], env={"COLUMNS": "200"})
    assert report.exit_code == 0, report.output
    assert (out / "report.md").exists() and (out / "cost_vs_accuracy.png").exists()
