"""``minions eval`` and ``minions eval report`` through typer's CliRunner on ``eval_app``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from eval_helpers import needs_medical
from typer.testing import CliRunner

import minions.evals.runner
from minions.clients import Client
from minions.clients.scripted import ScriptedClient
from minions.evals.cli import eval_app
from minions.evals.runner import RESULTS, RUN_INFO

WIDE = {"COLUMNS": "200"}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(eval_app, list(args), env=WIDE)


@pytest.fixture
def scripted_models(monkeypatch: pytest.MonkeyPatch) -> dict[str, ScriptedClient]:
    """The runner's clients, by spec: a remote answering B and a local answering A."""
    made = {
        "scripted:remote": ScriptedClient("remote", replies=lambda m: "B"),
        "scripted:local": ScriptedClient("local", replies=lambda m: "A", local=True),
    }

    def get_client(spec: str | Client, **kwargs: Any) -> Client:
        assert isinstance(spec, str)
        return made[spec]

    monkeypatch.setattr(minions.evals.runner, "get_client", get_client)
    return made


RUN = [
    "--dataset",
    "longhealth",
    "--protocols",
    "remote_only,local_only",
    "--local",
    "scripted:local",
    "--remote",
    "scripted:remote",
    "--price-as",
    "openai:gpt-4o",
    "--context",
    "texts:2",
    "--limit",
    "2",
    "--option",
    "max_tokens=64",
]


def test_no_dataset_is_a_usage_error() -> None:
    result = invoke()
    assert result.exit_code == 2
    assert "--dataset and --out required" in result.output
    assert "Usage:" in result.output


def test_help_lists_the_run_options_and_the_report_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for text in ("--dataset", "--protocols", "--context", "--concurrency", "--option", "report"):
        assert text in result.output


