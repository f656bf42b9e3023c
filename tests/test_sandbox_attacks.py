"""Hostile plan code through ``minions.ask``: nothing escapes, as root or as a user.

Each attack in tests/sandbox_attacks/attacks.py runs in its own process through the
public API with scripted clients; the test checks from outside that no secret file or
environment variable reached a model, no file was written, no connection was made and
the process survived with a Result. As root, the same attacks also run as ``nobody``
(``setpriv``) from a virtualenv of the system's Python, where the root user's own
interpreter may not be readable: the usual way people run a library.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from minions import sandbox
from tests.sandbox_attacks.attacks import ATTACKS

ROOT = Path(__file__).resolve().parents[1]
ATTACK_DIR = Path(__file__).parent / "sandbox_attacks"
SYSTEM_PYTHON = Path("/usr/bin/python3")
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

pytestmark = pytest.mark.skipif(
    not sandbox.boundary().available, reason=f"no OS sandbox here: {sandbox.boundary().detail}"
)


class Listener:
    """A loopback TCP server that counts the connections it accepts."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.server.close()


@dataclass
class World:
    base: Path
    secret: str
    out: Path
    script: Path
    listener: Listener


@pytest.fixture
def world() -> Iterator[World]:
    """A secret file anyone may read, a folder anyone may write, a listener and the
    attack scripts, all where an unprivileged user can reach them."""
    base = Path(tempfile.mkdtemp(prefix="minions-attack-"))
    base.chmod(0o755)
    secret = f"SECRET-FILE-{secrets.token_hex(8)}"
    (base / "secret.txt").write_text(secret)
    (base / "secret.txt").chmod(0o644)
    out = base / "out"
    out.mkdir()
    out.chmod(0o777)
    scripts = base / "scripts"
    shutil.copytree(ATTACK_DIR, scripts)
    for path in [scripts, *scripts.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    listener = Listener()
    try:
        yield World(base, secret, out, scripts / "run_attack.py", listener)
    finally:
        listener.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def user_python(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command that runs Python as an unprivileged user with minions installed."""
    if os.geteuid() != 0:
        return [sys.executable]  # already an ordinary user
    if shutil.which("setpriv") is None or not SYSTEM_PYTHON.exists():
        pytest.skip("running as nobody needs setpriv and the system's /usr/bin/python3")
    version = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info >= (3, 11))"],
        capture_output=True,
        text=True,
        check=True,
    )
    if version.stdout.strip() != "True":
        pytest.skip("the system's python3 is older than 3.11, which minions needs")
    venv = Path(tempfile.mkdtemp(prefix="minions-user-venv-"))
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        check=True,
        cwd=venv,
    )
    subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
    return [*AS_NOBODY, str(venv / "bin" / "python")]


def run_attack(command: list[str], name: str, world: World) -> dict[str, object]:
    env_secret = f"sk-canary-{secrets.token_hex(8)}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(world.base), "OPENAI_API_KEY": env_secret}
    secret_file, port = str(world.base / "secret.txt"), str(world.listener.port)
    done = subprocess.run(
        [*command, str(world.script), name, secret_file, str(world.out), port],
        capture_output=True,
        text=True,
        env=env,
        cwd=world.base,
        timeout=300,
    )
    assert done.returncode == 0, f"the process running minions.ask died: {done.stderr[-3000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    sent = "\n".join(report["sent"]["local"] + report["sent"]["remote"])
    assert world.secret not in sent, "the secret file reached a model"
    assert env_secret not in sent, "the parent's environment reached a model"
    assert "FORGED-TEXT" not in "\n".join(report["sent"]["local"]), "forged text was read"
    assert list(world.out.iterdir()) == [], "the code wrote a file"
    assert world.listener.connections == 0, "the code connected to a port"
    assert report["status"] == "answered", report
    return report


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_as_this_user(name: str, world: World) -> None:
    run_attack([sys.executable], name, world)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_as_an_unprivileged_user(name: str, world: World, user_python: list[str]) -> None:
    if user_python[0] == "setpriv":
        version = subprocess.run(
            [*user_python, "-c", "import os, sys; print(os.geteuid(), sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert version.stdout.startswith(f"{NOBODY} (3, "), version.stdout
    run_attack(user_python, name, world)


def run_os_layer_only(command: list[str], world: World, victim: list[str]) -> None:
    target = subprocess.Popen([*victim, "sleep", "120"], env={"CANARY": "victim-environ"})
    try:
        done = subprocess.run(
            [
                *command,
                str(world.script.with_name("os_layer_only.py")),
                str(world.base / "secret.txt"),
                str(world.out),
                str(world.listener.port),
                str(target.pid),
            ],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            cwd=world.base,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.loads(done.stdout.strip().splitlines()[-1])
        allowed = sorted(name for name, outcome in results.items() if outcome == "allowed")
        assert allowed == [], f"the OS boundary let these through: {allowed}: {results}"
        assert len(results) == 12
        assert target.poll() is None, "the victim process was killed"
    finally:
        target.kill()
        target.wait()
    assert list(world.out.iterdir()) == []
    assert world.listener.connections == 0


def test_os_layer_alone_refuses_files_sockets_and_signals(world: World) -> None:
    # as root the child drops to nobody, so the victim runs as nobody too: only the
    # boundary, not the uid, can then stop the kill and the read of its environment
    victim = AS_NOBODY if os.geteuid() == 0 else []
    run_os_layer_only([sys.executable], world, victim)


def test_os_layer_alone_as_an_unprivileged_user(world: World, user_python: list[str]) -> None:
    victim = user_python[:-1] if user_python[0] == "setpriv" else []
    run_os_layer_only(user_python, world, victim)
