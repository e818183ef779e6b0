"""The OpenAPI 3.1 document of the API, built from the installed metadata (the Registry), never by hand.

    document = openapi_document(registry, field_types)     # a dict; GET /api/v1/openapi.json serves it

Each installed object gets its paths (list, create, describe, get, update, delete, restore,
its related lists) and its schemas: `<object>` (a record as the API returns it: every field,
all optional since a caller sees only the fields they may read), `<object>.input` (the
writable fields) and `<object>.page`. Values follow the API's JSON: decimals as text,
dates and times ISO 8601, lookups as record ids. Every error is problem+json (`Problem`).

Its sentences (summaries, descriptions) are in the message catalogs (flask_babel, as the docs
page's), its object and field labels from the metadata: `openapi_document(..., language="zh")`
gives them in Chinese, with paths, operation ids, schema names, types and enums the same in
every language.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask_babel import LazyString, force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l


from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.fieldtypes.presenter import SYSTEM_LABELS
from crmkit.metadata.model import SYSTEM_FIELDS, FieldDef, ObjectDef
from crmkit.metadata.registry import Registry

VERSION = "1.0.0"
PREFIX = "/api/v1"
MAX_ID = 2**63 - 1
#: JSON Schema of a stored value, by value type (fieldtypes value_type), as the API returns it.
VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer"},
    "decimal": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": _l("an exact decimal, as text")},
    "currency": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": _l("an exact amount, as text")},
    "percent": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": _l("a percentage, as text")},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "multi_picklist": {"type": "array", "items": {"type": "string"}},
    "lookup": {"type": "integer", "description": _l("the id of the linked record")},
    "json": {"type": "object"},
}
TEXT_TYPES = frozenset({"text", "textarea", "email", "phone", "url", "picklist", "autonumber"})
SYSTEM_VALUE_TYPES = {"id": "integer", "created_at": "datetime", "created_by": "lookup", "updated_at": "datetime",
                      "updated_by": "lookup", "owner_id": "lookup", "version": "integer", "formula_errors": "json"}
PROBLEM = {"$ref": "#/components/responses/Problem"}


def value_schema(value_type: str, fdef: FieldDef | None = None) -> dict[str, Any]:
    """The schema of one field's value in a returned record (null allowed: an empty field)."""
    if value_type in TEXT_TYPES:
        schema: dict[str, Any] = {"type": "string"}
    else:
        schema = dict(VALUE_SCHEMAS.get(value_type, {}))
    if not schema:  # a plugin's type: any JSON value
        return {}
    types = schema.pop("type")
    return {**schema, "type": [types, "null"]}


def input_schema(fdef: FieldDef, value_type: str) -> dict[str, Any]:
    """The schema of a value a caller may send for `fdef` (numbers as JSON numbers or text)."""
    if value_type in ("decimal", "currency", "percent"):
        return {"type": ["string", "number", "null"]}
    if fdef.type == "picklist" and fdef.options:
        return {"type": ["string", "null"], "enum": [option.value for option in fdef.options] + [None]}
    schema = value_schema(value_type, fdef)
    if value_type in TEXT_TYPES and fdef.max_length:
        schema["maxLength"] = fdef.max_length
    return schema


