"""One batch of an import's rows: read, matched to stored records, checked and written on one connection.

ImportBatch.run does, for the rows of one batch (transfer/importer.py says what and why):
cells to input values and lookup texts to ids (`_read`), the upsert field and the duplicate
rule to stored records (`_matched`), then creates through the bulk save path and updates one
by one in savepoints (`_create`, `_update`). With write=False (a dry run) the same checks run
and nothing is written.

One outcome whatever the batch size: a row repeating an earlier row's upsert value or
duplicate key is matched only after that row is written, as if it came in a later batch
(`_rounds`): an upsert key repeated in the file creates the record, then updates it; a
duplicate is blocked, skipped or merged into the record its first row created (a refused
first row creates nothing, so the repeat is matched against what is stored). A dry run
writes nothing, so it keeps what the rows before would have done (`Planned`, across its
batches): the records they would create and the stored records they would change. It matches,
updates and checks unique values against that as the import does against the stored records:
a value a row's update gives a record is taken for the rows after it, and the value it had is free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy import select

from crmkit.engine import messages
from crmkit.engine.query.lists import batch_keys
from crmkit.engine.records.bulk import insert_prepared, prepare_rows
from crmkit.engine.records.constraints import RECORD_ERRORS, clashes_with, combination_message, dry_run_unique, \
    duplicate_message
from crmkit.engine.records.errors import RecordError, RecordValidationError
from crmkit.engine.records.service import joined as _joined
from crmkit.engine.security.access import RightsChanged, UnknownUser
from crmkit.engine.tables import field_indexes
from crmkit.engine.transfer.files import cell_text
from crmkit.engine.transfer.jobs import BatchCounts, RowError
from crmkit.engine.transfer.lookups import resolve_lookups

if TYPE_CHECKING:
    from crmkit.engine.transfer.importer import ImportPlan, ImportService


@dataclass
class ImportRow:
    number: int
    values: dict[str, Any]
    #: (id, version) of the stored record this row updates; None: it creates one.
    target: tuple[int, int] | None = None
    key: str | None = None
    #: Problems found before the save pipeline (a lookup naming no record): the row is checked on, never written.
    problems: dict[str, list[str]] = field(default_factory=dict)
    #: A dry run's row updating a record an earlier row would create: that row and the record's values (Planned).
    planned: tuple[int, dict[str, Any]] | None = None


#: The name under which Planned.moved and Planned.left keep duplicate keys (no field is named so).
DUPLICATE_KEY = ""


@dataclass
class Planned:
    """What a dry run's rows would have done so far, in place of what the import finds stored: the records they
    would create, each as (its row, its values), and the stored records they would update.

    The values are live (a later row's update of the record changes them), so every index below is checked
    against them when read: a record found by a value it no longer has is not found.
    """

    by_upsert: dict[Any, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    #: An import's batch keeps only the rows (values None) its earlier rounds created, for a later duplicate's
    #: sentence ("row 2 of the file has the same email"); the records themselves are stored.
    by_key: dict[str, tuple[int, dict[str, Any] | None]] = field(default_factory=dict)
    #: (unique columns, their values) -> the record to be created that holds them.
    holders: dict[tuple[tuple[str, ...], tuple], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    #: A stored record the rows would update: id -> (its values as stored, its values after those updates).
    stored: dict[int, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    #: A stored record's duplicate key after those updates (id -> key).
    keys: dict[int, str | None] = field(default_factory=dict)
    #: (field or DUPLICATE_KEY, value) -> the stored record those updates give the value.
    moved: dict[tuple[str, Any], int] = field(default_factory=dict)
    #: (unique field, value) -> the stored record those updates take the value from (free for the rows after).
    left: dict[tuple[str, Any], int] = field(default_factory=dict)

    def now(self, record_id: int, name: str) -> Any:
        """A stored record's value of `name` (DUPLICATE_KEY: its key) after the rows' updates; it was updated."""
        return self.keys.get(record_id) if name == DUPLICATE_KEY else self.stored[record_id][1].get(name)

    def has(self, record_id: int, name: str, value: Any) -> bool:
        """Whether a stored record found with `value` of `name` still has it after the rows' updates."""
        return record_id not in self.stored or self.now(record_id, name) == value

    def moved_to(self, name: str, value: Any) -> int | None:
        """The stored record the rows' updates give `value` of `name`, if it still has it."""
        holder = self.moved.get((name, value))
        return holder if holder is not None and self.now(holder, name) == value else None

    def taken(self, name: str, value: Any, own: Any) -> bool | None:
        """records.constraints.dry_run_unique: True when the rows' updates gave `value` of unique field `name`
        to a stored record (not `own`), False when they took it from the one stored record that has it,
        None when they did neither (the database answers)."""
        holder = self.moved_to(name, value)
        if holder is not None and holder != own:
            return True
        holder = self.left.get((name, value))
        return False if holder is not None and self.now(holder, name) != value else None

    def holder(self, columns: tuple[str, ...], key: tuple) -> tuple[int, dict[str, Any]] | None:
        """The record to be created that holds `key` in the unique `columns`, if it still does."""
        found = self.holders.get((columns, key))
        return found if found is not None and tuple(found[1].get(name) for name in columns) == key else None


class ImportBatch:
    """One batch of rows: read, matched, checked and (with `write`) written on one connection."""

    def __init__(self, service: "ImportService", plan: "ImportPlan", connection: Any, *, write: bool,
                 planned: Planned | None = None) -> None:
        self.service, self.plan, self.connection, self.write = service, plan, connection, write
        #: A dry run's records its earlier rows would create (an import finds them stored); shared by its batches.
        self.planned = planned if planned is not None else Planned()
        self.records = service.records
        self.errors: list[RowError] = []
        self.counts = {"created": 0, "updated": 0, "skipped": 0}
        #: The object's unique fields and combinations (a dry run checks its planned records' values against them).
        self.uniques = [tuple(columns) for _, columns, unique in field_indexes(self.records.obj) if unique]

    def run(self, batch: list[tuple[int, list[Any]]]) -> tuple[BatchCounts, list[RowError]]:
        # A dry run's unique checks see the values its earlier rows' updates would give stored records.
        token = None if self.write else dry_run_unique.set(self.planned.taken)
        try:
            rows = self._keyed(self._read(batch))
            while rows:
                now, rows = self._rounds(rows)
                now = self._matched(now)
                self._create([row for row in now if row.target is None and row.planned is None])
                self._update([row for row in now if row.target is not None or row.planned is not None])
        finally:
            if token is not None:
                dry_run_unique.reset(token)
        failed = len({error.row for error in self.errors})
        return BatchCounts(len(batch), self.counts["created"], self.counts["updated"], self.counts["skipped"],
                           failed), sorted(self.errors, key=lambda error: error.row)

    def _refuse(self, number: int, problems: Mapping[str, Sequence[str]]) -> None:
        for name, sentences in problems.items():
            for sentence in sentences:
                self.errors.append(RowError(number, self.plan.column_of.get(name), name if name in
                                            self.records.obj.fields or name == "owner_id" else None, sentence))

    def _read(self, batch: list[tuple[int, list[Any]]]) -> list[ImportRow]:
        """Cells to input values; lookup texts resolved to ids (a row naming no single record is refused)."""
        plan = self.plan
        rows, texts = [], []
        for number, cells in batch:
            values, named = {}, {}
            for index, name in plan.columns:
                cell = cells[index] if index < len(cells) else None
                if name in plan.lookups:
                    text = cell_text(cell)
                    if text:
                        named[name] = text
                else:
                    value = plan.readers[name](cell)
                    if value is not None:
                        values[name] = value
            rows.append(ImportRow(number, values))
            texts.append(named)
        if not plan.lookups:
            return rows
        wanted: dict[str, set[str]] = {}
        for named in texts:
            for name, text in named.items():
                wanted.setdefault(name, set()).add(text)
        resolved = resolve_lookups(self.connection, self.service.context, self.records.obj.fields, wanted)
        for row, named in zip(rows, texts):
            for name, text in named.items():
                record_id, why = resolved.get(name, text)
                if record_id is None:
                    row.problems[name] = [why]
                else:
                    row.values[name] = record_id
        return rows

    def _keyed(self, rows: list[ImportRow]) -> list[ImportRow]:
        """Rows given their duplicate key (the rule's value as compared), when there is a rule."""
        rule = self.plan.rule
        if rule is not None:
            for row in rows:
                row.key = rule.key(self._compared_value(row.values, rule.field))
        return rows

    def _rounds(self, rows: list[ImportRow]) -> tuple[list[ImportRow], list[ImportRow]]:
        """(rows to match and write now, the rest): a row whose upsert value or duplicate key an earlier row of
        `rows` has waits until that row is written, as it would in a later batch (create, then update)."""
        upsert_on = self.plan.upsert_on
        taken: set[tuple[Any, ...]] = set()
        waiting: set[tuple[Any, ...]] = set()  # the marks and unique values of rows that wait
        now, later = [], []
        for row in rows:
            marks = {("key", row.key)} if row.key is not None else set()
            if upsert_on is not None and row.values.get(upsert_on) is not None:
                marks.add(("upsert", row.values[upsert_on]))
            held = {(columns, tuple(row.values.get(name) for name in columns)) for columns in self.uniques}
            held = {mark for mark in held if None not in mark[1]}
            # A row sharing a unique value with a row that waits waits too, after it: the file's order holds.
            if marks & taken or (marks | held) & waiting:
                later.append(row)
                waiting |= marks | held
            else:
                taken |= marks
                now.append(row)
        return now, later

    def _matched(self, rows: list[ImportRow]) -> list[ImportRow]:
        """Rows given their stored record (upsert, duplicates: in a dry run, one an earlier row would create);
        duplicates blocked, skipped or merged. No two rows share an upsert value or a duplicate key (_rounds)."""
        plan, obj, table = self.plan, self.records.obj, self.records.table
        planned = self.planned if not self.write else Planned(by_key=self.planned.by_key)
        visible = self.service.context.row_filter(obj.name) if self.service.context.row_filter else None
        if plan.upsert_on is not None:
            column = table.c[plan.upsert_on]
            values = {row.values.get(plan.upsert_on) for row in rows} - {None}
            found = {}
            if values:
                query = select(column, table.c.id, table.c.version).where(
                    batch_keys(column, sorted(values, key=str), self.connection.dialect.name))
                found = {value: (record_id, version) for value, record_id, version in
                         self.connection.execute(query if visible is None else query.where(visible))
                         if planned.has(record_id, plan.upsert_on, value)}
            for value in values - found.keys():  # a dry run: a stored record an earlier row gave this value
                holder = planned.moved_to(plan.upsert_on, value)
                if holder is not None:
                    found[value] = (holder, planned.stored[holder][1]["version"])
            for row in rows:
                value = row.values.get(plan.upsert_on)
                row.target = found.get(value)
                if row.target is None and value is not None:
                    first = planned.by_upsert.get(value)
                    row.planned = first if first is not None and first[1].get(plan.upsert_on) == value else None
        rule = plan.rule
        if rule is None:
            return rows
        keys = {row.key for row in rows if row.key is not None and row.target is None and row.planned is None}
        stored: dict[str, tuple[int, int]] = {}
        if keys and rule.field in obj.fields:
            column = table.c[rule.field]
            query = select(table.c.id, table.c.version, column).where(
                rule.candidates(column, keys, self.connection.dialect.name)).order_by(table.c.id)
            for record_id, version, value in self.connection.execute(query if visible is None else query.where(visible)):
                key = rule.key(value)
                if planned.has(record_id, DUPLICATE_KEY, key):
                    stored.setdefault(key, (record_id, version))
        for key in keys - stored.keys():  # a dry run: a stored record an earlier row's update gave this key
            holder = planned.moved_to(DUPLICATE_KEY, key)
            if holder is not None:
                stored[key] = (holder, planned.stored[holder][1]["version"])
        kept: list[ImportRow] = []
        action = plan.options.duplicates
        for row in rows:
            if row.target is not None or row.planned is not None or row.key is None:
                kept.append(row)
                continue
            match = stored.get(row.key)
            first = planned.by_key.get(row.key)  # an import: the row of the file that created the stored match
            if first is not None and first[1] is not None and rule.key(first[1].get(rule.field)) != row.key:
                first = None  # a dry run's planned record a later row gave another key
            if match is None and (first is None or first[1] is None):
                kept.append(row)
            elif action == "block":  # refused, and checked on so that its report names its other faults too
                sentence = (messages.IMPORT_DUPLICATE_IN_FILE(rule=rule.kind, row=first[0]) if first is not None
                            else messages.IMPORT_DUPLICATE_STORED(object=obj.name, rule=rule.kind, id=match[0]))
                row.problems.setdefault(rule.field, []).append(sentence)
                kept.append(row)
            elif action == "skip":
                self.counts["skipped"] += 1
            else:  # merge: the row's non-empty cells written into the record
                row.target, row.planned = match, first if match is None else None
                kept.append(row)
        return kept

    def _compared_value(self, values: Mapping[str, Any], name: str) -> Any:
        """The row's value of the duplicate rule's field; a formula title (a person's full name) computed from it."""
        fdef = self.records.obj.fields.get(name)
        if name in values or fdef is None or fdef.formula is None:
            return values.get(name)
        computed = dict.fromkeys(self.records.obj.fields)
        computed.update(values)
        # Related records are not read here: a title computed from them has no value, so no key and no match.
        self.records.pipeline.evaluator.compute_formulas(computed, {}, None, only=frozenset({name}))
        return computed.get(name)

    def _create(self, rows: list[ImportRow]) -> None:
        if not rows:
            return
        records, now = self.records, self.service.context.now()
        prepared, errors = prepare_rows(records, self.connection, [row.values for row in rows], now, gather=True)
        valid_at = [index for index, row in enumerate(rows) if index not in errors]
        prepared = [values for index, values in zip(valid_at, prepared) if not rows[index].problems]
        valid = [rows[index] for index in valid_at if not rows[index].problems]
        refused = [row for index, row in enumerate(rows) if row.problems or index in errors]
        # A refused row is never written; it is still told of its clash with a row written (its given values).
        # A dry run's earlier rows would be stored: a unique value they hold is taken, as the import finds it.
        before = [] if self.write else self._holders([*prepared, *(row.values for row in refused)])
        clashes, refused_clashes = clashes_with(records.obj, [values for _, values in before] + prepared,
                                                [row.values for row in refused],
                                                numbers=[number for number, _ in before] + [row.number for row in valid],
                                                other_numbers=[row.number for row in refused])
        clashes = {number - len(before): problems for number, problems in clashes.items() if number > len(before)}
        index_of = {id(row): index for index, row in enumerate(rows)}
        for at, row in enumerate(refused):
            self._refuse(row.number, _joined(_besides(errors.get(index_of[id(row)], {}), row.problems),
                                             row.problems, refused_clashes.get(at, {})))
        if clashes:
            for number, problems in clashes.items():
                self._refuse(valid[number - 1].number, problems)
            valid = [row for index, row in enumerate(valid) if index + 1 not in clashes]
            prepared = [values for index, values in enumerate(prepared) if index + 1 not in clashes]
        if self.write:
            insert_prepared(records, self.connection, prepared, now)
            for row in valid:  # a later duplicate is told the row of the file it repeats
                if row.key is not None:
                    self.planned.by_key[row.key] = (row.number, None)
        else:
            self._plan(valid, prepared)
        self.counts["created"] += len(prepared)

    def _plan(self, rows: list[ImportRow], prepared: list[dict[str, Any]]) -> None:
        """A dry run: the records `rows` would create (their prepared values), kept for the rows after."""
        for row, values in zip(rows, prepared):
            self._planned_at((row.number, values), {})

    def _planned_at(self, record: tuple[int, dict[str, Any]], before: Mapping[str, Any]) -> None:
        """A dry run's record to be created found by the values it has now (those it had `before` are left to
        mismatch, Planned.holder)."""
        planned, values, upsert_on, rule = self.planned, record[1], self.plan.upsert_on, self.plan.rule
        if upsert_on is not None and values.get(upsert_on) is not None and values[upsert_on] != before.get(upsert_on):
            planned.by_upsert[values[upsert_on]] = record
        if rule is not None:
            key, first = rule.key(values.get(rule.field)), planned.by_key.get(rule.key(values.get(rule.field)))
            if key is not None and key != rule.key(before.get(rule.field)) and (
                    first is None or first[1] is None or rule.key(first[1].get(rule.field)) != key):
                planned.by_key[key] = record  # the first record with the key is the one the import matches
        for columns in self.uniques:
            held = tuple(values.get(name) for name in columns)
            if None not in held and held != tuple(before.get(name) for name in columns):
                planned.holders[(columns, held)] = record

    def _holders(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        """A dry run's records to be created that hold a unique value (or combination) one of `rows` has, by row."""
        found: dict[int, tuple[int, dict[str, Any]]] = {}
        for values in rows:
            for columns in self.uniques:
                held = tuple(values.get(name) for name in columns)
                holder = None if None in held else self.planned.holder(columns, held)
                if holder is not None:
                    found[holder[0]] = holder
        return [found[number] for number in sorted(found)]

    def _planned_clashes(self, values: Mapping[str, Any], own: dict[str, Any] | None) -> dict[str, list[str]]:
        """A dry run's update: the unique values `values` holds that a record to be created (not `own`) has, as
        the import's unique check would say of that stored record."""
        obj, errors = self.records.obj, {}
        for columns in self.uniques:
            held = tuple(values.get(name) for name in columns)
            holder = None if None in held else self.planned.holder(columns, held)
            if holder is not None and holder[1] is not own:
                name, sentence = (columns[0], duplicate_message(obj, held[0])) if len(columns) == 1 else \
                    (RECORD_ERRORS, combination_message(obj, columns, values))
                errors.setdefault(name, []).append(sentence)
        return errors

    def _update(self, rows: list[ImportRow]) -> None:
        records = self.records
        versions: dict[int, int] = {}
        for row in rows:
            if row.planned is not None:
                self._update_planned(row)
                continue
            record_id, version = row.target
            version = versions.get(record_id, version)
            try:
                if row.problems:
                    self._check_update(record_id, row.values, remember=False)
                    self._refuse(row.number, row.problems)
                    continue
                if self.write:
                    with self.connection.begin_nested():
                        record = records._update(self.connection, record_id, row.values, version, gather=True)
                    versions[record_id] = record.values["version"]
                else:
                    self._check_update(record_id, row.values, remember=True)
            except RecordValidationError as error:
                self._refuse(row.number, _joined(_besides(error.errors, row.problems), row.problems))
                continue
            except (RightsChanged, UnknownUser):  # not this row's failure: the whole transaction stops
                raise
            except RecordError as error:
                self._refuse(row.number, {"": [str(error)]})
                continue
            self.counts["updated"] += 1

    def _update_planned(self, row: ImportRow) -> None:
        """A dry run's update of a record an earlier row would create: the values pass the pipeline on it."""
        context, values = self.service.context, row.planned[1]
        try:  # "id" None: the unique check compares with every stored record, none being this one
            checked = self.records._checked(self.connection, row.values, previous={**values, "id": None},
                                            clock=context.clock_functions(context.now()))
            clashes = self._planned_clashes(checked.values, values)
            if clashes:
                raise RecordValidationError(clashes)
        except RecordValidationError as error:
            self._refuse(row.number, _joined(_besides(error.errors, row.problems), row.problems))
            return
        if row.problems:
            self._refuse(row.number, row.problems)
            return
        before = dict(values)
        values.update(checked.values)
        self._planned_at(row.planned, before)
        self.counts["updated"] += 1

    def _check_update(self, record_id: int, values: Mapping[str, Any], *, remember: bool) -> None:
        """A dry run's update (and an import's refused row's): the record may be edited and the values pass the
        pipeline, checked on the values the rows before would give it. With `remember`, the values it would then
        have are kept for the rows after (Planned.stored)."""
        records, context, planned = self.records, self.service.context, self.planned
        current = records._load(self.connection, record_id, level="edit")
        was, now = planned.stored.get(record_id, (current, current))
        clock = context.clock_functions(context.now())
        checked = records._checked(self.connection, values, previous=now, clock=clock)
        clashes = {} if self.write else self._planned_clashes(checked.values, None)
        if clashes:
            raise RecordValidationError(clashes)
        if remember:
            self._stored_at(record_id, was, {**now, **checked.values})

    def _stored_at(self, record_id: int, was: dict[str, Any], now: dict[str, Any]) -> None:
        """A dry run: the stored record `record_id` would have `now` (it has `was`): found by those values."""
        planned, rule = self.planned, self.plan.rule
        planned.stored[record_id] = (was, now)
        changed = []
        for name in {self.plan.upsert_on, *(columns[0] for columns in self.uniques if len(columns) == 1)} - {None}:
            changed.append((name, was.get(name), now.get(name)))
        if rule is not None:
            planned.keys[record_id] = rule.key(now.get(rule.field))
            changed.append((DUPLICATE_KEY, rule.key(was.get(rule.field)), planned.keys[record_id]))
        for name, before, after in changed:
            if before != after:
                if after is not None:
                    planned.moved[(name, after)] = record_id
                if before is not None and name != DUPLICATE_KEY:  # a key left matters to no unique check
                    planned.left[(name, before)] = record_id


def _besides(errors: Mapping[str, Sequence[str]], problems: Mapping[str, Sequence[str]]) -> dict[str, Sequence[str]]:
    """The pipeline's errors of fields the row's own problems do not explain (a lookup naming no record is not
    also said to be missing)."""
    return {name: texts for name, texts in errors.items() if name not in problems}
