"""Exports: every matching record, streamed from one query, as CSV lines or JSON-ready dicts.

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
from contextlib import ExitStack
from itertools import chain
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from crmkit.engine import messages
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.query import QueryError, QuerySpec, build_select
from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.shaping import shown_rows

if TYPE_CHECKING:
    from crmkit.engine.records.service import RecordService

#: Rows fetched from the database (and shaped for the user) at a time.
PAGE = 1000
#: csv: lines of text; json: JSON-ready dicts; values: dicts of the values as stored (for a caller writing its own file).
FORMATS = ("csv", "json", "values")


def export_records(
    service: "RecordService",
    filter: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    sort: Sequence[str] = (),
    search: str | None = None,
    fields: Sequence[str] | None = None,
    format: str = "csv",
    bom: bool = True,
) -> "ExportStream":
    """Yield the header and one CSV line per record (str), or one dict per record for `format="json"`
    (values as JSON: dates ISO, decimals as text) or `format="values"` (the stored values: Decimal,
    date, datetime in UTC, lookup ids; `ExportStream.columns` names them in order).

    CSV lines end in "\n"; write them encoded as UTF-8. With `bom` (the default) the header
    starts with U+FEFF, the UTF-8 byte order mark Excel needs to read non-Latin text; pass
    bom=False for programs that do not expect one. Text cells that a spreadsheet would run
    as a formula are prefixed with "'" (OWASP CSV Injection; see the module docstring).
    JSON rows are data for programs and are not changed. Raises PermissionDenied without the
    read and export permissions, QueryError for an unknown format, field or filter.

    One query, on one connection held until the stream is read to the end or closed (a
    server-side cursor on PostgreSQL), fetched and shaped `PAGE` rows at a time: the same
    rows in the same order as paging through `service.query`, without re-running the query
    per page. Close a stream that is not read to the end (`close()`, or `with`), or drop it.
    """
    if format not in FORMATS:
        raise QueryError(f"exports are written as {' or '.join(FORMATS)}, not {format!r}.")
    stream = ExportStream(service, format, bom)
    try:
        stream.open(filter, sort, search, fields)
    except BaseException:
        stream.close()
        raise
    return stream


def _log(service: "RecordService", event: str, detail: Mapping[str, Any]) -> None:
    """The entry in a transaction of its own: kept whatever becomes of a caller's transaction, since the rows were
    handed out in any case; written once that transaction ended (`UserContext.after_transaction`: on SQLite it
    holds the write lock the entry would wait for)."""
    session = service.session
    session.after_transaction(lambda: SecurityLog(session.crm).record(event, user_id=session.actor.user_id,
                                                                      detail=detail))


class ExportStream(Iterator[Any]):
    """The export's lines (or dicts), read from one open query; logged as described in the module docstring."""

    def __init__(self, service: "RecordService", format: str, bom: bool) -> None:
        self._service, self._format, self._bom = service, format, bom
        self._connection_scope: ExitStack | None = None
        self._pending: Iterator[Any] = iter(())
        self._count = 0
        self._detail: dict[str, Any] = {}
        self._done = False

    def open(self, filter, sort: Sequence[str], search: str | None, fields: Sequence[str] | None) -> None:
        """Check permissions, start the query, read and shape its first rows, log the start."""
        service = self._service
        scope = self._connection_scope = ExitStack()
        connection = scope.enter_context(service._reading("read", "export"))
        obj = service.obj
        self._columns = _columns(service, fields)
        spec = QuerySpec(filter=filter, sort=tuple(sort or ()), search=search, limit=PAGE)
        # The first page's query without its limit: same filter, search, row filter and order.
        statement = build_select(service.query_context(), obj.name, spec, self._columns).limit(None)
        result = connection.execution_options(stream_results=True, yield_per=PAGE).execute(statement)
        scope.callback(result.close)  # the server-side cursor closes before its connection does
        self._connection, self._batches = connection, result.partitions(PAGE)
        # Checked before the first row, so a bad filter fails before anything is logged or sent.
        first = self._next_batch()
        self._detail = {"object": obj.name, "filter": filter, "search": search, "fields": self._columns,
                        "format": self._format}
        _log(service, "records.exported", self._detail)
        header = [("\ufeff" if self._bom else "") + _csv_line(self._columns)] if self._format == "csv" else []
        self._pending = chain(header, self._output(first))

    def _next_batch(self) -> list[Sequence[Any]] | None:
        """The next rows as the user may see them (security/shaping.py), as values in the order of
        the export's columns; None after the last. The platform's own session sees rows as stored:
        their values are taken as they come, without a dict per row."""
        rows = next(self._batches, None)
        service = self._service
        # Inside a transaction on PostgreSQL (READ COMMITTED): each batch is read after the stream began, so the
        # rights are asked again before its rows are handed out (UserContext.transaction; nothing elsewhere).
        service.session.rights_still_held(self._connection)
        if rows is None:
            return None
        names, columns = rows[0]._fields, self._columns
        policy = service.session.policy
        if policy is None:
            if tuple(columns) == names[:len(columns)]:
                return rows if len(columns) == len(names) else [row[:len(columns)] for row in rows]
            positions = [names.index(name) for name in columns]
            return [[row[position] for position in positions] for row in rows]
        values = [dict(zip(names, row)) for row in rows]
        shown = shown_rows(self._connection, service.runtime, policy, service.obj, values)
        return [[row.get(name) for name in columns] for row in shown]

    def _output(self, rows: list[Sequence[Any]] | None) -> Iterator[Any]:
        if not rows:
            return iter(())
        self._count += len(rows)
        columns = self._columns
        if self._format == "json":
            return ({name: to_json(value) for name, value in zip(columns, row)} for row in rows)
        if self._format == "values":
            return (dict(zip(columns, row)) for row in rows)
        return iter(_csv_lines(rows))

    @property
    def columns(self) -> tuple[str, ...]:
        """The exported fields' API names, in the order of the CSV header (id first, then the
        fields the user may read, owner_id, created_at, updated_at)."""
        return tuple(self._columns)

    def __iter__(self) -> "ExportStream":
        return self

    def __next__(self) -> Any:
        while True:
            item = next(self._pending, _END)
            if item is not _END:
                return item
            if self._done or self._connection_scope is None:
                raise StopIteration
            rows = self._next_batch()
            if rows is None:
                self._finish()
                raise StopIteration
            self._pending = self._output(rows)

    def _finish(self) -> None:
        """Read to the end: release the connection, then log the completion with the number of records."""
        self._done = True
        self.close()
        _log(self._service, "records.export_completed", {**self._detail, "records": self._count})

    def close(self) -> None:
        """Stop reading: the query and its connection are released (nothing more is logged)."""
        scope, self._connection_scope = self._connection_scope, None
        self._pending = iter(())
        if scope is not None:
            scope.close()

    def __enter__(self) -> "ExportStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


