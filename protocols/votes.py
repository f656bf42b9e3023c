"""The local outputs of one task, counted as votes.

Several chunks, and several samples of one chunk, answer the same task. A weak local
model answers wrongly in many ways but rightly in one, so the answers given most often,
and with a quote found in the text, are the ones to show the remote first: a traced
run had 2 of 8 jobs name the correct option, more than any other, and the remote chose
another. :func:`tally` groups a task's answers by their normalised form and orders
them by verified votes, then votes; ``agreement`` is the top answer's share.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from minions.types import JobRecord

_SPACE = re.compile(r"\s+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_EDGE = re.compile(r"^[\s\"'.,;:()\[\]]+|[\s\"'.,;:()\[\]]+$")
_CHOICE = re.compile(r"^\(?([A-J])[.):]\s+\S")


def answer_key(answer: str) -> str:
    """What two answers that say the same share: case, Unicode forms, spacing, edge
    punctuation and thousands separators folded; a lettered option ("B. 4,200",
    "(B) 4200") is its letter."""
    text = unicodedata.normalize("NFKC", answer).casefold().strip()
    choice = _CHOICE.match(answer.strip())
    if choice:
        return choice[1].casefold()
    text = _THOUSANDS.sub("", _EDGE.sub("", text))
    return _SPACE.sub(" ", text)


@dataclass
class Vote:
    """One distinct answer of a task and the jobs that gave it."""

    answer: str  # as first given
    jobs: list[JobRecord] = field(default_factory=list)

    @property
    def votes(self) -> int:
        return len(self.jobs)

    @property
    def verified(self) -> int:
        return sum(1 for j in self.jobs if j.verified)

    @property
    def pages(self) -> list[str]:
        return list(dict.fromkeys(f"{j.chunk.doc}, {j.chunk.pages}" for j in self.jobs))


def tally(jobs: Sequence[JobRecord]) -> list[Vote]:
    """The answers of ``jobs`` (abstentions left out), most verified votes first, then
    most votes, then first given."""
    votes: dict[str, Vote] = {}
    for job in jobs:
        if job.abstained or job.output is None:
            continue
        answer = str(job.output.answer).strip()
        votes.setdefault(answer_key(answer), Vote(answer)).jobs.append(job)
    return sorted(votes.values(), key=lambda v: (-v.verified, -v.votes))


def agreement(votes: Sequence[Vote]) -> float | None:
    """The top answer's share of the answered jobs; None when none answered."""
    total = sum(v.votes for v in votes)
    return votes[0].votes / total if total else None
