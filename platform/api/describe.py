"""What the API offers this caller: the objects they may read, and each object's metadata.

    GET /api/v1/objects                      -> [{"name", "label", "plural_label", "permissions"}]
    GET /api/v1/objects/<object>/describe    -> fields, types, picklist values, lookups, related lists

Labels are in the caller's language (Accept-Language or ?lang=, else their profile's);
fields the caller may not read are left out, and named nowhere (the title field and the default sort
without them, a dependent picklist whose controlling field is hidden described as a plain one); `writable`
says what they may set.
"""
from __future__ import annotations

from typing import Any

from flask import Response

from crmkit.api.blueprint import blueprint, context
from crmkit.api.requests import json_response
from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.presenter import SYSTEM_LABELS
from crmkit.metadata.model import SYSTEM_FIELDS, FieldDef, ObjectDef

OBJECT_PERMISSIONS = ("read", "create", "edit", "delete", "export")
#: The value type of each system field.
SYSTEM_TYPES = {"id": "integer", "created_at": "datetime", "created_by": "lookup", "updated_at": "datetime",
                "updated_by": "lookup", "owner_id": "lookup", "version": "integer", "formula_errors": "json"}


def readable_objects(user: UserContext) -> list[ObjectDef]:
    policy = user.policy
    return [obj for obj in user.runtime.registry.objects.values() if policy is None or policy.can(obj.name, "read")]


@blueprint.get("/objects")
def objects_view() -> Response:
    user = context()
    language = user.actor.language
    return json_response({"data": [{"name": obj.name, "label": obj.label.get(language),
                                    "plural_label": obj.plural_label.get(language),
                                    "permissions": permissions(user, obj.name)}
                                   for obj in readable_objects(user)]})


@blueprint.get("/objects/<object_name>/describe")
def describe_view(object_name: str) -> Response:
    user = context()
    obj = user.records(object_name).obj  # UnknownObject (404) for an object not installed
    if user.policy is not None:
        user.policy.require(obj.name, "read")
    return json_response(describe(user, obj))


def permissions(user: UserContext, object_name: str) -> dict[str, bool]:
    policy = user.policy
    return {name: policy is None or policy.can(object_name, name) for name in OBJECT_PERMISSIONS}


def describe(user: UserContext, obj: ObjectDef) -> dict[str, Any]:
    """The object's metadata as the caller may see it, labels in their language."""
    language, policy = user.actor.language, user.policy
    hidden = policy.hidden_fields(obj.name) if policy is not None else frozenset()
    field_types = user.runtime.field_types
    fields = [{"name": name, "type": SYSTEM_TYPES[name], "value_type": SYSTEM_TYPES[name],
               "label": SYSTEM_LABELS[name].get(language) if name in SYSTEM_LABELS else name,
               "system": True, "required": False, "writable": name == "owner_id"}
              for name in SYSTEM_FIELDS if name not in hidden]
    for fdef in obj.fields.values():
        if fdef.name in hidden:
            continue
        writable = field_types[fdef.type].writable and not fdef.read_only and \
            (policy is None or policy.can_edit_field(obj.name, fdef.name))
        fields.append(described_field(fdef, field_types.value_type(fdef, user.runtime.registry), language,
                                      writable, hidden))
    related = [{"object": child.name, "via": name, "label": child.plural_label.get(language)}
               for child in readable_objects(user) for name, fdef in child.fields.items()
               if fdef.type == "lookup" and fdef.to == obj.name
               and (policy is None or policy.can_read_field(child.name, name))]
    return {"name": obj.name, "label": obj.label.get(language), "plural_label": obj.plural_label.get(language),
            "description": obj.description.get(language) or None,
            "title_field": obj.title_field if obj.title_field not in hidden else None,
            "default_sort": [item for item in obj.default_sort if item.lstrip("-") not in hidden],
            "permissions": permissions(user, obj.name),
            "fields": fields, "related": related}


def described_field(fdef: FieldDef, value_type: str, language: str, writable: bool,
                    hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One field as describe gives it. A dependent picklist whose controlling field is in `hidden` (the caller may
    not read it) is described as a plain picklist: naming that field, or keying the allowed options by its
    values, would tell them what it holds (as the save pipeline's refusal does not: docs/permissions.md)."""
    described: dict[str, Any] = {
        "name": fdef.name, "type": fdef.type, "value_type": value_type, "label": fdef.label.get(language),
        "help": fdef.help.get(language) or None, "system": False, "required": fdef.required,
        "unique": fdef.unique, "writable": writable}
    if fdef.max_length is not None:
        described["max_length"] = fdef.max_length
    if fdef.min is not None:
        described["min"] = str(fdef.min)
    if fdef.max is not None:
        described["max"] = str(fdef.max)
    if fdef.options:
        described["options"] = [{"value": option.value, "label": option.label.get(language),
                                 "inactive": option.inactive} for option in fdef.options]
    if fdef.controlling_field and fdef.controlling_field not in hidden:
        described["controlling_field"] = fdef.controlling_field
        described["dependent_values"] = {key: list(values) for key, values in fdef.dependent_values.items()}
    if fdef.to:
        described["to"] = fdef.to
    return described
