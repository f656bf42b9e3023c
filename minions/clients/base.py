"""The one abstraction every model provider implements, and the wrappers around it.

A provider implements a single coroutine, :meth:`Client.chat`. What a client can do
is data on it (:class:`Capabilities`), never something callers find out with
``isinstance``. Behaviour that applies to every provider (retries, a concurrency
limit, a schema asked for in the prompt where the provider cannot enforce one) wraps
a client instead of living in each one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from minions.asyncio_bridge import run_sync
from minions.errors import ContextWindowExceeded, ProviderError
from minions.prompts import render
from minions.tokens import approx_tokens
from minions.types import Completion, FinishReason, Message, Usage

logger = logging.getLogger(__name__)

SchemaT = TypeVar("SchemaT", bound=BaseModel)

#: Options every provider understands; anything else is passed to the provider as is.
COMMON_OPTIONS = ("temperature", "max_tokens", "seed", "stop")


class Capabilities(BaseModel):
    """What a client can do, as data everything reads instead of checking types.

    A provider's class sets :attr:`Client.defaults`, what is known before a client is
    built (that ``llamacpp:`` runs locally, which variable holds the key); a client's
    ``capabilities`` are those defaults with what only the instance knows filled in
    (:meth:`derive`), such as the model's context window.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    context_window: int | None = Field(
        default=None, description="prompt + output tokens the model accepts; None if unknown"
    )
    structured_output: bool = Field(
        default=True,
        description="constrains output to a JSON schema; if not, get_client asks for the "
        "schema in the prompt (SchemaInPromptClient)",
    )
    max_parallel_requests: int = Field(
        default=1, ge=1, description="requests worth sending at once"
    )
    local: bool = Field(default=False, description="runs on the user's machine and costs $0")
    seeded_by_default: bool = Field(
        default=False,
        description="a call that names no seed is sampled with a fixed one: the same "
        "request always gets the same reply, so the response cache may keep it",
    )
    key_env: str | None = Field(
        default=None, description="environment variable the API key is read from, if any"
    )
    needs_key: bool = Field(
        default=False, description="calls fail without an API key (argument or key_env)"
    )
    examples: tuple[str, ...] = Field(
        default=(), description="specs this provider accepts, as shown by `minions models`"
    )

    def derive(self, **changes: Any) -> Capabilities:
        """A validated copy with ``changes``."""
        return type(self).model_validate({**self.model_dump(), **changes})

    def key_from_env(self) -> str | None:
        """The API key in the environment variable ``key_env``, if it is set."""
        return (os.environ.get(self.key_env) or None) if self.key_env else None


