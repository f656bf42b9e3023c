"""Prompts evaluated in batches aligned from their first token, on a stand-in ``Llama``
that records the batches it decodes (the real one: tests/e2e/test_llamacpp_e2e.py)."""

from __future__ import annotations

import types
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from minions.clients._llama_aligned import aligned_llama, canonical_state

N_BATCH = 4


class Decoder:
    """What ``llama_cpp.Llama`` does around ``eval``: ``generate`` reuses the longest
    prefix the context shares with the prompt (replaying one token when the prompt is
    all cached), evaluates the rest, then one token per generated token; ``eval``
    decodes in batches of ``n_batch`` from ``n_tokens``."""

    def __init__(self) -> None:
        self.n_batch = N_BATCH
        self.n_tokens = 0
        self.input_ids = np.zeros(64, dtype=np.intc)
        self.batches: list[tuple[int, int]] = []  # (first position, size) of each decode

    def eval(self, tokens: Sequence[int]) -> None:
        for i in range(0, len(tokens), self.n_batch):
            batch = list(tokens[i : i + self.n_batch])
            self.batches.append((self.n_tokens, len(batch)))
            self.input_ids[self.n_tokens : self.n_tokens + len(batch)] = batch
            self.n_tokens += len(batch)

    def generate(self, tokens: Sequence[int], reply: Sequence[int] = (90, 91)) -> Iterator[int]:
        tokens = list(tokens)
        shared = 0
        while shared < min(self.n_tokens, len(tokens)) and self.input_ids[shared] == tokens[shared]:
            shared += 1
        reuse = shared - 1 if shared == len(tokens) else shared
        self.n_tokens = max(reuse, 0)
        self.eval(tokens[self.n_tokens :])
        for token in reply:
            yield token
            self.eval([token])

    def reset(self) -> None:
        self.n_tokens = 0

    def load_state(self, state: Any) -> None:
        self.input_ids = state.input_ids.copy()
        self.n_tokens = state.n_tokens

    def save_state(self) -> Any:
        return types.SimpleNamespace(input_ids=self.input_ids.copy(), n_tokens=self.n_tokens)


def run(llama: Any, prompt: Sequence[int]) -> list[tuple[int, int]]:
    """The prompt batches one call decodes (generated tokens left out)."""
    llama.batches = []
    list(llama.generate(prompt))
    return [b for b in llama.batches if b[1] > 1 or b[0] < len(prompt)]


PROMPT = list(range(1, 11))  # 10 tokens: batches at 0, 4 and 8


def test_a_cold_prompt_is_read_in_batches_from_its_first_token() -> None:
    llama = aligned_llama(Decoder)()
    assert run(llama, PROMPT) == [(0, 4), (4, 4), (8, 2)]
    assert llama.canonical == 8  # the last, partial batch is not canonical
    assert llama.reused_last == 0


def test_a_shared_prefix_is_reused_only_up_to_a_whole_batch() -> None:
    llama = aligned_llama(Decoder)()
    run(llama, PROMPT)
    again = [*PROMPT[:9], 77, 78]  # shares 9 tokens with what the context holds
    # the stock decoder would start at 9; aligned, it reads 8.. as a cold start would
    assert run(llama, again) == [(8, 3)]
    assert llama.reused_last == 8
    assert run(aligned_llama(Decoder)(), again)[-1] == (8, 3)  # the same batch, cold


def test_the_same_prompt_again_is_read_from_its_last_whole_batch_not_one_token() -> None:
    stock, aligned = Decoder(), aligned_llama(Decoder)()
    for llama in (stock, aligned):
        run(llama, PROMPT)
    assert run(stock, PROMPT) == [(9, 1)]  # what made replies depend on the cache
    assert run(aligned, PROMPT) == [(8, 2)]


def test_generated_tokens_are_never_reused_as_prompt() -> None:
    llama = aligned_llama(Decoder)()
    run(llama, PROMPT[:8])  # 8 prompt tokens, then the reply 90, 91 one at a time
    follow_up = [*PROMPT[:8], 90, 91, 5, 6]
    assert run(llama, follow_up) == [(8, 4)]  # the reply's tokens are read again


def test_a_saved_state_is_cut_to_its_canonical_prefix() -> None:
    llama = aligned_llama(Decoder)()
    run(llama, PROMPT)
    key, state = canonical_state(llama, [*PROMPT, 90, 91], llama.save_state())
    assert (list(key), state.n_tokens) == (PROMPT[:8], 8)
    assert list(state.input_ids[:8]) == PROMPT[:8] and set(state.input_ids[8:]) == {-1}

    restored = aligned_llama(Decoder)()
    restored.load_state(state)
    assert restored.canonical == 8
    assert run(restored, PROMPT) == [(8, 2)]


def test_a_llama_that_keeps_no_canonical_prefix_saves_states_whole() -> None:
    state = types.SimpleNamespace(input_ids=np.arange(6), n_tokens=6)
    assert canonical_state(object(), [1, 2, 3, 4, 5, 6], state) == ([1, 2, 3, 4, 5, 6], state)
