"""Help that teaches: what every ``minions`` command's ``--help`` looks like.

Typer shows a parameter's Python type in help (``<list[Path]>``, ``<bool>`` on a flag);
a newcomer needs a word for what to type. :class:`Typer` is ``typer.Typer`` with
commands and groups that show readable metavars instead: an argument by its metavar
(``FILE...``), a flag by its name alone, an option by its metavar or, without one, a
word for its type (``TEXT``, ``N``, ``NUMBER``, ``PATH``). Each command ends with an
Examples section (:func:`examples`). A plugin's command gets the same by being added to
the ``minions`` app (``cli.command(...)`` there makes a :class:`HelpCommand`) or, for a
sub-app of its own, by being a :class:`Typer`.

This module registers nothing, so a plugin may import it while the ``minions`` command
is being built.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape
from typer import _click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["HELP_WIDTH", "HelpCommand", "HelpGroup", "Typer", "examples"]

#: the width help and tables are written to fit (a standard terminal)
HELP_WIDTH = 80

#: a word for each Python type an option can have, when it sets no metavar
TYPE_WORDS = {"int": "N", "float": "NUMBER", "str": "TEXT", "Path": "PATH", "path": "PATH"}


def _type_word(param: TyperOption) -> str | None:
    """``TEXT`` for a ``str`` option, ``N`` for an ``int`` one ...; ``None`` to keep
    Typer's own display (choices, ranges)."""
    descriptor = param.type_descriptor
    if descriptor.is_choice:
        return None
    bare = param.bare_type()
    if bare.startswith("list[") and bare.endswith("]"):
        bare = bare[5:-1]
    return TYPE_WORDS.get(bare)


def _argument_usage(param: TyperArgument) -> Callable[[_click.Context], list[str]]:
    def pieces(ctx: _click.Context) -> list[str]:
        name = param.metavar or param.name or "ARG"
        if param.nargs != 1 and not name.endswith("..."):
            name += "..."
        return [name if param.required else f"[{name}]"]

    return pieces


def _no_type(ctx: _click.Context) -> str | None:
    return None


def readable(param: _click.Parameter) -> _click.Parameter:
    """``param`` made to show a word, not a Python type, in help (idempotent)."""
    if isinstance(param, TyperArgument):
        if param.metavar is None:
            param.metavar = (param.name or "arg").upper()
        # on the instance: Typer builds its own argument objects, with no class to pass
        setattr(param, "display_type_rich", _no_type)  # noqa: B010
        setattr(param, "get_usage_pieces", _argument_usage(param))  # noqa: B010
    elif isinstance(param, TyperOption) and param.metavar is None:
        param.metavar = "" if param.is_flag else _type_word(param)
    return param


def reflow(text: str | None) -> str | None:
    """A docstring's paragraphs as one line each, so the terminal's width decides where
    they wrap; an indented line (an example) stays a line of its own."""
    if not text:
        return text
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.split("\n")
        joined = lines[0]
        for line in lines[1:]:
            joined += f"\n{line}" if line[:1].isspace() or joined.endswith("\b") else f" {line}"
        paragraphs.append(joined)
    return "\n\n".join(paragraphs)


class _Teaching(_click.Command):
    """What :class:`HelpCommand` and :class:`HelpGroup` add to Typer's classes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        return [readable(param) for param in super().get_params(ctx)]


class HelpCommand(_Teaching, TyperCommand):
    """A command whose help shows readable metavars and reflowed text (see the module)."""


class HelpGroup(_Teaching, TyperGroup):
    """A group whose own options show readable metavars and reflowed text."""


class Typer(typer.Typer):
    """``typer.Typer`` whose commands and groups are :class:`HelpCommand` and
    :class:`HelpGroup`, with Python tracebacks left plain (a user never sees one: the
    commands turn failures into messages)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", HelpGroup)
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(**kwargs)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[Any], Any]:
        return super().command(name, cls=cls or HelpCommand, **kwargs)


def examples(*lines: str) -> str:
    """An Examples section for a command's ``epilog``: one command line each, written
    as they are typed (rich markup in them is escaped)."""
    body = "\n".join(f"  {escape(line)}" for line in lines)
    return f"[bold]Examples[/bold]\n\n{body}"
