"""The app driven end to end by Streamlit's AppTest, on scripted models.

Clients are injected with MINIONS_APP_CLIENTS (see app/choices.py): the factory in
scripted_clients.py answers the bundled 3M example. A run goes on in a background
thread, so each test clicks Run, waits for the run handle and reruns the script, as
the page's poll would.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the app needs pip install 'minions[app]'")
from streamlit.testing.v1 import AppTest

from minions import models
from minions.app import history
from minions.app.history import SavedRun
from minions.app.inputs import bundled_examples
from minions.app.views import md
from minions.documents import load_document
from minions.types import Cost, Result

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
    handle = at.session_state["active"]
    if handle is not None:
        assert handle.wait(30), "the run did not finish in 30 s"
    return at.run()


def texts(elements: object) -> list[str]:
    return [str(e.value) for e in elements]  # type: ignore[attr-defined]


def all_text(at: AppTest) -> str:
    """Every text the page shows (as Streamlit is given it)."""
    kinds = ("markdown", "caption", "success", "warning", "error", "info", "subheader", "title")
    parts = [str(e.value) for kind in kinds for e in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [str(e.label) for e in at.expander]
    return "\n".join(parts)


def assert_no_leaks(at: AppTest) -> None:
    """No unformatted value anywhere on the page."""
    text = all_text(at)
    for leak in ("∞", "Infinity", "inf)", "NaN", "None"):
        assert leak not in text, f"{leak!r} on the page"


def cost_line(at: AppTest) -> str:
    """The one line that says what the shown run cost."""
    lines = [m.value for m in at.markdown if str(m.value).startswith(":") and "**" in m.value]
    assert lines, "the run has a cost line"
    return lines[0]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_bundled_example_with_minions_leads_with_answer_and_savings(monkeypatch):
    inject(monkeypatch)
    example = bundled_examples()[0]
    document = load_document(example.document)
    at = start()
    assert at.radio(key="source").value == "bundled example"
    assert f"{document.page_count} pages" in " ".join(texts(at.success))
    at.selectbox(key="protocol").set_value("minions")
    at = run_to_end(at)

    assert not at.error, texts(at.error)
    assert texts(at.success)[-1] == md(ANSWER), "the answer comes first"
    line = cost_line(at)
    assert "cheaper than sending the whole document:" in line and line.startswith(":green[")
    assert any("verified" in e.label and "p. " in e.label for e in at.expander), "cited pages"
    shown = metrics(at)
    assert shown["Spent"].startswith("$") and shown["Remote-only"].startswith("$")
    assert shown["Savings"].endswith("x cheaper")
    assert any(c.startswith("Tokens: local ") for c in texts(at.caption))
    assert any("word 8-grams reached the remote" in c for c in texts(at.caption))
    jobs = at.dataframe[0].value
    pages = [(n, text) for n, text in enumerate(document.pages, 1) if text.strip()]
    assert list(jobs["pages"]) == [f"{document.name}, p. {n}" for n, _ in pages]
    assert list(jobs["answer"]) == [
        "$1,577 million" if EVIDENCE in text else "abstained" for _, text in pages
    ]
    assert any("def prepare_jobs" in c.value for c in at.code), "the remote's code"
    downloads = at.get("download_button")
    assert len(downloads) == 2, "Markdown and JSON downloads"
    runs = at.dataframe[-1].value
    assert list(runs.columns)[:5] == ["run", "question", "answer", "spent", "savings"]
    assert list(runs["status"]) == ["answered"] and list(runs["protocol"]) == ["minions"]
    assert runs["savings"].iloc[0].endswith("x cheaper")
    assert_no_leaks(at)


def test_second_run_joins_the_comparison_table(monkeypatch):
    inject(monkeypatch)
    at = run_to_end(start())
    at.selectbox(key="protocol").set_value("remote_only")
    at = run_to_end(at)
    runs = at.dataframe[-1].value
    assert list(runs["run"]) == [2, 1], "newest first"
    assert list(runs["protocol"]) == ["remote_only", "minions"]
    assert at.selectbox(key="shown.2").value == 2, "the newest run is shown"
    assert len(at.get("vega_lite_chart")) == 2, "the time split and the runs compared"


def test_live_view_and_stop_show_what_was_spent(monkeypatch):
    inject(monkeypatch, "make_slow_client")
    at = start()
    at.button(key="run").click().run()
    assert any("running" in h for h in texts(at.subheader))
    assert at.get("progress"), "progress bar"
    assert at.button(key="run").disabled, "one run at a time"
    handle = at.session_state["active"]
    deadline = time.monotonic() + 20
    while not any(e.kind == "remote_call" for e in handle.events):  # the plan is paid for
        assert time.monotonic() < deadline, "no remote call in 20 s"
        time.sleep(0.1)
    at = finish(at.button(key="stop").click().run())
    assert not at.exception
    assert any("Stopped" in w for w in texts(at.warning))
    assert list(at.dataframe[-1].value["status"]) == ["stopped"]
    line = cost_line(at)
    assert re.search(r"\\\$0\.\d+ spent, no answer", line), line
    assert metrics(at)["Savings"] == "—" and metrics(at)["Spent"] != "$0"
    assert_no_leaks(at)


def test_budget_reached_shows_the_partial_answer_and_no_savings(monkeypatch):
    inject(monkeypatch)
    at = start()
    at.number_input(key="opt.minions.max_remote_usd").set_value(0.0001)
    at = run_to_end(at)
    assert any("Budget reached" in w for w in texts(at.warning))
    assert not at.exception
    assert list(at.dataframe[-1].value["status"]) == ["budget reached"]
    assert "spent, budget reached" in cost_line(at)
    assert metrics(at)["Savings"] == "—"
    assert_no_leaks(at)


def test_provider_error_is_one_message_with_its_fix_and_no_savings(monkeypatch):
    inject(monkeypatch, "make_failing_client")
    at = run_to_end(start())
    assert not at.exception
    errors = " ".join(texts(at.error))
    assert "invalid API key" in errors and "OPENAI\\_API\\_KEY" in errors
    assert "AuthenticationError" not in errors
    assert "$0 spent, no answer" in cost_line(at).replace("\\", "")
    assert metrics(at)["Savings"] == "—"
    assert_no_leaks(at)


# --- the setup checklist -------------------------------------------------------------


def reason(at: AppTest) -> str:
    return next((c for c in texts(at.caption) if c.startswith("Run waits until you ")), "")


def test_nothing_pulled_disables_run_and_says_what_to_do(monkeypatch, tmp_path):
    for name in ("MINIONS_APP_CLIENTS", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MINIONS_CACHE_DIR", str(tmp_path))  # no pack pulled here
    at = start()
    assert at.button(key="run").disabled
    assert reason(at) == (
        "Run waits until you pull qwen2.5-coder-0.5b and pull qwen2.5-coder-1.5b."
    )
    assert at.button(key="pull.local.qwen2.5-coder-0.5b")
    assert at.button(key="pull.remote.qwen2.5-coder-1.5b")
    steps = [m.value for m in at.markdown if m.value.startswith("**")]
    assert [s.split("**")[1] for s in steps[:3]] == ["1 · Document", "2 · Local model",
                                                     "3 · Remote model"]  # fmt: skip
    assert "ready" in steps[0] and "not ready" in steps[1] and "not ready" in steps[2]
    assert_no_leaks(at)


def test_missing_openai_key_is_the_remote_steps_one_action(monkeypatch, tmp_path):
    for name in ("MINIONS_APP_CLIENTS", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MINIONS_CACHE_DIR", str(tmp_path))
    at = start()
    at.selectbox(key="remote.kind").set_value("OpenAI").run()
    assert at.button(key="run").disabled
    assert "add an API key for the remote model" in reason(at)
    assert any("OPENAI_API_KEY" in w and "paste it above" in w for w in texts(at.warning))
    assert at.text_input(key="remote.OpenAI.key"), "the key field is in the remote step"


def test_typed_key_makes_the_openai_remote_ready(monkeypatch):
    inject(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = start()
    at.selectbox(key="remote.kind").set_value("OpenAI").run()
    assert any("Needs an API key" in w for w in texts(at.warning))
    at.text_input(key="remote.OpenAI.key").input("sk-test-not-a-real-key").run()
    assert not any("Needs an API key" in w for w in texts(at.warning))
    assert not at.button(key="run").disabled and not reason(at)
    assert "sk-test" not in all_text(at)


def test_all_ready_enables_run_without_a_reason(monkeypatch):
    inject(monkeypatch)
    at = start()
    assert not at.button(key="run").disabled and not reason(at)
    steps = [m.value for m in at.markdown if m.value.startswith("**")][:3]
    assert all("not ready" not in s for s in steps)


def test_unreadable_upload_is_a_message_without_paths_or_class_names(monkeypatch):
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
    assert "/tmp" not in errors[0] and "minions-upload" not in errors[0]
    assert "Error" not in errors[0].replace("DocumentError", "Error")
    assert "notes.txt**: 1 page" in " ".join(texts(at.success)), "the readable file loads"


def test_no_document_or_question_keeps_run_disabled(monkeypatch):
    inject(monkeypatch)
    at = start()
    at.radio(key="source").set_value("paste text").run()
    assert at.button(key="run").disabled
    assert reason(at) == "Run waits until you add a document and type a question."


def test_options_are_grouped_with_plain_labels(monkeypatch):
    inject(monkeypatch)
    at = start()
    at.selectbox(key="protocol").set_value("minions").run()
    rounds = at.number_input(key="opt.minions.max_rounds")
    assert rounds.value == 2 and rounds.label == "Rounds"
    assert "Default: 2." in rounds.help and "None" not in rounds.help
    assert at.number_input(key="opt.minions.chunk_size").value is None  # blank: not set
    assert at.selectbox(key="opt.minions.chunking").options == [
        "pages", "chars", "tokens", "paragraphs", "sections",
    ]  # fmt: skip
    assert at.number_input(key="opt.minions.sample_temperature").value == 0.7
    advanced = next(e for e in at.sidebar.expander if e.label == "Advanced options")
    inside = {w.key for w in advanced.number_input} | {w.key for w in advanced.selectbox}
    assert "opt.minions.chunking" in inside and "opt.minions.max_rounds" not in inside
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
    warnings = " ".join(texts(at.warning))
    assert f"no Ollama server at http://127.0.0.1:{port}" in warnings and "ollama serve" in warnings
    assert at.button(key="run").disabled and "start the local model" in reason(at)
    assert at.button(key="recheck.local"), "a button to check again once it runs"


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
    assert at.button(key="run").disabled
    at.button(key="pull.local.qwen2.5-coder-0.5b").click().run()
    assert not at.exception and not at.error
    assert pulled == ["qwen2.5-coder-0.5b"]


# --- history -------------------------------------------------------------------------


def test_history_survives_a_reload_and_can_be_cleared(monkeypatch):
    inject(monkeypatch)
    run_to_end(start())
    again = start()  # a new session, as after a reload
    runs = again.dataframe[-1].value
    assert list(runs["status"]) == ["answered"]
    assert any(history.path().name in c and "never sent anywhere" in c
               for c in texts(again.caption))  # fmt: skip
    again.button(key="clear_history").click().run()
    assert not history.path().exists() and not again.session_state["runs"]
    assert not start().session_state["runs"]


# --- the cost panel in each state ---------------------------------------------------


def _cost_page(run_json: str) -> None:
    from minions.app import views
    from minions.app.history import SavedRun

    views.render_run(SavedRun.model_validate_json(run_json), None, {})


def _run(status: str, cost: Cost | None, *, state: str | None = None, **changes) -> str:
    result = None
    if cost is not None:
        answer = None if status == "error" else "42"
        error = None if status == "answered" else "it broke"
        result = Result(protocol="minions", task="q", answer=answer, status=status, cost=cost,
                        error=error, documents=["d"])  # fmt: skip
    values = {"number": 1, "state": state or status, "protocol": "minions", "local": "l",
              "remote": "r", "task": "q", "documents": ["d"], "result": result}  # fmt: skip
    return SavedRun(**{**values, **changes}).model_dump_json()


COST_STATES = {
    "cheaper": (
        _run("answered", Cost(remote_usd=0.0040, remote_only_usd=0.0447)),
        "91% cheaper than sending the whole document: \\$0.0040 vs \\$0.0447",
        "11.2x cheaper",
    ),
    "pricier": (
        _run("answered", Cost(remote_usd=0.0447, remote_only_usd=0.0095)),
        "4.7x more expensive than sending the whole document",
        "4.7x more expensive",
    ),
    "free": (
        _run("answered", Cost(remote_usd=0.0, remote_only_usd=0.0095)),
        "\\$0 remote cost; sending the whole document would cost \\$0.0095",
        "—",
    ),
    "unpriced": (
        _run("answered", Cost(remote_usd=None, remote_only_usd=None)),
        "unpriced: no price is known, so no savings figure",
        "—",
    ),
    "failed": (
        _run("error", Cost(remote_usd=0.0021, remote_only_usd=0.0095)),
        "\\$0.0021 spent, no answer",
        "—",
    ),
    "failed before a Result": (
        _run("error", None, error="openai: invalid key"),
        "\\$0 spent, no answer",
        "—",
    ),
    "budget reached": (
        _run("budget_exceeded", Cost(remote_usd=0.05, remote_only_usd=0.0447)),
        "\\$0.0500 spent, budget reached",
        "—",
    ),
    "stopped": (
        _run("stopped", None, spent_usd=0.002067, usage={"remote": {"input_tokens": 900}}),
        "\\$0.0021 spent, no answer",
        "—",
    ),
}


@pytest.mark.parametrize("state", list(COST_STATES))
def test_the_cost_panel_is_true_in_every_state(state):
    run_json, line, savings = COST_STATES[state]
    at = AppTest.from_function(_cost_page, args=(run_json,), default_timeout=30).run()
    assert not at.exception, at.exception
    assert line in cost_line(at)
    # a run that cost more than remote-only is not shown under a "Savings" title
    title = "Vs remote-only" if state == "pricier" else "Savings"
    assert metrics(at)[title] == savings
    if state in ("failed", "failed before a Result", "budget reached", "stopped"):
        assert "cheaper" not in all_text(at) and "expensive" not in all_text(at)
    assert_no_leaks(at)
