"""Scripted models and small documents for batch tests.

Everything here is at module level, so a :class:`~minions.batch.ClientSpec` of these
functions pickles and Ray workers build the same clients as the driver.

Each document hides one code word (``CODE-...``) on one page. The local model finds it
where its chunk holds it and abstains elsewhere; the remote plans one task per round
(MinionS with ``plan="json"``) and answers with the code words the local outputs carry.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from minions.batch import ClientSpec
from minions.batch import batch_clients as real_batch_clients
from minions.documents import Document
from minions.types import Message

CODE = re.compile(r"CODE-[A-Z0-9]+")
OPTIONS: dict[str, Any] = {"plan": "json", "max_rounds": 1, "num_tasks_per_round": 1}
QUESTIONS = ["Which code word does the document hide?", "What is the secret code word?"]


def documents(count: int = 4, pages: int = 3) -> list[Document]:
    """``count`` documents of ``pages`` pages; document i hides CODE-D<i> on page
    ``i % pages + 1``."""
    found = []
    for i in range(count):
        texts = [f"Document {i}, page {p}. Nothing of note is said here." for p in range(pages)]
        texts[i % pages] += f" The code word is CODE-D{i}."
        found.append(Document.from_pages(texts, name=f"doc-{i}"))
    return found


def local_reply(messages: list[Message], delay_s: float = 0.0) -> dict[str, Any]:
    if delay_s:
        time.sleep(delay_s)  # a busy local model (blocks, as llama.cpp's thread would)
    chunk = messages[-1].content.split("\n---\nTask:")[0]
    sentence = re.search(r"The code word is (CODE-[A-Z0-9]+)\.", chunk)
    if sentence:
        return {"citation": sentence[0], "explanation": "It says so.", "answer": sentence[1]}
    return {"citation": None, "explanation": "No code word here.", "answer": None}


def remote_reply(messages: list[Message]) -> dict[str, Any]:
    prompt = "\n".join(m.content for m in messages)
    if '{"tasks":' in prompt:
        return {"tasks": [{"task": "Which code word does the text give?", "advice": ""}]}
    words = sorted(set(CODE.findall(prompt)))
    return {"decision": "final", "answer": ", ".join(words) or "none", "explanation": ""}


def killing_reply(messages: list[Message], marker: str) -> dict[str, Any]:
    """The local model, except that the first call in a process after ``marker`` is
    gone kills that process (SIGKILL, as the OOM killer would) and leaves the marker."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return local_reply(messages)


def local(delay_s: float = 0.0) -> ClientSpec:
    replies = functools.partial(local_reply, delay_s=delay_s) if delay_s else local_reply
    return ClientSpec("scripted:local", {"replies": replies, "local": True})


def remote() -> ClientSpec:
    return ClientSpec("scripted:remote", {"replies": remote_reply})


def killing_local(marker: Path) -> ClientSpec:
    replies = functools.partial(killing_reply, marker=str(marker))
    return ClientSpec("scripted:local", {"replies": replies, "local": True})


def scripted_clients(delay_s: float = 0.0) -> Any:
    """A stand-in for :func:`minions.batch.batch_clients` that builds these scripted
    models whatever specs the command line names, with the batch's cache setting (the
    CLI tests patch it in)."""

    def build(*sources: Any, threads: int | None = None, cache: Any = True) -> tuple[Any, Any]:
        return real_batch_clients(local(delay_s), remote(), threads=threads, cache=cache)

    return build


def run_cli(args: list[str], delay_s: float = 0.0) -> None:
    """``minions <args>`` with the scripted models (a subprocess runs this to be sent
    SIGINT as a terminal's Ctrl-C would)."""
    import minions.batch
    from minions.cli import app

    minions.batch.batch_clients = scripted_clients(delay_s)  # type: ignore[assignment]
    # as a terminal starts it, even where the test runner was started with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    app(args)


def environment_reply(messages: list[Message]) -> str:
    """A remote that answers with the MINIONS_BATCH_TEST variable of its process."""
    return os.environ.get("MINIONS_BATCH_TEST", "unset")
