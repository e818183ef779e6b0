"""Every error is a sentence, never a traceback: one CrmkitError base, and no raw driver error escapes."""
from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from crmkit.engine import Crm, CrmkitError, RecordValidationError
from crmkit.engine.database import DatabaseBusy, DatabaseError, DatabaseURLError, NoDatabase
from crmkit.engine.records.bulk import BulkValidationError
from crmkit.errors import CrmkitError as BaseError

UNIQUE_PACKAGE = """
    package: catalog
    version: "1.0.0"
    objects:
      product:
        fields:
          code: {type: text, unique: true}
          name: {type: text}
          region: {type: text}
        indexes:
          - {fields: [name, region], unique: true}
"""


# -- one base ------------------------------------------------------------------------------


def test_every_error_a_user_can_cause_is_a_crmkit_error_with_a_title_and_a_status():
    from crmkit.demo.generator import DemoError
    from crmkit.engine import MigrationError
    from crmkit.engine.query import QueryError
    from crmkit.engine.records.errors import (
        DeleteRestrictedError, RecordError, RecordNotFound, RestoreError, StaleRecordError,
    )
    from crmkit.engine.security.access import PermissionDenied, UnknownUser
    from crmkit.engine.security.authentication import AuthenticationError, LoginFailed, LoginThrottled
    from crmkit.engine.security.users import UserError
    from crmkit.metadata.errors import MetadataError
    from crmkit.plugins import PluginError
    from crmkit.sandbox import SandboxError

    expected = {
        RecordError: 400, RecordValidationError: 422, BulkValidationError: 422, RecordNotFound: 404,
        StaleRecordError: 409, DeleteRestrictedError: 409, RestoreError: 409, PermissionDenied: 403,
        UnknownUser: 401, AuthenticationError: 401, LoginFailed: 401, LoginThrottled: 429, UserError: 400,
        DemoError: 400, QueryError: 400, MetadataError: 422, MigrationError: 409, SandboxError: 422,
        PluginError: 500, DatabaseError: 503, DatabaseBusy: 503, NoDatabase: 503, DatabaseURLError: 500,
    }
    assert CrmkitError is BaseError
    for error_class, status in expected.items():
        assert issubclass(error_class, CrmkitError), error_class
        assert error_class.status == status, error_class
        assert error_class.title and error_class.title[0].isupper() and len(error_class.title) <= 30, error_class
    assert not issubclass(QueryError, ValueError)


def test_a_crmkit_error_carries_its_sentence_title_and_status():
    error = RecordValidationError({"name": ["is required."]})
    assert (error.title, error.status) == ("Invalid record", 422)
    assert error.message == str(error) == "the record is not valid: name: is required."
    assert error.to_problem() == {"title": "Invalid record", "status": 422, "detail": error.message}
    custom = CrmkitError("the export is too large.", title="Too large", status=413)
    assert (custom.message, custom.title, custom.status) == ("the export is too large.", "Too large", 413)


# -- text no database can hold ------------------------------------------------------------

TEXT_FIELDS = ["name", "notes", "contact_email", "contact_phone", "website", "legacy_code"]
SURROGATE = "Contains an unpaired surrogate (U+D800, half of a character) at position 3, which cannot be stored; remove it."
NUL = "Contains a NUL character (U+0000) at position 3, which cannot be stored; remove it."


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("character, message", [("\ud800", SURROGATE), ("\x00", NUL)])
def test_text_no_database_can_hold_is_a_field_error_on_create(projects, field, character, message):
    with pytest.raises(RecordValidationError) as caught:
        projects.create({"name": "ok", field: f"ab{character}cd"})
    assert message in caught.value.errors[field]
    assert projects.count().value == 0


def test_unstorable_text_is_refused_on_update_in_lists_and_in_bulk(projects):
    record = projects.create({"name": "ok"})
    with pytest.raises(RecordValidationError) as caught:
        projects.update(record.id, {"notes": "ab\udfffcd"}, version=record.version)
    assert caught.value.errors == {"notes": [SURROGATE.replace("D800", "DFFF")]}
    with pytest.raises(RecordValidationError) as caught:
        projects.create({"name": "ok", "tags": ["Internal", "ab\x00"]})
    assert list(caught.value.errors) == ["tags"]
    with pytest.raises(BulkValidationError) as caught:
        projects.bulk_create([{"name": "fine"}, {"name": "ab\x00cd"}, {"name": "ab\ud800"}])
    assert caught.value.row_errors[2]["name"][0] == NUL
    assert caught.value.row_errors[3]["name"][0].startswith("Contains an unpaired surrogate (U+D800")
    assert projects.count().value == 1


