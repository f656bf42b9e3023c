"""Modules that are also their main function: ``minions.batch(...)`` and
``minions.extract(...)`` call the function, ``import minions.batch`` is the module."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def callable_module(name: str, function: Callable[..., Any]) -> None:
    """Make the module ``name`` callable as ``function``."""

    class CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

    CallableModule.__doc__ = function.__doc__
    sys.modules[name].__class__ = CallableModule
