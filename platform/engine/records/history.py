"""Field history: who changed what, when, from what to what. Written only by the engine."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import Connection

from crmkit.engine.batch_insert import insert_rows
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.precompiled import execute_compiled
from crmkit.engine.runtime import Runtime
from crmkit.metadata.model import SYSTEM_FIELDS

HISTORY_IGNORED = frozenset(SYSTEM_FIELDS) - {"owner_id"}


def history_rows(
    object_name: str,
    record_id: int,
    operation: str,
    previous: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None,
    actor_id: int | None,
    at: datetime,
) -> list[dict[str, Any]]:
    """One row for create/delete/restore; one row per changed field for update."""
    base = {"object": object_name, "record_id": record_id, "changed_at": at, "changed_by": actor_id}
    if operation != "update" or previous is None or current is None:
        return [dict(base, operation=operation, field=None, old_value=None, new_value=None)]
    rows = []
    for name, new_value in current.items():
        if name in HISTORY_IGNORED:
            continue
        old_value = previous.get(name)
        if old_value != new_value:
            rows.append(dict(base, operation="update", field=name, old_value=to_json(old_value), new_value=to_json(new_value)))
    return rows


def write_history(connection: Connection, runtime: Runtime, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert history rows (as `history_rows` makes them): one statement, however many rows."""
    rows = list(rows)
    if len(rows) == 1:
        execute_compiled(connection, runtime.history_insert, rows[0])
    elif rows:
        insert_rows(connection, runtime.system_table("crmkit_history"), rows)
