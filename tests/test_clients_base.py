import asyncio
import subprocess
import sys

import pytest
from pydantic import BaseModel

from minions import get_client
from minions.clients import LimitedClient, RetryingClient, parse_spec, providers
from minions.clients.base import as_messages, check_fits, parse_structured
from minions.clients.scripted import ScriptedClient, ScriptedReply, ScriptExhausted
from minions.errors import (
    AuthenticationError,
    ConfigurationError,
    ContextWindowExceeded,
    TransientProviderError,
    UnknownProviderError,
)
from minions.tokens import approx_tokens
from minions.types import Message


class Answer(BaseModel):
    answer: int
    note: str | None = None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("ollama:qwen2.5:3b", ("ollama", "qwen2.5:3b")),
        ("llamacpp:/models/x.gguf", ("llamacpp", "/models/x.gguf")),
        ("Anthropic:claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
        ("scripted:", ("scripted", "")),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["gpt-4o", "", ":model"])
def test_parse_spec_rejects_malformed(spec):
    with pytest.raises(ConfigurationError, match="provider"):
        parse_spec(spec)


def test_builtin_providers_are_registered_through_entry_points():
    assert {"scripted", "ollama", "openai", "anthropic", "llamacpp"} <= set(providers())


def test_unknown_provider_lists_known_ones():
    with pytest.raises(UnknownProviderError) as err:
        get_client("nosuch:model")
    assert "nosuch" in str(err.value)
    for name in ("openai", "anthropic", "ollama", "llamacpp", "scripted"):
        assert name in str(err.value)


def test_unknown_option_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="scripted:"):
        get_client("scripted:", no_such_option=1)


def test_get_client_wraps_with_retries_and_limit():
    client = get_client("scripted:echo", max_concurrency=2, replies=["x"])
    assert isinstance(client, LimitedClient)
    assert isinstance(client.wrapped, RetryingClient)
    assert client.spec == "scripted:echo"
    assert client.capabilities.max_parallel_requests == 2
    assert isinstance(client.unwrap(), ScriptedClient)
    assert isinstance(get_client("scripted:", retries=0), ScriptedClient)


def test_get_client_passes_instances_through():
    c = ScriptedClient(replies=["x"])
    assert get_client(c) is c


async def test_scripted_replies_in_order_with_realistic_usage():
    c = ScriptedClient(replies=["hello there", {"answer": 4}])
    first = await c.chat([Message.user("say hello to the world")])
    assert first.text == "hello there"
    assert first.usage.calls == 1
    assert first.usage.output_tokens == approx_tokens("hello there") == 3
    assert first.usage.input_tokens >= 5
    second = await c.chat([Message.user("q")], schema=Answer)
    assert second.parsed == Answer(answer=4)
    assert second.parse_error is None
    assert [call.schema for call in c.calls] == [None, Answer]
    with pytest.raises(ScriptExhausted, match="no reply left"):
        await c.chat([Message.user("again")])


async def test_scripted_reply_function_sees_messages():
    c = ScriptedClient(replies=lambda msgs: msgs[-1].content.upper())
    assert (await c.chat(as_messages("abc"))).text == "ABC"


async def test_scripted_invalid_json_sets_parse_error():
    c = ScriptedClient(replies=["not json", '{"answer": "many"}'])
    bad = await c.chat([Message.user("q")], schema=Answer)
    assert bad.parsed is None
    assert "not valid JSON" in bad.parse_error
    wrong = await c.chat([Message.user("q")], schema=Answer)
    assert "answer" in wrong.parse_error and "Answer schema" in wrong.parse_error


async def test_scripted_truncation_is_reported():
    c = ScriptedClient(replies=[ScriptedReply('{"answer": 1', finish_reason="length")])
    out = await c.chat([Message.user("q")], schema=Answer)
    assert out.truncated
    assert out.parse_error.startswith("reply was cut off")


async def test_scripted_raises_given_exceptions():
    c = ScriptedClient(replies=[AuthenticationError("bad key", provider="scripted")])
    with pytest.raises(AuthenticationError):
        await c.chat([Message.user("q")])