_END = object()


def _columns(service: "RecordService", fields: Sequence[str] | None) -> list[str]:
    policy = service.session.policy
    hidden = policy.hidden_fields(service.obj.name) if policy else frozenset()
    visible = ["id", *(name for name in service.obj.fields if name not in hidden),
               "owner_id", "created_at", "updated_at"]
    if fields is None:
        return visible
    unknown = [name for name in fields if name not in visible]
    if unknown:
        raise QueryError(messages.EXPORT_UNKNOWN_FIELDS(object=service.obj.name,
                                                         fields=", ".join(repr(n) for n in unknown)))
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


#: The first characters after which a text cell needs a closer look (neutralise_formula).
_LOOK_CLOSER = frozenset(FORMULA_STARTS) | frozenset(" \r\n\u3000\u00a0")


#: How a cell of each common non-text type is written: exactly as `spreadsheet_cell` writes it
#: (to_json's ISO 8601 dates and decimal text), without its chain of isinstance tests. PostgreSQL
#: hands out every timestamp and decimal as these objects, three of them in an account's row: the
#: chain was a fifth of an export's time there.
_WRITTEN = {int: str, datetime: datetime.isoformat, date: date.isoformat, Decimal: str,
            bool: lambda value: "true" if value else "false"}


def _cell(value: Any) -> str:
    """`spreadsheet_cell` as text, with the common values (text, whole numbers, moments, decimals, empty) taken first."""
    kind = type(value)
    if kind is str:
        return neutralise_formula(value) if value and value[0] in _LOOK_CLOSER else value
    if value is None:
        return ""
    written = _WRITTEN.get(kind)
    return written(value) if written is not None else str(spreadsheet_cell(value))


def _csv_lines(rows: list[Sequence[Any]]) -> list[str]:
    """One CSV line per row of values, as `_csv_line` writes it.

    A line whose cells hold no comma, quote or line break is the cells joined by commas; the
    csv module writes only the others (and a single empty cell, which it quotes).
    """
    lines, line_writer, closer, cell = [], None, _LOOK_CLOSER, _cell
    for row in rows:
        cells = ["" if value is None else value if type(value) is str and not (value and value[0] in closer)
                 else cell(value) for value in row]
        line = ",".join(cells)
        if len(cells) > 1 and line.count(",") == len(cells) - 1 and '"' not in line and "\n" not in line \
                and "\r" not in line:
            lines.append(line + "\n")
        else:
            line_writer = line_writer or LineWriter()
            lines.append(line_writer(cells))
    return lines


def _csv_line(values: Sequence[Any]) -> str:
    """One CSV line ending in "\n"; a cell holding a line break (CR or LF) is quoted (RFC 4180)."""
    return LineWriter()(values)


class LineWriter:
    """Writes one CSV line at a time through one csv writer and buffer: `LineWriter()(cells)` is the line,
    ending in "\n", a cell holding a comma, quote or line break (CR or LF, also a lone one) quoted (RFC 4180).

    Every CSV file crmkit writes goes through it: a csv writer with lineterminator="\n" quotes a
    cell holding "\n" but not one holding a lone "\r", which spreadsheets and csv readers take
    as the end of the row (the rest of the cell would start a row of its own, unneutralised).
    """

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        # With "\r\n" as terminator the writer quotes cells containing either character.
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def __call__(self, values: Sequence[Any]) -> str:
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        self._writer.writerow(values)
        return buffer.getvalue()[:-2] + "\n"
