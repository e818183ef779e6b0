"""The list page /o/account against the bare engine calls behind it, on a filled account table.

    python -m benchmarks.list_page --database postgresql+psycopg://postgres@127.0.0.1/crmkit_list_bench --rows 1000000

Fills `account` like `make bench` (benchmarks/data.py: the standard CRM, 200 users in its
role hierarchy), then times, as medians over --budget seconds each:

- engine: `records.query` (one page of 50 in the layout's sort) and `records.count` (capped),
  the calls behind the page;
- page: the whole request through Flask's test client (sign-in cookie, the engine calls,
  lookup titles, filter choices, template), first page and a page after a keyset cursor;
for the administrator and a sales rep (row filter). Prints the ratios; asserts nothing.
The PostgreSQL database is created when missing and kept (`--drop` removes it afterwards).
"""
from __future__ import annotations

import argparse
import re
import statistics
import time
from typing import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks import data
from crmkit.engine import Crm
from crmkit.engine.security.users import SystemDirectory
from crmkit.ui.list_page import COUNT_CAP

PASSWORD = "list page bench password 1"


def median_ms(call: Callable[[], object], budget: float) -> float:
    times: list[float] = []
    end = time.perf_counter() + budget
    while time.perf_counter() < end or len(times) < 5:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def p95_ms(call: Callable[[], object], count: int) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.quantiles(times, n=20)[-1] * 1000


def ensure_database(url: str) -> None:
    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        return
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first() is None:
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def measure(crm: Crm, app, directory: SystemDirectory, label: str, user_id: int, budget: float) -> None:
    """Prints the engine calls' and the list page's times for one signed-in user."""
    client = app.test_client()
    username = directory.get(user_id).username
    client.post("/login", data={"username": username, "password": PASSWORD})
    context = crm.as_user(user_id)
    records = context.records("account")
    sort = crm.runtime.registry.layout("account").list.sort

    def engine_calls() -> None:
        records.query(None, sort=sort, limit=50)
        records.count(None, cap=COUNT_CAP)

    first = client.get("/o/account").get_data(as_text=True)
    assert 'id="list-count"' in first, first[-2000:]
    next_link = re.search(r'rel="next" href="([^"]+)"', first)[1].replace("&amp;", "&")
    cursor = re.search(r"after=([^&]+)", next_link)[1]

    def engine_next() -> None:
        records.query(None, sort=sort, limit=50, after=cursor)
        records.count(None, cap=COUNT_CAP)

    engine = median_ms(engine_calls, budget)
    page = median_ms(lambda: client.get("/o/account"), budget)
    engine2 = median_ms(engine_next, budget)
    page2 = median_ms(lambda: client.get(next_link), budget)
    p95 = p95_ms(lambda: client.get(next_link), 60)
    search = median_ms(lambda: client.get("/o/account?q=acme"), budget)
    print(f"{label:<8} {'engine calls, first page':<34} {engine:8.1f}")
    print(f"{label:<8} {'list page, first page':<34} {page:8.1f} {page / engine:6.2f}x")
    print(f"{label:<8} {'engine calls, after a cursor':<34} {engine2:8.1f}")
    print(f"{label:<8} {'list page, after a cursor':<34} {page2:8.1f} {page2 / engine2:6.2f}x  p95 {p95:.1f} ms")
    print(f"{label:<8} {'list page, search q=acme':<34} {search:8.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.list_page", description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--drop", action="store_true")
    options = parser.parse_args(argv)
    ensure_database(options.database)
    crm = Crm.open(options.database)
    if "account" not in crm.runtime.registry.objects:
        crm.install("default_crm")
    users = data.create_users(crm)
    data.fill_accounts(crm, options.rows, [user for role, ids in users.items() if role != "admin" for user in ids])
    directory = SystemDirectory(crm)
    rep_id = users["sales_rep"][0]
    for user_id in (users["admin"][0], rep_id):
        directory.set_password(user_id, PASSWORD)

    from crmkit.ui import create_app

    app = create_app(crm, {"SECRET_KEY": "list-page-bench-secret-key-0123456789", "WTF_CSRF_ENABLED": False})
    print(f"{options.rows:,} accounts on {crm.engine.dialect.name}; medians of {options.budget:g} s each")
    print(f"{'user':<8} {'what':<34} {'ms':>8} {'ratio':>7}")
    for label, user_id in (("admin", users["admin"][0]), ("rep", rep_id)):
        measure(crm, app, directory, label, user_id, options.budget)
    crm.close()
    if options.drop:
        target = make_url(options.database)
        admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
