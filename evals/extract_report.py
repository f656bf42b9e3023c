"""Scoring extraction runs against a gold folder (:mod:`.extract_gold`).

``python -m minions.evals.extract_report GOLD_DIR RUN_DIR... [--batch DIR]... --out
REPORT.md`` scores every gold cell of the documents each run covers and writes (and
prints) a markdown report.

A RUN_DIR is an output folder of ``minions extract``: ``results.jsonl`` (a row a
document: ``id``, ``status``, ``values`` by field, already coerced, ``pages`` by field,
``usage`` by role, ``wall_s``) and ``plan.json`` (the remote's ``usage`` and
``remote_usd``). A ``--batch`` DIR is an output folder of ``minions batch`` run on the
gold folder's ``manifest_questions.jsonl``: a row a (document, question), the question
id being the field; its answers are free text, read as below.

A cell is right when:

- a date: the same calendar date (a batch answer: its first date, in any format
  :func:`minions.values.parse_date` reads);
- a number: within the scoring tolerance of :mod:`.scoring` (1% relative, or half a
  unit of the gold's last digit); a batch answer is scored by
  :func:`.scoring.score_numeric` against the field's description (so "in USD millions"
  sets the unit, and any figure of the answer may match);
- a list: the set of items equals the gold's after :func:`.scoring.normalize` (case,
  punctuation and spaces ignored); a batch answer's items are its lines (an answer of
  one line: its ``;``-separated parts, else its comma-separated ones), bullets,
  numbering and lines ending in ":" dropped. Lists also get a softer
  **gold item recall**: the share of gold items that an item equals or contains (as
  whole words after normalisation);
- a string: equal after normalisation (a batch answer may also contain it); a bool:
  the same (a batch answer: its yes/no stance).

A document that failed, or has no value for a field, is wrong on its cells; documents
a run did not cover are not counted for it. When the gold gives pages and the run
cites pages for a cell, "cited a gold page" is the share of such cells whose cited
pages include one of them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from minions import rowstore
from minions.batch_rows import BatchRow, BatchSettings
from minions.extract import PLAN, ExtractRow, ExtractSettings, PlanFile
from minions.extract_fields import FieldSpec
from minions.formatting import percent, usd
from minions.pricing import price
from minions.types import Usage
from minions.values import parse_date

from .extract_gold import GoldCell, read_gold
from .report import bootstrap_ci, interval, paired_difference_ci, paired_outcomes
from .scoring import _close, gold_figure, normalize, score_numeric, stance

__all__ = [
    "Answer",
    "CellScore",
    "ExtractReport",
    "Run",
    "RunScore",
    "build_report",
    "read_batch_run",
    "read_extract_run",
    "render_markdown",
    "score_run",
    "score_text",
    "score_value",
    "summarize",
]

logger = logging.getLogger(__name__)

#: wrong cells listed per run
MAX_LISTED = 60


# --- what the runs wrote ---------------------------------------------------------------


class Answer(BaseModel):
    """What a run gave for one cell: a typed value (extract) or an answer's text
    (batch), and the pages it cited."""

    model_config = ConfigDict(extra="forbid")

    value: Any = None
    text: str | None = None
    pages: list[int] | None = None
    failed: bool = False
    method: str = Field(default="", description="extract: how the cell was decided")


class Run(BaseModel):
    """One run folder, read: its answers by (document, field) and what it took."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = Field(description="extract or batch")
    documents: list[str]
    answers: dict[str, dict[str, Answer]] = Field(description="by document, then field")
    errors: int = 0
    remote: Usage = Field(default_factory=Usage)
    local: Usage = Field(default_factory=Usage)
    remote_usd: float | None = None
    remote_only_usd: float | None = None
    remote_only_tokens: int | None = None
    wall_s: float = 0.0
    local_reads_saved: int = Field(default=0, description="reads synthesized functions spared")
    synthesize: bool = Field(default=False, description="extract: run with --synthesize")


