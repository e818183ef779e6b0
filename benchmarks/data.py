"""The bench data: the standard CRM's `account` table filled with realistic mixed names.

Names are half English company names with a number ("Wonka Industries 12345") and half
Chinese company names with a contact person ("星辰科技 张伟": a two-character surname and
given name). Owners are spread over 200 users in the standard CRM's role hierarchy. Rows
are written with raw bulk inserts (COPY on PostgreSQL): setup, not measured.
"""
from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator

from sqlalchemy import func, insert, select, text

from crmkit.engine import Crm
from crmkit.engine.query.search_index import SearchIndex, rebuild_index

BRANDS = ["Wonka", "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli",
          "Vandelay", "Soylent", "Cyberdyne", "Tyrell"]
SUFFIXES = ["Industries", "Corporation", "Holdings", "Trading", "Systems", "Group", "Labs", "Partners"]
CN_COMPANIES = ["星辰", "华夏", "东方", "长城", "金桥", "远航", "天成", "鸿运", "紫光", "青松"]
CN_TRADES = ["科技", "贸易", "物流", "制造", "传媒", "能源", "金融", "医药"]
SURNAMES = ["张", "王", "李", "刘", "陈", "杨", "黄", "赵", "周", "吴"]
GIVEN_NAMES = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋"]
INDUSTRIES = ["Technology", "Manufacturing", "Finance", "Healthcare", "Retail", "Education", "Energy",
              "Telecommunications", "Real Estate", "Logistics", "Media", "Government", "Other"]
TYPES = ["Prospect", "Customer", "Partner", "Reseller", "Competitor", "Other"]
CITIES = ["Shanghai", "Beijing", "Shenzhen", "London", "New York", "Berlin", "上海", "北京", "深圳"]

#: Search words and the rows they are written into (see account_name).
COMMON_WORD = "Industries"     # one English name in 8: about 6% of rows
RARE_WORD = "Zorblax"          # one row in 20,000
NO_MATCH = "xyzzy"             # in no row
CHINESE_NAME = "张伟"           # surname + given name: about 0.5% of rows
SHORT_PREFIX = "1"              # one character typed: starts a word (a number, a phone's) in most rows
PREFIX = "Wonka Industries 12"  # startswith: about 0.06% of rows
COMMON_PREFIX = "Wonka"        # startswith: one English name in 12, about 4% of rows (41,650 of 1,000,000)
RARE_EVERY = 20_000

#: 200 users, four levels of the standard CRM's sales hierarchy, plus one administrator.
HIERARCHY = [("ceo", 1), ("sales_vp", 4), ("sales_manager", 20), ("sales_rep", 175)]


def account_name(rng: random.Random, number: int) -> str:
    """A company name: even numbers English with the number, odd numbers Chinese with a person."""
    if number % RARE_EVERY == RARE_EVERY // 2:
        return f"{RARE_WORD} {rng.choice(SUFFIXES)} {number}"
    if number % 2 == 0:
        return f"{rng.choice(BRANDS)} {rng.choice(SUFFIXES)} {number}"
    return f"{rng.choice(CN_COMPANIES)}{rng.choice(CN_TRADES)} {rng.choice(SURNAMES)}{rng.choice(GIVEN_NAMES)}"


def account_row(rng: random.Random, number: int, owner_id: int, now: datetime) -> dict:
    """One account as the table stores it (no formulas or rollups are filled: they stay empty)."""
    return {
        "account_number": f"ACC-{number:07d}", "name": account_name(rng, number),
        "type": rng.choice(TYPES), "industry": rng.choice(INDUSTRIES),
        "rating": rng.choice(["Hot", "Warm", "Cold", None]),
        "annual_revenue": Decimal(rng.randrange(10_000, 10**11)) / 100,
        "employees": rng.randrange(1, 100_000),
        "phone": f"+86 1{rng.randrange(30, 90)} {rng.randrange(10**7, 10**8)}",
        "billing_city": rng.choice(CITIES), "owner_id": owner_id,
        "created_at": now - timedelta(seconds=number), "updated_at": now, "version": 1,
    }


def create_users(crm: Crm) -> dict[str, list[int]]:
    """User ids by role (HIERARCHY, and "admin" for the administrator); created on the first run."""
    users = crm.runtime.system_table("crmkit_user")
    grants = crm.runtime.system_table("crmkit_grant")
    now = datetime.now(timezone.utc)
    created: dict[str, list[int]] = {}
    with crm.engine.begin() as connection:
        if connection.execute(select(func.count()).select_from(users)).scalar_one():
            for role, user_id in connection.execute(select(users.c.role, users.c.id).order_by(users.c.id)):
                created.setdefault(role or "admin", []).append(user_id)
            return created
        for role, count in [*HIERARCHY, (None, 1)]:
            for number in range(count):
                name = f"{role or 'admin'}{number}"
                user_id = connection.execute(insert(users).values(
                    username=name, display_name=name, role=role, active=True, language="en",
                    timezone="UTC", created_at=now, updated_at=now,
                ).returning(users.c.id)).scalar_one()
                created.setdefault(role or "admin", []).append(user_id)
        connection.execute(insert(grants).values(permission_set="admin", user_id=created["admin"][0], granted_at=now))
    return created


