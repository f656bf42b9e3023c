import pytest

from minions.pricing import Price, format_usd, price
from minions.types import Usage

USAGE = Usage(input_tokens=1_000_000, output_tokens=1_000_000, calls=3)


def test_openai_price_comes_from_genai_prices():
    p = price(USAGE, "openai:gpt-4o")
    # gpt-4o: $2.50 per million input tokens, $10 per million output tokens
    assert p.usd == pytest.approx(12.5)
    assert p.priced
    assert "genai-prices" in p.note


def test_cached_tokens_are_cheaper():
    cached = Usage(input_tokens=1_000_000, cached_input_tokens=1_000_000)
    assert (
        price(cached, "openai:gpt-4o").usd
        < price(Usage(input_tokens=1_000_000), "openai:gpt-4o").usd
    )


def test_anthropic_is_priced():
    assert price(USAGE, "anthropic:claude-sonnet-4-5").usd > 0


@pytest.mark.parametrize("spec", ["llamacpp:qwen2.5-coder-0.5b", "ollama:qwen2.5:3b"])
def test_local_providers_cost_nothing(spec):
    p = price(USAGE, spec)
    assert p.usd == 0.0
    assert p.priced


def test_unknown_model_is_unpriced_not_free():
    p = price(USAGE, "openai:no-such-model-xyz")
    assert p.usd is None
    assert not p.priced
    assert "unpriced" in p.note
    assert str(p) == "unpriced"


def test_unregistered_provider_is_unpriced():
    assert price(USAGE, "madeup:model").usd is None


def test_explicit_local_flag_wins():
    assert price(USAGE, "openai:my-vllm-model", local=True).usd == 0.0


def test_prices_add_and_unpriced_propagates():
    a = Price(usd=1.0, model="openai:gpt-4o")
    b = Price(usd=0.5, model="openai:gpt-4o")
    assert (a + b).usd == 1.5
    assert (a + Price(usd=None, model="x:y")).usd is None


@pytest.mark.parametrize(
    ("usd", "text"), [(None, "unpriced"), (0, "$0"), (0.0123, "$0.0123"), (12.5, "$12.50")]
)
def test_format_usd(usd, text):
    assert format_usd(usd) == text
