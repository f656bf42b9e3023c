"""``scripted:`` — a deterministic client for tests and dry runs.

Replies come from a list (one per call, in order) or from a function of the messages.
A reply can be a string, a pydantic object or dict (sent as JSON), a
:class:`ScriptedReply` (to set the finish reason or a delay), or an exception
instance (raised instead of replying). Usage is realistic: token counts of the text.

    client = get_client("scripted:", replies=["first answer", {"answer": 42}])
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from pydantic import BaseModel

from minions.clients.base import (
    Capabilities,
    Client,
    SchemaT,
    approx_message_tokens,
    check_fits,
    make_completion,
)
from minions.errors import MinionsError, TransientProviderError
from minions.tokens import approx_tokens
from minions.types import Completion, FinishReason, Message, Usage


@dataclass(frozen=True)
class ScriptedReply:
    """A reply with control over how it is delivered."""

    text: str
    finish_reason: FinishReason = "stop"
    delay_s: float = 0.0


Reply = Union[str, BaseModel, dict, list, ScriptedReply, BaseException]  # noqa: UP007
ReplyFunction = Callable[[list[Message]], Reply]


@dataclass
class ScriptedCall:
    """What the client was asked, kept for assertions."""

    messages: list[Message]
    schema: type[BaseModel] | None
    options: dict[str, Any] = field(default_factory=dict)
    completion: Completion | None = None  # None when the call raised


class ScriptExhausted(MinionsError):
    """Every scripted reply was used and another call came."""


class ScriptedClient(Client):
    provider: ClassVar[str] = "scripted"
    defaults: ClassVar[Capabilities] = Capabilities(
        context_window=128_000, max_parallel_requests=4, examples=("scripted: (a test double)",)
    )

    def __init__(
        self,
        model: str = "",
        *,
        replies: Sequence[Reply] | ReplyFunction = (),
        fail_first: int = 0,
        delay_s: float = 0.0,
        context_window: int | None = defaults.context_window,
        max_parallel_requests: int = defaults.max_parallel_requests,
        local: bool = defaults.local,
    ) -> None:
        """``fail_first`` raises a transient (rate-limit) error on the first N calls;
        ``delay_s`` makes every call slow; ``local`` marks the client as a local model."""
        self.model = model or "scripted"
        self._replies = replies if callable(replies) else list(replies)
        self._next = 0
        self.fail_first = fail_first
        self.delay_s = delay_s
        self.calls: list[ScriptedCall] = []
        self.capabilities = self.defaults.derive(
            context_window=context_window,
            max_parallel_requests=max_parallel_requests,
            local=local,
        )

    def _reply_for(self, messages: list[Message]) -> Reply:
        if callable(self._replies):
            return self._replies(messages)
        if self._next >= len(self._replies):
            last = messages[-1].content[:200] if messages else ""
            raise ScriptExhausted(
                f"scripted client {self.model!r} has no reply left for call "
                f"{self._next + 1} (it was given {len(self._replies)}); last message: {last!r}"
            )
        reply = self._replies[self._next]
        self._next += 1
        return reply

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        started = time.perf_counter()
        messages = list(messages)
        call = ScriptedCall(messages, schema, dict(options))
        self.calls.append(call)
        prompt_tokens = approx_message_tokens(messages)
        check_fits(
            self.provider,
            self.model,
            prompt_tokens,
            int(options.get("max_tokens") or 0),
            self.capabilities.context_window,
        )
        if len(self.calls) <= self.fail_first:
            raise TransientProviderError(
                "rate limit reached (scripted failure)",
                provider=self.provider,
                status_code=429,
                retry_after_s=0.001,
            )
        reply = self._reply_for(messages)
        if isinstance(reply, BaseException):
            raise reply
        if not isinstance(reply, ScriptedReply):
            reply = ScriptedReply(text=_as_text(reply))
        delay = reply.delay_s or self.delay_s
        if delay:
            await asyncio.sleep(delay)
        usage = Usage(input_tokens=prompt_tokens, output_tokens=approx_tokens(reply.text), calls=1)
        call.completion = make_completion(
            reply.text,
            schema=schema,
            usage=usage,
            finish_reason=reply.finish_reason,
            started=started,
            model=self.model,
        )
        return call.completion


def _as_text(reply: Reply) -> str:
    if isinstance(reply, str):
        return reply
    if isinstance(reply, BaseModel):
        return reply.model_dump_json()
    return json.dumps(reply)
