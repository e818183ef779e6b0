"""The environment the sandbox's child processes (scripts, email templates) start with: almost none.

crmkit's own processes hold secrets in their environment (CRMKIT_SECRET_KEY, the database
URL with its password, CRMKIT_SMTP_PASSWORD, each webhook's signing secret). A child process
inherits its parent's environment unless told otherwise, so code that got out of the sandbox
(a RestrictedPython or Jinja escape not known today) would find them in `os.environ` or
/proc/self/environ. The children need none of them: they get only the locale variables and
PYTHONPATH (so the script child imports crmkit where the parent does; the template child
runs with -I and ignores it). Defence in depth, as the OWASP guidance on sandboxes asks.
"""
from __future__ import annotations

import os

#: The variables a child keeps: text encoding (locale) and where Python finds crmkit.
KEPT = ("LANG", "LC_ALL", "LC_CTYPE", "PYTHONPATH")


def child_environment() -> dict[str, str]:
    """{name: value} of the parent's KEPT variables that are set: the `env` of a sandbox child process."""
    return {name: os.environ[name] for name in KEPT if name in os.environ}
