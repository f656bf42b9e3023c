"""Confidence signals of a run: what says whether to believe its answer.

Read from a run's rounds without any further model call, so the ``auto`` cascade
(:mod:`minions.protocols.auto`) can decide after each stage whether to answer or
escalate, and ``minions tune`` can record them beside each question's correctness to
calibrate that decision:

- ``agreement``: for MinionS, the mean over its tasks of the top answer's share of the
  answered jobs (samples and chunks voting, :mod:`.votes`; 0 for a task nobody
  answered); for a protocol without jobs, 1 when it answered;
- ``abstained``: the share of jobs that abstained (0 without jobs);
- ``verified``: the share of answered jobs whose quote was found in their chunk, or of
  the quotes a Minion's local replies gave (0 when nothing was quoted);
- ``remote_sure``: 1 when the remote chose to answer, 0 when its round limit forced
  the answer (the protocols record a forced answer's call as "final answer"; with one
  round allowed, MinionS is always forced);
- ``answered``: 1 when the run gave a non-empty answer that is not a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from minions.profile import FEATURES
from minions.types import Round

from .votes import agreement as vote_agreement
from .votes import tally

__all__ = ["FEATURES", "Signals", "signals"]

_REFUSAL = re.compile(
    r"\b(cannot (be )?determined?|unable to|unknown|no information"
    r"|not (stated|mentioned|provided|given|found)"
    r"|(not|n't)\b[^.]{0,20}\b(enough|sufficient) information)\b",
    re.I,
)


class Signals(BaseModel):
    """The signals of one run (or one stage of a cascade), each in [0, 1]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agreement: float = 0.0
    abstained: float = 0.0
    verified: float = 0.0
    remote_sure: float = 0.0
    answered: float = 0.0

    def vector(self) -> list[float]:
        return [float(getattr(self, name)) for name in FEATURES]


#: the purpose of a remote call the round limit forced to answer
FORCED = "final answer"


def signals(rounds: Sequence[Round], answer: str | None) -> Signals:
    """The signals of ``rounds`` that ended in ``answer``."""
    answered = bool(answer and answer.strip()) and not _REFUSAL.search(answer or "")
    jobs = [job for r in rounds for job in r.jobs]
    if jobs:
        by_task: dict[tuple[int, int], list] = {}
        for r in rounds:
            for job in r.jobs:
                by_task.setdefault((r.index, job.task_id), []).append(job)
        shares = [vote_agreement(tally(group)) or 0.0 for group in by_task.values()]
        agreement = sum(shares) / len(shares)
        answered_jobs = [j for j in jobs if not j.abstained]
        abstained = 1 - len(answered_jobs) / len(jobs)
        verified = (
            sum(j.verified for j in answered_jobs) / len(answered_jobs) if answered_jobs else 0.0
        )
    else:
        quotes = [q for r in rounds for t in r.turns for q in t.quotes]
        agreement, abstained = float(answered), 0.0
        verified = sum(q.verified for q in quotes) / len(quotes) if quotes else 0.0
    remote = [t for r in rounds for t in r.turns if t.role == "remote"]
    chose = bool(remote) and remote[-1].purpose != FORCED and answered
    return Signals(
        agreement=round(agreement, 4),
        abstained=round(abstained, 4),
        verified=round(verified, 4),
        remote_sure=float(chose),
        answered=float(answered),
    )