# -- dates and times outside the calendar -------------------------------------------------

OUT_OF_RANGE = "The date and time is outside the supported range (years 1 to 9999 in UTC)."


@pytest.mark.parametrize("value", [
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:30:00+01:00",
    datetime(9999, 12, 31, 20, tzinfo=timezone(timedelta(hours=-5))),
    datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=3))),
])
def test_a_moment_outside_years_1_to_9999_in_utc_is_a_field_error(projects, value):
    with pytest.raises(RecordValidationError) as caught:
        projects.create({"name": "ok", "kickoff": value})
    assert caught.value.errors == {"kickoff": [OUT_OF_RANGE]}


def test_the_last_storable_moment_and_dates_at_the_edges(projects):
    last = projects.create({"name": "ok", "kickoff": "9999-12-31T23:59:59+00:00", "starts_on": date(9999, 12, 31)})
    assert projects.get(last.id)["kickoff"] == datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    for value in ["10000-01-01", "0000-01-01", "9999-13-01"]:
        with pytest.raises(RecordValidationError) as caught:
            projects.create({"name": "ok", "starts_on": value})
        assert caught.value.errors == {"starts_on": ["Not a valid date."]}


# -- unique values -------------------------------------------------------------------------


def test_two_concurrent_creates_of_a_unique_value_get_the_sequential_error(crm, database_url, install):
    install(UNIQUE_PACKAGE)
    outcome: list[BaseException | None] = []

    def second_writer() -> None:
        other = Crm.open(database_url)
        try:
            other.as_system().records("product").create({"code": "X-1"})
            outcome.append(None)
        except BaseException as error:  # collected and asserted below
            outcome.append(error)
        finally:
            other.close()

    context = crm.as_system()
    with context.transaction():
        context.records("product").create({"code": "X-1"})
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(0.5)  # the second writer now waits: for the index entry (PostgreSQL) or the lock (SQLite)
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], RecordValidationError), outcome
    assert outcome[0].errors == {"code": ["'X-1' is already used by another product record."]}
    assert context.records("product").count().value == 1


def test_a_duplicate_combination_of_a_unique_index_is_a_record_error(crm, install):
    install(UNIQUE_PACKAGE)
    products = crm.as_system().records("product")
    products.create({"name": "Widget", "region": "EU"})
    with pytest.raises(RecordValidationError) as caught:
        products.create({"name": "Widget", "region": "EU"})
    assert caught.value.errors == {"_record": [
        "another product record already has this combination (name 'Widget', region 'EU'), which must be unique."]}
    other = products.create({"name": "Widget", "region": "US"})
    with pytest.raises(RecordValidationError):
        products.update(other.id, {"region": "EU"}, version=other.version)
    assert products.count().value == 2


def test_bulk_create_names_the_rows_that_repeat_a_unique_value(crm, install):
    install(UNIQUE_PACKAGE)
    products = crm.as_system().records("product")
    products.create({"code": "A"})
    with pytest.raises(BulkValidationError) as caught:
        products.bulk_create([{"code": "B"}, {"code": "A"}])
    assert caught.value.row_errors == {2: {"code": ["'A' is already used by another product record."]}}
    with pytest.raises(BulkValidationError) as caught:
        products.bulk_create([{"code": "B"}, {"code": "C"}, {"code": "B"},
                              {"name": "n", "region": "r"}, {"name": "n", "region": "r"}])
    assert caught.value.row_errors == {
        3: {"code": ["'B' is already used by row 1, and must be unique."]},
        5: {"_record": ["the combination of name, region is already used by row 4, and must be unique."]},
    }
    assert products.count().value == 1
    with pytest.raises(BulkValidationError) as caught:  # the first batch is saved, the second repeats its value
        products.bulk_create([{"code": "B"}, {"code": "C"}, {"code": "B"}], batch_size=2)
    assert caught.value.row_errors == {3: {"code": ["'B' is already used by another product record."]}}
    assert products.count().value == 3


# -- opening and busy databases --------------------------------------------------------------


