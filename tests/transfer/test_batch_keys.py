"""An import asks for a batch's keys (upsert values, duplicate keys, lookup texts) in statements whose shape does not
depend on how many keys there are. On PostgreSQL one parameter per key gave the same statement text for every batch
of the same size; psycopg prepares such a statement after five runs and PostgreSQL may then keep a generic plan, which
for 1,000 keys scanned the whole table testing each row against every key (query/lists.py batch_keys). Both databases.
"""
from __future__ import annotations

from sqlalchemy import event

from crmkit.engine.transfer.importer import ImportOptions


def _parameter_counts(crm, run) -> list[tuple[int, str]]:
    """(parameters, statement's first words) of every statement `run` sends through SQLAlchemy."""
    seen: list[tuple[int, str]] = []

    def count(connection, cursor, statement, parameters, context, executemany):
        size = len(parameters) if isinstance(parameters, (dict, list, tuple)) and not executemany else 0
        seen.append((size, " ".join(statement.split()[:6])))

    event.listen(crm.engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(crm.engine, "before_cursor_execute", count)
    return seen


def test_a_batchs_keys_are_not_one_parameter_each_on_postgresql(crm, people, csv_file):
    rows = "".join(f"P{n},p{n}@example.cn,B{n},Acme\n" for n in range(300))
    path = csv_file("Last Name,Email,Badge,Company\n" + rows)
    options = ImportOptions(batch_size=300, upsert_on="badge", duplicates="merge")
    for run in (lambda: people.dry_run(path, options), lambda: people.import_file(path, options)):
        counts = _parameter_counts(crm, run)
        selects = [(size, words) for size, words in counts if words.upper().startswith("SELECT")]
        assert selects, counts
        if crm.engine.dialect.name == "postgresql":
            assert max(size for size, _ in selects) < 20, max(selects)
