"""What the page shows of a run: the live view drawn from its events; a finished run
led by its answer and what it cost, then its citations, cost details and transcript;
and the table and chart that compare runs.

Money and ratios read as everywhere else (:mod:`minions.formatting`): a savings figure
only for a run that answered, what was spent for one that failed or was stopped. The
``*_rows``, :func:`tally`, :func:`markdown_report` and :func:`highlight_html` helpers
are plain functions; the ``render_*`` functions draw with Streamlit.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from minions.app.history import SavedRun
from minions.app.runner import RunHandle
from minions.documents import Document
from minions.errors import one_line
from minions.events import JobDone, JobsPlanned, LocalCall, PlannedJob, RemoteCall
from minions.formatting import CostSummary, cost_summary, exposure, usd
from minions.types import JobRecord, Result, Usage

PROMPT_HEIGHT = 240  # pixels; a long prompt scrolls inside its box
#: characters of page text shown on each side of a highlighted quote
CONTEXT_CHARS = 700
STATE_LABEL = {
    "running": "running",
    "answered": "answered",
    "budget_exceeded": "budget reached",
    "error": "failed",
    "stopped": "stopped",
}
#: the colour of a run's cost line, by :attr:`CostSummary.state`
COST_COLOR = {
    "cheaper": "green",
    "free": "green",
    "same": "gray",
    "pricier": "orange",
    "unpriced": "orange",
    "partial": "orange",
    "no_answer": "red",
}
NONE = "—"  # what an empty cell shows


def md(text: str) -> str:
    """``text`` shown as it is in Streamlit's Markdown: ``$1,577 and $2,000`` is not
    LaTeX, ``*``, ``_`` and brackets are not markup, a leading ``-`` is not a list."""
    text = re.sub(r"([\\`*_\[\]<>#$~|])", r"\\\1", text)
    return re.sub(r"(?m)^(\s*)([-+]|\d+\.)", r"\1\\\2", text)


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
    usd_: float | None = 0.0
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
            usd_ = None if usd_ is None or event.usd is None else usd_ + event.usd
    return Tally(planned, done, local, remote, usd_)


def events_of(result: Result) -> list[Any]:
    """A finished run's transcript as the events the live view draws (a run from the
    history keeps its Result, not its events)."""
    events: list[Any] = []
    for round_ in result.rounds:
        for turn in round_.turns:
            kind = RemoteCall if turn.role == "remote" else LocalCall
            events.append(
                kind(
                    round=round_.index, purpose=turn.purpose, prompt=turn.prompt,
                    reply=turn.reply, usage=turn.usage, latency_s=turn.latency_s,
                    error=turn.error,
                )
            )  # fmt: skip
        if round_.jobs:
            planned = [
                PlannedJob(job_id=j.job_id, task_id=j.task_id, task=j.task, chunk=j.chunk)
                for j in round_.jobs
            ]
            events.append(JobsPlanned(round=round_.index, jobs=planned, code=round_.code))
            events.extend(
                JobDone(
                    round=round_.index, job_id=j.job_id, task_id=j.task_id, chunk=j.chunk,
                    output=j.output, error=j.error, usage=j.usage, latency_s=j.latency_s,
                )
                for j in round_.jobs
            )  # fmt: skip
    return events


def _job_answer(done: JobDone | None) -> str:
    if done is None:
        return "…"
    if done.error:
        return f"error: {one_line(done.error)}"
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


def show_reply(reply: str) -> None:
    """A model's reply as it wrote it: JSON folded open, anything else word for word
    (code fences and dollar signs included)."""
    try:
        parsed = json.loads(reply)
    except ValueError:
        st.code(reply, language=None, wrap_lines=True)
    else:
        st.json(parsed)


def _show_call(call: RemoteCall | LocalCall, expanded: bool) -> None:
    role = "remote" if isinstance(call, RemoteCall) else "local"
    cost = f", {usd(call.usd)}" if isinstance(call, RemoteCall) and call.usd is not None else ""
    title = (
        f"{role} · {call.purpose} · {call.usage.total_tokens:,} tokens{cost} · "
        f"{call.latency_s:.1f} s"
    )
    with st.expander(title, expanded=expanded):
        if call.error:
            st.error(md(one_line(call.error)))
        st.caption("Reply")
        show_reply(call.reply)
        st.caption("Prompt")
        st.code(call.prompt, language=None, wrap_lines=True, height=PROMPT_HEIGHT)


JOB_COLUMNS = {
    "latency (s)": st.column_config.NumberColumn(format="%.2f"),
    "task": st.column_config.TextColumn(width="medium"),
    "answer": st.column_config.TextColumn(width="medium"),
}


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
            st.dataframe(
                pd.DataFrame(rows[index]), hide_index=True, width="stretch",
                column_config=JOB_COLUMNS, placeholder=NONE,
            )  # fmt: skip


def render_live(handle: RunHandle) -> None:
    """Progress, running totals and the rounds so far of a run in flight."""
    events = handle.events
    totals = tally(events)
    if totals.jobs_planned:
        fraction = totals.jobs_done / totals.jobs_planned
        text = f"{totals.jobs_done}/{totals.jobs_planned} jobs done"
    else:
        fraction, text = 0.0, "waiting for the first model call"
    st.progress(fraction, text=text)
    columns = st.columns(4)
    columns[0].metric("Elapsed", f"{handle.seconds:.1f} s")
    columns[1].metric("Local tokens", f"{totals.local.total_tokens:,}")
    columns[2].metric("Remote tokens", f"{totals.remote.total_tokens:,}")
    columns[3].metric("Spent so far", usd(totals.remote_usd))
    render_rounds(events, live=True)


# --- a finished run ----------------------------------------------------------------


def costs_of(run: SavedRun) -> CostSummary:
    """What ``run``'s cost says (:func:`minions.formatting.cost_summary`)."""
    result = run.result
    if result is None:
        return cost_summary(run.state, spent_usd=run.spent_usd, documents=len(run.documents))
    return cost_summary(result.status, result.cost, documents=len(result.documents))


