"""Child side of :mod:`minions.sandbox`: check, lock down, run untrusted code, reply.

The parent starts this file as a script, ``python -I -B <this file>``, in a fresh empty
working directory with a scrubbed environment. It reads one JSON request on stdin::

    {"code": str, "function": str, "kwargs": dict,
     "helpers": [[module name, source], ...], "allow_unsafe": bool,
     "layers_off": bool, "limits": {"timeout_s": float, "memory_mb": int,
                                     "max_output_bytes": int}}

and writes one JSON reply on stdout::

    {"status": "ok" | "violation" | "code_error" | "memory" | "output" | "crash"
               | "unavailable",
     "message": str, "line": int | null, "stdout": str, "boundary": dict,
     "value": <JSON, when ok>}

Only the standard library is imported here, so the child starts fast; the parent imports
the AST check from this module so both sides apply the same rules. Nothing of the
parent's reaches the child: the helpers are compiled here from their source, in the same
restricted world as the code, and the arguments are plain JSON data.

Layers, in the order they act:

1. the AST allowlist (:func:`find_violations`), applied by the parent and again here;
2. a namespace with a short list of builtins, an ``__import__`` that hands out filtered
   copies of a few preloaded modules, and the helpers' public names;
3. the operating-system boundary of :mod:`minions._sandbox_os` (network namespace,
   no root, rlimits, no-new-privs, Landlock, seccomp), entered before any untrusted
   line runs; it holds even when the code takes over the interpreter;
4. an audit hook (PEP 578) that denies every audited action but a handful, so file,
   network, process, import and ``compile`` events fail even if layers 1 and 2 leak.

Layers 1, 2 and 4 live in the interpreter the code runs in, so they are defence in
depth; layer 3 is the boundary.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import sys
import traceback
import types
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

FILENAME = "<sandbox>"

#: Modules the code may import. It gets a copy holding the module's public names, minus
#: submodules and minus ``HIDDEN_MODULE_NAMES`` (anything that reads attributes by
#: name or turns strings into code).
ALLOWED_MODULES = frozenset(
    {
        "bisect",
        "collections",
        "datetime",
        "functools",
        "heapq",
        "itertools",
        "json",
        "math",
        "operator",
        "random",
        "re",
        "statistics",
        "string",
        "textwrap",
        "typing",
        "unicodedata",
    }
)

#: Modules that C code imports lazily through the running code's ``__import__`` (e.g.
#: datetime.strptime); they are preloaded and handed out as they are, never to the code's
#: own import statements, which the AST check limits to ALLOWED_MODULES.
INTERNAL_IMPORTS = ("_strptime",)

HIDDEN_MODULE_NAMES = {
    "operator": frozenset({"attrgetter", "methodcaller"}),
    "string": frozenset({"Formatter"}),
    "typing": frozenset({"ForwardRef", "get_type_hints"}),
}

#: Builtins that reach the code. Everything else (open, exec, eval, compile, getattr,
#: type, vars, globals, input, exit, ...) is simply absent.
SAFE_BUILTIN_NAMES = (  # noqa: SIM905 - a word list reads better than 70 quoted lines
    "abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict "
    "divmod enumerate filter float format frozenset hash hex int isinstance issubclass "
    "iter len list map max min next object oct ord pow print property range repr "
    "reversed round set slice sorted staticmethod str sum tuple zip "
    "ArithmeticError AssertionError AttributeError Exception ImportError IndexError "
    "KeyError LookupError NameError NotImplementedError OverflowError RecursionError "
    "RuntimeError StopIteration TypeError UnicodeError ValueError ZeroDivisionError "
    "Ellipsis NotImplemented"
).split()

#: Names rejected outright, with a clearer message than the NameError they would raise.
FORBIDDEN_NAMES = frozenset(
    {
        "breakpoint",
        "compile",
        "delattr",
        "dir",
        "eval",
        "exec",
        "exit",
        "getattr",
        "globals",
        "help",
        "input",
        "locals",
        "memoryview",
        "open",
        "quit",
        "setattr",
        "vars",
        "KeyboardInterrupt",
        "SystemExit",
    }
)

#: Attribute names without a leading underscore that still lead to frames, code objects,
#: class hierarchies or format-string attribute walks.
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "ag_await",
        "ag_code",
        "ag_frame",
        "cr_await",
        "cr_code",
        "cr_frame",
        "f_back",
        "f_builtins",
        "f_code",
        "f_globals",
        "f_locals",
        "f_trace",
        "format",
        "format_map",
        "func_code",
        "func_globals",
        "gi_code",
        "gi_frame",
        "gi_yieldfrom",
        "mro",
        "tb_frame",
        "tb_next",
    }
)

#: Special methods a class in the code may define (no ``__del__``, ``__getattr__``,
#: ``__init_subclass__``, ``__set_name__``, ``__reduce__``, ...).
ALLOWED_SPECIAL_METHODS = frozenset(
    {
        "__init__",
        "__repr__",
        "__str__",
        "__eq__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__len__",
        "__iter__",
        "__contains__",
        "__getitem__",
        "__bool__",
    }
)

MAX_CODE_CHARS = 100_000
PRINT_LIMIT_CHARS = 1_000_000
PRINT_KEEP_CHARS = 10_000

_RULES = (
    "Rules: import only " + ", ".join(sorted(ALLOWED_MODULES)) + "; no names or attributes "
    "starting with '_'; no open, exec, eval, compile, getattr, setattr, globals, vars or "
    "str.format (use f-strings); no files, network or processes. Work only on the "
    "arguments you are given and the helpers in scope."
)


class Violation(NamedTuple):
    """One construct the allowlist rejects."""

    line: int
    message: str


def parse(code: str) -> ast.Module:
    """Parse the code; SyntaxError for bad syntax, ValueError when too big or deep."""
    if len(code) > MAX_CODE_CHARS:
        raise ValueError(
            f"the code is {len(code):,} characters long, more than the limit of "
            f"{MAX_CODE_CHARS:,}; write shorter code"
        )
    try:
        return ast.parse(code, filename=FILENAME)
    except (RecursionError, MemoryError):
        raise ValueError("the code is nested too deeply to check; flatten it") from None


def find_violations(tree: ast.AST) -> list[Violation]:
    """Every construct in ``tree`` outside the allowlist, in source order."""
    methods = {
        id(item)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef)
    }
    found: dict[tuple[int, int, str], Violation] = {}
    for node in ast.walk(tree):
        line, column = getattr(node, "lineno", 0), getattr(node, "end_col_offset", 0)
        for message in _node_problems(node, methods):
            found.setdefault((line, column, message), Violation(line, message))
    return [found[key] for key in sorted(found)]


def _node_problems(node: ast.AST, methods: set[int]) -> Iterable[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield from _module_problem(alias.name)
            yield from _name_problem(alias.asname)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            yield "relative imports are not allowed"
        else:
            yield from _module_problem(node.module or "")
        for alias in node.names:
            if alias.name == "*":
                yield f"'from {node.module} import *' is not allowed; import names one by one"
            yield from _name_problem(alias.name)
            yield from _name_problem(alias.asname)
    elif isinstance(node, ast.Name):
        yield from _name_problem(node.id)
    elif isinstance(node, ast.Attribute):
        yield from _attribute_problem(node.attr)
    elif isinstance(node, ast.FunctionDef) and id(node) in methods:
        if node.name not in ALLOWED_SPECIAL_METHODS:
            yield from _name_problem(node.name)
        yield from _annotation_problems(node)
    elif isinstance(node, ast.FunctionDef | ast.ClassDef):
        yield from _name_problem(node.name)
        yield from _annotation_problems(node)
    elif isinstance(node, ast.AsyncFunctionDef | ast.Await | ast.AsyncFor | ast.AsyncWith):
        yield "async code is not supported; write plain functions"
    elif isinstance(node, ast.arg):
        yield from _name_problem(node.arg)
        yield from _annotation_problems(node)
    elif isinstance(node, ast.AnnAssign):
        yield from _annotation_problems(node)
    elif isinstance(node, ast.keyword | ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
        yield from _name_problem(node.arg if isinstance(node, ast.keyword) else node.name)
    elif isinstance(node, ast.MatchMapping):
        yield from _name_problem(node.rest)
    elif isinstance(node, ast.MatchClass):
        for attr in node.kwd_attrs:
            yield from _attribute_problem(attr)
    elif isinstance(node, ast.Global | ast.Nonlocal):
        for name in node.names:
            yield from _name_problem(name)


def _module_problem(module: str) -> Iterable[str]:
    if module not in ALLOWED_MODULES:
        allowed = ", ".join(sorted(ALLOWED_MODULES))
        yield f"import of '{module}' is not allowed; the only importable modules are {allowed}"


def _name_problem(name: str | None) -> Iterable[str]:
    if name is None or name == "_":
        return
    if name.startswith("_"):
        yield f"the name '{name}' starts with '_', which is not allowed"
    elif name in FORBIDDEN_NAMES:
        yield f"'{name}' is not available in the sandbox"


def _attribute_problem(attr: str) -> Iterable[str]:
    if attr.startswith("_"):
        yield f"the attribute '.{attr}' starts with '_', which is not allowed"
    elif attr in ("format", "format_map"):
        yield f"'.{attr}(...)' is not allowed; use an f-string instead"
    elif attr in FORBIDDEN_ATTRIBUTES:
        yield f"the attribute '.{attr}' is not allowed"


def _annotation_problems(node: ast.AST) -> Iterable[str]:
    """String annotations are evaluated later by typing and pydantic, unchecked."""
    annotations = [getattr(node, "annotation", None), getattr(node, "returns", None)]
    for annotation in annotations:
        if annotation is None:
            continue
        for part in ast.walk(annotation):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                yield "string annotations are not allowed; write the type itself or omit it"
                return


def violation_message(violations: list[Violation]) -> str:
    """What the model reads when its code is rejected before running."""
    shown = violations[:10]
    lines = [f"  line {v.line}: {v.message}" for v in shown]
    if len(violations) > len(shown):
        lines.append(f"  ... and {len(violations) - len(shown)} more")
    return "The code was rejected before running:\n" + "\n".join(lines) + "\n" + _RULES


def syntax_error_message(exc: SyntaxError) -> str:
    """A SyntaxError as the model should read it: where, what, and the line itself."""
    where = f" on line {exc.lineno}" if exc.lineno else ""
    text = f":\n    {exc.text.rstrip()}" if exc.text else ""
    return f"SyntaxError{where}: {exc.msg}{text}\nFix the syntax and send the whole code again."


# -- the child process -------------------------------------------------------------------


class _PrintLimitExceeded(BaseException):
    """Raised into the code when it prints more than PRINT_LIMIT_CHARS."""


class _PrintBuffer:
    """Stands in for sys.stdout while the code runs, so print() cannot touch the reply."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.total = 0

    def write(self, text: str) -> int:
        self.total += len(text)
        if self.total > PRINT_LIMIT_CHARS:
            raise _PrintLimitExceeded
        if self.kept < PRINT_KEEP_CHARS:
            self.parts.append(text[: PRINT_KEEP_CHARS - self.kept])
            self.kept += len(self.parts[-1])
        return len(text)

    def flush(self) -> None:
        return None

    @property
    def overflowed(self) -> bool:
        return self.total > PRINT_LIMIT_CHARS

    def text(self) -> str:
        more = self.total - self.kept
        return "".join(self.parts) + (f"\n[... {more:,} more characters]" if more > 0 else "")


