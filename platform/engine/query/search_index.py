"""The search index of one object: its layout, and writing it.

Each object with something to search has one search table, `crmkit_<object>_search`,
holding the tokens (query/tokens.py) of each searchable field in a column of its own
(`f<tokenizer version>_<field>`), so a search looks only in the fields the user may read:

- SQLite: an FTS5 table (rowid = record id) with the `ascii` tokenizer, which splits only
  on ASCII punctuation and spaces and so keeps our tokens exactly as they are (CJK pairs,
  casefolded words); `detail=column` keeps what column filters need and no positions.
  FTS5 writes each transaction's rows as a new segment and merges segments as they pile up;
  `automerge` is set to AUTOMERGE (2, SQLite's default is 4), so a level's segments are merged
  as soon as there are two: a create then writes about one page fewer to the WAL (measured on
  the bench's `deal`: 17.1 pages a create instead of 18.2), searches read fewer segments,
  and building an index from scratch takes as long. `upgrade_search_merging` sets it on
  indexes built before (every install and `crmkit migrate` runs it).
- PostgreSQL: a table (id = record id) with one tsvector column per field, built with
  `array_to_tsvector` (no parser in between), and one multi-column GIN index. Beside it a
  word list, `<search table>_words` (one `word` column, its primary key in code point order):
  every token of any row that a prefix of more than SHORT_PREFIX characters can start
  (`listed_words`: longer than SHORT_PREFIX, not a prefix token, not a number), so a search
  asks a prefix as the few words it starts when they are few (query/search_words.py). Words
  are added in the transaction that writes their row (a create's one statement, a bulk
  create's, `add_records`), `ON CONFLICT DO NOTHING` in code point order, and never removed
  (a word no row holds any more is asked for and found in no row); `rebuild_index` builds
  it anew, `upgrade_search_words` for indexes built before.

SQLite also keeps a plain table beside each FTS5 table, `<search table>_pending` (id = record id,
the same token columns as text): a single create writes its search row there instead of FTS5,
whose every transaction writes a new segment (some 4.7 of a create's 18 WAL pages); once the
table holds PENDING_ROWS rows, the create that filled it moves them into FTS5 in one statement
(`add_pending`). A record is never in both: removing a record's tokens (updates, deletes,
erasure, reindexing) deletes its pending row too, and its new row goes to FTS5. Every SQLite
search also reads the pending rows, testing their token text (query/search.py); there are at
most PENDING_ROWS of them. `upgrade_search_pending` creates the table for indexes built before.

The searchable fields are those marked `searchable` (text values only), else the title
field. The index is written in the write's transaction by the after-write step
(records/events.py) and built or rebuilt by the migration step `BuildSearchIndex`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import ARRAY, BigInteger, Connection, Text, bindparam, column, delete, func, insert, inspect, select, table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

from crmkit.engine.batch_insert import ArrayColumn, Part, array_parameters, unnest_insert
from crmkit.engine.precompiled import execute_compiled, run_on_driver

from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.query.tokens import PREFIX_MARK, SHORT_PREFIX, TOKENIZER_VERSION, index_tokens
from crmkit.engine.tables import Schema, fit_name
from crmkit.metadata.model import ObjectDef
from crmkit.metadata.registry import Registry

#: Records read and indexed per statement when a whole table is (re)built.
BATCH = 2000

#: PostgreSQL: a rebuilt index of more records than this is ANALYZEd at once (`rebuild_index`).
ANALYZED_FROM = 10_000

#: SQLite: FTS5's `automerge` of every search table (module docstring): merge a level's segments once it has two.
AUTOMERGE = 2

#: SQLite: the pending rows (module docstring) that a create moves into FTS5 once the pending table holds them.
PENDING_ROWS = 64

#: PostgreSQL: tokens of at most this many characters are not in the word list (a search asks a prefix that short as
#: its prefix token, query/tokens.py `index_form`), nor are prefix tokens or numbers (`listed_words`).
LISTED_FROM = SHORT_PREFIX + 1
#: The first characters of the tokens the word list leaves out beside the short ones: digits (a number's prefix
#: starts thousands of phone numbers) and the prefix mark. The same set in SQL (`_LISTED_SQL`) and in Python.
UNLISTED_FIRST = frozenset("0123456789" + PREFIX_MARK)
_LISTED_SQL = (f"length(word) >= {LISTED_FROM} AND left(word, 1) NOT IN "
               f"({', '.join(repr(character) for character in sorted(UNLISTED_FIRST))})")

#: Called while an index is built: (object, records indexed so far, records in all).
Progress = Callable[[str, int, int], None]


def search_table_name(object_name: str) -> str:
    """`crmkit_<object>_search`: the suffix keeps it apart from FTS5's shadow tables (`<table>_data`, ...)."""
    return fit_name(f"crmkit_{object_name}_search")