def test_opening_a_prepared_database_and_reading_do_not_wait_for_a_writer(sqlite_url, tmp_path):
    Crm.open(sqlite_url).close()
    writer = sqlite3.connect(tmp_path / "crm.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock, e.g. a long import
    try:
        started = time.monotonic()
        crm = Crm.open(sqlite_url, busy_timeout=5)
        assert crm.installed_packages() == []
        assert time.monotonic() - started < 3
        crm.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_write_lock_held_past_the_busy_timeout_is_database_busy(sqlite_url, tmp_path, write_package):
    crm = Crm.open(sqlite_url, busy_timeout=0.2)
    crm.install(write_package(UNIQUE_PACKAGE))
    writer = sqlite3.connect(tmp_path / "crm.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseBusy) as caught:
            crm.as_system().records("product").create({"code": "A"})
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert caught.value.message == ("the database is busy with another change and did not become free in time; "
                                    "nothing was changed. Try again in a moment.")
    assert caught.value.status == 503
    assert crm.as_system().records("product").create({"code": "A"})["code"] == "A"
    crm.close()


def test_opening_without_create_never_makes_a_database(tmp_path):
    path = tmp_path / "elsewhere" / "crm.db"
    with pytest.raises(NoDatabase) as caught:
        Crm.open(f"sqlite:///{path}", create=False)
    assert caught.value.message.startswith(f"there is no crmkit database at {path}. Create one with `crmkit setup`")
    assert not path.parent.exists()
    path.parent.mkdir()
    sqlite3.connect(path).close()  # an empty SQLite file is not a crmkit database either
    with pytest.raises(NoDatabase):
        Crm.open(f"sqlite:///{path}", create=False)


def test_an_empty_postgresql_schema_is_no_database_until_created(postgres_url):
    with pytest.raises(NoDatabase):
        Crm.open(postgres_url, create=False)
    Crm.open(postgres_url).close()
    crm = Crm.open(postgres_url, create=False)
    assert crm.installed_packages() == []
    crm.close()


@pytest.mark.parametrize("url, message", [
    ("mysql://root@localhost/crm", "'mysql' databases are not supported; crmkit works with SQLite "
                                   "(sqlite:///path/to/crm.db) and PostgreSQL (postgresql://user@host/dbname)."),
    ("mariadb+pymysql://root@localhost/crm", "'mariadb' databases are not supported;"),
    ("not a url", "'not a url' is not a database URL;"),
    ("postgresql+psycopg2://u@localhost/crm", "crmkit talks to PostgreSQL through psycopg 3, not psycopg2: write"),
])
def test_an_unsupported_database_url_is_a_sentence(url, message):
    with pytest.raises(DatabaseURLError) as caught:
        Crm.open(url)
    assert caught.value.message.startswith(message)


def test_a_heroku_style_postgres_url_means_postgresql(postgres_url):
    crm = Crm.open(postgres_url.replace("postgresql+psycopg://", "postgres://"))
    assert crm.engine.dialect.name == "postgresql"
    assert crm.installed_packages() == []
    crm.close()


def test_a_missing_postgresql_database_gets_a_createdb_hint(postgres_url):
    url = postgres_url.split("?")[0].rsplit("/", 1)[0] + "/crmkit_no_such_database"
    with pytest.raises(NoDatabase) as caught:
        Crm.open(url)
    assert "has no database named 'crmkit_no_such_database'" in caught.value.message
    assert "`createdb crmkit_no_such_database`" in caught.value.message
    assert 'CREATE DATABASE "crmkit_no_such_database"' in caught.value.message


def test_an_unreachable_postgresql_server_is_a_sentence():
    with pytest.raises(DatabaseError) as caught:
        Crm.open("postgresql://postgres@127.0.0.1:1/crm")
    assert caught.value.message.startswith("cannot connect to the PostgreSQL server at 127.0.0.1:1: ")
    assert caught.value.message.endswith("Check that the server is running and that the URL's host and port are right.")


@pytest.mark.parametrize("character", ["\ud800", "\x00"])
def test_a_search_for_text_no_database_can_hold_is_a_sentence(projects, character):
    from crmkit.engine.database import UnstorableText

    projects.create({"name": "ok"})
    try:
        page = projects.query(search=f"o{character}")
    except UnstorableText as error:  # the database could not even compare it: said in a sentence
        assert error.status == 400 and "cannot be stored or searched for" in error.message
    else:
        assert page.records == []
