"""Datasets as registrations of one interface, and a user's own questions in a JSONL
file: `minions eval --dataset questions.jsonl` end to end with scripted clients, the
judge scorer, and errors that name the bad line."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from eval_helpers import QASPER_FIXTURE
from typer.testing import CliRunner

import minions.evals.runner
import minions.plugins
from minions.clients.scripted import ScriptedClient
from minions.documents import Document
from minions.errors import ConfigurationError
from minions.evals.cli import eval_app
from minions.evals.datasets import (
    GROUP,
    AnswerGold,
    ChoiceGold,
    Dataset,
    Example,
    ModuleDataset,
    available_datasets,
    get_dataset,
    load_examples,
)
from minions.evals.datasets.jsonl import JsonlDataset
from minions.evals.runner import RESULTS
from minions.evals.scoring import Judge, Score, Verdict
from minions.types import Message, Usage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILING = EXAMPLES / "3m-2018-10k-pages-45-64.txt"
CAPEX = json.loads((EXAMPLES / "questions.json").read_text())[0]


#: a valid line with an inline document
GOOD: dict[str, Any] = {
    "id": "q", "question": "Q?", "documents": [{"text": "t"}], "answer": "a", "scorer": "exact"
}  # fmt: skip


def write_jsonl(folder: Path, lines: Sequence[dict[str, Any] | str]) -> Path:
    path = folder / "questions.jsonl"
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def three_questions(folder: Path) -> list[dict[str, Any]]:
    """Questions about examples/: the filing by a path relative to ``folder``, and one
    inline text."""
    filing = os.path.relpath(FILING, folder)
    return [
        {
            "id": "capex",
            "question": CAPEX["question"],
            "documents": [filing],
            "answer": CAPEX["answer"],
            "scorer": "numeric",
            "metadata": {"section": "cash flow"},
        },
        {
            "id": "roic",
            "question": "What was 3M's return on invested capital (ROIC) in 2018?",
            "documents": [filing],
            "answer": "22.2 percent",
            "scorer": "choice",
            "options": ["21.3 percent", "22.2 percent", "23.3 percent"],
        },
        {
            "id": "year-end",
            "question": "On what date does 3M's fiscal year end?",
            "documents": [{"text": "3M's fiscal year ends on December 31 of each year."}],
            "answer": "December 31",
            "scorer": "judge",
        },
    ]


def remote_reply(messages: list[Message]) -> str:
    """Right on the figure and the date, the wrong option on ROIC."""
    asked = "\n".join(m.content for m in messages)
    if "capital expenditure" in asked:
        return "Purchases of PP&E were $1,577 million in 2018."
    if "ROIC" in asked:
        return "A. 21.3 percent"
    return "It ends on December 31."


def judge_reply(messages: list[Message]) -> dict[str, Any]:
    candidate = messages[-1].content.split("Candidate answer:\n", 1)[1]
    return {"reasoning": "compared the dates", "correct": "December 31" in candidate}


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> dict[str, ScriptedClient]:
    made = {
        "scripted:remote": ScriptedClient("remote", replies=remote_reply),
        "scripted:local": ScriptedClient("local", replies=lambda m: "no idea", local=True),
        "scripted:judge": ScriptedClient("judge", replies=judge_reply),
    }
    monkeypatch.setattr(minions.evals.runner, "get_client", lambda spec, **kw: made[spec])
    return made


def invoke(*args: str) -> Any:
    return CliRunner().invoke(eval_app, list(args), env={"COLUMNS": "200"})


# --- end to end ------------------------------------------------------------------------


def test_eval_of_a_jsonl_file_then_its_report(
    tmp_path: Path, models: dict[str, ScriptedClient]
) -> None:
    jsonl = write_jsonl(tmp_path, three_questions(tmp_path))
    out = tmp_path / "run"
    args = ["--dataset", str(jsonl), "--protocols", "remote_only", "--local", "scripted:local"]
    args += ["--remote", "scripted:remote", "--judge", "scripted:judge"]
    result = invoke(*args, "--price-as", "openai:gpt-4o", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "by scorer" in result.output

    rows = [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]
    assert [r["example_id"] for r in rows] == ["capex", "roic", "year-end"]
    assert {r["dataset"] for r in rows} == {str(jsonl)}
    assert [(r["score"]["method"], r["score"]["correct"]) for r in rows] == [
        ("numeric", True),
        ("choice", False),
        ("judge:scripted:judge", True),
    ]
    assert rows[0]["metadata"] == {"section": "cash flow", "scorer": "numeric"}
    assert rows[1]["gold"] == "B. 22.2 percent"
    assert "\nA. 21.3 percent\nB. 22.2 percent\nC. 23.3 percent" in rows[1]["question"]
    assert rows[2]["context"].startswith("full: text (~")
    assert rows[0]["context"].startswith(f"full: {FILING.name} (~")
    (judged,) = models["scripted:judge"].calls
    assert judged.schema is Verdict

    report = invoke("report", str(out))
    assert report.exit_code == 0, report.output
    text = (out / "report.md").read_text()
    assert "- run `.`: 3 rows" in text
    assert f"dataset {jsonl};" in text and "judge `scripted:judge`" in text
    assert "| remote_only | 3 | 66.7% " in text
    assert "By scorer:" in text
    assert "| remote_only | numeric | 1 | 100.0% [100.0%, 100.0%] (1/1) | 0 |" in text
    assert "| remote_only | choice | 1 | 0.0% [0.0%, 0.0%] (0/1) | 0 |" in text
    assert "| remote_only | judge | 1 | 100.0% [100.0%, 100.0%] (1/1) | 0 |" in text
    assert "by scorer" in report.output and "numeric" in report.output
    assert (out / "cost_vs_accuracy.png").exists()


def test_a_judge_question_without_a_judge_fails_before_any_work(
    tmp_path: Path, models: dict[str, ScriptedClient]
) -> None:
    jsonl = write_jsonl(tmp_path, three_questions(tmp_path))
    args = ["--dataset", str(jsonl), "--protocols", "remote_only", "--local", "scripted:local"]
    result = invoke(*args, "--remote", "scripted:remote", "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert "year-end use scorer judge: pass --judge" in result.output
    assert not models["scripted:remote"].calls
    assert not (tmp_path / "run" / RESULTS).exists()


def test_where_selects_on_a_line_s_metadata(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path, three_questions(tmp_path))
    (example,) = load_examples(str(jsonl), where={"section": "cash flow"})
    assert example.id == "capex"
    assert [e.id for e in load_examples(str(jsonl), where={"scorer": "choice"})] == ["roic"]


# --- the judge scorer -------------------------------------------------------------------


def judged_example(tmp_path: Path) -> tuple[JsonlDataset, Example]:
    dataset = JsonlDataset(write_jsonl(tmp_path, three_questions(tmp_path)[2:]))
    (example,) = dataset.load()
    return dataset, example


@pytest.mark.parametrize(("answer", "correct"), [("December 31st.", True), ("June 30", False)])
async def test_the_judge_scorer_asks_the_judge_under_a_schema(
    tmp_path: Path, answer: str, correct: bool
) -> None:
    dataset, example = judged_example(tmp_path)
    assert example.gold == AnswerGold(answer="December 31", scorer="judge")
    judge = ScriptedClient("judge", replies=judge_reply)
    score, usage = await dataset.score(example, answer, Judge(judge))
    assert score == Score(
        correct=correct, method="judge:scripted:judge", detail="compared the dates"
    )
    assert usage.calls == 1
    (call,) = judge.calls
    assert call.schema is Verdict and call.options["temperature"] == 0.0
    prompt = call.messages[-1].content
    assert example.question in prompt and "December 31" in prompt and answer in prompt


async def test_the_judge_scorer_without_a_judge_is_undecided(tmp_path: Path) -> None:
    dataset, example = judged_example(tmp_path)
    score, usage = await dataset.score(example, "December 31")
    assert (score.correct, score.method) == (None, "undecided")
    assert "--judge" in score.detail and usage == Usage()


async def test_the_exact_and_numeric_scorers(tmp_path: Path) -> None:
    lines = [
        {**GOOD, "id": "a", "answer": "3M", "scorer": "exact"},
        {**GOOD, "id": "b", "answer": 12, "scorer": "numeric"},
    ]
    dataset = JsonlDataset(write_jsonl(tmp_path, lines))
    exact, numeric = dataset.load()
    assert (await dataset.score(exact, "3m."))[0].correct is True
    assert (await dataset.score(exact, "It is 3M"))[0].correct is False
    assert (await dataset.score(numeric, "twelve, or 12.0"))[0].correct is True
    assert (await dataset.score(numeric, "13"))[0].correct is False


def test_a_choice_answer_may_be_the_letter_and_options_an_object(tmp_path: Path) -> None:
    options = {"A": "one", "B": "two", "C": "three"}
    line = {**GOOD, "answer": "c", "scorer": "choice", "options": options}
    (example,) = JsonlDataset(write_jsonl(tmp_path, [line])).load()
    assert example.gold == ChoiceGold(options=options, correct="C")


# --- bad lines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: must be a JSON object"),
        ({**GOOD, "answer": None}, "answer must be a non-empty text or a number"),
        ({k: v for k, v in GOOD.items() if k != "scorer"}, "line 2: missing 'scorer'"),
        ({**GOOD, "docs": []}, "unknown key(s) 'docs'; a line has id, question, documents"),
        ({**GOOD, "scorer": "fuzzy"}, "scorer must be one of numeric, choice, exact, judge"),
        ({**GOOD, "documents": []}, "documents must be a list of one or more"),
        ({**GOOD, "documents": [{"txt": "x"}]}, 'documents[0] must be a path or {"text": "..."}'),
        ({**GOOD, "documents": ["nowhere.txt"]}, "line 2: document 'nowhere.txt' does not exist"),
        ({**GOOD, "scorer": "numeric"}, "scorer numeric needs an answer that is one figure"),
        ({**GOOD, "scorer": "choice"}, "scorer choice needs options: 2 to 5 option texts"),
        ({**GOOD, "answer": "z", "scorer": "choice", "options": ["x", "y"]}, "'z' must be the"),
        ({**GOOD, "scorer": "choice", "options": ["x"]}, "needs options: 2 to 5"),
        ({**GOOD, "options": ["x", "y"]}, "options are for scorer choice only"),
        ({**GOOD, "id": ""}, "id must be a non-empty text or a whole number"),
        ({**GOOD, "metadata": [1]}, "metadata must be an object"),
        (GOOD, "line 2: id 'q' is already the id of line 1"),
    ],
)
def test_a_bad_line_is_named_with_what_to_fix(
    tmp_path: Path, line: dict[str, Any] | str, message: str
) -> None:
    path = write_jsonl(tmp_path, [GOOD, line])
    with pytest.raises(ConfigurationError, match="bad line") as error:
        JsonlDataset(path)
    assert str(error.value).startswith(f"{path} has 1 bad line(s):\n  line 2: ")
    assert message in str(error.value)


def test_every_bad_line_is_listed_and_a_missing_path_shows_where_it_was_looked_for(
    tmp_path: Path,
) -> None:
    path = write_jsonl(tmp_path, [{**GOOD, "documents": ["docs/a.txt"]}, "", "{", GOOD])
    with pytest.raises(ConfigurationError) as error:
        JsonlDataset(path)
    message = str(error.value)
    assert "has 2 bad line(s)" in message
    assert (
        f"line 1: document 'docs/a.txt' does not exist ({tmp_path / 'docs' / 'a.txt'};" in message
    )
    assert "line 3: not valid JSON" in message


def test_a_document_that_cannot_be_read_is_named_by_its_line(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    path = write_jsonl(tmp_path, [{**GOOD, "documents": ["empty.txt"]}])
    dataset = JsonlDataset(path)
    with pytest.raises(ConfigurationError, match=r"line 1: .*empty"):
        dataset.load()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("missing.jsonl", None, "missing.jsonl does not exist; --dataset takes"),
        ("x.jsonl", "elsewhere", "--data is for registered datasets"),
        ("squad", None, "registered datasets: financebench, longhealth, qasper; or pass the path"),
    ],
)
def test_a_dataset_that_cannot_be_found_says_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, data: str | None, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        get_dataset(name, data)


def test_an_empty_file_says_what_to_write(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="holds no questions; write one JSON object"):
        JsonlDataset(write_jsonl(tmp_path, ["", " "]))


# --- the registry -------------------------------------------------------------------------


def test_the_builtin_datasets_are_registrations() -> None:
    assert available_datasets() == ["financebench", "longhealth", "qasper"]
    qasper = get_dataset("qasper", QASPER_FIXTURE)
    assert isinstance(qasper, ModuleDataset)
    assert [e.id for e in qasper.catalog()] == [e.id for e in qasper.load()]


class Tiny(Dataset):
    """A third party's dataset: one question, every answer right."""

    def load(
        self, ids: Sequence[str] | None = None, context: str | None = None, seed: int = 0
    ) -> list[Example]:
        gold = AnswerGold(answer="yes", scorer="exact")
        document = Document.from_text(f"data: {self.data}")
        return [Example(id="t1", question="Is it?", documents=[document], gold=gold)]

    async def score(self, example: Example, answer: str | None, judge: Any = None) -> Any:
        return Score(correct=True, method="tiny", detail="always right"), Usage()


def test_a_third_party_dataset_is_found_like_the_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models: dict[str, ScriptedClient]
) -> None:
    original = minions.plugins.registered

    def registered(group: str) -> dict[str, EntryPoint]:
        found = dict(original(group))
        if group == GROUP:
            found["tiny"] = EntryPoint("tiny", f"{__name__}:Tiny", GROUP)
        return found

    monkeypatch.setattr(minions.plugins, "registered", registered)
    (example,) = load_examples("tiny", data="here")
    assert example.documents[0].pages == ["data: here"]
    args = ["--dataset", "tiny", "--data", "here", "--protocols", "remote_only"]
    args += ["--local", "scripted:local", "--remote", "scripted:remote"]
    result = invoke(*args, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in (tmp_path / RESULTS).read_text().splitlines()]
    assert (row["dataset"], row["score"]["method"], row["score"]["correct"]) == (
        "tiny",
        "tiny",
        True,
    )
