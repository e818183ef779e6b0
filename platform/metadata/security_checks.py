"""Semantic checks of the security metadata: the role tree, permission sets, sharing settings."""
from __future__ import annotations

from typing import Mapping, Sequence

from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.model import (
    ADMIN_PERMISSION_SET,
    FieldDef,
    OBJECT_PERMISSIONS,
    SYSTEM_FIELDS,
    SYSTEM_PERMISSIONS,
    Label,
    ObjectDef,
    Package,
    PermissionSetDef,
    RoleDef,
    frozen_map,
)
from crmkit.metadata.semantic import Reporter
from crmkit.sandbox import SandboxError, compile_expression

#: Built in, so there is always a way to administer the platform; granted like any other set.
ADMIN = PermissionSetDef(
    name=ADMIN_PERMISSION_SET,
    label=Label.of({"en": "Administrator", "zh": "系统管理员"}),
    package="crmkit",
    all_objects=frozenset(OBJECT_PERMISSIONS),
    system=frozenset(SYSTEM_PERMISSIONS),
)


def merge_roles(packages: Sequence[Package], report: Reporter) -> dict[str, RoleDef]:
    roles: dict[str, RoleDef] = {}
    for package in packages:
        for role in package.roles.values():
            if role.name in roles:
                report.at(role.location, f"the role '{role.name}' is already defined by the package "
                                         f"'{roles[role.name].package}'.", at_key=True)
                continue
            roles[role.name] = role
    for role in roles.values():
        if role.parent and role.parent not in roles:
            report.at(role.location, f"the parent role '{role.parent}' does not exist.{did_you_mean(role.parent, roles)}",
                      "parent")
    _check_role_cycles(roles, report)
    return roles


def _check_role_cycles(roles: Mapping[str, RoleDef], report: Reporter) -> None:
    for role in roles.values():
        seen = [role.name]
        parent = role.parent
        while parent in roles:
            if parent in seen:
                chain = " -> ".join(seen + [parent])
                report.at(role.location, f"roles are their own superiors in a circle: {chain}.", "parent")
                return
            seen.append(parent)
            parent = roles[parent].parent


def merge_permission_sets(packages: Sequence[Package], report: Reporter) -> dict[str, PermissionSetDef]:
    sets: dict[str, PermissionSetDef] = {ADMIN.name: ADMIN}
    for package in packages:
        for permission_set in package.permission_sets.values():
            if permission_set.name in sets:
                owner = sets[permission_set.name].package
                report.at(permission_set.location, f"the permission set '{permission_set.name}' is already defined "
                                                   f"by '{owner}'; choose another name.", at_key=True)
                continue
            sets[permission_set.name] = permission_set
    return sets


def check_permission_sets(sets: Mapping[str, PermissionSetDef], roles: Mapping[str, RoleDef],
                          objects: Mapping[str, ObjectDef], report: Reporter) -> None:
    for permission_set in sets.values():
        where = permission_set.location
        for role in permission_set.roles:
            if role not in roles:
                report.at(where, f"the permission set names the role '{role}', which does not exist."
                                 f"{did_you_mean(role, roles)}", "roles")
        for object_name in permission_set.objects:
            if object_name not in objects:
                report.at(where, f"'{object_name}' is not an object.{did_you_mean(object_name, objects)}",
                          "objects", object_name, at_key=True)
        for key in permission_set.fields:
            object_name, _, field_name = key.partition(".")
            obj = objects.get(object_name)
            if obj is None:
                report.at(where, f"'{object_name}' is not an object.{did_you_mean(object_name, objects)}",
                          "fields", key, at_key=True)
            elif field_name not in obj.fields:
                report.at(where, f"{object_name} has no field '{field_name}'.{did_you_mean(field_name, obj.fields)}",
                          "fields", key, at_key=True)


