"""Exports: every matching record, streamed a page at a time, as CSV lines or JSON-ready dicts.

The same filter, search, row filter and field-level security as a list; the `export`
permission is required, and every export is written to the security log.
"""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from crmkit.engine.fieldtypes import to_json
from crmkit.engine.query import QueryError
from crmkit.engine.security.audit import SecurityLog

if TYPE_CHECKING:
    from crmkit.engine.records.service import RecordService

PAGE = 1000
FORMATS = ("csv", "json")


def export_records(
    service: "RecordService",
    filter: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    sort: Sequence[str] = (),
    search: str | None = None,
    fields: Sequence[str] | None = None,
    format: str = "csv",
) -> Iterator[Any]:
    """Yield the header and one CSV line per record, or one dict per record for `format="json"`."""
    if format not in FORMATS:
        raise QueryError(f"exports are written as {' or '.join(FORMATS)}, not {format!r}.")
    service._require("read")
    service._require("export")
    columns = _columns(service, fields)
    # Checked before the first row, so a bad filter fails before anything is logged or sent.
    first = service.query(filter, sort=sort, search=search, limit=PAGE)
    return _stream(service, first, filter, sort, search, columns, format)


def _stream(service, page, filter, sort, search, columns: list[str], format: str) -> Iterator[Any]:
    count = 0
    if format == "csv":
        yield _csv_line(columns)
    while True:
        for record in page.records:
            count += 1
            row = {name: to_json(record.get(name)) for name in columns}
            yield _csv_line([_cell(row[name]) for name in columns]) if format == "csv" else row
        if not page.has_more:
            break
        page = service.query(filter, sort=sort, search=search, limit=PAGE, after=page.next_cursor)
    SecurityLog(service.session.crm).record("records.exported", user_id=service.session.actor.user_id, detail={
        "object": service.obj.name, "records": count, "filter": filter, "search": search, "fields": columns,
        "format": format})


def _columns(service: "RecordService", fields: Sequence[str] | None) -> list[str]:
    policy = service.session.policy
    hidden = policy.hidden_fields(service.obj.name) if policy else frozenset()
    visible = ["id", *(name for name in service.obj.fields if name not in hidden),
               "owner_id", "created_at", "updated_at"]
    if fields is None:
        return visible
    unknown = [name for name in fields if name not in visible]
    if unknown:
        raise QueryError(f"{service.obj.name} has no field {', '.join(repr(n) for n in unknown)} to export.")
    return list(fields)


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return "" if value is None else value


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
