"""Names automation expressions read besides the record's fields and the helper functions.

Rule conditions, `set` values, notify messages and stage-move conditions may read `user`,
the acting user (crmkit.engine.automation.acting_user gives its value at run time), with
the attributes USER_ATTRIBUTES. Formulas, defaults and validation rules may not: a stored
value must not depend on who saved it.
"""
from __future__ import annotations

from typing import Mapping

#: The name expressions read the acting user by (a field of the same name shadows it).
USER_NAME = "user"
#: What `user.<attribute>` may read.
USER_ATTRIBUTES = frozenset({"id", "username", "name", "email", "role", "teams", "language", "timezone"})
#: Extra names of automation expressions -> their attributes (metadata.expressions.analyse `extra_names`).
AUTOMATION_NAMES: Mapping[str, frozenset[str]] = {USER_NAME: USER_ATTRIBUTES}
