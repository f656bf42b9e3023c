"""llama.cpp states on disk: keyed by their tokens and the model file, restored by the
longest shared prefix into contexts at least as large, bounded and LRU."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from minions.clients._llama_states import (
    MIN_TOKENS,
    StateStore,
    default_folder,
    model_identity,
)

SCOPE = "model-a"


def state(tokens: list[int], n_ctx: int = 4096, kv_per_token: int = 4) -> Any:
    """What ``Llama.save_state()`` returns: ``input_ids`` as long as the context, the
    batch's logits, the KV bytes."""
    ids = np.zeros(n_ctx, dtype=np.intc)
    ids[: len(tokens)] = tokens
    kv = bytes(t % 251 for t in tokens for _ in range(kv_per_token))
    scores = np.arange(3 * 16, dtype=np.float32).reshape(3, 16)
    return types.SimpleNamespace(
        input_ids=ids, scores=scores, n_tokens=len(tokens), llama_state=kv,
        llama_state_size=len(kv), seed=12345,
    )  # fmt: skip


def prefix(n: int, start: int = 1000) -> list[int]:
    return list(range(start, start + n))


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path, max_bytes=1 << 20)


def test_a_saved_state_comes_back_whole_in_another_store_on_the_folder(
    store: StateStore, tmp_path: Path
) -> None:
    saved = state(prefix(300))
    store.save(SCOPE, saved, n_ctx=4096)
    restored = StateStore(tmp_path).restore(SCOPE, [*prefix(300), 7, 8], n_ctx=8192, better_than=0)

    assert restored is not None
    assert restored.n_tokens == 300 and restored.tokens == prefix(300)
    assert len(restored.input_ids) == 8192  # sized to the context it goes into
    assert restored.llama_state == saved.llama_state
    assert restored.llama_state_size == saved.llama_state_size and restored.seed == 12345
    assert restored.scores.tolist() == [saved.scores[0].tolist()]  # one row of logits


def test_the_longest_shared_prefix_wins_and_must_beat_what_is_held(store: StateStore) -> None:
    store.save(SCOPE, state(prefix(200) + prefix(50, start=1)), n_ctx=4096)
    store.save(SCOPE, state(prefix(260) + prefix(50, start=1)), n_ctx=4096)
    prompt = prefix(280)

    found = store.restore(SCOPE, prompt, n_ctx=4096, better_than=0)
    assert found is not None and found.n_tokens == 310  # shares 260 tokens
    assert store.restore(SCOPE, prompt, n_ctx=4096, better_than=259) is not None
    assert store.restore(SCOPE, prompt, n_ctx=4096, better_than=260) is None
    assert store.restore(SCOPE, prefix(280, start=5), n_ctx=4096, better_than=0) is None


def test_a_state_goes_only_into_a_context_at_least_as_large(store: StateStore) -> None:
    store.save(SCOPE, state(prefix(300), n_ctx=8192), n_ctx=8192)
    assert store.restore(SCOPE, prefix(300), n_ctx=4096, better_than=0) is None
    assert store.restore(SCOPE, prefix(300), n_ctx=8192, better_than=0) is not None
    assert store.restore(SCOPE, prefix(300), n_ctx=16384, better_than=0) is not None


def test_states_of_another_model_are_not_used(store: StateStore) -> None:
    store.save(SCOPE, state(prefix(300)), n_ctx=4096)
    assert store.restore("model-b", prefix(300), n_ctx=4096, better_than=0) is None


def test_short_prompts_are_not_saved(store: StateStore) -> None:
    store.save(SCOPE, state(prefix(MIN_TOKENS - 1)), n_ctx=4096)
    assert store.store.usage() == (0, 0)
    store.save(SCOPE, state(prefix(MIN_TOKENS)), n_ctx=4096)
    assert store.store.usage()[0] == 1


def test_a_state_that_extends_another_replaces_it(store: StateStore) -> None:
    store.save(SCOPE, state(prefix(300)), n_ctx=4096)
    store.save(SCOPE, state(prefix(200) + prefix(40, start=1)), n_ctx=4096)  # a sibling
    store.save(SCOPE, state(prefix(400)), n_ctx=4096)  # the conversation went on
    store.save(SCOPE, state(prefix(400)), n_ctx=4096)  # the same again: kept once
    lengths = sorted(len(tokens) for _, _, tokens in store._entries(SCOPE))
    assert lengths == [240, 400]


def test_the_store_keeps_to_its_bound_dropping_the_least_recently_used(tmp_path: Path) -> None:
    one = len(StateStore._encode(state(prefix(300)))) + 8 + 4 * 300
    store = StateStore(tmp_path, max_bytes=3 * one + 10)
    for start in (1000, 2000, 3000):
        store.save(SCOPE, state(prefix(300, start)), n_ctx=4096)
    assert store.restore(SCOPE, prefix(300, 1000), n_ctx=4096, better_than=0)  # now recent
    store.save(SCOPE, state(prefix(300, 4000)), n_ctx=4096)

    count, size = store.store.usage()
    assert count == 3 and size <= store.store.max_bytes
    assert store.restore(SCOPE, prefix(300, 2000), n_ctx=4096, better_than=0) is None
    for start in (1000, 3000, 4000):
        assert store.restore(SCOPE, prefix(300, start), n_ctx=4096, better_than=0)


def test_a_damaged_state_is_dropped(store: StateStore) -> None:
    store.save(SCOPE, state(prefix(300)), n_ctx=4096)
    ((key, _),) = store.store.scan(SCOPE)
    store.store.put(key, b"MLS1 cut off", scope=SCOPE, meta=store.store.scan(SCOPE)[0][1])
    assert store.restore(SCOPE, prefix(300), n_ctx=4096, better_than=0) is None
    assert store.store.usage() == (0, 0)


def test_the_model_identity_is_its_content_and_the_runtime(tmp_path: Path) -> None:
    weights = b"GGUF" + bytes(range(256)) * 20_000  # beyond the sampled MiB at each end
    a, b, c = tmp_path / "a.gguf", tmp_path / "b.gguf", tmp_path / "c.gguf"
    a.write_bytes(weights)
    b.write_bytes(weights)
    c.write_bytes(weights[:-1] + b"\x00")
    assert model_identity(a, "llama 1") == model_identity(b, "llama 1")
    assert model_identity(a, "llama 1") != model_identity(c, "llama 1")
    assert model_identity(a, "llama 1") != model_identity(a, "llama 2")


def test_the_folder_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINIONS_STATE_CACHE", str(tmp_path / "states"))
    assert default_folder() == tmp_path / "states"
    monkeypatch.setenv("MINIONS_STATE_CACHE", "off")
    assert default_folder() is None
    monkeypatch.delenv("MINIONS_STATE_CACHE")
    monkeypatch.setenv("MINIONS_CACHE_DIR", str(tmp_path))
    assert default_folder() == tmp_path / "llama-states"
