"""A small report and scripted local/remote models for protocol tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minions.clients.scripted import ScriptedClient
from minions.documents import Document
from minions.types import Message, Usage

REPORT = Document.from_pages(
    [
        "Acme Corp annual report 2023. Letter to shareholders: a year of steady progress.",
        "Risk factors. Our business depends on suppliers in several countries.",
        "Consolidated statement of income. Total revenue was $4.2 billion in 2023, "
        "up from $3.9 billion in 2022. Net income was $310 million.",
        "Auditor's report. Ernst & Young LLP audited these statements.",
    ],
    name="acme-2023",
)

CODE_ALL_CHUNKS = """Here is the code:
```python
def prepare_jobs(chunks, previous_jobs):
    jobs = []
    for chunk in chunks:
        task = "What was the total revenue in 2023?"
        jobs.append(JobManifest(chunk=chunk, task_id=1, task=task, advice=""))
    return jobs
```"""


def job_reply(messages: list[Message]) -> dict[str, Any]:
    """A local model that finds revenue only where the chunk states it."""
    prompt = messages[-1].content
    chunk_text = prompt.split("---")[0]
    if "Total revenue was $4.2 billion" in chunk_text:
        return {
            "explanation": "The income statement gives total revenue.",
            "citation": "Total revenue was $4.2 billion in 2023",
            "answer": "$4.2 billion",
        }
    return {"explanation": "The text does not mention revenue.", "citation": None, "answer": None}


def local_client() -> ScriptedClient:
    return ScriptedClient("local", replies=job_reply, local=True, max_parallel_requests=2)


def _queue(items: Any) -> list[Any]:
    if isinstance(items, list):
        return list(items)
    return [items]


def remote_script(
    *,
    code: Sequence[str] = (),
    plan: Any = None,
    synthesis: Sequence[Any] = (),
    final: Any = None,
    minion: Sequence[Any] = (),
) -> ScriptedClient:
    """A remote that replies by kind of request, each kind from its own queue."""
    queues = {
        "code": list(code),
        "plan": _queue(plan) if plan is not None else [],
        "synthesis": list(synthesis),
        "final": _queue(final) if final is not None else [],
        "minion": list(minion),
    }

    def reply(messages: list[Message]) -> Any:
        first = messages[1].content if len(messages) > 1 else messages[0].content
        if messages[0].content.startswith("You are the supervisor"):
            kind = "minion"
        elif "Write a Python function `prepare_jobs" in first:
            kind = "code"
        elif '{"tasks":' in first:
            kind = "plan"
        elif "This is the last round" in first:
            kind = "final"
        else:
            kind = "synthesis"
        if not queues[kind]:
            raise AssertionError(f"no scripted {kind} reply left; prompt: {first[:300]}")
        item = queues[kind].pop(0)
        if kind == "final" and isinstance(item, dict):
            item = {"decision": "final", "explanation": "", **item}
        if kind == "synthesis" and isinstance(item, dict):
            item = {"explanation": "", **item}
        return item

    return ScriptedClient("remote", replies=reply)


def total_usage(client: ScriptedClient) -> Usage:
    """What the scripted client reported over all its calls (a failed call counts as a
    call with no tokens)."""
    return sum(
        (c.completion.usage if c.completion else Usage(calls=1) for c in client.calls), Usage()
    )
