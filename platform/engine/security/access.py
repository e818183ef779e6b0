"""What one user may do, compiled once per session into checks and SQL row filters.

Access to a record is the union of: object-wide permissions (view all / modify all),
the object's sharing model, ownership, the role hierarchy (owners in roles below yours),
criteria-based sharing rules, and manual shares with the user or one of their teams.
The query layer adds `row_filter(object)` to every query, so every path is filtered the
same way; writes check `row_filter(object, "edit")` against the stored record.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from sqlalchemy import ColumnElement, Connection, any_, false, func, or_, select

from crmkit.engine import messages
from crmkit.engine.query import QueryContext, compile_filter
from crmkit.engine.query.errors_without import ErrorsWithout
from crmkit.engine.query.inputs import is_record_id, shown
from crmkit.engine.records.errors import RecordError
from crmkit.engine.runtime import Runtime
from crmkit.engine.security.derived import DerivedRules, formula_reads
from crmkit.engine.security.holdings import permission_sets_held
from crmkit.metadata.model import ADMIN_PERMISSION_SET, FORMULA_ERRORS, OBJECT_PERMISSIONS, FieldDef, ObjectDef

READ, EDIT = "read", "edit"


class PermissionDenied(RecordError):
    status = 403
    title = "Not allowed"


class UnknownUser(RecordError):
    status = 401
    title = "Unknown user"


class RightsChanged(RecordError):
    """The user's rights changed (another process committed a revoke, a role or team change) while their write
    transaction ran on PostgreSQL, which reads each statement's data as committed before it (READ COMMITTED):
    a later read would show data of after the change with the rights of before it, so the transaction stops
    (UserContext.transaction). Nothing of it is saved once the error leaves the transaction; doing it again works."""

    status = 409
    title = "Permissions changed"


@dataclass(frozen=True)
class UserRights:
    """A user as the access rules need them, loaded once per session."""

    user_id: int
    role: str | None
    #: The user and everyone whose role is below theirs: their records are visible to this user.
    visible_owner_ids: tuple[int, ...]
    team_ids: tuple[int, ...]
    team_names: frozenset[str]
    permission_sets: frozenset[str]
    language: str = "en"
    timezone: str = "UTC"


def same_access(first: UserRights, second: UserRights) -> bool:
    """Whether two loads of a user's rights allow the same: all but their presentation (language, time zone)."""
    return replace(first, language=second.language, timezone=second.timezone) == second


def load_user_rights(connection: Connection, runtime: Runtime, user_id: int) -> UserRights:
    """Everything about `user_id` the rules need; UnknownUser for an unknown or inactive user.

    A user id is an int (not a bool, not text such as "1") within the 64-bit range of the id
    column; anything else is refused the same way, before the database is asked.
    """
    if not is_record_id(user_id):
        raise UnknownUser(messages.NO_ACTIVE_USER_ID(id=shown(user_id)))
    users = runtime.system_table("crmkit_user")
    row = connection.execute(select(users).where(users.c.id == user_id)).first()
    if row is None or not row.active:
        raise UnknownUser(messages.NO_ACTIVE_USER(id=str(user_id)))
    below = runtime.registry.role_descendants.get(row.role, frozenset()) if row.role else frozenset()
    subordinates = []
    if below:
        subordinates = list(connection.execute(select(users.c.id).where(users.c.role.in_(sorted(below)))).scalars())
    members, teams = runtime.system_table("crmkit_team_member"), runtime.system_table("crmkit_team")
    team_rows = connection.execute(
        select(teams.c.id, teams.c.name).join(members, members.c.team_id == teams.c.id).where(members.c.user_id == user_id)
    ).all()
    sets = permission_sets_held(connection, runtime, {user_id: row.role})[user_id].all
    return UserRights(
        user_id=user_id, role=row.role, visible_owner_ids=tuple(sorted({user_id, *subordinates})),
        team_ids=tuple(sorted(team.id for team in team_rows)), team_names=frozenset(team.name for team in team_rows),
        permission_sets=sets, language=row.language, timezone=row.timezone,
    )


