"""The batch page: one protocol over many documents x questions, a row for each pair.

The documents are uploaded files or a folder on this machine; the questions are typed
one a line; the models come from the same checklist as the Ask page and the protocol
from the same sidebar. Run calls :func:`minions.batch.batch_async`, the library's batch,
in the background (:class:`minions.app.runner.BatchHandle`); a fragment polls it for a
live table of the rows and the progress. Every row is written to the output folder as it
finishes, so Stop keeps the finished rows, and running again into the same folder
resumes: the rows already there are skipped. Once the batch ends, its CSV and Parquet
files can be downloaded.

The navigation of ``streamlit_app.py`` runs this file as the page's script.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from minions.app import checklist, history, inputs, views
from minions.app.choices import Status
from minions.app.common import POLL_S, Settings, guarded, make_clients, run_button, sidebar
from minions.app.runner import BatchHandle
from minions.batch import BatchProgress, BatchResult, batch_async
from minions.batch_inputs import BatchDocument, collect_documents
from minions.batch_rows import BatchRow
from minions.documents import Document
from minions.errors import MinionsError, one_line
from minions.formatting import duration, usd
from minions.rowstore import RESULTS

#: the session's batch: running, or the last one that ended
BATCH = "batch"
SOURCES = ["upload files", "a folder on this machine"]
ROW_COLUMNS = ["document", "question", "status", "answer", "remote $", "wall s"]
RESUME_NOTE = (
    "Running again into the same folder resumes: the rows already there are skipped, so a "
    "stopped batch goes on where it ended. A folder keeps one protocol, its options and "
    "the models; other settings into it are refused, so pick a new folder for them."
)


@dataclass(frozen=True)
class Sources:
    """The documents of a batch (uploads loaded here, or a folder's files that the
    batch loads), and what is wrong with them when they cannot run."""

    documents: list[Document | BatchDocument]
    problem: str | None = None

    @property
    def names(self) -> list[str]:
        return [d.name if isinstance(d, Document) else d.id for d in self.documents]

    def status(self) -> Status:
        if self.problem:
            return Status(False, views.md(self.problem), "fix the documents")
        if not self.documents:
            return Status(
                False, "Upload documents, or type the path of a folder of them.", "add documents"
            )
        names = self.names
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        plural = "s" * (len(names) != 1)
        return Status(True, views.md(f"{len(names)} document{plural}: {shown}"))


def folder_sources(typed: str) -> Sources:
    """The documents in the folder at ``typed`` (searched recursively)."""
    if not typed:
        return Sources([])
    folder = Path(typed).expanduser()
    if not folder.is_dir():
        return Sources(
            [], f"There is no folder at {folder}: type the path of a folder on this machine."
        )
    try:
        return Sources(list(collect_documents([folder])))
    except (MinionsError, OSError) as exc:
        return Sources([], one_line(str(exc)))


def upload_sources(documents: list[Document]) -> Sources:
    names = [d.name for d in documents]
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        return Sources([], f"Two uploads are named {twice}: rows are told apart by name.")
    return Sources(list(documents))


def pick_sources() -> Sources:
    """Where the documents come from, and the documents."""
    source = st.radio("From", SOURCES, horizontal=True, key="batch.source")
    if source == SOURCES[0]:
        return upload_sources(inputs.uploaded_documents("batch.uploads"))
    typed = st.text_input(
        "Folder", key="batch.folder", placeholder="/path/to/documents",
        help="Searched recursively for PDF, text, Markdown and HTML files; a document's id "
        "is its path inside the folder.",
    )  # fmt: skip
    return folder_sources(typed.strip())


def ask_questions() -> list[str]:
    """The questions typed, one a line, each once."""
    text = st.text_area(
        "Questions, one a line", key="batch.questions", height=120,
        help="Every question is asked of every document: a row for each pair.",
    )  # fmt: skip
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def default_out() -> Path:
    return history.data_dir() / "batches" / "batch"


def batch_options() -> tuple[str, int | None]:
    """The output folder and how many rows run at once (None: the local model's own)."""
    left, right = st.columns([3, 1])
    out = left.text_input(
        "Output folder", str(default_out()), key="batch.out",
        help="Gets run.json (the settings), results.jsonl (a row a line, written as each "
        "row finishes), and results.parquet and results.csv when the batch ends.",
    )  # fmt: skip
    concurrency = right.number_input(
        "Rows at once", min_value=1, value=None, step=1, key="batch.concurrency",
        placeholder="the local model's", help="Blank: as many as the local model serves at "
        "once (one for a model in this process).",
    )  # fmt: skip
    st.caption(RESUME_NOTE)
    return out.strip(), int(concurrency) if concurrency else None


def row_table(rows: Sequence[BatchRow]) -> pd.DataFrame:
    """The live table: a row's document, question, status, answer (or what went wrong),
    remote dollars and wall time."""
    return pd.DataFrame(
        [
            {
                "document": row.doc_id,
                "question": row.question,
                "status": views.STATE_LABEL.get(row.status, row.status),
                "answer": row.answer if row.answer is not None else row.error,
                "remote $": usd(row.remote_usd),
                "wall s": row.wall_s,
            }
            for row in rows
        ],
        columns=ROW_COLUMNS,
    )


def render_rows(rows: Sequence[BatchRow]) -> None:
    st.dataframe(row_table(rows), hide_index=True, width="stretch", placeholder=views.NONE)


def render_progress(progress: BatchProgress | None) -> None:
    """Rows done of all, rows/min, the ETA, and remote dollars against remote-only."""
    if progress is None:
        st.progress(0.0, text="reading the documents and the output folder")
        return
    text = f"{progress.done} of {progress.total} rows done"
    if progress.done_before:
        text += f" ({progress.done_before} before this run)"
    st.progress(progress.done / progress.total if progress.total else 1.0, text=text)
    rate = progress.rows_per_min
    columns = st.columns(4)
    columns[0].metric("Rows/min", f"{rate:.1f}" if rate else views.NONE)
    columns[1].metric("ETA", duration(progress.eta_s))
    render_costs(progress, columns[2], columns[3])
    notes = [f"{progress.in_flight} in flight"] if progress.in_flight else []
    notes += [f"{progress.errors} ended in an error"] if progress.errors else []
    if notes:
        st.caption(" · ".join(notes))


def render_costs(progress: BatchProgress, spent: Any, whole: Any) -> None:
    """The remote dollars of every row so far, and what sending each document whole to
    the remote would have cost, in the columns ``spent`` and ``whole``."""
    spent.metric("Remote $", usd(progress.remote_usd))
    whole.metric(
        "Remote-only $", usd(progress.remote_only_usd),
        help="What sending every document whole to the remote model would have cost.",
    )  # fmt: skip
    if progress.unpriced:
        st.caption(
            f"{progress.unpriced} rows made remote calls with no known price: set 'Price "
            "remote usage as' in the sidebar to count them."
        )


def start_batch(
    settings: Settings,
    setup: checklist.Setup[Sources],
    questions: list[str],
    out: str,
    concurrency: int | None,
) -> None:
    """Make the clients and start the batch in the background."""
    clients = make_clients(setup)
    if clients is None:
        return
    local, remote = clients
    documents = setup.picked.documents

    def factory(handle: BatchHandle) -> Coroutine[Any, Any, BatchResult]:
        return batch_async(
            documents, questions, out=out, protocol=settings.protocol, local=local,
            remote=remote, price_as=settings.price_as, concurrency=concurrency,
            on_start=handle.on_start, on_row=handle.on_row, **settings.options,
        )  # fmt: skip

    st.session_state[BATCH] = BatchHandle(Path(out), factory).start()
    st.rerun()  # draw the page again with Run disabled and the live view


@st.fragment(run_every=POLL_S)
def live_view() -> None:
    """The batch in flight, redrawn every POLL_S seconds; a full rerun when it ends."""
    handle: BatchHandle | None = st.session_state.get(BATCH)
    if handle is None:
        return
    if handle.done:
        st.rerun()
    st.subheader("Batch: running")
    st.button("Stop", on_click=handle.cancel, key="batch.stop", type="secondary")
    st.caption(views.md(f"Stop ends the rows in flight; every finished row stays in {handle.out}."))
    render_progress(handle.progress)
    render_rows(handle.rows)


def _downloads(result: BatchResult) -> None:
    files = [(result.csv, "text/csv"), (result.parquet, "application/vnd.apache.parquet")]
    for column, (path, mime) in zip(st.columns(len(files)), files, strict=True):
        if path is not None:
            column.download_button(
                f"Download {path.name}", path.read_bytes(), file_name=path.name, mime=mime,
                key=f"batch.download.{path.suffix.lstrip('.')}", width="stretch",
            )  # fmt: skip


def show_ended(handle: BatchHandle) -> None:
    """How the last batch ended: its rows, its cost and its files; or what stopped it."""
    result = handle.result
    if result is None:  # stopped, or failed
        rows = handle.rows
        if handle.error:
            st.error(views.md(f"The batch failed: {handle.error}"))
        else:
            st.warning(f"Stopped: {len(rows)} new row{'s' * (len(rows) != 1)} finished.")
        if rows or handle.stopped:
            render_rows(rows)
            st.caption(
                views.md(
                    f"Every finished row is kept in {handle.out / RESULTS}: Run again with the "
                    "same output folder to run the rest."
                )
            )
        return
    progress = result.progress
    new = progress.done - progress.done_before
    if not new:
        st.success(
            views.md(
                f"Nothing new to run: all {progress.total} rows were already in {result.out}, "
                "from an earlier run into this folder (0 rows run now)."
            )
        )
    else:
        skipped = progress.done_before
        before = f"; {skipped} were done before and skipped" if skipped else ""
        st.success(f"Finished: {new} row{'s' * (new != 1)} run in {handle.seconds:.0f} s{before}.")
    if progress.errors:
        st.warning(f"{progress.errors} rows ended in an error: their answer column says why.")
    render_costs(progress, *st.columns(2))
    render_rows(result.rows)
    _downloads(result)
    st.caption(views.md(f"All of it is in {result.out}."))


def page() -> None:
    st.title("Batch")
    st.caption(
        "One protocol over many documents x questions: a row for each pair, written as it "
        "finishes, and a CSV and Parquet file of them at the end."
    )
    setup = checklist.render_steps("Documents", pick_sources, Sources.status)
    settings = sidebar(setup.remote.default_price_as)
    questions = ask_questions()
    out, concurrency = batch_options()
    waiting = setup.waiting_for()
    if not questions:
        waiting.append("type a question")
    if not out:
        waiting.append("name an output folder")
    if settings.options_error:
        waiting.append("fix the protocol's options in the sidebar")
    handle: BatchHandle | None = st.session_state.get(BATCH)
    running = handle is not None and not handle.done
    busy = "A batch is going on: wait for it or stop it." if running else None
    if run_button(waiting, busy, key="batch.run"):
        start_batch(settings, setup, questions, out, concurrency)
    if running:
        live_view()
    elif handle is not None:
        show_ended(handle)


if __name__ == "__main__":  # the navigation runs this file as the page's script
    guarded("Drawing the page", page)
