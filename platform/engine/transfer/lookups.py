"""Lookups in an import file: the related record named by its title or by an external id.

A cell of a lookup column names the related record by, in this order: a unique field of
the related object (an external id such as an ERP customer number), its title field (its
name, matched exactly), or its id written as "#12". The owner column names a user by
username, email or display name. Each batch resolves its distinct texts with one query
per related object and field, through the user's row filter: a record the user may not
see is not found, exactly like a missing one. A user is named by email only by who may
manage users (emails are user administration's, security/user_names.py).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from sqlalchemy import Connection, or_, select

from crmkit.engine import messages
from crmkit.engine.query.lists import batch_keys
from crmkit.engine.query.inputs import is_record_id
from crmkit.metadata.model import FieldDef
from crmkit.engine.security.shaping import stored_withheld

_HASH_ID = re.compile(r"^#(\d+)$")


class Resolved:
    """{text: id} per lookup field for one batch, and the sentence for each text that found no single record."""

    def __init__(self) -> None:
        self.ids: dict[str, dict[str, int]] = {}
        self.problems: dict[str, dict[str, str]] = {}

    def get(self, field: str, text: str) -> tuple[int | None, str | None]:
        """(id, None) when found, else (None, why not)."""
        found = self.ids.get(field, {}).get(text)
        if found is not None:
            return found, None
        return None, self.problems.get(field, {}).get(text)


def resolve_lookups(connection: Connection, context: Any, obj_fields: Mapping[str, FieldDef],
                    wanted: Mapping[str, Iterable[str]]) -> Resolved:
    """Resolve `wanted` ({field name: texts}) for the lookups and owner_id of an object."""
    resolved = Resolved()
    for field, texts in wanted.items():
        texts = {text for text in texts if text}
        if not texts:
            continue
        if field == "owner_id":
            ids, problems = _users(connection, context, texts)
        else:
            ids, problems = _records(connection, context, obj_fields[field], texts)
        resolved.ids[field], resolved.problems[field] = ids, problems
    return resolved


def _records(connection: Connection, context: Any, fdef: FieldDef, texts: set[str]) -> tuple[dict, dict]:
    runtime = context.runtime
    target = runtime.registry.object(fdef.to)
    table = runtime.table(target.name)
    visible = context.row_filter(target.name) if context.row_filter else None
    ids: dict[str, int] = {}
    problems: dict[str, str] = {}
    by_id = {text: int(match.group(1)) for text in texts if (match := _HASH_ID.match(text))}
    if by_id:
        query = select(table.c.id).where(batch_keys(table.c.id, [i for i in by_id.values() if is_record_id(i)],
                                                 connection.dialect.name))
        found = set(connection.execute(query if visible is None else query.where(visible)).scalars())
        for text, record_id in by_id.items():
            if record_id in found:
                ids[text] = record_id
    keys = [name for name, other in target.fields.items() if other.unique and runtime.field_types[other.type]
            .kind.value_kind == "text"]
    if target.title_field and target.title_field not in keys:
        keys.append(target.title_field)
    # Matched on stored values: not a field the user may not read, nor one they see recomputed or masked.
    withheld = stored_withheld(context.policy, target.name)
    for key in (name for name in keys if name not in withheld):
        open_texts = sorted(texts - set(ids))
        if not open_texts:
            break
        query = select(table.c.id, table.c[key]).where(batch_keys(table.c[key], open_texts, connection.dialect.name))
        matches: dict[str, list[int]] = {}
        for record_id, value in connection.execute(query if visible is None else query.where(visible)):
            matches.setdefault(value, []).append(record_id)
        for text, found in matches.items():
            if len(found) == 1:
                ids[text] = found[0]
            else:
                problems[text] = messages.IMPORT_LOOKUP_AMBIGUOUS(count=len(found), object=target.name,
                                                                  value=repr(text))
    for text in texts - set(ids) - set(problems):
        problems[text] = messages.IMPORT_LOOKUP_MISSING(object=target.name, value=repr(text))
    return ids, problems


def _users(connection: Connection, context: Any, texts: set[str]) -> tuple[dict, dict]:
    users = context.runtime.system_table("crmkit_user")
    ids: dict[str, int] = {}
    problems: dict[str, str] = {}
    # Emails are for user administration (security/user_names.py): matched only for who may manage users,
    # else an owner cell would tell which address belongs to which user.
    names = [users.c.username, users.c.display_name] + ([users.c.email] if _may_manage_users(context) else [])
    query = select(users.c.id, *names).where(users.c.active.is_(True), or_(*(name.in_(texts) for name in names)))
    matches: dict[str, set[int]] = {}
    for user_id, *names in connection.execute(query):
        for name in names:
            if name in texts:
                matches.setdefault(name, set()).add(user_id)
    for text in texts:
        found = matches.get(text, set())
        if len(found) == 1:
            ids[text] = found.pop()
        else:
            problems[text] = (messages.IMPORT_OWNER_AMBIGUOUS(value=repr(text)) if found
                              else messages.IMPORT_OWNER_MISSING(value=repr(text)))
    return ids, problems


def _may_manage_users(context: Any) -> bool:
    """Whether the importing user may read users' emails: the system, administrators and `manage_users` holders."""
    from crmkit.engine.security.administration import MANAGE_USERS

    policy = context.policy
    return policy is None or policy.is_admin or MANAGE_USERS in policy.system
