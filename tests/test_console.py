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
    assert "in 2 calls ·" in remote and "requests" not in remote
    assert local.rstrip().endswith("in 12 calls (17 requests)")


def test_no_progress_is_drawn_before_the_run_starts():
    from io import StringIO

    from minions.console import LiveProgress
    from minions.events import RunStarted

    out = StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with LiveProgress(console):  # e.g. a missing file fails before the run starts
        pass
    assert out.getvalue() == ""
    with LiveProgress(console) as progress:
        progress(RunStarted(protocol="minions", task="t", local_model="l", remote_model="r",
                            documents=[]))  # fmt: skip
    assert "minions" in out.getvalue() and "0/?" not in out.getvalue()


def test_a_failed_run_claims_no_savings():
    from minions.console import failure
    from minions.types import Cost

    failed = Result(protocol="local_only", task="q", answer=None, status="error",
                    error="ollama: model not found.\\nPull it first.",
                    cost=Cost(remote_usd=0.0, remote_only_usd=0.01))  # fmt: skip
    console = Console(record=True, width=200)
    console.print(failure(failed))
    assert console.export_text().strip() == "error: ollama: model not found. Pull it first."
    spent = failed.model_copy(update={"cost": Cost(remote_usd=0.0021, remote_only_usd=0.01)})
    console.print(failure(spent))
    assert "($0.0021 spent, no answer)" in console.export_text()
    text = rendered(spent)
    assert "∞" not in text and "cheaper" not in text and "savings" not in text
    assert "$0.0021 spent, no answer" in text
