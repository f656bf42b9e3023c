"""Run Python written by a remote model in an isolated, limited child process.

The remote's code is untrusted: a document can carry an injected instruction that a
local model's output passes on to the remote. :func:`run` checks the code against an
AST allowlist, then runs ``function(**kwargs)`` in a fresh ``python -I`` child with a
scrubbed environment, an empty temporary working directory, CPU, memory, file and
process limits and an audit hook, and returns the JSON-decoded result. The parent
enforces the wall-clock limit, caps what it reads and validates the reply.

Every way the code can fail is a :class:`SandboxError` subclass whose message tells a
language model what was wrong and what to do instead; the calling process survives.
The rules themselves live in :mod:`minions._sandbox_child`, which both sides share.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from minions import _sandbox_child as rules
from minions.errors import MinionsError

__all__ = [
    "ALLOWED_MODULES",
    "SandboxCodeError",
    "SandboxCrash",
    "SandboxError",
    "SandboxMemoryError",
    "SandboxOutputError",
    "SandboxTimeout",
    "SandboxViolation",
    "check_code",
    "run",
    "run_async",
]

logger = logging.getLogger(__name__)

ALLOWED_MODULES = rules.ALLOWED_MODULES
CHILD_SCRIPT = Path(rules.__file__)
CHILD_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
STDERR_KEEP_BYTES = 4_000
# room in the reply for the envelope and the captured print() text, beyond the value
REPLY_OVERHEAD_BYTES = 6 * rules.PRINT_KEEP_CHARS + 64_000


class SandboxError(MinionsError):
    """The sandboxed code did not produce a result; the message says what to change.

    ``line`` is the line of the code at fault when known; ``stdout`` is what the code
    printed before it failed (truncated), useful to show the model.
    """

    def __init__(self, message: str, *, line: int | None = None, stdout: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.stdout = stdout


class SandboxViolation(SandboxError):
    """The code uses something outside the allowlist; nothing ran."""


class SandboxTimeout(SandboxError):
    """The code ran past the wall-clock or CPU-time limit and was killed."""


class SandboxMemoryError(SandboxError):
    """The code ran out of its address-space limit."""


class SandboxCodeError(SandboxError):
    """The code raised an exception (or has a syntax error, or lacks the function)."""


class SandboxOutputError(SandboxError):
    """The result is not JSON-serialisable or too large, or the code printed too much."""


class SandboxCrash(SandboxError):
    """The child died or broke the protocol, or the scope module failed to load."""


_STATUS_ERRORS: dict[str, type[SandboxError]] = {
    "violation": SandboxViolation,
    "code_error": SandboxCodeError,
    "memory": SandboxMemoryError,
    "output": SandboxOutputError,
    "crash": SandboxCrash,
}


def check_code(code: str) -> None:
    """Raise SandboxViolation or SandboxCodeError (syntax) when ``code`` cannot run."""
    try:
        tree = rules.parse(code)
    except SyntaxError as exc:
        raise SandboxCodeError(rules.syntax_error_message(exc), line=exc.lineno) from None
    except ValueError as exc:
        raise SandboxViolation(f"The code was rejected before running: {exc}") from None
    violations = rules.find_violations(tree)
    if violations:
        raise SandboxViolation(rules.violation_message(violations), line=violations[0].line)


def run(
    code: str,
    function: str,
    kwargs: dict[str, Any],
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    scope: str | None = None,
    max_output_bytes: int = 16_000_000,
) -> Any:
    """Run ``function(**kwargs)`` defined by untrusted ``code``; return its JSON result.

    ``kwargs`` must be JSON-serialisable; the function receives them JSON-decoded (or
    as the scope module's ``sandbox_decode`` turns them). ``scope`` names a module the
    child imports before the lockdown; its ``__all__`` names (else its public non-module
    names) are in the code's globals, and its optional ``sandbox_decode(kwargs) -> dict``
    and ``sandbox_encode(value) -> Any`` convert the arguments and the return value.

    ``timeout_s`` bounds the whole run, child start-up included (about 0.06 s, or 0.16 s
    with a scope that imports pydantic, on a 2-core machine). Raises a
    :class:`SandboxError` subclass on any failure of the code; TypeError or ValueError
    when the arguments themselves are unusable.
    Safe to call from a thread with a running event loop (it then runs in a worker).
    """
    job = run_async(
        code,
        function,
        kwargs,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        scope=scope,
        max_output_bytes=max_output_bytes,
    )
    if not _loop_running():
        return asyncio.run(job)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sandbox") as pool:
        return pool.submit(asyncio.run, job).result()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def run_async(
    code: str,
    function: str,
    kwargs: dict[str, Any],
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    scope: str | None = None,
    max_output_bytes: int = 16_000_000,
) -> Any:
    """Like :func:`run`, without blocking the event loop; cancelling kills the child."""
    if timeout_s <= 0 or memory_mb <= 0 or max_output_bytes <= 0:
        raise ValueError("timeout_s, memory_mb and max_output_bytes must be positive")
    if not function.isidentifier() or function.startswith("_"):
        raise ValueError(f"function must be a public Python identifier, not {function!r}")
    check_code(code)
    request = {
        "code": code,
        "function": function,
        "kwargs": kwargs,
        "scope": scope,
        "path": [os.path.abspath(entry) for entry in sys.path] if scope else [],
        "limits": {
            "timeout_s": timeout_s,
            "memory_mb": memory_mb,
            "max_output_bytes": max_output_bytes,
        },
    }
    try:
        payload = json.dumps(request, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"sandbox kwargs must be JSON-serialisable: {exc}") from None

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="minions-sandbox-") as workdir:
        stdout, stderr, returncode = await _exchange(
            payload, workdir, timeout_s, max_output_bytes + REPLY_OVERHEAD_BYTES
        )
    elapsed = time.monotonic() - started
    logger.debug("sandbox %s: exit %s after %.3f s", function, returncode, elapsed)
    return _read_reply(stdout, stderr, returncode, timeout_s, memory_mb)


async def _exchange(
    payload: bytes, workdir: str, timeout_s: float, reply_cap: int
) -> tuple[bytes, bytes, int]:
    """Start the child, feed it, read at most ``reply_cap`` bytes; kill it on any way out."""
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-B",
            str(CHILD_SCRIPT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=workdir,
            env=CHILD_ENV,
            start_new_session=True,
        )
    except OSError as exc:
        raise SandboxCrash(f"Could not start the sandbox process: {exc}. Try again.") from exc
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    async def feed() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(payload)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child died early; its exit status tells why
        finally:
            proc.stdin.close()

    async def read(stream: asyncio.StreamReader, keep: int, kill_past: int) -> tuple[bytes, int]:
        kept = bytearray()
        total = 0
        while chunk := await stream.read(1 << 16):
            total += len(chunk)
            kept += chunk[: max(0, keep - len(kept))]
            if total > kill_past:
                _kill_group(proc.pid)
                break
        return bytes(kept), total

    try:
        async with asyncio.timeout(timeout_s):
            _, (stdout, size), (stderr, _) = await asyncio.gather(
                feed(),
                read(proc.stdout, reply_cap, reply_cap),
                read(proc.stderr, STDERR_KEEP_BYTES, sys.maxsize),
            )
            returncode = await proc.wait()
    except TimeoutError:
        raise SandboxTimeout(
            f"The code did not finish within {timeout_s:g} s (wall clock) and was stopped. "
            "Look for an infinite loop or unbounded recursion, or do less work per call."
        ) from None
    finally:
        _kill_group(proc.pid)
        if proc.returncode is None:
            await proc.wait()
    if size > reply_cap:
        raise SandboxOutputError(
            f"The reply exceeded {reply_cap:,} bytes and the run was stopped. Return less: "
            "fewer or shorter items, or a summary."
        )
    return stdout, stderr, returncode


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _read_reply(
    stdout: bytes, stderr: bytes, returncode: int, timeout_s: float, memory_mb: int
) -> Any:
    """Turn the child's reply into the value, or raise the SandboxError it describes."""
    error_tail = stderr.decode("utf-8", "replace")[-2000:].strip()
    if error_tail:
        logger.debug("sandbox child stderr: %s", error_tail)
    try:
        reply = json.loads(stdout)
        status = reply["status"]
        message = reply["message"]
        printed = reply["stdout"]
        line = reply["line"]
        if not (isinstance(status, str) and isinstance(message, str) and isinstance(printed, str)):
            raise TypeError("reply fields have the wrong types")
        if line is not None and not isinstance(line, int):
            raise TypeError("reply line is not an integer")
    except (ValueError, TypeError, KeyError) as exc:
        raise _death(returncode, error_tail, timeout_s, exc) from None
    if printed:
        logger.debug("sandbox code printed: %s", printed[:2000])
    if status == "ok" and "value" in reply:
        return reply["value"]
    if status == "memory":
        message = (
            f"The code ran out of memory (limit {memory_mb} MB). Avoid building huge lists "
            "or strings (e.g. 'x' * 10**10); process the input piece by piece."
        )
    error = _STATUS_ERRORS.get(status)
    if error is None:
        raise SandboxCrash(f"The sandbox child sent an unknown status {status!r}.")
    raise error(message, line=line, stdout=printed)


def _death(returncode: int, stderr: str, timeout_s: float, cause: Exception) -> SandboxError:
    """The error for a child that left no valid reply."""
    if returncode == -signal.SIGXCPU:
        return SandboxTimeout(
            f"The code used more than its {timeout_s:g} s of CPU time and was killed. Look "
            "for an infinite loop or unbounded recursion, or do less work per call."
        )
    if returncode < 0:
        try:
            what = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            what = f"was killed by signal {-returncode}"
    else:
        what = f"exited with status {returncode} without a valid reply ({cause})"
    detail = f"\nstderr: {stderr}" if stderr else ""
    return SandboxCrash(
        f"The sandbox process {what}. This can come from exhausting memory or the C stack "
        f"(very deep nesting); simplify the code and try again.{detail}"
    )
