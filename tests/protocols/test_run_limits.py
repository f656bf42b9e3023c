"""Run-level Limits (remote dollars, remote calls, wall time), honoured by every protocol
through Run.call, and MinionS's own max_remote_usd mapped onto them."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import ValidationError

import minions
from minions.clients.scripted import ScriptedClient, ScriptedReply
from minions.errors import BudgetExceeded, ConfigurationError
from minions.limits import Limits
from minions.protocols.direct import LocalOnly, RemoteOnly
from minions.protocols.minion import Minion
from minions.protocols.minions import MinionS
from minions.types import Message

from .helpers import REPORT, job_reply, local_client, remote_script, total_usage

TASK = "What was the total revenue in 2023?"
PLAN = {"tasks": [{"task": "What was the total revenue in 2023?", "advice": ""}]}
CONTINUE = {"decision": "continue", "answer": "probably $4.2 billion", "feedback": "check"}


def two_round_remote() -> ScriptedClient:
    """A MinionS remote planning in JSON: round one ends with a provisional answer."""
    return remote_script(plan=[PLAN, PLAN], synthesis=[CONTINUE], final={"answer": "$4.2 billion"})


async def run_minions(remote, *, limits=None, local=None, **config):
    return await MinionS(plan="json", **config).run(
        TASK,
        [REPORT],
        local=local or local_client(),
        remote=remote,
        price_as="openai:gpt-4o",
        limits=limits,
    )


def test_limits_are_frozen_forbid_unknown_fields_and_validate():
    limits = Limits(max_remote_calls=3)
    with pytest.raises(ValidationError):
        limits.max_remote_calls = 4  # type: ignore[misc]
    with pytest.raises(ValidationError, match="max_remote_dollars"):
        Limits(max_remote_dollars=1.0)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Limits(timeout_s=0)
    assert minions.Limits is Limits


def test_tighter_takes_the_lower_of_each_limit():
    a = Limits(max_remote_usd=0.5, timeout_s=60)
    b = Limits(max_remote_usd=0.1, max_remote_calls=4)
    assert a.tighter(b) == Limits(max_remote_usd=0.1, max_remote_calls=4, timeout_s=60)
    assert a.tighter(None) == a


def test_checks_before_a_call():
    limits = Limits(max_remote_usd=0.01, max_remote_calls=2, timeout_s=5)
    limits.check_before_call("remote", elapsed_s=1, remote_calls=1, remote_usd=0.001)
    # local calls are bounded by time only
    limits.check_before_call("local", elapsed_s=1, remote_calls=9, remote_usd=9.0)
    with pytest.raises(BudgetExceeded, match=r"max_remote_calls=2.*--max-remote-calls"):
        limits.check_before_call("remote", elapsed_s=1, remote_calls=2, remote_usd=0.0)
    with pytest.raises(BudgetExceeded, match=r"max_remote_usd.*--max-remote-usd"):
        limits.check_before_call("remote", elapsed_s=1, remote_calls=0, remote_usd=0.01)
    with pytest.raises(BudgetExceeded, match=r"timeout_s=5.*--timeout"):
        limits.check_before_call("local", elapsed_s=5, remote_calls=0, remote_usd=0.0)


async def test_remote_call_limit_stops_minion_with_what_it_did():
    remote = remote_script(minion=[{"decision": "ask", "message": f"q{i}"} for i in (1, 2, 3)])
    local = ScriptedClient("local", replies=["a1", "a2"], local=True)
    result = await Minion(max_rounds=3).run(
        TASK, [REPORT], local=local, remote=remote, limits=Limits(max_remote_calls=2)
    )
    assert result.status == "budget_exceeded"
    assert "max_remote_calls=2" in result.error and "--max-remote-calls" in result.error
    assert len(remote.calls) == 2 and len(local.calls) == 2
    assert result.usage["remote"] == total_usage(remote)
    assert result.usage["local"] == total_usage(local)
    assert [t.role for r in result.rounds for t in r.turns] == ["remote", "local"] * 2


async def test_remote_call_limit_keeps_the_best_answer_of_minions():
    result = await run_minions(two_round_remote(), limits=Limits(max_remote_calls=2))
    assert result.status == "budget_exceeded", result.error
    assert result.answer == "probably $4.2 billion"
    assert result.usage["remote"].calls == 2  # round one's plan and synthesis
    assert len(result.rounds) == 2 and len(result.rounds[0].jobs) == 4


async def test_no_remote_calls_at_all_still_lets_local_only_answer():
    local = ScriptedClient("local", replies=["$4.2 billion"], local=True)
    remote = ScriptedClient("remote", replies=[])
    limits = Limits(max_remote_calls=0)
    result = await LocalOnly().run(TASK, [REPORT], local=local, remote=remote, limits=limits)
    assert result.status == "answered"
    result = await RemoteOnly().run(TASK, [REPORT], local=local, remote=remote, limits=limits)
    assert result.status == "budget_exceeded" and remote.calls == []


async def test_wall_time_cancels_a_stuck_call_and_records_it():
    remote = ScriptedClient("remote", replies=[ScriptedReply(text="late", delay_s=30)])
    local = ScriptedClient("local", replies=[], local=True)
    started = time.perf_counter()
    result = await RemoteOnly().run(
        TASK, [REPORT], local=local, remote=remote, limits=Limits(timeout_s=0.3)
    )
    assert time.perf_counter() - started < 5
    assert result.status == "budget_exceeded"
    assert "timeout_s=0.3" in result.error and "--timeout" in result.error
    assert result.answer is None
    assert result.usage["remote"].calls == 1  # the call that was cut off counts
    (turn,) = result.rounds[0].turns
    assert turn.error and "CancelledError" in turn.error


async def test_wall_time_stops_minions_mid_round_with_the_answer_so_far():
    calls = 0

    def slow_in_round_two(messages: list[Message]) -> ScriptedReply:
        nonlocal calls
        calls += 1
        return ScriptedReply(text=json.dumps(job_reply(messages)), delay_s=30 if calls > 4 else 0)

    local = ScriptedClient("local", replies=slow_in_round_two, local=True)
    started = time.perf_counter()
    result = await run_minions(two_round_remote(), local=local, limits=Limits(timeout_s=1.5))
    assert time.perf_counter() - started < 10
    assert result.status == "budget_exceeded", result.error
    assert "timeout_s" in result.error
    assert result.answer == "probably $4.2 billion"
    assert len(result.rounds[0].jobs) == 4 and result.rounds[1].jobs == []
    assert result.usage["remote"].calls == 3  # plan, synthesis, plan; no final answer
    assert result.usage["local"] == total_usage(local)  # cancelled jobs count as calls


@pytest.mark.parametrize(
    ("option", "limits"),
    [
        (0.0015, Limits(max_remote_usd=5.0)),  # the MinionS option is the tighter
        (5.0, Limits(max_remote_usd=0.0015)),  # the run's limits are the tighter
        (None, Limits(max_remote_usd=0.0015)),
        (0.0015, None),
    ],
)
async def test_minions_budget_option_and_limits_the_tighter_wins(option, limits):
    result = await run_minions(two_round_remote(), limits=limits, max_remote_usd=option)
    assert result.status == "budget_exceeded", result.error
    assert "max_remote_usd" in result.error
    assert result.answer == "probably $4.2 billion"
    assert result.usage["remote"].calls == 2
    assert result.cost.remote_usd >= 0.0015
    assert result.config["max_remote_usd"] == option


async def test_minions_budget_option_combines_with_other_limits():
    result = await run_minions(
        two_round_remote(), limits=Limits(max_remote_calls=1), max_remote_usd=5.0
    )
    assert result.status == "budget_exceeded"
    assert "max_remote_calls=1" in result.error
    assert result.usage["remote"].calls == 1


async def test_a_dollar_limit_on_any_protocol_needs_a_price():
    remote = ScriptedClient("remote", replies=["x"])
    local = ScriptedClient("local", replies=[], local=True)
    with pytest.raises(ConfigurationError, match="price_as"):
        await RemoteOnly().run(
            TASK, [REPORT], local=local, remote=remote, limits=Limits(max_remote_usd=1.0)
        )
    result = await RemoteOnly().run(
        TASK,
        [REPORT],
        local=local,
        remote=remote,
        price_as="openai:gpt-4o",
        limits=Limits(max_remote_usd=1.0),
    )
    assert result.status == "answered"


async def test_ask_takes_limits():
    result = await minions.ask_async(
        TASK,
        [REPORT],
        protocol="remote_only",
        local=ScriptedClient("local", replies=[], local=True),
        remote=ScriptedClient("remote", replies=["$4.2 billion"]),
        limits=minions.Limits(max_remote_calls=0),
    )
    assert result.status == "budget_exceeded"
    assert "max_remote_calls=0" in result.error
