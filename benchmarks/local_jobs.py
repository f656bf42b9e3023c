"""The local worker alone: how well a local model does one MinionS job.

    python benchmarks/local_jobs.py [--pack qwen2.5-coder-0.5b] [--configs base,samples3]
        [--finance 15] [--medical 15] [--out benchmarks/results/local-jobs]
    python benchmarks/local_jobs.py --print-ids medical --medical 10   # the dev ids

Jobs come from a **dev split** of the shared data that leaves out the 20 FinanceBench
and 20 medical questions of the committed offline run (evals/results/offline-2026-11-30,
the run before this benchmark's defaults; its rerun asks the same questions) and the
demo question (3M's FY2018 capex), so defaults chosen here are measured elsewhere:

- FinanceBench: questions whose gold is one figure (scored by value, no judge), with
  their evidence page (FinanceBench gives it) as the evidence chunk; 11 are left;
- medical: questions that name a date or a quoted term that locates the letter holding
  the answer; the evidence chunk is the letter that holds both that term and the
  correct option (questions without one, e.g. "NOT diagnosed with", are left out).

Each question gives two jobs: (the task, its evidence chunk) and (the same task, a
distractor chunk of the same document: a page three or more away from the evidence,
or a letter with neither the term nor the answer). The task is the question as the
eval puts it (with its options), so the job is well posed.

A job runs as MinionS runs it, through the protocol itself: a one-chunk document, a
scripted remote whose JSON plan is the task, the job prompt, schema, retries, samples
and quote checks of the protocol, the local model at ``--pack``. With several samples
the job's answer is the top of :func:`minions.protocols.votes.tally` (majority over
normalised answers, verified quotes first).

Printed per configuration and dataset: accuracy on evidence chunks (the eval's scorer),
non-null answers on distractors (should be low), verified quotes among answers, the
same two figures when an answer whose quote did not verify counts as an abstention (how
far the quote check alone tells evidence from distractors), schema failures (jobs whose
every attempt failed), prompt and output tokens and seconds per job. Every job's
outcome is appended to ``--out``/jobs.jsonl, and a rerun skips the jobs already there,
so a long run resumes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data"
#: the offline run the dev split leaves out: the run of 2026-11-30, whose questions the rerun
#: in evals/results/offline asks again (a partial rerun must not change the split)
OFFLINE = ROOT / "evals" / "results" / "offline-2026-11-30"
DEMO_ID = "financebench_id_03029"  # minions demo asks this one
SEED = 0

#: how the benchmark runs a job: one JSON-planned task on the job's chunk
JOB_SETTINGS: dict[str, Any] = {
    "plan": "json",
    "max_rounds": 1,
    "num_tasks_per_round": 1,
    "chunking": "pages",
    "chunk_size": 1,
}

#: the job's wording before 2026-12-03: the quote is "the sentence" that answers, and
#: nothing says most chunks do not hold the answer (rows measured then as "base" and
#: "samples3" are in jobs.jsonl under the names below; today's "base" rows ran the new
#: wording as the configuration "line_quote" before it became the default)
SENTENCE_QUOTE: dict[str, str] = {
    path.stem: path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "benchmarks" / "prompts" / "sentence_quote").glob("*.txt"))
}

#: what each configuration changes from the protocol's defaults (a chunking of its own
#: splits the job's chunk, and retrieval picks the parts the local model reads)
CONFIGS: dict[str, dict[str, Any]] = {
    "base": {},
    "samples3": {"num_samples_per_task": 3},
    "sentence_quote": {"prompts": SENTENCE_QUOTE},
    "samples3_sentence": {"num_samples_per_task": 3, "prompts": SENTENCE_QUOTE},
}


@dataclass(frozen=True)
class Job:
    id: str  # question id and kind
    dataset: str
    kind: str  # evidence | distractor
    doc: str
    page: int  # 1-based page, or letter number
    text: str
    task: str
    gold: Any  # FinanceBench gold text, or ChoiceGold
    question: str


def offline_ids(dataset: str) -> set[str]:
    path = OFFLINE / dataset / "results.jsonl"
    if not path.exists():
        return set()
    return {json.loads(line)["example_id"] for line in path.read_text().splitlines() if line}


def finance_jobs(count: int) -> list[Job]:
    from minions.evals.scoring import gold_figure

    documents: dict[str, list[str]] = {}
    with gzip.open(SHARED / "financebench" / "documents.jsonl.gz", "rt") as lines:
        for line in lines:
            record = json.loads(line)
            documents[record["doc_name"]] = record["pages"]
    skip = offline_ids("financebench") | {DEMO_ID}
    questions = [
        json.loads(line)
        for line in (SHARED / "financebench" / "questions.jsonl").read_text().splitlines()
    ]
    dev = [
        q
        for q in questions
        if q["financebench_id"] not in skip
        and gold_figure(q["answer"]) is not None
        and q["doc_name"] in documents
        and q["evidence"]
    ]
    random.Random(SEED).shuffle(dev)
    jobs = []
    for q in dev[:count]:
        pages = documents[q["doc_name"]]
        evidence = sorted({int(e["evidence_page_num"]) for e in q["evidence"]})
        far = [
            i
            for i, text in enumerate(pages)
            if len(text) > 800 and all(abs(i - e) >= 3 for e in evidence)
        ]
        distractor = random.Random(f"{SEED}/{q['financebench_id']}").choice(far)
        for kind, page in (("evidence", evidence[0]), ("distractor", distractor)):
            jobs.append(
                Job(
                    id=f"{q['financebench_id']}/{kind}",
                    dataset="financebench",
                    kind=kind,
                    doc=q["doc_name"],
                    page=page + 1,
                    text=pages[page],
                    task=q["question"],
                    gold=q["answer"],
                    question=q["question"],
                )
            )
    return jobs


_DATE = re.compile(r"\b\d{2}/\d{2}/\d{4}\b")
_QUOTED = re.compile(r"'([^']{3,})'")


def medical_jobs(count: int) -> list[Job]:
    from minions.evals.datasets import ChoiceGold
    from minions.evals.datasets.longhealth import LETTERS, question_text

    records = json.loads((SHARED / "medical" / "records_qa.json").read_text())
    skip = offline_ids("longhealth")
    found = []
    for patient, record in sorted(records.items()):
        letters = list(record["texts"].values())
        for q in record["questions"]:
            qid = f"{patient}/q{q['No']}"
            if qid in skip:
                continue
            terms = _DATE.findall(q["question"]) + _QUOTED.findall(q["question"])
            correct = str(q["correct"]).strip()
            if not terms:
                continue
            holding = [
                i
                for i, text in enumerate(letters)
                if all(t.casefold() in text.casefold() for t in terms)
                and correct.casefold() in text.casefold()
            ]
            neither = [
                i
                for i, text in enumerate(letters)
                if not any(t.casefold() in text.casefold() for t in terms)
                and correct.casefold() not in text.casefold()
            ]
            if not holding or not neither:
                continue
            options = {x: str(q[f"answer_{x.lower()}"]).strip() for x in LETTERS}
            letter = next(x for x, text in options.items() if text == correct)
            gold = ChoiceGold(options=options, correct=letter)
            distractor = random.Random(f"{SEED}/{qid}").choice(neither)
            for kind, index in (("evidence", holding[-1]), ("distractor", distractor)):
                found.append(
                    Job(
                        id=f"{qid}/{kind}",
                        dataset="medical",
                        kind=kind,
                        doc=patient,
                        page=index + 1,
                        text=letters[index],
                        task=question_text(q),
                        gold=gold,
                        question=q["question"],
                    )
                )
    by_question: dict[str, list[Job]] = {}
    for job in found:
        by_question.setdefault(job.id.rsplit("/", 1)[0], []).append(job)
    keys = sorted(by_question)
    random.Random(SEED).shuffle(keys)
    return [job for key in keys[:count] for job in by_question[key]]


@contextmanager
def prompts(texts: dict[str, str]) -> Iterator[None]:
    """MinionS with the templates named in ``texts`` replaced by them (a wording the
    benchmark compares before it becomes the protocol's own template)."""
    from string import Template

    import minions.protocols.minions as protocol

    render = protocol.render

    def replaced(name: str, /, **values: object) -> str:
        if name not in texts:
            return render(name, **values)
        return Template(texts[name]).substitute({k: str(v) for k, v in values.items()}).strip()

    protocol.render = replaced
    try:
        yield
    finally:
        protocol.render = render


def run_job(job: Job, local: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The job through MinionS: one chunk, a scripted plan that is the task."""
    import minions
    from minions.clients.scripted import ScriptedClient
    from minions.documents import Document
    from minions.protocols.votes import tally

    remote = ScriptedClient(
        "fixed-plan",
        replies=[
            {"tasks": [{"task": job.task, "advice": ""}]},
            {"decision": "final", "answer": "(scripted)", "explanation": ""},
        ],
    )
    document = Document.from_pages([job.text], name=job.doc)
    settings = {**JOB_SETTINGS, **config}
    with prompts(settings.pop("prompts", {})):
        started = time.perf_counter()
        result = minions.ask(
            job.task,
            document,
            protocol="minions",
            local=local,
            remote=remote,
            price_as="openai:gpt-4o",
            cache=False,
            **settings,
        )
        seconds = time.perf_counter() - started
    votes = tally(result.jobs)
    answer = votes[0].answer if votes else None
    usage = result.usage["local"]
    return {
        "answer": answer,
        "verified": bool(votes and votes[0].verified),
        "samples": len(result.jobs),
        "schema_failures": sum(1 for j in result.jobs if j.error),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "seconds": seconds,
        "status": result.status,
    }


def correct(job: Job, answer: str | None) -> bool:
    from minions.evals.scoring import score_choice, score_finance

    if answer is None:
        return False
    if job.dataset == "financebench":
        return score_finance(answer, job.gold, job.question).correct
    return score_choice(answer, job.gold).correct


def summarize(rows: list[dict[str, Any]]) -> str:
    evidence = [r for r in rows if r["kind"] == "evidence"]
    distractors = [r for r in rows if r["kind"] == "distractor"]
    answered = [r for r in rows if r["answer"] is not None]
    n = len(rows) or 1

    def share(part: int, whole: int) -> str:
        return f"{part}/{whole} ({part / whole:.0%})" if whole else "-"

    return (
        f"evidence accuracy {share(sum(r['correct'] for r in evidence), len(evidence))}, "
        "non-null on distractors "
        f"{share(sum(r['answer'] is not None for r in distractors), len(distractors))}, "
        f"verified {share(sum(r['verified'] for r in answered), len(answered))} of answers; "
        "an unverified answer taken as an abstention: evidence accuracy "
        f"{share(sum(r['correct'] and r['verified'] for r in evidence), len(evidence))}, "
        "non-null on distractors "
        f"{share(sum(r['verified'] for r in distractors), len(distractors))}; "
        f"schema failures {sum(r['schema_failures'] for r in rows)}, "
        f"per job {sum(r['input_tokens'] for r in rows) / n:,.0f} prompt + "
        f"{sum(r['output_tokens'] for r in rows) / n:,.0f} output tokens, "
        f"{sum(r['seconds'] for r in rows) / n:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default="qwen2.5-coder-0.5b")
    parser.add_argument("--configs", default="base")
    parser.add_argument("--finance", type=int, default=15, help="FinanceBench questions")
    parser.add_argument("--medical", type=int, default=15, help="medical questions")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "local-jobs")
    parser.add_argument(
        "--print-ids",
        choices=("financebench", "medical"),
        help="print the dev split's question ids of that dataset (as many as --finance or "
        "--medical) one a line, and run nothing",
    )
    args = parser.parse_args()
    if not SHARED.exists():
        raise SystemExit(f"needs the shared data at {SHARED}")
    if args.print_ids:
        if args.print_ids == "financebench":
            picked = finance_jobs(args.finance)
        else:
            picked = medical_jobs(args.medical)
        for qid in dict.fromkeys(job.id.rsplit("/", 1)[0] for job in picked):
            print(qid)
        return
    unknown = set(args.configs.split(",")) - set(CONFIGS)
    if unknown:
        raise SystemExit(f"unknown configurations {sorted(unknown)}; known: {sorted(CONFIGS)}")
    jobs = finance_jobs(args.finance) + medical_jobs(args.medical)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "jobs.jsonl"
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    seen = {(r["pack"], r["config"], r["id"]) for r in done}
    from minions.clients import get_client

    spec = f"llamacpp:{args.pack}"
    local = get_client(spec)  # one model, loaded once
    print(f"{len(jobs)} jobs ({sum(j.dataset == 'medical' for j in jobs)} medical), {spec}")
    for name in args.configs.split(","):
        for number, job in enumerate(jobs, 1):
            if (args.pack, name, job.id) in seen:
                continue
            outcome = run_job(job, local, CONFIGS[name])
            row = {
                "pack": args.pack,
                "config": name,
                **{k: v for k, v in asdict(job).items() if k in ("id", "dataset", "kind")},
                **outcome,
                "correct": job.kind == "evidence" and correct(job, outcome["answer"]),
            }
            with log.open("a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")
            done.append(row)
            print(
                f"  {name} {number}/{len(jobs)} {job.id}: {outcome['answer']!r} "
                f"({'correct' if row['correct'] else 'wrong' if job.kind == 'evidence' else '-'}"
                f", {outcome['seconds']:.1f} s)",
                flush=True,
            )
    print()
    for name in args.configs.split(","):
        for dataset in ("financebench", "medical"):
            rows = [
                r
                for r in done
                if (r["pack"], r["config"], r["dataset"]) == (args.pack, name, dataset)
            ]
            print(f"{args.pack:<20} {name:<9} {dataset:<12} {summarize(rows)}")


if __name__ == "__main__":
    main()