def record_schema(obj: ObjectDef, field_types: FieldTypes, registry: Registry, language: str = "en",
                  hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A record as the API answers it; `hidden`: fields the caller may not read, left out."""
    properties: dict[str, Any] = {name: {**value_schema(SYSTEM_VALUE_TYPES[name]),
                                         "title": SYSTEM_LABELS[name].get(language)} for name in SYSTEM_FIELDS}
    properties["id"] = {"type": "integer", "title": SYSTEM_LABELS["id"].get(language)}
    properties["version"] = {"type": "integer", "title": SYSTEM_LABELS["version"].get(language)}
    for fdef in obj.fields.values():
        if fdef.name in hidden:
            continue
        kind = field_types.value_type(fdef, registry)
        properties[fdef.name] = {**value_schema(kind, fdef), "title": fdef.label.get(language)}
    return {"type": "object", "title": obj.label.get(language), "properties": properties,
            "required": ["id", "version"]}


def writable_schema(obj: ObjectDef, field_types: FieldTypes, registry: Registry, language: str = "en",
                    hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What a create or update may send; `hidden`: fields the caller may not read, left out."""
    properties: dict[str, Any] = {"owner_id": {"type": ["integer", "null"],
                                               "title": SYSTEM_LABELS["owner_id"].get(language)}}
    for fdef in obj.fields.values():
        if field_types[fdef.type].writable and not fdef.read_only and fdef.name not in hidden:
            properties[fdef.name] = {**input_schema(fdef, field_types.value_type(fdef, registry)),
                                     "title": fdef.label.get(language)}
    return {"type": "object", "properties": properties}


def _parameter(name: str, where: str, schema: dict[str, Any], description: Any,
               required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}


LIST_PARAMETERS = [
    _parameter("q", "query", {"type": "string", "maxLength": 200}, _l("search text (the object's searchable fields)")),
    _parameter("sort", "query", {"type": "string", "maxLength": 200}, _l("fields to sort by, `-` for descending: -amount,name")),
    _parameter("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, _l("records per page (default 50)")),
    _parameter("after", "query", {"type": "string", "maxLength": 2000}, _l("the previous page's next_cursor")),
    _parameter("filter", "query", {"type": "string", "maxLength": 4000},
               _l("a filter in the engine's language, as JSON (docs/query.md); field=value and "
                  "field__op=value parameters work too, as on the list page")),
    _parameter("fields", "query", {"type": "string", "maxLength": 2000}, _l("the fields to return, comma-separated")),
    _parameter("count", "query", {"type": "boolean"}, _l("add the count (exact up to 10,000, else at least or estimated)")),
    _parameter("exact", "query", {"type": "boolean"}, _l("count exactly, however many")),
]
RECORD_ID = _parameter("record_id", "path", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, _l("the record's id"))


def _json(schema: dict[str, Any], description: Any, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _operation(operation_id: str, summary: Any, tag: str, responses: dict[str, Any], *,
               parameters: list[dict[str, Any]] = (), body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag],
                                 "parameters": list(parameters), "responses": {**responses, "default": PROBLEM}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def object_paths(obj: ObjectDef, registry: Registry, language: str = "en",
                 visible: "Mapping[str, frozenset[str]] | None" = None) -> dict[str, Any]:
    """The paths of one object; `visible` (see `openapi_document`) limits its related lists to what the caller sees."""
    name = obj.name
    label, plural = obj.label.get(language), obj.plural_label.get(language)
    ref = {"$ref": f"#/components/schemas/{name}"}
    page = {"$ref": f"#/components/schemas/{name}.page"}
    written = {"$ref": f"#/components/schemas/{name}.input"}
    etag = {"ETag": {"schema": {"type": "string"}, "description": _("the record's version, for If-Match")}}
    base = f"{PREFIX}/objects/{name}"
    paths: dict[str, Any] = {
        base: {
            "get": _operation(f"list_{name}", _("List %(objects)s", objects=plural), name,
                              {"200": _json(page, _("a page of records"))}, parameters=LIST_PARAMETERS),
            "post": _operation(f"create_{name}", _("Create a %(object)s", object=label), name,
                               {"201": _json(ref, _("the created record"), etag)}, body=written),
        },
        f"{base}/describe": {"get": _operation(f"describe_{name}", _("Describe %(object)s", object=label), name,
                                               {"200": _json({"$ref": "#/components/schemas/Describe"},
                                                             _("the object's metadata"))})},
        f"{base}/{{record_id}}": {
            "get": _operation(f"get_{name}", _("Get a %(object)s", object=label), name,
                              {"200": _json(ref, _("the record"), etag)}, parameters=[RECORD_ID, LIST_PARAMETERS[5]]),
            "patch": _operation(f"update_{name}", _("Update a %(object)s", object=label), name,
                                {"200": _json(ref, _("the saved record"), etag)}, body=written, parameters=[
                                    RECORD_ID, _parameter("If-Match", "header", {"type": "string"},
                                                          _("the version read, as its ETag"), required=True)]),
            "delete": _operation(f"delete_{name}", _("Delete a %(object)s", object=label), name,
                                 {"200": _json({"$ref": "#/components/schemas/Deleted"}, _("moved to the recycle bin"))},
                                 parameters=[RECORD_ID]),
        },
        f"{base}/{{record_id}}/restore": {"post": _operation(
            f"restore_{name}", _("Restore a deleted %(object)s", object=label), name,
            {"200": _json({"$ref": "#/components/schemas/Restored"}, _("the records put back"))}, parameters=[RECORD_ID])},
    }
    for child in registry.objects.values():
        if visible is not None and child.name not in visible:
            continue
        hidden = visible[child.name] if visible is not None else frozenset()
        vias = [fname for fname, fdef in child.fields.items()
                if fdef.type == "lookup" and fdef.to == name and fname not in hidden]
        if not vias:
            continue
        via = _parameter("via", "query", {"type": "string", "enum": vias}, _("the lookup followed"),
                         required=len(vias) > 1)
        paths[f"{base}/{{record_id}}/related/{child.name}"] = {"get": _operation(
            f"related_{name}_{child.name}", _("%(objects)s of a %(object)s", objects=child.plural_label.get(language), object=label), name,
            {"200": _json({"$ref": f"#/components/schemas/{child.name}.page"}, _("a page of related records"))},
            parameters=[RECORD_ID, via, *LIST_PARAMETERS])}
    return paths


COMMON_SCHEMAS: dict[str, Any] = {
    "Problem": {"type": "object", "description": _l("RFC 9457 problem details"),
                "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                               "detail": {"type": "string"}, "request_id": {"type": "string"},
                               "operation": {"type": "integer", "description": _l("composite: the failing operation")},
                               "oldest_cursor": {"type": "string", "description": _l("changes (410): the oldest cursor "
                                                                                     "the change log still holds every "
                                                                                     "change after")},
                               "errors": {"type": "object", "description": _l("field name -> sentences"),
                                          "additionalProperties": {"type": "array", "items": {"type": "string"}}}},
                "required": ["title", "status", "detail"]},
    "Count": {"type": "object", "properties": {"value": {"type": "integer"}, "exact": {"type": "boolean"},
                                               "kind": {"enum": ["exact", "at_least", "estimate"]}},
              "required": ["value", "exact", "kind"]},
    "Describe": {"type": "object", "required": ["name", "label", "fields", "permissions"],
                 "properties": {"name": {"type": "string"}, "label": {"type": "string"},
                                "plural_label": {"type": "string"}, "title_field": {"type": ["string", "null"]},
                                "permissions": {"type": "object", "additionalProperties": {"type": "boolean"}},
                                "fields": {"type": "array", "items": {"type": "object", "required": ["name", "type"]}},
                                "related": {"type": "array", "items": {"type": "object"}}}},
    "ObjectList": {"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": {
        "type": "object", "required": ["name", "label"],
        "properties": {"name": {"type": "string"}, "label": {"type": "string"}}}}}},
    "Deleted": {"type": "object", "required": ["object", "id", "deleted", "batch"],
                "properties": {"object": {"type": "string"}, "id": {"type": "integer"}, "deleted": {"const": True},
                               "batch": {"type": "string"}}},
    "Restored": {"type": "object", "required": ["object", "id", "restored"],
                 "properties": {"object": {"type": "string"}, "id": {"type": "integer"},
                                "restored": {"type": "array", "items": {"type": "object"}}}},
    "CompositeRequest": {"type": "object", "required": ["operations"], "properties": {"operations": {
        "type": "array", "minItems": 1, "maxItems": 200, "items": {
            "type": "object", "required": ["method", "path"],
            "properties": {"method": {"enum": ["GET", "POST", "PATCH", "DELETE"]},
                           "path": {"type": "string", "description": _l("/objects/<object>[/<id>[/restore]]")},
                           "ref": {"type": "string"}, "if_match": {"type": ["string", "integer"]},
                           "body": {"type": "object"}}}}}},
    "CompositeResponse": {"type": "object", "required": ["results"], "properties": {"results": {
        "type": "array", "items": {"type": "object", "required": ["status", "body"],
                                   "properties": {"ref": {"type": "string"}, "status": {"type": "integer"},
                                                  "body": {"type": "object"}}}}}},
    "ReportResult": {"type": "object", "required": ["report", "kind", "label"],
                     "properties": {"report": {"type": "string"}, "kind": {"enum": ["tabular", "summary", "matrix"]},
                                    "label": {"type": "string"}}},
    "NamedList": {"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": {
        "type": "object", "required": ["name", "label"]}}}},
    "Dashboard": {"type": "object", "required": ["name", "label", "widgets"],
                  "properties": {"widgets": {"type": "array", "items": {"type": "object"}}}},
    "Change": {"type": "object", "required": ["type", "timestamp", "data"], "description":
               _l("the payload automation's call_webhook sends too"),
               "properties": {"type": {"type": "string", "description": _l("<object>.<create|update|delete|restore|erase>")},
                              "timestamp": {"type": "string", "format": "date-time"},
                              "data": {"type": "object", "required": ["object", "id", "fields"],
                                       "properties": {"object": {"type": "string"}, "id": {"type": "integer"},
                                                      "fields": {"type": "object"}}}}},
    "Changes": {"type": "object", "required": ["data", "next_cursor"],
                "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}},
                               "next_cursor": {"type": "string"}}},
}


