"""minions.extract: fields, the aggregation rules, and scripted extractions end to end."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel, Field

from minions.clients import get_client
from minions.documents import Document
from minions.errors import ConfigurationError
from minions.extract import PLAN, ExtractSettings, as_fields, extract, table_columns
from minions.extract_fields import (
    FieldSpec,
    fields_from_json_schema,
    fields_from_model,
    parse_field,
)
from minions.extract_values import Candidate, aggregate, coerce
from minions.types import Message

# --- fields ----------------------------------------------------------------------------


def test_a_field_string_splits_at_the_first_two_colons():
    spec = parse_field("capex_2018:number:FY2018 capex: purchases of PP&E, USD millions")
    assert (spec.name, spec.type) == ("capex_2018", "number")
    assert spec.description == "FY2018 capex: purchases of PP&E, USD millions"
    assert parse_field("meds:list[str]").is_list and parse_field("meds:list[str]").base == "str"
    assert parse_field("ceo").type == "str"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1bad:str", "letters, digits"),
        ("x:money", "unknown field type"),
        ("x__pages:str", "__pages"),
    ],
)
def test_a_bad_field_string_says_what_to_do(text: str, says: str):
    with pytest.raises(ConfigurationError, match=says):
        parse_field(text)


class Filing(BaseModel):
    revenue: float | None = Field(None, description="total revenue, USD millions")
    fiscal_year_end: datetime.date = Field(description="the last day of the fiscal year")
    segments: list[str] = Field(default_factory=list)
    audited: bool = False


def test_fields_from_a_pydantic_model_and_from_its_json_schema_agree():
    from_model = fields_from_model(Filing)
    assert [(f.name, f.type) for f in from_model] == [
        ("revenue", "number"),
        ("fiscal_year_end", "date"),
        ("segments", "list[str]"),
        ("audited", "bool"),
    ]
    assert fields_from_json_schema(Filing.model_json_schema()) == from_model


def test_a_description_names_document_metadata():
    spec = parse_field("diagnosed:date:the date {condition} was first diagnosed")
    assert spec.placeholders() == ["condition"]
    assert spec.describe({"condition": "Hyperlipidemia"}) == (
        "the date Hyperlipidemia was first diagnosed"
    )
    with pytest.raises(ConfigurationError, match="no such key"):
        spec.describe({})


# --- the aggregation rules -----------------------------------------------------------------

NUMBER = FieldSpec(name="capex", type="number")
DATE = FieldSpec(name="dob", type="date")
LIST = FieldSpec(name="meds", type="list[str]")


@pytest.mark.parametrize(
    ("raw", "unit", "value"),
    [
        ("$1,577", "USD millions", 1577.0),
        ("1.2 billion", "USD millions", 1200.0),
        ("$1,200,000 thousand", "USD millions", 1200.0),
        ("(345)", "USD millions", -345.0),
        ("164 mg/dL", "mg/dL", 164.0),
        (42, None, 42.0),
        ("not stated", None, None),
        ("none", None, None),
    ],
)
def test_numbers_are_brought_to_the_unit(raw: Any, unit: str | None, value: float | None):
    assert coerce(NUMBER, raw, unit) == value


@pytest.mark.parametrize(
    "raw", ["05/29/1967", "1967-05-29", "May 29, 1967", "born on 05/29/1967.", "29 May 1967"]
)
def test_dates_in_any_form_are_one_iso_date(raw: str):
    assert coerce(DATE, raw) == "1967-05-29"


def test_candidate_sets_make_cells():
    def cell(values: list[Any], field: FieldSpec = NUMBER, unit: str = "USD millions", **kw: Any):
        return aggregate(
            field, [Candidate(value=v, pages=[i + 1], **kw) for i, v in enumerate(values)], unit
        )

    # scale words and units agree: 1,200 = 1.2 billion; one null left out
    c = cell(["1,200", "1.2 billion", None, "900"])
    assert (c.value, round(c.agreement, 3), c.conflict, c.pages) == (1200.0, 0.667, True, [1, 2])
    # all null: no value, no agreement
    c = cell([None, "n/a", None])
    assert (c.value, c.agreement, c.non_null, c.method) == (None, None, 0, "none")
    # unanimous
    c = cell(["$5.0 million", "5"])
    assert (c.value, c.agreement, c.conflict) == (5.0, 1.0, False)
    # a tie the rules cannot break is a conflict left to the local model
    c = cell(["100", "200"])
    assert (c.value, c.conflict, sorted(c.tied)) == (None, True, [100.0, 200.0])
    # ... and one they can: the verified quote wins
    c = aggregate(
        NUMBER,
        [Candidate(value="100"), Candidate(value="200", verified=True, quote="capex of 200")],
        "USD millions",
    )
    assert (c.value, c.method, c.verified) == (200.0, "rule", True)
    # dates written two ways are one value
    c = cell(["05/29/1967", "May 29, 1967", "06/01/1967"], DATE, "")
    assert (c.value, round(c.agreement, 3)) == ("1967-05-29", 0.667)
    # a list gathers items over the chunks, case folded
    c = cell([["Naproxen 220 MG"], ["naproxen 220 mg", "Simvastatin 10 MG"], None], LIST, "")
    assert c.value == ["Naproxen 220 MG", "Simvastatin 10 MG"] and c.agreement == 0.75


# --- scripted extractions -------------------------------------------------------------------

FIELDS = [
    "revenue:number:total revenue, USD millions",
    "ceo:str:the chief executive officer",
]


def corpus(n: int) -> list[Document]:
    """``n`` filings of three pages: revenue on page 2 in billions, the CEO on page 3,
    page 1 an unrelated cover."""
    return [
        Document.from_pages(
            [
                f"Annual report of Company {i}. Forward-looking statements follow.",
                f"Total revenue was ${i + 1}.5 billion for the year.",
                f"Our chief executive officer is Dana Doe{i}.",
            ],
            name=f"co-{i}",
        )
        for i in range(n)
    ]


def local_reply(messages: list[Message]) -> dict[str, Any]:
    """Reads the passage: quotes the sentence with the field's words, if any."""
    passage = messages[-1].content.split("\n---\n")[0]
    field = re.search(r"Field: (\w+)", messages[-1].content)[1]  # type: ignore[index]
    if field == "revenue" and (m := re.search(r"Total revenue was \$([\d.]+ billion)", passage)):
        return {"quote": m[0], "value": m[1]}
    if field == "ceo" and (m := re.search(r"chief executive officer is (\w+ \w+)", passage)):
        return {"quote": m[0], "value": m[1]}
    return {"quote": None, "value": None}


