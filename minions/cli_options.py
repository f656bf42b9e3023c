"""Command-line options that every command running a protocol shares.

``minions ask``, ``minions batch`` and ``minions demo`` use them, and so can a plugin's
command (``minions eval``): declare the limit parameters with these types and pass their
values to :func:`limits_from_options`. This module registers nothing, so a plugin may import it
while the ``minions`` command is being built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from minions.errors import ConfigurationError
from minions.limits import Limits
from minions.run import Privacy

#: the help panel of the limits (a title that fits an 80-column terminal)
PANEL = "Limits"

MaxRemoteUsdOption = Annotated[
    float | None,
    typer.Option(
        "--max-remote-usd",
        metavar="USD",
        rich_help_panel=PANEL,
        help="Make no further remote call once remote spending reaches this many dollars "
        "(needs a remote with a known price, or --price-as). Reaching any limit ends the run "
        "with status budget_exceeded and the answer so far.",
    ),
]
MaxRemoteCallsOption = Annotated[
    int | None,
    typer.Option(
        "--max-remote-calls",
        metavar="N",
        rich_help_panel=PANEL,
        help="Make at most this many remote calls.",
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        rich_help_panel=PANEL,
        help="Stop the run after this many seconds of wall time, cancelling calls in flight.",
    ),
]
ProtocolOption = Annotated[
    str,
    typer.Option(
        "--protocol",
        "-p",
        metavar="NAME",
        help="How the models work together; see `minions protocols`.",
    ),
]
LocalOption = Annotated[
    str | None,
    typer.Option(
        metavar="SPEC",
        help="Local model (default: llamacpp:qwen2.5-coder-0.5b); see `minions models`.",
    ),
]
RemoteOption = Annotated[
    str | None,
    typer.Option(
        metavar="SPEC",
        help="Remote model (default: from OPENAI_API_KEY / ANTHROPIC_API_KEY, else the "
        "offline stand-in); see `minions models`.",
    ),
]
#: the protocol's options as ``key=value`` (parse them with ``minions.protocol.parse_option``)
ProtocolOptionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        metavar="KEY=VALUE",
        help="A protocol option (repeatable); see `minions protocols`.",
    ),
]
PriceAsOption = Annotated[
    str | None,
    typer.Option(metavar="SPEC", help="Price remote usage as this model, e.g. openai:gpt-4o."),
]
#: the run's privacy setting (pass it as ``privacy=`` to the library)
PrivacyOption = Annotated[
    Privacy,
    typer.Option(
        "--privacy",
        metavar="off|strict|strict+names",
        help="strict: names, dates, record numbers and other sensitive values reach the "
        "remote as placeholders ([PERSON_1], [DATE_3]); the answer shows the real values. "
        "strict+names: the local model first reads the documents for people's names "
        "the patterns would miss (slower).",
    ),
]
#: turns the response cache off (pass ``cache=not no_cache`` to the library)
NoCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Send every call to the models; by default a deterministic call (temperature 0 "
        "or a fixed seed) asked before is answered from the response cache, at $0.",
    ),
]

#: documents, as ``minions batch`` and ``minions extract`` read them
DocumentsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="DOCUMENT",
        help="Files, folders (searched recursively) or globs ('docs/**/*.pdf').",
    ),
]
ManifestOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help='A JSONL of documents: {"id", "path" | "text" | "pages", "metadata", '
        '"questions"} a line; paths are relative to its folder.',
    ),
]
PagesOption = Annotated[
    str | None,
    typer.Option(
        metavar="PAGES",
        help="Keep only these pages of every document: 1-8, 3, 1-2,9 or 10-.",
    ),
]

_FLAGS = {
    "max_remote_usd": "--max-remote-usd",
    "max_remote_calls": "--max-remote-calls",
    "timeout_s": "--timeout",
}


def limits_from_options(
    max_remote_usd: float | None, max_remote_calls: int | None, timeout: float | None
) -> Limits | None:
    """The :class:`Limits` the flags set (``None`` when none was given); a bad value is
    a :class:`ConfigurationError` that names the flag."""
    values = {
        "max_remote_usd": max_remote_usd,
        "max_remote_calls": max_remote_calls,
        "timeout_s": timeout,
    }
    if all(value is None for value in values.values()):
        return None
    try:
        return Limits.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = _FLAGS.get(str(first["loc"][0]), str(first["loc"][0]))
        raise ConfigurationError(f"{flag}: {first['msg'].lower()}") from None
