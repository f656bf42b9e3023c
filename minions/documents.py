"""Documents: load PDF, plain text, Markdown and HTML files into ``Document(pages)``.

``load_document`` takes a path, raw text or a ``Document`` and picks the loader by
content (the ``%PDF-`` magic, an HTML opening) and file suffix. Heavy libraries
(pypdfium2, charset-normalizer) load only when a file needs them, so importing this
module stays cheap.

Every failure raises ``minions.errors.DocumentError`` with the file's name and what to
do next.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from minions.errors import DocumentError
from minions.tokens import approx_tokens

if TYPE_CHECKING:
    from pypdfium2 import PdfPage

__all__ = [
    "PAGE_BREAK",
    "SUFFIXES",
    "SUPPORTED_TYPES",
    "Document",
    "DocumentMetadata",
    "DocumentType",
    "load_document",
    "load_documents",
]

logger = logging.getLogger(__name__)

DocumentType = Literal["pdf", "text", "markdown", "html"]

#: Joins pages into ``Document.text``; a text file's form feeds split it into pages.
PAGE_BREAK = "\f"

#: A str longer than this, or holding a newline, is raw text rather than a path.
MAX_PATH_CHARS = 1024

_SUFFIX_TYPES: dict[str, DocumentType] = {
    ".pdf": "pdf",
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}
SUPPORTED_TYPES = "PDF (.pdf), plain text (.txt), Markdown (.md, .markdown), HTML (.html, .htm)"
#: File suffixes of the supported types (what a folder of documents is searched for).
SUFFIXES = frozenset(_SUFFIX_TYPES)

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
#: How much of a file the binary check reads (the start, as git and grep do).
BINARY_SAMPLE = 8192
#: Bytes with a larger share of control characters are binary data.
MAX_CONTROL_SHARE = 0.1
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")  # C0 but \t \n \f \r
_HTML_START = re.compile(r"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.I | re.S)


class DocumentMetadata(BaseModel):
    """What a protocol may tell the remote model about a document without its text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str | None = None
    type: DocumentType = "text"
    page_count: int = Field(ge=0)
    char_count: int = Field(ge=0)
    approx_tokens: int = Field(ge=0)


