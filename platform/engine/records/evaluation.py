"""Running the admin's expressions for one record: defaults, formulas, validation rules.

Everything runs in the sandbox. Values of related records (`account.industry`) are
loaded once per save, only for the fields the object's expressions actually read.

A stored formula that fails (division by zero, a sandbox limit, a result that does not
fit its type) does not block the save: its value is None and the record's
`formula_errors` system field says why ({field: reason}), until it computes again. Each
failure is also logged on the `crmkit.formulas` logger. A validation rule that fails
refuses the save with a record-level error naming the rule and the reason.
"""
from __future__ import annotations

import logging
import reprlib
from typing import Any, Callable, Collection, Mapping

from marshmallow import ValidationError
from sqlalchemy import Connection, select

from crmkit.engine import messages
from crmkit.engine.automation.transitions import transition_errors
from crmkit.engine.fieldtypes import coerce, error_messages
from crmkit.engine.records.errors import RECORD_ERRORS
from crmkit.engine.runtime import Runtime
from crmkit.metadata.model import FORMULA_ERRORS, SYSTEM_FIELDS, FieldDef, ObjectDef
from crmkit.sandbox import EMPTY_RECORD, RecordView, SandboxError, compile_expression

logger = logging.getLogger("crmkit.formulas")
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 80


def load_related(connection: Connection, runtime: Runtime, obj: ObjectDef, values: Mapping[str, Any]) -> dict[str, RecordView]:
    """RecordViews of the records this record's lookups point to, with the fields expressions read.

    On PostgreSQL the rows read are locked FOR NO KEY UPDATE until the transaction ends: a
    stored formula computed from them (`par.name`) cannot go stale, because a concurrent
    change of one waits for this save to commit (and its propagation then sees this record),
    or this read waits for that change to commit and reads the new value. (FOR KEY SHARE
    would not make an update of `name` wait; FOR SHARE would deadlock two children of one
    parent when both then lock it to recompute its rollups.) SQLite runs one write
    transaction at a time and needs no lock.
    """
    related: dict[str, RecordView] = {}
    for lookup, fields in runtime.registry.related_reads.get(obj.name, {}).items():
        target_id = values.get(lookup)
        if target_id is None:
            related[lookup] = EMPTY_RECORD
            continue
        table = runtime.table(obj.fields[lookup].to)
        columns = sorted(set(fields) | {"id"})
        query = select(*(table.c[f] for f in columns)).where(table.c.id == target_id)
        if not runtime.is_sqlite:
            query = query.with_for_update(key_share=True)
        row = connection.execute(query).first()
        related[lookup] = RecordView(dict(row._mapping)) if row else EMPTY_RECORD
    return related


