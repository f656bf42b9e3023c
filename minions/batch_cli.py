"""``minions batch``: a protocol over documents x questions, registered under the
entry-point group ``minions.commands``. The work is :func:`minions.batch.batch_async`;
this module draws its progress bar and its summary."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from minions.cli_help import examples
from minions.cli_options import (
    DocumentsArgument,
    LocalOption,
    ManifestOption,
    NoCacheOption,
    PagesOption,
    PriceAsOption,
    PrivacyOption,
    ProtocolOption,
    ProtocolOptionsOption,
    RemoteOption,
    limits_from_options,
)
from minions.console import TotalsColumn, count_bar, fail
from minions.errors import ConfigurationError, MinionsError
from minions.formatting import duration
from minions.formatting import usd as format_usd
from minions.limits import Limits

if TYPE_CHECKING:
    from minions.batch import BatchProgress, BatchResult
    from minions.batch_rows import BatchRow

__all__ = ["batch_command", "register"]

BATCH_PANEL = "Batch limits (reaching one starts no further row; rows in flight finish)"
ROW_PANEL = "Row limits (each row is one run; reaching one ends that row)"


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


class _Totals(TotalsColumn):
    """rows/min, ETA and dollars, read from the batch's progress at every refresh."""

    def extra(self, p: BatchProgress) -> list[str]:
        remote = format_usd(p.remote_usd)
        parts = [f"remote {remote} vs remote-only {format_usd(p.remote_only_usd)}"]
        if p.in_flight:
            parts.append(f"{p.in_flight} in flight")
        return parts


def _row_limits(usd: float | None, calls: int | None, timeout: float | None) -> Limits | None:
    try:
        return limits_from_options(usd, calls, timeout)
    except ConfigurationError as exc:
        raise ConfigurationError(str(exc).replace("--", "--row-", 1)) from None


BATCH_EXAMPLES = examples(
    'minions batch filings/ -q "What was capex in 2018?" --out runs/capex',
    "minions batch --manifest docs.jsonl --questions questions.txt --out runs/q1",
    'minions batch "10k/*.pdf" -q "Revenue?" --pages 1-8 --out runs/r --engine ray',
    'minions batch 10k/ -q "Capex?" --out runs/c --max-remote-usd 5 --price-as SPEC',
)


def batch_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Batch folder: run.json, results.jsonl, results.parquet, results.csv.",
        ),
    ],
    documents: DocumentsArgument = None,
    question: Annotated[
        list[str] | None,
        typer.Option("--question", "-q", metavar="TEXT", help="A question (repeatable)."),
    ] = None,
    questions: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="A file of questions: one a line, or .jsonl with {id, question} objects.",
        ),
    ] = None,
    manifest: ManifestOption = None,
    protocol: ProtocolOption = "minions",
    local: LocalOption = None,
    remote: RemoteOption = None,
    option: ProtocolOptionsOption = None,
    price_as: PriceAsOption = None,
    pages: PagesOption = None,
    engine: Annotated[
        Literal["local", "ray"],
        typer.Option(
            metavar="local|ray",
            help="local: this process; ray: Ray workers (RAY_ADDRESS, or a local one).",
        ),
    ] = "local",
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, metavar="N", help="Rows in flight per local model (default: what it serves)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="ray: workers (default: cluster CPUs / cpus)."),
    ] = None,
    cpus_per_worker: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="ray: CPU cores each worker reserves (default 2)."),
    ] = None,
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="Run rows that ended in an error again.")
    ] = False,
    max_remote_usd: Annotated[
        float | None,
        typer.Option(
            "--max-remote-usd",
            metavar="USD",
            rich_help_panel=BATCH_PANEL,
            help="Start no row once the batch's remote spending (all its rows in --out) "
            "reaches this many dollars (needs a priced remote, or --price-as).",
        ),
    ] = None,
    max_remote_calls: Annotated[
        int | None,
        typer.Option(
            "--max-remote-calls",
            metavar="N",
            rich_help_panel=BATCH_PANEL,
            help="Start no row once the batch has made this many remote calls.",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            rich_help_panel=BATCH_PANEL,
            help="Start no row after this many seconds of this command.",
        ),
    ] = None,
    row_max_remote_usd: Annotated[
        float | None,
        typer.Option(metavar="USD", rich_help_panel=ROW_PANEL, help="Remote dollars per row."),
    ] = None,
    row_max_remote_calls: Annotated[
        int | None,
        typer.Option(metavar="N", rich_help_panel=ROW_PANEL, help="Remote calls per row."),
    ] = None,
    row_timeout: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", rich_help_panel=ROW_PANEL, help="Wall time per row."),
    ] = None,
    no_cache: NoCacheOption = False,
    privacy: PrivacyOption = "off",
    teach: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            metavar="SHARE",
            help="auto: a teacher (its last stage) also answers this share of the rows, and "
            "the deferral policy learns from its answers as the batch goes (e.g. 0.1).",
        ),
    ] = 0.0,
) -> None:
    """Run a protocol over documents x questions: one row per pair in OUT/results.jsonl,
    then OUT/results.parquet and OUT/results.csv.

    Rerunning the same command resumes (finished rows are skipped); Ctrl-C keeps every finished row.
    """
    from minions.batch import batch_async
    from minions.cli import _parse_options

    stderr = Console(stderr=True)
    try:
        limits = limits_from_options(max_remote_usd, max_remote_calls, timeout)
        row_limits = _row_limits(row_max_remote_usd, row_max_remote_calls, row_timeout)
    except MinionsError as exc:
        fail(str(exc))
    options = _parse_options(option or [])
    totals = _Totals()
    bar, task = count_bar(engine, totals, stderr)
    saved = {"rows": 0}

    def on_start(progress: BatchProgress) -> None:
        totals.progress = progress
        bar.update(task, total=progress.total, completed=progress.done)

    def on_row(row: BatchRow, progress: BatchProgress) -> None:
        saved["rows"] += 1
        bar.update(task, completed=progress.done)
        if row.status == "error":
            error = (row.error or "").split("\n", 1)[0][:200]
            bar.console.print(f"[yellow]{row.doc_id} / {row.question_id}:[/] {error}")

    try:
        with bar:
            result = asyncio.run(
                batch_async(
                    documents or [],
                    question or [],
                    out=out,
                    manifest=manifest,
                    questions_file=questions,
                    protocol=protocol,
                    local=local,
                    remote=remote,
                    price_as=price_as,
                    limits=limits,
                    row_limits=row_limits,
                    pages=pages,
                    engine=engine,
                    concurrency=concurrency,
                    workers=workers,
                    cpus_per_worker=cpus_per_worker,
                    retry_errors=retry_errors,
                    cache=not no_cache,
                    privacy=privacy,
                    teach=teach,
                    on_start=on_start,
                    on_row=on_row,
                    **options,
                )
            )
    except KeyboardInterrupt:
        stderr.print(
            f"[yellow]interrupted:[/] {_rows(saved['rows'])} finished in this run; every "
            f"finished row is saved in {out / 'results.jsonl'}. Rerun the same command to resume."
        )
        raise typer.Exit(130) from None
    except MinionsError as exc:
        fail(str(exc))
    _print_summary(result)
    if result.stopped:
        stderr.print(f"[yellow]stopped:[/] {result.stopped}", highlight=False)
        raise typer.Exit(1)


