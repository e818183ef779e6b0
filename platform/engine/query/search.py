"""Quick search through the object's search index: every term must match a searchable field.

    >>> search_clause(ctx, "account", "acme 上海")

A term matches a field holding a word that starts with it ("acm" finds "Acme", "123"
finds "12345"), or, for Chinese, Japanese and Korean text, the same characters in a row
(see query/tokens.py). Search matches words and word prefixes, not arbitrary substrings
of Latin words ("cme" does not find "Acme"). Case is ignored beyond A-Z.

The clause is `id IN (SELECT id FROM crmkit_<object>_search WHERE ...)` over the search
index (query/search_index.py), looking only in the searchable fields the caller may read:
fields hidden by field-level security, and fields whose value the caller sees through a
per-user derived expression (security/derived.py), are left out, so a record is never
found by a value the caller could not see.

A search without an explicit sort is read newest first, in the index's own order
(query/search_pages.py). A search sorted by fields plans its search first
(`planned_search`; on PostgreSQL its rare part first where it has one, query/search_parts.py): few matches are read as a set and sorted; a common word is tested row
by row along the sort order's index while that fills the page quickly, else read as a set
too (query/sorting.py `fetch_rows`).
"""
from __future__ import annotations

from itertools import product
from typing import Mapping, Sequence

from sqlalchemy import ColumnElement, Connection, Executable, and_, false, literal, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, bindparam
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean

from crmkit.engine import messages
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.filters import QueryContext, compile_filter
from crmkit.engine.query.inputs import MAX_SEARCH_LENGTH, checked_text
from crmkit.engine.query.lists import one_of_ids
from crmkit.engine.query.querystring import QuerySpec
from crmkit.engine.query.search_index import indexed_fields, pending_table_name, search_table_name, token_column
from crmkit.engine.query.tokens import index_form, query_tokens

MAX_TERMS = 10
#: PostgreSQL: an index read of several terms is written as the OR of every way to give each term one of the
#: columns when there are at most this many ways (`_index_condition`): 2 columns and up to 3 terms.
ASSIGNMENTS = 8
#: A search matching at most this many records is read as that set; more, row by row (`planned_search`).
#: On PostgreSQL the ids themselves travel (one array); SQLite only counts them, and its FTS5
#: set is cheap to sort up to more matches (12 ms for 5,000, 25 ms for 20,000 at 1M records).
FEW_MATCHES = 10_000
FEW_MATCHES_SQLITE = 20_000

#: One term: the (token, is_prefix) pairs one field must all hold.
Term = tuple[tuple[str, bool], ...]


def search_fields(ctx: QueryContext, object_name: str) -> list[str]:
    """The indexed fields the caller's search looks in: those they may read as stored."""
    return _readable(ctx, object_name, indexed_fields(ctx.registry, ctx.field_types, ctx.object(object_name)))


def _readable(ctx: QueryContext, object_name: str, stored: Sequence[str]) -> list[str]:
    hidden = ctx.hidden_fields(object_name) if ctx.hidden_fields is not None else frozenset()
    derived = ctx.derived if ctx.derived is not None else (lambda _object, _field: None)
    return [name for name in stored if name not in hidden and derived(object_name, name) is None]


def search_terms(text: str | None) -> list[Term]:
    """The terms of a search text, each as its tokens; QueryError for text that is too long or malformed."""
    if text is not None and not isinstance(text, str):
        raise QueryError(f"the search must be text, not {text!r}.")
    if text and len(text) > MAX_SEARCH_LENGTH:
        raise QueryError(messages.SEARCH_TOO_LONG(count=f"{len(text):,}", max=f"{MAX_SEARCH_LENGTH:,}"))
    words = checked_text(text or "", "the search").split()
    if len(words) > MAX_TERMS:
        raise QueryError(messages.SEARCH_TOO_MANY_WORDS(count=len(words), max=MAX_TERMS))
    return [tuple(tokens) for tokens in map(query_tokens, words) if tokens]


