"""The report of a run folder: accuracy against remote cost per dataset and protocol.

:func:`write_report` reads ``results.jsonl`` (the last row of each pair) of a run
folder, or of every run folder just inside it (one run a dataset, reported together),
and writes ``report.md`` and ``cost_vs_accuracy.png`` there. Per dataset and protocol it gives n,
accuracy with a 95% bootstrap interval (seeded), mean remote dollars and tokens per
query, mean local tokens, mean wall time, errors, the mean remote-only counterfactual
dollars, and the paper's headline ratios against ``remote_only`` on the same examples:
the cost ratio (remote_only $ / protocol $: "5.0x cheaper", or "2.0x more expensive"
below 1) and the quality ratio
(protocol accuracy / remote_only accuracy). Without remote_only rows there are no
ratios, and the report says so. Rows whose metadata names a scorer (the questions of a
user's JSONL file) are also counted per scorer: n, accuracy and errors per (protocol,
scorer).

Accuracy counts decided scores only (a score of ``None``, a free-form answer with no
judge, is left out and counted as undecided); a run that failed counts as wrong.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from minions.errors import ConfigurationError, MissingDependencyError
from minions.formatting import percent, savings, times, usd

from .runner import RESULTS, RUN_INFO, EvalRow, EvalSettings, read_rows, read_run_info

__all__ = [
    "PLOT",
    "REPORT",
    "GroupStats",
    "Report",
    "bootstrap_ci",
    "build_report",
    "by_scorer",
    "plot",
    "render_markdown",
    "summarize",
    "write_report",
]

logger = logging.getLogger(__name__)

REPORT = "report.md"
PLOT = "cost_vs_accuracy.png"
BASELINE = "remote_only"


class GroupStats(BaseModel):
    """The figures of one protocol on one dataset."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    protocol: str
    n: int
    decided: int
    correct: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    mean_remote_usd: float | None
    mean_remote_only_usd: float | None
    mean_remote_tokens: float
    mean_local_tokens: float
    mean_wall_s: float
    mean_ngram_share: float | None = None
    errors: int
    cost_ratio: float | None = None
    quality_ratio: float | None = None
    paired: int = 0
    note: str = ""
    scorer: str | None = Field(
        default=None, description="in a by-scorer group: the scorer of its rows' questions"
    )


class PairedDifference(BaseModel):
    """Accuracy of ``protocol`` minus that of ``other`` on the questions both decided."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    protocol: str
    other: str
    n: int
    difference: float
    ci_low: float | None
    ci_high: float | None


class RunSummary(BaseModel):
    """One run folder of a report: where it is and its settings (when it has run.json)."""

    model_config = ConfigDict(extra="forbid")

    folder: str
    settings: EvalSettings | None = None
    rows: int


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: list[GroupStats]
    scorers: list[GroupStats] = Field(
        default_factory=list, description="by (dataset, protocol, scorer); see by_scorer"
    )
    runs: list[RunSummary] = Field(default_factory=list)
    differences: list[PairedDifference] = Field(
        default_factory=list, description="per dataset, each protocol minus each earlier one"
    )

    @property
    def rows(self) -> int:
        return sum(run.rows for run in self.runs)


def _bootstrap_mean(values: Sequence[float], seed: int, resamples: int) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of the mean of ``values``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=float)
    means = rng.choice(data, size=(resamples, len(data)), replace=True).mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_ci(
    outcomes: Sequence[bool], *, seed: int = 0, resamples: int = 2000
) -> tuple[float, float] | None:
    """The 95% percentile bootstrap interval of the mean of ``outcomes``."""
    if not outcomes:
        return None
    return _bootstrap_mean([float(o) for o in outcomes], seed, resamples)


def paired_difference_ci(
    a: Sequence[bool], b: Sequence[bool], *, seed: int = 0, resamples: int = 2000
) -> tuple[float, float] | None:
    """The 95% percentile bootstrap interval of mean(a) - mean(b), ``a[i]`` and ``b[i]``
    being two outcomes on the same question (the questions are resampled, the pairs kept)."""
    if not a or len(a) != len(b):
        return None
    diff = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    return _bootstrap_mean(diff, seed, resamples)


def interval(ci: tuple[float, float] | None, *, signed: bool = False) -> str:
    """A bootstrap interval as the reports write it: ``40.0%-60.0%``, or with ``signed``
    (a difference) ``-5.0 to +15.0 pts``; ``n/a`` without one."""
    if ci is None:
        return "n/a"
    if signed:
        return f"{ci[0] * 100:+.1f} to {ci[1] * 100:+.1f} pts"
    return f"{percent(ci[0])}-{percent(ci[1])}"


def paired_outcomes(
    mine: Mapping[str, bool], theirs: Mapping[str, bool]
) -> tuple[list[bool], list[bool]]:
    """Two runs' outcomes (by question id) on the questions both decided, in one order
    (``mine``'s), ready for :func:`paired_difference_ci`."""
    shared = [q for q in mine if q in theirs]
    return [mine[q] for q in shared], [theirs[q] for q in shared]


def _mean(values: Iterable[float | None]) -> float | None:
    """The mean, or ``None`` when any value is ``None`` (unpriced) or there are none."""
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None) / len(values)


