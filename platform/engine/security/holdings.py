"""Which permission sets a user holds, and how: the one reading every part of crmkit uses.

    held = permission_sets_held(connection, runtime, {7: "sales_rep", 8: None})
    held[7].direct           # frozenset({"export"}): granted to the user
    held[7].through_role     # frozenset({"sales_rep"}): granted to their role, or listing it in `roles:`
    held[7].all              # both: what the access policy compiles (security/access.py)

A user holds a permission set when it is granted to them (a crmkit_grant row with their
user id), granted to their role (a row with the role and no user), or when the installed
metadata's permission set lists their role under `roles:`. The access checks
(`load_user_rights`), SystemDirectory, UserAdministration, the command line and the admin
pages all read it here, so what a page shows is what the checks enforce.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import Connection, and_, false, or_, select

from crmkit.engine.runtime import Runtime
from crmkit.metadata.registry import Registry


@dataclass(frozen=True)
class HeldPermissionSets:
    """A user's permission sets by where they come from (names of permission sets)."""

    #: Granted to the user themselves.
    direct: frozenset[str] = frozenset()
    #: Held through the user's role: granted to the role, or listing the role in the metadata's `roles:`.
    through_role: frozenset[str] = frozenset()

    @property
    def all(self) -> frozenset[str]:
        """Every set the user holds, as the access policy counts them."""
        return self.direct | self.through_role

    @property
    def only_through_role(self) -> frozenset[str]:
        """Sets held through the role and not also granted directly (revoking the user's grant keeps them)."""
        return self.through_role - self.direct


def declared_for_role(registry: Registry, role: str | None) -> frozenset[str]:
    """The permission sets whose metadata lists `role` under `roles:` (none without a role)."""
    if not role:
        return frozenset()
    return frozenset(name for name, definition in registry.permission_sets.items() if role in definition.roles)


def permission_sets_held(connection: Connection, runtime: Runtime,
                         users: Mapping[int, str | None]) -> dict[int, HeldPermissionSets]:
    """{user id: HeldPermissionSets} for the users given as {user id: their role (None: no role)}.

    One query over crmkit_grant, whatever the number of users (bound parameters: pass a
    page of users, not a whole table). Users not given are not in the answer.
    """
    if not users:
        return {}
    grants = runtime.system_table("crmkit_grant")
    roles = sorted({role for role in users.values() if role})
    query = select(grants.c.permission_set, grants.c.user_id, grants.c.role).where(or_(
        grants.c.user_id.in_(sorted(users)),
        and_(grants.c.user_id.is_(None), grants.c.role.in_(roles)) if roles else false()))
    direct: dict[int, set[str]] = {}
    by_role: dict[str, set[str]] = {}
    for row in connection.execute(query):
        if row.user_id is not None:
            direct.setdefault(row.user_id, set()).add(row.permission_set)
        else:
            by_role.setdefault(row.role, set()).add(row.permission_set)
    return {user_id: HeldPermissionSets(
        direct=frozenset(direct.get(user_id, ())),
        through_role=frozenset(by_role.get(role, ())) | declared_for_role(runtime.registry, role) if role
        else frozenset()) for user_id, role in users.items()}


def role_permission_sets(connection: Connection, runtime: Runtime) -> dict[str, HeldPermissionSets]:
    """{role: sets} for every role named by the metadata or by a grant: `direct` granted to the role
    (crmkit_grant), `through_role` listing it in the metadata's `roles:`. One query."""
    grants = runtime.system_table("crmkit_grant")
    granted: dict[str, set[str]] = {}
    for row in connection.execute(select(grants.c.role, grants.c.permission_set).where(
            grants.c.user_id.is_(None), grants.c.role.is_not(None))):
        granted.setdefault(row.role, set()).add(row.permission_set)
    names = set(runtime.registry.roles) | set(granted)
    return {role: HeldPermissionSets(direct=frozenset(granted.get(role, ())),
                                     through_role=declared_for_role(runtime.registry, role)) for role in names}
