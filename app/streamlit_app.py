"""The minions demo: get the document and the two models ready, ask a question, watch
the local and remote models collaborate, and see the answer with what it cost.

Run it with ``minions app`` or ``streamlit run app/streamlit_app.py``. This script is
the app's entry point: its navigation offers this page (Ask), the batch page
(:mod:`minions.app.batch_page`: many documents x questions, a row each) and the
saved-run page (:mod:`minions.app.saved_run_page`: a run saved as JSON, or one of the
history, round by round). The page leads
with the setup checklist (:mod:`minions.app.checklist`); Run waits until the document
and both models are ready. A run goes on in a background thread
(:class:`minions.app.runner.RunHandle`); a fragment polls it twice a second for the
live view, so the page stays responsive and Stop cancels cleanly. Finished runs are
kept in the history (:mod:`minions.app.history`) and compared in a table and a chart.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, "") and importlib.util.find_spec("minions") is None:
    # `streamlit run app/streamlit_app.py` from a checkout that is not installed: the
    # checkout's root is where the `minions` package can be imported from
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from minions.api import ask_async
from minions.app import checklist, history, inputs, saved_run_page, views
from minions.app.common import POLL_S, Settings, guarded, make_clients, run_button, sidebar
from minions.app.history import SavedRun
from minions.app.runner import RunHandle, RunInfo
from minions.documents import Document

logger = logging.getLogger(__name__)

#: the batch page (:mod:`minions.app.batch_page`), run by the navigation as a script
BATCH_PAGE = Path(__file__).resolve().with_name("batch_page.py")
#: the saved-run page (:mod:`minions.app.saved_run_page`), likewise
SAVED_RUN_PAGE = BATCH_PAGE.with_name("saved_run_page.py")


def start_run(
    settings: Settings,
    setup: checklist.Setup[inputs.Picked],
    documents: list[Document],
    question: str,
) -> None:
    """Make the clients and start the run in the background."""
    clients = make_clients(setup)
    if clients is None:
        return
    local, remote = clients
    runs: list[SavedRun] = st.session_state.runs
    info = RunInfo(
        protocol=settings.protocol,
        local=local.spec if setup.local.injected else setup.local.spec,
        remote=remote.spec if setup.remote.injected else setup.remote.spec,
        task=question,
        documents=tuple(d.name for d in documents),
        price_as=settings.price_as or "",
    )

    def factory(sink: Callable[[Any], None]) -> Any:
        return ask_async(
            question, documents, protocol=settings.protocol, local=local, remote=remote,
            events=sink, price_as=settings.price_as, **settings.options,
        )  # fmt: skip

    st.session_state.documents.update({d.name: d for d in documents})
    number = max((r.number for r in runs), default=0) + 1
    st.session_state.active = RunHandle(info, factory, number=number).start()
    st.rerun()  # draw the page again with Run disabled and the live view


@st.fragment(run_every=POLL_S)
def live_view() -> None:
    """The run in flight, redrawn every POLL_S seconds; a full rerun when it ends."""
    handle: RunHandle | None = st.session_state.get("active")
    if handle is None:
        return
    if handle.done:
        st.rerun()
    st.subheader(f"Run {handle.number}: running")
    st.button("Stop", on_click=handle.cancel, key="stop", type="secondary")
    views.render_live(handle)


def finish_active() -> None:
    """Move a run that has ended into the list of runs and the history."""
    handle: RunHandle | None = st.session_state.active
    if handle is None or not handle.done:
        return
    events = handle.events
    totals = views.tally(events)
    saved = SavedRun.of(handle, totals.remote_usd, {"local": totals.local, "remote": totals.remote})
    st.session_state.runs.append(saved)
    st.session_state.events[saved.number] = events
    st.session_state.active = None
    try:
        history.append(saved)
    except OSError as exc:
        logger.warning("the run history could not be saved: %s", exc)
        st.warning(f"This run is not in the history: {history.path()} cannot be written.")


def _clear_history() -> None:
    history.clear()
    st.session_state.runs = []
    st.session_state.events = {}


def show_runs() -> None:
    """The run picked (the newest by default), then the table and chart of all runs."""
    runs: list[SavedRun] = st.session_state.runs
    if not runs:
        return
    by_number = {r.number: r for r in runs}
    shown = st.selectbox(
        "Show run",
        sorted(by_number, reverse=True),
        format_func=lambda n: (
            f"Run {n}: {views.STATE_LABEL[by_number[n].state]} · {by_number[n].task[:60]}"
        ),
        key=f"shown.{len(runs)}",  # a new run resets the choice to the newest
    )
    if shown is not None:
        views.render_run(
            by_number[shown], st.session_state.events.get(shown), st.session_state.documents
        )
        if by_number[shown].result is not None and st.button(
            "Open in the Saved run page", key=f"open.{shown}",
            help="Every round of this run: the code or plan, each job's quote, each reply.",
        ):  # fmt: skip
            saved_run_page.choose_from_history(shown)
            st.switch_page(SAVED_RUN_PAGE)
    st.subheader("Runs")
    views.render_runs(runs)
    st.caption(
        views.md(
            f"The last {history.MAX_RUNS} runs are kept on this machine only, in "
            f"{history.path()}: they hold your questions and answers, and are never sent "
            "anywhere."
        )
    )
    st.button("Clear history", on_click=_clear_history, key="clear_history")


def ask_page() -> None:
    """The demo: one question about the documents, run and compared with past runs."""
    if "runs" not in st.session_state:
        st.session_state.runs = history.load()
    st.session_state.setdefault("events", {})
    st.session_state.setdefault("documents", {})
    st.session_state.setdefault("active", None)
    guarded("Drawing the page", page)


def main() -> None:
    st.set_page_config(page_title="minions", page_icon="🍌", layout="wide")
    pages = [
        st.Page(ask_page, title="Ask", icon=":material/chat:", url_path="ask", default=True),
        st.Page(BATCH_PAGE, title="Batch", icon=":material/table_rows:", url_path="batch"),
        st.Page(SAVED_RUN_PAGE, title="Saved run", icon=":material/history:", url_path="saved-run"),
    ]
    st.navigation(pages).run()


def page() -> None:
    finish_active()
    st.title("minions")
    st.caption(
        "A small local model reads your documents; a remote model plans the work and "
        "writes the answer without reading them whole."
    )
    setup = checklist.render_checklist()
    settings = sidebar(setup.remote.default_price_as)
    question = inputs.ask_question(setup.picked)
    waiting = setup.waiting_for()
    if not question:
        waiting.append("type a question")
    if settings.options_error:
        waiting.append("fix the protocol's options in the sidebar")
    running = st.session_state.active is not None
    busy = "A run is going on: wait for it or stop it." if running else None
    if run_button(waiting, busy, key="run"):
        start_run(settings, setup, setup.picked.documents, question)
    if running:
        live_view()
    show_runs()


main()