class Document(BaseModel):
    """A named document as a list of page texts (1-based page numbers in citations).

    ``text`` joins the pages with ``PAGE_BREAK`` (a form feed); chunk offsets index it.
    Build one with ``Document.from_text``, ``Document.from_pages`` or ``load_document``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    pages: list[str]
    metadata: DocumentMetadata

    @model_validator(mode="after")
    def _metadata_matches_pages(self) -> Document:
        chars = sum(map(len, self.pages)) + max(len(self.pages) - 1, 0)
        if (self.metadata.page_count, self.metadata.char_count) != (len(self.pages), chars):
            raise ValueError(
                "metadata.page_count and metadata.char_count must match the pages; "
                "build documents with Document.from_pages or Document.from_text"
            )
        return self

    @classmethod
    def from_pages(
        cls,
        pages: Iterable[str],
        *,
        name: str,
        type: DocumentType = "text",
        source: str | Path | None = None,
    ) -> Document:
        """A document from page texts, with its metadata computed."""
        pages = list(pages)
        text = PAGE_BREAK.join(pages)
        metadata = DocumentMetadata(
            source=None if source is None else str(source),
            type=type,
            page_count=len(pages),
            char_count=len(text),
            approx_tokens=approx_tokens(text),
        )
        doc = cls(name=name, pages=pages, metadata=metadata)
        doc.__dict__["text"] = text  # prime the cached property
        return doc

    @classmethod
    def from_text(
        cls,
        text: str,
        name: str = "text",
        *,
        type: DocumentType = "text",
        source: str | Path | None = None,
    ) -> Document:
        """A document from one string; form feeds (``\\f``) in it separate pages."""
        return cls.from_pages(text.split(PAGE_BREAK), name=name, type=type, source=source)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copy = super().model_copy(update=update, deep=deep)
        for cached in ("text", "page_offsets"):  # may be stale after an update
            copy.__dict__.pop(cached, None)
        return copy

    @cached_property
    def text(self) -> str:
        """The pages joined by ``PAGE_BREAK``."""
        return PAGE_BREAK.join(self.pages)

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @cached_property
    def page_offsets(self) -> list[int]:
        """Where each page starts in ``text``."""
        offsets, at = [], 0
        for page in self.pages:
            offsets.append(at)
            at += len(page) + len(PAGE_BREAK)
        return offsets


def load_document(path_or_text: str | Path | Document, *, name: str | None = None) -> Document:
    """Load a file, wrap raw text, or pass a ``Document`` through.

    A ``str`` is a path when a file or directory of that name exists; otherwise it is
    raw text when it holds a newline or is longer than ``MAX_PATH_CHARS`` characters,
    and an error when it is neither (a short line naming no file is most likely a
    mistyped path). ``Document.from_text`` always takes text as text.

    ``name`` defaults to the file name (``report.pdf``), or ``"text"`` for raw text.
    """
    if isinstance(path_or_text, Document):
        if name is None or name == path_or_text.name:
            return path_or_text
        return path_or_text.model_copy(update={"name": name})
    if isinstance(path_or_text, Path):
        return _load_file(path_or_text, name)
    if not isinstance(path_or_text, str):
        raise DocumentError(
            f"load_document takes a path, a str or a Document, not {type(path_or_text).__name__}"
        )
    if _is_existing_path(path_or_text):
        return _load_file(Path(path_or_text), name)
    if "\n" in path_or_text or len(path_or_text) > MAX_PATH_CHARS:
        return _document_from_text(path_or_text, name or "text", None, None)
    if not path_or_text.strip():
        raise DocumentError("load_document got an empty string; pass a file path or some text")
    raise DocumentError(
        f"No such file: {path_or_text!r}. Check the path; to use a short string as the "
        "document's text, call Document.from_text(...) instead."
    )


def load_documents(paths: Iterable[str | Path | Document]) -> list[Document]:
    """``load_document`` over several paths, texts or documents, in order."""
    if isinstance(paths, str | Path):
        raise DocumentError(
            "load_documents takes a list of paths; for a single file call load_document"
        )
    return [load_document(p) for p in paths]


def _is_existing_path(text: str) -> bool:
    if not text or "\n" in text or len(text) > MAX_PATH_CHARS:
        return False
    try:
        return Path(text).exists()
    except (OSError, ValueError):  # a name too long for the OS, or a NUL character
        return False


def _load_file(path: Path, name: str | None) -> Document:
    if path.is_dir():
        raise DocumentError(
            f"{path} is a directory, not a file; pass the files in it, e.g. "
            f"load_documents(sorted(Path({str(path)!r}).glob('*.pdf')))"
        )
    declared = _SUFFIX_TYPES.get(path.suffix.lower())
    try:
        with path.open("rb") as file:
            head = file.read(1024)
            is_pdf = _is_pdf(head, declared)
            data = head if is_pdf else head + file.read()  # pdfium reads a PDF itself
    except FileNotFoundError:
        raise DocumentError(f"No such file: {path}. Check the path.") from None
    except OSError as e:
        raise DocumentError(f"Cannot read {path}: {e.strerror or e}") from e
    if not data:
        raise DocumentError(f"{path} is empty (0 bytes); pass a file with some text in it")
    if is_pdf:
        return _load_pdf(path, name or path.name)
    if declared == "pdf":
        raise DocumentError(
            f"{path} is damaged or not a PDF: it has no %PDF- header. "
            "Re-download or re-export it, or rename it if it is another kind of file."
        )
    text = _decode(data, path, strict=declared is None)
    return _document_from_text(text, name or path.name, path, declared)


def _is_pdf(head: bytes, declared: DocumentType | None) -> bool:
    """A PDF starts with %PDF-; readers accept junk before it in a file named .pdf."""
    return head.lstrip().startswith(b"%PDF-") or (declared == "pdf" and b"%PDF-" in head)


def _document_from_text(
    text: str, name: str, path: Path | None, declared: DocumentType | None
) -> Document:
    if declared in (None, "text") and _HTML_START.match(text[:4096]):
        declared = "html"
    if declared == "html":
        text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        where = str(path) if path else "The text"
        raise DocumentError(f"{where} holds only whitespace; pass a document with some text")
    return Document.from_text(text, name, type=declared or "text", source=path)


def _decode(data: bytes, path: Path, *, strict: bool) -> str:
    """Bytes to str: a BOM, else UTF-8, else charset-normalizer's best guess; bytes
    that look binary (:func:`_looks_binary`) are not text.

    ``strict`` (for files without a known text suffix) rejects binary content as an
    unsupported type instead of reporting an encoding problem.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as e:
                raise _encoding_error(path, f"it starts with a {encoding} BOM but {e}") from e
    if _looks_binary(data):
        if strict:
            raise _unsupported_type(path)
        raise _encoding_error(path, "it holds NUL bytes or control characters (binary data)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        utf8_problem = e
    from charset_normalizer import from_bytes

    guesses = [(match.encoding, str(match)) for match in from_bytes(data)]
    if guesses:
        encoding, text = _prefer_cp1252(guesses)
        logger.debug("%s: decoded as %s", path, encoding)
        return text
    if strict:
        raise _unsupported_type(path)
    raise _encoding_error(path, f"it is not UTF-8 ({utf8_problem}) and no other encoding fits")


def _looks_binary(data: bytes) -> bool:
    """Whether bytes without a BOM are binary data rather than text: the first
    ``BINARY_SAMPLE`` bytes hold a NUL, or more than ``MAX_CONTROL_SHARE`` of them are
    C0 control characters other than tab, newline, carriage return and form feed
    (UTF-8 and the single-byte encodings use those bytes for nothing else)."""
    sample = data[:BINARY_SAMPLE]
    controls = len(_CONTROL_BYTES.findall(sample))
    return b"\x00" in sample or controls > MAX_CONTROL_SHARE * len(sample)


def _unsupported_type(path: Path) -> DocumentError:
    return DocumentError(
        f"Unsupported file type: {path} (suffix {path.suffix or 'none'!r}) is not text. "
        f"Supported: {SUPPORTED_TYPES}. Convert it to one of these first."
    )


def _prefer_cp1252(guesses: list[tuple[str, str]]) -> tuple[str, str]:
    """charset-normalizer's best (first) guess, except that Windows-1252 wins when the
    best guess also reads as Latin letters and cp1252 reads as many of them: French,
    Spanish or German text in Latin-1 or cp1252 is often ranked as cp1250 or cp1257.
    Latin-1 text decodes the same as cp1252 (the usual default, as in web browsers)."""
    western = next((guess for guess in guesses if guess[0] == "cp1252"), None)
    if western is None:
        return guesses[0]
    best_chars, western_chars = (
        re.findall(r"[^\x00-\x7f]", text) for _, text in (guesses[0], western)
    )
    latin = all(unicodedata.name(ch, "").startswith("LATIN") for ch in best_chars if ch.isalpha())
    if latin and _letter_share(western_chars) >= _letter_share(best_chars):
        return western
    return guesses[0]


def _letter_share(chars: list[str]) -> float:
    return sum(ch.isalpha() for ch in chars) / max(len(chars), 1)


def _encoding_error(path: Path, reason: str) -> DocumentError:
    return DocumentError(
        f"Cannot decode {path}: {reason}. Re-save the file as UTF-8 "
        "(e.g. iconv -f <encoding> -t utf-8) and load it again."
    )


def _load_pdf(path: Path, name: str) -> Document:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise DocumentError(
                f"{path} is password-protected. Decrypt it first, e.g. "
                f"qpdf --decrypt --password=... {path} decrypted.pdf"
            ) from e
        raise DocumentError(
            f"{path} is a damaged PDF that pdfium cannot open ({e}). "
            "Re-download or re-export it, or repair it with e.g. qpdf or mutool clean."
        ) from e
    pages: list[str] = []
    try:
        for page in pdf:
            pages.append(_pdf_page_text(page))
    except pdfium.PdfiumError as e:
        raise DocumentError(
            f"{path}: page {len(pages) + 1} is damaged ({e}). Repair the PDF, e.g. with "
            "qpdf or mutool clean, and load it again."
        ) from e
    finally:
        pdf.close()
    if not pages:
        raise DocumentError(f"{path} has no pages; re-export it from its source")
    empty = [str(i) for i, page in enumerate(pages, 1) if not page.strip()]
    if empty:
        logger.warning(
            "%s: %d of %d pages have no text layer (page numbers: %s); they are kept as "
            "empty pages. If they are scans, run OCR on the file (e.g. ocrmypdf) and load "
            "it again.",
            path,
            len(empty),
            len(pages),
            ", ".join(empty),
        )
    return Document.from_pages(pages, name=name, type="pdf", source=path)


def _pdf_page_text(page: PdfPage) -> str:
    textpage = page.get_textpage()
    try:
        text: str = textpage.get_text_bounded()
    finally:
        textpage.close()
        page.close()
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


# HTML --------------------------------------------------------------------------------

_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "title", "svg"}
_PARAGRAPH_TAGS = {
    "p", "pre", "blockquote", "table", "ul", "ol", "dl", "section", "article",
    "header", "footer", "nav", "aside", "main", "figure", "form", "hr",
}  # fmt: skip
_LINE_TAGS = {"br", "div", "li", "tr", "dt", "dd", "caption", "figcaption", "address"}
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr"}


