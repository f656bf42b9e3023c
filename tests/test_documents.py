"""Loading documents: PDF (pypdfium2), text in odd encodings, Markdown, HTML, errors."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError

import minions
from minions.documents import Document, html_to_text, load_document, load_documents
from minions.errors import ConfigurationError, DocumentError
from tests.docs_helpers import encrypt_pdf, pdf_bytes

PAGES = [
    "Quarterly report. Revenue grew seven percent to 1,234 million dollars.",
    "Operating costs fell. The board approved a dividend of 0.52 dollars per share.",
    "Outlook: management expects margins to widen in the second half of the year.",
]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- Document ---------------------------------------------------------------------------


def test_document_from_pages_computes_metadata() -> None:
    doc = Document.from_pages(["one two", "three"], name="d", type="markdown", source="x.md")
    assert doc.text == "one two\fthree"
    assert doc.page_count == 2 and doc.page_offsets == [0, 8]
    meta = doc.metadata
    assert (meta.source, meta.type, meta.page_count, meta.char_count) == ("x.md", "markdown", 2, 13)
    assert meta.approx_tokens == 4


def test_document_from_text_splits_at_form_feeds() -> None:
    doc = Document.from_text("page one\fpage two")
    assert doc.name == "text" and doc.pages == ["page one", "page two"]
    assert Document.from_text("no breaks\nhere").pages == ["no breaks\nhere"]


def test_document_is_frozen_strict_and_consistent() -> None:
    doc = Document.from_text("abc")
    with pytest.raises(ValidationError):
        doc.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        Document(name="d", pages=["a"], metadata=doc.metadata, color="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="must match the pages"):
        Document(name="d", pages=["a", "b"], metadata=doc.metadata)


def test_model_copy_does_not_keep_a_stale_text() -> None:
    doc = Document.from_pages(["a", "b"], name="d")
    assert doc.model_copy(update={"pages": ["x"]}).text == "x"


def test_documents_serialize_without_cached_values() -> None:
    doc = Document.from_pages(["a", "b"], name="d")
    assert set(doc.model_dump()) == {"name", "pages", "metadata"}
    assert Document.model_validate_json(doc.model_dump_json()) == doc


# -- PDF --------------------------------------------------------------------------------


def test_multi_page_pdf_loads_page_by_page(tmp_path: Path) -> None:
    path = write(tmp_path, "report.pdf", pdf_bytes(PAGES))
    doc = load_document(path)
    assert doc.name == "report.pdf" and doc.page_count == 3
    for page, expected in zip(doc.pages, PAGES, strict=True):
        assert " ".join(page.split()) == expected
    assert doc.metadata.type == "pdf" and doc.metadata.source == str(path)
    assert doc.metadata.char_count == len(doc.text)


def test_pdf_is_found_by_its_magic_whatever_the_suffix(tmp_path: Path) -> None:
    doc = load_document(str(write(tmp_path, "download", pdf_bytes(PAGES[:1]))))
    assert doc.metadata.type == "pdf"


def test_encrypted_pdf_with_an_empty_password_opens(tmp_path: Path) -> None:
    from pypdf import PdfReader

    data = encrypt_pdf(pdf_bytes(PAGES))
    assert PdfReader(io.BytesIO(data)).is_encrypted
    doc = load_document(write(tmp_path, "locked.pdf", data))
    assert "dividend" in doc.pages[1]


def test_password_protected_pdf_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.pdf", encrypt_pdf(pdf_bytes(PAGES), user_password="pw"))
    with pytest.raises(DocumentError, match=r"secret\.pdf is password-protected"):
        load_document(path)


def test_image_only_page_is_kept_empty_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "scan.pdf", pdf_bytes([PAGES[0], None, PAGES[2]]))
    with caplog.at_level(logging.WARNING, logger="minions.documents"):
        doc = load_document(path)
    assert doc.page_count == 3 and doc.pages[1] == "" and "Outlook" in doc.pages[2]
    assert "scan.pdf: 1 of 3 pages have no text layer (page numbers: 2)" in caplog.text


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_pdf_raises_naming_the_file(tmp_path: Path, keep: float) -> None:
    data = pdf_bytes(PAGES)
    path = write(tmp_path, "broken.pdf", data[: int(len(data) * keep)])
    with pytest.raises(DocumentError, match=r"broken\.pdf is a damaged PDF"):
        load_document(path)


def test_only_a_leading_header_makes_a_pdf_unless_the_name_says_pdf(tmp_path: Path) -> None:
    notes = write(tmp_path, "notes.md", b"# PDF notes\n\nA PDF file starts with %PDF-1.7.\n")
    assert load_document(notes).metadata.type == "markdown"
    junk_first = write(tmp_path, "mail.pdf", b"X-Junk: header\r\n" + pdf_bytes(PAGES[:1]))
    assert "Quarterly" in load_document(junk_first).text


def test_pdf_suffix_without_a_pdf_header_is_reported_damaged(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"fake\.pdf is damaged or not a PDF"):
        load_document(write(tmp_path, "fake.pdf", b"<html>not a pdf</html>"))


# -- text, Markdown, HTML ---------------------------------------------------------------

ACCENTED = "Le café du garçon coûte 3,50 €. Über naïve façades, señor; déjà vu à l'hôtel.\n" * 3


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-8", ACCENTED),
        ("utf-8-sig", ACCENTED),
        ("utf-16", ACCENTED + "Ελληνικά, русский, 日本語.\n"),  # Python writes a BOM
        ("latin-1", ACCENTED.replace("€", "EUR")),
        ("cp1252", ACCENTED + "\u201cQuoted\u201d \u2013 an en dash\u2026 it\u2019s fine.\n"),
    ],
)
def test_text_in_odd_encodings_is_decoded(tmp_path: Path, encoding: str, text: str) -> None:
    doc = load_document(write(tmp_path, "notes.txt", text.encode(encoding)))
    assert doc.text == text and doc.metadata.type == "text" and doc.page_count == 1


def test_undecodable_bytes_name_the_encoding_problem(tmp_path: Path) -> None:
    data = b"Mostly text.\n" + bytes(range(0x80, 0x100)) * 3 + b"\x00\x01\x02"
    with pytest.raises(
        DocumentError, match=r"Cannot decode .*bad\.txt: .*Re-save the file as UTF-8"
    ):
        load_document(write(tmp_path, "bad.txt", data))


def test_form_feeds_split_a_text_file_into_pages(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "pages.txt", b"one\r\ntwo\fthree\f"))
    assert doc.pages == ["one\ntwo", "three", ""]


def test_markdown_keeps_its_type(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "README.md", b"# Title\n\nBody <b>text</b>.\n"))
    assert doc.metadata.type == "markdown" and doc.text == "# Title\n\nBody <b>text</b>.\n"


HTML = """<!DOCTYPE html>
<html><head><title>Page title</title><style>p { color: red }</style>
<script>var secret = "<p>do not show</p>";</script></head>
<body><h1>Annual   Report</h1><p>Revenue grew <b>7%</b> &amp; costs fell.</p>
<ul><li>First</li><li>Second</li></ul><h2>Outlook</h2><div>Better.</div>
<table><tr><td>Q1</td><td>10</td></tr><tr><td>Q2</td><td>12</td></tr></table>
<pre>  kept
    as is</pre>line<br>break<script>alert("x")</script><noscript>enable js</noscript>
