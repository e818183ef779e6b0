"""The one error every part of the query language raises for input a user can get wrong."""
from __future__ import annotations

from typing import Iterable

from crmkit.engine import messages
from crmkit.errors import CrmkitError
from crmkit.metadata.errors import closest


class QueryError(CrmkitError):
    """A filter, sort, search, page size or cursor that cannot be used; `message` says why."""

    status = 400
    title = "Invalid query"


def unknown_field(object_name: str, name: str, candidates: Iterable[str]) -> QueryError:
    suggestion = closest(name, candidates)
    if suggestion:
        return QueryError(messages.UNKNOWN_FIELD_MAYBE(object=object_name, name=name, suggestion=suggestion))
    if "__" in name:
        return QueryError(messages.UNKNOWN_FIELD_OPERATOR(object=object_name, name=name))
    return QueryError(messages.UNKNOWN_FIELD(object=object_name, name=name))


def allowed(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))
