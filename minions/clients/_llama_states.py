"""llama.cpp model states on disk, so a prompt prefix read once is not read again in a
later call, question or process.

A state (``Llama.save_state()``: the KV cache after some tokens) is saved after each
call that evaluated at least :data:`MIN_TOKENS` tokens no saved state held, under the
tokens it holds and the model file it came from. Before a call, the saved state sharing the longest
prefix with the prompt is restored when it beats what the context and the RAM cache
hold by :data:`MIN_GAIN` tokens; llama.cpp then evaluates only the rest of the
prompt. A state is restored only into a context at least as large as the one that
saved it. A state whose tokens another state extends (a conversation that went on) is
dropped as redundant.

States live in ``$MINIONS_STATE_CACHE`` (a folder; ``off`` turns this off), else
``llama-states/`` in the cache dir, in one SQLite file bounded in size (2 GiB by
default), least recently used first out (:class:`minions.clients._store.LruStore`).
A state of the 0.5B pack takes about 12 kB a token, of SmolLM2 23 kB.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minions.clients._store import LruStore, cache_folder

logger = logging.getLogger(__name__)

#: the folder of saved states; ``off`` turns the disk cache of states off
ENV_VAR = "MINIONS_STATE_CACHE"
DEFAULT_MAX_BYTES = 2 << 30
FILE_NAME = "states.sqlite"
#: states of fewer new tokens are not saved (they are quick to compute again)
MIN_TOKENS = 128
#: a saved state is restored only when it saves at least this many tokens
MIN_GAIN = 32
#: how much of the model file's start and end identifies it
_SAMPLE_BYTES = 1 << 20
_META = struct.Struct("<II")  # n_ctx, n_tokens; then the tokens as int32
_HEADER = struct.Struct("<4sIIqQ")  # magic, n_tokens, n_vocab, seed, llama_state_size
_MAGIC = b"MLS1"


def default_folder() -> Path | None:
    """``$MINIONS_STATE_CACHE``, else ``<cache dir>/llama-states``; None when the
    variable is ``off``."""
    return cache_folder(ENV_VAR, "llama-states")


def model_identity(path: Path, runtime: str) -> str:
    """What a state belongs to: the model file (its size, first and last MiB) and the
    llama.cpp build that wrote it (``runtime``), whatever the file is called."""
    digest = hashlib.sha256(runtime.encode("utf-8"))
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as file:
        digest.update(file.read(_SAMPLE_BYTES))
        file.seek(max(0, size - _SAMPLE_BYTES))
        digest.update(file.read(_SAMPLE_BYTES))
    return digest.hexdigest()


@dataclass
class SavedState:
    """What ``Llama.load_state`` reads, rebuilt from disk (the fields of
    ``llama_cpp.LlamaState``)."""

    input_ids: Any
    scores: Any
    n_tokens: int
    llama_state: bytes
    llama_state_size: int
    seed: int

    @property
    def tokens(self) -> list[int]:
        return [int(t) for t in self.input_ids[: self.n_tokens]]


def _common_prefix(a: Any, b: Any) -> int:
    import numpy as np

    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if differ.size else n


class StateStore:
    """Saved states of every model, in ``folder/states.sqlite``, at most ``max_bytes``."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.store = LruStore(folder / FILE_NAME, max_bytes)

    def __repr__(self) -> str:
        return f"<StateStore {self.folder}>"

    def _entries(self, scope: str) -> list[tuple[str, int, Any]]:
        """``(key, n_ctx, tokens)`` of the states of ``scope``."""
        import numpy as np

        entries = []
        for key, meta in self.store.scan(scope):
            n_ctx, n_tokens = _META.unpack_from(meta)
            tokens = np.frombuffer(meta, dtype=np.int32, count=n_tokens, offset=_META.size)
            entries.append((key, n_ctx, tokens))
        return entries

    def restore(
        self, scope: str, prompt: Sequence[int], n_ctx: int, better_than: int
    ) -> SavedState | None:
        """The saved state sharing the longest prefix with ``prompt`` (more than
        ``better_than`` tokens), fit for a context of ``n_ctx``; None if there is none."""
        import numpy as np

        started = time.perf_counter()
        wanted = np.asarray(prompt, dtype=np.int32)
        best_key, best, best_tokens = None, better_than, None
        for key, saved_n_ctx, tokens in self._entries(scope):
            if saved_n_ctx <= n_ctx:
                shared = _common_prefix(tokens, wanted)
                if shared > best:
                    best_key, best, best_tokens = key, shared, tokens
        if best_key is None:
            return None
        value = self.store.get(best_key)
        state = None if value is None else self._decode(value, best_tokens, n_ctx)
        if state is None:
            self.store.delete([best_key])
            return None
        logger.debug(
            "read a state of %d tokens (%d shared, %.1f MB) in %.3f s",
            state.n_tokens, best, len(value or b"") / 1e6, time.perf_counter() - started,
        )  # fmt: skip
        return state

    def save(self, scope: str, state: Any, n_ctx: int) -> None:
        """Keep ``state`` (a ``LlamaState``) for contexts of ``n_ctx`` or more, and drop
        the states it extends."""
        import numpy as np

        if state.n_tokens < MIN_TOKENS:
            return
        started = time.perf_counter()
        tokens = np.asarray(state.input_ids[: state.n_tokens], dtype=np.int32)
        meta = _META.pack(n_ctx, len(tokens)) + tokens.tobytes()
        key = hashlib.sha256(scope.encode() + meta).hexdigest()
        if key in self.store:
            return
        subsumed = [
            old
            for old, old_n_ctx, old_tokens in self._entries(scope)
            if old_n_ctx >= n_ctx
            and len(old_tokens) < len(tokens)
            and _common_prefix(old_tokens, tokens) == len(old_tokens)
        ]
        value = self._encode(state)
        if self.store.put(key, value, scope=scope, meta=meta):
            self.store.delete(subsumed)
        logger.debug(
            "saved a state of %d tokens (%.1f MB) in %.3f s",
            len(tokens), len(value) / 1e6, time.perf_counter() - started,
        )  # fmt: skip

    @staticmethod
    def _encode(state: Any) -> bytes:
        import numpy as np

        row = np.asarray(state.scores[:1], dtype=np.float32).reshape(-1)
        header = _HEADER.pack(
            _MAGIC, state.n_tokens, len(row), int(state.seed), state.llama_state_size
        )
        return header + row.tobytes() + bytes(state.llama_state)

    def _decode(self, value: bytes, tokens: Any, n_ctx: int) -> SavedState | None:
        """The state in ``value``, its ``input_ids`` sized to a context of ``n_ctx``
        (as ``Llama`` keeps them) and holding ``tokens``."""
        import numpy as np

        if len(value) < _HEADER.size:
            return None
        magic, n_tokens, n_vocab, seed, size = _HEADER.unpack_from(value)
        start = _HEADER.size + 4 * n_vocab
        if magic != _MAGIC or len(value) != start + size or n_tokens != len(tokens):
            logger.warning("%s: a saved state is damaged; dropped", self)
            return None
        input_ids = np.zeros(n_ctx, dtype=np.intc)
        input_ids[:n_tokens] = tokens
        scores = np.frombuffer(value, np.float32, n_vocab, _HEADER.size).reshape(1, n_vocab)
        return SavedState(
            input_ids=input_ids,
            scores=scores.copy(),
            n_tokens=n_tokens,
            llama_state=value[start:],
            llama_state_size=size,
            seed=seed,
        )