PLANS: list[str] = []


def remote_reply(messages: list[Message]) -> dict[str, Any]:
    PLANS.append(messages[-1].content)
    return {
        "fields": [
            {
                "name": "revenue",
                "task": "Find the total revenue.",
                "where": "the income statement",
                "synonyms": ["net sales", "revenue"],
                "unit": "USD millions",
                "rules": "a plain number",
            },
            {"name": "ceo", "task": "Find the chief executive officer's name.", "synonyms": []},
        ]
    }


def clients() -> tuple[Any, Any]:
    local = get_client("scripted:local", replies=local_reply, local=True)
    remote = get_client("scripted:remote", replies=remote_reply)
    return local, remote


def run(docs: list[Document], out: Path, **kwargs: Any):
    local, remote = clients()
    return extract(
        docs,
        FIELDS,
        out=out,
        local=local,
        remote=remote,
        price_as="openai:gpt-4o",
        cache=False,
        **kwargs,
    )


def test_three_documents_make_a_table_with_pages_and_agreement(tmp_path: Path):
    PLANS.clear()
    result = run(corpus(3), tmp_path / "out")
    assert [r.values for r in result.rows] == [
        {"revenue": 1500.0, "ceo": "Dana Doe0"},
        {"revenue": 2500.0, "ceo": "Dana Doe1"},
        {"revenue": 3500.0, "ceo": "Dana Doe2"},
    ]
    assert result.rows[0].pages == {"revenue": [2], "ceo": [3]}
    assert result.rows[0].agreement == {"revenue": 1.0, "ceo": 1.0}
    assert all(r.cells["revenue"].verified for r in result.rows)
    # the remote planned once and never saw a word of the documents
    assert len(PLANS) == 1
    assert "Dana" not in PLANS[0] and "billion" not in PLANS[0] and "3 documents" in PLANS[0]
    assert result.plan.usage["remote"].calls == 1
    assert all(r.usage["remote"].calls == 0 for r in result.rows)
    assert result.remote_usd > 0 and result.remote_only_usd > 0
    # the table, as Parquet and CSV
    table = pq.read_table(result.parquet)
    assert table.column_names == table_columns(result.fields)
    assert table.column("revenue").to_pylist() == [1500.0, 2500.0, 3500.0]
    assert table.column("ceo__pages").to_pylist() == [[3], [3], [3]]
    assert "revenue__agreement" in (tmp_path / "out" / "results.csv").read_text().splitlines()[0]


