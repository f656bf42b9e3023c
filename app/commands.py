"""``minions app``, registered under the entry-point group ``minions.commands``."""

from __future__ import annotations

from typing import Annotated

import typer

from minions.errors import MinionsError


def register(cli: typer.Typer) -> None:
    """Add ``minions app`` to the ``minions`` command."""
    cli.command("app")(run_app)


def run_app(
    port: Annotated[
        int | None, typer.Option(help="port (default: the first free from 8501)")
    ] = None,
    address: Annotated[str, typer.Option(help="address to listen on")] = "localhost",
    open_browser: Annotated[bool, typer.Option("--open", help="open a browser tab")] = False,
) -> None:
    """Start the Streamlit app and print its URL."""
    from minions.app.launch import launch
    from minions.cli import fail

    try:
        status = launch(port=port, address=address, open_browser=open_browser)
    except MinionsError as exc:
        fail(str(exc))
    raise typer.Exit(status)
