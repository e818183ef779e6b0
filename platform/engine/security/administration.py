"""User administration for a signed-in administrator: every call checks the acting user's rights.

    admin = UserAdministration(crm.as_user(admin_id))
    wang = admin.create_user("wang", role="sales_rep", language="zh", timezone="Asia/Shanghai")
    admin.grant("export", user_id=wang.id)
    password = admin.reset_password(wang.id)        # generated, shown once; wang's sessions end
    admin.deactivate(wang.id)

Every method needs the `manage_users` platform permission (the built-in `admin` permission set
has it), read afresh at each call; without it PermissionDenied. The system session
(`crm.as_system()`) may do everything, as the command line does through SystemDirectory.

A user manager who is not an administrator (holds `manage_users` without `admin`) is kept
from raising their own rights, directly or through an account they can take over by setting
its password (the escalation rule of Kubernetes RBAC, "you may only grant what you hold"):

- they grant, revoke or give through a role only permission sets they hold themselves, and
  none carrying platform permissions (`admin`, or any set with `system:` entries);
- they change, reset, deactivate or re-role only users holding no set they do not hold
  themselves (so not an administrator, nor a CEO or a privacy officer above them);
- they do not change their own access: no grant or revoke to themselves or their own role,
  no new role for themselves.

Nobody sets their own password here (administrators included): that is the settings page's
(Authenticator.change_password), which asks for the current one (the "session left open" case).
Nobody deactivates themselves, and the last active administrator keeps the `admin` permission
set. Every change writes a security-log entry naming the acting user (`detail["by"]`), as
SystemDirectory does.

Each change makes its checks and its write in ONE write operation of the session, which first holds
the rights (UserContext.hold_rights: on PostgreSQL the rights version's row locked FOR UPDATE, on
SQLite the transaction's write lock): no change of rights by another process commits between the
checks and the write, and the checks read the acting user's rights and the administrators as they
are now (RightsChanged if the acting user's access changed since the operation began). Two
administrators taking `admin` from each other at once are so done one after the other, and the
second is refused (no administrator any more). A new password is checked and hashed (argon2, about
0.1 s) before that, with the acting user's right to set it checked first, so no lock waits for it.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

from sqlalchemy import false, or_, select

from crmkit.engine import messages
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.passwords import generate_password
from crmkit.engine.security.holdings import HeldPermissionSets
from crmkit.engine.security.users import SystemDirectory, Team, User, UserError, UserPage
from crmkit.metadata.model import ADMIN_PERMISSION_SET, Label

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.security.audit import Clock

MANAGE_USERS = "manage_users"


@dataclass(frozen=True)
class RoleSummary:
    """A role as the admin pages list it."""

    name: str
    #: The metadata's label; None for a role only the database names.
    label: Label | None
    parent: str | None
    #: 0 for a top role, 1 below it, ...
    depth: int
    #: Whether the installed metadata defines the role.
    defined: bool
    #: `direct`: granted to the role; `through_role`: listing it in the metadata's `roles:`.
    permission_sets: HeldPermissionSets


class UserAdministration:
    """The account changes of an administrator's page, for one acting user (see the module docstring)."""

    def __init__(self, context: "UserContext", *, clock: "Clock | None" = None) -> None:
        self.context = context
        self.directory = SystemDirectory(context.crm, clock=clock, context=context)

    # -- reading -------------------------------------------------------------------------

    def users(self, *, active_only: bool = False) -> list[User]:
        """Every user by username (active ones only if asked); never a password hash."""
        self._require()
        return self.directory.list(active_only=active_only)

    def user(self, user_id: int) -> User:
        self._require()
        return self.directory.get(user_id)

    def find_users(self, text: str = "", *, active: bool | None = None, after: str | None = None,
                   limit: int = 50) -> UserPage:
        """One page of users by username whose username, display name or email contains `text`
        (SystemDirectory.find: keyset paging, `after` the previous page's `UserPage.after`)."""
        self._require()
        return self.directory.find(text, active=active, after=after, limit=limit)

    def by_username(self, username: str) -> User | None:
        """The user with that username (any case), or None."""
        self._require()
        return self.directory.by_username(username)

    def permission_sets_of(self, user_id: int) -> frozenset[str]:
        """Every permission set the user holds: their grants, grants to their role, and the sets
        whose metadata lists their role (`roles:`), as the access policy counts them."""
        self._require()
        self.directory.get(user_id)
        return self.directory.permission_sets_of(user_id)

    def permission_sets_held(self, user_ids: Iterable[int]) -> dict[int, HeldPermissionSets]:
        """{user id: HeldPermissionSets}: each user's sets granted directly and held through their role."""
        self._require()
        return self.directory.permission_sets_held(user_ids)

    def roles(self) -> list[RoleSummary]:
        """The role hierarchy, each parent before its children (depth-first by name), then roles that only
        the database names (a user's or a grant's role no installed package defines), with their sets."""
        self._require()
        registry = self.context.runtime.registry
        sets = self.directory.role_permission_sets()
        children: dict[str | None, list[str]] = {}
        for name, definition in registry.roles.items():
            parent = definition.parent if definition.parent in registry.roles else None
            children.setdefault(parent, []).append(name)
        ordered: list[RoleSummary] = []

        def visit(parent: str | None, depth: int) -> None:
            for name in sorted(children.get(parent, ())):
                definition = registry.roles[name]
                ordered.append(RoleSummary(name, definition.label, definition.parent, depth, True,
                                           sets.get(name, HeldPermissionSets())))
                visit(name, depth + 1)

        visit(None, 0)
        for name in sorted((self.directory.stored_roles() | set(sets)) - set(registry.roles)):
            ordered.append(RoleSummary(name, None, None, 0, False, sets.get(name, HeldPermissionSets())))
        return ordered

    def teams(self) -> list[Team]:
        """Every team by name."""
        self._require()
        return self.directory.teams()

    def team(self, team_id: int) -> Team:
        self._require()
        return self.directory.team(team_id)

    def team_members(self, team_id: int) -> list[User]:
        self._require()
        return self.directory.team_members(team_id)

    def team_memberships(self, user_ids: Iterable[int]) -> dict[int, list[Team]]:
        """{user id: their teams} for a page of users, in one query."""
        self._require()
        return self.directory.team_memberships(user_ids)

    def allowed(self) -> bool:
        """Whether the acting user may manage users now (for showing the way to the admin pages)."""
        try:
            self._require()
        except PermissionDenied:
            return False
        return True

    def require(self) -> None:
        """PermissionDenied unless the acting user may manage users (every other method checks it too)."""
        self._require()

    def teams_of(self, user_id: int) -> list[int]:
        self._require()
        self.directory.get(user_id)
        return self.directory.teams_of(user_id)

    # -- changing ------------------------------------------------------------------------

    def create_user(self, username: str, *, display_name: str | None = None, email: str | None = None,
                    password: str | None = None, role: str | None = None, language: str = "en",
                    timezone: str = "UTC", permission_sets: Iterable[str] = ()) -> User:
        """A new active user (without a password they cannot sign in until one is set)."""
        permission_sets = list(permission_sets)
        password_hash = None
        if password is not None:
            self._require()
            password_hash = self.directory.new_user_password_hash(username, password, display_name=display_name,
                                                                  email=email)
        with self._one_operation():
            actor = self._require()
            for name in permission_sets:
                self._require_grantable(name)
            if role:
                self._require_role_grantable(role)
            return self.directory.create_user(username, display_name=display_name, email=email,
                                              password_hash=password_hash, role=role, language=language,
                                              timezone=timezone, permission_sets=permission_sets, actor_id=actor)

    def update_user(self, user_id: int, *, display_name: str | None = None, language: str | None = None,
                    timezone: str | None = None, email: str | None = None) -> User:
        """Change the given ones of a user's display name, language, time zone and email ("" removes it)."""
        with self._one_operation():
            actor = self._require_over(user_id)
            return self.directory.set_preferences(user_id, display_name=display_name, language=language,
                                                  timezone=timezone, email=email, actor_id=actor)

    def deactivate(self, user_id: int) -> None:
        """The user can no longer sign in and their sessions end; not oneself, nor the last administrator."""
        with self._one_operation():
            actor = self._require_over(user_id)
            if actor is not None and user_id == actor:
                raise UserError(messages.DEACTIVATE_YOURSELF())
            admins = self._admins()
            self._keep_an_administrator(admins, admins - {user_id}, "deactivated")
            self.directory.deactivate(user_id, actor_id=actor)

    def activate(self, user_id: int) -> None:
        with self._one_operation():
            actor = self._require_over(user_id)
            self.directory.activate(user_id, actor_id=actor)

    def set_role(self, user_id: int, role: str | None) -> None:
        """Give the user a role of the installed metadata (None: no role)."""
        with self._one_operation():
            actor = self._require_over(user_id, access=True)
            if role:
                self._require_role_grantable(role)
            self._keep_an_administrator(self._admins(), self._admins(role_of=(user_id, role)), "given that role")
            self.directory.set_role(user_id, role, actor_id=actor)

    def grant(self, permission_set: str, *, user_id: int | None = None, role: str | None = None) -> None:
        """Give a permission set to one user or to everyone with a role."""
        with self._one_operation():
            actor = self._require() if user_id is None else self._require_over(user_id, access=True)
            self._require_not_own_role(role)
            self._require_grantable(permission_set)
            self.directory.grant(permission_set, user_id=user_id, role=role, actor_id=actor)

    def revoke(self, permission_set: str, *, user_id: int | None = None, role: str | None = None) -> None:
        """Take a permission set back from a user or a role; the last administrator keeps `admin`."""
        with self._one_operation():
            actor = self._require() if user_id is None else self._require_over(user_id, access=True)
            self._require_not_own_role(role)
            self._require_grantable(permission_set)
            if permission_set == ADMIN_PERMISSION_SET:
                remaining = self._admins(without_user_grant=user_id, without_role_grant=role)
                self._keep_an_administrator(self._admins(), remaining, "left without the admin permission set")
            self.directory.revoke(permission_set, user_id=user_id, role=role, actor_id=actor)

    def reset_password(self, user_id: int, password: str | None = None) -> str | None:
        """Set a user's password (checked against the policy) and end their sessions.

        Without `password` a random one is generated and returned, to be shown once; with one, None.
        Not one's own: PermissionDenied (Authenticator.change_password asks for the current password).
        """
        self._require_own_password_kept(user_id)  # before the hashing too
        generated = generate_password() if password is None else None
        password_hash = self.directory.password_hash(user_id, generated or password)
        with self._one_operation():
            actor = self._require_own_password_kept(user_id)
            self.directory.set_password(user_id, None, password_hash=password_hash, actor_id=actor)
        return generated

    def create_team(self, name: str, label: str | Mapping[str, str] | None = None) -> int:
        with self._one_operation():
            return self.directory.create_team(name, label, actor_id=self._require())

    def add_to_team(self, team_id: int, user_id: int) -> None:
        with self._one_operation():
            self.directory.add_to_team(team_id, user_id, actor_id=self._require())

    def remove_from_team(self, team_id: int, user_id: int) -> None:
        with self._one_operation():
            self.directory.remove_from_team(team_id, user_id, actor_id=self._require())

    # -- checks --------------------------------------------------------------------------

    @contextmanager
    def _one_operation(self) -> Iterator[None]:
        """A change's checks and its write as one write operation of the session, the rights held from its start
        (UserContext.hold_rights; see the module docstring). Inside the session's `transaction()` it is part of
        it, and the rights stay held until that ends."""
        with self.context.writing():
            self.context.hold_rights()
            yield

    def _require_own_password_kept(self, user_id: int) -> int | None:
        """`_require_over(user_id)`, and PermissionDenied for the acting user's own account (MyAccount's)."""
        actor = self._require_over(user_id)
        if actor is not None and user_id == actor:
            raise PermissionDenied(messages.OWN_PASSWORD_IN_SETTINGS())
        return actor

    def _require(self) -> int | None:
        """The acting user's id (None for the system session); PermissionDenied without manage_users."""
        self.context.refresh_rights()
        policy = self.context.policy
        if policy is None:
            return None
        if MANAGE_USERS not in policy.system and not policy.is_admin:
            raise PermissionDenied(messages.MANAGE_USERS_NEEDED())
        return policy.user.user_id

    def _is_admin(self) -> bool:
        return self.context.policy is None or self.context.policy.is_admin

    def _require_over(self, user_id: int, *, access: bool = False) -> int | None:
        """`_require`, and for a user manager who is not an administrator: the user holds no set the
        actor does not (an administrator's account is changed only by an administrator), and, for a
        change of access (`access`), the user is not the actor."""
        actor = self._require()
        self.directory.get(user_id)  # UserError for an unknown user
        if self._is_admin():
            return actor
        if user_id in self._admins():
            raise PermissionDenied(messages.ADMIN_CHANGES_ADMIN())
        if access and user_id == actor:
            raise PermissionDenied(messages.ADMIN_OWN_ACCESS())
        beyond = self.directory.permission_sets_of(user_id) - self._actor_sets()
        if beyond and user_id != actor:
            raise PermissionDenied(messages.ADMIN_HOLDS_MORE(names=", ".join(sorted(beyond))))
        return actor

    def _actor_sets(self) -> frozenset[str]:
        """The permission sets the acting user holds (directly and through their role)."""
        return self.directory.permission_sets_of(self.context.policy.user.user_id)

    def _require_not_own_role(self, role: str | None) -> None:
        """A user manager who is not an administrator does not change their own role's access."""
        if role is None or self._is_admin():
            return
        if self.directory.get(self.context.policy.user.user_id).role == role:
            raise PermissionDenied(messages.ADMIN_OWN_ROLE())

    def _require_grantable(self, permission_set: str) -> None:
        """A user manager who is not an administrator gives only sets they hold, without platform permissions."""
        if self._is_admin():
            return
        definition = self.context.runtime.registry.permission_sets.get(permission_set)
        if permission_set == ADMIN_PERMISSION_SET or (definition is not None and definition.system):
            raise PermissionDenied(messages.ADMIN_GRANTS_SET(name=repr(permission_set)))
        if permission_set not in self._actor_sets():
            raise PermissionDenied(messages.ADMIN_GRANTS_ONLY_HELD(name=repr(permission_set)))

    def _require_role_grantable(self, role: str) -> None:
        """Every set a role carries (its grants and the metadata's `roles:`) must be grantable by the actor."""
        if self._is_admin():
            return
        for name in sorted(self.directory.role_permission_sets().get(role, HeldPermissionSets()).all):
            self._require_grantable(name)

    @staticmethod
    def _keep_an_administrator(before: set[int], after: set[int], change: str) -> None:
        """UserError when a change would leave no active administrator where there is one now."""
        if before and not after:
            raise UserError(messages.LAST_ADMIN(change=change))

    def _admins(self, *, without_user_grant: int | None = None, without_role_grant: str | None = None,
                role_of: tuple[int, str | None] | None = None) -> set[int]:
        """Ids of active users holding the admin set, as they would after the change the arguments describe."""
        runtime = self.context.runtime
        users, grants = runtime.system_table("crmkit_user"), runtime.system_table("crmkit_grant")
        definition = runtime.registry.permission_sets.get(ADMIN_PERMISSION_SET)
        with self.directory._reading() as connection:  # the session's transaction, else what is committed
            granted = connection.execute(select(grants.c.user_id, grants.c.role).where(
                grants.c.permission_set == ADMIN_PERMISSION_SET)).all()
            admin_roles = {row.role for row in granted if row.role is not None and row.role != without_role_grant}
            admin_roles |= set(definition.roles) if definition is not None else set()
            direct = {row.user_id for row in granted if row.user_id is not None and row.user_id != without_user_grant}
            rows = connection.execute(select(users.c.id, users.c.role).where(
                users.c.active.is_(True), or_(users.c.id.in_(direct) if direct else false(),
                                              users.c.role.in_(sorted(admin_roles)) if admin_roles else false(),
                                              users.c.id == (role_of[0] if role_of else -1)))).all()
        roles = {row.id: row.role for row in rows}
        if role_of is not None and role_of[0] in roles:
            roles[role_of[0]] = role_of[1]
        return {user_id for user_id, role in roles.items() if user_id in direct or role in admin_roles}
