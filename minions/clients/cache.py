"""The response cache: a client wrapper that answers a deterministic call it has seen
before from disk, for any provider.

    client = get_client("openai:gpt-4o-mini", cache=True)   # or cached(any_client)
    minions.ask(question, docs)                              # on: minions.ask, minions ask
    minions.ask(question, docs, cache=False)                 # off (--no-cache)

* **Only deterministic calls**: temperature 0, or a fixed seed, or any call to a client
  whose capabilities say it samples with a fixed seed when none is named (``llamacpp:``).
  Any other call goes to the provider every time (a provider's default temperature is
  not 0).
* **Key**: the client's :attr:`~minions.clients.Client.identity` (provider, model and
  where it is served), the messages, the schema's JSON schema and every option, hashed
  (sha256). A call whose options are not JSON is not cached.
* **What is kept**: the reply's text, finish reason, model and token counts. A reply
  that failed to validate under its schema is not kept, so asking again asks the
  model again.
* **Accounting**: a hit is one call with ``Usage.cache_hits=1``: no request, no token
  processed, $0. The tokens it took when first answered are kept in
  ``cache_hit_input_tokens`` / ``cache_hit_output_tokens``, which a run prices into
  ``Cost.cached_usd`` and the savings ratio (so the cache never inflates savings).
* **Where**: ``$MINIONS_RESPONSE_CACHE`` (a folder; ``off`` turns the cache off),
  else ``responses/`` in the cache dir (:func:`minions.models.cache_dir`), apart from
  the model packs. One SQLite file shared by every thread and process on the machine,
  at most ``max_bytes`` (256 MiB by default), least recently used entries evicted.
* **Single flight**: calls with the same key in flight at once on one event loop wait
  for the first and read its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ConfigDict

from minions.clients._store import LruStore, cache_folder
from minions.clients.base import (
    Client,
    SchemaT,
    WrapperClient,
    as_messages,
    json_schema,
    make_completion,
)
from minions.types import Completion, FinishReason, Message, Usage

logger = logging.getLogger(__name__)

#: the folder of the response cache; ``off`` turns it off
ENV_VAR = "MINIONS_RESPONSE_CACHE"
DEFAULT_MAX_BYTES = 256 << 20
FILE_NAME = "responses.sqlite"
#: changes when what a key covers changes, so old entries are never misread
KEY_VERSION = 1


def is_deterministic(options: Mapping[str, Any], *, seeded_by_default: bool = False) -> bool:
    """Whether a call with ``options`` always gets the same reply: temperature 0, or a
    fixed seed, or a client that samples with a fixed seed when none is named
    (:attr:`Capabilities.seeded_by_default`). No temperature means the provider's
    default, which is not 0."""
    if options.get("seed") is not None or seeded_by_default:
        return True
    try:
        return float(options["temperature"]) == 0.0
    except (KeyError, TypeError, ValueError):
        return False


def default_folder() -> Path | None:
    """``$MINIONS_RESPONSE_CACHE``, else ``<cache dir>/responses``; None when the
    variable is ``off``."""
    return cache_folder(ENV_VAR, "responses")


class CachedReply(BaseModel):
    """What the cache keeps of a completion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    finish_reason: FinishReason
    model: str
    input_tokens: int
    output_tokens: int


class ResponseCache:
    """Replies by request, in ``folder/responses.sqlite``, at most ``max_bytes``."""

    def __init__(self, folder: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = Path(folder).expanduser()
        self.store = LruStore(self.folder / FILE_NAME, max_bytes)

    def __repr__(self) -> str:
        return f"<ResponseCache {self.folder}>"

    @staticmethod
    def key(
        identity: str,
        messages: Sequence[Message],
        schema: type[BaseModel] | None,
        options: Mapping[str, Any],
    ) -> str | None:
        """The entry of a request; None when its options are not JSON."""
        payload = {
            "v": KEY_VERSION,
            "client": identity,
            "messages": [[m.role, m.content] for m in messages],
            "schema": json_schema(schema) if schema is not None else None,
            "options": dict(options),
        }
        try:
            text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            return None
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, key: str) -> CachedReply | None:
        value = self.store.get(key)
        if value is None:
            return None
        try:
            return CachedReply.model_validate_json(value)
        except ValueError:
            logger.warning("response cache %s: entry %s is unreadable; ignored", self.folder, key)
            return None

    def put(self, key: str, completion: Completion) -> None:
        reply = CachedReply(
            text=completion.text,
            finish_reason=completion.finish_reason,
            model=completion.model,
            input_tokens=completion.usage.input_tokens,
            output_tokens=completion.usage.output_tokens,
        )
        self.store.put(key, reply.model_dump_json().encode("utf-8"))

    def usage(self) -> tuple[int, int]:
        """``(entries, bytes)`` held now."""
        return self.store.usage()

    def clear(self) -> None:
        self.store.clear()


