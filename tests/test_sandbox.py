"""minions.sandbox: normal runs, 60 hostile snippets, and the layers behind the AST check.

Every hostile snippet must end in one specific SandboxError subclass, the test process
must survive, and nothing may be written outside the sandbox's own temporary directory:
each test runs with a fresh empty working directory and temp root that must stay empty,
and a canary path that hostile code tries to create must not exist afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minions import sandbox
from minions.errors import MinionsError
from minions.sandbox import (
    SandboxCodeError,
    SandboxCrash,
    SandboxError,
    SandboxMemoryError,
    SandboxOutputError,
    SandboxTimeout,
    SandboxViolation,
)

SCOPE = "tests.sandbox_scope_example"  # tests/sandbox_scope_example.py
CANARY = Path(tempfile.gettempdir()) / "minions-sandbox-canary"


@pytest.fixture(autouse=True)
def contained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test: empty cwd and temp root that must stay empty, and no canary."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    workdir = tmp_path / "cwd"
    temp_root = tmp_path / "tmp"
    workdir.mkdir()
    temp_root.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "hostile code wrote the canary file"
    assert list(workdir.iterdir()) == [], "something was written to the parent's cwd"
    assert list(temp_root.iterdir()) == [], "a sandbox temp dir was left behind"


def call(code: str, function: str = "f", kwargs: dict[str, Any] | None = None, **opts: Any) -> Any:
    return sandbox.run(code, function, kwargs or {}, **opts)


# -- normal runs ---------------------------------------------------------------------------


def test_returns_the_functions_json_value() -> None:
    code = "def f(a, b, words):\n    return {'sum': a + b, 'pair': (a, b), 'n': len(words)}\n"
    assert call(code, kwargs={"a": 1, "b": 2.5, "words": ["é", "ü"]}) == {
        "sum": 3.5,
        "pair": [1, 2.5],
        "n": 2,
    }


def test_allowed_imports_work() -> None:
    code = """
import re, json, math, itertools, functools, statistics, string, textwrap, operator
import heapq, bisect, random, unicodedata, typing
import datetime
from collections import Counter, namedtuple

Span = namedtuple("Span", "start end", defaults=[0])


def f(text: str) -> dict:
    words = re.findall(r"[a-z]+", text.lower())
    day = datetime.datetime.strptime("2024-03-01", "%Y-%m-%d").date()
    return {
        "top": Counter(words).most_common(1),
        "mean": statistics.mean([1, 2, 3]),
        "pairs": list(itertools.combinations("ab", 2)),
        "total": functools.reduce(operator.add, [1, 2, 3]),
        "sqrt": math.isqrt(17),
        "day": day.isoformat(),
        "short": textwrap.shorten(text, 12),
        "letters": string.ascii_lowercase[:3],
        "smallest": heapq.nsmallest(2, [5, 1, 4]),
        "at": bisect.bisect([1, 3, 5], 4),
        "rand": random.Random(7).randint(1, 1),
        "nfc": unicodedata.normalize("NFC", "e\\u0301"),
        "span": list(Span(3)),
        "json": json.loads(json.dumps({"k": [1]})),
        "hint": typing.Optional[int] is not None,
    }
"""
    result = call(code, kwargs={"text": "the cat and the hat"})
    assert result["top"] == [["the", 2]]
    assert result["day"] == "2024-03-01"
    assert result["span"] == [3, 0]
    assert result["nfc"] == "é"
    assert result["total"] == 6


def test_classes_with_plain_special_methods_work() -> None:
    code = """
class Box:
    def __init__(self, size):
        self.size = size

    def __repr__(self):
        return f"Box({self.size})"

    def __lt__(self, other):
        return self.size < other.size


def f():
    return [repr(b) for b in sorted([Box(3), Box(1)])]
