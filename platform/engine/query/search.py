"""Quick search: every word must appear in at least one searchable field of the record.

    >>> search_clause(ctx, "account", "acme 上海")
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, true

from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.inputs import MAX_SEARCH_LENGTH, checked_text
from crmkit.engine.query.filters import QueryContext, compile_filter, resolve_field
from crmkit.engine.query.querystring import QuerySpec

MAX_TERMS = 10


def search_fields(ctx: QueryContext, object_name: str) -> list[str]:
    """The fields search looks in: those marked `searchable`, else the title field."""
    obj = ctx.object(object_name)
    hidden = ctx.hidden_fields(object_name) if ctx.hidden_fields is not None else frozenset()
    names = [fdef.name for fdef in obj.fields.values() if fdef.searchable and fdef.name not in hidden]
    if not names and obj.title_field and obj.title_field not in hidden:
        names = [obj.title_field]
    return [name for name in names if resolve_field(ctx, object_name, name).value_kind == "text"]


def search_clause(ctx: QueryContext, object_name: str, text: str | None) -> ColumnElement:
    """Each whitespace-separated term must match (ignoring case, as a substring) some searchable field."""
    if text is not None and not isinstance(text, str):
        raise QueryError(f"the search must be text, not {text!r}.")
    if text and len(text) > MAX_SEARCH_LENGTH:
        raise QueryError(f"the search has {len(text):,} characters; use at most {MAX_SEARCH_LENGTH:,}.")
    terms = checked_text(text or "", "the search").split()
    if not terms:
        return true()
    if len(terms) > MAX_TERMS:
        raise QueryError(f"the search has {len(terms)} words; use at most {MAX_TERMS}.")
    names = search_fields(ctx, object_name)
    if not names:
        raise QueryError(f"{object_name} has no searchable fields; mark a text field 'searchable: true' "
                         "or give the object a title field.")
    columns = [resolve_field(ctx, object_name, name).column for name in names]
    return and_(*(or_(*(column.icontains(term, autoescape=True) for column in columns)) for term in terms))


def where_clause(ctx: QueryContext, object_name: str, spec: QuerySpec) -> ColumnElement:
    """The records a spec selects, whatever the page: filter AND search AND the caller's row filter."""
    parts = [compile_filter(ctx, object_name, spec.filter), search_clause(ctx, object_name, spec.search)]
    restriction = ctx.restriction(object_name)
    if restriction is not None:
        parts.append(restriction)
    return and_(*parts)
