"""Scoring answers against gold answers; every score says how it was decided.

A :class:`Score` is ``correct`` (``True``, ``False``, or ``None`` when no rule could
decide and no judge was given), the ``method`` that decided and a ``detail`` in words.

Rules, by kind of gold answer:

**Multiple choice** (LongHealth), :func:`score_choice`. The chosen option is read, in
this order: a letter leading the answer ("B", "(B)", "B)", "B. text", "b"), or stated
("Answer: B", "the correct option is (B)"); failing any letter, the option whose text
the answer contains (case, punctuation and leading zeros ignored; an option contained
in a longer matched option yields to it). Naming several letters ("B or C", "Answer:
B ... the answer is C"), a letter whose option text is contradicted by another option's
text on the same first line ("B. <text of C>"), or several option texts without a
letter, is wrong: an answer must commit to one option.

**FinanceBench**, :func:`score_finance`:

- a gold that is one figure ("$1577.00", "0.68", "65.4%", "-3.7") is matched by
  value. Every figure in the answer is read with its sign ("-3.7", "(1,577)" is
  negative, as in accounts), scale ("thousand", "million"/"mn"/"M", "billion"/"bn"/"B",
  "%") and currency sign; years (1900-2100 with no decimals, sign or unit) and figures
  inside words ("FY2022", "Q2") are skipped. The gold is in the unit the question asks
  for ("in USD millions" -> millions); an answer figure without a scale word is read in
  that unit, or as a whole number ("1,577,000,000"). A percentage matches its fraction
  (68% = 0.68) and a percent gold matches a bare figure in percent units ("2.8") or
  its fraction ("0.028"). A figure matches when it is within 1% of the gold (relative)
  or within half a unit of the gold's last digit (2.76 rounds to a gold of 2.8). The
  sign must agree: "(1,577)" against "$1577.00" is wrong, and the detail says the
  magnitude matched. The answer is right when any of its figures matches, so an answer
  that shows its working is not penalised. "Approximately $1.6B" against $1,577 million
  is 1.5% off and is wrong: the questions ask for figures to the million.
- a gold that opens with "Yes" or "No" is matched on the answer's stance alone (an
  answer opening "Yes,"/"No." or a sentence doing so); the rest is not checked, which
  the detail says. An answer without a stance is undecided.
- other golds: equal after normalisation, or contained in the answer, is right;
  otherwise undecided (``None``): pass a judge.

**QASPER** references, :func:`score_references`: the best over the annotators'
answers of "Unanswerable" (the answer says it cannot be answered), "Yes"/"No" (stance)
and token F1 (SQuAD normalisation) for the rest; right when the best is at least 0.5.

**A user's JSONL questions**, by the scorer each line names: ``numeric`` is the
FinanceBench figure rule (:func:`score_numeric`), ``choice`` the multiple-choice rule,
``exact`` equality after normalisation (:func:`score_exact`), ``judge`` the judge.

**Judge**: with ``--judge SPEC`` every free-form gold (FinanceBench golds that are not
one figure, QASPER questions with a free-form reference, JSONL questions with scorer
``judge``) is graded by that model, which answers under a JSON schema (:class:`Verdict`)
whether the candidate states what the reference states; its verdict and reasoning are
stored. Figures and multiple choice never go to it.
"""

from __future__ import annotations

import logging
import re
import string
import unicodedata
from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from minions.clients import Client
from minions.errors import ConfigurationError, MinionsError
from minions.types import Message, Usage
from minions.values import SCALES, Figure, figures

from .datasets import AnswerGold, ChoiceGold, Example, FinanceGold, Gold, ReferenceGold

__all__ = [
    "Judge",
    "Score",
    "figures",
    "gold_figure",
    "needs_judge",
    "normalize",
    "score_answer",
    "score_choice",
    "score_exact",
    "score_example",
    "score_finance",
    "score_numeric",
    "score_references",
    "stance",
    "token_f1",
    "wants_judge",
]

logger = logging.getLogger(__name__)

RELATIVE_TOLERANCE = 0.01
F1_THRESHOLD = 0.5


class Score(BaseModel):
    """Whether an answer is right, and how that was decided."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    correct: bool | None
    method: str
    detail: str


def normalize(text: str) -> str:
    """Lower case, punctuation to spaces, leading zeros of numbers dropped, spaces folded."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(c)[0] in "PSZ" else c for c in text)
    text = re.sub(r"\b0+(\d)", r"\1", text)
    return " ".join(text.split())