def render_cost_line(costs: CostSummary) -> None:
    """The one line that says what the run cost: savings only for a run that answered."""
    st.markdown(f":{COST_COLOR[costs.state]}[**{md(costs.headline)}**]")


def render_outcome(run: SavedRun) -> None:
    """The answer, or what ended the run and what to do; then what it cost."""
    result = run.result
    if run.state == "stopped":
        st.warning("Stopped before an answer. What the run did until then is below.")
    elif result is None:
        st.error(md(f"The run failed: {one_line(run.error or 'no reason was given')}"))
    elif result.status == "budget_exceeded":
        st.warning(md(f"Budget reached: {one_line(result.error or '')}. The answer is partial."))
    elif result.status == "error":
        st.error(md(f"The run failed: {one_line(result.error or 'no reason was given')}"))
    if result is not None and result.answer:
        st.success(md(result.answer))
    render_cost_line(costs_of(run))


def cited_jobs(result: Result) -> list[JobRecord]:
    """The jobs the answer rests on: those of the last round that found something,
    one per (document, pages, quote)."""
    for round_ in reversed(result.rounds):
        found = [j for j in round_.jobs if not j.abstained and j.output is not None]
        if found:
            unique = {
                (j.chunk.doc, j.chunk.pages, j.output.citation if j.output else None): j
                for j in found
            }
            return list(unique.values())
    return []


def _mark(job: JobRecord) -> str:
    """Whether the job's quote was found in what it read, in words."""
    if job.quote is None:
        return "quote as given"
    return "verified" if job.verified else "not found in the text"


#: the icon beside each mark (Material icons ship with Streamlit)
MARK_ICON = {
    "verified": ":green[:material/verified:]",
    "not found in the text": ":orange[:material/help:]",
    "quote as given": ":material/format_quote:",
}


def highlight_html(text: str, start: int | None, end: int | None) -> str:
    """``text`` as HTML, with ``text[start:end]`` marked and only :data:`CONTEXT_CHARS`
    around it when a span is given (cut at spaces, "…" where cut)."""
    if start is None or end is None or not 0 <= start < end <= len(text):
        body = html.escape(text)
    else:
        low = max(0, start - CONTEXT_CHARS)
        high = min(len(text), end + CONTEXT_CHARS)
        low = text.rfind(" ", 0, low) + 1 if low else 0
        cut = text.find(" ", high)
        high = len(text) if cut < 0 else cut
        body = (
            ("…" if low else "")
            + html.escape(text[low:start])
            + '<mark style="background:#ffd54f;color:#1a1a1a;padding:0 .15em;'
            'border-radius:.2em">'
            + html.escape(text[start:end])
            + "</mark>"
            + html.escape(text[end:high])
            + ("…" if high < len(text) else "")
        )
    return (
        '<div style="white-space:pre-wrap;overflow-wrap:anywhere;max-height:24rem;'
        "overflow-y:auto;font-size:.875rem;line-height:1.5;padding:.75rem;"
        'border:1px solid rgba(128,128,128,.35);border-radius:.5rem">' + body + "</div>"
    )


