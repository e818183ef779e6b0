"""Fields as one user sees and edits them: display text, form widgets and list filters, from the field types.

    presenter = FieldPresenter.for_context(crm.as_user(7), currency="CNY")
    account = presenter.registry.object("account")
    record = crm.as_user(7).records("account").get(42)
    presenter.display(account.fields["annual_revenue"], record).text      # '¥1,200,000.00'
    presenter.widget(account.fields["rating"], record)                     # a select, labels in zh
    presenter.list_filter(account.fields["created_at"], request.args)      # relative dates and a range
    values = presenter.submitted(account, request.form)                     # ready for records.update

Rows are the engine's shaped rows (security/shaping.py): a field missing from a row is one
the user may not read, and is shown as hidden, never as empty. Nothing here queries: a
lookup's title is given by the caller, read with the user's rights (`records.suggest`,
or the related record).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from crmkit.engine.fieldtypes import FieldType, FieldTypes
from crmkit.engine.fieldtypes.builtin import BUILTIN_TYPES
from crmkit.engine.fieldtypes.display import (
    BY_WIDGET, Display, as_display, currency_symbol, default_formatter, empty, hidden, is_empty, lookup_display,
    picklist_formatter, plain,
)
from crmkit.engine.fieldtypes.list_filters import FILTER_OPERATORS, FieldFilter, filter_controls, given_values
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.fieldtypes.widgets import (
    BUILTIN_WIDGETS, Choice, Widget, input_text, number_attributes, option_choices, submitted_value, text_attributes,
)
from crmkit.engine.query.filters import SYSTEM_DEFS
from crmkit.metadata.model import SYSTEM_FIELDS, FieldDef, Label, ObjectDef

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

#: Labels of the columns every object has.
SYSTEM_LABELS: Mapping[str, Label] = {
    name: Label.of({"en": en, "zh": zh}) for name, en, zh in (
        ("id", "ID", "编号"),
        ("created_at", "Created", "创建时间"),
        ("created_by", "Created by", "创建人"),
        ("updated_at", "Last modified", "最后修改时间"),
        ("updated_by", "Last modified by", "最后修改人"),
        ("owner_id", "Owner", "负责人"),
        ("version", "Version", "版本"),
        ("formula_errors", "Formula errors", "公式错误"),
    )
}
assert set(SYSTEM_LABELS) == set(SYSTEM_FIELDS)


@lru_cache(maxsize=None)
def _system_field(name: str) -> FieldDef:
    """A system field's definition with its label, read-only: one object per name (a list page's memo of shown
    values keeps a column per field definition, list_page.py)."""
    return replace(SYSTEM_DEFS[name], label=SYSTEM_LABELS[name], read_only=True)


@dataclass(frozen=True)
class FieldPresenter:
    """Display, widgets and list filters of fields for one user (`show`), from the installed field types."""

    field_types: FieldTypes
    registry: Any
    show: Presentation
    #: Prefix of every HTML id (`field-amount`, `field-amount-help`); two forms on a page need two prefixes.
    id_prefix: str = "field-"

    @classmethod
    def for_context(cls, context: "UserContext", currency: str | None = None, id_prefix: str = "field-"
                    ) -> "FieldPresenter":
        """The presenter of an engine context's user: their language and time zone, the given currency."""
        runtime = context.runtime
        return cls(runtime.field_types, runtime.registry, Presentation.for_actor(context.actor, currency), id_prefix)

    # ---- fields ---------------------------------------------------------------------------

    def field(self, obj: ObjectDef, name: str) -> FieldDef:
        """A field of `obj` by name, system fields (created_at, owner_id, ...) included, with their labels."""
        if name in obj.fields:
            return obj.fields[name]
        if name in SYSTEM_DEFS:
            return _system_field(name)
        raise KeyError(name)

    def label(self, fdef: FieldDef) -> str:
        """The field's label in the user's language (its name when it has none)."""
        return self.show.label(fdef.label) or fdef.name

    def value_field(self, fdef: FieldDef) -> tuple[FieldType, FieldDef]:
        """The type whose formatting a field's values get, and the definition giving their scale and options.

        A formula is shown as the type it returns; a count rollup as an integer, an average as a
        decimal, and a sum, minimum or maximum like the field it aggregates (a sum of amounts in
        the currency, a latest date as a date). The definition keeps the field's own name.
        """
        if fdef.type == "formula":
            return self.field_types[fdef.returns or "text"], fdef
        rollup = fdef.rollup
        if fdef.type == "rollup" and rollup is not None:
            if rollup.aggregate in ("count", "avg") or rollup.field is None:
                return self.field_types["integer" if rollup.aggregate == "count" else "decimal"], fdef
            child = self.registry.object(rollup.child_object).fields[rollup.field]
            child_type, child_def = self.value_field(child)
            return child_type, replace(child_def, name=fdef.name, label=fdef.label, help=fdef.help)
        return self.field_types[fdef.type], fdef

    # ---- display --------------------------------------------------------------------------

    def display(self, fdef: FieldDef, row: Mapping[str, Any], title: str | None = None) -> Display:
        """The field's value in a shaped row as the user reads it; hidden if the row withholds it."""
        if fdef.name not in row:
            return hidden(self.show)
        return self.display_value(fdef, row[fdef.name], title)

    def display_value(self, fdef: FieldDef, value: Any, title: str | None = None) -> Display:
        """A stored value of the field as the user reads it; `title` is a lookup's record title."""
        if is_empty(value):
            return empty(self.show)
        return self._formatter(fdef)(value, title)

    def displayer(self, fdef: FieldDef) -> Callable[[Mapping[str, Any], "str | None"], Display]:
        """`display(fdef, row, title)` with the field's type and formatter looked up once, for a column of many rows.

            shown = presenter.displayer(fdef)
            cells = [shown(row, titles.get(row.get(fdef.name))) for row in page.records]

        The same Display as `display` gives, row by row (hidden, empty, or the formatted value).
        """
        name, formatter = fdef.name, self._formatter(fdef)
        hidden_value, empty_value = hidden(self.show), empty(self.show)

        def shown(row: Mapping[str, Any], title: str | None = None) -> Display:
            if name not in row:
                return hidden_value
            value = row[name]
            if value is None or value == "" or (isinstance(value, (list, tuple)) and not value):
                return empty_value  # is_empty(value), inline: hundreds of cells a page
            return formatter(value, title)

        return shown

    def _formatter(self, fdef: FieldDef) -> Callable[[Any, "str | None"], Display]:
        """(value that is not empty, lookup title) -> Display, for the field's value type."""
        field_type, value_def = self.value_field(fdef)
        show = self.show
        own = field_type.formatter
        if own is not None:
            return lambda value, title: as_display(own(value_def, value, show), show)
        if field_type.kind.value_kind == "reference":
            return lambda value, title: lookup_display(value_def, value, show, title)
        builtin = default_formatter(field_type.form_widget, field_type.kind.value_kind)
        if builtin is BY_WIDGET["text"]:  # the commonest column: BY_WIDGET["text"] itself, one call less a cell
            return lambda value, title: plain("text", value if type(value) is str else str(value))
        if builtin is BY_WIDGET["select"]:  # a picklist's labels looked up once per column, not per cell
            picklist = picklist_formatter(value_def, show)
            return lambda value, title: picklist(value)
        return lambda value, title: builtin(value_def, value, show)

    # ---- forms ----------------------------------------------------------------------------

    def editable(self, fdef: FieldDef) -> bool:
        """Whether a form lets users type this field (not computed, not read_only, not a system field)."""
        own = self.field_types.types.get(fdef.type)
        return (fdef.name not in SYSTEM_FIELDS and not fdef.read_only and own is not None and own.writable)

    def widget(self, fdef: FieldDef, row: Mapping[str, Any] | None = None, *, typed: Sequence[str] | None = None,
               title: str | None = None, editable: bool = True) -> Widget:
        """The form widget of `fdef` holding the stored value of `row` (None: a new record), or `typed`.

        `typed` is every value the browser sent for the field (a form redisplayed after an
        error keeps it); `title` the title of a lookup's record; `editable=False` shows the
        value read-only (the user may read but not edit the field).
        """
        base = {"name": fdef.name, "id": f"{self.id_prefix}{fdef.name}", "label": self.label(fdef),
                "help": self.show.label(fdef.help)}
        if not (editable and self.editable(fdef)) or (row is not None and fdef.name not in row):
            shown = self.display(fdef, row, title) if row is not None else empty(self.show)
            return Widget(control="readonly", widget="readonly", display=shown, **base)
        field_type = self.field_types[fdef.type]
        widget = field_type.form_widget
        control, input_type = BUILTIN_WIDGETS[widget]
        stored = _stored(fdef, row)
        values = list(typed) if typed is not None else None
        attributes = _attributes(field_type, fdef, widget)
        extra: dict[str, Any] = {}
        if widget == "checkbox":
            extra["checked"] = submitted_value(widget, values, self.show) if values is not None else bool(stored)
        elif widget in ("select", "multiselect"):
            chosen = [v for v in values if v] if values is not None else _as_list(stored)
            choices = option_choices(fdef, chosen if widget == "multiselect" else chosen[-1:], self.show)
            if widget == "select":
                choices = (Choice("", self.show.text("none_selected"), not chosen),) + choices
            extra.update(choices=choices, multiple=widget == "multiselect")
        elif widget == "lookup":
            chosen = (values[-1] if values else "") if values is not None else ("" if stored is None else str(stored))
            picked = (Choice(chosen, title or self.show.text("record", id=chosen), True),) if chosen else ()
            extra.update(value=chosen, lookup_object=fdef.to, attributes=tuple(attributes.items()),
                         choices=(Choice("", self.show.text("none_selected"), not chosen),) + picked,
                         blank_label=self.show.text("search_records"))
        else:
            extra["value"] = (values[-1] if values else "") if values is not None else input_text(
                widget, stored, self.show)
        extra.setdefault("attributes", tuple(attributes.items()))
        return Widget(control=control, widget=field_type.widget, input_type=input_type, required=fdef.required,
                      hint=self.show.text("time_zone", zone=self.show.timezone) if widget == "datetime" else "",
                      prefix=currency_symbol(self.show) if widget == "currency" else "",
                      suffix="%" if widget == "percent" else "", **base, **extra)

    def submitted(self, obj: ObjectDef, form: Any, names: Sequence[str] | None = None) -> dict[str, Any]:
        """The editable fields a form sent (`form`: a MultiDict or a mapping), as input for records.create/update.

        Fields the form did not send are left out, so an update changes only what the form showed.
        """
        values: dict[str, Any] = {}
        for name in names if names is not None else list(obj.fields):
            fdef = obj.fields.get(name)
            given = given_values(form, name)
            if fdef is None or not given or not self.editable(fdef):
                continue
            values[name] = submitted_value(self.field_types[fdef.type].form_widget, given, self.show)
        return values

    # ---- list filters ---------------------------------------------------------------------

    def list_filter(self, fdef: FieldDef, args: Any = None, lookup_title: str | None = None) -> FieldFilter:
        """The list filter of `fdef`, holding the values given in query-string `args` (request.args)."""
        field_type, value_def = self.value_field(fdef)
        operators = field_type.list_filter_operators
        controls = [control for operator in operators for control in filter_controls(
            operator, value_def, field_type.form_widget, field_type.kind.value_kind, self.show, args,
            self.id_prefix, lookup_title)]
        labels = tuple((operator, self.show.label(FILTER_OPERATORS[operator][0])) for operator in operators)
        return FieldFilter(fdef.name, f"{self.id_prefix}{fdef.name}", self.label(fdef), labels, tuple(controls))


