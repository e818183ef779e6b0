"""The documented expression helpers, registered through the `crmkit_sandbox_functions` hook."""
from __future__ import annotations

from crmkit.hookspecs import hookimpl
from crmkit.sandbox import BUILTIN_FUNCTIONS


@hookimpl
def crmkit_sandbox_functions() -> dict:
    return dict(BUILTIN_FUNCTIONS)