def _contains(haystack: str, needle: str) -> bool:
    """Whether normalized ``needle`` occurs in normalized ``haystack`` as whole words."""
    needle = normalize(needle)
    return bool(needle) and f" {needle} " in f" {normalize(haystack)} "


# --- multiple choice ----------------------------------------------------------------

_LETTER_ALONE = re.compile(r"[\W_]*\(?([a-eA-E])\)?[\W_]*")
_LETTER_LIST = re.compile(r"[\W_]*\(?[A-E]\)?(?:\s*(?:,|/|&|\bor\b|\band\b)\s*\(?[A-E]\)?)+[\W_]*")
_LETTER_LEAD = re.compile(
    r"^[\s*_#>\"']*(?:(?i:option|choice|letter)\s+)?\(?([A-E])(?:\)|\.(?!\d)|:|\s+-|\s*$)"
)
_LETTER_STATED = re.compile(
    r"(?i:\banswer\b|\bcorrect (?:option|choice|letter)\b)"
    r"(?:\s+(?i:is|would be|will be))?\s*[:=]?\s*[*\"']*(?:(?i:option|choice|letter)\s+)?"
    r"\(?([A-E])\b(?!['\-])"
)


def _letters(answer: str) -> set[str]:
    alone = _LETTER_ALONE.fullmatch(answer)
    if alone:
        return {alone[1].upper()}
    lead = _LETTER_LEAD.match(answer)
    return ({lead[1]} if lead else set()) | set(_LETTER_STATED.findall(answer))


def _named_options(text: str, options: dict[str, str]) -> set[str]:
    """Letters of the options whose text ``text`` contains, longest matches winning."""
    named = {letter for letter, option in options.items() if _contains(text, option)}
    return {
        letter
        for letter in named
        if not any(
            other != letter
            and _contains(options[other], options[letter])
            and normalize(options[other]) != normalize(options[letter])
            for other in named
        )
    }


def score_choice(answer: str, gold: ChoiceGold) -> Score:
    """The option ``answer`` chose, against ``gold.correct`` (see the module docs)."""
    right = f"correct is {gold.text}"
    if _LETTER_LIST.fullmatch(answer):
        return Score(correct=False, method="choice", detail=f"names several letters; {right}")
    letters = _letters(answer)
    if len(letters) > 1:
        return Score(
            correct=False,
            method="choice",
            detail=f"names several options ({', '.join(sorted(letters))}); {right}",
        )
    if letters:
        (letter,) = letters
        first_line = answer.strip().split("\n", 1)[0]
        texts = _named_options(first_line, gold.options)
        if texts and letter not in texts:
            return Score(
                correct=False,
                method="choice",
                detail=f"letter {letter} but the text of {', '.join(sorted(texts))}; {right}",
            )
        how = "letter"
    else:
        texts = _named_options(answer, gold.options)
        if len(texts) != 1:
            problem = (
                "names no option"
                if not texts
                else f"names several options ({', '.join(sorted(texts))})"
            )
            return Score(correct=False, method="choice", detail=f"{problem}; {right}")
        (letter,) = texts
        how = "option text"
    return Score(
        correct=letter == gold.correct,
        method="choice",
        detail=f"chose {letter} (by {how}); {right}",
    )


# --- figures --------------------------------------------------------------------------

_QUESTION_UNIT = re.compile(
    r"\b(?:in|usd|us\$|\$)\s*(?:usd\s*)?(thousands|millions|billions)\b", re.I
)


def gold_figure(gold: str) -> Figure | None:
    """The figure when the gold answer is just one figure ("$1577.00", "65.4%")."""
    stripped = gold.strip().rstrip(".")
    found = figures(stripped)
    if len(found) == 1 and found[0].text == stripped:
        return found[0]
    return None


def _in_gold_units(figure: Figure, gold: Figure, unit: float) -> list[float]:
    """The values ``figure`` may stand for, in the unit of ``gold`` (see module docs)."""
    if gold.percent:
        if figure.percent:
            return [figure.value]
        return [figure.value, figure.value * 100] if figure.scale == 1 else []
    if figure.percent:
        return [figure.value / 100] if unit == 1 else []
    if figure.scale != 1:
        return [figure.value * figure.scale / unit]
    return [figure.value] if unit == 1 else [figure.value, figure.value / unit]


def _close(value: float, gold: Figure) -> bool:
    tolerance = max(RELATIVE_TOLERANCE * abs(gold.value), 0.5 * 10**-gold.decimals)
    return abs(value - gold.value) <= tolerance + 1e-9


