"""Scripted local and remote models for the app, answering the bundled 3M example.

The app loads these through ``MINIONS_APP_CLIENTS=<this file>:make_client`` (AppTest
suite) or ``:make_slow_client`` (browser check, slow enough to watch the live view).
The remote writes ``prepare_jobs`` code that asks every chunk for capital expenditure
and then answers; the local model answers only on the chunk that holds the cash flow
line, and abstains elsewhere.
"""

from __future__ import annotations

from typing import Any

from minions.clients.scripted import ScriptedClient
from minions.errors import AuthenticationError
from minions.types import Message

ANSWER = "$1,577 million (purchases of property, plant and equipment, FY2018)"
EVIDENCE = "Purchases of property, plant and equipment (PP&E)"

CODE = """```python
def prepare_jobs(chunks, previous_jobs):
    task = "What were 3M's purchases of property, plant and equipment in 2018?"
    advice = "Look at the cash flow statement."
    return [JobManifest(chunk=c, task_id=1, task=task, advice=advice) for c in chunks]
```"""


def local_reply(messages: list[Message]) -> dict[str, Any]:
    chunk_text = messages[-1].content.split("\n---\n")[0]
    if EVIDENCE in chunk_text:
        line = next(x for x in chunk_text.splitlines() if EVIDENCE in x)
        return {"explanation": "The cash flow statement lists it.", "citation": line,
                "answer": "$1,577 million"}  # fmt: skip
    return {"explanation": "No capital expenditure on this page.", "citation": None,
            "answer": None}  # fmt: skip


def remote_reply(messages: list[Message]) -> Any:
    if "Write a Python function `prepare_jobs" in messages[-1].content:
        return CODE
    return {"decision": "final", "answer": ANSWER, "explanation": "From the cash flow page."}


def make_client(role: str, delay_s: float = 0.0) -> ScriptedClient:
    if role == "local":
        return ScriptedClient("local", replies=local_reply, local=True, delay_s=delay_s)
    return ScriptedClient("remote", replies=remote_reply, delay_s=delay_s)


def make_slow_client(role: str) -> ScriptedClient:
    return make_client(role, delay_s=1.5)


def make_failing_client(role: str) -> ScriptedClient:
    """A remote whose provider rejects the key; the local model as usual."""
    if role == "local":
        return make_client(role)
    rejected = AuthenticationError(
        "invalid API key. Set OPENAI_API_KEY to a valid key.", provider="openai", status_code=401
    )
    return ScriptedClient("remote", replies=lambda messages: rejected)
