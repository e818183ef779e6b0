"""Which of some records one user may read now: the one check behind every path that is handed record ids from
somewhere other than a query (log rows, notifications, recycle-bin links, recent items).

The object permission first, then the user's row filter (security/access.py), in statements of at most BATCH
ids; a record that no longer exists is not readable. A policy of None is the platform's own system session:
every existing record.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from sqlalchemy import Connection, select

from crmkit.engine.query.inputs import is_record_id

if TYPE_CHECKING:
    from crmkit.engine.runtime import Runtime
    from crmkit.engine.security.access import AccessPolicy

#: Ids per statement.
BATCH = 1000


def readable_ids(connection: Connection, runtime: "Runtime", policy: "AccessPolicy | None", object_name: str,
                 ids: Iterable[int]) -> set[int]:
    """Of `ids` (record ids of `object_name`), those that exist and the user may read now; none for an object no
    longer installed or one the user may not read. Ids beyond the 64-bit range both databases store are none."""
    wanted = sorted({record_id for record_id in ids if is_record_id(record_id)})
    if not wanted or object_name not in runtime.registry.objects:
        return set()
    if policy is not None and not policy.can(object_name, "read"):
        return set()
    table = runtime.table(object_name)
    restriction = policy.row_filter(object_name) if policy is not None else None
    found: set[int] = set()
    for start in range(0, len(wanted), BATCH):
        query = select(table.c.id).where(table.c.id.in_(wanted[start:start + BATCH]))
        if restriction is not None:
            query = query.where(restriction)
        found.update(connection.execute(query).scalars())
    return found


def may_read_record(connection: Connection, runtime: "Runtime", policy: "AccessPolicy | None", object_name: str,
                    record_id: int) -> bool:
    """Whether the record exists and the user may read it now (`readable_ids` of one)."""
    return record_id in readable_ids(connection, runtime, policy, object_name, [record_id])
