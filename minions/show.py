"""A saved run, shown: why its answer is what it is.

A :class:`~minions.types.Result` saved as JSON (``minions ask ... --json > run.json``,
or a trace of ``minions eval --traces``) is read by :func:`read_result` (or
:func:`parse_result` for text already in memory, an upload in the app), which says in
one sentence what to do when the file is not such a run. :func:`run_view` turns it
into plain data, round by round: the remote's calls with their replies, tokens and
dollars, the code it wrote or its JSON plan, the tasks, every local job with its chunk,
output, quote check and tokens, and the notes. :func:`render` draws that view with
rich for the ``minions show`` command, ending with the run's summary
(:func:`minions.console.summary`: the answer, its citations, cost and time); the app
draws the same view with its own widgets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table

from minions.console import summary, table
from minions.errors import MinionsError, one_line
from minions.formatting import usd
from minions.pricing import price
from minions.types import JobRecord, QuotedPassage, Result, Turn

__all__ = [
    "MARKS",
    "CallView",
    "JobView",
    "QuoteView",
    "RoundView",
    "RunView",
    "UnreadableRun",
    "parse_result",
    "read_result",
    "render",
    "run_view",
]

#: the remote calls that plan a round's jobs: their work is the round's code or plan
PLANNING = ("code", "plan")

#: what a saved run is, and where one comes from: the end of every loading error
WHERE_RUNS_COME_FROM = (
    "pass a run saved by `minions ask FILE -q TEXT --json > run.json` "
    "or a trace of `minions eval --traces` (traces/PROTOCOL/ID.json)"
)

Mark = Literal["verified", "unverified", "unchecked"]

#: a job's quote check as one character: found in its chunk, not found, not checked
#: (the job abstained or failed, or the run predates quote checks)
MARKS: dict[Mark, str] = {"verified": "✓", "unverified": "✗", "unchecked": "—"}


class UnreadableRun(MinionsError):
    """A file or text that is not a saved :class:`~minions.types.Result`; the message
    says why and what to pass instead."""


# --- reading a saved run ----------------------------------------------------------------


def read_result(path: str | Path) -> Result:
    """The Result saved in the JSON file at ``path``; :class:`UnreadableRun` when it is
    missing, a folder, not JSON, or not a Result this version can read."""
    path = Path(path)
    if path.is_dir():
        raise UnreadableRun(f"{path} is a folder, not a saved run: {WHERE_RUNS_COME_FROM}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnreadableRun(f"{path}: no such file; {WHERE_RUNS_COME_FROM}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableRun(f"cannot read {path} ({exc}); {WHERE_RUNS_COME_FROM}") from None
    return parse_result(text, source=str(path))


def parse_result(text: str | bytes, *, source: str = "the file") -> Result:
    """The Result in ``text`` (JSON); ``source`` names it in the error messages."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise UnreadableRun(
            f"{source} is not JSON ({_reason(exc)}{where}): {WHERE_RUNS_COME_FROM}"
        ) from None
    if not isinstance(data, dict) or not {"protocol", "task", "rounds"} <= data.keys():
        raise UnreadableRun(
            f"{source} is JSON but not a saved run (it has no protocol, task and rounds): "
            f"{WHERE_RUNS_COME_FROM}"
        )
    try:
        return Result.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(map(str, first["loc"])) or "the run"
        raise UnreadableRun(
            f"{source} is a run this version of minions cannot read ({field}: {first['msg']}; "
            f"{exc.error_count()} problem(s)), probably written by another version: show it "
            "with that version, or run the question again"
        ) from None