def _find(quote: str | None, text: str) -> tuple[int | None, int | None]:
    """Where ``quote`` is in ``text`` (exactly, normalized or closely), if it is."""
    from minions.citations import check_quote

    found = check_quote(quote, text)
    return (found.start, found.end) if found.verified else (None, None)


def render_citations(result: Result, documents: Mapping[str, Document]) -> None:
    """Each quote the answer rests on, as the local model gave it, marked verified or
    not; opening one shows the page it is on with the quote highlighted. A run
    without jobs (Minion) lists its citations as they were written."""
    jobs = cited_jobs(result) if result.citations else []
    if not jobs:  # the citations of a run without jobs (Minion's checked quotes), as text
        if result.citations:
            st.markdown("**Citations**\n\n" + "\n".join(f"- {md(c)}" for c in result.citations))
        return
    st.markdown("**Citations**")
    for job in jobs:
        quote = (job.output.citation if job.output else None) or ""
        short = quote if len(quote) <= 70 else quote[:67].rstrip() + "…"
        mark = _mark(job)
        label = md(f"{mark} · {job.chunk.doc}, {job.chunk.pages}")
        label += md(f" · “{short}”") if short else ""
        with st.expander(f"{MARK_ICON[mark]} {label}"):
            if quote:
                st.markdown(f"> {md(quote)}")
                st.caption("The quote as the local model gave it.")
            document = documents.get(job.chunk.doc)
            if document is None:
                st.caption(
                    "The page text is not loaded in this session: pick the same document to "
                    "see it here."
                )
                continue
            for page in range(job.chunk.page_start, job.chunk.page_end + 1):
                text = document.pages[page - 1] if 0 < page <= len(document.pages) else ""
                start, end = _find(quote, text)
                note = (
                    ""
                    if start is not None or not quote
                    else " (the quote is not on it word for word)"
                )
                st.caption(f"Page {page} of {document.name}{note}")
                st.html(highlight_html(text, start, end))


def render_cost(run: SavedRun) -> None:
    """What was spent next to what sending everything would have cost, the tokens,
    and where the time went."""
    costs = costs_of(run)
    result = run.result
    usage = result.usage if result is not None else run.usage
    columns = st.columns(3)
    columns[0].metric("Spent", costs.spent, help="remote dollars this run spent")
    columns[1].metric(
        "Remote-only", costs.remote_only if result is not None else NONE,
        help="what sending the whole documents to the remote in one call would cost",
    )  # fmt: skip
    columns[2].metric(
        costs.savings_label.capitalize(), costs.savings or NONE,
        help="remote-only dollars over this run's; only for a run that answered",
    )  # fmt: skip
    local, remote = usage.get("local", Usage()), usage.get("remote", Usage())
    st.caption(
        f"Tokens: local {local.total_tokens:,} in {local.calls:,} calls · remote "
        f"{remote.total_tokens:,} in {remote.calls:,} calls"
    )
    if result is None:
        return
    cost = result.cost
    notes = [cost.note] if cost.note else []
    if cost.priced_as and cost.priced_as not in cost.note:
        notes.append(f"priced as {cost.priced_as}")
    if notes:
        st.caption(md("; ".join(notes)))
    if result.privacy.calls:
        st.caption(md(f"Sent of the documents: {exposure(result.privacy)}"))
    t = result.timings
    st.caption(f"Time: {t.total_s:.1f} s in all")
    split = pd.DataFrame(
        {"seconds": [t.local_s, t.remote_s, t.sandbox_s, t.overhead_s]},
        index=["local", "remote", "sandbox", "overhead"],
    )
    st.bar_chart(split, horizontal=True, sort=False, height=160, x_label="seconds")


