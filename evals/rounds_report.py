"""Does a second MinionS round help, and does the feedback steer it? (issue 15, item 3)

    python -m minions.evals.rounds_report OUT

``OUT`` holds the eval runs of the same questions, under ``rounds-1`` (MinionS with
``max_rounds=1``) and ``rounds-2`` (``max_rounds=2``, with ``--traces``): each an eval
run folder or a folder of them (``evals/run_rounds.sh`` makes one a question, so a
partial run is paired). Written to ``OUT/report.md`` and printed:

- each run's accuracy with its bootstrap interval and mean remote $ a question, and
  the paired difference (2 rounds - 1) on the questions both decided;
- of the two-round run, the questions whose remote asked for a second round, the ones
  whose feedback named pages (or chunks) that the second round then read in place of
  retrieval, and the share of second-round jobs that lay on the pages it named.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from minions.formatting import percent, usd
from minions.types import Result

from .report import bootstrap_ci, interval, paired_difference_ci, paired_outcomes
from .runner import RESULTS, TRACES, EvalRow, read_rows

RUNS = ("rounds-1", "rounds-2")
#: the note MinionS adds to a round that read the pages the feedback named
STEERED = "as the feedback asked"


def _outcomes(rows: Sequence[EvalRow]) -> dict[str, bool]:
    return {r.example_id: bool(r.score.correct) for r in rows if r.score.correct is not None}


def steering(traces: Sequence[Result]) -> dict[str, int]:
    """Counts over saved Results of the two-round run (see the module)."""
    counts = {"questions": len(traces), "second_round": 0, "steered": 0, "jobs": 0, "on_named": 0}
    for result in traces:
        if len(result.rounds) < 2:
            continue
        counts["second_round"] += 1
        second = result.rounds[1]
        if any(STEERED in note for note in second.notes):
            counts["steered"] += 1
            named = _named_pages(second.notes)
            counts["jobs"] += len(second.jobs)
            counts["on_named"] += sum(
                bool(named & set(range(j.chunk.page_start, j.chunk.page_end + 1)))
                for j in second.jobs
            )
    return counts


def _named_pages(notes: Sequence[str]) -> set[int]:
    for note in notes:
        if STEERED in note and " on pages " in note:
            listed = note.split(" on pages ", 1)[1].split(",")
            return {int(p.split()[0]) for p in listed if p.strip()[:1].isdigit()}
    return set()


def _runs(folder: Path) -> list[Path]:
    """The eval run folders at ``folder``: itself, or those one level below."""
    if (folder / RESULTS).exists():
        return [folder]
    return sorted(p for p in folder.glob("*") if (p / RESULTS).exists())


def _rows(folder: Path) -> list[EvalRow]:
    return [row for run in _runs(folder) for row in read_rows(run)]


def _traces(folder: Path) -> list[Result]:
    found = sorted(p for run in _runs(folder) for p in (run / TRACES).glob("*/*.json"))
    return [Result.model_validate_json(p.read_text(encoding="utf-8")) for p in found]


def report(out: Path) -> str:
    rows = {name: _rows(out / name) for name in RUNS}
    outcomes = {name: _outcomes(found) for name, found in rows.items()}
    lines = [
        "# MinionS: two rounds against one",
        "",
        "| run | decided | accuracy (95% CI) | remote $/q |",
        "|---|---|---|---|",
    ]
    for name in RUNS:
        values = list(outcomes[name].values())
        priced = [r.remote_usd for r in rows[name] if r.remote_usd is not None]
        mean_usd = sum(priced) / len(priced) if priced else None
        accuracy = percent(sum(values) / len(values)) if values else "n/a"
        lines.append(
            f"| {name} | {len(values)} | {accuracy} ({interval(bootstrap_ci(values))}) "
            f"| {usd(mean_usd)} |"
        )
    two, one = paired_outcomes(outcomes["rounds-2"], outcomes["rounds-1"])
    if two:
        diff = (sum(two) - sum(one)) / len(two)
        lines += [
            "",
            f"Two rounds - one, on the {len(two)} question{'s' * (len(two) != 1)} both "
            f"decided: {diff * 100:+.1f} "
            f"pts ({interval(paired_difference_ci(two, one), signed=True)}).",
        ]
    counts = steering(_traces(out / "rounds-2"))
    share = percent(counts["on_named"] / counts["jobs"]) if counts["jobs"] else "n/a"
    lines += [
        "",
        f"Of the two-round run's {counts['questions']} saved runs, {counts['second_round']} "
        f"went to a second round; in {counts['steered']} of those the feedback named pages "
        f"the second round read in place of retrieval, and {counts['on_named']} of their "
        f"{counts['jobs']} second-round jobs ({share}) lay on the pages named.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    text = report(out)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
