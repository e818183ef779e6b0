"""The child process that renders one email's templates (templates.py): one JSON request in, one out.

It limits its own processor time and address space before rendering anything, renders each
part in the sandboxed environment, streaming, and stops a part at the output size limit.
"""
from __future__ import annotations

import json
import sys
from typing import Any

from jinja2 import TemplateError as JinjaTemplateError
from jinja2.sandbox import SecurityError

from .templates import environment
from .worker import MEMORY_EXIT_CODE, decode_special, encode_special, limit_resources


def render(name: str, source: str, variables: dict[str, Any], max_chars: int) -> str:
    """One part rendered; ValueError("limit") past `max_chars` characters."""
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
        except JinjaTemplateError as error:
            return {"ok": False, "kind": "template", "message": f"the {name} part could not be rendered: {error}"}
        except Exception as error:  # an error inside the template (a division by zero, a bad filter argument)
            return {"ok": False, "kind": "template",
                    "message": f"the {name} part could not be rendered: {type(error).__name__}: {error}"}
    return {"ok": True, "parts": rendered}


def main() -> None:
    request = json.loads(sys.stdin.read(), object_hook=decode_special)
    limit_resources(request["cpu_seconds"], request["memory_mb"])
    try:
        response = json.dumps(run_request(request), default=encode_special)
    except MemoryError:
        sys.exit(MEMORY_EXIT_CODE)
    sys.stdout.write(response)
    sys.stdout.flush()
