"""The write lines: create records one by one, and bulk insert, four ways on the same columns.

crmkit writes the bench package's `deal` (formula `expected`, a validation rule, field
history on) through its public API. Raw Core and plain Django write copies of the same
table (same columns and indexes) with rows computed beforehand: one INSERT per record.
"Django doing the same work" (django_same_work.py) validates with `full_clean()`, computes
the formula in `save()` and writes a history row in the same transaction, as a Django team
would. One transaction per record for creates, batches of 1,000 for bulk.

The four sides take turns (`alternated`): each round every side writes its next slice of
rows, the order of the sides rotating from round to round, and each side's time is the sum
of its slices. On a shared machine whose load moves during a run, every side then meets the
same load, and the ratios stay fair; on an idle machine the sums equal one long run each.
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Sequence

from sqlalchemy import Index, MetaData, Table, delete, insert

from benchmarks import django_same_work
from benchmarks.report import AHEAD_OF_DJANGO, Result, elapsed
from crmkit.engine import Crm
from crmkit.engine.query.search_index import rebuild_index
from crmkit.engine.records.changes import CHANGE_TABLE

STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Won", "Lost"]
BATCH = 1000
#: Rounds the sides take turns in (fewer when there are fewer rows or batches).
ROUNDS = 10


def deal_values(rng: random.Random, number: int) -> dict:
    """What a user types into a new deal."""
    return {
        "name": f"Deal {number} {rng.choice(['Acme', '星辰科技', 'Globex', '华为', 'Initech'])}",
        "amount": Decimal(rng.randrange(100, 5_000_000)) / 100,
        "stage": rng.choice(STAGES),
        "probability": Decimal(rng.choice([10, 20, 40, 60, 80, 100])),
        "close_date": date(2025, 1, 1) + timedelta(days=rng.randrange(730)),
    }


def stored_row(values: dict) -> dict:
    """What the table stores for `values`, computed by hand (the formula and system columns)."""
    now = datetime.now(timezone.utc)
    expected = (values["amount"] * values["probability"] / 100).quantize(Decimal("0.01"))
    return dict(values, expected=expected, created_at=now, updated_at=now, version=1)


def table_copy(table: Table, metadata: MetaData, suffix: str) -> Table:
    """The same columns and indexes under the name `<table>_<suffix>`."""
    copy = Table(f"{table.name}_{suffix}", metadata, *(column._copy() for column in table.columns),
                 sqlite_autoincrement=True)
    for index in table.indexes:
        Index(f"{suffix}_{index.name}", *(copy.c[column.name] for column in index.columns), unique=index.unique)
    return copy


def prepare_copies(crm: Crm) -> tuple[Table, Table, Table, Table]:
    """Empty `deal` with what is derived from its records (history, change log, an empty search index),
    and fresh copies: `deal_raw`, `deal_django`, `deal_samework` and `crmkit_history_samework` (the
    same-work column's history); returns the copies in that order.

    Every run of a kept database so starts from the same state: the search rows of the deals a
    previous run wrote would otherwise pile up in the index (110,000 a run by default) and make
    each create's index write merge into ever larger segments."""
    metadata = MetaData()
    deal = crm.runtime.table("deal")
    history = crm.runtime.system_table("crmkit_history")
    changes = crm.runtime.system_table(CHANGE_TABLE)
    copies = (table_copy(deal, metadata, "raw"), table_copy(deal, metadata, "django"),
              table_copy(deal, metadata, "samework"), table_copy(history, metadata, "samework"))
    with crm.engine.begin() as connection:
        metadata.drop_all(connection)
        metadata.create_all(connection)
        connection.execute(delete(history).where(history.c.object == "deal"))
        connection.execute(delete(changes).where(changes.c.object == "deal"))
        connection.execute(delete(deal))
        index = crm.runtime.search_index("deal")
        if index is not None:
            rebuild_index(connection, crm.runtime.schema, index)  # no records: an empty index, as on install
    return copies


def deal_stages(crm: Crm) -> list[str]:
    """The picklist values of `deal.stage`, for the same-work column's `choices`."""
    return [option.value for option in crm.runtime.object("deal").fields["stage"].options]


def alternated(sides: Sequence[Callable[[list], object]], rows: list, rounds: int, unit: int = 1) -> list[float]:
    """Seconds each side takes to write `rows`, the sides taking turns: `rows` is cut into up to
    `rounds` slices (of whole multiples of `unit` rows: bulk batches stay whole), and in round
    number n the sides run on slice n in an order rotated by n. Returns one sum per side."""
    units = -(-len(rows) // unit)
    size = -(-units // min(rounds, units)) * unit
    totals = [0.0] * len(sides)
    for number, offset in enumerate(range(0, len(rows), size)):
        chunk = rows[offset:offset + size]
        for index in [(number + turn) % len(sides) for turn in range(len(sides))]:
            totals[index] += elapsed(lambda side=sides[index], part=chunk: side(part))
    return totals


#: Records each side creates one by one for the WAL pages figure, in rounds of WAL_ROUND: few enough that no
#: automatic checkpoint (at 1,000 pages) empties the WAL within a round; FTS5 merges its segments every few
#: transactions, so the figure is an average over several rounds.
WAL_RECORDS, WAL_ROUND = 100, 20


def wal_pages(crm: Crm, sides: Sequence[Callable[[list], object]], rows: list[dict]) -> list[float] | None:
    """SQLite: the WAL pages (frames) each side writes per record while creating `rows` one by one, WAL_ROUND
    rows at a time, the WAL emptied (`wal_checkpoint(TRUNCATE)`) before each side's round; one average per side.
    Every page a transaction changes is one frame, and the checkpoints that copy them back to the database
    cost in proportion. None on PostgreSQL, for an in-memory database, or when a reader kept the WAL from
    being emptied."""
    database = crm.engine.url.database
    if crm.engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    wal = Path(f"{database}-wal")
    with crm.engine.connect() as connection:
        page_size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
    frames = [0.0] * len(sides)
    for offset in range(0, len(rows), WAL_ROUND):
        for index, side in enumerate(sides):
            with crm.engine.connect() as connection:
                busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            if busy or (wal.exists() and wal.stat().st_size > 0):
                return None
            side(rows[offset:offset + WAL_ROUND])
            size = wal.stat().st_size if wal.exists() else 0
            frames[index] += max(size - WAL_HEADER, 0) / (page_size + WAL_FRAME_HEADER)
    return [count / len(rows) for count in frames]


#: Bytes of the WAL file's header, and of each frame's header before its page (sqlite.org/fileformat.html).
WAL_HEADER, WAL_FRAME_HEADER = 32, 24


def write_lines(crm: Crm, raw_table: Table, django_deals, same_work: tuple[Any, Any, str], creates: int,
                bulk: int) -> list[Result]:
    """Create `creates` records one by one, then bulk insert `bulk`, on each side (taking turns).

    `django_deals` is the QuerySet (`Model.objects.using(alias)`) over the `deal_django` copy;
    `same_work` is (Deal model, History model, alias) of the same-work column.
    """
    deal_model, history_model, alias = same_work
    records = crm.as_system().records("deal")
    rng = random.Random(1)
    values = [deal_values(rng, n) for n in range(creates)]

    def raw_creates(chunk: list[dict]) -> None:
        for row in map(stored_row, chunk):
            with crm.engine.begin() as connection:
                connection.execute(insert(raw_table), row)

    creating = [
        lambda chunk: [records.create(row) for row in chunk],
        raw_creates,
        lambda chunk: [django_deals.create(**stored_row(row)) for row in chunk],
        lambda chunk: [django_same_work.create_row(deal_model, history_model, alias, row) for row in chunk],
    ]
    ours, raw, django, work = alternated(creating, values, ROUNDS)
    note = (f"per record: crmkit {ours / creates * 1e6:.0f} µs, raw {raw / creates * 1e6:.0f} µs, "
            f"Django {django / creates * 1e6:.0f} µs, Django same work {work / creates * 1e6:.0f} µs")
    pages = wal_pages(crm, creating, [deal_values(random.Random(2), n) for n in range(WAL_RECORDS)])  # not timed
    if pages is not None:
        note += ("; WAL pages per record: " + ", ".join(
            f"{name} {count:.1f}" for name, count in zip(("crmkit", "raw", "Django", "Django same work"), pages)))
    lines = [Result(f"create {creates:,} one by one", ours, raw, AHEAD_OF_DJANGO, note, django, work)]
    values = [deal_values(rng, n) for n in range(bulk)]

    def raw_bulk(chunk: list[dict]) -> None:
        rows = [stored_row(row) for row in chunk]
        for offset in range(0, len(rows), BATCH):
            with crm.engine.begin() as connection:
                connection.execute(insert(raw_table), rows[offset:offset + BATCH])

    ours, raw, django, work = alternated([
        lambda chunk: records.bulk_create(chunk, batch_size=BATCH),
        raw_bulk,
        lambda chunk: django_deals.bulk_create([django_deals.model(**stored_row(row)) for row in chunk],
                                               batch_size=BATCH),
        lambda chunk: django_same_work.bulk_rows(deal_model, history_model, alias, chunk, BATCH),
    ], values, ROUNDS, BATCH)
    lines.append(Result(f"bulk insert {bulk:,}", ours, raw, AHEAD_OF_DJANGO,
                        f"batches of {BATCH:,}; per record: crmkit {ours / bulk * 1e6:.0f} µs, "
                        f"raw {raw / bulk * 1e6:.0f} µs, Django {django / bulk * 1e6:.0f} µs, "
                        f"Django same work {work / bulk * 1e6:.0f} µs", django, work))
    return lines