class AccessPolicy:
    def __init__(self, runtime: Runtime, user: UserRights) -> None:
        self.runtime = runtime
        self.user = user
        self.registry = runtime.registry
        sets = [self.registry.permission_sets[name] for name in sorted(user.permission_sets)
                if name in self.registry.permission_sets]
        self.system = frozenset().union(*(s.system for s in sets)) if sets else frozenset()
        self._all_objects = frozenset().union(*(s.all_objects for s in sets)) if sets else frozenset()
        self._objects: dict[str, set[str]] = {}
        self._fields: dict[str, set[str]] = {}
        for permission_set in sets:
            for name, permissions in permission_set.objects.items():
                self._objects.setdefault(name, set()).update(permissions)
            for key, permissions in permission_set.fields.items():
                self._fields.setdefault(key, set()).update(permissions)
        # A field named in any permission set is visible only to holders of a set granting it.
        self._protected = frozenset(key for definition in self.registry.permission_sets.values()
                                    for key in definition.fields)
        self._filters: dict[tuple[str, str], ColumnElement | None] = {}
        self._hidden: dict[str, frozenset[str]] = {}
        self._share_presence: dict[tuple[str, str], bool] = {}
        self._derived: DerivedRules | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN_PERMISSION_SET in self.user.permission_sets

    def object_permissions(self, object_name: str) -> frozenset[str]:
        granted = set(self._all_objects) | self._objects.get(object_name, set())
        if "modify_all_data" in self.system:
            granted |= set(OBJECT_PERMISSIONS)
        elif "view_all_data" in self.system:
            granted |= {READ, "view_all"}
        if "modify_all" in granted:
            granted |= {READ, EDIT, "delete", "view_all"}
        if "view_all" in granted:
            granted.add(READ)
        return frozenset(granted)

    def can(self, object_name: str, permission: str) -> bool:
        return permission in self.object_permissions(object_name)

    def require(self, object_name: str, permission: str) -> None:
        if not self.can(object_name, permission):
            # An object the user may not read is named as they named it: its label is metadata they are not shown
            # (describe, the OpenAPI document and the navigation leave it out), security/labels.py.
            named = (self.registry.object(object_name).plural_label.get(self.user.language)
                     if self.can(object_name, READ) else object_name)
            raise PermissionDenied(messages.NO_PERMISSION(action=permission.replace("_", " "), objects=named))

    def has_full_access(self, object_name: str, owner_id: Any) -> bool:
        """Whether the user may give away or share a record owned by `owner_id`: ownership, not just edit access.

        Full access (Salesforce's name for it) belongs to the record's owner, to users in roles
        above the owner's, and to holders of `modify_all` on the object. Edit access through a
        manual share, a team or a sharing rule lets a user change the record's values, never
        its owner or who else may see it.
        """
        return self.can(object_name, "modify_all") or owner_id in self.user.visible_owner_ids

    def may_delete(self, object_name: str, row: Mapping[str, Any]) -> bool:
        """Whether the user may delete a stored record they can edit (`row`: its stored values).

        Deleting needs the object's delete permission and full access to the record: its
        owner, a role above the owner's, or modify_all. Sharing, however wide, never grants
        a delete (Salesforce: "Public Read/Write" lets users edit, not delete, others'
        records), so a record never lands in the bin of someone its owner cannot see. A
        child whose sharing is controlled_by_parent follows edit access to its parent.
        """
        if not self.can(object_name, "delete"):
            return False
        if self.can(object_name, "modify_all") or self.registry.object(object_name).sharing == "controlled_by_parent":
            return True
        return row.get("owner_id") in self.user.visible_owner_ids

    def delete_filter(self, object_name: str) -> ColumnElement[bool] | None:
        """The records of `object_name` the user may delete, as SQL over its table (None: every one).

        The same rule as `may_delete`, for records reached by a cascade.
        """
        if not self.can(object_name, "delete"):
            return false()
        if self.can(object_name, "modify_all"):
            return None
        if self.registry.object(object_name).sharing == "controlled_by_parent":
            return self.row_filter(object_name, EDIT)
        owners = self.user.visible_owner_ids
        column = self.runtime.table(object_name).c.owner_id
        return column == owners[0] if len(owners) == 1 else column.in_(owners)

    def can_read_field(self, object_name: str, field_name: str) -> bool:
        key = f"{object_name}.{field_name}"
        return key not in self._protected or READ in self._fields.get(key, ()) or self.is_admin

    def can_edit_field(self, object_name: str, field_name: str) -> bool:
        key = f"{object_name}.{field_name}"
        return key not in self._protected or EDIT in self._fields.get(key, ()) or self.is_admin

    def hidden_fields(self, object_name: str) -> frozenset[str]:
        """Fields of `object_name` this user may not read: protected ones, and values derived from them.

        A formula reading a hidden field (of the record, or through a lookup) and a rollup
        aggregating, linking through or filtering on a hidden child field would show what the
        hidden field holds, so they are hidden too; so is a derived value reading one the user
        sees recomputed or masked (security/derived.py), unless declared `system_visible`.
        Every output path strips these fields (security/shaping.py); filters, sorts and
        searches refuse them as unknown.
        """
        if not self._hidden:
            self._hidden = self._all_hidden()
        return self._hidden.get(object_name, frozenset())

    def _all_hidden(self) -> dict[str, frozenset[str]]:
        """Hidden fields of every object, derived ones included: grown until nothing changes.

        Computed for all objects at once (once per session), since derivations cross objects
        both ways: rollups read children, formulas read parents through lookups.
        """
        objects = self.registry.objects
        hidden = {name: {field for field in obj.fields if not self.can_read_field(name, field)}
                  for name, obj in objects.items()}
        changed = True
        while changed:
            changed = False
            for name, obj in objects.items():
                for fdef in obj.fields.values():
                    if fdef.name in hidden[name] or fdef.system_visible:
                        continue
                    if self._reads_hidden(obj, fdef, hidden) or self.derived.reads_per_user(obj, fdef):
                        hidden[name].add(fdef.name)
                        changed = True
        return {name: frozenset(fields) for name, fields in hidden.items()}

    def _reads_hidden(self, obj: ObjectDef, fdef: FieldDef, hidden: Mapping[str, set[str]]) -> bool:
        """Whether the formula or rollup `fdef` reads a field in `hidden` (object -> field names)."""
        if fdef.rollup is not None:
            rollup = fdef.rollup
            used = {rollup.via, rollup.field, *_keys(rollup.condition)}
            return bool(used & hidden.get(rollup.child_object, set()))
        if fdef.type != "formula" or not fdef.formula:
            return False
        names, paths = formula_reads(fdef.formula)  # nothing is read by a formula that does not compile
        if names & hidden[obj.name]:
            return True
        for head, attribute in paths:
            lookup = obj.fields.get(head)
            if lookup is not None and lookup.is_lookup and attribute in hidden.get(lookup.to or "", set()):
                return True
        return False

    @property
    def derived(self) -> DerivedRules:
        """The derived fields this user sees recomputed or masked, and their SQL (security/derived.py)."""
        if self._derived is None:
            self._derived = DerivedRules(self)
        return self._derived

    def derived_expression(self, object_name: str, field_name: str) -> ColumnElement | None:
        """The SQL value of a derived field as this user sees it, where it differs from the stored column; for
        `formula_errors`, the reasons without those of formulas hidden from the user or seen masked or
        recomputed (query/errors_without.py), so a filter on it tells nothing `get` withholds."""
        if field_name == FORMULA_ERRORS:
            obj = self.registry.objects.get(object_name)
            withheld = self.hidden_fields(object_name) | self.derived.per_user(object_name)
            names = tuple(name for name in withheld if obj is not None and name in obj.fields
                          and obj.fields[name].type == "formula")
            return ErrorsWithout(self.runtime.table(object_name).c[FORMULA_ERRORS], names) if names else None
        if field_name in self.hidden_fields(object_name):
            return None
        return self.derived.expression(object_name, field_name)

    def restricts(self, object_name: str) -> bool:
        """Whether `row_filter(object_name)` limits this user at all (decided without reading the database)."""
        obj = self.registry.objects.get(object_name)
        if obj is None:
            return False
        permissions = self.object_permissions(object_name)
        if READ not in permissions:
            return True
        if "view_all" in permissions or obj.sharing in ("public_read_write", "public_read"):
            return False
        if obj.sharing == "controlled_by_parent":
            return self.restricts(obj.fields[obj.sharing_parent].to or "")
        return True

    def row_filter(self, object_name: str, level: str = READ) -> ColumnElement | None:
        """The WHERE clause limiting `object_name` to records this user may read (or edit); None: all."""
        key = (object_name, level)
        if key not in self._filters:
            self._filters[key] = self._compile(self.registry.object(object_name), level)
        return self._filters[key]

    def _compile(self, obj: ObjectDef, level: str) -> ColumnElement | None:
        permissions = self.object_permissions(obj.name)
        if READ not in permissions:
            return false()
        if (level == READ and "view_all" in permissions) or "modify_all" in permissions:
            return None
        if obj.sharing == "public_read_write" or (obj.sharing == "public_read" and level == READ):
            return None
        table = self.runtime.table(obj.name)
        if obj.sharing == "controlled_by_parent":
            lookup = obj.fields[obj.sharing_parent]
            parent_filter = self.row_filter(lookup.to, level)
            if parent_filter is None:
                return None
            parent = self.runtime.table(lookup.to)
            return or_(table.c[obj.sharing_parent].in_(select(parent.c.id).where(parent_filter).correlate(None)),
                       table.c[obj.sharing_parent].is_(None) & self._owned(table))
        clauses = [self._owned(table)]
        if self._has_shares(obj.name, level):
            clauses.append(self._shared(obj, table, level))
        clauses.extend(self._sharing_rules(obj, level))
        return or_(*clauses) if len(clauses) > 1 else clauses[0]

    def _owned(self, table) -> ColumnElement:
        """Records owned by the user or those below; `=` for one owner, so an index also gives the order."""
        owners = self.user.visible_owner_ids
        return table.c.owner_id == owners[0] if len(owners) == 1 else table.c.owner_id.in_(owners)

    def _has_shares(self, object_name: str, level: str) -> bool:
        """Whether any manual share reaches this user on this object; without one the filter needs no share branch.

        Asked once per session and object (a session lives for one request or job).
        """
        key = (object_name, level)
        if key not in self._share_presence:
            shares = self.runtime.system_table("crmkit_share")
            who = shares.c.user_id == self.user.user_id
            if self.user.team_ids:
                who = or_(who, shares.c.team_id.in_(self.user.team_ids))
            query = select(shares.c.id).where(shares.c.object == object_name, who)
            if level == EDIT:
                query = query.where(shares.c.access == EDIT)
            with self.runtime.engine.connect() as connection:
                self._share_presence[key] = connection.execute(query.limit(1)).first() is not None
        return self._share_presence[key]

    def _shared(self, obj: ObjectDef, table, level: str) -> ColumnElement:
        shares = self.runtime.system_table("crmkit_share")
        who = shares.c.user_id == self.user.user_id
        if self.user.team_ids:
            who = or_(who, shares.c.team_id.in_(self.user.team_ids))
        query = select(shares.c.record_id).where(shares.c.object == obj.name, who)
        if level == EDIT:
            query = query.where(shares.c.access == EDIT)
        if self.runtime.engine.dialect.name == "postgresql":
            # `id = ANY(ARRAY(<shared ids>))`: the ids are read once, then looked up along the
            # primary key, so beside the owner branch the planner ORs two index scans. Under an
            # OR, `id IN (<subquery>)` is a hashed filter that PostgreSQL checks on every row of
            # the table. The same rows: record_id is never NULL.
            return table.c.id == any_(func.array(query.scalar_subquery()))
        return table.c.id.in_(query)  # SQLite reads each branch of the OR along its own index

    def _sharing_rules(self, obj: ObjectDef, level: str) -> list[ColumnElement]:
        clauses = []
        for rule in obj.sharing_rules:
            if level == EDIT and rule.access != EDIT:
                continue
            if rule.team and rule.team not in self.user.team_names:
                continue
            if rule.role and not self._receives(rule.role, rule.subordinates):
                continue
            context = QueryContext(self.registry, self.runtime.schema, self.runtime.field_types)
            clauses.append(compile_filter(context, obj.name, dict(rule.criteria)))
        return clauses

    def _receives(self, role: str, subordinates: bool) -> bool:
        if self.user.role is None:
            return False
        if self.user.role == role:
            return True
        return subordinates and self.user.role in self.registry.role_descendants.get(role, frozenset())


def _keys(condition: Any) -> set[str]:
    """Every mapping key in a filter document: the field names it may use (and operators, harmlessly)."""
    if isinstance(condition, Mapping):
        return {str(key) for key in condition} | {name for value in condition.values() for name in _keys(value)}
    if isinstance(condition, (list, tuple)):
        return {name for value in condition for name in _keys(value)}
    return set()


def visible_values(policy: AccessPolicy, object_name: str, values: Mapping) -> dict:
    hidden = policy.hidden_fields(object_name)
    return {name: value for name, value in values.items() if name not in hidden}
