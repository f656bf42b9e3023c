"""The runner with scripted models on the shared medical data: rows, resume after a
crash, concurrency without duplicates, errors recorded, settings checked."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from eval_helpers import needs_financebench, needs_medical
from pydantic import BaseModel

from minions.clients.scripted import ScriptedClient
from minions.errors import AuthenticationError, ConfigurationError
from minions.evals.report import summarize
from minions.evals.runner import (
    RESULTS,
    RUN_INFO,
    EvalRow,
    EvalSettings,
    parse_options,
    read_rows,
    run_eval,
)
from minions.types import Completion, Message

SETTINGS = EvalSettings(
    dataset="longhealth",
    context="texts:2",
    protocols=["remote_only", "local_only"],
    local="scripted:local",
    remote="scripted:remote",
    price_as="openai:gpt-4o",
    limit=5,
)
PAIRS = 10  # 5 examples x 2 protocols


class SimulatedCrash(BaseException):
    """Stands for Ctrl-C or a killed process: not an error the runner records."""


def remote_reply(messages: list[Message]) -> str:
    """A remote that picks the first option in mg/dL, or else B."""
    prompt = messages[-1].content
    lab = re.search(r"\n([A-E])\. [^\n]*mg/dL", prompt)
    return f"{lab[1]}." if lab else "B"


class CountingClient(ScriptedClient):
    """A scripted client that records the most calls it had in flight at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = 0
        self.most_in_flight = 0

    async def chat(
        self, messages: Sequence[Message], *, schema: type[BaseModel] | None = None, **options: Any
    ) -> Completion:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await super().chat(messages, schema=schema, **options)
        finally:
            self.in_flight -= 1


def clients(*, crash_on_remote_call: int | None = None, delay_s: float = 0.0) -> dict[str, Any]:
    calls = {"remote": 0}

    def reply(messages: list[Message]) -> str:
        calls["remote"] += 1
        if calls["remote"] == crash_on_remote_call:
            raise SimulatedCrash()
        return remote_reply(messages)

    return {
        "local": CountingClient("local", replies=lambda m: "A", local=True, delay_s=delay_s),
        "remote": CountingClient("remote", replies=reply, delay_s=delay_s),
    }


def table(rows: Sequence[EvalRow]) -> list[tuple[Any, ...]]:
    """What a run decided, without its timings."""
    return sorted(
        (r.key, r.answer, r.score, r.status, r.usage, r.remote_usd, r.remote_only_usd) for r in rows
    )


def stats(rows: Sequence[EvalRow]) -> list[dict[str, Any]]:
    return [g.model_dump(exclude={"mean_wall_s"}) for g in summarize(rows)]


def result_lines(out: Path) -> list[str]:
    return (out / RESULTS).read_text().splitlines()


@needs_medical
async def test_a_run_writes_one_row_per_example_and_protocol(tmp_path: Path) -> None:
    rows = await run_eval(SETTINGS, tmp_path, **clients())

    assert len(rows) == PAIRS == len(result_lines(tmp_path))
    assert [r.key for r in rows][:2] == [
        ("longhealth", "patient_01/q1", "remote_only"),
        ("longhealth", "patient_01/q1", "local_only"),
    ]
    first = rows[0]
    assert first.dataset == "longhealth"
    assert first.gold == "B. 164 mg/dL"
    assert first.answer == "A."  # the first option in mg/dL
    assert first.score.correct is False
    assert first.score.method == "choice"
    assert first.status == "answered" and first.error is None
    assert first.usage["remote"].input_tokens > 0 and not first.usage["local"]
    assert first.remote_usd and first.remote_only_usd
    assert first.cost_ratio == pytest.approx(first.remote_only_usd / first.remote_usd)
    assert first.context.startswith("texts:2:")
    assert first.metadata["kept_texts"]
    assert (first.local_model, first.remote_model, first.price_as) == (
        "scripted:local",
        "scripted:remote",
        "openai:gpt-4o",
    )
    # the leakage meter: remote_only sends the whole context, local_only nothing
    assert first.ngram_share == pytest.approx(1.0) and first.longest_span_chars
    local_row = rows[1]
    assert local_row.remote_usd == 0 and local_row.cost_ratio is None
    assert local_row.usage["local"].input_tokens > 0
    assert local_row.ngram_share == 0 and local_row.longest_span_chars == 0
    info = json.loads((tmp_path / RUN_INFO).read_text())
    assert EvalSettings.model_validate(info["settings"]) == SETTINGS


