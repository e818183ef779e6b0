"""Metadata an older crmkit installed stays openable when a newer crmkit checks packages more strictly.

`Crm.open` (and every reload after a migration) validates the INSTALLED packages again (engine/crm.py
`_installed_registry`). The checks added for attack12 (static defaults a field would refuse, autonumber starts,
PostgreSQL system column names, folder packages declaring an entry twice, renamed_from naming a declared field,
filter values, scoring points) are right for `validate` and `install`, but applied to what is already installed
they make the database unopenable after an upgrade of crmkit: every command, including the `install` that
would fix the package, first opens the Crm and fails with "the installed metadata no longer validates".
"""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from crmkit.engine import Crm
from crmkit.metadata import MetadataError

PACKAGE = ('package: example\nversion: "1.0.0"\nobjects:\n  project:\n    title_field: name\n    fields:\n'
           "      name: {type: text}\n      t: {type: text, max_length: 3, default: abc}\n")


def test_a_default_an_older_crmkit_accepted_does_not_stop_the_database_opening(sqlite_url, write_package):
    crm = Crm.open(sqlite_url)
    crm.install(write_package(PACKAGE))
    crm.close()
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:  # as an older crmkit installed it: a default beyond max_length
        documents = connection.execute(text("SELECT documents FROM crmkit_package WHERE name = 'example'")).scalar()
        assert '"default": "abc"' in documents
        connection.execute(text("UPDATE crmkit_package SET documents = :documents WHERE name = 'example'"),
                           {"documents": documents.replace('"default": "abc"', '"default": "abcdef"')})
    engine.dispose()
    crm = Crm.open(sqlite_url)
    try:
        assert "project" in crm.runtime.registry.objects
    finally:
        crm.close()


OTHER = 'package: other\nversion: "1.0.0"\nobjects:\n  memo:\n    fields:\n      body: {type: text}\n'


def test_such_a_database_takes_other_packages_and_checks_the_old_one_again_when_it_is_upgraded(
        sqlite_url, write_package):
    crm = Crm.open(sqlite_url)
    crm.install(write_package(PACKAGE))
    crm.close()
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:  # as an older crmkit installed it: a default beyond max_length
        documents = connection.execute(text("SELECT documents FROM crmkit_package WHERE name = 'example'")).scalar()
        connection.execute(text("UPDATE crmkit_package SET documents = :documents WHERE name = 'example'"),
                           {"documents": documents.replace('"default": "abc"', '"default": "abcdef"')})
    engine.dispose()
    crm = Crm.open(sqlite_url)
    try:
        crm.install(write_package(OTHER, "other.yaml"))  # another package: the installed one is not held against it
        assert "memo" in crm.runtime.registry.objects
        upgrade = PACKAGE.replace('"1.0.0"', '"1.1.0"').replace("default: abc", "default: abcdef")
        with pytest.raises(MetadataError):  # the package itself, installed again: every rule applies
            crm.install(write_package(upgrade, "example.yaml"))
    finally:
        crm.close()
