"""An OpenAI-compatible HTTP server whose models are the protocols (``minions serve``).

::

    app = create_app("ollama:qwen2.5:3b", "openai:gpt-4o-mini", documents_root="docs/")
    uvicorn.run(app, host="127.0.0.1", port=8000)

Endpoints (JSON; a refusal is OpenAI's ``{"error": {"message", "type", "param", "code"}}``):

- ``GET /v1/models``, ``GET /v1/models/{name}``: the registered protocols, as OpenAI lists
  models (each with its summary and options under ``minions``).
- ``POST /v1/chat/completions``: one run. ``model`` names the protocol; the last message,
  the user's, is the task, and any earlier messages reach the protocol as the conversation
  written before it. Beside the standard fields the body takes ``documents`` (required:
  ids of uploaded files, or paths under ``documents_root``), ``options`` (the protocol's,
  validated by its config) and ``limits`` (a :class:`~minions.Limits`, which can only
  tighten the server's). The answer is the assistant message; ``usage`` totals both
  models' tokens; the ``minions`` field holds usage per role, cost, citations, status,
  notes and ``queue_wait_s``, the seconds the request waited for the local model (also the
  ``x-minions-queue-wait-s`` header). Standard fields a run has no use for (temperature,
  max_tokens, tools, ...: :data:`IGNORED_FIELDS`) are accepted and ignored; any other
  field is refused, so a misspelt ``document`` is not a run without documents.
  ``stream: true`` answers with Server-Sent Events in OpenAI's chunk format: SSE comments
  keep the connection alive while the request waits and runs, then the answer comes in
  one chunk, the ``minions`` field on the last one.
- ``POST /v1/files`` (multipart ``file`` and ``purpose``), ``GET /v1/files``,
  ``GET /v1/files/{id}``, ``DELETE /v1/files/{id}``: documents uploaded once and named by
  id afterwards; loaded at upload (a file that cannot be read is refused then) and kept
  until the server stops.
- ``GET /health``: ``{"status": "ok", "running": n, "waiting": n}``.

Runs queue for the local model: as many run at once as it serves
(``Capabilities.max_parallel_requests``, one for llama.cpp), ``max_queue`` more wait.

Statuses: 400 a bad body, an unknown field or option, a missing or unreadable document;
401 a wrong API key; 402 a run that reached a limit (status budget_exceeded; the error
body's ``minions`` field holds the answer so far and what it cost; not 429, which
clients retry, spending again); 403 a path outside the documents root, or any path when
the server has none; 404 an unknown model, file id or document; 413 an upload over the
limit; 502 a run that ended with status error (a provider failed, or a model kept
replying in an unusable form; ``x-should-retry: false``, the run retried what was worth
retrying); 503 the queue is full, with Retry-After; 500 a bug, logged and never shown.
A run that fails after a stream started is an error event in the stream, which the
``openai`` client raises as ``APIError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from minions.api import (
    DEFAULT_LOCAL,
    choose_remote,
    stand_in_note,
)
from minions.clients import CacheArg, Client, get_client
from minions.documents import Document, load_document
from minions.errors import ConfigurationError, DocumentError, MinionsError
from minions.limits import Limits
from minions.protocol import Protocol, available, describe_options, get_protocol
from minions.run import Privacy
from minions.types import Result, Usage

__all__ = ["IGNORED_FIELDS", "ApiError", "bind", "create_app"]

logger = logging.getLogger(__name__)

#: standard Chat Completions fields a run has no use for: accepted and ignored
IGNORED_FIELDS = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "metadata", "modalities", "parallel_tool_calls",
        "prediction", "presence_penalty", "prompt_cache_key", "reasoning_effort",
        "response_format", "safety_identifier", "seed", "service_tier", "stop", "store",
        "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
        "web_search_options",
    }
)  # fmt: skip
#: seconds between the SSE comments that keep a waiting stream's connection open
KEEPALIVE_S = 15.0
#: what an uploaded file's id looks like (anything else in ``documents`` is a path)
FILE_ID = re.compile(r"file-[0-9a-f]{24}")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")


# --- errors --------------------------------------------------------------------------


class ApiError(Exception):
    """A request the server cannot serve: an HTTP status and OpenAI's error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        param: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        minions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}
        self.minions = minions

    @property
    def type(self) -> str:
        if self.status == 402:
            return "budget_exceeded"
        if self.status == 401:
            return "authentication_error"
        return "server_error" if self.status >= 500 else "invalid_request_error"

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param}
        body: dict[str, Any] = {"error": {**error, "code": self.code}}
        if self.minions is not None:
            body["minions"] = self.minions
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def _internal_error() -> ApiError:
    return ApiError(500, "internal_error", "internal error; the server's log has the details")


