"""Providers that exist only in tests, registered the way a third party's are (an entry
point in the ``minions.clients`` group), so a test sees what every consumer reads from
a provider's class-level ``Capabilities``."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import ClassVar

import pytest

import minions.plugins
from minions.clients import GROUP, Capabilities, Client
from minions.clients.scripted import ScriptedClient


class LocalProvider(ScriptedClient):
    """A provider whose every model runs on the user's machine; not named llamacpp."""

    provider: ClassVar[str] = "fakelocal"
    defaults: ClassVar[Capabilities] = ScriptedClient.defaults.derive(local=True)


class PlainProvider(ScriptedClient):
    """A provider that cannot constrain a reply to a JSON schema."""

    provider: ClassVar[str] = "plain"
    defaults: ClassVar[Capabilities] = ScriptedClient.defaults.derive(structured_output=False)


def register(monkeypatch: pytest.MonkeyPatch, *classes: type[Client]) -> None:
    """Add ``classes`` to the registered providers, by their ``provider`` names."""
    original = minions.plugins.registered

    def registered(group: str) -> dict[str, EntryPoint]:
        found = dict(original(group))
        if group == GROUP:
            for cls in classes:
                value = f"{cls.__module__}:{cls.__qualname__}"
                found[cls.provider] = EntryPoint(cls.provider, value, GROUP)
        return found

    monkeypatch.setattr(minions.plugins, "registered", registered)