def check_sharing(obj: ObjectDef, roles: Mapping[str, RoleDef], objects: Mapping[str, ObjectDef],
                  report: Reporter) -> None:
    if obj.sharing == "controlled_by_parent":
        lookup = obj.fields.get(obj.sharing_parent or "")
        if not obj.sharing_parent:
            report.at(obj.location, "sharing: controlled_by_parent needs 'sharing_parent': the lookup to the parent.")
        elif lookup is None or not lookup.is_lookup:
            lookups = [name for name, f in obj.fields.items() if f.is_lookup]
            report.at(obj.location, f"sharing_parent '{obj.sharing_parent}' is not a lookup of {obj.name}."
                                    f"{did_you_mean(obj.sharing_parent, lookups)}", "sharing_parent")
        elif lookup.to == obj.name:
            report.at(obj.location, "a record cannot take its sharing from a record of the same object.",
                      "sharing_parent")
    elif obj.sharing_parent:
        report.at(obj.location, "sharing_parent only applies with sharing: controlled_by_parent.", "sharing_parent")
    for rule in obj.sharing_rules:
        if rule.role and rule.role not in roles:
            report.at(rule.location, f"the sharing rule shares with the role '{rule.role}', which does not exist."
                                     f"{did_you_mean(rule.role, roles)}", "share_with")
        if bool(rule.role) == bool(rule.team):
            report.at(rule.location, "share_with needs exactly one of 'role' or 'team'.", "share_with")
        for key in rule.criteria:
            name = key.split(".")[0]
            if key not in ("and", "or", "not") and name not in obj.fields and name not in SYSTEM_FIELDS:
                report.at(rule.location, f"the criteria name '{name}', which is not a field of {obj.name}."
                                         f"{did_you_mean(name, obj.fields)}", "criteria")
    if obj.sharing_rules and obj.sharing not in ("private", "public_read"):
        report.at(obj.location, f"sharing rules only matter for private or public_read objects; {obj.name} is "
                                f"{obj.sharing}.", "sharing_rules")


def role_descendants(roles: Mapping[str, RoleDef]) -> Mapping[str, frozenset[str]]:
    """role -> every role below it (not itself)."""
    children: dict[str, set[str]] = {}
    for role in roles.values():
        if role.parent:
            children.setdefault(role.parent, set()).add(role.name)
    result: dict[str, frozenset[str]] = {}
    for name in roles:
        below: set[str] = set()
        pending = list(children.get(name, ()))
        while pending:
            child = pending.pop()
            if child not in below:
                below.add(child)
                pending.extend(children.get(child, ()))
        result[name] = frozenset(below)
    return frozen_map(result)


def system_visible_notes(objects: Mapping[str, ObjectDef]) -> list[str]:
    """What each derived field declared `system_visible` shows: one `file:line:column: note: ...` line each.

    Such a field is shown as stored to everyone who may read it (docs/permissions.md,
    "Derived values"), like a Salesforce roll-up summary protected only by its own field
    permission; the note names what its stored value is computed from.
    """
    notes = []
    for obj in objects.values():
        for fdef in obj.fields.values():
            if not fdef.system_visible:
                continue
            where = f"{fdef.location.file}:{fdef.location.line}:{fdef.location.column}"
            notes.append(f"{where}: note: {obj.name}.{fdef.name} is system_visible: everyone who may read it sees "
                         f"its stored value, {_derived_from(obj, fdef)}, even users who may not see all of that.")
    return notes


def _derived_from(obj: ObjectDef, fdef: FieldDef) -> str:
    rollup = fdef.rollup
    if rollup is not None:
        measured = f"{rollup.aggregate} of {rollup.child_object}.{rollup.field}" if rollup.field else rollup.aggregate
        return f"the {measured} over every {rollup.child_object} record whose {rollup.via} points here"
    try:
        compiled = compile_expression(fdef.formula or "")
    except SandboxError:
        return "computed by its formula"
    own = sorted(name for name in compiled.value_names if name in obj.fields and name != fdef.name)
    linked = sorted({f"{path[0]}.{path[1]}" for path in compiled.attribute_paths
                     if len(path) >= 2 and path[0] in obj.fields and obj.fields[path[0]].is_lookup})
    parts = ([f"computed from {', '.join(own)}"] if own else []) + (
        [f"from the linked record's {', '.join(linked)}"] if linked else [])
    return " and ".join(parts) or "computed by its formula"
