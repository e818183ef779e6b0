"""Exports: every matching record, streamed a page at a time, as CSV lines or JSON-ready dicts.

The same filter, search, row filter and field-level security as a list; the `export`
permission is required, and every export is written to the security log when it starts
(`records.exported`, as soon as the first page has been read: before any row is handed
out, so a client that reads two rows and stops is logged too), and again with the number
of records when the stream has been read to the end (`records.export_completed`).

CSV is made safe to open in a spreadsheet (OWASP, "CSV Injection",
https://owasp.org/www-community/attacks/CSV_Injection): a text cell starting with `=`,
`+`, `-`, `@`, tab (0x09) or carriage return (0x0D), also after leading whitespace, is
prefixed with a single quote, so Excel, LibreOffice and Google Sheets show it as text
instead of running it as a formula. Only text is neutralised: numbers (-5, 12.50) stay
numbers and dates stay ISO 8601 dates. The first line starts with a UTF-8 byte order
mark by default, so Excel reads Chinese and other non-Latin text correctly.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
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
    bom: bool = True,
) -> Iterator[Any]:
    """Yield the header and one CSV line per record (str), or one dict per record for `format="json"`.

    CSV lines end in "\n"; write them encoded as UTF-8. With `bom` (the default) the header
    starts with U+FEFF, the UTF-8 byte order mark Excel needs to read non-Latin text; pass
    bom=False for programs that do not expect one. Text cells that a spreadsheet would run
    as a formula are prefixed with "'" (OWASP CSV Injection; see the module docstring).
    JSON rows are data for programs and are not changed. Raises PermissionDenied without the
    read and export permissions, QueryError for an unknown format, field or filter.
    """
    if format not in FORMATS:
        raise QueryError(f"exports are written as {' or '.join(FORMATS)}, not {format!r}.")
    service._require("read")
    service._require("export")
    columns = _columns(service, fields)
    # Checked before the first row, so a bad filter fails before anything is logged or sent.
    first = service.query(filter, sort=sort, search=search, limit=PAGE)
    detail = {"object": service.obj.name, "filter": filter, "search": search, "fields": columns, "format": format}
    _log(service, "records.exported", detail)
    return _stream(service, first, filter, sort, search, columns, format, bom, detail)


def _log(service: "RecordService", event: str, detail: Mapping[str, Any]) -> None:
    SecurityLog(service.session.crm).record(event, user_id=service.session.actor.user_id, detail=detail)


def _stream(service, page, filter, sort, search, columns: list[str], format: str, bom: bool,
            detail: Mapping[str, Any]) -> Iterator[Any]:
    count = 0
    if format == "csv":
        yield ("\ufeff" if bom else "") + _csv_line(columns)
    while True:
        for record in page.records:
            count += 1
            if format == "csv":
                yield _csv_line([spreadsheet_cell(record.get(name)) for name in columns])
            else:
                yield {name: to_json(record.get(name)) for name in columns}
        if not page.has_more:
            break
        page = service.query(filter, sort=sort, search=search, limit=PAGE, after=page.next_cursor)
    _log(service, "records.export_completed", {**detail, "records": count})


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


#: What a spreadsheet may read as the start of a formula (OWASP CSV Injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """A stored value as a CSV cell a spreadsheet shows as data, never runs as a formula.

    Numbers (int, Decimal, float) are written as they are, so -5 and 12.50 stay numbers;
    dates and times as ISO 8601; lists (multi-select picklists) joined with ";"; every
    text value (text, long text, picklists, emails, URLs, phones, autonumbers, text
    formulas) that starts with =, +, -, @, tab or carriage return, also after leading
    spaces or line breaks, gets a leading "'" (OWASP, https://owasp.org/www-community/attacks/CSV_Injection).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, Decimal)):
        return to_json(value)
    if isinstance(value, (date, datetime)):
        return to_json(value)
    if isinstance(value, (list, tuple)):
        value = ";".join(str(to_json(item)) for item in value)
    return neutralise_formula(str(value))


def neutralise_formula(text: str) -> str:
    """`text` with "'" in front if a spreadsheet would take it for a formula (OWASP CSV Injection)."""
    if text.startswith(FORMULA_STARTS) or text.lstrip(" \t\r\n\u3000\u00a0").startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _csv_line(values: Sequence[Any]) -> str:
    """One CSV line ending in "\n"; a cell holding a line break (CR or LF) is quoted (RFC 4180)."""
    buffer = io.StringIO()
    # With "\r\n" as terminator the writer quotes cells containing either character.
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()[:-2] + "\n"