def _invalid(exc: ValidationError) -> ApiError:
    """A body that does not validate, said the way a person would fix it."""
    problems, param = [], None
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error["loc"])
        param = param or where
        if error["type"] == "extra_forbidden":
            problems.append(
                f"unknown field {where!r} (minions reads documents, options and limits "
                "besides the standard fields)"
            )
        elif where == "documents" and error["type"] in ("missing", "too_short"):
            problems.append(
                "no documents: name them in a documents field, ids of uploaded files "
                '(POST /v1/files) or paths; with the openai client, extra_body={"documents": '
                '["file-..."]}'
            )
        else:
            problems.append(f"{where}: {error['msg']}")
    return ApiError(400, "invalid_request", "; ".join(problems), param)


# --- the request ---------------------------------------------------------------------


class ChatMessage(BaseModel):
    """A message of the conversation; fields other than role and content (name,
    tool_calls, ...) are ignored."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """A Chat Completions body, less :data:`IGNORED_FIELDS`."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    documents: list[str] = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    limits: Limits | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] = 1


def _text(message: ChatMessage, index: int) -> str:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            refusal = f"only text content is read, not a part of type {part.get('type')!r}"
            raise ApiError(400, "invalid_request", refusal, f"messages[{index}]")
        texts.append(part["text"])
    return "\n".join(texts)


def task_of(messages: list[ChatMessage]) -> str:
    """The task: the last message, the user's; earlier messages come before it as the
    conversation so far, so a follow-up question ("and in 2019?") keeps its meaning."""
    last = len(messages) - 1
    question = _text(messages[last], last).strip()
    if messages[last].role != "user" or not question:
        message = "the last message must be the user's, and not empty: it is the task"
        raise ApiError(400, "invalid_request", message, f"messages[{last}]")
    earlier = [
        f"{m.role}: {text}" for i, m in enumerate(messages[:last]) if (text := _text(m, i).strip())
    ]
    if not earlier:
        return question
    return "The conversation so far:\n" + "\n".join(earlier) + f"\n\nQuestion: {question}"


# --- documents -----------------------------------------------------------------------


@dataclass
class Upload:
    """A file uploaded through ``POST /v1/files``, loaded once."""

    id: str
    filename: str
    size: int
    purpose: str
    created_at: int
    path: Path
    document: Document

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }


