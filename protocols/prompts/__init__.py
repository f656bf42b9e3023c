"""Prompt templates, kept apart from control flow.

Each ``<name>.txt`` file in this folder is a :class:`string.Template`: ``$name`` or
``${name}`` placeholders, ``$$`` for a literal dollar sign.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from string import Template


@cache
def template(name: str) -> Template:
    return Template(files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8"))


def render(template_name: str, /, **values: object) -> str:
    """Fill the template ``template_name`` with ``values`` (every placeholder must be given)."""
    return template(template_name).substitute({k: str(v) for k, v in values.items()}).strip()
