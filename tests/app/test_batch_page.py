"""The batch page driven by Streamlit's AppTest through the app's navigation, on the
scripted models of scripted_clients.py (injected with MINIONS_APP_CLIENTS).

A batch goes on in a background thread, so each test clicks Run, waits for the batch's
handle and reruns the script, as the page's poll would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the app needs pip install 'minions[app]'")
import pyarrow.parquet as pq
from streamlit.testing.v1 import AppTest

from minions.batch_rows import BatchRow

from .scripted_clients import ANSWER
from .test_streamlit_app import APP, inject, texts

UPLOADS = [
    ("alpha.txt", b"Alpha's annual report. Revenue grew.\n", "text/plain"),
    ("beta.md", b"# Beta\n\nBeta's memo about the budget.\n", "text/markdown"),
]
QUESTIONS = ["What was the capital expenditure?", "Who signed it?"]


def open_page(monkeypatch: pytest.MonkeyPatch, factory: str = "make_client") -> AppTest:
    inject(monkeypatch, factory)
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("batch_page.py").run()  # a ValueError unless the navigation has it
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Batch"]
    return at


def fill(at: AppTest, out: Path, questions: list[str] = QUESTIONS) -> AppTest:
    at.text_area(key="batch.questions").input("\n".join(questions))
    at.text_input(key="batch.out").input(str(out))
    return at.run()


def use_folder(at: AppTest, folder: Path | str) -> AppTest:
    at.radio(key="batch.source").set_value("a folder on this machine").run()
    return at.text_input(key="batch.folder").input(str(folder)).run()


def run_batch(at: AppTest) -> AppTest:
    at.button(key="batch.run").click().run()
    assert not at.exception, at.exception
    handle = at.session_state["batch"]
    assert handle.wait(60), "the batch did not finish in 60 s"
    at.run()
    assert not at.exception, at.exception
    return at


def reason(at: AppTest) -> str:
    return next((c for c in texts(at.caption) if c.startswith("Run waits until you ")), "")


def table(at: AppTest):
    rows = at.dataframe[-1].value
    assert list(rows.columns) == ["document", "question", "status", "answer", "remote $", "wall s"]
    return rows


def result_lines(out: Path) -> list[str]:
    return (out / "results.jsonl").read_text(encoding="utf-8").splitlines()


def test_two_uploads_by_two_questions_make_four_rows_and_both_files(monkeypatch, tmp_path):
    out = tmp_path / "out"
    at = open_page(monkeypatch)
    at.file_uploader(key="batch.uploads").set_value(UPLOADS).run()
    at = fill(at, out)
    assert "2 documents: alpha.txt, beta.md" in texts(at.success)
    assert not at.button(key="batch.run").disabled and not reason(at)
    at = run_batch(at)

    assert not at.error, texts(at.error)
    assert "Finished: 4 rows run in" in " ".join(texts(at.success))
    rows = table(at)
    assert list(rows["document"]) == ["alpha.txt", "alpha.txt", "beta.md", "beta.md"]
    assert list(rows["question"]) == QUESTIONS * 2
    assert list(rows["status"]) == ["answered"] * 4
    assert list(rows["answer"]) == [ANSWER] * 4
    assert all(cell.startswith("$0.") for cell in rows["remote $"]), list(rows["remote $"])
    shown = {m.label: m.value for m in at.metric}
    assert shown["Remote $"].startswith("$0.") and shown["Remote-only $"].startswith("$0.")
    downloads = [d.label for d in at.get("download_button")]
    assert downloads == ["Download results.csv", "Download results.parquet"]
    parquet = pq.read_table(out / "results.parquet")
    assert parquet.num_rows == 4
    assert sorted(parquet.column("doc_id").to_pylist()) == ["alpha.txt"] * 2 + ["beta.md"] * 2
    assert len((out / "results.csv").read_text(encoding="utf-8").splitlines()) == 5
    assert len(result_lines(out)) == 4


def test_a_second_run_into_the_same_folder_resumes_and_other_settings_are_refused(
    monkeypatch, tmp_path
):
    documents = tmp_path / "docs"
    (documents / "2024").mkdir(parents=True)
    (documents / "one.txt").write_text("The first memo.\n", encoding="utf-8")
    (documents / "2024" / "two.md").write_text("The second memo.\n", encoding="utf-8")
    out = tmp_path / "out"
    at = fill(use_folder(open_page(monkeypatch), documents), out)
    assert "2 documents: 2024/two.md, one.txt" in texts(at.success)
    assert any("Running again into the same folder resumes" in c for c in texts(at.caption))
    at = run_batch(at)
    assert "Finished: 4 rows run" in " ".join(texts(at.success))

    at = run_batch(at)  # the same settings into the same folder
    assert at.session_state["batch"].rows == [], "no row runs again"
    assert at.session_state["batch"].result.progress.done_before == 4
    said = " ".join(texts(at.success))
    assert "Nothing new to run: all 4 rows were already in" in said and "0 rows run now" in said
    assert len(table(at)) == 4 and len(result_lines(out)) == 4
    assert len(at.get("download_button")) == 2

    at.selectbox(key="protocol").set_value("remote_only").run()
    at = run_batch(at)
    errors = texts(at.error)
    assert len(errors) == 1 and "holds a run with other settings" in errors[0], errors
    assert "Traceback" not in errors[0] and "ConfigurationError" not in errors[0]
    assert not at.get("download_button"), "no files of an earlier batch are offered"
    assert len(result_lines(out)) == 4


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_a_bad_folder_is_one_message_and_run_waits(monkeypatch, tmp_path, where):
    folder = tmp_path / "nowhere" if where == "missing" else tmp_path
    at = fill(use_folder(open_page(monkeypatch), folder), tmp_path / "out")
    assert not at.exception and not at.error
    said = [w for w in texts(at.warning) if str(tmp_path.name) in w.replace("\\", "")]
    assert len(said) == 1, texts(at.warning)
    expected = "There is no folder at" if where == "missing" else "holds no"
    assert expected in said[0] and "Traceback" not in said[0]
    assert at.button(key="batch.run").disabled
    assert reason(at) == "Run waits until you fix the documents."


def test_no_question_disables_run_with_a_reason(monkeypatch, tmp_path):
    at = open_page(monkeypatch)
    at.file_uploader(key="batch.uploads").set_value(UPLOADS).run()
    at = fill(at, tmp_path / "out", questions=["", "   "])
    assert at.button(key="batch.run").disabled
    assert reason(at) == "Run waits until you type a question."
    at.radio(key="batch.source").set_value("a folder on this machine").run()
    assert reason(at) == "Run waits until you add documents and type a question."


def test_stop_keeps_the_finished_rows_and_a_rerun_runs_only_the_rest(monkeypatch, tmp_path):
    out = tmp_path / "out"
    at = open_page(monkeypatch, "make_slow_client")
    at.file_uploader(key="batch.uploads").set_value(UPLOADS).run()
    at.number_input(key="batch.concurrency").set_value(1)
    at = fill(at, out)
    at.button(key="batch.run").click().run()
    assert any(h == "Batch: running" for h in texts(at.subheader))
    assert at.button(key="batch.run").disabled, "one batch at a time"
    handle = at.session_state["batch"]
    while not handle.rows:  # the slow models take a few seconds a row
        assert not handle.wait(0.1), "the batch ended before its first row"
    at.button(key="batch.stop").click().run()
    assert handle.wait(30) and handle.stopped
    at.run()
    kept = len(handle.rows)
    assert 1 <= kept < 4 and len(result_lines(out)) == kept
    assert f"Stopped: {kept} new row" in " ".join(texts(at.warning))
    assert len(table(at)) == kept and not at.get("download_button")

    inject(monkeypatch)  # the same models, without the wait
    at = run_batch(at)
    ended = at.session_state["batch"]
    assert ended.result.progress.done_before == kept and len(ended.rows) == 4 - kept
    assert f"{kept} were done before and skipped" in " ".join(texts(at.success))
    assert len(table(at)) == 4 and len(result_lines(out)) == 4


def test_an_error_row_shows_what_went_wrong_in_the_answer_column():
    from minions.app.batch_page import row_table

    row = BatchRow(
        doc_id="a.txt", question_id="q-1", protocol="minions", settings_hash="0" * 12,
        question="Q?", answer=None, status="error", error="openai: invalid key",
        remote_usd=None, wall_s=0.5, local_model="l", remote_model="r",
    )  # fmt: skip
    shown = row_table([row]).iloc[0]
    assert shown["status"] == "failed" and shown["answer"] == "openai: invalid key"
    assert shown["remote $"] == "unpriced"
