"""The auto report (evals/run_auto.sh): auto tuned on dev, measured on test against the
dev frontier's plans, compared with the plans next to it in cost, paired."""

from __future__ import annotations

import json
from pathlib import Path

from test_tune import QUESTIONS, clients

from minions.evals.auto_report import main, neighbours, plan_arg, report
from minions.evals.report import paired_difference_ci
from minions.evals.tune import TunePlan, parse_plan, tune_async
from minions.profile import Outcome, PlanPoint, Profile, mark_frontier


def point(name: str, usd: float, correct: list[bool], protocol: str = "minion") -> PlanPoint:
    outcomes = [Outcome(id=f"q{i}", correct=c, usd=usd) for i, c in enumerate(correct)]
    accuracy = sum(correct) / len(correct)
    return PlanPoint(
        name=name, protocol=protocol, n=len(correct), accuracy=accuracy, usd=usd, outcomes=outcomes
    )


def test_a_frontier_plan_is_a_plan_argument_again():
    plan = PlanPoint(
        name="minions-json", protocol="minions", options={"plan": "json", "max_rounds": 1}
    )
    assert parse_plan(plan_arg(plan)) == TunePlan(
        name="minions-json", protocol="minions", options={"plan": "json", "max_rounds": 1}
    )


def test_auto_is_compared_with_the_plans_either_side_of_its_cost():
    cheap = point("local_only", 0.0, [True, False, False, False])
    mid = point("minion-1", 0.002, [True, True, False, False])
    dear = point("remote_only", 0.01, [True, True, True, True])
    auto = point("auto", 0.004, [True, True, True, False], protocol="auto")
    assert [p.name for p in neighbours(auto, [cheap, mid, dear])] == ["minion-1", "remote_only"]
    assert [p.name for p in neighbours(point("a", 0.02, [True], "auto"), [cheap, dear])] == [
        "remote_only"
    ]
    low, high = paired_difference_ci([True, True, True, False], [True, True, False, False])
    assert low <= 0.25 <= high and low >= 0.0  # never worse on any question: no negative
    dev = Profile(dataset="d", local="l", remote="r", plans=mark_frontier([cheap, mid, dear]))
    test = Profile(dataset="d", local="l", remote="r", plans=[cheap, mid, dear, auto])
    text = report(dev, test)
    assert "| minion-1 | $0.0020 | $0.0040 | +25.0 pts" in text
    assert "| remote_only | $0.0100 | $0.0040 | -25.0 pts" in text
    assert "| **auto** | 4 | 75.0%" in text
    # a plan the dev frontier left out, run on test as a reference, is marked so
    dev = Profile(dataset="d", local="l", remote="r", plans=mark_frontier([cheap, mid]))
    assert "| remote_only (a reference, not on the dev frontier) |" in report(dev, test)


async def test_tune_measures_auto_on_test_after_the_dev_frontier(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    local, remote = clients(tmp_path / "cache")
    common = {"local": local, "remote": remote, "price_as": "openai:gpt-4o"}
    plans = [
        TunePlan(name="local_only", protocol="local_only"),
        TunePlan(name="remote_only", protocol="remote_only"),
    ]
    await tune_async(
        str(path), out=tmp_path / "dev", plans=plans, split="dev",
        profile=tmp_path / "profile.json", **common,
    )  # fmt: skip
    frontier = [parse_plan(plan_arg(p)) for p in Profile.load(tmp_path / "profile.json").frontier()]
    auto = parse_plan(f"auto=auto:profile={tmp_path / 'profile.json'},target=quality:0.95")
    await tune_async(
        str(path), out=tmp_path / "test", plans=[*frontier, auto], split="test",
        profile=tmp_path / "test-profile.json", **common,
    )  # fmt: skip
    assert main([str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "| **auto** |" in text and "against the plans next to it in cost" in text
    dev_ids = {o.id for p in Profile.load(tmp_path / "profile.json").plans for o in p.outcomes}
    test_ids = {
        o.id for p in Profile.load(tmp_path / "test-profile.json").plans for o in p.outcomes
    }
    assert dev_ids and test_ids and not dev_ids & test_ids


def test_the_report_says_which_profile_is_missing_without_a_traceback(tmp_path: Path, capsys):
    assert main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "profile.json" in err and "Traceback" not in err