def test_the_remote_calls_do_not_grow_with_the_documents(tmp_path: Path):
    calls, prompt_tokens, remote_only = [], [], []
    for n in (1, 4, 12):
        result = run(corpus(n), tmp_path / f"out-{n}")
        remote = result.plan.usage["remote"]
        calls.append(remote.calls)
        prompt_tokens.append(remote.input_tokens)
        remote_only.append(sum(r.remote_only_input_tokens for r in result.rows))
    assert calls == [1, 1, 1]
    assert max(prompt_tokens) - min(prompt_tokens) <= 0.1 * min(prompt_tokens)
    # while sending the documents to the remote grows with them
    assert remote_only[2] == pytest.approx(12 * remote_only[0], rel=0.1)


def test_a_resumed_extraction_does_not_plan_again_nor_redo_a_document(tmp_path: Path):
    out = tmp_path / "out"
    PLANS.clear()
    run(corpus(2), out)
    assert len(PLANS) == 1
    plan = json.loads((out / PLAN).read_text())
    # a third document joins; the first two are not read again and nothing is planned
    seen: list[str] = []

    def counting(messages: list[Message]) -> dict[str, Any]:
        seen.append(messages[-1].content)
        return local_reply(messages)

    local = get_client("scripted:local", replies=counting, local=True)
    remote = get_client("scripted:remote", replies=remote_reply)
    result = extract(
        corpus(3),
        FIELDS,
        out=out,
        local=local,
        remote=remote,
        price_as="openai:gpt-4o",
        cache=False,
    )
    assert len(PLANS) == 1 and json.loads((out / PLAN).read_text()) == plan
    assert [r.id for r in result.rows] == ["co-0", "co-1", "co-2"]
    assert seen and all("co-2" in s for s in seen)
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    # other settings into the same folder are refused
    with pytest.raises(ConfigurationError):
        extract(corpus(3), FIELDS, out=out, local=local, remote=remote, top_k=1, cache=False)


def test_a_review_sends_snippets_and_says_how_much(tmp_path: Path):
    PLANS.clear()
    result = run(corpus(3), tmp_path / "out", review=2)
    assert result.plan.reviewed and len(PLANS) == 2
    assert result.plan.review_chars_sent > 0
    assert result.plan.review_chars_sent == sum(
        len(q) for q in re.findall(r'cited: "([^"]*)"', PLANS[1])
    )
    assert not result.plan.plan_changed_by_review  # the scripted remote replies the same plan


def test_fields_naming_metadata_need_it_in_every_document(tmp_path: Path):
    local, remote = clients()
    with pytest.raises(ConfigurationError, match="no metadata 'year'"):
        extract(
            corpus(2),
            ["revenue:number:revenue in {year}"],
            out=tmp_path,
            local=local,
            remote=remote,
        )


# --- function synthesis -------------------------------------------------------------------

GOOD_REVENUE = """def extract(text, metadata):
    import re
    m = re.search(r"Total revenue was \\$([\\d.]+ billion)", text)
    return m.group(1) if m else None"""
OTHER_REVENUE = """def extract(text, metadata):
    import re
    m = re.search(r"revenue was \\$(\\S+ billion)", text)
    return m.group(1) if m else None"""
WRONG_REVENUE = '''def extract(text, metadata):
    return "7"'''
GOOD_CEO = """def extract(text, metadata):
    import re
    m = re.search(r"officer is (\\w+ \\w+)", text)
    return m.group(1) if m else None"""


