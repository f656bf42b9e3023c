"""The privacy shield (minions.shield): placeholders out, real values back, nothing of
the map anywhere it could leave."""

from __future__ import annotations

import json
from pathlib import Path

from minions.clients.scripted import ScriptedClient
from minions.documents import Document
from minions.events import JsonlLog
from minions.protocols.direct import RemoteOnly
from minions.protocols.minion import Minion
from minions.protocols.minions import MinionS
from minions.shield import Shield
from minions.types import Result

from .protocols.helpers import remote_script

RECORD = Document.from_pages(
    [
        "Mercy Medical Ctr\nDate: 02/05/2014\n\nWe report on our patient Lina Caballero, born "
        "on 07/19/1961, seen on 02/05/2014 for pneumonia. Amoxicillin 500 MG was prescribed."
        "\n\nKind regards,\nDr. Kara O'Connell",
    ],
    name="record",
)
TASK = "Which medication did Mrs. Caballero get on 02/05/2014?"
SECRETS = ["Caballero", "Lina", "07/19/1961", "1961-07-19", "02/05/2014", "O'Connell", "Mercy"]


def sent_to(remote: ScriptedClient) -> str:
    return "\n".join(m.content for c in remote.calls for m in c.messages)


def test_a_value_gets_one_placeholder_however_it_is_written_and_comes_back():
    shield = Shield([RECORD], TASK)
    masked = shield.mask("Born 1961-07-19 (07/19/1961); Lina Caballero; Mrs. Caballero.")
    assert masked == "Born [DATE_2] ([DATE_2]); [PERSON_1]; Mrs. [PERSON_1]."
    assert shield.mask(TASK) == "Which medication did Mrs. [PERSON_1] get on [DATE_1]?"
    assert shield.rehydrate("[PERSON_1] on [DATE_1], not [DATE_9]") == (
        "Caballero on 02/05/2014, not [DATE_9]"
    )
    assert "Caballero" not in repr(shield)


async def test_minion_strict_sends_placeholders_and_answers_with_real_values(tmp_path: Path):
    remote = remote_script(
        minion=[
            {"decision": "ask", "message": "What was [PERSON_1] prescribed on [DATE_1]?"},
            {"decision": "answer", "message": "[PERSON_1] got Amoxicillin on [DATE_1]."},
        ]
    )
    local = ScriptedClient(
        "local",
        replies=['"Amoxicillin 500 MG was prescribed." Lina Caballero got it on 02/05/2014.'],
        local=True,
    )
    log = tmp_path / "events.jsonl"
    result = await Minion().run(
        TASK, [RECORD], local=local, remote=remote, privacy="strict", events=JsonlLog(log)
    )
    assert result.answer == "Caballero got Amoxicillin on 02/05/2014."
    # the local model reads the remote's question with real values
    assert "What was Caballero prescribed on 02/05/2014?" in local.calls[0].messages[-1].content
    out = sent_to(remote)
    assert "[PERSON_1]" in out and "[DATE_1]" in out
    assert not [s for s in SECRETS if s in out], out
    # what was recorded as sent carries placeholders only: the Result and the event log
    remote_turns = [t for r in result.rounds for t in r.turns if t.role == "remote"]
    recorded = " ".join(t.prompt for t in remote_turns) + log.read_text()
    remote_events = [json.loads(line) for line in log.read_text().splitlines()]
    sent_events = " ".join(e.get("prompt", "") for e in remote_events if e["kind"] == "remote_call")
    assert not [s for s in SECRETS if s in sent_events]
    assert "[PERSON_1]" in recorded
    assert 'PERSON_1]": "' not in result.to_json()  # no map written anywhere
    assert result.privacy.sensitive["PERSON"].sent == 0
    assert result.privacy.sensitive["DATE"].sent == 0


async def test_without_the_shield_the_meter_sees_the_name_go():
    remote = remote_script(
        minion=[
            {"decision": "ask", "message": "Who is the patient?"},
            {"decision": "answer", "message": "Lina Caballero"},
        ]
    )
    local = ScriptedClient("local", replies=["The patient is Lina Caballero."], local=True)
    result = await Minion().run(TASK, [RECORD], local=local, remote=remote)
    assert result.privacy.sensitive["PERSON"].sent >= 1
    assert "Caballero" in sent_to(remote)


async def test_remote_only_strict_sends_the_documents_with_placeholders():
    remote = ScriptedClient("remote", replies=["[PERSON_1] got Amoxicillin."])
    result = await RemoteOnly().run(TASK, [RECORD], local=remote, remote=remote, privacy="strict")
    out = sent_to(remote)
    assert "Amoxicillin 500 MG was prescribed" in out  # the text, not its values
    assert not [s for s in SECRETS if s in out], out
    assert result.answer == "Caballero got Amoxicillin."


