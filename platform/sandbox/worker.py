"""The child process that runs one admin script (``main``; ``python -m crmkit.sandbox.worker``).

It reads one JSON request on stdin, limits its own CPU time and address space, runs the
script under the script policy and writes one JSON response on stdout. Values that JSON
lacks (Decimal, date, datetime, time) travel as one-key objects such as {"$decimal": "1.5"}.
"""

from __future__ import annotations

import _strptime  # datetime.strptime imports it lazily: load it before the limits
import builtins
import datetime
import decimal
import json
import math
import re
import resource
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from .expression import EXPRESSION_ATTRIBUTES, GUARDS, describe_error
from .functions import BUILTIN_FUNCTIONS, SAFE_BUILTINS, text
from .guards import guarded_inplace, guarded_repr, guarded_write, make_getattr, reset_work_budget
from .policy import SandboxError, SandboxLimitError, ScriptError, compile_restricted
from .records import RECORD_TYPES

MEMORY_EXIT_CODE = 3
MAX_LOG_LINES = 1_000
MAX_LOG_LINE = 2_000

# Encoding ---------------------------------------------------------------------------------

_DECODERS: dict[str, Callable[[str], Any]] = {
    "$decimal": decimal.Decimal, "$date": datetime.date.fromisoformat,
    "$datetime": datetime.datetime.fromisoformat, "$time": datetime.time.fromisoformat,
}


def encode_special(value: Any) -> Any:
    """json.dumps(default=...): Decimal and dates become tagged objects, sets become lists."""
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    for tag, kind in (("$datetime", datetime.datetime), ("$date", datetime.date), ("$time", datetime.time)):
        if isinstance(value, kind):
            return {tag: value.isoformat()}
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"a value of type '{type(value).__name__}' cannot be passed to or from a script")


def decode_special(item: dict[str, Any]) -> Any:
    """json.loads(object_hook=...): the reverse of encode_special."""
    if len(item) == 1:
        ((key, value),) = item.items()
        if key in _DECODERS and isinstance(value, str):
            return _DECODERS[key](value)
    return item


# Imports ----------------------------------------------------------------------------------


class SafeModule:
    """A read-only view of an allowed module exposing only its allow-listed names."""

    __slots__ = ("_name", "_members")

    def __init__(self, module: Any, names: frozenset[str]) -> None:
        object.__setattr__(self, "_name", module.__name__)
        object.__setattr__(self, "_members", {name: getattr(module, name) for name in names})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._members:
            raise AttributeError(f"'{name}' is not available in the module '{self._name}'")
        return self._members[name]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("modules are read-only in scripts")

    @property
    def __name__(self) -> str:  # read by Python for its "cannot import name" errors
        return self._name

    def __repr__(self) -> str:
        return f"<module {self._name}>"


_MODULE_NAMES = {
    math: frozenset(name for name in dir(math) if not name.startswith("_")),
    datetime: frozenset("date datetime time timedelta timezone MINYEAR MAXYEAR".split()),
    decimal: frozenset("""Decimal InvalidOperation DivisionByZero ROUND_HALF_UP ROUND_HALF_EVEN
        ROUND_HALF_DOWN ROUND_UP ROUND_DOWN ROUND_CEILING ROUND_FLOOR""".split()),
    json: frozenset({"dumps", "loads", "JSONDecodeError"}),
    re: frozenset("""compile escape findall finditer fullmatch match search split sub subn error
        IGNORECASE I MULTILINE M DOTALL S ASCII A VERBOSE X""".split()),
    statistics: frozenset("""mean fmean geometric_mean harmonic_mean median median_low median_high
        mode multimode pstdev pvariance stdev variance quantiles StatisticsError""".split()),
}
SAFE_MODULES = {module.__name__: SafeModule(module, names) for module, names in _MODULE_NAMES.items()}
_INTERNAL_IMPORTS = {"_strptime": _strptime, "time": time}


def guarded_import(name: str, scope: Any = None, local_scope: Any = None, fromlist: Any = (),
                   level: int = 0) -> Any:
    """The script's __import__: only the allow-listed modules, as read-only views.

    C code imports helpers through here too (datetime needs time and _strptime); it passes
    an empty *list* as fromlist, which `import` statements never do, and keeps the module.
    """
    if type(fromlist) is list and not fromlist and level == 0 and name in _INTERNAL_IMPORTS:
        return _INTERNAL_IMPORTS[name]
    if level != 0 or name not in SAFE_MODULES:
        raise ImportError(f"importing '{name}' is not allowed; scripts may import "
                          f"{', '.join(sorted(SAFE_MODULES))}")
    return SAFE_MODULES[name]


# What scripts may use ---------------------------------------------------------------------

_SET_METHODS = frozenset("""add discard remove update clear pop copy intersection_update
    difference_update symmetric_difference_update""".split())
SCRIPT_ATTRIBUTES: dict[type, frozenset[str]] = {
    **EXPRESSION_ATTRIBUTES,
    list: EXPRESSION_ATTRIBUTES[list] | set("append extend insert pop remove clear sort reverse copy"
                                            .split()),
    dict: EXPRESSION_ATTRIBUTES[dict] | set("update setdefault pop popitem clear copy".split()),
    set: EXPRESSION_ATTRIBUTES[set] | _SET_METHODS,
    re.Pattern: frozenset("""match search fullmatch findall finditer sub subn split pattern flags
        groups groupindex""".split()),
    re.Match: frozenset("""group groups groupdict start end span string re pos endpos lastindex
        lastgroup expand""".split()),
}
CLASS_ATTRIBUTES: dict[type, frozenset[str]] = {
    datetime.date: frozenset("today fromisoformat fromordinal min max".split()),
    datetime.datetime: frozenset("now today fromisoformat strptime combine fromtimestamp min max".split()),
    datetime.time: frozenset("fromisoformat min max".split()),
    datetime.timedelta: frozenset("min max resolution".split()),
    datetime.timezone: frozenset({"utc"}),
}
_EXCEPTIONS = """BaseException Exception ArithmeticError AssertionError AttributeError IndexError
    KeyError LookupError MemoryError NameError RuntimeError StopIteration TypeError ValueError
    ZeroDivisionError""".split()
