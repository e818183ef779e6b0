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
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import bindparam
from sqlalchemy.types import Boolean

from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.filters import QueryContext, compile_filter
from crmkit.engine.query.inputs import MAX_SEARCH_LENGTH, checked_text
from crmkit.engine.query.querystring import QuerySpec
from crmkit.engine.query.search_index import indexed_fields, search_table_name, token_column
from crmkit.engine.query.tokens import query_tokens

MAX_TERMS = 10

#: One term: the (token, is_prefix) pairs one field must all hold.
Term = tuple[tuple[str, bool], ...]


def search_fields(ctx: QueryContext, object_name: str) -> list[str]:
    """The indexed fields the caller's search looks in: those they may read as stored."""
    obj = ctx.object(object_name)
    hidden = ctx.hidden_fields(object_name) if ctx.hidden_fields is not None else frozenset()
    derived = ctx.derived if ctx.derived is not None else (lambda _object, _field: None)
    return [name for name in indexed_fields(ctx.registry, ctx.field_types, obj)
            if name not in hidden and derived(object_name, name) is None]


def search_terms(text: str | None) -> list[Term]:
    """The terms of a search text, each as its tokens; QueryError for text that is too long or malformed."""
    if text is not None and not isinstance(text, str):
        raise QueryError(f"the search must be text, not {text!r}.")
    if text and len(text) > MAX_SEARCH_LENGTH:
        raise QueryError(f"the search has {len(text):,} characters; use at most {MAX_SEARCH_LENGTH:,}.")
    words = checked_text(text or "", "the search").split()
    if len(words) > MAX_TERMS:
        raise QueryError(f"the search has {len(words)} words; use at most {MAX_TERMS}.")
    return [tuple(tokens) for tokens in map(query_tokens, words) if tokens]


def search_clause(ctx: QueryContext, object_name: str, text: str | None) -> ColumnElement:
    """The records every term of `text` matches (true() for a blank search), through the search index.

    A term of punctuation alone ('%', '-') asks for nothing and is left out; a search made only
    of such terms matches nothing.
    """
    terms = search_terms(text)
    if not terms:
        return false() if (text or "").split() else true()
    names = search_fields(ctx, object_name)
    if not names and indexed_fields(ctx.registry, ctx.field_types, ctx.object(object_name)):
        return false()  # every searchable field is hidden from (or masked for) this caller: nothing to find
    if not names:
        raise QueryError(f"{object_name} has no searchable fields; mark a text field 'searchable: true' "
                         "or give the object a title field.")
    return SearchMatch(ctx.schema.table(object_name).c.id, search_table_name(object_name),
                       tuple(token_column(name) for name in names), tuple(terms))


class SearchMatch(ColumnElement):
    """`id IN (the search table's matches)`, written for each database's index (see the module docstring)."""

    inherit_cache = False
    type = Boolean()
    #: Already a condition: no "= 1" is added where a database lacks a boolean type.
    _is_implicitly_boolean = True

    def __init__(self, id_column, index_table: str, columns: tuple[str, ...], terms: tuple[Term, ...]) -> None:
        self.id_column = id_column
        self.index_table = index_table
        self.columns = columns
        self.terms = terms


def fts5_query(columns: tuple[str, ...], terms: tuple[Term, ...]) -> str:
    """The FTS5 MATCH text: terms ANDed; a term's tokens all in one of `columns`. Tokens are letters and digits only."""
    def phrase(token: str, prefix: bool) -> str:
        return f'"{token}"' + ("*" if prefix else "")

    def term_query(term: Term) -> str:
        tokens = " AND ".join(phrase(token, prefix) for token, prefix in term)
        if len(term) == 1:
            return f"({{{' '.join(columns)}}} : {tokens})"
        return "(" + " OR ".join(f"({{{name}}} : ({tokens}))" for name in columns) + ")"

    return " AND ".join(term_query(term) for term in terms)


def tsquery_text(term: Term) -> str:
    """A PostgreSQL tsquery for one term: `'acm':* & '科技'`. Tokens are letters and digits only."""
    return " & ".join(f"'{token}'" + (":*" if prefix else "") for token, prefix in term)


@compiles(SearchMatch, "sqlite")
def _sqlite_match(element: SearchMatch, compiler, **kw) -> str:
    quote = compiler.preparer.quote
    table_name = quote(element.index_table)
    match = compiler.process(bindparam(None, fts5_query(element.columns, element.terms), unique=True), **kw)
    return (f"{compiler.process(element.id_column, **kw)} IN "
            f"(SELECT rowid FROM {table_name} WHERE {table_name} MATCH {match})")


@compiles(SearchMatch)
def _postgresql_match(element: SearchMatch, compiler, **kw) -> str:
    quote = compiler.preparer.quote
    conditions = []
    for term in element.terms:
        query = compiler.process(bindparam(None, tsquery_text(term), unique=True), **kw)
        fields = " OR ".join(f"{quote(name)} @@ CAST({query} AS tsquery)" for name in element.columns)
        conditions.append(f"({fields})")
    return (f"{compiler.process(element.id_column, **kw)} IN (SELECT id FROM {quote(element.index_table)} "
            f"WHERE {' AND '.join(conditions)})")


def where_clause(ctx: QueryContext, object_name: str, spec: QuerySpec) -> ColumnElement:
    """The records a spec selects, whatever the page: filter AND search AND the caller's row filter."""
    parts = [compile_filter(ctx, object_name, spec.filter), search_clause(ctx, object_name, spec.search)]
    restriction = ctx.restriction(object_name)
    if restriction is not None:
        parts.append(restriction)
    return and_(*parts)