class _Failure(Exception):
    """A reply other than ok, raised inside the child and turned into JSON by main()."""

    def __init__(self, status: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.line = line


def _module_copy(name: str) -> types.ModuleType:
    """A module object holding only the safe public names of an allowlisted module."""
    module = sys.modules[name]
    copy = types.ModuleType(name, module.__doc__)
    hidden = HIDDEN_MODULE_NAMES.get(name, frozenset())
    for attr, value in vars(module).items():
        public = not attr.startswith("_") and attr not in hidden
        if public and not isinstance(value, types.ModuleType):
            setattr(copy, attr, value)
    return copy


def _sandbox_import(modules: dict[str, types.ModuleType]) -> Callable[..., types.ModuleType]:
    def import_(
        name: str,
        globals: object = None,
        locals: object = None,
        fromlist: object = (),
        level: int = 0,
    ) -> types.ModuleType:
        if level or name not in modules:
            raise ImportError(f"import of {name!r} is not allowed in the sandbox. {_RULES}")
        return modules[name]

    return import_


def _load_helpers(
    sources: list[list[str]], builtins_: dict[str, Any], modules: dict[str, types.ModuleType]
) -> types.ModuleType | None:
    """Compile the helper modules from source, in order, in the code's restricted world.

    Each gets the same builtins and module copies as the code, and may import the
    helper modules compiled before it (``from minions.spans import ...``). The last one
    is the helpers module itself; the others are what it imports.
    """
    helper: types.ModuleType | None = None
    built = dict(modules)
    built["__future__"] = sys.modules["__future__"]
    own = {**builtins_, "__import__": _sandbox_import(built)}
    for name, source in sources:
        helper = types.ModuleType(name)
        helper.__dict__["__builtins__"] = own
        try:
            exec(compile(source, f"<helpers {name}>", "exec", dont_inherit=True), vars(helper))
        except Exception as exc:
            raise _Failure("crash", f"the helper module {name} failed to load: {exc!r}") from exc
        built[name] = helper
    return helper


def _public_names(module: types.ModuleType) -> dict[str, Any]:
    exported = getattr(module, "__all__", None)
    if exported is None:
        exported = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        ]
    return {name: getattr(module, name) for name in exported}


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    """Deny every audited action except the few that plain computation raises."""
    if event in _AUDIT_ALLOWED:
        return
    if event == "compile" and _is_namedtuple_source(args[0]):
        return  # collections.namedtuple builds __new__ from validated field names
    if event == "object.__setattr__" and args[1] in _SETTABLE_SPECIAL_ATTRIBUTES:
        return
    raise PermissionError(
        f"the sandbox blocked {event!r}: files, network, processes, imports at run time "
        "and compiling strings are not available. Work only on the arguments you are given."
    )