async def test_minions_strict_masks_the_job_outputs_and_unmasks_the_tasks():
    remote = remote_script(
        plan={"tasks": [{"task": "What was [PERSON_1] prescribed on [DATE_1]?", "advice": ""}]},
        final={"answer": "Amoxicillin, for [PERSON_1]"},
    )

    def job(messages):
        return {
            "citation": "Amoxicillin 500 MG was prescribed.",
            "explanation": "Lina Caballero, born 07/19/1961, got it.",
            "answer": "Amoxicillin",
        }

    local = ScriptedClient("local", replies=job, local=True)
    result = await MinionS(plan="json", max_rounds=1).run(
        TASK, [RECORD], local=local, remote=remote, privacy="strict"
    )
    assert "What was Caballero prescribed on 02/05/2014?" in local.calls[0].messages[-1].content
    out = sent_to(remote)
    assert "Amoxicillin" in out and not [s for s in SECRETS if s in out], out
    assert result.answer == "Amoxicillin, for Caballero"


def test_ask_privacy_strict_on_the_command_line(tmp_path: Path, monkeypatch):
    from typer.testing import CliRunner

    from minions import api
    from minions.cli import app

    record = tmp_path / "record.txt"
    record.write_text(RECORD.pages[0])
    remote = ScriptedClient("remote", replies=["[PERSON_1] got Amoxicillin on [DATE_1]."])
    monkeypatch.setattr(api, "get_client", lambda spec, **kw: remote)
    args = ["ask", str(record), "-q", TASK, "-p", "remote_only", "--remote", "scripted:r"]
    out = CliRunner().invoke(app, [*args, "--privacy", "strict", "--json"])
    assert out.exit_code == 0, out.output
    result = Result.from_json(out.stdout)
    assert result.answer == "Caballero got Amoxicillin on 02/05/2014."
    assert not [s for s in SECRETS if s in sent_to(remote)]
    strict_share = result.privacy.ngram_share
    plain = CliRunner().invoke(app, [*args, "--json"])
    assert Result.from_json(plain.stdout).privacy.ngram_share > strict_share
    bad = CliRunner().invoke(app, [*args, "--privacy", "loose"])
    assert bad.exit_code == 2 and "loose" in bad.output


def test_a_strict_batch_is_other_settings_and_an_off_one_hashes_as_before():
    from minions.batch_rows import BatchSettings

    off = BatchSettings(protocol="minions", local="l", remote="r")
    strict = off.model_copy(update={"privacy": "strict"})
    assert strict.hash != off.hash
    # the hash a batch written before the setting existed has (pinned)
    assert off.hash == "631cd19bf139"


UNTITLED = Document.from_pages(
    ["Date: 03/04/2015\n\nAnna Weber presented with a cough. Weber was given Amoxicillin."],
    name="untitled",
)


async def _remote_only(privacy: str, local: ScriptedClient) -> tuple[Result, str]:
    remote = ScriptedClient("remote", replies=["[PERSON_1] got Amoxicillin."])
    result = await RemoteOnly().run(
        "What did the patient get?", [UNTITLED], local=local, remote=remote, privacy=privacy
    )
    return result, sent_to(remote)


async def test_strict_names_masks_a_name_the_patterns_miss_and_drops_invented_ones():
    # nothing marks "Anna Weber" (no title, no "patient"): the patterns alone miss her
    _, plain = await _remote_only("strict", ScriptedClient("local", local=True))
    assert "Anna Weber" in plain and "[DATE_1]" in plain
    # the local model names her (and one person the text does not contain)
    local = ScriptedClient("local", replies=[{"names": ["Anna Weber", "Ghost Person"]}], local=True)
    result, out = await _remote_only("strict+names", local)
    assert "Weber" not in out and "[PERSON_1] presented" in out and "[PERSON_1] was given" in out
    assert result.answer == "Anna Weber got Amoxicillin."
    assert [c.schema.__name__ for c in local.calls if c.schema] == ["Names"]
    assert "Anna Weber" in local.calls[0].messages[-1].content  # it read the page, locally
    # "Anna Weber" and "Weber" alone; the invented name is not one
    assert result.privacy.sensitive["PERSON"].found == 2 and "[PERSON_2]" not in out
    assert result.privacy.sensitive["PERSON"].sent == 0
    assert result.local_usage.calls == 1


async def test_strict_names_goes_on_with_the_patterns_when_the_local_reply_is_unusable():
    local = ScriptedClient("local", replies=["no JSON here", "still none"], local=True)
    result, out = await _remote_only("strict+names", local)
    assert result.status == "answered"
    assert "[DATE_1]" in out and "Anna Weber" in out  # the patterns' masking stands
    assert any("name pass skipped 1 passage" in n for n in result.notes)
