"""With every in-interpreter layer off, try open, socket, kill and friends; print JSON.

    python os_layer_only.py SECRET_FILE OUT_DIR PORT VICTIM_PID

The sandbox is told (through a switch that exists only for tests) to skip the AST
check, the restricted builtins and the audit hook, and to preload ``socket``: only the
operating-system boundary is left. The test checks that each attempt was refused.
"""

from __future__ import annotations

import asyncio
import json
import sys

from minions import sandbox

CODE = """
import os
import socket

def f(secret, out, port, victim):
    results = {}

    def attempt(name, action):
        try:
            action()
            results[name] = "allowed"
        except Exception as exc:
            results[name] = type(exc).__name__ + ": " + str(exc)

    attempt("read_secret", lambda: open(secret).read())
    attempt("write_file", lambda: open(out + "/written", "w").write("x"))
    attempt("read_environ", lambda: open("/proc/%d/environ" % victim).read())
    attempt("list_root", lambda: os.listdir("/"))
    attempt("connect", lambda: socket.create_connection(("127.0.0.1", port), timeout=2))
    attempt("socket", lambda: socket.socket(socket.AF_UNIX))
    attempt("kill_victim", lambda: os.kill(victim, 9))
    attempt("kill_parent", lambda: os.kill(os.getppid(), 0))
    attempt("kill_all", lambda: os.kill(-1, 0))
    attempt("exec", lambda: os.execv("/bin/true", ["true"]))
    attempt("fork", lambda: os.fork() or os._exit(0))
    attempt("unshare", lambda: os.unshare(os.CLONE_NEWUSER))
    return results
"""


async def main() -> None:
    secret, out, port, victim = sys.argv[1:5]
    results = await sandbox.run_async(
        CODE,
        "f",
        {"secret": secret, "out": out, "port": int(port), "victim": int(victim)},
        _layers_off_for_tests=True,
        _preload_for_tests=("socket",),
    )
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
