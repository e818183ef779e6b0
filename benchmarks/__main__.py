"""`make bench`: crmkit against raw SQLAlchemy Core on the same SQLite data, in one run.

Prints absolute times and ratios; asserts nothing. Options: --rows (table size for the
read benchmarks, default 1,000,000), --creates, --bulk, --keep DIR (reuse a filled database).
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable

from sqlalchemy import Index, MetaData, Table, and_, func, insert, or_, select, text

from crmkit.engine import Crm
from crmkit.engine.query import page_cursor

PACKAGE = Path(__file__).resolve().parent / "bench_package.yaml"
STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Won", "Lost"]


@dataclass
class Result:
    name: str
    ours: float
    raw: float
    target: str
    note: str = ""

    def line(self) -> str:
        ratio = self.ours / self.raw if self.raw else float("nan")
        return (f"{self.name:<38} {_fmt(self.ours):>11} {_fmt(self.raw):>11} {ratio:>7.2f}x  "
                f"{self.target:<22} {self.note}")


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def deal_values(rng: random.Random, number: int) -> dict:
    return {
        "name": f"Deal {number} {rng.choice(['Acme', '星辰科技', 'Globex', '华为', 'Initech'])}",
        "amount": Decimal(rng.randrange(100, 5_000_000)) / 100,
        "stage": rng.choice(STAGES),
        "probability": Decimal(rng.choice([10, 20, 40, 60, 80, 100])),
        "close_date": date(2025, 1, 1) + timedelta(days=rng.randrange(730)),
    }


def raw_row(values: dict, number: int) -> dict:
    """What the table stores for `values`, computed by hand, for raw Core inserts."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    expected = (values["amount"] * values["probability"] / 100).quantize(Decimal("0.01"))
    return dict(values, expected=expected, created_at=now, updated_at=now, version=1)


