"""Model clients, named by spec strings ``provider:model``.

Providers register under the entry-point group ``minions.clients``; the built-in ones
use the same mechanism (see ``pyproject.toml``), so a provider in another package is
a first-class citizen::

    [project.entry-points."minions.clients"]
    myprovider = "mypackage.client:MyClient"   # a Client subclass: MyClient(model, **kwargs)

What a provider can do is data on its class, ``defaults: ClassVar[Capabilities]``
(runs locally, the API key's environment variable, JSON-schema support, ...): pricing,
the default remote, the CLI and the app read it through :func:`capabilities_of` without
building a client, and each client's ``capabilities`` derive from it.
"""

from __future__ import annotations

import inspect
from importlib.metadata import EntryPoint
from typing import Any

from minions.clients.base import (
    Capabilities,
    Client,
    LimitedClient,
    RetryingClient,
    SchemaInPromptClient,
    WrapperClient,
)
from minions.clients.cache import CacheArg, CachedClient, ResponseCache, cached
from minions.errors import ConfigurationError, UnknownProviderError
from minions.plugins import load, registered

__all__ = [
    "CacheArg",
    "CachedClient",
    "Capabilities",
    "Client",
    "LimitedClient",
    "ResponseCache",
    "RetryingClient",
    "SchemaInPromptClient",
    "WrapperClient",
    "cached",
    "capabilities_of",
    "get_client",
    "parse_spec",
    "provider_class",
    "providers",
    "runs_locally",
]

GROUP = "minions.clients"


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``"provider:model"`` at the first colon (models may contain colons:
    ``ollama:qwen2.5:3b``). ``"scripted:"`` has an empty model."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigurationError(
            f"client spec {spec!r} must look like 'provider:model', e.g. "
            "'openai:gpt-4o-mini', 'ollama:qwen2.5:3b' or 'llamacpp:qwen2.5-coder-0.5b'"
        )
    provider, model = spec.split(":", 1)
    provider = provider.strip().lower()
    if not provider:
        raise ConfigurationError(f"client spec {spec!r} has no provider before the colon")
    return provider, model.strip()


def providers() -> dict[str, EntryPoint]:
    """Registered providers by name."""
    return registered(GROUP)


def provider_class(provider: str) -> type[Client]:
    """The registered :class:`Client` subclass for ``provider`` (no SDK is imported)."""
    return load(GROUP, provider, Client, "provider", UnknownProviderError)


def capabilities_of(spec: str | Client) -> Capabilities:
    """What a client can do; for a spec, what its provider's class says before any
    client is built (:attr:`Client.defaults`: ``llamacpp:`` is local without loading a
    model, ``openai:`` reads its key from ``OPENAI_API_KEY``). An unknown provider is
    an :class:`UnknownProviderError`."""
    if isinstance(spec, Client):
        return spec.capabilities
    return provider_class(parse_spec(spec)[0]).defaults


def runs_locally(spec: str | Client) -> bool:
    """Whether ``spec`` runs on the user's machine (and costs $0), by
    :func:`capabilities_of`; a malformed spec or an unknown provider is not local."""
    try:
        return capabilities_of(spec).local
    except ConfigurationError:
        return False


def get_client(
    spec: str | Client,
    *,
    retries: int = 3,
    max_concurrency: int | None = None,
    cache: CacheArg = False,
    **kwargs: Any,
) -> Client:
    """Resolve a spec such as ``"openai:gpt-4o-mini"`` into a ready client.

    ``kwargs`` go to the provider (e.g. ``base_url=`` for ``openai:``, ``replies=``
    for ``scripted:``). The client comes wrapped: a provider without structured
    output is asked for a schema in the prompt, transient errors are retried
    ``retries`` times with backoff, and ``max_concurrency`` caps calls in flight.
    ``cache=True`` (or a folder, or a :class:`ResponseCache`) answers deterministic
    calls from the response cache, outermost, so a hit neither waits for a slot nor
    retries (:mod:`minions.clients.cache`). A :class:`Client` instance is returned as
    is (wrap one with :func:`cached`).
    """
    if isinstance(spec, Client):
        return spec
    provider, model = parse_spec(spec)
    cls = provider_class(provider)
    try:
        inspect.signature(cls).bind(model, **kwargs)
    except TypeError as exc:
        raise ConfigurationError(f"{spec}: {exc}") from None
    client: Client = cls(model, **kwargs)  # type: ignore[call-arg]
    if not client.capabilities.structured_output:
        client = SchemaInPromptClient(client)
    if retries > 0:
        client = RetryingClient(client, attempts=retries + 1)
    if max_concurrency is not None:
        client = LimitedClient(client, max_concurrency)
    return cached(client, cache)