def _reason(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else one_line(str(exc))


# --- the run as plain data ---------------------------------------------------------------


@dataclass(frozen=True)
class QuoteView:
    """A passage a free-text local reply quoted (Minion), and where it was found."""

    text: str
    where: str
    mark: Mark

    @property
    def symbol(self) -> str:
        return MARKS[self.mark]


@dataclass(frozen=True)
class CallView:
    """One model call of a round (a local job is a :class:`JobView` instead).

    ``reply`` is the model's text, indented when it is JSON (``reply_format``);
    ``usd`` is what it cost (``None``: unpriced; local calls cost $0); ``quotes`` are
    the passages a free-text local reply quoted, checked against the documents.
    """

    role: str
    purpose: str
    prompt: str
    reply: str
    reply_format: Literal["json", "text"]
    tokens: int
    seconds: float
    usd: float | None
    error: str | None
    quotes: list[QuoteView]

    @property
    def planning(self) -> bool:
        """Whether this call planned the round's jobs (its work is the code or plan)."""
        return self.purpose in PLANNING

    @property
    def heading(self) -> str:
        """``remote · code · 1,030 tokens · 0.4s · $0.0031``"""
        cost = f" · {usd(self.usd)}" if self.role == "remote" else ""
        return f"{self.role} · {self.purpose} · {self.tokens:,} tokens · {self.seconds:.1f}s{cost}"


@dataclass(frozen=True)
class JobView:
    """One local job: where it read, what it answered (``None``: it abstained or
    failed), the quote it gave and whether that quote is in the chunk (``mark``)."""

    job_id: int
    task_id: int
    sample: int
    chunk: int
    doc: str
    pages: str
    answer: str | None
    quote: str | None
    explanation: str
    mark: Mark
    tokens: int
    seconds: float
    attempts: int
    error: str | None

    @property
    def answered(self) -> bool:
        return self.answer is not None

    @property
    def symbol(self) -> str:
        """``✓`` quote verified, ``✗`` not found in the chunk (or not stating the answer's
        figure), ``—`` not checked."""
        return MARKS[self.mark]


@dataclass(frozen=True)
class RoundView:
    """One round in the order it ran: the planning calls, the code the remote wrote
    (or its JSON ``plan``), the ``tasks`` by id, the jobs, the other calls (the
    synthesis, a Minion conversation, a baseline's one call), its decision and notes."""

    index: int
    calls: list[CallView]
    code: str | None
    plan: str | None
    tasks: dict[int, str]
    jobs: list[JobView]
    decision: str | None
    feedback: str | None
    notes: list[str]

    @property
    def planning_calls(self) -> list[CallView]:
        return [c for c in self.calls if c.planning]

    @property
    def other_calls(self) -> list[CallView]:
        return [c for c in self.calls if not c.planning]

    @property
    def jobs_line(self) -> str:
        """``4 jobs: 1 answered (1 verified), 3 abstained, 0 failed``"""
        answered = [j for j in self.jobs if j.answered]
        failed = sum(1 for j in self.jobs if j.error)
        verified = sum(1 for j in answered if j.mark == "verified")
        return (
            f"{len(self.jobs)} jobs: {len(answered)} answered ({verified} verified), "
            f"{len(self.jobs) - len(answered) - failed} abstained, {failed} failed"
        )


@dataclass(frozen=True)
class RunView:
    """What a saved run did, round by round; ``result`` keeps the rest (the answer,
    citations, cost and time that :func:`minions.console.summary` shows)."""

    result: Result
    rounds: list[RoundView]

    @property
    def header(self) -> list[tuple[str, str]]:
        """The question, documents, models and options, as (label, text) rows."""
        r = self.result
        options = ", ".join(f"{k}={json.dumps(v)}" for k, v in r.config.items())
        return [
            ("question", r.task),
            ("documents", ", ".join(r.documents) or "(none)"),
            ("models", f"local {r.local_model or '?'} · remote {r.remote_model or '?'}"),
            ("options", options or "(defaults)"),
        ]


def run_view(result: Result) -> RunView:
    """``result`` as plain data for a view (see :class:`RunView`)."""
    rounds = []
    for round_ in result.rounds:
        calls = [_call_view(result, turn) for turn in round_.turns]
        plans = [c.reply for c in calls if c.purpose == "plan" and not c.error and c.reply]
        rounds.append(
            RoundView(
                index=round_.index,
                calls=calls,
                code=round_.code,
                plan=plans[-1] if plans else None,
                tasks={j.task_id: _task_text(j) for j in round_.jobs},
                jobs=[_job_view(j) for j in round_.jobs],
                decision=round_.decision,
                feedback=round_.feedback,
                notes=list(round_.notes),
            )
        )
    return RunView(result=result, rounds=rounds)


def _call_view(result: Result, turn: Turn) -> CallView:
    reply, reply_format = _pretty(turn.reply)
    return CallView(
        role=turn.role,
        purpose=turn.purpose,
        prompt=turn.prompt,
        reply=reply,
        reply_format=reply_format,
        tokens=turn.usage.total_tokens,
        seconds=turn.latency_s,
        usd=_turn_usd(result, turn),
        error=turn.error,
        quotes=[_quote_view(q) for q in turn.quotes],
    )


def _quote_view(quote: QuotedPassage) -> QuoteView:
    if quote.verified and quote.doc:
        where = f"{quote.doc}, p. {quote.page}" if quote.page else quote.doc
        return QuoteView(text=quote.text, where=where, mark="verified")
    return QuoteView(text=quote.text, where="not found in the documents", mark="unverified")


def _pretty(reply: str) -> tuple[str, Literal["json", "text"]]:
    """A JSON object or list indented, anything else as it is."""
    try:
        data = json.loads(reply)
    except ValueError:
        return reply, "text"
    if not isinstance(data, (dict, list)):
        return reply, "text"
    return json.dumps(data, indent=2, ensure_ascii=False), "json"


def _turn_usd(result: Result, turn: Turn) -> float | None:
    """The turn's dollars, priced as the run's remote calls were (local calls: $0)."""
    spent = result.cost.remote_usd
    if turn.role == "local" or not spent:  # $0 local, a free remote, or unpriced (None)
        return 0.0 if turn.role == "local" else spent
    return price(turn.usage, result.cost.priced_as or result.remote_model, local=False).usd


def _task_text(job: JobRecord) -> str:
    return f"{job.task} (advice: {job.advice})" if job.advice else job.task


def _job_view(job: JobRecord) -> JobView:
    output = job.output
    answered = output is not None and not output.abstained
    mark: Mark = "unchecked"
    if answered and job.quote is not None:
        mark = "verified" if job.verified else "unverified"
    return JobView(
        job_id=job.job_id,
        task_id=job.task_id,
        sample=job.sample,
        chunk=job.chunk.index,
        doc=job.chunk.doc,
        pages=job.chunk.pages,
        answer=output.answer if output is not None and answered else None,
        quote=output.citation if output is not None else None,
        explanation=output.explanation if output is not None else "",
        mark=mark,
        tokens=job.usage.total_tokens,
        seconds=job.latency_s,
        attempts=job.attempts,
        error=job.error,
    )


# --- the run drawn with rich ---------------------------------------------------------------

JobsShown = Literal["all", "answered"]


def render(result: Result, *, jobs: JobsShown = "all", prompts: bool = False) -> Group:
    """The saved run for a terminal: its question and options, each round (calls,
    code or plan, tasks, jobs, replies, notes), then the summary with the answer, its
    citations, cost and time. ``jobs="answered"`` leaves out the jobs that gave no
    answer; ``prompts`` adds what each call was sent."""
    view = run_view(result)
    status = "answered" if result.status == "answered" else f"[red]{result.status}[/]"
    parts: list[RenderableType] = [
        f"[bold]run[/] · {escape(result.protocol)} · {status}",
        _rows(view.header),
    ]
    for round_ in view.rounds:
        parts.extend(_round(round_, jobs=jobs, prompts=prompts))
    parts += [Rule("result"), summary(result)]
    return Group(*parts)


def _rows(rows: list[tuple[str, str]]) -> Table:
    grid = Table(show_header=False, box=None, pad_edge=False)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1)
    for label, text in rows:
        grid.add_row(label, escape(text))
    return grid


