"""Copies of an erased person's data outside their record, scrubbed by the erasure in its transaction.

`Privacy.erase` clears the record's personal fields; `erase_copies` its own field history, its recycle-bin
copies and recent items, and those of the records merged into it (the same person under other ids, in the
recycle bin since the merge: `merged_copies`). Their values were also copied to places users still read:

- the change log (records/changes.py): each of the record's rows holds the values a write stored;
- notifications about the record: the stored message may quote them (automation/notifications.py);
- the automation outbox (payloads computed at a save: an email's text, a webhook's values; a pending one is
  sent after the erasure) and the errors of its rows and of the automation run log;
- other records whose formulas read the person through a lookup (a deal's `contact_name = contact.name`):
  their field history, their change-log rows, the notifications and outbox rows about them, for the records
  that point to the person now or pointed to it before (found by the lookup's own history), and the
  recycle-bin copies of such records deleted while they pointed to the person.

In each, a stored text holding an erased value has that value replaced by ERASED where it stands as a word
(`scrubbed`: "Ann" is not cut out of "Annual"; Chinese, written without spaces, wherever it stands); the
record's own change rows have the erased fields emptied, as its field history has. Values shorter than
MIN_ERASED characters are not looked for inside other texts (one letter would blank unrelated words). GDPR art. 17 asks the erasure of
the data, not of the records around it: numbers, links and the rest of each text stay.

Texts are also looked for as JSON writes them with ASCII escapes ("\\u5f20"), since payloads hold JSON texts.
The change log, notifications and the outbox have no index by record (every write appends to the log, and an index
would cost each of them): the erasure, a rare request, reads them with one filtered statement each.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Collection, Iterable, Mapping

from sqlalchemy import Connection, Text, cast, delete, or_, select, update

from crmkit.engine.query.tokens import is_cjk
from crmkit.engine.recent_items import forget_record
from crmkit.engine.security.derived import formula_reads
from crmkit.metadata.model import FORMULA_ERRORS

if TYPE_CHECKING:
    from crmkit.engine.runtime import Runtime

#: What an erased value becomes inside a text that quoted it.
ERASED = "[erased]"
#: Shorter erased values are emptied where they are a whole value, not looked for inside other texts.
MIN_ERASED = 2
#: Records per statement when reading and rewriting the copies of many records.
BATCH = 500


def erased_texts(values: Mapping[str, Any], fields: Iterable[str]) -> tuple[str, ...]:
    """The texts of the erased fields' values before the erasure, longest first (so "Wei Zhang" is replaced
    before "Wei"), each also as JSON escapes it (non-ASCII as \\uXXXX, quotes and backslashes escaped); dates as
    ISO 8601, as they are stored in JSON; values under MIN_ERASED characters left out."""
    texts = set()
    for name in fields:
        value = values.get(name)
        if isinstance(value, (date, datetime)):
            value = value.isoformat()
        if isinstance(value, str) and len(value.strip()) >= MIN_ERASED and value != ERASED:
            texts.add(value)
            texts.add(json.dumps(value)[1:-1])
    return tuple(sorted(texts, key=lambda text: (-len(text), text)))


def scrubbed(value: Any, texts: Collection[str]) -> Any:
    """`value` with every occurrence of `texts` replaced by ERASED (texts, and the texts inside lists and
    mappings); anything else as it is.

    A text that starts (or ends) with a letter or digit of a script written with spaces between words is
    replaced only where it starts (or ends) a word there: erasing "Ann" leaves "Annual" and "Joanna" whole.
    Chinese, Japanese and Korean are written without spaces, so "李娜" is replaced wherever it stands ("李娜的订单").
    """
    if isinstance(value, str):
        for text in texts:
            if text in value:
                value = _occurrence(text).sub(ERASED, value)
        return value
    if isinstance(value, list):
        return [scrubbed(item, texts) for item in value]
    if isinstance(value, dict):
        return {key: scrubbed(item, texts) for key, item in value.items()}
    return value


@lru_cache(maxsize=256)
def _occurrence(text: str) -> re.Pattern[str]:
    """Where `text` stands as itself in a longer text (see `scrubbed`)."""
    before = r"(?<!\w)" if _spaced_word_character(text[0]) else ""
    # A text as JSON escapes it may end with "\u5a1c": its last character is 娜, not the letter c.
    after = r"(?!\w)" if _spaced_word_character(text[-1]) and not _ESCAPED_END.search(text) else ""
    return re.compile(before + re.escape(text) + after)


_ESCAPED_END = re.compile(r"\\u[0-9a-fA-F]{4}$")


def _spaced_word_character(character: str) -> bool:
    return character.isalnum() and not is_cjk(character)


def erase_copies(connection: Connection, runtime: "Runtime", object_name: str, record_id: int,
                 before: Mapping[str, Any], erased: Collection[str]) -> None:
    """Every copy of one record's erased values (`before`: its values before the erasure; `erased`: the fields
    cleared): its own field history of those fields emptied, its recycle-bin copies removed, every user's recent
    items forgetting it, and the copies elsewhere scrubbed (`scrub_traces`)."""
    history = runtime.system_table("crmkit_history")
    connection.execute(update(history).where(
        history.c.object == object_name, history.c.record_id == record_id, history.c.field.in_(sorted(erased))
    ).values(old_value=None, new_value=None))
    scrub_traces(connection, runtime, object_name, record_id, before, erased)
    bin_table = runtime.system_table("crmkit_recycle_bin")
    connection.execute(delete(bin_table).where(bin_table.c.object == object_name, bin_table.c.record_id == record_id))
    forget_record(connection, runtime, object_name, record_id)  # no one's recent items name it


def merged_copies(connection: Connection, runtime: "Runtime", object_name: str,
                  record_id: int) -> list[tuple[int, dict[str, Any]]]:
    """(id, values of its newest recycle-bin copy) of every record merged into `record_id`, and into those, as the
    security log's `records.merged` entries name them (transfer/merge.py): the same person under other ids."""
    log = runtime.system_table("crmkit_security_log")
    bin_table = runtime.system_table("crmkit_recycle_bin")
    merges = [entry for entry in connection.execute(select(log.c.detail).where(
        log.c.event == "records.merged", cast(log.c.detail, Text).contains(f'"object": "{object_name}"',
                                                                          autoescape=True))).scalars()
        if isinstance(entry, dict)]
    found: dict[int, dict[str, Any]] = {}
    survivors = [record_id]
    while survivors:
        survivor = survivors.pop()
        for entry in merges:
            if entry.get("survivor") != survivor:
                continue
            for merged in entry.get("merged") or ():
                if isinstance(merged, int) and merged not in found and merged != record_id:
                    copy = connection.execute(select(bin_table.c.data).where(
                        bin_table.c.object == object_name, bin_table.c.record_id == merged)
                        .order_by(bin_table.c.id.desc()).limit(1)).scalar()
                    found[merged] = copy if isinstance(copy, dict) else {}
                    survivors.append(merged)
    return list(found.items())


