"""The verbatim part of the leakage meter (minions.privacy) on constructed cases and
on protocol runs with scripted models."""

from __future__ import annotations

import pytest

from minions.clients.scripted import ScriptedClient
from minions.documents import Document
from minions.privacy import Meter
from minions.protocols.direct import RemoteOnly
from minions.protocols.minion import Minion
from minions.types import Message, Result

from .protocols.helpers import REPORT, remote_script

SENTENCE = "Total revenue was $4.2 billion in 2023, up from $3.9 billion in 2022."
RECORD = Document.from_pages(
    [
        "Discharge letter. We report on our patient Mrs. Lina Caballero, born 02/05/1961, "
        "admitted for community-acquired pneumonia and treated with amoxicillin.",
        SENTENCE + " Net income was $310 million.",
    ],
    name="record",
)


def sent(*texts: str) -> list[Message]:
    return [Message.user(t) for t in texts]


def test_a_copied_sentence_counts_and_its_length_is_the_longest_span():
    meter = Meter([RECORD])
    call = meter.measure(sent(f"The assistant quoted: {SENTENCE!r}"), "synthesis", 1)
    assert call.ngram_share > 0
    # from "Total" to the last "2022"
    assert call.longest_span_chars == len(SENTENCE) - 1


@pytest.mark.parametrize(
    "text",
    [
        "Revenue grew to about four billion dollars last year, from under four.",  # paraphrase
        "4.2",  # only a number
        "What was the total revenue in 2023?",  # the task's own words
    ],
)
def test_a_paraphrase_or_a_figure_is_no_verbatim_exposure(text):
    call = Meter([RECORD]).measure(sent(text), "question", 1)
    assert call.ngram_share == 0 and call.longest_span_chars == 0


def test_the_run_counts_a_passage_sent_twice_once():
    meter = Meter([RECORD])
    first = meter.measure(sent(SENTENCE), "a", 1)
    meter.measure(sent(SENTENCE), "b", 2)
    run = meter.privacy()
    assert run.ngram_share == first.ngram_share and len(run.calls) == 2
    assert run.document_ngrams > 0


async def test_remote_only_sends_everything_and_minion_far_less():
    task = "What was total revenue in 2023?"
    remote = ScriptedClient("remote", replies=["$4.2 billion"])
    everything = await RemoteOnly().run(task, [REPORT], local=remote, remote=remote)
    assert everything.privacy.ngram_share == pytest.approx(1.0)
    assert everything.privacy.calls[0].purpose == "answer"

    remote = remote_script(
        minion=[
            {"decision": "ask", "message": "What was total revenue in 2023?"},
            {"decision": "answer", "message": "$4.2 billion"},
        ]
    )
    local = ScriptedClient(
        "local",
        replies=['Page 3: "Total revenue was $4.2 billion in 2023". So $4.2 billion.'],
        local=True,
    )
    chatted = await Minion().run(task, [REPORT], local=local, remote=remote)
    assert 0 < chatted.privacy.ngram_share < 0.2
    assert chatted.privacy.longest_span_chars >= len("Total revenue was $4.2 billion in 2023") - 1
    assert [c.round for c in chatted.privacy.calls] == [1, 2]
    assert chatted.privacy.calls[0].ngram_share == 0  # the first question sends no text
    assert Result.from_json(chatted.to_json()).privacy == chatted.privacy


async def test_the_summary_says_what_of_the_text_reached_the_remote():
    from rich.console import Console

    from minions.console import summary

    remote = ScriptedClient("remote", replies=["$4.2 billion"])
    result = await RemoteOnly().run("Revenue?", [REPORT], local=remote, remote=remote)
    console = Console(width=100, record=True)
    console.print(summary(result))
    text = console.export_text()
    assert "100.0% of the documents' word 8-grams reached the remote" in text
    assert "sensitive values sent: AMOUNT 3/3" in text  # $4.2 billion, $3.9 billion, $310 million
