"""Scorers on tables of real-looking answers to FinanceBench, LongHealth and QASPER golds."""

from __future__ import annotations

import pytest

from minions.clients.scripted import ScriptedClient
from minions.documents import Document
from minions.errors import TransientProviderError
from minions.evals.datasets import ChoiceGold, Example, FinanceGold, ReferenceGold
from minions.evals.scoring import (
    Judge,
    Score,
    figures,
    score_choice,
    score_example,
    score_finance,
    score_references,
    stance,
    token_f1,
    wants_judge,
)

CAPEX = "What is the FY2018 capital expenditure amount (in USD millions) for 3M?"
DIVIDENDS = "How much (in USD billions) did American Water Works pay out in cash dividends?"
RATIO = "What is General Mills's FY2020 working capital ratio? Round to two decimal places."
PERCENT = "What is Adobe's year-over-year change in operating income (in units of percents)?"

FINANCE = [
    # (gold, question, answer, correct)
    ("$1577.00", CAPEX, "$1577.00", True),
    ("$1577.00", CAPEX, "1,577 million", True),
    ("$1577.00", CAPEX, "$1.577 billion", True),
    ("$1577.00", CAPEX, "$1,577", True),
    ("$1577.00", CAPEX, "1577", True),
    ("$1577.00", CAPEX, "USD 1,577,000,000", True),
    ("$1577.00", CAPEX, "3M's capital expenditure was $1,577M in FY2018.", True),
    ("$1577.00", CAPEX, "Capex was $1,577 million in FY2018, up from $1,373 million.", True),
    ("$1577.00", CAPEX, "$1.58 billion", True),  # 0.2% off: within 1%
    ("$1577.00", CAPEX, "approximately $1.6B", False),  # 1.5% off: too coarse
    ("$1577.00", CAPEX, "(1,577)", False),  # parentheses are negative: the sign differs
    ("$1577.00", CAPEX, "-$1,577 million", False),
    ("$1577.00", CAPEX, "$1,373 million", False),
    ("$1577.00", CAPEX, "It was 1,577 thousand dollars", False),  # wrong scale
    ("$1577.00", CAPEX, "The filing does not say.", False),
    ("$1577.00", CAPEX, "In 2018 capex rose.", False),  # the year is not a figure
    ("$0.40", DIVIDENDS, "$400 million", True),
    ("$0.40", DIVIDENDS, "$0.4 billion", True),
    ("$0.40", DIVIDENDS, "0.40", True),
    ("$0.40", DIVIDENDS, "$4 billion", False),
    ("0.68", RATIO, "0.68", True),
    ("0.68", RATIO, "The working capital ratio is 0.68x.", True),
    ("0.68", RATIO, "68%", True),  # the same ratio as a percentage
    ("0.68", RATIO, "0.675", True),  # rounds to the gold
    ("0.68", RATIO, "0.7", False),
    ("0.68", RATIO, "0.66", False),
    ("65.4%", PERCENT, "65.4%", True),
    ("65.4%", PERCENT, "65.4", True),  # bare figure in the percent units asked for
    ("65.4%", PERCENT, "0.654", True),  # the fraction
    ("65.4%", PERCENT, "an increase of 65.4 percent", True),
    ("65.4%", PERCENT, "65.37%", True),
    ("65.4%", PERCENT, "-65.4%", False),
    ("65.4%", PERCENT, "54.6%", False),
    ("2.8%", PERCENT, "2.76%", True),  # rounds to 2.8 at the gold's precision
    ("2.8%", PERCENT, "2.9%", False),
    ("-3.7", RATIO, "-3.7", True),
    ("-3.7", RATIO, "The CCC is \u22123.7 days", True),  # a Unicode minus
    ("-3.7", RATIO, "(3.7)", True),
    ("-3.7", RATIO, "3.7 days", False),
    ("Yes. It decreased.", "Did it decrease?", "Yes, it decreased by 5%.", True),
    ("Yes. It decreased.", "Did it decrease?", "yes", True),
    ("Yes. It decreased.", "Did it decrease?", "No.", False),
    ("Yes. It decreased.", "Did it decrease?", "Answer: No, it increased.", False),
    ("No, the margins declined.", "Did margins improve?", "No. They fell.", True),
    ("Customer deposits", "Largest liability?", "Customer deposits", True),
    ("Customer deposits", "Largest liability?", "It is mostly customer deposits.", True),
]


