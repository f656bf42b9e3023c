"""What every protocol run shares: metering, events, limits, timings and the Result.

A protocol creates a :class:`Run`, makes every model call through :meth:`Run.call`
(which checks the run's :class:`~minions.limits.Limits`, meters tokens, seconds and
dollars, records the turn and emits an event) and ends with :meth:`Run.execute`, which
bounds the protocol by the wall-time limit and turns limits and provider failures into
a saved, partial :class:`~minions.types.Result` instead of a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import typing
import uuid
from collections.abc import Awaitable, Iterator, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from minions.clients import Client
from minions.clients.base import approx_message_tokens
from minions.documents import Document
from minions.errors import BudgetExceeded, ConfigurationError, MinionsError, ProtocolError
from minions.events import (
    Events,
    LocalCall,
    Note,
    RemoteCall,
    RunFinished,
    RunStarted,
    Sink,
    as_events,
)
from minions.limits import Limits
from minions.pii_names import find_names
from minions.pricing import price
from minions.privacy import Meter
from minions.prompts import render
from minions.shield import Shield
from minions.tokens import approx_tokens
from minions.types import Completion, Cost, Message, Result, Round, RunStatus, Timings, Turn, Usage


class Owner(typing.Protocol):
    """What a run is of: a protocol (:class:`minions.protocol.Protocol`), or another
    piece of work that meters its calls the same way (an extraction). The Result
    names it and records its config."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> BaseModel: ...


logger = logging.getLogger(__name__)

#: characters of a cut-off reply quoted back when it is re-asked
CUT_SHOWN = 200

#: "strict": sensitive values reach the remote as placeholders (:mod:`minions.shield`);
#: "strict+names": the same, with the local model's name pass first (:mod:`minions.pii_names`)
Privacy = Literal["off", "strict", "strict+names"]
Role = Literal["local", "remote"]
SchemaT = TypeVar("SchemaT", bound=BaseModel)


# --- how documents appear in prompts -------------------------------------------------


def render_documents(documents: Sequence[Document]) -> str:
    """The full text of ``documents`` with page markers, for models that read it all."""
    return "\n\n".join(
        render(
            "document",
            name=doc.name,
            page_count=len(doc.pages),
            body="\n".join(
                render("page", number=i, text=text) for i, text in enumerate(doc.pages, 1)
            ),
        )
        for doc in documents
    )


def render_metadata(documents: Sequence[Document]) -> str:
    """One line per document (name, type, size) for a remote that never sees the text."""
    return "\n".join(
        render(
            "metadata_line",
            name=doc.name,
            type=doc.metadata.type,
            page_count=len(doc.pages),
            tokens=doc.metadata.approx_tokens,
        )
        for doc in documents
    )


def direct_messages(task: str, documents: Sequence[Document]) -> list[Message]:
    """The single call that answers ``task`` with every document in the prompt."""
    return [
        Message.system(render("direct_system")),
        Message.user(render("direct_user", documents=render_documents(documents), task=task)),
    ]


def remote_only_usage(task: str, documents: Sequence[Document], answer: str | None) -> Usage:
    """What sending everything to the remote in one call would use: the whole prompt in,
    an answer as long as this run's out."""
    return Usage(
        input_tokens=approx_message_tokens(direct_messages(task, documents)),
        output_tokens=approx_tokens(answer or ""),
        calls=1,
    )


def failed_usage(exc: BaseException) -> Usage:
    """What a call that raised used: one call, and the retries the wrapper made."""
    return Usage(calls=1, retries=getattr(exc, "attempts", 1) - 1)


def _rehydrated(completion: Completion, shield: Shield) -> Completion:
    """``completion`` with the shield's placeholders back to their values, in its text
    and its parsed reply."""
    parsed = completion.parsed
    if parsed is not None:
        parsed = type(parsed).model_validate(shield.rehydrate_data(parsed.model_dump()))
    return completion.model_copy(
        update={"text": shield.rehydrate(completion.text), "parsed": parsed}
    )


def _busy_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


