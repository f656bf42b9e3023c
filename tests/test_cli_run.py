"""`minions ask`, `minions protocols` and `minions demo` through typer's runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from minions import api
from minions.cli import EXAMPLES
from minions.cli import app as app_cli
from minions.clients.scripted import ScriptedClient
from minions.types import Result
from tests.protocols.helpers import CODE_ALL_CHUNKS, job_reply, remote_script

EXAMPLE = str(EXAMPLES / "3m-2018-10k-pages-45-64.txt")
runner = CliRunner()
ASK_JSON = [
    "ask",
    EXAMPLE,
    "-q",
    "What was 3M's capital expenditure in 2018?",
    "--json",
    "--local",
    "scripted:local",
    "--remote",
    "scripted:remote",
    "--price-as",
    "openai:gpt-4o",
    "-o",
    "max_rounds=1",
]


@pytest.fixture
def scripted(monkeypatch):
    """Make every spec resolve to scripted clients: a MinionS remote and a local."""
    clients = {
        "local": ScriptedClient("local", replies=job_reply, local=True),
        "remote": remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$1,577 million"}),
    }

    def fake_get_client(spec, **kwargs):
        return clients["local" if "local" in spec or "0.5b" in spec else "remote"]

    monkeypatch.setattr(api, "get_client", fake_get_client)
    return clients


def test_protocols_lists_every_protocol_with_options():
    out = runner.invoke(app_cli, ["protocols"], terminal_width=200)
    assert out.exit_code == 0
    for name in ("remote_only", "local_only", "minion", "minions"):
        assert name in out.output
    assert "max_rounds" in out.output and "retrieval_top_k" in out.output


def test_ask_json_prints_a_result_cheaper_than_remote_only(scripted):
    out = runner.invoke(
        app_cli,
        ASK_JSON,
    )
    assert out.exit_code == 0, out.output
    result = Result.from_json(out.stdout)
    assert result.answer == "$1,577 million"
    assert result.usage["local"].calls == 20  # one job per page
    assert result.usage["remote"].calls == 2
    assert 0 < result.cost.remote_usd < result.cost.remote_only_usd
    assert result.config["max_rounds"] == 1


def test_ask_summary_shows_answer_cost_and_savings(scripted, tmp_path):
    log = tmp_path / "events.jsonl"
    out = runner.invoke(
        app_cli,
        [
            "ask",
            EXAMPLE,
            "-q",
            "capex 2018?",
            "--price-as",
            "openai:gpt-4o",
            "-o",
            "max_rounds=1",
            "--log",
            str(log),
        ],
        terminal_width=200,
    )
    assert out.exit_code == 0, out.output
    for text in ("$1,577 million", "92% cheaper than sending the whole document", "local"):
        assert text in out.output
    kinds = [json.loads(line)["kind"] for line in log.read_text().splitlines()]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"


def test_ask_rejects_unknown_options_with_the_known_ones(scripted):
    out = runner.invoke(app_cli, ["ask", EXAMPLE, "-q", "q", "-o", "max_round=3"])
    assert out.exit_code == 1
    assert "Known options" in out.output and "max_rounds" in out.output


def test_ask_rejects_malformed_option(scripted):
    out = runner.invoke(app_cli, ["ask", EXAMPLE, "-q", "q", "-o", "max_rounds"])
    assert out.exit_code == 1
    assert "key=value" in out.output


def test_ask_unreadable_file_is_a_clear_error(scripted, tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\n garbage")
    out = runner.invoke(app_cli, ["ask", str(bad), "-q", "q"])
    assert out.exit_code == 1
    assert "broken.pdf" in out.output
    assert "Traceback" not in out.output


def test_failed_run_exits_non_zero_with_the_reason(monkeypatch):
    from minions.errors import ProviderError

    remote = ScriptedClient("remote", replies=[ProviderError("service unavailable", provider="x")])
    local = ScriptedClient("local", replies=[], local=True)
    monkeypatch.setattr(api, "get_client", lambda spec, **kw: local if "local" in spec else remote)
    out = runner.invoke(
        app_cli,
        [
            "ask",
            EXAMPLE,
            "-q",
            "q",
            "-p",
            "remote_only",
            "--local",
            "scripted:local",
            "--remote",
            "scripted:r",
            "--json",
        ],
    )
    assert out.exit_code == 1
    assert Result.from_json(out.stdout).status == "error"


def test_demo_compares_with_the_expected_answer(monkeypatch):
    local = ScriptedClient("local", replies=job_reply, local=True)
    remote = remote_script(
        plan={"tasks": [{"task": "What were purchases of PP&E in 2018?", "advice": ""}]},
        final={"answer": "$1,577 million"},
    )
    monkeypatch.setattr(api, "get_client", lambda spec, **kw: remote if "1.5b" in spec else local)
    out = runner.invoke(app_cli, ["demo"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "expected answer" in out.output and "$1577.00" in out.output
    assert "$1,577 million" in out.output
    assert len(local.calls) == 4  # retrieval_top_k=4 in the demo settings


def test_app_command_launches_streamlit(monkeypatch):
    import minions.app.launch

    calls = []
    monkeypatch.setattr(minions.app.launch, "launch", lambda **kw: calls.append(kw) or 0)
    out = runner.invoke(app_cli, ["app", "--port", "8123"])
    assert out.exit_code == 0, out.output
    assert calls == [{"port": 8123, "address": "localhost", "open_browser": False}]


def test_app_command_reports_launch_errors(monkeypatch):
    import minions.app.launch
    from minions.errors import ConfigurationError

    def busy(**kw):
        raise ConfigurationError("port 8123 is in use; pass --port with a free one")

    monkeypatch.setattr(minions.app.launch, "launch", busy)
    out = runner.invoke(app_cli, ["app", "--port", "8123"])
    assert out.exit_code == 1
    assert "port 8123 is in use" in out.output


def test_ask_json_prints_the_result_when_the_local_model_fails(scripted):
    from minions.errors import AuthenticationError

    scripted["local"] = ScriptedClient(
        "local", replies=[AuthenticationError("invalid key", provider="ollama")] * 40, local=True
    )
    out = runner.invoke(
        app_cli,
        ASK_JSON,
    )
    assert out.exit_code == 1
    assert "Traceback" not in out.output
    result = Result.model_validate_json(out.stdout)
    assert result.status == "error" and "invalid key" in (result.error or "")
    assert result.rounds and result.rounds[0].code


@pytest.fixture
def run_limits(monkeypatch):
    """The Limits every Run is made with, as the CLI's flags set them."""
    import minions.protocol

    seen = []
    make_run = minions.protocol.Run

    def spy(*args, **kwargs):
        seen.append(kwargs["limits"])
        return make_run(*args, **kwargs)

    monkeypatch.setattr(minions.protocol, "Run", spy)
    return seen