def scrub_traces(connection: Connection, runtime: "Runtime", object_name: str, record_id: int,
                 before: Mapping[str, Any], erased: Collection[str]) -> None:
    """Scrub the copies of the erased values of `object_name` `record_id` (`before`: its stored values before the
    erasure; `erased`: the fields cleared) from the change log, notifications, and the history, change rows and
    notifications of the records whose formulas read them through a lookup (module docstring)."""
    texts = erased_texts(before, erased)
    # Its own rows: the erased fields emptied, the texts replaced only where its formulas (and their failures) could
    # quote them; its other fields stay as the record keeps them ("Li" erased leaves a source of 'LinkedIn').
    obj = runtime.registry.objects.get(object_name)
    quoting = frozenset({FORMULA_ERRORS, *(name for name, fdef in (obj.fields.items() if obj is not None else ())
                                           if fdef.type == "formula")})
    _scrub_changes(connection, runtime, object_name, [record_id], texts, emptied=frozenset(erased), only=quoting)
    _scrub_notifications(connection, runtime, object_name, [record_id], texts)
    _scrub_automation(connection, runtime, object_name, [record_id], texts)
    if not texts:
        return
    for other, lookup, formulas in _formulas_reading(runtime, object_name, erased):
        ids = _pointing(connection, runtime, other, lookup, record_id)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start:start + BATCH]
            _scrub_history(connection, runtime, other, chunk, formulas, texts)
            _scrub_changes(connection, runtime, other, chunk, texts, only=formulas)
            _scrub_notifications(connection, runtime, other, chunk, texts)
            _scrub_automation(connection, runtime, other, chunk, texts)
        _scrub_bin(connection, runtime, other, lookup, record_id, formulas, texts)


def _formulas_reading(runtime: "Runtime", object_name: str,
                      erased: Collection[str]) -> list[tuple[str, str, frozenset[str]]]:
    """(object, lookup to `object_name`, its formulas reading an erased field through that lookup)."""
    found = []
    for other in runtime.registry.objects.values():
        lookups = {name for name, fdef in other.fields.items() if fdef.type == "lookup" and fdef.to == object_name}
        for lookup in sorted(lookups):
            formulas = frozenset(name for name, fdef in other.fields.items()
                                 if fdef.type == "formula" and fdef.formula
                                 and any(path == (lookup, field) for field in erased
                                         for path in formula_reads(fdef.formula)[1]))
            if formulas:
                found.append((other.name, lookup, formulas))
    return found


def _pointing(connection: Connection, runtime: "Runtime", object_name: str, lookup: str, record_id: int) -> list[int]:
    """Ids of the `object_name` records whose `lookup` holds `record_id` now, or held it by their history."""
    table = runtime.table(object_name)
    history = runtime.system_table("crmkit_history")
    now = set(connection.execute(select(table.c.id).where(table.c[lookup] == record_id)).scalars())
    before = set(connection.execute(select(history.c.record_id).where(
        history.c.object == object_name, history.c.field == lookup,
        or_(history.c.old_value == record_id, history.c.new_value == record_id))).scalars())
    return sorted(now | before)


