"""Minion: the remote chats with the local model, which reads the whole context.

The remote never sees the documents. Each round it either asks the local model one
question or answers; the local model answers from the full context. The last round
forces an answer. The paper's "naive" protocol: cheapest, and weakest on long documents
because one small model must read everything at once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from minions.citations import locate_quote, quotes_in
from minions.clients.base import approx_message_tokens
from minions.errors import ContextWindowExceeded
from minions.protocol import BASIC, Protocol, ProtocolConfig
from minions.protocols.prompts import render
from minions.run import Run, render_documents, render_metadata
from minions.types import Message, QuotedPassage


class MinionConfig(ProtocolConfig):
    max_rounds: int = Field(
        default=3,
        ge=1,
        le=20,
        title="Questions",
        description="how many questions the remote may ask the local model before it must answer",
        json_schema_extra=BASIC,
    )
    local_max_tokens: int = Field(
        default=384, ge=16, title="Longest local reply (tokens)",
        description="the most tokens the local model may write per reply",
    )  # fmt: skip
    remote_max_tokens: int = Field(
        default=512, ge=16, title="Longest remote reply (tokens)",
        description="the most tokens the remote model may write per reply",
    )  # fmt: skip
    max_json_attempts: int = Field(
        default=3, ge=1, title="Tries for a well-formed reply",
        description="calls to get a remote reply in the expected JSON form",
    )  # fmt: skip


class RemoteTurn(BaseModel):
    decision: Literal["ask", "answer"]
    message: str


class Minion(Protocol[MinionConfig]):
    name = "minion"
    summary = "the remote asks the local model questions; the local model reads everything"
    Config = MinionConfig

    async def answer(self, run: Run) -> None:
        config = self.config
        local_history = [
            Message.system(render("minion_local_system", documents=render_documents(run.documents)))
        ]
        needed = approx_message_tokens(local_history) + config.local_max_tokens * config.max_rounds
        window = run.local.capabilities.context_window
        if window is not None and needed > window:
            raise ContextWindowExceeded(
                f"minion gives the local model every document at once (about {needed} tokens "
                f"with its replies) but {run.local.spec} takes {window}. Use protocol "
                "'minions', which reads the documents in chunks, or a local model with a "
                "larger window."
            )
        remote_history = [
            Message.system(
                render(
                    "minion_remote_system",
                    metadata=render_metadata(run.documents),
                    task=run.task,
                    max_rounds=config.max_rounds,
                )
            ),
            Message.user(render("minion_remote_start")),
        ]
        for index in range(1, config.max_rounds + 2):
            round_ = run.new_round()
            final = index > config.max_rounds
            turn = await run.call_json(
                "remote",
                remote_history,
                RemoteTurn,
                purpose="final answer" if final else "question",
                round=round_,
                attempts=config.max_json_attempts,
                max_tokens=config.remote_max_tokens,
            )
            remote_history.append(Message.assistant(turn.model_dump_json()))
            if turn.decision == "answer" or final:
                round_.decision = "final"
                run.answer = turn.message.strip()
                _cite(run)
                return
            round_.decision = "ask"
            local_history.append(Message.user(turn.message))
            reply = await run.call(
                "local",
                local_history,
                purpose="answer question",
                round=round_,
                max_tokens=config.local_max_tokens,
                temperature=0.0,
            )
            local_history.append(Message.assistant(reply.text))
            quotes = [locate_quote(q, run.documents) for q in quotes_in(reply.text)]
            round_.turns[-1].quotes = quotes
            last_question = index == config.max_rounds
            instruction = render(
                "minion_remote_final" if last_question else "minion_remote_continue"
            )
            remote_history.append(
                Message.user(
                    render(
                        "minion_remote_reply",
                        reply=reply.text,
                        checks=_quote_checks(quotes),
                        instruction=instruction,
                    )
                )
            )


def _quote_checks(quotes: list[QuotedPassage]) -> str:
    """What the remote is told of a reply's quotes: found where, or not found."""
    if not quotes:
        lines = [render("minion_quote_none")]
    else:
        lines = [
            render("minion_quote_found", quote=q.text, doc=q.doc, page=q.page)
            if q.verified
            else render("minion_quote_missing", quote=q.text)
            for q in quotes
        ]
    return render("minion_quote_checks", lines="\n" + "\n".join(lines))


def _cite(run: Run) -> None:
    """The run's citations: every verified quote of the local replies, with its
    document and page; a note when the local model replied but none verified."""
    turns = [t for r in run.rounds for t in r.turns if t.role == "local" and t.error is None]
    verified = [q for t in turns for q in t.quotes if q.verified]
    run.citations = list(dict.fromkeys(f'{q.doc}, p. {q.page}: "{q.text}"' for q in verified))
    if turns and not verified:
        run.note(
            "None of the passages the local model quoted were found in the documents: "
            "the answer rests on unverified replies."
        )
