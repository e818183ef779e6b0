"""Importing files into records: mapping, lookups, dry run, batches, resume, duplicates, upsert, rights.

Every test runs on SQLite and PostgreSQL (the `crm` fixture).
"""
from __future__ import annotations

from decimal import Decimal
from datetime import date

import pytest
from sqlalchemy import func, select

from crmkit.engine.messages import translated
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.transfer.files import ImportFileError
from crmkit.engine.transfer.importer import ImportOptions, ImportService
from crmkit.engine.transfer.jobs import RowError
from tests.transfer.conftest import stored

GBK_FILE = "姓,名,电子邮箱,办公电话,公司,级别,生日\n王,伟,wang@example.cn,138 0013 8000,Acme,资深,1990-05-17\n" \
           "李,娜,li@example.cn,,C-002,初级,\n"


def test_a_gbk_file_from_chinese_excel_is_imported_by_its_chinese_labels(crm, people, csv_file):
    report = people.import_file(csv_file(GBK_FILE, "gbk"))
    assert (report.created, report.failed, report.status) == (2, 0, "done")
    assert report.mapping == {"姓": "last_name", "名": "first_name", "电子邮箱": "email", "办公电话": "phone",
                              "公司": "company", "级别": "level", "生日": "birthday"}
    assert stored(crm, "full_name", "company", "level", "birthday") == [
        ("伟 王", 1, "senior", date(1990, 5, 17)), ("娜 李", 2, "junior", None)]


def test_imported_records_go_through_the_save_pipeline_with_history_and_automation(crm, people, csv_file):
    people.import_file(csv_file("Last Name\nSmith\n"))
    [(record_id, greeted)] = stored(crm, "id", "greeted")
    assert greeted == "yes"
    assert [entry["operation"] for entry in crm.as_system().records("person").history(record_id)] == ["create"]


def test_automation_can_be_turned_off_for_an_import(crm, people, csv_file):
    people.import_file(csv_file("Last Name\nSmith\n"), ImportOptions(automation=False))
    assert stored(crm, "greeted") == [(None,)]


def test_a_dry_run_reports_every_error_of_every_row_and_writes_nothing(crm, people, csv_file):
    path = csv_file("Last Name,Email,Company,Level\nok,ok@example.cn,Acme,Junior\n,not-an-email,Nobody,Boss\n")
    report = people.dry_run(path)
    assert (report.rows, report.created, report.failed, report.job_id) == (2, 1, 1, None)
    assert set(report.errors) == {
        RowError(3, "Last Name", "last_name", "is required."),
        RowError(3, "Email", "email", "Not a valid email address."),
        RowError(3, "Company", "company", "there is no company record 'Nobody'."),
        RowError(3, "Level", "level", "Must be one of: junior, senior."),
    }
    assert stored(crm, "id") == []


def test_a_refused_row_does_not_stop_the_others_and_is_in_the_error_report(crm, people, csv_file):
    report = people.import_file(csv_file("Last Name,Email\nA,a@example.cn\n,b@example.cn\nC,c@example.cn\n"))
    assert (report.created, report.failed) == (2, 1)
    assert list(people.error_report(report.job_id)) == ["\ufeffrow,column,field,message\n",
                                                        "3,Last Name,last_name,is required.\n"]


def test_a_message_holding_a_carriage_return_stays_in_its_cell_in_the_error_report():
    import csv
    import io

    from crmkit.engine.transfer.jobs import error_csv

    # A lookup's value is quoted in its message: a file's cell may hold a lone CR (quoted in the file).
    errors = [RowError(2, "Company", "company", "there is no company record 'A\r=1+2'.")]
    text = "".join(error_csv(errors)).lstrip("\ufeff")
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["row", "column", "field", "message"], ["2", "Company", "company", "there is no company record 'A\r=1+2'."]]


def test_lookups_are_found_by_external_id_name_or_hash_id(crm, people, csv_file):
    people.import_file(csv_file("Last Name,Company\nA,C-002\nB,Acme\nC,#2\n"))
    assert stored(crm, "last_name", "company") == [("A", 2), ("B", 1), ("C", 2)]


