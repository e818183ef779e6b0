"""Which names metadata may use for objects and fields, and why others are refused.

SQL reserved words (`order`, `case`, `group`, `select`, ...) are allowed: the engine quotes every
identifier it writes. Python keywords (`from`, `class`, `if`, ...) are refused, because formulas,
validation rules and default expressions are Python expressions that name fields directly.
"""
from __future__ import annotations

import keyword
import re

from crmkit.metadata.model import SYSTEM_FIELDS

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")

#: Columns every PostgreSQL table has (postgresql.org/docs/current/ddl-system-columns.html).
POSTGRESQL_SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})

#: Table names the platform keeps for itself.
SYSTEM_PREFIXES = ("crmkit_", "sqlite_", "pg_")


def name_problem(name: str, what: str) -> str | None:
    """Why `name` cannot name an object or field (`what`), or None when it can."""
    if not IDENTIFIER.fullmatch(name):
        return (f"'{name}' is not a valid {what} name: use lowercase letters, digits and underscores, "
                "starting with a letter, at most 63 characters.")
    if keyword.iskeyword(name):
        # Formulas, validation rules and defaults are Python expressions that name fields directly.
        return (f"'{name}' is a Python keyword, so formulas could not refer to it; it cannot be a {what} name. "
                f"Try '{name}_value' or a more specific name.")
    if what == "field" and name in SYSTEM_FIELDS:
        return f"'{name}' is a system field every record already has; choose another name."
    if what == "field" and name in POSTGRESQL_SYSTEM_COLUMNS:
        return (f"'{name}' is a column PostgreSQL keeps in every table, so no field can have it; choose another "
                f"name, such as '{name}_value'.")
    if what == "object" and name.startswith(SYSTEM_PREFIXES):
        return f"object names starting with '{name.split('_')[0]}_' are reserved for the platform; choose another name."
    return None