def search_clause(ctx: QueryContext, object_name: str, text: str | None,
                  within: Sequence[str] | None = None) -> ColumnElement:
    """The records every term of `text` matches (true() for a blank search), through the search index.

    A term of punctuation alone ('%', '-') asks for nothing and is left out; a search made only
    of such terms matches nothing. `within` narrows the fields looked in (of those the caller
    may search) to these.
    """
    terms = search_terms(text)
    if not terms:
        return false() if (text or "").split() else true()
    stored = indexed_fields(ctx.registry, ctx.field_types, ctx.object(object_name))
    names = [name for name in _readable(ctx, object_name, stored) if within is None or name in within]
    if not names and (within is not None or stored):
        return false()  # every searchable field is hidden from (or masked for) this caller: nothing to find
    if not names:
        raise QueryError(messages.NOT_SEARCHABLE(object=object_name))
    return SearchMatch(ctx.schema.table(object_name).c.id, search_table_name(object_name),
                       tuple(token_column(name) for name in names), tuple(terms),
                       positions=tuple(stored.index(name) for name in names))


class SearchMatch(ColumnElement):
    """`id IN (the search table's matches)`, written for each database's index (see the module docstring).

    The search text travels in bound parameters made here (`fts`, `tsqueries`, `needles`),
    which the statement cache extracts, so a page's statement is compiled once per shape
    (object, fields, number and kind of tokens), not once per search text.
    """

    __visit_name__ = "crmkit_search_match"
    inherit_cache = True
    type = Boolean()
    #: Already a condition: no "= 1" is added where a database lacks a boolean type.
    _is_implicitly_boolean = True
    _traverse_internals = [("id_column", InternalTraversal.dp_clauseelement),
                           ("index_table", InternalTraversal.dp_string),
                           ("columns", InternalTraversal.dp_string_list),
                           ("positions", InternalTraversal.dp_plain_obj),
                           ("shape", InternalTraversal.dp_plain_obj),
                           ("per_row", InternalTraversal.dp_boolean),
                           ("ways", InternalTraversal.dp_boolean),
                           ("fts", InternalTraversal.dp_clauseelement),
                           ("tsqueries", InternalTraversal.dp_clauseelement_tuple),
                           ("needles", InternalTraversal.dp_clauseelement_tuple)]

    def __init__(self, id_column, index_table: str, columns: tuple[str, ...], terms: tuple[Term, ...],
                 *, positions: tuple[int, ...], per_row: bool = False, ways: bool = False,
                 words: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.id_column = id_column
        self.index_table = index_table
        self.columns = columns
        self.terms = terms
        #: Where each of `columns` is among the search table's columns (SQLite's content table names them c0, c1, ...).
        self.positions = positions
        #: Written as a test of each row the query reads (see `planned_search`), not as a set of ids.
        self.per_row = per_row
        #: PostgreSQL: an index read of it is written as the OR of each way to give the terms columns (`_index_condition`).
        self.ways = ways
        #: What the SQL looks like apart from the parameters' values: each term's prefix flags.
        self.shape = tuple(tuple(prefix for _token, prefix in term) for term in terms)
        #: SQLite's MATCH text; PostgreSQL's tsquery of each term; SQLite's per-row needle of each token.
        self.fts = bindparam(None, fts5_query(columns, terms), unique=True)
        #: PostgreSQL: prefixes (as the index is asked for them) to ask as the words they start, {prefix: words}
        #: (query/search_words.py). Only the tsqueries' values change: the SQL is the same.
        self.words: Mapping[str, tuple[str, ...]] = words or {}
        self.tsqueries = tuple(bindparam(None, tsquery_text(term, self.words), unique=True) for term in terms)
        self.needles = tuple(bindparam(None, f" {token}" + ("" if prefix else " "), unique=True)
                             for term in terms for token, prefix in map(_asked, term))

    def row_by_row(self, id_column=None) -> "SearchMatch":
        """The same match as a test of each row read (on `id_column`, by default the table's id)."""
        return SearchMatch(self.id_column if id_column is None else id_column, self.index_table, self.columns,
                           self.terms, positions=self.positions, per_row=True, words=self.words)

    def term(self, position: int) -> "SearchMatch":
        """The match of its term at `position` alone, over the same columns (query/search_parts.py reads a rare one first)."""
        return SearchMatch(self.id_column, self.index_table, self.columns, (self.terms[position],),
                           positions=self.positions, words=self.words)

    def as_set(self) -> "SearchMatch":
        """The same match as `id IN (every match)`."""
        return SearchMatch(self.id_column, self.index_table, self.columns, self.terms, positions=self.positions,
                           ways=self.ways, words=self.words)

    def by_ways(self) -> "SearchMatch":
        """The same match, its index reads written as the OR of each way to give its terms columns (PostgreSQL)."""
        return SearchMatch(self.id_column, self.index_table, self.columns, self.terms, positions=self.positions,
                           per_row=self.per_row, ways=True, words=self.words)

    def with_words(self, words: Mapping[str, tuple[str, ...]]) -> "SearchMatch":
        """The same match, each prefix in `words` asked as the words it starts (query/search_words.py)."""
        return SearchMatch(self.id_column, self.index_table, self.columns, self.terms, positions=self.positions,
                           per_row=self.per_row, ways=self.ways, words=words)


class IndexCondition(ColumnElement):
    """The search table's own WHERE for a match (SQLite: `<fts table> MATCH :q`), for a query that joins that table.

    `indexed`: the condition is what an index read asks for (PostgreSQL: a CTE of every match), not a test of
    rows read another way (a walk along the primary key); PostgreSQL writes it for the GIN index then (`_index_condition`).
    """

    __visit_name__ = "crmkit_index_condition"
    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True
    _traverse_internals = [("match", InternalTraversal.dp_clauseelement), ("indexed", InternalTraversal.dp_boolean)]

    def __init__(self, match: SearchMatch, *, indexed: bool = False) -> None:
        self.match = match
        self.indexed = indexed


class ContentHeld(ColumnElement):
    """SQLite: the match tested on the row of the FTS5 content table (`<search table>_content`) a query reads.

    For a walk of the content table itself, newest first (query/search_pages.py): `instr` of
    each token in the row's stored token text, as `SearchMatch.row_by_row` tests a record's
    row, without looking the row up again.
    """

    __visit_name__ = "crmkit_content_held"
    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True
    _traverse_internals = [("match", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, match: SearchMatch, name: str | None = None) -> None:
        self.match = match
        #: The name the query gives the content table's rows (a subquery's alias), or None: the table's own name.
        self.name = name


class PendingHeld(ContentHeld):
    """SQLite: the match tested on the row of the pending table (`<search table>_pending`, query/search_index.py)
    a query reads: `ContentHeld` on the pending table's own token columns (`name`: the name the query gives the
    pending table's rows, or None: the table's own name)."""

    __visit_name__ = "crmkit_pending_held"
    inherit_cache = True


def match_pending_name(match: SearchMatch) -> str:
    """SQLite: the pending table of a match's search table (id, then the token columns by their own names)."""
    return pending_table_name(match.index_table)


def content_table_name(match: SearchMatch) -> str:
    """SQLite: the FTS5 content table of a match's search table, `<search table>_content` (id, c0, c1, ...)."""
    return f"{match.index_table}_content"


class SearchIds(Executable, ClauseElement):
    """`SELECT <id> FROM <search table> WHERE <match> LIMIT n`: the first ids a match finds, from the index alone."""

    __visit_name__ = "crmkit_search_ids"
    inherit_cache = True
    _traverse_internals = [("match", InternalTraversal.dp_clauseelement),
                           ("limit_parameter", InternalTraversal.dp_clauseelement),
                           ("counted", InternalTraversal.dp_boolean),
                           *Executable._executable_traverse_internals]

    def __init__(self, match: SearchMatch, limit: int, *, counted: bool = False) -> None:
        self.match = match
        self.limit = limit
        self.limit_parameter = literal(limit)
        #: SELECT count(*) of those ids instead of the ids themselves.
        self.counted = counted


def fts5_query(columns: tuple[str, ...], terms: tuple[Term, ...]) -> str:
    """The FTS5 MATCH text: terms ANDed; a term's tokens all in one of `columns`. Tokens are letters and digits only."""
    def phrase(token: str, prefix: bool) -> str:
        return f'"{token}"' + ("*" if prefix else "")

    def term_query(term: Term) -> str:
        tokens = " AND ".join(phrase(token, prefix) for token, prefix in map(_asked, term))
        if len(term) == 1:
            return f"({{{' '.join(columns)}}} : {tokens})"
        return "(" + " OR ".join(f"({{{name}}} : ({tokens}))" for name in columns) + ")"

    return " AND ".join(term_query(term) for term in terms)


def tsquery_text(term: Term, words: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """A PostgreSQL tsquery for one term: `'acm':* & '科技'`, `'wonka':* & 'ᵖz'`. Tokens are letters and digits only.

    A prefix in `words` is asked as the words it starts (`('wonka' | 'wonkas') & 'ᵖz'`, query/search_words.py):
    exact keys, which the GIN index intersects without first building a bitmap of every row holding one.
    """
    def asked(token: str, prefix: bool) -> str:
        if prefix and words and token in words:
            return "(" + " | ".join(f"'{word}'" for word in words[token]) + ")"
        return f"'{token}'" + (":*" if prefix else "")

    return " & ".join(asked(token, prefix) for token, prefix in map(_asked, term))


def _asked(token: tuple[str, bool]) -> tuple[str, bool]:
    """A term's (token, is_prefix) as the index is asked for it: a short prefix as its prefix token (tokens.py `index_form`)."""
    return index_form(*token)


def _index_condition(element: SearchMatch, compiler, indexed: bool = False, **kw) -> str:
    """The WHERE of the search table that the match's terms ask for, on this database.

    PostgreSQL: each term in one of the columns, `(name @@ :q0 OR phone @@ :q0) AND (name @@ :q1 OR ...)`,
    which builds each term's whole bitmap over the columns before they are intersected. For an index read
    (`indexed`) of a match `ways` says to write so (search_statistics.py `for_index_reads`: a term the
    statistics know to be common) and of a few terms over a few columns (at most ASSIGNMENTS ways to give
    each term a column), the same as the OR of every such way, the terms of one column asked together
    (`name @@ (:q0 && :q1) OR (name @@ :q0 AND phone @@ :q1) OR ...`): each way is one scan of the GIN
    index, which intersects the terms inside the index ("wonka z" at 1,000,000 accounts: "ᵖz" alone is
    255,000 rows; its bitmap read 55 ms, the ways 25, load 3).
    """
    quote = compiler.preparer.quote
    if compiler.dialect.name == "sqlite":
        return f"{quote(element.index_table)} MATCH {compiler.process(element.fts, **kw)}"
    count = len(element.columns) ** len(element.tsqueries)
    if indexed and element.ways and len(element.tsqueries) > 1 and count <= ASSIGNMENTS:
        queries = [f"CAST({compiler.process(query, **kw)} AS tsquery)" for query in element.tsqueries]
        ways = []
        for assignment in product(range(len(element.columns)), repeat=len(queries)):
            asked: dict[int, list[str]] = {}
            for number, position in enumerate(assignment):
                asked.setdefault(position, []).append(queries[number])
            ways.append("(" + " AND ".join(f"{quote(element.columns[position])} @@ ({' && '.join(held)})"
                                          for position, held in sorted(asked.items())) + ")")
        return "(" + " OR ".join(ways) + ")"
    conditions = []
    for query_parameter in element.tsqueries:
        query = compiler.process(query_parameter, **kw)
        fields = " OR ".join(f"{quote(name)} @@ CAST({query} AS tsquery)" for name in element.columns)
        conditions.append(f"({fields})")
    return " AND ".join(conditions)


def _sqlite_tokens_held(element: SearchMatch, compiler, qualifier: str = "", pending: bool = False, **kw) -> str:
    """SQLite: the terms found in one row's stored token text (tokens separated by single spaces).

    The same rule as `fts5_query`: each term's tokens all in one column; a prefix token is
    the start of a stored token (' acm' in ' acme ltd'), any other a whole token (' 科技 ').
    `qualifier`: the quoted content table's name and a dot, before each column, or "". `pending`: the
    row is the pending table's, whose columns have the token columns' own names.
    """
    needles = iter([compiler.process(needle, **kw) for needle in element.needles])
    names = ([compiler.preparer.quote(name) for name in element.columns] if pending
             else [f"c{position}" for position in element.positions])
    terms = []
    for term in element.terms:
        held = [next(needles) for _ in term]
        per_column = [" AND ".join(f"instr(' ' || {qualifier}{name} || ' ', {needle}) > 0" for needle in held)
                      for name in names]
        terms.append("(" + " OR ".join(f"({condition})" for condition in per_column) + ")")
    return " AND ".join(terms)


def _index_key(compiler) -> str:
    return "rowid" if compiler.dialect.name == "sqlite" else "id"


@compiles(SearchMatch)
def _search_match(element: SearchMatch, compiler, **kw) -> str:
    record_id = compiler.process(element.id_column, **kw)
    index_table, key = compiler.preparer.quote(element.index_table), _index_key(compiler)
    condition = _index_condition(element, compiler, indexed=not element.per_row, **kw)
    sqlite = compiler.dialect.name == "sqlite"
    if not element.per_row:
        pending = f" UNION ALL {_pending_ids(element, compiler, **kw)}" if sqlite else ""
        return f"{record_id} IN (SELECT {key} FROM {index_table} WHERE {condition}{pending})"
    if sqlite:
        # A MATCH per row would expand a prefix ("acm"*) over the whole index for every row, and
        # even a rowid lookup through FTS5 costs ~0.1 ms: the row's tokens are read from the FTS5
        # table's own content table (`<table>_content`: id, c0, c1, ...; sqlite.org/fts5.html),
        # an ordinary table, and the terms looked for in their text.
        content = compiler.preparer.quote(content_table_name(element))
        held = _sqlite_tokens_held(element, compiler, **kw)
        pending = compiler.preparer.quote(match_pending_name(element))
        pending_held = _sqlite_tokens_held(element, compiler, qualifier=f"{pending}.", pending=True, **kw)
        return (f"(EXISTS (SELECT 1 FROM {content} WHERE {content}.id = {record_id} AND {held}) OR "
                f"EXISTS (SELECT 1 FROM {pending} WHERE {pending}.id = {record_id} AND {pending_held}))")
    # A scalar subquery: PostgreSQL cannot pull it up into a join, so it stays a test of each row read.
    return f"(SELECT {condition} FROM {index_table} WHERE {index_table}.{key} = {record_id})"


def _pending_ids(element: SearchMatch, compiler, **kw) -> str:
    """SQLite: `SELECT id FROM <pending> WHERE <its token text holds the terms>`: the match's pending rows
    (at most PENDING_ROWS of them, each tested)."""
    pending = compiler.preparer.quote(match_pending_name(element))
    held = _sqlite_tokens_held(element, compiler, qualifier=f"{pending}.", pending=True, **kw)
    return f"SELECT id FROM {pending} WHERE {held}"


def pending_exists(match: SearchMatch, compiler, **kw) -> str:
    """SQLite: `EXISTS (<a pending row of the match's search table holds the terms>)`."""
    return f"EXISTS ({_pending_ids(match, compiler, **kw)})"


@compiles(PendingHeld)
def _pending_held(element: PendingHeld, compiler, **kw) -> str:
    pending = compiler.preparer.quote(element.name or match_pending_name(element.match))
    return _sqlite_tokens_held(element.match, compiler, qualifier=f"{pending}.", pending=True, **kw)


@compiles(IndexCondition)
def _index_condition_alone(element: IndexCondition, compiler, **kw) -> str:
    return _index_condition(element.match, compiler, indexed=element.indexed, **kw)


@compiles(ContentHeld)
def _content_held(element: ContentHeld, compiler, **kw) -> str:
    content = compiler.preparer.quote(element.name or content_table_name(element.match))
    return _sqlite_tokens_held(element.match, compiler, qualifier=f"{content}.", **kw)


@compiles(SearchIds)
def _search_ids(element: SearchIds, compiler, **kw) -> str:
    index_table, key = compiler.preparer.quote(element.match.index_table), _index_key(compiler)
    condition = _index_condition(element.match, compiler, indexed=True, **kw)
    limit = compiler.process(element.limit_parameter, **kw)
    pending = f" UNION ALL {_pending_ids(element.match, compiler, **kw)}" if compiler.dialect.name == "sqlite" else ""
    ids = f"SELECT {key} FROM {index_table} WHERE {condition}{pending} LIMIT {limit}"
    return f"SELECT count(*) FROM ({ids}) AS found" if element.counted else ids


def planned_search(connection: Connection, ctx: QueryContext, object_name: str, text: str | None) -> ColumnElement:
    """`search_clause`, written for one sorted page after asking the index how many records match.

    One index read of at most FEW_MATCHES + 1 ids (SQLite: a count of at most
    FEW_MATCHES_SQLITE + 1) decides (a few ms; figures in `make bench`):
    - nothing matches: false(), and no second read;
    - at most FEW_MATCHES (SQLite: FEW_MATCHES_SQLITE) match: the page reads just those, then filters and sorts them (on
      PostgreSQL as the id list itself, so the planner knows how few they are; SQLite's FTS5
      tells its planner);
    - more match: the word is common, and a row-by-row test (`SearchMatch.row_by_row`) is
      returned; query/sorting.py `fetch_rows` tries it on the first records in sort order
      and reads every match instead when those hold less than a page.
    """
    clause = search_clause(ctx, object_name, text)
    if not isinstance(clause, SearchMatch):
        return clause
    if connection.dialect.name == "postgresql":
        from crmkit.engine.query.search_words import with_words  # it reads this module's matches
        clause = with_words(connection, clause)
        if clause is None:  # a prefix no indexed word starts
            return false()
    if connection.dialect.name == "sqlite":
        found = connection.execute(SearchIds(clause, FEW_MATCHES_SQLITE + 1, counted=True)).scalar_one()
        return false() if not found else clause.row_by_row() if found > FEW_MATCHES_SQLITE else clause
    ids = connection.execute(SearchIds(clause, FEW_MATCHES + 1)).scalars().all()
    if not ids:
        return false()
    return clause.row_by_row() if len(ids) > FEW_MATCHES else one_of_ids(clause.id_column, ids)


def where_clause(ctx: QueryContext, object_name: str, spec: QuerySpec,
                 search: ColumnElement | None = None, *, chosen: ColumnElement | None = None) -> ColumnElement:
    """The records a spec selects, whatever the page: filter AND search AND the caller's row filter.

    `search` replaces the search clause of `spec.search` (a `planned_search` of it); `chosen`
    the compiled `spec.filter` (with its values as named parameters: query/shapes.py).
    """
    found = search if search is not None else search_clause(ctx, object_name, spec.search)
    parts = [chosen if chosen is not None else compile_filter(ctx, object_name, spec.filter), found]
    restriction = ctx.restriction(object_name)
    if restriction is not None:
        parts.append(restriction)
    return and_(*parts)