def median_time(function: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_writes(crm: Crm, raw_table, creates: int, bulk: int) -> list[Result]:
    records = crm.as_system().records("deal")
    rng = random.Random(1)
    rows = [deal_values(rng, n) for n in range(creates)]
    start = time.perf_counter()
    for values in rows:
        records.create(values)
    ours = time.perf_counter() - start
    raw_rows = [raw_row(values, n) for n, values in enumerate(rows)]
    start = time.perf_counter()
    for row in raw_rows:
        with crm.engine.begin() as connection:
            connection.execute(insert(raw_table), row)
    raw = time.perf_counter() - start
    results = [Result(f"create {creates:,} one by one", ours, raw, "<= 2.5x raw",
                      f"{ours / creates * 1e6:.0f} µs vs {raw / creates * 1e6:.0f} µs per record")]
    rows = [deal_values(rng, n) for n in range(bulk)]
    start = time.perf_counter()
    records.bulk_create(rows, batch_size=1000)
    ours = time.perf_counter() - start
    raw_rows = [raw_row(values, n) for n, values in enumerate(rows)]
    start = time.perf_counter()
    for offset in range(0, len(raw_rows), 1000):
        with crm.engine.begin() as connection:
            connection.execute(insert(raw_table), raw_rows[offset:offset + 1000])
    raw = time.perf_counter() - start
    results.append(Result(f"bulk insert {bulk:,}", ours, raw, "<= 1.5x raw"))
    return results


def create_users(crm: Crm) -> dict[str, list[int]]:
    """200 users in a four-level hierarchy (1 CEO, 4 directors, 20 managers, 175 reps) and an admin."""
    users = crm.runtime.system_table("crmkit_user")
    grants = crm.runtime.system_table("crmkit_grant")
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    created: dict[str, list[int]] = {}
    with crm.engine.begin() as connection:
        if connection.execute(select(func.count()).select_from(users)).scalar_one():
            for role, user_id in connection.execute(select(users.c.role, users.c.id).order_by(users.c.id)):
                created.setdefault(role or "admin", []).append(user_id)
            return created
        for role, count in [("ceo", 1), ("director", 4), ("manager", 20), ("rep", 175), (None, 1)]:
            for number in range(count):
                user_id = connection.execute(insert(users).values(
                    username=f"{role or 'admin'}{number}", display_name=f"{role or 'admin'} {number}", role=role,
                    active=True, language="en", timezone="UTC", created_at=now, updated_at=now,
                ).returning(users.c.id)).scalar_one()
                created.setdefault(role or "admin", []).append(user_id)
        connection.execute(insert(grants).values(permission_set="admin", user_id=created["admin"][0], granted_at=now))
    return created


def fill(crm: Crm, total: int, owners: list[int]) -> None:
    """Top the deal table up to `total` rows with raw inserts, owned round-robin (setup, not measured)."""
    table = crm.runtime.table("deal")
    with crm.engine.connect() as connection:
        present = connection.execute(select(func.count()).select_from(table)).scalar_one()
    rng = random.Random(2)
    batch = 10_000
    for offset in range(present, total, batch):
        rows = [dict(raw_row(deal_values(rng, n), n), owner_id=owners[n % len(owners)])
                for n in range(offset, min(total, offset + batch))]
        with crm.engine.begin() as connection:
            connection.execute(insert(table), rows)
    with crm.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def bench_reads(crm: Crm, rows: int) -> list[Result]:
    records = crm.as_system().records("deal")
    table = crm.runtime.table("deal")
    where = {"stage": "Won"}
    sort = ("-amount",)

    def raw_page(condition=None):
        query = select(table).where(table.c.stage == "Won")
        if condition is not None:
            query = query.where(condition)
        with crm.engine.connect() as connection:
            return connection.execute(query.order_by(table.c.amount.desc(), table.c.id.desc()).limit(51)).all()

    ours = median_time(lambda: records.query(where, sort=sort, limit=50), 200)
    raw = median_time(raw_page, 200)
    results = [Result(f"page of 50 of {rows:,} (filter+sort)", ours, raw, "< 1 ms")]
    with crm.engine.connect() as connection:
        won = connection.execute(select(func.count()).where(table.c.stage == "Won")).scalar_one()
        deep = connection.execute(select(table).where(table.c.stage == "Won")
                                  .order_by(table.c.amount.desc(), table.c.id.desc()).offset(int(won * 0.9)).limit(1)).one()
    cursor = page_cursor(records.query_context(), "deal", sort, dict(deep._mapping))
    # Raw Core gets the best hand-written form: a range bound the index serves, then the tie-break
    # (it may ignore NULLs, which this data has none of; crmkit's cursor handles them).
    after = and_(table.c.amount <= deep.amount,
                 or_(table.c.amount < deep.amount, and_(table.c.amount == deep.amount, table.c.id < deep.id)))
    ours = median_time(lambda: records.query(where, sort=sort, limit=50, after=cursor), 200)
    raw = median_time(lambda: raw_page(after), 200)
    results.append(Result("keyset page 90% deep", ours, raw, "< 1 ms"))
    count = records.count(where)

    def raw_count():
        with crm.engine.connect() as connection:
            return connection.execute(select(func.count()).where(table.c.stage == "Won")).scalar_one()

    ours = median_time(lambda: records.count(where), 50)
    raw = median_time(raw_count, 50)
    results.append(Result("count behind the page", ours, raw, "fast, says its kind",
                          f"crmkit: {count.kind} {count.value:,}; raw exact {won:,}"))
    return results


def raw_copy(table: Table, metadata: MetaData) -> Table:
    """The same columns and indexes under another name, for raw Core to write to."""
    copy = Table(f"{table.name}_raw", metadata, *(column._copy() for column in table.columns),
                 sqlite_autoincrement=True)
    for index in table.indexes:
        Index(f"raw_{index.name}", *(copy.c[column.name] for column in index.columns), unique=index.unique)
    return copy


def bench_security(crm: Crm, rows: int, users: dict[str, list[int]]) -> list[Result]:
    """The same page for a rep at the bottom of the hierarchy (private sharing) and for an admin."""
    rep = crm.as_user(users["rep"][-1]).records("deal")
    admin = crm.as_user(users["admin"][0]).records("deal")
    where, sort = {"stage": "Won"}, ("-amount",)
    ours = median_time(lambda: rep.query(where, sort=sort, limit=50), 200)
    reference = median_time(lambda: admin.query(where, sort=sort, limit=50), 200)
    seen = rep.count(where, exact=True).value
    return [Result(f"page of 50 of {rows:,}: rep vs admin", ours, reference, "<= 1.5x admin",
                   f"the rep sees {seen:,} Won deals of 200 users' (ratio column: rep / admin)")]


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--creates", type=int, default=10_000)
    parser.add_argument("--bulk", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None, help="Folder to keep (and reuse) the database in.")
    options = parser.parse_args()
    folder = options.keep or Path(tempfile.mkdtemp(prefix="crmkit-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    crm = Crm.open(f"sqlite:///{folder / 'bench.db'}")
    crm.install(PACKAGE)
    raw_metadata = MetaData()
    raw_table = raw_copy(crm.runtime.table("deal"), raw_metadata)
    with crm.engine.begin() as connection:
        raw_metadata.drop_all(connection)
        raw_metadata.create_all(connection)
    print(f"crmkit benchmarks on SQLite ({folder / 'bench.db'}); raw = SQLAlchemy Core on the same data\n")
    print(f"{'benchmark':<38} {'crmkit':>11} {'raw Core':>11} {'ratio':>8}  {'target':<22} note")
    for result in bench_writes(crm, raw_table, options.creates, options.bulk):
        print(result.line(), flush=True)
    users = create_users(crm)
    fill(crm, options.rows, [user_id for role in ("ceo", "director", "manager", "rep") for user_id in users[role]])
    for result in bench_reads(crm, options.rows):
        print(result.line(), flush=True)
    for result in bench_security(crm, options.rows, users):
        print(result.line(), flush=True)
    crm.close()


if __name__ == "__main__":
    main()
