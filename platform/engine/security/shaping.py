"""Record data as one user may see it: the single read shaping behind every output path.

Field-level security is applied here and nowhere else, so `get`, lists, the values
create/update return, exports, suggestions, privacy exports, the recycle bin and error
messages cannot drift apart (docs/permissions.md lists the paths):

- `shown_rows`: live records. Fields the user may not read (`AccessPolicy.hidden_fields`:
  protected fields and the formulas and rollups derived from them) are removed, a rollup
  whose child records the user cannot all see is recomputed over the ones they can, and a
  formula reading a linked record the user may not see is empty (security/derived.py).
- `shown_deleted`: a record's stored copy in the recycle bin. Hidden fields are removed the
  same way; its live children are gone, so a rollup the user would see recomputed (and a
  formula they would see masked) is removed rather than shown as stored.
- `shown_errors`: field errors of a save. Errors of a hidden field are reported once, at
  record level, without the field's name or value.

A policy of None is the platform's own system session: it sees everything as stored.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Collection, Mapping, Sequence

from sqlalchemy import Connection

from crmkit.engine.records.errors import RECORD_ERRORS
from crmkit.engine.runtime import Runtime
from crmkit.engine.security.derived import shown_derived
from crmkit.metadata.model import FORMULA_ERRORS, ObjectDef

if TYPE_CHECKING:
    from crmkit.engine.security.access import AccessPolicy

#: The record-level message standing in for problems with fields the user may not read.
HIDDEN_FIELD_ERROR = "the record cannot be saved because of a field you may not see; ask someone who can see it."


def shown_rows(connection: Connection, runtime: Runtime, policy: "AccessPolicy | None", obj: ObjectDef,
               rows: list[dict[str, Any]], *, derived_read: bool = False) -> list[dict[str, Any]]:
    """`rows` of live records of `obj` (dicts of stored values) as the user may see them.

    Recomputed rollups and masked formulas are read in one query for all rows (the SQL the
    query layer filters and sorts by), unless `derived_read`: the rows already hold the
    user's values (read with the page, `DerivedRules.shown_columns`). The dicts are changed
    in place and returned without the hidden keys.
    """
    if policy is None or not rows:
        return rows
    if not derived_read:
        shown_derived(connection, policy, obj, rows)
    hidden = policy.hidden_fields(obj.name)
    # A formula the user sees masked keeps its value's place, but not the stored reason it failed (which may
    # quote the record it reads), as a hidden one's.
    unexplained = hidden | policy.derived.per_user(obj.name)
    if not unexplained:
        return rows
    if not hidden:  # only reasons to withhold: the few rows holding one are changed in place, the others not copied
        for row in rows:
            errors = row.get(FORMULA_ERRORS)
            if isinstance(errors, Mapping) and not unexplained.isdisjoint(errors):
                row[FORMULA_ERRORS] = {name: reason for name, reason in errors.items()
                                       if name not in unexplained} or None
        return rows
    return [_withheld(row, hidden, unexplained) for row in rows]


def _withheld(row: Mapping[str, Any], hidden: "frozenset[str] | set[str]",
              unexplained: "frozenset[str] | set[str] | None" = None) -> dict[str, Any]:
    """The row without `hidden` fields, nor the reasons why the formulas in `unexplained` (default: `hidden`)
    failed."""
    values = {name: value for name, value in row.items() if name not in hidden}
    errors = values.get(FORMULA_ERRORS)
    if isinstance(errors, Mapping):
        unexplained = hidden if unexplained is None else unexplained
        values[FORMULA_ERRORS] = {name: reason for name, reason in errors.items() if name not in unexplained} or None
    return values


def stored_shown(policy: "AccessPolicy | None", object_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Stored values (a change-log row's) as the user may be given them: without `stored_withheld` fields, nor the
    reasons those formulas failed."""
    if policy is None:
        return dict(values)
    return _withheld(values, stored_withheld(policy, object_name))


def shown_deleted(policy: "AccessPolicy | None", obj: ObjectDef, data: Mapping[str, Any]) -> dict[str, Any]:
    """A deleted record's stored values (JSON, as kept in the bin) as the user may see them."""
    if policy is None:
        return dict(data)
    withheld = set(policy.hidden_fields(obj.name))
    withheld.update(policy.derived.per_user(obj.name))
    return _withheld(data, withheld)


def stored_withheld(policy: "AccessPolicy | None", object_name: str) -> frozenset[str]:
    """Fields whose STORED values the user may not be given, on every path that hands out a value as it was
    written rather than as `get` reads it now (history entries, the change feed, a notification's quote, a
    bin entry's title): hidden ones, and derived values the user sees recomputed or masked (a stored total over
    children they cannot see, a formula over a linked record they may not see, at the time of the change or now)."""
    if policy is None:
        return frozenset()
    return policy.hidden_fields(object_name) | policy.derived.per_user(object_name)


def shown_title(policy: "AccessPolicy | None", obj: ObjectDef | None, title: Any) -> Any:
    """A stored title (bin entries), or None when the user may not be given the title field's stored value
    (hidden, or a formula they see masked: `stored_withheld`)."""
    if policy is None or obj is None or obj.title_field is None:
        return title
    return None if obj.title_field in stored_withheld(policy, obj.name) else title


def readable_field(policy: "AccessPolicy | None", object_name: str, field_name: str) -> bool:
    """Whether the user may read `field_name` (a lookup a related list follows, a filter names)."""
    return policy is None or field_name not in policy.hidden_fields(object_name)


def quotable_field(policy: "AccessPolicy | None", object_name: str, field_name: str) -> bool:
    """Whether a message may name `field_name` and quote the value stored when it was written: the user may
    read it, and does not see it recomputed or masked (`stored_withheld`)."""
    return policy is None or field_name not in stored_withheld(policy, object_name)


def hidden_fields(policy: "AccessPolicy | None", object_name: str) -> frozenset[str]:
    """The fields of `object_name` the user may not read (none for the system, whose policy is None)."""
    return policy.hidden_fields(object_name) if policy is not None else frozenset()


def shown_errors(policy: "AccessPolicy | None", object_name: str,
                 errors: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Field errors with those of hidden fields replaced by one record-level sentence."""
    return errors_without(hidden_fields(policy, object_name), errors)


def errors_without(hidden: Collection[str], errors: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Field errors with those of the fields in `hidden` replaced by one record-level sentence."""
    shown: dict[str, list[str]] = {}
    for name, messages in errors.items():
        if name in hidden:
            record_errors = shown.setdefault(RECORD_ERRORS, [])
            if HIDDEN_FIELD_ERROR not in record_errors:
                record_errors.append(HIDDEN_FIELD_ERROR)
        else:
            shown.setdefault(name, []).extend(messages)
    return shown
