"""Up to 200 record operations in one transaction: all are saved, or none.

    POST /api/v1/composite
    {"operations": [
      {"method": "POST",  "path": "/objects/account", "body": {"name": "Acme"}, "ref": "acme"},
      {"method": "POST",  "path": "/objects/contact", "body": {"last_name": "Li", "account": "@{acme.id}"}},
      {"method": "PATCH", "path": "/objects/account/@{acme.id}", "if_match": "@{acme.version}",
       "body": {"industry": "Retail"}}
    ]}
    -> 200 {"results": [{"ref": "acme", "status": 201, "body": {...}}, ...]}

A later operation may name an earlier one's result as `@{ref.field}` (anywhere in its path,
`if_match` or body; a string that is only the reference keeps the value's JSON type). The
first failing operation rolls everything back and answers its problem, with `operation`
(its 0-based index).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl

from flask import Response, current_app

from crmkit.engine import messages
from crmkit.api.blueprint import PREFIX, blueprint, context
from crmkit.api.problems import Problem
from crmkit.api.records import Outcome, create, delete, get, restore, update
from crmkit.api.requests import json_body, json_response, version_from
from crmkit.engine.context import UserContext
from crmkit.engine.records.errors import RecordValidationError
from crmkit.errors import CrmkitError

MAX_OPERATIONS = 200
REFERENCE = re.compile(r"@\{([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\}")
REF_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: How deep an operation's body may nest lists and objects (a record's values nest one level: a multi-picklist's
#: list); resolving references in a deeper body would overflow the stack (a 500) well before the JSON parser's limit.
MAX_DEPTH = 32


class OperationFailed(CrmkitError):
    """One operation of a composite call was refused: the engine's error, with the operation's index."""

    def __init__(self, error: CrmkitError, index: int, subject: str | None = None) -> None:
        super().__init__(error.message, title=error.title, status=error.status)
        self.operation = index
        self.field_errors = error.errors if isinstance(error, RecordValidationError) else None
        #: The object the operation addressed: its fields are named by their labels, as the call alone names them.
        self.subject = subject


class _Refused(Exception):
    """An operation's endpoint refused it (`error`), addressing the object `subject`."""

    def __init__(self, error: CrmkitError, subject: str | None) -> None:
        super().__init__(error.message)
        self.error, self.subject = error, subject


def _run_create(user: UserContext, args: Mapping[str, Any], body: Any, version: int | None,
                query: Mapping[str, str]) -> Outcome:
    return create(user, args["object_name"], body)


def _run_update(user: UserContext, args: Mapping[str, Any], body: Any, version: int | None,
                query: Mapping[str, str]) -> Outcome:
    if version is None:
        version = version_from(None, required=True)
    return update(user, args["object_name"], args["record_id"], body, version)


#: The endpoints a composite operation may call, and how: (user, the path's arguments, body, version, the path's
#: query parameters) -> Outcome. A get takes `fields` as the call alone does (docs/api.md, "Records").
RUNNERS: dict[str, Callable[[UserContext, Mapping[str, Any], Any, int | None, Mapping[str, str]], Outcome]] = {
    "api.create_record": _run_create,
    "api.update_record": _run_update,
    "api.get_record": lambda user, args, body, version, query: get(user, args["object_name"], args["record_id"],
                                                                   query.get("fields")),
    "api.delete_record": lambda user, args, body, version, query: delete(user, args["object_name"],
                                                                         args["record_id"], version),
    "api.restore_record": lambda user, args, body, version, query: restore(user, args["object_name"],
                                                                           args["record_id"]),
}


@blueprint.post("/composite")
def composite_view() -> Response:
    operations = json_body().get("operations")
    if not isinstance(operations, list) or not operations or len(operations) > MAX_OPERATIONS:
        raise Problem(messages.API_OPERATIONS(max=MAX_OPERATIONS))
    user = context()
    results: list[dict[str, Any]] = []
    refs: dict[str, Any] = {}
    with user.transaction():
        for index, operation in enumerate(operations):
            try:
                results.append(run_operation(user, operation, refs))
            except _Refused as refused:
                raise OperationFailed(refused.error, index, refused.subject) from None
            except CrmkitError as error:
                raise OperationFailed(error, index) from None
    return json_response({"results": results})


def run_operation(user: UserContext, operation: Any, refs: dict[str, Any]) -> dict[str, Any]:
    """One operation's result {"ref"?, "status", "body"}; a CrmkitError when it is malformed or refused."""
    if not isinstance(operation, dict) or not isinstance(operation.get("method"), str) \
            or not isinstance(operation.get("path"), str) or not operation["method"].strip() \
            or not operation["path"].strip():  # a blank method or path is a missing one
        raise Problem(messages.API_OPERATION_SHAPE())
    ref = operation.get("ref")
    if ref is not None and (not isinstance(ref, str) or not REF_NAME.fullmatch(ref) or ref in refs):
        raise Problem(messages.API_OPERATION_REF(value=repr(ref)))
    path = str(resolved(operation["path"], refs))
    body = resolved(operation.get("body") or {}, refs)
    given = resolved(operation.get("if_match"), refs)
    version = version_from(str(given), required=False) if given is not None else None
    method = operation["method"].upper()
    route, _, query = path.partition("?")
    try:
        endpoint, args = current_app.url_map.bind("localhost").match(PREFIX + route, method)
    except Exception:
        raise Problem(messages.API_NOT_RECORD_OPERATION(method=repr(method), path=repr(path))) from None
    runner = RUNNERS.get(endpoint)
    if runner is None:
        raise Problem(messages.API_NOT_RECORD_OPERATION(method=repr(method), path=repr(path)))
    if not isinstance(body, dict):
        raise Problem(messages.API_OPERATION_BODY())
    try:
        outcome = runner(user, args, body, version, dict(parse_qsl(query, keep_blank_values=True)))
    except CrmkitError as error:
        raise _Refused(error, args.get("object_name")) from None
    if ref is not None:
        refs[ref] = outcome.body
    return {**({"ref": ref} if ref is not None else {}), "status": outcome.status, "body": outcome.body}


def resolved(value: Any, refs: Mapping[str, Any], depth: int = 0) -> Any:
    """`value` with every `@{ref.field}` replaced by that earlier result's field; a Problem past MAX_DEPTH levels."""
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        raise Problem(messages.API_OPERATION_DEPTH(max=MAX_DEPTH))
    if isinstance(value, dict):
        return {key: resolved(item, refs, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [resolved(item, refs, depth + 1) for item in value]
    if not isinstance(value, str) or "@{" not in value:
        return value
    whole = REFERENCE.fullmatch(value)
    if whole:
        return _reference(whole, refs)
    return REFERENCE.sub(lambda match: str(_reference(match, refs)), value)


def _reference(match: re.Match, refs: Mapping[str, Any]) -> Any:
    ref, name = match[1], match[2]
    if ref not in refs:
        raise Problem(messages.API_UNKNOWN_REF(ref=ref, name=name))
    result = refs[ref]
    if not isinstance(result, dict) or name not in result:
        raise Problem(messages.API_REF_NO_VALUE(ref=ref, name=repr(name)))
    return result[name]
