"""Run Python written by a remote model behind an operating-system boundary.

The remote's code is untrusted: a document can carry an injected instruction that a
local model's output passes on to the remote, so assume the attacker controls the
child interpreter completely. :func:`run` checks the code against an AST allowlist,
then runs ``function(**kwargs)`` in a fresh ``python -I`` child that, before any
untrusted line runs, enters its own network namespace, drops root, sets rlimits and
no-new-privs, forbids all file-system access with Landlock and installs a seccomp
filter (no files, sockets, processes, signals to others, ptrace; see
:mod:`minions._sandbox_os`), with a scrubbed environment, an empty temporary working
directory and an audit hook as further layers. The arguments are plain JSON data and
the helpers are compiled in the child from their source, so nothing of the parent's
is in the code's reach. The parent enforces the wall-clock limit, caps what it reads
and parses the reply with size and depth limits.

Where the boundary cannot be set up (not Linux, no seccomp, no libseccomp), code does
not run: :class:`SandboxUnavailable`, unless the caller passes ``allow_unsafe=True``.

Every way the code can fail is a :class:`SandboxError` subclass whose message tells a
language model what was wrong and what to do instead; the calling process survives.
The rules themselves live in :mod:`minions._sandbox_child`, which both sides share.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import importlib.util
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

from minions import _sandbox_child as rules
from minions.asyncio_bridge import run_sync
from minions.errors import MinionsError

__all__ = [
    "ALLOWED_MODULES",
    "SandboxCodeError",
    "SandboxCrash",
    "SandboxError",
    "SandboxMemoryError",
    "SandboxOutputError",
    "SandboxTimeout",
    "SandboxUnavailable",
    "SandboxViolation",
    "boundary",
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
#: deepest nesting of lists and dicts accepted in a returned value
MAX_VALUE_DEPTH = 32


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
    """The child died or broke the protocol, or the helper modules failed to load."""


class SandboxUnavailable(SandboxError):
    """The operating-system boundary cannot be set up here; no code ran."""


_STATUS_ERRORS: dict[str, type[SandboxError]] = {
    "violation": SandboxViolation,
    "code_error": SandboxCodeError,
    "memory": SandboxMemoryError,
    "output": SandboxOutputError,
    "crash": SandboxCrash,
    "unavailable": SandboxUnavailable,
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
    helpers: str | None = None,
    max_output_bytes: int = 16_000_000,
    allow_unsafe: bool = False,
) -> Any:
    """Run ``function(**kwargs)`` defined by untrusted ``code``; return its JSON result.

    ``kwargs`` must be JSON-serialisable; the function receives them JSON-decoded (or
    as the helpers' ``sandbox_decode`` turns them). ``helpers`` names a trusted module of
    pure functions that imports only allowlisted standard modules and modules of its own
    package: the child compiles its source (and theirs) in the code's restricted world,
    puts its ``__all__`` names in the code's globals, and applies its optional
    ``sandbox_decode(kwargs) -> dict`` and ``sandbox_encode(value) -> Any``.

    ``timeout_s`` bounds the whole run, child start-up included. ``allow_unsafe`` runs
    the code even where the OS boundary cannot be set up (only the in-interpreter
    layers and rlimits then hold); without it that is a :class:`SandboxUnavailable`.
    Raises a :class:`SandboxError` subclass on any failure of the code; TypeError or
    ValueError when the arguments themselves are unusable.
    Safe to call from a thread with a running event loop (it then runs in a worker).
    """
    job = run_async(
        code,
        function,
        kwargs,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        helpers=helpers,
        max_output_bytes=max_output_bytes,
        allow_unsafe=allow_unsafe,
    )
    return run_sync(job)


async def run_async(
    code: str,
    function: str,
    kwargs: dict[str, Any],
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    helpers: str | None = None,
    max_output_bytes: int = 16_000_000,
    allow_unsafe: bool = False,
    _layers_off_for_tests: bool = False,
    _preload_for_tests: tuple[str, ...] = (),
) -> Any:
    """Like :func:`run`, without blocking the event loop; cancelling kills the child.

    The two private switches exist for the tests that show the OS boundary alone holds:
    they turn the in-interpreter layers off and preload modules for the attack.
    """
    value, _ = await _run(
        code,
        function,
        kwargs,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        helpers=helpers,
        max_output_bytes=max_output_bytes,
        allow_unsafe=allow_unsafe,
        layers_off=_layers_off_for_tests,
        preload=_preload_for_tests,
    )
    return value


async def _run(
    code: str,
    function: str,
    kwargs: dict[str, Any],
    *,
    timeout_s: float,
    memory_mb: int,
    helpers: str | None,
    max_output_bytes: int,
    allow_unsafe: bool,
    layers_off: bool = False,
    preload: tuple[str, ...] = (),
) -> tuple[Any, dict[str, Any]]:
    """The value and the layers the child reported in force."""
    if timeout_s <= 0 or memory_mb <= 0 or max_output_bytes <= 0:
        raise ValueError("timeout_s, memory_mb and max_output_bytes must be positive")
    if not function.isidentifier() or function.startswith("_"):
        raise ValueError(f"function must be a public Python identifier, not {function!r}")
    if not layers_off:
        check_code(code)
    request = {
        "code": code,
        "function": function,
        "kwargs": kwargs,
        "helpers": [list(pair) for pair in helper_sources(helpers)] if helpers else [],
        "allow_unsafe": allow_unsafe,
        "layers_off": layers_off,
        "preload": list(preload),
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
    reply_cap = max_output_bytes + REPLY_OVERHEAD_BYTES
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="minions-sandbox-") as workdir:
        stdout, stderr, returncode = await _exchange(payload, workdir, timeout_s, reply_cap)
    elapsed = time.monotonic() - started
    logger.debug("sandbox %s: exit %s after %.3f s", function, returncode, elapsed)
    return _read_reply(stdout, stderr, returncode, timeout_s, memory_mb)


@functools.cache
def helper_sources(module: str) -> tuple[tuple[str, str], ...]:
    """``(name, source)`` of ``module`` and of the modules of its package it imports,
    dependencies first: what the child compiles. ValueError when one is not plain
    Python source or imports outside the allowlist and its own package."""
    first_party = {module.split(".")[0], "minions"}
    ordered: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise ValueError(f"helper module {name!r} has no Python source file")
        source = Path(spec.origin).read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for imported in names:
                if imported in rules.ALLOWED_MODULES or imported == "__future__":
                    continue
                if imported.split(".")[0] not in first_party:
                    raise ValueError(
                        f"helper module {name!r} imports {imported!r}; helpers may import "
                        f"only {', '.join(sorted(rules.ALLOWED_MODULES))} and their own package"
                    )
                visit(imported)
        ordered.append((name, source))

    visit(module)
    return tuple(ordered)


class Boundary(NamedTuple):
    """Whether untrusted code can run behind the OS boundary here, and what holds."""

    available: bool
    detail: str


_PROBED: list[Boundary] = []


def boundary() -> Boundary:
    """Probe the boundary once per process with one trivial child (about 0.1 s).

    The answer is kept once it is known (available, or unavailable because a layer
    cannot be set up); a child that failed for another reason (e.g. a busy machine) is
    reported as unavailable this time and probed again on the next call.
    """
    if _PROBED:
        return _PROBED[0]

    async def probe() -> dict[str, Any]:
        _, layers = await _run(
            "def f():\n    return 1\n",
            "f",
            {},
            timeout_s=10.0,
            memory_mb=256,
            helpers=None,
            max_output_bytes=1000,
            allow_unsafe=False,
        )
        return layers

    try:
        layers = run_sync(probe())
    except SandboxUnavailable as exc:
        _PROBED.append(Boundary(False, str(exc)))
        return _PROBED[0]
    except SandboxError as exc:
        return Boundary(False, f"the sandbox child could not start: {exc}")
    held = ["seccomp", "no-new-privs", "rlimits"]
    if layers.get("network_namespace"):
        held.insert(0, "network namespace")
    if layers.get("landlock_abi"):
        held.insert(0, f"Landlock ABI {layers['landlock_abi']}")
    _PROBED.append(Boundary(True, ", ".join(held)))
    return _PROBED[0]


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
) -> tuple[Any, dict[str, Any]]:
    """The value and the layers in force, or raise the SandboxError the reply describes.

    The reply is untrusted too (the code may have taken over the child): it is parsed
    with a size cap (applied while reading), no NaN or infinity and a depth limit.
    """
    error_tail = stderr.decode("utf-8", "replace")[-2000:].strip()
    if error_tail:
        logger.debug("sandbox child stderr: %s", error_tail)
    try:
        reply = _loads(stdout)
    except _BadValue as exc:
        raise SandboxOutputError(str(exc)) from None
    except ValueError as exc:
        raise _death(returncode, error_tail, timeout_s, exc) from None
    try:
        status = reply["status"]
        message = reply["message"]
        printed = reply["stdout"]
        line = reply["line"]
        layers = reply.get("boundary", {})
        if not (isinstance(status, str) and isinstance(message, str) and isinstance(printed, str)):
            raise TypeError("reply fields have the wrong types")
        if line is not None and not isinstance(line, int):
            raise TypeError("reply line is not an integer")
        if not isinstance(layers, dict):
            raise TypeError("reply boundary is not an object")
    except (TypeError, KeyError, AttributeError) as exc:
        raise _death(returncode, error_tail, timeout_s, exc) from None
    if printed:
        logger.debug("sandbox code printed: %s", printed[:2000])
    if status == "ok" and "value" in reply:
        return reply["value"], layers
    if status == "memory":
        message = (
            f"The code ran out of memory (limit {memory_mb} MB). Avoid building huge lists "
            "or strings (e.g. 'x' * 10**10); process the input piece by piece."
        )
    error = _STATUS_ERRORS.get(status)
    if error is None:
        raise SandboxCrash(f"The sandbox child sent an unknown status {status!r}.")
    raise error(message, line=line, stdout=printed)


class _BadValue(ValueError):
    """JSON that parses but is not acceptable as a value."""


def _reject_constant(name: str) -> Any:
    raise _BadValue(
        f"The return value holds {name}, which is not a JSON number. Return only finite "
        "numbers, strings, booleans, None, lists and dicts."
    )


def _loads(data: bytes) -> Any:
    """``json.loads`` with NaN/Infinity refused and nesting at most MAX_VALUE_DEPTH."""
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise _BadValue(_too_deep()) from None
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_VALUE_DEPTH + 1:  # the reply envelope is one level
            raise _BadValue(_too_deep())
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


def _too_deep() -> str:
    return (
        f"The return value is nested more than {MAX_VALUE_DEPTH} levels deep. Return a "
        "flatter structure: a list of small dicts."
    )


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