def pending_table_name(table_name: str) -> str:
    """SQLite: the plain table of the search table `table_name`'s pending rows (module docstring)."""
    return f"{table_name}_pending"


def words_table_name(table_name: str) -> str:
    """PostgreSQL: the word list of the search table `table_name` (module docstring)."""
    return fit_name(f"{table_name}_words")


def listed(token: str) -> bool:
    """Whether the word list holds `token` (module docstring): the tokens a listed prefix can start."""
    return len(token) >= LISTED_FROM and token[0] not in UNLISTED_FIRST


def listed_words(entries: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    """The listed tokens (`listed`) of these search rows' token columns (lists of tokens), once each, in code point
    order: the order every writer adds them in, so two transactions adding the same new words wait, not deadlock."""
    return sorted({token for entry in entries for name in columns for token in entry[name] if listed(token)})


def token_column(field_name: str) -> str:
    """The search table's column holding `field_name`'s tokens: `f<TOKENIZER_VERSION>_<field>`.

    The tokenizer's version is in the name, so an index built by an older tokenizer has
    other columns and migrations rebuild it (migrations/search_steps.py).
    """
    return fit_name(f"f{TOKENIZER_VERSION}_{field_name}")


def indexed_fields(registry: Registry, field_types: FieldTypes, obj: ObjectDef) -> tuple[str, ...]:
    """The fields search looks in, for every user: text fields marked `searchable`, else the title field."""
    def is_text(name: str) -> bool:
        fdef = obj.fields[name]
        return field_types[field_types.value_type(fdef, registry)].kind.value_kind == "text"

    names = [fdef.name for fdef in obj.fields.values() if fdef.searchable]
    if not names and obj.title_field in obj.fields:
        names = [obj.title_field]
    return tuple(name for name in names if is_text(name))


@dataclass(frozen=True)
class SearchIndex:
    """One object's search table: its name and the fields it holds tokens of, in column order."""

    object: str
    fields: tuple[str, ...]

    @property
    def name(self) -> str:
        return search_table_name(self.object)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The token column of each field, in `fields` order (worked out once: every write reads them)."""
        return tuple(token_column(name) for name in self.fields)

    @classmethod
    def of(cls, registry: Registry, field_types: FieldTypes, object_name: str) -> "SearchIndex | None":
        """The index `object_name` needs; None when it has nothing to search."""
        fields = indexed_fields(registry, field_types, registry.object(object_name))
        return cls(object_name, fields) if fields else None


def create_index(connection: Connection, index: SearchIndex, *, gin: bool = True) -> None:
    """Create the (empty) search table; it must not exist yet.

    gin=False leaves out PostgreSQL's GIN index, for `create_gin_index` after a bulk fill
    (one bulk build instead of a pending list of every row)."""
    quote = connection.dialect.identifier_preparer.quote
    columns = [quote(name) for name in index.columns]
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            f"CREATE VIRTUAL TABLE {quote(index.name)} USING fts5({', '.join(columns)}, "
            "tokenize='ascii', detail='column', columnsize=0)")
        set_merging(connection, index.name)
        create_pending(connection, index)
        return
    body = ", ".join(["id BIGINT PRIMARY KEY", *(f"{name} tsvector NOT NULL" for name in columns)])
    connection.exec_driver_sql(f"CREATE TABLE {quote(index.name)} ({body})")
    create_words(connection, index)
    if gin:
        create_gin_index(connection, index)


def create_words(connection: Connection, index: SearchIndex) -> None:
    """PostgreSQL: create the (empty) word list of `index` (module docstring); it must not exist yet."""
    quote = connection.dialect.identifier_preparer.quote
    connection.exec_driver_sql(f'CREATE TABLE {quote(words_table_name(index.name))} (word TEXT COLLATE "C" PRIMARY KEY)')


def fill_words(connection: Connection, index: SearchIndex) -> None:
    """PostgreSQL: add every listed token of the search table's rows to its word list, in one statement."""
    quote = connection.dialect.identifier_preparer.quote
    tokens = " || ".join(f"tsvector_to_array({quote(name)})" for name in index.columns)
    connection.exec_driver_sql(
        f"INSERT INTO {quote(words_table_name(index.name))} (word) SELECT DISTINCT word FROM {quote(index.name)}, "
        f"unnest({tokens}) AS word WHERE {_LISTED_SQL} ORDER BY word ON CONFLICT DO NOTHING")


def upgrade_search_words(connection: Connection, indexes: Iterable[SearchIndex]) -> list[str]:
    """PostgreSQL: create and fill the word list of each of `indexes` whose search table has none (indexes an older
    crmkit built; some 10 s at 1,000,000 accounts); returns the objects given one. Nothing on SQLite."""
    if connection.dialect.name != "postgresql":
        return []
    present = set(inspect(connection).get_table_names())
    changed = []
    for index in indexes:
        if index.name in present and words_table_name(index.name) not in present:
            create_words(connection, index)
            fill_words(connection, index)
            changed.append(index.object)
    return changed


def create_pending(connection: Connection, index: SearchIndex) -> None:
    """SQLite: create the (empty) pending table of `index` (module docstring); it must not exist yet."""
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(f"{quote(name)} TEXT NOT NULL" for name in index.columns)
    connection.exec_driver_sql(f"CREATE TABLE {quote(pending_table_name(index.name))} "
                               f"(id INTEGER PRIMARY KEY, {columns})")


def upgrade_search_pending(connection: Connection, indexes: Iterable[SearchIndex]) -> list[str]:
    """SQLite: create the pending table of each of `indexes` whose FTS5 table has none (indexes an older crmkit
    built); returns the objects given one. Nothing on PostgreSQL, nor for objects without a search table."""
    if connection.dialect.name != "sqlite":
        return []
    present = {row[0] for row in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    changed = []
    for index in indexes:
        if index.name in present and pending_table_name(index.name) not in present:
            create_pending(connection, index)
            changed.append(index.object)
    return changed


def set_merging(connection: Connection, table_name: str) -> None:
    """SQLite: set FTS5's `automerge` of the search table `table_name` to AUTOMERGE (kept in its `_config` table)."""
    quoted = connection.dialect.identifier_preparer.quote(table_name)
    connection.exec_driver_sql(f"INSERT INTO {quoted}({quoted}, rank) VALUES ('automerge', {AUTOMERGE})")


def merging(connection: Connection, table_name: str) -> int | None:
    """SQLite: the `automerge` stored for the search table `table_name`; None when it was never set (FTS5 then
    merges at its default, 4)."""
    quoted = connection.dialect.identifier_preparer.quote(f"{table_name}_config")
    row = connection.exec_driver_sql(f"SELECT v FROM {quoted} WHERE k = 'automerge'").first()
    return None if row is None else int(row[0])


def upgrade_search_merging(connection: Connection, object_names: Iterable[str]) -> list[str]:
    """SQLite: set AUTOMERGE on the search tables of `object_names` that have another (indexes an older crmkit
    built); returns the objects whose index was changed. Nothing on PostgreSQL, nor for objects without a search
    table. Only a setting changes: no row is read or written again, and searches find the same records."""
    if connection.dialect.name != "sqlite":
        return []
    present = {row[0] for row in connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'")}
    changed = []
    for name in object_names:
        table_name = search_table_name(name)
        if table_name in present and merging(connection, table_name) != AUTOMERGE:
            set_merging(connection, table_name)
            changed.append(name)
    return changed


def create_gin_index(connection: Connection, index: SearchIndex) -> None:
    """PostgreSQL: the one multi-column GIN index over the token columns (nothing on SQLite)."""
    if connection.dialect.name == "sqlite":
        return
    quote = connection.dialect.identifier_preparer.quote
    columns = [quote(name) for name in index.columns]
    connection.exec_driver_sql(f"CREATE INDEX {quote(fit_name('ix_' + index.name))} ON {quote(index.name)} "
                               f"USING gin ({', '.join(columns)})")


def drop_index(connection: Connection, object_name: str) -> None:
    """Drop `object_name`'s search table if there is one (its data is derived; nothing is lost)."""
    name = search_table_name(object_name)
    quote = connection.dialect.identifier_preparer.quote
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(name)}")
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(words_table_name(name))}")
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(pending_table_name(name))}")


