"""``ollama:`` — a model served by a local (or remote) Ollama server.

    client = get_client("ollama:qwen2.5:3b")   # host from OLLAMA_HOST or 127.0.0.1:11434

Structured output goes through Ollama's ``format=<JSON schema>``. The context window
(``num_ctx``) is sized to each request, because Ollama's default is small and it
silently drops the start of a prompt that does not fit:

* the prompt is estimated (:func:`approx_message_tokens`) and the reply budget
  (``max_tokens``, sent as ``num_predict``) added;
* a request that cannot fit the model's window raises :class:`ContextWindowExceeded`
  before anything is sent;
* ``num_ctx`` is that need rounded up to a multiple of 2048, at least 4096 and at most
  the model's window. It never shrinks between calls of one client: a changed
  ``num_ctx`` makes Ollama reload the model and lose its prompt cache.

The model's window is ``context_window=`` when given, else learned once from
``/api/show`` (``<architecture>.context_length``) and cached, else 32768.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from minions.clients._sdk import (
    NOT_JSON,
    PerLoop,
    error_for_status,
    import_sdk,
    not_json_error,
    retry_after_s,
)
from minions.clients.base import (
    Capabilities,
    Client,
    SchemaT,
    approx_message_tokens,
    check_fits,
    json_schema,
    make_completion,
)
from minions.errors import ConfigurationError, ProviderError, TransientProviderError
from minions.tokens import approx_tokens
from minions.types import Completion, Message, Usage

logger = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 32_768
NUM_CTX_STEP = 2048
MIN_NUM_CTX = 4096


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return max(1, int(value))
    except ValueError:
        logger.warning("ignoring %s=%r: not a whole number", name, value)
        return default


def size_num_ctx(needed: int, context_window: int) -> int:
    """``needed`` tokens rounded up to a multiple of 2048, within [4096, window]."""
    rounded = max(MIN_NUM_CTX, math.ceil(needed / NUM_CTX_STEP) * NUM_CTX_STEP)
    return min(rounded, context_window)


class OllamaClient(Client):
    provider: ClassVar[str] = "ollama"
    #: a key only for hosts that ask for one (ollama.com); the SDK reads the variable
    defaults: ClassVar[Capabilities] = Capabilities(
        context_window=DEFAULT_CONTEXT_WINDOW,
        local=True,
        key_env="OLLAMA_API_KEY",
        examples=("ollama:qwen2.5:3b", "ollama:MODEL (any model the server has)"),
    )

    def __init__(
        self,
        model: str,
        *,
        host: str | None = None,
        context_window: int | None = None,
        max_tokens: int = 2048,
        keep_alive: str | float | None = "10m",
        timeout_s: float | None = None,
        max_parallel_requests: int | None = None,
        transport: Any = None,
    ) -> None:
        """``host`` defaults to ``OLLAMA_HOST``; ``context_window`` to what the server
        reports for the model; ``max_tokens`` is the reply budget when a call sets
        none; ``max_parallel_requests`` defaults to ``OLLAMA_NUM_PARALLEL`` or 1;
        ``transport`` is an ``httpx`` transport (tests pass a ``MockTransport``)."""
        if not model:
            raise ConfigurationError("ollama: needs a model, e.g. 'ollama:qwen2.5:3b'")
        self._ollama = import_sdk("ollama", "ollama", "the ollama: provider")
        self._httpx = import_sdk("httpx", "ollama", "the ollama: provider")
        self.model = model
        self.host = host or os.environ.get("OLLAMA_HOST") or None
        self.max_tokens = max_tokens
        self.keep_alive = keep_alive
        self._context_window = context_window
        self._num_ctx = 0
        http_options = {"transport": transport} if transport is not None else {}
        self._clients = PerLoop(
            lambda: self._ollama.AsyncClient(self.host, timeout=timeout_s, **http_options)
        )
        self.capabilities = self.defaults.derive(
            context_window=context_window or self.defaults.context_window,
            max_parallel_requests=max_parallel_requests or _env_int("OLLAMA_NUM_PARALLEL", 1),
        )

    @property
    def host_label(self) -> str:
        return self.host or "http://127.0.0.1:11434"

    @property
    def identity(self) -> str:
        return f"{self.spec}@{self.host_label} max_tokens={self.max_tokens}"

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._ollama.ResponseError as exc:
            raise error_for_status(
                self.provider,
                exc.status_code,
                str(exc.error),
                key_hint=f"Set {self.capabilities.key_env} to a valid key for this Ollama host.",
                not_found_hint=f"Download the model with `ollama pull {self.model}`.",
                retry_after=_retry_after(exc),
            ) from exc
        except NOT_JSON as exc:
            raise not_json_error(self.provider, self.host_label, exc) from exc
        except ConnectionError as exc:
            # the SDK's translation of "connection refused": nothing listens there, and
            # retrying within seconds will not start a server
            raise ProviderError(
                f"no Ollama server at {self.host_label}; start it with `ollama serve` "
                "or set OLLAMA_HOST",
                provider=self.provider,
            ) from exc
        except self._httpx.TimeoutException as exc:
            raise TransientProviderError(
                f"the request to {self.host_label} timed out; retry later or raise timeout_s",
                provider=self.provider,
            ) from exc
        except self._httpx.TransportError as exc:
            raise TransientProviderError(
                f"the connection to {self.host_label} failed ({exc!r}); retry later",
                provider=self.provider,
            ) from exc

    async def context_window(self) -> int:
        """The model's window: given, or learned once from the server and cached."""
        if self._context_window is None:
            with self._errors():
                shown = await self._clients.get().show(self.model)
            self._context_window = _window_from_model_info(shown.modelinfo or {})
            self.capabilities = self.capabilities.model_copy(
                update={"context_window": self._context_window}
            )
            logger.debug("%s: context window %d", self.spec, self._context_window)
        return self._context_window

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        started = time.perf_counter()
        messages = list(messages)
        extra = dict(options)
        max_tokens = int(extra.pop("max_tokens", None) or self.max_tokens)
        keep_alive = extra.pop("keep_alive", self.keep_alive)
        think = extra.pop("think", None)
        fixed_num_ctx = extra.pop("num_ctx", None)  # a caller's own num_ctx is used as is
        window = int(fixed_num_ctx) if fixed_num_ctx else await self.context_window()
        prompt_tokens = approx_message_tokens(messages)
        check_fits(self.provider, self.model, prompt_tokens, max_tokens, window)
        if fixed_num_ctx:
            num_ctx = window
        else:
            self._num_ctx = max(self._num_ctx, size_num_ctx(prompt_tokens + max_tokens, window))
            num_ctx = self._num_ctx
        # temperature, seed, stop and anything else are Ollama options of the same name
        ollama_options = {"num_ctx": num_ctx, "num_predict": max_tokens, **extra}
        with self._errors():
            response = await self._clients.get().chat(
                model=self.model,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                format=json_schema(schema) if schema is not None else None,
                options=ollama_options,
                keep_alive=keep_alive,
                think=think,
            )
        text = response.message.content or ""
        usage = Usage(
            # the count is missing when a server served the whole prompt from its cache
            input_tokens=response.prompt_eval_count or prompt_tokens,
            output_tokens=response.eval_count or approx_tokens(text),
            # Ollama reports prompt_eval_cached_count since 0.33; SDK 0.6.3 drops it
            cached_input_tokens=getattr(response, "prompt_eval_cached_count", None) or 0,
            calls=1,
        )
        return make_completion(
            text,
            schema=schema,
            usage=usage,
            finish_reason="length" if response.done_reason == "length" else "stop",
            started=started,
            model=self.model,
        )

    async def aclose(self) -> None:
        await self._clients.aclose()


def _retry_after(exc: BaseException) -> float | None:
    """The ``Retry-After`` of a failed request. The SDK's ``ResponseError`` drops the
    HTTP response, but it is raised while handling httpx's error, which keeps it."""
    response = getattr(exc.__context__, "response", None)
    return None if response is None else retry_after_s(response.headers)


def _window_from_model_info(model_info: dict[str, Any]) -> int:
    arch = model_info.get("general.architecture")
    value = model_info.get(f"{arch}.context_length")
    if isinstance(value, int) and value > 0:
        return value
    logger.debug("no <arch>.context_length in model_info; assuming %d", DEFAULT_CONTEXT_WINDOW)
    return DEFAULT_CONTEXT_WINDOW
