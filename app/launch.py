"""Start the Streamlit app: what ``minions app`` runs."""

from __future__ import annotations

import importlib.util
import logging
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from minions.errors import ConfigurationError, MissingDependencyError

logger = logging.getLogger(__name__)

APP_PATH = Path(__file__).resolve().parent / "streamlit_app.py"
DEFAULT_PORT = 8501


def port_is_free(port: int, address: str = "localhost") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def free_port(start: int = DEFAULT_PORT, address: str = "localhost", tries: int = 50) -> int:
    """The first port from ``start`` on that nothing listens on."""
    for port in range(start, start + tries):
        if port_is_free(port, address):
            return port
    raise ConfigurationError(f"no free port in {start}-{start + tries - 1}; pass one with --port")


def streamlit_command(port: int, address: str, *, open_browser: bool = False) -> list[str]:
    """``python -m streamlit run <app>`` with the flags the app runs with."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "false" if open_browser else "true",
        "--browser.gatherUsageStats", "false",
        # no Deploy button or developer menu: this is an app to use, not to edit
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip


def launch(
    *,
    port: int | None = None,
    address: str = "localhost",
    open_browser: bool = False,
    extra_args: Sequence[str] = (),
) -> int:
    """Start the app, print its URL and wait until it stops; returns its exit status.

    ``port`` defaults to the first free one from 8501; a given port that is taken is
    an error. ``open_browser`` opens a browser tab; ``extra_args`` go to
    ``streamlit run`` as they are (e.g. ``["--theme.base", "dark"]``). Ctrl+C stops
    the server. Raises :class:`MissingDependencyError` without streamlit.
    """
    if importlib.util.find_spec("streamlit") is None:
        raise MissingDependencyError("streamlit", "app", "minions app")
    if port is None:
        port = free_port(DEFAULT_PORT, address)
    elif not port_is_free(port, address):
        raise ConfigurationError(f"port {port} is in use; pick another with --port")
    command = [*streamlit_command(port, address, open_browser=open_browser), *extra_args]
    logger.info("running %s", " ".join(command))
    print(f"minions app: http://{address}:{port}  (Ctrl+C to stop)", flush=True)
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