@needs_medical
async def test_a_rerun_skips_finished_rows(tmp_path: Path) -> None:
    first = await run_eval(SETTINGS, tmp_path, **clients())
    again = clients()
    second = await run_eval(SETTINGS, tmp_path, **again, concurrency=3)

    assert table(second) == table(first)
    assert not again["remote"].calls and not again["local"].calls
    assert len(result_lines(tmp_path)) == PAIRS


@needs_medical
async def test_resume_after_a_crash_gives_the_uninterrupted_table(tmp_path: Path) -> None:
    uninterrupted = await run_eval(SETTINGS, tmp_path / "whole", **clients())

    crashed = tmp_path / "crashed"
    with pytest.raises(BaseExceptionGroup) as caught:
        await run_eval(SETTINGS, crashed, **clients(crash_on_remote_call=3))
    assert caught.group_contains(SimulatedCrash)
    assert len(result_lines(crashed)) == 4  # two examples done; the third was in flight
    resumed = clients()
    rows = await run_eval(SETTINGS, crashed, **resumed)

    assert len(resumed["remote"].calls) == 3  # only the unfinished examples ran
    assert table(rows) == table(uninterrupted)
    assert stats(rows) == stats(uninterrupted)
    assert len(result_lines(crashed)) == PAIRS


@needs_medical
async def test_a_row_cut_off_mid_write_is_dropped_and_run_again(tmp_path: Path) -> None:
    uninterrupted = await run_eval(SETTINGS, tmp_path / "whole", **clients())
    out = tmp_path / "cut"
    await run_eval(SETTINGS.model_copy(update={"limit": 2}), out, **clients())
    lines = result_lines(out)
    (out / RESULTS).write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])  # no newline
    (out / RUN_INFO).unlink()  # the same folder now hosts the 5-example run
    with pytest.raises(ConfigurationError, match=r"no run\.json"):
        await run_eval(SETTINGS, out, **clients())
    (out / RUN_INFO).write_text(
        json.dumps({"settings": SETTINGS.model_dump(), "created_at": "now"})
    )

    assert len(read_rows(out)) == 3  # the cut-off line is skipped when reading
    rows = await run_eval(SETTINGS, out, **clients())
    assert table(rows) == table(uninterrupted)
    assert all(json.loads(line) for line in result_lines(out))


def torn(line: bytes, kind: str) -> bytes:
    """The last line of a results file as a crash can leave it."""
    if kind == "bad JSON":
        return line[:40]
    if kind == "bad UTF-8":  # cut inside the two bytes of "µ"
        return line[: line.index("µ".encode()) + 1]
    return line  # a whole row but no newline after it


@needs_medical
@pytest.mark.parametrize("kind", ["bad JSON", "bad UTF-8", "missing newline"])
async def test_a_torn_last_line_of_any_kind_is_dropped_and_run_again(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    uninterrupted = await run_eval(SETTINGS, tmp_path / "whole", **clients())
    out = tmp_path / "torn"
    await run_eval(SETTINGS, out, **clients())
    lines = (out / RESULTS).read_bytes().splitlines(keepends=True)
    last = EvalRow.model_validate_json(lines[3]).model_copy(update={"question": "5 µg?"})
    kept = b"".join(lines[:3])
    (out / RESULTS).write_bytes(kept + torn(last.model_dump_json().encode(), kind))

    assert [r.key for r in read_rows(out)] == [r.key for r in uninterrupted[:3]]
    assert "unfinished last line" in caplog.text
    resumed = clients()
    rows = await run_eval(SETTINGS, out, **resumed)

    # the torn pair (the second example on local_only) and the three examples after it
    assert (len(resumed["local"].calls), len(resumed["remote"].calls)) == (4, 3)
    assert table(rows) == table(uninterrupted)
    data = (out / RESULTS).read_bytes()
    assert data.startswith(kept) and data.endswith(b"\n")
    assert len(data.splitlines()) == PAIRS


async def test_a_damaged_line_before_the_last_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / RESULTS).write_bytes(b'{"dataset": "caf\xc3"}\n{}\n')

    with pytest.raises(
        ConfigurationError, match=r"line 1 of .*results\.jsonl is not a results row"
    ):
        read_rows(tmp_path)


