"""`make bench` runs end to end on tiny data, so it cannot rot: every line on each database.

Timing belongs to `make bench`, not here: these runs use 300 accounts, a 10 ms budget per
measurement and (on SQLite) half a second of load on gunicorn, and check what the bench
prints, not how fast anything is.
"""
from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest

from tests.conftest import POSTGRES_URL, REPOSITORY, require_postgres

LINES = [
    "page of 50, default sort (name)", "page of 50, filter industry, sort name", "keyset page from the middle",
    "page of 50, sort by annual_revenue (no index)", "count behind the filtered page",
    "search common word 'Industries'", "search rare word 'Zorblax'", "search no match 'xyzzy'",
    "search two-character Chinese name '张伟'", "search common word 'Industries', keyset page 2",
    "search common word 'Industries', a sales rep", "search common word sorted by name (full sort of",
    "global search no match 'xyzzy'", "global search two-character Chinese name '张伟'",
    "global search one-character prefix '1'",
    "startswith 'wonka industries 12'",
    "lookup autocomplete suggest('wonka 12')", "lookup autocomplete suggest('wonka z')",
    "lookup autocomplete suggest('wonka zo')", "page of 50: sales rep vs admin (private)",
    "page of 50: sales rep with a shared record vs admin",
    "summary report grouped by two fields and a month bucket over 300 opportunities, admin",
    "summary report grouped by two fields and a month bucket over 300 opportunities, a sales rep (private)",
    "dashboard's first widget visible (page + widget) over 300 opportunities, admin",
    "dashboard's first widget visible (page + widget) over 300 opportunities, a sales rep (private)",
    "export 300 rows as CSV", "UI list page (50 rows)", "UI detail page (3 related lists)",
    "API list page of 50 (HTTP, JSON)",
    "create 20 one by one", "bulk insert 100",
    "update 20 records, 20 rules that do not match", "queue: 40 jobs, 2 workers, embedded (SQLite file)",
    "import 300 contacts, dedup on email", "export 300 accounts as CSV, peak memory",
    "export 300 accounts as XLSX, peak memory",
]


#: Tiny data and a 10 ms budget per measurement.
TINY = ["--rows", "300", "--creates", "20", "--bulk", "100", "--jobs", "40", "--imports", "300", "--budget", "0.01"]


def run_bench(*arguments: str) -> str:
    command = [sys.executable, "-m", "benchmarks", *TINY, *arguments]
    result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_every_line(output: str, database: str, *, load: bool = False) -> None:
    section = output.split(f"== {database}")[1].split("\n\n")[0]
    for name in LINES:
        assert name in section, f"{database}: no line {name!r}"
    assert "ROWS DIFFER" not in section
    assert "queue: 40 jobs, 2 workers, Redis" in section or "queue line on Redis skipped: " in section
    common = next(text for text in section.splitlines() if text.startswith("search common word"))
    assert " 0 on the page" not in common, "the bench's accounts are in the search index"
    creates = next(text for text in section.splitlines() if text.startswith("create 20"))
    assert "Django" in creates and "faster than Django" in creates and "Django same work" in creates
    pages = re.search(r"WAL pages per record: crmkit ([\d.]+), raw ([\d.]+), Django ([\d.]+), "
                      r"Django same work ([\d.]+)", creates)
    if database == "SQLite":  # every create changes a few pages of each table and index it writes
        assert pages is not None, creates
        crmkit, raw, django, work = map(float, pages.groups())
        assert 1 < raw and 1 < django < work < crmkit < 40, creates  # crmkit also writes its search and change rows
    else:
        assert pages is None, creates
    assert f"{database} (" in output.split("Targets (issue 8)")[1], "the summary names the database"
    if load:  # gunicorn on the bench database, driven for half a second
        measured = next(text for text in section.splitlines() if text.startswith("UI list page under load:"))
        assert "pages/s" in measured and "errors" not in measured, measured
        assert re.search(r"using \d+% of a core", measured), measured  # the load generator's own CPU
        assert "UI list page under load (" in output.split("Targets (issue 9)")[1]


def test_the_bench_runs_on_sqlite_and_lines_measures_only_the_groups_named(tmp_path, capsys, monkeypatch):
    kept = tmp_path / "bench"
    output = run_bench("--database", "sqlite", "--load-seconds", "0.5", "--keep", str(kept), "--emails", "5")
    assert_every_line(output, "SQLite", load=True)
    assert "email: commit -> received at SMTP (p50; 5 emails)" in output
    assert "PostgreSQL" not in output.split("Targets (issue 8)")[1]

    # The kept data, measured again for two groups: in this process (the command line ran above).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # see the Django test below
    from benchmarks import __main__ as bench

    capsys.readouterr()
    bench.main([*TINY, "--database", "sqlite", "--keep", str(kept), "--lines", "suggest,search"])
    output = capsys.readouterr().out
    section = output.split("== SQLite")[1].split("\n\n")[0]
    assert "lookup autocomplete suggest('wonka 12')" in section and "global search no match" in section
    for left_out in ("page of 50, default sort", "page of 50: sales rep", "export", "UI list page", "create 20",
                     "bulk insert"):
        assert left_out not in section, left_out

    # The UI group alone: the list and detail pages against their engine calls, no read or write line.
    bench.main([*TINY, "--database", "sqlite", "--keep", str(kept), "--lines", "ui", "--load-seconds", "0"])
    output = capsys.readouterr().out
    section = output.split("== SQLite")[1].split("\n\n")[0]
    assert "UI list page (50 rows)" in section and "UI detail page (3 related lists)" in section
    for left_out in ("page of 50, default sort", "lookup autocomplete", "create 20", "UI list page under load"):
        assert left_out not in section, left_out

    with pytest.raises(SystemExit):
        bench.options(["--lines", "search,pages2"])
    assert "name groups among pages, count, search" in capsys.readouterr().err