def _round(round_: RoundView, *, jobs: JobsShown, prompts: bool) -> list[RenderableType]:
    decision = f" · {round_.decision}" if round_.decision else ""
    parts: list[RenderableType] = [Rule(f"round {round_.index}{decision}")]
    for call in round_.planning_calls:
        parts += _call(call, prompts=prompts, reply=False)
    if round_.code:
        parts.append(_code(round_.code, "python", "the remote's code"))
    elif round_.plan:
        parts.append(_code(round_.plan, "json", "the remote's plan"))
    if round_.tasks:
        lines = [f"  {i}. {escape(text)}" for i, text in round_.tasks.items()]
        parts.append("[bold]tasks[/]\n" + "\n".join(lines))
    if round_.jobs:
        parts.append(_jobs(round_, shown=jobs))
    for call in round_.other_calls:
        parts += _call(call, prompts=prompts, reply=True)
    if round_.feedback:
        parts.append(f"[bold]feedback for the next round:[/] {escape(round_.feedback)}")
    parts.extend(f"[yellow]note:[/yellow] {escape(n)}" for n in round_.notes)
    return parts


def _call(call: CallView, *, prompts: bool, reply: bool) -> list[RenderableType]:
    parts: list[RenderableType] = [f"[bold]{escape(call.heading)}[/]"]
    if call.error:
        parts.append(f"[red]error:[/] {escape(one_line(call.error))}")
    if prompts:
        parts.append(Panel(escape(call.prompt), title="prompt", border_style="dim"))
    if reply and call.reply:
        if call.reply_format == "json":
            parts.append(_code(call.reply, "json", "reply"))
        else:
            parts.append(Panel(escape(call.reply), title="reply", border_style="blue"))
    for quote in call.quotes:
        style = "green" if quote.mark == "verified" else "red"
        text = f"“{escape(quote.text)}” [dim]{escape(quote.where)}[/]"
        parts.append(f"  [{style}]{quote.symbol}[/] quote {text}")
    return parts


