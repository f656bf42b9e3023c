"""remote_only, local_only and Minion with the scripted client; the registry."""

from __future__ import annotations

import pytest

from minions.clients.scripted import ScriptedClient
from minions.errors import ConfigurationError
from minions.events import JsonlLog, Recorder
from minions.protocol import available, describe_options, get_protocol
from minions.protocols.direct import LocalOnly, RemoteOnly
from minions.protocols.minion import Minion
from minions.types import Result

from .helpers import REPORT, remote_script, total_usage

TASK = "What was the total revenue in 2023?"


def test_builtin_protocols_are_registered():
    assert {"remote_only", "local_only", "minion", "minions"} <= set(available())
    assert get_protocol("minion") is Minion


def test_unknown_protocol_lists_the_registered_ones():
    with pytest.raises(ConfigurationError, match="remote_only"):
        get_protocol("nope")


def test_options_are_described_with_defaults_and_choices():
    options = {o.name: o for o in describe_options(get_protocol("minions"))}
    assert options["max_rounds"].default == 2
    assert options["plan"].choices == ["code", "json"]
    assert options["max_remote_usd"].default is None


async def test_remote_only_sends_everything_and_costs_its_own_counterfactual():
    remote = ScriptedClient("remote", replies=["$4.2 billion (p. 3)"])
    local = ScriptedClient("local", replies=[], local=True)
    result = await RemoteOnly().run(
        TASK, [REPORT], local=local, remote=remote, price_as="openai:gpt-4o"
    )
    assert result.status == "answered"
    assert result.answer == "$4.2 billion (p. 3)"
    prompt = remote.calls[0].messages[-1].content
    assert "--- page 3 ---" in prompt and "Total revenue was $4.2 billion" in prompt
    assert result.usage["remote"] == total_usage(remote)
    assert result.usage["local"].calls == 0
    assert result.cost.remote_usd == pytest.approx(result.cost.remote_only_usd)
    assert result.cost.savings_ratio == pytest.approx(1.0)


async def test_local_only_costs_nothing():
    local = ScriptedClient("local", replies=["$4.2 billion"], local=True)
    remote = ScriptedClient("remote", replies=[])
    result = await LocalOnly().run(
        TASK, [REPORT], local=local, remote=remote, price_as="openai:gpt-4o"
    )
    assert result.answer == "$4.2 billion"
    assert result.cost.remote_usd == 0
    assert result.cost.remote_only_usd > 0
    assert result.cost.savings_ratio == float("inf")


async def test_local_only_too_big_for_the_window_is_a_clear_error():
    local = ScriptedClient("local", replies=["x"], local=True, context_window=100)
    remote = ScriptedClient("remote", replies=[])
    result = await LocalOnly().run(TASK, [REPORT], local=local, remote=remote)
    assert result.status == "error"
    assert "minions" in result.error and "context window" in result.error
    assert local.calls == []


async def test_minion_asks_then_answers():
    remote = remote_script(
        minion=[
            {"decision": "ask", "message": "What is the total revenue for 2023 and its page?"},
            {"decision": "answer", "message": "$4.2 billion"},
        ]
    )
    local = ScriptedClient(
        "local", replies=["Total revenue was $4.2 billion (page 3)."], local=True
    )
    recorder = Recorder()
    result = await Minion().run(TASK, [REPORT], local=local, remote=remote, events=recorder)
    assert result.status == "answered"
    assert result.answer == "$4.2 billion"
    # the remote never sees the document; the local model sees all of it
    assert all(
        "Total revenue was $4.2 billion in 2023" not in m.content
        for c in remote.calls
        for m in c.messages
    )
    assert "Total revenue was $4.2 billion in 2023" in local.calls[0].messages[0].content
    assert "What is the total revenue" in local.calls[0].messages[-1].content
    assert "Total revenue was $4.2 billion (page 3)." in remote.calls[1].messages[-1].content
    assert [t.role for t in result.rounds[0].turns] == ["remote", "local"]
    assert result.usage["remote"] == total_usage(remote)
    assert result.usage["local"] == total_usage(local)
    assert len(recorder.of("remote_call")) == 2 and len(recorder.of("local_call")) == 1


async def test_minions_local_quotes_are_checked_and_only_verified_ones_are_cited():
    """The local model's quoted passages are checked against the documents: the remote
    is told which were found where, and only those become the Result's citations."""
    remote = remote_script(
        minion=[
            {"decision": "ask", "message": "What was total revenue in 2023?"},
            {"decision": "ask", "message": "And net income?"},
            {"decision": "answer", "message": "$4.2 billion"},
        ]
    )
    local = ScriptedClient(
        "local",
        replies=[
            'Page 3: "Total revenue was $4.2 billion in 2023". So $4.2 billion.',
            'It says "Net income was $410 million." (page 3).',  # a changed figure
        ],
        local=True,
    )
    result = await Minion().run(TASK, [REPORT], local=local, remote=remote)
    first, second = (r.turns[1] for r in result.rounds[:2])
    assert [(q.doc, q.page, q.verified) for q in first.quotes] == [("acme-2023", 3, True)]
    assert [q.verified for q in second.quotes] == [False]
    told = remote.calls[1].messages[-1].content
    assert '"Total revenue was $4.2 billion in 2023": found in acme-2023, page 3' in told
    assert "NOT found in the documents" in remote.calls[2].messages[-1].content
    assert result.citations == ['acme-2023, p. 3: "Total revenue was $4.2 billion in 2023"']
    assert result.notes == []
    assert Result.from_json(result.to_json()).rounds[0].turns[1].quotes == first.quotes


