"""``openai:`` — OpenAI's Chat Completions API, or any server that speaks it.

    get_client("openai:gpt-4o-mini")                                   # OPENAI_API_KEY
    get_client("openai:qwen2.5-7b", base_url="http://localhost:8000/v1", local=True)

With a ``base_url`` (argument or ``OPENAI_BASE_URL``) the client talks to any
OpenAI-compatible server: vLLM, llama.cpp's server, LM Studio, Ollama's ``/v1``. Such
servers rarely need a key, so none is required there; ``local=True`` marks the server
as running on the user's machine (priced at $0).

Chat Completions is used rather than the Responses API because every compatible
server implements it.

Structured output is ``response_format={"type": "json_schema", ...}`` in strict mode,
with the schema made strict the way the SDK's own ``parse()`` does it
(``openai.pydantic_function_tool``: every property required, ``additionalProperties:
false``). The reply is still validated against the pydantic model, so defaults lose
nothing. A server or schema that rejects strict mode can use ``strict=False``.

Reply length is capped with ``max_completion_tokens`` on api.openai.com (reasoning
models reject ``max_tokens``) and with ``max_tokens`` on other servers (the name they
all know).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from minions.clients._sdk import PerLoop, import_sdk, schema_name, stainless_reply, without_none
from minions.clients.base import (
    Capabilities,
    Client,
    SchemaT,
    approx_message_tokens,
    make_completion,
)
from minions.errors import AuthenticationError
from minions.tokens import approx_tokens
from minions.types import Completion, Message, Usage

T = TypeVar("T")

#: Context windows of OpenAI models by name prefix (the longest matching prefix wins).
CONTEXT_WINDOWS = {
    "gpt-3.5-turbo": 16_385,
    "gpt-4-turbo": 128_000,
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o1-mini": 128_000,
    "o3": 200_000,
    "o4-mini": 200_000,
}

NO_KEY_NEEDED = "not-needed"


def known_context_window(model: str) -> int | None:
    matches = [prefix for prefix in CONTEXT_WINDOWS if model.startswith(prefix)]
    return CONTEXT_WINDOWS[max(matches, key=len)] if matches else None


class OpenAIClient(Client):
    provider: ClassVar[str] = "openai"
    defaults: ClassVar[Capabilities] = Capabilities(
        max_parallel_requests=8,
        key_env="OPENAI_API_KEY",
        needs_key=True,
        examples=("openai:gpt-4o-mini", "openai:gpt-4o", "openai:MODEL with base_url= (vLLM, ...)"),
    )

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        local: bool = False,
        strict: bool = True,
        context_window: int | None = None,
        max_parallel_requests: int | None = None,
        timeout_s: float | None = None,
        http_client: Any = None,
    ) -> None:
        """``api_key`` defaults to ``OPENAI_API_KEY`` (optional with a ``base_url``);
        ``base_url`` to ``OPENAI_BASE_URL``; ``context_window`` to a table of OpenAI
        models (unknown for other servers); ``http_client`` is an ``httpx2.AsyncClient``
        the SDK sends through (tests pass one with a ``MockTransport``)."""
        sdk = import_sdk("openai", "openai", "the openai: provider")
        self._openai = sdk
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        if context_window is None and self.base_url is None:
            context_window = known_context_window(model)
        self.capabilities = self.defaults.derive(
            context_window=context_window,
            local=local,
            needs_key=self.base_url is None,  # compatible servers rarely want one
            **without_none(max_parallel_requests=max_parallel_requests),
        )
        key = api_key or self.capabilities.key_from_env()
        if not key and self.capabilities.needs_key:
            raise AuthenticationError(
                f"no API key: set {self.capabilities.key_env} (or pass api_key=...); for "
                "an OpenAI-compatible server without a key, pass base_url=... or set "
                "OPENAI_BASE_URL",
                provider=self.provider,
            )
        self.strict = strict
        sdk_options = without_none(
            api_key=key or NO_KEY_NEEDED,
            base_url=self.base_url,
            organization=organization,
            timeout=timeout_s,
            http_client=http_client,
        )
        # our RetryingClient is the one retry policy
        self._clients = PerLoop(lambda: sdk.AsyncOpenAI(max_retries=0, **sdk_options))

    @property
    def server(self) -> str:
        return self.base_url or "api.openai.com"

    @property
    def identity(self) -> str:
        return f"{self.spec}@{self.server}"

    async def _reply(self, request: Awaitable[T]) -> T:
        """``request``'s reply, with our errors for the SDK's."""
        where = f" served by {self.base_url}" if self.base_url else ""
        return await stainless_reply(
            self._openai,
            request,
            provider=self.provider,
            server=self.server,
            key_hint=f"Set {self.capabilities.key_env} to a valid key (or pass api_key=...).",
            not_found_hint=(
                f"Check that the model {self.model!r} exists{where} and the key can use "
                "it (an OpenAI-compatible base URL usually ends in /v1)."
            ),
        )

    def _response_format(self, schema: type[BaseModel]) -> dict[str, Any]:
        if self.strict:
            tool = self._openai.pydantic_function_tool(schema)
            body = tool["function"]["parameters"]
        else:
            body = schema.model_json_schema()
        return {
            "type": "json_schema",
            "json_schema": {"name": schema_name(schema), "schema": body, "strict": self.strict},
        }

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
        length_option = "max_tokens" if self.base_url else "max_completion_tokens"
        request = without_none(
            temperature=extra.pop("temperature", None),
            seed=extra.pop("seed", None),
            stop=extra.pop("stop", None),
            response_format=self._response_format(schema) if schema is not None else None,
            **{length_option: extra.pop("max_tokens", None)},
        )
        response = await self._reply(
            self._clients.get().chat.completions.create(
                model=self.model,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                extra_body=extra or None,  # anything else goes to the server as is
                **request,
            )
        )
        choice = response.choices[0]
        # a refusal under a schema comes in its own field; keep it visible as the text
        text = choice.message.content or choice.message.refusal or ""
        return make_completion(
            text,
            schema=schema,
            usage=_usage(response.usage, messages, text),
            finish_reason="length" if choice.finish_reason == "length" else "stop",
            started=started,
            model=self.model,
        )

    async def aclose(self) -> None:
        await self._clients.aclose()


def _usage(reported: Any, messages: list[Message], text: str) -> Usage:
    if reported is None:
        # some compatible servers omit usage; count the text instead of reporting zero
        return Usage(
            input_tokens=approx_message_tokens(messages),
            output_tokens=approx_tokens(text),
            calls=1,
        )
    details = reported.prompt_tokens_details
    return Usage(
        input_tokens=reported.prompt_tokens,
        output_tokens=reported.completion_tokens,
        cached_input_tokens=(details.cached_tokens or 0) if details else 0,
        calls=1,
    )
