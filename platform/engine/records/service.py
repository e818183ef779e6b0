"""RecordService: create, read, update, delete and query one object's records.

Every write runs the whole save pipeline in one transaction:

    coercion and field validation -> defaults -> formulas
    -> before-save automation (update_record actions; formulas again) -> validation rules and stage transitions
    -> `crmkit_before_save` hook (formulas and rules again, if it changed a value) -> write (optimistic lock)
    -> after-write step (events.py): history -> rollups and dependent formulas -> search index
       -> `crmkit_after_save` hook -> automation outbox rows
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import ColumnElement, Connection, Table, case, or_, select

from crmkit.engine import messages
from crmkit.engine.automation.rules import rule_checks, run_before_save
from crmkit.engine.precompiled import execute_compiled
from crmkit.engine.query import Count, QueryContext, QuerySpec, count_records, fetch_rows, page_cursor, page_sort
from crmkit.engine.query.derived_page import NO_DERIVED
from crmkit.engine.query.errors import unknown_field
from crmkit.engine.query.filters import compile_filter
from crmkit.engine.query.grouping import Grouping, group_totals
from crmkit.engine.query.inputs import is_record_id, shown
from crmkit.engine.query.search import search_fields, search_terms
from crmkit.engine.query.tokens import normalise
from crmkit.engine.records.autonumber import allocate_numbers
from crmkit.engine.records.constraints import constraint_errors
from crmkit.engine.records.errors import RecordNotFound, RecordValidationError, StaleRecordError
from crmkit.engine.records.events import (
    WRITTEN_WITH_RECORD, Operation, RecordDraft, RecordEvent, after_write, before_save,
)
from crmkit.engine.records.pipeline import Prepared, SavePipeline
from crmkit.engine.records.record import ReadMark, Record
from crmkit.engine.records.timeline import PAGE_SIZE, TimelinePage, read_timeline
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.shaping import hidden_fields, stored_withheld, shown_errors, shown_rows
from crmkit.engine.tables import prefix_fields
from crmkit.metadata.model import ObjectDef
from crmkit.engine.automation.rule_errors import may_see_reasons

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.records.bulk_changes import BulkResult
    from crmkit.engine.runtime import Runtime


#: The extra column of `_load` that says whether the user may edit the row.
EDITABLE = "_crmkit_editable"


@dataclass(frozen=True)
class Suggestion:
    """One record `RecordService.suggestions` offers: the record as the user sees it, its title
    text (the id when the title is hidden or empty), and whether the title starts with the text."""

    record: Record
    title: str
    title_prefix: bool


def _title(record: Record, title: str | None) -> str:
    value = record.get(title) if title else None
    return str(record.id if value is None else value)


def _title_starts(value: Any, prefix: str) -> bool:
    """The startswith filter's rule, in Python: ignoring case (beyond A-Z too, as PostgreSQL does)."""
    return isinstance(value, str) and value.lower().startswith(prefix.lower())


def _ranked(prefixed: Mapping[int, Record], searched: Sequence[Record], title: str | None) -> list[Suggestion]:
    """The records whose title starts with the text, by title, then the other search matches in their order; each once."""
    found = {record_id: Suggestion(record, _title(record, title), True)
             for record_id, record in sorted(prefixed.items(), key=lambda item: _title(item[1], title))}
    for record in searched:
        found.setdefault(record.id, Suggestion(record, _title(record, title), False))
    return list(found.values())


def title_prefixes(text: str) -> list[str]:
    """The prefixes a title is looked up by for `text`: as typed, in the search's folded form
    (NFKC and case: "ＡＣＭＥ" -> "acme") and that form capitalised ("ärzte" -> "Ärzte", since
    SQLite's lower() folds A-Z only); those alike but for A-Z case are given once (the
    prefix filter ignores A-Z case on every database)."""
    folded = normalise(text)
    distinct: dict[str, str] = {}
    for variant in (text, folded, folded[:1].upper() + folded[1:]):
        distinct.setdefault(_ascii_lower(variant), variant)
    return list(distinct.values())


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


@dataclass(frozen=True)
class Page:
    records: list[Record]
    #: Pass as `after` to get the next page; None on the last page.
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


