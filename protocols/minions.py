"""MinionS: the remote plans in code, local models read chunks, the remote aggregates.

Per round:

1. The remote reads the task and document metadata (never the text) and writes
   ``prepare_jobs(chunks, previous_jobs)``; the code runs in the sandbox with the
   chunkers in scope. A failure goes back to the remote with the error. With
   ``plan="json"`` (for small remotes) it returns a list of tasks instead, and every
   task runs on every chunk (or on the chunks retrieval ranks highest).
2. Jobs fan out to the local model, chunk-major so a prompt cache reads each chunk
   once, with bounded concurrency. Each returns a ``JobOutput``; abstentions are
   dropped, invalid or truncated outputs are retried once and then counted.
3. The remote sees the surviving outputs grouped by task and answers, or asks for
   another round with feedback that reaches the next round's planning.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from minions import sandbox
from minions.chunking import CHUNKERS, Chunk, chunk, describe_chunkers
from minions.citations import check_quote, states_answer
from minions.errors import (
    AuthenticationError,
    BudgetExceeded,
    ContextWindowExceeded,
    MinionsError,
    ProtocolError,
    first_error,
)
from minions.events import JobDone, JobsPlanned, PlannedJob, RoundFinished
from minions.limits import Limits
from minions.protocol import BASIC, Protocol, ProtocolConfig
from minions.protocols.constraints import constraints_of, missing_terms
from minions.protocols.prompts import render
from minions.protocols.votes import agreement, tally
from minions.retrieval import rank_chunks
from minions.run import Run, failed_usage, render_metadata
from minions.types import ChunkRef, JobOutput, JobRecord, Message, Round

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    Chunking = str
else:  # one choice per registered chunker (minions.spans.CHUNKERS)
    Chunking = Literal[tuple(CHUNKERS)]


class MinionsConfig(ProtocolConfig):
    max_rounds: int = Field(
        default=2, ge=1, le=10, title="Rounds", json_schema_extra=BASIC,
        description="how many times the remote may plan jobs, have them read and look at "
        "the results before it must answer",
    )  # fmt: skip
    num_tasks_per_round: int = Field(
        default=3, ge=1, le=20, title="Tasks per round", json_schema_extra=BASIC,
        description="how many different questions the remote asks of the chunks each round",
    )  # fmt: skip
    num_samples_per_task: int = Field(
        default=1, ge=1, le=10, title="Samples per job",
        description="how many times the local model answers each job (with some "
        "randomness when more than one)",
    )  # fmt: skip
    chunking: Chunking = Field(
        default="pages", title="Split documents by", description="how documents are cut "
        "into the chunks the local model reads",
    )  # fmt: skip
    chunk_size: int | None = Field(
        default=None, ge=1, title="Chunk size",
        description="chunk size in the chunker's unit (pages, characters or tokens); not "
        "set: the chunker's default",
    )  # fmt: skip
    max_jobs_per_round: int = Field(
        default=64, ge=1, title="Most jobs per round",
        description="the most local jobs run in one round",
    )  # fmt: skip
    retrieval_top_k: int | None = Field(
        default=None, ge=1, title="Chunks read per task", json_schema_extra=BASIC,
        description="read only the chunks that match each task best (BM25), this many; "
        "not set: read every chunk",
    )  # fmt: skip
    plan: Literal["code", "json"] = Field(
        default="code", title="How the remote plans",
        description="code: the remote writes a prepare_jobs function, run in the sandbox; "
        "json: it lists the tasks",
    )  # fmt: skip
    max_code_attempts: int = Field(
        default=3, ge=1, title="Tries for code that runs",
        description="how often the remote may rewrite plan code that fails",
    )  # fmt: skip
    max_json_attempts: int = Field(
        default=3, ge=1, title="Tries for a well-formed reply",
        description="calls to get a remote reply in the expected JSON form",
    )  # fmt: skip
    max_remote_usd: float | None = Field(
        default=None, gt=0, title="Remote budget ($)", json_schema_extra=BASIC,
        description="stop when remote spending reaches this many dollars (a run-level "
        "limit too: the tighter of this and the run's max_remote_usd wins); not set: no "
        "budget",
    )  # fmt: skip
    local_max_tokens: int = Field(
        default=384, ge=16, title="Longest job output (tokens)",
        description="the most tokens the local model may write per job",
    )  # fmt: skip
    remote_max_tokens: int = Field(
        default=1024, ge=64, title="Longest remote reply (tokens)",
        description="the most tokens the remote model may write per reply",
    )  # fmt: skip
    sample_temperature: float = Field(
        default=0.7, gt=0.0, le=2.0, title="Sampling temperature",
        description="randomness of the local answers when a job is sampled more than once",
    )  # fmt: skip
    max_concurrency: int | None = Field(
        default=None, ge=1, title="Local calls at once",
        description="how many local calls run at the same time; not set: what the local "
        "model handles",
    )  # fmt: skip
    sandbox_timeout_s: float = Field(
        default=30.0, gt=0, title="Plan code time limit (s)",
        description="seconds the remote's plan code may run in the sandbox",
    )  # fmt: skip
    allow_unsafe_code_sandbox: bool = Field(
        default=False, title="Run plan code without the OS sandbox (unsafe)",
        description="UNSAFE: run the remote's code even where the OS sandbox (seccomp, "
        "Landlock, namespaces) cannot be set up; otherwise such runs plan in JSON",
    )  # fmt: skip

    def run_limits(self) -> Limits:
        return Limits(max_remote_usd=self.max_remote_usd)


#: the longest JSON plan reply: a task with its advice and keywords takes well under
#: 200 tokens, and a weak remote that runs on (the offline stand-in wrote 1,024 tokens
#: of a one-task plan in two minutes) is cut off, and re-asked, sooner
PLAN_TOKENS = 128
PLAN_TOKENS_PER_TASK = 192


class PlannedTask(BaseModel):
    task: str = Field(min_length=1)
    advice: str = ""
    # words the text may use for what the task asks: they join the task in the BM25
    # query that picks the chunks (a question's wording is often not the document's)
    keywords: list[str] = Field(default_factory=list, max_length=8)


class Plan(BaseModel):
    tasks: list[PlannedTask] = Field(min_length=1)


class Synthesis(BaseModel):
    decision: Literal["final", "continue"]
    answer: str | None = None
    explanation: str = ""
    feedback: str | None = None
    scratchpad: str | None = None
    pages: list[int] | None = None  # what the next round should read

    @model_validator(mode="after")
    def _final_needs_answer(self) -> Synthesis:
        if self.decision == "final" and not (self.answer and self.answer.strip()):
            raise ValueError('decision "final" needs a non-empty "answer"')
        return self


class FinalSynthesis(Synthesis):
    decision: Literal["final"] = "final"


class Manifest(BaseModel):
    """A job: a task for the local model on a chunk the parent cut from its own text."""

    chunk: Chunk
    task_id: int
    task: str = Field(min_length=1)
    advice: str = ""


class ManifestReply(BaseModel):
    """A job as ``prepare_jobs`` returns it: a chunk id and a span in it, never text."""

    model_config = ConfigDict(extra="ignore")

    chunk_id: int = Field(ge=0)
    start: int | None = Field(default=None, ge=0)
    end: int | None = Field(default=None, ge=1)
    task_id: int
    task: str = Field(min_length=1, max_length=4000)
    advice: str = Field(default="", max_length=4000)


class _Job(BaseModel):
    job_id: int
    manifest: Manifest
    sample: int

    @property
    def chunk_key(self) -> tuple[str, int, int]:
        c = self.manifest.chunk
        return (c.doc, c.start, c.end)


def chunk_ref(c: Chunk) -> ChunkRef:
    return ChunkRef(doc=c.doc, index=c.index, page_start=c.page_start, page_end=c.page_end)


_CODE_RE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str:
    """The code in a reply: its first fenced block, else the whole reply."""
    blocks = _CODE_RE.findall(text)
    if blocks:
        with_function = [b for b in blocks if "def prepare_jobs" in b]
        return (with_function or blocks)[0].strip()
    return text.strip().removeprefix("```python").removeprefix("```").removesuffix("```").strip()


class MinionS(Protocol[MinionsConfig]):
    name = "minions"
    summary = "the remote writes tasks as code, local models read chunks in parallel"
    Config = MinionsConfig

    async def answer(self, run: Run) -> None:
        await _Rounds(run, self.config).go()


class _Rounds:
    """The state of one MinionS run across rounds."""

    def __init__(self, run: Run, config: MinionsConfig) -> None:
        self.run = run
        self.config = config
        self.chunks = self._make_chunks()
        self.scratchpad = ""
        self.feedback = ""
        self.focus: set[int] = set()  # pages the feedback asked the next round to read
        self.constraints = constraints_of(run.task)
        self.next_job_id = 0
        self.job_chunks: dict[int, Chunk] = {}

    def _make_chunks(self) -> list[Chunk]:
        chunks = [
            c
            for doc in self.run.documents
            for c in chunk(doc, self.config.chunking, size=self.config.chunk_size)
            if c.text.strip()
        ]
        if not chunks:
            raise ProtocolError("the documents have no text to read (every page is empty)")
        return chunks

    # --- the loop ------------------------------------------------------------------

    async def go(self) -> None:
        for index in range(1, self.config.max_rounds + 1):
            round_ = self.run.new_round()
            final = index == self.config.max_rounds
            jobs = await self.plan(round_)
            await self.execute_jobs(round_, jobs)
            synthesis = await self.synthesize(round_, final)
            round_.decision = synthesis.decision
            round_.feedback = synthesis.feedback
            self.run.events(
                RoundFinished(
                    run_id=self.run.id,
                    round=round_.index,
                    decision=synthesis.decision,
                    feedback=synthesis.feedback,
                )
            )
            if synthesis.answer:
                self.run.answer = synthesis.answer.strip()
                self.run.citations = _citations(round_)
                self.note_unverified(round_)
            if synthesis.decision == "final":
                return
            self.scratchpad = synthesis.scratchpad or self.scratchpad
            self.feedback = synthesis.feedback or ""
            self.focus = named_pages(self.feedback, self.chunks) | set(synthesis.pages or ())

    def note_unverified(self, round_: Round) -> None:
        answered = [j for j in round_.jobs if not j.abstained]
        if answered and not any(j.verified for j in answered):
            self.run.note(
                "None of the quotes the local model gave for its answers were found in the "
                "documents: the answer rests on unverified outputs.",
                round_,
            )

    # --- 1. planning ------------------------------------------------------------------

    def context(self, chunks: Sequence[Chunk]) -> str:
        history = ""
        if len(self.run.rounds) > 1:
            history = render(
                "minions_history",
                rounds="\n".join(_round_summary(r) for r in self.run.rounds[:-1]),
                scratchpad=self.scratchpad or "(none)",
                feedback=self.feedback or "(none)",
            )
        size = self.config.chunk_size or "default"
        return render(
            "minions_context",
            task=self.run.task,
            metadata=render_metadata(self.run.documents),
            chunk_count=len(chunks),
            chunking=f"by {self.config.chunking}, size {size}",
            history=history,
        )

    async def plan(self, round_: Round) -> list[_Job]:
        manifests: list[Manifest] | None = None
        if self.config.plan == "code" and self.code_can_run(round_):
            chunks = self.focused(round_) or self.retrieve(self.run.task, self.chunks)
            manifests = await self.plan_with_code(round_, chunks)
            if manifests is None:
                round_.notes.append("no working code; fell back to a JSON plan for this round")
        if manifests is None:
            manifests = await self.plan_with_json(round_)
        jobs = self.to_jobs(round_, manifests)
        self.run.events(
            JobsPlanned(
                run_id=self.run.id,
                round=round_.index,
                code=round_.code,
                jobs=[
                    PlannedJob(
                        job_id=j.job_id,
                        task_id=j.manifest.task_id,
                        task=j.manifest.task,
                        chunk=chunk_ref(j.manifest.chunk),
                        sample=j.sample,
                    )
                    for j in jobs
                ],
            )
        )
        return jobs

    def code_can_run(self, round_: Round) -> bool:
        """Whether the remote's code may run here: behind the OS boundary, or anywhere
        when the user explicitly accepted an unsafe sandbox."""
        if self.config.allow_unsafe_code_sandbox:
            return True
        with self.run.timed("sandbox"):  # a probe of the boundary, once per process
            available, detail = sandbox.boundary()
        if not available:
            self.run.note(
                f"The OS sandbox is not available here ({detail}), so the remote planned "
                "with a JSON list of tasks instead of code. Set allow_unsafe_code_sandbox="
                "True to run its code with the in-interpreter checks only.",
                round_,
            )
        return available

    def retrieve(self, query: str, chunks: list[Chunk]) -> list[Chunk]:
        k = self.config.retrieval_top_k
        if k is None or k >= len(chunks):
            return chunks
        top = {id(s.chunk) for s in rank_chunks(query, chunks, k)}
        return [c for c in chunks if id(c) in top]  # keep document order

    def _system(self) -> Message:
        return Message.system(render("minions_system"))

    async def plan_with_code(self, round_: Round, chunks: list[Chunk]) -> list[Manifest] | None:
        conversation = [
            self._system(),
            Message.user(
                render(
                    "minions_code",
                    context=self.context(chunks),
                    num_tasks=self.config.num_tasks_per_round,
                    max_jobs=self.config.max_jobs_per_round,
                    chunkers=describe_chunkers(),
                )
            ),
        ]
        kwargs = {
            "chunks": [_plain_chunk(i, c) for i, c in enumerate(chunks)],
            "previous_jobs": self.previous_jobs(chunks),
        }
        for attempt in range(1, self.config.max_code_attempts + 1):
            completion = await self.run.call(
                "remote",
                conversation,
                purpose="code",
                round=round_,
                max_tokens=self.config.remote_max_tokens,
            )
            round_.code = extract_code(completion.text)
            try:
                with self.run.timed("sandbox"):
                    value = await sandbox.run_async(
                        round_.code,
                        "prepare_jobs",
                        kwargs,
                        timeout_s=self.config.sandbox_timeout_s,
                        helpers="minions.protocols.sandbox_scope",
                        allow_unsafe=self.config.allow_unsafe_code_sandbox,
                    )
                return _validate_manifests(value, chunks)
            except sandbox.SandboxUnavailable as exc:
                self.run.note(f"the OS sandbox failed to start ({exc}); planned in JSON", round_)
                return None
            except (sandbox.SandboxError, ProtocolError) as exc:
                error = str(exc)
            note = f"code attempt {attempt}/{self.config.max_code_attempts} failed: {error}"
            logger.info(note)
            round_.notes.append(note)
            conversation += [
                Message.assistant(completion.text),
                Message.user(render("minions_code_retry", error=error)),
            ]
        return None

    async def plan_with_json(self, round_: Round) -> list[Manifest]:
        conversation = [
            self._system(),
            Message.user(
                render(
                    "minions_plan",
                    context=self.context(self.chunks),
                    num_tasks=self.config.num_tasks_per_round,
                )
            ),
        ]
        plan = await self.run.call_json(
            "remote",
            conversation,
            Plan,
            purpose="plan",
            round=round_,
            attempts=self.config.max_json_attempts,
            max_tokens=min(
                self.config.remote_max_tokens,
                PLAN_TOKENS + PLAN_TOKENS_PER_TASK * self.config.num_tasks_per_round,
            ),
        )
        focused = self.focused(round_)
        return [
            Manifest(chunk=c, task_id=task_id, task=t.task, advice=t.advice)
            for task_id, t in enumerate(plan.tasks[: self.config.num_tasks_per_round], 1)
            for c in focused
            or self.retrieve(" ".join([t.task, *t.keywords, self.run.task]), self.chunks)
        ]

    def focused(self, round_: Round) -> list[Chunk]:
        """The chunks on the pages the last feedback named, in place of retrieval (none
        when it named none, or none of the documents' pages)."""
        chunks = [c for c in self.chunks if self.focus & set(range(c.page_start, c.page_end + 1))]
        if chunks and round_.index > 1:
            pages = ", ".join(map(str, sorted(self.focus)))
            note = f"reads the {len(chunks)} chunks on pages {pages}, as the feedback asked"
            if note not in round_.notes:
                round_.notes.append(note)
            return chunks
        return []

    def previous_jobs(self, chunks: list[Chunk]) -> list[dict[str, object]]:
        """Earlier rounds' jobs as plain data; ``chunk`` is the job's text as a piece of
        one of ``chunks`` (None when it lies in none of them)."""
        return [
            {
                "task_id": j.task_id,
                "task": j.task,
                "chunk": _plain_piece(chunks, self.job_chunks[j.job_id]),
                "answer": None if j.output is None or j.abstained else j.output.answer,
            }
            for r in self.run.rounds
            for j in r.jobs
        ]

    def to_jobs(self, round_: Round, manifests: list[Manifest]) -> list[_Job]:
        """The per-round cap (keeping the jobs whose chunk best matches their task),
        samples, and chunk-major order (stable within a chunk)."""
        samples = self.config.num_samples_per_task
        limit = max(1, self.config.max_jobs_per_round // samples)
        if len(manifests) > limit:
            round_.notes.append(
                f"{len(manifests) * samples} jobs planned; the {limit * samples} whose chunks "
                "best match their tasks ran (max_jobs_per_round)"
            )
            manifests = self.most_relevant(manifests, limit)
        doc_order = {d.name: i for i, d in enumerate(self.run.documents)}
        manifests = sorted(
            manifests,
            key=lambda m: (doc_order.get(m.chunk.doc, len(doc_order)), m.chunk.start, m.chunk.end),
        )
        expanded = [(m, s) for m in manifests for s in range(samples)]
        jobs = []
        for manifest, sample in expanded:
            jobs.append(_Job(job_id=self.next_job_id, manifest=manifest, sample=sample))
            self.job_chunks[self.next_job_id] = manifest.chunk
            self.next_job_id += 1
        return jobs

    def most_relevant(self, manifests: list[Manifest], limit: int) -> list[Manifest]:
        """The ``limit`` manifests whose chunk BM25 ranks highest for their task."""
        score: dict[int, float] = {}
        by_task: dict[str, list[int]] = {}
        for i, m in enumerate(manifests):
            by_task.setdefault(m.task, []).append(i)
        for task, indexes in by_task.items():
            chunks = [manifests[i].chunk for i in indexes]
            ranked = rank_chunks(f"{task} {self.run.task}", chunks, k=len(chunks))
            position = {id(s.chunk): s.score for s in ranked}
            for i in indexes:
                score[i] = position.get(id(manifests[i].chunk), 0.0)
        best = sorted(range(len(manifests)), key=lambda i: -score[i])[:limit]
        return [manifests[i] for i in sorted(best)]

    # --- 2. local jobs ----------------------------------------------------------------

    async def execute_jobs(self, round_: Round, jobs: list[_Job]) -> None:
        groups: dict[tuple[str, int, int], list[_Job]] = {}
        for job in jobs:
            groups.setdefault(job.chunk_key, []).append(job)
        limit = self.config.max_concurrency or self.run.local.capabilities.max_parallel_requests
        semaphore = asyncio.Semaphore(limit)
        records: dict[int, JobRecord] = {}

        async def run_group(group: list[_Job]) -> None:
            async with semaphore:
                for job in group:  # one chunk's jobs in a row: its prefix stays cached
                    records[job.job_id] = await self.run_job(round_, job)

        try:
            async with asyncio.TaskGroup() as tasks:
                for group in groups.values():
                    tasks.create_task(run_group(group))
        except BaseExceptionGroup as failed:  # e.g. a 401: the run ends, the jobs stay
            raise first_error(failed) from None
        finally:
            round_.jobs = [records[j.job_id] for j in jobs if j.job_id in records]

    async def run_job(self, round_: Round, job: _Job) -> JobRecord:
        m = job.manifest
        messages = [
            Message.system(render("minions_job_system")),
            Message.user(
                render(
                    "minions_job",
                    doc=m.chunk.doc,
                    pages=m.chunk.pages,
                    text=m.chunk.text,
                    task=m.task,
                    advice=f"Advice: {m.advice}" if m.advice else "",
                    terms=_terms(missing_terms(m.task, self.constraints)),
                )
            ),
        ]
        sampling = self.config.num_samples_per_task > 1
        options = {
            "temperature": self.config.sample_temperature if sampling else 0.0,
            "max_tokens": self.config.local_max_tokens,
        }
        if sampling:
            options["seed"] = job.sample
        record = JobRecord(
            job_id=job.job_id,
            task_id=m.task_id,
            task=m.task,
            advice=m.advice,
            chunk=chunk_ref(m.chunk),
            sample=job.sample,
            attempts=0,
        )
        for attempt in (1, 2):  # an invalid or truncated output is retried once
            record.attempts = attempt
            try:
                completion = await self.run.call(
                    "local",
                    messages,
                    purpose="job",
                    round=round_,
                    schema=JobOutput,
                    record=False,
                    **options,
                )
            except (AuthenticationError, BudgetExceeded):
                raise  # no job can succeed, or the run reached a limit: it ends
            except ContextWindowExceeded as exc:
                record.error = str(exc)
                break
            except MinionsError as exc:  # a failed job; the others go on
                record.usage += failed_usage(exc)
                record.error = f"{type(exc).__name__}: {exc}"
                break
            record.usage += completion.usage
            record.latency_s += completion.latency_s
            if completion.parsed is not None and not completion.truncated:
                record.output = completion.parsed
                record.error = None
                if not record.output.abstained:
                    check = check_quote(record.output.citation, m.chunk.text)
                    if check.verified:  # a quote from the chunk that must state the answer
                        stated = states_answer(record.output.answer, record.output.citation)
                        check = check.model_copy(update={"states_answer": stated})
                    record.quote = check
                break
            record.error = completion.parse_error or "output cut off at local_max_tokens"
        self.run.events(
            JobDone(
                run_id=self.run.id,
                round=round_.index,
                job_id=record.job_id,
                task_id=record.task_id,
                chunk=record.chunk,
                output=record.output,
                error=record.error,
                usage=record.usage,
                latency_s=record.latency_s,
            )
        )
        return record

    # --- 3. aggregation ----------------------------------------------------------------

    async def synthesize(self, round_: Round, final: bool) -> Synthesis:
        instruction = "minions_instruction_final" if final else "minions_instruction_choice"
        conversation = [
            self._system(),
            Message.user(
                render(
                    "minions_synthesis",
                    context=self.context(self.chunks),
                    outputs=_render_outputs(round_),
                    round=round_.index,
                    max_rounds=self.config.max_rounds,
                    instruction=render(instruction),
                )
            ),
        ]
        synthesis = await self.run.call_json(
            "remote",
            conversation,
            FinalSynthesis if final else Synthesis,
            purpose="final answer" if final else "synthesis",
            round=round_,
            attempts=self.config.max_json_attempts,
            max_tokens=self.config.remote_max_tokens,
        )
        return synthesis


def _plain_chunk(index: int, c: Chunk) -> dict[str, object]:
    """A chunk as the sandboxed code sees it: plain data, ``id`` its position."""
    return {
        "id": index,
        "doc": c.doc,
        "page_start": c.page_start,
        "page_end": c.page_end,
        "text": c.text,
        "start": 0,
        "end": len(c.text),
    }


def _plain_piece(chunks: list[Chunk], piece: Chunk) -> dict[str, object] | None:
    for index, c in enumerate(chunks):
        if c.doc == piece.doc and c.start <= piece.start and piece.end <= c.end:
            start, end = piece.start - c.start, piece.end - c.start
            return {**_plain_chunk(index, c), **_span_fields(c, start, end)}
    return None


def _span_fields(c: Chunk, start: int, end: int) -> dict[str, object]:
    return {
        "page_start": c.page_start + c.text.count("\f", 0, start),
        "page_end": c.page_start + c.text.count("\f", 0, end - 1),
        "text": c.text[start:end],
        "start": start,
        "end": end,
    }


def _cut(c: Chunk, start: int | None, end: int | None) -> Chunk:
    """The part ``[start:end]`` of chunk ``c``, cut from the parent's own text."""
    start = 0 if start is None else start
    end = len(c.text) if end is None else end
    if not 0 <= start < end <= len(c.text):
        raise ProtocolError(
            f"prepare_jobs returned the span {start}:{end} of chunk {c.index}, which has "
            f"{len(c.text)} characters; use the start and end of a piece that "
            "chunk_by_chars / chunk_by_paragraphs returned, or leave them out"
        )
    if start == 0 and end == len(c.text):
        return c
    fields = _span_fields(c, start, end)
    return c.model_copy(
        update={**fields, "start": c.start + start, "end": c.start + end},
    )


def _validate_manifests(value: object, chunks: list[Chunk]) -> list[Manifest]:
    """Jobs from the code's plain reply; the text comes from ``chunks``, never the reply."""
    if not isinstance(value, list) or not value:
        raise ProtocolError(
            f"prepare_jobs returned {type(value).__name__} {str(value)[:100]!r}; it must "
            "return a non-empty list of JobManifest"
        )
    manifests = []
    for item in value:
        if (
            isinstance(item, dict)
            and "chunk_id" not in item
            and isinstance(item.get("chunk"), dict)
        ):
            piece = item["chunk"]  # a job dict the code wrote itself around a chunk
            item = {**item, "chunk_id": piece.get("id"), "start": piece.get("start"),
                    "end": piece.get("end")}  # fmt: skip
        try:
            reply = ManifestReply.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ProtocolError(
                f"prepare_jobs returned a malformed JobManifest ({where}: {first['msg']}); "
                "build each job with JobManifest(chunk=<one of chunks, or a piece of one>, "
                "task_id=<int>, task=<str>, advice=<str>)"
            ) from None
        if reply.chunk_id >= len(chunks):
            raise ProtocolError(
                f"prepare_jobs named chunk id {reply.chunk_id}, but there are only "
                f"{len(chunks)} chunks (ids 0 to {len(chunks) - 1})"
            )
        manifests.append(
            Manifest(
                chunk=_cut(chunks[reply.chunk_id], reply.start, reply.end),
                task_id=reply.task_id,
                task=reply.task,
                advice=reply.advice,
            )
        )
    return manifests


def quote_mark(job: JobRecord) -> str:
    """How a job's quote stands, as the remote is told."""
    if job.verified:
        return "quote verified"
    if job.quote is not None and job.quote.verified:
        return "quote found in the text, but it does not state this answer"
    return "quote NOT found in the text"


def _render_outputs(round_: Round) -> str:
    """The round's outputs for the remote, task by task: its distinct answers as votes
    (:func:`~minions.protocols.votes.tally`), verified first, with their pages, and the
    quote and explanation of the best job behind each."""
    by_task: dict[int, list[JobRecord]] = {}
    for job in round_.jobs:
        by_task.setdefault(job.task_id, []).append(job)
    sections = []
    for task_id, jobs in by_task.items():
        votes = tally(jobs)
        answered = sum(v.votes for v in votes)
        failed = sum(1 for j in jobs if j.error)
        share = agreement(votes)
        lines = [
            render(
                "minions_output_task",
                task_id=task_id,
                task=jobs[0].task,
                jobs=len(jobs),
                answered=answered,
                nothing=len(jobs) - answered - failed,
                failed=failed,
                agreement=f"{share:.0%}" if share is not None else "none",
            )
        ]
        for vote in votes:
            best = max(vote.jobs, key=lambda j: j.verified)
            assert best.output is not None
            lines.append(
                render(
                    "minions_output_vote",
                    answer=vote.answer,
                    votes=f"{vote.votes} vote{'s' if vote.votes > 1 else ''}",
                    verified=vote.verified,
                    mark=quote_mark(best),
                    pages="; ".join(vote.pages),
                    citation=best.output.citation or "(none)",
                    explanation=best.output.explanation or "(none)",
                )
            )
        sections.append("\n".join(lines))
    return "\n\n".join(sections) or "(no jobs ran)"


def _round_summary(round_: Round) -> str:
    tasks = dict.fromkeys(f"[{j.task_id}] {j.task}" for j in round_.jobs)
    answered = sum(1 for j in round_.jobs if not j.abstained)
    return (
        f"Round {round_.index}: tasks {'; '.join(tasks) or '(none)'}; "
        f"{answered} of {len(round_.jobs)} jobs found an answer."
    )


_PAGES = re.compile(r"\b(?:pages?|pp?\.)\s*(\d+(?:\s*(?:-|\u2013|to|and|,|&)\s*\d+)*)", re.I)
_CHUNKS = re.compile(
    r"\bchunks?\s*(?:ids?\s*)?#?(\d+(?:\s*(?:-|\u2013|to|and|,|&)\s*#?\d+)*)", re.I
)
_RANGE = re.compile(r"(\d+)\s*(?:-|\u2013|to)\s*(\d+)|(\d+)")


def _numbers(listing: str) -> set[int]:
    """3, 5-7 and 9 -> {3, 5, 6, 7, 9} (a range of at most 50)."""
    found: set[int] = set()
    for low, high, one in _RANGE.findall(listing):
        if one:
            found.add(int(one))
        elif 0 <= int(high) - int(low) <= 50:
            found.update(range(int(low), int(high) + 1))
    return found


def named_pages(feedback: str, chunks: Sequence[Chunk]) -> set[int]:
    """The pages a synthesis's feedback names ("page 3", "pp. 4-6", "chunks 2 and 7":
    the pages of the chunks with that index in their document, as jobs cite them)."""
    pages = {n for m in _PAGES.findall(feedback) for n in _numbers(m)}
    named = {n for m in _CHUNKS.findall(feedback) for n in _numbers(m)}
    for c in chunks:
        if c.index in named:
            pages.update(range(c.page_start, c.page_end + 1))
    return pages


def _terms(missing: list[str]) -> str:
    """The job prompt's line of the question's terms its task left out."""
    return (
        render("minions_job_terms", terms="\n".join(f"- {t}" for t in missing)) if missing else ""
    )


def _citations(round_: Round) -> list[str]:
    """Where the round's answers came from: document, pages and the quote when it was
    found in the chunk; an unverified quote is not repeated as if it were the text."""
    cites = []
    for job in round_.jobs:
        if job.abstained or job.output is None:
            continue
        if job.verified:
            cites.append(f'{job.chunk.doc}, {job.chunk.pages}: "{job.output.citation}"')
        else:
            cites.append(f"{job.chunk.doc}, {job.chunk.pages} (quote not verified)")
    return list(dict.fromkeys(cites))
