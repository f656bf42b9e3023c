"""`minions show RUN.json` on saved Results of scripted runs (MinionS with code and with
a JSON plan, Minion, remote_only, an eval trace): the rounds, the remote's code or plan,
each job's pages, output and quote mark, and the answer with its citations, in 80
columns; a file that is not a saved run is one error line with exit code 1."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from minions.cli import app as app_cli
from minions.clients.scripted import ScriptedClient
from minions.evals.runner import EvalSettings, run_eval
from minions.protocols.direct import RemoteOnly
from minions.protocols.minion import Minion
from minions.protocols.minions import MinionS
from minions.show import UnreadableRun, parse_result, run_view
from minions.types import Message, Result

from .protocols.helpers import CODE_ALL_CHUNKS, REPORT, job_reply, remote_script

TASK = "What was the total revenue in 2023?"
WIDTH = 80
FABRICATED = "Total revenue was $5.1 billion in 2023"


def local_reply(messages: list[Message]) -> Any:
    """The helpers' local model, but it fails on page 2 and makes a quote up on page 4."""
    chunk = messages[-1].content.split("---")[0]
    if "Risk factors" in chunk:
        return "this is not json"
    if "Ernst & Young" in chunk:
        return {"citation": FABRICATED, "explanation": "A guess.", "answer": "$5.1 billion"}
    return job_reply(messages)


def local() -> ScriptedClient:
    return ScriptedClient("local", replies=local_reply, local=True)


async def minions_run(**config: Any) -> Result:
    remote = remote_script(
        code=[CODE_ALL_CHUNKS],
        plan={"tasks": [{"task": "Total revenue in 2023, in dollars?", "advice": "p&l"}]},
        final={"answer": "$4.2 billion", "explanation": "the verified quote on page 3"},
    )
    return await MinionS(max_rounds=1, **config).run(
        TASK, [REPORT], local=local(), remote=remote, price_as="openai:gpt-4o"
    )


def save(folder: Path, result: Result) -> Path:
    path = folder / "run.json"
    path.write_text(result.to_json(), encoding="utf-8")
    return path


def show(*args: str) -> Any:
    return CliRunner().invoke(
        app_cli, ["show", *args], terminal_width=WIDTH, env={"COLUMNS": str(WIDTH)}
    )


def shown(path: Path, *args: str) -> str:
    out = show(str(path), *args)
    assert out.exit_code == 0, out.output
    too_wide = [line for line in out.stdout.splitlines() if len(line.rstrip()) > WIDTH]
    assert not too_wide, too_wide
    return out.stdout


