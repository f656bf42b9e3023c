"""Every app test keeps its run history in a folder of its own, never the user's."""

from __future__ import annotations

import pytest

from minions.app.history import DATA_DIR_ENV


@pytest.fixture(autouse=True)
def _own_history(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path_factory.mktemp("data")))