def _score_figure(answer: str, gold: Figure, question: str) -> Score:
    unit_match = _QUESTION_UNIT.search(question)
    unit = SCALES[unit_match[1].lower().rstrip("s")] if unit_match else 1.0
    unit_words = f" ({unit_match[1].lower()})" if unit_match else ""
    found = figures(answer)
    if not found:
        return Score(
            correct=False,
            method="numeric",
            detail=f"no figure in the answer; gold {gold.text}{unit_words}",
        )
    sign_only = None
    for figure in found:
        values = _in_gold_units(figure, gold, unit)
        if any(_close(v, gold) for v in values):
            return Score(
                correct=True,
                method="numeric",
                detail=f"{figure.text!r} matches gold {gold.text}{unit_words}",
            )
        if sign_only is None and any(_close(-v, gold) for v in values):
            sign_only = figure
    if sign_only is not None:
        detail = f"{sign_only.text!r} has the gold's magnitude but not its sign; gold {gold.text}"
    else:
        shown = ", ".join(repr(f.text) for f in found[:5]) + (" ..." if len(found) > 5 else "")
        detail = f"no figure matches gold {gold.text}{unit_words} within 1%: found {shown}"
    return Score(correct=False, method="numeric", detail=detail)


# --- yes / no and text ------------------------------------------------------------------

_GOLD_STANCE = re.compile(r"^\W*(yes|no)\b", re.I)
_STANCE = re.compile(
    r"(?:^|[.!?:\n])[\s*_\"']*(?:answer\s*:\s*)?(?P<word>yes|no)[*_\"']*(?=\s*[,.!;:]|\s*$)",
    re.I,
)


def stance(text: str) -> str | None:
    """``"yes"`` or ``"no"`` when the text takes that stance (it, or a sentence, opens
    with the word)."""
    match = _STANCE.search(text.strip())
    return match["word"].lower() if match else None


def _score_stance(answer: str, gold_stance: str) -> Score:
    said = stance(answer)
    if said is None:
        return Score(correct=None, method="yes_no", detail="the answer takes no yes/no stance")
    return Score(
        correct=said == gold_stance,
        method="yes_no",
        detail=f"answer says {said}, gold {gold_stance} (stance only; the rest is not checked)",
    )


def score_exact(answer: str, gold: str) -> Score:
    """Right when ``answer`` equals ``gold`` after :func:`normalize`, wrong otherwise."""
    if normalize(answer) == normalize(gold):
        return Score(correct=True, method="exact", detail="equal after normalisation")
    return Score(
        correct=False,
        method="exact",
        detail=f"{normalize(answer)[:120]!r} is not {normalize(gold)!r} after normalisation",
    )


def _score_text(answer: str, gold: str) -> Score:
    exact = score_exact(answer, gold)
    if exact.correct:
        return exact
    if _contains(answer, gold):
        return Score(correct=True, method="contains", detail="the answer contains the gold")
    return Score(
        correct=None, method="undecided", detail="free-form gold; pass --judge to grade it"
    )


def score_numeric(answer: str, gold: str, question: str = "") -> Score:
    """An answer against a gold that is one figure, by value (see the module docs)."""
    figure = gold_figure(gold)
    if figure is None:
        raise ConfigurationError(f"the gold {gold!r} is not one figure, so it cannot be scored")
    return _score_figure(answer, figure, question)


def score_finance(answer: str, gold: str, question: str = "") -> Score:
    """A FinanceBench answer against its gold (see the module docs)."""
    figure = gold_figure(gold)
    if figure is not None:
        return _score_figure(answer, figure, question)
    gold_stance = _GOLD_STANCE.match(gold)
    if gold_stance:
        return _score_stance(answer, gold_stance[1].lower())
    return _score_text(answer, gold)


# --- QASPER references -----------------------------------------------------------------

_UNANSWERABLE = re.compile(
    r"\b(unanswerable|cannot be answered|can ?not be determined|no information|"
    r"not (?:mentioned|stated|specified|provided|given|reported|discussed)|"
    r"does not (?:say|state|mention|specify|provide|report))\b",
    re.I,
)
_SPECIAL_REFERENCES = {"yes", "no", "unanswerable"}


def _squad_tokens(text: str) -> list[str]:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 (lower case, no punctuation or articles)."""
    predicted, expected = _squad_tokens(prediction), _squad_tokens(reference)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not predicted or not expected or not common:
        return float(predicted == expected)
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def _reference_match(answer: str, reference: str) -> tuple[float, str]:
    kind = reference.strip().lower()
    if kind == "unanswerable":
        return float(bool(_UNANSWERABLE.search(answer))), "unanswerable"
    if kind in ("yes", "no"):
        return float(stance(answer) == kind), "yes_no"
    return token_f1(answer, reference), "f1"


def score_references(answer: str, references: list[str]) -> Score:
    """The best match over annotators' references; right at ``F1_THRESHOLD`` or more."""
    matches = [(*_reference_match(answer, ref), ref) for ref in references]
    best, method, reference = max(matches, key=lambda m: m[0])
    return Score(
        correct=best >= F1_THRESHOLD,
        method=method,
        detail=f"best {best:.2f} against reference {reference[:120]!r} "
        f"({len(references)} reference(s); right at {F1_THRESHOLD} or more)",
    )