</body></html>"""


def test_html_becomes_readable_text_without_scripts_or_styles() -> None:
    assert html_to_text(HTML) == (
        "# Annual Report\n\nRevenue grew 7% & costs fell.\n\n- First\n- Second\n\n"
        "## Outlook\n\nBetter.\n\nQ1 10\nQ2 12\n\n  kept\n    as is\n\nline\nbreak"
    )


def test_html_files_are_found_by_suffix_or_content(tmp_path: Path) -> None:
    for name in ("page.html", "page.htm", "saved-page.txt", "no-suffix"):
        doc = load_document(write(tmp_path, name, HTML.encode()))
        assert doc.metadata.type == "html" and doc.text.startswith("# Annual Report"), name
        assert "secret" not in doc.text and "color" not in doc.text


# -- what load_document accepts ---------------------------------------------------------


def test_raw_text_and_documents_are_accepted() -> None:
    assert load_document("line one\nline two").pages == ["line one\nline two"]
    assert load_document("x" * 2000, name="long").name == "long"
    doc = Document.from_text("abc")
    assert load_document(doc) is doc
    assert load_document(doc, name="renamed").name == "renamed"
    assert load_document(HTML).metadata.type == "html"


def test_a_path_string_is_loaded_as_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"file text")
    assert load_document(str(path)).text == "file text"
    assert load_documents([path, "raw\ntext"])[1].name == "text"


def test_a_short_line_naming_no_file_is_an_error() -> None:
    with pytest.raises(DocumentError, match=r"No such file: 'report\.pdf'.*Document\.from_text"):
        load_document("report.pdf")


def test_missing_empty_and_blank_inputs_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="No such file"):
        load_document(tmp_path / "gone.txt")
    with pytest.raises(DocumentError, match=r"empty\.txt is empty \(0 bytes\)"):
        load_document(write(tmp_path, "empty.txt", b""))
    with pytest.raises(DocumentError, match=r"blank\.md holds only whitespace"):
        load_document(write(tmp_path, "blank.md", b" \n\t\n"))
    with pytest.raises(DocumentError, match="empty string"):
        load_document("")


def test_a_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="is a directory, not a file; pass the files in it"):
        load_document(tmp_path)
    with pytest.raises(DocumentError, match="is a directory"):
        load_document(str(tmp_path))


def test_unsupported_types_list_the_supported_ones(tmp_path: Path) -> None:
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>" * 50)
    for name, data in [("photo.png", png.getvalue()), ("letter.docx", docx.getvalue())]:
        with pytest.raises(
            DocumentError, match=r"Unsupported file type: .*Supported: PDF \(\.pdf\)"
        ):
            load_document(write(tmp_path, name, data))


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02",
        b"\x01\x02\x03",  # no NUL: control characters only
        "hi there".encode("utf-16-le"),  # valid UTF-8, really UTF-16 without a BOM
        b"\x01abcdefgh" * 10,  # one control character in nine
    ],
)
def test_binary_content_is_not_text(tmp_path: Path, data: bytes) -> None:
    for name in ("blob", "dump.bin"):
        with pytest.raises(
            DocumentError, match=r"Unsupported file type: .* is not text\. Supported: PDF"
        ):
            load_document(write(tmp_path, name, data))
    with pytest.raises(DocumentError, match=r"Cannot decode .*notes\.txt: .*binary data"):
        load_document(write(tmp_path, "notes.txt", data))


def test_text_with_a_few_control_characters_is_still_text(tmp_path: Path) -> None:
    log = "\x1b[31merror\x1b[0m: the disk is full\n\ttry again\f\x07page two\r\n" * 20
    doc = load_document(write(tmp_path, "build.log", log.encode()))
    assert doc.page_count == 21 and "the disk is full" in doc.text


def test_other_text_files_load_as_text(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "data.csv", b"a,b\n1,2\n"))
    assert doc.metadata.type == "text" and doc.text == "a,b\n1,2\n"


def test_wrong_argument_types_are_errors() -> None:
    with pytest.raises(DocumentError, match="not int"):
        load_document(3)  # type: ignore[arg-type]
    with pytest.raises(DocumentError, match="takes a list of paths"):
        load_documents("a.txt")


def test_document_error_is_a_configuration_error() -> None:
    assert issubclass(DocumentError, ConfigurationError)


def test_package_exports_the_loader() -> None:
    assert minions.load_document is load_document
    assert minions.Document is Document


def test_importing_documents_does_not_load_pdf_or_encoding_libraries() -> None:
    code = (
        "import sys, minions.documents\n"
        "assert not {'pypdfium2', 'charset_normalizer'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
