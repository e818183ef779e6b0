"""What a group key is called on the screen: picklist labels, record titles, bucket and range names.

Keys are the stored values (drill-down reads them back); labels are for people, in the
viewer's language. A lookup's label is the target record's title, read in one query for
all the ids a result holds, only where the viewer may read the record and its title
(else "#id"); owners and other users are named by `user_names`.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from sqlalchemy import Connection, and_, select

from crmkit.engine import messages
from crmkit.engine.query.aggregate import USER_LOOKUPS, KeySpec
from crmkit.engine.query.filters import QueryContext
from crmkit.engine.query.lists import one_of_ids

UserNames = Callable[[Iterable[int]], Mapping[int, str]]


def none_label(language: str) -> str:
    return messages.REPORT_NONE.in_language(language)


def missing_label(key: KeySpec, language: str) -> str:
    """The group of a date bucket or number range without a value, named by the field: "No last activity",
    "无最近跟进日期", "No won revenue" (a bucket's empty group is not a period, and "(none)" beside
    "< 10,000" reads like a range). "(none)" when the field has no label."""
    label = key.value.info.fdef.label.get(language) if key.value.info.fdef is not None else ""
    if not label:
        return none_label(language)
    if not language.lower().startswith("zh"):
        label = " ".join(word if word.isupper() else word[:1].lower() + word[1:] for word in label.split(" "))
    return messages.REPORT_NO_FIELD.in_language(language, field=label)


def lookup_target(key: KeySpec) -> str | None:
    """The object a lookup key's ids belong to; "user" for owners and other users; None for other keys."""
    info = key.value.info
    if info.value_kind != "reference" or key.bucket or key.ranges:
        return None
    if info.name in USER_LOOKUPS and not info.fdef.to:
        return "user"
    return info.fdef.to


def titles(connection: Connection, ctx: QueryContext, object_name: str, ids: Iterable[Any]) -> dict[Any, str]:
    """{id: title} of the records of `object_name` among `ids` the caller may read, in one query."""
    wanted = sorted({int(i) for i in ids if i is not None})
    obj = ctx.object(object_name)
    title = obj.title_field
    hidden = ctx.hidden_fields(object_name) if ctx.hidden_fields is not None else frozenset()
    if not wanted or not title or title in hidden:
        return {}
    table = ctx.schema.table(object_name)
    condition = one_of_ids(table.c.id, wanted)
    restriction = ctx.restriction(object_name)
    if restriction is not None:
        condition = and_(condition, restriction)
    rows = connection.execute(select(table.c.id, ctx.column(object_name, title)).where(condition)).all()
    return {row[0]: str(row[1]) for row in rows if row[1] is not None}


class KeyLabeller:
    """Labels for the keys of each grouping level, given every key value a result holds."""

    def __init__(self, connection: Connection, ctx: QueryContext, keys: Sequence[KeySpec], values: Sequence[set],
                 language: str, user_names: UserNames) -> None:
        self.ctx, self.keys, self.language = ctx, keys, language
        self._labels: dict[tuple[int, Any], str] = {}
        self._is_lookup = [lookup_target(key) is not None for key in keys]
        #: Per level, a picklist's values in their options' order (empty for buckets, ranges and other fields).
        self._options = [{} if key.bucket or key.ranges else
                         {option.value: i for i, option in enumerate(key.value.info.fdef.options)} for key in keys]
        self.names: list[Mapping[Any, str]] = []
        for key, seen in zip(keys, values):
            target = lookup_target(key)
            if target == "user":
                self.names.append(dict(user_names([v for v in seen if v is not None])))
            elif target is not None:
                self.names.append(titles(connection, ctx, target, seen))
            else:
                self.names.append({})

    def label(self, level: int, value: Any) -> str:
        """The label of one key value of one level (worked out once per value)."""
        try:
            return self._labels[(level, value)]
        except KeyError:
            made = self._labels[(level, value)] = self._label(level, value)
            return made
        except TypeError:  # an unhashable value: not remembered
            return self._label(level, value)

    def _label(self, level: int, value: Any) -> str:
        key = self.keys[level]
        if value is None:
            return missing_label(key, self.language) if key.bucket or key.ranges else none_label(self.language)
        if key.bucket:
            return bucket_label(value, key.bucket, key.fiscal_start, self.language)
        if key.ranges:
            return range_label(int(value), key.ranges)
        if lookup_target(key) is not None:
            return self.names[level].get(value, f"#{value}")
        fdef = key.value.info.fdef
        for option in fdef.options:
            if option.value == value:
                return option.label.get(self.language) or option.value
        return plain_label(value, self.language)

    def order(self, level: int, value: Any, label: str) -> tuple:
        """A sort key for siblings: picklists in their options' order, lookups by title, others by value; no value last."""
        if value is None:
            return (2, 0, "")
        if self._is_lookup[level]:
            return (0, 0, label.casefold())
        position = self._options[level].get(value) if not isinstance(value, (list, dict)) else None
        if position is not None:
            return (0, position, "")
        return (1, value, "") if not isinstance(value, str) else (1, 0, value)


