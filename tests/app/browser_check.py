"""Browser check of the app: real servers, headless Chromium, the states a user meets.

Starts the app three times on free ports and drives each in Debian's Chromium over the
Chrome DevTools Protocol:

1. **setup**: no injected clients, an empty model cache and no API keys, so nothing is
   pulled: the first screen, where Run must be disabled with the reason shown;
2. **scripted**: the scripted clients of ``scripted_clients.py`` (slowed down so the
   live view can be seen): an answered run, then a stopped one, then a reload (the
   history must bring both back), in light and in dark mode;
3. **failing**: a remote whose provider rejects the key: a failed run.

Every state is photographed at 1440 and 420 px wide (full page) and checked, not only
photographed: no "∞", "Infinity", "NaN" or "None" in the page's text, and at 420 px no
horizontal overflow (the document and the app's scroll container are no wider than
the viewport). Exits non-zero on the first failed check. Not collected by pytest (the
name has no ``test_``)::

    python tests/app/browser_check.py [--out build/app-check]

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and the ``websockets``
package (in the ``dev`` extra); nothing leaves this machine (the app and the browser
talk over 127.0.0.1).
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
WIDE, NARROW = 1440, 420
HEIGHT = 1000  # the viewport while driving; screenshots grow to the page's height
MAX_HEIGHT = 9000
#: words that mean a value leaked to the page unformatted
LEAKS = re.compile(r"∞|\bInfinity\b|\bNaN\b|\bNone\b")
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MINIONS_APP_CLIENTS")

#: the element that scrolls the page, and the page's full height and width
SCROLLER_JS = """(() => {
  const all = [document.scrollingElement, ...document.querySelectorAll('*')];
  const scrollers = all.filter(e => e && e.scrollHeight > e.clientHeight + 1 &&
    (e === document.scrollingElement || /(auto|scroll)/.test(getComputedStyle(e).overflowY)));
  const main = scrollers.sort((a, b) => b.clientHeight - a.clientHeight)[0]
    || document.scrollingElement;
  const block = document.querySelector('[data-testid="stMainBlockContainer"]');
  const sidebar = document.querySelector('[data-testid="stSidebarContent"]');
  const bottom = block ? block.getBoundingClientRect().bottom + main.scrollTop : 0;
  const open = sidebar && sidebar.getBoundingClientRect().right > 0;  // shut on a phone
  return {height: Math.max(bottom, open ? sidebar.scrollHeight : 0) + 40,
          docWidth: document.documentElement.scrollWidth,
          mainWidth: main.scrollWidth, viewport: window.innerWidth};
})()"""
#: whether Streamlit has finished drawing: nothing stale, every table has its canvas
SETTLED_JS = """(() => !document.querySelector('[data-stale="true"]') &&
  [...document.querySelectorAll('[data-testid="stDataFrame"]')]
    .filter(t => !t.closest('details:not([open])'))  // not inside a closed expander
    .every(t => { const c = t.querySelector('canvas'); return c && c.clientWidth > 50; }))()"""


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

    def __init__(self, socket: ClientConnection, out: Path) -> None:
        self.socket = socket
        self.next_id = 0
        self.out = out
        self.width = WIDE

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

    def viewport(self, width: int, height: int = HEIGHT) -> None:
        self.width = width
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width, height=height, deviceScaleFactor=1, mobile=width < 600,
        )  # fmt: skip

    def dark(self, on: bool) -> None:
        scheme = "dark" if on else "light"
        self.call(
            "Emulation.setEmulatedMedia",
            features=[{"name": "prefers-color-scheme", "value": scheme}],
        )

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        wait_for("the page", lambda: "Question" in self.text(), 60)
        time.sleep(1.0)

    def button(self, label: str) -> dict[str, Any] | None:
        """The first button whose text is ``label``: whether it is disabled, its tooltip."""
        found = self.js(
            "(() => { const b = [...document.querySelectorAll('button')]"
            f".find(b => b.innerText.trim() === {json.dumps(label)});"
            " return b ? {disabled: b.disabled, title: b.title || ''} : null; })()"
        )
        return found if isinstance(found, dict) else None

    def click_button(self, label: str) -> bool:
        return bool(
            self.js(
                "(() => { const b = [...document.querySelectorAll('button')]"
                f".find(b => b.innerText.trim() === {json.dumps(label)} && !b.disabled);"
                " if (b) { b.click(); return true; } return false; })()"
            )
        )

    def check_page(self, name: str) -> None:
        """No unformatted value in the text; at a narrow width, no sideways scrolling."""
        text = self.text()
        leak = LEAKS.search(text)
        if leak:
            around = text[max(0, leak.start() - 80) : leak.end() + 80].replace("\n", " ")
            raise AssertionError(f"{name}: {leak.group()!r} on the page: ...{around}...")
        if self.width <= NARROW:
            sizes = self.js(SCROLLER_JS)
            widest = max(sizes["docWidth"], sizes["mainWidth"])
            if widest > sizes["viewport"]:
                raise AssertionError(
                    f"{name}: the page is {widest} px wide in a {sizes['viewport']} px viewport"
                )

    def settle(self) -> None:
        """Wait until the script has drawn everything: nothing stale, every table drawn,
        and the text the same twice in a row."""
        seen = [""]

        def settled() -> bool:
            text = self.text()
            same, seen[0] = text == seen[0], text
            return same and bool(self.js(SETTLED_JS))

        wait_for("the page to settle", settled, 30, every_s=1.0)
        time.sleep(1.0)  # charts draw after the elements are there

    def shoot(self, name: str, *, settle: bool = True) -> Path:
        """Check the page, then save a picture of all of it as ``name.png`` (a live
        view never settles: it is redrawn twice a second)."""
        if settle:
            self.settle()
        self.check_page(name)
        height = min(MAX_HEIGHT, int(self.js(SCROLLER_JS)["height"]))
        self.viewport(self.width, max(HEIGHT, height))
        if settle:  # tables and charts are drawn again at the new size
            self.settle()
        else:
            time.sleep(1.5)
        self.check_page(name)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path = self.out / f"{name}.png"
        path.write_bytes(base64.b64decode(data))
        self.viewport(self.width)
        logger.info("saved %s", path)
        return path

    def both_widths(self, name: str) -> None:
        """Screenshots of the page at 1440 and at 420 px."""
        for width in (WIDE, NARROW):
            self.viewport(width)
            time.sleep(1.0)
            self.shoot(f"{name}-{width}")
        self.viewport(WIDE)


def app_env(data: Path, cache: Path, factory: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env |= {"MINIONS_DATA_DIR": str(data), "MINIONS_CACHE_DIR": str(cache)}
    if factory:
        env["MINIONS_APP_CLIENTS"] = f"{HERE / 'scripted_clients.py'}:{factory}"
    return env


@contextmanager
def browser(out: Path, chromium: str) -> Iterator[DevTools]:
    debug_port = free_port(9322, "127.0.0.1")
    profile = tempfile.mkdtemp(prefix="minions-chromium-")
    command = [
        chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
        f"--remote-debugging-port={debug_port}", f"--window-size={WIDE},{HEIGHT}", "about:blank",
    ]  # fmt: skip
    try:
        with process(command, dict(os.environ), out / "chromium.log"):
            targets = f"http://127.0.0.1:{debug_port}/json"
            pages = wait_for(
                "Chromium", lambda: [t for t in http_json(targets) if t["type"] == "page"], 30
            )
            with connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as socket:
                tools = DevTools(socket, out)
                tools.call("Page.enable")
                yield tools
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def app(out: Path, name: str, env: dict[str, str]) -> Iterator[str]:
    port = free_port(8611, "127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    with process(streamlit_command(port, "127.0.0.1"), env, out / f"streamlit-{name}.log"):
        wait_for("the app", lambda: http_ok(f"{url}/_stcore/health"), 60)
        yield url


def nothing_pulled(tools: DevTools, url: str) -> None:
    tools.open(url)
    wait_for("the checklist", lambda: "not on this machine yet" in tools.text(), 30)
    run = tools.button("Run")
    if run is None or not run["disabled"]:
        raise AssertionError(f"Run is not disabled with nothing pulled: {run}")
    text = tools.text()
    if "Run waits until you pull" not in text:
        raise AssertionError("the reason Run is disabled is not on the page")
    for expected in ("Document", "Local model", "Remote model", "Pull qwen2.5-coder-0.5b"):
        if expected not in text:
            raise AssertionError(f"{expected!r} is not on the first screen")
    if "Deploy" in text:
        raise AssertionError("Streamlit's Deploy button is shown")
    tools.both_widths("first-screen-nothing-pulled")
    logger.info("nothing pulled: Run is disabled and says why")


def click_run(tools: DevTools) -> None:
    wait_for("the Run button", lambda: tools.click_button("Run"), 60)


def answered_and_stopped(tools: DevTools, url: str) -> None:
    tools.open(url)
    click_run(tools)
    wait_for("jobs to finish", lambda: re.search(r"\b[1-9]\d*/\d+ jobs done", tools.text()), 60)
    tools.shoot("live-1440", settle=False)
    wait_for("the answer", lambda: "cheaper than sending the whole document" in tools.text(), 120)
    tools.settle()
    text = tools.text()
    for expected in ("1,577 million", "Citations", "verified", "Transcript", "Runs", "Savings"):
        if expected not in text:
            raise AssertionError(f"{expected!r} is not on the page of an answered run")
    tools.both_widths("answered")
    opened = tools.js(
        "(() => { const s = [...document.querySelectorAll('details summary')]"
        ".find(s => s.innerText.includes('verified')); if (s) s.click(); return !!s; })()"
    )
    marked = (
        wait_for(
            "the highlighted quote",
            lambda: tools.js(
                "(() => { const m = document.querySelector('details[open] mark');"
                " return m ? m.innerText : ''; })()"
            ),
            10,
        )
        if opened
        else ""
    )
    if "Purchases of property" not in marked:
        raise AssertionError(f"a citation does not show its quote highlighted: {marked!r}")
    tools.shoot("citation-open-1440")
    click_run(tools)
    wait_for("the second run", lambda: "Run 2: running" in tools.text(), 30)
    # stopped once the remote has planned (and been paid): the run has spent something
    wait_for("the plan", lambda: re.search(r"\b\d+/[1-9]\d* jobs done", tools.text()), 60)
    wait_for("Stop", lambda: tools.click_button("Stop"), 30)
    wait_for("the stopped run", lambda: "Stopped before an answer" in tools.text(), 60)
    time.sleep(1.0)
    if not re.search(r"\$0\.\d+ spent, no answer", tools.text()):
        raise AssertionError("the stopped run does not say what it spent")
    tools.both_widths("stopped")
    tools.dark(True)
    tools.open(url)  # a reload: a new session, whose runs come from the history
    wait_for("the history", lambda: "Run 2: stopped" in tools.text(), 30)
    tools.both_widths("dark-after-reload")
    tools.dark(False)
    logger.info("answered, stopped, reloaded with the history, dark: all checked")


def failed(tools: DevTools, url: str) -> None:
    tools.open(url)
    click_run(tools)
    wait_for("the failure", lambda: "The run failed" in tools.text(), 60)
    time.sleep(1.0)
    text = tools.text()
    if "invalid API key" not in text or "OPENAI_API_KEY" not in text:
        raise AssertionError("the failure does not say what went wrong and what to do")
    if "AuthenticationError" in text or "cheaper" in text:
        raise AssertionError("a failed run shows a class name or claims savings")
    tools.both_widths("failed")
    logger.info("failed run: the error and its fix, no savings")


def check(out: Path, chromium: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="minions-browser-check-"))
    try:
        with browser(out, chromium) as tools:
            empty = work / "empty-cache"
            empty.mkdir()
            with app(out, "setup", app_env(work / "data-setup", empty, None)) as url:
                nothing_pulled(tools, url)
            scripted = app_env(work / "data-scripted", empty, "make_slow_client")
            with app(out, "scripted", scripted) as url:
                answered_and_stopped(tools, url)
            failing = app_env(work / "data-failing", empty, "make_failing_client")
            with app(out, "failing", failing) as url:
                failed(tools, url)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
