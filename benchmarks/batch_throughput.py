"""Batch throughput: rows/min, local tokens/s and the framework's own share of the time,
for the local engine and the Ray engine on the same machine.

    python benchmarks/batch_throughput.py [--docs 10] [--questions 1] [--engines local,ray]

10 FinanceBench 10-Ks (the first in the shared data's documents.jsonl.gz) cut to their
first 8 pages, one question each (``--questions 2`` adds a second), MinionS with
``retrieval_top_k=4`` (four chunks read per question) and the code plan (the remote's
``prepare_jobs`` runs in the sandbox), local ``llamacpp:smollm2-135m`` with
``local_max_tokens=64`` (the 135M model often writes until the cap, and a job cut off is
asked again: at the default 384 a row took 219 s here, mostly writing), a scripted
remote (a fixed ``prepare_jobs`` that asks the question of every retrieved chunk, then a
fixed answer), the response cache off. Each engine writes to a folder of its own under
a temporary directory.

Framework overhead is the batch's wall time not spent inside model calls or the
sandbox: ``wall - sum over rows of (local_s + remote_s + sandbox_s)``, as a share of
the wall time (goal: under 2%). The rows of one local model run one at a time (one
worker of 2 CPUs on 2 cores), so the rows' spans do not overlap and the sum is exact.
The wall time is measured from the batch call to its return; starting the Ray cluster
is measured and shown apart (it is once per cluster, not per batch).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "financebench" / "documents.jsonl.gz"
PAGES = 8
LOCAL = "llamacpp:smollm2-135m"
QUESTIONS = [
    "What is the end date of the fiscal year this annual report covers?",
    "In which state is the company incorporated?",
]
OPTIONS: dict[str, Any] = {
    "retrieval_top_k": 4,
    "max_rounds": 1,
    "num_tasks_per_round": 1,
    "local_max_tokens": 64,
}
CODE = """```python
def prepare_jobs(chunks, previous_jobs):
    task = {task!r}
    return [JobManifest(chunk=c, task_id=1, task=task, advice="") for c in chunks]
```"""


def scripted_remote(messages: list[Any]) -> Any:
    """The remote: the same ``prepare_jobs`` for every question, then a fixed answer."""
    prompt = "\n".join(m.content for m in messages)
    if "prepare_jobs(chunks, previous_jobs)" in prompt and "answered your tasks" not in prompt:
        task = re.search(r"^Task: (.*)$", prompt, re.M)
        return CODE.format(task=task[1] if task else QUESTIONS[0])
    return {"decision": "final", "answer": "(scripted)", "explanation": "fixed"}


def documents(count: int) -> list[Any]:
    from minions.documents import Document

    found = []
    with gzip.open(DATA, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            found.append(Document.from_pages(record["pages"][:PAGES], name=record["doc_name"]))
            if len(found) == count:
                break
    return found


def run_engine(engine: str, docs: list[Any], questions: list[str], out: Path) -> dict[str, Any]:
    import minions
    from minions.batch import ClientSpec

    started = time.perf_counter()
    result = minions.batch(
        docs,
        questions,
        out=out,
        protocol="minions",
        local=LOCAL,
        remote=ClientSpec("scripted:fixed-plan", {"replies": scripted_remote}),
        price_as="openai:gpt-4o",
        engine=engine,  # type: ignore[arg-type]
        cache=False,
        **OPTIONS,
    )
    wall = time.perf_counter() - started
    rows = result.rows
    inside = {
        "local": sum(r.local_s for r in rows),
        "remote": sum(r.remote_s for r in rows),
        "sandbox": sum(r.sandbox_s for r in rows),
    }
    local = [r.usage.get("local") for r in rows]
    tokens = sum(u.input_tokens + u.output_tokens for u in local if u is not None)
    return {
        "engine": engine,
        "rows": len(rows),
        "answered": sum(r.status == "answered" for r in rows),
        "wall_s": wall,
        "rows_per_min": 60 * len(rows) / wall,
        "local_tokens": tokens,
        "local_tokens_per_s": tokens / inside["local"] if inside["local"] else 0.0,
        "local_jobs": sum(u.calls for u in local if u is not None),
        **{f"{k}_s": v for k, v in inside.items()},
        "overhead_s": wall - sum(inside.values()),
        "row_overhead_s": sum(r.wall_s - r.local_s - r.remote_s - r.sandbox_s for r in rows),
        "workers": sorted({r.worker for r in rows}),
    }


def show(f: dict[str, Any]) -> None:
    share = f["overhead_s"] / f["wall_s"]
    print(
        f"{f['engine']:<6} {f['rows']} rows ({f['answered']} answered) in {f['wall_s']:.1f} s: "
        f"{f['rows_per_min']:.2f} rows/min; {f['local_jobs']} local jobs, "
        f"{f['local_tokens']:,} local tokens at {f['local_tokens_per_s']:.0f} tokens/s "
        "of local-call time"
    )
    print(
        f"       inside calls: local {f['local_s']:.1f} s, remote {f['remote_s']:.2f} s, "
        f"sandbox {f['sandbox_s']:.1f} s; framework overhead {f['overhead_s']:.1f} s = "
        f"{share:.1%} of wall time (goal: under 2%), of which {f['row_overhead_s']:.1f} s "
        f"inside rows; workers {', '.join(f['workers'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10)
    parser.add_argument("--questions", type=int, default=1, choices=[1, 2])
    parser.add_argument("--engines", default="local,ray")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"needs the shared FinanceBench data at {DATA}")
    os.environ["MINIONS_RESPONSE_CACHE"] = "off"  # every call is made, in every worker
    docs = documents(args.docs)
    questions = QUESTIONS[: args.questions]
    print(
        f"{len(docs)} FinanceBench documents, pages 1-{PAGES}, x {len(questions)} questions; "
        f"MinionS {OPTIONS}, code plan, local {LOCAL}, scripted remote, no response cache"
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start")
    with tempfile.TemporaryDirectory(prefix="minions-throughput-") as folder:
        for engine in args.engines.split(","):
            if engine == "ray":
                import ray

                started = time.perf_counter()
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
                print(f"ray: a local cluster started in {time.perf_counter() - started:.1f} s")
            try:
                show(run_engine(engine, docs, questions, Path(folder) / engine))
            finally:
                if engine == "ray":
                    ray.shutdown()
            print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
