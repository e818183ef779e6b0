"""The child process that renders one email's templates (templates.py): one JSON request in, one out.

Run by its file path, not as `crmkit.sandbox.template_child`: it imports only the standard
library and Jinja, so the child starts in a fraction of the time the sandbox package's
imports would take (each message pays the start). It limits its own processor time and
address space before parsing anything, renders each part streaming, and stops a part at
the output size limit.
"""
from __future__ import annotations

import json
import math
import resource
import signal
import sys
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MEMORY_EXIT_CODE = 3


def environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    """The sandboxed environment templates are parsed and rendered in (autoescaped for HTML)."""
    return ImmutableSandboxedEnvironment(autoescape=html, keep_trailing_newline=True)


def limit_resources(cpu_seconds: float, memory_mb: int) -> None:
    """Processor time (SIGXCPU, SIGKILL a second later) and address space, as crmkit.sandbox.worker does."""
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)
    cpu, memory = max(1, math.ceil(cpu_seconds)), memory_mb * 1024 * 1024
    for kind, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_AS, memory, memory),
                             (resource.RLIMIT_CORE, 0, 0)):
        current = resource.getrlimit(kind)[1]
        if current != resource.RLIM_INFINITY:
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(kind, (soft, hard))


def render(name: str, source: str, variables: dict[str, Any], max_chars: int) -> str:
    """One part rendered; OverflowError past `max_chars` characters."""
    template = environment(html=name == "html").from_string(source)
    pieces, size = [], 0
    for piece in template.generate(**variables):
        size += len(piece)
        if size > max_chars:
            raise OverflowError(f"the {name} part is longer than {max_chars} characters")
        pieces.append(piece)
    return "".join(pieces)


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    rendered = {}
    for name, source in request["parts"].items():
        try:
            rendered[name] = render(name, source, request["variables"], request["max_chars"])
        except OverflowError as error:
            return {"ok": False, "kind": "limit", "message": str(error)}
        except MemoryError:
            raise
        except SecurityError as error:
            return {"ok": False, "kind": "template", "message": f"the {name} part is not allowed: {error}"}
        except TemplateError as error:
            return {"ok": False, "kind": "template", "message": f"the {name} part could not be rendered: {error}"}
        except Exception as error:  # an error inside the template (a division by zero, a bad filter argument)
            return {"ok": False, "kind": "template",
                    "message": f"the {name} part could not be rendered: {type(error).__name__}: {error}"}
    return {"ok": True, "parts": rendered}


def main() -> None:
    request = json.loads(sys.stdin.read())
    limit_resources(request["cpu_seconds"], request["memory_mb"])
    try:
        response = json.dumps(run_request(request))
    except MemoryError:
        sys.exit(MEMORY_EXIT_CODE)
    sys.stdout.write(response)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
