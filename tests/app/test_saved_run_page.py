"""The saved-run page driven by Streamlit's AppTest through the app's navigation: a
Result saved as JSON (made on the scripted models of tests/test_show.py) uploaded, read
from a path, or opened from the Ask page's history, shows its rounds (the remote's code
or plan, the tasks, each job's pages, answer and quote mark, the replies), then the
answer with its citations and the cost panel; a file that is not a saved run is one
message."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit", reason="the app needs pip install 'minions[app]'")
from streamlit.testing.v1 import AppTest

from minions.app.views import md
from minions.types import Result

from ..test_show import FABRICATED, MINION_REPLIES, TASK, minion_run, minions_run
from .scripted_clients import ANSWER
from .test_streamlit_app import APP, all_text, assert_no_leaks, inject, metrics, run_to_end, texts

JOB_COLUMNS = ["chunk", "doc", "pages", "task", "answer", "quote", "mark", "explanation",
               "tokens", "seconds", "error"]  # fmt: skip


def open_page(monkeypatch: pytest.MonkeyPatch) -> AppTest:
    inject(monkeypatch)  # the Ask page draws first: scripted models keep it quick
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("saved_run_page.py").run()  # a ValueError unless the navigation has it
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Saved run"]
    return at


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="saved.upload").set_value((name, data, "application/json")).run()
    assert not at.exception, at.exception
    return at


def open_path(at: AppTest, path: Path | str) -> AppTest:
    at.radio(key="saved.source").set_value("a path on this machine").run()
    at.text_input(key="saved.path").input(str(path)).run()
    assert not at.exception, at.exception
    return at


def minions_result(**config: Any) -> Result:
    return asyncio.run(minions_run(**config))


def minion_result() -> Result:
    return asyncio.run(minion_run())


def codes(at: AppTest, language: str) -> list[str]:
    return [c.value for c in at.code if c.language == language]


def jobs(at: AppTest):
    (table,) = at.dataframe  # one round, one jobs table
    rows = table.value
    assert list(rows.columns) == JOB_COLUMNS
    return rows


def replies(at: AppTest) -> list[dict[str, Any]]:
    """The JSON replies shown, parsed."""
    return [json.loads(j.value) for j in at.json]


def order(at: AppTest) -> list[str]:
    return texts(at.subheader)


def test_an_uploaded_minions_run_shows_code_jobs_marks_answer_and_citations(monkeypatch):
    data = minions_result().to_json().encode()
    at = upload(open_page(monkeypatch), "run.json", data)
    assert not at.error, texts(at.error)
    assert order(at) == ["minions · answered", "Round 1 · final", "Result"]
    assert any(f"**question:** {md(TASK)}" in m for m in texts(at.markdown))
    (code,) = codes(at, "python")
    assert code.startswith("def prepare_jobs(chunks, previous_jobs):")
    assert any("**Tasks**\n\n1. " in m and md(TASK) in m for m in texts(at.markdown))
    assert "4 jobs: 2 answered (1 verified), 1 abstained, 1 failed" in texts(at.caption)

    rows = jobs(at)
    assert list(rows["pages"]) == ["p. 1", "p. 2", "p. 3", "p. 4"]
    assert list(rows["doc"]) == ["acme-2023"] * 4
    assert list(rows["mark"]) == ["—", "—", "✓", "✗"]
    assert list(rows["answer"]) == ["abstained", "failed", "$4.2 billion", "$5.1 billion"]
    assert rows["quote"][2] == "Total revenue was $4.2 billion in 2023"
    assert rows["quote"][3] == FABRICATED
    assert "not valid JSON" in rows["error"][1] and rows["error"].isna()[[0, 2, 3]].all()
    assert all(rows["tokens"] > 0)

    # the remote's calls: the code's heading priced, the final reply as JSON
    assert any(m.startswith("**remote · code · ") and "\\$0.0" in m for m in texts(at.markdown))
    assert {"explanation": "the verified quote on page 3"}.items() <= replies(at)[0].items()
    # the answer, its citations and the cost panel of the Ask page
    assert texts(at.success) == [md("$4.2 billion")]
    labels = [e.label for e in at.expander if "acme-2023" in e.label]
    assert len(labels) == 2, labels
    assert "verified · acme-2023, p. 3" in labels[0] and "Total revenue was" in labels[0]
    assert "not found in the text · acme-2023, p. 4" in labels[1]
    shown = metrics(at)
    assert shown["Spent"].startswith("$0.") and shown["Remote-only"].startswith("$0.")
    assert any(c.startswith("Tokens: local ") for c in texts(at.caption))
    assert_no_leaks(at)


def test_a_json_plan_is_shown_with_its_tasks(monkeypatch, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(minions_result(plan="json").to_json(), encoding="utf-8")
    at = open_path(open_page(monkeypatch), path)
    assert not codes(at, "python")
    (plan,) = codes(at, "json")
    assert json.loads(plan)["tasks"][0]["task"] == "Total revenue in 2023, in dollars?"
    assert "The remote's plan" in texts(at.caption)
    task = "1. " + md("Total revenue in 2023, in dollars? (advice: p&l)")
    assert any(task in m for m in texts(at.markdown))
    assert list(jobs(at)["mark"]) == ["—", "—", "✓", "✗"]


def test_a_minion_run_shows_its_conversation_with_quote_marks(monkeypatch, tmp_path):
    path = tmp_path / "minion.json"
    path.write_text(minion_result().to_json(), encoding="utf-8")
    at = open_path(open_page(monkeypatch), path)
    assert not at.error, texts(at.error)
    assert order(at) == ["minion · answered", "Round 1 · ask", "Round 2 · ask",
                         "Round 3 · final", "Result"]  # fmt: skip
    assert not at.dataframe, "a Minion run has no jobs"
    said = texts(at.markdown)
    assert any(m.startswith("**remote · question · ") for m in said)
    assert any(m.startswith("**local · answer question · ") for m in said)
    assert any(reply.get("message") == "And net income?" for reply in replies(at))
    prompts = {c.value for e in at.expander if e.label == "Prompt" for c in e.code}
    replies_shown = [c for c in codes(at, "plaintext") if c not in prompts]
    assert replies_shown == MINION_REPLIES, "the local replies, as written"
    verified = f":green[✓] quote “{md('Total revenue was $4.2 billion in 2023')}” · acme-2023, p. 3"
    made_up = f":red[✗] quote “{md('Net income was $410 million.')}” · not found in the documents"
    assert verified in said and made_up in said
    citations = next(m for m in said if m.startswith("**Citations**"))
    assert md('acme-2023, p. 3: "Total revenue was $4.2 billion in 2023"') in citations
    assert texts(at.success) == [md("$4.2 billion")]


@pytest.mark.parametrize(
    ("how", "what", "says"),
    [
        ("upload", b'{"protocol": "minions",', "bad.json is not JSON (Expecting"),
        ("upload", b'{"settings": {}, "rows": 3}', "bad.json is JSON but not a saved run"),
        ("path", "missing.json", "missing.json: no such file; pass a run saved by"),
        ("path", "", "is a folder, not a saved run"),
    ],
    ids=["invalid-json", "eval-run-info", "missing", "folder"],
)
def test_what_is_not_a_run_is_one_message(monkeypatch, tmp_path, how, what, says):
    at = open_page(monkeypatch)
    at = upload(at, "bad.json", what) if how == "upload" else open_path(at, tmp_path / what)
    (error,) = texts(at.error)
    assert says in error.replace("\\", ""), error
    assert "minions ask FILE" in error and "Traceback" not in error
    assert "UnreadableRun" not in all_text(at)
    assert order(at) == [] and not at.dataframe and not at.metric


def test_a_run_of_the_ask_pages_history_opens_here(monkeypatch):
    inject(monkeypatch)
    at = run_to_end(AppTest.from_file(APP, default_timeout=30).run())
    at.button(key="open.1").click().run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Saved run"]
    assert at.radio(key="saved.source").value == "a run from the history"
    assert at.selectbox(key="saved.history").value == 1
    assert order(at)[0] == "minions · answered" and order(at)[-1] == "Result"
    assert any("def prepare_jobs" in c for c in codes(at, "python"))
    assert "$1,577 million" in list(jobs(at)["answer"])
    assert texts(at.success)[-1] == md(ANSWER)


def test_an_empty_history_says_where_runs_come_from(monkeypatch):
    at = open_page(monkeypatch)
    at.radio(key="saved.source").set_value("a run from the history").run()
    assert any("ask a question on the Ask page" in i for i in texts(at.info))
    assert not at.error and order(at) == []
