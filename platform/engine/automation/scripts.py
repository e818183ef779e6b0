"""The `run_script` action: an admin's script, run in the sandbox's child process, sets fields of the record.

    actions:
      - type: run_script
        script: |
          total = (record["amount"] or 0) * 2
          result = {"next_step": "Call back" if total > 100 else None}

The script runs before the save (like update_record), in crmkit.sandbox's child process
under its limits (processor time, memory, wall clock: docs/sandbox.md; `limits:` on the
action may lower them). Its globals are `record` (the values as the rules before it left
them: {field: value}, dates and decimals as such) and `previous` (the stored values on an
update, else None). Its top-level `result`, a dict {field: value} or None, names the fields
to set: fields of the object that a user could write (not computed, not system fields
except owner_id). A script that fails, hits a limit or returns anything else raises
SandboxError: the rule could not run, so the save is refused and nothing of it is written.
"""
from __future__ import annotations

from typing import Any, Mapping

from crmkit.metadata.automation import AutomationAction
from crmkit.metadata.model import SYSTEM_FIELDS, ObjectDef
from crmkit.sandbox import ScriptError, run_script


def run_record_script(obj: ObjectDef, action: AutomationAction, values: Mapping[str, Any],
                      previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """{field: raw value} the action's script returned for this record (raw: coerced by the caller).

    Raises SandboxLimitError (a limit hit), ScriptError (the script failed or returned
    something that is not a dict of settable fields), ExpressionSyntaxError (it does not compile).
    """
    limits = dict(action.limits or {})
    variables = {"record": _plain(values), "previous": _plain(previous) if previous is not None else None}
    outcome = run_script(action.script or "", variables, cpu_seconds=limits.get("cpu_seconds"),
                         memory_mb=limits.get("memory_mb"), wall_seconds=limits.get("wall_seconds"))
    result = outcome.result
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise ScriptError(f"the script's result must be a dict of field values, not a {type(result).__name__}")
    for name in result:
        if not isinstance(name, str) or not _settable(obj, name):
            raise ScriptError(f"the script's result names {name!r}, which is not a field of {obj.name} it can set")
    return result


def _settable(obj: ObjectDef, name: str) -> bool:
    if name == "owner_id":
        return True
    return name in obj.fields and name not in SYSTEM_FIELDS and obj.fields[name].type not in _COMPUTED


#: Field types whose value the platform computes; a script cannot set them (as update_record cannot).
_COMPUTED = frozenset({"formula", "rollup", "autonumber"})


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """The record's values as the child process can take them (JSON, dates, decimals): others become text."""
    plain = {}
    for name, value in values.items():
        plain[name] = value if value is None or isinstance(value, (str, int, float, bool, list, dict)) or \
            type(value).__name__ in ("Decimal", "date", "datetime", "time") else str(value)
    return plain