def test_an_import_resumes_after_a_crash_where_its_last_batch_ended(crm, people, csv_file):
    path = csv_file("Last Name,Email\n" + "".join(f"P{n},p{n}@example.cn\n" for n in range(7)))
    options = ImportOptions(batch_size=3, duplicates="skip")
    job_id = people.start(path, options)

    def crash(done: int, total: int) -> None:
        raise KeyboardInterrupt  # the process dies after its first batch committed

    with pytest.raises(KeyboardInterrupt):
        people.resume(job_id, crash)
    job = people.job(job_id)
    assert (job.status, job.rows_done, job.created, job.rows_total) == ("running", 3, 3, 7)
    report = people.resume(job_id)
    assert (report.status, report.rows, report.created, report.skipped) == ("done", 7, 7, 0)
    assert [name for (name,) in stored(crm, "last_name")] == [f"P{n}" for n in range(7)]


def test_a_second_runner_of_the_same_job_never_imports_a_row_twice(crm, people, csv_file):
    """A Resume clicked while the job runs (or a queue retry): whichever runner writes a batch first carries on,
    the other stops at its next batch without writing it."""
    path = csv_file("Last Name\n" + "".join(f"R{n}\n" for n in range(7)))
    job_id = people.start(path, ImportOptions(batch_size=3))
    second: list[object] = []

    def meanwhile(done: int, total: int) -> None:
        if not second:  # after the first runner's first batch: a second runner takes the job to its end
            second.append(people.resume(job_id))

    first = people.resume(job_id, meanwhile)
    assert (second[0].status, second[0].created) == ("done", 7)
    assert (first.status, first.created, first.rows) == ("done", 7, 7)
    assert sorted(name for (name,) in stored(crm, "last_name")) == [f"R{n}" for n in range(7)]


def test_a_finished_import_resumed_again_changes_nothing(crm, people, csv_file):
    report = people.import_file(csv_file("Last Name\nA\n"))
    assert people.resume(report.job_id).created == 1 and len(stored(crm, "id")) == 1


@pytest.mark.parametrize("action, expected, counts", [
    ("block", [("Old", "wang@example.cn")], (0, 0, 0, 2)),
    ("skip", [("Old", "wang@example.cn")], (0, 0, 2, 0)),
    ("merge", [("Second", "wang@EXAMPLE.cn")], (0, 2, 0, 0)),
])
def test_duplicates_by_email_are_blocked_skipped_or_merged(crm, people, csv_file, action, expected, counts):
    crm.as_system().records("person").create({"last_name": "Old", "email": "wang@example.cn"})
    path = csv_file("Last Name,Email\nFirst,WANG@example.cn \nSecond,wang@EXAMPLE.cn\n")
    report = people.import_file(path, ImportOptions(duplicates=action))
    assert (report.created, report.updated, report.skipped, report.failed) == counts
    assert stored(crm, "last_name", "email") == expected
    if action == "block":
        assert report.errors[0].message == "a person record with the same email exists already: #1."


def test_duplicates_within_the_file_are_found_too(crm, people, csv_file):
    path = csv_file("Last Name,Email\nA,a@example.cn\nB,b@example.cn\nA2,A@example.cn\n")
    report = people.import_file(path, ImportOptions(duplicates="block"))
    assert report.errors == (RowError(4, "Email", "email", "row 2 of the file has the same email."),)
    assert people.dry_run(path, ImportOptions(duplicates="skip", batch_size=1)).skipped == 3


def test_duplicates_by_phone_compare_numbers_in_e164(crm, people, csv_file):
    crm.as_system().records("person").create({"last_name": "Old", "phone": "+86 138-0013-8000"})
    path = csv_file("Last Name,Phone\nNew,13800138000\nOther,+1 415 555 2671\n")
    report = people.import_file(path, ImportOptions(duplicates="skip", duplicate_rule="phone", region="CN"))
    assert (report.created, report.skipped) == (1, 1)


def test_duplicates_by_name_ignore_case_and_spaces(crm, people, csv_file):
    crm.as_system().records("person").create({"first_name": "Jane", "last_name": "Smith"})
    path = csv_file("First Name,Last Name\nJANE , smith\nJohn,Smith\n")
    report = people.import_file(path, ImportOptions(duplicates="skip", duplicate_rule="name"))
    assert (report.created, report.skipped) == (1, 1)