def _total(values: Sequence[float | None]) -> float | None:
    """The sum, or None when there is nothing or any value is unknown (unpriced)."""
    return None if not values or None in values else sum(v for v in values if v is not None)


def _uncached_usd(usd: float | None, remote: Usage, spec: str | None) -> float | None:
    """``usd`` with what the response cache's hits in ``remote`` would have cost added
    back: a run resumed or rerun behind the cache reports what the work costs. (A
    folder without ``run.json`` names no model to price them as: ``usd`` as recorded.)"""
    if usd is None or spec is None:
        return usd
    return usd + (price(remote.cache_hit_usage(), spec).usd or 0.0)


def _price_spec(
    folder: Path, settings_model: type[ExtractSettings] | type[BatchSettings]
) -> str | None:
    """The model a run folder's remote usage is priced as (its ``run.json``)."""
    if not (folder / rowstore.RUN_INFO).exists():
        return None
    settings = rowstore.read_run_info(folder, settings_model).settings
    return settings.price_as or settings.remote


def read_extract_run(folder: str | Path) -> Run:
    """A ``minions extract`` output folder, read with the extractor's own models."""
    folder = Path(folder)
    rows = {
        r.id: r
        for r in rowstore.read_rows(folder / rowstore.RESULTS, ExtractRow, key=lambda r: r.key)
    }
    plan = PlanFile.model_validate_json((folder / PLAN).read_text(encoding="utf-8"))
    spec = _price_spec(folder, ExtractSettings)
    synthesize = (folder / rowstore.RUN_INFO).exists() and (
        rowstore.read_run_info(folder, ExtractSettings).settings.synthesize
    )
    remote = plan.usage.get("remote", Usage()) + sum(
        (r.usage.get("remote", Usage()) for r in rows.values()), Usage()
    )
    answers = {
        row.id: {
            field: Answer(
                value=value,
                pages=row.pages.get(field),
                failed=row.status == "error",
                method=row.cells[field].method if field in row.cells else "",
            )
            for field, value in row.values.items()
        }
        for row in rows.values()
    }
    return Run(
        name=str(folder),
        kind="extract",
        documents=list(rows),
        answers=answers,
        errors=sum(r.status == "error" for r in rows.values()),
        remote=remote.uncached(),
        local=sum((r.usage.get("local", Usage()) for r in rows.values()), Usage()).uncached(),
        remote_usd=_uncached_usd(plan.remote_usd, remote, spec),
        remote_only_usd=_total([r.remote_only_usd for r in rows.values()]),
        remote_only_tokens=sum(r.remote_only_input_tokens for r in rows.values()),
        wall_s=sum(r.wall_s for r in rows.values()),
        local_reads_saved=sum(r.local_calls_saved for r in rows.values()),
        synthesize=synthesize,
    )


def read_batch_run(folder: str | Path) -> Run:
    """A ``minions batch`` output folder, its question ids taken as fields."""
    folder = Path(folder)
    rows = rowstore.read_rows(folder / rowstore.RESULTS, BatchRow, key=lambda r: r.key)
    spec = _price_spec(folder, BatchSettings)
    remote = sum((r.usage.get("remote", Usage()) for r in rows), Usage())
    answers: dict[str, dict[str, Answer]] = {}
    for row in rows:
        answers.setdefault(row.doc_id, {})[row.question_id] = Answer(
            text=row.answer, failed=row.status == "error"
        )
    return Run(
        name=str(folder),
        kind="batch",
        documents=list(answers),
        answers=answers,
        errors=sum(r.status == "error" for r in rows),
        remote=remote.uncached(),
        local=sum((r.usage.get("local", Usage()) for r in rows), Usage()).uncached(),
        remote_usd=_uncached_usd(_total([r.remote_usd for r in rows]), remote, spec),
        remote_only_usd=_total([r.remote_only_usd for r in rows]),
        wall_s=sum(r.wall_s for r in rows),
    )


# --- scoring ---------------------------------------------------------------------------


