"""A create's writes in one statement on PostgreSQL: the record, its history, search-index and change-log rows.

    WITH created AS (INSERT INTO deal (...) VALUES (...) RETURNING id),
         history AS (INSERT INTO crmkit_history (...) SELECT ..., created.id, ... FROM created),
         search AS (INSERT INTO crmkit_deal_search (id, ...) SELECT created.id, array_to_tsvector(...) FROM created),
         words AS (INSERT INTO crmkit_deal_search_words (word) SELECT ... FROM unnest(...) ON CONFLICT DO NOTHING),
         changes AS (INSERT INTO crmkit_change (...) SELECT ..., created.id, ... FROM created)
    SELECT id FROM created

Four round trips become one. The history, search and change rows are exactly those the after-write
step would write (history.history_rows, search_index.index_entry, changes.change_rows), and `after_write` is told
that they are written (events.WRITTEN_WITH_RECORD); propagation, a search-index refresh of
records it rewrote, and the after-save hook run as for any write. SQLite has no
data-modifying CTEs and no network round trips to save: it keeps the separate statements.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import ARRAY, Table, Text, bindparam, column, func, insert, select, table

from crmkit.engine.query.search_index import SearchIndex, index_entry, listed_words, words_insert
from crmkit.engine.records.changes import change_fields
from crmkit.engine.records.history import history_rows

#: Prefixes of the history, search and change rows' parameters: field names start with a letter.
HISTORY, SEARCH, CHANGE = "_history_", "_search_", "_change_"
#: The change-log columns bound as parameters (record_id comes from the inserted row).
CHANGE_COLUMNS = ("object", "operation", "fields", "changed_at", "changed_by")
#: The history columns bound as parameters (record_id comes from the inserted row).
HISTORY_COLUMNS = ("object", "operation", "field", "old_value", "new_value", "changed_at", "changed_by")


@dataclass(frozen=True)
class CreateStatement:
    """The one-statement create of one object for one set of value names (built once, then cached)."""

    object: str
    statement: Any
    history: bool
    index: SearchIndex | None

    def parameters(self, values: Mapping[str, Any], actor_id: int | None, at: datetime) -> dict[str, Any]:
        """The statement's parameters for a record's `values` (without "id"), created by `actor_id` at `at`."""
        parameters = dict(values)
        if self.history:
            row = history_rows(self.object, 0, "create", None, values, actor_id, at)[0]
            parameters.update({HISTORY + name: row[name] for name in HISTORY_COLUMNS})
        if self.index is not None:
            entry = index_entry(self.index, {**values, "id": 0}, sqlite=False)
            parameters.update({SEARCH + name: entry[name] for name in self.index.columns})
            parameters[SEARCH + "words"] = listed_words([entry], self.index.columns)
        parameters.update({CHANGE + "object": self.object, CHANGE + "operation": "create",
                           CHANGE + "fields": change_fields(values), CHANGE + "changed_at": at,
                           CHANGE + "changed_by": actor_id})
        return parameters


def create_statement(record_table: Table, history_table: Table, object_name: str, names: tuple[str, ...],
                     history: bool, index: SearchIndex | None, change_table: Table) -> CreateStatement:
    """The PostgreSQL statement inserting a record with the columns `names` (and, when `history`,
    its history row; with an `index`, its search row; always its change-log row) and returning its id."""
    created = insert(record_table).values({name: bindparam(name, type_=record_table.c[name].type) for name in names}) \
        .returning(record_table.c.id).cte("created")
    statement = select(created.c.id)
    if history:
        values = [bindparam(HISTORY + name, type_=history_table.c[name].type) for name in HISTORY_COLUMNS]
        rows = select(*values[:1], created.c.id, *values[1:])
        statement = statement.add_cte(insert(history_table).from_select(
            [HISTORY_COLUMNS[0], "record_id", *HISTORY_COLUMNS[1:]], rows).cte("history"))
    if index is not None:
        target = table(index.name, column("id"), *(column(name) for name in index.columns))
        tokens = [func.array_to_tsvector(bindparam(SEARCH + name, type_=ARRAY(Text))) for name in index.columns]
        statement = statement.add_cte(insert(target).from_select(
            ["id", *index.columns], select(created.c.id, *tokens)).cte("search"))
        statement = statement.add_cte(words_insert(index.name, SEARCH + "words").cte("words"))
    changed = [bindparam(CHANGE + name, type_=change_table.c[name].type) for name in CHANGE_COLUMNS]
    statement = statement.add_cte(insert(change_table).from_select(
        [CHANGE_COLUMNS[0], "record_id", *CHANGE_COLUMNS[1:]], select(changed[0], created.c.id, *changed[1:]))
        .cte("changes"))
    return CreateStatement(object_name, statement, history, index)
