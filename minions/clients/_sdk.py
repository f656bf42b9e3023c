"""Helpers the SDK-backed providers (``ollama:``, ``openai:``, ``anthropic:``) share.

Importing an SDK only when a client is built, one SDK client per event loop, and
turning HTTP failures into the library's error classes with a message that says what
to do next.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import json
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import ModuleType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from minions.errors import (
    AuthenticationError,
    ContextWindowExceeded,
    MissingDependencyError,
    ProviderError,
    TransientProviderError,
)

T = TypeVar("T")

#: What parsing a reply body that is not JSON raises (bytes that are not even text
#: fail while being decoded).
NOT_JSON = (json.JSONDecodeError, UnicodeDecodeError)

#: Statuses worth retrying besides 5xx: request timeout, conflict (the official SDKs
#: retry it too), rate limit.
_TRANSIENT_STATUSES = frozenset({408, 409, 429})

_CONTEXT_OVERFLOW_RE = re.compile(
    r"context[ _]length|context window|prompt is too long|maximum context|too many tokens",
    re.IGNORECASE,
)


def import_sdk(package: str, extra: str, what: str) -> ModuleType:
    """Import an optional SDK, or raise an error naming the extra to install."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise MissingDependencyError(package, extra, what) from exc


class PerLoop(Generic[T]):
    """One SDK client per running event loop.

    An httpx connection pool cannot outlive the loop it was made in, so a client
    reused across ``asyncio.run`` calls (e.g. two ``chat_sync`` calls) would fail
    with "Event loop is closed". The factory runs on first use in each loop.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T]
        self._items = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is None:
            item = self._items[loop] = self._factory()
        return item

    async def aclose(self) -> None:
        """Close this loop's client; clients of other loops are dropped."""
        item = self._items.get(asyncio.get_running_loop())
        self._items.clear()
        if item is not None:
            await item.close()  # type: ignore[attr-defined]


def schema_name(schema: type[BaseModel]) -> str:
    """A name providers accept for a schema or tool (letters, digits, ``_`` and ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", schema.__name__)[:64] or "reply"


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or a date)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def body_message(body: object) -> str | None:
    """The provider's own message from an error body.

    Handles ``{"error": {"message": ...}}`` (OpenAI, Anthropic), a bare
    ``{"message": ...}`` and ``{"error": "..."}`` (Ollama).
    """
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, str):
            return inner
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()
    return None


def not_json_error(provider: str, server: str, exc: ValueError) -> TransientProviderError:
    """Our error for a successful HTTP status whose body is not JSON, e.g. a proxy's
    HTML page or a reply cut off in transit: transient, worth retrying."""
    start = getattr(exc, "doc", "")[:60]
    starting = f", starting {start!r}" if start else ""
    return TransientProviderError(
        f"{server} sent a reply that is not JSON ({exc}{starting}); if this persists, "
        "check that the address points at the API and not at a proxy or a web page",
        provider=provider,
    )


def error_for_status(
    provider: str,
    status: int,
    message: str,
    *,
    key_hint: str,
    not_found_hint: str,
    code: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """Our error for an HTTP error status and the provider's message.

    ``key_hint`` says how to fix credentials (401/403); ``not_found_hint`` how to get
    the model (404). 408, 409, 429 and 5xx (Anthropic's 529 "overloaded" included)
    are transient; a prompt over the model's window is :class:`ContextWindowExceeded`.
    """
    text = f"HTTP {status}: {message}"
    if status in (401, 403):
        return AuthenticationError(
            f"{text.rstrip('.')}. {key_hint}", provider=provider, status_code=status
        )
    if status == 404:
        return ProviderError(
            f"{text.rstrip('.')}. {not_found_hint}", provider=provider, status_code=status
        )
    if status in _TRANSIENT_STATUSES or status >= 500:
        return TransientProviderError(
            text, provider=provider, status_code=status, retry_after_s=retry_after
        )
    if code == "context_length_exceeded" or _CONTEXT_OVERFLOW_RE.search(message):
        return ContextWindowExceeded(
            f"{text}. Use a protocol that chunks the document (e.g. protocol='minions'), "
            "smaller chunks, or a model with a larger window.",
            provider=provider,
            status_code=status,
        )
    return ProviderError(text, provider=provider, status_code=status)


async def stainless_reply(
    sdk: ModuleType,
    request: Awaitable[T],
    *,
    provider: str,
    server: str,
    key_hint: str,
    not_found_hint: str,
) -> T:
    """Await a request of the ``openai`` or ``anthropic`` SDK (both generated by
    Stainless, with exception classes of the same shape), raising our errors for the
    SDK's and for a reply body that is not JSON."""
    try:
        response = await request
    except sdk.APIStatusError as exc:
        raise error_for_status(
            provider,
            exc.status_code,
            body_message(exc.body) or str(exc),
            key_hint=key_hint,
            not_found_hint=not_found_hint,
            code=getattr(exc, "code", None),
            retry_after=retry_after_s(exc.response.headers),
        ) from exc
    except NOT_JSON as exc:
        raise not_json_error(provider, server, exc) from exc
    except sdk.APITimeoutError as exc:
        raise TransientProviderError(
            f"the request to {server} timed out; retry later or raise timeout_s",
            provider=provider,
        ) from exc
    except sdk.APIConnectionError as exc:
        raise TransientProviderError(
            f"could not reach {server} ({exc.__cause__ or exc}); check the network, the "
            "base URL and that the server is running",
            provider=provider,
        ) from exc
    if isinstance(response, str):  # the SDK's answer to a body not typed or parsed as JSON
        raise not_json_error(provider, server, json.JSONDecodeError("Expecting value", response, 0))
    return response


def without_none(**values: Any) -> dict[str, Any]:
    """Keyword arguments minus those left at ``None`` (so the SDK's defaults apply)."""
    return {key: value for key, value in values.items() if value is not None}
