"""Which column of an import file goes to which field.

    guess_mapping(obj, field_types, ["Last Name", "电子邮箱", "phone", "Notes?"])
    # {"Last Name": "last_name", "电子邮箱": "email", "phone": "phone"}

A column is matched to a field by the field's API name or its label in any language,
ignoring case, spaces, underscores and dashes ("Last Name", "last_name", "LASTNAME", "姓");
"Owner" / "owner_id" / "负责人" is the owner. Only fields a save accepts are offered
(formulas, rollups and autonumbers are computed, never imported). Saved mappings are kept
per object and name in crmkit_import_mapping (transfer/tables.py).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Mapping, Sequence

from sqlalchemy import Connection, delete, insert, select

from crmkit.engine import messages
from crmkit.engine.transfer.files import ImportFileError
from crmkit.metadata.model import ObjectDef

#: The owner is importable by these words too (besides "owner_id" and the label words).
OWNER_WORDS = ("owner", "owner_id", "负责人", "所有人")

_IGNORED = re.compile(r"[\s_\-.:：()（）*]+")


def header_key(text: str) -> str:
    """A header or label as compared: NFKC, case folded, without spaces, underscores, dashes, colons, stars."""
    return _IGNORED.sub("", unicodedata.normalize("NFKC", str(text)).casefold())


def importable_fields(obj: ObjectDef, field_types: Any) -> list[str]:
    """The fields of `obj` an import may set, in the object's order, then owner_id."""
    return [name for name, fdef in obj.fields.items() if field_types[fdef.type].writable] + ["owner_id"]


def field_words(obj: ObjectDef, field_types: Any) -> dict[str, str]:
    """{header key: field name} for every importable field: its API name and each of its labels."""
    words: dict[str, str] = {}
    for name in importable_fields(obj, field_types):
        if name == "owner_id":
            for word in OWNER_WORDS:
                words.setdefault(header_key(word), name)
            continue
        words.setdefault(header_key(name), name)
        for text in obj.fields[name].label.texts.values():
            words.setdefault(header_key(text), name)
    return words


def guess_mapping(obj: ObjectDef, field_types: Any, header: Sequence[str]) -> dict[str, str]:
    """{column header: field name} for the columns whose header names an importable field; each field once."""
    words = field_words(obj, field_types)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in header:
        name = words.get(header_key(column))
        if name is not None and name not in taken and column not in mapping:
            mapping[column] = name
            taken.add(name)
    return mapping


def checked_mapping(obj: ObjectDef, field_types: Any, header: Sequence[str],
                    mapping: Mapping[str, str | None]) -> dict[str, str]:
    """`mapping` ({column: field name, label or None to leave the column out}) with every target a field name.

    ImportFileError for a column the file does not have, a target that is no importable
    field, or two columns given to one field.
    """
    words = field_words(obj, field_types)
    result: dict[str, str] = {}
    for column, target in mapping.items():
        if target in (None, ""):
            continue
        if column not in header:
            raise ImportFileError(messages.IMPORT_NO_COLUMN(column=column, columns=", ".join(header)))
        name = words.get(header_key(str(target)))
        if name is None:
            raise ImportFileError(messages.IMPORT_NOT_IMPORTABLE(column=column, field=target, object=obj.name))
        if name in result.values():
            raise ImportFileError(messages.IMPORT_FIELD_TWICE(field=name))
        result[column] = name
    if not result:
        raise ImportFileError(messages.IMPORT_NOTHING_MAPPED(object=obj.name))
    return result


def saved_mapping(connection: Connection, table: Any, object_name: str, name: str) -> dict[str, str] | None:
    """The mapping saved for `object_name` under `name`, or None."""
    row = connection.execute(select(table.c.columns).where(table.c.object == object_name, table.c.name == name)).first()
    return None if row is None else dict(row[0])


def save_mapping(connection: Connection, table: Any, object_name: str, name: str, columns: Mapping[str, str],
                 user_id: int | None, now: Any) -> None:
    """Keep `columns` as the mapping `name` of `object_name` (replacing one of that name)."""
    connection.execute(delete(table).where(table.c.object == object_name, table.c.name == name))
    connection.execute(insert(table).values(object=object_name, name=name, columns=dict(columns),
                                            created_by=user_id, created_at=now))