class Run:
    """One run of a protocol: the ledger of calls, rounds and the answer so far."""

    def __init__(
        self,
        protocol: Owner,
        task: str,
        documents: Sequence[Document],
        *,
        local: Client,
        remote: Client,
        events: Events | Sink | None = None,
        price_as: str | None = None,
        limits: Limits | None = None,
        privacy: Privacy = "off",
    ) -> None:
        if not task or not task.strip():
            raise ConfigurationError("the task is empty; pass the question to answer")
        self.id = uuid.uuid4().hex[:12]
        self.protocol = protocol
        self.task = task.strip()
        self.documents = list(documents)
        #: what of the documents the remote calls were sent (:mod:`minions.privacy`)
        self.exposure = Meter(self.documents)
        self.privacy = privacy
        #: unless privacy is "off", what masks remote-bound text (:mod:`minions.shield`);
        #: under "strict+names" it is built after the name pass
        self._shield = Shield(self.documents, self.task) if privacy == "strict" else None
        self.local = local
        self.remote = remote
        self.events = as_events(events)
        self.price_spec = price_as or remote.spec
        self._remote_is_free = price_as is None and remote.capabilities.local
        self.limits = limits or Limits()
        self._remote_calls = 0  # started, so concurrent calls cannot overshoot the limit
        self.usage: dict[str, Usage] = {"local": Usage(), "remote": Usage()}
        # our token estimate of the remote's calls, to calibrate the remote-only estimate
        self._remote_estimate = Usage()
        self.rounds: list[Round] = []
        self.answer: str | None = None
        self.citations: list[str] = []
        self.notes: list[str] = []
        self._intervals: dict[str, list[tuple[float, float]]] = {
            "local": [],
            "remote": [],
            "sandbox": [],
        }
        self._started = time.perf_counter()
        if self.limits.max_remote_usd is not None and self.remote_usd() is None:
            raise ConfigurationError(
                f"max_remote_usd is set but {self.price_spec} has no known price; pass "
                "price_as='provider:model' (e.g. 'openai:gpt-4o') so the budget can be enforced"
            )

    # --- metering --------------------------------------------------------------------

    def remote_usd(self, usage: Usage | None = None) -> float | None:
        usage = self.usage["remote"] if usage is None else usage
        return price(usage, self.price_spec, local=self._remote_is_free or None).usd

    def elapsed_s(self) -> float:
        return time.perf_counter() - self._started

    @contextlib.contextmanager
    def timed(self, what: Literal["sandbox"]) -> Iterator[None]:
        """Count the time in this block as ``what``'s in the Result's timings (the
        model calls are timed by :meth:`call`)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._intervals[what].append((started, time.perf_counter()))

    def _check_limits(self, role: Role) -> None:
        """Before a call: :meth:`Limits.check_before_call` with what the run has used."""
        pricing = role == "remote" and self.limits.max_remote_usd is not None
        self.limits.check_before_call(
            role,
            elapsed_s=self.elapsed_s(),
            remote_calls=self._remote_calls,
            remote_usd=self.remote_usd() if pricing else None,
        )
        if role == "remote":
            self._remote_calls += 1

    def note(self, text: str, round: Round | None = None) -> None:
        """Tell the user something about the run: in the Result's notes (and the round's),
        the events, and so the CLI and the app."""
        logger.info("run %s: %s", self.id, text)
        if text not in self.notes:
            self.notes.append(text)
        if round is not None:
            round.notes.append(text)
        self.events(Note(run_id=self.id, round=round.index if round else 0, text=text))

    def new_round(self) -> Round:
        round_ = Round(index=len(self.rounds) + 1)
        self.rounds.append(round_)
        return round_

    async def call(
        self,
        role: Role,
        messages: Sequence[Message],
        *,
        purpose: str,
        round: Round | None,
        schema: type[BaseModel] | None = None,
        record: bool = True,
        **options: Any,
    ) -> Completion:
        """Call the ``role``'s model, metering it and recording the turn in ``round``.

        ``record=False`` meters without recording a turn or emitting a call event
        (jobs are recorded as jobs). Errors, and a call cancelled (by the wall-time
        limit, or a failed sibling), are recorded as one call, then raised.
        """
        client = self.local if role == "local" else self.remote
        self._check_limits(role)
        shield = self._shield if role == "remote" else None
        if role == "remote" and shield is None and self.privacy != "off":
            raise ProtocolError(f'a remote call before privacy "{self.privacy}" was ready')
        if shield is not None:  # what leaves the machine, as it is recorded and metered
            messages = [m.model_copy(update={"content": shield.mask(m.content)}) for m in messages]
        prompt = messages[-1].content if messages else ""
        if role == "remote":  # sent, whether or not the call then succeeds
            self.exposure.measure(messages, purpose, round.index if round is not None else 0)
        started = time.perf_counter()
        try:
            completion = await client.chat(messages, schema=schema, **options)
        except (Exception, asyncio.CancelledError) as exc:  # metered and recorded, then raised
            self._intervals[role].append((started, time.perf_counter()))
            failed = failed_usage(exc)
            self.usage[role] += failed
            if record:
                error = str(exc) or f"{type(exc).__name__}: the call did not return"
                self._record(role, purpose, round, prompt, "", failed, 0.0, error)
            raise
        self._intervals[role].append((started, time.perf_counter()))
        self.usage[role] += completion.usage
        if role == "remote":
            self._remote_estimate += Usage(
                input_tokens=approx_message_tokens(messages),
                output_tokens=approx_tokens(completion.text),
            )
        if record:
            self._record(
                role,
                purpose,
                round,
                prompt,
                completion.text,
                completion.usage,
                completion.latency_s,
                None,
            )
        if shield is not None:  # the protocol reads real values; the Result keeps the reply
            completion = _rehydrated(completion, shield)
        return completion

    def _record(
        self,
        role: Role,
        purpose: str,
        round: Round | None,
        prompt: str,
        reply: str,
        usage: Usage,
        latency_s: float,
        error: str | None,
    ) -> None:
        turn = Turn(
            role=role,
            purpose=purpose,
            prompt=prompt,
            reply=reply,
            usage=usage,
            latency_s=latency_s,
            error=error,
        )
        if round is not None:
            round.turns.append(turn)
        fields = turn.model_dump(exclude={"role", "quotes"})
        index = round.index if round is not None else 0
        if role == "remote":
            usd = self.remote_usd(usage)
            self.events(RemoteCall(run_id=self.id, round=index, usd=usd, **fields))
        else:
            self.events(LocalCall(run_id=self.id, round=index, **fields))

    async def call_json(
        self,
        role: Role,
        messages: Sequence[Message],
        schema: type[SchemaT],
        *,
        purpose: str,
        round: Round | None,
        attempts: int = 3,
        **options: Any,
    ) -> SchemaT:
        """Ask for a reply matching ``schema``; a malformed reply is re-asked with the
        parse error, and one cut off at the output limit with its start and a request
        for less, up to ``attempts`` calls in all (each failure is noted in the round).
        :class:`ProtocolError` when every try failed."""
        conversation = list(messages)
        for attempt in range(1, attempts + 1):
            completion = await self.call(
                role, conversation, purpose=purpose, round=round, schema=schema, **options
            )
            if completion.parsed is not None:
                return completion.parsed
            note = f"{role} {purpose} reply {attempt}/{attempts} unusable: {completion.parse_error}"
            logger.info(note)
            if round is not None:
                round.notes.append(note)
            if completion.truncated:
                # a reply cut off at the limit is often a loop, and shown whole it is
                # written again: the re-ask quotes its start and asks for less
                start = completion.text[:CUT_SHOWN] + " ..."
                conversation = [*messages, Message.user(render("json_retry_cut", start=start))]
            else:
                retry = render("json_retry", error=completion.parse_error)
                conversation += [Message.assistant(completion.text), Message.user(retry)]
        raise ProtocolError(
            f"the {role} model gave no usable {purpose} reply in {attempts} attempts "
            f"(last: {completion.parse_error}); try a stronger {role} model"
        )

    # --- the end of a run ----------------------------------------------------------------

    async def execute(self, body: Awaitable[None]) -> Result:
        """Run the protocol's ``body`` and build the Result, whatever happens.

        The body is bounded by the wall-time limit. Reaching a limit ends with status
        "budget_exceeded" and the best answer so far; provider and other library errors
        end with status "error". Both keep every round, call and token counted up to
        that point.
        """
        self.events(
            RunStarted(
                run_id=self.id,
                protocol=self.protocol.name,
                task=self.task,
                local_model=self.local.spec,
                remote_model=self.remote.spec,
                documents=[d.name for d in self.documents],
                config=self.protocol.config.model_dump(mode="json"),
            )
        )
        status: RunStatus = "answered"
        error: str | None = None
        try:
            await self._within_time(self._after_names(body))
        except BudgetExceeded as exc:
            status, error = "budget_exceeded", str(exc)
        except MinionsError as exc:  # its message says what went wrong and what to do
            logger.debug("run %s: %s", self.id, type(exc).__name__, exc_info=exc)
            status, error = "error", str(exc)
        except Exception as exc:  # a bug or an unwrapped failure: still a saved Result
            logger.exception("run %s failed unexpectedly", self.id)
            status, error = "error", f"unexpected {type(exc).__name__}: {exc}"
        if status == "answered" and not self.answer:
            status, error = "error", "the protocol finished without an answer"
        if error:  # the Result says it; the caller decides how loud to be
            logger.info("run %s ended with status %s: %s", self.id, status, error)
        result = self.result(status, error)
        self.events(
            RunFinished(
                run_id=self.id,
                status=status,
                answer=result.answer,
                error=error,
                usage=result.usage,
                remote_usd=result.cost.remote_usd,
                remote_only_usd=result.cost.remote_only_usd,
                seconds=result.timings.total_s,
            )
        )
        return result

    async def _after_names(self, body: Awaitable[None]) -> None:
        """With privacy "strict+names", the local name pass, then the meter and the
        shield rebuilt with its names; then ``body``."""
        if self.privacy == "strict+names":
            try:
                names = await find_names(self, self.documents)
            except BaseException:
                if inspect.iscoroutine(body):
                    body.close()  # never started
                raise
            self.exposure.add_names(names)
            self._shield = Shield(self.documents, self.task, names)
            self.note(f"the local model's name pass found {len(names)} name(s) to mask")
        await body

    async def _within_time(self, body: Awaitable[None]) -> None:
        """Await ``body``, cancelled (with :class:`BudgetExceeded`) at the wall-time
        limit, so that a stuck call cannot outlive it."""
        timeout_s = self.limits.timeout_s
        if timeout_s is None:
            await body
            return
        try:
            async with asyncio.timeout(timeout_s - self.elapsed_s()) as clock:
                await body
        except TimeoutError:
            if not clock.expired():
                raise  # a timeout of the protocol's own
            raise self.limits.timed_out(self.elapsed_s()) from None

    def remote_only_estimate(self) -> Usage:
        """:func:`remote_only_usage`, scaled by how the remote's own token counts
        compared with our estimate on this run's remote calls (exact for remote_only)."""
        estimate = remote_only_usage(self.task, self.documents, self.answer)
        remote = self.usage["remote"]
        ours, theirs = self._remote_estimate, remote + remote.cache_hit_usage()

        def scaled(value: int, ours: int, theirs: int) -> int:
            return round(value * theirs / ours) if ours and theirs else value

        return estimate.model_copy(
            update={
                "input_tokens": scaled(
                    estimate.input_tokens, ours.input_tokens, theirs.input_tokens
                ),
                "output_tokens": scaled(
                    estimate.output_tokens, ours.output_tokens, theirs.output_tokens
                ),
            }
        )

    def result(self, status: RunStatus, error: str | None) -> Result:
        counterfactual = self.remote_only_estimate()
        local_price = price(
            self.usage["local"], self.local.spec, local=self.local.capabilities.local or None
        )
        note = ""
        if self.price_spec != self.remote.spec:
            note = f"remote usage priced as {self.price_spec}"
        elif self._remote_is_free:
            note = "the remote runs locally ($0); pass price_as to estimate a cloud model's cost"
        return Result(
            protocol=self.protocol.name,
            task=self.task,
            answer=self.answer,
            status=status,
            error=error,
            citations=self.citations,
            local_model=self.local.spec,
            remote_model=self.remote.spec,
            documents=[d.name for d in self.documents],
            config=self.protocol.config.model_dump(mode="json"),
            usage=dict(self.usage),
            cost=Cost(
                remote_usd=self.remote_usd(),
                local_usd=local_price.usd,
                remote_only_usd=self.remote_usd(counterfactual),
                cached_usd=self.remote_usd(self.usage["remote"].cache_hit_usage()),
                priced_as=self.price_spec,
                note=note,
            ),
            timings=Timings(
                total_s=self.elapsed_s(),
                local_s=_busy_seconds(self._intervals["local"]),
                remote_s=_busy_seconds(self._intervals["remote"]),
                sandbox_s=_busy_seconds(self._intervals["sandbox"]),
            ),
            rounds=self.rounds,
            notes=self.notes,
            privacy=self.exposure.privacy(),
        )
