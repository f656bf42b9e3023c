"""The run summary the CLI prints."""

from rich.console import Console

from minions.console import summary
from minions.types import Result, Usage


def rendered(result: Result) -> str:
    console = Console(record=True, width=200)
    console.print(summary(result))
    return console.export_text()


def test_summary_shows_requests_only_when_calls_were_retried():
    usage = {"local": Usage(calls=12, retries=5), "remote": Usage(calls=2)}
    lines = rendered(Result(protocol="minions", task="q", answer="42", usage=usage)).splitlines()
    remote, local = (
        next(line for line in lines if line.startswith(r)) for r in ("remote ", "local ")
    )
    assert remote.rstrip().endswith("in 2 calls")
    assert local.rstrip().endswith("in 12 calls (17 requests)")
