"""Admin email templates: checked here, rendered in a child process with hard limits.

Jinja's ImmutableSandboxedEnvironment keeps a template inside its values (no attribute
starting with `_`, no method that changes a list or dict, no Python callables but the
ones given), but it has no time or memory limit: `{% for i in range(99999) %}` nested a few
times runs for hours. So a message is rendered in a child process (template_child.py)
under a processor-time, memory and wall-clock limit, and its output is cut off at a size
limit. The HTML body is autoescaped; the subject and text body are not (they are not HTML).

    parts = render_parts({"subject": "Hi {{ record.name }}", "html": "<p>{{ record.name }}</p>"},
                         {"record": {"name": "<Ann>"}})
    parts["html"] == "<p>&lt;Ann&gt;</p>"
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Mapping

from pathlib import Path

from jinja2 import TemplateSyntaxError

from .child_environment import child_environment
from .policy import SandboxError, SandboxLimitError
from .template_child import MEMORY_EXIT_CODE, environment

logger = logging.getLogger(__name__)

# By path, with -I (no user site, no PYTHON* variables): the child imports Jinja and nothing of crmkit.
_WORKER_COMMAND = [sys.executable, "-I", str(Path(__file__).with_name("template_child.py"))]

#: Limits of one message's rendering (docs/automation.md): processor seconds, MB, wall-clock seconds,
#: and characters of each rendered part. Read at each call, so a test may change them.
DEFAULT_CPU_SECONDS: float = 2
DEFAULT_MEMORY_MB: int = 256
DEFAULT_WALL_SECONDS: float = 5
MAX_OUTPUT_CHARS: int = 1_000_000


class TemplateError(SandboxError):
    """A template that cannot be rendered: its sentence names the part and why."""


@dataclass(frozen=True)
class TemplateProblem:
    """A syntax error of a template: its 1-based line within the template, and the reason."""

    line: int
    message: str


def check_template(source: str) -> TemplateProblem | None:
    """The syntax error that stops `source` from compiling as a template; None when it is valid."""
    try:
        environment(html=False).parse(source)
    except TemplateSyntaxError as error:
        return TemplateProblem(error.lineno or 1, error.message or "invalid template")
    return None


def render_parts(parts: Mapping[str, str], variables: Mapping[str, Any], *, cpu_seconds: float | None = None,
                 memory_mb: int | None = None, wall_seconds: float | None = None) -> dict[str, str]:
    """Render each named template of `parts` ("html" autoescaped) over `variables`, in a child process.

    Variables are JSON values (anything else is given as its text). Returns {part: text}. Raises
    SandboxLimitError when a limit is hit (time, memory, output over MAX_OUTPUT_CHARS)
    and TemplateError when a template fails (a syntax error, an unsafe access, an error).
    """
    cpu_seconds = DEFAULT_CPU_SECONDS if cpu_seconds is None else cpu_seconds
    memory_mb = DEFAULT_MEMORY_MB if memory_mb is None else memory_mb
    wall_seconds = DEFAULT_WALL_SECONDS if wall_seconds is None else wall_seconds
    request = json.dumps({"parts": dict(parts), "variables": dict(variables), "cpu_seconds": cpu_seconds,
                          "memory_mb": memory_mb, "max_chars": MAX_OUTPUT_CHARS}, default=str).encode()
    try:
        completed = subprocess.run(_WORKER_COMMAND, input=request, capture_output=True, timeout=wall_seconds,
                                   check=False, env=child_environment())
    except subprocess.TimeoutExpired:
        raise SandboxLimitError(f"the template took longer than {wall_seconds:g} seconds to render") from None
    if completed.returncode < 0:  # SIGXCPU / SIGKILL from the processor-time limit
        raise SandboxLimitError(f"the template used more than {cpu_seconds:g} seconds of processor time")
    if completed.returncode == MEMORY_EXIT_CODE:
        raise SandboxLimitError(f"the template used more than {memory_mb} MB of memory")
    try:
        response = json.loads(completed.stdout)
    except ValueError:
        logger.warning("template renderer failed (exit %s): %s", completed.returncode,
                       completed.stderr.decode(errors="replace")[-2000:])
        raise TemplateError("the template renderer stopped unexpectedly") from None
    if response["ok"]:
        return response["parts"]
    if response["kind"] == "limit":
        raise SandboxLimitError(response["message"])
    raise TemplateError(response["message"])
