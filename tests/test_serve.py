"""``minions serve``: the OpenAI-compatible server, with scripted models.

In-process (httpx over ASGI) for the refusals, the documents root and the queue; then
the official ``openai`` client against a real uvicorn server on 127.0.0.1, and the
command itself in a subprocess, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn

from minions import serve
from minions.clients.scripted import ScriptedClient
from minions.errors import ProviderError
from minions.limits import Limits
from minions.protocol import available
from tests import batch_clients as bc

PRICE = "openai:gpt-4o"
QUESTION = "Which code word does the document hide?"
REPORT = "Page one of the report. The code word is CODE-PATH.\n"
UPLOADED = "An uploaded memo. The code word is CODE-UPLOAD.\n"
SECRET = "Outside the root. The code word is CODE-SECRET.\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A documents root with a report, a link to it inside the root, and a link out of
    the root to a secret beside it."""
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "report.txt").write_text(REPORT)
    (root / "sub" / "alias.txt").symlink_to(root / "report.txt")
    (tmp_path / "secret.txt").write_text(SECRET)
    (root / "out.txt").symlink_to(tmp_path / "secret.txt")
    return root


def clients(remote_replies: Any = bc.remote_reply) -> tuple[ScriptedClient, ScriptedClient]:
    """MinionS's scripted models: the local one quotes the code word of its chunk, the
    remote plans one task and answers with the code words it is shown."""
    local = ScriptedClient("local", replies=bc.local_reply, local=True, max_parallel_requests=1)
    return local, ScriptedClient("remote", replies=remote_replies)


def make_app(root: Path | None, **kwargs: Any) -> Any:
    local, remote = kwargs.pop("clients", None) or clients()
    return serve.create_app(local, remote, price_as=PRICE, documents_root=root, **kwargs)