def _print_summary(result: BatchResult) -> None:
    p = result.progress
    statuses: dict[str, int] = {}
    for row in result.rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    ratio = p.remote_only_usd / p.remote_usd if p.remote_usd else None
    lines = [
        ("rows", f"{len(result.rows)} of {p.total} ({p.done_before} done before this run)"),
        ("status", ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"),
        (
            "remote $",
            format_usd(p.remote_usd) + (f" ({p.unpriced} rows unpriced)" if p.unpriced else ""),
        ),
        ("remote-only $", format_usd(p.remote_only_usd)),
        ("cost ratio", f"{ratio:,.2f}x (remote-only $ / remote $)" if ratio else "n/a"),
        (
            "time",
            f"{duration(p.elapsed_s)}"
            + (f", {p.rows_per_min:.2f} rows/min" if p.rows_per_min else ""),
        ),
        ("results", str(result.out / "results.jsonl")),
        ("tables", f"{result.parquet}, {result.csv}"),
    ]
    lines += teaching_lines(result.rows)
    console = Console()
    width = max(len(key) for key, _ in lines)
    for key, value in lines:  # soft-wrapped: a path broken over lines cannot be copied
        console.print(f"[bold]{key:<{width}}[/]  {value}", highlight=False, soft_wrap=True)


#: windows the batch's rows are cut into, in the order they finished, to show learning
TEACH_WINDOWS = 3


def teaching_lines(rows: Sequence[BatchRow]) -> list[tuple[str, str]]:
    """For a batch of ``auto`` rows: the escalation rate and, on taught rows, the
    agreement with the teacher, in windows of the rows in the order they finished."""
    routed = sorted((r for r in rows if r.stage is not None), key=lambda r: r.finished_at)
    if not routed:
        return []
    size = max(1, -(-len(routed) // TEACH_WINDOWS))
    lines = []
    for start in range(0, len(routed), size):
        window = routed[start : start + size]
        escalated = sum(r.escalations > 0 for r in window)
        taught = [r for r in window if r.taught]
        agreed = sum(bool(r.teacher_agrees) for r in taught)
        agreement = f"{agreed}/{len(taught)} agree with the teacher" if taught else "none taught"
        lines.append(
            (
                f"rows {start + 1}-{start + len(window)}",
                f"escalated {escalated}/{len(window)} ({escalated / len(window):.0%}); {agreement}",
            )
        )
    teacher = sum(r.teacher_usd or 0.0 for r in routed)
    if any(r.taught for r in routed):
        lines.append(("teacher $", format_usd(teacher)))
    return lines


def register(cli: typer.Typer) -> None:
    """Add ``minions batch`` to the ``minions`` command."""
    cli.command("batch", epilog=BATCH_EXAMPLES)(batch_command)
