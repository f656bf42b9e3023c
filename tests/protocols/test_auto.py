"""Confidence signals, the tuning profile's calibration, and the auto cascade."""

from __future__ import annotations

from pathlib import Path

import pytest

from minions.citations import QuotedPassage, check_quote
from minions.clients.scripted import ScriptedClient
from minions.errors import ConfigurationError
from minions.profile import (
    Outcome,
    PlanPoint,
    Profile,
    Target,
    calibrate,
    fit_logistic,
    mark_frontier,
    predict,
)
from minions.protocol import get_protocol
from minions.protocols.auto import Auto
from minions.protocols.confidence import signals
from minions.types import ChunkRef, JobOutput, JobRecord, Round, Turn, Usage

from .helpers import CODE_ALL_CHUNKS, REPORT, job_reply

TASK = "What was the total revenue in 2023?"
CHUNK = ChunkRef(doc="d", index=0, page_start=1, page_end=1)
TEXT = "Total revenue was $4.2 billion in 2023."


def job(task_id: int, answer: str | None, quote: str | None = None) -> JobRecord:
    return JobRecord(
        job_id=0,
        task_id=task_id,
        task="t",
        chunk=CHUNK,
        output=JobOutput(citation=quote, explanation="", answer=answer),
        quote=check_quote(quote, TEXT) if quote else None,
    )


def test_signals_of_jobs_count_votes_abstentions_and_found_quotes():
    rounds = [
        Round(
            index=1,
            jobs=[
                job(1, "$4.2 billion", "Total revenue was $4.2 billion"),
                job(1, "$4.2 billion", "revenue was $9 billion"),  # a changed figure
                job(1, "$3.9 billion"),
                job(1, None),
                job(2, None),
            ],
            turns=[Turn(role="remote", purpose="final answer", prompt="", reply="", usage=Usage())],
            decision="final",
        )
    ]
    found = signals(rounds, "$4.2 billion")
    # task 1: 2 of 3 answers agree ("$4.2 billion" and "4.2 billion" are one), task 2: none
    assert found.agreement == pytest.approx((2 / 3 + 0) / 2, abs=1e-3)
    assert found.abstained == pytest.approx(2 / 5)
    assert found.verified == pytest.approx(1 / 3, abs=1e-3)
    assert found.remote_sure == 0.0  # the round limit forced the answer
    assert found.answered == 1.0
    assert signals(rounds, "The documents do not give enough information.").answered == 0.0


def test_signals_of_a_minion_run_read_its_quotes_and_the_remote_choice():
    quoted = QuotedPassage(text=TEXT, check=check_quote(TEXT, TEXT))
    rounds = [
        Round(
            index=1,
            turns=[
                Turn(role="remote", purpose="question", prompt="", reply="", usage=Usage()),
                Turn(
                    role="local",
                    purpose="answer question",
                    prompt="",
                    reply="",
                    usage=Usage(),
                    quotes=[quoted],
                ),
            ],
            decision="ask",
        ),
        Round(
            index=2,
            turns=[Turn(role="remote", purpose="question", prompt="", reply="", usage=Usage())],
            decision="final",
        ),
    ]
    found = signals(rounds, "$4.2 billion")
    assert (found.agreement, found.verified, found.remote_sure) == (1.0, 1.0, 1.0)


def test_the_logistic_model_learns_that_verified_answers_are_right():
    outcomes = [
        Outcome(id=str(i), correct=i % 2 == 0, usd=0.0, signals={"verified": float(i % 2 == 0)})
        for i in range(20)
    ]
    weights = fit_logistic(outcomes)
    assert predict(weights, {"verified": 1.0}) > 0.75 > 0.25 > predict(weights, {"verified": 0.0})


def plan(name: str, protocol: str, usd: float, right: list[bool], verified: list[float]):
    outcomes = [
        Outcome(id=f"q{i}", correct=r, usd=usd, signals={"verified": v, "answered": 1.0})
        for i, (r, v) in enumerate(zip(right, verified, strict=True))
    ]
    point = PlanPoint(
        name=name,
        protocol=protocol,
        n=len(outcomes),
        accuracy=sum(right) / len(right),
        usd=usd,
        outcomes=outcomes,
    )
    return point.model_copy(update={"weights": fit_logistic(outcomes)})


def profile(cheap_right: list[bool], cheap_verified: list[float]) -> Profile:
    """A cheap plan right where its quotes verified, and remote_only always right."""
    plans = [
        plan("minion", "minion", 0.001, cheap_right, cheap_verified),
        plan(
            "remote_only", "remote_only", 0.02, [True] * len(cheap_right), [0.0] * len(cheap_right)
        ),
        plan("dominated", "minions", 0.03, [False] * len(cheap_right), [0.0] * len(cheap_right)),
    ]
    return Profile(dataset="d", local="l", remote="r", plans=mark_frontier(plans))


def test_the_frontier_leaves_dominated_plans_out():
    p = profile([True, False] * 5, [1.0, 0.0] * 5)
    assert [x.name for x in p.frontier()] == ["minion", "remote_only"]


