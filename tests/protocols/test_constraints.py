"""The terms of a question every job about it keeps (minions.protocols.constraints)."""

from __future__ import annotations

from minions.protocols.constraints import Constraints, constraints_of, missing_terms

CHOICE = (
    "Which medication was prescribed on 05/23/1995?\n\nOptions:\nA. Aspirin\nB. Metformin\n"
    "C. Atorvastatin\n\nExactly one option is correct. Answer with the letter."
)


def test_options_dates_years_and_units_are_read_from_the_question():
    assert constraints_of(CHOICE) == Constraints(
        options=("A. Aspirin", "B. Metformin", "C. Atorvastatin"), dates=("05/23/1995",)
    )
    finance = constraints_of("What is the FY2018 capital expenditure (in USD millions) for 3M?")
    assert finance == Constraints(years=("2018",), units=("USD millions",))
    assert constraints_of("Gross margin in percent for FY22, vs 2021?").years == ("FY22", "2021")
    assert constraints_of("Gross margin in percent for FY22?").units == ("percent",)


def test_one_lettered_line_is_not_a_list_of_options():
    assert constraints_of("Explain item A. Risk factors").options == ()


def test_only_what_the_task_left_out_is_missing():
    c = constraints_of(CHOICE)
    assert missing_terms("Which medication was prescribed on 05/23/1995?", c) == [
        "the answer is one of these options:\nA. Aspirin\nB. Metformin\nC. Atorvastatin"
    ]
    assert missing_terms("On 05/23/1995: Aspirin, metformin or atorvastatin?", c) == []
    assert missing_terms("Which medication?", c)[1] == "the date asked about: 05/23/1995"
    finance = constraints_of("What is the FY2018 capex in USD millions?")
    assert missing_terms("What were capital expenditures?", finance) == [
        "the year asked about: 2018",
        "the unit asked for: USD millions",
    ]
    assert missing_terms("Capex in fiscal 2018, usd millions?", finance) == []