@needs_medical
async def test_concurrency_runs_pairs_at_once_without_duplicates(tmp_path: Path) -> None:
    models = clients(delay_s=0.02)
    rows = await run_eval(SETTINGS, tmp_path, **models, concurrency=4)

    written = [json.loads(line) for line in result_lines(tmp_path)]
    keys = [(r["example_id"], r["protocol"]) for r in written]
    assert len(keys) == len(set(keys)) == PAIRS == len(rows)
    assert models["remote"].most_in_flight + models["local"].most_in_flight > 2
    sequential = await run_eval(SETTINGS, tmp_path / "one", **clients())
    assert table(rows) == table(sequential)


@needs_medical
async def test_errors_are_recorded_and_the_eval_goes_on(tmp_path: Path) -> None:
    def remote(messages: list[Message]) -> Any:
        prompt = messages[-1].content
        if "Triglycerides" in prompt:
            return AuthenticationError("bad key", provider="scripted")  # a Result with an error
        if "NOT been diagnosed" in prompt:
            raise RuntimeError("the client blew up")  # a bug: still a Result with an error
        return "C"

    settings = SETTINGS.model_copy(update={"protocols": ["remote_only"], "limit": 3})
    rows = await run_eval(
        settings,
        tmp_path,
        remote=ScriptedClient("remote", replies=remote),
        local=ScriptedClient("local", replies=["unused"], local=True),
    )

    by_id = {r.example_id: r for r in rows}
    assert len(rows) == 3
    failed = by_id["patient_01/q1"]
    assert failed.status == "error" and "bad key" in (failed.error or "")
    assert (failed.score.correct, failed.score.method) == (False, "no_answer")
    assert failed.usage["remote"].calls == 1
    raised = by_id["patient_01/q2"]
    assert raised.status == "error"
    assert raised.error == "unexpected RuntimeError: the client blew up"
    assert raised.score.correct is False
    assert raised.usage["remote"].calls == 1
    assert by_id["patient_01/q3"].status == "answered"


@needs_medical
async def test_retry_errors_runs_failed_pairs_again(tmp_path: Path) -> None:
    settings = SETTINGS.model_copy(update={"protocols": ["remote_only"], "limit": 2})
    failing = ScriptedClient("remote", replies=lambda m: AuthenticationError("no", provider="x"))
    local = ScriptedClient("local", replies=["unused"], local=True)
    await run_eval(settings, tmp_path, remote=failing, local=local)
    skipped = ScriptedClient("remote", replies=remote_reply)
    await run_eval(settings, tmp_path, remote=skipped, local=local)
    assert not skipped.calls

    rows = await run_eval(settings, tmp_path, remote=skipped, local=local, retry_errors=True)
    assert len(skipped.calls) == 2
    assert [r.status for r in rows] == ["answered", "answered"]
    assert len(result_lines(tmp_path)) == 4  # the newer row of each pair wins


@needs_medical
async def test_other_settings_into_the_same_folder_are_an_error(tmp_path: Path) -> None:
    await run_eval(SETTINGS, tmp_path, **clients())
    changed = SETTINGS.model_copy(update={"context": "texts:3", "limit": 6})
    with pytest.raises(ConfigurationError) as caught:
        await run_eval(changed, tmp_path, **clients())
    message = str(caught.value)
    assert "other settings" in message
    assert "context: 'texts:2' -> 'texts:3'" in message and "limit: 5 -> 6" in message
    assert "another output folder (--out)" in message


