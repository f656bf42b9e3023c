"""The smallest offline pack, end to end: pulled if missing, loaded by llama.cpp
through ``get_client``, answering under a JSON schema."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from minions import get_client
from minions.types import Message

pytestmark = pytest.mark.e2e

SPEC = "llamacpp:smollm2-135m"


class Capital(BaseModel):
    city: str
    country: str


def test_smollm2_gives_a_schema_valid_reply_with_usage() -> None:
    client = get_client(SPEC)
    reply = client.chat_sync(
        [
            Message.system("You answer geography questions in JSON."),
            Message.user("What is the capital of France? Give the city and the country."),
        ],
        schema=Capital,
        max_tokens=100,
        temperature=0.0,
        seed=0,
    )

    assert reply.parse_error is None, reply.text
    assert isinstance(reply.parsed, Capital)
    assert reply.finish_reason == "stop"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.usage.calls == 1
    assert client.capabilities.context_window == 8192


def test_a_repeated_prefix_is_served_from_the_prompt_cache() -> None:
    client = get_client(SPEC)
    document = "The harbour of Valletta is deep and sheltered. " * 40
    first = client.chat_sync(f"{document}\nQuestion: what is deep?", max_tokens=20)
    second = client.chat_sync(f"{document}\nQuestion: what is sheltered?", max_tokens=20)

    assert first.usage.input_tokens > 400
    assert second.usage.cached_input_tokens > 400
    assert second.usage.cached_input_tokens < second.usage.input_tokens