def chat_body(*documents: str, model: str = "minions", **fields: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": QUESTION}]
    return {"model": model, "messages": messages, "documents": list(documents),
            "options": bc.OPTIONS, **fields}  # fmt: skip


@contextlib.asynccontextmanager
async def asgi(app: Any) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def post(app: Any, body: Any) -> httpx.Response:
    async with asgi(app) as client:
        return await client.post("/v1/chat/completions", json=body)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["message"]
    assert "Traceback" not in response.text
    return error


# --- in-process ----------------------------------------------------------------------


async def test_models_are_the_registered_protocols(root):
    async with asgi(make_app(root)) as client:
        listed = (await client.get("/v1/models")).json()
        one = await client.get("/v1/models/minions")
        missing = await client.get("/v1/models/gpt-4o")
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == available()
    assert {m["object"] for m in listed["data"]} == {"model"}
    assert one.status_code == 200
    assert "max_rounds" in {o["name"] for o in one.json()["minions"]["options"]}
    assert_error(missing, 404, "model_not_found")


async def test_a_path_under_the_root_is_answered_with_cost_usage_and_citations(root):
    response = await post(make_app(root), chat_body("report.txt", temperature=0, max_tokens=9))
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["object"] == "chat.completion" and reply["model"] == "minions"
    assert reply["choices"][0]["message"] == {
        "role": "assistant", "content": "CODE-PATH", "refusal": None}  # fmt: skip
    assert reply["choices"][0]["finish_reason"] == "stop"
    extension = reply["minions"]
    assert extension["status"] == "answered" and extension["error"] is None
    assert any("CODE-PATH" in c for c in extension["citations"])
    cost = extension["cost"]
    assert cost["remote_usd"] > 0 and cost["remote_only_usd"] > 0
    assert cost["savings_usd"] == pytest.approx(cost["remote_only_usd"] - cost["remote_usd"])
    assert cost["priced_as"] == PRICE
    roles = extension["usage"]
    assert set(roles) == {"local", "remote"} and roles["local"]["calls"] == 1
    usage = reply["usage"]
    assert (
        usage["prompt_tokens"] == roles["local"]["input_tokens"] + roles["remote"]["input_tokens"]
    )
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert extension["queue_wait_s"] >= 0
    assert float(response.headers["x-minions-queue-wait-s"]) == pytest.approx(
        extension["queue_wait_s"], abs=1e-3
    )


async def test_earlier_messages_reach_the_remote_as_the_conversation_before_the_task(root):
    local, remote = clients()
    body = chat_body("report.txt")
    body["messages"] = [
        {"role": "system", "content": "Answer tersely."},
        {"role": "user", "content": "Is there a code word?"},
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
    ]
    response = await post(make_app(root, clients=(local, remote)), body)
    assert response.status_code == 200, response.text
    prompt = remote.calls[0].messages[-1].content
    assert "user: Is there a code word?" in prompt and "assistant: Yes." in prompt
    assert "system: Answer tersely." in prompt
    assert prompt.index("assistant: Yes.") < prompt.index(f"Question: {QUESTION}")


@pytest.mark.parametrize(
    ("change", "status", "code", "param"),
    [
        ({"model": "gpt-4o"}, 404, "model_not_found", "model"),
        ({"documents": None}, 400, "invalid_request", "documents"),
        ({"documents": []}, 400, "invalid_request", "documents"),
        ({"document": ["report.txt"]}, 400, "invalid_request", "document"),
        ({"options": {"max_rounds": 1, "nope": 3}}, 400, "invalid_option", "options"),
        ({"options": {"max_rounds": "many"}}, 400, "invalid_option", "options"),
        ({"limits": {"max_remote_usd": -1}}, 400, "invalid_request", "limits.max_remote_usd"),
        ({"n": 2}, 400, "invalid_request", "n"),
        ({"messages": []}, 400, "invalid_request", "messages"),
        ({"messages": [{"role": "assistant", "content": "Hi"}]}, 400, "invalid_request",
         "messages[0]"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
         400, "invalid_request", "messages[0]"),
        ({"documents": ["missing.txt"]}, 404, "document_not_found", "documents[0]"),
        ({"documents": ["report.txt", "file-" + "0" * 24]}, 404, "file_not_found",
         "documents[1]"),
        ({"documents": ["sub"]}, 404, "document_not_found", "documents[0]"),
    ],
)  # fmt: skip
async def test_a_request_that_cannot_be_served_says_why(root, change, status, code, param):
    body = {key: value for key, value in {**chat_body("report.txt"), **change}.items()
            if value is not None}  # fmt: skip
    error = assert_error(await post(make_app(root), body), status, code)
    assert error["param"] == param
    if change.get("documents") is None and "documents" in change:
        assert "extra_body" in error["message"], "says how to name documents"


async def test_a_body_that_is_not_a_json_object_is_400(root):
    async with asgi(make_app(root)) as client:
        garbled = await client.post("/v1/chat/completions", content=b"{not json")
        listed = await client.post("/v1/chat/completions", json=[1, 2])
        wrong_method = await client.get("/v1/chat/completions")
    assert_error(garbled, 400, "invalid_request")
    assert_error(listed, 400, "invalid_request")
    assert_error(wrong_method, 405, "invalid_request")


@pytest.mark.parametrize("name", ["../secret.txt", "sub/../../secret.txt", "out.txt", "ABS"])
async def test_a_path_out_of_the_root_is_refused_unread(root, monkeypatch, name):
    read: list[Any] = []
    monkeypatch.setattr(serve, "load_document", lambda *a, **k: read.append(a))
    secret = str(root.parent / "secret.txt")
    body = chat_body("report.txt", secret if name == "ABS" else name)
    response = await post(make_app(root), body)
    error = assert_error(response, 403, "path_outside_root")
    assert error["param"] == "documents[1]"
    assert read == [], "no document is read when one of them is refused"
    assert "CODE-SECRET" not in response.text and str(root) not in response.text


@pytest.mark.parametrize("name", ["sub/alias.txt", "sub/../report.txt", "ROOT/report.txt"])
async def test_a_path_that_resolves_inside_the_root_is_read(root, name):
    name = name.replace("ROOT", str(root))
    response = await post(make_app(root), chat_body(name))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "CODE-PATH"


async def test_without_a_root_paths_are_refused_and_uploads_served(root):
    app = make_app(None)
    async with asgi(app) as client:
        refused = await client.post(
            "/v1/chat/completions", json=chat_body(str(root / "report.txt"))
        )
        upload = await client.post("/v1/files", files={"file": ("memo.txt", UPLOADED.encode())},
                                   data={"purpose": "user_data"})  # fmt: skip
        answered = await client.post("/v1/chat/completions", json=chat_body(upload.json()["id"]))
    assert_error(refused, 403, "paths_not_allowed")
    assert "POST /v1/files" in refused.json()["error"]["message"]
    assert answered.status_code == 200, answered.text
    assert answered.json()["choices"][0]["message"]["content"] == "CODE-UPLOAD"
    assert answered.json()["minions"]["documents"] == ["memo.txt"]


async def test_uploads_are_listed_fetched_and_deleted_and_bad_ones_refused(root):
    app = make_app(root, max_upload_mb=1)
    async with asgi(app) as client:
        made = (await client.post("/v1/files", files={"file": ("memo.txt", UPLOADED.encode())},
                                  data={"purpose": "assistants"})).json()  # fmt: skip
        listed = (await client.get("/v1/files")).json()
        fetched = await client.get(f"/v1/files/{made['id']}")
        empty = await client.post("/v1/files", files={"file": ("empty.txt", b"")})
        large = await client.post("/v1/files", files={"file": ("big.txt", b"x" * (2 << 20))})
        no_file = await client.post("/v1/files", data={"purpose": "user_data"})
        deleted = await client.delete(f"/v1/files/{made['id']}")
        again = await client.delete(f"/v1/files/{made['id']}")
        used = await client.post("/v1/chat/completions", json=chat_body(made["id"]))
    assert made["object"] == "file" and made["id"].startswith("file-")
    assert made["bytes"] == len(UPLOADED.encode()) and made["filename"] == "memo.txt"
    assert made["purpose"] == "assistants"
    assert [f["id"] for f in listed["data"]] == [made["id"]]
    assert fetched.json() == made
    assert_error(empty, 400, "invalid_document")
    assert_error(large, 413, "file_too_large")
    assert_error(no_file, 400, "invalid_request")
    assert deleted.json() == {"id": made["id"], "object": "file", "deleted": True}
    assert_error(again, 404, "file_not_found")
    assert_error(used, 404, "file_not_found")
    server = app.state.server
    assert list(server.files.uploads) == []
    assert [p.name for p in server.files._folder.iterdir()] == [], "refused and deleted files go"


async def test_a_run_that_reaches_a_limit_is_402_with_the_answer_so_far(root):
    limited = await post(make_app(root), chat_body("report.txt", limits={"max_remote_calls": 0}))
    error = assert_error(limited, 402, "budget_exceeded")
    assert error["type"] == "budget_exceeded" and "max_remote_calls" in error["message"]
    details = limited.json()["minions"]
    assert details["status"] == "budget_exceeded" and "answer" in details
    assert details["usage"]["remote"]["calls"] == 0
    # the server's limit holds whatever the request asks for
    app = make_app(root, limits=Limits(max_remote_calls=0))
    loosened = await post(app, chat_body("report.txt", limits={"max_remote_calls": 50}))
    assert_error(loosened, 402, "budget_exceeded")


async def test_a_provider_failure_is_502_and_not_to_be_retried(root):
    down = ProviderError("HTTP 500: the service is down", provider="openai", status_code=500)
    app = make_app(root, clients=clients(lambda messages: down))
    response = await post(app, chat_body("report.txt"))
    error = assert_error(response, 502, "run_failed")
    assert "the service is down" in error["message"] and error["type"] == "server_error"
    assert response.headers["x-should-retry"] == "false"
    assert response.json()["minions"]["status"] == "error"


async def test_a_bug_is_a_500_logged_with_its_traceback_and_never_shown(root, monkeypatch, caplog):
    def broken(messages: Any) -> str:
        raise RuntimeError("internal detail 42")

    monkeypatch.setattr(serve, "task_of", broken)
    with caplog.at_level(logging.ERROR, logger="minions.serve"):
        response = await post(make_app(root), chat_body("report.txt"))
    assert_error(response, 500, "internal_error")
    assert "internal detail" not in response.text and "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "internal detail 42" in str(logged[0].exc_info[1])


async def test_an_api_key_is_required_when_set(root):
    app = make_app(root, api_key="s3cret")
    async with asgi(app) as client:
        without = await client.get("/v1/models")
        wrong = await client.get("/v1/models", headers={"Authorization": "Bearer nope"})
        right = await client.get("/v1/models", headers={"Authorization": "Bearer s3cret"})
        health = await client.get("/health")
    assert_error(without, 401, "invalid_api_key")
    assert_error(wrong, 401, "invalid_api_key")
    assert right.status_code == 200 and health.json()["status"] == "ok"


class Overlap(ScriptedClient):
    """A slow local model that counts the calls it serves at once."""

    def __init__(self, parallel: int) -> None:
        super().__init__("local", replies=lambda m: "CODE-SLOW", local=True,
                         max_parallel_requests=parallel)  # fmt: skip
        self.now = self.most = 0

    async def chat(self, messages: Any, *, schema: Any = None, **options: Any) -> Any:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.5)
            return await super().chat(messages, schema=schema, **options)
        finally:
            self.now -= 1