"""
    assert call(code) == ["Box(1)", "Box(3)"]


def test_scope_names_decode_and_encode() -> None:
    code = (
        "def f(items):\n"
        "    return [Item(name=i.name.upper(), size=double(i.size)) for i in items]\n"
    )
    items = [{"name": "a", "size": 2}, {"name": "b", "size": 5}]
    result = call(code, kwargs={"items": items}, helpers=SCOPE)
    assert result == [{"name": "A", "size": 4}, {"name": "B", "size": 10}]


def test_typed_classes_work_and_subclass_helper_classes() -> None:
    code = """
import typing


class Span(typing.NamedTuple):
    start: int
    end: int = 0


class Sized(Item):
    def tagged(self):
        return [str(n) for n in Span(self.size)]


def f(items):
    return [[Sized(i.name, i.size).tagged(), i.size] for i in items]
"""
    result = call(code, kwargs={"items": [{"name": "a", "size": 1}]}, helpers=SCOPE)
    assert result == [[["1", "0"], 1]]


def test_helpers_may_import_only_the_allowlist_and_their_package() -> None:
    with pytest.raises(ValueError, match="imports 'inspect'"):
        call("def f():\n    return 1\n", helpers="minions.chunking")


def test_helpers_run_in_the_restricted_world() -> None:
    # the helper module is compiled in the child with the code's builtins, not the real ones
    names = call("def f():\n    return builtin_names()\n", helpers=SCOPE)
    assert "len" in names
    assert not {"open", "exec", "eval", "getattr", "vars"} & set(names)


def test_scope_without_all_exports_its_public_functions() -> None:
    # minions.tokens has no __all__: its public non-module names are injected
    assert (
        call(
            "def f(text):\n    return approx_tokens(text)\n",
            kwargs={"text": "a b c"},
            helpers="minions.tokens",
        )
        == 3
    )


CHILD_FACTS = """
import os
import resource

def f():
    return {
        "env": sorted(os.environ),
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
        "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
        "modules": sorted(m for m in __import__("sys").modules if m.split(".")[0] in (
            "minions", "protocols", "pydantic", "tests")),
    }
