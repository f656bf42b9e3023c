"""minions: a small local model reads the documents, a frontier model plans and answers.

Importing this package imports no provider SDK (ollama, openai, anthropic, llama_cpp)
and no UI library; those load when a client or the app first needs them.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import TYPE_CHECKING, Any

from minions.clients import get_client
from minions.errors import MinionsError
from minions.types import Completion, Message, Usage

__version__ = "0.1.0"

if TYPE_CHECKING:  # minions.batch is the module and, called, its batch() function
    from minions.batch import batch
    from minions.extract import extract

logging.getLogger(__name__).addHandler(logging.NullHandler())

# public names resolved on first use, so `import minions` stays light
_LAZY = {
    "ask": "minions.api",
    "ask_async": "minions.api",
    "stream": "minions.api",
    "RunStream": "minions.api",
    "Protocol": "minions.protocol",
    "ProtocolConfig": "minions.protocol",
    "Run": "minions.run",
    "Result": "minions.types",
    "Limits": "minions.limits",
    "Document": "minions.documents",
    "load_document": "minions.documents",
    "load_documents": "minions.documents",
    "price": "minions.pricing",
    "batch_async": "minions.batch",
    "extract_async": "minions.extract",
}
#: modules callable as their function of the same name
_CALLABLE = ("batch", "extract")

__all__ = [
    "Completion",
    "Message",
    "MinionsError",
    "Usage",
    "batch",
    "extract",
    "get_client",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _CALLABLE:  # the module, callable as its function
        return import_module(f"minions.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'minions' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
