"""`make bench` runs end to end on tiny data, so it cannot rot: every line on each database.

Timing belongs to `make bench`, not here: these runs use 300 accounts and a 10 ms budget
per measurement, and check what the bench prints, not how fast anything is.
"""
from __future__ import annotations

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
    "startswith 'wonka industries 12'",
    "lookup autocomplete suggest('wonka 12')", "page of 50: sales rep vs admin (private)",
    "page of 50: sales rep with a shared record vs admin",
    "export 300 rows as CSV", "create 20 one by one", "bulk insert 100",
]


def run_bench(*arguments: str) -> str:
    command = [sys.executable, "-m", "benchmarks", "--rows", "300", "--creates", "20", "--bulk", "100",
               "--budget", "0.01", *arguments]
    result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_every_line(output: str, database: str) -> None:
    section = output.split(f"== {database}")[1].split("\n\n")[0]
    for name in LINES:
        assert name in section, f"{database}: no line {name!r}"
    assert "ROWS DIFFER" not in section
    common = next(text for text in section.splitlines() if text.startswith("search common word"))
    assert " 0 on the page" not in common, "the bench's accounts are in the search index"
    creates = next(text for text in section.splitlines() if text.startswith("create 20"))
    assert "Django" in creates and "faster than Django" in creates
    assert f"{database} (" in output.split("Targets (issue 8)")[1], "the summary names the database"


def test_the_bench_runs_on_sqlite():
    output = run_bench("--database", "sqlite")
    assert_every_line(output, "SQLite")
    assert "PostgreSQL" not in output.split("Targets (issue 8)")[1]


@pytest.mark.postgres
def test_the_bench_runs_on_postgresql_in_a_database_of_its_own():
    require_postgres()
    name = f"crmkit_bench_t_{uuid.uuid4().hex[:10]}"
    output = run_bench("--database", POSTGRES_URL, "--pg-database", name)
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