def _report_parameters() -> list[dict[str, Any]]:
    return [_parameter("from", "query", {"type": "string", "format": "date"}, _("first day of the date range")),
            _parameter("to", "query", {"type": "string", "format": "date"}, _("last day of the date range")),
            _parameter("owner", "query", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, _("an owner's user id")),
            _parameter("team", "query", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, _("a team's id"))]


def platform_paths() -> dict[str, Any]:
    named = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}
    result = {"$ref": "#/components/schemas/ReportResult"}
    return {
        f"{PREFIX}/objects": {"get": _operation("list_objects", _("The objects you may read"), "platform", {
            "200": _json({"$ref": "#/components/schemas/ObjectList"}, _("objects"))})},
        f"{PREFIX}/composite": {"post": _operation("composite", _("Up to 200 operations in one transaction"),
                                                   "platform", {"200": _json({"$ref": "#/components/schemas/"
                                                                                     "CompositeResponse"}, _("results"))},
                                                   body={"$ref": "#/components/schemas/CompositeRequest"})},
        f"{PREFIX}/reports": {"get": _operation("list_reports", _("The reports you may run"), "reports", {
            "200": _json({"$ref": "#/components/schemas/NamedList"}, _("reports"))})},
        f"{PREFIX}/reports/{{name}}": {"get": _operation(
            "run_report", _("Run a report"), "reports", {"200": _json(result, _("the result"))},
            parameters=[_parameter("name", "path", named, _("the report's name")), *_report_parameters()])},
        f"{PREFIX}/dashboards": {"get": _operation("list_dashboards", _("The dashboards you may see"), "reports", {
            "200": _json({"$ref": "#/components/schemas/NamedList"}, _("dashboards"))})},
        f"{PREFIX}/dashboards/{{name}}": {"get": _operation(
            "get_dashboard", _("A dashboard's widgets"), "reports", {"200": _json(
                {"$ref": "#/components/schemas/Dashboard"}, _("the dashboard"))},
            parameters=[_parameter("name", "path", named, _("the dashboard's name"))])},
        f"{PREFIX}/dashboards/{{name}}/widgets/{{index}}": {"get": _operation(
            "run_widget", _("A dashboard widget's result"), "reports", {"200": _json(result, _("the result"))},
            parameters=[_parameter("name", "path", named, _("the dashboard's name")),
                        _parameter("index", "path", {"type": "integer", "minimum": 0, "maximum": 999},
                                   _("the widget's place, from 0")), *_report_parameters()])},
        f"{PREFIX}/changes": {"get": _operation(
            "changes", _("Record changes since a cursor"), "platform",
            {"200": _json({"$ref": "#/components/schemas/Changes"}, _("changes, oldest first"))},
            parameters=[_parameter("since", "query", {"type": "string", "maxLength": 40},
                                   _("the previous answer's next_cursor (none: from the oldest change kept; "
                                     "a cursor from before changes the log no longer keeps: 410)")),
                        _parameter("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000},
                                   _("changes per answer (default 100)"))])},
    }


