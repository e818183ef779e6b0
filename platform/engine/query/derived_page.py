"""A page's rows with one user's derived values (recomputed rollups, masked formulas) read beside them.

    >>> derived = DerivedColumns(correlated=(("masked_formula", case(...)),),
    ...                          grouped=(RollupGroup(opportunity.c.account, owner_id == 7, (("won_amount", sum_, type_, False),)),))
    >>> statement = derived_page(table, page_statement, derived, lambda page: [page.c.name, page.c.id])

Which values a user sees recomputed or masked is decided in security/derived.py; this
module only reads them. A masked formula and a rollup that has no grouped form are one
correlated expression each, computed for the page's rows alone. The rollups over one
child object through one lookup, restricted by the user's row filter on that child
(`RollupGroup`), are read in one grouped pass over the children of the page's records,
joined to the page statement itself (`_in_page`, for a page read from the object's table):

    SELECT account.*, coalesce(rollups_0.open_count, 0) AS open_count, rollups_0.won_amount ...
    FROM account LEFT OUTER JOIN (
        SELECT opportunity.account AS parent_id,
               count(*) FILTER (WHERE <open>) AS open_count, sum(amount) FILTER (WHERE <won>) AS won_amount
        FROM opportunity
        WHERE opportunity.account IN (SELECT account.id FROM account WHERE <page> ORDER BY <sort> LIMIT 51)
          AND <the user's row filter>
        GROUP BY opportunity.account) AS rollups_0 ON rollups_0.parent_id = account.id
    WHERE <page> ORDER BY <sort> LIMIT 51

A page read from the object's table joined to a CTE of its ids (`page_ids`: a sales rep's
page merged from the branches of their row filter, query/sorting.py `merged_page`) is the
same, its grouped reads taking `... IN (SELECT page_ids.id FROM page_ids)`: the ids are
merged once, not again for each child object. Any other page statement (a UNION of two
reads, a SELECT joined to another table) is wrapped instead: `WITH page AS (<the page>)
SELECT page.*, ... FROM page LEFT OUTER JOIN (... IN (SELECT page.id FROM page) ...)
ORDER BY <sort over page>`.

Why: as one correlated subquery per rollup and row (the form before), a sales rep's page of
50 accounts ran 4 x 51 lookups of the opportunity index (one per rollup over opportunity)
and 2 x 51 of activity's, after copying the page into a subquery and joining it back to
account by primary key for the subqueries to correlate to, then sorting it again. Measured
on the bench's 1,000,000 accounts and 1,000,000 opportunities (a rep's page of 50 owned
accounts), in SQLite virtual-machine instructions per page read (x10, deterministic):
administrator 1,980; rep before 11,126; rep wrapped as a CTE 8,025; rep in the page
statement 4,190. Plans (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL, ANALYZEd
tables): the page is an in-order walk of the owner twin index (`ix_account_owner_id_name`)
that stops after 51 rows, with no sort step; the page's ids are an index-only walk of the
same 51 entries; each grouped read looks up the child's lookup index once per id (SQLite:
`SEARCH opportunity USING INDEX ix_opportunity_account_... (account=?)` under `LIST
SUBQUERY`, then `AUTOMATIC COVERING INDEX (parent_id=?) LEFT-JOIN`; PostgreSQL: a nested
loop over the ids with an index scan per id, materialised under a nested-loop left join
that keeps the index order).

The values are the same as the correlated form's (records/propagation.py `grouped_rollup`):
a parent none of whose children the user sees gets no grouped row, hence NULL, or 0 for a
count; a child the rollup's condition leaves out is left out of the aggregate by FILTER.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, func, select, type_coerce
from sqlalchemy.sql.elements import ClauseList, Grouping
from sqlalchemy.sql.selectable import CTE, Join
from sqlalchemy.sql.visitors import replacement_traverse


@dataclass(frozen=True, eq=False)
class RollupGroup:
    """Rollups over one child object through one lookup, as one user sees them: one grouped read per page."""

    #: The child's lookup column to the parent object (its table is what the group reads).
    via: Any
    #: The user's row filter on the child object; None: every child.
    restriction: ColumnElement | None
    #: (field name, aggregate with its condition as FILTER, the field's column type, a count: 0 where no child).
    measures: tuple[tuple[str, ColumnElement, Any, bool], ...]


@dataclass(frozen=True, eq=False)
class DerivedColumns:
    """The derived fields one user sees with other values than the stored ones, for one object.

    Compared by identity: built once per session and object (security/derived.py), so page
    statements made with it may be remembered by its id.
    """

    #: (name, expression correlated to the object's table): masked formulas, rollups without a grouped form.
    correlated: tuple[tuple[str, ColumnElement], ...] = ()
    grouped: tuple[RollupGroup, ...] = ()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.correlated) | frozenset(
            name for group in self.grouped for name, *_ in group.measures)

    def __bool__(self) -> bool:
        return bool(self.correlated or self.grouped)


NO_DERIVED = DerivedColumns()


def derived_page(table: Any, statement: Any, derived: DerivedColumns,
                 order: Callable[[Any], Sequence[Any]]) -> Select:
    """`statement` (a page of `table`'s rows, with their `id`) with `derived`'s values in place of the stored ones.

    A page read from `table` alone (a plain SELECT: a list's first page, a keyset page, a
    search's page of matched ids) gets the values in its own statement (`_in_page`); so does
    a page read from `table` joined to its ids (`page_ids`: a page read branch by branch),
    whose rollups read those ids. Any other page (a UNION of two reads, a SELECT joined to
    another table) is wrapped: `order(page)` gives the ORDER BY terms over the page's columns (its own order);
    correlated expressions need the table beside the page (joined by id); grouped rollups
    read the page's ids from a CTE (see the module docstring).
    """
    if isinstance(statement, Select):
        froms = final_froms(statement)
        if froms == [table]:
            return _in_page(table, statement, derived, statement.with_only_columns(table.c.id))
        ids = _page_ids(table, froms)
        if ids is not None:
            return _in_page(table, statement, derived, select(ids.c.id))
    page = statement.cte("page") if derived.grouped else statement.subquery("page")
    replaced = derived.names
    columns: list[Any] = [column for column in page.c if column.key not in replaced]
    source: Any = page
    if derived.correlated:
        source = source.join(table, table.c.id == page.c.id)
        columns += [expression.label(name) for name, expression in derived.correlated]
    for number, group in enumerate(derived.grouped):
        totals = _grouped_totals(select(page.c.id), group).subquery(f"rollups_{number}")
        source = source.outerjoin(totals, totals.c.parent_id == page.c.id)
        columns += _values(totals, group)
    return select(*columns).select_from(source).order_by(*order(page))


def final_froms(statement: Select) -> list[Any]:
    """The FROM elements `statement` renders (tables, joins, subqueries, CTEs), as `Select.get_final_froms()` gives them.

    Worked out from the statement's own compile state, as SQLAlchemy 1.4 did: 2.1's
    `get_final_froms` compiles the whole statement first (0.9 ms for a rep's search page at
    the bench's 1,000,000 accounts, twice per page here; 0.03 ms this way). The same list for
    any Core SELECT (tests/engine/test_derived_page.py).
    """
    return list(statement._compile_state_factory(statement, None)._get_display_froms())


def page_ids(ids: Select) -> CTE:
    """`ids` (a page's ids, `id` among its columns, at most a page of rows) as the CTE a page statement joins.

    A page statement `SELECT <table's columns> FROM <table> JOIN page_ids ON <table>.id =
    page_ids.id ...` (query/sorting.py `merged_page`) gets its derived values in its own
    statement, the rollups reading the CTE's ids: the page's ids are worked out once (the
    database materialises a CTE read more than once), not once for the rows and again for
    each child object's grouped read.
    """
    return ids.cte(PAGE_IDS)


#: The name of the CTE of a page's ids (`page_ids`), by which derived_page knows it.
PAGE_IDS = "page_ids"


def _page_ids(table: Any, froms: Sequence[Any]) -> CTE | None:
    """The `page_ids` CTE when `froms` is `table` joined to it on `id`, else None."""
    if len(froms) != 1 or not isinstance(froms[0], Join):
        return None
    join = froms[0]
    ids = join.right
    if join.left is not table or not isinstance(ids, CTE) or ids.name != PAGE_IDS or "id" not in ids.c:
        return None
    return ids if join.onclause.compare(table.c.id == ids.c.id) else None


def _in_page(table: Any, statement: Select, derived: DerivedColumns, ids: Select) -> Select:
    """The page statement itself with the derived values as columns: its rows are read as before.

    `SELECT account.<stored columns>, <correlated>, coalesce(rollups_0.x, 0) ... FROM account
    LEFT OUTER JOIN (<grouped read of the children of the page's ids>) AS rollups_0 ON
    rollups_0.parent_id = account.id WHERE <the page's filter> ORDER BY <its order> LIMIT n`.
    The page's ids are the same statement selecting `id` alone (an index-only walk of the
    page's 51 entries). Planned on the bench's 1,000,000 accounts: SQLite walks the owner twin
    index in order (no sort step, no page copied into a CTE first) and probes each grouped
    read through an automatic index; PostgreSQL keeps the index scan and its order under
    nested-loop left joins. 8,000 SQLite VM instructions (x10) per rep page became 3,000 here,
    against 2,000 for the administrator's page without derived values. `ids`: the page's ids
    for the grouped reads (the same statement selecting `id` alone, or the ids a page joins).
    """
    replaced = derived.names
    columns: list[Any] = [column for column in statement.selected_columns if column.key not in replaced]
    columns += [expression.label(name) for name, expression in derived.correlated]
    source: Any = final_froms(statement)[0]
    for number, group in enumerate(derived.grouped):
        totals = _grouped_totals(ids, group).subquery(f"rollups_{number}")
        source = source.outerjoin(totals, totals.c.parent_id == table.c.id)
        columns += _values(totals, group)
    return statement.with_only_columns(*columns).select_from(source)


def _values(totals: Any, group: RollupGroup) -> list[Any]:
    """The group's values as page columns: a count of no children is 0, any other aggregate of none NULL."""
    values = []
    for name, _, column_type, counts in group.measures:
        value = func.coalesce(totals.c[name], 0) if counts else totals.c[name]
        values.append(type_coerce(value, column_type).label(name))
    return values


def _grouped_totals(ids: Select, group: RollupGroup) -> Select:
    """`SELECT via AS parent_id, <measures> FROM child WHERE via IN (<ids>) AND <restriction> GROUP BY via`."""
    measures = [one_by_one(measure).label(name) for name, measure, *_ in group.measures]
    statement = select(group.via.label("parent_id"), *measures).where(group.via.in_(ids))
    if group.restriction is not None:
        statement = statement.where(one_by_one(group.restriction))
    return statement.group_by(group.via)


def one_by_one(clause: ColumnElement) -> ColumnElement:
    """`clause` with each list of values of an `IN` bound value by value: `stage NOT IN (?, ?)`.

    SQLAlchemy binds `column.in_([...])` as one "expanding" parameter, and then renders the
    statement's text again at every execution to spell the list out (a regular-expression
    pass over the whole SQL, a tenth of a millisecond for a rep's page statement, whose
    rollup conditions hold such lists). A rollup's condition and a row filter are fixed for
    the session, so their lists are fixed too: bound one by one, the text is rendered once.
    An empty list keeps its expanding parameter (SQLAlchemy writes it as an always-false test).
    """
    def bound(element: Any) -> Any:
        if isinstance(element, BindParameter) and element.expanding and isinstance(element.value, (list, tuple)) \
                and element.value:
            return Grouping(ClauseList(*(bindparam(None, value, type_=element.type) for value in element.value)))
        return None

    return replacement_traverse(clause, {}, bound)
