"""Local work done once: a second question about the same document, and a repeated batch.

    python benchmarks/reuse.py [--pack qwen2.5-coder-0.5b]

MinionS over the 20-page example (examples/3m-2018-10k-pages-45-64.txt), one chunk a
page, every chunk read (no retrieval), with a scripted remote whose plan is fixed (a
JSON plan of one task, the question) and whose answer is fixed, so only the local side
varies. Every run is a process of its own, with fresh, empty cache folders made here.

1. Question A, then a different question B in a new process, without the response
   cache: B finds the model state after each chunk on disk (llama.cpp state
   save/load) and evaluates only its own task. Prints the prompt tokens the local
   model evaluated for B as a share of A's (goal: at most 15%) and B's local wall time
   against A's.
2. ``minions.batch`` of the two questions, run twice (two output folders, two
   processes) with the response cache on: the second run's local tokens evaluated
   (goal: 0).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "examples" / "3m-2018-10k-pages-45-64.txt"
QUESTION_A = "What was 3M's capital expenditure (purchases of PP&E) in 2018, in USD millions?"
QUESTION_B = "What were 3M's total net sales in 2018, in USD millions?"
OPTIONS: dict[str, Any] = {
    "plan": "json",
    "max_rounds": 1,
    "num_tasks_per_round": 1,
    "chunking": "pages",
    "chunk_size": 1,
}


def fixed_plan(messages: list[Any]) -> dict[str, Any]:
    """The scripted remote: one task, the question itself, then a fixed answer."""
    prompt = "\n".join(m.content for m in messages)
    if '{"tasks":' not in prompt:
        return {"decision": "final", "answer": "(scripted)", "explanation": "fixed"}
    question = QUESTION_A if QUESTION_A in prompt else QUESTION_B
    return {"tasks": [{"task": question, "advice": ""}]}


def run_one(question: str, pack: str, cache: bool) -> dict[str, Any]:
    """One MinionS run in this process; what its local side did."""
    import minions
    from minions.clients.scripted import ScriptedClient

    remote = ScriptedClient("fixed-plan", replies=fixed_plan)
    result = minions.ask(
        question,
        DOCUMENT,
        protocol="minions",
        local=f"llamacpp:{pack}",
        remote=remote,
        price_as="openai:gpt-4o",
        cache=cache,
        **OPTIONS,
    )
    local = result.local_usage
    return {
        "status": result.status,
        "jobs": len(result.jobs),
        "failed_jobs": sum(1 for j in result.jobs if j.error),
        "input_tokens": local.input_tokens,
        "evaluated": local.input_tokens - local.cached_input_tokens,
        "output_tokens": local.output_tokens,
        "cache_hits": local.cache_hits,
        "local_s": result.timings.local_s,
    }


def batch_one(out: str, pack: str) -> dict[str, Any]:
    """``minions.batch`` of both questions into ``out``, the response cache on; what
    its local side did, over its rows."""
    import minions
    from minions.batch import ClientSpec

    result = minions.batch(
        [DOCUMENT],
        [QUESTION_A, QUESTION_B],
        out=out,
        protocol="minions",
        local=f"llamacpp:{pack}",
        remote=ClientSpec("scripted:fixed-plan", {"replies": fixed_plan}),
        price_as="openai:gpt-4o",
        cache=True,
        **OPTIONS,
    )
    usages = [row.usage["local"] for row in result.rows]
    return {
        "status": ",".join(row.status for row in result.rows),
        "jobs": sum(u.calls for u in usages),
        "failed_jobs": 0,
        "input_tokens": sum(u.input_tokens for u in usages),
        "evaluated": sum(u.input_tokens - u.cached_input_tokens for u in usages),
        "output_tokens": sum(u.output_tokens for u in usages),
        "cache_hits": sum(u.cache_hits for u in usages),
        "local_s": sum(row.local_s for row in result.rows),
    }


def in_process(step_args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """:func:`run_one` (or :func:`batch_one`, given ``out``) in a new Python process
    with ``env``."""
    step = json.dumps(step_args)
    done = subprocess.run(
        [sys.executable, __file__, "--step", step],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the run failed:\n{done.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def show(label: str, figures: dict[str, Any]) -> None:
    print(
        f"  {label:<22} {figures['evaluated']:>6,} prompt tokens evaluated "
        f"(of {figures['input_tokens']:,}), {figures['output_tokens']:,} written, "
        f"{figures['cache_hits']} cache hits, local {figures['local_s']:.1f} s, "
        f"{figures['jobs']} jobs ({figures['failed_jobs']} failed)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default="qwen2.5-coder-0.5b")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step = json.loads(args.step)
        print(json.dumps(batch_one(**step) if "out" in step else run_one(**step)))
        return

    with tempfile.TemporaryDirectory(prefix="minions-reuse-") as folder:
        env = {
            "MINIONS_STATE_CACHE": str(Path(folder) / "llama-states"),
            "MINIONS_RESPONSE_CACHE": str(Path(folder) / "responses"),
        }
        print(f"MinionS on {DOCUMENT.name} (one chunk a page), local llamacpp:{args.pack}")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start")
        print("1. a second question about the same document, a new process, no response cache")
        a = in_process({"question": QUESTION_A, "pack": args.pack, "cache": False}, env)
        show("question A", a)
        b = in_process({"question": QUESTION_B, "pack": args.pack, "cache": False}, env)
        show("question B", b)
        print(
            f"  B evaluated {b['evaluated'] / a['evaluated']:.1%} of A's prompt tokens "
            f"(goal: at most 15%); B's local time {b['local_s']:.1f} s against A's "
            f"{a['local_s']:.1f} s ({b['local_s'] / a['local_s']:.1%})"
        )

        print("2. minions.batch of questions A and B, twice (new folder, new process), cache on")
        runs = []
        for number in (1, 2):
            out = str(Path(folder) / f"batch-{number}")
            runs.append(in_process({"out": out, "pack": args.pack}, env))
            show(f"batch run {number}", runs[-1])
        second = runs[1]
        print(
            f"  the second run evaluated {second['evaluated']:,} local tokens (goal: 0), "
            f"{second['cache_hits']} of {second['jobs']} local calls from the cache, "
            f"local {second['local_s']:.1f} s"
        )
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
