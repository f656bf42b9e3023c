"""The app driven end to end by Streamlit's AppTest, on scripted models.

Clients are injected with MINIONS_APP_CLIENTS (see app/choices.py): the factory in
scripted_clients.py answers the bundled 3M example. A run goes on in a background
thread, so each test clicks Run, waits for the run handle and reruns the script, as
the page's poll would.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the app needs pip install 'minions[app]'")
from streamlit.testing.v1 import AppTest

from minions import models
from minions.app.inputs import bundled_examples
from minions.documents import load_document

from .scripted_clients import ANSWER, EVIDENCE

APP = str(Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py")
CLIENTS = Path(__file__).with_name("scripted_clients.py")


def inject(monkeypatch: pytest.MonkeyPatch, factory: str = "make_client") -> None:
    monkeypatch.setenv("MINIONS_APP_CLIENTS", f"{CLIENTS}:{factory}")


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def run_to_end(at: AppTest) -> AppTest:
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    return finish(at)


def finish(at: AppTest) -> AppTest:
    """Wait for the run (it may already have ended and moved to the list) and rerun."""
    handle = at.session_state["active"] or at.session_state["runs"][-1]
    assert handle.wait(30), "the run did not finish in 30 s"
    return at.run()


def texts(elements: object) -> list[str]:
    return [str(e.value) for e in elements]  # type: ignore[attr-defined]


def test_bundled_example_with_minions_shows_answer_cost_and_jobs(monkeypatch):
    inject(monkeypatch)
    example = bundled_examples()[0]
    document = load_document(example.document)
    at = start()
    assert at.radio(key="source").value == "bundled example"
    assert f"{document.page_count} pages" in " ".join(texts(at.caption))
    at.selectbox(key="protocol").set_value("minions")
    at = run_to_end(at)

    assert not at.error, texts(at.error)
    assert any(ANSWER in s for s in texts(at.success))
    assert any("Citations" in m and "p. " in m for m in texts(at.markdown)), "cited pages"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Remote $"].startswith("$")
    assert metrics["Remote-only $"].startswith("$")
    assert metrics["Savings"].endswith("x")
    assert int(metrics["Local tokens"].replace(",", "")) > 0
    jobs = at.dataframe[0].value
    pages = [(n, text) for n, text in enumerate(document.pages, 1) if text.strip()]
    assert list(jobs["pages"]) == [f"{document.name}, p. {n}" for n, _ in pages]
    assert list(jobs["answer"]) == [
        "$1,577 million" if EVIDENCE in text else "abstained" for _, text in pages
    ]
    assert any("def prepare_jobs" in c.value for c in at.code), "the remote's code"
    assert at.get("download_button"), "download of the run"
    runs = at.dataframe[-1].value
    assert list(runs["status"]) == ["answered"] and list(runs["protocol"]) == ["minions"]


def test_second_run_joins_the_comparison_table(monkeypatch):
    inject(monkeypatch)
    at = run_to_end(start())
    at.selectbox(key="protocol").set_value("remote_only")
    at = run_to_end(at)
    runs = at.dataframe[-1].value
    assert list(runs["run"]) == [1, 2]
    assert list(runs["protocol"]) == ["minions", "remote_only"]
    assert at.selectbox(key="shown.2").value == 2, "the newest run is shown"


def test_live_view_and_stop(monkeypatch):
    inject(monkeypatch, "make_slow_client")
    at = start()
    at.button(key="run").click().run()
    assert any("running" in h for h in texts(at.subheader))
    assert at.get("progress"), "progress bar"
    at = finish(at.button(key="stop").click().run())
    assert not at.exception
    assert any("Stopped" in w for w in texts(at.warning))
    assert list(at.dataframe[-1].value["status"]) == ["stopped"]


def test_budget_reached_shows_the_partial_result(monkeypatch):
    inject(monkeypatch)
    at = start()
    at.number_input(key="opt.minions.max_remote_usd").set_value(0.0001)
    at = run_to_end(at)
    assert any("Budget reached" in w for w in texts(at.warning))
    assert not at.exception
    assert list(at.dataframe[-1].value["status"]) == ["budget reached"]


def test_provider_error_is_a_message_not_a_traceback(monkeypatch):
    inject(monkeypatch, "make_failing_client")
    at = run_to_end(start())
    assert not at.exception
    errors = " ".join(texts(at.error))
    assert "invalid API key" in errors and "OPENAI_API_KEY" in errors


def test_missing_openai_key_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("MINIONS_APP_CLIENTS", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("MINIONS_CACHE_DIR", str(tmp_path))  # no pack pulled here
    at = start()
    at.selectbox(key="remote.kind").set_value("OpenAI").run()
    at.button(key="run").click().run()
    assert not at.exception
    assert at.session_state["active"] is None, "no run starts"
    errors = " ".join(texts(at.error))
    assert "No API key" in errors and "OPENAI_API_KEY" in errors
    # the local pack is not pulled in this cache: the page says how to get it
    assert "minions models pull qwen2.5-coder-0.5b" in errors
    assert at.button(key="pull.local.qwen2.5-coder-0.5b")


def test_typed_key_lets_the_openai_remote_through(monkeypatch):
    inject(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = start()
    at.selectbox(key="remote.kind").set_value("OpenAI").run()
    assert any("No API key" in w for w in texts(at.sidebar.warning))
    at.text_input(key="remote.OpenAI.key").input("sk-test-not-a-real-key").run()
    assert not any("No API key" in w for w in texts(at.sidebar.warning))


def test_unreadable_upload_is_a_message(monkeypatch):
    inject(monkeypatch)
    at = start()
    at.radio(key="source").set_value("upload files").run()
    at.file_uploader(key="uploads").set_value(
        [
            ("broken.pdf", b"this is not a pdf", "application/pdf"),
            ("notes.txt", b"Revenue was $4.2 billion.\n", "text/plain"),
        ]
    ).run()
    assert not at.exception
    errors = texts(at.error)
    assert len(errors) == 1 and "broken.pdf" in errors[0] and "not a PDF" in errors[0]
    assert "notes.txt**: 1 page" in " ".join(texts(at.caption)), "the readable file loads"


def test_run_without_documents_or_question_says_what_is_missing(monkeypatch):
    inject(monkeypatch)
    at = start()
    at.radio(key="source").set_value("paste text").run()
    at.button(key="run").click().run()
    errors = " ".join(texts(at.error))
    assert "Add a document" in errors and "Type a question" in errors


def test_options_render_from_the_protocol_config(monkeypatch):
    inject(monkeypatch)
    at = start()
    at.selectbox(key="protocol").set_value("minions").run()
    assert at.number_input(key="opt.minions.max_rounds").value == 2
    assert at.number_input(key="opt.minions.chunk_size").value is None  # blank: None
    assert at.selectbox(key="opt.minions.chunking").options == [
        "pages", "chars", "tokens", "paragraphs", "sections",
    ]  # fmt: skip
    assert at.number_input(key="opt.minions.sample_temperature").value == 0.7
    at.number_input(key="opt.minions.max_rounds").set_value(1)
    at = run_to_end(at)
    assert at.session_state["runs"][-1].result.config["max_rounds"] == 1


def test_no_ollama_server_says_how_to_start_one(monkeypatch):
    inject(monkeypatch)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{port}")
    at = start()
    at.selectbox(key="local.kind").set_value("Ollama").run()
    warnings = " ".join(texts(at.sidebar.warning))
    assert f"no Ollama server at http://127.0.0.1:{port}" in warnings and "ollama serve" in warnings


def test_pull_button_pulls_the_missing_pack_with_progress(monkeypatch, tmp_path):
    inject(monkeypatch)
    monkeypatch.setenv("MINIONS_CACHE_DIR", str(tmp_path))
    pulled = []

    def fake_pull(name, *, progress):
        progress(models.PullProgress(name, "download", 50, 100, part=1, parts=2))
        pulled.append(name)
        return tmp_path / f"{name}.gguf"

    monkeypatch.setattr(models, "pull", fake_pull)
    at = start()
    at.selectbox(key="local.kind").set_value("offline pack").run()
    at.button(key="pull.local.qwen2.5-coder-0.5b").click().run()
    assert not at.exception and not at.error
    assert pulled == ["qwen2.5-coder-0.5b"]
