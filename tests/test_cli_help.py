"""The command line as a newcomer meets it in an 80-column terminal: help that fits and
teaches (readable metavars, an Examples section per command), ``--version``, the
``minions models`` view of specs and keys, and failures said once, on one line."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
import typer
from typer.testing import CliRunner

from minions import api
from minions.cli import EXAMPLES
from minions.cli import app as app_cli
from minions.clients.scripted import ScriptedClient
from minions.errors import AuthenticationError

WIDTH = 80
EXAMPLE = str(EXAMPLES / "3m-2018-10k-pages-45-64.txt")
runner = CliRunner()
#: how Typer shows a Python type when a parameter has no metavar
PYTHON_TYPES = re.compile(r"<(list\[|bool>|str>|int>|float>|path>|Path>)")


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(
        app_cli, list(args), terminal_width=WIDTH, env={"COLUMNS": "80", **(env or {})}
    )


def command_paths() -> list[list[str]]:
    """Every command and group of ``minions``, as the words that reach it."""
    paths: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            if not sub.hidden:
                walk(sub, [*path, name])

    walk(typer.main.get_command(app_cli), [])
    return paths


def lines_of(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines()]


@pytest.mark.parametrize(
    "path", [pytest.param(path, id=" ".join(path) or "minions") for path in command_paths()]
)
def test_help_fits_80_columns_and_teaches(path):
    out = invoke(*path, "--help")
    assert out.exit_code == 0, out.output
    too_wide = [line for line in lines_of(out.output) if len(line) > WIDTH]
    assert not too_wide, too_wide
    assert not PYTHON_TYPES.search(out.output), PYTHON_TYPES.search(out.output)
    assert "Examples" in out.output, "an Examples section"
    examples = out.output.split("Examples", 1)[1]
    assert f"minions {' '.join(path)}".strip() in examples, "examples of this very command"
    for line in lines_of(out.output):  # a panel's title is never cut off
        if line.startswith("╭─ "):
            assert re.fullmatch(r"╭─ [^─]+ ─+╮", line), line


def test_ask_help_shows_what_to_type():
    out = invoke("ask", "--help")
    for metavar in ("FILE...", "--local             SPEC", "KEY=VALUE", "TEXT", "USD", "N"):
        assert metavar in out.output
    assert "budget_exceeded" in out.output


def test_o_is_option_in_every_command():
    for command in (["ask"], ["demo"], ["eval"], ["batch"]):
        out = invoke(*command, "--help")
        assert re.search(r"--option\s+-o\s+KEY=VALUE", out.output), command
    for command in ("eval", "batch"):
        assert re.search(r"--out\s+DIR", invoke(command, "--help").output), command


def test_version():
    out = invoke("--version")
    assert out.exit_code == 0 and out.output.strip() == f"minions {version('minions')}"


def test_models_lists_specs_and_key_variables_with_their_state(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-shown")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = invoke("models")
    assert out.exit_code == 0, out.output
    assert max(map(len, lines_of(out.output))) <= WIDTH
    assert "sk-never-shown" not in out.output
    text = out.output
    rows = {name: text[text.index(f" {name} ") :] for name in ("openai", "anthropic", "ollama")}
    assert "openai:gpt-4o-mini" in rows["openai"] and "OPENAI_API_KEY" in rows["openai"]
    assert rows["openai"].split("anthropic")[0].count("(set)") == 1
    assert "ANTHROPIC_API_KEY" in rows["anthropic"] and "(not set)" in rows["anthropic"]
    assert "optional" in rows["ollama"], "Ollama's key is only for hosts that ask for one"
    assert "llamacpp:/path/to/model.gguf" in text and "minions models list" in text


def test_models_list_fits_80_columns_with_names_whole():
    out = invoke("models", "list")
    assert out.exit_code == 0
    assert max(map(len, lines_of(out.output))) <= WIDTH
    for pack in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"):
        assert pack in out.output
    assert "cache: " in out.output


def test_protocols_fit_80_columns_without_python_values():
    out = invoke("protocols")
    assert out.exit_code == 0
    assert max(map(len, lines_of(out.output))) <= WIDTH
    assert "None" not in out.output and "(none)" in out.output


# --- failures: said once, on one line ----------------------------------------------


def test_a_missing_file_is_one_line_and_no_progress():
    out = invoke("ask", "nope.txt", "-q", "What?")
    assert out.exit_code == 1
    assert lines_of(out.output) == ["error: No such file: nope.txt. Check the path."]


@pytest.fixture
def rejected_key(monkeypatch):
    """A remote whose provider rejects the key, as OpenAI answers a bad one."""
    rejected = AuthenticationError(
        "HTTP 401: Incorrect API key provided: sk-bad. Set OPENAI_API_KEY to a valid key "
        "(or pass api_key=...).",
        provider="openai",
        status_code=401,
    )
    remote = ScriptedClient("remote", replies=lambda messages: rejected)
    local = ScriptedClient("local", replies=[], local=True)
    monkeypatch.setattr(api, "get_client", lambda spec, **kw: local if "local" in spec else remote)


ASK_BAD_KEY = ["ask", EXAMPLE, "-q", "Capex?", "--local", "scripted:local", "--remote",
               "openai:gpt-4o-mini", "--price-as", "openai:gpt-4o"]  # fmt: skip


def test_a_bad_key_is_one_line_with_its_fix_and_no_savings(rejected_key):
    out = invoke(*ASK_BAD_KEY)
    assert out.exit_code == 1
    lines = lines_of(out.output)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: openai: HTTP 401: Incorrect API key")
    assert "Set OPENAI_API_KEY to a valid key" in lines[0]
    for claim in ("saving", "cheaper", "∞", "AuthenticationError", "warning"):
        assert claim not in out.output


def test_verbose_shows_the_details_of_a_failure(rejected_key):
    out = invoke("-v", *ASK_BAD_KEY)
    assert out.exit_code == 1
    assert any(line.startswith("error: openai: HTTP 401") for line in lines_of(out.output))
    assert "$0 spent, no answer" in out.output and "remote-only" in out.output
    assert "cheaper" not in out.output


def test_a_failed_local_only_run_claims_no_savings(monkeypatch):
    from minions.errors import ProviderError

    local = ScriptedClient("local", replies=[ProviderError("model not found", provider="ollama")],
                           local=True)  # fmt: skip
    monkeypatch.setattr(api, "get_client", lambda spec, **kw: local)
    out = invoke("ask", EXAMPLE, "-q", "q", "-p", "local_only", "--local", "scripted:l",
                 "--remote", "scripted:r")  # fmt: skip
    assert out.exit_code == 1
    assert lines_of(out.output) == ["error: ollama: model not found"]