def stored_columns(connection: Connection, object_name: str) -> tuple[str, ...] | None:
    """The token columns the database's search table of `object_name` has; None when it has none."""
    name = search_table_name(object_name)
    inspector = inspect(connection)
    if name not in inspector.get_table_names():
        return None
    return tuple(c["name"] for c in inspector.get_columns(name) if c["name"] != "id")


def _id_column(connection: Connection) -> str:
    return "rowid" if connection.dialect.name == "sqlite" else "id"


def remove_records(connection: Connection, index: SearchIndex, ids: Sequence[int]) -> None:
    """Forget the tokens of these records (nothing is sent for no ids); on SQLite their pending rows too."""
    if not ids:
        return
    key = _id_column(connection)
    target = table(index.name, column(key))
    pending = table(pending_table_name(index.name), column("id")) if key == "rowid" else None
    for start in range(0, len(ids), BATCH):
        chunk = list(ids[start:start + BATCH])
        connection.execute(delete(target).where(target.c[key].in_(chunk)))
        if pending is not None:
            connection.execute(delete(pending).where(pending.c.id.in_(chunk)))


def add_pending(connection: Connection, index: SearchIndex, rows: Sequence[Mapping[str, Any]]) -> None:
    """SQLite: write these new records' search rows ({field: stored value}, with "id") to the pending table, then,
    when it holds PENDING_ROWS rows or more, move them all into FTS5 (`flush_pending`), in the caller's transaction.

    The count reads at most PENDING_ROWS rows of a table of a page or two (a few microseconds)."""
    entries = [index_entry(index, row, sqlite=True) for row in rows]
    statement = _pending_insert(index.name, index.columns)
    if len(entries) == 1:
        execute_compiled(connection, statement, entries[0])
    else:
        connection.execute(statement, entries)
    if run_on_driver(connection, _pending_count(connection, index.name)).scalar_one() >= PENDING_ROWS:
        flush_pending(connection, index)


