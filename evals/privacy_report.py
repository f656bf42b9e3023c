"""The privacy report of ``evals/run_privacy.sh``: accuracy and leakage with the shield
off and strict, on the medical set.

``python -m minions.evals.privacy_report evals/results/privacy`` reads the eval folders
``off/`` and ``strict/`` inside it (each a ``minions eval --traces`` run of the medical
set) and writes ``report.md`` there. Per privacy setting and protocol:

- accuracy (95% bootstrap interval) and mean remote dollars, from the rows;
- the leakage meter's figures (``Result.privacy``): the share of the documents' word
  8-grams sent, the longest verbatim span, and the detected sensitive values sent;
- **gold sensitive values in remote-bound text**: per question, the values of the
  gold list (:func:`~minions.evals.datasets.longhealth.sensitive_gold`: the patient's
  name and birth date, the signing clinicians, the organisations and the letters'
  dates of the texts the run read) that appear in what the remote was sent, in any
  form (a surname alone, a date written another way). What the remote was sent is
  the task and every remote turn's message as the trace records them; under strict
  the task is the shielded task, which is recomputed here (the shield is
  deterministic) because traces keep the task as the user wrote it;
- **over-masking**: of the distinct values the shield masks in the documents and the
  task, the share that are not sensitive. Two readings: against the gold list alone,
  and against the gold list plus every other date in the letters (dates of
  diagnoses, prescriptions and visits are identifiers under HIPAA's Safe Harbor rule,
  so masking them is not over-masking). The most frequent masked values that are
  neither are listed, so a reader sees what was masked needlessly.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import typing
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from minions.documents import Document
from minions.formatting import percent, usd
from minions.pii import Kind, find_spans, normalize
from minions.shield import Shield
from minions.types import Result

from .datasets.longhealth import resolve_path, sensitive_gold
from .report import bootstrap_ci
from .runner import RESULTS, TRACES, EvalRow, read_rows

__all__ = ["Leak", "measure_example", "render", "write_report"]

logger = logging.getLogger(__name__)

REPORT = "report.md"
SETTINGS = ("off", "strict")

GoldValue = tuple[str, str]  # (kind, normalised value)


class Leak:
    """What one question's remote-bound text carried, and what the shield masked."""

    def __init__(self) -> None:
        self.gold: set[GoldValue] = set()
        self.gold_sent: set[GoldValue] = set()
        self.masked: set[GoldValue] = set()
        self.masked_other: Counter[tuple[str, str]] = Counter()  # neither gold nor a date
        self.masked_not_gold = 0


def _gold_values(record: dict[str, Any], texts: Sequence[str]) -> set[GoldValue]:
    return {
        (kind, _normal(kind, value))
        for text in texts
        for kind, value in sensitive_gold(record, text)
    }


def _normal(kind: str, value: str) -> str:
    return normalize(typing.cast(Kind, kind), value)


def _carries(text: str, value: GoldValue, written: str) -> bool:
    """Whether ``text`` carries the gold ``value`` in any form: the value's recognizers
    run on it (a date another way), a person's surname alone, or the text as written."""
    kind, normalised = value
    if re.search(rf"\b{re.escape(written)}\b", text, re.I):
        return True
    if kind == "PERSON":
        surname = written.split()[-1]
        return len(surname) > 2 and bool(re.search(rf"\b{re.escape(surname)}\b", text))
    return any(s.kind == kind and _normal(kind, s.text) == normalised for s in find_spans(text))


def remote_bound(result: Result, strict: bool, documents: Sequence[Document]) -> str:
    """What the remote was sent, as far as the trace shows: the task (shielded when
    strict) and every remote turn's message."""
    task = Shield(documents, result.task).mask(result.task) if strict else result.task
    prompts = [t.prompt for r in result.rounds for t in r.turns if t.role == "remote"]
    return "\n".join([task, *prompts])


def measure_example(
    record: dict[str, Any], texts: Sequence[str], result: Result, strict: bool
) -> Leak:
    """The gold values of ``texts`` that reached the remote in ``result``, and the
    values the shield masks there."""
    documents = [Document.from_pages(list(texts), name="records")]
    leak = Leak()
    written = {
        (kind, _normal(kind, value)): value
        for text in texts
        for kind, value in sensitive_gold(record, text)
    }
    leak.gold = set(written)
    sent = remote_bound(result, strict, documents)
    leak.gold_sent = {v for v in leak.gold if _carries(sent, v, written[v])}
    masked = {
        (span.kind, normalize(span.kind, span.text)): span.text
        for text in [result.task, *texts]
        for span in find_spans(text)
    }
    gold_surnames = {w.split()[-1] for (k, _), w in written.items() if k == "PERSON"}
    for (kind, normalised), text in masked.items():
        is_gold = (kind, normalised) in leak.gold or (
            kind == "PERSON" and text.split()[-1] in gold_surnames
        )
        leak.masked.add((kind, normalised))
        if not is_gold:
            leak.masked_not_gold += 1
            if kind != "DATE":
                leak.masked_other[(kind, text)] += 1
    return leak


def _row_texts(benchmark: dict[str, Any], row: EvalRow) -> tuple[dict[str, Any], list[str]]:
    patient = str(row.metadata["patient"])
    keys = [str(k).split("/", 1) for k in row.metadata["kept_texts"]]
    return benchmark[patient], [benchmark[p]["texts"][t] for p, t in keys]