def _accuracy(rows: Iterable[EvalRow]) -> tuple[int, int]:
    """(correct, decided)."""
    decided = [r.score.correct for r in rows if r.score.correct is not None]
    return sum(decided), len(decided)


def _group(dataset: str, protocol: str, rows: list[EvalRow], seed: int) -> GroupStats:
    correct, decided = _accuracy(rows)
    outcomes = [bool(r.score.correct) for r in rows if r.score.correct is not None]
    ci = bootstrap_ci(outcomes, seed=seed)
    undecided = len(rows) - decided
    return GroupStats(
        dataset=dataset,
        protocol=protocol,
        n=len(rows),
        decided=decided,
        correct=correct,
        accuracy=correct / decided if decided else None,
        ci_low=ci[0] if ci else None,
        ci_high=ci[1] if ci else None,
        mean_remote_usd=_mean(r.remote_usd for r in rows),
        mean_remote_only_usd=_mean(r.remote_only_usd for r in rows),
        mean_remote_tokens=sum(r.tokens("remote") for r in rows) / len(rows),
        mean_local_tokens=sum(r.tokens("local") for r in rows) / len(rows),
        mean_wall_s=sum(r.wall_s for r in rows) / len(rows),
        mean_ngram_share=_mean(r.ngram_share for r in rows),
        errors=sum(r.status == "error" for r in rows),
        note=f"{undecided} undecided (no judge)" if undecided else "",
    )


def _ratios(stats: GroupStats, rows: list[EvalRow], baseline: list[EvalRow]) -> GroupStats:
    """``stats`` with cost and quality ratios against ``baseline`` on shared examples."""
    base = {r.example_id: r for r in baseline}
    pairs = [(r, base[r.example_id]) for r in rows if r.example_id in base]
    notes = [stats.note] if stats.note else []
    cost_ratio = quality_ratio = None
    if pairs:
        spent = _mean(r.remote_usd for r, _ in pairs)
        spent_base = _mean(b.remote_usd for _, b in pairs)
        if spent is None or spent_base is None:
            notes.append("unpriced rows: no cost ratio")
        elif spent == 0:
            notes.append("no remote cost: no cost ratio")
        else:
            cost_ratio = spent_base / spent
        decided = [
            (r, b) for r, b in pairs if r.score.correct is not None and b.score.correct is not None
        ]
        right, _ = _accuracy(r for r, _ in decided)
        right_base, _ = _accuracy(b for _, b in decided)
        if not decided:
            notes.append("no example decided for both: no quality ratio")
        elif right_base == 0:
            notes.append("remote_only got none right: no quality ratio")
        else:
            quality_ratio = right / right_base
    else:
        notes.append("no example shared with remote_only")
    return stats.model_copy(
        update={
            "cost_ratio": cost_ratio,
            "quality_ratio": quality_ratio,
            "paired": len(pairs),
            "note": "; ".join(notes),
        }
    )


