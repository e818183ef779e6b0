"""The save pipeline before the write: coercion, defaults, formulas, automation, validation rules.

    coercion and field validation -> defaults -> required, dependent picklists, lookups
    -> formulas -> before-save automation (formulas again) -> validation rules and stage transitions
    -> unique values -> (before-save hook, write, after-write step: see service.py and events.py)

One instance per object and runtime; it holds no per-record state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, Sequence

from marshmallow import ValidationError
from sqlalchemy import Connection, bindparam, insert, select, update

from crmkit.engine import messages
from crmkit.engine.automation.transitions import unlisted_move_errors
from crmkit.engine.fieldtypes import coerce
from crmkit.engine.precompiled import execute_compiled
from crmkit.engine.records.constraints import dry_run_unique, duplicate_message
from crmkit.engine.records.create_statement import CreateStatement, create_statement
from crmkit.engine.records.dependent import dependent_fields, dependent_picklist_errors
from crmkit.engine.records.errors import RecordValidationError
from crmkit.engine.records.evaluation import Evaluator, load_related
from crmkit.engine.records.inputs import build_input_schema, coerce_input
from crmkit.engine.runtime import Runtime
from crmkit.metadata.model import ObjectDef
from crmkit.sandbox import SandboxError
from crmkit.sandbox.expression import compile_expression


@dataclass
class Prepared:
    """Values ready to write: every field of the object, computed ones included."""

    values: dict[str, Any]
    given: frozenset[str]


class SavePipeline:
    def __init__(self, runtime: Runtime, obj: ObjectDef) -> None:
        self.runtime = runtime
        self.obj = obj
        self.table = runtime.table(obj.name)
        self.evaluator = Evaluator(runtime, obj)
        self.input_schema = build_input_schema(obj, runtime.field_types)
        #: (field name, system) -> why it cannot be given (None: it can); filled as names are seen.
        self.input_problems: dict[tuple[str, bool], str | None] = {}
        self.writable = [f for f in obj.fields.values() if runtime.field_types[f.type].writable]
        self.defaulted = [f for f in self.writable if f.default is not None or f.default_expression]
        self.default_expressions = any(f.default_expression for f in self.defaulted)
        self.required = [f.name for f in self.writable if f.required]
        self.unique = [f.name for f in obj.fields.values() if f.unique]
        self.lookups = [f for f in obj.fields.values() if f.is_lookup]
        self.autonumbers = [f for f in obj.fields.values() if f.type == "autonumber"]
        self.dependents = dependent_fields(obj)
        #: A new record has no children yet: its counts are 0, not unknown.
        self.zero_counts = {f.name: 0 for f in obj.fields.values() if f.rollup and f.rollup.aggregate == "count"}
        # Statements built once: the values travel as parameters, so SQLAlchemy's compiled cache hits.
        #: The INSERT of a new record where it is written on its own (PostgreSQL writes it with `create_statement`).
        #: On SQLite its id is the cursor's `lastrowid`, not a RETURNING clause: SQLite runs RETURNING through a
        #: table of the rows returned, which measured 12-25 µs a create on the bench machine (a third of the
        #: INSERT's own time). See `insert_record`.
        self.insert_statement = insert(self.table) if runtime.is_sqlite else \
            insert(self.table).returning(self.table.c.id)
        self.update_statement = update(self.table).where(
            self.table.c.id == bindparam("_record_id"), self.table.c.version == bindparam("_expected_version"))
        #: PostgreSQL: the one-statement creates (record, history row, search row), per set of value names.
        self._create_statements: dict[tuple[str, ...], CreateStatement] = {}
        #: The automation rules a save evaluates, per (operation, before the write): automation/rules.py `rule_checks`.
        self.rule_checks: dict[tuple[str, bool], list[Any]] = {}

    def insert_record(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Write a new record's row (`values`: its columns) with `insert_statement`; returns its id."""
        result = execute_compiled(connection, self.insert_statement, values)
        return result.lastrowid if self.runtime.is_sqlite else result.scalar_one()

    def create_statement(self, names: tuple[str, ...]) -> CreateStatement | None:
        """PostgreSQL: the statement writing a new record with the columns `names`, its history row,
        search row and change-log row at once (records/create_statement.py); None on SQLite."""
        if self.runtime.is_sqlite:
            return None
        found = self._create_statements.get(names)
        if found is None:
            runtime = self.runtime
            found = self._create_statements[names] = create_statement(
                self.table, runtime.system_table("crmkit_history"), self.obj.name, names, self.obj.track_history,
                runtime.search_index(self.obj.name), runtime.system_table("crmkit_change"))
        return found

    def prepare(
        self,
        connection: Connection,
        input_values: Mapping[str, Any],
        *,
        previous: Mapping[str, Any] | None,
        system: bool,
        language: str,
        row_filter=None,
        check_lookups: bool = True,
        clock: Mapping[str, Callable[..., Any]] | None = None,
        hidden: Collection[str] = frozenset(),
        automate: Callable[[Connection, dict[str, Any]], list[str]] | None = None,
        reasons: bool = True,
        gather: bool = False,
    ) -> Prepared:
        """Run everything before the write; raises RecordValidationError with every problem found.

        `clock` holds the acting user's `today()`/`now()` for defaults and rules (records.clock);
        `hidden` the fields the acting user may not read, whose values no message quotes;
        `automate` the before-save automation (automation/rules.py), run on the values with
        their formulas computed, before the validation rules: it changes `values` and returns
        the names it set. `gather` (an import's rows): a value refused early does not stop the
        check; the validation rules not reading a refused field (nor a formula computed from one)
        and the unique check run too, so the error names every fault of the values at once.
        """
        clean, errors = coerce_input(self.obj, self.input_schema, input_values, self.runtime.field_types, system=system,
                                     known=self.input_problems, language=language)
        if previous is None:
            values = {name: None for name in self.obj.fields}
            values.update(self.zero_counts)
            values.update(clean)
            early = load_related(connection, self.runtime, self.obj, values) if self.default_expressions else {}
            self._apply_defaults(values, clean, early, errors, clock)
        else:
            values = dict(previous)
            values.update(clean)
        related = load_related(connection, self.runtime, self.obj, values)
        for name in self.required:  # a value refused above is not also said to be missing
            if values.get(name) is None and name not in errors and (previous is None or name in clean
                                                                    or previous.get(name) is None):
                errors.setdefault(name, []).append(messages.REQUIRED())
        self._check_dependents(values, None if previous is None else clean, errors, language, hidden)
        if check_lookups:
            self._check_lookups(connection, values, clean, errors, row_filter)
            if clean.get("owner_id") is not None and self.missing_owners(connection, {clean["owner_id"]}):
                errors.setdefault("owner_id", []).append(messages.NO_ACTIVE_USER(id=clean["owner_id"]))
        refused = self._refuse_early(errors, previous, values, language, gather)
        if automate is not None and not refused:
            related = self._automated(connection, values, related, previous, automate, errors, language, hidden)
        operation = "create" if previous is None else "update"
        for name, texts in self.evaluator.formulas_and_rules(values, related, previous, operation, language, clock,
                                                             reasons, unread=refused).items():
            errors.setdefault(name, []).extend(texts)
        self._check_unique(connection, values, previous, errors)
        if errors:
            raise RecordValidationError(errors)
        return Prepared(values, frozenset(clean))

    def _refuse_early(self, errors: dict[str, list[str]], previous: Mapping[str, Any] | None,
                      values: Mapping[str, Any], language: str, gather: bool = False) -> frozenset[str]:
        """Raise RecordValidationError when `errors` (found before the formulas and rules) has any, with
        the stage moves no transition lists (a field already refused keeps its own error): the user
        learns at once that the move itself is not allowed, not only after fixing the other errors.
        With `gather`, return the names refused instead (the check goes on without their values)."""
        if not errors:
            return frozenset()
        refused = frozenset(errors)
        if self.obj.transitions:
            for name, texts in unlisted_move_errors(self.obj, previous, values, language).items():
                if name not in errors:
                    errors[name] = texts
        if not gather:
            raise RecordValidationError(errors)
        return refused

    def _automated(self, connection: Connection, values: dict[str, Any], related, previous, automate,
                   errors: dict[str, list[str]], language: str, hidden: Collection[str]):
        """Before-save automation on values whose formulas are computed; the related records it now reads."""
        self.evaluator.compute_formulas(values, related, previous)
        changed = automate(connection, values)
        if not changed:
            return related
        self._check_dependents(values, changed, errors, language, hidden)
        self._check_lookups(connection, values, set(changed), errors, None)
        self._refuse_early(errors, previous, values, language)
        return load_related(connection, self.runtime, self.obj, values)

    def coerce_one(self, name: str, value: Any) -> Any:
        """One value a before-save hook sets, coerced like system input; RecordValidationError if refused."""
        clean, errors = coerce_input(self.obj, self.input_schema, {name: value}, self.runtime.field_types,
                                     system=True, known=self.input_problems)
        if errors:
            raise RecordValidationError(errors)
        return clean[name]

    def recheck(self, connection: Connection, values: dict[str, Any], changed: Sequence[str], *,
                previous: Mapping[str, Any] | None, language: str,
                clock: Mapping[str, Callable[..., Any]] | None = None, hidden: Collection[str] = frozenset(),
                reasons: bool = True) -> None:
        """After a before-save hook changed `changed`: formulas, rules, required, lookups and unique again."""
        errors: dict[str, list[str]] = {}
        for name in changed:
            if name in self.required and values.get(name) is None:
                errors.setdefault(name, []).append(messages.REQUIRED())
        self._check_dependents(values, changed, errors, language, hidden)
        self._check_lookups(connection, values, set(changed), errors, None)
        self._refuse_early(errors, previous, values, language)
        related = load_related(connection, self.runtime, self.obj, values)
        operation = "create" if previous is None else "update"
        errors.update(self.evaluator.formulas_and_rules(values, related, previous, operation, language, clock,
                                                        reasons))
        self._check_unique(connection, values, previous, errors)
        if errors:
            raise RecordValidationError(errors)

    def _check_dependents(self, values, given, errors: dict[str, list[str]], language: str,
                          hidden: Collection[str] = frozenset()) -> None:
        """Dependent picklists (records.dependent); a field already refused keeps its first error only."""
        if not self.dependents:
            return
        for name, texts in dependent_picklist_errors(self.obj, self.dependents, values, given, language,
                                                     hidden).items():
            if name not in errors:
                errors[name] = texts

    def _apply_defaults(self, values: dict[str, Any], clean: Mapping[str, Any], related, errors, clock) -> None:
        for fdef in self.defaulted:
            if fdef.name in clean:
                continue
            try:
                raw = self.evaluator.default(fdef, values, related, clock)
            except SandboxError as error:
                errors.setdefault(fdef.name, []).append(f"its default could not be computed: {error}")
                continue
            if raw is None:
                continue
            try:
                values[fdef.name] = coerce(self.input_schema.fields[fdef.name], raw)
            except ValidationError as error:
                errors.setdefault(fdef.name, []).append(f"its default {raw!r} is not valid: {error.messages}")

    def form_defaults(self, values: Mapping[str, Any], clock: Mapping[str, Callable[..., Any]]) -> dict[str, Any]:
        """The defaults a new record's form shows before the save: field name -> stored value.

        For each field with a default (a value or an expression) that `values` (the stored
        values the form holds already, e.g. a prefilled parent) does not give, computed as a
        save computes it with `clock` (the actor's today()/now()). An expression that reads
        a lookup's record (`product.list_price`) is left out: it needs a record the form has
        not chosen yet, and reading it is the save's business; so is one that fails or gives
        a value its field refuses. Nothing is read from the database.
        """
        lookups = {fdef.name for fdef in self.lookups}
        known = {name: None for name in self.obj.fields}
        known.update(values)
        shown: dict[str, Any] = {}
        for fdef in self.defaulted:
            if values.get(fdef.name) is not None:
                continue
            if fdef.default_expression and compile_expression(fdef.default_expression).value_names & lookups:
                continue
            try:
                raw = self.evaluator.default(fdef, known, {}, clock)
                if raw is not None:
                    shown[fdef.name] = coerce(self.input_schema.fields[fdef.name], raw)
            except (SandboxError, ValidationError):
                continue
        return shown

    def missing_targets(self, connection: Connection, fdef, ids: set[int], row_filter) -> set[int]:
        """Which of `ids` do not exist (or are not visible) in the lookup's target object: one query."""
        target = self.runtime.table(fdef.to)
        found: set[int] = set()
        ordered = sorted(ids)
        visible = row_filter(fdef.to) if row_filter is not None else None
        for start in range(0, len(ordered), 500):
            query = select(target.c.id).where(target.c.id.in_(ordered[start:start + 500]))
            if visible is not None:
                query = query.where(visible)
            found.update(connection.execute(query).scalars())
        return set(ids) - found

    def _check_lookups(self, connection: Connection, values, clean, errors, row_filter) -> None:
        """A lookup must point at an existing record the user can see (else it looks missing)."""
        for fdef in self.lookups:
            target_id = values.get(fdef.name)
            if fdef.name not in clean or target_id is None:
                continue
            target = self.runtime.table(fdef.to)
            query = select(target.c.id).where(target.c.id == target_id)
            visible = row_filter(fdef.to) if row_filter is not None else None
            if visible is not None:
                query = query.where(visible)
            if connection.execute(query).first() is None:
                errors.setdefault(fdef.name, []).append(messages.NO_RECORD(object=fdef.to, id=target_id))

    def missing_owners(self, connection: Connection, ids: set[int]) -> set[int]:
        """Which of `ids` are not active users: records are owned by people who can sign in."""
        users = self.runtime.system_table("crmkit_user")
        query = select(users.c.id).where(users.c.id.in_(sorted(ids)), users.c.active.is_(True))
        return set(ids) - set(connection.execute(query).scalars())

    def _check_unique(self, connection: Connection, values, previous, errors) -> None:
        """Each unique field's new value held by no other record (a dry run's view answering first)."""
        view = dry_run_unique.get()
        for name in self.unique:
            value = values.get(name)
            if value is None or (previous is not None and previous.get(name) == value):
                continue
            taken = view(name, value, None if previous is None else previous.get("id")) if view else None
            if taken is None:
                query = select(self.table.c.id).where(self.table.c[name] == value)
                if previous is not None:
                    query = query.where(self.table.c.id != previous["id"])
                taken = connection.execute(query.limit(1)).first() is not None
            if taken:
                errors.setdefault(name, []).append(duplicate_message(self.obj, value))