def test_upsert_on_a_unique_field_updates_and_creates(crm, people, csv_file):
    crm.as_system().records("person").create({"last_name": "Old", "badge": "B1", "email": "keep@example.cn"})
    report = people.import_file(csv_file("Badge,Last Name,Email\nB1,Renamed,\nB2,New,new@example.cn\n"),
                                ImportOptions(upsert_on="badge"))
    assert (report.created, report.updated) == (1, 1)
    # An empty cell leaves the stored value as it is.
    assert stored(crm, "badge", "last_name", "email") == [("B1", "Renamed", "keep@example.cn"),
                                                         ("B2", "New", "new@example.cn")]


def test_upsert_needs_a_unique_field(people, csv_file):
    with pytest.raises(ImportFileError, match="email is not one"):
        people.start(csv_file("Email,Last Name\na@example.cn,A\n"), ImportOptions(upsert_on="email"))


def test_a_mapping_can_be_given_saved_and_used_again(crm, people, csv_file):
    path = csv_file("Nom,Courriel,Ignored\nDupont,d@example.fr,x\n")
    options = ImportOptions(mapping={"Nom": "Last Name", "Courriel": "email", "Ignored": None},
                            save_mapping_as="french")
    assert people.import_file(path, options).mapping == {"Nom": "last_name", "Courriel": "email"}
    assert people.preview(path, ImportOptions(saved_mapping="french")).mapping == {
        "Nom": "last_name", "Courriel": "email"}
    with pytest.raises(ImportFileError, match="no saved mapping german"):
        people.preview(path, ImportOptions(saved_mapping="german"))


def test_a_mapping_to_a_computed_field_is_refused_naming_the_column(people, csv_file):
    with pytest.raises(ImportFileError, match="the column Name cannot go to full_name"):
        people.preview(csv_file("Name\nx\n"), ImportOptions(mapping={"Name": "full_name"}))


def test_spreadsheet_numbers_fill_text_and_number_fields(crm, people, tmp_path):
    import xlsxwriter

    path = tmp_path / "people.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["Last Name", "Phone", "Salary"])
    sheet.write_row(1, 0, ["Li", 13800138000, 1234.5])
    workbook.close()
    assert people.import_file(path).created == 1
    assert stored(crm, "phone", "salary") == [("13800138000", Decimal("1234.50"))]


def test_an_import_without_the_import_permission_is_refused(crm, users, csv_file):
    tom = ImportService(crm.as_user(users["tom"]), "person")
    with pytest.raises(PermissionDenied, match="import"):
        tom.start(csv_file("Last Name\nA\n"))


def test_a_column_the_user_may_not_edit_is_refused_with_a_sentence(crm, users, csv_file):
    ann = ImportService(crm.as_user(users["ann"]), "person")
    with pytest.raises(PermissionDenied, match="the column Salary goes to the field salary, which you may not edit"):
        ann.dry_run(csv_file("Last Name,Salary\nA,100\n"))
    assert ann.import_file(csv_file("Last Name\nA\n")).created == 1


def test_merging_into_records_needs_the_edit_permission_and_jobs_are_the_users_own(crm, users, csv_file):
    ann = ImportService(crm.as_user(users["ann"]), "person")
    report = ann.import_file(csv_file("Last Name\nA\n"))
    assert report.job_id is not None
    with pytest.raises(Exception, match="no import"):
        ImportService(crm.as_user(users["tom"]), "person").job(report.job_id)
    jobs = crm.runtime.system_table("crmkit_import_job")
    with crm.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(jobs)).scalar_one() == 1


def test_an_import_started_on_the_web_is_run_by_a_queue_worker(crm, people, csv_file, tmp_path):
    from crmkit.engine.automation.queue import AutomationQueue
    from crmkit.engine.transfer.background import start_in_background

    crm.queue = AutomationQueue.open(crm, path=str(tmp_path / "queue.db"))
    job_id = people.start(csv_file("Last Name\nA\nB\n"))
    start_in_background(crm, job_id)
    assert people.job(job_id).status == "pending"  # queued, not run by the caller
    while crm.queue.work_one():
        pass
    assert (people.job(job_id).status, people.job(job_id).created) == ("done", 2)


