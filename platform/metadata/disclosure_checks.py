"""Rules that judge a save on fields the saver may not see: declared as such, or a metadata error.

A validation rule's condition and a stage move's condition are judged on the whole record as the
platform reads it, whatever the saving user may see (as Salesforce's validation rules run whatever
the user's field-level security). A condition comparing a field a user may change with one a
permission set protects from them (`amount < cost`) therefore answers, at every save, whether a value
they chose is below the protected one: a few saves find it exactly. Judging such a rule on what the
user sees instead would let them save what the rule forbids.

So the author decides, in the metadata: a rule or move reading a protected field, and some other field
a user may change, must say `discloses_protected_fields: true`, else it is an error at its condition. A
field is *protected* when a permission set names it (docs/permissions.md), and so is a formula or rollup
reading a protected field (directly, through a lookup, or through another such formula), as the engine
hides those too. A validation rule reading nothing but protected fields (`cost < 0`), judged on creates and updates,
is no oracle: its answer changes only with values that those who may see them save, and every save is checked, so it
is accepted; judged on one of them only, a record may fail it, and it is not. Nor is a stage move's condition or
`requires` naming a protected field: the move is the saver's choice, judged only when made.

A field read by name as text (`previous('cost')`) is read; a name computed at run time (`previous(name)`) reads any
field. The same answer reaches users through an automation rule (its condition or `where` reading a protected field, unless
it only sets protected fields: what it does shows any reader whether it holds; a value it sets from a protected field
into one no permission set names: `discloses_protected_fields: true` on the rule accepts both) and
through a default expression reading a protected field into a field no permission set names (an error: protect that
field too, or leave the protected one out).

Packages already installed are read back with the rules of their time (Catalog.installed); when a new
package's permission set protects a field an installed rule reads, the error is at that permission set.
Row-level access is not static and is not covered here: a rule reading a linked record the user may
not see judges it all the same (docs/permissions.md says so).
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from crmkit.metadata.expressions import ExpressionReport
from crmkit.metadata.model import SYSTEM_FIELDS, ObjectDef, PermissionSetDef

FieldRef = tuple[str, str]

#: The key a rule or move sets to accept reading protected fields.
KEY = "discloses_protected_fields"
#: System fields whose values the platform sets, never the saver (`owner_id` is theirs to give).
PLATFORM_SET = frozenset(SYSTEM_FIELDS) - {"owner_id"}


def disclosure_problems(objects: Mapping[str, ObjectDef], permission_sets: Mapping[str, PermissionSetDef],
                        analyses: Mapping[str, Mapping[str, ExpressionReport]],
                        lenient: Any) -> Iterator[tuple[Any, str, str]]:
    """(location, message, key) for each validation rule or stage move condition that reads a protected field and
    a field users may vary (`_varying`), without `discloses_protected_fields: true`.

    `analyses`: object -> "validation:<rule>" / "transition:<field>:<number>" / "formula:<field>" -> the
    expression's reads (Registry.build's). `lenient(package)`: whether a package is one already installed.
    """
    named = _named_fields(objects, permission_sets)
    if not named:
        return
    protected = _protected(objects, analyses, set(named))
    varying = _varying(objects, analyses, protected)
    for obj in objects.values():
        reports = analyses.get(obj.name, {})
        for rule in obj.validations:
            if rule.discloses_protected_fields:
                continue
            report = reports.get(f"validation:{rule.name}")
            read = _reads(obj, report, protected)
            # Judged at every save, a condition on protected fields alone holds for no stored record; a rule judged on
            # creates or on updates only may find one that does (created before), and tells the saver so.
            if read and (_varies(obj, report, varying) or not {"create", "update"} <= set(rule.on)):
                yield from _placed(rule.package, rule.location, f"validation rule '{rule.name}'", read, named,
                                   permission_sets, lenient)
        for transitions in obj.transitions.values():
            for number, move in enumerate(transitions.moves):
                if move.discloses_protected_fields:
                    continue
                # The move is the saver's choice, judged only when made: even a condition on protected fields alone
                # (`cost > 0`) tells them, move by move, whether it holds; so does `requires` naming one.
                report = reports.get(f"transition:{transitions.field}:{number}") if move.condition else None
                read = _reads(obj, report, protected)
                what, key = f"the condition of move {number + 1} of {obj.name}.{transitions.field}", "condition"
                if not read:
                    read = _keys_read(obj, set(move.requires), protected)
                    what, key = f"the requires of move {number + 1} of {obj.name}.{transitions.field}", "requires"
                if read:
                    yield from _placed(transitions.package, move.location, what, read, named, permission_sets,
                                       lenient, key=key)
        for fdef in obj.fields.values():
            if not fdef.default_expression or (obj.name, fdef.name) in named:
                continue
            read = _reads(obj, reports.get(f"default:{fdef.name}"), protected)
            if read:
                yield from _copied(fdef.package, fdef.location, "default", obj.name, fdef.name, read, named,
                                   permission_sets, lenient)
        scoring = obj.scoring
        if scoring is not None and (obj.name, scoring.field) not in named:
            for number, scored in enumerate(scoring.rules):
                read = _reads(obj, reports.get(f"scoring:{number}"), protected)
                if read:
                    yield from _copied(scoring.package, scored.location, "condition", obj.name, scoring.field, read,
                                       named, permission_sets, lenient, SCORE_TELLS)
                    break
        for rule in obj.automations:
            if not rule.discloses_protected_fields:
                yield from _automation_problems(obj, objects, rule, reports, protected, named, permission_sets, lenient)


def _automation_problems(obj: ObjectDef, objects: Mapping[str, ObjectDef], rule: Any,
                         reports: Mapping[str, ExpressionReport], protected: Mapping[FieldRef, FieldRef],
                         named: Mapping[FieldRef, list[str]], permission_sets: Mapping[str, PermissionSetDef],
                         lenient: Any) -> Iterator[tuple[Any, str, Any]]:
    """An automation rule's first problem: its condition (or a scheduled rule's `where`) reads a protected field and
    it does something other than set protected fields (what it does shows whether the condition holds, to every
    user reading the record or told by it, not only to the saver); or an action sets a field no permission set names
    from a protected one."""
    what = f"automation rule '{rule.name}'"
    targets = [(_set_target(obj, objects, action), action.set) for action in rule.actions]
    quiet = all(target is not None and values and all((target, name) in named for name in values)
                for target, values in targets)
    read = _reads(obj, reports.get(f"automation:{rule.name}"), protected)
    key: Any = "condition"
    if not read and rule.where:
        read, key = _keys_read(obj, _filter_keys(rule.where), protected), "where"
    for number, action in enumerate(rule.actions):  # assign_owner's rules: the owner they give shows their `when`
        assignment = action.assignment if action.type == "assign_owner" else None
        for row in (assignment.rules if assignment is not None else ()):
            if not read:
                read, key = _keys_read(obj, set(row.when), protected), ("actions", number, "rules")
    if read and not quiet:
        yield from _placed(rule.package, rule.location, what, read, named, permission_sets, lenient, key=key,
                           judged="what it does")
        return
    for number, (target, values) in enumerate(targets):
        for name in values:
            read = _reads(obj, reports.get(f"automation:{rule.name}:{number}:{name}"), protected)
            if read and target is not None and (target, name) not in named:
                yield from _placed(rule.package, rule.location, what, read, named, permission_sets, lenient,
                                   key=("actions", number, "set", name), copied=f"{target}.{name}")
                return


def _named_fields(objects: Mapping[str, ObjectDef],
                  permission_sets: Mapping[str, PermissionSetDef]) -> dict[FieldRef, list[str]]:
    """(object, field) -> the permission sets naming it (a field named in any set is protected)."""
    named: dict[FieldRef, list[str]] = {}
    for permission_set in permission_sets.values():
        for dotted in permission_set.fields:
            object_name, _, field_name = dotted.partition(".")
            if object_name in objects and field_name in objects[object_name].fields:
                named.setdefault((object_name, field_name), []).append(permission_set.name)
    return named


def _protected(objects: Mapping[str, ObjectDef], analyses: Mapping[str, Mapping[str, ExpressionReport]],
               protected: set[FieldRef]) -> dict[FieldRef, FieldRef]:
    """Every protected field -> the named field it shows (itself when named): formulas and rollups reading a
    protected one are grown in until nothing changes."""
    source = {ref: ref for ref in protected}
    changed = True
    while changed:
        changed = False
        for obj in objects.values():
            for fdef in obj.fields.values():
                ref = (obj.name, fdef.name)
                if ref in source:
                    continue
                found = None
                if fdef.rollup is not None:
                    rollup = fdef.rollup
                    used = {rollup.via, rollup.field, *_filter_keys(rollup.condition)}
                    found = next((source[(rollup.child_object, name)] for name in used
                                  if (rollup.child_object, name) in source), None)
                elif fdef.type == "formula":
                    found = next((named for _, named in _reads(
                        obj, analyses.get(obj.name, {}).get(f"formula:{fdef.name}"), source).values()), None)
                if found is not None:
                    source[ref] = found
                    changed = True
    return source


def _reads(obj: ObjectDef, report: ExpressionReport | None,
           protected: Mapping[FieldRef, FieldRef]) -> dict[str, tuple[FieldRef, FieldRef]]:
    """The protected fields an expression reads: "field" or "lookup.field" -> (the field read, the named field
    behind it: the same one unless the field read is a formula or rollup derived from it)."""
    if report is None:
        return {}
    read: dict[str, tuple[FieldRef, FieldRef]] = {}
    local = set(obj.fields) if report.any_field else report.local_fields  # `previous(name)`: whichever it names
    for name in sorted(local):
        if (obj.name, name) in protected:
            read[name] = ((obj.name, name), protected[(obj.name, name)])
    shown = {(via, "name") for via in report.shown_lookups}  # a record shown as text shows its name
    for via, target_field in sorted(report.related_fields | shown):
        lookup = obj.fields.get(via)
        target = lookup.to if lookup is not None else None
        if target and (target, target_field) in protected:
            read[f"{via}.{target_field}"] = ((target, target_field), protected[(target, target_field)])
    return read


def _varying(objects: Mapping[str, ObjectDef], analyses: Mapping[str, Mapping[str, ExpressionReport]],
             protected: Mapping[FieldRef, FieldRef]) -> set[FieldRef]:
    """The fields whose value a user may vary: each stored field not protected, other than the system fields the
    platform sets (the owner is a user's choice); each rollup (children come and go); each formula reading such a
    field (`amount - cost`), grown in until nothing changes."""
    varying = {(obj.name, fdef.name) for obj in objects.values() for fdef in obj.fields.values()
               if (obj.name, fdef.name) not in protected and fdef.name not in PLATFORM_SET
               and fdef.type != "formula"}
    varying |= {(obj.name, fdef.name) for obj in objects.values() for fdef in obj.fields.values()
                if fdef.rollup is not None}
    varying |= {(name, "owner_id") for name in objects}  # a system field, not among the declared ones
    changed = True
    while changed:
        changed = False
        for obj in objects.values():
            for fdef in obj.fields.values():
                ref = (obj.name, fdef.name)
                if fdef.type == "formula" and ref not in varying and _varies(
                        obj, analyses.get(obj.name, {}).get(f"formula:{fdef.name}"), varying):
                    varying.add(ref)
                    changed = True
    return varying


def _varies(obj: ObjectDef, report: ExpressionReport | None, varying: set[FieldRef]) -> bool:
    """Whether an expression reads a field in `varying` (of its own record or through a lookup)."""
    if report is None:
        return False
    if any((obj.name, name) in varying for name in (set(obj.fields) if report.any_field else report.local_fields)):
        return True
    for via, target_field in report.related_fields:
        lookup = obj.fields.get(via)
        if lookup is not None and lookup.to and (lookup.to, target_field) in varying:
            return True
    return False


def _placed(package: str, location: Any, what: str, read: Mapping[str, tuple[FieldRef, FieldRef]],
            named: Mapping[FieldRef, list[str]], permission_sets: Mapping[str, PermissionSetDef],
            lenient: Any, *, key: str | tuple = "condition", judged: str = "its refusals",
            copied: str | None = None) -> Iterator[tuple[Any, str, Any]]:
    """The problem at the rule, or at a new permission set protecting what an installed rule reads.

    `judged`: what tells the user ("its refusals"; an automation rule's "what it does"); `copied`: the field an
    automation rule's action sets from the protected one (object.field), which shows its value itself."""
    shown, (field_read, (object_name, field_name)) = next(iter(read.items()))
    sets = named[(object_name, field_name)]
    derived = "" if field_read == (object_name, field_name) else f" (through {shown}, derived from it)"
    if copied is not None:
        message = AUTOMATION_COPIES.format(what=what, read=f"{object_name}.{field_name}{derived}", set=sets[0],
                                           copied=copied, shown=shown)
    elif judged != "its refusals":
        message = AUTOMATION_TELLS.format(what=what, read=f"{object_name}.{field_name}{derived}", set=sets[0],
                                          name=field_name, shown=shown)
    else:
        message = RULE_TELLS.format(what=what, read=f"{object_name}.{field_name}{derived}", set=sets[0],
                                    name=field_name, shown=shown)
    if not lenient(package):
        yield location, message, key
        return
    for name in sets:
        permission_set = permission_sets[name]
        if not lenient(permission_set.package):
            yield permission_set.location, INSTALLED_TELLS.format(
                set=name, read=f"{object_name}.{field_name}", what=what, package=package, judged=judged,
                name=field_name), "fields"
            return


#: The sentences at a rule, a move, an automation rule or a default: their Chinese is in engine/messages.py
#: (`DISCLOSURE_*`, the same words), which the metadata cannot import.
RULE_TELLS = ("{what} reads {read}, which the permission set '{set}' protects. It is judged on the whole record, so its "
              "refusals would tell a user who may not see {name}, save by save, whether the condition holds for values "
              "they choose. Leave {shown} out of the condition, or add `discloses_protected_fields: true` to accept "
              "that.")
AUTOMATION_TELLS = ("{what} reads {read}, which the permission set '{set}' protects. Its condition is judged on the "
                    "whole record, so what it does would tell users who may not see {name} whether the condition "
                    "holds. Leave {shown} out of the condition, or add `discloses_protected_fields: true` to the rule "
                    "to accept that.")
AUTOMATION_COPIES = ("{what} reads {read}, which the permission set '{set}' protects, and sets {copied} from it, "
                     "which users who may not see it may read. Leave {shown} out of the value, protect {copied} "
                     "with a permission set as well, or add `discloses_protected_fields: true` to the rule to accept that.")
INSTALLED_TELLS = ("the permission set '{set}' protects {read}, which {what} of the installed package '{package}' "
                   "reads: {judged} would tell a user who may not see {name} whether the condition holds for values "
                   "they choose. Add `discloses_protected_fields: true` to that rule (an upgrade of '{package}'), or "
                   "protect another field.")
SCORE_TELLS = ("a scoring rule of {defaulted} reads {read}, which the permission set '{set}' protects: users who may "
               "read {defaulted} but not {name} would read from the score whether the rule's condition holds. Leave "
               "{shown} out of the condition, or protect {defaulted} with a permission set as well.")
DEFAULT_COPIES = ("the default of {defaulted} reads {read}, which the permission set '{set}' protects: users who "
                  "may read {defaulted} but not {name} would read it in every record created. Leave {shown} out of "
                  "the default, or protect {defaulted} with a permission set as well.")


def _copied(package: str, location: Any, option: str, object_name: str, field_name: str,
            read: Mapping[str, tuple[FieldRef, FieldRef]], named: Mapping[FieldRef, list[str]],
            permission_sets: Mapping[str, PermissionSetDef], lenient: Any,
            sentence: str | None = None) -> Iterator[tuple[Any, str, Any]]:
    """A default expression (`sentence`: a scoring rule's condition) of a field no permission set names, reading a
    protected one: at the default, or at a new permission set protecting what an installed default reads."""
    shown, (field_read, (read_object, read_field)) = next(iter(read.items()))
    sets = named[(read_object, read_field)]
    derived = "" if field_read == (read_object, read_field) else f" (through {shown}, derived from it)"
    message = (sentence or DEFAULT_COPIES).format(defaulted=f"{object_name}.{field_name}", read=f"{read_object}.{read_field}{derived}",
                                    set=sets[0], name=read_field, shown=shown)
    if not lenient(package):
        yield location, message, option
        return
    for name in sets:
        if not lenient(permission_sets[name].package):
            yield permission_sets[name].location, message, "fields"
            return


def _keys_read(obj: ObjectDef, keys: Any, protected: Mapping[FieldRef, FieldRef]) -> dict[str, tuple[FieldRef, FieldRef]]:
    """The protected fields of `obj` among field names (a filter's keys, an assignment row's `when`)."""
    return {name: ((obj.name, name), protected[(obj.name, name)]) for name in sorted(keys) if (obj.name, name) in protected}


def _set_target(obj: ObjectDef, objects: Mapping[str, ObjectDef], action: Any) -> str | None:
    """The object whose fields an automation action's `set` gives values (None: no such action or no such object)."""
    if action.type == "update_record":
        return obj.name
    if action.type == "update_related":
        lookup = obj.fields.get(action.lookup or "")
        return lookup.to if lookup is not None and lookup.to in objects else None
    if action.type == "create_record":
        return action.object if action.object in objects else None
    return None


def _filter_keys(condition: Any) -> set[str]:
    """Every mapping key in a filter document: the field names it may use (and operators, harmlessly)."""
    keys: set[str] = set()
    if isinstance(condition, Mapping):
        for key, value in condition.items():
            keys.add(str(key))
            keys |= _filter_keys(value)
    elif isinstance(condition, (list, tuple)):
        for item in condition:
            keys |= _filter_keys(item)
    return keys