def plain_label(value: Any, language: str) -> str:
    if isinstance(value, bool):
        return {True: {"en": "Yes", "zh": "是"}, False: {"en": "No", "zh": "否"}}[value].get(language[:2], str(value))
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def fiscal_year(start: date, fiscal_start: int) -> int:
    """The fiscal year a period starting on `start` belongs to, named by the calendar year it ends in."""
    return start.year + (1 if fiscal_start != 1 and start.month >= fiscal_start else 0)


#: Babel's skeletons (CLDR) for the calendar buckets: the locale's own order and words ("2026年第1季度", "2026年1月").
BUCKET_SKELETONS = {"day": "yMMMd", "month": "yMMM", "quarter": "yQQQ", "year": "y"}


def _locale(language: str) -> Locale | None:
    """The Babel locale of a language tag ('zh', 'zh-CN'); None for English and for a tag Babel does not know."""
    if language.split("-")[0].split("_")[0].lower() in ("", "en"):
        return None
    try:
        return Locale.parse(language.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None


def bucket_label(start: date, bucket: str, fiscal_start: int, language: str) -> str:
    """A date bucket's label in `language`: for English "2024-03-04" (day), "2024-W10" (ISO week), "2024-03",
    "2024 Q1", "2024", "FY2027 Q1", "FY2027" (sortable, as before); for another language the locale's
    own form from Babel (zh: "2024年3月4日", "2024年第10周", "2024年3月", "2024年第1季度", "2024年",
    "2027财年第1季度", "2027财年"). Weeks are ISO weeks, numbered as ISO numbers them."""
    if isinstance(start, datetime):
        start = start.date()
    locale = _locale(language)
    if locale is not None:
        return _localised(start, bucket, fiscal_start, language, locale)
    if bucket == "day":
        return start.isoformat()
    if bucket == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if bucket == "month":
        return f"{start.year}-{start.month:02d}"
    if bucket == "quarter":
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    if bucket == "year":
        return str(start.year)
    year = fiscal_year(start, fiscal_start)
    if bucket == "fiscal_year":
        return f"FY{year}"
    quarter = ((start.month - fiscal_start) % 12) // 3 + 1
    return f"FY{year} Q{quarter}"


def _localised(start: date, bucket: str, fiscal_start: int, language: str, locale: Locale) -> str:
    skeleton = BUCKET_SKELETONS.get(bucket)
    if skeleton is not None:
        return format_skeleton(skeleton, start, locale=locale)
    if bucket == "week":
        year, week, _ = start.isocalendar()
        return messages.BUCKET_LABELS["week"].in_language(language, year=year, week=week)
    year = fiscal_year(start, fiscal_start)
    if bucket == "fiscal_year":
        return messages.BUCKET_LABELS["fiscal_year"].in_language(language, year=year)
    quarter = ((start.month - fiscal_start) % 12) // 3 + 1
    return messages.BUCKET_LABELS["fiscal_quarter"].in_language(language, year=year, quarter=quarter)


def range_bounds(index: int, boundaries: Sequence[Any]) -> tuple[Any, Any]:
    """(lower, upper) of range `index`: lower None for the first, upper None for the last (half-open)."""
    lower = boundaries[index - 1] if index > 0 else None
    upper = boundaries[index] if index < len(boundaries) else None
    return lower, upper


def range_key(index: int, boundaries: Sequence[Any]) -> Any:
    """A range's key: its lower bound; the range below the first boundary is keyed "<first"."""
    lower, upper = range_bounds(index, boundaries)
    return lower if lower is not None else f"<{upper}"


def range_index(key: Any, boundaries: Sequence[Any]) -> int | None:
    """The index of the range a key names (see `range_key`), None if it names none."""
    for index in range(len(boundaries) + 1):
        made = range_key(index, boundaries)
        if str(made) == str(key) or (not isinstance(made, str) and not isinstance(key, (str, bool))
                                     and _number(key) == _number(made)):
            return index
    return None


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def range_label(index: int, boundaries: Sequence[Any]) -> str:
    lower, upper = range_bounds(index, boundaries)
    if lower is None:
        return f"< {plain_label(upper, 'en')}"
    if upper is None:
        return f"≥ {plain_label(lower, 'en')}"
    return f"{plain_label(lower, 'en')}–{plain_label(upper, 'en')}"