def test_calibration_meets_the_quality_target_at_the_least_cost():
    p = profile([True, False] * 5, [1.0, 0.0] * 5)
    strict = calibrate(p, "quality:1.0")
    # escalate exactly the unverified half: all right, at half the questions' remote cost
    assert strict.dev_accuracy == 1.0
    assert strict.dev_usd == pytest.approx(0.001 + 0.5 * 0.02)
    # a tight budget keeps the cheap stage's answers
    cheap = calibrate(p, "usd:0.002")
    assert cheap.dev_usd <= 0.002 and cheap.dev_accuracy == 0.5
    with pytest.raises(ConfigurationError, match="quality:Q"):
        Target.parse("fast")


def test_calibration_leaves_out_a_stage_that_only_adds_cost():
    # the cheap plan is never right: a cascade through it pays its cost on every question
    p = profile([False] * 10, [0.0] * 10)
    assert [x.name for x in p.frontier()] == ["minion", "remote_only"]
    cascade = calibrate(p, "quality:1.0")
    assert [s.name for s in cascade.stages] == ["remote_only"]
    assert cascade.dev_accuracy == 1.0 and cascade.dev_usd == pytest.approx(0.02)


def minion_remote() -> ScriptedClient:
    """Minion's remote answers at once; remote_only's call gets a plain answer."""

    def reply(messages):
        if "decision" in messages[0].content or "ask" in messages[0].content.lower():
            return {"decision": "answer", "message": "$3.9 billion"}
        return "$4.2 billion (p. 3)"

    return ScriptedClient("remote", replies=reply)


async def run_auto(profile_path: Path, target: str = "quality:1.0"):
    local = ScriptedClient("local", replies=["It says revenue was high."], local=True)
    return await Auto(profile=str(profile_path), target=target).run(
        TASK, [REPORT], local=local, remote=minion_remote(), price_as="openai:gpt-4o"
    )


async def test_a_different_profile_changes_which_stage_answers(tmp_path: Path):
    # in profile A the cheap plan is right when it answers at all: its answer is kept
    trusting = profile([True] * 10, [0.0] * 10).save(tmp_path / "a.json")
    # in profile B the cheap plan is right only where its quotes verified (these runs
    # quote nothing): auto escalates to remote_only
    doubting = profile([True, False] * 5, [1.0, 0.0] * 5).save(tmp_path / "b.json")
    a = await run_auto(trusting)
    b = await run_auto(doubting)
    assert a.status == b.status == "answered"
    assert any("stage 1 (minion) answered" in n for n in a.notes), a.notes
    assert any("stage 1 (minion) escalated" in n for n in b.notes), b.notes
    assert any("stage 2 (remote_only) answered" in n for n in b.notes), b.notes
    assert a.answer == "$3.9 billion" and b.answer == "$4.2 billion (p. 3)"
    # escalating costs more: both stages' calls are in b's bill
    assert b.cost.remote_usd > a.cost.remote_usd


async def test_without_a_profile_auto_runs_the_default_cascade_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("MINIONS_PROFILE", str(tmp_path / "none.json"))
    assert "no profile" in Auto().cascade()[1]
    with pytest.raises(ConfigurationError, match="target"):
        Auto(target="soon")


async def test_a_stage_sees_only_its_own_rounds_so_its_calls_are_its_plans_own():
    """A stage runs as its plan ran when measured: after a Minion stage, the MinionS
    stage sends the remote exactly what MinionS alone sends (no history of the Minion
    stage's round in its prompts, so the plan's cached calls serve it), and the stages'
    rounds join the run's numbered on."""
    from minions.profile import FEATURES, Cascade, Stage

    def remote_reply(messages):
        first = messages[1].content if len(messages) > 1 else messages[0].content
        if messages[0].content.startswith("You are the supervisor"):
            return {"decision": "answer", "message": "$3.9 billion"}
        if "Write a Python function `prepare_jobs" in first:
            return CODE_ALL_CHUNKS
        return {"decision": "final", "explanation": "", "answer": "$4.2 billion"}

    def clients() -> tuple[ScriptedClient, ScriptedClient]:
        local = ScriptedClient("local", replies=job_reply, local=True)
        return local, ScriptedClient("remote", replies=remote_reply)

    never = [-30.0] + [0.0] * len(FEATURES)  # P(correct) ~ 0: always escalate
    stages = [
        Stage(name="minion", protocol="minion", weights=never),
        Stage(name="minions", protocol="minions", options={"max_rounds": 1}, weights=never),
    ]
    cascade = Cascade(stages=stages, threshold=0.5, why="test")
    local, remote = clients()
    both = await Auto(cascade=cascade).run(TASK, [REPORT], local=local, remote=remote)
    alone_local, alone_remote = clients()
    await get_protocol("minions")(max_rounds=1).run(
        TASK, [REPORT], local=alone_local, remote=alone_remote
    )
    alone = [c.messages for c in alone_remote.calls]
    sent = [c.messages for c in remote.calls]
    assert alone and sent[len(sent) - len(alone) :] == alone
    asked = [c.messages for c in local.calls]
    assert asked[len(asked) - len(alone_local.calls) :] == [c.messages for c in alone_local.calls]
    assert both.answer == "$4.2 billion"
    assert any("stage 2 (minions) answered" in n for n in both.notes), both.notes
    assert [r.index for r in both.rounds] == list(range(1, len(both.rounds) + 1))
