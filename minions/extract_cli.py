"""``minions extract``: a table of fields from a corpus, registered under the
entry-point group ``minions.commands``. The work is :func:`minions.extract.extract_async`;
this module draws its progress bar, the table and the cost."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from minions.chunking import CHUNKERS
from minions.cli_help import examples
from minions.cli_options import (
    DocumentsArgument,
    LocalOption,
    ManifestOption,
    NoCacheOption,
    PagesOption,
    PriceAsOption,
    PrivacyOption,
    RemoteOption,
    limits_from_options,
)
from minions.console import TotalsColumn, count_bar, fail
from minions.errors import ConfigurationError, MinionsError
from minions.formatting import duration
from minions.formatting import usd as format_usd

if TYPE_CHECKING:
    from minions.extract import ExtractProgress, ExtractResult, ExtractRow
    from minions.extract_fields import FieldSpec

__all__ = ["extract_command", "register"]

#: rows of the table printed at the end (the files hold them all)
SHOWN_ROWS = 20

EXTRACT_EXAMPLES = examples(
    'minions extract filings/ --field "capex:number:FY2018 capital expenditure, USD millions" '
    "--out runs/capex",
    "minions extract --manifest records.jsonl --schema fields.json --out runs/records",
    'minions extract 10k/ -f "ceo:str:the chief executive" --synthesize --out runs/ceo',
)


class _Totals(TotalsColumn):
    """docs/min, ETA, local tokens and dollars, read from the extraction's progress."""

    unit = "docs"
    waiting = "planning"

    def extra(self, p: ExtractProgress) -> list[str]:
        return [
            f"{p.local_tokens:,} local tokens",
            f"remote {format_usd(p.plan_remote_usd)} "
            f"vs remote-only {format_usd(p.remote_only_usd)}",
        ]


def _fields(field: list[str], schema: Path | None) -> list[str] | dict[str, Any]:
    if schema is not None and field:
        raise ConfigurationError("pass either --field (repeatable) or --schema FILE, not both")
    if schema is None:
        return field
    try:
        loaded = json.loads(schema.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the JSON schema {schema}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"{schema} must hold a JSON object schema with properties")
    return loaded


