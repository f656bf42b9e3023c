"""Entry-point registries: how providers and protocols, built-in or not, are found."""

from __future__ import annotations

import inspect
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from minions.errors import ConfigurationError

NOT_INSTALLED = "none (is minions installed? pip install -e .)"


@cache
def registered(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by name."""
    return {ep.name: ep for ep in entry_points(group=group)}


def load(
    group: str,
    name: str,
    base: type,
    kind: str,
    unknown: type[ConfigurationError] = ConfigurationError,
) -> Any:
    """The ``base`` subclass registered as ``name`` in ``group``; an unknown name is an
    ``unknown`` error listing the registered ones (``kind`` names what they are)."""
    known = registered(group)
    if name not in known:
        names = ", ".join(sorted(known)) or NOT_INSTALLED
        raise unknown(f"unknown {kind} {name!r}; registered {kind}s: {names}")
    cls = known[name].load()
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        raise ConfigurationError(
            f"entry point {name!r} in group {group} is {cls!r}, not a {base.__name__} subclass"
        )
    return cls