@pytest.mark.postgres
def test_the_bench_runs_on_postgresql_in_a_database_of_its_own():
    require_postgres()
    name = f"crmkit_bench_t_{uuid.uuid4().hex[:10]}"
    output = run_bench("--database", POSTGRES_URL, "--pg-database", name, "--load-seconds", "0", "--emails", "0")  # the load: SQLite's test
    assert_every_line(output, "PostgreSQL")
    assert f"database {name}" in output or f"schema {name}" in output  # a schema where CREATE DATABASE is refused
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test") as connection:
        left = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s UNION ALL "
                                  "SELECT 1 FROM pg_namespace WHERE nspname = %s", (name, name)).fetchone()
    assert left is None, "without --keep the bench drops its database (or schema)"


def test_an_unreachable_postgresql_is_skipped_saying_why(monkeypatch, capsys):
    from benchmarks import __main__ as bench

    monkeypatch.setattr(bench, "DEFAULT_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:1/test")
    chosen = bench.options(["--rows", "10"])
    databases = bench.bench_databases(chosen)
    try:
        assert [database.label for database in databases] == ["SQLite"]
        assert "PostgreSQL skipped: PostgreSQL at postgresql+psycopg://postgres@127.0.0.1:1/test is not reachable" \
            in capsys.readouterr().out
    finally:
        for database in databases:
            database.cleanup()


def test_django_doing_the_same_work_validates_computes_and_keeps_history_like_crmkit(tmp_path, monkeypatch):
    """The same-work column is a fair opponent: its rows equal crmkit's, it refuses what crmkit
    refuses, and it writes a history row per record (one by one and in bulk)."""
    # A browser test run earlier in this worker leaves Playwright's event loop running in the
    # thread, and Django then refuses its (synchronous) ORM calls as if they were async.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from decimal import Decimal

    from django.core.exceptions import ValidationError
    from sqlalchemy import select

    from benchmarks import django_orm, django_same_work
    from benchmarks.__main__ import PACKAGE
    from benchmarks.writes import deal_stages, deal_values, prepare_copies
    from crmkit.engine import Crm
    import random

    url = f"sqlite:///{tmp_path / 'same.db'}"
    crm = Crm.open(url)
    try:
        crm.install(PACKAGE)
        django_orm.configure({"samework": url})
        _, _, deals, history = prepare_copies(crm)
        Deal, History = django_same_work.models_for(deals, history, "samework", "sqlite", deal_stages(crm))
        rng = random.Random(3)
        values = [deal_values(rng, number) for number in range(6)]
        values[0]["amount"] = None
        for row in values[:3]:
            django_same_work.create_row(Deal, History, "samework", row)
        django_same_work.bulk_rows(Deal, History, "samework", values[3:], 2)
        ours = [crm.as_system().records("deal").create(row) for row in values]
        with crm.engine.connect() as connection:
            theirs = connection.execute(select(deals.c.expected, deals.c.probability).order_by(deals.c.id)).all()
            logged = connection.execute(select(history.c.record_id, history.c.operation)).all()
        assert [tuple(row) for row in theirs] == [(record.get("expected"), record.get("probability")) for record in ours]
        assert sorted(record_id for record_id, _ in logged) == list(range(1, 7))
        assert {operation for _, operation in logged} == {"create"}
        for bad in ({"name": "x", "amount": Decimal(-1)}, {"amount": Decimal(5)}, {"name": "x", "stage": "Lunch"}):
            with pytest.raises(ValidationError):
                django_same_work.create_row(Deal, History, "samework", bad)
        from django.db import connections

        with connections["samework"].cursor() as cursor:  # commits as crmkit's do: WAL, no fsync per commit
            assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        with crm.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    finally:
        django_orm.close()
        crm.close()


def test_the_write_lines_start_each_run_from_an_empty_deal_and_search_index(tmp_path):
    """A kept database's second run starts where the first did: no deal, nor its search or change rows."""
    from sqlalchemy import func, select

    from benchmarks.__main__ import PACKAGE
    from benchmarks.writes import deal_values, prepare_copies
    from crmkit.engine import Crm
    import random

    crm = Crm.open(f"sqlite:///{tmp_path / 'kept.db'}")
    try:
        crm.install(PACKAGE)
        crm.as_system().records("deal").create(deal_values(random.Random(1), 1))
        prepare_copies(crm)
        changes = crm.runtime.system_table("crmkit_change")
        with crm.engine.connect() as connection:
            indexed = connection.exec_driver_sql("SELECT count(*) FROM crmkit_deal_search").scalar_one()
            logged = connection.execute(select(func.count()).where(changes.c.object == "deal")).scalar_one()
        assert (indexed, logged) == (0, 0)
        created = crm.as_system().records("deal").create(deal_values(random.Random(1), 2))
        assert [record.id for record in crm.as_system().records("deal").query(search="Deal").records] == [created.id]
    finally:
        crm.close()
