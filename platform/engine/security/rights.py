"""The rights version: one counter that every change of who may do what advances.

    rights_changed(connection, runtime)       # in the transaction of the change
    rights_version(connection, runtime)       # -> 42: one primary-key read
    hold_rights_version(connection, runtime)  # no other change of rights commits until this transaction ends
    own_changes(connection)                   # -> 1: advances by this connection's transaction
    follow_savepoints(engine)                 # a savepoint rolled back takes its advances back from that count
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

from typing import Any

from sqlalchemy import Connection, Engine, ScalarSelect, Select, Table, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmkit.engine.runtime import Runtime

COUNTER_OBJECT, COUNTER_FIELD = "crmkit_user", "rights"
#: `Connection.info` key: how many times this connection's transaction advanced the rights version itself
#: (`own_changes`), so a write transaction tells its own changes from other processes' (UserContext.writing).
OWN_CHANGES_KEY = "crmkit_own_rights_changes"
#: `Connection.info` key: [(savepoint name, `own_changes` when it began)] of the savepoints open, innermost last.
SAVEPOINTS_KEY = "crmkit_own_rights_changes_at_savepoints"


def rights_changed(connection: Connection, runtime: Runtime) -> None:
    """Advance the rights version inside `connection`'s transaction (the row lock queues concurrent changes)."""
    counters = runtime.system_table("crmkit_counter")
    insert = sqlite_insert if runtime.is_sqlite else pg_insert
    connection.execute(insert(counters).values(object=COUNTER_OBJECT, field=COUNTER_FIELD, value=0)
                       .on_conflict_do_nothing(index_elements=["object", "field"]))
    connection.execute(update(counters).where(counters.c.object == COUNTER_OBJECT, counters.c.field == COUNTER_FIELD)
                       .values(value=counters.c.value + 1))
    connection.info[OWN_CHANGES_KEY] = connection.info.get(OWN_CHANGES_KEY, 0) + 1


def hold_rights_version(connection: Connection, runtime: Runtime) -> None:
    """Lock the rights version until `connection`'s write transaction ends: every change of rights advances it in
    its own transaction, so none commits meanwhile (one waits for this transaction to end), and this transaction's
    later statements see every change committed before (for checks that must still hold when their write commits:
    UserContext.hold_rights).

    PostgreSQL: SELECT ... FOR UPDATE of its row (made first when there is none yet: a lock on no row holds
    nothing). SQLite: nothing to do, a write transaction holds the database's write lock from its start.
    """
    if runtime.is_sqlite:
        return
    counters = runtime.system_table("crmkit_counter")
    locked = _version_query(counters).with_for_update()
    if connection.execute(locked).first() is None:
        connection.execute(pg_insert(counters).values(object=COUNTER_OBJECT, field=COUNTER_FIELD, value=0)
                           .on_conflict_do_nothing(index_elements=["object", "field"]))
        connection.execute(locked)


def forget_own_changes(connection: Connection) -> None:
    """Start counting `own_changes` afresh: at the start of a transaction (the count lives with the pooled
    connection, not with one transaction)."""
    connection.info[OWN_CHANGES_KEY] = 0
    connection.info[SAVEPOINTS_KEY] = []


def follow_savepoints(engine: Engine) -> None:
    """Keep `own_changes` true across savepoints on `engine` (once per engine; more calls add nothing).

    A savepoint rolled back (a record of a bulk change that failed, `begin_nested`) takes its own advances of the
    version back with it, so its count goes back to what it was when the savepoint began. Counted one too many, a
    later change by another process would look like the transaction's own and be taken in unchecked.
    """
    for name, listener in (("savepoint", _savepoint_began), ("rollback_savepoint", _savepoint_rolled_back),
                           ("release_savepoint", _savepoint_released)):
        if not event.contains(engine, name, listener):
            event.listen(engine, name, listener)


def _savepoint_began(connection: Connection, name: str) -> None:
    connection.info.setdefault(SAVEPOINTS_KEY, []).append((name, own_changes(connection)))


def _savepoint_rolled_back(connection: Connection, name: str, context: Any) -> None:
    count = _savepoint_ended(connection, name)
    if count is not None:
        connection.info[OWN_CHANGES_KEY] = count


def _savepoint_released(connection: Connection, name: str, context: Any) -> None:
    _savepoint_ended(connection, name)


def _savepoint_ended(connection: Connection, name: str) -> int | None:
    """The count as savepoint `name` began, dropped with the savepoints opened inside it; None if none is followed.

    SQLAlchemy names a savepoint it names itself only after the `savepoint` event (which gets None): such a
    savepoint is the innermost one, as its NestedTransaction ends before the ones around it."""
    opened = connection.info.get(SAVEPOINTS_KEY) or []
    if not opened:
        return None
    index = next((index for index in range(len(opened) - 1, -1, -1) if opened[index][0] == name), len(opened) - 1)
    count = opened[index][1]
    del opened[index:]
    return count


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