def openapi_document(registry: Registry, field_types: FieldTypes, language: str = "en",
                     visible: "Mapping[str, frozenset[str]] | None" = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API for the objects of `registry` (a JSON-ready dict), its sentences and
    labels in `language` (a catalog's: "en", "zh"); in an application context, whose catalogs it reads.

    `visible`: {object the caller may read: the fields of it they may not read}; the document
    then holds only those objects, without those fields (as describe answers the caller), so
    it names nothing the caller could not see elsewhere. None: every object and field.
    """
    with force_locale(language):
        return _resolved(_document(registry, field_types, language, visible))


def _resolved(value: Any) -> Any:
    """`value` with every lazy text (a module-level sentence) as the text of the current locale."""
    if isinstance(value, dict):
        return {key: _resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    return str(value) if isinstance(value, LazyString) else value


def _document(registry: Registry, field_types: FieldTypes, language: str,
              visible: "Mapping[str, frozenset[str]] | None") -> dict[str, Any]:
    schemas: dict[str, Any] = dict(COMMON_SCHEMAS)
    paths = platform_paths()
    for obj in registry.objects.values():
        if visible is not None and obj.name not in visible:
            continue
        hidden = visible[obj.name] if visible is not None else frozenset()
        schemas[obj.name] = record_schema(obj, field_types, registry, language, hidden)
        schemas[f"{obj.name}.input"] = writable_schema(obj, field_types, registry, language, hidden)
        schemas[f"{obj.name}.page"] = {"type": "object", "required": ["data", "next_cursor"], "properties": {
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{obj.name}"}},
            "next_cursor": {"type": ["string", "null"]}, "count": {"$ref": "#/components/schemas/Count"}}}
        paths.update(object_paths(obj, registry, language, visible))
    return {
        "openapi": "3.1.0",
        "info": {"title": _("crmkit REST API"), "version": VERSION,
                 "description": _("Every installed object's records, reports, dashboards and changes as JSON. "
                                  "Authenticate with `Authorization: Bearer <API token>`; errors are RFC 9457 "
                                  "problem+json (docs/api.md).")},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": _("an API token: crmkit token create <user> <name>")}},
            "schemas": schemas,
            "responses": {"Problem": {"description": _("a problem (RFC 9457)"), "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
        },
    }
