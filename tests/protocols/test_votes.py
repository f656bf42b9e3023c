"""A task's local answers counted as votes (minions.protocols.votes)."""

from __future__ import annotations

from minions.protocols.votes import agreement, answer_key, tally
from minions.types import ChunkRef, JobOutput, JobRecord, QuoteCheck


def job(answer: str | None, page: int, verified: bool = False) -> JobRecord:
    return JobRecord(
        job_id=page,
        task_id=1,
        task="t",
        advice="",
        chunk=ChunkRef(doc="d", index=page, page_start=page, page_end=page),
        output=JobOutput(citation="c" if answer else None, explanation="", answer=answer),
        quote=QuoteCheck(verified=verified, method="exact" if verified else "none"),
    )


def test_answers_that_say_the_same_share_a_key():
    assert answer_key("$4,200 million.") == answer_key("$4200 MILLION")
    assert answer_key("B. Metformin") == answer_key("(B) metformin") == "b"
    assert answer_key("Delaware") != answer_key("California")


def test_verified_votes_come_first_then_more_votes():
    jobs = [
        job("C. 310", 1),
        job("C. 310", 2),
        job("C. 310", 3),
        job("B. 4,200", 4, verified=True),
        job("(B) 4,200", 5),
        job(None, 6),
    ]
    votes = tally(jobs)
    assert [(v.answer, v.votes, v.verified) for v in votes] == [
        ("B. 4,200", 2, 1),
        ("C. 310", 3, 0),
    ]
    assert votes[0].pages == ["d, p. 4", "d, p. 5"]
    assert agreement(votes) == 2 / 5
    assert agreement(tally([job(None, 1)])) is None