def flush_pending(connection: Connection, index: SearchIndex) -> None:
    """SQLite: move every pending row of `index` into its FTS5 table (one segment), leaving the pending table empty.
    Nothing on PostgreSQL, which has no pending rows."""
    if connection.dialect.name != "sqlite":
        return
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in index.columns)
    fts, pending = quote(index.name), quote(pending_table_name(index.name))
    connection.exec_driver_sql(f"INSERT INTO {fts}(rowid, {columns}) SELECT id, {columns} FROM {pending} ORDER BY id")
    connection.exec_driver_sql(f"DELETE FROM {pending}")


@lru_cache(maxsize=256)
def _pending_insert(table_name: str, columns: tuple[str, ...]) -> Any:
    target = table(pending_table_name(table_name), column("id"), *(column(name) for name in columns))
    return insert(target).values({"id": bindparam("record_id"), **{name: bindparam(name) for name in columns}})


def _pending_count(connection: Connection, table_name: str) -> str:
    """`SELECT count(*) FROM (SELECT 1 FROM <pending> LIMIT <PENDING_ROWS>)`: reads at most PENDING_ROWS rows
    (plain SQL text, run on the driver's cursor like the create's other statements: engine/precompiled.py)."""
    pending = connection.dialect.identifier_preparer.quote(pending_table_name(table_name))
    return f"SELECT count(*) FROM (SELECT 1 FROM {pending} LIMIT {int(PENDING_ROWS)})"