def fill_accounts(crm: Crm, total: int, owners: list[int], batch: int = 20_000) -> int:
    """Top `account` up to `total` rows and `settle` them; returns how many rows were added."""
    table = crm.runtime.table("account")
    with crm.engine.connect() as connection:
        present = connection.execute(select(func.count()).select_from(table)).scalar_one()
    if present >= total:
        return 0
    rng = random.Random(present)
    now = datetime.now(timezone.utc)
    for offset in range(present, total, batch):
        rows = [account_row(rng, n, owners[rng.randrange(len(owners))], now)
                for n in range(offset, min(total, offset + batch))]
        if crm.engine.dialect.name == "postgresql":
            _copy(crm, table.name, rows)
        else:
            with crm.engine.begin() as connection:
                connection.execute(insert(table), rows)
        progress("filling account", offset + len(rows) - present, total - present)
    index_accounts(crm)
    settle(crm)
    return total - present


def index_accounts(crm: Crm) -> None:
    """Build the account search index over the rows written raw, as the migration step does for existing records."""
    index = SearchIndex.of(crm.runtime.registry, crm.runtime.field_types, "account")
    with crm.engine.begin() as connection:
        rebuild_index(connection, crm.runtime.schema, index,
                      lambda _object, done, total: progress("indexing account for search", done, total))


_TENTHS: dict[str, int] = {}


def progress(what: str, done: int, total: int) -> None:
    """A line on stderr at each tenth of a long setup step, so a 1,000,000-row fill is not silent."""
    tenth = done * 10 // max(total, 1)
    if tenth != _TENTHS.get(what):
        _TENTHS[what] = tenth
        print(f"  {what}: {done:,} of {total:,}", file=sys.stderr, flush=True)


def _copy(crm: Crm, table_name: str, rows: list[dict]) -> None:
    """PostgreSQL COPY of `rows` (all with the same keys) into `table_name`."""
    columns = list(rows[0])
    raw = crm.engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            names = ", ".join(f'"{name}"' for name in columns)
            with cursor.copy(f'COPY "{table_name}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([row[name] for name in columns])
        raw.commit()
    finally:
        raw.close()


def batches(items: list, size: int) -> Iterator[list]:
    for offset in range(0, len(items), size):
        yield items[offset:offset + size]


def opportunity_row(rng: random.Random, number: int, owner_id: int, account_id: int, stages: list[str],
                    types: list[str], now: datetime) -> dict:
    """One opportunity as the table stores it: a stage, type, amount and close date over about three years."""
    return {
        "name": f"Deal {number}", "account": account_id, "stage": rng.choice(stages),
        "type": rng.choice(types + [None]),
        "amount": Decimal(rng.randrange(100_00, 500_000_00)) / 100 if number % 17 else None,
        "close_date": (now - timedelta(days=rng.randrange(-365, 730))).date(), "owner_id": owner_id,
        "created_at": now - timedelta(seconds=number), "updated_at": now, "version": 1,
    }


def fill_opportunities(crm: Crm, total: int, owners: list[int], batch: int = 20_000) -> int:
    """Top `opportunity` up to `total` rows (each on a random account) and `settle` them; returns how many were added."""
    table = crm.runtime.table("opportunity")
    accounts = crm.runtime.table("account")
    fields = crm.runtime.object("opportunity").fields
    stages = [option.value for option in fields["stage"].options]
    types = [option.value for option in fields["type"].options]
    with crm.engine.connect() as connection:
        present = connection.execute(select(func.count()).select_from(table)).scalar_one()
        first, last = connection.execute(select(func.min(accounts.c.id), func.max(accounts.c.id))).one()
    if present >= total or first is None:
        return 0
    rng = random.Random(present)
    now = datetime.now(timezone.utc)
    for offset in range(present, total, batch):
        rows = [opportunity_row(rng, n, owners[rng.randrange(len(owners))], rng.randint(first, last), stages, types,
                                now) for n in range(offset, min(total, offset + batch))]
        if crm.engine.dialect.name == "postgresql":
            _copy(crm, table.name, rows)
        else:
            with crm.engine.begin() as connection:
                connection.execute(insert(table), rows)
        progress("filling opportunity", offset + len(rows) - present, total - present)
    settle(crm)
    return total - present


def settle(crm: Crm) -> None:
    """The planner's statistics after a fill, and on PostgreSQL the visibility map too (VACUUM ANALYZE).

    A production server's autovacuum does both soon after a bulk load; a test server may run without it
    (this machine's does), and then an index-only scan still visits every heap page and the measured
    pages are those of a database no one would run. SQLite has no visibility map: ANALYZE.
    """
    if crm.engine.dialect.name == "postgresql":
        with crm.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))  # VACUUM cannot run inside a transaction
        return
    with crm.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