def summarize(rows: Sequence[EvalRow], *, seed: int = 0) -> list[GroupStats]:
    """One :class:`GroupStats` per (dataset, protocol), in the order rows first show them."""
    groups: dict[tuple[str, str], list[EvalRow]] = defaultdict(list)
    for row in rows:
        groups[(row.dataset, row.protocol)].append(row)
    stats = []
    for (dataset, protocol), members in groups.items():
        group = _group(dataset, protocol, members, seed)
        baseline = groups.get((dataset, BASELINE))
        if baseline is None:
            note = "; ".join(filter(None, [group.note, "remote_only was not run: no ratios"]))
            group = group.model_copy(update={"note": note})
        elif protocol == BASELINE:  # against itself: 1x where defined, nothing to note
            ratios = {
                "cost_ratio": 1.0 if group.mean_remote_usd else None,
                "quality_ratio": 1.0 if group.accuracy else None,
                "paired": group.n,
            }
            group = group.model_copy(update=ratios)
        else:
            group = _ratios(group, members, baseline)
        stats.append(group)
    return stats


def by_scorer(rows: Sequence[EvalRow], *, seed: int = 0) -> list[GroupStats]:
    """One :class:`GroupStats` (without ratios) per (dataset, protocol, scorer) of the
    rows whose metadata names a scorer: the questions of a user's JSONL file."""
    groups: dict[tuple[str, str, str], list[EvalRow]] = defaultdict(list)
    for row in rows:
        if row.metadata.get("scorer"):
            groups[(row.dataset, row.protocol, str(row.metadata["scorer"]))].append(row)
    protocols = list(dict.fromkeys(protocol for _, protocol, _ in groups))
    # each protocol's scorers together (a stable sort keeps the order rows show them)
    ordered = sorted(groups.items(), key=lambda item: protocols.index(item[0][1]))
    return [
        _group(dataset, protocol, members, seed).model_copy(update={"scorer": scorer})
        for (dataset, protocol, scorer), members in ordered
    ]


def paired_differences(rows: Sequence[EvalRow], *, seed: int = 0) -> list[PairedDifference]:
    """Per dataset, each protocol's accuracy minus each earlier protocol's (in the order
    rows first show them) on the questions both decided, with a paired bootstrap interval."""
    decided: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for row in rows:
        if row.score.correct is not None:
            decided[(row.dataset, row.protocol)][row.example_id] = bool(row.score.correct)
    order = list(dict.fromkeys((r.dataset, r.protocol) for r in rows))
    found = []
    for i, (dataset, protocol) in enumerate(order):
        for other_dataset, other in order[:i]:
            if other_dataset != dataset:
                continue
            a, b = paired_outcomes(decided[(dataset, protocol)], decided[(dataset, other)])
            if not a:
                continue
            ci = paired_difference_ci(a, b, seed=seed)
            found.append(
                PairedDifference(
                    dataset=dataset,
                    protocol=protocol,
                    other=other,
                    n=len(a),
                    difference=(sum(a) - sum(b)) / len(a),
                    ci_low=ci[0] if ci else None,
                    ci_high=ci[1] if ci else None,
                )
            )
    return found


def run_folders(out: Path) -> list[Path]:
    """``out`` when it holds results, and its subfolders that do (one run a dataset,
    reported together)."""
    candidates = [out, *sorted(p for p in out.iterdir() if p.is_dir())] if out.is_dir() else []
    return [folder for folder in candidates if (folder / RESULTS).exists()]


def build_report(out: str | Path, *, seed: int = 0) -> Report:
    """The report of run folder ``out``, or of the run folders just inside it."""
    out = Path(out)
    rows: list[EvalRow] = []
    runs = []
    for folder in run_folders(out):
        found = read_rows(folder)
        settings = read_run_info(folder).settings if (folder / RUN_INFO).exists() else None
        name = "." if folder == out else folder.name
        runs.append(RunSummary(folder=name, settings=settings, rows=len(found)))
        rows += found
    if not rows:
        raise ConfigurationError(
            f"{out} holds no results rows (nor do its subfolders); run "
            f"`minions eval ... --out {out}` first"
        )
    return Report(
        groups=summarize(rows, seed=seed),
        scorers=by_scorer(rows, seed=seed),
        runs=runs,
        differences=paired_differences(rows, seed=seed),
    )


