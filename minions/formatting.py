"""How money, ratios and durations read, wherever shown: the CLI, the app, the eval reports.

One place decides how a dollar amount is written (``$0.0040``), how a cost ratio reads
("11.2x cheaper", "4.7x more expensive"), and what a run's cost says in each state
(:func:`cost_summary`): savings only for a run that answered; what was spent for a run
that failed, was stopped or reached its budget; never a ratio of infinity, of nothing,
or one that reads as savings when the run cost more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from minions.types import Cost, Privacy

__all__ = [
    "NOT_AVAILABLE",
    "CostSummary",
    "cost_summary",
    "duration",
    "exposure",
    "percent",
    "savings",
    "times",
    "usd",
]

#: what a figure that cannot be computed reads as
NOT_AVAILABLE = "n/a"

#: below this many dollars, amounts keep two significant digits instead of four decimals
_SMALL_USD = 0.0001


def _finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else ``None``."""
    return value if value is not None and math.isfinite(value) else None


def usd(value: float | None) -> str:
    """Dollars: ``$12.50`` from one dollar up, ``$0.0040`` (four decimals) below, two
    significant digits below a hundredth of a cent (``$0.000012``), ``$0`` for nothing
    and "unpriced" when no price is known (``None``)."""
    if value is None or not math.isfinite(value):
        return "unpriced"
    if value == 0:
        return "$0"
    sign, value = ("-" if value < 0 else ""), abs(value)
    if value >= 1:
        return f"{sign}${value:,.2f}"
    if value >= _SMALL_USD:
        return f"{sign}${value:.4f}"
    decimals = 1 - math.floor(math.log10(value))
    return f"{sign}${value:.{decimals}f}"


def duration(seconds: float | None) -> str:
    """Wall time as a clock reads it: ``4:05``, ``1:02:03``; "n/a" when unknown (an
    ETA before the first row)."""
    seconds = _finite(seconds)
    if seconds is None:
        return NOT_AVAILABLE
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def exposure(privacy: Privacy) -> str:
    """What of the documents reached the remote (:mod:`minions.privacy`), in a line."""
    line = (
        f"{percent(privacy.ngram_share)} of the documents' word 8-grams reached the remote; "
        f"longest verbatim span {privacy.longest_span_chars:,} characters"
    )
    if privacy.sensitive:
        sent = ", ".join(f"{k} {c.sent}/{c.found}" for k, c in privacy.sensitive.items())
        line += f"; sensitive values sent: {sent}"
    return line


def times(value: float | None, digits: int = 2) -> str:
    """A plain multiplier, ``0.88x``; "n/a" when it cannot be computed."""
    value = _finite(value)
    return NOT_AVAILABLE if value is None else f"{value:,.{digits}f}x"


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage, ``87.5%``; "n/a" when unknown."""
    value = _finite(value)
    return NOT_AVAILABLE if value is None else f"{100 * value:.{digits}f}%"


def savings(ratio: float | None) -> str:
    """A cost ratio (remote-only dollars over this run's): "11.2x cheaper", "4.7x more
    expensive" below 1, "about the same" near 1, "n/a" when there is no finite ratio
    (unpriced, or nothing spent)."""
    ratio = _finite(ratio)
    if ratio is None or ratio <= 0:
        return NOT_AVAILABLE
    if round(ratio, 1) == 1.0 or round(1 / ratio, 1) == 1.0:
        return "about the same"
    if ratio > 1:
        return f"{ratio:,.1f}x cheaper"
    return f"{1 / ratio:,.1f}x more expensive"


SummaryState = Literal["cheaper", "pricier", "same", "free", "unpriced", "partial", "no_answer"]


@dataclass(frozen=True)
class CostSummary:
    """What a run's cost says, in words and figures.

    ``headline`` is the one line to show; ``savings`` is set only for a run that
    answered with a finite ratio; ``spent`` is always there (``$0``, ``$0.0021`` or
    "unpriced").
    """

    state: SummaryState
    headline: str
    spent: str
    remote_only: str
    savings: str | None = None

    @property
    def answered(self) -> bool:
        return self.state not in ("partial", "no_answer")

    @property
    def savings_label(self) -> str:
        """What to title the :attr:`savings` figure: "vs remote-only" when it reads
        "4.7x more expensive" or "about the same", else "savings" (with no figure when
        the run saved nothing it can claim)."""
        return "vs remote-only" if self.state in ("pricier", "same") else "savings"


def _whole(documents: int) -> str:
    return "the whole documents" if documents > 1 else "the whole document"


def cost_summary(
    status: str,
    cost: Cost | None = None,
    *,
    spent_usd: float | None = None,
    documents: int = 1,
) -> CostSummary:
    """The cost of a run that ended with ``status`` ("answered", "budget_exceeded",
    "error", or "stopped"), from its :class:`Cost`, or from ``spent_usd`` alone when
    the run left no Result (a stopped run: what its remote calls had cost)."""
    spent = cost.total_usd if cost is not None else spent_usd
    remote_only = cost.remote_only_usd if cost is not None else None
    spent_text = usd(spent)
    remote_only_text = usd(remote_only) if cost is not None else NOT_AVAILABLE
    if status != "answered":
        what = "spending unpriced" if spent is None else f"{spent_text} spent"
        if status == "budget_exceeded":
            return CostSummary("partial", f"{what}, budget reached", spent_text, remote_only_text)
        return CostSummary("no_answer", f"{what}, no answer", spent_text, remote_only_text)
    ratio = _finite(cost.savings_ratio) if cost is not None else None
    if spent is None or remote_only is None:
        return CostSummary(
            "unpriced", "unpriced: no price is known, so no savings figure", spent_text,
            remote_only_text,
        )  # fmt: skip
    whole = _whole(documents)
    if ratio is None or ratio <= 0:  # nothing spent (infinite or no ratio)
        headline = (
            f"$0 remote cost; sending {whole} would cost {remote_only_text}"
            if remote_only
            else "$0 remote cost"
        )
        return CostSummary("free", headline, spent_text, remote_only_text)
    measured = usd(remote_only / ratio)  # what the ratio measures (cache hits as if sent)
    label = savings(ratio)
    figures = f"{measured} vs {remote_only_text}"
    if label == "about the same":
        return CostSummary(
            "same", f"about the same as sending {whole}: {figures}", spent_text,
            remote_only_text, label,
        )  # fmt: skip
    if ratio > 1:
        share = f"{1 - 1 / ratio:.0%}"
        return CostSummary(
            "cheaper", f"{share} cheaper than sending {whole}: {figures}", spent_text,
            remote_only_text, label,
        )  # fmt: skip
    return CostSummary(
        "pricier", f"{label} than sending {whole}: {figures}", spent_text, remote_only_text,
        label,
    )  # fmt: skip
