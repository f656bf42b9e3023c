"""The privacy report's measures on a constructed record: gold values found in what
the remote was sent in any form, and values masked that were not sensitive."""

from __future__ import annotations

from minions.evals.privacy_report import measure_example, render
from minions.types import Result, Round, Turn, Usage

RECORD = {"name": "Lina Caballero", "birthday": "1961-07-19"}
LETTER = (
    "Mercy Medical Ctr\nOutpatient Clinic, Salem\nDate: 02/05/2014\n\nWe report on our "
    "patient Lina Caballero, born on 07/19/1961, seen on 02/05/2014.\n\nKind regards,\n"
    "Dr. Kara O'Connell"
)
TASK = "What did Mrs. Caballero receive on 02/05/2014?"


def result(*prompts: str) -> Result:
    turns = [
        Turn(role="remote", purpose="question", prompt=p, reply="", usage=Usage()) for p in prompts
    ]
    return Result(protocol="minion", task=TASK, answer="x", rounds=[Round(index=1, turns=turns)])


def test_gold_values_reaching_the_remote_are_found_in_any_form():
    leak = measure_example(
        RECORD, [LETTER], result("Was she born 1961-07-19? Ask Dr. O'Connell."), strict=False
    )
    sent = {kind for kind, _ in leak.gold_sent}
    # the surname in the task, the birth date written another way, the clinician, the
    # letter's date in the task; the organisation was not sent
    assert sent == {"PERSON", "DATE"}
    assert len(leak.gold_sent) == 4 and len(leak.gold) == 5


def test_under_strict_the_shielded_task_and_placeholders_carry_no_gold_value():
    leak = measure_example(
        RECORD, [LETTER], result("Was [PERSON_1] born on [DATE_2]?"), strict=True
    )
    assert leak.gold_sent == set()
    # "Outpatient Clinic" is masked as an organisation though it is not on the gold list
    assert leak.masked_other and any("Outpatient Clinic" in t for _, t in leak.masked_other)


def test_the_report_renders_its_columns():
    summary = {
        "strict": {
            "minion": {
                "n": 1, "accuracy": 1.0, "ci": (1.0, 1.0), "remote_usd": 0.001,
                "ngram_share": 0.0, "longest_span": 12, "longest_span_mean": 12.0,
                "gold": 5, "gold_sent": 0, "questions_with_gold_sent": 0, "traced": 1,
                "over_masked_gold_list": 0.25, "over_masked_with_dates": 0.1,
                "gold_sent_by_kind": {}, "detected_sent": {}, "top_over_masked": [],
            }
        }
    }  # fmt: skip
    text = render(summary)
    assert "| strict | minion | 1 | 100.0% (100.0%-100.0%) |" in text and "0 of 5 (0 of 1)" in text
