"""The smallest offline pack, end to end: pulled if missing, loaded by llama.cpp
through ``get_client``, answering under a JSON schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from minions import get_client
from minions.cli import EXAMPLES
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
    document = "The harbour of Valletta is deep and sheltered. " * 100
    first = client.chat_sync(f"{document}\nQuestion: what is deep?", max_tokens=20)
    second = client.chat_sync(f"{document}\nQuestion: what is sheltered?", max_tokens=20)

    assert first.usage.input_tokens > 1024
    # the prefix is reused in whole batches of 512 (minions.clients._llama_aligned)
    assert second.usage.cached_input_tokens == 1024
    assert second.usage.cached_input_tokens < second.usage.input_tokens


def test_a_reply_does_not_depend_on_what_the_caches_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same request, cold and after calls that filled the context, the RAM cache
    and the saved states: the same reply, sampled (no seed given) or greedy. Before,
    a replayed prompt token and llama-cpp-python's running seed made them differ."""
    from minions.clients.llamacpp import unload_models

    monkeypatch.setenv("MINIONS_STATE_CACHE", str(tmp_path / "states"))
    document = (EXAMPLES / "3m-2018-10k-pages-45-64.txt").read_text(encoding="utf-8")[:7000]

    def ask(question: str, **options: object) -> str:
        prompt = f"{document}\n\nQuestion: {question}\nAnswer in one sentence."
        return get_client(SPEC).chat_sync(prompt, max_tokens=40, **options).text

    question = "What did 3M spend on property, plant and equipment in 2018?"
    cold = {}
    for temperature in (0.8, 0.0):
        unload_models()  # a new context, an empty RAM cache
        monkeypatch.setenv("MINIONS_STATE_CACHE", str(tmp_path / f"cold-{temperature}"))
        cold[temperature] = ask(question, temperature=temperature)

    unload_models()
    monkeypatch.setenv("MINIONS_STATE_CACHE", str(tmp_path / "warm"))
    ask("What were 3M's net sales?", temperature=0.8)  # the document is now cached
    assert ask(question, temperature=0.8) == cold[0.8]
    assert ask(question, temperature=0.0) == cold[0.0]
    assert ask(question, temperature=0.0) == cold[0.0]  # all of its prompt cached
    unload_models()  # only the saved states are left
    assert ask(question, temperature=0.0) == cold[0.0]
    assert ask(question, temperature=0.8) == cold[0.8]


STOCK_REPLAY = pytest.mark.xfail(
    reason="stock llama-cpp-python reads a cached prompt's last token alone", strict=False
)


@pytest.mark.parametrize(
    "aligned", [True, pytest.param(False, marks=STOCK_REPLAY)], ids=["aligned", "stock"]
)
def test_a_prompt_read_again_gives_the_logits_of_a_cold_read(aligned: bool) -> None:
    """The prompt cache's replay of a prompt's last token (stock llama-cpp-python) gives
    other logits than the cold read at some lengths (here 0.52 at 1,700 tokens; at 1,300
    and 1,800 none); aligned batches give the same
    bits. (If a llama.cpp release makes the stock reads agree, the stock case xpasses:
    the aligned evaluation is then no longer needed.)"""
    import llama_cpp
    import numpy as np

    from minions.clients._llama_aligned import aligned_llama
    from minions.clients.llamacpp import _plain_cpu_buffers
    from minions.models import resolve_model_path

    llama_class = aligned_llama(llama_cpp.Llama) if aligned else llama_cpp.Llama
    with _plain_cpu_buffers(llama_cpp):
        llama = llama_class(
            model_path=str(resolve_model_path("smollm2-135m")), n_ctx=4096, n_threads=2,
            n_threads_batch=2, verbose=False,
        )  # fmt: skip
    document = (EXAMPLES / "3m-2018-10k-pages-45-64.txt").read_text(encoding="utf-8")
    tokens = llama.tokenize(document[:6000].encode())[:1700]  # a length where they differ

    def first_logits(prompt: list[int]) -> np.ndarray:
        reply = llama.generate(prompt, temp=0.0)
        next(reply)  # the prompt read, its first token sampled from these logits
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
        reply.close()
        return logits.copy()

    try:
        cold = first_logits(tokens)
        again = first_logits(tokens)  # all of the prompt in the context, nothing read
        first_logits([*tokens[:-1], tokens[0]])  # another prompt, but for its last token
        after_another = first_logits(tokens)  # stock: reads that one token alone
    finally:
        llama.close()
    assert np.array_equal(cold, again)
    assert np.array_equal(cold, after_another)
