"""List filters: the operators each field type offers above a list, as query-string controls.

A list filter is an HTML form sent with GET; every control's `param` is a key of the query
language's query-string form (docs/query.md), so the list view hands `request.args` to
`parse_query_string` unchanged:

    amount__gte=1000&amount__lte=5000     a number range ("between")
    close_date=this_quarter               a relative date
    stage__in=Won&stage__in=Lost          a picklist in-list
    account__eq=42                        a lookup
    email__is_null=true                   empty fields
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.fieldtypes.widgets import Choice, number_attributes
from crmkit.metadata.model import FieldDef, Label


def _label(en: str, zh: str) -> Label:
    return Label.of({"en": en, "zh": zh})


#: The operators a list filter can offer, with their labels, and the query operators each needs.
FILTER_OPERATORS: Mapping[str, tuple[Label, frozenset[str]]] = {
    "contains": (_label("Contains", "包含"), frozenset({"contains"})),
    "startswith": (_label("Starts with", "开头是"), frozenset({"startswith"})),
    "eq": (_label("Is", "等于"), frozenset({"eq"})),
    "in": (_label("Is any of", "属于其中之一"), frozenset({"in"})),
    "between": (_label("Between", "介于"), frozenset({"gte", "lte"})),
    "relative": (_label("In the period", "在期间内"), frozenset({"eq"})),
    "is_null": (_label("Empty or not", "是否为空"), frozenset({"is_null"})),
}
#: Value kinds whose fields take relative dates ("this_quarter") wherever a date is expected.
DATE_KINDS = frozenset({"date", "datetime"})

#: Relative dates a filter offers (each one the query language reads, docs/query.md), with labels.
RELATIVE_DATES: tuple[tuple[str, Label], ...] = (
    ("today", _label("Today", "今天")),
    ("yesterday", _label("Yesterday", "昨天")),
    ("tomorrow", _label("Tomorrow", "明天")),
    ("this_week", _label("This week", "本周")),
    ("last_week", _label("Last week", "上周")),
    ("next_week", _label("Next week", "下周")),
    ("this_month", _label("This month", "本月")),
    ("last_month", _label("Last month", "上月")),
    ("next_month", _label("Next month", "下月")),
    ("this_quarter", _label("This quarter", "本季度")),
    ("last_quarter", _label("Last quarter", "上季度")),
    ("next_quarter", _label("Next quarter", "下季度")),
    ("this_year", _label("This year", "今年")),
    ("last_year", _label("Last year", "去年")),
    ("next_year", _label("Next year", "明年")),
    ("last_n_days:7", _label("Last 7 days", "最近 7 天")),
    ("last_n_days:30", _label("Last 30 days", "最近 30 天")),
    ("last_n_days:90", _label("Last 90 days", "最近 90 天")),
    ("next_n_days:7", _label("Next 7 days", "未来 7 天")),
    ("next_n_days:30", _label("Next 30 days", "未来 30 天")),
)

#: What a field type offers when it declares nothing: by its (resolved) widget, else by value kind.
DEFAULT_BY_WIDGET: Mapping[str, tuple[str, ...]] = {
    "select": ("in", "is_null"),
    "multiselect": ("contains", "is_null"),
    "checkbox": ("eq",),
    "lookup": ("eq", "is_null"),
}
DEFAULT_BY_VALUE_KIND: Mapping[str, tuple[str, ...]] = {
    "text": ("contains", "is_null"),
    "integer": ("between", "is_null"),
    "decimal": ("between", "is_null"),
    "date": ("relative", "between", "is_null"),
    "datetime": ("relative", "between", "is_null"),
    "boolean": ("eq",),
    "list": ("contains", "is_null"),
    "reference": ("eq", "is_null"),
}


def check_filter_operators(type_name: str, value_kind: str, declared: Sequence[str], allowed: frozenset[str]) -> None:
    """Raise ValueError (a sentence) if a type declares a filter operator its values cannot be filtered by."""
    for name in declared:
        if name not in FILTER_OPERATORS:
            raise ValueError(f"the field type '{type_name}' declares the filter operator '{name}'; "
                             f"filter operators are {', '.join(FILTER_OPERATORS)}.")
        needed = FILTER_OPERATORS[name][1]
        if not needed <= allowed or (name == "relative" and value_kind not in DATE_KINDS):
            raise ValueError(f"the field type '{type_name}' declares the filter operator '{name}', "
                             f"which its values ({value_kind}) cannot be filtered with.")


@dataclass(frozen=True)
class FilterControl:
    """One input of a list filter: `param` is its query-string key, `value`/`choices` what is given now.

    `control` is "input" (with `input_type` text, number or date), "select" (`multiple` for
    in-lists) or "lookup" (a select holding the chosen record; others come from `lookup_object`'s
    suggestions).
    """

    operator: str
    param: str
    id: str
    label: str
    control: str
    input_type: str = ""
    value: str = ""
    choices: tuple[Choice, ...] = ()
    multiple: bool = False
    attributes: tuple[tuple[str, str], ...] = ()
    lookup_object: str | None = None


@dataclass(frozen=True)
class FieldFilter:
    """The list filter of one field: its label, the operators offered (name, label) and their controls."""

    name: str
    id: str
    label: str
    operators: tuple[tuple[str, str], ...]
    controls: tuple[FilterControl, ...]

    @property
    def active(self) -> bool:
        """Whether any control holds a value (the list is filtered by this field)."""
        return any(control.value or any(choice.selected and choice.value for choice in control.choices)
                   for control in self.controls)


def given_values(args: Any, key: str) -> list[str]:
    """Every value of `key` in query-string arguments: a werkzeug MultiDict, or a mapping of text or lists."""
    if args is None:
        return []
    if hasattr(args, "getlist"):
        return [str(value) for value in args.getlist(key)]
    value = args.get(key)
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, (list, tuple)) else [str(value)]


def _choices(pairs: Sequence[tuple[str, str]], given: Sequence[str]) -> tuple[Choice, ...]:
    chosen = set(given)
    return tuple(Choice(value, label, value in chosen) for value, label in pairs)


def _option_pairs(fdef: FieldDef, show: Presentation) -> list[tuple[str, str]]:
    return [(option.value, show.label(option.label) or option.value) for option in fdef.options]


def filter_controls(operator: str, fdef: FieldDef, widget: str, value_kind: str, show: Presentation, args: Any,
                    id_prefix: str, lookup_title: str | None = None) -> list[FilterControl]:
    """The controls of one filter operator on one field, holding the values given in `args`."""
    name, base = fdef.name, f"{id_prefix}{fdef.name}"
    label = show.label(FILTER_OPERATORS[operator][0])

    def control(param: str, suffix: str, **kwargs: Any) -> FilterControl:
        kwargs.setdefault("label", label)
        return FilterControl(operator, param, f"{base}-{suffix}", control=kwargs.pop("control", "input"), **kwargs)

    if operator == "between":
        dates = value_kind in DATE_KINDS
        attributes = () if dates else tuple(number_attributes(fdef, widget, value_kind).items())
        kind = "date" if dates else "number"
        return [control(f"{name}__{op}", op, label=show.text(word), input_type=kind, attributes=attributes,
                        value=(given_values(args, f"{name}__{op}") or [""])[-1])
                for op, word in (("gte", "from"), ("lte", "to"))]
    if operator == "relative":
        param = name
        pairs = [("", show.text("any"))] + [(value, show.label(text)) for value, text in RELATIVE_DATES]
        return [control(param, "period", control="select", choices=_choices(pairs, given_values(args, param)[-1:]))]
    if operator == "is_null":
        param = f"{name}__is_null"
        pairs = [("", show.text("any")), ("true", show.text("is_empty")), ("false", show.text("has_value"))]
        return [control(param, "empty", control="select", choices=_choices(pairs, given_values(args, param)[-1:]))]
    param = f"{name}__{operator}"
    given = given_values(args, param)
    if operator in ("eq", "in") and (widget == "lookup" or fdef.options):
        # `account=16` (a related list's "View all", a link someone wrote) is the same filter: the
        # control shows it, so the list says how it is filtered and the next search keeps it.
        given += [value for value in given_values(args, name) if value not in given]
    if widget == "lookup" and operator in ("eq", "in"):
        chosen = given[-1:] if operator == "eq" else given
        pairs = [(value, lookup_title or show.text("record", id=value)) for value in chosen]
        return [control(param, operator, control="lookup", choices=_choices(pairs, chosen),
                        multiple=operator == "in", lookup_object=fdef.to)]
    if value_kind == "boolean":
        pairs = [("", show.text("any")), ("true", show.text("yes")), ("false", show.text("no"))]
        return [control(param, operator, control="select", choices=_choices(pairs, given[-1:]))]
    if fdef.options and operator in ("eq", "in", "contains"):
        return [control(param, operator, control="select", choices=_choices(_option_pairs(fdef, show), given),
                        multiple=True)]
    kind = {"integer": "number", "decimal": "number", "date": "date", "datetime": "date"}.get(value_kind, "text")
    return [control(param, operator, input_type=kind, value=(given or [""])[-1])]
