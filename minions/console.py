"""Terminal presentation: live progress of a run from its events, its final summary,
one-line failures and tables that fit an 80-column terminal.

Used by the CLI (and the commands of plugins) only; library code never prints. Money
and ratios read as everywhere else (:mod:`minions.formatting`): savings only for a run
that answered.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from minions.errors import one_line
from minions.formatting import cost_summary, duration, exposure, usd
from minions.types import Result, Usage


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` on stderr as one error line (the terminal wraps it, rich does
    not) and exit with ``code``: how every ``minions`` command, a plugin's included,
    says that it cannot go on."""
    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


class TotalsColumn(ProgressColumn):
    """Rate, ETA, then what :meth:`extra` adds, read from ``progress`` (a
    :class:`minions.progress.Throughput`) at every refresh; ``waiting`` until the work
    has started."""

    unit = "rows"
    waiting = "loading documents"

    def __init__(self) -> None:
        super().__init__()
        self.progress: Any = None

    def render(self, task: Any) -> Text:
        p = self.progress
        if p is None:
            return Text(self.waiting)
        rate = p.rows_per_min
        parts = [
            f"{rate:.1f} {self.unit}/min" if rate else f"-- {self.unit}/min",
            f"ETA {duration(p.eta_s)}",
            *self.extra(p),
        ]
        if p.errors:
            parts.append(f"{p.errors} errors")
        return Text(" · ".join(parts))

    def extra(self, progress: Any) -> list[str]:
        return []


def count_bar(label: str, totals: ProgressColumn, console: Console) -> tuple[Progress, TaskID]:
    """A bar of items done (``label``, bar, n/total, then ``totals``: rate, ETA,
    dollars) and its task, whose total is set when the work knows it."""
    bar = Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        totals,
        console=console,
        refresh_per_second=2,
    )
    return bar, bar.add_task(label, total=None)