def record_functions(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
    """`previous(field)` and `changed(field)`: on create there is no previous value and nothing changed."""

    def previous_value(name: str) -> Any:
        return previous.get(name) if previous is not None else None

    def changed(name: str) -> bool:
        return previous is not None and previous.get(name) != current.get(name)

    return {"previous": previous_value, "changed": changed}


class Evaluator:
    """Evaluates one object's expressions against a record's values."""

    def __init__(self, runtime: Runtime, obj: ObjectDef) -> None:
        self.runtime = runtime
        self.obj = obj
        self.formula_fields = [obj.fields[name] for name in runtime.registry.formula_order.get(obj.name, ())]
        self._result_fields: dict[str, Any] = {}
        #: Every name an expression may read; those without a value yet (e.g. `id` on create) read as None.
        self._blank = dict.fromkeys((*obj.fields, *SYSTEM_FIELDS))
        #: The names expressions read as the record's values (they shadow the helper functions).
        self.names = frozenset(self._blank)
        self.lookups = tuple(name for name, fdef in obj.fields.items() if fdef.is_lookup)
        # On create nothing has a previous value, so these functions never change: build them once.
        self._create_functions = dict(runtime.functions)
        self._create_functions.update(record_functions(None, {}))

    def _namespace(self, values: Mapping[str, Any], related: Mapping[str, RecordView]) -> dict[str, Any]:
        namespace = dict(self._blank)
        namespace.update(values)
        # A lookup always reads as a record (`account.id`, `account.name`); an empty one is a falsy record.
        for name in self.lookups:
            target_id = values.get(name)
            namespace[name] = RecordView({"id": target_id}) if target_id is not None else EMPTY_RECORD
        namespace.update(related)
        return namespace

    def _functions(self, values: Mapping[str, Any], previous: Mapping[str, Any] | None,
                   clock: Mapping[str, Callable[..., Any]] | None = None) -> dict[str, Any]:
        """Helpers for one evaluation; `clock` (the actor's `today`/`now`, see records.clock) replaces the defaults."""
        if previous is None:
            functions = self._create_functions
        else:
            functions = dict(self.runtime.functions)
            functions.update(record_functions(previous, values))
        if clock:
            functions = {**functions, **clock}
        return functions

    def scope(self, values: Mapping[str, Any], related: Mapping[str, RecordView], previous: Mapping[str, Any] | None,
              clock: Mapping[str, Callable[..., Any]] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(names, functions) an expression over `values` sees: what formulas and rules see (automation rules too)."""
        return self._namespace(values, related), self._functions(values, previous, clock)

    def default(self, fdef: FieldDef, values: Mapping[str, Any], related: Mapping[str, RecordView],
                clock: Mapping[str, Callable[..., Any]] | None = None) -> Any:
        if fdef.default_expression:
            namespace = self._namespace(values, related)
            return compile_expression(fdef.default_expression).evaluate(namespace, self._functions(values, None, clock))
        return list(fdef.default) if isinstance(fdef.default, tuple) else fdef.default

    def formulas_and_rules(
        self,
        values: dict[str, Any],
        related: Mapping[str, RecordView],
        previous: Mapping[str, Any] | None,
        operation: str,
        language: str,
        clock: Mapping[str, Callable[..., Any]] | None = None,
        reasons: bool = True,
        unread: Collection[str] = frozenset(),
    ) -> dict[str, list[str]]:
        """Compute the formulas into `values`, then check the rules on the result: one namespace for both.

        `unread`: fields whose given value was refused (an import gathering every fault of a row): a rule
        reading one of them, or a formula computed from one, is not checked (it would judge a blank).

        `clock` gives the rules the acting user's `today()`/`now()` (formulas cannot call them); `reasons`:
        whether a rule that could not be checked is refused with the sandbox's reason (administrators, the
        platform) or with a sentence that withholds it (automation/rule_errors.py `may_see_reasons`).
        """
        namespace = self._namespace(values, related)
        functions = self._functions(values, previous, clock)
        self._compute(values, namespace, functions, None)
        errors = self._check(namespace, functions, operation, language, reasons, self._tainted(unread))
        if self.obj.transitions and not unread:
            for name, texts in transition_errors(self.obj, previous, values, namespace, functions, language,
                                                 reasons).items():
                errors.setdefault(name, []).extend(texts)
        return errors

    def compute_formulas(
        self,
        values: dict[str, Any],
        related: Mapping[str, RecordView],
        previous: Mapping[str, Any] | None,
        only: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """Compute formulas in dependency order into `values`; returns the formula values computed."""
        namespace = self._namespace(values, related)
        return self._compute(values, namespace, self._functions(values, previous), only)

    def _compute(self, values: dict[str, Any], namespace: dict[str, Any], functions: dict[str, Any],
                 only: frozenset[str] | None) -> dict[str, Any]:
        """Formula values, plus FORMULA_ERRORS: the failures of this run and those kept from others."""
        results: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if only is not None:  # formulas not recomputed now keep the failures recorded for them
            errors = {name: reason for name, reason in (values.get(FORMULA_ERRORS) or {}).items()
                      if name not in only and name in self.obj.fields}
        for fdef in self.formula_fields:
            if only is not None and fdef.name not in only:
                continue
            value, problem = self._formula_value(fdef, namespace, functions)
            if problem is not None:
                errors[fdef.name] = problem
                logger.warning("formula %s.%s of %s record %s could not be computed: %s", self.obj.name,
                               fdef.name, self.obj.name, values.get("id") or "(new)", problem)
            namespace[fdef.name] = values[fdef.name] = results[fdef.name] = value
        values[FORMULA_ERRORS] = results[FORMULA_ERRORS] = errors or None
        return results

    def _formula_value(self, fdef: FieldDef, namespace: dict[str, Any],
                       functions: dict[str, Any]) -> tuple[Any, str | None]:
        """(value, None), or (None, why) for a formula that fails: it stores no value rather than blocking the save."""
        try:
            raw = compile_expression(fdef.formula).evaluate(namespace, functions)
        except SandboxError as error:
            return None, str(error)
        return self._coerced(fdef, raw)

    def coerce_result(self, fdef: FieldDef, raw: Any) -> Any:
        """A formula's raw result as its field stores it; None when it does not fit."""
        return self._coerced(fdef, raw)[0]

    def _coerced(self, fdef: FieldDef, raw: Any) -> tuple[Any, str | None]:
        if raw is None:
            return None, None
        result_field = self._result_fields.get(fdef.name)
        if result_field is None:
            field_type = self.runtime.field_types[fdef.value_type]
            if field_type.input_field is None:
                return raw, None
            result_field = self._result_fields[fdef.name] = field_type.input_field(fdef)
        if fdef.value_type == "integer" and isinstance(raw, float):
            raw = round(raw)
        try:
            return coerce(result_field, raw), None
        except (ValidationError, TypeError, ValueError, ArithmeticError) as error:
            messages = error.messages if isinstance(error, ValidationError) else [str(error)]
            detail = " ".join(error_messages(messages))
            return None, f"the result {_short.repr(raw)} is not a valid {fdef.value_type} value: {detail}"

    def _tainted(self, unread: Collection[str]) -> frozenset[str]:
        """`unread` and the formulas computed from them, directly or through other formulas."""
        tainted = set(unread)
        growing = bool(tainted)
        while growing:
            growing = False
            for fdef in self.obj.fields.values():
                if fdef.formula and fdef.name not in tainted and compile_expression(fdef.formula).value_names & tainted:
                    tainted.add(fdef.name)
                    growing = True
        return frozenset(tainted)

    def _check(self, namespace: dict[str, Any], functions: dict[str, Any], operation: str,
               language: str, reasons: bool = True, unread: frozenset[str] = frozenset()) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for rule in self.obj.validations:
            if operation not in rule.on:
                continue
            target = rule.field or RECORD_ERRORS
            try:
                condition = compile_expression(rule.condition)
                if unread and condition.value_names & unread:
                    continue
                invalid = condition.evaluate(namespace, functions)
            except SandboxError as error:
                # A rule that cannot be judged refuses the save: passing it silently would let bad data in.
                errors.setdefault(RECORD_ERRORS, []).append(
                    messages.VALIDATION_UNCHECKED.in_language(language, rule=rule.name, reason=str(error)) if reasons
                    else messages.VALIDATION_UNCHECKED_WITHHELD.in_language(language, rule=rule.name))
                logger.warning("validation rule %s.%s could not be checked for %s record %s: %s", self.obj.name,
                               rule.name, self.obj.name, namespace.get("id") or "(new)", error)
                continue
            if invalid:
                errors.setdefault(target, []).append(rule.message.get(language))
        return errors

