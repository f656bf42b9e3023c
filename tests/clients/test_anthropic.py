"""``anthropic:`` against a fake Messages API built from the API reference's documented
bodies."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import anthropic
import httpx2
import pytest

from minions.clients import get_client
from minions.clients.anthropic import AnthropicClient
from minions.errors import (
    AuthenticationError,
    ContextWindowExceeded,
    MissingDependencyError,
    ProviderError,
    TransientProviderError,
)
from minions.types import Message

from .fakes import ANSWER, NOT_JSON, Answer, FakeServer, Reply, fast_retries, not_json_is_retried

MODEL = "claude-sonnet-5-5"
QUESTION = [Message.system("Be brief."), Message.user("What is the capital of France?")]


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": "toolu_01A09q90qw90lq917835lq9",
        "name": name,
        "input": tool_input,
    }


def message(
    *content: dict[str, Any],
    stop_reason: str = "end_turn",
    input_tokens: int = 2095,
    output_tokens: int = 503,
    cache_read: int = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    """A ``message`` object as the Messages API reference documents it."""
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5-5",
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache_write,
                "ephemeral_1h_input_tokens": 0,
            },
            "server_tool_use": None,
            "service_tier": "standard",
        },
    }


def error(status: int, type_: str, message_: str, **headers: str) -> Reply:
    """An error response: ``{"type": "error", "error": {type, message}, "request_id"}``."""
    body = {
        "type": "error",
        "error": {"type": type_, "message": message_},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }
    return Reply(status, body, headers)


OVERLOADED = error(529, "overloaded_error", "Overloaded")


@pytest.fixture(autouse=True)
def test_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")


def make(server: FakeServer, **kwargs: Any) -> AnthropicClient:
    return AnthropicClient(MODEL, http_client=server.http_client(), **kwargs)


async def test_plain_reply_and_what_was_sent() -> None:
    server = FakeServer(httpx2, message(text_block("Paris.")))

    reply = await make(server).chat(QUESTION, stop="\n\n")

    assert reply.text == "Paris."
    assert reply.parsed is None and reply.parse_error is None
    assert reply.finish_reason == "stop"
    sent = server.last
    assert (sent.method, sent.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert sent.headers["authorization"] == "Bearer sk-ant-test"
    assert sent.headers["anthropic-version"] == "2026-10-21"
    assert sent.body == {
        "model": MODEL,
        "max_tokens": 4096,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "stop_sequences": ["\n\n"],
    }


async def test_structured_output_uses_json_outputs() -> None:
    server = FakeServer(httpx2, message(text_block(json.dumps(ANSWER))))

    reply = await make(server).chat(QUESTION, schema=Answer)

    assert reply.parsed == Answer.model_validate(ANSWER)
    body = server.last.body
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": anthropic.transform_schema(Answer)}
    }
    assert body["output_config"]["format"]["schema"]["additionalProperties"] is False
    assert "tools" not in body and "tool_choice" not in body


async def test_json_outputs_keep_the_callers_output_config() -> None:
    server = FakeServer(httpx2, message(text_block(json.dumps(ANSWER))))

    await make(server).chat(QUESTION, schema=Answer, output_config={"effort": "low"})

    output_config = server.last.body["output_config"]
    assert output_config["effort"] == "low" and output_config["format"]["type"] == "json_schema"


async def test_structured_output_as_a_forced_tool() -> None:
    server = FakeServer(
        httpx2,
        message(
            text_block("Here is the answer."),
            tool_use_block("Answer", ANSWER),
            stop_reason="tool_use",
        ),
    )

    reply = await make(server, structured_output="tool").chat(QUESTION, schema=Answer)

    assert reply.parsed == Answer.model_validate(ANSWER)
    assert json.loads(reply.text) == ANSWER
    assert reply.finish_reason == "stop"
    body = server.last.body
    [tool] = body["tools"]
    assert tool["name"] == "Answer"
    assert tool["input_schema"] == Answer.model_json_schema()
    assert "Answer" in tool["description"]
    assert body["tool_choice"] == {"type": "tool", "name": "Answer"}
    assert "output_config" not in body


async def test_usage_counts_cache_reads_and_writes_as_input() -> None:
    server = FakeServer(
        httpx2,
        message(
            text_block("Paris."), input_tokens=50, output_tokens=7, cache_read=2000, cache_write=100
        ),
    )

    usage = (await make(server).chat(QUESTION)).usage

    assert usage.input_tokens == 2150
    assert usage.cached_input_tokens == 2000
    assert (usage.output_tokens, usage.calls) == (7, 1)


async def test_max_tokens_stop_is_length_truncation() -> None:
    server = FakeServer(httpx2, message(text_block('{"answer": "Par'), stop_reason="max_tokens"))

    reply = await make(server).chat(QUESTION, schema=Answer, max_tokens=8)

    assert server.last.body["max_tokens"] == 8
    assert reply.finish_reason == "length"
    assert reply.parsed is None
    assert reply.parse_error is not None and "cut off" in reply.parse_error


async def test_forced_tool_cut_off_before_the_call_is_a_parse_error() -> None:
    server = FakeServer(httpx2, message(stop_reason="max_tokens"))

    reply = await make(server, structured_output="tool").chat(QUESTION, schema=Answer)

    assert reply.finish_reason == "length"
    assert reply.parse_error is not None and "cut off" in reply.parse_error


async def test_sampling_options_are_dropped_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FakeServer(httpx2, message(text_block("Paris.")))
    client = make(server)

    with caplog.at_level(logging.INFO, logger="minions.clients.anthropic"):
        await client.chat(QUESTION, temperature=0.0, seed=1)
        await client.chat(QUESTION, temperature=0.0)

    assert "temperature" not in server.last.body and "seed" not in server.last.body
    assert len([r for r in caplog.records if "ignoring" in r.getMessage()]) == 1


async def test_other_options_reach_the_api_unchanged() -> None:
    server = FakeServer(httpx2, message(text_block("Paris.")))

    await make(server).chat(QUESTION, metadata={"user_id": "u-1"})

    assert server.last.body["metadata"] == {"user_id": "u-1"}


async def test_rate_limit_is_retried_by_get_client() -> None:
    limited = error(
        429,
        "rate_limit_error",
        "This request would exceed your rate limit of 50,000 input tokens per minute.",
        **{"retry-after-ms": "1"},
    )
    server = FakeServer(httpx2, limited, message(text_block("Paris.")))
    client = get_client(f"anthropic:{MODEL}", http_client=server.http_client())

    reply = await client.chat(QUESTION)

    assert reply.text == "Paris."
    assert len(server.sent) == 2


async def test_overloaded_is_transient_and_retried() -> None:
    server = FakeServer(httpx2, OVERLOADED, OVERLOADED, message(text_block("Paris.")))

    reply = await fast_retries(make(server)).chat(QUESTION)

    assert reply.text == "Paris."
    assert len(server.sent) == 3


async def test_overloaded_carries_status_and_retry_after() -> None:
    server = FakeServer(
        httpx2, error(529, "overloaded_error", "Overloaded", **{"retry-after": "2"})
    )

    with pytest.raises(TransientProviderError) as caught:
        await make(server).chat(QUESTION)

    assert caught.value.status_code == 529
    assert caught.value.retry_after_s == 2.0


async def test_bad_key_is_an_authentication_error_and_not_retried() -> None:
    server = FakeServer(httpx2, error(401, "authentication_error", "invalid x-api-key"))
    client = get_client(f"anthropic:{MODEL}", http_client=server.http_client())

    with pytest.raises(AuthenticationError) as caught:
        await client.chat(QUESTION)

    assert "invalid x-api-key" in str(caught.value)
    assert "ANTHROPIC_API_KEY" in str(caught.value)
    assert len(server.sent) == 1


async def test_unknown_model_says_where_models_are_listed() -> None:
    server = FakeServer(httpx2, error(404, "not_found_error", "model: claude-9"))

    with pytest.raises(ProviderError) as caught:
        await make(server).chat(QUESTION)

    assert not caught.value.transient
    assert "model: claude-9" in str(caught.value) and "docs.anthropic.com" in str(caught.value)


async def test_prompt_too_long_is_context_window_exceeded() -> None:
    server = FakeServer(
        httpx2,
        error(400, "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"),
    )

    with pytest.raises(ContextWindowExceeded):
        await make(server).chat(QUESTION)


def test_missing_key_says_which_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")

    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
        AnthropicClient(MODEL)


async def test_key_argument_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    server = FakeServer(httpx2, message(text_block("Paris.")))

    await make(server, api_key="sk-ant-argument").chat(QUESTION)

    assert server.last.headers["authorization"] == "Bearer sk-ant-argument"


def test_capabilities() -> None:
    capabilities = AnthropicClient(MODEL).capabilities
    assert capabilities.context_window == 200_000
    assert capabilities.structured_output and not capabilities.local
    assert capabilities.max_parallel_requests == 8


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)

    with pytest.raises(MissingDependencyError, match=r"pip install 'minions\[anthropic\]'"):
        get_client(f"anthropic:{MODEL}")


@pytest.mark.parametrize("bad", NOT_JSON, ids=["html", "cut-off", "not-utf8"])
async def test_a_reply_that_is_not_json_is_transient_and_retried(bad: Reply) -> None:
    error = r"^anthropic: api\.anthropic\.com sent a reply that is not JSON"
    await not_json_is_retried(make, httpx2, bad, message(text_block("Paris.")), error)