# --- presentation ---------------------------------------------------------------------


def accuracy_text(group: GroupStats) -> str:
    if group.accuracy is None:
        return "n/a"
    return (
        f"{percent(group.accuracy)} [{percent(group.ci_low)}, {percent(group.ci_high)}] "
        f"({group.correct}/{group.decided})"
    )


#: the report table: header and cell of each column
COLUMNS: list[tuple[str, str]] = [
    ("protocol", "protocol"),
    ("n", "n"),
    ("accuracy [95% CI]", "accuracy"),
    ("remote $/query", "remote_usd"),
    ("remote tok/query", "remote_tokens"),
    ("local tok/query", "local_tokens"),
    ("wall s/query", "wall_s"),
    ("text sent (8-grams)", "ngram_share"),
    ("errors", "errors"),
    ("remote-only $/query (est.)", "remote_only_usd"),
    ("cost ratio vs remote_only", "cost_ratio"),
    ("quality ratio vs remote_only", "quality_ratio"),
    ("notes", "note"),
]

#: the by-scorer table (a user's JSONL questions): header and cell of each column
SCORER_COLUMNS: list[tuple[str, str]] = [
    ("protocol", "protocol"),
    ("scorer", "scorer"),
    ("n", "n"),
    ("accuracy [95% CI]", "accuracy"),
    ("errors", "errors"),
    ("notes", "note"),
]


def cells(group: GroupStats) -> dict[str, str]:
    """The report table's cells of one group, as text."""
    return {
        "protocol": group.protocol,
        "n": str(group.n),
        "accuracy": accuracy_text(group),
        "accuracy_short": "n/a"
        if group.accuracy is None
        else f"{percent(group.accuracy)} ({group.correct}/{group.decided})",
        "remote_usd": usd(group.mean_remote_usd),
        "remote_tokens": f"{group.mean_remote_tokens:,.0f}",
        "local_tokens": f"{group.mean_local_tokens:,.0f}",
        "wall_s": f"{group.mean_wall_s:.1f}",
        "ngram_share": percent(group.mean_ngram_share),
        "errors": str(group.errors),
        "remote_only_usd": usd(group.mean_remote_only_usd),
        "cost_ratio": savings(group.cost_ratio),
        "quality_ratio": times(group.quality_ratio),
        "note": group.note,
        "scorer": group.scorer or "",
    }


def difference_text(d: PairedDifference) -> str:
    """``minions - minion: -10.0 pts [-30.0, +10.0] on 20 questions``."""
    interval = (
        f" [{d.ci_low * 100:+.1f}, {d.ci_high * 100:+.1f}]"
        if d.ci_low is not None and d.ci_high is not None
        else ""
    )
    return f"{d.protocol} - {d.other}: {d.difference * 100:+.1f} pts{interval} on {d.n} questions"


def datasets(report: Report) -> list[str]:
    return list(dict.fromkeys(g.dataset for g in report.groups))


