"""The rights version: one counter that every change of who may do what advances.

    rights_changed(connection, runtime)       # in the transaction of the change
    rights_version(connection, runtime)       # -> 42: one primary-key read
    own_changes(connection)                   # -> 1: advances by this connection's transaction
    version_column(counters)                  # the same read as a scalar subquery

A UserContext compiles its user's rights once (security/access.py) and may live long: a
worker, a script, a web request. Each records operation, and each transaction, reads this
counter first, on its own connection and in the same statement as the metadata generation
(`version_column` inside generation.operation_state: one round trip for both); if it moved
since its rights were loaded, they are loaded again on that connection, so the operation
follows the user's rights as they are now. A user deactivated meanwhile gets UnknownUser.

Advanced by (each in the same transaction as the change, so the two commit together):
activating or deactivating a user, creating a user (a manager above their role now sees
their records), changing a role, granting or revoking a permission set (to a user or a
role), adding or removing a team member, sharing a record, and installing metadata that
changes anything (permission sets, roles, sharing rules come from it). The counter is
global, not per user: a role change also changes what everyone above the role sees, and
rights change rarely, so a change makes every context reload once.

The counter is a row of crmkit_counter (object "crmkit_user", field "rights"): no object
can be named crmkit_* (metadata/names.py), so it never meets an autonumber's row.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Connection, ScalarSelect, Select, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmkit.engine.runtime import Runtime

COUNTER_OBJECT, COUNTER_FIELD = "crmkit_user", "rights"
#: `Connection.info` key: how many times this connection's transaction advanced the rights version itself
#: (`own_changes`), so a write transaction tells its own changes from other processes' (UserContext.writing).
OWN_CHANGES_KEY = "crmkit_own_rights_changes"


def rights_changed(connection: Connection, runtime: Runtime) -> None:
    """Advance the rights version inside `connection`'s transaction (the row lock queues concurrent changes)."""
    counters = runtime.system_table("crmkit_counter")
    insert = sqlite_insert if runtime.is_sqlite else pg_insert
    connection.execute(insert(counters).values(object=COUNTER_OBJECT, field=COUNTER_FIELD, value=0)
                       .on_conflict_do_nothing(index_elements=["object", "field"]))
    connection.execute(update(counters).where(counters.c.object == COUNTER_OBJECT, counters.c.field == COUNTER_FIELD)
                       .values(value=counters.c.value + 1))
    connection.info[OWN_CHANGES_KEY] = connection.info.get(OWN_CHANGES_KEY, 0) + 1


def forget_own_changes(connection: Connection) -> None:
    """Start counting `own_changes` afresh: at the start of a transaction (the count lives with the pooled
    connection, not with one transaction)."""
    connection.info[OWN_CHANGES_KEY] = 0


def own_changes(connection: Connection) -> int:
    """How many times `rights_changed` advanced the version on `connection` since `forget_own_changes`."""
    return connection.info.get(OWN_CHANGES_KEY, 0)


def rights_version(connection: Connection, runtime: Runtime) -> int:
    """The current rights version (0 before the first change): one read by primary key."""
    return connection.execute(_version_query(runtime.system_table("crmkit_counter"))).scalar() or 0


@lru_cache(maxsize=16)
def version_column(counters: Table) -> ScalarSelect:
    """The rights version as a scalar subquery (NULL before the first change), to read alongside other values."""
    return _version_query(counters).scalar_subquery()


@lru_cache(maxsize=16)
def _version_query(counters: Table) -> Select:
    """Built once per table object: asked before every operation, so not rebuilt each time."""
    return select(counters.c.value).where(counters.c.object == COUNTER_OBJECT, counters.c.field == COUNTER_FIELD)
