"""The two-rounds report: the paired difference and whether the feedback steered."""

from __future__ import annotations

from pathlib import Path

from test_eval_report import row

from minions.evals import rounds_report
from minions.evals.runner import RESULTS, TRACES
from minions.types import ChunkRef, JobRecord, Result, Round


def _job(job_id: int, page: int) -> JobRecord:
    chunk = ChunkRef(doc="record", index=page - 1, page_start=page, page_end=page)
    return JobRecord(job_id=job_id, task_id=1, task="t", chunk=chunk)


def _result(*second_round_pages: int, steered: str | None = None) -> Result:
    rounds = [Round(index=1, jobs=[_job(0, 1), _job(1, 2)])]
    if second_round_pages:
        notes = [f"reads the 2 chunks on pages {steered}, as the feedback asked"] if steered else []
        jobs = [_job(i + 2, p) for i, p in enumerate(second_round_pages)]
        rounds.append(Round(index=2, jobs=jobs, notes=notes))
    return Result(protocol="minions", task="q", answer="B", rounds=rounds)


def _folder(out: Path, name: str, correct: list[bool], traces: list[Result] = ()) -> None:
    folder = out / name
    (folder / TRACES / "minions").mkdir(parents=True)
    usd = 0.002 if name == "rounds-2" else 0.001
    lines = [row(i, "minions", c, usd) for i, c in enumerate(correct)]
    (folder / RESULTS).write_text("".join(r.model_dump_json() + "\n" for r in lines))
    for i, result in enumerate(traces):
        (folder / TRACES / "minions" / f"ex{i}.json").write_text(result.to_json())


def test_the_report_pairs_the_runs_and_counts_the_steered_second_rounds(tmp_path: Path) -> None:
    _folder(tmp_path, "rounds-1", [False, False, True, True])
    traces = [
        _result(),  # answered in one round
        _result(3, 4, steered="3, 4"),  # both jobs on the pages it named
        _result(3, 7, steered="3"),  # one of two
        _result(5, 6),  # a second round by retrieval
    ]
    _folder(tmp_path, "rounds-2", [True, False, True, False], traces)
    text = rounds_report.report(tmp_path)
    assert "| rounds-1 | 4 | 50.0%" in text and "| rounds-2 | 4 | 50.0%" in text
    assert "$0.0010" in text and "$0.0020" in text
    assert "on the 4 questions both decided: +0.0 pts" in text
    assert "4 saved runs, 3 went to a second round; in 2 of those" in text
    assert "3 of their 4 second-round jobs (75.0%)" in text


def test_a_folder_of_run_folders_a_question_reads_as_one_run(tmp_path: Path) -> None:
    """evals/run_rounds.sh writes a run folder a question, so a partial run is paired."""
    for index, (one, two) in enumerate([(False, True), (True, True), (False, False)]):
        _folder(tmp_path / "rounds-1", f"q{index}", [one])
        _folder(tmp_path / "rounds-2", f"q{index}", [two], [_result(3, steered="3")])
    # the rows' example ids repeat across folders (each folder's first row is ex0):
    # give each its own so the pairing has three questions
    for name in rounds_report.RUNS:
        for index in range(3):
            path = tmp_path / name / f"q{index}" / RESULTS
            path.write_text(path.read_text().replace('"ex0"', f'"q{index}"'))
    text = rounds_report.report(tmp_path)
    assert "| rounds-1 | 3 | 33.3%" in text and "| rounds-2 | 3 | 66.7%" in text
    assert "on the 3 questions both decided: +33.3 pts" in text
    assert "3 saved runs, 3 went to a second round; in 3 of those" in text