def table(title: str | None = None) -> Table:
    """A table for an 80-column terminal: no side borders, a rule under the header, the
    title on the left; columns added by the caller."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


class LiveProgress:
    """An event sink drawing rounds, jobs done/total, tokens and dollars.

    Nothing is drawn until the run starts (documents loaded, models ready), so a
    missing file or a bad option is one line, not a bar and a line; the bar goes away
    when the run ends, since the summary says the same and more.
    """

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[jobs]}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task(
            "starting", total=None, status="", jobs="", visible=False
        )
        self.started = False
        self.round = 0
        self.usage: dict[str, Usage] = {"local": Usage(), "remote": Usage()}
        self.remote_usd = 0.0
        self.jobs_total = 0
        self.jobs_done = 0

    def __enter__(self) -> LiveProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self.progress.stop()

    def _status(self) -> str:
        local, remote = self.usage["local"], self.usage["remote"]
        return (
            f"local {local.total_tokens:,} tok · remote {remote.total_tokens:,} tok · "
            f"{usd(self.remote_usd)}"
        )

    def __call__(self, event: Any) -> None:
        kind = event.kind
        if kind == "run_started":
            description = f"{event.protocol}"
            if not self.started:
                self.started = True
                self.progress.start()
        elif kind == "remote_call":
            self.round = max(self.round, event.round)
            self.usage["remote"] += event.usage
            self.remote_usd += event.usd or 0.0
            description = f"round {self.round}: remote {event.purpose}"
        elif kind == "local_call":
            self.usage["local"] += event.usage
            description = f"round {event.round}: local {event.purpose}"
        elif kind == "jobs_planned":
            self.jobs_total += len(event.jobs)
            description = f"round {event.round}: local jobs"
        elif kind == "job_done":
            self.jobs_done += 1
            self.usage["local"] += event.usage
            description = f"round {event.round}: local jobs"
        elif kind == "round_finished":
            description = f"round {event.round}: {event.decision}"
        elif kind == "run_finished":
            description = event.status
        else:
            return
        self.progress.update(
            self.task,
            visible=True,
            description=description,
            total=self.jobs_total or None,
            completed=self.jobs_done,
            status=self._status(),
            jobs=f"{self.jobs_done}/{self.jobs_total} jobs" if self.jobs_total else "",
        )


def _calls(usage: Usage) -> str:
    """``12 calls``, or ``12 calls (17 requests)`` when some were retried, and how many
    the response cache answered (``12 calls, 5 from the cache``)."""
    retried = f" ({_count(usage.requests, 'request')})" if usage.retries else ""
    hits = f", {usage.cache_hits} from the cache" if usage.cache_hits else ""
    return f"{_count(usage.calls, 'call')}{retried}{hits}"


def _count(n: int, thing: str) -> str:
    """``1 call``, ``2 calls``, ``1,200 calls``."""
    return f"{n:,} {thing}{'s' * (n != 1)}"


#: how many of a run's citations the summary lists (then "and N more")
CITATIONS_SHOWN = 8

#: the colour of a run's cost line, by :attr:`minions.formatting.CostSummary.state`
_COST_STYLE = {
    "cheaper": "green",
    "free": "green",
    "same": "default",
    "pricier": "yellow",
    "unpriced": "yellow",
    "partial": "yellow",
    "no_answer": "red",
}


def failure(result: Result) -> str:
    """A failed run in one line: what went wrong and what to do (the error's own
    words), then what it spent when it spent anything."""
    error = one_line(result.error or "the run ended without an answer")
    line = f"[bold red]error:[/] {escape(error)}"
    spent = result.cost.total_usd
    if spent is None or spent > 0:
        costs = cost_summary(result.status, result.cost, documents=len(result.documents))
        line += f" [dim]({escape(costs.headline)})[/dim]"
    return line


def summary(result: Result, *, expected: str | None = None) -> Group:
    """The answer and what it cost first, then citations, models, tokens and time, as
    rich renderables."""
    costs = cost_summary(result.status, result.cost, documents=len(result.documents))
    answered = result.status == "answered"
    style = "green" if answered else "yellow" if result.answer else "red"
    title = f"answer · {result.protocol}" if answered else f"answer so far · {result.protocol}"
    body = escape(result.answer) if result.answer else "(no answer)"
    parts: list[Any] = [
        Panel(body, title=title, border_style=style),
        f"[{_COST_STYLE[costs.state]}]{escape(costs.headline)}[/]",
    ]
    if expected is not None:
        parts.append(Panel(escape(expected), title="expected answer", border_style="blue"))
    if not answered:
        label = "budget reached" if result.status == "budget_exceeded" else "error"
        parts.append(f"[{style}]{label}:[/] {escape(one_line(result.error or ''))}")
    if result.citations:
        lines = [f"  • {escape(c)}" for c in result.citations[:CITATIONS_SHOWN]]
        more = len(result.citations) - CITATIONS_SHOWN
        if more > 0:
            lines.append(f"  [dim]and {more} more[/dim]")
        parts.append("[bold]citations[/bold]\n" + "\n".join(lines))
    table = Table(show_header=False, box=None, pad_edge=False)
    cost, t = result.cost, result.timings
    priced_as = f" (priced as {cost.priced_as})" if cost.priced_as != result.remote_model else ""
    rows = [
        (
            "remote",
            f"{result.remote_model} · {result.remote_usage.total_tokens:,} tokens "
            f"in {_calls(result.remote_usage)} · {costs.spent}{priced_as}",
        ),
        (
            "local",
            f"{result.local_model} · {result.local_usage.total_tokens:,} tokens "
            f"in {_calls(result.local_usage)}",
        ),
        ("remote-only", f"{costs.remote_only} (everything sent to the remote in one call)"),
    ]
    if costs.savings:
        rows.append((costs.savings_label, costs.savings))
    if result.privacy.calls:
        rows.append(("sent of the text", exposure(result.privacy)))
    rows.append(
        (
            "time",
            f"{t.total_s:.1f}s (local {t.local_s:.1f}s, remote {t.remote_s:.1f}s, "
            + (f"sandbox {t.sandbox_s:.1f}s, " if t.sandbox_s else "")
            + f"overhead {t.overhead_s:.1f}s)",
        )
    )
    for key, value in rows:
        table.add_row(f"[bold]{key}[/bold]", escape(value))
    parts.append(table)
    parts.extend(f"[yellow]note:[/yellow] {escape(n)}" for n in [*result.notes, cost.note] if n)
    return Group(*parts)
