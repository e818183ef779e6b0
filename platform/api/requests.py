"""Reading what an API call sends: its JSON body, its If-Match version, its list parameters."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Mapping

import orjson
from flask import Response, request
from werkzeug.datastructures import MultiDict

from crmkit.engine import messages
from crmkit.api.problems import PreconditionRequired, Problem, UnsupportedMediaType
from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.query.querystring import QuerySpec, parse_query_string
from crmkit.engine.records.record import Record
from crmkit.metadata.model import ObjectDef

#: Query parameters of a list that are the API's own, not the list page's (engine/query/querystring.py).
API_PARAMETERS = ("fields", "count", "exact", "lang")
FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}
ENTITY_TAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def json_body() -> dict[str, Any]:
    """The body as a JSON object; 415 unless it is application/json, 400 unless it is an object."""
    if not request.is_json:
        raise UnsupportedMediaType(messages.API_SEND_JSON())
    try:
        body = json.loads(request.get_data(cache=True) or b"null", parse_float=Decimal)  # money exact
    except (ValueError, RecursionError):
        raise Problem(messages.API_BODY_NOT_JSON()) from None
    if not isinstance(body, dict):
        raise Problem(messages.API_BODY_NOT_OBJECT())
    return body


def record_values(body: Mapping[str, Any]) -> dict[str, Any]:
    """A record's values from a body: `{"name": ...}`, or the same under "fields" (the change feed's shape)."""
    values = body.get("fields") if set(body) == {"fields"} and isinstance(body.get("fields"), dict) else body
    return dict(values)


def version_from(text: str | None, *, required: bool) -> int | None:
    """The record version an If-Match header carries ("3", "\\"3\\"" or W/"3"); 428 when required and missing."""
    if text is None or not text.strip():
        if required:
            raise PreconditionRequired(messages.API_IF_MATCH_NEEDED())
        return None
    found = ENTITY_TAG.match(text)
    if found is None:
        raise Problem(messages.API_IF_MATCH_BAD(value=repr(text)))
    return int(found[1])


def etag(record: Record) -> str:
    return f'"{record.version}"'


def flag(name: str) -> bool:
    value = (request.args.get(name) or "").strip().lower()
    if value not in FLAGS:
        raise Problem(messages.API_FLAG(name=name, value=repr(value)))
    return FLAGS[value]


def list_spec(exclude: tuple[str, ...] = ()) -> QuerySpec:
    """Filter, search, sort and page of a list call: the list page's query string (engine/query/querystring.py).

    `exclude` names further parameters of the call's own (a related list's `via`)."""
    args = MultiDict([(key, value) for key, value in request.args.items(multi=True)
                      if key not in API_PARAMETERS and key not in exclude])
    return parse_query_string(args)


@dataclass(frozen=True)
class Selection:
    """The fields a list or get returns: every readable one (None), or those named by `fields=`."""

    names: tuple[str, ...] | None

    @classmethod
    def from_request(cls, context: UserContext, obj: ObjectDef) -> "Selection":
        """The call's `?fields=`."""
        return cls.from_text(context, obj, request.args.get("fields"))

    @classmethod
    def from_text(cls, context: UserContext, obj: ObjectDef, text: str | None) -> "Selection":
        """`text` as a `fields` parameter ("name,amount"; None or blank: every readable field); a Problem naming the
        first field the user may not read or the object lacks."""
        text = (text or "").strip()
        if not text:
            return cls(None)
        names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
        readable = readable_fields(context, obj)
        unknown = [name for name in names if name not in readable]
        if unknown:
            raise Problem(messages.API_NO_SUCH_FIELD(object=obj.name, field=repr(unknown[0]),
                                                     fields=", ".join(sorted(readable))))
        return cls(names)

    def shown(self, record: Record) -> Mapping[str, Any]:
        """The record's values to answer with (stored values: `json_response` writes them as Record.to_json would)."""
        values = record.values
        if self.names is None:
            return values
        return {name: values.get(name) for name in ("id", "version", *self.names)}


def readable_fields(context: UserContext, obj: ObjectDef) -> set[str]:
    """Names of the object's fields (system ones too) this user may read."""
    from crmkit.metadata.model import SYSTEM_FIELDS

    policy = context.policy
    hidden = policy.hidden_fields(obj.name) if policy is not None else frozenset()
    return {name for name in (*SYSTEM_FIELDS, *obj.fields) if name not in hidden}


def json_value(value: Any) -> Any:
    """What json.dumps cannot write itself, as `to_json` writes it: decimals as text, dates ISO 8601, mappings."""
    kind = type(value)
    if kind is Decimal:
        return str(value)
    if kind is datetime or kind is date:
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    converted = to_json(value)
    if converted is value:
        raise TypeError(f"{kind.__name__} is not JSON")
    return converted


def json_bytes(body: Any) -> bytes:
    """`body` as UTF-8 JSON: stored values (Decimal as text, dates ISO 8601) as `Record.to_json` writes them.

    orjson writes a page of records in one pass (about 5x the standard library's speed). Records' keys are
    plain texts (RecordService makes them so), which orjson writes in its fast path; a body with other keys
    (a number, a str subclass) is written again with OPT_NON_STR_KEYS, about 2.5x slower for a page of 50
    with a subclass's keys. What orjson refuses even then (an integer beyond 64 bits) is written by the
    standard library.
    """
    try:
        return orjson.dumps(body, default=json_value)
    except TypeError:
        pass
    try:
        return orjson.dumps(body, default=json_value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=json_value).encode()


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """`body` as application/json (`json_bytes`)."""
    response = Response(json_bytes(body), status=status, mimetype="application/json")
    response.headers.update(headers or {})
    return response
