"""MinionS on the bundled 10-K excerpt with the offline packs: real inference end to end.

The offline pair (qwen2.5-coder-0.5b local, qwen2.5-coder-1.5b as the remote stand-in)
is far weaker than a frontier remote, so these tests check that the protocol runs for
real and meters every call, not that the small models find the right figure.
"""

from __future__ import annotations

import json
import logging
import re

import pytest
from typer.testing import CliRunner

from minions.cli import DEMO_OPTIONS, EXAMPLES, app

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def demo_output() -> str:
    """``minions demo`` once, with the response cache off, as a user runs it."""
    out = CliRunner().invoke(app, ["demo", "--no-cache"], terminal_width=160)
    log.warning("minions demo output:\n%s", out.output)
    assert out.exit_code == 0, out.output
    return out.output


def _answer(output: str) -> str:
    """The text of the demo's answer panel."""
    panel = output.split("answer · minions", 1)[1].split("╰", 1)[0]
    lines = [line.strip().strip("│").strip() for line in panel.splitlines()[1:]]
    return " ".join(line for line in lines if line)


def test_minions_demo_answers_with_real_models(demo_output):
    example = json.loads((EXAMPLES / "questions.json").read_text())[0]
    assert "expected answer" in demo_output and example["answer"] in demo_output
    assert re.search(r"remote-only\s+\$\d", demo_output), demo_output
    assert _answer(demo_output)


@pytest.mark.xfail(
    strict=True,
    reason="the offline pair answers the demo wrongly ($380 here, the same on every run "
    "since replies stopped depending on the caches; README, 'The demo's answer'); strict, "
    "so a right answer fails this mark",
)
def test_the_demo_answer_is_right_by_the_eval_scorer(demo_output):
    from minions.evals.scoring import score_finance

    example = json.loads((EXAMPLES / "questions.json").read_text())[0]
    score = score_finance(_answer(demo_output), example["answer"], example["question"])
    assert score.correct, f"{_answer(demo_output)!r}: {score.detail}"


async def test_minions_ask_meters_both_models_and_saves_against_remote_only():
    import minions

    example = json.loads((EXAMPLES / "questions.json").read_text())[0]
    result = await minions.ask_async(
        example["question"],
        EXAMPLES / example["document"],
        protocol="minions",
        **{**DEMO_OPTIONS, "plan": "code", "max_code_attempts": 2, "max_jobs_per_round": 4},
    )
    log.warning(
        "answer %r (expected %r); notes %s",
        result.answer,
        example["answer"],
        result.rounds[0].notes,
    )
    assert result.status == "answered", result.error
    assert result.answer
    assert result.local_usage.calls >= 1 and result.local_usage.output_tokens > 0
    assert result.remote_usage.calls >= 2 and result.remote_usage.output_tokens > 0
    assert result.remote_model == "llamacpp:qwen2.5-coder-1.5b"
    assert result.cost.priced_as == "openai:gpt-4o"
    assert 0 < result.cost.remote_usd < result.cost.remote_only_usd
    assert result.rounds[0].code or any("JSON plan" in n for n in result.rounds[0].notes)
    assert result.notes and "stand-in" in result.notes[0]
