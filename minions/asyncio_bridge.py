"""Run a coroutine to completion from synchronous code, inside a running loop or not.

``asyncio.run`` refuses to start while a loop is running (Jupyter, an async web
framework, a Streamlit callback): there the coroutine runs on a fresh loop in a worker
thread and the caller blocks until it is done. The blocking helpers of the library
(``minions.ask``, ``Client.chat_sync``, ``minions.sandbox.run``) all go through here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result; its exceptions propagate as they are."""
    if not loop_running():
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="minions-sync") as pool:
        return pool.submit(asyncio.run, coroutine).result()
