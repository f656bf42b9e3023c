"""People's names found by the local model, for ``privacy="strict+names"``.

The patterns of :mod:`minions.pii` find a name where something marks it (a title, the
word "patient") and then its every other mention. A name that nothing marks — "Lina
Caballero presented with ..." — they miss. With ``strict+names`` the run first asks its
local model, passage by passage and under a JSON schema, for the people each passage
names; the names it gives that the passage really contains, written as a name is
written, join the patterns' finds in the leakage meter and the shield. The pass is
local only: nothing of it reaches the remote, and it is metered as local calls.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from minions.documents import Document
from minions.errors import ProtocolError
from minions.pii import NAME, find_spans
from minions.prompts import render
from minions.types import Message

if TYPE_CHECKING:
    from minions.run import Run

logger = logging.getLogger(__name__)

#: how much of a page the local model reads at a time
WINDOW_CHARS = 2_000
_WRITTEN_AS_A_NAME = re.compile(rf"{NAME}(?: {NAME}){{0,2}}")


class Names(BaseModel):
    """The local model's reply: the people a passage names."""

    model_config = ConfigDict(extra="forbid")

    names: list[Annotated[str, StringConstraints(max_length=60)]] = Field(
        default_factory=list, max_length=20
    )


def windows(documents: Sequence[Document], size: int = WINDOW_CHARS) -> Iterator[str]:
    """The documents' pages in passages of at most about ``size`` characters, cut at a
    line break where there is one."""
    for doc in documents:
        for page in doc.pages:
            rest = page.strip()
            while rest:
                cut = len(rest) if len(rest) <= size else rest.rfind("\n", size // 2, size)
                cut = size if cut <= 0 else cut
                yield rest[:cut]
                rest = rest[cut:].strip()


def is_name_in(name: str, text: str) -> bool:
    """Whether ``name`` is written as a person's name (one to three capitalised words,
    not an organisation) and ``text`` contains it as written."""
    return (
        _WRITTEN_AS_A_NAME.fullmatch(name) is not None
        and not any(s.kind != "PERSON" for s in find_spans(name))
        and re.search(rf"\b{re.escape(name)}\b", text) is not None
    )


async def find_names(run: Run, documents: Sequence[Document]) -> list[str]:
    """The people ``documents`` name, by ``run``'s local model (see the module). A
    passage whose reply is unusable is noted and skipped: the patterns still cover it."""
    found: set[str] = set()
    skipped = 0
    for text in windows(documents):
        messages = [
            Message.system(render("pii_names_system")),
            Message.user(render("pii_names", text=text)),
        ]
        try:
            reply = await run.call_json(
                "local", messages, Names, purpose="find names", round=None, attempts=2
            )
        except ProtocolError as exc:
            logger.info("name pass: a passage skipped: %s", exc)
            skipped += 1
            continue
        found |= {name for n in reply.names if is_name_in(name := n.strip(), text)}
    if skipped:
        run.note(
            f"the local model's name pass skipped {skipped} passage(s) it gave no usable "
            "reply for; the patterns still cover them"
        )
    return sorted(found)
