"""minions.ask and Client.chat_sync inside a running event loop; minions.stream."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import minions
from minions.clients.scripted import ScriptedClient, ScriptedReply
from minions.documents import Document
from tests.protocols.helpers import REPORT, job_reply, remote_script

QUESTION = "What was the total revenue in 2023?"


def clients() -> dict[str, ScriptedClient]:
    return {
        "local": ScriptedClient("local", replies=job_reply, local=True),
        "remote": remote_script(
            plan={"tasks": [{"task": QUESTION}]}, final={"answer": "$4.2 billion"}
        ),
    }


def test_ask_works_inside_a_running_loop() -> None:
    async def notebook_cell() -> minions.Result:
        # what Jupyter does: a loop is running and the user calls the blocking API
        return minions.ask(QUESTION, [REPORT], plan="json", max_rounds=1, **clients())

    result = asyncio.run(notebook_cell())
    assert result.status == "answered" and result.answer == "$4.2 billion"


def test_chat_sync_works_inside_a_running_loop() -> None:
    client = ScriptedClient("x", replies=["hello"])

    async def cell() -> str:
        return client.chat_sync("hi").text

    assert asyncio.run(cell()) == "hello"


def test_a_script_that_calls_ask_from_a_coroutine() -> None:
    script = (
        "import asyncio, minions\n"
        "from minions.clients.scripted import ScriptedClient\n"
        "from minions.documents import Document\n"
        "async def main():\n"
        "    doc = Document.from_text('Revenue was $5 million.', name='d')\n"
        "    r = minions.ask('Revenue?', doc, protocol='remote_only',\n"
        "                    local=ScriptedClient('l', replies=['x'], local=True),\n"
        "                    remote=ScriptedClient('r', replies=['$5 million']))\n"
        "    print(r.status, r.answer)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "answered $5 million"


async def test_stream_yields_the_events_then_holds_the_result() -> None:
    seen_by_sink: list[str] = []
    stream = minions.stream(
        QUESTION,
        [REPORT],
        plan="json",
        max_rounds=1,
        events=lambda event: seen_by_sink.append(event.kind),
        **clients(),
    )
    kinds = [event.kind async for event in stream]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("job_done") == 4
    assert kinds == seen_by_sink
    assert stream.result is not None and stream.result.answer == "$4.2 billion"


async def test_leaving_a_stream_early_cancels_the_run() -> None:
    def slow(messages):
        return ScriptedReply(json.dumps(job_reply(messages)), delay_s=0.2)

    local = ScriptedClient("local", replies=slow, local=True, max_parallel_requests=1)
    remote = remote_script(plan={"tasks": [{"task": QUESTION}]}, final={"answer": "x"})
    document = Document.from_text("a\fb\fc\fd\fe", name="d")
    async with minions.stream(
        QUESTION, document, plan="json", max_rounds=1, local=local, remote=remote
    ) as stream:
        async for event in stream:
            if event.kind == "job_done":
                break
    await asyncio.sleep(0.5)
    assert stream.result is None
    assert len(local.calls) < 4, "the run went on after the stream was left"