class CellScore(BaseModel):
    """One gold cell scored in one run."""

    model_config = ConfigDict(extra="forbid")

    id: str
    field: str
    gold: Any
    got: Any
    correct: bool
    recall: float | None = Field(default=None, description="lists: gold item recall")
    cited: bool | None = Field(default=None, description="cited pages include a gold page")
    detail: str


#: (correct, gold item recall of a list, detail)
Verdict = tuple[bool, float | None, str]


def _number_text(value: float) -> str:
    return repr(float(value)).removesuffix(".0")


def _as_date(value: Any) -> str | None:
    parsed = parse_date(str(value)) if value is not None else None
    return parsed.isoformat() if parsed else None


def _score_list(gold: Sequence[Any], items: Sequence[Any]) -> Verdict:
    wanted = {normalize(str(g)) for g in gold}
    given = {normalize(str(i)) for i in items} - {""}
    found = [w for w in wanted if any(f" {w} " in f" {g} " for g in given)]
    recall = len(found) / len(wanted) if wanted else None
    missing, extra = sorted(wanted - given), sorted(given - wanted)
    detail = "the same items" if given == wanted else f"missing {missing}, extra {extra}"
    return given == wanted, recall, detail


def score_value(spec: FieldSpec, gold: Any, value: Any) -> Verdict:
    """A typed value (``minions extract``'s) against the gold (see the module docs)."""
    if value is None or value == []:
        return False, (0.0 if spec.is_list else None), "no value"
    if spec.is_list:
        return _score_list(gold, value if isinstance(value, list) else [value])
    if spec.base == "date":
        got = _as_date(value)
        return got == gold, None, f"{got or value!r} against {gold}"
    if spec.base in ("number", "int"):
        figure = gold_figure(_number_text(gold))
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False, None, f"{value!r} is not a number"
        right = figure is not None and _close(number, figure)
        return right, None, f"{number:g} against {gold:g} (1% or half a unit)"
    if spec.base == "bool":
        return value is gold, None, f"{value} against {gold}"
    return normalize(str(value)) == normalize(str(gold)), None, f"{value!r} against {gold!r}"


_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def _items(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) == 1:  # one line: its ;-separated parts, else its comma-separated ones
        lines = re.split(r";" if ";" in lines[0] else r",\s+", lines[0])
    items = [_BULLET.sub("", line).strip() for line in lines]
    return [item for item in items if item and not item.endswith(":")]


_DATES = re.compile(
    r"\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4}"
    r"|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2} [A-Za-z]{3,9}\.? \d{4}"
)


def score_text(spec: FieldSpec, gold: Any, text: str | None) -> Verdict:
    """A free-text answer (``minions batch``'s) against the gold (see the module docs)."""
    if not text or not text.strip():
        return False, (0.0 if spec.is_list else None), "no answer"
    if spec.is_list:
        return _score_list(gold, _items(text))
    if spec.base == "date":
        dates = [d for d in map(_as_date, _DATES.findall(text)) if d]
        if not dates:
            return False, None, "no date in the answer"
        return dates[0] == gold, None, f"first date {dates[0]} against {gold}"
    if spec.base in ("number", "int"):
        score = score_numeric(text, _number_text(gold), spec.description)
        return bool(score.correct), None, score.detail
    if spec.base == "bool":
        said = stance(text)
        return said == ("yes" if gold else "no"), None, f"stance {said} against {gold}"
    wanted, given = normalize(str(gold)), normalize(text)
    return wanted == given or f" {wanted} " in f" {given} ", None, f"{text[:80]!r} against {gold!r}"


