"""Step three of validation: does the metadata make sense as a whole?

References resolve, names are safe, options fit their field types, expressions compile
and read only what exists. Every check reports a Problem at the place it was written.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from crmkit.metadata.catalog import Catalog
from crmkit.metadata.clock import DATE_KINDS, SYSTEM_MOMENTS, formula_clock_problem, relative_dates, rollup_clock_problem
from crmkit.metadata.dependent_picklists import dependent_picklist_problems
from crmkit.metadata.errors import Problem, did_you_mean
from crmkit.metadata.expressions import ExpressionReport, analyse
from crmkit.metadata.model import SYSTEM_FIELDS, FieldDef, ObjectDef, SourceLocation
from crmkit.metadata.names import POSTGRESQL_SYSTEM_COLUMNS, name_problem
from crmkit.metadata.source import SourceDocument

#: The most digits of a decimal, currency or percent field: Salesforce's limit for Number fields, and what
#: the engine stores exactly on every database (a 64-bit integer on SQLite).
MAX_NUMBER_PRECISION = 18

ROLLUP_NUMERIC = frozenset({"integer", "decimal"})
ROLLUP_ORDERED = frozenset({"integer", "decimal", "date", "datetime"})

#: The highest start of an autonumber: its counter is a signed 64-bit integer on both databases.
MAX_AUTONUMBER_START = 2 ** 63 - 1


@dataclass
class Reporter:
    """Collects problems, placing each as precisely as the source documents allow."""

    documents: Mapping[str, SourceDocument] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def at(self, location: SourceLocation, message: str, *option: str | int, at_key: bool = False) -> None:
        document = self.documents.get(location.file)
        if document is not None:
            path = location.path + tuple(option)
            self.problems.append(document.problem(path, message, at_key=at_key or not option))
        else:
            self.problems.append(Problem(location.file, location.line, location.column, message, location.path))


@dataclass(frozen=True)
class ObjectScope:
    """What checks of one object need to see: the object and every object it may refer to."""

    obj: ObjectDef
    objects: Mapping[str, ObjectDef]
    catalog: Catalog


def check_object(scope: ObjectScope, report: Reporter) -> dict[str, ExpressionReport]:
    """Check one merged object; returns the analysis of its expressions, keyed by what they belong to."""
    obj = scope.obj
    problem = name_problem(obj.name, "object")
    if problem:
        report.at(obj.location, problem, at_key=True)
    analyses: dict[str, ExpressionReport] = {}
    for fdef in obj.fields.values():
        check_field(scope, fdef, report)
        analyses.update(_field_expressions(scope, fdef, report))
    _check_object_options(scope, report)
    seen: set[str] = set()
    for rule in obj.validations:
        if rule.name in seen:
            report.at(rule.location, f"two validation rules of {obj.name} are named '{rule.name}'; rename one.", "name")
        seen.add(rule.name)
        if rule.field and rule.field not in obj.fields:
            report.at(rule.location, _no_field(obj, rule.field, "the rule's 'field'"), "field")
        result = analyse(rule.condition, obj, scope.objects, scope.catalog.function_names, "condition")
        for message in result.problems:
            report.at(rule.location, message, "condition")
        analyses[f"validation:{rule.name}"] = result
    return analyses


def _check_object_options(scope: ObjectScope, report: Reporter) -> None:
    obj = scope.obj
    if obj.title_field and obj.title_field in SYSTEM_FIELDS:
        report.at(obj.location, f"title_field names '{obj.title_field}', a system field; the title is one of "
                                f"{obj.name}'s own fields (its name, usually): name one of them.", "title_field")
    elif obj.title_field and obj.title_field not in obj.fields:
        report.at(obj.location, _no_field(obj, obj.title_field, "title_field"), "title_field")
    if getattr(obj, "renamed_from", None) and obj.renamed_from != obj.name and obj.renamed_from in scope.objects \
            and not scope.catalog.lenient(scope.obj.package):
        report.at(obj.location, f"renamed_from names '{obj.renamed_from}', an object the packages still declare, so "
                                "nothing would be renamed; name the object this one was called before, or leave "
                                "renamed_from out.", "renamed_from")
    for number, index in enumerate(obj.indexes):
        for name in index.fields:
            if name not in obj.fields and name not in SYSTEM_FIELDS:
                report.at(obj.location, _no_field(obj, name, "the index"), "indexes", number)
    for number, entry in enumerate(obj.default_sort):
        name = entry.lstrip("-")
        if name not in obj.fields and name not in SYSTEM_FIELDS:
            report.at(obj.location, _no_field(obj, name, "default_sort"), "default_sort", number)


def check_field(scope: ObjectScope, fdef: FieldDef, report: Reporter) -> None:
    catalog = scope.catalog
    installed = catalog.lenient(fdef.package)  # read back from the database: rules added since are not applied
    problem = name_problem(fdef.name, "field")
    if problem and not (installed and fdef.name in POSTGRESQL_SYSTEM_COLUMNS):
        report.at(fdef.location, problem, at_key=True)
    kind = catalog.kind(fdef.type)
    if kind is None:
        hint = did_you_mean(fdef.type, catalog.kinds) or f" Known types: {', '.join(sorted(catalog.kinds))}."
        report.at(fdef.location, f"'{fdef.type}' is not a field type.{hint}", "type")
        return
    for option in sorted(fdef.given_options):
        if not kind.accepts(option):
            users = sorted(name for name, other in catalog.kinds.items() if option in other.options)
            where = f"; it is for {', '.join(users)} fields" if users else ""
            report.at(fdef.location, f"'{option}' does not apply to a {fdef.type} field{where}.", option, at_key=True)
    for option in sorted(kind.required_options - fdef.given_options):
        report.at(fdef.location, f"a {fdef.type} field needs '{option}'.")
    if kind.computed:
        for flag in ("required", "default", "unique"):
            if flag in fdef.given_options:
                report.at(fdef.location, f"'{flag}' does not apply to a {fdef.type} field: its value is computed.", flag, at_key=True)
    elif fdef.unique and not kind.indexable:
        report.at(fdef.location, f"a {fdef.type} field cannot be unique.", "unique")
    for issue, option in _type_specific_problems(scope, fdef):
        report.at(fdef.location, issue, *option)
    if fdef.renamed_from and fdef.renamed_from != fdef.name and fdef.renamed_from in scope.obj.fields \
            and not installed:
        report.at(fdef.location, f"renamed_from names '{fdef.renamed_from}', a field {scope.obj.name} still declares, "
                                 "so nothing would be renamed; name the field this one was called before (one the "
                                 "package no longer declares), or leave renamed_from out.", "renamed_from")
    if fdef.default is not None and not kind.computed and kind.value_problem is not None and not installed \
            and fdef.type not in ("picklist", "multi_picklist"):  # picklists: their options are checked above
        problem = kind.value_problem(fdef, list(fdef.default) if isinstance(fdef.default, tuple) else fdef.default)
        if problem:
            report.at(fdef.location, f"the default {fdef.default!r} is not a value this field accepts: {problem} "
                                     "Give one it accepts, or leave default out.", "default")


def _type_specific_problems(scope: ObjectScope, fdef: FieldDef) -> Iterator[tuple[str, tuple]]:
    if fdef.min is not None and fdef.max is not None and fdef.min > fdef.max:
        yield f"min ({fdef.min}) is greater than max ({fdef.max}).", ("min",)
    if fdef.precision is not None and fdef.scale is not None and fdef.scale > fdef.precision:
        yield f"scale ({fdef.scale}) cannot be greater than precision ({fdef.precision}).", ("scale",)
    if fdef.precision is not None and fdef.precision > MAX_NUMBER_PRECISION:
        yield (f"precision {fdef.precision} is more digits than a number field holds exactly; "
               f"use at most {MAX_NUMBER_PRECISION} (as Salesforce does).", ("precision",))
    elif fdef.scale is not None and fdef.precision is None and fdef.scale > MAX_NUMBER_PRECISION:
        yield f"scale {fdef.scale} is more than the {MAX_NUMBER_PRECISION} digits a number field holds.", ("scale",)
    if fdef.type == "lookup":
        yield from _lookup_problems(scope, fdef)
    if fdef.type in ("picklist", "multi_picklist"):
        yield from _picklist_problems(fdef)
        yield from dependent_picklist_problems(scope.obj, fdef)
    if fdef.type == "formula" and fdef.returns and fdef.returns not in scope.catalog.formula_result_types:
        allowed = scope.catalog.formula_result_types
        yield (f"a formula cannot return '{fdef.returns}'; use one of {', '.join(allowed)}."
               f"{did_you_mean(fdef.returns, allowed)}", ("returns",))
    if fdef.type == "rollup":
        yield from _rollup_problems(scope, fdef)
    if fdef.type == "autonumber" and fdef.format:
        problem = autonumber_format_problem(fdef.format)
        if problem:
            yield problem, ("format",)
    if fdef.type == "autonumber" and not -MAX_AUTONUMBER_START <= fdef.start <= MAX_AUTONUMBER_START \
            and not scope.catalog.lenient(scope.obj.package):
        yield (f"start {fdef.start} is beyond the 64-bit counter both databases keep for an autonumber; use a "
               f"number of at most {MAX_AUTONUMBER_START:,}.", ("start",))


def _lookup_problems(scope: ObjectScope, fdef: FieldDef) -> Iterator[tuple[str, tuple]]:
    if fdef.to and fdef.to not in scope.objects:
        hint = did_you_mean(fdef.to, scope.objects) or " Add the package that defines it to depends_on."
        yield f"the lookup points to '{fdef.to}', which is not an object here.{hint}", ("to",)
    if fdef.required and fdef.on_delete == "set_null":
        yield ("a required lookup cannot use on_delete: set_null (the record would be left without it); "
               "use restrict or cascade."), ("on_delete",)


def _picklist_problems(fdef: FieldDef) -> Iterator[tuple[str, tuple]]:
    values = fdef.option_values
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        yield f"the options list {', '.join(repr(d) for d in duplicates)} more than once.", ("options",)
    defaults = fdef.default if isinstance(fdef.default, tuple) else (fdef.default,)
    for value in defaults:
        if value is not None and value not in values:
            hint = did_you_mean(str(value), values) or f" Options are: {', '.join(values)}."
            yield f"the default '{value}' is not one of the options.{hint}", ("default",)
    if fdef.type == "picklist" and isinstance(fdef.default, tuple):
        yield "a picklist holds one value; its default cannot be a list.", ("default",)


def _rollup_problems(scope: ObjectScope, fdef: FieldDef) -> Iterator[tuple[str, tuple]]:
    rollup, obj = fdef.rollup, scope.obj
    if rollup is None:
        return
    child = scope.objects.get(rollup.child_object)
    if child is None:
        hint = did_you_mean(rollup.child_object, scope.objects)
        yield f"the rollup reads from '{rollup.child_object}', which is not an object here.{hint}", ("from",)
        return
    via = child.fields.get(rollup.via)
    if via is None or not via.is_lookup or via.to != obj.name:
        lookups = [f"{child.name}.{f.name}" for f in child.fields.values() if f.is_lookup and f.to == obj.name]
        hint = f" Lookups from {child.name} to {obj.name}: {', '.join(lookups)}." if lookups else ""
        yield f"'{rollup.via}' is not a lookup from {child.name} to {obj.name}.{hint}", ("from",)
    if rollup.aggregate != "count" and not rollup.field:
        yield f"a {rollup.aggregate} rollup needs 'field': the {child.name} field to aggregate.", ()
    if rollup.field:
        target = child.fields.get(rollup.field)
        if target is None:
            yield _no_field(child, rollup.field, "the rollup's 'field'"), ("field",)
        else:
            kind = scope.catalog.kind(target.value_type)
            value_kind = kind.value_kind if kind else ""
            allowed = ROLLUP_NUMERIC if rollup.aggregate in ("sum", "avg") else ROLLUP_ORDERED
            if rollup.aggregate != "count" and value_kind not in allowed:
                yield f"cannot {rollup.aggregate} '{rollup.field}', a {target.value_type} field.", ("field",)
    for key in (rollup.condition or {}):
        name = key.split(".")[0]
        if key not in ("and", "or", "not") and name not in child.fields and name not in SYSTEM_FIELDS:
            yield _no_field(child, name, "the rollup's condition"), ("condition",)
    for key, value in relative_dates(rollup.condition, lambda key: _holds_date(scope, child, key)):
        yield rollup_clock_problem(key, value), ("condition",)


def _holds_date(scope: ObjectScope, obj: ObjectDef, key: str) -> bool:
    """Whether the filter key `field` or `lookup.field` of `obj` holds a date or date-time."""
    head, _, tail = str(key).partition(".")
    if head in SYSTEM_MOMENTS and not tail:
        return True
    fdef = obj.fields.get(head)
    if fdef is not None and tail and fdef.is_lookup:
        target = scope.objects.get(fdef.to or "")
        return target is not None and _holds_date(scope, target, tail.split(".")[0])
    if fdef is None or tail:
        return False
    kind = scope.catalog.kind(fdef.value_type)
    return kind is not None and kind.value_kind in DATE_KINDS


def _field_expressions(scope: ObjectScope, fdef: FieldDef, report: Reporter) -> dict[str, ExpressionReport]:
    results = {}
    for option, source in (("formula", fdef.formula), ("default", fdef.default_expression)):
        if source:
            result = analyse(source, scope.obj, scope.objects, scope.catalog.function_names, option)
            for message in result.problems:
                report.at(fdef.location, message, option)
            clock = formula_clock_problem(source) if option == "formula" and not result.problems else None
            if clock:
                report.at(fdef.location, clock, option)
            results[f"{option}:{fdef.name}"] = result
    return results


def autonumber_format_problem(text: str) -> str | None:
    """Only literal text and one `{0}` or `{0:05d}` placeholder: the format is never an attack surface."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as error:
        return f"the format '{text}' is not valid ({error}); write it like ACC-{{0:05d}}."
    placeholders = [(name, spec, conversion) for _, name, spec, conversion in parts if name is not None]
    if len(placeholders) != 1:
        return f"the format '{text}' needs exactly one number placeholder, such as ACC-{{0:05d}}."
    name, spec, conversion = placeholders[0]
    if name not in ("", "0") or conversion or not _number_spec(spec or ""):
        return f"the placeholder in '{text}' must be {{0}} or {{0:0Nd}} (N digits), such as ACC-{{0:05d}}."
    return None


def _number_spec(spec: str) -> bool:
    if spec == "":
        return True
    return len(spec) <= 4 and spec.endswith("d") and spec[:-1].isascii() and spec[:-1].isdigit()


def _no_field(obj: ObjectDef, name: str, what: str) -> str:
    hint = did_you_mean(name, list(obj.fields) + list(SYSTEM_FIELDS))
    return f"{what} names '{name}', which is not a field of {obj.name}.{hint}"
