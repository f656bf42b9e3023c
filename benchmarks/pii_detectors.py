"""The name detectors of the privacy shield, against the medical set's gold list.

    python benchmarks/pii_detectors.py [--pack qwen2.5-coder-0.5b] [--letters 20]

Letters are drawn (seed 0) from the shared medical records; the gold names of a letter
are the ``PERSON`` values of :func:`minions.evals.datasets.longhealth.sensitive_gold`
(the patient and the signing clinician, known from the record's structure), at every
place the letter writes them. Two detectors:

- ``patterns``: :func:`minions.pii.find_spans` (what ``privacy="strict"`` masks);
- ``patterns+local``: the same, with the names of the local model's pass
  (:func:`minions.pii_names.find_names`, what ``privacy="strict+names"`` adds).

Printed per detector: recall of the gold name mentions, the share of its ``PERSON``
spans that are gold mentions (a lower bound on precision: the letters name other
people too), and for the local pass its seconds and tokens per letter and the names it
added that the patterns did not find.

The letters mark their names (a title, "patient"), which is what the patterns look for,
so the run is repeated on the same letters with those markers taken out ("untitled"):
a stand-in for records that name people plainly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEDICAL = ROOT.parent / "shared" / "data" / "medical" / "records_qa.json"
MARKERS = re.compile(r"\b(?:Dr|Mrs|Mr|Ms|Miss|Prof)\.? |\b(?:[Pp]atients?:? )")


def score(text: str, gold: set[tuple[int, int]], names: list[str]) -> tuple[int, int, int]:
    """(gold mentions found, PERSON spans, PERSON spans on a gold mention)."""
    from minions.pii import find_spans

    people = [s for s in find_spans(text, names) if s.kind == "PERSON"]

    def meets(a: int, b: int, c: int, d: int) -> bool:
        return a < d and c < b

    hits = sum(any(meets(s.start, s.end, a, b) for s in people) for a, b in gold)
    kept = sum(any(meets(s.start, s.end, a, b) for a, b in gold) for s in people)
    return hits, len(people), kept


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack", default="qwen2.5-coder-0.5b")
    parser.add_argument("--letters", type=int, default=20)
    args = parser.parse_args()
    if not MEDICAL.exists():
        sys.exit(f"needs the shared medical set at {MEDICAL}")

    from minions.clients import get_client
    from minions.documents import Document
    from minions.evals.datasets.longhealth import sensitive_gold
    from minions.pii import find_spans
    from minions.pii_names import find_names
    from minions.protocols.direct import RemoteOnly
    from minions.run import Run

    records = json.loads(MEDICAL.read_text())
    letters = [(r, t) for r in records.values() for t in r["texts"].values()]
    random.Random(0).shuffle(letters)
    local = get_client(f"llamacpp:{args.pack}")
    for variant in ("as written", "untitled"):
        totals = {"patterns": [0, 0, 0], "patterns+local": [0, 0, 0]}
        gold_total, seconds, tokens, added = 0, 0.0, 0, []
        for i, (record, written) in enumerate(letters[: args.letters], 1):
            text = written if variant == "as written" else MARKERS.sub("", written)
            gold = {
                (m.start(), m.end())
                for kind, value in sensitive_gold(record, written)
                if kind == "PERSON"
                for m in re.finditer(rf"\b{re.escape(value)}\b", text)
            }
            gold_total += len(gold)
            doc = Document.from_pages([text], name=f"letter {i}")
            run = Run(RemoteOnly(), "find the names", [doc], local=local, remote=local)
            started = time.perf_counter()
            names = await find_names(run, [doc])
            seconds += time.perf_counter() - started
            tokens += run.usage["local"].input_tokens + run.usage["local"].output_tokens
            patterned = {s.text for s in find_spans(text) if s.kind == "PERSON"}
            added += [n for n in names if n not in patterned]
            for detector, extra in (("patterns", []), ("patterns+local", names)):
                for j, value in enumerate(score(text, gold, extra)):
                    totals[detector][j] += value
            print(f"{variant} {i}/{args.letters}: {len(gold)} gold mentions, local {names}")

        n = args.letters
        print(f"\n{variant}: {n} letters, {gold_total} gold name mentions; pack {args.pack}")
        print("| detector | recall | PERSON spans | on a gold mention |")
        print("|---|---:|---:|---:|")
        for detector, (hits, found, kept) in totals.items():
            recall = hits / gold_total if gold_total else 0.0
            share = kept / found if found else 0.0
            print(f"| {detector} | {recall:.1%} ({hits}/{gold_total}) | {found} | {share:.1%} |")
        print(f"local pass: {seconds / n:.1f} s and {tokens / n:.0f} tokens per letter")
        print(f"names it added beyond the patterns: {sorted(set(added))}\n")


if __name__ == "__main__":
    asyncio.run(main())
