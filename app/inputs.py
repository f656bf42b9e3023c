"""Where the documents and the question come from: a bundled example, uploaded files
or pasted text. Every loader failure becomes a message, never a traceback."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from minions.documents import SUPPORTED_TYPES, Document, load_document
from minions.errors import DocumentError, one_line

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).parent.parent / "examples"  # minions/examples
UPLOAD_TYPES = ["pdf", "txt", "md", "markdown", "html", "htm"]
SOURCES = ["bundled example", "upload files", "paste text"]


@dataclass(frozen=True)
class Example:
    """A question about a bundled document, with the answer it expects."""

    id: str
    document: Path
    question: str
    answer: str


def bundled_examples(directory: Path = EXAMPLES_DIR) -> list[Example]:
    """The examples in ``directory/questions.json`` (none when it is not there, e.g. in
    an installed wheel)."""
    try:
        entries = json.loads((directory / "questions.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [
        Example(e["id"], directory / e["document"], e["question"], e.get("answer", ""))
        for e in entries
        if (directory / e["document"]).is_file()
    ]


@st.cache_data(max_entries=32, show_spinner=False)
def load_upload(name: str, data: bytes) -> Document:
    """An uploaded file as a Document, through the documents loader.

    The loader reads paths, so the bytes go to a private temporary file that is gone
    before this returns. Raises :class:`DocumentError` with the loader's message.
    """
    filename = Path(name).name or "upload"
    with tempfile.TemporaryDirectory(prefix="minions-upload-") as tmp:
        path = Path(tmp) / filename
        path.write_bytes(data)
        try:
            loaded = load_document(path)
        except DocumentError as exc:  # the loader names the file by its temporary path
            message = one_line(str(exc)).replace(str(path), filename).replace(tmp, "")
            raise DocumentError(message) from None
        except Exception as exc:  # a parser failure the loader did not anticipate
            logger.exception("loading upload %s failed", filename)
            raise DocumentError(
                f"{filename} could not be read. Check that it opens in another program, or "
                f"save it again as one of: {SUPPORTED_TYPES}."
            ) from exc
    # the temporary path means nothing to anyone: the source is the upload's name
    return Document.from_pages(
        loaded.pages, name=filename, type=loaded.metadata.type, source=filename
    )


def describe(documents: list[Document]) -> str:
    """``name: 3 pages, ~2,100 tokens`` for each document."""
    return "; ".join(
        f"**{d.name}**: {d.page_count} page{'s' * (d.page_count != 1)}, "
        f"~{d.metadata.approx_tokens:,} tokens"
        for d in documents
    )


@dataclass(frozen=True)
class Picked:
    """The documents picked, and the question box that goes with them."""

    documents: list[Document]
    #: the question box's key: one per example (so its question is the default), one
    #: for uploads, one for pasted text
    question_key: str
    suggested_question: str = ""


def _from_example(examples: list[Example]) -> Picked:
    if not examples:
        st.info("No bundled examples here (they ship with the source tree, in examples/).")
        return Picked([], "question.example")
    example = st.selectbox(
        "Example", examples, format_func=lambda e: f"{e.document.name}: {e.id}", key="example"
    )
    if example is None:
        return Picked([], "question.example")
    st.caption(f"Expected answer: {example.answer}")
    return Picked([load_document(example.document)], f"question.{example.id}", example.question)


def uploaded_documents(key: str) -> list[Document]:
    """A file uploader for several documents, and those that load (each file that does
    not is a message)."""
    files = st.file_uploader(
        f"Documents ({SUPPORTED_TYPES})",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key=key,
    )
    documents = []
    for file in files or []:
        try:
            documents.append(load_upload(file.name, file.getvalue()))
        except DocumentError as exc:
            st.error(f"Cannot use {file.name}: {exc}")
    return documents


def _from_uploads() -> Picked:
    return Picked(uploaded_documents("uploads"), "question.upload")


def _from_paste() -> Picked:
    text = st.text_area(
        "Document text", height=160, key="pasted", help="Form feeds (\\f) separate pages."
    )
    documents = [Document.from_text(text, name="pasted text")] if text.strip() else []
    return Picked(documents, "question.paste")


def pick_documents() -> Picked:
    """Where the documents come from, and the documents (each failure a message)."""
    source = st.radio("From", SOURCES, horizontal=True, key="source")
    if source == "bundled example":
        return _from_example(bundled_examples())
    if source == "upload files":
        return _from_uploads()
    return _from_paste()


def ask_question(picked: Picked) -> str:
    """The question box for ``picked`` (an example's question is its default)."""
    question = st.text_area("Question", picked.suggested_question, key=picked.question_key)
    return question.strip()