def _code(code: str, lexer: str, title: str) -> Panel:
    syntax = Syntax(code, lexer, word_wrap=True, background_color="default")
    return Panel(syntax, title=title, border_style="blue")


def _jobs(round_: RoundView, *, shown: JobsShown) -> RenderableType:
    rows = round_.jobs if shown == "all" else [j for j in round_.jobs if j.answered]
    grid = table(round_.jobs_line)
    grid.add_column("chunk", justify="right", no_wrap=True)
    grid.add_column("doc, pages")
    grid.add_column("task", justify="right", no_wrap=True)
    grid.add_column("output", ratio=1)
    grid.add_column("quote", justify="center", no_wrap=True)
    grid.add_column("tokens", justify="right", no_wrap=True)
    samples = any(j.sample for j in round_.jobs)
    for job in rows:
        task = f"{job.task_id}.{job.sample + 1}" if samples else str(job.task_id)
        grid.add_row(
            str(job.chunk),
            f"{escape(job.doc)}\n{job.pages}",
            task,
            _output(job),
            _symbol(job),
            f"{job.tokens:,}\n[dim]{job.seconds:.1f}s[/]",
        )
    hidden = len(round_.jobs) - len(rows)
    if not hidden:
        return grid
    note = f"[dim]{hidden} jobs without an answer not shown (--jobs all shows them)[/]"
    return Group(grid, note)


def _output(job: JobView) -> str:
    lines = []
    if job.error:
        tries = f" ({job.attempts} attempts)" if job.attempts > 1 else ""
        lines.append(f"[red]error{tries}:[/] {escape(one_line(job.error))}")
    elif job.answer is None:
        lines.append("[dim]abstained[/]")
    else:
        lines.append(f"[bold]{escape(job.answer)}[/]")
        if job.quote:
            lines.append(f"[italic]“{escape(job.quote)}”[/]")
        if job.explanation:
            lines.append(f"[dim]{escape(job.explanation)}[/]")
    return "\n".join(lines)


def _symbol(job: JobView) -> str:
    style = {"verified": "green", "unverified": "red", "unchecked": "dim"}[job.mark]
    return f"[{style}]{job.symbol}[/]"
