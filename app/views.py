"""What the page shows of a run: the live view drawn from its events, the result with
its cost panel, and the table that compares the session's runs.

The ``*_rows`` and :func:`tally` helpers are plain functions of events or handles;
the ``render_*`` functions draw them with Streamlit.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from minions.app.runner import RunHandle
from minions.events import JobDone, JobsPlanned, LocalCall, RemoteCall
from minions.pricing import format_usd
from minions.types import Result, Usage

PROMPT_HEIGHT = 240  # pixels; a long prompt scrolls inside its box
STATE_LABEL = {
    "running": "running",
    "answered": "answered",
    "budget_exceeded": "budget reached",
    "error": "failed",
    "stopped": "stopped",
}


@dataclass(frozen=True)
class Tally:
    """Running totals of a run so far."""

    jobs_planned: int = 0
    jobs_done: int = 0
    local: Usage = field(default_factory=Usage)
    remote: Usage = field(default_factory=Usage)
    remote_usd: float | None = 0.0


def tally(events: list[Any]) -> Tally:
    """Jobs planned and done, tokens per role and remote dollars in ``events``."""
    planned = done = 0
    local = remote = Usage()
    usd: float | None = 0.0
    for event in events:
        if isinstance(event, JobsPlanned):
            planned += len(event.jobs)
        elif isinstance(event, JobDone):
            done += 1
            local += event.usage
        elif isinstance(event, LocalCall):
            local += event.usage
        elif isinstance(event, RemoteCall):
            remote += event.usage
            usd = None if usd is None or event.usd is None else usd + event.usd
    return Tally(planned, done, local, remote, usd)


def _job_answer(done: JobDone | None) -> str:
    if done is None:
        return "…"
    if done.error:
        return f"error: {done.error}"
    if done.abstained or done.output is None:
        return "abstained"
    return str(done.output.answer)


def job_rows(events: list[Any]) -> dict[int, list[dict[str, Any]]]:
    """Per round, one row per planned job, filled in as its JobDone arrives."""
    finished = {(e.round, e.job_id): e for e in events if isinstance(e, JobDone)}
    rows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if not isinstance(event, JobsPlanned):
            continue
        for job in event.jobs:
            done = finished.get((event.round, job.job_id))
            rows[event.round].append(
                {
                    "job": job.job_id,
                    "chunk": job.chunk.index,
                    "pages": f"{job.chunk.doc}, {job.chunk.pages}",
                    "task": job.task,
                    "answer": _job_answer(done),
                    "latency (s)": None if done is None else round(done.latency_s, 2),
                }
            )
    return rows


def _rounds(events: list[Any]) -> list[int]:
    return sorted({e.round for e in events if isinstance(getattr(e, "round", None), int)})


def _show_reply(reply: str) -> None:
    try:
        parsed = json.loads(reply)
    except ValueError:
        st.markdown(reply)
    else:
        st.json(parsed)


def _show_call(call: RemoteCall | LocalCall, expanded: bool) -> None:
    role = "remote" if isinstance(call, RemoteCall) else "local"
    cost = f", {format_usd(call.usd)}" if isinstance(call, RemoteCall) else ""
    title = (
        f"{role} · {call.purpose} · {call.usage.total_tokens:,} tokens{cost} · "
        f"{call.latency_s:.1f} s"
    )
    with st.expander(title, expanded=expanded):
        if call.error:
            st.error(call.error)
        st.caption("Reply")
        _show_reply(call.reply)
        st.caption("Prompt")
        st.code(call.prompt, language=None, wrap_lines=True, height=PROMPT_HEIGHT)


def render_rounds(events: list[Any], *, live: bool) -> None:
    """Each round: the remote's (and local chat's) messages, the code the remote wrote,
    and the jobs table. Live, the newest message is open; afterwards all are folded."""
    calls = [e for e in events if isinstance(e, RemoteCall | LocalCall)]
    newest = calls[-1] if calls else None
    rows = job_rows(events)
    for index in _rounds(events):
        st.markdown(f"**Round {index}**")
        for call in (c for c in calls if c.round == index):
            _show_call(call, expanded=live and call is newest)
        for planned in (e for e in events if isinstance(e, JobsPlanned) and e.round == index):
            if planned.code:
                with st.expander("Code the remote wrote", expanded=live):
                    st.code(planned.code, language="python")
        if rows.get(index):
            st.dataframe(pd.DataFrame(rows[index]), hide_index=True, width="stretch")


def render_live(handle: RunHandle) -> None:
    """Progress, running totals and the rounds so far of a run in flight."""
    events = handle.events
    totals = tally(events)
    fraction = totals.jobs_done / totals.jobs_planned if totals.jobs_planned else 0.0
    st.progress(fraction, text=f"{totals.jobs_done}/{totals.jobs_planned} jobs done")
    columns = st.columns(4)
    columns[0].metric("Elapsed", f"{handle.seconds:.1f} s")
    columns[1].metric("Local tokens", f"{totals.local.total_tokens:,}")
    columns[2].metric("Remote tokens", f"{totals.remote.total_tokens:,}")
    columns[3].metric("Remote $ so far", format_usd(totals.remote_usd))
    render_rounds(events, live=True)


def _ratio(result: Result) -> str:
    ratio = result.cost.savings_ratio
    if ratio is None:
        return "n/a"
    return "∞" if ratio == float("inf") else f"{ratio:.1f}x"


def render_cost(result: Result) -> None:
    """Remote dollars next to remote-only dollars, tokens, and where the time went."""
    st.subheader("Cost")
    cost = result.cost
    columns = st.columns(5)
    columns[0].metric("Remote $", format_usd(cost.remote_usd))
    columns[1].metric("Remote-only $", format_usd(cost.remote_only_usd))
    columns[2].metric("Savings", _ratio(result), help="remote-only $ / this run's $")
    columns[3].metric("Local tokens", f"{result.local_usage.total_tokens:,}")
    columns[4].metric("Remote tokens", f"{result.remote_usage.total_tokens:,}")
    notes = [cost.note] if cost.note else []
    if cost.priced_as and cost.priced_as not in cost.note:
        notes.append(f"priced as {cost.priced_as}")
    if notes:
        st.caption("; ".join(notes))
    t = result.timings
    st.caption(f"Time: {t.total_s:.1f} s in all")
    split = pd.DataFrame(
        {"seconds": [t.local_s, t.remote_s, t.overhead_s]}, index=["local", "remote", "overhead"]
    )
    st.bar_chart(split, horizontal=True, sort=False, height=180, x_label="seconds")


def render_outcome(handle: RunHandle) -> None:
    """The answer with its citations, or what ended the run and what to do."""
    result = handle.result
    if handle.state == "stopped":
        st.warning("Stopped. What the run did until then is below.")
    elif result is None:
        st.error(f"The run failed: {handle.error}")
    elif result.status == "budget_exceeded":
        st.warning(f"Budget reached: {result.error}. The answer so far is partial.")
    elif result.status == "error":
        st.error(f"The run failed: {result.error}")
    if result is None or not result.answer:
        return
    st.success(result.answer)
    if result.citations:
        st.markdown("**Citations**\n" + "\n".join(f"- {c}" for c in result.citations))
    for note in result.notes:
        st.caption(note)


def _download(handle: RunHandle) -> None:
    if handle.result is not None:
        data = handle.result.to_json()
        name = f"minions-run-{handle.number}.json"
    else:  # stopped or failed before a Result: the events seen, one JSON per line
        data = "\n".join(e.model_dump_json() for e in handle.events)
        name = f"minions-run-{handle.number}-events.jsonl"
    st.download_button(
        "Download the run as JSON", data, file_name=name, mime="application/json",
        key=f"download.{handle.number}",
    )  # fmt: skip


def render_run(handle: RunHandle) -> None:
    """A finished run: outcome, cost panel, transcript and download."""
    info = handle.info
    st.subheader(f"Run {handle.number}: {STATE_LABEL[handle.state]}")
    st.caption(
        f"{info.protocol} · local {info.local} · remote {info.remote} · {handle.seconds:.1f} s"
    )
    render_outcome(handle)
    if handle.result is not None:
        render_cost(handle.result)
    st.subheader("Transcript")
    render_rounds(handle.events, live=False)
    _download(handle)


def runs_rows(handles: list[RunHandle]) -> list[dict[str, Any]]:
    """One row per run of the session, for side-by-side comparison."""
    rows = []
    for handle in handles:
        result = handle.result
        cost = result.cost if result else None
        rows.append(
            {
                "run": handle.number,
                "status": STATE_LABEL[handle.state],
                "protocol": handle.info.protocol,
                "local": handle.info.local,
                "remote": handle.info.remote,
                "answer": (result.answer if result else None) or "",
                "remote $": cost.remote_usd if cost else None,
                "remote-only $": cost.remote_only_usd if cost else None,
                "savings (x)": cost.savings_ratio if cost else None,
                "time (s)": round(handle.seconds, 1),
                "question": handle.info.task,
            }
        )
    return rows
