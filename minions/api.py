"""The one-call entry points: ``minions.ask`` and ``minions.ask_async``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

from minions.asyncio_bridge import run_sync
from minions.clients import CacheArg, Client, capabilities_of, get_client
from minions.documents import Document, load_document
from minions.events import Event, Events, Sink, as_events
from minions.limits import Limits
from minions.run import Privacy
from minions.types import Result

logger = logging.getLogger(__name__)

DEFAULT_LOCAL = "llamacpp:qwen2.5-coder-0.5b"
OFFLINE_REMOTE = "llamacpp:qwen2.5-coder-1.5b"
#: what an offline run is priced as, so it still reports cloud dollars
OFFLINE_PRICE_AS = "openai:gpt-4o"
#: the remotes used when none is given, in order: the first whose provider's API key
#: (``Capabilities.key_env``) is set in the environment; with none, ``OFFLINE_REMOTE``
KEYED_REMOTES = ("openai:gpt-4o-mini", "anthropic:claude-haiku-4-5")

DocumentsArg = str | Path | Document | Sequence[str | Path | Document]
RemoteT = TypeVar("RemoteT")


def default_remote() -> str:
    """The remote when none is given (the library, the CLI, the app and the evals):
    ``openai:gpt-4o-mini`` with OPENAI_API_KEY, else ``anthropic:claude-haiku-4-5``
    with ANTHROPIC_API_KEY, else the offline stand-in pack (see :data:`KEYED_REMOTES`)."""
    for spec in KEYED_REMOTES:
        if capabilities_of(spec).key_from_env():
            return spec
    return OFFLINE_REMOTE


@overload
def choose_remote(remote: None, price_as: str | None) -> tuple[str, str | None, bool]: ...
@overload
def choose_remote(remote: RemoteT, price_as: str | None) -> tuple[RemoteT, str | None, bool]: ...
def choose_remote(
    remote: RemoteT | None, price_as: str | None
) -> tuple[RemoteT | str, str | None, bool]:
    """The remote a run uses and what its usage is priced as, and whether it is the
    offline stand-in: with no ``remote`` given, :func:`default_remote`; when that is
    :data:`OFFLINE_REMOTE`, its usage is priced as :data:`OFFLINE_PRICE_AS` unless
    ``price_as`` says otherwise (the caller says so: :func:`stand_in_note`)."""
    if remote is not None:
        return remote, price_as, False
    chosen = default_remote()
    if chosen != OFFLINE_REMOTE:
        return chosen, price_as, False
    return chosen, price_as or OFFLINE_PRICE_AS, True


def stand_in_note() -> str:
    """What a run on the offline stand-in says about it."""
    keys = " or ".join(filter(None, (capabilities_of(s).key_env for s in KEYED_REMOTES)))
    return (
        f"the remote is the offline stand-in {OFFLINE_REMOTE}, a 1.5B model nowhere near a "
        f"frontier model; set {keys}, or pass remote=, for real answers. Its usage is "
        f"priced as {OFFLINE_PRICE_AS}."
    )


def as_documents(documents: DocumentsArg) -> list[Document]:
    """Paths, raw text or Documents, one or many, as a list of Documents."""
    if isinstance(documents, (str, Path, Document)):
        documents = [documents]
    return [load_document(d) for d in documents]


async def ask_async(
    task: str,
    documents: DocumentsArg,
    *,
    protocol: str = "minions",
    local: str | Client | None = None,
    remote: str | Client | None = None,
    events: Events | Sink | None = None,
    price_as: str | None = None,
    limits: Limits | None = None,
    cache: CacheArg = True,
    privacy: Privacy = "off",
    **config: Any,
) -> Result:
    """Answer ``task`` over ``documents`` with a protocol; ``config`` are its options.

    ``privacy="strict"`` sends every sensitive value of the documents and the task to
    the remote as a numbered placeholder and answers with the real values
    (:mod:`minions.shield`); ``privacy="strict+names"`` first has the local model read
    the documents for people's names that the patterns miss (:mod:`minions.pii_names`).
    ``result.privacy`` says what reached the remote either way.

    ``limits`` bound the run (``Limits(max_remote_usd=, max_remote_calls=, timeout_s=)``);
    reaching one ends it with status "budget_exceeded" and the best answer so far.

    ``cache`` (on by default; a folder or a ``ResponseCache`` also work) answers the
    deterministic calls of the clients built here from specs from the response cache
    (:mod:`minions.clients.cache`); a Client passed in is used as it is.

    ``local`` defaults to the ``qwen2.5-coder-0.5b`` offline pack; ``remote`` to
    :func:`default_remote`. See ``minions protocols`` for each protocol's options.
    """
    from minions.protocol import get_protocol  # the registry; protocols depend on the core

    strategy = get_protocol(protocol)(**config)
    docs = as_documents(documents)
    remote_spec, price_as, stand_in = choose_remote(remote, price_as)
    result = await strategy.run(
        task,
        docs,
        local=get_client(local or DEFAULT_LOCAL, cache=cache),
        remote=get_client(remote_spec, cache=cache),
        events=events,
        price_as=price_as,
        limits=limits,
        privacy=privacy,
    )
    if stand_in and result.remote_usage:  # said once, in the Result, if it was used
        logger.info(stand_in_note())
        result.notes.insert(0, stand_in_note())
    return result


def ask(task: str, documents: DocumentsArg, **kwargs: Any) -> Result:
    """Blocking :func:`ask_async`. Inside a running event loop (Jupyter, an async app)
    it runs on a loop of its own in a worker thread; there ``await ask_async(...)`` is
    the better call."""
    return run_sync(ask_async(task, documents, **kwargs))


class RunStream:
    """The events of one run as an async iterator; ``result`` once it is exhausted.

    ::

        stream = minions.stream(task, documents, protocol="minions")
        async for event in stream:
            print(event.kind)
        print(stream.result.answer)

    Events also reach the ``events=`` sinks given, as with :func:`ask_async`. To leave
    the loop early, iterate inside ``async with minions.stream(...) as stream:``; leaving
    the block cancels the run.
    """

    def __init__(self, task: str, documents: DocumentsArg, **kwargs: Any) -> None:
        self._task = task
        self._documents = documents
        self._kwargs = kwargs
        self.result: Result | None = None
        self._iterator: AsyncGenerator[Event, None] | None = None

    def __aiter__(self) -> AsyncIterator[Event]:
        self._iterator = self._events()
        return self._iterator

    async def __aenter__(self) -> RunStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._iterator is not None:
            await self._iterator.aclose()

    async def _events(self) -> AsyncGenerator[Event, None]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        sinks = Events([as_events(self._kwargs.pop("events", None)), queue.put_nowait])
        run = asyncio.ensure_future(
            ask_async(self._task, self._documents, events=sinks, **self._kwargs)
        )
        try:
            while not (run.done() and queue.empty()):
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, run}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            self.result = run.result()
        finally:
            if not run.done():
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run


def stream(task: str, documents: DocumentsArg, **kwargs: Any) -> RunStream:
    """The run of :func:`ask_async` as an async iterator of its events (see
    :class:`RunStream`)."""
    return RunStream(task, documents, **kwargs)
