"""``minions app``, registered under the entry-point group ``minions.commands``."""

from __future__ import annotations

from typing import Annotated

import typer

from minions.cli_help import examples
from minions.errors import MinionsError


def register(cli: typer.Typer) -> None:
    """Add ``minions app`` to the ``minions`` command."""
    cli.command("app", epilog=examples("minions app", "minions app --port 8600 --open"))(run_app)


def run_app(
    port: Annotated[
        int | None,
        typer.Option(metavar="N", help="Port to listen on (default: the first free from 8501)."),
    ] = None,
    address: Annotated[
        str, typer.Option(metavar="HOST", help="Address to listen on.")
    ] = "localhost",
    open_browser: Annotated[bool, typer.Option("--open", help="Open a browser tab.")] = False,
) -> None:
    """Start the Streamlit app and print its URL.

    The app walks through getting a document and the two models ready, then runs and
    compares questions; its run history stays on this machine.
    """
    from minions.app.launch import launch
    from minions.console import fail

    try:
        status = launch(port=port, address=address, open_browser=open_browser)
    except MinionsError as exc:
        fail(str(exc))
    raise typer.Exit(status)
