"""The same reply whatever the prompt cache held: prompts evaluated in aligned batches.

llama.cpp reads a prompt in batches of ``n_batch`` tokens, and a batch's arithmetic
depends on its size and where it starts (the matrix kernels and the attention sum in
another order), so the same tokens evaluated from another starting point give logits
that differ in the last bits. Greedy decoding turns such a difference into another
reply where two tokens were nearly tied. Reusing a cached prefix makes the prompt's
remaining tokens start wherever the prefix ended, so a reply depended on what the
cache held: measured on the demo, the same command answered "1,577" with an empty
state cache and "$380.10" or "59" after other runs had filled it.

:func:`aligned_llama` makes a ``Llama`` whose prompt evaluation always starts at a
multiple of ``n_batch`` and only reuses tokens that were themselves evaluated in whole
batches from position 0 (the *canonical* prefix; generated tokens, evaluated one at a
time, and a prompt's last partial batch are not), so every batch it evaluates is the
batch a cold start would evaluate, with the same tokens before it. The cost is up to
``n_batch - 1`` prompt tokens read again per call. Saved states are cut to their
canonical prefix (:func:`canonical_state`), so a restored state keeps the promise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


def aligned_llama(base: Any) -> Any:
    """A subclass of ``llama_cpp.Llama`` (``base``) that evaluates prompts in aligned
    batches (see the module)."""

    class AlignedLlama(base):
        n_tokens: int  # llama.cpp's: tokens the context holds
        n_batch: int
        #: tokens from position 0 evaluated in whole aligned batches (see the module)
        canonical = 0
        #: prompt tokens the last call took from the context, after alignment (None:
        #: the call evaluated no prompt token)
        reused_last: int | None = None
        _prompt_next = False

        def generate(self, tokens: Sequence[int], **kwargs: Any) -> Iterator[int]:
            self._prompt_next = True  # the generator's first eval() is the prompt's
            self.reused_last = None
            return super().generate(tokens, **kwargs)

        def eval(self, tokens: Sequence[int]) -> None:
            self.canonical = min(self.canonical, self.n_tokens)
            if not self._prompt_next:  # a generated token: evaluated one at a time
                super().eval(tokens)
                return
            self._prompt_next = False
            start = self.canonical // self.n_batch * self.n_batch
            again = [int(t) for t in self.input_ids[start : self.n_tokens]]
            self.n_tokens = start
            self.reused_last = start
            tokens = again + list(tokens)
            super().eval(tokens)
            self.canonical = start + len(tokens) // self.n_batch * self.n_batch

        def load_state(self, state: Any) -> None:
            super().load_state(state)
            self.canonical = self.n_tokens  # saved states are cut to their canonical prefix

        def reset(self) -> None:
            super().reset()
            self.canonical = 0

    return AlignedLlama


def canonical_state(llama: Any, key: Sequence[int], state: Any) -> tuple[Sequence[int], Any]:
    """``key`` and ``state`` (a ``LlamaState`` llama.cpp saves after a call) cut to the
    canonical prefix of ``llama``, when it keeps one; the KV cells past it stay in the
    state's bytes and are dropped when it is restored (``Llama.eval`` removes every
    cell from ``n_tokens`` on)."""
    keep = getattr(llama, "canonical", None)
    if keep is None or keep >= state.n_tokens:
        return key, state
    state.n_tokens = keep
    state.input_ids = state.input_ids.copy()
    state.input_ids[keep:] = -1  # llama.cpp compares the whole array with a prompt
    return key[:keep], state
