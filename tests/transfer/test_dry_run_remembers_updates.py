"""A dry run remembers what its rows' updates would change, as the import finds it stored: a unique value, an upsert
value or a duplicate key a row's update gives a record is taken for the rows after it, and the one it had is free.
Whatever the batch size, the dry run reports what the import does. Both databases.
"""
from __future__ import annotations

import pytest

from crmkit.engine.transfer.importer import ImportOptions
from tests.transfer.conftest import stored

#: Rows 3, 6, 9 and 12 update a record (a planned one, or the stored S) and change its badge or email.
_MOVES = ("Last Name,Email,Badge,Headcount\n"
          "A,a@example.cn,B1,1\n"
          "A2,b@example.cn,B1,2\n"       # upsert on badge: A's email becomes b@
          "C,b@example.cn,B2,3\n"        # b@ is A's now
          "D,a@example.cn,B3,4\n"        # a@ is free now (upsert) / A's (duplicates by email)
          "A,a@example.cn,B9,5\n"        # merge by email: A's badge becomes B9
          "E,e@example.cn,B1,6\n"        # B1 is free now, when merged
          "F,f@example.cn,B9,7\n"        # B9 is A's, when merged
          "S,s@example.cn,S2,8\n"        # merge into the stored S: its badge S1 becomes S2
          "T,t@example.cn,S1,9\n"        # S1 is free now, when merged
          "U,u@example.cn,S2,10\n"       # S2 is S's, when merged
          "V,s@example.cn,S3,11\n"       # upsert S3 finds none; merged into S by email: S's badge becomes S3
          "W,w@example.cn,S3,12\n")      # upsert S3 finds S


def _outcome(report) -> tuple:
    return (report.created, report.updated, report.skipped, report.failed,
            tuple(sorted((error.row, error.field) for error in report.errors)))


@pytest.mark.parametrize("options", [
    {"upsert_on": "badge"},
    {"upsert_on": "badge", "duplicates": "block"},
    {"upsert_on": "badge", "duplicates": "merge"},
    {"duplicates": "merge"},
    {"duplicates": "block"},
    {"duplicates": "skip"},
], ids=lambda options: ",".join(f"{key}={value}" for key, value in options.items()))
def test_a_dry_run_reports_what_the_import_does_after_rows_that_change_keys_and_unique_values(
        crm, install, people, csv_file, options):
    path = csv_file(_MOVES)
    records = crm.as_system().records("person")
    for batch_size in (1, 2, 5, 1000):
        records.create({"last_name": "S", "email": "s@example.cn", "badge": "S1"})
        dry = people.dry_run(path, ImportOptions(batch_size=batch_size, **options))
        done = people.import_file(path, ImportOptions(batch_size=batch_size, **options))
        assert _outcome(dry) == _outcome(done), (batch_size, dry.errors, done.errors)
        for record in records.query(None, limit=100).records:
            records.delete(record["id"])


def test_a_badge_a_merge_takes_from_a_record_is_free_for_the_rows_after_and_the_new_one_is_taken(
        crm, people, csv_file):
    crm.as_system().records("person").create({"last_name": "S", "email": "s@example.cn", "badge": "S1"})
    path = csv_file("Last Name,Email,Badge\n"
                    "A,a@example.cn,B1\nA,a@example.cn,B9\nE,e@example.cn,B1\nF,f@example.cn,B9\n"
                    "S,s@example.cn,S2\nT,t@example.cn,S1\nU,u@example.cn,S2\n")
    dry = people.dry_run(path, ImportOptions(duplicates="merge", batch_size=1))
    assert (dry.created, dry.updated, dry.failed) == (3, 2, 2)
    assert [(error.row, error.field) for error in dry.errors] == [(5, "badge"), (8, "badge")]
    assert stored(crm, "badge") == [("S1",)]


def test_an_email_an_upsert_gives_a_record_makes_a_later_row_with_it_a_duplicate(crm, people, csv_file):
    path = csv_file("Last Name,Email,Badge\nA,a@example.cn,B1\nA,b@example.cn,B1\nC,b@example.cn,B2\n"
                    "D,a@example.cn,B3\n")
    dry = people.dry_run(path, ImportOptions(upsert_on="badge", duplicates="block", batch_size=1))
    assert (dry.created, dry.updated, dry.failed) == (2, 1, 1)
    assert [(error.row, error.field) for error in dry.errors] == [(4, "email")]