@needs_medical
def test_a_run_then_a_report(tmp_path: Path, scripted_models: dict[str, ScriptedClient]) -> None:
    out = tmp_path / "run"
    result = invoke(*RUN, "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]
    assert len(rows) == 4
    assert {r["protocol"] for r in rows} == {"remote_only", "local_only"}
    settings = json.loads((out / RUN_INFO).read_text())["settings"]
    both = {"max_tokens": 64}
    assert settings["options"] == {"remote_only": both, "local_only": both}
    assert settings["limit"] == 2 and settings["context"] == "texts:2"
    assert "remote_only" in result.output and "accuracy" in result.output
    assert f"minions eval report {out}" in result.output

    calls = len(scripted_models["scripted:remote"].calls)
    again = invoke(*RUN, "--out", str(out), "--concurrency", "2")
    assert again.exit_code == 0, again.output
    assert len(scripted_models["scripted:remote"].calls) == calls  # resumed: nothing left to run
    assert len((out / RESULTS).read_text().splitlines()) == 4

    report = invoke("report", str(out))
    assert report.exit_code == 0, report.output
    assert (out / "report.md").exists() and (out / "cost_vs_accuracy.png").exists()
    assert "longhealth" in report.output and "local_only" in report.output
    assert len((out / RESULTS).read_text().splitlines()) == 4  # the report ran nothing


@needs_medical
def test_other_settings_into_a_run_folder_fail(
    tmp_path: Path, scripted_models: dict[str, ScriptedClient]
) -> None:
    assert invoke(*RUN, "--out", str(tmp_path)).exit_code == 0
    result = invoke(*RUN[:-2], "--out", str(tmp_path))  # without the option
    assert result.exit_code == 1
    assert "other settings" in result.output and "options" in result.output


def test_report_of_an_empty_folder_fails(tmp_path: Path) -> None:
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 1
    assert "no results rows" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--option", "rounds=2"], "no protocol among"),
        (["--download"], "--download is for --dataset financebench"),
        (["--where", "kind"], "key=value"),
        (["--protocols", "nope"], "unknown protocol"),
    ],
)
def test_bad_arguments_say_what_is_wrong(
    tmp_path: Path, extra: list[str], message: str, scripted_models: dict[str, ScriptedClient]
) -> None:
    result = invoke(*RUN, *extra, "--out", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert message in result.output


@needs_medical
def test_a_local_remote_without_price_as_is_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = {
        "scripted:local": ScriptedClient("local", replies=lambda m: "A", local=True),
        "llamacpp:qwen2.5-coder-1.5b": ScriptedClient("stand-in", replies=lambda m: "B"),
    }
    monkeypatch.setattr(minions.evals.runner, "get_client", lambda spec, **kw: made[spec])
    args = ["--dataset", "longhealth", "--ids", "patient_01/q1", "--protocols", "remote_only"]
    args += ["--local", "scripted:local", "--context", "texts:1"]
    result = invoke(*args, "--remote", "llamacpp:qwen2.5-coder-1.5b", "--out", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    assert "runs locally, so remote $ will be $0" in result.output
    assert "--price-as" in result.output


@needs_medical
def test_a_remote_is_local_by_its_providers_capabilities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fake_providers import LocalProvider, register

    register(monkeypatch, LocalProvider)
    made = {
        "scripted:local": ScriptedClient("local", replies=lambda m: "A", local=True),
        "fakelocal:m": ScriptedClient("remote", replies=lambda m: "B"),
    }
    monkeypatch.setattr(minions.evals.runner, "get_client", lambda spec, **kw: made[spec])
    args = ["--dataset", "longhealth", "--ids", "patient_01/q1", "--protocols", "remote_only"]
    args += ["--local", "scripted:local", "--context", "texts:1", "--remote", "fakelocal:m"]
    result = invoke(*args, "--out", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    assert "the remote fakelocal:m runs locally" in result.output


def mounted() -> typer.Typer:
    """``eval_app`` mounted the way ``minions.cli`` mounts it."""
    app = typer.Typer(name="minions", no_args_is_help=True)

    @app.callback()
    def main(verbose: bool = False) -> None:
        """The main app's own options."""

    app.add_typer(eval_app, name="eval")
    return app


def test_mounted_report_does_not_start_a_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(mounted(), ["eval", "report", str(tmp_path)], env=WIDE)
    assert result.exit_code == 1
    assert "no results rows" in result.output and "--dataset" not in result.output


def test_mounted_eval_without_a_dataset_is_a_usage_error() -> None:
    result = CliRunner().invoke(mounted(), ["eval"], env=WIDE)
    assert result.exit_code == 2
    assert "minions eval report DIR" in result.output


def test_a_narrow_terminal_gets_the_headline_columns() -> None:
    from minions.evals.cli import results_table
    from minions.evals.report import GroupStats

    group = GroupStats(
        dataset="longhealth", protocol="minions", n=2, decided=2, correct=1, accuracy=0.5,
        ci_low=0.0, ci_high=1.0, mean_remote_usd=0.001, mean_remote_only_usd=0.01,
        mean_remote_tokens=100, mean_local_tokens=1000, mean_wall_s=3.0, errors=0,
        cost_ratio=10.0, quality_ratio=0.5,
    )  # fmt: skip
    assert len(results_table([group], "x", width=80).columns) == 6
    assert len(results_table([group], "x", width=200).columns) == 11
    from rich.console import Console

    console = Console(width=80, record=True)
    console.print(results_table([group], "x", width=80))
    lines = console.export_text().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    row = next(line for line in lines if "minions" in line)
    assert "50.0% (1/2)" in row and "10.0x cheaper" in row and "$0.0010" in row


@needs_medical
def test_limits_reach_every_run_and_are_saved(
    tmp_path: Path, scripted_models: dict[str, ScriptedClient]
) -> None:
    out = tmp_path / "run"
    result = invoke(*RUN, "--out", str(out), "--max-remote-calls", "0", "--timeout", "60")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]
    status = {(r["protocol"], r["status"]) for r in rows}
    assert status == {("remote_only", "budget_exceeded"), ("local_only", "answered")}
    info = json.loads((out / RUN_INFO).read_text())
    assert info["settings"]["limits"]["max_remote_calls"] == 0
    assert len(scripted_models["scripted:remote"].calls) == 0


@needs_medical
def test_old_o_dir_still_works_with_a_deprecation_warning(
    tmp_path: Path, scripted_models: dict[str, ScriptedClient]
) -> None:
    out = tmp_path / "old"
    result = invoke(*RUN[:-2], "-o", "max_tokens=64", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "-o DIR is deprecated: write --out" in result.output
    assert (out / RESULTS).exists()
    info = json.loads((out / RUN_INFO).read_text())
    assert info["settings"]["options"] == {
        "remote_only": {"max_tokens": 64},
        "local_only": {"max_tokens": 64},
    }


def test_o_without_equals_beside_out_is_an_error(tmp_path: Path) -> None:
    result = invoke(*RUN, "-o", "folder", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "-o takes KEY=VALUE" in result.output and "--out DIR" in result.output
