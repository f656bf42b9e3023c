"""The package's shape: one import package, dependencies pointing one way, mypy that
sees every first-party module, and a wheel that installs and runs on its own.

Layers, bottom up: the core (``minions`` without its subpackages below), then
``minions.protocols``, then ``minions.app`` and ``minions.evals``. A layer imports only
the layers under it; the core finds the others through entry points.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "minions"
UPPER = {"protocols": 1, "app": 2, "evals": 2}  # minions.<name> and its layer; core is 0
TOP_LEVEL_NAMES = ("protocols", "app", "evals")


def layer_of(module: str) -> int | None:
    """The layer of a first-party module name, None for anything else."""
    parts = module.split(".")
    if parts[0] in TOP_LEVEL_NAMES:
        return -1  # a generic top-level name: never importable from the wheel
    if parts[0] != "minions":
        return None
    return UPPER.get(parts[1], 0) if len(parts) > 1 else 0


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def first_party_files() -> list[tuple[Path, int]]:
    files = []
    paths = [
        Path(folder) / name
        for folder, _, names in os.walk(PACKAGE, followlinks=True)  # the subpackages' links
        for name in names
        if name.endswith(".py")
    ]
    for path in sorted(paths):
        relative = path.relative_to(PACKAGE).parts
        layer = UPPER.get(relative[0], 0) if len(relative) > 1 else 0
        files.append((path, layer))
    return files


def test_every_module_imports_only_its_own_layer_and_below() -> None:
    problems = []
    for path, layer in first_party_files():
        for line, module in imports_of(path):
            target = layer_of(module)
            if target == -1:
                problems.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
            elif target is not None and target > layer and not _same_package(path, module):
                problems.append(f"{path.relative_to(PACKAGE)}:{line} imports upward: {module}")
    assert problems == [], "\n".join(problems)
    assert len(first_party_files()) > 40  # the walk reached the subpackages


def _same_package(path: Path, module: str) -> bool:
    relative = path.relative_to(PACKAGE).parts
    return len(relative) > 1 and module.startswith(f"minions.{relative[0]}")


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from minions.evals.runner import run_eval\n")
    assert [layer_of(m) for _, m in imports_of(bad)] == [2]
    assert layer_of("protocols.base") == -1 and layer_of("minions.run") == 0


def _tree_copy(tmp_path: Path) -> Path:
    """The first-party source as a throwaway tree, symlinks kept."""
    copy = tmp_path / "tree"
    copy.mkdir()
    for name in ("minions", "protocols", "app", "evals", "examples"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / name, copy / name, symlinks=True, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _mypy(tree: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache)],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_mypy_checks_the_protocols_and_fails_on_a_type_error(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    tree = _tree_copy(tmp_path)
    cache = tmp_path / "mypy-cache"
    clean = _mypy(tree, cache)
    assert clean.returncode == 0, clean.stdout[-3000:]
    with (tree / "protocols" / "minion.py").open("a", encoding="utf-8") as module:
        module.write('\n\ndef broken() -> int:\n    return 1 + "one"\n')
    broken = _mypy(tree, cache)
    assert broken.returncode == 1, broken.stdout
    assert "minions/protocols/minion.py" in broken.stdout
    assert 'Unsupported operand types for + ("int" and "str")' in broken.stdout


def test_the_wheel_installs_one_package_and_its_commands_work(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("minions-*.whl")
    target = tmp_path / "venv"
    venv.create(target, with_pip=True, system_site_packages=False)
    python = str(target / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=900,
    )
    outside = tmp_path / "elsewhere"  # not the checkout: nothing importable from cwd
    outside.mkdir()
    env = {"PATH": f"{target / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=outside, env=env, capture_output=True, text=True)

    for name in TOP_LEVEL_NAMES:
        assert run(python, "-c", f"import {name}").returncode != 0, f"`import {name}` works"
    found = run(python, "-c", "import minions, pathlib; print(pathlib.Path(minions.__file__))")
    package = Path(found.stdout.strip()).parent
    assert package.is_relative_to(target), found
    top = sorted(p.name for p in package.parent.iterdir() if (p / "__init__.py").exists())
    assert "minions" in top and not set(TOP_LEVEL_NAMES) & set(top), top
    assert (package / "examples" / "3m-2018-10k-pages-45-64.txt").is_file()
    assert (package / "protocols" / "prompts" / "minions_code.txt").is_file()
    for command in (["demo", "--help"], ["app", "--help"], ["eval", "--help"], ["batch", "--help"]):
        done = run(str(target / "bin" / "minions"), *command)
        assert done.returncode == 0, f"minions {' '.join(command)}: {done.stderr[-2000:]}"
    listing = "from minions.cli import EXAMPLES; print(sorted(p.name for p in EXAMPLES.iterdir()))"
    demo_files = run(python, "-c", listing)
    assert "questions.json" in demo_files.stdout, demo_files


def test_completion_parsed_is_typed_by_the_schema(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    from mypy import api

    snippet = tmp_path / "typed.py"
    snippet.write_text(
        "from pydantic import BaseModel\n"
        "from minions import Message, get_client\n\n\n"
        "class Capex(BaseModel):\n"
        "    year: int\n\n\n"
        "async def f() -> None:\n"
        "    done = await get_client('scripted:').chat([Message.user('x')], schema=Capex)\n"
        "    reveal_type(done.parsed)\n"
        "    if done.parsed is not None:\n"
        "        done.parsed.yeer\n"
    )
    out, _, status = api.run(
        [
            "--config-file",
            "/dev/null",
            "--follow-imports",
            "silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(snippet),
        ]
    )
    assert status == 1
    assert 'Revealed type is "Union[typed.Capex, None]"' in out or "typed.Capex | None" in out, out
    assert '"Capex" has no attribute "yeer"' in out, out