async def test_bad_protocols_and_options_fail_before_any_work(tmp_path: Path) -> None:
    bad = SETTINGS.model_copy(update={"options": {"remote_only": {"rounds": 3}}})
    with pytest.raises(ConfigurationError, match="rounds"):
        await run_eval(bad, tmp_path / "a", **clients())
    unknown = SETTINGS.model_copy(update={"protocols": ["nope"]})
    with pytest.raises(ConfigurationError, match="unknown protocol"):
        await run_eval(unknown, tmp_path / "b", **clients())
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@needs_medical
async def test_traces_keep_each_result(tmp_path: Path) -> None:
    settings = SETTINGS.model_copy(update={"limit": 1})
    await run_eval(settings, tmp_path, **clients(), traces=True)
    trace = tmp_path / "traces" / "remote_only" / "patient_01__q1.json"
    assert json.loads(trace.read_text())["protocol"] == "remote_only"


@needs_medical
async def test_progress_callbacks_see_every_row(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    started: list[int] = []
    await run_eval(
        SETTINGS.model_copy(update={"limit": 2}),
        tmp_path,
        **clients(),
        on_start=lambda p: started.append(p.total),
        on_row=lambda row, p: seen.append((p.done, p.total)),
    )
    assert started == [4]
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


@needs_financebench
async def test_financebench_rows_are_scored_by_figure(tmp_path: Path) -> None:
    settings = EvalSettings(
        dataset="financebench",
        context="pages:2",
        protocols=["remote_only"],
        local="scripted:local",
        remote="scripted:remote",
        price_as="openai:gpt-4o",
        ids=["financebench_id_03029", "financebench_id_03471"],
    )
    remote = ScriptedClient("remote", replies=["$1,577 million", "about 0.7"])
    rows = await run_eval(settings, tmp_path, remote=remote, local=clients()["local"])
    assert [(r.example_id, r.score.correct, r.score.method) for r in rows] == [
        ("financebench_id_03029", True, "numeric"),
        ("financebench_id_03471", False, "numeric"),
    ]
    assert rows[0].context.startswith("pages:2 of 3M_2018_10K")


def test_parse_options() -> None:
    protocols = ["remote_only", "minion", "minions"]
    assert parse_options(["max_rounds=2", "minions.plan=json", "max_tokens=64"], protocols) == {
        "remote_only": {"max_tokens": 64},
        "minion": {"max_rounds": 2},
        "minions": {"max_rounds": 2, "plan": "json"},
    }
    assert parse_options(["minions.max_remote_usd=null"], protocols) == {
        "minions": {"max_remote_usd": None}
    }
    with pytest.raises(ConfigurationError, match="no protocol among"):
        parse_options(["rounds=2"], protocols)
    with pytest.raises(ConfigurationError, match="key=value"):
        parse_options(["rounds"], protocols)
    with pytest.raises(ConfigurationError, match="not among"):
        parse_options(["local_only.max_tokens=2"], protocols)


@needs_medical
async def test_a_strict_eval_sends_the_records_with_placeholders(tmp_path: Path) -> None:
    import json as json_

    from minions.evals.datasets.longhealth import resolve_path

    sent: list[str] = []

    def remote(messages: list[Message]) -> str:
        sent.append("\n".join(m.content for m in messages))
        return remote_reply(messages)

    settings = SETTINGS.model_copy(
        update={"protocols": ["remote_only"], "limit": 2, "privacy": "strict"}
    )
    rows = await run_eval(
        settings,
        tmp_path,
        local=ScriptedClient("local", replies=lambda m: "A", local=True),
        remote=ScriptedClient("remote", replies=remote),
    )
    name = json_.loads(resolve_path(None).read_text())["patient_01"]["name"]
    assert len(rows) == 2 and sent
    assert not any(name in text or name.split()[-1] in text for text in sent)
    assert all("[PERSON_1]" in text for text in sent)
    assert all(r.ngram_share is not None and r.ngram_share < 1.0 for r in rows)