def score_run(run: Run, fields: Sequence[FieldSpec], cells: Sequence[GoldCell]) -> list[CellScore]:
    """Every gold cell of the documents ``run`` covers, scored."""
    specs = {f.name: f for f in fields}
    scores = []
    for cell in cells:
        if cell.id not in run.answers:
            continue
        if run.kind == "batch" and cell.field not in run.answers[cell.id]:
            continue  # a batch still running has not asked it yet
        answer = run.answers[cell.id].get(cell.field, Answer())
        spec = specs[cell.field]
        if answer.failed:
            verdict: Verdict = (False, 0.0 if spec.is_list else None, "the run failed here")
        elif run.kind == "batch":
            verdict = score_text(spec, cell.gold, answer.text)
        else:
            verdict = score_value(spec, cell.gold, answer.value)
        cited = None
        if cell.pages and answer.pages:
            cited = bool(set(cell.pages) & set(answer.pages))
        correct, recall, detail = verdict
        got = answer.text if run.kind == "batch" else answer.value
        scores.append(
            CellScore(
                id=cell.id,
                field=cell.field,
                gold=cell.gold,
                got=got,
                correct=correct,
                recall=recall,
                cited=cited,
                detail=detail,
            )
        )
    return scores


# --- the report -------------------------------------------------------------------------


class RunScore(BaseModel):
    """A run's figures."""

    model_config = ConfigDict(extra="forbid")

    run: Run
    cells: list[CellScore]
    accuracy: float | None
    ci: tuple[float, float] | None
    list_recall: float | None
    cited: float | None
    by_field: dict[str, tuple[int, int]] = Field(description="field: (correct, cells)")


class ExtractReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gold: str
    fields: list[FieldSpec]
    documents: int
    cells: int
    runs: list[RunScore]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(run: Run, scores: list[CellScore], fields: Sequence[FieldSpec]) -> RunScore:
    outcomes = [s.correct for s in scores]
    recalls = [s.recall for s in scores if s.recall is not None]
    cited = [s.cited for s in scores if s.cited is not None]
    by_field = {}
    for spec in fields:
        mine = [s.correct for s in scores if s.field == spec.name]
        if mine:
            by_field[spec.name] = (sum(mine), len(mine))
    return RunScore(
        run=run,
        cells=scores,
        accuracy=_mean([float(x) for x in outcomes]),
        ci=bootstrap_ci(outcomes),
        list_recall=_mean(recalls),
        cited=_mean([float(x) for x in cited]),
        by_field=by_field,
    )


def build_report(
    gold_dir: str | Path, runs: Sequence[str | Path] = (), batches: Sequence[str | Path] = ()
) -> ExtractReport:
    """Score extract runs ``runs`` and batch runs ``batches`` against ``gold_dir``."""
    fields, documents, cells = read_gold(gold_dir)
    read = [read_extract_run(r) for r in runs] + [read_batch_run(b) for b in batches]
    if not read:
        raise ValueError("give at least one run folder (or --batch folder) to score")
    return ExtractReport(
        gold=str(gold_dir),
        fields=fields,
        documents=len(documents),
        cells=len(cells),
        runs=[summarize(run, score_run(run, fields, cells), fields) for run in read],
    )


def _tokens(usage: Usage) -> tuple[str, str]:
    return f"{usage.input_tokens:,}", f"{usage.output_tokens:,}"


def _accuracy(score: RunScore) -> str:
    right = sum(c.correct for c in score.cells)
    if score.accuracy is None or score.ci is None:
        return "n/a (no gold cell)"
    low, high = score.ci
    return (
        f"{percent(score.accuracy)} [{percent(low)}, {percent(high)}] ({right}/{len(score.cells)})"
    )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(str(text).split())
    return (text[:100] + "...") if len(text) > 100 else text


def _per_cell(run: RunScore) -> float | None:
    usd_ = run.run.remote_usd
    return None if usd_ is None or not run.cells else usd_ / len(run.cells)


