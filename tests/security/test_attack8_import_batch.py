"""Attack on 399e443's "import batches stop at it [RightsChanged]": an import batch outside a transaction of the
caller's is one write operation of its own (`ImportService._run`: `records._writing`, READ COMMITTED on
PostgreSQL) whose rows are prepared and written on its connection directly (`insert_prepared`,
`records._update`), never through `UserContext.reading`/`writing`: `_rights_still_held` never runs in it. A batch
(1000 rows by default, seconds long) keeps writing after another process took its import right back, and commits.
PostgreSQL only (on SQLite the batch holds the write lock, so the revoke waits for it).

Now: every write operation on PostgreSQL asks the rights version once more before it commits.
"""
from __future__ import annotations

import pytest

from crmkit.engine.security.access import PermissionDenied, RightsChanged
from crmkit.engine.transfer.batch import ImportBatch
from crmkit.engine.transfer.importer import ImportOptions, ImportService
from tests.security.test_operation_start import desk, other_process  # noqa: F401 (fixtures)

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_an_import_batch_whose_import_right_is_revoked_while_it_runs_saves_nothing(
        crm, desk, other_process, tmp_path, monkeypatch):  # noqa: F811
    path = tmp_path / "tickets.csv"
    path.write_text("Name\nfirst\nsecond\n", encoding="utf-8")
    context = crm.as_user(desk["rep"])
    create = ImportBatch._create

    def revoked_while_it_runs(batch, rows):  # after the batch's operation read, before its rows are written
        other_process.revoke("exporting", user_id=desk["rep"])  # the set that gives `import`
        return create(batch, rows)

    monkeypatch.setattr(ImportBatch, "_create", revoked_while_it_runs)
    try:
        ImportService(context, "ticket").import_file(path)
    except (RightsChanged, PermissionDenied):
        pass
    names = {record["name"] for record in crm.as_system().records("ticket").query().records}
    assert not names & {"first", "second"}


def test_an_import_stopped_by_a_rights_change_keeps_its_earlier_batches_and_is_resumed(
        crm, desk, other_process, tmp_path, monkeypatch):  # noqa: F811
    """A rights change in another process while the second batch runs: that batch rolls back, the first stays,
    the job is failed with a sentence saying so (not "none of it is saved"), and resuming it goes on from there."""
    path = tmp_path / "tickets.csv"
    path.write_text("Name\nfirst\nsecond\nthird\n", encoding="utf-8")
    service = ImportService(crm.as_user(desk["rep"]), "ticket")
    create, batches = ImportBatch._create, []

    def granted_while_the_second_runs(batch, rows):
        batches.append(rows)
        if len(batches) == 2:
            other_process.grant("margins", user_id=desk["rep"])  # more rights: still a change of them
        return create(batch, rows)

    monkeypatch.setattr(ImportBatch, "_create", granted_while_the_second_runs)
    options = ImportOptions(batch_size=1)
    job_id = service.start(path, options)
    with pytest.raises(RightsChanged) as stopped:
        service.resume(job_id)
    assert "stopped after row 1" in stopped.value.message and "rows before it are saved" in stopped.value.message
    job = service.job(job_id)
    assert (job.status, job.rows_done, job.error) == ("failed", 1, stopped.value.message)
    assert {record["name"] for record in crm.as_system().records("ticket").query().records} == {"first"}
    report = service.resume(job_id)
    assert report.created == 3 and service.job(job_id).status == "done"
    assert {record["name"] for record in crm.as_system().records("ticket").query().records} == {"first", "second",
                                                                                               "third"}
