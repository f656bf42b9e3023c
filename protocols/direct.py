"""The two baselines: the whole context in one call, to the remote or to the local model."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from minions.clients import Client
from minions.clients.base import approx_message_tokens
from minions.errors import ContextWindowExceeded
from minions.protocol import BASIC, Protocol, ProtocolConfig
from minions.run import Role, Run, direct_messages


class DirectConfig(ProtocolConfig):
    max_tokens: int = Field(
        default=1024,
        ge=16,
        title="Longest answer (tokens)",
        description="the most tokens the model may write in its answer",
        json_schema_extra=BASIC,
    )
    temperature: float = Field(
        default=0.0,
        ge=0.0,
        le=2.0,
        title="Temperature",
        description="randomness of the answer: 0 always picks the likeliest words",
    )


class _Direct(Protocol[DirectConfig]):
    """Sends the task and every document to one model in a single call."""

    Config = DirectConfig
    role: ClassVar[Role]

    async def answer(self, run: Run) -> None:
        config = self.config
        messages = direct_messages(run.task, run.documents)
        client = run.local if self.role == "local" else run.remote
        self._check_window(client, approx_message_tokens(messages) + config.max_tokens)
        round_ = run.new_round()
        completion = await run.call(
            self.role,
            messages,
            purpose="answer",
            round=round_,
            max_tokens=config.max_tokens,
            temperature=config.temperature,
        )
        round_.decision = "final"
        run.answer = completion.text.strip()
        if completion.truncated:
            run.notes.append(f"the answer was cut off at max_tokens={config.max_tokens}")

    def _check_window(self, client: Client, needed: int) -> None:
        window = client.capabilities.context_window
        if window is not None and needed > window:
            raise ContextWindowExceeded(
                f"{self.name} needs about {needed} tokens but {client.spec} takes {window}. "
                "Use protocol 'minions' (it reads the documents in chunks), fewer or shorter "
                "documents, a smaller max_tokens, or a model with a larger context window."
            )


class RemoteOnly(_Direct):
    name = "remote_only"
    summary = "baseline: the remote model reads every document in one call"
    role: ClassVar[Literal["remote"]] = "remote"


class LocalOnly(_Direct):
    name = "local_only"
    summary = "baseline: the local model reads every document in one call ($0)"
    role: ClassVar[Literal["local"]] = "local"
