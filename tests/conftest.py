"""Fixtures every test gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from minions.clients._llama_states import ENV_VAR as STATE_CACHE_ENV
from minions.clients.cache import ENV_VAR as RESPONSE_CACHE_ENV


@pytest.fixture(autouse=True)
def _fresh_caches(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test (and every process it starts) gets empty response and llama.cpp state
    caches of its own, so no test passes on the answers or states of an earlier run."""
    folder = tmp_path_factory.mktemp("caches")
    monkeypatch.setenv(RESPONSE_CACHE_ENV, str(folder / "responses"))
    monkeypatch.setenv(STATE_CACHE_ENV, str(folder / "llama-states"))
    return folder