class RecordService:
    """One object's records for one UserContext.

    The object, its table and save pipeline are looked up in the context's current runtime
    on every use, so a service taken before an upgrade (this process's or another's) works
    with the metadata as installed now; an object that was renamed or removed meanwhile is
    refused like an unknown one.
    """

    def __init__(self, session: "UserContext", object_name: str) -> None:
        """UnknownObject at once for a name no installed object has (the definition itself is
        looked up on every use, so an upgrade by another process is followed)."""
        self.session = session
        if not isinstance(object_name, str) or object_name not in session.runtime.registry.objects:
            with session.reading():  # another process may have installed it since: follow upgrades first
                pass
            session.runtime.object(object_name)
        self.object_name = object_name

    @property
    def runtime(self) -> "Runtime":
        return self.session.runtime

    @property
    def obj(self) -> ObjectDef:
        return self.runtime.object(self.object_name)

    @property
    def table(self) -> Table:
        return self.runtime.table(self.object_name)

    @property
    def pipeline(self) -> SavePipeline:
        return self.session.pipeline(self.object_name)

    # -- reading -------------------------------------------------------------------------

    def get(self, record_id: int) -> Record:
        """The record as this user may see it; RecordNotFound for one they may not read (or none),
        PermissionDenied without the object's read permission.

        The record carries a `ReadMark` of this read (records/record.py), so that handing it
        to `timeline` in the same operation (a `snapshot()` or `transaction()`), or to
        `RecentItems.touch` while the user's rights are unchanged, does not read the row again.
        """
        with self._reading("read") as connection:
            row = self._load(connection, record_id)
            record = self._shown(connection, [row])[0]
            return replace(record, read=ReadMark(self.session, self.session.policy, connection,
                                                 self.object_name, record.id))

    def read_here(self, record: Record, connection: Connection | None = None) -> bool:
        """Whether `record` is one of this object's records that `get` read for this session with
        the rights it holds now and, with `connection`, on that operation's connection: then
        its row need not be read again to know the user may read it. False for anything else
        (a record made by a caller, read for another user or object, or before the rights changed).
        """
        mark = record.read if isinstance(record, Record) else None
        return (mark is not None and mark.object == record.object == self.object_name
                and mark.record_id == record.id and mark.context is self.session
                and mark.policy is self.session.policy
                and (connection is None or mark.connection is connection))

    def query(
        self,
        filter: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        sort: Sequence[str] = (),
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
        after: str | None = None,
        fields: Sequence[str] | None = None,
    ) -> Page:
        """A page of records: filtered, searched, sorted; `after` continues from a previous page's cursor.

        `fields`: read only these stored fields (with `id`, `version` and the sort's fields) instead of every
        one, for a page that shows a few columns (the web UI's list and related lists): the records hold only
        those keys, and a derived value (a rollup recomputed for the user) is read as with every field. None
        (the default): every field. A field the user may not read, or one the object does not store, is refused
        as an unknown field (QueryError), as in a filter.

        `sort` is honoured exactly when given. Without it, a search returns its matches newest
        first (descending id: the order the search index yields cheaply, so any search is a
        few milliseconds however many records match), and a list without a search is in the
        object's `default_sort` (query/sorting.py `page_sort`). Asking a search for a sort,
        even the object's default sort, sorts every match: fine for a few thousand, slower
        for a word held by tens of thousands of records. Raises QueryError for a malformed
        query, PermissionDenied without read access.
        """
        with self._reading("read") as connection:
            spec = QuerySpec(filter=filter, sort=tuple(sort), search=search, limit=limit, offset=offset, after=after)
            return self._page(connection, spec, fields)

    def _page(self, connection: Connection, spec: QuerySpec, fields: Sequence[str] | None = None) -> Page:
        """The page `spec` asks for (only `fields`, see `query`), read on an operation's connection (rights
        already checked)."""
        context = self.query_context()
        policy = self.session.policy
        for name in fields or ():
            if not isinstance(name, str):  # an int would be taken by SQLAlchemy for a column's position
                raise unknown_field(self.obj.name, shown(name), ())
        columns = None if fields is None else tuple(dict.fromkeys(("id", "version", *fields)))
        derived = policy.derived.page_columns(self.obj.name, columns) if policy is not None else NO_DERIVED
        fetched = fetch_rows(connection, context, self.obj.name, spec, columns,
                             derived=derived)  # one statement with them
        # Plain str keys, not SQLAlchemy's quoted_name (a str subclass): JSON writers (the API's orjson) take
        # them in their fast path, and they compare and hash exactly alike.
        names = tuple(map(str, fetched[0]._fields)) if fetched else ()
        rows = [dict(zip(names, row)) for row in fetched]
        has_more = len(rows) > spec.limit
        rows = rows[:spec.limit]
        sort = page_sort(context, self.obj.name, spec)
        cursor = page_cursor(context, self.obj.name, sort, rows[-1]) if has_more and rows else None
        return Page(self._shown(connection, rows, derived_read=True), cursor)

    def count(
        self,
        filter: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        search: str | None = None,
        cap: int = 10_000,
        exact: bool = False,
    ) -> Count:
        """How many records match: exact up to `cap`, beyond it capped or estimated, and says which."""
        spec = QuerySpec(filter=filter, search=search)
        with self._reading("read") as connection:
            return count_records(connection, self.query_context(), self.obj.name, spec, cap=cap, exact=exact)

    def group_totals(self, group_by: str, *, sum: str | None = None,
                     filter: Mapping[str, Any] | Sequence[Any] | None = None,
                     search: str | None = None) -> Grouping:
        """Per value of the picklist `group_by`, how many matching records the user may see, and
        their total of `sum` (a kanban board's columns; query/grouping.py), in one grouped query.

        A `sum` field the user may not read is not totalled (`summed` None, every `total` None);
        a hidden `group_by` is refused like an unknown field. Raises QueryError, PermissionDenied.
        """
        with self._reading("read") as connection:
            policy = self.session.policy
            if sum is not None and policy is not None and sum in policy.hidden_fields(self.obj.name):
                sum = None
            spec = QuerySpec(filter=filter, search=search)
            groups = group_totals(connection, self.query_context(), self.obj.name, spec, group_by, sum)
            return Grouping(tuple(groups), sum)

    def suggest(self, text: str | None = None, *, limit: int = 10) -> list[tuple[int, str]]:
        """(id, title) of records matching `text`, for a lookup field's autocomplete; same access rules as lists.

        Records whose title starts with `text` come first, by title (an index range where the
        title is indexed; read first, and when they fill the list no search is read; a searchable
        title without an index: read among the search's matches), then the
        other search matches (query/search.py), newest first; no record twice, at most `limit` in all. The title is shown as the record id where the
        user may not read it. Raises PermissionDenied without read access, QueryError for a
        malformed text.
        """
        with self._reading("read") as connection:  # one operation: the title's visibility as of its rights
            found = self.suggestions(connection, text, limit=limit)
        return [(suggestion.record.id, suggestion.title) for suggestion in found]

    def suggestions(self, connection: Connection, text: str | None, *, limit: int,
                    titles_held: bool | None = None) -> list["Suggestion"]:
        """`suggest`'s records on an operation's connection (UserContext.reading), for callers that read several objects in one operation.

        Checks the read permission as the operation's rights say (PermissionDenied). With no
        text, the first records by title. `titles_held`: False when the caller has asked
        already whether any record's title starts with the text (`title_prefix_condition`,
        records/global_search.py) and none does, so no page of such titles is read; None
        when it has not asked.
        """
        self._allowed(("read",))
        title = self.obj.title_field
        if title and self.session.policy is not None and title in self.session.policy.hidden_fields(self.obj.name):
            title = None  # a title the user may not read is neither shown nor used to sort
        text = text.strip() if isinstance(text, str) else text
        if not text:
            records = self._page(connection, QuerySpec(sort=(title,) if title else ("id",), limit=limit)).records
            return [Suggestion(record, _title(record, title), False) for record in records]
        terms = search_terms(text)  # a text the search refuses is refused as the search's, before any title is read
        prefixed: dict[int, Record] = {}
        startswith = title is not None and "startswith" in self.runtime.field_types.operators(
            self.obj.fields[title], self.runtime.registry)
        # A text of punctuation alone ("(", "#") has no search terms and matches nothing: the titles starting with
        # it are no matches of it, so they are read by the prefix filter, as where the title is indexed.
        among_matches = startswith and bool(terms) and self._title_among_matches(title)
        if startswith and titles_held is not False and not among_matches:
            for prefix in title_prefixes(text):  # an index range each where the title is indexed
                spec = QuerySpec(filter={title: {"startswith": prefix}}, sort=(title,), limit=limit)
                prefixed.update((record.id, record) for record in self._page(connection, spec).records)
        if len(prefixed) >= limit:
            # The titles fill the list: the search is not read (for "Wonka Industries 12" a bitmap of each
            # word's every match, 38 ms at 1,000,000 accounts on PostgreSQL, where the title range takes 2).
            return _ranked(prefixed, [], title)[:limit]
        searched = self._page(connection, QuerySpec(search=text, limit=limit)).records  # newest first
        if among_matches and titles_held is not False and len(searched) >= limit:
            # More matches than the page holds: those whose title starts with the text, read through the search
            # index (every such title is a match), not by testing every record's title.
            prefix_filter = {"or": [{title: {"startswith": prefix}} for prefix in title_prefixes(text)]}
            spec = QuerySpec(search=text, filter=prefix_filter, limit=limit)
            prefixed.update((record.id, record) for record in self._page(connection, spec).records)
        if title:  # and those starting with the text among the matches: a title without the filter, or one whose
            # case the filter's lower() does not fold (SQLite's folds A-Z only: "MÜLLER GmbH" for "müller")
            prefixed.update((record.id, record) for record in searched if record.id not in prefixed
                            and any(_title_starts(record.get(title), prefix) for prefix in title_prefixes(text)))
        return _ranked(prefixed, searched, title)[:limit]

    def new_record_defaults(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults a new record's form shows, so the user sees (and may change) what a save would fill in.

        `values`: the stored values the form already holds (a prefilled parent); returns
        {field: stored value} for the other fields the user may read that have a default: a
        static one, or an expression computed with the user's today()/now() (a close date
        three months from today), as the save would. An expression reading a lookup's record
        is left to the save (SavePipeline.form_defaults). Reads nothing from the database.
        """
        session = self.session
        hidden = self._hidden()
        defaults = self.pipeline.form_defaults(values or {}, session.clock_functions(session.now()))
        return {name: value for name, value in defaults.items() if name not in hidden}

    def _hidden(self) -> frozenset[str]:
        """The fields of this object the session may not read (none for the system)."""
        return hidden_fields(self.session.policy, self.obj.name)

    def _title_among_matches(self, title: str) -> bool:
        """Whether the titles starting with a text are read among the text's search matches: a title the user
        searches in (so each such title is a match) that no index reads as a range (`prefix_fields`), where the
        prefix filter alone would test every record's title (a seq scan of a large custom object per keystroke)."""
        if title in prefix_fields(self.obj, self.runtime.field_types, self.runtime.registry):
            return False
        return title in search_fields(self.query_context(), self.obj.name)

    def title_prefix_condition(self, text: str) -> ColumnElement | None:
        """What a record's title must meet to be among `suggestions`' titles starting with `text`, or None.

        The OR of the `startswith` filters those pages read (one per `title_prefixes`
        variant), without the caller's row filter: a record the caller may not see can meet
        it, so it only tells where no such title exists. None where that is not one index
        range (no title, a title the user may not read or sees through a derived expression,
        a title without a prefix index) or the text is blank.
        """
        title = self.obj.title_field
        text = text.strip() if isinstance(text, str) else ""
        policy = self.session.policy
        if not title or not text or (policy is not None and title in policy.hidden_fields(self.obj.name)):
            return None
        if policy is not None and policy.derived_expression(self.obj.name, title) is not None:
            return None
        if title not in prefix_fields(self.obj, self.runtime.field_types, self.runtime.registry):
            return None
        ctx = self.query_context()
        return or_(*(compile_filter(ctx, self.obj.name, {title: {"startswith": prefix}})
                     for prefix in title_prefixes(text)))

    def export(self, filter: Mapping[str, Any] | Sequence[Any] | None = None, *, sort: Sequence[str] = (),
               search: str | None = None, fields: Sequence[str] | None = None, format: str = "csv",
               bom: bool = True):
        """Every matching record, streamed as CSV lines (header first) or dicts; needs the export permission.

        CSV is safe to open in a spreadsheet (formula-like text is prefixed with "'", OWASP CSV
        Injection) and starts with a UTF-8 byte order mark unless bom=False (records/export.py).
        """
        from crmkit.engine.records.export import export_records

        return export_records(self, filter, sort=sort, search=search, fields=fields, format=format, bom=bom)

    def history(self, record_id: int) -> list[dict[str, Any]]:
        """The record's whole field history, oldest first; the entries of fields the user may not read are left out.

        Each entry: id, object, record_id, operation, field, old_value, new_value (JSON),
        changed_at, changed_by. For a page at a time, newest first, see `timeline`.
        """
        with self._reading("read") as connection:
            table = self.runtime.system_table("crmkit_history")
            hidden = stored_withheld(self.session.policy, self.obj.name)
            self._load(connection, record_id)
            rows = connection.execute(
                select(table).where(table.c.object == self.obj.name, table.c.record_id == record_id)
                .order_by(table.c.changed_at, table.c.id)
            )
            return [dict(row._mapping) for row in rows if row.field not in hidden]

    def timeline(self, record: "int | Record", *, after: str | None = None, limit: int = PAGE_SIZE) -> TimelinePage:
        """The record's field history and the activities pointing at it, newest first, `limit` entries a page.

        `record`: its id, or the Record `get` returned in this same operation (a `snapshot()`
        or `transaction()`), whose row is then not read again (`read_here`); any other Record
        is checked by its id. `after` is the previous page's `next_cursor`. RecordNotFound for
        a record the user may not read; QueryError for a damaged cursor. What the user may not
        see is left out: records/timeline.py says how.
        """
        with self._reading("read") as connection:
            record_id = record.id if isinstance(record, Record) else record
            if not self.read_here(record, connection):
                self._load(connection, record_id)
            return read_timeline(self, connection, record_id, after, limit)

    def query_context(self) -> QueryContext:
        actor = self.session.actor
        return QueryContext(
            self.runtime.registry, self.runtime.schema, self.runtime.field_types,
            today=self.session.today(), timezone=actor.timezone, language=actor.language,
            row_filter=self.session.row_filter,
            hidden_fields=self.session.policy.hidden_fields if self.session.policy else None,
            derived=self.session.policy.derived_expression if self.session.policy else None,
        )

    # -- writing -------------------------------------------------------------------------

    def create(self, values: Mapping[str, Any]) -> Record:
        with self._writing("create") as connection:
            record = self._create(connection, values)
            return self._shown(connection, [dict(record.values)])[0]

    def update(self, record_id: int, values: Mapping[str, Any], *, version: int) -> Record:
        """Change a record read at `version`; refused with StaleRecordError if it changed since."""
        with self._writing("edit") as connection:
            record = self._update(connection, record_id, values, version)
            return self._shown(connection, [dict(record.values)])[0]

    def delete(self, record_id: int, *, version: int | None = None) -> str:
        """Move the record (and its cascade) to the recycle bin; returns the bin batch id."""
        from crmkit.engine.records.recycle import Deleter

        with self._writing("delete") as connection:
            current = self._load(connection, record_id, lock=True, level="edit")
            policy = self.session.policy
            if policy is not None and not policy.may_delete(self.obj.name, current):
                raise PermissionDenied(messages.MAY_NOT_DELETE(object=self.obj.name, id=record_id))
            if version is not None and current["version"] != version:
                raise StaleRecordError(self.obj.name, record_id, version, current["version"])
            return Deleter(connection, self.session).delete(self.obj.name, current)

    def update_many(self, records: "Mapping[Any, int | None] | Sequence[Any]", values: Mapping[str, Any]
                    ) -> "BulkResult":
        """Set `values` on each of `records` ({id: version} or [id]), each saved on its own (bulk_changes.py).

        PermissionDenied without the edit permission, RecordError beyond MAX_RECORDS (200) ids;
        the rest is reported per record in the BulkResult.
        """
        from crmkit.engine.records.bulk_changes import update_many

        return update_many(self, records, values)

    def delete_many(self, records: "Mapping[Any, int | None] | Sequence[Any]") -> "BulkResult":
        """Move each of `records` ({id: version} or [id]) to the recycle bin on its own (bulk_changes.py)."""
        from crmkit.engine.records.bulk_changes import delete_many

        return delete_many(self, records)

    def bulk_create(self, rows: Iterable[Mapping[str, Any]], *, batch_size: int = 1000) -> int:
        """Create many records through the same pipeline, written in batches; returns how many."""
        from crmkit.engine.records.bulk import bulk_create

        return bulk_create(self, rows, batch_size=batch_size)

    def _create(self, connection: Connection, input_values: Mapping[str, Any]) -> Record:
        session = self.session
        actor, pipeline, obj = session.actor, self.pipeline, self.obj
        now = session.now()
        clock = session.clock_functions(now)
        self._check_field_access(input_values, previous=None)
        prepared = self._prepare(connection, input_values, previous=None, clock=clock)
        values = self.before_save(connection, prepared.values, None, clock)
        for fdef in pipeline.autonumbers:
            values[fdef.name] = allocate_numbers(connection, self.runtime, obj.name, fdef)[0]
        values.update(created_at=now, updated_at=now, created_by=actor.user_id, updated_by=actor.user_id, version=1)
        if values.get("owner_id") is None:
            values["owner_id"] = actor.user_id
        values.pop("id", None)
        together = pipeline.create_statement(tuple(values))
        with constraint_errors(obj, values, self._hidden()):
            if together is None:
                values["id"] = pipeline.insert_record(connection, values)
            else:  # PostgreSQL: the record, its history row and its search row in one statement
                values["id"] = execute_compiled(connection, together.statement,
                                                together.parameters(values, actor.user_id, now)).scalar_one()
        after_write(connection, session, [RecordEvent.of(obj.name, Operation.CREATE, None, values, actor, now)],
                    written=WRITTEN_WITH_RECORD if together is not None else frozenset())
        return Record(obj.name, values)

    def before_save(self, connection: Connection, values: dict[str, Any], previous: Mapping[str, Any] | None,
                    clock: Mapping[str, Any]) -> dict[str, Any]:
        """The `crmkit_before_save` hook on validated values; what it changed is checked again.

        A hook may set (or refuse) a field the user may not read: its errors are told as `_prepare`'s are.
        """
        if not self.runtime.hooks.crmkit_before_save.get_hookimpls():
            return values  # no plugin implements it: no draft to build, nothing a hook could change
        actor = self.session.actor
        operation = Operation.CREATE if previous is None else Operation.UPDATE
        try:
            draft = before_save(self.session, RecordDraft(self.obj.name, operation, previous, actor, values,
                                                          self.pipeline.coerce_one))
            if draft.changed:
                self.pipeline.recheck(connection, values, draft.changed, previous=previous, language=actor.language,
                                      clock=clock, hidden=self._hidden(), reasons=may_see_reasons(self.session))
        except RecordValidationError as error:
            raise self._told(error) from None
        return values

    def _update(self, connection: Connection, record_id: int, input_values: Mapping[str, Any], version: int,
                *, gather: bool = False) -> Record:
        """`gather` (an import's row): every fault of the values in one RecordValidationError (`_checked`)."""
        actor = self.session.actor
        current = self._load(connection, record_id, lock=True, level="edit")
        if current["version"] != version:
            raise StaleRecordError(self.obj.name, record_id, version, current["version"])
        now = self.session.now()
        clock = self.session.clock_functions(now)
        if gather:
            prepared = self._checked(connection, input_values, previous=current, clock=clock)
        else:
            self._check_field_access(input_values, previous=current)
            prepared = self._prepare(connection, input_values, previous=current, clock=clock)
        values = self.before_save(connection, prepared.values, current, clock)
        changes = {name: value for name, value in values.items() if current.get(name) != value}
        if not changes:
            return Record(self.obj.name, current)
        changes.update(updated_at=now, updated_by=actor.user_id, version=version + 1)
        with constraint_errors(self.obj, prepared.values, self._hidden()):
            result = connection.execute(self.pipeline.update_statement,
                                        {**changes, "_record_id": record_id, "_expected_version": version})
        if result.rowcount != 1:
            latest = self._load(connection, record_id)
            raise StaleRecordError(self.obj.name, record_id, version, latest["version"])
        values = dict(current)
        values.update(changes)
        after_write(connection, self.session, [RecordEvent.of(self.obj.name, Operation.UPDATE, current, values, actor,
                                                              now)])
        return Record(self.obj.name, values)

    def _checked(self, connection: Connection, input_values: Mapping[str, Any],
                 previous: Mapping[str, Any] | None, *, clock: Mapping[str, Any],
                 check_lookups: bool = True) -> Prepared:
        """Field access and the save pipeline, every fault found in one RecordValidationError (an import's row:
        its report names them all, not only the first stage's)."""
        try:
            self._check_field_access(input_values, previous=previous)
        except RecordValidationError as error:
            denied = error.errors
        else:
            denied = {}
        try:
            prepared = self._prepare(connection, input_values, previous=previous, clock=clock,
                                     check_lookups=check_lookups, gather=True)
        except RecordValidationError as error:
            raise RecordValidationError(joined(denied, error.errors)) from None
        if denied:
            raise RecordValidationError(denied)
        return prepared

    def _prepare(self, connection: Connection, input_values: Mapping[str, Any],
                 previous: Mapping[str, Any] | None, *, clock: Mapping[str, Any],
                 check_lookups: bool = True, gather: bool = False) -> Prepared:
        """The save pipeline for this session; errors about fields the user may not read name neither field nor value."""
        actor = self.session.actor
        automate = None
        if rule_checks(self.pipeline, "create" if previous is None else "update", self.session.automation,
                       before=True) or self.obj.scoring is not None:
            def automate(connection: Connection, values: dict[str, Any]) -> list[str]:
                return run_before_save(self.session, connection, self.pipeline, values, previous, clock)
        try:
            return self.pipeline.prepare(connection, input_values, previous=previous, system=actor.system,
                                         language=actor.language, row_filter=self.session.row_filter,
                                         check_lookups=check_lookups, clock=clock, hidden=self._hidden(),
                                         automate=automate, reasons=may_see_reasons(self.session), gather=gather)
        except RecordValidationError as error:
            raise self._told(error) from None

    def _told(self, error: RecordValidationError) -> RecordValidationError:
        """`error` as this session may be told it: errors of fields it may not read become one record-level sentence."""
        if not set(error.errors) & self._hidden():
            return error
        return RecordValidationError(shown_errors(self.session.policy, self.obj.name, error.errors))

    def _load(self, connection: Connection, record_id: Any, *, lock: bool = False, level: str = "read") -> dict[str, Any]:
        """The stored record, if this session may read it (and with level="edit", change it).

        A record the user cannot read is reported exactly like a missing one.
        """
        if not is_record_id(record_id):  # not an int, or beyond the 64-bit ids both databases store
            raise RecordNotFound(self.obj.name, record_id if type(record_id) is int else shown(record_id))
        query = select(self.table).where(self.table.c.id == record_id)
        policy = self.session.policy
        readable = policy.row_filter(self.obj.name) if policy else None
        if readable is not None:
            query = query.where(readable)
        editable = policy.row_filter(self.obj.name, "edit") if policy and level == "edit" else None
        if editable is not None:
            # One query answers both "may read" (the row comes back) and "may edit" (the flag).
            query = query.add_columns(case((editable, True), else_=False).label(EDITABLE))
        if lock and not self.runtime.is_sqlite:
            query = query.with_for_update()
        row = connection.execute(query).first()
        if row is None:
            raise RecordNotFound(self.obj.name, record_id)
        values = dict(row._mapping)
        if editable is not None and not values.pop(EDITABLE):
            raise PermissionDenied(messages.SEE_NOT_CHANGE(object=self.obj.name, id=record_id))
        return values

    @contextmanager
    def _reading(self, *permissions: str) -> Iterator[Connection]:
        """Every read starts here: its connection, on which the user's current rights are read
        first (UserContext.reading), and which must allow each of `permissions`."""
        with self.session.reading() as connection:
            self._allowed(permissions)
            yield connection

    @contextmanager
    def _writing(self, *permissions: str) -> Iterator[Connection]:
        """Every write starts here: `_reading`'s rule, in a write transaction (UserContext.writing)."""
        with self.session.writing() as connection:
            self._allowed(permissions)
            yield connection

    def _allowed(self, permissions: Sequence[str]) -> None:
        """PermissionDenied unless the session's rights, as read for this operation, allow every permission."""
        policy = self.session.policy
        if policy is not None:
            for permission in permissions:
                policy.require(self.object_name, permission)

    def _require(self, permission: str) -> None:
        """For paths outside an operation's connection: the user's current rights
        (UserContext.refresh_rights, a read of its own) must allow `permission`."""
        self.session.refresh_rights()
        self._allowed((permission,))

    def _check_field_access(self, values: Mapping[str, Any], previous: Mapping[str, Any] | None) -> None:
        """Hidden fields do not exist for the user; visible but not editable ones are refused by name."""
        policy = self.session.policy
        if policy is None:
            return
        obj = self.obj
        fields, object_name = obj.fields, obj.name
        errors: dict[str, list[str]] = {}
        for name in values:
            if name == "owner_id":
                problem = self._owner_problem(values[name], previous)
                if problem:
                    errors[name] = [problem]
            elif name not in fields:
                continue
            elif not policy.can_read_field(object_name, name):
                errors[name] = [messages.NOT_A_FIELD(object=object_name)]
            elif not policy.can_edit_field(object_name, name):
                errors[name] = [messages.READ_NOT_EDIT()]
        if errors:
            raise RecordValidationError(errors)

    def _owner_problem(self, given: Any, previous: Mapping[str, Any] | None) -> str | None:
        """Why this user may not set the owner to `given` (None: they may), on create and update alike.

        A record can be given only to oneself or to users below, unless the user has
        `modify_all`; and only by someone with full access to it (its owner, users above
        the owner, `modify_all`): edit access through a share or sharing rule is not
        ownership (Salesforce's transfer rule). Giving a record the owner it has changes nothing.
        """
        policy = self.session.policy
        owner = self._owner_value(given)
        if previous is not None and owner == previous.get("owner_id"):
            return None
        if owner is None:
            return messages.KEEP_AN_OWNER() if previous is not None else None
        if previous is not None and not policy.has_full_access(self.obj.name, previous.get("owner_id")):
            label = self.obj.plural_label.get(self.session.actor.language)
            return messages.OWNER_ONLY_GIVES(objects=label)
        if not (policy.can(self.obj.name, "modify_all") or owner in policy.user.visible_owner_ids):
            return messages.GIVE_ONLY_BELOW()
        return None

    def _owner_value(self, given: Any) -> Any:
        """The owner id as it will be stored; input that is not an id is left for the pipeline to refuse."""
        if given is None:
            return None
        try:
            return self.pipeline.coerce_one("owner_id", given)
        except RecordValidationError:
            return given

    def _shown(self, connection: Connection, rows: list[dict[str, Any]], *, derived_read: bool = False) -> list[Record]:
        """Records as this session may see them: hidden fields removed, rollups over visible children
        (`derived_read`: the rows hold the user's derived values already, security/shaping.py)."""
        obj = self.obj
        return [Record(obj.name, row) for row in shown_rows(connection, self.runtime, self.session.policy, obj, rows,
                                                            derived_read=derived_read)]


def joined(*errors: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Field errors of several checks, each field's sentences once, in order."""
    together: dict[str, list[str]] = {}
    for found in errors:
        for name, texts in found.items():
            kept = together.setdefault(name, [])
            kept.extend(text for text in texts if text not in kept)
    return together
