"""``minions eval``: run protocols over a dataset, and ``minions eval report DIR``.

``eval_app`` is a typer app; the ``minions`` command mounts it with
``app.add_typer(eval_app, name="eval")``. This is the only module of ``evals`` that
presents anything (rich progress and tables); the library logs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from minions.api import DEFAULT_LOCAL, OFFLINE_PRICE_AS, OFFLINE_REMOTE, choose_remote
from minions.cli_help import Typer, examples
from minions.cli_options import (
    MaxRemoteCallsOption,
    MaxRemoteUsdOption,
    PrivacyOption,
    TimeoutOption,
    limits_from_options,
)
from minions.clients import runs_locally
from minions.console import fail as _fail
from minions.console import table as narrow_table
from minions.errors import MinionsError
from minions.formatting import percent, usd

from .datasets import available_datasets
from .report import SCORER_COLUMNS, GroupStats, by_scorer, cells, summarize, write_report
from .runner import RESULTS, EvalRow, EvalSettings, parse_options, run_eval
from .runner import Progress as RunProgress

__all__ = ["eval_app"]

eval_app = Typer(
    help="Evaluate protocols on a dataset: accuracy against remote cost.",
    epilog=examples(
        "minions eval -d financebench -p remote_only,minions --limit 3 --out runs/fb",
        "minions eval -d my-questions.jsonl --remote openai:gpt-4o-mini --out runs/mine",
        "minions eval report runs/fb",
    ),
)


def _stdout() -> Console:
    # made per use, so the terminal's current width (or $COLUMNS) applies
    return Console()


def _stderr() -> Console:
    return Console(stderr=True)


def _split(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated values as one list."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    found = {}
    for value in values or []:
        key, sep, text = value.partition("=")
        if not sep or not key:
            _fail(f"{flag} {value!r} must look like key=value")
        found[key.strip()] = text.strip()
    return found


#: the terminal table: short headers (report.md has the long ones and the notes)
TERMINAL_COLUMNS = [
    ("protocol", "protocol"),
    ("n", "n"),
    ("accuracy [95% CI]", "accuracy"),
    ("remote $/q", "remote_usd"),
    ("remote tok/q", "remote_tokens"),
    ("local tok/q", "local_tokens"),
    ("s/q", "wall_s"),
    ("errors", "errors"),
    ("remote-only $/q", "remote_only_usd"),
    ("cost ratio", "cost_ratio"),
    ("quality ratio", "quality_ratio"),
]


#: the columns kept on a terminal narrower than ``WIDE_TERMINAL``
NARROW_COLUMNS = ("protocol", "n", "accuracy", "remote_usd", "cost_ratio", "quality_ratio")
WIDE_TERMINAL = 140


def results_table(groups: list[GroupStats], title: str, *, width: int = WIDE_TERMINAL) -> Table:
    """The report table of ``groups`` (one dataset) for a terminal ``width`` wide: below
    ``WIDE_TERMINAL`` the main columns only, accuracy without its interval, so it fits
    an 80-column terminal (report.md has everything)."""
    if width >= WIDE_TERMINAL:
        return _table(groups, title, TERMINAL_COLUMNS)
    narrow = [
        ("accuracy", "accuracy_short") if key == "accuracy" else (header, key)
        for header, key in TERMINAL_COLUMNS
        if key in NARROW_COLUMNS
    ]
    return _table(groups, title, narrow)


#: cells kept on one line (a ratio broken over lines reads as two figures)
_WHOLE = ("protocol", "accuracy", "accuracy_short", "cost_ratio", "remote_usd")


def _table(groups: list[GroupStats], title: str, columns: list[tuple[str, str]]) -> Table:
    table = narrow_table(title)
    for header, key in columns:
        table.add_column(header, no_wrap=key in _WHOLE)
    for group in groups:
        row = cells(group)
        table.add_row(*(row[key] for _, key in columns))
    return table


def _print_tables(groups: list[GroupStats], scorers: list[GroupStats]) -> None:
    console = _stdout()
    for dataset in dict.fromkeys(g.dataset for g in groups):
        members = [g for g in groups if g.dataset == dataset]
        console.print(results_table(members, dataset, width=console.width))
        for group in members:
            if group.note:
                console.print(f"  {group.protocol}: {group.note}", highlight=False)
        scored = [g for g in scorers if g.dataset == dataset]
        if scored:
            console.print(_table(scored, f"{dataset} by scorer", SCORER_COLUMNS))


def _status(progress: RunProgress) -> str:
    accuracy = percent(progress.accuracy, digits=0)
    return (
        f"accuracy {progress.correct}/{progress.decided} ({accuracy}) · "
        f"remote {usd(progress.remote_usd)} · {progress.errors} errors"
    )


def _out_from_options(options: list[str], out: Path | None) -> tuple[list[str], Path | None]:
    """The old ``-o DIR`` (``-o`` was ``--out`` here; now it is ``--option``, as in every
    command): a value without ``=`` is the run folder, with a deprecation warning."""
    folders = [value for value in options if "=" not in value]
    if not folders:
        return options, out
    if out is not None or len(folders) > 1:
        _fail(
            f"-o takes KEY=VALUE (a protocol option); {' '.join(folders)!r} is not one. "
            "Give the run folder with --out DIR."
        )
    _stderr().print(
        f"[yellow]warning:[/] -o DIR is deprecated: write --out {folders[0]} (-o now means "
        "--option, as in minions ask).",
        highlight=False,
        soft_wrap=True,
    )
    return [value for value in options if "=" in value], Path(folders[0])


@eval_app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "-d",
            metavar="NAME|FILE",
            help=f"A registered dataset ({', '.join(available_datasets())}) or the path of a "
            ".jsonl file of your own questions.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Run folder (results.jsonl, run.json)."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            help="Path of a registered dataset's files; default: the copy in ../shared/data "
            "(none for qasper).",
        ),
    ] = None,
    download: Annotated[
        bool,
        typer.Option("--download", help="financebench: fetch the public source into the cache."),
    ] = False,
    protocols: Annotated[
        str,
        typer.Option(
            "--protocols", "-p", metavar="NAMES", help="Comma-separated protocols to compare."
        ),
    ] = "remote_only,minion,minions",
    local: Annotated[
        str, typer.Option(metavar="SPEC", help="Local model; see `minions models`.")
    ] = DEFAULT_LOCAL,
    remote: Annotated[
        str | None,
        typer.Option(
            metavar="SPEC",
            help="Remote model; default: an API key's model, else the offline stand-in.",
        ),
    ] = None,
    price_as: Annotated[
        str | None,
        typer.Option("--price-as", metavar="SPEC", help="Price remote usage as this model."),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            metavar="HOW",
            help="financebench: full | pages:N; longhealth: full | texts:N | tokens:N | "
            "distractors:N; qasper: full.",
        ),
    ] = None,
    ids: Annotated[
        list[str] | None,
        typer.Option(
            "--ids", metavar="IDS", help="Only these example ids (repeat or comma-separate)."
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=VALUE",
            help="Only examples whose metadata has key=value, e.g. kind=negation/condition.",
        ),
    ] = None,
    sample: Annotated[
        int | None, typer.Option(min=1, help="A seeded random sample of this many examples.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many examples.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of sampling and distractor pages.")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, help="Pairs run at once.")] = 1,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            metavar="KEY=VALUE",
            help="Protocol option key=value or protocol.key=value (repeat).",
        ),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            metavar="SPEC",
            help="Model of an LLM judge: grades free-form answers, and the questions of "
            "a .jsonl file with scorer judge.",
        ),
    ] = None,
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="Run pairs that ended in an error again.")
    ] = False,
    traces: Annotated[
        bool, typer.Option("--traces", help="Save every Result as traces/<protocol>/<id>.json.")
    ] = False,
    max_remote_usd: MaxRemoteUsdOption = None,
    max_remote_calls: MaxRemoteCallsOption = None,
    timeout: TimeoutOption = None,
    privacy: PrivacyOption = "off",
) -> None:
    """Run protocols over a dataset: one row per (example, protocol) in DIR/results.jsonl.

    Rerunning the same command resumes; `minions eval report DIR` writes the report.
    """
    if ctx.invoked_subcommand is not None:
        return
    option, out = _out_from_options(option or [], out)
    if dataset is None or out is None:
        missing = " and ".join(f for f, v in (("--dataset", dataset), ("--out", out)) if v is None)
        _stderr().print(ctx.get_usage(), highlight=False)
        _stderr().print(f"Try '{ctx.command_path} --help' for help.", highlight=False)
        _fail(f"{missing} required to run an eval (or `{ctx.command_path} report DIR`)", code=2)
    protocol_names = _split([protocols])
    remote_spec, price_as, stand_in = choose_remote(remote or None, price_as)
    if stand_in:
        _stderr().print(
            f"[yellow]note:[/] the remote is the offline stand-in {OFFLINE_REMOTE}, priced as "
            f"{price_as}; pass --remote for a real remote model."
        )
    elif price_as is None and runs_locally(remote_spec):
        _stderr().print(
            f"[yellow]note:[/] the remote {remote_spec} runs locally, so remote $ will be $0; "
            f"pass --price-as {OFFLINE_PRICE_AS} (or another priced model) to estimate cloud "
            "cost."
        )
    try:
        if download:
            if dataset != "financebench":
                _fail("--download is for --dataset financebench")
            from .datasets import financebench

            data = str(financebench.download())
        settings = EvalSettings(
            dataset=dataset,
            data=data,
            context=context,
            protocols=protocol_names,
            local=local,
            remote=remote_spec,
            price_as=price_as,
            judge=judge,
            ids=_split(ids) or None,
            where=_pairs(where, "--where"),
            sample=sample,
            limit=limit,
            seed=seed,
            options=parse_options(option, protocol_names),
            limits=limits_from_options(max_remote_usd, max_remote_calls, timeout),
            privacy=privacy,
        )
    except (MinionsError, ValueError) as exc:
        _fail(str(exc))
    rows = _run_with_progress(settings, out, concurrency, retry_errors, traces)
    _print_tables(summarize(rows, seed=settings.seed), by_scorer(rows, seed=settings.seed))
    _stdout().print(
        f"{len(rows)} rows in {out / RESULTS}; `minions eval report {out}` writes report.md "
        "and the cost-vs-accuracy plot.",
        highlight=False,
        soft_wrap=True,
    )


def _run_with_progress(
    settings: EvalSettings, out: Path, concurrency: int, retry_errors: bool, traces: bool
) -> list[EvalRow]:
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_stderr(),
    )
    task = bar.add_task(settings.dataset, total=None, status="loading examples")

    def on_start(progress: RunProgress) -> None:
        bar.update(task, total=progress.total, completed=progress.done, status=_status(progress))

    def on_row(row: EvalRow, progress: RunProgress) -> None:
        bar.update(task, completed=progress.done, status=_status(progress))
        if row.status == "error":
            error = (row.error or "").split("\n", 1)[0][:200]
            bar.console.print(
                f"[yellow]{row.example_id} {row.protocol}:[/] {error}", highlight=False
            )

    try:
        with bar:
            return asyncio.run(
                run_eval(
                    settings,
                    out,
                    concurrency=concurrency,
                    retry_errors=retry_errors,
                    traces=traces,
                    on_start=on_start,
                    on_row=on_row,
                )
            )
    except KeyboardInterrupt:
        _stderr().print(
            f"[yellow]interrupted:[/] finished rows are saved in {out / RESULTS}; rerun the "
            "same command to resume."
        )
        raise typer.Exit(130) from None
    except MinionsError as exc:
        _fail(str(exc))


@eval_app.command("report", epilog=examples("minions eval report runs/fb"))
def report(
    out: Annotated[
        Path, typer.Argument(metavar="DIR", help="A run folder written by `minions eval`.")
    ],
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
) -> None:
    """Write DIR/report.md and DIR/cost_vs_accuracy.png, and print the table."""
    try:
        result, markdown, image = write_report(out, seed=seed)
    except MinionsError as exc:
        _fail(str(exc))
    _print_tables(result.groups, result.scorers)
    _stdout().print(f"wrote {markdown} and {image}", highlight=False, soft_wrap=True)


def register(cli: typer.Typer) -> None:
    """Add ``minions eval`` to the ``minions`` command (entry-point group
    ``minions.commands``)."""
    cli.add_typer(eval_app, name="eval")


if __name__ == "__main__":  # `python -m minions.evals.cli ...`
    eval_app()