@pytest.mark.parametrize(("gold", "question", "answer", "correct"), FINANCE)
def test_finance_answers(gold: str, question: str, answer: str, correct: bool) -> None:
    score = score_finance(answer, gold, question)
    assert score.correct is correct, score.detail
    assert score.method and score.detail


def test_a_figure_with_the_wrong_sign_says_so() -> None:
    score = score_finance("(1,577)", "$1577.00", CAPEX)
    assert score.method == "numeric"
    assert "sign" in score.detail


def test_a_stance_match_says_the_rest_is_not_checked() -> None:
    score = score_finance("Yes, by 90%.", "Yes. It decreased.", "Did it decrease?")
    assert (score.correct, score.method) == (True, "yes_no")
    assert "stance only" in score.detail


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("Yes. It decreased.", "It went down over the year."),  # no stance
        ("Lower marketing expenses drove the margin.", "Higher prices drove it."),
    ],
)
def test_free_form_answers_without_a_judge_are_undecided(gold: str, answer: str) -> None:
    score = score_finance(answer, gold, "Why?")
    assert score.correct is None
    assert score.method in ("yes_no", "undecided")


def test_figures_skip_years_and_numbers_inside_words() -> None:
    found = figures("In FY2022 (Q2), 10-K: revenue of $1,234.5 million in 2021, -4% and (12)")
    assert [(f.value, f.scale, f.percent) for f in found] == [
        (10.0, 1.0, False),
        (1234.5, 1e6, False),
        (-4.0, 1.0, True),
        (-12.0, 1.0, False),
    ]


def test_a_range_is_two_positive_figures() -> None:
    assert [f.value for f in figures("10\u201312%")] == [10.0, 12.0]


OPTIONS = {
    "A": "110 mg/dL",
    "B": "164 mg/dL",
    "C": "136 mg/dL",
    "D": "1164 mg/dL",
    "E": "Essential hypertension",
}
CHOICE = ChoiceGold(options=OPTIONS, correct="B")

CHOICES = [
    ("B", True),
    ("b", True),
    ("(B)", True),
    ("B)", True),
    ("B.", True),
    ("**B**", True),
    ("Answer: B", True),
    ("The answer is (B).", True),
    ("The correct option is B.", True),
    ("Option B: 164 mg/dL", True),
    ("B. 164 mg/dL", True),
    ("B) 164 mg/dL\nThe other values are older.", True),
    ("164 mg/dL", True),
    ("164 MG/DL.", True),
    ("The most recent triglycerides value was 164 mg/dL.", True),
    ("A patient value of 164 mg/dL", True),  # "A" as an article is not a letter
    ("C", False),
    ("The answer is C. 136 mg/dL", False),
    ("1164 mg/dL", False),  # option D, not B inside it
    ("B or C", False),
    ("B, C", False),
    ("Answer: B. On reflection the answer is C.", False),
    ("B. 136 mg/dL", False),  # the letter says B, the text says C
    ("110 mg/dL and 164 mg/dL were both measured", False),
    ("I cannot tell from the records.", False),
    ("", False),
]


@pytest.mark.parametrize(("answer", "correct"), CHOICES)
def test_multiple_choice_answers(answer: str, correct: bool) -> None:
    score = score_choice(answer, CHOICE)
    assert score.correct is correct, score.detail
    assert score.method == "choice"


def test_several_options_are_refused_with_a_reason() -> None:
    assert "several" in score_choice("B or C", CHOICE).detail
    assert "several" in score_choice("110 mg/dL and 164 mg/dL", CHOICE).detail
    assert "text of C" in score_choice("B. 136 mg/dL", CHOICE).detail


def test_a_longer_option_text_wins_over_one_it_contains() -> None:
    gold = ChoiceGold(
        options={
            "A": "Hypertension",
            "B": "Essential hypertension",
            "C": "Asthma",
            "D": "Gout",
            "E": "Acne",
        },
        correct="B",
    )
    assert score_choice("The patient has essential hypertension.", gold).correct is True
    assert score_choice("Hypertension", gold).correct is False


