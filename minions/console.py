"""Terminal presentation of runs: live progress from events, and the final summary.

Used by the CLI only; library code never prints.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from minions.pricing import format_usd
from minions.types import Result, Usage


class LiveProgress:
    """An event sink drawing rounds, jobs done/total, tokens and dollars."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("starting", total=None, status="")
        self.round = 0
        self.usage: dict[str, Usage] = {"local": Usage(), "remote": Usage()}
        self.remote_usd = 0.0
        self.jobs_total = 0
        self.jobs_done = 0

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def _status(self) -> str:
        local, remote = self.usage["local"], self.usage["remote"]
        return (
            f"local {local.total_tokens:,} tok · remote {remote.total_tokens:,} tok · "
            f"{format_usd(self.remote_usd)}"
        )

    def __call__(self, event: Any) -> None:
        kind = event.kind
        if kind == "run_started":
            description = f"{event.protocol}"
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
            description=description,
            total=self.jobs_total or None,
            completed=self.jobs_done,
            status=self._status(),
        )


def _ratio(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "∞ (no remote cost)"
    return f"{value:,.1f}x cheaper"


def _calls(usage: Usage) -> str:
    """``12 calls``, or ``12 calls (17 requests)`` when some were retried."""
    retried = f" ({usage.requests} requests)" if usage.retries else ""
    return f"{usage.calls} calls{retried}"


def summary(result: Result, *, expected: str | None = None) -> Group:
    """The answer, citations, cost and time of a run, as rich renderables."""
    style = "green" if result.status == "answered" else "red"
    body = result.answer or f"(no answer) {result.error or ''}"
    parts: list[Any] = [Panel(body, title=f"answer · {result.protocol}", border_style=style)]
    if expected is not None:
        parts.append(Panel(expected, title="expected answer", border_style="blue"))
    if result.status != "answered":
        parts.append(f"[red]status {result.status}: {result.error}[/red]")
    if result.citations:
        parts.append(
            "[bold]citations[/bold]\n" + "\n".join(f"  • {c}" for c in result.citations[:8])
        )
    table = Table(show_header=False, box=None, pad_edge=False)
    cost, t = result.cost, result.timings
    rows = [
        (
            "remote",
            f"{result.remote_model} · {result.remote_usage.total_tokens:,} tokens "
            f"in {_calls(result.remote_usage)}",
        ),
        (
            "local",
            f"{result.local_model} · {result.local_usage.total_tokens:,} tokens "
            f"in {_calls(result.local_usage)}",
        ),
        (
            "remote $",
            f"{format_usd(cost.remote_usd)}"
            + (f" (priced as {cost.priced_as})" if cost.priced_as != result.remote_model else ""),
        ),
        ("remote-only $", format_usd(cost.remote_only_usd)),
        ("savings", _ratio(cost.savings_ratio)),
        (
            "time",
            f"{t.total_s:.1f}s (local {t.local_s:.1f}s, remote {t.remote_s:.1f}s, "
            f"overhead {t.overhead_s:.1f}s)",
        ),
    ]
    for key, value in rows:
        table.add_row(f"[bold]{key}[/bold]", value)
    parts.append(table)
    parts.extend(f"[yellow]note:[/yellow] {n}" for n in [*result.notes, cost.note] if n)
    return Group(*parts)