class Client(ABC):
    """A chat model. Subclasses implement :meth:`chat` and set ``provider``."""

    #: name used in spec strings, ``provider:model``
    provider: ClassVar[str] = ""
    #: what every client of this provider can do, known without building one; an
    #: instance's ``capabilities`` derive from it
    defaults: ClassVar[Capabilities] = Capabilities()

    model: str
    capabilities: Capabilities

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def identity(self) -> str:
        """What decides this client's replies besides the request: the spec, plus the
        server or model file where that can vary under one spec. The response cache
        keys on it (:mod:`minions.clients.cache`)."""
        return self.spec

    @abstractmethod
    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        """Send ``messages``; with ``schema`` the reply is JSON constrained to it.

        Common ``options``: ``temperature``, ``max_tokens``, ``seed``, ``stop``.
        """

    def chat_sync(
        self,
        messages: str | Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        """Blocking convenience wrapper around :meth:`chat`; inside a running event loop
        it runs on a loop of its own in a worker thread."""
        return run_sync(self.chat(as_messages(messages), schema=schema, **options))

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections or models; the default holds nothing."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec}>"


def as_messages(messages: str | Sequence[Message | dict[str, Any]]) -> list[Message]:
    """Accept a plain string (one user message), ``Message`` objects or dicts."""
    if isinstance(messages, str):
        return [Message.user(messages)]
    return [m if isinstance(m, Message) else Message.model_validate(m) for m in messages]


# --- helpers providers share -------------------------------------------------------


def approx_message_tokens(messages: Sequence[Message]) -> int:
    """Estimate of a chat prompt's size, with a few tokens of template per message."""
    return sum(approx_tokens(m.content) + 4 for m in messages)


def json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent to providers for ``schema``."""
    return schema.model_json_schema()


_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_structured(text: str, schema: type[SchemaT]) -> tuple[SchemaT | None, str | None]:
    """Validate a model's reply against ``schema``; returns ``(object, None)`` or
    ``(None, error)``. A reply wrapped in a Markdown code fence is accepted."""
    fenced = _FENCE_RE.match(text)
    candidate = fenced.group(1) if fenced else text
    try:
        return schema.model_validate_json(candidate), None
    except ValidationError as exc:
        try:
            json.loads(candidate)
        except json.JSONDecodeError as jexc:
            return None, f"reply is not valid JSON ({jexc.msg} at position {jexc.pos})"
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        return None, f"reply does not match the {schema.__name__} schema: {errors}"


def parse_reply(
    text: str, schema: type[BaseModel] | None, finish_reason: FinishReason
) -> tuple[BaseModel | None, str | None]:
    """:func:`parse_structured` when a schema was asked for, saying when the reply was
    cut off; ``(None, None)`` without one."""
    if schema is None:
        return None, None
    parsed, error = parse_structured(text, schema)
    if error and finish_reason == "length":
        error = f"reply was cut off at the output token limit; {error}"
    return parsed, error


def make_completion(
    text: str,
    *,
    schema: type[BaseModel] | None,
    usage: Usage,
    finish_reason: FinishReason,
    started: float,
    model: str,
) -> Completion:
    """Build a :class:`Completion`, parsing ``text`` when a schema was asked for.

    ``started`` is a ``time.perf_counter()`` reading taken before the request.
    """
    parsed, error = parse_reply(text, schema, finish_reason)
    return Completion(
        text=text,
        parsed=parsed,
        parse_error=error,
        usage=usage,
        finish_reason=finish_reason,
        latency_s=time.perf_counter() - started,
        model=model,
    )


def check_fits(
    provider: str, model: str, prompt_tokens: int, max_tokens: int, context_window: int | None
) -> None:
    """Raise :class:`ContextWindowExceeded` before a call that could only be truncated."""
    if context_window is None:
        return
    if prompt_tokens + max_tokens > context_window:
        raise ContextWindowExceeded(
            f"the prompt needs about {prompt_tokens} tokens plus {max_tokens} for the reply, "
            f"but {model} has a context window of {context_window} tokens. Use a protocol "
            "that chunks the document (e.g. protocol='minions'), smaller chunks, or a model "
            "with a larger window.",
            provider=provider,
        )


# --- wrappers ---------------------------------------------------------------------


class WrapperClient(Client):
    """A client that adds behaviour around another one; it keeps its identity."""

    def __init__(self, wrapped: Client) -> None:
        self.wrapped = wrapped

    @property
    def provider(self) -> str:  # type: ignore[override]
        return self.wrapped.provider

    @property
    def defaults(self) -> Capabilities:  # type: ignore[override]
        return self.wrapped.defaults

    @property
    def model(self) -> str:  # type: ignore[override]
        return self.wrapped.model

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        return self.wrapped.capabilities

    @property
    def spec(self) -> str:
        return self.wrapped.spec

    @property
    def identity(self) -> str:
        return self.wrapped.identity

    def unwrap(self) -> Client:
        inner = self.wrapped
        return inner.unwrap() if isinstance(inner, WrapperClient) else inner

    async def aclose(self) -> None:
        await self.wrapped.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.wrapped!r}>"


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.transient


def _wait_for(base: Any, max_wait_s: float) -> Any:
    """Backoff, or the provider's Retry-After hint (capped at ``max_wait_s``) when given."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after_s", None)
        return min(float(hinted), max_wait_s) if hinted is not None else float(base(state))

    return wait


class RetryingClient(WrapperClient):
    """Retries transient provider errors with exponential backoff and jitter.

    Honours a provider's ``Retry-After`` hint. Other errors surface at once. The
    requests a call took are counted: a completion's ``usage.retries`` holds the
    attempts beyond the first, and a :class:`ProviderError` that ends the call has
    ``attempts`` set to all of them.
    """

    def __init__(
        self,
        wrapped: Client,
        *,
        attempts: int = 4,
        initial_wait_s: float = 1.0,
        max_wait_s: float = 30.0,
    ) -> None:
        super().__init__(wrapped)
        self.attempts = attempts
        self._wait = _wait_for(
            wait_exponential_jitter(multiplier=initial_wait_s, max=max_wait_s), max_wait_s
        )

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s: attempt %d of %d failed (%s); retrying",
            self.spec,
            state.attempt_number,
            self.attempts,
            exc,
        )

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                number = attempt.retry_state.attempt_number
                try:
                    completion = await self.wrapped.chat(messages, schema=schema, **options)
                except ProviderError as exc:
                    exc.attempts = number
                    raise
                if number == 1:
                    return completion
                usage = completion.usage + Usage(retries=number - 1)
                return completion.model_copy(update={"usage": usage})
        raise AssertionError("unreachable")  # pragma: no cover


class SchemaInPromptClient(WrapperClient):
    """Structured output for a provider that cannot constrain a reply to a JSON schema
    (``structured_output`` false in its capabilities): the schema is asked for in the
    prompt, the provider is called without one, and the reply is validated against it
    like any other (``Completion.parsed`` / ``parse_error``)."""

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        if schema is None:
            return await self.wrapped.chat(messages, **options)
        asked = render("json_schema", schema=json.dumps(json_schema(schema)))
        messages = list(messages)
        if messages and messages[-1].role == "user":
            last = messages.pop()
            asked = f"{last.content}\n\n{asked}"
        completion = await self.wrapped.chat([*messages, Message.user(asked)], **options)
        parsed, error = parse_reply(completion.text, schema, completion.finish_reason)
        return completion.model_copy(update={"parsed": parsed, "parse_error": error})


class LimitedClient(WrapperClient):
    """Allows at most ``limit`` calls in flight at once (per event loop)."""

    def __init__(self, wrapped: Client, limit: int) -> None:
        super().__init__(wrapped)
        self.limit = limit
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        inner = self.wrapped.capabilities
        return inner.model_copy(
            update={"max_parallel_requests": min(inner.max_parallel_requests, self.limit)}
        )

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        async with semaphore:
            return await self.wrapped.chat(messages, schema=schema, **options)
