"""The minions demo: get the document and the two models ready, ask a question, watch
the local and remote models collaborate, and see the answer with what it cost.

Run it with ``minions app`` or ``streamlit run app/streamlit_app.py``. The page leads
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, "") and importlib.util.find_spec("minions") is None:
    # `streamlit run app/streamlit_app.py` from a checkout that is not installed: the
    # checkout's root is where the `minions` package can be imported from
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from minions.api import ask_async
from minions.app import checklist, history, inputs, views
from minions.app.history import SavedRun
from minions.app.options import render_options
from minions.app.runner import RunHandle, RunInfo
from minions.documents import Document
from minions.errors import MinionsError, one_line
from minions.protocol import available, get_protocol, make_config

logger = logging.getLogger(__name__)

POLL_S = 0.5
DEFAULT_PROTOCOL = "minions"
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """The sidebar's choices."""

    protocol: str
    options: dict[str, Any]
    options_error: str | None
    price_as: str | None


def guarded(what: str, action: Callable[[], T]) -> T | None:
    """``action()``, with any failure shown as a message instead of a traceback."""
    try:
        return action()
    except MinionsError as exc:
        st.error(views.md(f"{what} failed: {one_line(str(exc))}"))
    except Exception:
        logger.exception("%s failed", what)
        st.error(
            f"{what} failed on an unexpected problem. The app's log has the details; try "
            "again, and report it if it happens again."
        )
    return None


def sidebar(default_price_as: str | None) -> Settings:
    """How the models work together: the protocol, its options and the pricing."""
    with st.sidebar:
        st.header("How the models work together")
        names = available()
        if not names:
            st.error("No protocols are registered: install minions with `pip install -e .`.")
            st.stop()
        protocol = st.selectbox(
            "Protocol", names, index=names.index(DEFAULT_PROTOCOL) if DEFAULT_PROTOCOL in names
            else 0, key="protocol", help="See `minions protocols` for what each one does.",
        )  # fmt: skip
        cls = get_protocol(protocol)
        st.caption(cls.summary)
        options = render_options(cls.Config, key_prefix=f"opt.{protocol}")
        options_error = None
        try:
            make_config(cls.Config, options, protocol)
        except MinionsError as exc:
            options_error = one_line(str(exc))
            st.error(views.md(options_error))
        with st.expander("Pricing"):
            typed = st.text_input(
                "Price remote usage as",
                key="price_as",
                placeholder=default_price_as or "the remote model's own prices",
                help="The provider:model whose prices the remote's tokens are billed at, e.g. "
                "openai:gpt-4o; blank for the remote's own. A remote on this machine costs "
                "$0, so it is priced as a cloud model to show what it would cost.",
            ).strip()
    return Settings(protocol, options, options_error, typed or default_price_as)


def start_run(
    settings: Settings, setup: checklist.Setup, documents: list[Document], question: str
) -> None:
    """Make the clients and start the run in the background."""
    clients = guarded(
        "Setting up the models", lambda: (setup.local.make_client(), setup.remote.make_client())
    )
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


def main() -> None:
    st.set_page_config(page_title="minions", page_icon="🍌", layout="wide")
    if "runs" not in st.session_state:
        st.session_state.runs = history.load()
    st.session_state.setdefault("events", {})
    st.session_state.setdefault("documents", {})
    st.session_state.setdefault("active", None)
    guarded("Drawing the page", page)


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


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
    reason = f"Run waits until you {_and(waiting)}." if waiting else ""
    if running:
        reason = reason or "A run is going on: wait for it or stop it."
    clicked = st.button(
        "Run", type="primary", disabled=bool(reason), key="run", help=reason or None
    )
    if reason:
        st.caption(reason)
    if clicked and not reason:
        start_run(settings, setup, setup.picked.documents, question)
    if running:
        live_view()
    show_runs()


main()
