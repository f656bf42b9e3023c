"""Browser check of the app: a real server, headless Chromium, the bundled example.

Starts the app on a free port with the scripted clients of ``scripted_clients.py``
(slowed down so the live view can be seen), opens it in Debian's Chromium over the
Chrome DevTools Protocol, clicks Run, saves a screenshot of the live view, waits for
the answer and the cost panel, and saves a screenshot of the page. Exits non-zero
when something is missing. Not collected by pytest (the name has no ``test_``)::

    python tests/app/browser_check.py [--out build/app-check]

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and the ``websockets``
package; nothing leaves this machine (the app and the browser talk over 127.0.0.1).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from minions.app.launch import free_port, streamlit_command  # noqa: E402

logger = logging.getLogger("browser_check")

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
WIDTH, HEIGHT = 1440, 2600


def wait_for(what: str, check: Any, timeout_s: float, every_s: float = 0.25) -> Any:
    """Poll ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A child process, its output to ``log``, stopped on the way out."""
    with log.open("wb") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


class DevTools:
    """The few Chrome DevTools Protocol calls this check needs."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # skip events until our reply
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        return self.js("document.body ? document.body.innerText : ''") or ""

    def click_button(self, label: str) -> bool:
        return bool(
            self.js(
                "(() => { const b = [...document.querySelectorAll('button')]"
                f".find(b => b.innerText.trim() === {json.dumps(label)} && !b.disabled);"
                " if (b) { b.click(); return true; } return false; })()"
            )
        )

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        logger.info("saved %s", path)


def check(out: Path, chromium: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    app_port, debug_port = free_port(8611, "127.0.0.1"), free_port(9322, "127.0.0.1")
    url = f"http://127.0.0.1:{app_port}"
    env = {**os.environ, "MINIONS_APP_CLIENTS": f"{HERE / 'scripted_clients.py'}:make_slow_client"}
    profile = tempfile.mkdtemp(prefix="minions-chromium-")
    browser = [
        chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
        f"--remote-debugging-port={debug_port}", f"--window-size={WIDTH},{HEIGHT}", "about:blank",
    ]  # fmt: skip
    try:
        with (
            process(streamlit_command(app_port, "127.0.0.1"), env, out / "streamlit.log"),
            process(browser, dict(os.environ), out / "chromium.log"),
        ):
            wait_for("the app", lambda: http_ok(f"{url}/_stcore/health"), 60)
            targets = f"http://127.0.0.1:{debug_port}/json"
            pages = wait_for(
                "Chromium", lambda: [t for t in http_json(targets) if t["type"] == "page"], 30
            )
            with connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as socket:
                drive(DevTools(socket), url, out)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def drive(tools: DevTools, url: str, out: Path) -> None:
    tools.call(
        "Emulation.setDeviceMetricsOverride",
        width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False,
    )  # fmt: skip
    tools.call("Page.enable")
    tools.call("Page.navigate", url=url)
    wait_for("the Run button", lambda: "Question" in tools.text() and tools.click_button("Run"), 60)
    logger.info("clicked Run")
    wait_for("jobs to finish", lambda: re.search(r"\b[1-9]\d*/\d+ jobs done", tools.text()), 60)
    tools.screenshot(out / "live.png")
    wait_for("the answer", lambda: "Remote-only $" in tools.text(), 120)
    time.sleep(1.5)  # charts draw after the text is there
    tools.screenshot(out / "answer.png")
    text = tools.text()  # tables are drawn on a canvas: their cells are in the picture only
    for expected in ("1,577 million", "Savings", "Citations", "Transcript", "Runs this session"):
        if expected not in text:
            raise AssertionError(f"{expected!r} is not on the page; see {out / 'answer.png'}")
    logger.info("the page shows the answer, the cost panel and the jobs table")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/app-check"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if not Path(args.chromium).exists():
        logger.error(
            "no Chromium at %s; install it with apt-get install -y chromium", args.chromium
        )
        return 2
    try:
        check(args.out, args.chromium)
    except (AssertionError, TimeoutError, RuntimeError) as exc:
        logger.error("browser check failed: %s (logs in %s)", exc, args.out)
        return 1
    logger.info("browser check passed; screenshots in %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
