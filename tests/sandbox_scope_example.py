"""A scope module for tests/test_sandbox.py: what protocols/sandbox_scope.py will look like.

It is imported inside the sandbox child before the lockdown (trusted code), so its
helpers can also report facts about the child that untrusted code cannot see.
"""

from __future__ import annotations

import os
import resource
from typing import Any

from pydantic import BaseModel

__all__ = ["Item", "child_facts", "double"]


class Item(BaseModel):
    name: str
    size: int


def double(x: int) -> int:
    return 2 * x


def child_facts() -> dict[str, Any]:
    """The child's environment, working directory, user and limits, as the code sees them."""
    return {
        "env": sorted(os.environ),
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
        "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
    }


def sandbox_decode(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Items arrive as dicts and reach the code as Item objects."""
    if "items" in kwargs:
        kwargs = {**kwargs, "items": [Item.model_validate(item) for item in kwargs["items"]]}
    return kwargs


def sandbox_encode(value: Any) -> Any:
    """Item objects, alone or in lists, go back as dicts."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list):
        return [sandbox_encode(item) for item in value]
    return value
