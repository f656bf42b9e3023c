"""The saved-run page: a finished run opened to see why its answer is what it is.

A :class:`~minions.types.Result` saved as JSON (``minions ask FILE -q TEXT --json >
run.json``, or a trace of ``minions eval --traces``) is uploaded, or read from a path on
this machine, or picked from the Ask page's history; :mod:`minions.show` reads it and
turns it into the view ``minions show`` draws: each round in order with the remote's
calls, the code it wrote or its JSON plan, the tasks, a table of the local jobs (where
each read, what it answered, its quote and whether the quote is in the chunk), the other
replies and the notes. Then the answer with its citations and the cost panel, drawn by
the Ask page's own :mod:`minions.app.views`. A file that is not a saved run is one
message saying what to open instead.

The navigation of ``streamlit_app.py`` runs this file as the page's script; the Ask
page opens a run of its history here (:func:`choose_from_history`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from minions.app import history, views
from minions.app.common import guarded
from minions.app.history import SavedRun
from minions.errors import one_line
from minions.show import CallView, RoundView, UnreadableRun, parse_result, read_result, run_view
from minions.types import Result

SOURCES = ["upload a file", "a path on this machine", "a run from the history"]
#: the widgets' keys: where the run comes from, and each source's choice
SOURCE, UPLOAD, PATH, HISTORY = "saved.source", "saved.upload", "saved.path", "saved.history"
MARK_COLOR = {"verified": "green", "unverified": "red", "unchecked": "gray"}
JOB_COLUMNS = {
    "chunk": st.column_config.NumberColumn(format="%d", width="small"),
    "answer": st.column_config.TextColumn(width="medium"),
    "quote": st.column_config.TextColumn(width="medium"),
    "mark": st.column_config.TextColumn(
        width="small", help="✓ the quote is in the chunk · ✗ it is not · — not checked"
    ),
    "seconds": st.column_config.NumberColumn(format="%.1f"),
}


def choose_from_history(number: int) -> None:
    """Have this page show run ``number`` of the history when it is next drawn."""
    st.session_state[SOURCE] = SOURCES[2]
    st.session_state[HISTORY] = number


def history_runs() -> dict[int, SavedRun]:
    """The runs of the history that left a Result, by number (the Ask page's list when
    it was opened in this session, else the file's)."""
    runs: list[SavedRun] = st.session_state.get("runs") or history.load()
    return {r.number: r for r in runs if r.result is not None}


def pick_run() -> SavedRun | None:
    """The run to show, from where the radio says; ``None`` until one is given.
    Raises :class:`UnreadableRun` for a file that is not a saved run."""
    source = st.radio("Open", SOURCES, horizontal=True, key=SOURCE)
    if source == SOURCES[0]:
        upload = st.file_uploader(
            "A saved run (JSON)", type=["json"], key=UPLOAD,
            help="What `minions ask FILE -q TEXT --json > run.json` writes, or a trace of "
            "`minions eval --traces` (traces/PROTOCOL/ID.json).",
        )  # fmt: skip
        if upload is None:
            return None
        return as_saved(parse_result(upload.getvalue(), source=upload.name))
    if source == SOURCES[1]:
        typed = st.text_input(
            "Path", key=PATH, placeholder="run.json, or runs/NAME/traces/minions/ID.json",
            help="A Result saved as JSON on this machine.",
        ).strip()  # fmt: skip
        return as_saved(read_result(Path(typed).expanduser())) if typed else None
    runs = history_runs()
    if not runs:
        st.info("No run in the history has a result to show yet: ask a question on the Ask page.")
        return None
    number = st.selectbox(
        "Run", sorted(runs, reverse=True), key=HISTORY,
        format_func=lambda n: f"Run {n}: {views.STATE_LABEL[runs[n].state]} · {runs[n].task[:60]}",
    )  # fmt: skip
    return runs.get(number) if number is not None else None


def as_saved(result: Result) -> SavedRun:
    """A Result read from a file, as the Ask page's views draw a finished run."""
    return SavedRun(
        number=0, state=result.status, protocol=result.protocol, local=result.local_model,
        remote=result.remote_model, task=result.task, documents=result.documents,
        seconds=result.timings.total_s, result=result,
    )  # fmt: skip


def job_table(round_: RoundView) -> pd.DataFrame:
    """One row a local job: where it read, its task, what it answered (or "abstained",
    or "failed" with the error), its quote and the quote's mark, tokens and time."""
    samples = any(j.sample for j in round_.jobs)
    return pd.DataFrame(
        [
            {
                "chunk": job.chunk,
                "doc": job.doc,
                "pages": job.pages,
                "task": f"{job.task_id}.{job.sample + 1}" if samples else str(job.task_id),
                "answer": job.answer if job.answered else "failed" if job.error else "abstained",
                "quote": job.quote,
                "mark": job.symbol,
                "explanation": job.explanation or None,
                "tokens": job.tokens,
                "seconds": job.seconds,
                "error": one_line(job.error) if job.error else None,
            }
            for job in round_.jobs
        ]
    )


def render_call(call: CallView, *, reply: bool) -> None:
    """A call's heading, error, reply (``reply``: the planning calls' work is the code
    or plan instead), checked quotes and, folded, its prompt."""
    st.markdown(f"**{views.md(call.heading)}**")
    if call.error:
        st.error(views.md(one_line(call.error)))
    if reply and call.reply:
        views.show_reply(call.reply)
    for quote in call.quotes:
        mark = f":{MARK_COLOR[quote.mark]}[{quote.symbol}]"
        st.markdown(f"{mark} quote “{views.md(quote.text)}” · {views.md(quote.where)}")
    with st.expander("Prompt"):
        st.code(call.prompt, language=None, wrap_lines=True, height=views.PROMPT_HEIGHT)


def render_round(round_: RoundView) -> None:
    """A round in the order it ran: planning, code or plan, tasks, jobs, replies, notes."""
    decision = f" · {round_.decision}" if round_.decision else ""
    st.subheader(f"Round {round_.index}{decision}")
    for call in round_.planning_calls:
        render_call(call, reply=False)
    if round_.code:
        st.caption("The remote's code")
        st.code(round_.code, language="python")
    elif round_.plan:
        st.caption("The remote's plan")
        st.code(round_.plan, language="json")
    if round_.tasks:
        tasks = "\n".join(f"{i}. {views.md(text)}" for i, text in round_.tasks.items())
        st.markdown(f"**Tasks**\n\n{tasks}")
    if round_.jobs:
        st.caption(round_.jobs_line)
        st.dataframe(
            job_table(round_), hide_index=True, width="stretch", column_config=JOB_COLUMNS,
            placeholder=views.NONE,
        )  # fmt: skip
    for call in round_.other_calls:
        render_call(call, reply=True)
    if round_.feedback:
        st.markdown(f"**Feedback for the next round:** {views.md(round_.feedback)}")
    for note in round_.notes:
        st.info(views.md(note))


def render_saved(run: SavedRun) -> None:
    """The run's question and options, each round, then its answer, citations, notes
    and cost, as the Ask page draws a finished run."""
    result = run.result
    if result is None:  # a history run that left no Result is not offered
        return
    view = run_view(result)
    st.subheader(f"{run.protocol} · {views.STATE_LABEL[run.state]}")
    st.markdown("\n\n".join(f"**{label}:** {views.md(text)}" for label, text in view.header))
    for round_ in view.rounds:
        render_round(round_)
    st.subheader("Result")
    views.render_outcome(run)
    views.render_citations(result, st.session_state.get("documents", {}))
    for note in result.notes:
        st.info(views.md(note))
    views.render_cost(run)


def page() -> None:
    st.title("Saved run")
    st.caption(
        "A run saved as JSON, round by round: the remote's code or plan, every local job "
        "with its quote checked, and the answer with what it cost."
    )
    try:
        run = pick_run()
    except UnreadableRun as exc:
        st.error(views.md(one_line(str(exc))))
        return
    if run is not None:
        render_saved(run)


if __name__ == "__main__":  # the navigation runs this file as the page's script
    guarded("Drawing the page", page)
