"""`make bench`: crmkit against hand-written SQLAlchemy Core and Django's ORM, on SQLite and PostgreSQL.

    make bench                                   # SQLite, and PostgreSQL if it answers
    make bench BENCH_ARGS="--rows 300000 --keep"
    make bench BENCH_ARGS="--rows 200000 --keep --lines search,suggest"   # a few read lines only
    make bench BENCH_ARGS="--keep --lines ui"    # the UI list and detail pages and the load line only
    python -m benchmarks --database sqlite --database postgresql+psycopg://postgres@127.0.0.1/test

The standard CRM (apps/default_crm.yaml) is installed on each database and its `account`
table filled to --rows (default 1,000,000) with mixed English and Chinese names, owned by
200 users in its role hierarchy; the bench package's `deal` takes the writes. Each
database gets a table of lines (crmkit time, raw Core time, ratio, Django time where
measured, the issue 8 target and whether it was met, a note), then a summary lists the
targets met and missed. Times are medians of repeated calls (export: one run; writes: the
sides taking turns in rounds, each side's slices summed, benchmarks/writes.py).
Asserts nothing.

Setup is not measured but printed: filling 1,000,000 accounts took 106 s on SQLite and 63 s
on PostgreSQL (COPY) on a shared 2-core machine, and a whole run at 1,000,000 rows about
20 minutes there (the search lines scan the table until the search index lands; the write
lines take a few minutes per database). --keep reuses the filled data next time (SQLite: the folder, default instance/bench;
PostgreSQL: the database crmkit_bench is kept).
"""
from __future__ import annotations

import argparse
from itertools import chain
from typing import Callable
import time
from pathlib import Path

from benchmarks import data, django_orm, django_same_work, email_latency, ui
from benchmarks.databases import (
    DEFAULT_KEEP_FOLDER, DEFAULT_POSTGRES, BenchDatabase, postgres_database, postgres_problem, sqlite_database,
)
from benchmarks.api import api_lines
from benchmarks.automation import automation_lines
from benchmarks.dashboards import dashboard_lines
from benchmarks.reads import GROUPS, Bench, read_lines
from benchmarks.summaries import report_lines
from benchmarks.report import HEADER, Result, format_time, line, summary
from benchmarks.transfer import transfer_lines
from benchmarks.writes import deal_stages, prepare_copies, write_lines
from crmkit.engine import Crm

