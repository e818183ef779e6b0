"""The one error every part of the query language raises for input a user can get wrong."""
from __future__ import annotations

from typing import Iterable

from crmkit.errors import CrmkitError
from crmkit.metadata.errors import did_you_mean


class QueryError(CrmkitError):
    """A filter, sort, search, page size or cursor that cannot be used; `message` says why."""

    status = 400
    title = "Invalid query"


def unknown_field(object_name: str, name: str, candidates: Iterable[str]) -> QueryError:
    hint = did_you_mean(name, candidates)
    message = f"{object_name} has no field '{name}'.{hint}"
    if "__" in name and not hint:
        message += " To use an operator in a query string, write field__operator, e.g. amount__gte=100."
    return QueryError(message)


def allowed(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))