_AUDIT_ALLOWED = frozenset({"exec", "sys._getframe", "object.__getattr__", "builtins.id"})
_SETTABLE_SPECIAL_ATTRIBUTES = frozenset(
    {"__module__", "__qualname__", "__name__", "__doc__", "__defaults__", "__bases__"}
)
_NAMEDTUPLE_SOURCE = re.compile(r"lambda _cls, [\w, ]*: _tuple_new\(_cls, \([\w, ]*\)\)")


def _is_namedtuple_source(source: object) -> bool:
    if isinstance(source, bytes):
        source = source.decode("ascii", "replace")
    return isinstance(source, str) and _NAMEDTUPLE_SOURCE.fullmatch(source) is not None


def _load_os_layer() -> types.ModuleType:
    """minions/_sandbox_os.py, loaded by path: the child imports nothing of the package."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("_sandbox_os.py")
    spec = importlib.util.spec_from_file_location("_minions_sandbox_os", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lock_down(request: dict[str, Any]) -> dict[str, Any]:
    """Enter the OS boundary and install the audit hook. Irreversible.

    Where the boundary cannot be set up, the run stops with status "unavailable"
    unless the caller accepted an unsafe sandbox (``allow_unsafe``): then only the
    rlimits and the in-interpreter layers hold, and the reply says so.
    """
    limits = request["limits"]
    timeout_s, memory_mb = float(limits["timeout_s"]), int(limits["memory_mb"])
    os_layer = _load_os_layer()
    try:
        boundary = os_layer.enter(timeout_s, memory_mb)
    except (os_layer.BoundaryError, OSError, AttributeError) as exc:
        if not request.get("allow_unsafe"):
            raise _Failure("unavailable", f"the OS sandbox cannot be set up here: {exc}") from None
        os_layer.drop_root_and_limit(timeout_s, memory_mb)
        boundary = {"seccomp": False, "unsafe": True, "reason": str(exc)}
    if not request.get("layers_off"):
        sys.addaudithook(_audit_hook)
    return boundary


def _user_traceback(exc: BaseException, code_lines: list[str]) -> tuple[str, int | None]:
    """The frames of the code only, innermost last, and the innermost line number."""
    if isinstance(exc, SyntaxError) and exc.filename == FILENAME:
        return "", exc.lineno
    rows: list[str] = []
    repeats = 0
    last: int | None = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename != FILENAME:
            continue
        source = code_lines[lineno - 1].strip() if 0 < lineno <= len(code_lines) else ""
        row = f"  line {lineno}, in {frame.f_code.co_name}: {source}"
        if rows and row == rows[-1]:
            repeats += 1
            continue
        if repeats:
            rows.append(f"  [the line above repeated {repeats} more times]")
            repeats = 0
        rows.append(row)
        last = lineno
    if repeats:
        rows.append(f"  [the line above repeated {repeats} more times]")
    return "\n".join(rows[-8:]), last


def _describe_exception(exc: BaseException, code_lines: list[str], call: str) -> _Failure:
    if isinstance(exc, SyntaxError) and exc.filename == FILENAME:
        return _Failure("code_error", syntax_error_message(exc), exc.lineno)
    try:
        detail = str(exc)[:2000]
    except Exception:
        detail = "<the exception could not be shown>"
    rows, line = _user_traceback(exc, code_lines)
    where = f" on line {line}" if line else ""
    message = f"The code raised {type(exc).__name__}{where}: {detail}"
    if rows:
        message += f"\nTraceback of your code (most recent call last):\n{rows}"
    else:
        message += f"\n(it was called as {call})"
    if isinstance(exc, NameError):
        message += "\nAvailable builtins: " + ", ".join(SAFE_BUILTIN_NAMES) + ". " + _RULES
    elif isinstance(exc, RecursionError):
        message += "\nRecursion went too deep; use a loop instead."
    return _Failure("code_error", message, line)


class _Prepared(NamedTuple):
    program: types.CodeType
    namespace: dict[str, Any]
    kwargs: dict[str, Any]
    encode: Callable[[Any], Any] | None


def _prepare(request: dict[str, Any]) -> _Prepared:
    """Everything trusted, before the lockdown: check and compile the code, preload the
    modules, compile the helpers, decode the arguments."""
    code: str = request["code"]
    layers_off = bool(request.get("layers_off"))
    try:
        tree = parse(code)
    except SyntaxError as exc:
        raise _Failure("code_error", syntax_error_message(exc), exc.lineno) from None
    except ValueError as exc:
        raise _Failure("violation", f"The code was rejected before running: {exc}") from None
    violations = [] if layers_off else find_violations(tree)
    if violations:
        raise _Failure("violation", violation_message(violations), violations[0].line)

    for name in (*ALLOWED_MODULES, *INTERNAL_IMPORTS, *request.get("preload", ())):
        __import__(name)  # preloaded: nothing can be imported once locked down
    modules = {name: _module_copy(name) for name in ALLOWED_MODULES}
    modules.update((name, sys.modules[name]) for name in INTERNAL_IMPORTS)
    available = vars(builtins)
    safe_builtins = {name: available[name] for name in (*SAFE_BUILTIN_NAMES, "__build_class__")}
    safe_builtins["__import__"] = _sandbox_import(modules)
    helpers = _load_helpers(request.get("helpers", []), safe_builtins, modules)

    kwargs: dict[str, Any] = request["kwargs"]
    decode = getattr(helpers, "sandbox_decode", None)
    if decode is not None:
        try:
            kwargs = decode(kwargs)
        except Exception as exc:
            message = f"the helpers' sandbox_decode rejected the arguments: {exc!r}"
            raise _Failure("crash", message) from None
    try:
        program = compile(tree, FILENAME, "exec", dont_inherit=True)
    except (RecursionError, MemoryError):
        raise _Failure(
            "violation", "The code is nested too deeply to compile; flatten it."
        ) from None
    namespace: dict[str, Any] = {
        "__builtins__": available if layers_off else safe_builtins,
        "__name__": "sandbox",
    }
    if helpers is not None:
        namespace.update(_public_names(helpers))
    return _Prepared(program, namespace, kwargs, getattr(helpers, "sandbox_encode", None))


def _run(request: dict[str, Any], printed: _PrintBuffer, boundary: dict[str, Any]) -> str:
    """Check and run the request's code; the JSON text of the result, or raise _Failure."""
    function: str = request["function"]
    program, namespace, kwargs, encode = _prepare(request)
    call = f"{function}(" + ", ".join(f"{key}=..." for key in kwargs) + ")"
    code_lines = request["code"].splitlines()
    boundary.update(lock_down(request))
    sys.stdout = printed
    returned = False
    try:
        exec(program, namespace)
        target = namespace.get(function)
        if not callable(target):
            raise _Failure(
                "code_error",
                f"The code defines no function named {function!r}. Define it at the top "
                f"level; it is called as {call}.",
            )
        value = target(**kwargs)
        returned = True
        if encode is not None:
            value = encode(value)
        result = _encode_result(value, int(request["limits"]["max_output_bytes"]))
    except _Failure:
        raise
    except MemoryError:
        raise _Failure("memory", "") from None
    except _PrintLimitExceeded:
        raise _Failure("output", _print_limit_message()) from None
    except BaseException as exc:
        if returned:  # the value came back but could not be converted
            raise _Failure("output", _unsendable_message(exc)) from None
        raise _describe_exception(exc, code_lines, call) from None
    if printed.overflowed:
        raise _Failure("output", _print_limit_message())
    return result


