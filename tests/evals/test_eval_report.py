"""The report on a synthetic results.jsonl: intervals, ratios, markdown and the plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from minions.errors import ConfigurationError
from minions.evals.report import PLOT, REPORT, bootstrap_ci, build_report, summarize, write_report
from minions.evals.runner import RESULTS, RUN_INFO, EvalRow, EvalSettings, RunInfo
from minions.evals.scoring import Score
from minions.types import Usage


def row(
    example: int,
    protocol: str,
    correct: bool | None,
    usd: float | None,
    *,
    dataset: str = "longhealth",
    status: str = "answered",
    remote_tokens: int = 1000,
    local_tokens: int = 0,
) -> EvalRow:
    return EvalRow(
        dataset=dataset,
        example_id=f"ex{example}",
        protocol=protocol,
        question="q",
        gold="B",
        answer=None if status == "error" else "B",
        score=Score(correct=correct, method="choice", detail=""),
        status=status,  # type: ignore[arg-type]
        usage={
            "remote": Usage(input_tokens=remote_tokens, calls=1),
            "local": Usage(input_tokens=local_tokens, calls=1 if local_tokens else 0),
        },
        remote_usd=usd,
        remote_only_usd=0.01,
        wall_s=2.0,
        local_model="scripted:local",
        remote_model="scripted:remote",
    )


def synthetic_rows() -> list[EvalRow]:
    rows = []
    for i in range(20):
        rows.append(row(i, "remote_only", i < 16, 0.01))  # 80%
        rows.append(row(i, "minions", i < 14, 0.002, remote_tokens=200, local_tokens=5000))  # 70%
        rows.append(row(i, "minion", i < 8, 0.0005, remote_tokens=50, local_tokens=3000))  # 40%
    rows.append(row(20, "minions", False, 0.001, status="error"))  # no remote_only twin
    rows.append(row(21, "minions", None, 0.002))  # undecided
    for i in range(5):
        rows.append(row(i, "minions", i < 3, 0.004, dataset="financebench"))
    return rows


def write_run(folder: Path, rows: list[EvalRow], dataset: str = "longhealth") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    settings = EvalSettings(
        dataset=dataset,  # type: ignore[arg-type]
        protocols=["remote_only", "minions", "minion"],
        local="scripted:local",
        remote="scripted:remote",
        price_as="openai:gpt-4o",
        context="texts:4",
    )
    info = RunInfo(settings=settings, created_at="2025-01-01T00:00:00+00:00")
    (folder / RUN_INFO).write_text(info.model_dump_json())
    (folder / RESULTS).write_text("".join(r.model_dump_json() + "\n" for r in rows))
    return folder


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    outcomes = [True] * 14 + [False] * 6
    low, high = bootstrap_ci(outcomes)  # type: ignore[misc]
    assert low < 0.7 < high
    assert 0.45 < low < 0.6 and 0.8 < high < 0.95
    assert bootstrap_ci(outcomes) == (low, high)
    assert bootstrap_ci([True, True]) == (1.0, 1.0)
    assert bootstrap_ci([]) is None


def test_summary_per_dataset_and_protocol() -> None:
    groups = {(g.dataset, g.protocol): g for g in summarize(synthetic_rows())}

    base = groups[("longhealth", "remote_only")]
    assert (base.n, base.correct, base.decided) == (20, 16, 20)
    assert base.accuracy == pytest.approx(0.8)
    assert base.ci_low is not None and base.ci_high is not None
    assert base.ci_low < 0.8 < base.ci_high
    assert base.cost_ratio == pytest.approx(1.0) and base.quality_ratio == pytest.approx(1.0)

    minions = groups[("longhealth", "minions")]
    assert (minions.n, minions.decided, minions.correct, minions.errors) == (22, 21, 14, 1)
    assert minions.mean_remote_usd == pytest.approx((20 * 0.002 + 0.001 + 0.002) / 22)
    assert minions.mean_local_tokens == pytest.approx(20 * 5000 / 22)
    assert minions.mean_remote_tokens == pytest.approx((20 * 200 + 2 * 1000) / 22)
    assert minions.mean_wall_s == pytest.approx(2.0)
    assert minions.mean_remote_only_usd == pytest.approx(0.01)
    # ratios on the 20 examples remote_only also ran
    assert minions.paired == 20
    assert minions.cost_ratio == pytest.approx(0.01 / 0.002)
    assert minions.quality_ratio == pytest.approx(14 / 16)
    assert "1 undecided" in minions.note

    minion = groups[("longhealth", "minion")]
    assert minion.cost_ratio == pytest.approx(20.0)
    assert minion.quality_ratio == pytest.approx(0.5)


def test_without_remote_only_there_are_no_ratios() -> None:
    groups = {(g.dataset, g.protocol): g for g in summarize(synthetic_rows())}
    alone = groups[("financebench", "minions")]
    assert alone.cost_ratio is None and alone.quality_ratio is None
    assert "remote_only was not run" in alone.note
    assert alone.accuracy == pytest.approx(0.6)


def test_unpriced_and_free_protocols_have_no_cost_ratio() -> None:
    rows = [row(0, "remote_only", True, 0.01), row(0, "local_only", True, 0.0)]
    rows += [row(0, "minions", True, None)]
    groups = {g.protocol: g for g in summarize(rows)}
    assert groups["local_only"].cost_ratio is None
    assert "no remote cost" in groups["local_only"].note
    assert groups["minions"].mean_remote_usd is None
    assert "unpriced" in groups["minions"].note


def test_write_report_makes_markdown_and_a_png(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "run", synthetic_rows())
    report, markdown, image = write_report(folder)

    assert markdown == folder / REPORT and image == folder / PLOT
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = markdown.read_text()
    assert "## longhealth" in text and "## financebench" in text
    assert "| minions | 22 | 66.7% [" in text  # 14 of 21 decided
    assert "5.0x cheaper" in text and "0.88x" in text  # cost and quality ratios of minions
    assert "remote_only was not run" in text
    assert "`scripted:remote`, priced as `openai:gpt-4o`" in text
    assert "texts:4" in text
    assert f"]({PLOT})" in text
    assert report.rows == len(synthetic_rows())


def test_the_report_shows_the_share_of_the_text_each_protocol_sent(tmp_path: Path) -> None:
    rows = [
        row(i, p, True, 0.01).model_copy(update={"ngram_share": share})
        for i in range(4)
        for p, share in (("remote_only", 1.0), ("minions", 0.02 + i * 0.01))
    ]
    text = write_report(write_run(tmp_path / "run", rows))[1].read_text()
    assert "text sent (8-grams)" in text
    assert "| remote_only | 4 |" in text and "100.0%" in text
    assert "3.5%" in text  # the mean of 2%, 3%, 4% and 5%
    unmeasured = write_report(write_run(tmp_path / "old", [row(0, "minions", True, 0.01)]))
    assert "| n/a |" in unmeasured[1].read_text()  # rows written before the meter


def test_report_takes_the_last_row_of_a_pair(tmp_path: Path) -> None:
    rows = [row(0, "remote_only", False, 0.01, status="error"), row(0, "remote_only", True, 0.01)]
    report = build_report(write_run(tmp_path, rows))
    (group,) = report.groups
    assert (group.n, group.correct, group.errors) == (1, 1, 0)


def test_a_folder_without_rows_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no results rows"):
        build_report(tmp_path)


def test_a_folder_of_runs_is_reported_together(tmp_path: Path) -> None:
    rows = synthetic_rows()
    write_run(tmp_path / "longhealth", [r for r in rows if r.dataset == "longhealth"])
    finance = [r for r in rows if r.dataset == "financebench"]
    write_run(tmp_path / "financebench", finance, dataset="financebench")
    (tmp_path / "notes").mkdir()  # a folder without results is passed over

    report, markdown, image = write_report(tmp_path)
    assert [run.folder for run in report.runs] == ["financebench", "longhealth"]
    assert report.rows == len(rows)
    assert {(g.dataset, g.protocol) for g in report.groups} == {
        ("longhealth", "remote_only"),
        ("longhealth", "minions"),
        ("longhealth", "minion"),
        ("financebench", "minions"),
    }
    text = markdown.read_text()
    assert "- run `financebench`: 5 rows\n  - dataset financebench;" in text
    assert "- run `longhealth`: 62 rows\n  - dataset longhealth;" in text
    assert markdown.parent == image.parent == tmp_path


def test_protocols_are_compared_paired_on_the_questions_both_decided(tmp_path: Path) -> None:
    report, markdown, _ = write_report(write_run(tmp_path / "run", synthetic_rows()))
    by_pair = {(d.dataset, d.protocol, d.other): d for d in report.differences}
    assert set(by_pair) == {
        ("longhealth", "minions", "remote_only"),
        ("longhealth", "minion", "remote_only"),
        ("longhealth", "minion", "minions"),
    }  # financebench ran one protocol: nothing to pair
    minion = by_pair[("longhealth", "minion", "minions")]
    # ex0-19 decided by both (ex20's error has no minion twin, ex21 is undecided)
    assert minion.n == 20 and minion.difference == pytest.approx((8 - 14) / 20)
    assert minion.ci_low is not None and minion.ci_high is not None
    assert (
        minion.ci_low <= minion.difference <= minion.ci_high < 0
    )  # minion is worse on 6, better on none
    assert "- minion - minions: -30.0 pts [" in markdown.read_text()