class Files:
    """The documents a request may name: uploads by id, paths only under ``root``."""

    def __init__(self, root: Path | None, max_upload_bytes: int) -> None:
        self.root = root
        self.max_upload_bytes = max_upload_bytes
        self.uploads: dict[str, Upload] = {}
        self._folder: Path | None = None

    def resolve(self, name: str, param: str) -> Document | Path:
        """The upload ``name`` is the id of, or the file it names under the root; the
        path is checked here and never opened."""
        if FILE_ID.fullmatch(name):
            upload = self.uploads.get(name)
            if upload is None:
                message = f"no uploaded file {name!r} (GET /v1/files lists them)"
                raise ApiError(404, "file_not_found", message, param)
            return upload.document
        if self.root is None:
            message = (
                f"{name!r} is a path, and this server reads none (it has no documents root); "
                "upload the file with POST /v1/files and pass its id"
            )
            raise ApiError(403, "paths_not_allowed", message, param)
        try:
            path = (self.root / name).resolve()  # an absolute name replaces the root
            inside = path.is_relative_to(self.root)
            found = inside and path.is_file()
        except (OSError, ValueError):
            raise ApiError(400, "invalid_document", f"{name!r} is no usable path", param) from None
        if not inside:
            message = f"{name!r} is outside the server's documents root"
            raise ApiError(403, "path_outside_root", message, param)
        if not found:
            message = f"no file {name!r} under the documents root"
            raise ApiError(404, "document_not_found", message, param)
        return path

    async def load(self, names: list[str]) -> list[Document]:
        """Every named document; all names are checked before any file is read."""
        sources = [self.resolve(name, f"documents[{i}]") for i, name in enumerate(names)]
        documents = []
        for i, source in enumerate(sources):
            if isinstance(source, Document):
                documents.append(source)
                continue
            try:
                documents.append(await asyncio.to_thread(load_document, source))
            except DocumentError as exc:  # its message, without the server's folders
                message = str(exc).replace(str(source), names[i])
                raise ApiError(400, "invalid_document", message, f"documents[{i}]") from None
        return documents

    async def add(self, upload: UploadFile, purpose: str) -> Upload:
        """Save and load an uploaded file (refused when too large or unreadable)."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="minions-serve-"))
        file_id = f"file-{secrets.token_hex(12)}"
        filename = Path(upload.filename or "upload").name or "upload"
        suffix = Path(filename).suffix
        path = self._folder / (file_id + (suffix if _SUFFIX.fullmatch(suffix) else ""))
        try:
            size = await self._save(upload, path)
            document = await asyncio.to_thread(load_document, path, name=filename)
        except DocumentError as exc:
            path.unlink(missing_ok=True)
            message = str(exc).replace(str(path), filename)
            raise ApiError(400, "invalid_document", message, "file") from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        saved = Upload(file_id, filename, size, purpose, int(time.time()), path, document)
        self.uploads[file_id] = saved
        logger.info("uploaded %s as %s (%d bytes)", filename, file_id, size)
        return saved

    async def _save(self, upload: UploadFile, path: Path) -> int:
        size = 0
        with path.open("wb") as out:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > self.max_upload_bytes:
                    raise self.too_large()
                out.write(chunk)
        return size

    def too_large(self) -> ApiError:
        limit = f"{self.max_upload_bytes / 2**20:g} MB"
        return ApiError(
            413, "file_too_large", f"the file is over the upload limit, {limit}", "file"
        )

    def get(self, file_id: str) -> Upload:
        upload = self.uploads.get(file_id)
        if upload is None:
            raise ApiError(404, "file_not_found", f"no uploaded file {file_id!r}")
        return upload

    def delete(self, file_id: str) -> None:
        self.get(file_id).path.unlink(missing_ok=True)
        del self.uploads[file_id]

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        self.uploads.clear()


# --- the queue for the local model ---------------------------------------------------


class RunQueue:
    """``slots`` runs at once, at most ``max_waiting`` more admitted to wait for one."""

    def __init__(self, slots: int, max_waiting: int) -> None:
        if slots < 1 or max_waiting < 0:
            raise ConfigurationError(
                f"the queue needs at least one slot and no negative length, got {slots} "
                f"and {max_waiting}"
            )
        self.slots, self.max_waiting = slots, max_waiting
        self.admitted = 0
        self.running = 0
        self._semaphore = asyncio.Semaphore(slots)
        self._durations: deque[float] = deque(maxlen=10)

    @property
    def waiting(self) -> int:
        return self.admitted - self.running

    def admit(self) -> None:
        """Take a place, or refuse with 503 when every place is taken."""
        if self.admitted >= self.slots + self.max_waiting:
            retry = self.retry_after_s()
            message = (
                f"the server is busy: {self.running} running, {self.waiting} waiting (at most "
                f"{self.max_waiting}); retry in {retry} s"
            )
            raise ApiError(503, "queue_full", message, headers={"Retry-After": str(retry)})
        self.admitted += 1

    def release(self) -> None:
        self.admitted -= 1

    def retry_after_s(self) -> int:
        """About one run's time (the mean of the last ones; 10 s before any)."""
        typical = sum(self._durations) / len(self._durations) if self._durations else 10.0
        return max(1, math.ceil(typical))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Wait for a slot; yields the seconds waited."""
        queued = time.perf_counter()
        async with self._semaphore:
            started = time.perf_counter()
            self.running += 1
            try:
                yield started - queued
            finally:
                self.running -= 1
                self._durations.append(time.perf_counter() - started)


# --- replies -------------------------------------------------------------------------


def extension(result: Result, waited_s: float) -> dict[str, Any]:
    """The ``minions`` field of a reply: what the run did and cost. ``savings_ratio`` is
    remote-only dollars over the run's (null when unknown or infinite)."""
    cost = result.cost
    ratio = cost.savings_ratio
    spent = cost.total_usd
    saved = None if spent is None or cost.remote_only_usd is None else cost.remote_only_usd - spent
    return {
        "status": result.status,
        "error": result.error,
        "protocol": result.protocol,
        "local_model": result.local_model,
        "remote_model": result.remote_model,
        "documents": result.documents,
        "usage": {role: usage.model_dump() for role, usage in result.usage.items()},
        "cost": {
            "remote_usd": cost.remote_usd,
            "remote_only_usd": cost.remote_only_usd,
            "savings_usd": saved,
            "savings_ratio": ratio if ratio is not None and math.isfinite(ratio) else None,
            "cached_usd": cost.cached_usd,
            "priced_as": cost.priced_as,
            "note": cost.note,
        },
        "citations": result.citations,
        "notes": result.notes,
        "timings": result.timings.model_dump(),
        "queue_wait_s": round(waited_s, 3),
    }


