"""One batch of an import's rows: read, matched to stored records, checked and written on one connection.

ImportBatch.run does, for the rows of one batch (transfer/importer.py says what and why):
cells to input values and lookup texts to ids (`_read`), the upsert field and the duplicate
rule to stored records or earlier rows (`_matched`), then creates through the bulk save
path and updates one by one in savepoints (`_create`, `_update`). With write=False (a dry
run) the same checks run and nothing is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy import select

from crmkit.engine import messages
from crmkit.engine.records.bulk import insert_prepared, prepare_rows
from crmkit.engine.records.constraints import clashes_with
from crmkit.engine.records.errors import RecordError, RecordValidationError
from crmkit.engine.records.service import joined as _joined
from crmkit.engine.security.access import RightsChanged, UnknownUser
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


class ImportBatch:
    """One batch of rows: read, matched, checked and (with `write`) written on one connection."""

    def __init__(self, service: "ImportService", plan: "ImportPlan", connection: Any, *, write: bool,
                 seen: dict[str, ImportRow] | None = None) -> None:
        self.service, self.plan, self.connection, self.write = service, plan, connection, write
        #: A dry run's rows of earlier batches by duplicate key (an import finds them stored).
        self.seen = seen if seen is not None else {}
        self.records = service.records
        self.errors: list[RowError] = []
        self.counts = {"created": 0, "updated": 0, "skipped": 0}

    def run(self, batch: list[tuple[int, list[Any]]]) -> tuple[BatchCounts, list[RowError]]:
        rows = self._read(batch)
        rows = self._matched(rows)
        creates = [row for row in rows if row.target is None]
        updates = [row for row in rows if row.target is not None]
        self._create(creates)
        self._update(updates)
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

    def _matched(self, rows: list[ImportRow]) -> list[ImportRow]:
        """Rows given their stored record (upsert, duplicates); duplicates blocked, skipped or merged."""
        plan, obj, table = self.plan, self.records.obj, self.records.table
        visible = self.service.context.row_filter(obj.name) if self.service.context.row_filter else None
        if plan.upsert_on is not None:
            column = table.c[plan.upsert_on]
            values = {row.values.get(plan.upsert_on) for row in rows} - {None}
            found = {}
            if values:
                query = select(column, table.c.id, table.c.version).where(column.in_(sorted(values, key=str)))
                found = {value: (record_id, version) for value, record_id, version in
                         self.connection.execute(query if visible is None else query.where(visible))}
            for row in rows:
                row.target = found.get(row.values.get(plan.upsert_on))
        rule = plan.rule
        if rule is None:
            return rows
        for row in rows:
            row.key = rule.key(self._compared_value(row.values, rule.field))
        keys = {row.key for row in rows if row.key is not None and row.target is None}
        stored: dict[str, tuple[int, int]] = {}
        if keys and rule.field in obj.fields:
            column = table.c[rule.field]
            query = select(table.c.id, table.c.version, column).where(
                rule.candidates(column, keys, self.connection.dialect.name)).order_by(table.c.id)
            for record_id, version, value in self.connection.execute(query if visible is None else query.where(visible)):
                stored.setdefault(rule.key(value), (record_id, version))
        kept: list[ImportRow] = []
        earlier = self.seen
        action = plan.options.duplicates
        for row in rows:
            if row.target is not None or row.key is None:
                kept.append(row)
                continue
            match = stored.get(row.key)
            first = earlier.get(row.key)
            if match is None and first is None:
                earlier[row.key] = row
                kept.append(row)
            elif action == "block":  # refused, and checked on so that its report names its other faults too
                sentence = (messages.IMPORT_DUPLICATE_STORED(object=obj.name, rule=rule.kind, id=match[0])
                            if match is not None else messages.IMPORT_DUPLICATE_IN_FILE(rule=rule.kind,
                                                                                        row=first.number))
                row.problems.setdefault(rule.field, []).append(sentence)
                kept.append(row)
            elif action == "skip":
                self.counts["skipped"] += 1
            elif match is not None:
                row.target = match
                kept.append(row)
            else:  # merge into the earlier row of the file: its later non-empty cells win
                first.values.update(row.values)
                self.counts["updated"] += 1
        if self.write:
            earlier.clear()  # committed with the batch: the next batch finds them stored
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
        clashes, refused_clashes = clashes_with(records.obj, prepared, [row.values for row in refused],
                                                numbers=[row.number for row in valid])
        index_of = {id(row): index for index, row in enumerate(rows)}
        for at, row in enumerate(refused):
            self._refuse(row.number, _joined(_besides(errors.get(index_of[id(row)], {}), row.problems),
                                             row.problems, refused_clashes.get(at, {})))
        if clashes:
            for number, problems in clashes.items():
                self._refuse(valid[number - 1].number, problems)
            prepared = [values for index, values in enumerate(prepared) if index + 1 not in clashes]
        if self.write:
            insert_prepared(records, self.connection, prepared, now)
        self.counts["created"] += len(prepared)

    def _update(self, rows: list[ImportRow]) -> None:
        records = self.records
        versions: dict[int, int] = {}
        for row in rows:
            record_id, version = row.target
            version = versions.get(record_id, version)
            try:
                if row.problems:
                    self._check_update(record_id, row.values)
                    self._refuse(row.number, row.problems)
                    continue
                if self.write:
                    with self.connection.begin_nested():
                        record = records._update(self.connection, record_id, row.values, version, gather=True)
                    versions[record_id] = record.values["version"]
                else:
                    self._check_update(record_id, row.values)
            except RecordValidationError as error:
                self._refuse(row.number, _joined(_besides(error.errors, row.problems), row.problems))
                continue
            except (RightsChanged, UnknownUser):  # not this row's failure: the whole transaction stops
                raise
            except RecordError as error:
                self._refuse(row.number, {"": [str(error)]})
                continue
            self.counts["updated"] += 1

    def _check_update(self, record_id: int, values: Mapping[str, Any]) -> None:
        """A dry run's update: the record may be edited and the values pass the pipeline."""
        records, context = self.records, self.service.context
        current = records._load(self.connection, record_id, level="edit")
        clock = context.clock_functions(context.now())
        records._checked(self.connection, values, previous=current, clock=clock)


def _besides(errors: Mapping[str, Sequence[str]], problems: Mapping[str, Sequence[str]]) -> dict[str, Sequence[str]]:
    """The pipeline's errors of fields the row's own problems do not explain (a lookup naming no record is not
    also said to be missing)."""
    return {name: texts for name, texts in errors.items() if name not in problems}
