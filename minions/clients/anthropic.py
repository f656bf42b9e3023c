"""``anthropic:`` — Claude through Anthropic's Messages API.

    get_client("anthropic:claude-sonnet-5-5")   # ANTHROPIC_API_KEY

Structured output has two forms, chosen with ``structured_output=``:

* ``"json"`` (the default): the API's JSON outputs, ``output_config.format`` with
  the schema in the form the API accepts (``anthropic.transform_schema``, what the
  SDK's own ``messages.parse`` sends). The reply is a text block of JSON. Every
  Claude model from 4.5 on supports it, and it works alongside thinking.
* ``"tool"``: a forced tool, one tool whose ``input_schema`` is the pydantic schema
  and ``tool_choice`` naming it; the ``tool_use`` block's ``input`` is the reply,
  serialised to JSON. It works on older models and Anthropic-compatible servers
  without JSON outputs, but the API rejects a forced tool when thinking is on, and
  current models (Claude 5 and later) think by default.

Either way the reply is validated against the pydantic model like every provider's.

System messages go in ``system=`` (the Messages API has no system role). The API
needs ``max_tokens`` on every call, so the client has a default.

The SDK (2.x) speaks API version 2026-10-21, which rejects ``temperature``,
``top_p`` and ``top_k`` with HTTP 400 even at their default values; the common
options ``temperature`` and ``seed`` (Anthropic has no seed) are therefore dropped,
with a log line the first time.

Anthropic's ``input_tokens`` excludes cached tokens; ``Usage.input_tokens`` counts
every prompt token, so cache reads and cache writes are added to it, and cache reads
are ``cached_input_tokens``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel

from minions.clients._sdk import PerLoop, import_sdk, schema_name, stainless_reply, without_none
from minions.clients.base import Capabilities, Client, SchemaT, json_schema, make_completion
from minions.errors import AuthenticationError
from minions.types import Completion, Message, Usage

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Claude models accept 200k tokens (some more, in beta).
CLAUDE_CONTEXT_WINDOW = 200_000

#: Common options the Messages API (version 2026-10-21) has no parameter for.
UNSUPPORTED_OPTIONS = ("temperature", "seed")

_LENGTH_STOPS = ("max_tokens", "model_context_window_exceeded")

#: what the SDK reads when no API key is given, besides ``defaults.key_env``
AUTH_TOKEN_ENV = "ANTHROPIC_AUTH_TOKEN"


class AnthropicClient(Client):
    provider: ClassVar[str] = "anthropic"
    defaults: ClassVar[Capabilities] = Capabilities(
        max_parallel_requests=8,
        key_env="ANTHROPIC_API_KEY",
        needs_key=True,
        examples=("anthropic:claude-haiku-4-5", "anthropic:claude-sonnet-4-5"),
    )

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_tokens: int = 4096,
        structured_output: Literal["json", "tool"] = "json",
        context_window: int | None = None,
        max_parallel_requests: int | None = None,
        timeout_s: float | None = None,
        http_client: Any = None,
    ) -> None:
        """``api_key`` defaults to ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``);
        ``max_tokens`` is the reply budget when a call sets none; ``structured_output``
        picks JSON outputs or a forced tool (see the module); ``http_client`` is an
        ``httpx2.AsyncClient`` the SDK sends through (tests pass a ``MockTransport``)."""
        sdk = import_sdk("anthropic", "anthropic", "the anthropic: provider")
        self._anthropic = sdk
        if context_window is None and model.startswith("claude"):
            context_window = CLAUDE_CONTEXT_WINDOW
        self.capabilities = self.defaults.derive(
            context_window=context_window,
            **without_none(max_parallel_requests=max_parallel_requests),
        )
        if not (api_key or self.capabilities.key_from_env() or os.environ.get(AUTH_TOKEN_ENV)):
            raise AuthenticationError(
                f"no API key: set {self.capabilities.key_env} (or pass api_key=...)",
                provider=self.provider,
            )
        self.model = model
        self.base_url = base_url
        self.max_tokens = max_tokens
        self.structured_output = structured_output
        self._dropped_logged = False
        sdk_options = without_none(
            api_key=api_key or self.capabilities.key_from_env(),
            base_url=base_url,
            timeout=timeout_s,
            http_client=http_client,
        )
        # our RetryingClient is the one retry policy
        self._clients = PerLoop(lambda: sdk.AsyncAnthropic(max_retries=0, **sdk_options))

    @property
    def server(self) -> str:
        return self.base_url or "api.anthropic.com"

    @property
    def identity(self) -> str:
        return f"{self.spec}@{self.server} max_tokens={self.max_tokens}"

    async def _reply(self, request: Awaitable[T]) -> T:
        """``request``'s reply, with our errors for the SDK's."""
        return await stainless_reply(
            self._anthropic,
            request,
            provider=self.provider,
            server=self.server,
            key_hint=f"Set {self.capabilities.key_env} to a valid key (or pass api_key=...).",
            not_found_hint=(
                f"Check the model name {self.model!r}; the current ones are listed at "
                "https://docs.anthropic.com/en/docs/about-claude/models"
            ),
        )

    def _drop_unsupported(self, options: dict[str, Any]) -> None:
        dropped = [name for name in UNSUPPORTED_OPTIONS if options.pop(name, None) is not None]
        if dropped and not self._dropped_logged:
            self._dropped_logged = True
            logger.info(
                "%s: ignoring %s; the Messages API has no such parameter",
                self.spec,
                ", ".join(dropped),
            )

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        started = time.perf_counter()
        extra = dict(options)
        self._drop_unsupported(extra)
        stop = extra.pop("stop", None)
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        request = without_none(
            max_tokens=int(extra.pop("max_tokens", None) or self.max_tokens),
            system=system or None,
            stop_sequences=[stop] if isinstance(stop, str) else stop,
        )
        tool = None
        if schema is not None and self.structured_output == "tool":
            tool = _reply_tool(schema)
            request.update(tools=[tool], tool_choice={"type": "tool", "name": tool["name"]})
        elif schema is not None:
            json_format = {
                "type": "json_schema",
                "schema": self._anthropic.transform_schema(schema),
            }
            request["output_config"] = {**extra.pop("output_config", {}), "format": json_format}
        response = await self._reply(
            self._clients.get().messages.create(
                model=self.model,
                messages=[
                    {"role": m.role, "content": m.content} for m in messages if m.role != "system"
                ],
                extra_body=extra or None,  # anything else goes to the API as is
                **request,
            )
        )
        return make_completion(
            _reply_text(response.content, tool),
            schema=schema,
            usage=_usage(response.usage),
            finish_reason="length" if response.stop_reason in _LENGTH_STOPS else "stop",
            started=started,
            model=self.model,
        )

    async def aclose(self) -> None:
        await self._clients.aclose()


def _reply_tool(schema: type[BaseModel]) -> dict[str, Any]:
    name = schema_name(schema)
    purpose = (schema.__doc__ or "").strip()
    return {
        "name": name,
        "description": f"Give your reply as a {name} object. {purpose}".strip(),
        "input_schema": json_schema(schema),
    }


def _reply_text(blocks: Sequence[Any], tool: dict[str, Any] | None) -> str:
    """The forced tool's input as JSON; else (or if the model did not call it, e.g.
    when cut off) the text blocks."""
    if tool is not None:
        for block in blocks:
            if block.type == "tool_use" and block.name == tool["name"]:
                return json.dumps(block.input, ensure_ascii=False)
    return "".join(block.text for block in blocks if block.type == "text")


def _usage(reported: Any) -> Usage:
    cache_read = reported.cache_read_input_tokens or 0
    cache_write = reported.cache_creation_input_tokens or 0
    return Usage(
        input_tokens=reported.input_tokens + cache_read + cache_write,
        output_tokens=reported.output_tokens,
        cached_input_tokens=cache_read,
        calls=1,
    )
