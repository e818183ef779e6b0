"""Each object's records: list, get, create, update (If-Match), delete, restore and related lists.

    GET    /api/v1/objects/<object>?stage=Won&amount__gte=100&sort=-amount&fields=name,amount&count=true
    GET    /api/v1/objects/<object>?filter={"or":[...]}&after=<next_cursor>
    POST   /api/v1/objects/<object>                      {"name": "Acme"}            -> 201, ETag
    GET    /api/v1/objects/<object>/<id>                                              -> ETag: "<version>"
    PATCH  /api/v1/objects/<object>/<id>   If-Match: "3"  {"industry": "Retail"}      -> 412 stale, 428 without
    DELETE /api/v1/objects/<object>/<id>   (If-Match optional)                         -> the recycle-bin batch
    POST   /api/v1/objects/<object>/<id>/restore                                      -> back from the bin
    GET    /api/v1/objects/<object>/<id>/related/<child>?via=<lookup>&<list parameters>

The views only parse and shape: the engine (RecordService, RecycleBin) checks every permission.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from flask import Response, request, url_for

from crmkit.engine import messages
from crmkit.api.blueprint import blueprint, context
from crmkit.api.problems import PreconditionFailed, Problem
from crmkit.api.requests import Selection, etag, flag, json_body, json_response, list_spec, record_values, \
    version_from
from crmkit.engine.context import UserContext
from crmkit.engine.query.querystring import QuerySpec
from crmkit.engine.records.errors import StaleRecordError
from crmkit.engine.records.service import RecordService


@dataclass(frozen=True)
class Outcome:
    """What one record operation answers: status, JSON body, headers (shared by the views and composite)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        return json_response(self.body, self.status, self.headers)


def record_address(object_name: str, record_id: int) -> str:
    return url_for("api.get_record", object_name=object_name, record_id=record_id)


def list_records(service: RecordService, spec: QuerySpec, selection: Selection, *,
                 count: bool = False, exact: bool = False) -> dict[str, Any]:
    """A page of records as the API gives it: {"data", "next_cursor", "count"?}."""
    page = service.query(spec.filter, sort=spec.sort, search=spec.search, limit=spec.limit, offset=spec.offset,
                         after=spec.after)
    body: dict[str, Any] = {"data": [selection.shown(record) for record in page.records],
                            "next_cursor": page.next_cursor}
    if count or exact:
        counted = service.count(spec.filter, search=spec.search, exact=exact)
        body["count"] = {"value": counted.value, "exact": counted.exact, "kind": counted.kind}
    return body


@blueprint.get("/objects/<object_name>")
def list_view(object_name: str) -> Response:
    # One connection and one operation read for the call's engine reads (the service, the page, the count).
    with context().snapshot() as user:
        service = user.records(object_name)
        body = list_records(service, list_spec(), Selection.from_request(user, service.obj),
                            count=flag("count"), exact=flag("exact"))
    return json_response(body)


@blueprint.get("/objects/<object_name>/<int:record_id>")
def get_record(object_name: str, record_id: int) -> Response:
    with context().snapshot() as user:
        service = user.records(object_name)
        selection = Selection.from_request(user, service.obj)
        record = service.get(record_id)
    return json_response(selection.shown(record), headers={"ETag": etag(record)})


@blueprint.post("/objects/<object_name>")
def create_record(object_name: str) -> Response:
    return create(context(), object_name, json_body()).response()


@blueprint.patch("/objects/<object_name>/<int:record_id>")
def update_record(object_name: str, record_id: int) -> Response:
    version = version_from(request.headers.get("If-Match"), required=True)
    return update(context(), object_name, record_id, json_body(), version).response()


@blueprint.delete("/objects/<object_name>/<int:record_id>")
def delete_record(object_name: str, record_id: int) -> Response:
    return delete(context(), object_name, record_id, version_from(request.headers.get("If-Match"),
                                                                  required=False)).response()


@blueprint.post("/objects/<object_name>/<int:record_id>/restore")
def restore_record(object_name: str, record_id: int) -> Response:
    return restore(context(), object_name, record_id).response()


@blueprint.get("/objects/<object_name>/<int:record_id>/related/<child>")
def related_records(object_name: str, record_id: int, child: str) -> Response:
    with context().snapshot() as user:
        user.records(object_name).get(record_id)  # 404 for a record the user may not read
        service = user.records(child)
        via = related_lookup(user, object_name, child, request.args.get("via"))
        spec = list_spec(exclude=("via",))  # the lookup to follow, not a condition on a field named via
        condition = {via: record_id}
        spec = QuerySpec(filter={"and": [condition, spec.filter]} if spec.filter else condition, sort=spec.sort,
                         search=spec.search, limit=spec.limit, offset=spec.offset, after=spec.after)
        body = list_records(service, spec, Selection.from_request(user, service.obj), count=flag("count"),
                            exact=flag("exact"))
    return json_response(body)


def related_lookup(user: UserContext, object_name: str, child: str, via: str | None) -> str:
    """The lookup of `child` pointing at `object_name` a related list follows: `via`, or the only one there is."""
    obj = user.runtime.registry.object(child)
    policy = user.policy
    lookups = [name for name, fdef in obj.fields.items() if fdef.type == "lookup" and fdef.to == object_name
               and (policy is None or policy.can_read_field(child, name))]
    if via is not None and via in lookups:
        return via
    if via is None and len(lookups) == 1:
        return lookups[0]
    if via is None and lookups:
        raise Problem(messages.API_VIA_NEEDED(child=child, object=object_name, lookups=", ".join(lookups)))
    if via:
        raise Problem(messages.API_NO_LOOKUP_NAMED(child=child, via=repr(via), object=object_name))
    raise Problem(messages.API_NO_LOOKUP(child=child, object=object_name))


# -- the operations, shared with the composite endpoint ---------------------------------------------------


def create(user: UserContext, object_name: str, body: Mapping[str, Any]) -> Outcome:
    record = user.records(object_name).create(record_values(body))
    return Outcome(201, record.to_json(), {"ETag": etag(record), "Location": record_address(object_name, record.id)})


def update(user: UserContext, object_name: str, record_id: int, body: Mapping[str, Any], version: int) -> Outcome:
    try:
        record = user.records(object_name).update(record_id, record_values(body), version=version)
    except StaleRecordError as error:
        raise PreconditionFailed(error.message) from None
    return Outcome(200, record.to_json(), {"ETag": etag(record)})


def delete(user: UserContext, object_name: str, record_id: int, version: int | None) -> Outcome:
    try:
        batch = user.records(object_name).delete(record_id, version=version)
    except StaleRecordError as error:
        raise PreconditionFailed(error.message) from None
    return Outcome(200, {"object": object_name, "id": record_id, "deleted": True, "batch": batch})


def restore(user: UserContext, object_name: str, record_id: int) -> Outcome:
    user.records(object_name)  # UnknownObject (404) for an object that is not installed
    bin = user.recycle_bin
    restored = bin.restore(bin.batch_of(object_name, record_id))
    return Outcome(200, {"object": object_name, "id": record_id, "restored": [
        {"object": name, "id": restored_id} for name, restored_id in restored]},
        {"Location": record_address(object_name, record_id)})


def get(user: UserContext, object_name: str, record_id: int, fields: str | None = None) -> Outcome:
    """The record as a get answers it; `fields`, as in `?fields=name,amount`, chooses the fields (Selection)."""
    service = user.records(object_name)
    selection = Selection.from_text(user, service.obj, fields)
    record = service.get(record_id)
    return Outcome(200, selection.shown(record), {"ETag": etag(record)})