# --- dispatch and the judge ----------------------------------------------------------


def score_answer(gold: Gold, answer: str, question: str = "") -> Score:
    """The rule-based score of ``answer`` against ``gold``."""
    if isinstance(gold, ChoiceGold):
        return score_choice(answer, gold)
    if isinstance(gold, FinanceGold):
        return score_finance(answer, gold.answer, question)
    if isinstance(gold, AnswerGold):
        return _score_user(answer, gold, question)
    return score_references(answer, gold.references)


def _score_user(answer: str, gold: AnswerGold, question: str) -> Score:
    if gold.scorer == "numeric":
        return score_numeric(answer, gold.answer, question)
    if gold.scorer == "exact":
        return score_exact(answer, gold.answer)
    return Score(correct=None, method="undecided", detail="scorer judge; pass --judge to grade it")


def wants_judge(gold: Gold) -> bool:
    """Whether a judge grades this gold when one is given (free-form golds only)."""
    if isinstance(gold, FinanceGold):
        return gold_figure(gold.answer) is None
    if isinstance(gold, ReferenceGold):
        return any(r.strip().lower() not in _SPECIAL_REFERENCES for r in gold.references)
    return needs_judge(gold)


def needs_judge(gold: Gold) -> bool:
    """Whether only a judge can grade this gold (a user's question with scorer judge)."""
    return isinstance(gold, AnswerGold) and gold.scorer == "judge"


JUDGE_SYSTEM = (
    "You grade answers to questions about documents. You are given a question, the "
    "reference answer and a candidate answer. The candidate is correct when it states "
    "what the reference states on the point the question asks about: the same facts "
    "and figures (small rounding differences are fine), the same conclusion. Extra "
    "explanation is fine unless it contradicts the reference; hedging between several "
    "answers is incorrect. Reply with JSON: "
    '{"reasoning": "<one or two sentences>", "correct": true or false}.'
)
JUDGE_USER = "Question:\n{question}\n\nReference answer:\n{gold}\n\nCandidate answer:\n{answer}"


class Verdict(BaseModel):
    """What the judge model returns."""

    model_config = ConfigDict(extra="ignore")

    reasoning: str = ""
    correct: bool = Field(description="whether the candidate answer is correct")


class Judge:
    """An LLM that grades free-form answers; its verdict and reasoning become the score."""

    def __init__(self, client: Client, *, max_tokens: int = 300) -> None:
        self.client = client
        self.max_tokens = max_tokens

    async def grade(self, question: str, gold: str, answer: str) -> tuple[Score, Usage]:
        """The judge's score and the tokens it took; an unusable reply is undecided."""
        method = f"judge:{self.client.spec}"
        messages = [
            Message.system(JUDGE_SYSTEM),
            Message.user(JUDGE_USER.format(question=question, gold=gold, answer=answer)),
        ]
        try:
            completion = await self.client.chat(
                messages, schema=Verdict, max_tokens=self.max_tokens, temperature=0.0
            )
        except MinionsError as exc:
            logger.warning("judge %s failed: %s", self.client.spec, exc)
            return Score(correct=None, method=method, detail=f"the judge failed: {exc}"), Usage()
        verdict = completion.parsed
        if not isinstance(verdict, Verdict):
            detail = f"unusable judge reply ({completion.parse_error}): {completion.text[:200]!r}"
            return Score(correct=None, method=method, detail=detail), completion.usage
        return Score(
            correct=verdict.correct, method=method, detail=verdict.reasoning
        ), completion.usage


async def score_example(
    example: Example, answer: str | None, *, judge: Judge | None = None
) -> tuple[Score, Usage]:
    """Score ``answer`` to ``example``: the judge for free-form golds when given, the
    rules otherwise. Returns the score and the judge's usage (empty without a judge)."""
    if not answer or not answer.strip():
        return Score(correct=False, method="no_answer", detail="there is no answer"), Usage()
    if judge is not None and wants_judge(example.gold):
        return await judge.grade(example.question, example.gold.text, answer)
    return score_answer(example.gold, answer, example.question), Usage()
