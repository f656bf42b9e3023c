"""minions tune: plans evaluated behind one response cache, their uncached cost, the
frontier, and the profile auto reads; and the dev/test split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from minions.clients.scripted import ScriptedClient
from minions.evals.runner import read_run_info
from minions.evals.tune import TunePlan, parse_plan, split_ids, tune_async
from minions.profile import Profile, calibrate
from minions.types import Message

QUESTIONS = [
    {
        "id": f"q{i}",
        "question": f"What is the code of item {i}?",
        "documents": [{"text": f"Item {i} has the code K{i}. Nothing else is said."}],
        "answer": f"K{i}",
        "scorer": "exact",
    }
    for i in range(8)
]


def dataset(folder: Path) -> Path:
    path = folder / "q.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return path


def local_reply(messages: list[Message]) -> str:
    """The local model alone gets half the codes right."""
    text = messages[-1].content
    item = int(text.split("item ")[-1].split("?")[0]) if "item " in text else 0
    return f"K{item}" if item % 2 == 0 else "K99"


def remote_reply(messages: list[Message]) -> str:
    text = "\n".join(m.content for m in messages)
    item = text.split("What is the code of item ")[-1].split("?")[0]
    return f"K{item}"


def clients(cache: Path) -> tuple[Any, Any]:
    from minions.clients.cache import cached

    local = ScriptedClient("local", replies=local_reply, local=True)
    remote = ScriptedClient("remote", replies=remote_reply)
    return cached(local, cache), cached(remote, cache)


PLANS = [
    TunePlan(name="local_only", protocol="local_only"),
    TunePlan(name="remote_only", protocol="remote_only"),
    TunePlan(name="remote_only-again", protocol="remote_only"),
]


async def test_tune_measures_plans_marks_the_frontier_and_saves_the_profile(tmp_path: Path):
    local, remote = clients(tmp_path / "cache")
    result = await tune_async(
        str(dataset(tmp_path)),
        out=tmp_path / "tune",
        plans=PLANS,
        split="all",
        local=local,
        remote=remote,
        price_as="openai:gpt-4o",
        profile=tmp_path / "profile.json",
    )
    by_name = {p.name: p for p in result.profile.plans}
    assert by_name["local_only"].accuracy == 0.5 and by_name["local_only"].usd == 0.0
    assert by_name["remote_only"].accuracy == 1.0 and by_name["remote_only"].usd > 0
    # the two remote_only plans make the same calls: the second is served by the cache,
    # yet reports the same (uncached) cost, so the frontier does not depend on the order
    again = by_name["remote_only-again"]
    assert again.usd == pytest.approx(by_name["remote_only"].usd)
    rows = (tmp_path / "tune" / "remote_only-again" / "results.jsonl").read_text().splitlines()
    assert all(json.loads(r)["usage"]["remote"]["cache_hits"] == 1 for r in rows)
    assert all(json.loads(r)["remote_usd"] == 0 for r in rows)
    frontier = [p.name for p in result.profile.frontier()]
    assert frontier[0] == "local_only" and "remote_only" in frontier
    saved = Profile.load(tmp_path / "profile.json")
    assert saved == result.profile
    assert all(len(p.outcomes) == 8 and p.weights is not None for p in saved.plans)
    assert (tmp_path / "tune" / "frontier.md").read_text().count("| yes |") >= 2
    # the profile calibrates: a tight budget keeps the local model, quality:1 pays for it
    assert calibrate(saved, "usd:0.0").dev_accuracy == 0.5
    assert calibrate(saved, "quality:1.0").dev_accuracy == 1.0


def test_the_split_halves_are_disjoint_stable_and_cover_the_ids():
    ids = [f"patient_{i:02d}/q{j}" for i in range(14) for j in range(16)]
    dev, test = split_ids(ids, "dev"), split_ids(ids, "test")
    assert set(dev).isdisjoint(test) and set(dev) | set(test) == set(ids)
    assert 0.4 < len(dev) / len(ids) < 0.6
    assert split_ids(ids, "dev") == dev


def test_a_plan_is_written_protocol_and_options():
    plan = parse_plan("minions:max_rounds=1,plan=json")
    assert (plan.protocol, plan.options) == ("minions", {"max_rounds": 1, "plan": "json"})
    assert parse_plan("fast=minion:max_rounds=1").name == "fast"
    from minions.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        parse_plan("minions:rounds=1")


def test_the_command_says_what_is_wrong_without_a_traceback(tmp_path: Path):
    from minions.cli import app

    done = CliRunner().invoke(
        app, ["tune", "-d", str(dataset(tmp_path)), "--out", str(tmp_path), "--plan", "nope"]
    )
    assert done.exit_code != 0 and "nope" in done.output and "Traceback" not in done.output


async def test_a_strict_tune_runs_every_plan_behind_the_shield(tmp_path: Path):
    secret = [{**q, "question": f"{q['question']} Ask Dr. Ada Lovelace."} for q in QUESTIONS[:2]]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in secret))
    local, remote = clients(tmp_path / "cache")
    await tune_async(
        str(path),
        out=tmp_path / "tune",
        plans=PLANS[1:2],
        split="all",
        local=local,
        remote=remote,
        price_as="openai:gpt-4o",
        profile=tmp_path / "profile.json",
        privacy="strict",
    )
    assert read_run_info(tmp_path / "tune" / "remote_only").settings.privacy == "strict"
    sent = "\n".join(m.content for c in remote.wrapped.calls for m in c.messages)
    assert "Lovelace" not in sent and "[PERSON_1]" in sent


def test_the_printed_frontier_keeps_plan_names_whole_in_80_columns():
    from rich.console import Console

    from minions.evals.tune import frontier_console_table
    from minions.profile import PlanPoint

    options = {"plan": "json", "max_rounds": 1, "num_tasks_per_round": 2}
    profile = Profile(
        dataset="d",
        local="l",
        remote="r",
        plans=[
            PlanPoint(name="minions-json", protocol="minions", options=options, n=10, accuracy=0.3),
            PlanPoint(
                name="minions-json-x3",
                protocol="minions",
                options={**options, "num_samples_per_task": 3},
                n=10,
                accuracy=0.4,
                usd=0.0068,
                frontier=True,
            ),
        ],
    )
    console = Console(width=80, record=True)
    console.print(frontier_console_table(profile, "plans on d (dev)"))
    text = console.export_text()
    assert "minions-json " in text and "minions-json-x3" in text and "…" not in text
    assert "$0.0068" in text and "num_samples_per_task=3" in text.replace("\n", "").replace(" ", "")
