"""``minions serve``: the OpenAI-compatible server of :mod:`minions.serve`, registered
under the entry-point group ``minions.commands``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from minions.cli_help import examples
from minions.cli_options import (
    LocalOption,
    MaxRemoteCallsOption,
    MaxRemoteUsdOption,
    NoCacheOption,
    PriceAsOption,
    PrivacyOption,
    RemoteOption,
    TimeoutOption,
    limits_from_options,
)
from minions.console import fail
from minions.errors import MinionsError, MissingDependencyError

__all__ = ["register", "serve_command"]

SERVE_EXAMPLES = examples(
    "minions serve --documents-root ~/filings",
    "minions serve --local ollama:qwen2.5:3b --remote openai:gpt-4o-mini",
    "minions serve --port 8080 --max-queue 4 --max-remote-usd 0.10",
    'minions serve --host 0.0.0.0 --api-key "$MINIONS_SERVE_API_KEY"',
)


def usage(url: str, *, paths: bool, api_key: bool) -> str:
    """How to call the server at ``url`` with the openai client."""
    key = '"<the --api-key>"' if api_key else '"unused"'
    lines = ["from openai import OpenAI", f'client = OpenAI(base_url="{url}", api_key={key})']
    document = '"report.pdf"'  # a path under the documents root
    if not paths:
        lines.append(
            'upload = client.files.create(file=open("report.pdf", "rb"), purpose="user_data")'
        )
        document = "upload.id"
    return "\n".join(
        [
            *lines,
            "reply = client.chat.completions.create(",
            '    model="minions",',
            '    messages=[{"role": "user", "content": "What was capex in 2018?"}],',
            f'    extra_body={{"documents": [{document}], "options": {{"max_rounds": 2}}}},',
            ")",
            'print(reply.choices[0].message.content, reply.model_extra["minions"]["cost"])',
        ]
    )


def serve_command(
    host: Annotated[
        str,
        typer.Option(metavar="HOST", help="Address to listen on (0.0.0.0: every interface)."),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(metavar="N", min=0, max=65535, help="Port to listen on (0: any free).")
    ] = 8000,
    documents_root: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Clients may name files under this folder by path (symlinks resolved, "
            "nothing outside it). Without it they upload files (POST /v1/files).",
        ),
    ] = None,
    local: LocalOption = None,
    remote: RemoteOption = None,
    price_as: PriceAsOption = None,
    max_queue: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="Requests that may wait for the local model; more get 503 and Retry-After.",
        ),
    ] = 16,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, metavar="N", help="Runs at once (default: what the local model serves)."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            envvar="MINIONS_SERVE_API_KEY",
            show_envvar=False,
            help="Refuse requests without this bearer token (env MINIONS_SERVE_API_KEY).",
        ),
    ] = None,
    max_upload_mb: Annotated[
        int, typer.Option(min=1, metavar="MB", help="Largest file a client may upload.")
    ] = 100,
    max_remote_usd: MaxRemoteUsdOption = None,
    max_remote_calls: MaxRemoteCallsOption = None,
    timeout: TimeoutOption = None,
    no_cache: NoCacheOption = False,
    privacy: PrivacyOption = "off",
) -> None:
    """Serve the protocols as models of an OpenAI-compatible API (Chat Completions).

    The request's last user message is the task; documents come in its "documents"
    field (uploaded file ids or paths under --documents-root), protocol options in
    "options". The limits apply to every request. Ctrl-C stops the server.
    """
    for package in ("starlette", "uvicorn"):
        if importlib.util.find_spec(package) is None:
            fail(str(MissingDependencyError(package, "serve", "minions serve")))
    import uvicorn

    from minions.protocol import available
    from minions.serve import bind, create_app

    try:
        limits = limits_from_options(max_remote_usd, max_remote_calls, timeout)
        app = create_app(
            local,
            remote,
            price_as=price_as,
            documents_root=documents_root,
            max_queue=max_queue,
            concurrency=concurrency,
            privacy=privacy,
            limits=limits,
            cache=not no_cache,
            api_key=api_key,
            max_upload_mb=max_upload_mb,
        )
        sock = bind(host, port)
    except MinionsError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port")
    server = app.state.server
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/v1"
    roots = f"paths under {server.files.root} or uploads" if server.files.root else "uploads"
    typer.echo(f"minions serve: {url}  (Ctrl-C to stop)")
    typer.echo(f"models (the protocols): {', '.join(available())}")
    typer.echo(f"local {server.local.spec}, remote {server.remote.spec}; documents: {roots}\n")
    typer.echo(usage(url, paths=server.files.root is not None, api_key=api_key is not None))
    config = uvicorn.Config(app, log_config=None, timeout_graceful_shutdown=5, lifespan="on")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn stopped on Ctrl-C and raises it again once it has
    finally:
        sock.close()
    typer.echo("minions serve: stopped")


def register(cli: typer.Typer) -> None:
    """Add ``minions serve`` to the ``minions`` command."""
    cli.command("serve", epilog=SERVE_EXAMPLES)(serve_command)
