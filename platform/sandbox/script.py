"""Admin scripts (automation): checked here, run in a child process with hard limits."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from .policy import (
    CompileProblem,
    ExpressionSyntaxError,
    SandboxLimitError,
    ScriptError,
    compile_restricted,
)
from .child_environment import child_environment
from .worker import MEMORY_EXIT_CODE, decode_special, encode_special

logger = logging.getLogger(__name__)

_CPU_SIGNALS = {-signal.SIGXCPU, -signal.SIGKILL}
# Not `-m crmkit.sandbox.worker`: runpy would import the module twice and warn about it.
_WORKER_COMMAND = [sys.executable, "-c", "from crmkit.sandbox.worker import main; main()"]


@dataclass(frozen=True)
class ScriptResult:
    """The value of the script's top-level ``result`` variable, and its log lines."""

    result: Any
    log: tuple[str, ...]


def check_script(source: str) -> list[CompileProblem]:
    """The problems that stop ``source`` from compiling as a script; [] when it is valid."""
    return compile_restricted(source, "exec")[2]


#: The limits a script runs under when the caller gives none (docs/sandbox.md): processor
#: time in seconds, memory in MB, and wall-clock seconds from starting the child process.
#: Read at each call, so a test can widen the wall clock for a loaded machine.
DEFAULT_CPU_SECONDS: float = 2
DEFAULT_MEMORY_MB: int = 256
DEFAULT_WALL_SECONDS: float = 5


def run_script(source: str, variables: dict[str, Any], *, cpu_seconds: float | None = None,
               memory_mb: int | None = None, wall_seconds: float | None = None) -> ScriptResult:
    """Run a script in a child process; ``variables`` become its globals.

    A limit left as None takes its DEFAULT_* value (2 s of processor time, 256 MB, 5 s of
    wall-clock time). Raises ExpressionSyntaxError before starting a process if the script
    does not compile, SandboxLimitError when a limit is hit and ScriptError when the
    script fails.

    >>> run_script("result = amount * 2", {"amount": 21}).result
    42
    """
    problems = check_script(source)
    if problems:
        raise ExpressionSyntaxError(problems)
    cpu_seconds = DEFAULT_CPU_SECONDS if cpu_seconds is None else cpu_seconds
    memory_mb = DEFAULT_MEMORY_MB if memory_mb is None else memory_mb
    wall_seconds = DEFAULT_WALL_SECONDS if wall_seconds is None else wall_seconds
    request = _encode_request(source, variables, cpu_seconds, memory_mb)
    try:
        completed = subprocess.run(_WORKER_COMMAND, input=request, capture_output=True,
                                   timeout=wall_seconds, check=False, env=child_environment())
    except subprocess.TimeoutExpired:
        raise SandboxLimitError(f"the script ran longer than {_seconds(wall_seconds)}") from None
    return _read_response(completed, cpu_seconds, memory_mb)


def _seconds(amount: float) -> str:
    return f"{amount:g} second" + ("" if amount == 1 else "s")


def _encode_request(source: str, variables: dict[str, Any], cpu_seconds: float, memory_mb: int) -> bytes:
    request = {"source": source, "variables": variables, "cpu_seconds": cpu_seconds,
               "memory_mb": memory_mb}
    try:
        return json.dumps(request, default=encode_special).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"script variables must be JSON values, dates or decimals: {exc}") from exc


def _read_response(completed: subprocess.CompletedProcess[bytes], cpu_seconds: float,
                   memory_mb: int) -> ScriptResult:
    memory_error = SandboxLimitError(f"the script used more than {memory_mb} MB of memory")
    if completed.returncode in _CPU_SIGNALS:
        raise SandboxLimitError(f"the script used more than {_seconds(cpu_seconds)} of processor time")
    if completed.returncode == MEMORY_EXIT_CODE:
        raise memory_error
    try:
        response = json.loads(completed.stdout, object_hook=decode_special)
    except ValueError:
        logger.warning("script worker failed (exit %s): %s", completed.returncode,
                       completed.stderr.decode(errors="replace")[-2000:])
        raise ScriptError("the script stopped unexpectedly") from None
    if response["ok"]:
        return ScriptResult(response["result"], tuple(response["log"]))
    kind = response["kind"]
    if kind == "memory":
        raise memory_error
    if kind == "limit":
        raise SandboxLimitError(response["message"])
    if kind == "syntax":
        raise ExpressionSyntaxError([CompileProblem(*problem) for problem in response["problems"]])
    raise ScriptError(response["message"], response["line"])
