"""Quote verification: exact, normalized, bounded fuzzy; a changed figure never verifies."""

from __future__ import annotations

import pytest

from minions.citations import FUZZY_THRESHOLD, check_quote, states_answer

TEXT = (
    "Consolidated statement of cash flows.\n"
    "Purchases of property, plant and equipment (PP&E)  were $1,577 million in 2018,\n"
    "compared with $1,373 million in 2017. Net income was $5,349 million.\n"
    "The company\u2019s \u201ccore\u201d segments grew \u2014 mostly in Asia."
)


@pytest.mark.parametrize(
    ("quote", "method"),
    [
        ("Purchases of property, plant and equipment (PP&E)  were $1,577 million", "exact"),
        ("Net income was $5,349 million", "exact"),  # a truncated sentence is still verbatim
        ("purchases of PROPERTY, plant and equipment (PP&E) were $1,577 million", "normalized"),
        ('The company\'s "core" segments grew - mostly in Asia.', "normalized"),
        ("Purchases of property, plant and equipment were $1,577 million in 2018", "fuzzy"),
        ("compared with $1,373 milion in 2017", "fuzzy"),  # a typo
    ],
)
def test_quotes_from_the_text_verify(quote: str, method: str) -> None:
    check = check_quote(quote, TEXT)
    assert check.verified and check.method == method, check
    assert check.start is not None and check.end is not None
    assert check.end - check.start >= len(quote) // 2


@pytest.mark.parametrize(
    "quote",
    [
        # changed figures, however close the words
        "Purchases of property, plant and equipment (PP&E) were $1,578 million in 2018",
        "Purchases of property, plant and equipment (PP&E) were $1,577 million in 2019",
        "Net income was $5,394 million.",
        # fabricated
        "Revenue grew 12% to $32.8 billion driven by strong demand.",
        # paraphrased
        "In 2018 the company spent about 1.6 billion dollars on capital expenditure.",
        # too short to mean anything
        "the",
        "",
        None,
    ],
)
def test_other_quotes_do_not_verify(quote: str | None) -> None:
    assert not check_quote(quote, TEXT).verified


def test_the_threshold_is_what_a_dropped_word_costs() -> None:
    # one dropped word in a 12-word quote stays above the threshold, a paraphrase does not
    assert FUZZY_THRESHOLD == 90.0
    near = check_quote("Purchases of property, plant and equipment were $1,577 million", TEXT)
    assert near.verified and near.score >= FUZZY_THRESHOLD
    far = check_quote("Spending on property and equipment reached $1,577 million", TEXT)
    assert not far.verified


def test_number_formats_count_as_the_same_number() -> None:
    text = "Capital expenditures were 1577 million dollars in fiscal 2018 overall."
    assert check_quote("Capital expenditures were 1,577 million dollars in fiscal 2018", text)


@pytest.mark.parametrize(
    ("answer", "quote", "states"),
    [
        ("$1,577 million", "Purchases of PP&E (1,577) (1,373)", True),
        ("1577", "capital spending of $1,577 million", True),
        ("$1.6 billion", "capital expenditures of $1.6 billion", True),
        ("1,600", "capital expenditures of $1.6 billion", True),  # in millions
        ("1.7 billion", "capital expenditures of $1.6 billion", False),
        ("4.3", "revenue was 4.2", False),  # a changed figure never does
        ("176", "The Company defines free cash flow as net cash less purchases", False),
        ("600", "3M contributed $600 million to its pension plan", True),  # stated, if wrong
        ("B", "Metformin 500 MG was prescribed", None),  # no figure: nothing to check
        ("FY2018", "in fiscal 2018", None),  # a year is no figure
        ("4.2", None, False),
    ],
)
def test_a_quote_states_the_answer_when_it_holds_one_of_its_figures(
    answer: str, quote: str | None, states: bool | None
) -> None:
    assert states_answer(answer, quote) is states