"""


def test_child_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    facts = asyncio.run(
        sandbox.run_async(CHILD_FACTS, "f", {}, helpers=SCOPE, _layers_off_for_tests=True)
    )
    assert facts["env"] == ["LANG", "PATH"]
    assert not Path(facts["cwd"]).exists(), "the child's temp dir must be deleted"
    assert facts["uid"] == (65534 if os.geteuid() == 0 else os.getuid())
    assert facts["fsize"] == 0
    assert facts["nproc"] == 0
    assert facts["modules"] == [], "the child imported the parent's packages"


def test_boundary_is_reported() -> None:
    found = sandbox.boundary()
    assert found.available, found.detail
    assert "seccomp" in found.detail


def test_printed_text_comes_back_with_the_error() -> None:
    with pytest.raises(SandboxCodeError) as info:
        call("def f():\n    print('looking at', 3)\n    return 1 / 0\n")
    assert info.value.stdout == "looking at 3\n"
    assert info.value.line == 3


def test_code_error_names_type_line_and_only_user_frames() -> None:
    code = "def helper(x):\n    return int(x)\n\ndef f(value):\n    return helper(value)\n"
    with pytest.raises(SandboxCodeError) as info:
        call(code, kwargs={"value": "seven"})
    message = str(info.value)
    assert "ValueError on line 2" in message
    assert "line 5, in f: return helper(value)" in message
    assert "line 2, in helper: return int(x)" in message
    assert "_sandbox_child" not in message
    assert info.value.line == 2


def test_violation_lists_every_problem_with_its_line() -> None:
    code = "import os\n\ndef f():\n    return eval('1') + ().__class__\n"
    with pytest.raises(SandboxViolation) as info:
        call(code)
    message = str(info.value)
    assert "line 1: import of 'os' is not allowed" in message
    assert "line 4: 'eval' is not available" in message
    assert "line 4: the attribute '.__class__'" in message
    assert info.value.line == 1


def test_name_error_lists_the_available_builtins() -> None:
    with pytest.raises(SandboxCodeError, match="Available builtins: abs, all"):
        call("def f():\n    return type(1)\n")


def test_errors_are_minions_errors() -> None:
    for error in (
        SandboxViolation,
        SandboxTimeout,
        SandboxMemoryError,
        SandboxCodeError,
        SandboxOutputError,
        SandboxCrash,
    ):
        assert issubclass(error, SandboxError)
    assert issubclass(SandboxError, MinionsError)


def test_caller_mistakes_are_not_sandbox_errors() -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        call("def f(x):\n    return x\n", kwargs={"x": object()})
    with pytest.raises(ValueError, match="identifier"):
        call("def f():\n    return 1\n", function="_f")
    with pytest.raises(ValueError, match="positive"):
        call("def f():\n    return 1\n", timeout_s=0)


def test_arguments_the_scope_cannot_decode_are_a_crash() -> None:
    with pytest.raises(SandboxCrash, match="sandbox_decode rejected the arguments"):
        call("def f(items):\n    return 1\n", kwargs={"items": [{"name": 1}]}, helpers=SCOPE)


def test_unknown_helper_module_is_a_caller_error_with_its_name() -> None:
    with pytest.raises(ValueError, match="no_such_helper_module"):
        call("def f():\n    return 1\n", helpers="no_such_helper_module")


# -- hostile snippets ------------------------------------------------------------------------

C = str(CANARY)
HOSTILE = [
    # imports
    ("import_os", "import os\ndef f():\n    return os.listdir('/')", SandboxViolation),
    ("import_sys", "import sys\ndef f():\n    return sys.path", SandboxViolation),
    (
        "import_subprocess",
        f"import subprocess\ndef f():\n    subprocess.run(['touch', '{C}'])",
        SandboxViolation,
    ),
    (
        "import_socket",
        "import socket\ndef f():\n    socket.create_connection(('127.0.0.1', 9))",
        SandboxViolation,
    ),
    (
        "import_importlib",
        "import importlib\ndef f():\n    importlib.import_module('os')",
        SandboxViolation,
    ),
    ("import_ctypes", "import ctypes\ndef f():\n    ctypes.CDLL(None)", SandboxViolation),
    ("import_builtins", "import builtins\ndef f():\n    return builtins.open", SandboxViolation),
    ("import_threading", "import threading\ndef f():\n    threading.Thread()", SandboxViolation),
    ("import_submodule", "import collections.abc\ndef f():\n    return 1", SandboxViolation),
    ("from_os_import", "from os import system\ndef f():\n    system('true')", SandboxViolation),
    ("import_star", "from math import *\ndef f():\n    return pi", SandboxViolation),
    ("relative_import", "from . import secrets\ndef f():\n    return 1", SandboxViolation),
    ("dunder_import", f"def f():\n    __import__('os').system('touch {C}')", SandboxViolation),
    # files and network
    ("open_read", "def f():\n    return open('/etc/passwd').read()", SandboxViolation),
    ("open_write", f"def f():\n    open('{C}', 'w').write('x')", SandboxViolation),
    (
        "pathlib_write",
        f"from pathlib import Path\ndef f():\n    Path('{C}').write_text('x')",
        SandboxViolation,
    ),
    (
        "socket_connect",
        "import socket\ndef f():\n    socket.socket().connect(('127.0.0.1', 9))",
        SandboxViolation,
    ),
    ("environ", "import os\ndef f():\n    return dict(os.environ)", SandboxViolation),
    # dunder, frame and format-string walks
    (
        "subclasses",
        "def f():\n    return str(().__class__.__base__.__subclasses__())",
        SandboxViolation,
    ),
    ("lambda_globals", "def f():\n    return str((lambda: 0).__globals__)", SandboxViolation),
    ("builtins_name", "def f():\n    return __builtins__['open']", SandboxViolation),
    (
        "generator_frame",
        "def g():\n    yield 1\ndef f():\n    x = g()\n    return str(x.gi_frame.f_back.f_globals)",
        SandboxViolation,
    ),
    (
        "frame_locals",
        "def g():\n    yield 1\ndef f():\n    return str(g().gi_frame.f_locals)",
        SandboxViolation,
    ),
    ("coroutine_frame", "def f(x=None):\n    return x.cr_frame", SandboxViolation),
    (
        "traceback_frame",
        "def f():\n    try:\n        1 / 0\n    except Exception as e:\n"
        "        return str(e.__traceback__.tb_frame.f_globals)",
        SandboxViolation,
    ),
    (
        "match_class_attr",
        "def f():\n    match 1:\n        case int(__class__=c):\n            return str(c)",
        SandboxViolation,
    ),
    (
        "str_format_walk",
        "def f():\n    return '{0.__class__.__base__}'.format(1)",
        SandboxViolation,
    ),
    (
        "format_map_walk",
        "def f():\n    return '{x.__class__}'.format_map({'x': 1})",
        SandboxViolation,
    ),
    (
        "formatter_walk",
        "import string\ndef f():\n    return string.Formatter().vformat('{0.__class__}', (1,), {})",
        SandboxCodeError,
    ),
    (
        "attrgetter_walk",
        "import operator\ndef f():\n    return str(operator.attrgetter('__class__')(1))",
        SandboxCodeError,
    ),
    ("mro_walk", "def f():\n    return str(object.mro())", SandboxViolation),
    ("string_annotation", "def f(x: 'list[().__class__]' = 1):\n    return 1", SandboxViolation),
    (
        "forward_ref_eval",
        "import typing\ndef f():\n    return str(typing.List['().__class__'])",
        SandboxCodeError,
    ),
    (
        "get_type_hints",
        "import typing\ndef f():\n    return typing.get_type_hints(f)",
        SandboxCodeError,
    ),
    (
        "special_method_del",
        "class A:\n    def __del__(self):\n        pass\ndef f():\n    return 1",
        SandboxViolation,
    ),
    # code execution builtins
    ("eval", "def f():\n    return eval('1 + 1')", SandboxViolation),
    ("exec", "def f():\n    exec('x = 1')", SandboxViolation),
    ("compile", "def f():\n    return compile('1', 'x', 'eval')", SandboxViolation),
    ("getattr", "def f():\n    return str(getattr(1, '__class__'))", SandboxViolation),
    ("setattr", "def f():\n    setattr(f, 'x', 1)", SandboxViolation),
    ("vars", "def f():\n    return str(vars())", SandboxViolation),
    ("globals", "def f():\n    return str(globals())", SandboxViolation),
    ("type_builtin", "def f():\n    return str(type(1))", SandboxCodeError),
    ("async_code", "async def f():\n    return 1", SandboxViolation),
    # resources
    ("memory_str", "def f():\n    return len('x' * 10**10)", SandboxMemoryError),
    ("memory_list", "def f():\n    return len([0] * 10**9)", SandboxMemoryError),
    ("memory_bytearray", "def f():\n    return len(bytearray(10**10))", SandboxMemoryError),
    (
        "memory_growth",
        "def f():\n    keep = []\n    while True:\n        keep.append('x' * 10**6)",
        SandboxMemoryError,
    ),
    ("fork_bomb", "import os\ndef f():\n    while True:\n        os.fork()", SandboxViolation),
    ("infinite_loop", "def f():\n    while True:\n        pass", SandboxTimeout),
    ("cpu_bomb", "def f():\n    return pow(10, 10**9) % 7", SandboxTimeout),
    ("deep_recursion", "def f(n=0):\n    return f(n + 1)", SandboxCodeError),
    (
        "deep_json",
        "import json\ndef f():\n    return json.loads('[' * 10**6 + ']' * 10**6)",
        SandboxCodeError,
    ),
    ("huge_output", "def f():\n    return 'x' * 3_000_000", SandboxOutputError),
    ("print_flood", "def f():\n    while True:\n        print('x' * 1000)", SandboxOutputError),
    (
        "print_flood_caught",
        "def f():\n    for i in range(5000):\n        try:\n"
        "            print('x' * 1000)\n        except:\n            pass\n    return 1",
        SandboxOutputError,
    ),
    ("code_too_long", "def f():\n    return 1\n" + "x = 1\n" * 20_000, SandboxViolation),
    ("code_too_deep", "def f():\n    return " + "-" * 3_000 + "1", SandboxViolation),
    # killing and exiting
    ("kill_parent", "import os\ndef f():\n    os.kill(os.getppid(), 9)", SandboxViolation),
    ("exit", "def f():\n    exit()", SandboxViolation),
    ("quit", "def f():\n    quit()", SandboxViolation),
    ("system_exit", "def f():\n    raise SystemExit(0)", SandboxViolation),
    ("keyboard_interrupt", "def f():\n    raise KeyboardInterrupt", SandboxViolation),
    # bad results and bad programs
    ("non_json_object", "def f():\n    return object()", SandboxOutputError),
    ("non_json_set", "def f():\n    return {1, 2}", SandboxOutputError),
    ("non_json_nan", "def f():\n    return float('nan')", SandboxOutputError),
    ("circular", "def f():\n    x = []\n    x.append(x)\n    return x", SandboxOutputError),
    ("syntax_error", "def f(:\n    return 1", SandboxCodeError),
    ("no_function", "x = 1", SandboxCodeError),
    ("not_callable", "f = 3", SandboxCodeError),
    ("raises_at_import", "raise ValueError('top level')\ndef f():\n    return 1", SandboxCodeError),
]


@pytest.mark.parametrize(("code", "error"), [pytest.param(c, e, id=i) for i, c, e in HOSTILE])
def test_hostile_code_ends_in_a_sandbox_error(code: str, error: type[SandboxError]) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxError) as info:
        call(code, timeout_s=1.5, memory_mb=256, max_output_bytes=1_000_000, helpers=SCOPE)
    assert type(info.value) is error, str(info.value)
    assert str(info.value).strip(), "every error needs a message the model can act on"
    assert time.monotonic() - started < 5


def test_there_are_at_least_thirty_hostile_snippets() -> None:
    assert len(HOSTILE) >= 30


def test_missing_function_name_is_a_code_error() -> None:
    with pytest.raises(SandboxCodeError, match="no function named 'prepare_jobs'"):
        call("def f():\n    return 1\n", function="prepare_jobs")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("import os\ndef f():\n    return 1\n", SandboxViolation),
        ("def f():\n    return ().__class__\n", SandboxViolation),
        ("def f(:\n", SandboxCodeError),
    ],
)
def test_the_child_checks_again(
    monkeypatch: pytest.MonkeyPatch, code: str, error: type[SandboxError]
) -> None:
    monkeypatch.setattr(sandbox, "check_code", lambda code: None)
    with pytest.raises(error):
        call(code)


# -- the layers behind the AST check -----------------------------------------------------

# Run with the real builtins after lock_down(), as if the AST check and the restricted
# namespace had both been bypassed: the audit hook and the limits must still hold.
ESCAPED = {
    "read_file": "open('/etc/passwd').read()",
    "write_file": f"open('{C}', 'w').write('x')",
    "low_level_open": f"os.open('{C}', os.O_CREAT | os.O_WRONLY)",
    "list_dir": "os.listdir('/')",
    "remove": "os.remove('/tmp')",
    "system": f"os.system('touch {C}')",
    "fork": "os.fork()",
    "kill_parent": "os.kill(os.getppid(), signal.SIGKILL)",
    "subprocess": f"__import__('subprocess').run(['touch', '{C}'])",
    "socket": "__import__('socket').socket()",
    "ctypes": "__import__('ctypes')",
    "eval_string": "eval('1 + 1')",
    "raise_limit": "resource.setrlimit(resource.RLIMIT_FSIZE, (-1, -1))",
}
ESCAPE_SCRIPT = """
import importlib.util, json, os, resource, signal, sys
spec = importlib.util.spec_from_file_location("child", sys.argv[1])
child = importlib.util.module_from_spec(spec)
spec.loader.exec_module(child)
attempts = json.loads(sys.argv[2])
child.lock_down({"limits": {"timeout_s": 5, "memory_mb": 256}})
outcome = {}
for name, statement in attempts.items():
    try:
        exec(statement)
        outcome[name] = "allowed"
    except (PermissionError, OSError, ImportError) as exc:
        outcome[name] = type(exc).__name__
