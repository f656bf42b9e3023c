"""A helper module for tests/test_sandbox.py, shaped like protocols/sandbox_scope.py.

The sandbox child compiles it from source in the code's restricted world, so like every
helper module it imports only allowlisted standard modules (and its own package).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Item", "builtin_names", "double"]


class Item:
    """A plain record the arguments are decoded into."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size


def double(x: int) -> int:
    return 2 * x


def builtin_names() -> list[str]:
    """The builtins this module's functions see (a dict in the sandbox)."""
    return sorted(__builtins__)  # type: ignore[arg-type]


def sandbox_decode(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Items arrive as dicts and reach the code as Item objects."""
    if "items" in kwargs:
        kwargs = {**kwargs, "items": [Item(i["name"], i["size"]) for i in kwargs["items"]]}
    return kwargs


def sandbox_encode(value: Any) -> Any:
    """Item objects, alone or in lists, go back as dicts."""
    if isinstance(value, Item):
        return {"name": value.name, "size": value.size}
    if isinstance(value, list):
        return [sandbox_encode(item) for item in value]
    return value