PACKAGE = Path(__file__).resolve().parent / "bench_package.yaml"


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--database", action="append", metavar="URL",
                        help="'sqlite' (a file in a temporary or --keep folder) or a PostgreSQL URL naming the "
                             "server; repeatable. Default: SQLite, and PostgreSQL at "
                             f"{DEFAULT_POSTGRES} if it answers.")
    parser.add_argument("--pg-database", default="crmkit_bench",
                        help="The PostgreSQL database the bench creates and fills (default crmkit_bench).")
    parser.add_argument("--rows", type=at_least(10), default=1_000_000,
                        help="Accounts to fill (default 1,000,000; at least 10).")
    parser.add_argument("--opportunities", type=at_least(10), default=None,
                        help="Opportunities to fill for the report lines (default: as many as --rows).")
    parser.add_argument("--creates", type=at_least(1), default=10_000, help="Records created one by one (default 10,000).")
    parser.add_argument("--bulk", type=at_least(1), default=100_000, help="Records bulk inserted (default 100,000).")
    parser.add_argument("--jobs", type=at_least(1), default=5_000,
                        help="Outbox jobs worked through each queue by two workers (default 5,000); the rules "
                             "line updates --creates records.")
    parser.add_argument("--imports", type=at_least(1), default=100_000,
                        help="Contacts imported from a CSV file with duplicates on email skipped (default 100,000).")
    parser.add_argument("--exports", type=at_least(1), default=None,
                        help="Accounts exported as CSV and as XLSX, time and peak memory (default: all of --rows).")
    parser.add_argument("--keep", nargs="?", const=DEFAULT_KEEP_FOLDER, type=Path, default=None, metavar="FOLDER",
                        help="Keep the filled data for the next run (SQLite: in FOLDER, default instance/bench; "
                             "PostgreSQL: the database is kept).")
    parser.add_argument("--writes-only", action="store_true",
                        help="Measure only the create and bulk lines (the accounts are still filled to --rows).")
    parser.add_argument("--lines", type=line_groups, default=None, metavar="GROUP,...",
                        help="Measure only these groups of lines, and no write line: "
                             f"{', '.join(GROUPS)}, reports, ui (the UI list and detail pages and the load line), "
                             "api (the API list page through gunicorn) "
                             "(default: every line).")
    parser.add_argument("--budget", type=positive_seconds, default=1.0,
                        help="Seconds each read measurement repeats its call for, taking the median (default 1).")
    parser.add_argument("--load-seconds", type=seconds_or_none, default=10.0,
                        help="Seconds the load generator drives the list page under gunicorn (default 10; 0: "
                             "no load line).")
    parser.add_argument("--gunicorn-threads", type=at_least(0), default=ui.THREADS,
                        help=f"Threads per gunicorn worker for the load line (default {ui.THREADS}; 0: sync workers).")
    parser.add_argument("--emails", type=at_least(0), default=200,
                        help="Emails for the commit -> SMTP latency line (benchmarks/email_latency.py; default 200, "
                             "0: no email line).")
    chosen = parser.parse_args(argv)
    for url in chosen.database or ():
        if url != "sqlite" and not url.startswith(("sqlite", "postgresql")):
            parser.error(f"--database {url}: give 'sqlite', a sqlite:/// URL or a postgresql:// URL.")
    return chosen


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= low, or a usage error saying so."""
    def whole(text: str) -> int:
        try:
            number = int(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if number < low:
            raise argparse.ArgumentTypeError(f"{number:,} is too small; give at least {low:,}")
        return number
    return whole


def line_groups(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated names of read-line groups (reads.GROUPS)."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in (*GROUPS, "reports", "ui", "api")]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"name groups among {', '.join(GROUPS)}, reports, ui, api, not {text!r}")
    return names


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("give a number of seconds above 0")
    return seconds


def seconds_or_none(text: str) -> float:
    """An argparse type: 0 (leave the measurement out) or a positive number of seconds."""
    return 0.0 if text.strip() in ("0", "0.0") else positive_seconds(text)


def bench_databases(chosen: argparse.Namespace) -> list[BenchDatabase]:
    """The databases to run on; a default PostgreSQL that does not answer is skipped, saying why."""
    urls = chosen.database or ["sqlite", DEFAULT_POSTGRES]
    found = []
    for url in urls:
        if url == "sqlite":
            found.append(sqlite_database(chosen.keep))
        elif url.startswith("sqlite"):
            found.append(BenchDatabase("SQLite", url, url, lambda: None))
        else:
            problem = postgres_problem(url)
            if problem and chosen.database:
                raise SystemExit(f"make bench: {problem}.")
            if problem:
                print(f"PostgreSQL skipped: {problem}. Start it, or pass --database sqlite to run SQLite only.\n")
                continue
            found.append(postgres_database(url, chosen.pg_database, keep=chosen.keep is not None))
    return found


def set_up(crm: Crm, rows: int, opportunities: int) -> dict[str, list[int]]:
    """Install the standard CRM and the bench package, create the users, fill the accounts and opportunities; prints times."""
    start = time.perf_counter()
    # Kept data indexed by an older tokenizer has its search index rebuilt here (query/tokens.py TOKENIZER_VERSION).
    crm.install("default_crm", PACKAGE, progress=lambda name, done, total: data.progress(
        f"rebuilding the {name} search index", done, total))
    users = data.create_users(crm)
    owners = [user_id for role, _ in data.HIERARCHY for user_id in users[role]]
    added = data.fill_accounts(crm, rows, owners)
    deals = data.fill_opportunities(crm, opportunities, owners)
    print(f"setup (not measured): standard CRM installed, {len(owners)} owners, {added:,} accounts and "
          f"{deals:,} opportunities added "
          f"in {format_time(time.perf_counter() - start)}", flush=True)
    return users


def run(database: BenchDatabase, alias: str, chosen: argparse.Namespace) -> tuple[list[Result], ui.Load | None]:
    """Every line on one database, printed as it is measured; and the list page's throughput (not with --writes-only)."""
    print(f"== {database.label} ({database.location}): {chosen.rows:,} accounts; raw = hand-written SQLAlchemy Core on the same data",
          flush=True)
    crm = Crm.open(database.url)
    try:
        opportunities = chosen.opportunities or chosen.rows
        users = set_up(crm, chosen.rows, opportunities)
        table = crm.runtime.table("account")
        dialect = crm.engine.dialect.name
        accounts = django_orm.model_for(table, alias, dialect).objects.using(alias)
        print(HEADER, flush=True)
        results = []
        groups = chosen.lines or GROUPS
        for result in () if chosen.writes_only else read_lines(Bench(crm, table, accounts, chosen.budget), users,
                                                                chosen.rows, groups):
            results.append(result)
            print(line(result), flush=True)
        if not chosen.writes_only and (not chosen.lines or "reports" in chosen.lines):
            reports_bench = Bench(crm, table, accounts, chosen.budget)
            for result in chain(report_lines(reports_bench, users, opportunities),
                                dashboard_lines(reports_bench, users, opportunities)):
                results.append(result)
                print(line(result), flush=True)
        if chosen.lines:  # only the groups named
            load = None
            if "ui" in chosen.lines:
                for result in ui.ui_lines(crm, users, chosen.rows, chosen.budget):
                    results.append(result)
                    print(line(result), flush=True)
                if chosen.load_seconds:
                    load = ui.throughput(database.url, chosen.load_seconds, chosen.gunicorn_threads)
                    print(load.line(), flush=True)
            if "api" in chosen.lines:
                for result in api_lines(crm, database.url, users, chosen.budget):
                    results.append(result)
                    print(line(result), flush=True)
            print(flush=True)
            return results, load
        for result in () if chosen.writes_only else ui.ui_lines(crm, users, chosen.rows, chosen.budget):
            results.append(result)
            print(line(result), flush=True)
        for result in () if chosen.writes_only else api_lines(crm, database.url, users, chosen.budget):
            results.append(result)
            print(line(result), flush=True)
        raw_deals, django_deals, work_deals, work_history = prepare_copies(crm)
        deals = django_orm.model_for(django_deals, alias, dialect).objects.using(alias)
        same_work = django_same_work.models_for(work_deals, work_history, alias, dialect, deal_stages(crm))
        for result in write_lines(crm, raw_deals, deals, (*same_work, alias), chosen.creates, chosen.bulk):
            results.append(result)
            print(line(result), flush=True)
        for result in () if chosen.writes_only else automation_lines(crm, chosen.creates, chosen.jobs):
            results.append(result)
            print(line(result), flush=True)
        exports = min(chosen.exports or chosen.rows, chosen.rows)
        for result in () if chosen.writes_only else transfer_lines(crm, chosen.imports, exports):
            results.append(result)
            print(line(result), flush=True)
        load = None if chosen.writes_only or not chosen.load_seconds else \
            ui.throughput(database.url, chosen.load_seconds, chosen.gunicorn_threads)
        if load is not None:
            print(load.line(), flush=True)
        print(flush=True)
        return results, load
    finally:
        django_orm.close()
        crm.close()


def main(argv: list[str] | None = None) -> None:
    chosen = options(argv)
    databases = bench_databases(chosen)
    aliases = {f"{database.dialect}{number}": database for number, database in enumerate(databases)}
    django_orm.configure({alias: database.url for alias, database in aliases.items()})
    results: dict[str, list[Result]] = {}
    loads: dict[str, tuple[str, bool]] = {}
    try:
        for alias, database in aliases.items():
            name = f"{database.label} ({database.location})"
            results[name], load = run(database, alias, chosen)
            if load is not None:
                loads[name] = (f"UI list page under load ({load.per_second:,.0f} pages/s)", load.met)
        if chosen.emails and not chosen.lines:
            print("== Email: commit -> received at a local SMTP server, embedded queue (a fresh SQLite database)")
            print(HEADER, flush=True)
            email = email_latency.measure(chosen.emails)
            print(line(email) + "\n", flush=True)
            results["Email (SQLite, embedded queue)"] = [email]
    finally:
        for database in databases:
            database.cleanup()
    print("\n".join(summary(results, loads)))


if __name__ == "__main__":
    main()
