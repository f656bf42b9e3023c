"""minions batch --teach: the auto cascade's deferral policy learns from a teacher as
the batch goes, and the report shows the escalation rate and agreement over time."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import minions
from minions.batch_rows import BatchSettings
from minions.clients.scripted import ScriptedClient
from minions.documents import Document
from minions.errors import ConfigurationError
from minions.profile import Outcome, PlanPoint, Profile

QUESTION = "What was the total revenue in 2023?"


def corpus(n: int) -> list[Document]:
    return [
        Document.from_pages(
            [f"Company {i}. Total revenue was $4.{i} billion in 2023."], name=f"c{i}"
        )
        for i in range(n)
    ]


def remote_reply(messages):
    """Minion's remote answers at once, wrongly; remote_only (the teacher) reads."""
    if any("decision" in m.content for m in messages):
        return {"decision": "answer", "message": "$1 billion"}
    company = messages[-1].content.split("Company ")[1].split(".")[0]
    return f"$4.{company} billion"


def profile(path: Path) -> Path:
    """A cheap minion stage right on dev where it answered (P(correct) 0.88 then, 0.12
    when it did not), and remote_only always right: calibrated, the cascade keeps the
    minion's answers and escalates the rest, cheaper than remote_only alone."""

    def point(name: str, protocol: str, usd: float, weights: list[float], right: list[bool]):
        outcomes = [
            Outcome(id=f"q{i}", correct=c, usd=usd, signals={"answered": float(c)})
            for i, c in enumerate(right)
        ]
        return PlanPoint(
            name=name, protocol=protocol, options={"max_rounds": 1} if protocol == "minion" else {},
            n=len(right), accuracy=sum(right) / len(right), usd=usd, frontier=True,
            weights=weights, outcomes=outcomes,
        )  # fmt: skip

    plans = [point("minion", "minion", 0.001, [-2.0, 0, 0, 0, 0, 4.0], [True, False])]
    plans.append(point("remote_only", "remote_only", 0.02, [0.0] * 6, [True, True]))
    return Profile(dataset="d", local="l", remote="r", plans=plans).save(path)


def run(tmp_path: Path, teach: float, n: int = 9):
    local = ScriptedClient("local", replies=["Revenue is given on page 1."], local=True)
    remote = ScriptedClient("remote", replies=remote_reply)
    return minions.batch(
        corpus(n), [QUESTION], out=tmp_path / f"out-{teach}", protocol="auto",
        local=local, remote=remote, price_as="openai:gpt-4o", cache=False, teach=teach,
        profile=str(profile(tmp_path / "profile.json")), threshold=0.5,
    )  # fmt: skip


def test_the_policy_learns_to_escalate_what_the_teacher_answers_otherwise(tmp_path: Path):
    result = run(tmp_path, teach=1.0)
    rows = result.rows
    assert all(r.taught for r in rows)
    # at first the cheap stage answers (and disagrees with the teacher); after a few
    # lessons the policy passes the question on, and the answers agree
    assert rows[0].stage == "minion" and rows[0].escalations == 0
    assert rows[0].teacher_agrees is False
    assert rows[-1].stage == "remote_only" and rows[-1].escalations == 1
    assert rows[-1].teacher_agrees is True and rows[-1].answer == "$4.8 billion"
    first, last = rows[:3], rows[-3:]
    assert sum(r.escalations for r in first) < sum(r.escalations for r in last) == 3
    assert all(r.teacher_usd and r.teacher_usd > 0 for r in rows)
    # without a teacher nothing is learned: the cheap stage answers every row
    untaught = run(tmp_path, teach=0.0)
    assert {r.stage for r in untaught.rows} == {"minion"}
    assert not any(r.taught for r in untaught.rows)


def test_the_summary_shows_escalations_and_agreement_over_time(tmp_path: Path):
    from minions.batch_cli import teaching_lines

    lines = dict(teaching_lines(run(tmp_path, teach=1.0).rows))
    assert (
        lines["rows 1-3"].startswith("escalated") and "agree with the teacher" in lines["rows 1-3"]
    )
    assert lines["rows 7-9"] == "escalated 3/3 (100%); 3/3 agree with the teacher"


def test_teach_is_for_learning_protocols_and_shares_are_stable(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="learns"):
        minions.batch(corpus(1), [QUESTION], out=tmp_path, protocol="minion", teach=0.5)
    # a share of 0 keeps old batches' settings hash
    assert (
        BatchSettings(protocol="p", local="l", remote="r").hash
        == BatchSettings(protocol="p", local="l", remote="r", teach=0.0).hash
    )
    from minions.cli import app

    done = CliRunner().invoke(
        app, ["batch", "x.txt", "-q", "?", "--out", str(tmp_path / "o"), "--teach", "2"]
    )
    assert done.exit_code == 2 and "--teach" in done.output and "Traceback" not in done.output
