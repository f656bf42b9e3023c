"""Money and ratios read the same everywhere, and a run's cost is true in every state."""

from __future__ import annotations

import pytest

from minions.formatting import cost_summary, duration, percent, savings, times, usd
from minions.types import Cost


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "unpriced"),
        (float("nan"), "unpriced"),
        (0, "$0"),
        (0.002067, "$0.0021"),
        (0.0447, "$0.0447"),
        (0.0000123, "$0.000012"),
        (12.5, "$12.50"),
        (1234.5, "$1,234.50"),
    ],
)
def test_usd(value, text):
    assert usd(value) == text


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (11.2118, "11.2x cheaper"),
        (0.2127, "4.7x more expensive"),
        (1.02, "about the same"),
        (0.97, "about the same"),
        (float("inf"), "n/a"),
        (None, "n/a"),
        (0.0, "n/a"),
    ],
)
def test_savings_never_reads_a_higher_cost_as_savings(ratio, text):
    assert savings(ratio) == text


def test_times_and_percent():
    assert times(0.875) == "0.88x" and times(None) == "n/a" and times(float("inf")) == "n/a"
    assert percent(0.875) == "87.5%" and percent(None) == "n/a"


@pytest.mark.parametrize(
    ("status", "cost", "spent", "state", "headline", "ratio"),
    [
        ("answered", Cost(remote_usd=0.0040, remote_only_usd=0.0447), None, "cheaper",
         "91% cheaper than sending the whole document: $0.0040 vs $0.0447", "11.2x cheaper"),
        ("answered", Cost(remote_usd=0.0447, remote_only_usd=0.0095), None, "pricier",
         "4.7x more expensive than sending the whole document: $0.0447 vs $0.0095",
         "4.7x more expensive"),
        ("answered", Cost(remote_usd=0.0, remote_only_usd=0.0095), None, "free",
         "$0 remote cost; sending the whole document would cost $0.0095", None),
        ("answered", Cost(remote_usd=0.0, remote_only_usd=0.0), None, "free",
         "$0 remote cost", None),
        ("answered", Cost(remote_usd=None, remote_only_usd=0.0095), None, "unpriced",
         "unpriced: no price is known, so no savings figure", None),
        ("error", Cost(remote_usd=0.0021, remote_only_usd=0.0095), None, "no_answer",
         "$0.0021 spent, no answer", None),
        ("error", Cost(remote_usd=0.0, remote_only_usd=0.0095), None, "no_answer",
         "$0 spent, no answer", None),
        ("budget_exceeded", Cost(remote_usd=0.05, remote_only_usd=0.04), None, "partial",
         "$0.0500 spent, budget reached", None),
        ("stopped", None, 0.002067, "no_answer", "$0.0021 spent, no answer", None),
        ("stopped", None, None, "no_answer", "spending unpriced, no answer", None),
    ],
)  # fmt: skip
def test_cost_summary_in_every_state(status, cost, spent, state, headline, ratio):
    summary = cost_summary(status, cost, spent_usd=spent)
    assert (summary.state, summary.headline, summary.savings) == (state, headline, ratio)
    assert "∞" not in summary.headline and "inf" not in summary.headline


def test_cost_summary_of_many_documents():
    many = cost_summary("answered", Cost(remote_usd=0.004, remote_only_usd=0.04), documents=3)
    assert many.headline == "90% cheaper than sending the whole documents: $0.0040 vs $0.0400"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "n/a"), (float("nan"), "n/a"), (0, "0:00"), (65.9, "1:05"), (3723, "1:02:03")],
)
def test_duration_reads_as_a_clock(seconds, text):
    assert duration(seconds) == text