def markdown_report(run: SavedRun) -> str:
    """The run as Markdown: the question, the answer with its citations, what it cost."""
    result = run.result
    costs = costs_of(run)
    answer = (result.answer if result is not None else None) or "(no answer)"
    lines = [f"# {run.task}", "", f"**Answer** ({STATE_LABEL[run.state]}): {answer}", ""]
    error = (result.error if result is not None else None) or run.error
    if error:
        lines += [f"**What went wrong:** {one_line(error)}", ""]
    lines += [f"**Cost:** {costs.headline}", ""]
    jobs = cited_jobs(result) if result is not None and result.citations else []
    if jobs:
        lines += ["## Citations", ""]
        for job in jobs:
            quote = job.output.citation if job.output else None
            said = f': "{quote}"' if quote else ""
            lines.append(f"- {job.chunk.doc}, {job.chunk.pages}{said} ({_mark(job)})")
        lines.append("")
    lines += [
        "## Run",
        "",
        f"- {run.protocol} · local `{run.local}` · remote `{run.remote}` · {run.seconds:.1f} s",
        f"- documents: {', '.join(run.documents) or NONE}",
        f"- spent {costs.spent}; remote-only {costs.remote_only}"
        + (f"; {costs.savings}" if costs.savings else ""),
        "",
    ]
    return "\n".join(lines)


def _downloads(run: SavedRun) -> None:
    row = st.container(horizontal=True)
    row.download_button(
        "Download as Markdown", markdown_report(run), file_name=f"minions-run-{run.number}.md",
        mime="text/markdown", key=f"download.md.{run.number}",
    )  # fmt: skip
    data = run.result.to_json() if run.result is not None else run.model_dump_json(indent=2)
    row.download_button(
        "Download as JSON", data, file_name=f"minions-run-{run.number}.json",
        mime="application/json", key=f"download.{run.number}",
    )  # fmt: skip


def render_run(run: SavedRun, events: list[Any] | None, documents: Mapping[str, Document]) -> None:
    """A finished run: the answer and its cost line first, the citations, the
    downloads, then the cost details and the transcript. ``events`` are the run's own
    when it ran in this session (else the transcript comes from its Result)."""
    st.subheader(f"Run {run.number}: {STATE_LABEL[run.state]}")
    render_outcome(run)
    if run.result is not None:
        render_citations(run.result, documents)
    _downloads(run)
    st.caption(
        md(f"{run.protocol} · local {run.local} · remote {run.remote} · {run.seconds:.1f} s")
    )
    render_cost(run)
    if events is None:
        events = events_of(run.result) if run.result is not None else []
    if events:
        with st.expander("Transcript: every model call, the remote's code and the jobs"):
            render_rounds(events, live=False)


# --- comparing runs ----------------------------------------------------------------


def runs_rows(runs: list[SavedRun]) -> list[dict[str, Any]]:
    """One row per run, newest first: question, answer, cost and savings first."""
    rows = []
    for run in reversed(runs):
        result, costs = run.result, costs_of(run)
        rows.append(
            {
                "run": run.number,
                "question": run.task,
                "answer": (result.answer if result else None) or NONE,
                "spent": costs.spent,
                "savings": costs.savings or NONE,
                "status": STATE_LABEL[run.state],
                "protocol": run.protocol,
                "local": run.local,
                "remote": run.remote,
                "time (s)": round(run.seconds, 1),
            }
        )
    return rows


RUN_COLUMNS = {
    "run": st.column_config.NumberColumn(format="%d", width="small"),
    "question": st.column_config.TextColumn(width="medium"),
    "answer": st.column_config.TextColumn(width="medium"),
    "spent": st.column_config.TextColumn(help="remote dollars the run spent"),
    "savings": st.column_config.TextColumn(help="against sending the whole documents"),
    "time (s)": st.column_config.NumberColumn(format="%.1f"),
}


def chart_rows(runs: list[SavedRun]) -> pd.DataFrame:
    """Dollars of each answered, priced run next to its remote-only estimate, one row
    a run."""
    rows = {}
    for run in runs:
        result = run.result
        if result is None or result.status != "answered":
            continue
        spent, remote_only = result.cost.total_usd, result.cost.remote_only_usd
        if spent is not None and remote_only is not None:
            rows[f"Run {run.number}"] = {"this run": spent, "remote-only": remote_only}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["this run", "remote-only"])


def render_chart(runs: list[SavedRun]) -> None:
    """A bar chart of what each answered run cost against sending everything."""
    rows = chart_rows(runs)
    if rows.empty:
        return
    st.bar_chart(rows, stack=False, sort=False, height=260, y_label="remote dollars ($)")


def render_runs(runs: list[SavedRun]) -> None:
    """The table of runs and the chart that compares their cost."""
    st.dataframe(
        pd.DataFrame(runs_rows(runs)), hide_index=True, width="stretch",
        column_config=RUN_COLUMNS, placeholder=NONE,
    )  # fmt: skip
    render_chart(runs)