_SCRIPT_BUILTINS = {
    **SAFE_BUILTINS, **BUILTIN_FUNCTIONS, **{name: getattr(builtins, name) for name in _EXCEPTIONS},
    "enumerate": enumerate, "zip": zip, "map": map, "filter": filter, "reversed": reversed,
    "frozenset": frozenset, "chr": chr, "ord": ord, "next": next, "iter": iter, "repr": guarded_repr,
    "__import__": guarded_import,
}


class ScriptLog:
    """Collects log() calls and print() output; both end up in ScriptResult.log."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, *values: Any) -> None:
        if len(self.lines) < MAX_LOG_LINES:
            line = " ".join(text(value) for value in values)
            self.lines.append(line if len(line) <= MAX_LOG_LINE else line[:MAX_LOG_LINE] + "...")
        elif len(self.lines) == MAX_LOG_LINES:
            self.lines.append(f"(the log stops after {MAX_LOG_LINES:,} lines)")

    def print_collector(self, _getattr: Any = None) -> _PrintCollector:
        return _PrintCollector(self)


class _PrintCollector:
    """What RestrictedPython turns print() into: print writes log lines, nowhere else."""

    def __init__(self, log: ScriptLog) -> None:
        self.log = log
        self.printed: list[str] = []

    def _call_print(self, *values: Any, sep: str = " ", end: str = "\n", **rest: Any) -> None:
        if rest:
            raise ScriptError("print() in a script only writes to the script log; "
                              f"'{next(iter(rest))}=' is not allowed")
        line = str(sep).join(text(value) for value in values)
        self.printed.append(line)
        self.log.write(line)

    def __call__(self) -> str:
        return "\n".join(self.printed)


def script_globals(log: ScriptLog) -> dict[str, Any]:
    return {
        **GUARDS,
        "__builtins__": {**_SCRIPT_BUILTINS, "log": log.write},
        "_getattr_": make_getattr(SCRIPT_ATTRIBUTES, CLASS_ATTRIBUTES, RECORD_TYPES | {SafeModule}),
        "_write_": guarded_write, "_inplacevar_": guarded_inplace,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_apply_": lambda function, *args, **kwargs: function(*args, **kwargs),
        "_print_": log.print_collector,
    }


# Running ----------------------------------------------------------------------------------


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """Run one script; the response says ok with result and log, or what went wrong."""
    code, _tree, problems = compile_restricted(request["source"], "exec")
    if code is None:
        return {"ok": False, "kind": "syntax",
                "problems": [[p.line, p.column, p.message] for p in problems]}
    log = ScriptLog()
    scope = {**request["variables"], **script_globals(log)}
    reset_work_budget(math.inf)
    try:
        exec(code, scope)  # noqa: S102 - restricted code, guarded globals, child process
        result = scope.get("result")
        _check_result(result)
    except MemoryError:
        return {"ok": False, "kind": "memory"}
    except SandboxLimitError as exc:
        return {"ok": False, "kind": "limit", "message": exc.message}
    except RecursionError as exc:
        return _failure("the script calls its functions too deeply", exc)
    except SandboxError as exc:
        return _failure(exc.message, exc)
    except BaseException as exc:  # noqa: BLE001 - anything the script raises is reported
        return _failure(describe_error(exc), exc)
    return {"ok": True, "result": result, "log": log.lines}


def _check_result(result: Any) -> None:
    try:
        json.dumps(result, default=encode_special)
    except (TypeError, ValueError) as exc:
        raise SandboxError(f"the script's result cannot be returned: {exc}") from exc


def _failure(message: str, exc: BaseException) -> dict[str, Any]:
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if frame.filename == "<script>"]
    return {"ok": False, "kind": "script", "message": message, "line": lines[-1] if lines else None}


def limit_resources(cpu_seconds: float, memory_mb: int) -> None:
    """CPU time (SIGXCPU, then SIGKILL one second later), address space, no core dumps."""
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)  # an inherited "ignore" would void the soft limit
    cpu = max(1, math.ceil(cpu_seconds))
    _lower_limit(resource.RLIMIT_CPU, cpu, cpu + 1)
    memory = memory_mb * 1024 * 1024
    _lower_limit(resource.RLIMIT_AS, memory, memory)
    _lower_limit(resource.RLIMIT_CORE, 0, 0)


def _lower_limit(kind: int, soft: int, hard: int) -> None:
    """Set a limit, never above the hard limit this process already has."""
    current = resource.getrlimit(kind)[1]
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(kind, (soft, hard))


def main() -> None:
    request = json.loads(sys.stdin.read(), object_hook=decode_special)
    limit_resources(request["cpu_seconds"], request["memory_mb"])
    stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        response = json.dumps(run_request(request), default=encode_special)
        stdout.write(response)
        stdout.flush()
    except MemoryError:
        sys.exit(MEMORY_EXIT_CODE)


if __name__ == "__main__":
    main()