async def test_a_minion_answer_without_a_verified_quote_says_so():
    remote = remote_script(
        minion=[
            {"decision": "ask", "message": "What was total revenue in 2023?"},
            {"decision": "answer", "message": "$5 billion"},
        ]
    )
    local = ScriptedClient("local", replies=["About $5 billion, I think."], local=True)
    result = await Minion().run(TASK, [REPORT], local=local, remote=remote)
    assert "quotes no passage" in remote.calls[1].messages[-1].content
    assert result.citations == []
    assert any("unverified replies" in note for note in result.notes)


async def test_minion_final_round_forces_an_answer():
    remote = remote_script(
        minion=[
            {"decision": "ask", "message": "q1"},
            {"decision": "ask", "message": "q2"},
            {"decision": "ask", "message": "still asking"},
        ]
    )
    local = ScriptedClient("local", replies=["a1", "a2"], local=True)
    result = await Minion(max_rounds=2).run(TASK, [REPORT], local=local, remote=remote)
    assert len(local.calls) == 2
    assert "no questions left" in remote.calls[-1].messages[-1].content
    assert result.answer == "still asking"
    assert result.rounds[-1].decision == "final"


async def test_minion_re_asks_a_malformed_reply_with_the_parse_error():
    remote = remote_script(minion=["not json at all", {"decision": "answer", "message": "42"}])
    local = ScriptedClient("local", replies=[], local=True)
    result = await Minion().run(TASK, [REPORT], local=local, remote=remote)
    assert result.answer == "42"
    assert "not valid JSON" in remote.calls[1].messages[-1].content
    assert result.usage["remote"].calls == 2


async def test_minion_gives_up_after_the_bound():
    remote = remote_script(minion=["bad", "bad", "bad"])
    local = ScriptedClient("local", replies=[], local=True)
    result = await Minion(max_json_attempts=3).run(TASK, [REPORT], local=local, remote=remote)
    assert result.status == "error"
    assert "no usable question reply in 3 attempts" in result.error
    assert "not valid JSON" in result.error
    assert result.usage["remote"].calls == 3


async def test_jsonl_log_records_every_event(tmp_path):
    remote = ScriptedClient("remote", replies=["an answer"])
    local = ScriptedClient("local", replies=[], local=True)
    log = tmp_path / "run.jsonl"
    await RemoteOnly().run(TASK, [REPORT], local=local, remote=remote, events=JsonlLog(log))
    events = JsonlLog.read(log)
    assert [e.kind for e in events] == ["run_started", "remote_call", "run_finished"]
    assert events[-1].answer == "an answer"


async def test_empty_task_is_rejected():
    remote = ScriptedClient("remote", replies=[])
    with pytest.raises(ConfigurationError, match="task is empty"):
        await RemoteOnly().run("  ", [REPORT], local=remote, remote=remote)


class _DenseTokenizer(ScriptedClient):
    """A remote whose tokenizer counts 1.5x our estimate of input and 2x of output."""

    async def chat(self, messages, *, schema=None, **options):
        completion = await super().chat(messages, schema=schema, **options)
        u = completion.usage
        usage = u.model_copy(
            update={"input_tokens": u.input_tokens * 3 // 2, "output_tokens": u.output_tokens * 2}
        )
        return completion.model_copy(update={"usage": usage})


async def test_remote_only_estimate_is_calibrated_to_the_remote_tokenizer():
    remote = _DenseTokenizer("remote", replies=["$4.2 billion, from the income statement"])
    local = ScriptedClient("local", replies=[], local=True)
    result = await RemoteOnly().run(
        TASK, [REPORT], local=local, remote=remote, price_as="openai:gpt-4o"
    )
    assert result.cost.remote_only_usd == pytest.approx(result.cost.remote_usd)
    assert result.cost.savings_ratio == pytest.approx(1.0)


async def test_a_user_protocol_needs_only_answer():
    from minions.protocol import Protocol
    from minions.types import Message

    class AskTwice(Protocol):
        name = "ask_twice"

        async def answer(self, run):
            round_ = run.new_round()
            first = await run.call("remote", [Message.user(run.task)], purpose="a", round=round_)
            again = [Message.user(run.task), Message.assistant(first.text), Message.user("Sure?")]
            second = await run.call("remote", again, purpose="b", round=round_)
            run.answer = second.text

    remote = ScriptedClient("remote", replies=["maybe 4.2", "4.2 billion"])
    local = ScriptedClient("local", replies=[], local=True)
    result = await AskTwice().run(TASK, [REPORT], local=local, remote=remote)
    assert result.answer == "4.2 billion"
    assert result.usage["remote"] == total_usage(remote)
    assert [t.purpose for t in result.rounds[0].turns] == ["a", "b"]
    with pytest.raises(ConfigurationError, match="Known options: none"):
        AskTwice(anything=1)