def extract_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Output folder: run.json, plan.json, results.jsonl, results.parquet, results.csv.",
        ),
    ],
    documents: DocumentsArgument = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-f",
            metavar="NAME:TYPE:DESCRIPTION",
            help="A field (repeatable). TYPE: str, int, number, date, bool or list[...]; the "
            "description may name document metadata as {key}.",
        ),
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="The fields as a JSON schema file (an object's properties)."
        ),
    ] = None,
    manifest: ManifestOption = None,
    local: LocalOption = None,
    remote: RemoteOption = None,
    price_as: PriceAsOption = None,
    pages: PagesOption = None,
    top_k: Annotated[
        int, typer.Option(min=1, metavar="N", help="Chunks read per field and document.")
    ] = 3,
    chunking: Annotated[
        str,
        typer.Option(metavar="NAME", help=f"How documents are cut: {', '.join(CHUNKERS)}."),
    ] = "pages",
    chunk_size: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="The chunker's size.")
    ] = None,
    review: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="Show the remote N sampled cells with their cited snippets, once, so it can "
            "revise the plan. Off by default: it sends document text (the output says how much).",
        ),
    ] = 0,
    synthesize: Annotated[
        bool,
        typer.Option(
            "--synthesize",
            help="Fit extraction functions on the first documents and let them answer the "
            "rest where they agree; the local model reads only where they abstain or differ.",
        ),
    ] = False,
    sample_docs: Annotated[
        int,
        typer.Option(
            min=1, metavar="N", help="Documents read first, for --review and --synthesize."
        ),
    ] = 3,
    doc_timeout: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", help="Stop reading a document after this long."),
    ] = None,
    privacy: PrivacyOption = "off",
    no_cache: NoCacheOption = False,
) -> None:
    """Extract fields from documents into a table: one row per document, per field the
    value, its pages and its agreement, in OUT/results.parquet and OUT/results.csv.

    The remote plans once from the field specs (never the text); the local model reads.
    Rerunning the same command resumes without planning again; Ctrl-C keeps every
    finished document.
    """
    from minions.extract import extract_async

    stderr = Console(stderr=True)
    try:
        fields = _fields(field or [], schema)
        limits = limits_from_options(None, None, doc_timeout)
    except MinionsError as exc:
        fail(str(exc))
    totals = _Totals()
    bar, task = count_bar("extract", totals, stderr)
    saved = {"rows": 0}

    def on_start(progress: ExtractProgress) -> None:
        totals.progress = progress
        bar.update(task, total=progress.total, completed=progress.done)

    def on_row(row: ExtractRow, progress: ExtractProgress) -> None:
        saved["rows"] += 1
        bar.update(task, completed=progress.done)
        if row.status != "answered":
            bar.console.print(f"[yellow]{row.id}:[/] {(row.error or row.status)[:200]}")

    try:
        with bar:
            result = asyncio.run(
                extract_async(
                    documents or [],
                    fields,
                    out=out,
                    manifest=manifest,
                    local=local,
                    remote=remote,
                    price_as=price_as,
                    top_k=top_k,
                    chunking=chunking,
                    chunk_size=chunk_size,
                    pages=pages,
                    review=review,
                    synthesize=synthesize,
                    sample_docs=sample_docs,
                    limits=limits,
                    privacy=privacy,
                    cache=not no_cache,
                    on_start=on_start,
                    on_row=on_row,
                )
            )
    except KeyboardInterrupt:
        stderr.print(
            f"[yellow]interrupted:[/] {saved['rows']} document(s) finished in this run; every "
            f"finished one is saved in {out / 'results.jsonl'}. Rerun the same command to resume."
        )
        raise typer.Exit(130) from None
    except MinionsError as exc:
        fail(str(exc))
    _print_table(result)
    _print_summary(result)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def _print_table(result: ExtractResult) -> None:
    fields: list[FieldSpec] = result.fields
    table = Table(show_lines=False)
    table.add_column("document")
    for spec in fields:
        table.add_column(spec.name)
    for row in result.rows[:SHOWN_ROWS]:
        cells = []
        for spec in fields:
            value, agreement = row.values.get(spec.name), row.agreement.get(spec.name)
            pages = row.pages.get(spec.name) or []
            where = f" p.{','.join(map(str, pages))}" if value is not None and pages else ""
            share = f" {agreement:.0%}" if value is not None and agreement is not None else ""
            cells.append(f"{_shown(value)}[dim]{where}{share}[/]")
        table.add_row(row.id, *cells)
    Console().print(table)
    if len(result.rows) > SHOWN_ROWS:
        Console().print(f"... {len(result.rows) - SHOWN_ROWS} more rows in {result.csv}")


def _print_summary(result: ExtractResult) -> None:
    p, plan = result.progress, result.plan
    remote = plan.usage.get("remote")
    calls = remote.calls if remote else 0
    tokens = f"{remote.input_tokens:,} in / {remote.output_tokens:,} out" if remote else "0"
    statuses: dict[str, int] = {}
    for row in result.rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    saved = sum(r.local_calls_saved for r in result.rows)
    lines = [
        ("documents", f"{len(result.rows)} of {p.total} ({p.done_before} done before this run)"),
        ("status", ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"),
        (
            "remote",
            f"{format_usd(result.remote_usd)} for {calls} call(s), {tokens} tokens: the plan"
            + (", the review" if plan.reviewed else "")
            + (", the functions" if plan.functions else "")
            + ", once for every document",
        ),
        ("remote-only $", f"{format_usd(result.remote_only_usd)} (every document sent whole)"),
        ("document text sent", f"{plan.review_chars_sent:,} characters (the review's snippets)"),
        (
            "local tokens",
            f"{p.local_tokens:,}" + (f"; {saved} reads answered by functions" if saved else ""),
        ),
        ("time", duration(p.elapsed_s)),
        ("tables", f"{result.parquet}, {result.csv}"),
    ]
    if not plan.from_remote:
        lines.append(("plan", "the remote's plan was unusable: fields' descriptions used"))
    console = Console()
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        console.print(f"[bold]{key:<{width}}[/]  {value}", highlight=False, soft_wrap=True)


def register(cli: typer.Typer) -> None:
    """Add ``minions extract`` to the ``minions`` command."""
    cli.command("extract", epilog=EXTRACT_EXAMPLES)(extract_command)