def render_markdown(report: Report) -> str:
    """``report.md``: settings, then one table per dataset, then how to read it."""
    lines = ["# Evaluation report", ""]
    for run in report.runs:
        lines.append(f"- run `{run.folder}`: {run.rows} rows")
        s = run.settings
        if s is not None:
            picked = ", ".join(
                f"{k} {v}"
                for k, v in s.model_dump(include={"ids", "where", "sample", "limit"}).items()
                if v
            )
            lines += [
                f"  - dataset {s.dataset}"
                + (f" ({picked})" if picked else "")
                + f"; context `{s.context or 'default'}`; seed {s.seed}",
                f"  - local `{s.local}`; remote `{s.remote}`"
                + (f", priced as `{s.price_as}`" if s.price_as else "")
                + (f"; judge `{s.judge}`" if s.judge else "; no judge"),
                f"  - protocols: {', '.join(s.protocols)}"
                + "".join(f"; {p} options {o}" for p, o in s.options.items()),
            ]
    for dataset in datasets(report):
        lines += ["", f"## {dataset}", ""]
        lines += _markdown_table([g for g in report.groups if g.dataset == dataset], COLUMNS)
        scored = [g for g in report.scorers if g.dataset == dataset]
        if scored:
            lines += ["", "By scorer:", "", *_markdown_table(scored, SCORER_COLUMNS)]
        paired = [d for d in report.differences if d.dataset == dataset]
        if paired:
            lines += ["", "Paired differences in accuracy (the same questions):", ""]
            lines += [f"- {difference_text(d)}" for d in paired]
    lines += [
        "",
        "How to read it: accuracy is over decided scores, with a 95% percentile bootstrap "
        "interval (2000 resamples, seeded); a failed run counts as wrong. Dollars and "
        "tokens are means per query. The remote-only $ is each row's counterfactual "
        "estimate of sending the whole context to the remote in one call. The cost ratio "
        "is remote_only's measured $ over the protocol's $ on the examples both ran "
        "(how many times cheaper, or more expensive), the quality ratio the protocol's "
        "accuracy over remote_only's on the examples both decided (the paper's headline figures).",
        "",
        f"![accuracy against remote cost]({PLOT})",
        "",
    ]
    return "\n".join(lines)


def _markdown_table(groups: list[GroupStats], columns: list[tuple[str, str]]) -> list[str]:
    lines = ["| " + " | ".join(header for header, _ in columns) + " |", "|" + "---|" * len(columns)]
    for group in groups:
        row = cells(group)
        lines.append("| " + " | ".join(row[key] for _, key in columns) + " |")
    return lines


def plot(report: Report, path: str | Path) -> Path:
    """``cost_vs_accuracy.png``: one point per (dataset, protocol), 95% CI error bars,
    mean remote $ per query on a log scale ($0 protocols drawn at the left edge)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise MissingDependencyError("matplotlib", "evals", "the cost-vs-accuracy plot") from None
    points = [g for g in report.groups if g.accuracy is not None and g.mean_remote_usd is not None]
    priced = [g.mean_remote_usd for g in points if g.mean_remote_usd]
    floor = min(priced) / 10 if priced else 1e-6
    figure = Figure(figsize=(7, 4.5), dpi=120)
    axes = figure.add_subplot()
    markers = dict(zip(datasets(report), "osD^v<>", strict=False))
    protocols = list(dict.fromkeys(g.protocol for g in report.groups))
    colors = {p: f"C{i % 10}" for i, p in enumerate(protocols)}
    for group in points:
        assert group.accuracy is not None and group.mean_remote_usd is not None
        x = group.mean_remote_usd or floor
        low = group.accuracy if group.ci_low is None else group.ci_low
        high = group.accuracy if group.ci_high is None else group.ci_high
        axes.errorbar(
            [x],
            [group.accuracy],
            yerr=[[group.accuracy - low], [high - group.accuracy]],
            fmt=markers.get(group.dataset, "o"),
            color=colors[group.protocol],
            capsize=4,
            label=f"{group.dataset} / {group.protocol}",
        )
        label = group.protocol + (" ($0)" if not group.mean_remote_usd else "")
        axes.annotate(
            label, (x, group.accuracy), textcoords="offset points", xytext=(6, 4), fontsize=8
        )
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: usd(value)))
    axes.set_xlabel("mean remote $ per query (log scale)")
    axes.set_ylabel("accuracy (95% bootstrap CI)")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title("Accuracy against remote cost")
    axes.grid(True, which="both", alpha=0.3)
    if points:
        axes.legend(fontsize=7, loc="best")
    else:
        axes.text(
            0.5, 0.5, "no priced, decided rows to plot", ha="center", transform=axes.transAxes
        )
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png")
    return path


def write_report(out: str | Path, *, seed: int = 0) -> tuple[Report, Path, Path]:
    """Write ``report.md`` and ``cost_vs_accuracy.png`` into ``out``; return the report
    and the two paths."""
    out = Path(out)
    report = build_report(out, seed=seed)
    markdown = out / REPORT
    markdown.write_text(render_markdown(report), encoding="utf-8")
    image = plot(report, out / PLOT)
    logger.info("wrote %s and %s", markdown, image)
    return report, markdown, image