def index_entry(index: SearchIndex, row: Mapping[str, Any], sqlite: bool) -> dict[str, Any]:
    """The search-table row of one record ({field: stored value}, with "id"): `record_id` and, per
    token column, the tokens (SQLite: one space-separated text for FTS5; PostgreSQL: a list)."""
    entry: dict[str, Any] = {"record_id": row["id"]}
    for field_name, name in zip(index.fields, index.columns):
        value = row.get(field_name)
        tokens = index_tokens(None if value is None else str(value))
        entry[name] = " ".join(tokens) if sqlite else tokens
    return entry


def add_records(connection: Connection, index: SearchIndex, rows: Iterable[Mapping[str, Any]]) -> None:
    """Index these rows ({field: stored value}, with "id"), which must not be in the index: one statement per batch.

    PostgreSQL: several rows go as one INSERT ... SELECT FROM unnest (engine/batch_insert.py),
    each record's tokens as one space-separated text (tokens never hold a space) turned back
    into the tsvector by `array_to_tsvector(string_to_array(...))`; SQLite: an executemany into FTS5.
    """
    sqlite = connection.dialect.name == "sqlite"
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(index_entry(index, row, sqlite))
        if len(batch) >= BATCH:
            _write_entries(connection, index, batch, sqlite)
            batch = []
    if batch:
        _write_entries(connection, index, batch, sqlite)


def _write_entries(connection: Connection, index: SearchIndex, entries: list[dict[str, Any]], sqlite: bool) -> None:
    if not sqlite:  # the word list first (module docstring): the words of every row
        words = listed_words(entries, index.columns)
        if words:
            execute_compiled(connection, words_insert(index.name), {"words": words})
    if len(entries) == 1:  # a create's row: its statement's compilation is kept (engine/precompiled.py)
        execute_compiled(connection, _insert_statement(index.name, index.columns, sqlite), entries[0])
        return
    if sqlite:
        connection.execute(_insert_statement(index.name, index.columns, sqlite), entries)
        return
    for entry in entries:
        for name in index.columns:
            entry[name] = " ".join(entry[name])
    names = ("record_id", *index.columns)
    execute_compiled(connection, _unnest_statement(index.name, index.columns), array_parameters(entries, names))


@lru_cache(maxsize=256)
def _insert_statement(table_name: str, columns: tuple[str, ...], sqlite: bool) -> Any:
    """The INSERT of one index's rows, built once: every create runs it."""
    key = "rowid" if sqlite else "id"
    target = table(table_name, column(key), *(column(name) for name in columns))
    return insert(target).values({key: bindparam("record_id"), **token_values(columns, sqlite)})


@lru_cache(maxsize=256)
def words_insert(table_name: str, parameter: str = "words") -> Any:
    """PostgreSQL: `INSERT INTO <word list> (word) SELECT word FROM unnest(:words) ... ON CONFLICT DO NOTHING`, the
    words (`listed_words`, in code point order) as one array parameter named `parameter`."""
    target = table(words_table_name(table_name), column("word"))
    words = func.unnest(bindparam(parameter, type_=ARRAY(Text))).table_valued("word").render_derived("listed")
    return postgresql_insert(target).from_select(["word"], select(words.c.word).order_by(words.c.word)) \
        .on_conflict_do_nothing()


def token_values(columns: Sequence[str], sqlite: bool) -> dict[str, Any]:
    """{token column: the SQL value of its bound parameter of the same name} (PostgreSQL: a tsvector
    from the token list), for INSERTs of one record's search row."""
    if sqlite:
        return {name: bindparam(name) for name in columns}
    return {name: func.array_to_tsvector(bindparam(name, type_=ARRAY(Text))) for name in columns}