#: A row with a fault of every kind: required missing (Last Name), cell conversions (Email, Headcount), a lookup
#: naming no record (Company), a validation rule (First Name) and a unique value stored already (Badge).
MANY_FAULTS = "Last Name,First Name,Email,Headcount,Company,Badge\nok,Ann,ok@example.cn,3,Acme,B-2\n" \
              ",TBD,not-an-email,many,Nobody,B-1\n"
EVERY_FAULT = {
    RowError(3, "Last Name", "last_name", "is required."),
    RowError(3, "First Name", "first_name", "the first name may not be TBD."),
    RowError(3, "Email", "email", "Not a valid email address."),
    RowError(3, "Headcount", "headcount", "Not a valid whole number."),
    RowError(3, "Company", "company", "there is no company record 'Nobody'."),
    RowError(3, "Badge", "badge", "'B-1' is already used by another person record."),
}


def test_a_row_with_faults_of_every_kind_is_told_all_of_them_in_the_dry_run_and_the_import(crm, people, csv_file):
    crm.as_system().records("person").create({"last_name": "Badge holder", "badge": "B-1"})
    path = csv_file(MANY_FAULTS)
    dry = people.dry_run(path)
    assert (dry.created, dry.failed) == (1, 1) and set(dry.errors) == EVERY_FAULT
    report = people.import_file(path)
    assert (report.created, report.failed) == (1, 1) and set(report.errors) == EVERY_FAULT
    assert len(list(people.error_report(report.job_id))) == 1 + len(EVERY_FAULT)
    assert stored(crm, "last_name") == [("Badge holder",), ("ok",)]  # the refused row is never written
    in_chinese = ImportService(crm.as_system(language="zh"), "person").dry_run(path)
    assert {translated(error.message, "zh") for error in in_chinese.errors if error.row == 3} == {
        "此字段为必填项。", "名不能是 TBD。", "不是有效的邮箱地址。", "不是有效的整数。", "不存在 company 记录 'Nobody'。",
        "'B-1' 已被另一条 person 记录使用。"}


def test_a_rule_reading_a_refused_value_is_not_judged_on_a_blank(crm, people, csv_file):
    report = people.dry_run(csv_file("Last Name,Headcount\n,-x\n"))
    assert set(report.errors) == {RowError(2, "Last Name", "last_name", "is required."),
                                  RowError(2, "Headcount", "headcount", "Not a valid whole number.")}


def test_a_blocked_duplicate_and_a_clash_within_the_file_are_told_with_the_rows_other_faults(crm, people, csv_file):
    crm.as_system().records("person").create({"last_name": "Old", "email": "wang@example.cn"})
    path = csv_file("Last Name,First Name,Email,Headcount,Badge\nA,,wang@example.cn,-1,\nB,,b@example.cn,1,B-7\n"
                    "C,TBD,c@example.cn,x,B-7\n")
    report = people.import_file(path, ImportOptions(duplicates="block"))
    assert set(report.errors) == {
        RowError(2, "Email", "email", "a person record with the same email exists already: #1."),
        RowError(2, "Headcount", "headcount", "the headcount may not be negative."),
        RowError(4, "First Name", "first_name", "the first name may not be TBD."),
        RowError(4, "Headcount", "headcount", "Not a valid whole number."),
        RowError(4, "Badge", "badge", "'B-7' is already used by row 3, and must be unique."),
    }
    assert (report.created, report.failed) == (1, 2)
    assert translated("'B-7' is already used by row 3, and must be unique.", "zh") == "'B-7' 已被第 3 行使用，必须唯一。"


def test_an_updating_row_is_told_every_fault_too(crm, people, csv_file):
    crm.as_system().records("person").create({"last_name": "Old", "badge": "B-1"})
    path = csv_file("Badge,Email,First Name,Headcount,Company\nB-1,not-an-email,TBD,many,Nobody\n")
    expected = {RowError(2, "Email", "email", "Not a valid email address."),
                RowError(2, "First Name", "first_name", "the first name may not be TBD."),
                RowError(2, "Headcount", "headcount", "Not a valid whole number."),
                RowError(2, "Company", "company", "there is no company record 'Nobody'.")}
    assert set(people.dry_run(path, ImportOptions(upsert_on="badge")).errors) == expected
    assert set(people.import_file(path, ImportOptions(upsert_on="badge")).errors) == expected
    assert stored(crm, "last_name", "first_name") == [("Old", None)]
