"""``Capabilities`` is the one truth about a provider: what its class says before a
client is built (local, the API key's variable) is what pricing, the default remote and
``get_client`` read, and a client's own capabilities derive from it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import minions.clients.llamacpp
from minions.api import (
    KEYED_REMOTES,
    OFFLINE_PRICE_AS,
    OFFLINE_REMOTE,
    choose_remote,
    default_remote,
    stand_in_note,
)
from minions.clients import (
    Capabilities,
    LimitedClient,
    RetryingClient,
    SchemaInPromptClient,
    capabilities_of,
    get_client,
    runs_locally,
)
from minions.clients.llamacpp import LlamaCppClient
from minions.clients.scripted import ScriptedClient
from minions.errors import AuthenticationError, UnknownProviderError
from minions.pricing import price
from minions.types import Message, Usage

from .fake_providers import LocalProvider, PlainProvider, register

USAGE = Usage(input_tokens=1000, output_tokens=100, calls=1)
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MINIONS_TEST_KEY")


class Answer(BaseModel):
    answer: int


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_llamacpp_spec_is_local_without_loading_a_model(monkeypatch: pytest.MonkeyPatch):
    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("a client was built or llama.cpp imported")

    monkeypatch.setattr(LlamaCppClient, "__init__", no_model)
    monkeypatch.setattr(minions.clients.llamacpp, "_llama_cpp", no_model)
    assert runs_locally(OFFLINE_REMOTE)
    assert capabilities_of("llamacpp:/models/any.gguf") == LlamaCppClient.defaults
    assert price(USAGE, OFFLINE_REMOTE).usd == 0.0


def test_a_third_party_local_provider_is_local_everywhere(monkeypatch: pytest.MonkeyPatch):
    register(monkeypatch, LocalProvider)
    assert runs_locally("fakelocal:m") and price(USAGE, "fakelocal:m").usd == 0.0
    assert not runs_locally("scripted:m") and price(USAGE, "scripted:m").usd is None


@pytest.mark.parametrize("spec", ["madeup:model", "no colon", ""])
def test_an_unknown_or_malformed_spec_is_not_local(spec: str):
    assert not runs_locally(spec)


def test_an_unknown_provider_has_no_capabilities():
    with pytest.raises(UnknownProviderError):
        capabilities_of("madeup:model")


def test_a_clients_capabilities_derive_from_its_class():
    client = ScriptedClient(local=True, context_window=500)
    assert ScriptedClient.defaults.local is False
    assert client.capabilities == ScriptedClient.defaults.derive(local=True, context_window=500)
    wrapped = RetryingClient(LimitedClient(client, 1))
    assert capabilities_of(wrapped) == client.capabilities.derive(max_parallel_requests=1)
    assert runs_locally(client) and wrapped.defaults is ScriptedClient.defaults


def test_derive_validates():
    with pytest.raises(ValueError, match="max_parallel_requests"):
        Capabilities().derive(max_parallel_requests=0)


def test_key_variables_are_the_provider_classes(no_keys: pytest.MonkeyPatch):
    from minions.clients.anthropic import AnthropicClient
    from minions.clients.openai import OpenAIClient

    assert capabilities_of("openai:x").key_env == "OPENAI_API_KEY"
    assert capabilities_of("anthropic:x") is AnthropicClient.defaults
    assert OpenAIClient.defaults.needs_key and AnthropicClient.defaults.needs_key
    assert not capabilities_of("ollama:x").needs_key and not capabilities_of("llamacpp:x").key_env
    assert "OPENAI_API_KEY or ANTHROPIC_API_KEY" in stand_in_note()


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ((), OFFLINE_REMOTE),
        (("ANTHROPIC_API_KEY",), KEYED_REMOTES[1]),
        (("OPENAI_API_KEY", "ANTHROPIC_API_KEY"), KEYED_REMOTES[0]),
    ],
)
def test_the_default_remote_is_the_first_with_a_key(
    no_keys: pytest.MonkeyPatch, keys: tuple[str, ...], expected: str
):
    for name in keys:
        no_keys.setenv(name, "sk-test")
    assert default_remote() == expected


def test_only_the_stand_in_chosen_by_default_is_priced_as_a_cloud_model(
    no_keys: pytest.MonkeyPatch,
):
    assert choose_remote(None, None) == (OFFLINE_REMOTE, OFFLINE_PRICE_AS, True)
    assert choose_remote(None, "anthropic:x") == (OFFLINE_REMOTE, "anthropic:x", True)
    # named by the caller, the same pack is what the caller asked for: priced as told
    assert choose_remote(OFFLINE_REMOTE, None) == (OFFLINE_REMOTE, None, False)
    no_keys.setenv("OPENAI_API_KEY", "sk-test")
    assert choose_remote(None, None) == (KEYED_REMOTES[0], None, False)


def test_the_default_remote_reads_the_key_variable_from_the_class(no_keys: pytest.MonkeyPatch):
    pytest.importorskip("openai")
    from minions.clients.openai import OpenAIClient

    moved = OpenAIClient.defaults.derive(key_env="MINIONS_TEST_KEY")
    no_keys.setattr(OpenAIClient, "defaults", moved)
    no_keys.setenv("OPENAI_API_KEY", "sk-ignored")
    assert default_remote() == OFFLINE_REMOTE
    with pytest.raises(AuthenticationError, match="set MINIONS_TEST_KEY"):
        OpenAIClient("gpt-4o-mini")
    no_keys.setenv("MINIONS_TEST_KEY", "sk-test")
    assert default_remote() == KEYED_REMOTES[0]
    assert OpenAIClient("gpt-4o-mini").capabilities.key_env == "MINIONS_TEST_KEY"
    assert "MINIONS_TEST_KEY or ANTHROPIC_API_KEY" in stand_in_note()


def test_a_compatible_server_needs_no_key(no_keys: pytest.MonkeyPatch):
    pytest.importorskip("openai")
    from minions.clients.openai import OpenAIClient

    client = OpenAIClient("qwen", base_url="http://localhost:8000/v1", local=True)
    assert not client.capabilities.needs_key and client.capabilities.local
    assert runs_locally(client) and not runs_locally("openai:qwen")


# --- structured output -----------------------------------------------------------------


async def test_without_structured_output_the_schema_is_asked_in_the_prompt(
    monkeypatch: pytest.MonkeyPatch,
):
    register(monkeypatch, PlainProvider)
    client = get_client("plain:m", replies=['{"answer": 4}', "not json"])
    assert isinstance(client.wrapped, SchemaInPromptClient)
    question = [Message.system("Be brief."), Message.user("2 + 2?")]
    completion = await client.chat(question, schema=Answer)
    assert completion.parsed == Answer(answer=4) and completion.parse_error is None
    call = client.unwrap().calls[0]
    assert call.schema is None and len(call.messages) == 2
    assert call.messages[0] == question[0]
    assert call.messages[1].content.startswith("2 + 2?\n\nReply with JSON only")
    assert '"answer"' in call.messages[1].content
    failed = await client.chat(question, schema=Answer)
    assert failed.parsed is None and "not valid JSON" in (failed.parse_error or "")


async def test_without_a_schema_nothing_is_added(monkeypatch: pytest.MonkeyPatch):
    register(monkeypatch, PlainProvider)
    client = get_client("plain:m", replies=["four"])
    assert (await client.chat([Message.user("2 + 2?")])).text == "four"
    assert client.unwrap().calls[0].messages == [Message.user("2 + 2?")]


async def test_a_provider_with_structured_output_gets_the_schema():
    client = get_client("scripted:", replies=['{"answer": 4}'], retries=0)
    assert isinstance(client, ScriptedClient)
    assert (await client.chat([Message.user("2 + 2?")], schema=Answer)).parsed == Answer(answer=4)
    assert client.calls[0].schema is Answer and client.calls[0].messages[-1].content == "2 + 2?"
