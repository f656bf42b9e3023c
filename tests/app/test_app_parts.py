"""The app's parts without a page: options from a Config, the background run, model
choices, uploads, views' tables and the launcher."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Literal

import pytest

pytest.importorskip("streamlit", reason="the app needs pip install 'minions[app]'")
from pydantic import BaseModel, Field
from streamlit.testing.v1 import AppTest

from minions.api import OFFLINE_PRICE_AS, OFFLINE_REMOTE, ask, default_remote
from minions.app import choices, history, launch, views
from minions.app.choices import ModelChoice, load_factory
from minions.app.inputs import bundled_examples, load_upload
from minions.app.options import option_fields
from minions.app.runner import RunHandle, RunInfo
from minions.app.views import job_rows, tally
from minions.documents import Document, load_document
from minions.errors import ConfigurationError, DocumentError
from minions.events import Recorder
from minions.protocols.minions import MinionsConfig

from .scripted_clients import EVIDENCE, make_client

INFO = RunInfo(protocol="p", local="l", remote="r", task="t")


class Sample(BaseModel):
    rounds: int = Field(default=2, ge=1, lt=9, description="how many")
    budget: float | None = Field(default=None, gt=0)
    mode: Literal["a", "b"] = "b"
    pick: Literal["x", "y"] | None = None
    verbose: bool = False
    label: str = "hi"
    tags: list[str] = Field(default_factory=list)


def test_option_fields_describe_each_type():
    fields = {f.name: f for f in option_fields(Sample)}
    rounds = fields["rounds"]
    assert (rounds.kind, rounds.default, rounds.minimum, rounds.maximum) == ("int", 2, 1, 8)
    assert rounds.description == "how many" and not rounds.optional
    budget = fields["budget"]
    assert (budget.kind, budget.optional, budget.default, budget.minimum) == (
        "float",
        True,
        None,
        0,
    )
    assert (fields["mode"].kind, fields["mode"].choices) == ("choice", ("a", "b"))
    assert fields["pick"].optional and fields["pick"].choices == ("x", "y")
    assert fields["verbose"].kind == "bool"
    assert fields["label"].kind == "text"
    assert fields["tags"].kind == "other"


def test_option_fields_of_minions_follow_its_config():
    fields = {f.name: f for f in option_fields(MinionsConfig)}
    assert list(fields) == list(MinionsConfig.model_fields)
    assert fields["chunk_size"].optional and fields["chunk_size"].kind == "int"
    assert fields["plan"].choices == ("code", "json")


def _options_page() -> None:
    import streamlit as st
    from pydantic import BaseModel, Field

    from minions.app.options import render_options

    class Config(BaseModel):
        rounds: int = Field(default=2, ge=1)
        budget: float | None = None
        mode: str = "b"
        verbose: bool = False

    st.json(render_options(Config, key_prefix="o"))


def test_render_options_returns_only_changed_values():
    at = AppTest.from_function(_options_page).run()
    assert at.json[0].value == "{}"
    assert at.toggle(key="o.verbose").value is False
    at.toggle(key="o.verbose").set_value(True)
    at.number_input(key="o.budget").set_value(0.25)
    at.run()
    assert json.loads(at.json[0].value) == {"verbose": True, "budget": 0.25}


# --- the background run ----------------------------------------------------------------


def test_run_handle_collects_events_and_the_result():
    async def body(sink):
        sink("first")
        await asyncio.sleep(0)
        sink("second")
        return "the result"

    handle = RunHandle(INFO, body).start()
    assert handle.wait(5)
    assert handle.events == ["first", "second"]
    assert handle.result == "the result" and handle.error is None


def test_run_handle_cancel_stops_and_keeps_the_events():
    async def body(sink):
        sink("started")
        await asyncio.sleep(30)

    handle = RunHandle(INFO, body).start()
    while not handle.events:
        pass
    handle.cancel()
    assert handle.wait(5)
    assert handle.state == "stopped" and handle.events == ["started"]
    assert handle.result is None


def test_run_handle_cancelled_before_its_loop_starts():
    async def body(sink):
        await asyncio.sleep(30)

    handle = RunHandle(INFO, body)
    handle.cancel()
    handle.start()
    assert handle.wait(5) and handle.state == "stopped"


def test_run_handle_failure_is_a_message():
    async def body(sink):
        raise RuntimeError("boom")

    handle = RunHandle(INFO, body).start()
    assert handle.wait(5)
    assert handle.state == "error" and "unexpected problem (boom)" in handle.error
    assert "RuntimeError" not in handle.error and "report it" in handle.error


def test_run_handle_library_error_is_its_own_words():
    async def body(sink):
        raise ConfigurationError("bad option\\nfix it")

    handle = RunHandle(INFO, body).start()
    assert handle.wait(5) and handle.error == "bad option fix it"


# --- choices ---------------------------------------------------------------------------


def test_typed_key_is_used_and_never_shown(monkeypatch):
    pytest.importorskip("openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    keyless = ModelChoice("remote", "openai:gpt-4o-mini", key_env="OPENAI_API_KEY")
    status = keyless.status()
    assert not status.ready and "OPENAI_API_KEY" in status.text and "API key" in status.todo
    typed = ModelChoice("remote", "openai:gpt-4o-mini", {"api_key": "sk-SECRET"}, "OPENAI_API_KEY")
    assert typed.status().ready
    assert "SECRET" not in typed.status().text
    assert "SECRET" not in repr(typed)
    client = typed.make_client()
    assert "SECRET" not in repr(client) and client.spec == "openai:gpt-4o-mini"


def test_offline_remote_is_priced_as_a_cloud_model():
    assert ModelChoice("remote", "llamacpp:qwen2.5-coder-1.5b").default_price_as
    assert ModelChoice("remote", "openai:gpt-4o").default_price_as is None
    assert ModelChoice("local", "llamacpp:qwen2.5-coder-0.5b").pack == "qwen2.5-coder-0.5b"


def test_a_local_remote_of_any_provider_is_priced_as_a_cloud_model(monkeypatch):
    from tests.fake_providers import LocalProvider, register

    register(monkeypatch, LocalProvider)
    assert ModelChoice("remote", "fakelocal:m").default_price_as == OFFLINE_PRICE_AS
    assert ModelChoice("remote", "scripted:m").default_price_as is None
    assert ModelChoice("remote", "madeup:m").default_price_as is None


@pytest.mark.parametrize(
    ("keys", "kind"),
    [
        ((), "offline stand-in"),
        (("ANTHROPIC_API_KEY",), "Anthropic"),
        (("OPENAI_API_KEY", "ANTHROPIC_API_KEY"), "OpenAI"),
    ],
)
def test_the_remote_picker_starts_on_the_librarys_default_remote(monkeypatch, keys, kind):
    for name in ("MINIONS_APP_CLIENTS", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in keys:
        monkeypatch.setenv(name, "sk-test")
    assert choices._default_remote_kind() == kind
    assert choices.KEYED_KINDS.get(kind, OFFLINE_REMOTE) == default_remote()


def test_missing_pack_is_pulled_from_its_step(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIONS_CACHE_DIR", str(tmp_path))
    status = ModelChoice("local", "llamacpp:smollm2-135m").status()
    assert not status.ready and status.pull == "smollm2-135m"
    assert status.todo == "pull smollm2-135m" and "0.1 GB" in status.text


@pytest.mark.parametrize(
    ("spec", "text"),
    [("nocolon", "provider:model"), ("madeup:m", "madeup"), ("openai:", "model's name")],
)
def test_a_bad_typed_spec_is_not_ready_and_says_why(spec, text):
    status = ModelChoice("remote", spec).status()
    assert not status.ready and text in status.text


def test_an_unreachable_model_offers_to_check_again():
    status = ModelChoice("local", "ollama:qwen2.5:3b", unavailable="No server.").status()
    assert not status.ready and status.recheck and status.text == "No server."


def test_load_factory_by_file_and_module(tmp_path):
    path = tmp_path / "factory.py"
    path.write_text("def make(role):\n    return role.upper()\n")
    assert load_factory(f"{path}:make")("local") == "LOCAL"
    assert load_factory("os.path:basename")("a/b") == "b"
    with pytest.raises(ConfigurationError):
        load_factory("no-colon")


# --- inputs ----------------------------------------------------------------------------


def test_bundled_examples_are_found():
    examples = bundled_examples()
    assert examples, "examples/questions.json lists the bundled examples"
    for example in examples:
        assert example.document.is_file() and example.question and example.answer


def test_upload_keeps_its_name_and_not_the_temporary_path():
    doc = load_upload("report.md", b"# Title\n\nBody text.\n")
    assert doc.name == "report.md" and doc.metadata.source == "report.md"
    assert doc.metadata.type == "markdown"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [("broken.pdf", b"plain words", "not a PDF"), ("empty.txt", b"", "empty")],
)
def test_unreadable_upload_raises_the_loader_message(name, data, message):
    with pytest.raises(DocumentError, match=message):
        load_upload(name, data)


# --- views -----------------------------------------------------------------------------


def test_tally_and_job_rows_fill_as_jobs_finish():
    example = bundled_examples()[0]
    document = load_document(example.document)
    recorder = Recorder()
    result = ask(
        example.question,
        document,
        local=make_client("local"),
        remote=make_client("remote"),
        events=recorder,
        price_as="openai:gpt-4o",
    )
    events = recorder.events
    totals = tally(events)
    pages = [p for p in document.pages if p.strip()]
    assert (totals.jobs_planned, totals.jobs_done) == (len(pages), len(pages))
    assert totals.local == result.usage["local"] and totals.remote == result.usage["remote"]
    assert totals.remote_usd == pytest.approx(result.cost.remote_usd)
    rows = job_rows(events)[1]
    assert [r["answer"] for r in rows] == [
        "$1,577 million" if EVIDENCE in p else "abstained" for p in pages
    ]
    # mid-run: the last job has not reported yet
    last_done = max(i for i, e in enumerate(events) if e.kind == "job_done")
    partial = job_rows(events[:last_done])[1]
    assert partial[-1]["answer"] == "…" and partial[-1]["latency (s)"] is None
    assert tally(events[:last_done]).jobs_done == len(pages) - 1


def test_launch_command_and_ports():
    command = launch.streamlit_command(8600, "localhost")
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("streamlit_app.py")
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert flags["--server.port"] == "8600"
    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not launch.port_is_free(port)
        with pytest.raises(ConfigurationError, match="in use"):
            launch.launch(port=port)
    assert launch.port_is_free(launch.free_port(port))


def test_launch_runs_streamlit_and_prints_the_url(monkeypatch, capsys):
    ran = []

    class FakeProcess:
        def __init__(self, command):
            ran.append(command)

        def wait(self):
            return 0

    monkeypatch.setattr(launch.subprocess, "Popen", FakeProcess)
    assert launch.launch(port=launch.free_port(8700)) == 0
    assert "streamlit" in ran[0]
    assert "minions app: http://localhost:" in capsys.readouterr().out


# --- history ---------------------------------------------------------------------------


def _saved(number: int, **changes) -> history.SavedRun:
    values = {"number": number, "state": "answered", "protocol": "minions", "local": "l",
              "remote": "r", "task": f"question {number}"}  # fmt: skip
    return history.SavedRun(**{**values, **changes})


def test_history_keeps_the_last_runs_across_sessions(tmp_path):
    file = tmp_path / "history.jsonl"
    assert history.load(file) == []
    text = Document.from_text("Purchases of PP&E were $1,577 million.")
    result = ask("capex?", text, protocol="remote_only",
                 local=make_client("local"), remote=make_client("remote"))  # fmt: skip
    history.append(_saved(1, result=result), file)
    history.append(_saved(2, state="stopped", spent_usd=0.002067), file)
    loaded = history.load(file)
    assert [r.number for r in loaded] == [1, 2]
    assert loaded[0].result == result and loaded[1].spent_usd == 0.002067


def test_history_drops_the_oldest_past_its_limit_and_skips_damaged_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(history, "MAX_RUNS", 3)
    file = tmp_path / "history.jsonl"
    for number in range(1, 6):
        history.append(_saved(number), file)
    assert [r.number for r in history.load(file)] == [3, 4, 5]
    assert len(file.read_text().splitlines()) == 3
    file.write_text(file.read_text() + "{not json\n")
    assert [r.number for r in history.load(file)] == [3, 4, 5]
    history.clear(file)
    assert not file.exists() and history.load(file) == []


def test_history_lives_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(history.DATA_DIR_ENV, str(tmp_path))
    assert history.path() == tmp_path / "history.jsonl"
    monkeypatch.delenv(history.DATA_DIR_ENV)
    assert history.path().name == "history.jsonl" and "minions" in str(history.path())


# --- views of a finished run -------------------------------------------------------------


def test_markdown_escapes_what_streamlit_would_read_as_markup():
    assert views.md("$1,577 and $2,000") == r"\$1,577 and \$2,000"
    assert views.md("- a *b* [c]") == r"\- a \*b\* \[c\]"


def test_highlight_marks_the_quote_and_escapes_the_page():
    text = "Intro <b>. " + "x " * 800 + "Capex was $1,577 million. " + "y " * 800
    start = text.index("Capex")
    page = views.highlight_html(text, start, start + len("Capex was $1,577 million."))
    assert '">Capex was $1,577 million.</mark>' in page
    assert page.count("…") == 2 and "&lt;b&gt;" not in page  # cut around the quote
    whole = views.highlight_html("a <b> c", None, None)
    assert "&lt;b&gt;" in whole and "<mark" not in whole


def test_markdown_report_has_the_answer_citations_and_cost():
    example = bundled_examples()[0]
    result = ask(example.question, load_document(example.document), price_as="openai:gpt-4o",
                 local=make_client("local"), remote=make_client("remote"))  # fmt: skip
    report = views.markdown_report(_saved(7, task=example.question, result=result))
    assert report.startswith(f"# {example.question}")
    assert "$1,577 million" in report and "## Citations" in report and "(verified)" in report
    assert "cheaper than sending the whole document" in report
    failed = views.markdown_report(_saved(8, state="error", error="openai: invalid key"))
    assert "(no answer)" in failed and "invalid key" in failed and "cheaper" not in failed


def test_runs_rows_put_question_answer_cost_and_savings_first():
    rows = views.runs_rows([_saved(1), _saved(2, state="stopped", spent_usd=0.0021)])
    assert list(rows[0])[:5] == ["run", "question", "answer", "spent", "savings"]
    assert [r["run"] for r in rows] == [2, 1]  # newest first
    assert rows[0]["spent"] == "$0.0021" and rows[0]["savings"] == "—"
    assert all(v is not None for row in rows for v in row.values())
