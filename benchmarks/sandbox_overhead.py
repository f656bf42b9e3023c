"""Per-round overhead of the sandbox: benign prepare_jobs calls with the MinionS helpers.

    python benchmarks/sandbox_overhead.py [--calls 20]

Each call starts a fresh child, compiles the helpers, enters the OS boundary
(network namespace, Landlock, seccomp), runs a small prepare_jobs over 20 chunks of a
page each and returns the jobs. Prints the median and the spread in seconds, and what
the boundary holds here. Goal: a median under 0.3 s.
"""

from __future__ import annotations

import argparse
import statistics
import time

from minions import sandbox

CODE = """
def prepare_jobs(chunks, previous_jobs):
    jobs = []
    for chunk in chunks:
        if "revenue" in chunk.text.lower():
            for part in chunk_by_chars(chunk, 400):
                jobs.append(JobManifest(chunk=part, task_id=1, task="What was the revenue?"))
    return jobs
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    page = "Total revenue grew to $4.2 billion. " * 30
    chunks = [
        {
            "id": i,
            "doc": "report",
            "page_start": i + 1,
            "page_end": i + 1,
            "text": page,
            "start": 0,
            "end": len(page),
        }
        for i in range(20)
    ]
    print(f"boundary: {sandbox.boundary().detail}")
    times = []
    for _ in range(args.calls):
        started = time.perf_counter()
        jobs = sandbox.run(
            CODE,
            "prepare_jobs",
            {"chunks": chunks, "previous_jobs": []},
            timeout_s=30,
            helpers="minions.protocols.sandbox_scope",
        )
        times.append(time.perf_counter() - started)
    print(f"{args.calls} calls, {len(jobs)} jobs each")
    print(
        f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s"
    )


if __name__ == "__main__":
    main()