@lru_cache(maxsize=256)
def _unnest_statement(table_name: str, columns: tuple[str, ...], prefix: str = "") -> Any:
    """PostgreSQL: the INSERT of many records' search rows in one statement (record_id and token texts),
    its parameters named `prefix` + "record_id" and `prefix` + column."""
    target = table(table_name, column("id"), *(column(name) for name in columns))
    to_vector = lambda text: func.array_to_tsvector(func.string_to_array(text, " "))  # noqa: E731
    return unnest_insert(target, [ArrayColumn("id", BigInteger(), parameter=prefix + "record_id"),
                                  *(ArrayColumn(name, Text(), to_vector, prefix + name) for name in columns)])


def index_parts(index: SearchIndex, rows: Sequence[Mapping[str, Any]], prefix: str) -> list[Part]:
    """PostgreSQL: the search rows of these new records ({field: stored value}, with "id"; at most BATCH)
    and their words (module docstring) as Parts of a write done in one statement (batch_insert.insert_together),
    parameters named `prefix` + name: the rows `add_records` would write."""
    entries = [index_entry(index, row, sqlite=False) for row in rows]
    words = listed_words(entries, index.columns)
    listed_part = [Part(words_insert(index.name, prefix + "words"), {prefix + "words": words})] if words else []
    for entry in entries:
        for name in index.columns:
            entry[name] = " ".join(entry[name])
    names = ("record_id", *index.columns)
    return [*listed_part, Part(_unnest_statement(index.name, index.columns, prefix),
                               {prefix + name: values for name, values in array_parameters(entries, names).items()})]


def reindex_records(connection: Connection, schema: Schema, index: SearchIndex, ids: Iterable[int]) -> None:
    """Index these records again from their stored values (ids no longer stored are only removed)."""
    id_list = sorted(set(ids))
    source = schema.table(index.object)
    selected = [source.c.id, *(source.c[name] for name in index.fields)]
    for start in range(0, len(id_list), BATCH):
        chunk = id_list[start:start + BATCH]
        remove_records(connection, index, chunk)
        rows = connection.execute(select(*selected).where(source.c.id.in_(chunk))).mappings().all()
        add_records(connection, index, rows)


def fill_index(connection: Connection, schema: Schema, index: SearchIndex, progress: Progress | None = None) -> int:
    """Index every record of an empty search table, BATCH records at a time in id order; returns how many."""
    source = schema.table(index.object)
    total = connection.execute(select(func.count()).select_from(source)).scalar_one()
    selected = [source.c.id, *(source.c[name] for name in index.fields)]
    done, last = 0, None
    while True:
        query = select(*selected).order_by(source.c.id).limit(BATCH)
        if last is not None:
            query = query.where(source.c.id > last)
        rows = connection.execute(query).mappings().all()
        if not rows:
            return done
        add_records(connection, index, rows)
        done, last = done + len(rows), rows[-1]["id"]
        if progress is not None:
            progress(index.object, done, total)


def rebuild_index(connection: Connection, schema: Schema, index: SearchIndex, progress: Progress | None = None) -> int:
    """Drop and build `index` from every stored record (GIN built once after the fill); returns how many were indexed.

    PostgreSQL: a table of more than ANALYZED_FROM records is then ANALYZEd (a sample of 30,000 rows, ~1 s at
    1,000,000): search pages plan from its statistics (query/search_statistics.py), and a table built anew
    has none until autovacuum comes by ("Industries" at 1,000,000 accounts: 155 ms without, 5 ms with), which
    every upgrade that changes the tokenizer would otherwise leave to chance.
    """
    drop_index(connection, index.object)
    create_index(connection, index, gin=False)
    done = fill_index(connection, schema, index, progress)
    create_gin_index(connection, index)
    if connection.dialect.name == "postgresql" and done > ANALYZED_FROM:
        connection.exec_driver_sql(f"ANALYZE {connection.dialect.identifier_preparer.quote(index.name)}")
    return done