def synth_local(messages: list[Message]) -> dict[str, Any]:
    if "Describe in one or two sentences" in messages[-1].content:
        return {"format": "after the words 'was $' or 'officer is', at the end of a sentence"}
    return local_reply(messages)


def synth_remote(messages: list[Message]) -> dict[str, Any]:
    prompt = messages[-1].content
    if '{"functions":' not in prompt:
        return remote_reply(messages)
    PLANS.append(prompt)
    if "Field: revenue" in prompt:
        return {"functions": [GOOD_REVENUE, WRONG_REVENUE, OTHER_REVENUE]}
    return {"functions": [GOOD_CEO, "import os\ndef extract(text, metadata):\n    return None"]}


def synth_run(docs: list[Document], out: Path, **kwargs: Any):
    local = get_client("scripted:local", replies=synth_local, local=True)
    remote = get_client("scripted:remote", replies=synth_remote)
    return extract(
        docs, FIELDS, out=out, local=local, remote=remote, price_as="openai:gpt-4o",
        cache=False, synthesize=True, sample_docs=2, **kwargs,
    )  # fmt: skip


def test_synthesized_functions_answer_where_they_agree_and_the_local_reads_less(tmp_path: Path):
    PLANS.clear()
    result = synth_run(corpus(6), tmp_path / "out")
    assert [r.values["revenue"] for r in result.rows] == [
        1500.0,
        2500.0,
        3500.0,
        4500.0,
        5500.0,
        6500.0,
    ]
    assert [r.values["ceo"] for r in result.rows] == [f"Dana Doe{i}" for i in range(6)]
    fitted = result.plan.functions["fields"]
    # the constant function disagrees with the local model on the pilot; the one that
    # imports os never runs
    assert fitted["revenue"]["kept"] == [0, 2] and fitted["revenue"]["scores"][1] == 0.0
    assert len(fitted["ceo"]["functions"]) == 1 and fitted["ceo"]["kept"] == [0]
    # the pilot was read by the local model; the other four documents by the functions
    methods = [[r.cells[f].method for f in ("revenue", "ceo")] for r in result.rows]
    assert methods[:2] == [["majority"] * 2] * 2 and methods[2:] == [["function"] * 2] * 4
    assert [r.local_calls_saved > 0 for r in result.rows] == [False] * 2 + [True] * 4
    assert all(r.usage["local"].calls == 0 for r in result.rows[2:])
    # the remote planned once and wrote the functions once per field, from the format
    # description: no document text reached it
    assert len(PLANS) == 3 and not any("Dana" in p or "Company" in p for p in PLANS)
    assert result.plan.review_chars_sent == 0 and result.plan.functions["ngram_share_sent"] == 0.0


def test_synthesized_functions_are_reused_on_resume(tmp_path: Path):
    out = tmp_path / "out"
    synth_run(corpus(3), out)
    PLANS.clear()
    result = synth_run(corpus(5), out)
    assert PLANS == []  # nothing planned or fitted again
    assert [r.cells["revenue"].method for r in result.rows[3:]] == ["function", "function"]


def test_no_functions_are_written_when_the_pilot_is_every_document(tmp_path: Path):
    out = tmp_path / "out"
    PLANS.clear()
    result = synth_run(corpus(2), out)  # sample_docs=2: nothing after the pilot
    assert len(PLANS) == 1  # the plan; no field's functions
    assert result.plan.functions == {} and result.plan.usage["remote"].calls == 1
    assert any("no functions synthesized" in n for n in result.plan.notes)
    PLANS.clear()
    result = synth_run(corpus(6), out)  # four more: the next two are the pilot
    assert len(PLANS) == 2  # the functions of both fields, fitted once
    assert [r.cells["revenue"].method for r in result.rows[4:]] == ["function", "function"]


# --- the command ---------------------------------------------------------------------------