class _TextExtractor(HTMLParser):
    """Readable text from HTML: blocks on their own lines, headings as Markdown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip: list[str] = []  # open tags whose content is dropped
        self.pre = 0  # depth of <pre>, where whitespace is kept
        self.newlines = 2  # line breaks at the end of the text so far
        self.line_start = True

    def _newlines(self, count: int, prefix: str = "") -> None:
        """End the line (count=1) or paragraph (count=2), then start with ``prefix``."""
        if count > self.newlines:
            if self.parts:
                self.parts[-1] = self.parts[-1].rstrip(" ")
            self.parts.append("\n" * (count - self.newlines))
            self.newlines = count
        self.parts.append(prefix)
        self.line_start = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip or tag in _SKIP_TAGS:
            if tag not in _VOID_TAGS:
                self.skip.append(tag)
        elif tag in _HEADINGS:
            self._newlines(2, "#" * _HEADINGS[tag] + " ")
        elif tag in _PARAGRAPH_TAGS:
            self._newlines(2)
        elif tag in _LINE_TAGS:
            self._newlines(1, "- " if tag == "li" else "")
        elif tag in ("td", "th") and not self.line_start:
            self.parts.append(" ")
        if tag == "pre" and not self.skip:
            self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # <br/> is one line break, not two

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag in self.skip:  # also closes tags left open inside the dropped part
                del self.skip[self.skip.index(tag) :]
            return
        if tag == "pre":
            self.pre = max(self.pre - 1, 0)
        if tag in _HEADINGS or tag in _PARAGRAPH_TAGS:
            self._newlines(2)
        elif tag in _LINE_TAGS:
            self._newlines(1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
            if self.line_start:
                data = data.lstrip(" ")
        if data:
            self.parts.append(data)
            self.newlines = 0
            self.line_start = False

    def text(self) -> str:
        return "".join(self.parts).strip()


def html_to_text(html: str) -> str:
    """HTML to readable text with the standard library's parser.

    Scripts, styles and the head are dropped; headings become Markdown headings
    (``## Title``) so section chunking finds them; block elements start new lines.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return parser.text()