def synthesis_lines(report: ExtractReport) -> list[str]:
    """Per ``--synthesize`` run: the cells and documents its functions answered, how many
    of those cells are right, the local reads they spared, and its local tokens against
    the run without synthesis over the same documents (when the report has one)."""
    plain = {
        frozenset(s.run.documents): s
        for s in report.runs
        if s.run.kind == "extract" and not s.run.synthesize
    }
    rows = []
    for s in (s for s in report.runs if s.run.kind == "extract" and s.run.synthesize):
        run = s.run
        by_function = [
            c for c in s.cells if run.answers[c.id].get(c.field, Answer()).method == "function"
        ]
        docs = {c.id for c in by_function}
        tokens = run.local.input_tokens + run.local.output_tokens
        other = plain.get(frozenset(run.documents))
        against = ""
        if other is not None:
            before = other.run.local.input_tokens + other.run.local.output_tokens
            change = f" ({(tokens - before) / before * 100:+.1f}%)" if before else ""
            against = f"{before:,}{change}"
        right = sum(c.correct for c in by_function)
        plain_right = "-"
        if other is not None and by_function:
            theirs = {(c.id, c.field): c.correct for c in other.cells}
            plain_right = f"{sum(theirs.get((c.id, c.field), False) for c in by_function)}"
            plain_right += f"/{len(by_function)}"
        rows.append(
            [
                f"`{run.name}`",
                str(len(run.documents)),
                f"{len(by_function)}/{len(s.cells)} ({percent(len(by_function) / len(s.cells))})"
                if s.cells
                else "0",
                f"{len(docs)}/{len(run.documents)}",
                f"{right}/{len(by_function)}" if by_function else "-",
                plain_right,
                str(run.local_reads_saved),
                f"{tokens:,}",
                against or "-",
            ]
        )
    if not rows:
        return []
    header = [
        "run",
        "docs",
        "cells the functions answered",
        "documents with such a cell",
        "those cells right",
        "the same cells right without",
        "local reads spared",
        "local tokens",
        "local tokens without --synthesize",
    ]
    return ["", "## Function synthesis", "", *_table(header, rows)]


def same_cells_lines(report: ExtractReport) -> list[str]:
    """Each batch run against each extract run on the cells both scored: the two
    accuracies, their paired difference with a bootstrap interval, remote $ a cell."""
    rows = []
    for batch in (s for s in report.runs if s.run.kind == "batch"):
        for ext in (s for s in report.runs if s.run.kind == "extract"):
            a, b = paired_outcomes(
                {f"{c.id}/{c.field}": c.correct for c in ext.cells},
                {f"{c.id}/{c.field}": c.correct for c in batch.cells},
            )
            if not a:
                continue
            ci = paired_difference_ci(a, b)
            rows.append(
                [
                    f"`{ext.run.name}`",
                    f"`{batch.run.name}`",
                    str(len(a)),
                    f"{percent(sum(a) / len(a))} ({sum(a)})",
                    f"{percent(sum(b) / len(b))} ({sum(b)})",
                    f"{(sum(a) - sum(b)) / len(a) * 100:+.1f} pts ({interval(ci, signed=True)})",
                    usd(_per_cell(ext)),
                    usd(_per_cell(batch)),
                ]
            )
    if not rows:
        return []
    header = [
        "extract run",
        "batch run",
        "same cells",
        "extract right",
        "batch right",
        "extract - batch (95% CI)",
        "extract remote $/cell",
        "batch remote $/cell",
    ]
    return ["", "## Extract against batch on the same cells", "", *_table(header, rows)]


