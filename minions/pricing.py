"""Dollars for token usage.

Remote prices come from the ``genai-prices`` package (pydantic/genai-prices). Local
models cost $0. A model nobody has a price for is reported as *unpriced*
(``usd is None``), never as a silent $0. Any usage can be priced "as if" it had run
on another model, so an offline run reports what it would have cost in the cloud.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from minions.formatting import usd as format_usd
from minions.types import Usage

__all__ = ["Price", "format_usd", "price"]

logger = logging.getLogger(__name__)


class Price(BaseModel):
    """A price in US dollars, or ``usd=None`` when the model is unpriced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    usd: float | None
    model: str
    note: str = ""

    @property
    def priced(self) -> bool:
        return self.usd is not None

    def __add__(self, other: Price) -> Price:
        if not isinstance(other, Price):
            return NotImplemented
        usd = None if self.usd is None or other.usd is None else self.usd + other.usd
        model = self.model if self.model == other.model else f"{self.model} + {other.model}"
        notes = [n for n in dict.fromkeys((self.note, other.note)) if n]
        return Price(usd=usd, model=model, note="; ".join(notes))

    def __str__(self) -> str:
        return format_usd(self.usd)


def price(usage: Usage, spec: str, *, local: bool | None = None) -> Price:
    """Dollars for ``usage`` on the model named by ``spec`` (``provider:model``).

    ``local`` says the model runs on the user's machine ($0); when ``None`` it is what
    the registered provider's capabilities say (:func:`minions.clients.runs_locally`).
    """
    from minions.clients import parse_spec, runs_locally

    provider, model = parse_spec(spec)
    if local is None:
        local = runs_locally(spec)
    if local:
        return Price(usd=0.0, model=spec, note="local model: $0")
    return _genai_price(usage, provider, model, spec)


def _genai_price(usage: Usage, provider: str, model: str, spec: str) -> Price:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    priced_usage = PriceUsage(
        input_tokens=usage.input_tokens,
        cache_read_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
    )
    try:
        calc = calc_price(priced_usage, model_ref=model, provider_id=provider)
    except LookupError as exc:
        logger.info("no price for %s: %s", spec, exc)
        return Price(
            usd=None,
            model=spec,
            note=f"unpriced: genai-prices has no price for {spec} ({exc}); "
            "pass price_as='openai:gpt-4o' (or another priced model) to estimate",
        )
    return Price(
        usd=float(Decimal(calc.total_price)),
        model=spec,
        note=f"genai-prices {calc.provider.id}/{calc.model.id}",
    )
