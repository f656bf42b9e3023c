"""Real-model tests: they run the offline packs through llama.cpp, pulling a pack
into the user cache the first time (``MINIONS_CACHE_DIR`` or the platform's)."""

from __future__ import annotations

import importlib.util

import pytest

LLAMA_CPP_MISSING = (
    "llama-cpp-python is not installed; install it with pip install 'minions[embedded]' "
    "(it compiles llama.cpp from source, a few minutes) to run the e2e tests"
)


@pytest.fixture(autouse=True)
def _needs_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(LLAMA_CPP_MISSING)