def render_markdown(report: ExtractReport) -> str:
    """The report as markdown: runs, fields, remote tokens against documents, misses."""
    lines = [
        "# Extraction report",
        "",
        f"Gold `{report.gold}`: {report.documents} documents, {len(report.fields)} fields, "
        f"{report.cells} gold cells.",
        "",
        "## Runs",
        "",
    ]
    rows = []
    for i, s in enumerate(report.runs, 1):
        run = s.run
        rows.append(
            [
                f"{i}. `{run.name}`",
                run.kind,
                str(len(run.documents)),
                _accuracy(s),
                percent(s.list_recall),
                percent(s.cited),
                *_tokens(run.remote),
                usd(run.remote_usd),
                *_tokens(run.local),
                f"{run.wall_s:,.1f}",
                str(run.errors),
            ]
        )
    header = [
        "run",
        "kind",
        "docs",
        "cell accuracy [95% CI]",
        "list item recall",
        "cited a gold page",
        "remote in",
        "remote out",
        "remote $",
        "local in",
        "local out",
        "wall s (sum)",
        "errors",
    ]
    lines += _table(header, rows)
    lines += ["", "## Accuracy per field", ""]
    field_rows = []
    for spec in report.fields:
        row = [f"`{spec.name}` ({spec.type})"]
        for s in report.runs:
            right, n = s.by_field.get(spec.name, (0, 0))
            row.append(f"{percent(right / n)} ({right}/{n})" if n else "")
        field_rows.append(row)
    lines += _table(["field", *(f"run {i}" for i in range(1, len(report.runs) + 1))], field_rows)
    if len({len(s.run.documents) for s in report.runs}) > 1:
        lines += ["", "## Remote tokens against documents", ""]
        scaled = sorted(report.runs, key=lambda s: (s.run.kind, len(s.run.documents)))
        scale_rows = []
        for s in scaled:
            run, docs = s.run, len(s.run.documents)
            per_doc = None if run.remote_usd is None or not docs else run.remote_usd / docs
            only = run.remote_only_tokens
            scale_rows.append(
                [
                    f"`{run.name}`",
                    run.kind,
                    str(docs),
                    *_tokens(run.remote),
                    usd(run.remote_usd),
                    usd(per_doc),
                    "" if run.remote_only_usd is None else usd(run.remote_only_usd),
                    "" if only is None else f"{only:,}",
                ]
            )
        lines += _table(
            [
                "run",
                "kind",
                "docs",
                "remote in",
                "remote out",
                "remote $",
                "remote $/doc",
                "remote-only $ (counterfactual)",
                "remote-only tokens",
            ],
            scale_rows,
        )
    lines += synthesis_lines(report)
    lines += same_cells_lines(report)
    for i, s in enumerate(report.runs, 1):
        wrong = [c for c in s.cells if not c.correct]
        if not wrong:
            continue
        lines += ["", f"## Wrong cells, run {i} (`{s.run.name}`)", ""]
        for c in wrong[:MAX_LISTED]:
            lines.append(
                f"- {c.id} / `{c.field}`: gold {_shown(c.gold)}; got {_shown(c.got)} ({c.detail})"
            )
        if len(wrong) > MAX_LISTED:
            lines.append(f"- ... and {len(wrong) - MAX_LISTED} more")
    lines += [
        "",
        "How to read it: a run is scored on the gold cells of the documents it covers; "
        "the interval is a 95% percentile bootstrap over those cells (2000 resamples, "
        "seeded). Lists are right only when the item sets match (normalised); the item "
        "recall is the softer share of gold items found. Extract runs' values are typed "
        "already; batch answers are free text, read by the scorers (for a number any "
        "figure of the answer may match, for a date the first one counts). Remote tokens "
        "and $ of an extract run are its plan's (plus any the documents report), of a "
        "batch run the sum over its rows; wall time is summed over documents (rows), so "
        "concurrent work counts in full. Tokens and $ include calls the response cache "
        "answered (what the work costs however often it ran); wall time does not, so a "
        "run resumed or rerun behind the cache shows less. The remote-only column is the "
        "counterfactual of sending each document whole to the remote, when the run "
        "records it. The same-cells table pairs an extract run's and a batch run's outcome "
        "on each cell both scored (a paired bootstrap over those cells); a run's remote $ "
        "a cell is its remote $ over the cells it was scored on.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    from typing import Annotated

    import typer

    def _command(
        gold: Annotated[Path, typer.Argument(help="a folder written by extract_gold")],
        runs: Annotated[
            list[Path] | None, typer.Argument(help="output folders of minions extract")
        ] = None,
        batch: Annotated[
            list[Path] | None, typer.Option("--batch", help="an output folder of minions batch")
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", help="where to write the report")] = None,
    ) -> None:
        logging.basicConfig(level=logging.WARNING)
        markdown = render_markdown(build_report(gold, runs or [], batch or []))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(markdown, encoding="utf-8")
        print(markdown)

    typer.run(_command)
