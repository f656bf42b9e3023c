"""The minions demo: pick documents and a question, a protocol and models, watch the
local and remote models collaborate, and see what it cost.

Run it with ``minions app`` or ``streamlit run app/streamlit_app.py``. A run goes on in
a background thread (:class:`minions.app.runner.RunHandle`); a fragment polls it twice a
second for the live view, so the page stays responsive and Stop cancels cleanly.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, "") and importlib.util.find_spec("minions") is None:
    # `streamlit run app/streamlit_app.py` from a checkout that is not installed: the
    # checkout's root is where the `minions` package can be imported from
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from minions.api import ask_async
from minions.app import choices, inputs, views
from minions.app.options import render_options
from minions.app.runner import RunHandle, RunInfo
from minions.documents import Document
from minions.errors import MinionsError
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
    local: choices.ModelChoice
    remote: choices.ModelChoice
    price_as: str | None


def guarded(what: str, action: Callable[[], T]) -> T | None:
    """``action()``, with any failure shown as a message instead of a traceback."""
    try:
        return action()
    except MinionsError as exc:
        st.error(f"{what}: {exc}")
    except Exception as exc:
        logger.exception("%s failed", what)
        st.error(f"{what} failed unexpectedly ({type(exc).__name__}: {exc}); see the log.")
    return None


def _model_problem(choice: choices.ModelChoice) -> None:
    """A warning under a model picker, and a pull button for a missing pack."""
    problem = choice.problem()
    if problem is None:
        return
    st.warning(problem)
    pack = choice.pack
    if pack is None or not st.button(f"Pull {pack}", key=f"pull.{choice.role}.{pack}"):
        return
    if guarded(f"Pulling {pack}", partial(choices.pull_pack, pack)) is not None:
        st.rerun()


def sidebar() -> Settings:
    with st.sidebar:
        st.header("Settings")
        names = available()
        if not names:
            st.error("No protocols are registered: install minions with `pip install -e .`.")
            st.stop()
        protocol = st.selectbox(
            "Protocol", names, index=names.index(DEFAULT_PROTOCOL) if DEFAULT_PROTOCOL in names
            else 0, key="protocol",
        )  # fmt: skip
        cls = get_protocol(protocol)
        st.caption(cls.summary)
        with st.expander("Options", expanded=False):
            options = render_options(cls.Config, key_prefix=f"opt.{protocol}")
        options_error = None
        try:
            make_config(cls.Config, options, protocol)
        except MinionsError as exc:
            options_error = str(exc)
            st.error(options_error)
        st.divider()
        local = choices.pick_local()
        _model_problem(local)
        remote = choices.pick_remote()
        _model_problem(remote)
        typed = st.text_input(
            "Price remote usage as",
            key="price_as",
            placeholder=remote.default_price_as or "the remote model's own prices",
            help="provider:model whose prices the remote's tokens are billed at, e.g. "
            "openai:gpt-4o; blank for the remote's own.",
        ).strip()
    price_as = typed or remote.default_price_as
    return Settings(protocol, options, options_error, local, remote, price_as)


def start_run(settings: Settings, documents: list[Document], question: str) -> None:
    """Check the inputs, make the clients and start the run in the background."""
    problems = [
        "Add a document: pick the bundled example, upload a file or paste text."
        if not documents
        else None,
        "Type a question." if not question else None,
        settings.options_error,
        settings.local.problem(),
        settings.remote.problem(),
    ]
    found = [p for p in problems if p]
    if found:
        for problem in found:
            st.error(problem)
        return
    clients = guarded(
        "Setting up the models",
        lambda: (settings.local.make_client(), settings.remote.make_client()),
    )
    if clients is None:
        return
    local, remote = clients
    runs: list[RunHandle] = st.session_state.runs
    info = RunInfo(
        protocol=settings.protocol,
        local=local.spec if settings.local.injected else settings.local.spec,
        remote=remote.spec if settings.remote.injected else settings.remote.spec,
        task=question,
        documents=tuple(d.name for d in documents),
        price_as=settings.price_as or "",
    )

    def factory(sink: Callable[[Any], None]) -> Any:
        return ask_async(
            question, documents, protocol=settings.protocol, local=local, remote=remote,
            events=sink, price_as=settings.price_as, **settings.options,
        )  # fmt: skip

    st.session_state.active = RunHandle(info, factory, number=len(runs) + 1).start()
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
    """Move a run that has ended into the session's list of runs."""
    handle: RunHandle | None = st.session_state.active
    if handle is not None and handle.done:
        st.session_state.runs.append(handle)
        st.session_state.active = None


def show_runs() -> None:
    runs: list[RunHandle] = st.session_state.runs
    if not runs:
        return
    by_number = {h.number: h for h in runs}
    shown = st.selectbox(
        "Show run",
        sorted(by_number, reverse=True),
        format_func=lambda n: (
            f"Run {n}: {by_number[n].info.protocol}, {views.STATE_LABEL[by_number[n].state]}"
        ),
        key=f"shown.{len(runs)}",  # a new run resets the choice to the newest
    )
    if shown is not None:
        views.render_run(by_number[shown])
    st.subheader("Runs this session")
    st.dataframe(views.runs_rows(runs), hide_index=True, width="stretch")


def main() -> None:
    st.set_page_config(page_title="minions", page_icon="🍌", layout="wide")
    st.session_state.setdefault("runs", [])
    st.session_state.setdefault("active", None)
    guarded("Drawing the page", page)


def page() -> None:
    finish_active()
    settings = sidebar()
    st.title("minions")
    st.caption(
        "A small local model reads your documents; a remote model plans the work and "
        "writes the answer without reading them whole."
    )
    picked = guarded("Loading the documents", inputs.pick_inputs)
    documents, question = picked if picked is not None else ([], "")
    running = st.session_state.active is not None
    if st.button("Run", type="primary", disabled=running, key="run"):
        start_run(settings, documents, question)
    if running:
        live_view()
    show_runs()


main()
