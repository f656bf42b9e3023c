"""Loading (pages/s) and chunking (chunks/s) throughput.

    python benchmarks/load_and_chunk.py                 # a FinanceBench 10-K from ../shared
    python benchmarks/load_and_chunk.py report.pdf      # your own PDF
    python benchmarks/load_and_chunk.py --doc NIKE_2023_10K --repeat 5

Without a PDF, the FinanceBench 10-K's page texts are written into a PDF with fpdf2
(the dev extra) in a temporary folder, so loading measures pypdfium2 on real filing
text (in small type a long page flows onto more PDF pages); building the Document
straight from the stored pages is timed too, and the chunkers run on that Document.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from minions.chunking import CHUNKERS
from minions.documents import Document, load_document

FINANCEBENCH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "financebench"
DEFAULT_DOC = "3M_2018_10K"


def best_time(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs, and what the last run returned."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def financebench_pages(doc_name: str) -> list[str]:
    path = FINANCEBENCH / "documents.jsonl.gz"
    if not path.is_file():
        sys.exit(f"{path} not found: pass a PDF path instead")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record["doc_name"] == doc_name:
                return list(record["pages"])
    sys.exit(f"no document {doc_name!r} in {path}")


def write_pdf(pages: list[str], path: Path) -> None:
    """The pages in small type, a new PDF page for each (a long one flows onto more);
    the core fonts take Latin-1 only."""
    from fpdf import FPDF

    pdf = FPDF(format="letter")
    pdf.set_font("helvetica", size=6)
    for text in pages:
        pdf.add_page()
        latin1 = text.encode("latin-1", "replace").decode("latin-1")
        pdf.multi_cell(0, 2.2, latin1)
    pdf.output(str(path))


def report_chunking(doc: Document, repeat: int) -> None:
    megabytes = len(doc.text) / 1e6
    for name, chunker in CHUNKERS.items():
        seconds, chunks = best_time(partial(chunker, doc), repeat)
        print(
            f"  chunk {name:<10} {len(chunks):6d} chunks  {len(chunks) / seconds:10,.0f} "
            f"chunks/s  {megabytes / seconds:6.1f} MB/s  ({seconds * 1000:.1f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pdf", nargs="?", type=Path, help="a PDF to load instead of FinanceBench")
    parser.add_argument("--doc", default=DEFAULT_DOC, help="FinanceBench doc_name")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    args = parser.parse_args()

    pdf: Path = args.pdf
    with tempfile.TemporaryDirectory() as folder:
        if args.pdf is None:
            pages = financebench_pages(args.doc)
            seconds, doc = best_time(lambda: Document.from_pages(pages, name=args.doc), args.repeat)
            print(f"{args.doc}: {len(pages)} pages, {len(doc.text):,} characters")
            print(f"  Document.from_pages  {len(pages) / seconds:10,.0f} pages/s")
            pdf = Path(folder) / f"{args.doc}.pdf"
            write_pdf(pages, pdf)
        seconds, loaded = best_time(lambda: load_document(pdf), args.repeat)
        print(f"{loaded.name}: {loaded.page_count} pages, {len(loaded.text):,} characters")
        print(f"  load_document (PDF)  {loaded.page_count / seconds:10,.0f} pages/s")
    # chunk the filing as stored (its real pages), or the PDF given
    report_chunking(loaded if args.pdf else doc, args.repeat)


if __name__ == "__main__":
    main()