def _summarize(folder: Path, strict: bool, benchmark: dict[str, Any]) -> dict[str, Any]:
    rows = read_rows(folder)
    by_protocol: dict[str, list[EvalRow]] = defaultdict(list)
    for row in rows:
        by_protocol[row.protocol].append(row)
    out: dict[str, Any] = {}
    for protocol, group in sorted(by_protocol.items()):
        leaks, kinds_sent, meter = [], Counter[str](), []
        for row in group:
            trace = folder / TRACES / protocol / f"{row.example_id.replace('/', '__')}.json"
            if not trace.exists():
                continue
            result = Result.model_validate_json(trace.read_text(encoding="utf-8"))
            record, texts = _row_texts(benchmark, row)
            leaks.append(measure_example(record, texts, result, strict))
            meter.append(result.privacy)
            for kind, count in result.privacy.sensitive.items():
                kinds_sent[kind] += count.sent
        outcomes = [bool(r.score.correct) for r in group]
        gold = sum(len(lk.gold) for lk in leaks)
        gold_sent = sum(len(lk.gold_sent) for lk in leaks)
        gold_sent_kind = Counter(k for lk in leaks for k, _ in lk.gold_sent)
        masked = sum(len(lk.masked) for lk in leaks)
        not_gold = sum(lk.masked_not_gold for lk in leaks)
        other = sum(sum(lk.masked_other.values()) for lk in leaks)
        top: Counter[tuple[str, str]] = Counter()
        for lk in leaks:
            top.update(lk.masked_other)
        out[protocol] = {
            "n": len(group),
            "accuracy": sum(outcomes) / len(outcomes) if outcomes else None,
            "ci": bootstrap_ci(outcomes, seed=0) if outcomes else None,
            "remote_usd": _mean([r.remote_usd for r in group]),
            "ngram_share": _mean([p.ngram_share for p in meter]),
            "longest_span": max((p.longest_span_chars for p in meter), default=None),
            "longest_span_mean": _mean([p.longest_span_chars for p in meter]),
            "detected_sent": dict(kinds_sent),
            "questions_with_gold_sent": sum(1 for lk in leaks if lk.gold_sent),
            "traced": len(leaks),
            "gold": gold,
            "gold_sent": gold_sent,
            "gold_sent_by_kind": dict(gold_sent_kind),
            "masked": masked,
            "over_masked_gold_list": not_gold / masked if masked else None,
            "over_masked_with_dates": other / masked if masked else None,
            "top_over_masked": [f"{k} {t!r} ({n})" for (k, t), n in top.most_common(8)],
        }
    return out


def _mean(values: Sequence[float | int | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _pct(value: float | None) -> str:
    return "-" if value is None else percent(value)


def render(summary: dict[str, dict[str, Any]]) -> str:
    """The report's markdown."""
    lines = [
        "# Privacy: the shield off and strict on the medical set",
        "",
        "| privacy | protocol | n | accuracy (95% CI) | remote $/q | 8-grams sent | "
        "longest span (mean / max chars) | gold values sent (questions) | over-masked: "
        "vs gold list / vs gold + dates |",
        "|---|---|---:|---|---:|---:|---|---|---|",
    ]
    for setting, protocols in summary.items():
        for protocol, s in protocols.items():
            ci = s["ci"]
            accuracy = (
                "-"
                if s["accuracy"] is None
                else f"{_pct(s['accuracy'])} ({_pct(ci[0])}-{_pct(ci[1])})"
            )
            span = (
                "-"
                if s["longest_span"] is None
                else f"{s['longest_span_mean']:.0f} / {s['longest_span']}"
            )
            lines.append(
                f"| {setting} | {protocol} | {s['n']} | {accuracy} | "
                f"{'-' if s['remote_usd'] is None else usd(s['remote_usd'])} | "
                f"{_pct(s['ngram_share'])} | {span} | "
                f"{s['gold_sent']} of {s['gold']} ({s['questions_with_gold_sent']} of "
                f"{s['traced']}) | {_pct(s['over_masked_gold_list'])} / "
                f"{_pct(s['over_masked_with_dates'])} |"
            )
    lines += [
        "",
        "Gold values sent, by kind; detected sensitive values sent (the meter), by kind:",
        "",
    ]
    for setting, protocols in summary.items():
        for protocol, s in protocols.items():
            gold = (
                ", ".join(f"{k} {n}" for k, n in sorted(s["gold_sent_by_kind"].items())) or "none"
            )
            detected = ", ".join(f"{k} {n}" for k, n in sorted(s["detected_sent"].items()) if n)
            lines.append(f"- {setting} {protocol}: gold {gold}; detected {detected or 'none'}")
    lines += ["", "Masked values neither on the gold list nor dates, most frequent first:", ""]
    for setting, protocols in summary.items():
        if setting != "strict":
            continue
        for protocol, s in protocols.items():
            lines.append(f"- {protocol}: {', '.join(s['top_over_masked']) or 'none'}")
    return "\n".join(lines) + "\n"


def write_report(folder: Path, data: str | Path | None = None) -> Path:
    """Read ``folder/off`` and ``folder/strict`` and write ``folder/report.md``."""
    benchmark = json.loads(resolve_path(data).read_text(encoding="utf-8"))
    summary = {
        setting: _summarize(folder / setting, setting == "strict", benchmark)
        for setting in SETTINGS
        if (folder / setting / RESULTS).exists()
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    path = folder / REPORT
    path.write_text(render(summary), encoding="utf-8")
    return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "evals/results/privacy")
    print(write_report(target).read_text(encoding="utf-8"))
