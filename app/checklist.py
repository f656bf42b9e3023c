"""The setup checklist, the first thing on the page: document · local model · remote
model, each ready or not, with the one thing to do when it is not (pull a pack with a
progress bar, paste a key, start Ollama). Run waits until all three are ready.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import streamlit as st

from minions.app import choices, inputs
from minions.app.choices import ModelChoice, Status
from minions.errors import MinionsError, one_line

# Material icons ship with Streamlit, so they show where no emoji font is installed
READY_ICON = ":material/check_circle:"
NOT_READY_ICON = ":material/error:"
T = TypeVar("T")
#: what the first step picked: the demo's documents, or a batch's
P = TypeVar("P")


@dataclass(frozen=True)
class Step:
    """One item of the checklist."""

    number: int
    name: str
    status: Status


@dataclass(frozen=True)
class Setup(Generic[P]):
    """What the checklist picked, and whether each step is ready."""

    picked: P
    local: ModelChoice
    remote: ModelChoice
    steps: tuple[Step, ...]

    @property
    def ready(self) -> bool:
        return all(step.status.ready for step in self.steps)

    def waiting_for(self) -> list[str]:
        """What Run waits for, in a few words each."""
        return [step.status.todo for step in self.steps if not step.status.ready]


def document_status(picked: inputs.Picked) -> Status:
    if picked.documents:
        return Status(True, inputs.describe(picked.documents))
    return Status(
        False, "Add a document: pick the bundled example, upload a file or paste text.",
        "add a document",
    )  # fmt: skip


def _pull(pack: str) -> None:
    """Pull ``pack`` with a progress bar here; the page is drawn again once it is there."""
    try:
        choices.pull_pack(pack)
    except MinionsError as exc:
        st.error(f"Pulling {pack} failed: {one_line(str(exc))}")
        return
    st.rerun()


def show_status(status: Status, key: str) -> None:
    """A step's state, and the button of its one action when it has one."""
    if status.ready:
        st.success(status.text, icon=READY_ICON)
        return
    st.warning(status.text, icon=NOT_READY_ICON)
    if status.pull is not None:
        size = choices.pack_size(status.pull)
        if st.button(f"Pull {status.pull} ({size})", key=f"pull.{key}.{status.pull}",
                     type="primary"):  # fmt: skip
            _pull(status.pull)
    elif status.recheck and st.button("Check again", key=f"recheck.{key}"):
        choices.ollama_models.clear()
        st.rerun()


def _header(number: int, name: str, status: Status) -> None:
    mark = f":green[{READY_ICON} ready]" if status.ready else f":orange[{NOT_READY_ICON} not ready]"
    st.markdown(f"**{number} · {name}** {mark}")


def _step(
    number: int, name: str, key: str, pick: Callable[[], T], status: Callable[[T], Status]
) -> tuple[T, Step]:
    """One step in its column: its header (drawn once its state is known), the picker,
    then its state and action."""
    title = st.empty()
    picked = pick()
    state = status(picked)
    with title.container():
        _header(number, name, state)
    show_status(state, key)
    return picked, Step(number, name, state)


def render_checklist() -> Setup[inputs.Picked]:
    """The demo's three steps side by side (stacked on a narrow screen)."""
    return render_steps("Document", inputs.pick_documents, document_status)


def render_steps(name: str, pick: Callable[[], P], status: Callable[[P], Status]) -> Setup[P]:
    """The three steps side by side: ``name`` (the documents, from ``pick``, ready by
    ``status``), then the local and the remote model."""
    columns = st.columns(3, border=True)
    with columns[0]:
        picked, document = _step(1, name, "document", pick, status)
    with columns[1]:
        local, local_step = _step(2, "Local model", "local", choices.pick_local, ModelChoice.status)
    with columns[2]:
        remote, remote_step = _step(
            3, "Remote model", "remote", choices.pick_remote, ModelChoice.status
        )
    return Setup(picked, local, remote, (document, local_step, remote_step))
