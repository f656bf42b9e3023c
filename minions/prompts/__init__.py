"""Prompt templates, kept apart from control flow.

Each ``<name>.txt`` file in a prompts package is a :class:`string.Template`: ``$name`` or
``${name}`` placeholders, ``$$`` for a literal dollar sign. This package holds the
templates of the core (documents, the direct call, the JSON re-ask); each protocol
package keeps its own next to it and renders them with :func:`renderer`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.resources import files
from string import Template


@cache
def template(package: str, name: str) -> Template:
    return Template(files(package).joinpath(f"{name}.txt").read_text(encoding="utf-8"))


def renderer(package: str) -> Callable[..., str]:
    """A ``render(template_name, **values)`` for the templates of ``package``."""

    def render(template_name: str, /, **values: object) -> str:
        """Fill the template with ``values`` (every placeholder must be given)."""
        filled = template(package, template_name).substitute({k: str(v) for k, v in values.items()})
        return filled.strip()

    return render


render = renderer(__name__)
