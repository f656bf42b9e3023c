"""``openai:`` against a fake Chat Completions server built from the API reference's
documented bodies."""

from __future__ import annotations

import sys
from typing import Any

import httpx2
import pytest

from minions.clients import get_client
from minions.clients.openai import OpenAIClient
from minions.errors import (
    AuthenticationError,
    ContextWindowExceeded,
    MissingDependencyError,
    ProviderError,
    TransientProviderError,
)
from minions.types import Message

from .fakes import ANSWER, NOT_JSON, Answer, FakeServer, Reply, fast_retries, not_json_is_retried

QUESTION = [Message.system("Be brief."), Message.user("What is the capital of France?")]


def completion(
    content: str | None,
    *,
    finish_reason: str = "stop",
    prompt_tokens: int = 19,
    completion_tokens: int = 10,
    cached_tokens: int = 0,
) -> dict[str, Any]:
    """A ``chat.completion`` object as the API reference documents it."""
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_44709d6fcb",
    }


def error(status: int, message: str, type_: str, code: str | None, **headers: str) -> Reply:
    """An error response: ``{"error": {message, type, param, code}}``."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return Reply(status, body, headers)


RATE_LIMITED = error(
    429,
    "Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 200000, Used 199800, "
    "Requested 500. Please try again in 1ms.",
    "tokens",
    "rate_limit_exceeded",
    **{"retry-after-ms": "1"},
)
BAD_KEY = error(
    401,
    "Incorrect API key provided: sk-bad. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    "invalid_request_error",
    "invalid_api_key",
)


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


def make(server: FakeServer, **kwargs: Any) -> OpenAIClient:
    kwargs.setdefault("api_key", "sk-test")
    return OpenAIClient("gpt-4o-mini", http_client=server.http_client(), **kwargs)


async def test_plain_reply_and_what_was_sent() -> None:
    server = FakeServer(httpx2, completion("Paris."))
    client = make(server)

    reply = await client.chat(QUESTION, temperature=0.0, max_tokens=50, seed=7, stop=["\n\n"])

    assert reply.text == "Paris."
    assert reply.parsed is None and reply.parse_error is None
    assert reply.finish_reason == "stop"
    assert reply.model == "gpt-4o-mini"
    sent = server.last
    assert (sent.method, sent.url) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "temperature": 0.0,
        "seed": 7,
        "stop": ["\n\n"],
        "max_completion_tokens": 50,
    }


async def test_structured_output_uses_a_strict_json_schema() -> None:
    server = FakeServer(httpx2, completion('{"answer": "Paris", "confidence": 0.9}'))

    reply = await make(server).chat(QUESTION, schema=Answer)

    assert reply.parsed == Answer.model_validate(ANSWER)
    assert reply.parse_error is None
    response_format = server.last.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Answer"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["answer", "confidence"]


async def test_non_strict_schema_is_sent_as_pydantic_writes_it() -> None:
    server = FakeServer(httpx2, completion('{"answer": "Paris", "confidence": 0.9}'))

    reply = await make(server, strict=False).chat(QUESTION, schema=Answer)

    assert reply.parsed == Answer.model_validate(ANSWER)
    json_schema = server.last.body["response_format"]["json_schema"]
    assert json_schema["strict"] is False
    assert json_schema["schema"] == Answer.model_json_schema()


async def test_usage_counts_cached_prompt_tokens() -> None:
    server = FakeServer(
        httpx2, completion("Paris.", prompt_tokens=2006, completion_tokens=300, cached_tokens=1920)
    )

    usage = (await make(server).chat(QUESTION)).usage

    assert (usage.input_tokens, usage.output_tokens) == (2006, 300)
    assert usage.cached_input_tokens == 1920
    assert usage.calls == 1


async def test_a_server_without_usage_is_metered_by_estimate() -> None:
    body = completion("Paris.")
    del body["usage"]
    server = FakeServer(httpx2, body)

    usage = (await make(server).chat(QUESTION)).usage

    assert usage.input_tokens > 0 and usage.output_tokens > 0 and usage.calls == 1


async def test_length_truncation_is_reported() -> None:
    server = FakeServer(httpx2, completion('{"answer": "Par', finish_reason="length"))

    reply = await make(server).chat(QUESTION, schema=Answer, max_tokens=5)

    assert reply.finish_reason == "length" and reply.truncated
    assert reply.parsed is None
    assert reply.parse_error is not None and "cut off" in reply.parse_error


async def test_refusal_is_kept_as_the_text() -> None:
    body = completion(None)
    body["choices"][0]["message"]["refusal"] = "I can't help with that."
    server = FakeServer(httpx2, body)

    reply = await make(server).chat(QUESTION, schema=Answer)

    assert reply.text == "I can't help with that."
    assert reply.parsed is None and reply.parse_error


async def test_rate_limit_is_retried_by_get_client() -> None:
    server = FakeServer(httpx2, RATE_LIMITED, completion("Paris."))
    client = get_client("openai:gpt-4o-mini", api_key="sk-test", http_client=server.http_client())

    reply = await client.chat(QUESTION)

    assert reply.text == "Paris."
    assert len(server.sent) == 2


async def test_rate_limit_error_carries_the_retry_after_hint() -> None:
    server = FakeServer(httpx2, RATE_LIMITED)

    with pytest.raises(TransientProviderError) as caught:
        await make(server).chat(QUESTION)

    assert caught.value.status_code == 429
    assert caught.value.retry_after_s == pytest.approx(0.001)
    assert "Rate limit reached" in str(caught.value)


async def test_server_errors_are_transient_and_retried() -> None:
    server_error = error(
        500, "The server had an error processing your request.", "server_error", None
    )
    server = FakeServer(httpx2, server_error, server_error, completion("Paris."))

    reply = await fast_retries(make(server)).chat(QUESTION)

    assert reply.text == "Paris."
    assert len(server.sent) == 3


async def test_bad_key_is_an_authentication_error_and_not_retried() -> None:
    server = FakeServer(httpx2, BAD_KEY)
    client = get_client("openai:gpt-4o-mini", api_key="sk-bad", http_client=server.http_client())

    with pytest.raises(AuthenticationError) as caught:
        await client.chat(QUESTION)

    message = str(caught.value)
    assert "Incorrect API key provided" in message
    assert "OPENAI_API_KEY" in message
    assert caught.value.status_code == 401
    assert len(server.sent) == 1


async def test_unknown_model_says_what_to_check() -> None:
    server = FakeServer(
        httpx2,
        error(
            404,
            "The model `gpt-9` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
    )

    with pytest.raises(ProviderError) as caught:
        await fast_retries(make(server)).chat(QUESTION)

    assert not caught.value.transient
    assert "does not exist" in str(caught.value) and "/v1" in str(caught.value)
    assert len(server.sent) == 1


async def test_context_overflow_is_context_window_exceeded() -> None:
    server = FakeServer(
        httpx2,
        error(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 130000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
        ),
    )

    with pytest.raises(ContextWindowExceeded):
        await make(server).chat(QUESTION)


async def test_connection_failure_is_transient() -> None:
    server = FakeServer(httpx2, httpx2.ConnectError("connection refused"))

    with pytest.raises(TransientProviderError) as caught:
        await make(server).chat(QUESTION)

    assert "api.openai.com" in str(caught.value)


async def test_other_options_reach_the_server_unchanged() -> None:
    server = FakeServer(httpx2, completion("Paris."))

    await make(server).chat(QUESTION, top_p=0.5, reasoning_effort="low")

    assert server.last.body["top_p"] == 0.5
    assert server.last.body["reasoning_effort"] == "low"


def test_missing_key_says_which_variable_to_set() -> None:
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        OpenAIClient("gpt-4o-mini")


async def test_openai_compatible_server_needs_no_key() -> None:
    server = FakeServer(httpx2, completion("Paris."))
    client = get_client(
        "openai:qwen2.5-7b-instruct",
        base_url="http://localhost:8000/v1",
        local=True,
        http_client=server.http_client(),
    )

    await client.chat(QUESTION, max_tokens=50)

    assert server.last.url == "http://localhost:8000/v1/chat/completions"
    assert server.last.headers["authorization"] == "Bearer not-needed"
    # the length limit under the name every compatible server knows
    assert server.last.body["max_tokens"] == 50
    assert "max_completion_tokens" not in server.last.body
    assert client.capabilities.local is True
    assert client.capabilities.context_window is None


async def test_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    server = FakeServer(httpx2, completion("Paris."))

    await OpenAIClient("qwen2.5:3b", http_client=server.http_client()).chat(QUESTION)

    assert server.last.url == "http://127.0.0.1:11434/v1/chat/completions"


def test_capabilities_of_known_models() -> None:
    server = FakeServer(httpx2)
    assert make(server).capabilities.context_window == 128_000
    assert make(server).capabilities.max_parallel_requests == 8
    assert make(server).capabilities.local is False
    mini = OpenAIClient("gpt-4.1-mini", api_key="sk-test")
    assert mini.capabilities.context_window == 1_047_576
    assert OpenAIClient("my-finetune", api_key="sk-test").capabilities.context_window is None


def test_sync_calls_in_fresh_event_loops_each_work() -> None:
    server = FakeServer(httpx2, completion("Paris."))
    client = make(server)

    assert client.chat_sync("first").text == "Paris."
    assert client.chat_sync("second").text == "Paris."


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)

    with pytest.raises(MissingDependencyError, match=r"pip install 'minions\[openai\]'"):
        get_client("openai:gpt-4o-mini", api_key="sk-test")


@pytest.mark.parametrize("bad", NOT_JSON, ids=["html", "cut-off", "not-utf8"])
async def test_a_reply_that_is_not_json_is_transient_and_retried(bad: Reply) -> None:
    error = r"^openai: api\.openai\.com sent a reply that is not JSON"
    await not_json_is_retried(make, httpx2, bad, completion("Paris."), error)