@pytest.mark.parametrize(
    ("answer", "references", "correct", "method"),
    [
        ("BERT and ELMo", ["BERT, ELMo"], True, "f1"),
        ("They use a convolutional network.", ["LSTM encoder"], False, "f1"),
        ("Yes, they do.", ["Yes"], True, "yes_no"),
        ("No.", ["Yes", "Yes"], False, "yes_no"),
        ("The paper does not say.", ["Unanswerable"], True, "unanswerable"),
        ("Unanswerable", ["Unanswerable", "LSTM"], True, "unanswerable"),
        ("an LSTM", ["Unanswerable", "LSTM"], True, "f1"),
    ],
)
def test_qasper_references(answer: str, references: list[str], correct: bool, method: str) -> None:
    score = score_references(answer, references)
    assert (score.correct, score.method) == (correct, method), score.detail


def test_token_f1_ignores_case_punctuation_and_articles() -> None:
    assert token_f1("The BERT model.", "bert model") == 1.0
    assert token_f1("", "") == 1.0
    assert token_f1("abc", "") == 0.0
    assert token_f1("a b c d", "a b") == pytest.approx(0.5)  # "a" is an article: b c d vs b
    assert token_f1("x y z w", "x y") == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes, it did.", "yes"),
        ("No.", "no"),
        ("**No**, it fell.", "no"),
        ("Looking at the data. Yes, it rose.", "yes"),
        ("There is no indication of that.", None),
        ("Yes it did", None),  # too loose to read a stance from
    ],
)
def test_stance(text: str, expected: str | None) -> None:
    assert stance(text) == expected


def test_which_golds_a_judge_grades() -> None:
    assert wants_judge(FinanceGold(answer="Yes. It decreased."))
    assert wants_judge(FinanceGold(answer="Customer deposits"))
    assert not wants_judge(FinanceGold(answer="$1577.00"))
    assert not wants_judge(CHOICE)
    assert wants_judge(ReferenceGold(references=["Yes", "BERT"]))
    assert not wants_judge(ReferenceGold(references=["Yes", "Unanswerable"]))


def _example(gold: FinanceGold | ChoiceGold) -> Example:
    return Example(
        id="x",
        question="Did it decrease?",
        documents=[Document.from_pages(["text"], name="d")],
        gold=gold,
    )


async def test_the_judge_verdict_and_reasoning_are_stored() -> None:
    client = ScriptedClient(
        "judge", replies=[{"reasoning": "Both say it went down.", "correct": True}]
    )
    score, usage = await score_example(
        _example(FinanceGold(answer="Yes. It decreased.")),
        "It went down.",
        judge=Judge(client),
    )
    expected = Score(correct=True, method="judge:scripted:judge", detail="Both say it went down.")
    assert score == expected
    assert usage.calls == 1 and usage.input_tokens > 0
    prompt = client.calls[0].messages[-1].content
    assert "Yes. It decreased." in prompt and "It went down." in prompt


async def test_figures_and_choices_never_go_to_the_judge() -> None:
    client = ScriptedClient("judge", replies=[])
    score, usage = await score_example(
        _example(FinanceGold(answer="$1577.00")), "$1,577", judge=Judge(client)
    )
    assert score.method == "numeric" and not client.calls and not usage


@pytest.mark.parametrize(
    "reply",
    ["not json at all", TransientProviderError("down", provider="scripted")],
)
async def test_an_unusable_judge_leaves_the_score_undecided(reply: object) -> None:
    client = ScriptedClient("judge", replies=[reply])  # type: ignore[list-item]
    score, _ = await score_example(
        _example(FinanceGold(answer="Yes. It decreased.")), "It went down.", judge=Judge(client)
    )
    assert score.correct is None
    assert score.method == "judge:scripted:judge"


async def test_no_answer_is_wrong() -> None:
    score, _ = await score_example(_example(FinanceGold(answer="$1.00")), None)
    assert (score.correct, score.method) == (False, "no_answer")