LIMIT_FLAGS = ["--max-remote-usd", "0.5", "--max-remote-calls", "1", "--timeout", "120"]


def test_ask_limit_flags_reach_the_run_and_stop_it(scripted, run_limits):
    from minions.limits import Limits

    out = runner.invoke(app_cli, [*ASK_JSON, *LIMIT_FLAGS])
    assert out.exit_code == 1
    assert run_limits == [Limits(max_remote_usd=0.5, max_remote_calls=1, timeout_s=120)]
    result = Result.from_json(out.stdout)
    assert result.status == "budget_exceeded"
    assert "max_remote_calls=1" in result.error
    assert result.usage["remote"].calls == 1 and len(result.jobs) == 20  # code ran, no answer


def test_demo_limit_flags_reach_the_run(monkeypatch, run_limits):
    from minions.limits import Limits

    local = ScriptedClient("local", replies=job_reply, local=True)
    remote = remote_script(plan={"tasks": [{"task": "capex 2018?", "advice": ""}]}, final=[])
    monkeypatch.setattr(api, "get_client", lambda spec, **kw: remote if "1.5b" in spec else local)
    out = runner.invoke(app_cli, ["demo", *LIMIT_FLAGS], terminal_width=200)
    assert out.exit_code == 1
    assert run_limits == [Limits(max_remote_usd=0.5, max_remote_calls=1, timeout_s=120)]
    assert "max_remote_calls=1" in out.output and len(remote.calls) == 1


def test_without_limit_flags_the_run_has_no_limits(scripted, run_limits):
    from minions.limits import Limits

    assert runner.invoke(app_cli, ASK_JSON).exit_code == 0
    assert run_limits == [Limits()]


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--timeout", "0"), ("--max-remote-usd", "-1"), ("--max-remote-calls", "-2")],
)
def test_a_bad_limit_is_a_clear_error(scripted, flag, value):
    out = runner.invoke(app_cli, [*ASK_JSON, flag, value])
    assert out.exit_code == 1
    assert flag in out.output and "greater than" in out.output
    assert "Traceback" not in out.output


@pytest.mark.parametrize("command", ["ask", "demo"])
def test_limit_flags_are_in_the_help(command):
    out = runner.invoke(app_cli, [command, "--help"], terminal_width=200)
    assert out.exit_code == 0
    for flag in ("--max-remote-usd", "--max-remote-calls", "--timeout", "budget_exceeded"):
        assert flag in out.output