def _print_limit_message() -> str:
    return (
        f"The code printed more than {PRINT_LIMIT_CHARS:,} characters and was stopped. "
        "Printed text is only for debugging; return the result instead of printing it."
    )


def _unsendable_message(exc: BaseException) -> str:
    return (
        f"The return value cannot be sent back as JSON ({type(exc).__name__}: {exc}). Return "
        "only dicts with string keys, lists, strings, numbers (not NaN or infinity), "
        "booleans and None, with no cycles."
    )


def _encode_result(value: Any, max_bytes: int) -> str:
    text = json.dumps(value, allow_nan=False)
    if len(text) > max_bytes:
        raise _Failure(
            "output",
            f"The return value is {len(text):,} bytes of JSON, more than the limit of "
            f"{max_bytes:,}. Return less: fewer or shorter items, or a summary.",
        )
    return text


def main() -> None:
    """Serve one request from stdin and exit without running interpreter shutdown."""
    reply_stream = sys.stdout.buffer
    printed = _PrintBuffer()
    reply: dict[str, Any] = {"status": "ok", "message": "", "line": None}
    boundary: dict[str, Any] = {}
    value = "null"
    try:
        value = _run(json.loads(sys.stdin.buffer.read()), printed, boundary)
    except _Failure as failure:
        reply.update(status=failure.status, message=failure.message, line=failure.line)
    except MemoryError:
        reply.update(status="memory", message="")
    except BaseException as exc:
        reply.update(status="crash", message=f"internal error in the sandbox child: {exc!r}")
    reply["stdout"] = printed.text()
    reply["boundary"] = boundary
    body = json.dumps(reply)
    reply_stream.write(f'{body[:-1]}, "value": {value}}}'.encode())
    reply_stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
