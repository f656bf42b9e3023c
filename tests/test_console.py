"""The run summary the CLI prints."""

import pytest
from rich.console import Console

from minions.console import summary
from minions.types import Cost, Result, Usage


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


def row(text: str, label: str) -> str:
    """The summary's table row titled ``label``."""
    return next(line.rstrip() for line in text.splitlines() if line.startswith(f"{label} "))


def test_one_call_is_one_call():
    usage = {"local": Usage(calls=1), "remote": Usage(calls=1, retries=1)}
    text = rendered(Result(protocol="minions", task="q", answer="42", usage=usage))
    assert row(text, "local").endswith("in 1 call")
    assert "in 1 call (2 requests) ·" in row(text, "remote")
    assert "1 calls" not in text


@pytest.mark.parametrize(
    ("cost", "label", "figure"),
    [
        (Cost(remote_usd=0.0040, remote_only_usd=0.0447), "savings", "11.2x cheaper"),
        (Cost(remote_usd=0.0447, remote_only_usd=0.0069), "vs remote-only", "6.5x more expensive"),
        (Cost(remote_usd=0.0100, remote_only_usd=0.0101), "vs remote-only", "about the same"),
    ],
    ids=["cheaper", "pricier", "same"],
)
def test_only_a_cheaper_run_has_a_savings_row(cost, label, figure):
    text = rendered(Result(protocol="minions", task="q", answer="42", cost=cost))
    assert row(text, label).split(maxsplit=len(label.split()))[-1] == figure
    if label != "savings":
        assert "savings" not in text


def test_citations_past_the_first_eight_are_counted():
    cited = [f"doc, p. {n}" for n in range(1, 12)]
    text = rendered(Result(protocol="minions", task="q", answer="42", citations=cited))
    assert "• doc, p. 8" in text and "doc, p. 9" not in text
    assert "and 3 more" in text
    eight = rendered(Result(protocol="minions", task="q", answer="42", citations=cited[:8]))
    assert "• doc, p. 8" in eight and "more" not in eight