async def test_scripted_slow_reply_takes_time():
    c = ScriptedClient(replies=["ok"], delay_s=0.05)
    out = await c.chat([Message.user("q")])
    assert out.latency_s >= 0.05


async def test_scripted_context_window_is_enforced():
    c = ScriptedClient(replies=["ok"], context_window=50)
    with pytest.raises(ContextWindowExceeded, match="context window of 50"):
        await c.chat([Message.user("word " * 100)])


def test_check_fits_allows_unknown_window():
    check_fits("p", "m", 10**9, 10, None)


async def test_retry_wrapper_retries_transient_errors_and_counts_them():
    inner = ScriptedClient(replies=["ok"], fail_first=2)
    client = RetryingClient(inner, attempts=3, initial_wait_s=0.001, max_wait_s=0.01)
    out = await client.chat([Message.user("q")])
    assert out.text == "ok"
    assert len(inner.calls) == 3
    assert (out.usage.calls, out.usage.retries, out.usage.requests) == (1, 2, 3)
    assert out.usage.input_tokens == inner.calls[-1].completion.usage.input_tokens
    first_time = await RetryingClient(ScriptedClient(replies=["ok"])).chat(as_messages("q"))
    assert first_time.usage.retries == 0


async def test_retry_wrapper_gives_up_after_attempts_and_says_how_many():
    inner = ScriptedClient(replies=["ok"], fail_first=5)
    client = RetryingClient(inner, attempts=2, initial_wait_s=0.001, max_wait_s=0.01)
    with pytest.raises(TransientProviderError, match="rate limit") as caught:
        await client.chat([Message.user("q")])
    assert len(inner.calls) == 2
    assert caught.value.attempts == 2


async def test_retry_wrapper_does_not_retry_permanent_errors():
    inner = ScriptedClient(replies=[AuthenticationError("invalid x-api-key"), "ok"])
    client = RetryingClient(inner, attempts=4, initial_wait_s=0.001)
    with pytest.raises(AuthenticationError, match="invalid x-api-key") as caught:
        await client.chat([Message.user("q")])
    assert len(inner.calls) == 1
    assert caught.value.attempts == 1


async def test_a_permanent_error_after_retries_counts_every_attempt():
    inner = ScriptedClient(replies=[AuthenticationError("key revoked"), "ok"], fail_first=1)
    client = RetryingClient(inner, attempts=4, initial_wait_s=0.001, max_wait_s=0.01)
    with pytest.raises(AuthenticationError) as caught:
        await client.chat([Message.user("q")])
    assert len(inner.calls) == 2 and caught.value.attempts == 2


async def test_limited_client_caps_calls_in_flight():
    inner = ScriptedClient(replies=lambda m: "ok", delay_s=0.02)
    in_flight = 0
    peak = 0
    original = inner.chat

    async def tracking_chat(messages, **kw):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(messages, **kw)
        finally:
            in_flight -= 1

    inner.chat = tracking_chat  # type: ignore[method-assign]
    client = LimitedClient(inner, 2)
    await asyncio.gather(*(client.chat([Message.user("q")]) for _ in range(7)))
    assert peak == 2


def test_chat_sync_accepts_a_string():
    c = ScriptedClient(replies=['{"answer": 2}'])
    assert c.chat_sync("what?", schema=Answer).parsed.answer == 2


@pytest.mark.parametrize(
    ("text", "ok"),
    [('{"answer": 1}', True), ('```json\n{"answer": 1}\n```', True), ("{answer: 1}", False)],
)
def test_parse_structured_accepts_fenced_json(text, ok):
    parsed, error = parse_structured(text, Answer)
    assert (parsed is not None) is ok
    assert (error is None) is ok


def test_import_minions_loads_no_sdk_or_ui():
    code = (
        "import sys, minions, minions.pricing, minions.clients;"
        "heavy = ['ollama', 'openai', 'anthropic', 'llama_cpp', 'streamlit', 'httpx2'];"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