def _scrub_history(connection: Connection, runtime: "Runtime", object_name: str, ids: list[int],
                   fields: Collection[str], texts: Collection[str]) -> None:
    history = runtime.system_table("crmkit_history")
    rows = connection.execute(select(history.c.id, history.c.old_value, history.c.new_value).where(
        history.c.object == object_name, history.c.record_id.in_(ids), history.c.field.in_(sorted(fields)))).all()
    for row in rows:
        old, new = scrubbed(row.old_value, texts), scrubbed(row.new_value, texts)
        if (old, new) != (row.old_value, row.new_value):
            connection.execute(update(history).where(history.c.id == row.id).values(old_value=old, new_value=new))


def _scrub_changes(connection: Connection, runtime: "Runtime", object_name: str, ids: list[int],
                   texts: Collection[str], *, emptied: Collection[str] = frozenset(),
                   only: Collection[str] | None = None) -> None:
    """The change rows of `ids`: `emptied` fields set to None, `texts` replaced in the others (in `only` of
    them when given)."""
    changes = runtime.system_table("crmkit_change")
    rows = connection.execute(select(changes.c.id, changes.c.fields).where(
        changes.c.object == object_name, changes.c.record_id.in_(ids))).all()
    for row in rows:
        fields = row.fields if isinstance(row.fields, dict) else {}
        shown = {name: None if name in emptied and value is not None
                 else scrubbed(value, texts) if only is None or name in only else value
                 for name, value in fields.items()}
        if shown != fields:
            connection.execute(update(changes).where(changes.c.id == row.id).values(fields=shown))


def _scrub_notifications(connection: Connection, runtime: "Runtime", object_name: str, ids: list[int],
                         texts: Collection[str]) -> None:
    if not texts:
        return
    notes = runtime.system_table("crmkit_notification")
    rows = connection.execute(select(notes.c.id, notes.c.message).where(
        notes.c.object == object_name, notes.c.record_id.in_(ids))).all()
    for row in rows:
        message = scrubbed(row.message, texts)
        if message != row.message:
            connection.execute(update(notes).where(notes.c.id == row.id).values(message=message))


def _scrub_automation(connection: Connection, runtime: "Runtime", object_name: str, ids: list[int],
                      texts: Collection[str]) -> None:
    """The outbox rows of `ids` (payload and last error) and their automation runs' errors."""
    if not texts:
        return
    outbox = runtime.system_table("crmkit_outbox")
    for row in connection.execute(select(outbox.c.id, outbox.c.payload, outbox.c.last_error).where(
            outbox.c.object == object_name, outbox.c.record_id.in_(ids))).all():
        payload, error = _scrubbed_payload(row.payload, texts), scrubbed(row.last_error, texts)
        if (payload, error) != (row.payload, row.last_error):
            connection.execute(update(outbox).where(outbox.c.id == row.id).values(payload=payload, last_error=error))
    runs = runtime.system_table("crmkit_automation_run")
    for row in connection.execute(select(runs.c.id, runs.c.error).where(
            runs.c.object == object_name, runs.c.record_id.in_(ids), runs.c.error.is_not(None))).all():
        error = scrubbed(row.error, texts)
        if error != row.error:
            connection.execute(update(runs).where(runs.c.id == row.id).values(error=error))


#: Outbox payload keys that hold what the rule says to do (automation/deliveries.py and the notify and record
#: actions), not the record's values: never scrubbed (a webhook's address and change time, an email's template and
#: recipients).
RULE_PAYLOAD_KEYS = frozenset({"object", "record_id", "event", "url", "secret_env", "template", "to", "language",
                               "users", "roles", "reads", "related", "at"})


def _scrubbed_payload(payload: Any, texts: Collection[str]) -> Any:
    """An outbox payload with the erased texts replaced in the record's values (and a message), not in the keys
    that say what the rule does (RULE_PAYLOAD_KEYS)."""
    if not isinstance(payload, dict):
        return scrubbed(payload, texts)
    return {key: value if key in RULE_PAYLOAD_KEYS else scrubbed(value, texts) for key, value in payload.items()}


def _scrub_bin(connection: Connection, runtime: "Runtime", object_name: str, lookup: str, record_id: int,
               formulas: Collection[str], texts: Collection[str]) -> None:
    """The recycle-bin copies of `object_name` records deleted while their `lookup` held `record_id`: the
    formulas' values and the title (a formula title quoting the person) scrubbed."""
    bin_table = runtime.system_table("crmkit_recycle_bin")
    # The copies are JSON text (columns.DOCUMENT_ENCODER: '"key": value'): narrowed in SQL, then checked exactly.
    held = cast(bin_table.c.data, Text).contains(f'"{lookup}": {int(record_id)}', autoescape=True)
    for row in connection.execute(select(bin_table.c.id, bin_table.c.title, bin_table.c.data).where(
            bin_table.c.object == object_name, held)).all():
        data = row.data if isinstance(row.data, dict) else {}
        if data.get(lookup) != record_id:
            continue
        shown = {name: scrubbed(value, texts) if name in formulas else value for name, value in data.items()}
        title = scrubbed(row.title, texts)
        if (shown, title) != (data, row.title):
            connection.execute(update(bin_table).where(bin_table.c.id == row.id).values(data=shown, title=title))
