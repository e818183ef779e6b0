"""crmkit.engine.query: the one query language of lists, the API, reports, exports and lookups.

    >>> ctx = QueryContext(registry, schema, field_types, row_filter=security.row_filter)
    >>> spec = parse_query_string({"stage": "Won", "amount__gte": "100", "sort": "-amount"})
    >>> rows = connection.execute(build_select(ctx, "opportunity", spec)).mappings().all()
    >>> count_records(connection, ctx, "opportunity", spec)

See docs/query.md for the language itself.
"""
from crmkit.engine.query.counting import Count, count_records
from crmkit.engine.query.dates import RELATIVE_DATES, resolve_relative_date
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.filters import OPERATORS, QueryContext, compile_filter
from crmkit.engine.query.querystring import QuerySpec, parse_query_string
from crmkit.engine.query.search import search_clause, where_clause
from crmkit.engine.query.sorting import SEARCH_ORDER, build_select, fetch_rows, page_cursor, page_sort, sort_keys

__all__ = [
    "Count", "OPERATORS", "QueryContext", "QueryError", "QuerySpec", "RELATIVE_DATES", "SEARCH_ORDER", "build_select",
    "compile_filter", "count_records", "fetch_rows", "page_cursor", "page_sort", "parse_query_string",
    "resolve_relative_date",
    "search_clause", "sort_keys", "where_clause",
]
