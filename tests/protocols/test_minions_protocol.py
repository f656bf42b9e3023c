"""MinionS control flow with the scripted client."""

from __future__ import annotations

import json

import pytest

from minions.clients.scripted import ScriptedClient, ScriptedReply
from minions.errors import AuthenticationError, ProviderError, TransientProviderError
from minions.events import Recorder
from minions.protocols.minions import MinionS, extract_code
from minions.spans import char_spans
from minions.types import Message, Usage

from .helpers import (
    CODE_ALL_CHUNKS,
    REPORT,
    job_reply,
    local_client,
    remote_script,
    total_usage,
)


async def run_minions(remote, local=None, recorder=None, **config):
    local = local or local_client()
    result = await MinionS(**config).run(
        "What was the total revenue in 2023?",
        [REPORT],
        local=local,
        remote=remote,
        events=recorder,
        price_as="openai:gpt-4o",
    )
    return result, local


async def test_one_round_with_code_answers_and_filters_abstentions():
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    recorder = Recorder()
    result, _ = await run_minions(remote, recorder=recorder, max_rounds=1)
    assert result.status == "answered", result.error
    assert result.answer == "$4.2 billion"
    # one job per non-empty page, chunk-major
    assert [j.chunk.page_start for j in result.jobs] == [1, 2, 3, 4]
    answered = [j for j in result.jobs if not j.abstained]
    assert [j.chunk.page_start for j in answered] == [3]
    synthesis_prompt = remote.calls[-1].messages[-1].content
    assert "4.2 billion" in synthesis_prompt
    assert "found nothing" in synthesis_prompt
    # abstentions never reach the remote: pages without revenue give no answer lines
    assert synthesis_prompt.count("answer:") == 1
    assert result.citations and "p. 3" in result.citations[0]
    kinds = [e.kind for e in recorder.events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("job_done") == 4
    assert "jobs_planned" in kinds and "round_finished" in kinds


async def test_metering_adds_up_to_every_call():
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    result, local = await run_minions(remote, max_rounds=1)
    assert result.usage["local"] == total_usage(local)
    assert result.usage["remote"] == total_usage(remote)
    assert result.usage["local"].calls == 4
    assert result.usage["remote"].calls == 2  # code + final answer
    assert sum((j.usage for j in result.jobs), Usage()) == result.usage["local"]
    assert result.cost.remote_usd > 0
    assert result.cost.remote_only_usd > 0
    assert result.cost.priced_as == "openai:gpt-4o"
    assert result.timings.total_s >= result.timings.local_s


async def test_the_time_in_the_sandbox_is_its_own_and_not_the_frameworks():
    """A sandboxed child takes a process start: Timings counts it as the sandbox's, so
    overhead_s is the framework's time alone."""
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    result, _ = await run_minions(remote, max_rounds=1)
    t = result.timings
    assert t.sandbox_s > 0.01  # the remote's code ran in a child process
    assert t.total_s >= t.local_s + t.remote_s + t.sandbox_s
    assert t.overhead_s == pytest.approx(t.total_s - t.local_s - t.remote_s - t.sandbox_s)


async def test_feedback_reaches_round_two_code():
    remote = remote_script(
        code=[CODE_ALL_CHUNKS, CODE_ALL_CHUNKS],
        synthesis=[
            {
                "decision": "continue",
                "answer": None,
                "feedback": "LOOK-FOR-SEGMENT-BREAKDOWN",
                "scratchpad": "revenue 4.2bn on p3",
            }
        ],
        final={"answer": "$4.2 billion"},
    )
    result, _ = await run_minions(remote, max_rounds=2)
    assert result.status == "answered"
    assert len(result.rounds) == 2
    assert result.rounds[0].decision == "continue"
    assert result.rounds[0].feedback == "LOOK-FOR-SEGMENT-BREAKDOWN"
    code_prompts = [
        c.messages[-1].content for c in remote.calls if "prepare_jobs" in c.messages[-1].content
    ]
    assert len(code_prompts) == 2
    assert "LOOK-FOR-SEGMENT-BREAKDOWN" not in code_prompts[0]
    assert "LOOK-FOR-SEGMENT-BREAKDOWN" in code_prompts[1]
    assert "revenue 4.2bn on p3" in code_prompts[1]
    # job ids keep counting across rounds
    assert [j.job_id for j in result.jobs] == list(range(8))


@pytest.mark.parametrize(
    ("plan", "continuing"),
    [
        ("json", {"feedback": "The income statement on page 3 has it; read pages 3-4 again."}),
        ("code", {"feedback": "Read pp. 3 and 4 again."}),
        ("json", {"feedback": "Look closer.", "pages": [3, 4]}),
        ("json", {"feedback": "Chunks 2 and 3 held it."}),  # the chunk index jobs cite
    ],
)
async def test_feedback_naming_pages_steers_the_next_rounds_jobs(plan, continuing):
    tasks = {"tasks": [{"task": "What was the total revenue in 2023?", "advice": ""}]}
    remote = remote_script(
        plan=[tasks, tasks] if plan == "json" else None,
        code=[CODE_ALL_CHUNKS, CODE_ALL_CHUNKS] if plan == "code" else [],
        synthesis=[{"decision": "continue", "answer": None, **continuing}],
        final={"answer": "$4.2 billion"},
    )
    result, _ = await run_minions(remote, max_rounds=2, plan=plan)
    first, second = result.rounds
    assert [j.chunk.page_start for j in first.jobs] == [1, 2, 3, 4]
    assert [j.chunk.page_start for j in second.jobs] == [3, 4]
    assert "reads the 2 chunks on pages 3, 4, as the feedback asked" in second.notes


async def test_feedback_naming_no_page_of_the_documents_leaves_the_round_as_it_was():
    tasks = {"tasks": [{"task": "What was the total revenue in 2023?", "advice": ""}]}
    remote = remote_script(
        plan=[tasks, tasks],
        synthesis=[{"decision": "continue", "answer": None, "feedback": "See page 40."}],
        final={"answer": "$4.2 billion"},
    )
    result, _ = await run_minions(remote, max_rounds=2, plan="json")
    assert [j.chunk.page_start for j in result.rounds[1].jobs] == [1, 2, 3, 4]
    assert result.rounds[1].notes == []


async def test_code_that_fails_goes_back_with_the_error_then_succeeds():
    broken = "```python\ndef prepare_jobs(chunks, previous_jobs):\n    return chunks[99]\n```"
    remote = remote_script(code=[broken, CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    result, _ = await run_minions(remote, max_rounds=1)
    assert result.status == "answered"
    retry_prompt = remote.calls[1].messages[-1].content
    assert "Running your code failed" in retry_prompt
    assert "IndexError" in retry_prompt
    assert remote.calls[1].messages[-2].content == broken  # the failed code is in context
    assert any("code attempt 1/3 failed" in n for n in result.rounds[0].notes)
    assert "prepare_jobs" in result.rounds[0].code


async def test_code_that_never_works_falls_back_to_a_json_plan():
    hostile = "```python\nimport os\ndef prepare_jobs(chunks, previous_jobs):\n    return []\n```"
    remote = remote_script(
        code=[hostile, hostile],
        plan={"tasks": [{"task": "What was total revenue?", "advice": ""}]},
        final={"answer": "$4.2 billion"},
    )
    result, _ = await run_minions(remote, max_rounds=1, max_code_attempts=2)
    assert result.status == "answered"
    notes = result.rounds[0].notes
    assert sum("failed" in n for n in notes) == 2
    assert any("import" in n for n in notes)
    assert any("fell back to a JSON plan" in n for n in notes)
    assert len(result.jobs) == 4


async def test_json_plan_runs_every_task_on_every_chunk():
    remote = remote_script(
        plan={
            "tasks": [
                {"task": "What was total revenue?", "advice": "income statement"},
                {"task": "Who is the auditor?", "advice": ""},
            ]
        },
        final={"answer": "$4.2 billion"},
    )
    result, local = await run_minions(remote, plan="json", max_rounds=1)
    assert result.status == "answered"
    assert len(result.jobs) == 8
    # chunk-major: both tasks on page 1, then both on page 2, ...
    assert [(j.chunk.page_start, j.task_id) for j in result.jobs] == [
        (p, t) for p in (1, 2, 3, 4) for t in (1, 2)
    ]
    # the chunk comes before the task in every local prompt (prefix caching)
    prompt = local.calls[0].messages[-1].content
    assert prompt.index("Acme Corp annual report") < prompt.index("What was total revenue?")
    assert "Advice: income statement" in prompt


@pytest.mark.parametrize(("tasks", "limit"), [(1, 320), (3, 704), (20, 1024)])
async def test_a_json_plan_reply_may_be_only_as_long_as_its_tasks_need(tasks, limit):
    """A one-task plan may not run on for the whole remote_max_tokens (the offline
    stand-in once wrote 1,024 tokens of one); the limit grows with the tasks asked."""
    remote = remote_script(
        plan={"tasks": [{"task": "What was total revenue?"}]}, final={"answer": "4.2"}
    )
    await run_minions(remote, plan="json", max_rounds=1, num_tasks_per_round=tasks)
    plan_call, final_call = remote.calls
    assert plan_call.options["max_tokens"] == limit
    assert final_call.options["max_tokens"] == 1024  # remote_max_tokens


@pytest.mark.parametrize("plan", ["json", "code"])
async def test_a_job_keeps_the_options_date_and_unit_its_task_left_out(plan):
    """The remote's task dropped what the question constrains; every job still states
    it, however the remote planned."""
    question = (
        "Which figure did Acme report for 2023 revenue, in USD millions?\n\n"
        "Options:\nA. 3,900\nB. 4,200\nC. 310\n\nExactly one option is correct."
    )
    dropped = "What was total revenue?"
    code = CODE_ALL_CHUNKS.replace("What was the total revenue in 2023?", dropped)
    remote = remote_script(
        plan={"tasks": [{"task": dropped, "advice": ""}]} if plan == "json" else None,
        code=[code] if plan == "code" else [],
        final={"answer": "B. 4,200"},
    )
    local = local_client()
    await MinionS(plan=plan, max_rounds=1).run(
        question, [REPORT], local=local, remote=remote, price_as="openai:gpt-4o"
    )
    prompt = local.calls[0].messages[-1].content
    task_part = prompt.split("Task: ", 1)[1]
    assert task_part.startswith(dropped)
    assert "A. 3,900\nB. 4,200\nC. 310" in task_part
    assert "the year asked about: 2023" in task_part
    assert "the unit asked for: USD millions" in task_part


async def test_a_task_that_keeps_the_constraints_is_not_told_them_again():
    remote = remote_script(
        plan={"tasks": [{"task": "What was total revenue in 2023, in USD millions?"}]},
        final={"answer": "4,200"},
    )
    local = local_client()
    await MinionS(plan="json", max_rounds=1).run(
        "What was total revenue in 2023, in USD millions?",
        [REPORT],
        local=local,
        remote=remote,
        price_as="openai:gpt-4o",
    )
    assert "Keep to what the question" not in local.calls[0].messages[-1].content


async def test_retrieval_top_k_reads_only_the_best_chunks():
    remote = remote_script(
        plan={"tasks": [{"task": "What was the total revenue?", "advice": ""}]},
        final={"answer": "$4.2 billion"},
    )
    result, _ = await run_minions(remote, plan="json", max_rounds=1, retrieval_top_k=1)
    assert [j.chunk.page_start for j in result.jobs] == [3]


async def test_invalid_local_json_is_retried_once_then_counted():
    replies = {"count": 0}

    def local(messages):
        replies["count"] += 1
        if "page 2" in messages[-1].content.lower() or "p. 2" in messages[-1].content:
            return "this is not json"
        return job_reply(messages)

    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    local_model = ScriptedClient("local", replies=local, local=True)
    result, _ = await run_minions(remote, local=local_model, max_rounds=1)
    assert result.status == "answered"
    bad = next(j for j in result.jobs if j.chunk.page_start == 2)
    assert bad.attempts == 2
    assert bad.output is None
    assert "not valid JSON" in bad.error
    assert replies["count"] == 5  # 4 jobs + 1 retry
    assert "1 failed" in remote.calls[-1].messages[-1].content


async def test_truncated_local_output_is_retried_then_counted():
    def local(messages):
        if "p. 3" in messages[-1].content:
            return ScriptedReply('{"explanation": "Revenue was', finish_reason="length")
        return job_reply(messages)

    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "unknown"})
    local_model = ScriptedClient("local", replies=local, local=True)
    result, _ = await run_minions(remote, local=local_model, max_rounds=1)
    truncated = next(j for j in result.jobs if j.chunk.page_start == 3)
    assert truncated.attempts == 2
    assert "cut off" in truncated.error
    assert result.status == "answered"


async def test_a_remote_reply_cut_off_at_the_limit_is_re_asked_shorter_without_the_loop():
    loop = '{"decision": "final", "explanation": "' + "the same words " * 40
    remote = remote_script(
        code=[CODE_ALL_CHUNKS],
        final=[ScriptedReply(loop, finish_reason="length"), {"answer": "$4.2 billion"}],
    )
    result, _ = await run_minions(remote, max_rounds=1)
    assert result.status == "answered" and result.answer == "$4.2 billion"
    first, again = remote.calls[-2].messages, remote.calls[-1].messages
    assert again[: len(first)] == first  # the same request, the cut reply not replayed
    (asked,) = again[len(first) :]
    assert asked.role == "user" and "cut off at the output limit" in asked.content
    assert loop[:200] in asked.content and loop[:300] not in asked.content
    assert any("cut off" in n for n in result.rounds[0].notes)


async def test_samples_run_at_temperature_and_are_all_kept():
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    result, local = await run_minions(remote, max_rounds=1, num_samples_per_task=3)
    assert len(result.jobs) == 12
    assert [j.sample for j in result.jobs[:3]] == [0, 1, 2]
    temps = {c.options["temperature"] for c in local.calls}
    seeds = sorted({c.options["seed"] for c in local.calls})
    assert temps == {0.7}
    assert seeds == [0, 1, 2]
    synthesis_prompt = remote.calls[-1].messages[-1].content
    # three samples agreeing are one answer with three votes
    assert synthesis_prompt.count("answer: $4.2 billion") == 1
    assert "answer: $4.2 billion -- 3 votes, 3 with a verified quote, from acme-2023, p. 3" in (
        synthesis_prompt
    )
    assert "the most given answer has 100% of the answers" in synthesis_prompt


async def test_budget_exhaustion_ends_with_a_partial_result():
    remote = remote_script(
        code=[CODE_ALL_CHUNKS, CODE_ALL_CHUNKS],
        synthesis=[{"decision": "continue", "answer": "probably $4.2 billion", "feedback": "x"}],
        final={"answer": "$4.2 billion"},
    )
    # big enough for round one's two remote calls, not for a third
    result, _ = await run_minions(remote, max_rounds=2, max_remote_usd=0.003)
    assert result.status == "budget_exceeded"
    assert "max_remote_usd" in result.error
    assert result.answer == "probably $4.2 billion"
    assert len(result.rounds) == 2 and len(result.rounds[0].jobs) == 4
    assert result.cost.remote_usd >= 0.003
    assert result.usage["remote"].calls == 2


async def test_budget_needs_a_price():
    remote = ScriptedClient("remote", replies=[])
    with pytest.raises(Exception, match="price_as"):
        await MinionS(max_remote_usd=1.0).run("q", [REPORT], local=local_client(), remote=remote)


async def test_provider_error_mid_run_keeps_the_partial_result():
    remote = remote_script(
        code=[CODE_ALL_CHUNKS], final=AuthenticationError("invalid api key", provider="x")
    )
    result, _ = await run_minions(remote, max_rounds=1)
    assert result.status == "error"
    assert "invalid api key" in result.error
    assert len(result.jobs) == 4
    assert result.usage["local"].calls == 4
    assert result.usage["remote"].calls == 2
    assert json.loads(result.to_json())["status"] == "error"


async def test_malformed_synthesis_is_re_asked_with_the_error():
    remote = remote_script(
        code=[CODE_ALL_CHUNKS],
        final=['{"decision": "final"}', {"answer": "$4.2 billion"}],
    )
    result, _ = await run_minions(remote, max_rounds=1)
    assert result.status == "answered"
    retry = remote.calls[-1].messages[-1].content
    assert "could not be used" in retry and "answer" in retry


def test_unknown_option_is_an_error():
    with pytest.raises(Exception, match="Known options"):
        MinionS(max_round=3)


def test_result_round_trips_through_json():
    from minions.types import Result

    r = Result(protocol="minions", task="t", answer="a")
    assert Result.from_json(r.to_json()) == r


@pytest.mark.parametrize(
    "text",
    [
        "```python\ndef prepare_jobs(c, p):\n    return []\n```",
        "Here you go:\n```\ndef prepare_jobs(c, p):\n    return []\n```\nDone.",
        "def prepare_jobs(c, p):\n    return []",
    ],
)
def test_extract_code(text):
    assert extract_code(text) == "def prepare_jobs(c, p):\n    return []"


def test_local_prompt_is_chunk_first():
    # guard for the prompt-cache ordering of the template itself
    from minions.protocols.prompts import render

    text = render(
        "minions_job", doc="d", pages="p. 1", text="CHUNK", task="TASK", terms="", advice=""
    )
    assert text.index("CHUNK") < text.index("TASK")
    assert isinstance(Message.user(text), Message)


async def test_code_in_the_style_small_models_write_still_runs():
    # its own JobManifest class, dict-style chunk access, type hints from typing
    code = """```python
from typing import List, Dict

class JobManifest:
    def __init__(self, chunk: Dict, task_id: int, task: str, advice: str):
        self.chunk = chunk
        self.task_id = task_id
        self.task = task
        self.advice = advice

def prepare_jobs(chunks: List[Dict], previous_jobs: List[Dict]) -> List[JobManifest]:
    task = "What was the total revenue?"
    return [JobManifest(c, 1, task, "") for c in chunks if "revenue" in c["text"].lower()]
```"""
    remote = remote_script(code=[code], final={"answer": "$4.2 billion"})
    result, _ = await run_minions(remote, max_rounds=1)
    assert result.status == "answered"
    assert not result.rounds[0].notes
    assert [j.chunk.page_start for j in result.jobs] == [3]


async def test_job_cap_keeps_the_chunks_that_match_the_task():
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    result, _ = await run_minions(remote, max_rounds=1, max_jobs_per_round=1)
    assert [j.chunk.page_start for j in result.jobs] == [3]
    assert "best match their tasks" in result.rounds[0].notes[0]


async def test_code_can_split_chunks_with_the_chunkers_in_scope():
    code = """```python
def prepare_jobs(chunks, previous_jobs):
    jobs = []
    for chunk in chunks:
        for part in chunk_by_chars(chunk, 60):
            jobs.append(JobManifest(chunk=part, task_id=1, task="What was the total revenue?"))
    return jobs
```"""
    remote = remote_script(code=[code], final={"answer": "$4.2 billion"})
    result, _ = await run_minions(remote, max_rounds=1)
    assert result.status == "answered", result.rounds[0].notes
    assert len(result.jobs) > 4
    # the parts keep their page numbers within the document
    assert {j.chunk.page_start for j in result.jobs} == {1, 2, 3, 4}


async def test_pieces_are_cut_from_the_parents_text():
    code = """```python
def prepare_jobs(chunks, previous_jobs):
    part = chunk_by_chars(chunks[2], 40)[1]
    return [JobManifest(chunk=part, task_id=1, task="What was the total revenue?")]
```"""
    remote = remote_script(code=[code], final={"answer": "$4.2 billion"})
    result, local = await run_minions(remote, max_rounds=1)
    assert result.status == "answered", result.rounds[0].notes
    (job,) = result.jobs
    page_three = REPORT.pages[2]
    start, end = char_spans(page_three, 40)[1]
    prompt = local.calls[0].messages[-1].content
    assert f"\n{page_three[start:end]}\n\n---" in prompt
    assert page_three not in prompt
    assert job.chunk.page_start == 3


@pytest.mark.parametrize(
    "job",
    [
        '{"chunk_id": 99, "task_id": 1, "task": "Revenue?"}',
        '{"chunk_id": 0, "start": 5, "end": 99999, "task_id": 1, "task": "Revenue?"}',
        '{"chunk_id": 0, "start": 9, "end": 3, "task_id": 1, "task": "Revenue?"}',
    ],
)
async def test_jobs_naming_text_outside_the_chunks_are_refused(job):
    code = f"```python\ndef prepare_jobs(chunks, previous_jobs):\n    return [{job}]\n```"
    remote = remote_script(
        code=[code], plan={"tasks": [{"task": "Revenue?"}]}, final={"answer": "$4.2 billion"}
    )
    result, _ = await run_minions(remote, max_rounds=1, max_code_attempts=1)
    assert result.status == "answered"
    assert "code attempt 1/1 failed: prepare_jobs" in result.rounds[0].notes[0]
    assert "fell back to a JSON plan" in result.rounds[0].notes[-1]


async def test_without_the_os_sandbox_code_plans_fall_back_to_json(monkeypatch):
    from minions import sandbox

    monkeypatch.setattr(sandbox, "boundary", lambda: sandbox.Boundary(False, "no seccomp here"))
    remote = remote_script(plan={"tasks": [{"task": "Revenue?"}]}, final={"answer": "$4.2 billion"})
    recorder = Recorder()
    result, _ = await run_minions(remote, recorder=recorder, max_rounds=1)
    assert result.status == "answered"
    assert not any("prepare_jobs" in c.messages[-1].content for c in remote.calls)
    assert "no seccomp here" in result.rounds[0].notes[0]
    assert any("allow_unsafe_code_sandbox" in n for n in result.notes)
    assert [e.text for e in recorder.events if e.kind == "note"] == result.notes


async def test_unsafe_opt_in_runs_code_without_the_os_sandbox(monkeypatch):
    from minions import sandbox

    monkeypatch.setattr(sandbox, "boundary", lambda: sandbox.Boundary(False, "no seccomp here"))
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    result, _ = await run_minions(remote, max_rounds=1, allow_unsafe_code_sandbox=True)
    assert result.status == "answered"
    assert result.rounds[0].code and len(result.jobs) == 4


@pytest.mark.parametrize(
    "failure",
    [
        TransientProviderError("timed out", provider="ollama"),
        ProviderError("malformed body", provider="ollama"),
        RuntimeError("a bug in a client"),
    ],
)
async def test_a_failing_local_call_is_a_failed_job_not_a_lost_run(failure):
    def flaky(messages):
        if "Total revenue was" in messages[-1].content.split("---")[0]:
            return job_reply(messages)
        raise failure

    local = ScriptedClient("local", replies=flaky, local=True, max_parallel_requests=2)
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    result, _ = await run_minions(remote, local=local, max_rounds=1)
    if isinstance(failure, RuntimeError):  # not a provider error: the run ends, saved
        assert result.status == "error" and "a bug in a client" in result.error
        assert json.loads(result.to_json())["status"] == "error"
        return
    assert result.status == "answered", result.error
    failed = [j for j in result.jobs if j.error]
    assert len(result.jobs) == 4 and len(failed) == 3
    assert failure.args[0] in failed[0].error


async def test_a_401_from_the_local_model_ends_the_run_with_every_job_so_far():
    def unauthorized(messages):
        raise AuthenticationError("invalid key", provider="openai", status_code=401)

    local = ScriptedClient("local", replies=unauthorized, local=True)
    remote = remote_script(code=[CODE_ALL_CHUNKS])
    result, _ = await run_minions(remote, local=local, max_rounds=1)
    assert result.status == "error" and "invalid key" in result.error
    assert result.usage["remote"].calls == 1
    assert result.usage["local"].calls >= 1
    assert len(result.rounds) == 1 and result.rounds[0].code


async def test_quotes_are_checked_and_the_remote_sees_the_mark():
    def reply(messages):
        chunk_text = messages[-1].content.split("---")[0]
        if "Total revenue was $4.2 billion" in chunk_text:
            return job_reply(messages)
        if "Ernst & Young" in chunk_text:  # a made-up quote with a made-up figure
            return {"citation": "Revenue was $9.9 billion", "explanation": "", "answer": "$9.9B"}
        return {"citation": None, "explanation": "nothing", "answer": None}

    local = ScriptedClient("local", replies=reply, local=True)
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    result, _ = await run_minions(remote, local=local, max_rounds=1)
    verified = {j.chunk.page_start: j.verified for j in result.jobs if not j.abstained}
    assert verified == {3: True, 4: False}
    real = next(j for j in result.jobs if j.verified)
    assert real.quote is not None and real.quote.method == "exact"
    prompt = remote.calls[-1].messages[-1].content
    assert prompt.index("answer: $4.2 billion -- 1 vote, 1 with a verified quote") < prompt.index(
        "answer: $9.9B -- 1 vote, 0 with a verified quote"
    )
    assert "best quote (quote NOT found in the text): Revenue was $9.9 billion" in prompt
    assert result.citations == [
        'acme-2023, p. 3: "Total revenue was $4.2 billion in 2023"',
        "acme-2023, p. 4 (quote not verified)",
    ]
    assert not any("unverified outputs" in n for n in result.notes)


async def test_a_quote_from_the_chunk_that_does_not_state_the_answer_does_not_verify():
    def reply(messages):
        chunk_text = messages[-1].content.split("---")[0]
        if "Total revenue was $4.2 billion" in chunk_text:
            return job_reply(messages)
        if "Ernst & Young" in chunk_text:  # a real sentence, a figure it does not state
            quote = "Ernst & Young LLP audited these statements."
            return {"citation": quote, "explanation": "", "answer": "$9.9 billion"}
        return {"citation": None, "explanation": "nothing", "answer": None}

    local = ScriptedClient("local", replies=reply, local=True)
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    result, _ = await run_minions(remote, local=local, max_rounds=1)
    jobs = {j.chunk.page_start: j for j in result.jobs if not j.abstained}
    assert jobs[3].verified and jobs[3].quote.states_answer is True
    found = jobs[4].quote
    assert found is not None and found.verified and found.states_answer is False
    assert not jobs[4].verified
    prompt = remote.calls[-1].messages[-1].content
    assert "answer: $9.9 billion -- 1 vote, 0 with a verified quote" in prompt
    assert "(quote found in the text, but it does not state this answer)" in prompt
    assert "acme-2023, p. 4 (quote not verified)" in result.citations


async def test_an_answer_resting_only_on_unverified_quotes_says_so():
    def reply(messages):
        if "Total revenue was" in messages[-1].content.split("---")[0]:
            return {"citation": "Revenue rose to 4.2", "explanation": "", "answer": "4.2"}
        return {"citation": None, "explanation": "", "answer": None}

    local = ScriptedClient("local", replies=reply, local=True)
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "4.2"})
    result, _ = await run_minions(remote, local=local, max_rounds=1)
    assert any("unverified outputs" in n for n in result.notes)
    assert result.citations == ["acme-2023, p. 3 (quote not verified)"]
