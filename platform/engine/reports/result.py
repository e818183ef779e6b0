"""What running a report returns: frozen shapes that the report page, dashboards, the API and exports read.

A run is computed by the database over the rows the viewing user may see (the security
row filter of every query); nothing here is computed from rows pulled into Python.

    >>> result = context.reports.run("pipeline_by_stage", filters={"owner_id": 7})
    >>> result.kind, [c.name for c in result.group_columns], [c.name for c in result.value_columns]
    ('summary', ['stage'], ['deals', 'total'])
    >>> result.groups[0].key, result.groups[0].values
    (('Prospecting',), {'deals': 12, 'total': Decimal('48000.00')})

Shapes by kind:
- tabular: `columns` names the report's columns; `rows` holds one ResultRow per record (values by
  column name, a lookup's value as its record's title, `record_id`);
  `groups` is empty; `grand_total` holds the aggregates over every matching row.
- summary: `groups` holds one ResultGroup per distinct key at each level. A group of level
  n (1-based) has a key of n values; the deepest level's groups are the detail rows, the
  shallower ones their subtotals. `grand_total` is the report's total row.
- matrix: `groups` holds the row groups (as summary), `column_keys` the distinct column
  keys in order, and `cells` maps (row key, column key) to the aggregates of that cell;
  row subtotals are ResultGroups; column totals are in `column_totals`.
Every aggregate value is an int (count), a Decimal (exact sums and averages of money and
numbers, on both databases), a date/datetime (min/max of dates), a float only for
summary formulas whose `format` is "percent" or "number", or None (no rows / division by zero).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ResultColumn:
    """One column of a result: a grouping, a tabular field, an aggregate or a summary formula.

    `name` is the metadata name (a field path like "account.industry" for groupings and
    tabular columns, the aggregate's or formula's own name otherwise); `label` is already in
    the viewer's language; `field_type` is the field type's name for fields and aggregates of
    a field ("count" for counts, "formula" for summary formulas); `format` is one of
    "text", "number", "money", "percent", "date", "datetime", "duration_days".
    `bucket` is the date bucket or "range" for numeric ranges, else None.
    """

    name: str
    label: str
    field_type: str
    format: str
    bucket: str | None = None


@dataclass(frozen=True)
class ResultGroup:
    """One group: its key (one value per grouping level down to `level`), its display labels and aggregates.

    `key` holds the stored values used for drill-down (a picklist's stored value, a lookup's
    record id, a bucket's first day as a date, a range's lower bound; None for "no value");
    `labels` the same values as shown to the viewer ("Q3 FY2026", "10,000–50,000", "(none)"; "No last activity" for a bucket or range without a value).
    """

    level: int
    key: tuple[Any, ...]
    labels: tuple[str, ...]
    values: dict[str, Any]


def result_group(level: int, key: tuple[Any, ...], labels: tuple[str, ...], values: dict[str, Any]) -> ResultGroup:
    """`ResultGroup(level, key, labels, values)`, made without the frozen dataclass's __init__.

    That __init__ sets each field through object.__setattr__; filling the new instance's
    __dict__ makes the same object (equal, frozen, same repr) in about half the time, and a
    report makes one per group (over a thousand for a rep's pipeline by month).
    """
    made = _new(ResultGroup)
    fields = made.__dict__
    fields["level"], fields["key"], fields["labels"], fields["values"] = level, key, labels, values
    return made


_new = object.__new__


@dataclass(frozen=True)
class ResultRow:
    """One record of a tabular report: its id (for the link) and its column values by column name."""

    record_id: int
    values: dict[str, Any]


@dataclass(frozen=True)
class ReportResult:
    """The outcome of one run (see the module docstring for the shape of each kind).

    `computed_at` is when the database answered (UTC); a cached result keeps it, so a page can
    say its age. `truncated` is True when a tabular report stopped at its limit.
    """

    report: str
    kind: str
    label: str
    group_columns: tuple[ResultColumn, ...]
    value_columns: tuple[ResultColumn, ...]
    groups: tuple[ResultGroup, ...] = ()
    rows: tuple[ResultRow, ...] = ()
    column_group_columns: tuple[ResultColumn, ...] = ()
    column_keys: tuple[tuple[Any, ...], ...] = ()
    column_labels: tuple[tuple[str, ...], ...] = ()
    cells: dict[tuple[tuple[Any, ...], tuple[Any, ...]], dict[str, Any]] = field(default_factory=dict)
    column_totals: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    grand_total: dict[str, Any] = field(default_factory=dict)
    computed_at: datetime | None = None
    truncated: bool = False
    #: tabular only: the report's columns in order (ResultRow.values are keyed by their names).
    columns: tuple[ResultColumn, ...] = ()
