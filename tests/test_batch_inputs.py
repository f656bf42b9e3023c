"""What a batch reads: documents from paths, folders, globs and a manifest; questions
from flags, files and the manifest; the pages kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minions.batch_inputs import (
    BatchDocument,
    PageSelection,
    collect_documents,
    question_id,
    read_manifest,
    read_questions,
)
from minions.documents import Document
from minions.errors import ConfigurationError, DocumentError


def write(path: Path, text: str = "Some text.\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_files_folders_and_globs_get_ids_relative_to_their_common_folder(tmp_path: Path) -> None:
    write(tmp_path / "reports" / "2023" / "acme.txt")
    write(tmp_path / "reports" / "2024" / "acme.md")
    write(tmp_path / "reports" / "2024" / "notes.csv")  # not a document type: not in a folder
    write(tmp_path / "reports" / "2024" / ".hidden" / "x.txt")
    write(tmp_path / "reports" / "2025" / "beta.txt")

    found = collect_documents(
        [tmp_path / "reports" / "2024", str(tmp_path / "reports" / "2023" / "*.txt")]
    )
    assert [d.id for d in found] == ["2024/acme.md", "2023/acme.txt"]
    single = collect_documents([str(tmp_path / "reports" / "2025" / "beta.txt")])
    assert [d.id for d in single] == ["beta.txt"]
    assert single[0].load().name == "beta.txt"
    twice = collect_documents([tmp_path / "reports" / "2025", tmp_path / "reports/2025/beta.txt"])
    assert len(twice) == 1


def test_missing_paths_empty_globs_and_empty_folders_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match=r"no such file or folder: .*quote it"):
        collect_documents([tmp_path / "nope.pdf"])
    with pytest.raises(ConfigurationError, match="matches no file"):
        collect_documents([str(tmp_path / "*.pdf")])
    with pytest.raises(ConfigurationError, match="holds no PDF"):
        collect_documents([tmp_path / "empty"])
    with pytest.raises(ConfigurationError, match="no documents"):
        collect_documents([])


def test_a_manifest_gives_ids_metadata_inline_text_and_questions(tmp_path: Path) -> None:
    write(tmp_path / "docs" / "a.txt", "Alpha text.")
    manifest = tmp_path / "docs" / "manifest.jsonl"
    lines = [
        {"id": "alpha", "path": "a.txt", "metadata": {"sector": "energy"}},
        {"id": "memo", "text": "A short memo.", "questions": ["Who wrote it?"]},
        {
            "id": "paged",
            "pages": ["one", "two"],
            "questions": [{"id": "n", "question": "How many?"}],
        },
        {"path": "a.txt"},
    ]
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")

    docs = read_manifest(manifest)
    assert [d.id for d in docs] == ["alpha", "memo", "paged", "a.txt"]
    assert docs[0].metadata == {"sector": "energy"} and docs[0].load().text == "Alpha text."
    assert [(q.id, q.text) for q in docs[1].questions] == [
        (question_id("Who wrote it?"), "Who wrote it?")
    ]
    assert docs[2].questions[0].id == "n" and docs[2].load().pages == ["one", "two"]
    assert docs[1].load().name == "memo"


def test_every_bad_manifest_line_is_listed_with_what_to_fix(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"id": "a", "path": "missing.pdf"}\n'
        '{"id": "b"}\n'
        '{"text": "no id"}\n'
        '{"id": "c", "text": "x", "colour": "red"}\n'
        "not json\n"
        '{"id": "d", "text": "fine"}\n'
    )
    with pytest.raises(ConfigurationError) as caught:
        read_manifest(manifest)
    message = str(caught.value)
    assert "5 bad lines" in message
    assert "line 1: no such file missing.pdf" in message
    assert "line 2:" in message and 'exactly one of "path", "text", "pages"' in message
    assert "line 3:" in message and 'needs an "id"' in message
    assert "line 4: colour" in message
    assert "line 5:" in message and "line 6" not in message


def test_two_documents_with_one_id_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.txt")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a.txt", "text": "other"}\n')
    with pytest.raises(ConfigurationError, match=r"two documents have the id 'a\.txt'"):
        collect_documents([tmp_path / "a.txt"], manifest)


def test_questions_from_flags_text_files_and_jsonl_keep_their_ids(tmp_path: Path) -> None:
    text = write(tmp_path / "q.txt", "# revenue questions\nWhat was revenue?\n\nWho audits?\n")
    jsonl = write(
        tmp_path / "q.jsonl",
        '{"id": "rev", "question": "What was revenue?"}\n{"question": "Any risks?"}\n',
    )
    flags = read_questions(["Who audits?"], text)
    assert [q.text for q in flags] == ["Who audits?", "What was revenue?"]  # no repeats
    assert flags[0].id == question_id("Who audits?") == question_id("  Who audits? ")
    assert [q.id for q in read_questions([], jsonl)] == ["rev", question_id("Any risks?")]
    clash = write(
        tmp_path / "clash.jsonl", '{"id": "x", "question": "A?"}\n{"id": "x", "question": "B?"}\n'
    )
    with pytest.raises(ConfigurationError, match="question id 'x' names two questions"):
        read_questions([], clash)
    with pytest.raises(ConfigurationError, match="holds no question"):
        read_questions([], write(tmp_path / "none.txt", "# only a comment\n"))


@pytest.mark.parametrize(
    ("spec", "kept", "canonical"),
    [
        ("1-2", [1, 2], "1-2"),
        ("3", [3], "3"),
        (" 1 , 4- ", [1, 4, 5], "1,4-"),
        ("2-3,5", [2, 3, 5], "2-3,5"),
    ],
)
def test_pages_keep_the_selected_pages(spec: str, kept: list[int], canonical: str) -> None:
    document = Document.from_pages([f"page {n}" for n in range(1, 6)], name="five")
    selection = PageSelection.parse(spec)
    assert selection.apply(document).pages == [f"page {n}" for n in kept]
    assert str(selection) == canonical


@pytest.mark.parametrize("spec", ["", "a-b", "0-3", "5-2", "1-2-3"])
def test_a_bad_page_range_says_how_to_write_one(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="--pages"):
        PageSelection.parse(spec)


def test_pages_past_the_end_of_a_document_are_an_error_naming_it() -> None:
    document = BatchDocument(id="short", pages=["one", "two"])
    with pytest.raises(DocumentError, match="short has 2 pages; --pages 5-8 selects none"):
        document.load(PageSelection.parse("5-8"))