@pytest.mark.parametrize("parallel", [1, 2])
async def test_runs_queue_for_the_local_model(root, parallel):
    local = Overlap(parallel)
    app = make_app(root, clients=(local, ScriptedClient("remote")))
    body = chat_body("report.txt", model="local_only", options={})
    async with asgi(app) as client:
        first, second = await asyncio.gather(
            *(client.post("/v1/chat/completions", json=body) for _ in range(2))
        )
    assert [first.status_code, second.status_code] == [200, 200], first.text + second.text
    waits = sorted(r.json()["minions"]["queue_wait_s"] for r in (first, second))
    assert local.most == parallel
    if parallel == 1:  # one after the other: the second waited for the first's run
        assert waits[0] < 0.1 and waits[1] >= 0.4
    else:
        assert waits[1] < 0.1


async def test_a_full_queue_is_503_with_retry_after(root):
    app = make_app(root, clients=(Overlap(1), ScriptedClient("remote")), max_queue=1)
    body = chat_body("report.txt", model="local_only", options={})
    queue = app.state.server.queue
    async with asgi(app) as client:
        running = asyncio.ensure_future(client.post("/v1/chat/completions", json=body))
        waiting = asyncio.ensure_future(client.post("/v1/chat/completions", json=body))
        for _ in range(500):
            if queue.admitted == 2:
                break
            await asyncio.sleep(0.01)
        refused = await client.post("/v1/chat/completions", json=body)
        health = (await client.get("/health")).json()
        served = await asyncio.gather(running, waiting)
        after = await client.post("/v1/chat/completions", json=body)
    error = assert_error(refused, 503, "queue_full")
    assert "1 running, 1 waiting" in error["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert health == {"status": "ok", "running": 1, "waiting": 1}
    assert [r.status_code for r in served] == [200, 200]
    assert after.status_code == 200 and queue.admitted == 0


async def test_a_stream_keeps_the_connection_alive_and_ends_with_done(root, monkeypatch):
    monkeypatch.setattr(serve, "KEEPALIVE_S", 0.05)
    app = make_app(root, clients=(Overlap(1), ScriptedClient("remote")))
    body = chat_body("report.txt", model="local_only", options={}, stream=True)
    response = await post(app, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.text.strip().split("\n\n")
    assert events[0].startswith("data: {") and '"role": "assistant"' in events[0]
    assert ": running" in events, "comments while the run goes"
    assert '"content": "CODE-SLOW"' in events[-3]
    assert '"finish_reason": "stop"' in events[-2] and '"minions"' in events[-2]
    assert events[-1] == "data: [DONE]"


async def test_a_run_that_fails_in_a_stream_ends_it_with_an_error_event(root):
    body = chat_body("report.txt", stream=True, limits={"max_remote_calls": 0})
    response = await post(make_app(root), body)
    assert response.status_code == 200  # sent before the run ended
    last = json.loads(response.text.strip().split("\n\n")[-1].removeprefix("data: "))
    assert last["error"]["code"] == "budget_exceeded"
    assert last["minions"]["status"] == "budget_exceeded"


def test_the_task_is_the_last_user_message():
    messages = [serve.ChatMessage(role="user", content="  What?  ")]
    assert serve.task_of(messages) == "What?"
    with pytest.raises(serve.ApiError) as refused:
        serve.task_of([serve.ChatMessage(role="user", content=" ")])
    assert refused.value.status == 400


# --- the openai client against a real server -----------------------------------------


@contextlib.contextmanager
def running(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 (an ephemeral port) in a thread."""
    sock = serve.bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
        assert not thread.is_alive()


@pytest.fixture
def live(root: Path) -> Iterator[tuple[openai.OpenAI, ScriptedClient, Any]]:
    local, remote = clients()
    app = make_app(root, clients=(local, remote))
    with running(app) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        try:
            yield client, remote, app
        finally:
            client.close()


def ask(client: openai.OpenAI, *documents: str, **kwargs: Any) -> Any:
    extra_body = {"documents": list(documents), "options": bc.OPTIONS}
    extra_body.update(kwargs.pop("extra_body", {}))
    return client.chat.completions.create(
        model=kwargs.pop("model", "minions"),
        messages=[{"role": "user", "content": QUESTION}],
        extra_body=extra_body,
        **kwargs,
    )


def test_openai_client_lists_models_and_answers_over_an_upload_and_a_path(live):
    client, _, _ = live
    assert [m.id for m in client.models.list()] == available()
    upload = client.files.create(file=("memo.txt", UPLOADED.encode()), purpose="user_data")
    assert upload.id.startswith("file-") and upload.bytes == len(UPLOADED.encode())
    assert [f.id for f in client.files.list()] == [upload.id]

    uploaded = ask(client, upload.id, temperature=0)
    assert uploaded.choices[0].message.content == "CODE-UPLOAD"
    extension = uploaded.model_extra["minions"]
    assert extension["status"] == "answered" and extension["documents"] == ["memo.txt"]
    assert extension["cost"]["remote_usd"] > 0 and extension["cost"]["remote_only_usd"] > 0
    assert uploaded.usage.total_tokens == sum(
        u["input_tokens"] + u["output_tokens"] for u in extension["usage"].values()
    )

    by_path = ask(client, "report.txt")
    assert by_path.choices[0].message.content == "CODE-PATH"
    assert any("CODE-PATH" in c for c in by_path.model_extra["minions"]["citations"])
    assert client.files.delete(upload.id).deleted
    assert list(client.files.list()) == []


def test_openai_client_streams_the_answer_with_the_extension_and_usage(live, monkeypatch):
    client, _, _ = live
    monkeypatch.setattr(serve, "KEEPALIVE_S", 0.001)  # comments in the stream, skipped
    chunks = list(ask(client, "report.txt", stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "CODE-PATH"
    assert {c.id for c in chunks} == {chunks[0].id}
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finished) == 1 and finished[0].model_extra["minions"]["status"] == "answered"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_openai_client_raises_the_errors_by_status(live, root):
    client, _, _ = live
    with pytest.raises(openai.NotFoundError) as unknown:
        ask(client, "report.txt", model="gpt-4o")
    assert unknown.value.code == "model_not_found" and "minions" in unknown.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        ask(client, "report.txt", extra_body={"options": {"nope": 1}})
    assert bad.value.code == "invalid_option"
    with pytest.raises(openai.BadRequestError, match="no documents"):
        client.chat.completions.create(
            model="minions", messages=[{"role": "user", "content": QUESTION}]
        )
    with pytest.raises(openai.PermissionDeniedError) as denied:
        ask(client, "../secret.txt")
    assert denied.value.code == "path_outside_root"
    with pytest.raises(openai.NotFoundError) as missing:
        ask(client, "nowhere.pdf")
    assert missing.value.code == "document_not_found"
    with pytest.raises(openai.APIStatusError) as limited:
        ask(client, "report.txt", extra_body={"limits": {"max_remote_calls": 0}})
    assert limited.value.status_code == 402 and limited.value.code == "budget_exceeded"
    assert limited.value.body["code"] == "budget_exceeded"


def test_openai_client_does_not_rerun_a_failed_run(root):
    calls: list[int] = []

    def down(messages: Any) -> ProviderError:
        calls.append(1)
        return ProviderError("HTTP 503: overloaded", provider="anthropic", status_code=503)

    app = make_app(root, clients=clients(down))
    with running(app) as url:
        client = openai.OpenAI(base_url=url, api_key="unused")  # retries 5xx by default
        with pytest.raises(openai.InternalServerError) as failed:
            ask(client, "report.txt")
        with pytest.raises(openai.APIError, match="overloaded"):  # in a stream: an error event
            list(ask(client, "report.txt", stream=True))
        client.close()
    assert failed.value.status_code == 502 and "overloaded" in failed.value.message
    assert len(calls) == 2, "one run per request: x-should-retry: false"


# --- the command ---------------------------------------------------------------------


def test_minions_serve_prints_its_url_serves_and_stops_on_ctrl_c(root):
    command = [sys.executable, "-c", "from minions.cli import app; app()", "serve", "--port",
               "0", "--local", "scripted:local", "--remote", "scripted:remote",
               "--documents-root", str(root)]  # fmt: skip
    env = {**os.environ, "COLUMNS": "100"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("minions serve: http://127.0.0.1:"), first
        url = first.split()[2]
        deadline = time.monotonic() + 20
        while True:
            try:
                models = httpx.get(f"{url}/models", timeout=5).json()
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert [m["id"] for m in models["data"]] == available()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "from openai import OpenAI" in out and f'base_url="{url}"' in out
    assert '"report.pdf"' in out and "extra_body" in out
    assert out.rstrip().endswith("minions serve: stopped")
    assert "Traceback" not in out + err