def total_usage(result: Result) -> dict[str, Any]:
    """OpenAI's ``usage``: the tokens of both models together."""
    total = sum(result.usage.values(), Usage())
    return {
        "prompt_tokens": total.input_tokens,
        "completion_tokens": total.output_tokens,
        "total_tokens": total.input_tokens + total.output_tokens,
        "prompt_tokens_details": {"cached_tokens": total.cached_input_tokens},
    }


@dataclass
class Outcome:
    """A run that answered, and how long it waited for the local model."""

    result: Result
    waited_s: float


@dataclass
class Reply:
    """The identity every object of one completion shares."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{secrets.token_hex(12)}")
    created: int = field(default_factory=lambda: int(time.time()))

    def head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def completion(self, outcome: Outcome) -> dict[str, Any]:
        message = {"role": "assistant", "content": outcome.result.answer, "refusal": None}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        return {
            **self.head("chat.completion"),
            "choices": [choice],
            "usage": total_usage(outcome.result),
            "minions": extension(outcome.result, outcome.waited_s),
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {**self.head("chat.completion.chunk"), "choices": [choice]}


def _sse(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


# --- the server ----------------------------------------------------------------------


Handler = Callable[[Request], Awaitable[Response]]


class Server:
    """The state every handler shares: the two clients, the documents, the queue."""

    def __init__(
        self,
        local: Client,
        remote: Client,
        *,
        price_as: str | None,
        files: Files,
        queue: RunQueue,
        privacy: Privacy,
        limits: Limits,
        api_key: str | None,
        stand_in: bool,
    ) -> None:
        self.local, self.remote, self.price_as = local, remote, price_as
        self.files, self.queue, self.privacy, self.limits = files, queue, privacy, limits
        self.api_key, self.stand_in = api_key, stand_in
        self.started = int(time.time())

    def endpoint(self, handler: Handler, *, keyed: bool = True) -> Handler:
        """``handler`` answering every failure with OpenAI's error body; a bug is
        logged with its traceback and reaches the client as one line."""

        async def serve(request: Request) -> Response:
            try:
                if keyed:
                    self._check_key(request)
                return await handler(request)
            except ApiError as exc:
                logger.info("%s %s: %d %s", request.method, request.url.path, exc.status, exc)
                return exc.response()
            except ClientDisconnect:
                logger.info("%s %s: the client left", request.method, request.url.path)
                return Response(status_code=400)
            except Exception:
                logger.exception("%s %s failed", request.method, request.url.path)
                return _internal_error().response()

        return serve

    def _check_key(self, request: Request) -> None:
        if self.api_key is None:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            message = "a wrong or missing API key (send it as the bearer token)"
            raise ApiError(401, "invalid_api_key", message)

    # --- models ---

    def _model(self, name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": name,
            "object": "model",
            "created": self.started,
            "owned_by": "minions",
        }
        try:
            cls = get_protocol(name)
            options = [o.model_dump(mode="json") for o in describe_options(cls)]
            entry["minions"] = {"summary": cls.summary, "options": options}
        except Exception:  # a broken plugin still has a name
            logger.warning("protocol %r could not be described", name, exc_info=True)
        return entry

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [self._model(n) for n in available()]})

    async def model(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in available():
            raise self._unknown_model(name)
        return JSONResponse(self._model(name))

    @staticmethod
    def _unknown_model(name: str) -> ApiError:
        names = ", ".join(available())
        message = f"no model {name!r}: the models are the protocols ({names})"
        return ApiError(404, "model_not_found", message, "model")

    # --- chat ---

    async def chat(self, request: Request) -> Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "the body must be a JSON object")
        try:
            chat = ChatRequest.model_validate(
                {key: value for key, value in body.items() if key not in IGNORED_FIELDS}
            )
        except ValidationError as exc:
            raise _invalid(exc) from None
        protocol = self._protocol(chat)
        task = task_of(chat.messages)
        documents = await self.files.load(chat.documents)
        limits = self.limits.tighter(chat.limits)
        self.queue.admit()
        run = asyncio.ensure_future(self._run(protocol, task, documents, limits))
        run.add_done_callback(self._finished)
        reply = Reply(chat.model)
        if chat.stream:
            usage = bool(chat.stream_options and chat.stream_options.include_usage)
            return StreamingResponse(
                self._stream(run, reply, usage),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        outcome = await run
        return JSONResponse(
            reply.completion(outcome),
            headers={"x-minions-queue-wait-s": f"{outcome.waited_s:.3f}"},
        )

    def _protocol(self, chat: ChatRequest) -> Protocol:
        if chat.model not in available():
            raise self._unknown_model(chat.model)
        try:
            return get_protocol(chat.model)(**chat.options)
        except ConfigurationError as exc:
            raise ApiError(400, "invalid_option", str(exc), "options") from None

    def _finished(self, run: asyncio.Future[Outcome]) -> None:
        self.queue.release()
        if not run.cancelled():
            run.exception()  # retrieved: a stream whose client left never reads it

    async def _run(
        self, protocol: Protocol, task: str, documents: list[Document], limits: Limits
    ) -> Outcome:
        async with self.queue.slot() as waited_s:
            try:
                result = await protocol.run(
                    task,
                    documents,
                    local=self.local,
                    remote=self.remote,
                    price_as=self.price_as,
                    limits=limits,
                    privacy=self.privacy,
                )
            except ConfigurationError as exc:
                raise ApiError(400, "invalid_request", str(exc)) from None
            except MinionsError as exc:
                raise ApiError(502, "run_failed", str(exc)) from None
        if self.stand_in and result.remote_usage:
            result.notes.insert(0, stand_in_note())
        took = f"in {result.timings.total_s:.1f} s (waited {waited_s:.1f} s)"
        logger.info(
            "%s %s %s%s",
            protocol.name,
            result.status,
            took,
            f": {result.error}" * bool(result.error),
        )
        if result.status == "answered":
            return Outcome(result, waited_s)
        details = {**extension(result, waited_s), "answer": result.answer}
        if result.status == "budget_exceeded":
            message = f"the run reached a limit: {result.error}"
            raise ApiError(402, "budget_exceeded", message, minions=details)
        no_retry = {"x-should-retry": "false"}
        message = f"the run failed: {result.error}"
        raise ApiError(502, "run_failed", message, headers=no_retry, minions=details)

    async def _stream(
        self, run: asyncio.Future[Outcome], reply: Reply, usage: bool
    ) -> AsyncIterator[str]:
        try:
            yield _sse(reply.chunk({"role": "assistant", "content": ""}))
            while not run.done():
                await asyncio.wait({run}, timeout=KEEPALIVE_S)
                if not run.done():
                    yield ": running\n\n"
            try:
                outcome = run.result()
            except ApiError as exc:
                yield _sse(exc.body())
                return
            except Exception:
                logger.exception("a streamed run failed")
                yield _sse(_internal_error().body())
                return
            yield _sse(reply.chunk({"content": outcome.result.answer}))
            last = reply.chunk({}, "stop")
            yield _sse({**last, "minions": extension(outcome.result, outcome.waited_s)})
            if usage:
                totals = {"choices": [], "usage": total_usage(outcome.result)}
                yield _sse({**reply.head("chat.completion.chunk"), **totals})
            yield _sse("[DONE]")
        finally:
            run.cancel()  # no-op once it is done; a client gone mid-run stops the run

    # --- files ---

    async def upload(self, request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.files.max_upload_bytes + 2**16:
            raise self.files.too_large()
        try:
            form = request.form(max_files=1, max_fields=8)
            async with form as fields:
                file, purpose = fields.get("file"), fields.get("purpose") or "user_data"
                if not isinstance(file, UploadFile) or not isinstance(purpose, str):
                    message = "send the document as the multipart field 'file', and 'purpose'"
                    raise ApiError(400, "invalid_request", message, "file")
                saved = await self.files.add(file, purpose)
        except HTTPException as exc:
            message = f"the body is not a multipart form: {exc.detail}"
            raise ApiError(400, "invalid_request", message) from None
        return JSONResponse(saved.json())

    async def list_files(self, request: Request) -> Response:
        data = [upload.json() for upload in self.files.uploads.values()]
        return JSONResponse({"object": "list", "data": data, "has_more": False})

    async def get_file(self, request: Request) -> Response:
        return JSONResponse(self.files.get(request.path_params["file_id"]).json())

    async def delete_file(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        self.files.delete(file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    async def health(self, request: Request) -> Response:
        queue = self.queue
        return JSONResponse({"status": "ok", "running": queue.running, "waiting": queue.waiting})


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) in OpenAI's error body."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    what = {404: "no such endpoint", 405: "method not allowed"}.get(status, "refused")
    code = "unknown_url" if status == 404 else "invalid_request"
    return ApiError(status, code, f"{request.method} {request.url.path}: {what}").response()


def create_app(
    local: str | Client | None = None,
    remote: str | Client | None = None,
    *,
    price_as: str | None = None,
    documents_root: str | Path | None = None,
    max_queue: int = 16,
    concurrency: int | None = None,
    privacy: Privacy = "off",
    limits: Limits | None = None,
    cache: CacheArg = True,
    api_key: str | None = None,
    max_upload_mb: int = 100,
) -> Starlette:
    """The server as a Starlette app (serve it with uvicorn); see the module for the API.

    ``local`` and ``remote`` are built once, here, as ``minions.ask`` builds them (the
    llama.cpp pack and :func:`~minions.api.default_remote` when not given, with the
    response cache ``cache``; a :class:`Client` is used as it is). ``documents_root`` is
    the folder whose files requests may name by path (none: uploads only).
    ``concurrency`` runs at once (default: what the local model serves), ``max_queue``
    more may wait. ``limits`` bound every run; a request's own can only tighten them.
    ``api_key`` makes every ``/v1`` request show it as its bearer token.
    """
    remote_choice, price_as, stand_in = choose_remote(remote, price_as)
    if stand_in:
        logger.warning(stand_in_note())
    local_client = get_client(local or DEFAULT_LOCAL, cache=cache)
    remote_client = get_client(remote_choice, cache=cache)
    root = None
    if documents_root is not None:
        root = Path(documents_root).expanduser().resolve()
        if not root.is_dir():
            raise ConfigurationError(f"the documents root {documents_root} is not a folder")
    slots = concurrency or local_client.capabilities.max_parallel_requests
    files = Files(root, max_upload_mb * 2**20)
    server = Server(
        local_client,
        remote_client,
        price_as=price_as,
        files=files,
        queue=RunQueue(slots, max_queue),
        privacy=privacy,
        limits=limits or Limits(),
        api_key=api_key or None,
        stand_in=stand_in,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            files.close()

    endpoint = server.endpoint
    routes = [
        Route("/v1/models", endpoint(server.models), methods=["GET"]),
        Route("/v1/models/{name:path}", endpoint(server.model), methods=["GET"]),
        Route("/v1/chat/completions", endpoint(server.chat), methods=["POST"]),
        Route("/v1/files", endpoint(server.upload), methods=["POST"]),
        Route("/v1/files", endpoint(server.list_files), methods=["GET"]),
        Route("/v1/files/{file_id}", endpoint(server.get_file), methods=["GET"]),
        Route("/v1/files/{file_id}", endpoint(server.delete_file), methods=["DELETE"]),
        Route("/health", endpoint(server.health, keyed=False), methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: _http_error}, lifespan=lifespan
    )
    app.state.server = server
    return app


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (0: a free port) for ``uvicorn.Server.run(sockets=
    [...])``, so a taken port is an ``OSError`` here and the real port is known before
    serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