_opened: dict[tuple[Path, int], ResponseCache] = {}
_opened_lock = threading.Lock()


def open_cache(folder: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ResponseCache:
    """The process's one :class:`ResponseCache` for ``folder`` (its connections are
    shared by every client using it)."""
    key = (Path(folder).expanduser().resolve(), max_bytes)
    with _opened_lock:
        if key not in _opened:
            _opened[key] = ResponseCache(key[0], max_bytes=max_bytes)
        return _opened[key]


#: what ``cache=`` takes: on (the default folder), off, a folder or a cache
CacheArg = Union[bool, str, Path, ResponseCache, None]  # noqa: UP007


def resolve_cache(cache: CacheArg) -> ResponseCache | None:
    """``True``: the cache in :func:`default_folder` (None when it is ``off``);
    ``False``/None: none; a folder; a :class:`ResponseCache` as is."""
    if isinstance(cache, ResponseCache):
        return cache
    if cache is True:
        folder = default_folder()
        return open_cache(folder) if folder is not None else None
    if not cache:
        return None
    return open_cache(cache)


@dataclass
class _Flight:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    callers: int = 0


class CachedClient(WrapperClient):
    """Answers deterministic calls from ``cache`` when it has them, and keeps the
    replies it gets (see the module's docstring for the rules)."""

    def __init__(self, wrapped: Client, cache: ResponseCache) -> None:
        super().__init__(wrapped)
        self.cache = cache
        self._flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Flight]]
        self._flights = weakref.WeakKeyDictionary()

    @contextlib.asynccontextmanager
    async def _single_flight(self, key: str) -> AsyncIterator[None]:
        flights = self._flights.setdefault(asyncio.get_running_loop(), {})
        flight = flights.setdefault(key, _Flight())
        flight.callers += 1
        try:
            async with flight.lock:
                yield
        finally:
            flight.callers -= 1
            if flight.callers == 0:
                del flights[key]

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        messages = as_messages(messages)
        key = None
        if is_deterministic(options, seeded_by_default=self.capabilities.seeded_by_default):
            key = self.cache.key(self.identity, messages, schema, options)
        if key is None:
            return await self.wrapped.chat(messages, schema=schema, **options)
        async with self._single_flight(key):
            started = time.perf_counter()
            hit = await asyncio.to_thread(self.cache.get, key)
            if hit is not None:
                logger.debug("%s: response cache hit %s", self.spec, key[:12])
                return make_completion(
                    hit.text,
                    schema=schema,
                    usage=Usage(
                        calls=1,
                        cache_hits=1,
                        cache_hit_input_tokens=hit.input_tokens,
                        cache_hit_output_tokens=hit.output_tokens,
                    ),
                    finish_reason=hit.finish_reason,
                    started=started,
                    model=hit.model,
                )
            completion = await self.wrapped.chat(messages, schema=schema, **options)
            if completion.parse_error is None:
                await asyncio.to_thread(self.cache.put, key, completion)
            return completion


def cached(client: Client, cache: CacheArg = True) -> Client:
    """``client`` answering its deterministic calls from the response cache (by
    default the one in :func:`default_folder`). A client that is cached already is
    returned as it is, and so is ``client`` when the cache is off."""
    layer: Client | None = client
    while isinstance(layer, WrapperClient):
        if isinstance(layer, CachedClient):
            return client
        layer = layer.wrapped
    store = resolve_cache(cache)
    return client if store is None else CachedClient(client, store)