def test_the_command_prints_the_table_and_the_remote_cost_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from typer.testing import CliRunner

    import minions.extract
    from minions.cli import app

    monkeypatch.setattr(minions.extract, "batch_clients", lambda *a, **k: clients())
    manifest = tmp_path / "docs.jsonl"
    manifest.write_text(
        "\n".join(
            json.dumps({"id": d.name, "pages": d.pages, "metadata": {"year": 2018}})
            for d in corpus(3)
        )
    )
    args = ["extract", "--manifest", str(manifest), "--out", str(tmp_path / "out")]
    args += ["-f", FIELDS[0], "-f", "ceo:str:the chief executive officer in {year}"]
    args += ["--price-as", "openai:gpt-4o", "--remote", "scripted:remote"]
    done = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "Dana Doe2" in done.output and "3,500" in done.output
    assert re.search(r"remote\s+\$0\.\d+ for 1 call\(s\)", done.output)
    assert "0 characters" in done.output
    again = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0 and "3 done before this run" in again.output
    # a bad field is an error that says what to do, not a traceback
    bad = CliRunner().invoke(app, [*args[:5], "-f", "x:money"], env={"COLUMNS": "200"})
    assert bad.exit_code != 0 and "unknown field type" in bad.output
    assert "Traceback" not in bad.output


def test_a_quote_found_in_the_chunk_must_state_the_value_or_gives_its_own():
    from minions.extract_values import supports, values_in

    assert supports(DATE, "born on 05/29/1967", "1967-05-29")
    assert not supports(DATE, "born on 05/29/1967", "2013-04-11")
    assert values_in(DATE, "seen on 04/11/2013, born on May 29, 1967") == [
        "2013-04-11",
        "1967-05-29",
    ]
    assert supports(NUMBER, "Purchases of PP&E (1,577) (1,373)", 1577.0, "USD millions") is False
    assert supports(NUMBER, "Purchases of PP&E (1,577) (1,373)", -1577.0, "USD millions")
    assert supports(LIST, "Naproxen 220 MG; Simvastatin", ["naproxen 220 mg"])


def test_a_read_whose_value_its_verified_quote_does_not_state_takes_the_quotes(tmp_path: Path):
    """A weak model copies the right line and writes another value: the line wins."""

    def reply(messages: list[Message]) -> dict[str, Any]:
        passage = messages[-1].content.split("\n---\n")[0]
        if "chief executive" in passage:
            return {"quote": "Our chief executive officer", "value": "Dana Doe"}
        if m := re.search(r"Total revenue was \$[\d.]+ billion", passage):
            return {"quote": m[0], "value": "12 million"}
        return {"quote": None, "value": None}

    local = get_client("scripted:local", replies=reply, local=True)
    remote = get_client("scripted:remote", replies=remote_reply)
    result = extract(corpus(1), FIELDS, out=tmp_path, local=local, remote=remote, cache=False)
    (row,) = result.rows
    assert row.values["revenue"] == 1500.0
    (taken,) = [c for c in row.candidates["revenue"] if c.value is not None]
    assert taken.source == "quote" and taken.verified
    # a string its quote does not state is kept, unverified
    (ceo,) = [c for c in row.candidates["ceo"] if c.value is not None]
    assert ceo.value == "Dana Doe" and not ceo.verified


def test_a_strict_review_sends_the_snippets_behind_the_shield(tmp_path: Path):
    PLANS.clear()
    plain = run(corpus(3), tmp_path / "off", review=2)
    assert "$" in PLANS[1] and "[AMOUNT_" not in PLANS[1]
    PLANS.clear()
    strict = run(corpus(3), tmp_path / "strict", review=2, privacy="strict")
    assert "[AMOUNT_" in PLANS[1] and "$" not in PLANS[1] and "billion" not in PLANS[1]
    assert [r.values for r in strict.rows] == [r.values for r in plain.rows]  # read locally
    # other settings, so a strict extraction does not resume an open one; "off" hashes
    # as extractions written before the setting did
    assert strict.rows[0].settings_hash != plain.rows[0].settings_hash
    settings = ExtractSettings(fields=as_fields(FIELDS), local="scripted:a", remote="scripted:b")
    dumped = settings.model_dump(mode="json")
    del dumped["privacy"]
    text = json.dumps(dumped, sort_keys=True)
    assert settings.hash == hashlib.sha256(text.encode()).hexdigest()[:12]


def test_the_reply_shapes_show_no_figure_a_weak_model_could_copy():
    from minions.extract import _SHAPES

    assert not [shape for shape in _SHAPES.values() if re.search(r"\d", shape)]
