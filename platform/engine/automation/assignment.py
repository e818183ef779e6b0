"""The assign_owner action: the record's owner picked, inside its save, by round robin, least load or a rule table.

    owner = pick_owner(connection, runtime, obj, "lead.assign_new.0", assignment, values, now)

Eligible users are the ACTIVE users of a role (`crmkit_user.role`), the active members of a
team (`crmkit_team_member`), or one named active user, read in SQL ordered by id.

- round_robin: the eligible user after the one given the last record (by id, wrapping round).
- least_loaded: the eligible user owning the fewest records of the object that match `open`
  (a filter, docs/query.md), counted in one grouped SQL query; a tie goes to the one next in
  turn, so equal loads still take turns.
- rules: the first rule whose `when` fields all hold one of their values gives a pool, taken
  in turn; no rule matches: the `fallback` pool; no fallback: the owner stays.

Concurrency: each pick first updates its counter row in `crmkit_assignment_turn` (inserted
once with ON CONFLICT DO NOTHING), inside the record's transaction. On PostgreSQL that
UPDATE takes the row's lock until the record commits: a second save waits, and then reads
the committed last user (and, for least_loaded, counts the committed records), so two
concurrent creates never get the same turn. On SQLite a writer holds the database's write
lock from its first statement (BEGIN IMMEDIATE), which serialises them anyway.

Nobody eligible (no active user in the role, an unknown team or user): the owner is left as
it is (on create: the acting user, as without the rule) and a warning is logged on
`crmkit.automation`; the save goes on.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmkit.engine.query import QueryContext, compile_filter
from crmkit.metadata.assignment import OwnerAssignment, OwnerPool
from crmkit.metadata.model import ObjectDef

if TYPE_CHECKING:
    from crmkit.engine.runtime import Runtime

logger = logging.getLogger("crmkit.automation")


def eligible_users(connection: Connection, runtime: "Runtime", pool: OwnerPool) -> list[int]:
    """Ids of the active users of `pool`, ascending ([] for a role, team or user with nobody active)."""
    users = runtime.system_table("crmkit_user")
    query = select(users.c.id).where(users.c.active.is_(True)).order_by(users.c.id)
    if pool.role:
        query = query.where(users.c.role == pool.role)
    elif pool.team:
        teams, members = runtime.system_table("crmkit_team"), runtime.system_table("crmkit_team_member")
        query = query.join(members, members.c.user_id == users.c.id).join(teams, teams.c.id == members.c.team_id) \
            .where(teams.c.name == pool.team)
    elif pool.user:
        query = query.where(users.c.username == pool.user)
    else:
        return []
    return list(connection.execute(query).scalars())


def take_turn(connection: Connection, runtime: "Runtime", key: str, now: datetime) -> int | None:
    """Lock counter `key` for this transaction (creating it the first time); the user it gave last, or None."""
    table = runtime.system_table("crmkit_assignment_turn")
    dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(dialect_insert(table).values(key=key, last_user_id=None, turns=0, updated_at=now)
                       .on_conflict_do_nothing(index_elements=[table.c.key]))
    return connection.execute(update(table).where(table.c.key == key)
                              .values(turns=table.c.turns + 1, updated_at=now)
                              .returning(table.c.last_user_id)).scalar_one()


def record_turn(connection: Connection, runtime: "Runtime", key: str, user_id: int) -> None:
    """Remember that counter `key` gave its last record to `user_id` (its row is locked by `take_turn`)."""
    table = runtime.system_table("crmkit_assignment_turn")
    connection.execute(update(table).where(table.c.key == key).values(last_user_id=user_id))


def in_turn(candidates: Sequence[int], last: int | None) -> list[int]:
    """`candidates` (ascending ids) starting with the first after `last`, wrapping round."""
    after = [user_id for user_id in candidates if last is not None and user_id > last]
    return after + [user_id for user_id in candidates if user_id not in after]


def open_load(connection: Connection, runtime: "Runtime", obj: ObjectDef, user_ids: Sequence[int],
              open_filter: Mapping[str, Any] | None) -> dict[int, int]:
    """{user id: how many records of `obj` they own that match `open_filter`}, counted in SQL (absent: 0)."""
    table = runtime.table(obj.name)
    query = select(table.c.owner_id, func.count()).where(table.c.owner_id.in_(list(user_ids))) \
        .group_by(table.c.owner_id)
    if open_filter:
        query = query.where(compile_filter(QueryContext(runtime.registry, runtime.schema, runtime.field_types),
                                           obj.name, _plain(open_filter)))
    return {owner: count for owner, count in connection.execute(query)}


def _plain(value: Any) -> Any:
    """A frozen filter as the plain dicts and lists compile_filter takes."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def pick_owner(connection: Connection, runtime: "Runtime", obj: ObjectDef, key: str, assignment: OwnerAssignment,
               values: Mapping[str, Any], now: datetime, actor_id: int | None = None) -> int | None:
    """The owner `assignment` gives the record holding `values`; None (logged) when nobody is eligible.

    `key` names the action ("object.rule.number"); each pool it draws from has its own counter.
    With `keep_own`, an `actor_id` among the eligible users is the owner (no turn is taken).
    """
    keep = actor_id if assignment.keep_own else None
    if assignment.strategy == "rules":
        rule = next((rule for rule in assignment.rules if rule.matches(values)), None)
        pool, part = (rule.pool, f"rule{assignment.rules.index(rule)}") if rule else (assignment.fallback, "fallback")
        if pool is None:
            logger.info("assignment %s: no rule matches %s record %s and there is no fallback; the owner stays",
                        key, obj.name, values.get("id") or "(new)")
            return None
        return _in_turn(connection, runtime, obj, f"{key}:{part}", pool, None, values, now, least_loaded=False,
                        keep=keep)
    return _in_turn(connection, runtime, obj, key, assignment.pool, assignment.open, values, now,
                    least_loaded=assignment.strategy == "least_loaded", keep=keep)


def _in_turn(connection: Connection, runtime: "Runtime", obj: ObjectDef, key: str, pool: OwnerPool,
             open_filter: Mapping[str, Any] | None, values: Mapping[str, Any], now: datetime, *,
             least_loaded: bool, keep: int | None) -> int | None:
    counter = f"{key}:{pool.key()}"
    last = take_turn(connection, runtime, counter, now)  # first: the lock orders concurrent saves
    candidates = eligible_users(connection, runtime, pool)
    if not candidates:
        logger.warning("assignment %s: no active user in %s to own %s record %s; the owner stays %s", key,
                       pool.describe(), obj.name, values.get("id") or "(new)", values.get("owner_id") or "as it is")
        return None
    if keep is not None and keep in candidates:
        return keep
    ordered = in_turn(candidates, last)
    if least_loaded:
        load = open_load(connection, runtime, obj, candidates, open_filter)
        chosen = min(ordered, key=lambda user_id: load.get(user_id, 0))  # min keeps the first of equals: in turn
    else:
        chosen = ordered[0]
    record_turn(connection, runtime, counter, chosen)
    return chosen