def job_row(output: str, chunk: int) -> str:
    """The lines of the jobs table's row for ``chunk``: its first line (chunk, doc,
    task, output, mark, tokens) and the next (the pages, the time)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"\s+{chunk}\s+acme-2023\s", line):
            return "\n".join(lines[i : i + 2])
    raise AssertionError(f"no row for chunk {chunk} in\n{output}")


# --- MinionS -----------------------------------------------------------------------------


async def test_a_minions_run_shows_code_jobs_marks_answer_and_citations(tmp_path: Path) -> None:
    output = shown(save(tmp_path, await minions_run()))
    assert "round 1 · final" in output
    assert "remote · code · " in output and "$0.0" in output  # the call, priced
    assert "def prepare_jobs(chunks, previous_jobs):" in output
    assert "1. What was the total revenue in 2023?" in output  # the task from the code
    assert "4 jobs: 2 answered (1 verified), 1 abstained, 1 failed" in output
    for chunk, pages, mark in [(0, "p. 1", "—"), (2, "p. 3", "✓"), (3, "p. 4", "✗")]:
        row = job_row(output, chunk)
        assert mark in row.splitlines()[0], row
        assert pages in row.splitlines()[1], row
    assert "abstained" in job_row(output, 0)
    assert "$4.2 billion" in job_row(output, 2) and "“Total revenue was $4.2" in output
    assert "$5.1 billion" in job_row(output, 3)
    assert re.search(r"error \(2 attempts\): reply is not\s.*valid JSON", job_row(output, 1), re.S)
    # the remote's final reply, then the answer and its citations
    assert '"explanation": "the verified quote on page 3"' in output
    result = output.split("─ result ─", 1)[1]
    assert "answer · minions" in result and "$4.2 billion" in result
    assert 'acme-2023, p. 3: "Total revenue was $4.2 billion in 2023"' in result
    assert "acme-2023, p. 4 (quote not verified)" in result
    assert "tokens in 5 calls" in result  # the summary of `minions ask`: 4 jobs, 1 retry


async def test_answered_jobs_only_and_the_prompts_on_request(tmp_path: Path) -> None:
    path = save(tmp_path, await minions_run())
    output = shown(path, "--jobs", "answered")
    for hidden in (0, 1):
        with pytest.raises(AssertionError, match="no row"):
            job_row(output, hidden)
    assert "not valid JSON" not in output
    assert job_row(output, 2) and job_row(output, 3)
    assert "2 jobs without an answer not shown (--jobs all shows them)" in output
    assert "Write a Python function `prepare_jobs" not in output
    assert "Write a Python function `prepare_jobs" in shown(path, "--prompts")


async def test_a_json_plan_is_shown_with_its_tasks(tmp_path: Path) -> None:
    output = shown(save(tmp_path, await minions_run(plan="json")))
    assert "the remote's plan" in output and "prepare_jobs" not in output
    assert '"task": "Total revenue in 2023, in dollars?"' in output
    assert "1. Total revenue in 2023, in dollars? (advice: p&l)" in output
    assert "✓" in job_row(output, 2)


async def test_the_view_is_plain_data_for_the_app() -> None:
    view = run_view(await minions_run())
    (round_,) = view.rounds
    assert [c.purpose for c in round_.planning_calls] == ["code"]
    assert [c.purpose for c in round_.other_calls] == ["final answer"]
    assert round_.other_calls[0].reply_format == "json"
    assert all(c.usd and c.usd > 0 for c in round_.calls)
    assert [(j.pages, j.answer, j.mark, j.symbol) for j in round_.jobs] == [
        ("p. 1", None, "unchecked", "—"),
        ("p. 2", None, "unchecked", "—"),
        ("p. 3", "$4.2 billion", "verified", "✓"),
        ("p. 4", "$5.1 billion", "unverified", "✗"),
    ]
    assert round_.jobs[3].quote == FABRICATED
    assert round_.jobs[1].error and round_.jobs[1].attempts == 2
    assert round_.tasks == {1: TASK}
    assert ("question", TASK) in view.header


# --- other protocols ---------------------------------------------------------------------


#: what the local model of :func:`minion_run` says: a true quote, then a changed figure
MINION_REPLIES = [
    'Page 3: "Total revenue was $4.2 billion in 2023". So $4.2 billion.',
    'It says "Net income was $410 million." (page 3).',
]


async def minion_run() -> Result:
    """A Minion conversation of two questions: one reply quotes the report, the other
    misquotes it."""
    remote = remote_script(
        minion=[
            {"decision": "ask", "message": "What was total revenue in 2023?"},
            {"decision": "ask", "message": "And net income?"},
            {"decision": "answer", "message": "$4.2 billion"},
        ]
    )
    minion = ScriptedClient("local", replies=list(MINION_REPLIES), local=True)
    return await Minion().run(TASK, [REPORT], local=minion, remote=remote)


async def test_a_minion_run_shows_the_conversation_and_its_checked_quotes(tmp_path: Path) -> None:
    output = shown(save(tmp_path, await minion_run()))
    assert "round 1 · ask" in output and "round 3 · final" in output
    assert "remote · question · " in output and "local · answer question · " in output
    assert '"message": "And net income?"' in output
    assert "So $4.2 billion." in output
    assert "✓ quote “Total revenue was $4.2 billion in 2023” acme-2023, p. 3" in output
    assert "✗ quote “Net income was $410 million.” not found in the documents" in output
    assert "jobs" not in output.split("─ result ─")[0]  # Minion runs no jobs
    assert 'acme-2023, p. 3: "Total revenue was $4.2 billion in 2023"' in output
    assert "answer · minion" in output


async def test_a_remote_only_run_shows_its_one_call(tmp_path: Path) -> None:
    remote = ScriptedClient("remote", replies=["$4.2 billion (p. 3)"])
    result = await RemoteOnly().run(
        TASK, [REPORT], local=ScriptedClient("local", local=True), remote=remote
    )
    output = shown(save(tmp_path, result))
    assert "round 1 · final" in output
    assert re.search(r"remote · answer · \d+ tokens", output)
    assert output.count("$4.2 billion (p. 3)") == 2  # the reply, and the answer
    assert "answer · remote_only" in output


async def test_a_failed_run_shows_what_happened(tmp_path: Path) -> None:
    remote = remote_script(minion=["bad", "bad", "bad"])
    minion = ScriptedClient("local", replies=[], local=True)
    result = await Minion(max_json_attempts=3).run(TASK, [REPORT], local=minion, remote=remote)
    assert result.status == "error"
    output = shown(save(tmp_path, result))
    assert "run · minion · error" in output
    assert output.count("remote · question · ") == 3
    assert "(no answer)" in output and "no usable question reply in 3 attempts" in output


# --- eval traces ----------------------------------------------------------------------------


async def test_a_trace_of_the_eval_runner_opens(tmp_path: Path) -> None:
    line = {
        "id": "acme/revenue",
        "question": TASK,
        "documents": [{"text": "\f".join(REPORT.pages), "name": "acme-2023"}],
        "answer": "$4.2 billion",
        "scorer": "exact",
    }
    dataset = tmp_path / "questions.jsonl"
    dataset.write_text(json.dumps(line) + "\n", encoding="utf-8")
    settings = EvalSettings(
        dataset=str(dataset),
        protocols=["minions"],
        local="scripted:local",
        remote="scripted:remote",
        price_as="openai:gpt-4o",
        options={"minions": {"max_rounds": 1}},
    )
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$4.2 billion"})
    (row,) = await run_eval(settings, tmp_path / "run", local=local(), remote=remote, traces=True)
    assert row.score.correct
    (trace,) = (tmp_path / "run" / "traces" / "minions").glob("*.json")
    output = shown(trace)
    assert "def prepare_jobs(chunks, previous_jobs):" in output
    assert "✓" in job_row(output, 2) and "✗" in job_row(output, 3)
    assert 'acme-2023, p. 3: "Total revenue was $4.2 billion in 2023"' in output


# --- what is not a saved run -----------------------------------------------------------------


async def written_by_another_version(folder: Path) -> Path:
    data = json.loads((await minions_run()).to_json())
    data["rounds"][0]["jobs"][0]["votes"] = 3  # a field this version does not know
    path = folder / "newer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: d / "missing.json", "missing.json: no such file; pass a run saved by"),
        (lambda d: d, "is a folder, not a saved run: pass a run saved by"),
        (lambda d: _write(d, '{"protocol": "minions",'), "is not JSON (Expecting"),
        (lambda d: _write(d, '{"settings": {}, "rows": 3}'), "is JSON but not a saved run"),
        (lambda d: _write(d, "[1, 2]"), "is JSON but not a saved run"),
    ],
    ids=["missing", "folder", "invalid-json", "eval-run-info", "a-list"],
)
def test_what_is_not_a_run_is_one_line_with_what_to_do(tmp_path: Path, make, says) -> None:
    out = show(str(make(tmp_path)))
    assert out.exit_code == 1
    assert out.stdout == ""
    (line,) = out.stderr.strip().splitlines() or [""]
    assert line.startswith("error: ") and says in line, line
    assert "minions ask FILE -q TEXT --json > run.json" in line
    assert "Traceback" not in out.output


async def test_a_run_of_another_version_says_so_in_one_line(tmp_path: Path) -> None:
    out = show(str(await written_by_another_version(tmp_path)))
    assert out.exit_code == 1
    (line,) = out.stderr.strip().splitlines()
    assert "cannot read (rounds.0.jobs.0.votes: Extra inputs are not permitted" in line
    assert "written by another version" in line and "run the question again" in line


def test_parse_result_reads_text_as_the_app_uploads_it() -> None:
    result = Result(protocol="remote_only", task="Q?", answer="A")
    assert parse_result(result.to_json().encode()) == result
    with pytest.raises(UnreadableRun, match=r"^upload\.json is not JSON"):
        parse_result(b"\xff\xfe", source="upload.json")


def _write(folder: Path, text: str) -> Path:
    path = folder / "bad.json"
    path.write_text(text, encoding="utf-8")
    return path