print(json.dumps(outcome))
"""


def test_audit_hook_and_limits_hold_after_an_escape(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-c", ESCAPE_SCRIPT, str(sandbox.CHILD_SCRIPT), json.dumps(ESCAPED)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome == dict.fromkeys(ESCAPED, "PermissionError")


# -- the parent's side of the protocol ---------------------------------------------------


@pytest.mark.parametrize(
    ("child", "error", "match"),
    [
        ("print('not json')", SandboxCrash, "without a valid reply"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", SandboxCrash, "SIGSEGV"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGXCPU)", SandboxTimeout, "CPU time"),
        ("import sys; sys.stdout.write('{' * 3_000_000)", SandboxOutputError, "exceeded"),
        (
            'print(\'{"status": "weird", "message": "", "line": null, "stdout": ""}\')',
            SandboxCrash,
            "unknown status",
        ),
        (
            'print(\'{"status": "ok", "message": "", "line": null, "stdout": "", "value": NaN}\')',
            SandboxOutputError,
            "NaN",
        ),
        (
            'print(\'{"status": "ok", "message": "", "line": null, "stdout": "", "value": \' '
            '+ "[" * 5000 + "]" * 5000 + "}")',
            SandboxOutputError,
            "nested",
        ),
        (
            'print(\'{"status": "ok", "message": "", "line": null, "stdout": "", "value": \' '
            '+ "[" * 40 + "]" * 40 + "}")',
            SandboxOutputError,
            "nested more than 32",
        ),
    ],
)
def test_parent_validates_whatever_the_child_sends(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    child: str,
    error: type[SandboxError],
    match: str,
) -> None:
    script = tmp_path / "fake_child.py"
    script.write_text(f"import sys\nsys.stdin.read()\n{child}\n")
    monkeypatch.setattr(sandbox, "CHILD_SCRIPT", script)
    with pytest.raises(error, match=match):
        call("def f():\n    return 1\n", max_output_bytes=100_000)


# -- async ---------------------------------------------------------------------------------


async def test_run_async_runs_in_parallel_without_blocking_the_loop() -> None:
    code = "def f(n):\n    return n * n\n"
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(sandbox.run_async(code, "f", {"n": n}) for n in range(4)))
    tick_task.cancel()
    assert results == [0, 1, 4, 9]
    assert ticks > 0


async def test_sync_run_works_inside_a_running_loop() -> None:
    assert sandbox.run("def f():\n    return 'ok'\n", "f", {}) == "ok"


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


async def test_cancelling_run_async_kills_the_child() -> None:
    before = set(_children_of(os.getpid()))
    task = asyncio.create_task(
        sandbox.run_async("def f():\n    while True:\n        pass\n", "f", {}, timeout_s=30)
    )
    await asyncio.sleep(0.5)
    assert set(_children_of(os.getpid())) - before, "the child should be running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(_children_of(os.getpid())) - before == set()


def test_timeout_kills_the_child_promptly() -> None:
    before = set(_children_of(os.getpid()))
    started = time.monotonic()
    with pytest.raises(SandboxTimeout, match=r"0\.5 s"):
        call("def f():\n    while True:\n        pass\n", timeout_s=0.5)
    assert time.monotonic() - started < 2
    assert set(_children_of(os.getpid())) - before == set()


def test_boundary_is_probed_again_after_a_failure_that_is_not_unavailability(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    async def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise SandboxTimeout("busy machine")

    monkeypatch.setattr(sandbox, "_PROBED", [])
    monkeypatch.setattr(sandbox, "_run", failing)
    assert not sandbox.boundary().available
    assert not sandbox.boundary().available
    assert len(calls) == 2  # not kept: probed again

    async def unavailable(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise sandbox.SandboxUnavailable("no seccomp")

    monkeypatch.setattr(sandbox, "_run", unavailable)
    assert sandbox.boundary().detail == "no seccomp"
    assert sandbox.boundary().detail == "no seccomp"
    assert len(calls) == 3  # kept
