"""A report's figures as the viewer reads them: one text per value, in their language and locale.

    show = Presentation.of("zh", "Asia/Shanghai", "CNY")
    value_text(Decimal("48000.00"), money_column, show)     # '¥48,000.00'
    value_text(0.25, win_rate_column, show)                 # '25%'
    chart_number(Decimal("48000.00"))                       # 48000.0 (a position on a chart, never shown as text)

A column's `format` (ResultColumn) decides: "money" in the organisation's currency, "number"
and "count" with the locale's grouping, "percent" as a fraction for a summary formula
(0.25 is 25 %) and as a percent field's own number otherwise (12.5 is 12.5 %), "date" and
"datetime" in the viewer's time zone, "duration_days" as a number of days. None is "" (the
templates show an empty cell); figures are never rounded except a formula's float (two
decimals, a percentage one).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import format_decimal, format_percent
from flask_babel import gettext

from crmkit.engine.fieldtypes.display import format_date_value, format_money, format_number, format_percentage
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.reports.result import ResultColumn


def value_text(value: Any, column: ResultColumn, show: Presentation) -> str:
    """`value` of `column` as text for the viewer; "" for None."""
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return format_date_value(value, show).text
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return str(value)
    kind = column.format
    if isinstance(value, float):
        if kind == "money":
            return format_money(_rounded(Decimal(repr(value)), 2), show)
        if kind == "percent" and column.field_type == "formula":
            return format_percent(value, "#,##0.#%", locale=show.locale)
        if kind == "percent":
            return format_decimal(value, "#,##0.#", locale=show.locale) + "%"
        number = format_decimal(value, "#,##0.##", locale=show.locale)
        return gettext("%(number)s days", number=number) if kind == "duration_days" else number
    if kind == "money":
        return format_money(_rounded(value, 2), show)
    if kind == "percent":
        if column.field_type == "formula":
            return format_percent(value, "#,##0.#%", locale=show.locale)
        return format_percentage(_rounded(value, 2), show)
    if kind == "duration_days":
        return gettext("%(number)s days", number=format_number(_rounded(value, 1), show))
    if isinstance(value, Decimal):
        return format_number(_rounded(value, 2), show)
    return format_number(value, show)


def _rounded(value: Any, places: int) -> Any:
    """An average's long decimals cut to `places` (an average of money keeps the amount's own places)."""
    if not isinstance(value, Decimal):
        return value
    try:
        exponent = value.as_tuple().exponent
        return value.quantize(Decimal(1).scaleb(-places)) if isinstance(exponent, int) and exponent < -places \
            else value
    except InvalidOperation:
        return value


def chart_number(value: Any) -> float | None:
    """A figure as a chart position (a float); None for no value or a value that is not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    return None