def _stored(fdef: FieldDef, row: Mapping[str, Any] | None) -> Any:
    """The stored value of a form, or a new record's static default."""
    if row is not None:
        return row.get(fdef.name)
    return fdef.default if fdef.default_expression is None else None


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    return [str(item) for item in value] if isinstance(value, (list, tuple)) else [str(value)]


def _attributes(field_type: FieldType, fdef: FieldDef, widget: str) -> dict[str, str]:
    """A widget's HTML attributes: its type's (limits, keyboard) and `autocomplete="off"` on every
    control but a checkbox. A record form describes a record, not the signed-in user: the HTML
    autofill tokens (`email`, `tel`, `url`, `name`...) mean the user's own details, so a browser
    would fill a contact's email with the user's own, and remembered entries of other forms
    would be offered. A field type that declares its own token (`input_attributes`, e.g.
    `tel-national`) keeps it; the input types (email, tel, url, number) stay for keyboards and checks."""
    if widget in ("number", "currency", "percent"):
        attributes = number_attributes(fdef, widget, field_type.kind.value_kind)
    elif widget in ("text", "textarea", "email", "tel", "url"):
        attributes = text_attributes(fdef, widget, builtin=field_type in BUILTIN_TYPES)
    elif widget == "datetime":
        attributes = {"step": "1"}  # stored moments keep their seconds: a minute step would refuse them
    else:
        attributes = {}
    if widget != "checkbox":
        attributes["autocomplete"] = "off"
    if field_type.input_attributes is not None:
        attributes.update({str(key): str(value) for key, value in field_type.input_attributes(fdef).items()})
    return attributes


