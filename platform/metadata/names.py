"""Which names metadata may use for objects and fields, and why others are refused."""
from __future__ import annotations

import keyword
import re

from crmkit.metadata.model import SYSTEM_FIELDS

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")

#: Words PostgreSQL or SQLite reserve; a table or column named so breaks hand-written reports.
SQL_RESERVED = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization between binary both case
    cast check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign freeze from full grant
    group having ilike in initially inner intersect into is isnull join lateral leading left like
    limit localtime localtimestamp natural not notnull null offset on only or order outer
    overlaps placing primary references returning right select session_user similar some
    symmetric table tablesample then to trailing true union unique user using variadic verbose
    when where window with
    """.split()
)

#: Table names the platform keeps for itself.
SYSTEM_PREFIXES = ("crmkit_", "sqlite_", "pg_")


def name_problem(name: str, what: str) -> str | None:
    """Why `name` cannot name an object or field (`what`), or None when it can."""
    if not IDENTIFIER.fullmatch(name):
        return (f"'{name}' is not a valid {what} name: use lowercase letters, digits and underscores, "
                "starting with a letter, at most 63 characters.")
    if keyword.iskeyword(name):
        return f"'{name}' is a Python keyword and cannot be a {what} name; try '{name}_value' or a more specific name."
    if name in SQL_RESERVED:
        return f"'{name}' is a reserved word in SQL and cannot be a {what} name; try a more specific name such as '{name}_name'."
    if what == "field" and name in SYSTEM_FIELDS:
        return f"'{name}' is a system field every record already has; choose another name."
    if what == "object" and name.startswith(SYSTEM_PREFIXES):
        return f"object names starting with '{name.split('_')[0]}_' are reserved for the platform; choose another name."
    return None
