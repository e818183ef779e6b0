"""An outside attack on issue 12's import (outside12): Chinese spreadsheets, repeated keys across batches, the dry
run against the import. Both databases.

Faults (fixed):

- a CSV saved by Chinese Excel writes a date cell as it shows it (2024/3/5, or 2024年3月5日 with the long date
  format) and a currency cell with its symbol (¥1,234.50): the import refuses every such row;
- a dry run says what the import would do only within one batch: a unique value repeated in the file's next batch
  passes the dry run and is refused by the import, an upsert key repeated there counts as two creates;
- an upsert file whose key is repeated gives a different result by where the batches end (refused in one batch,
  an update across two);
- a dry run accepts a `duplicates` action the import refuses ("explode").

Held (passing): GBK and GB18030 files with characters outside GBK, a BOM, UTF-16, NUL bytes and over-long cells
refused per row, in-file duplicates by email, phone and name however written, whole rows left empty in XLSX.
"""
from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import xlsxwriter

from crmkit.engine.transfer.files import ImportFileError
from crmkit.engine.transfer.importer import ImportOptions
from tests.transfer.conftest import stored


def _counts(report) -> tuple[int, int, int, int]:
    return report.created, report.updated, report.skipped, report.failed


@pytest.mark.parametrize("written", ["2024/3/5", "2024-3-5", "2024年3月5日", "2024.3.5", "２０２４年３月５日",
                                     "2024年 3月 5日", "2024/3/5 0:00", "2024/03/05"])
def test_a_date_as_chinese_excel_writes_it_in_a_csv_is_read(crm, people, csv_file, written):
    report = people.import_file(csv_file(f"姓,生日\n王,{written}\n", "gb18030"))
    assert report.errors == () and stored(crm, "birthday") == [(datetime.date(2024, 3, 5),)]


@pytest.mark.parametrize("written", ['"¥1,234.50"', '"￥1,234.50"', '"￥１，２３４．５０"', '"$1,234.50"', "€ 1234.50",
                                     '"£1,234.50"', '"CNY 1,234.50"', "RMB1234.50", '"1,234.50元"', '"1,234.50 EUR"'])
def test_money_with_the_yuan_sign_is_read(crm, people, csv_file, written):
    report = people.import_file(csv_file(f"姓,薪资\n王,{written}\n", "gb18030"))
    assert report.errors == () and stored(crm, "salary") == [(Decimal("1234.50"),)]


@pytest.mark.parametrize(("written", "read"), [('"-¥1,234.50"', Decimal("-1234.50")), ('"¥-1,234.50"', Decimal("-1234.50")),
                                               ('"1,234,567.89"', Decimal("1234567.89"))])
def test_a_signed_amount_and_a_large_one_are_read_exactly(crm, people, csv_file, written, read):
    report = people.import_file(csv_file(f"姓,薪资\n王,{written}\n", "gb18030"))
    assert report.errors == () and stored(crm, "salary") == [(read,)]


@pytest.mark.parametrize("written", ["3/5/2024", "5.3.2024", "2024/2/30", "2024/3-5", "2024/3/5 14:30"])
def test_a_date_in_a_day_month_order_or_that_does_not_exist_or_with_a_time_is_refused(people, csv_file, written):
    report = people.dry_run(csv_file(f"姓,生日\n王,{written}\n", "gb18030"))
    assert [(error.row, error.field) for error in report.errors] == [(2, "birthday")]


@pytest.mark.parametrize("written", ['"1.234,50 €"', '"1,23"', "¥¥5", "ABC 12", "12%"])
def test_an_amount_whose_grouping_or_currency_is_not_clear_is_refused(people, csv_file, written):
    report = people.dry_run(csv_file(f"姓,薪资\n王,{written}\n", "gb18030"))
    assert [(error.row, error.field) for error in report.errors] == [(2, "salary")]


@pytest.mark.parametrize(("written", "read"), [("2024/3/5 14:30", "2024-03-05T14:30:00+08:00"),
                                               ("２０２４年３月５日 ９:０５:０７", "2024-03-05T09:05:07+08:00"),
                                               ("2024.3.5", "2024-03-05T00:00:00+08:00"),
                                               ("2024-03-05T14:30:00Z", "2024-03-05T14:30:00+00:00"),
                                               ("3/5/2024 14:30", "3/5/2024 14:30")])
def test_a_datetime_cell_written_year_first_is_read_as_iso_in_the_users_time_zone(written, read):
    from crmkit.engine.transfer.cells import cell_reader

    assert cell_reader(None, "datetime", "Asia/Shanghai")(written) == read


def test_a_gb18030_file_with_characters_beyond_gbk_and_a_utf8_file_with_a_bom_are_read(crm, people, csv_file):
    people.import_file(csv_file("姓,名\n𠀀,䶵\n", "gb18030"))
    people.import_file(csv_file("\ufeffLast Name,First Name\n王,伟\n"))
    assert stored(crm, "last_name", "first_name") == [("𠀀", "䶵"), ("王", "伟")]


def test_a_nul_byte_or_an_over_long_cell_refuses_its_row_with_a_sentence(crm, people, csv_file):
    report = people.dry_run(csv_file("Last Name\nA\x00B\n" + "x" * 100_000 + "\nok\n"))
    assert (report.created, report.failed) == (1, 2)
    assert [(error.row, error.field) for error in report.errors] == [(2, "last_name"), (3, "last_name")]


def test_a_dry_run_refuses_a_unique_value_repeated_in_a_later_batch_as_the_import_does(crm, people, csv_file):
    path = csv_file("Last Name,Email,Badge\nA,a@example.cn,B1\nB,b@example.cn,B1\n")
    options = ImportOptions(batch_size=1)
    dry = people.dry_run(path, options)
    done = people.import_file(path, options)
    assert _counts(done) == (1, 0, 0, 1)
    assert _counts(dry) == _counts(done)


def test_a_dry_run_counts_an_upsert_key_repeated_in_a_later_batch_as_the_import_does(crm, people, csv_file):
    path = csv_file("Last Name,Badge\nA,B1\nB,B1\n")
    options = ImportOptions(batch_size=1, upsert_on="badge")
    dry = people.dry_run(path, options)
    done = people.import_file(path, options)
    assert _counts(dry) == _counts(done)


def test_an_upsert_key_repeated_in_the_file_gives_one_outcome_whatever_the_batch_size(crm, install, people, csv_file):
    path = csv_file("Last Name,Badge\nA,B1\nB,B1\n")
    whole = people.import_file(path, ImportOptions(upsert_on="badge"))
    records = crm.as_system().records("person")
    records.delete(records.query(None, limit=10).records[0]["id"])
    split = people.import_file(path, ImportOptions(upsert_on="badge", batch_size=1))
    assert _counts(whole) == _counts(split)


def test_a_dry_run_refuses_an_unknown_duplicates_action_as_the_import_does(people, csv_file):
    path = csv_file("Last Name\nA\n")
    with pytest.raises(ImportFileError, match="explode"):
        people.import_file(path, ImportOptions(duplicates="explode"))
    with pytest.raises(ImportFileError, match="explode"):
        people.dry_run(path, ImportOptions(duplicates="explode"))


@pytest.mark.parametrize(("rule", "column", "first", "again"), [
    ("email", "Email", "Li.Na@Example.CN", " li.na@example.cn "),
    ("phone", "Phone", "138 0013 8000", "+86 13800138000"),
    ("name", "First Name", "娜", "娜 "),
])
@pytest.mark.parametrize("batch_size", [1, 1000])
def test_a_duplicate_within_the_file_is_refused_however_written_and_wherever_the_batch_ends(crm, people, csv_file, rule,
                                                                                          column, first, again,
                                                                                          batch_size):
    path = csv_file(f"Last Name,{column}\n李,{first}\n李,{again}\n")
    options = ImportOptions(duplicates="block", duplicate_rule=rule, batch_size=batch_size)
    dry = people.dry_run(path, options)
    done = people.import_file(path, options)
    assert _counts(dry) == _counts(done) == (1, 0, 0, 1)
    assert [error.row for error in done.errors] == [3]


def test_an_xlsx_with_empty_rows_and_a_date_cell_in_chinese_format_is_read(crm, people, tmp_path):
    path = tmp_path / "people.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["姓", "生日", "公司"])
    sheet.write(1, 0, "王")
    sheet.write_datetime(1, 1, datetime.datetime(1990, 5, 17), workbook.add_format({"num_format": 'yyyy"年"m"月"d"日"'}))
    sheet.write(1, 2, "Acme")
    sheet.write(4, 0, "李")  # rows 3 and 4 empty
    workbook.close()
    report = people.import_file(path)
    assert (report.rows, report.created, report.failed) == (2, 2, 0)
    assert stored(crm, "last_name", "birthday", "company") == [("王", datetime.date(1990, 5, 17), 1), ("李", None, None)]


def test_an_errors_file_that_cannot_be_written_is_a_sentence_not_a_traceback(sqlite_url, tmp_path):
    from click.testing import CliRunner

    from crmkit.cli import main
    from crmkit.engine import Crm
    from tests.transfer.conftest import PACKAGE

    crm = Crm.open(sqlite_url)
    package = tmp_path / "package.yaml"
    package.write_text(PACKAGE, encoding="utf-8")
    crm.install(package)
    crm.close()
    path = tmp_path / "people.csv"
    path.write_bytes("姓,电子邮箱\n王,wang@example.cn\n,li@example.cn\n".encode("gbk"))
    errors = tmp_path / "no such folder" / "errors.csv"
    result = CliRunner().invoke(main, ["--database", sqlite_url, "import", "person", str(path), "--errors", str(errors)])
    assert isinstance(result.exception, SystemExit) and result.exit_code != 0, repr(result.exception)
    assert "errors.csv" in result.output and "nothing was imported" in result.output
    crm = Crm.open(sqlite_url)
    try:
        assert crm.as_system().records("person").query(None, limit=10).records == []
    finally:
        crm.close()
    result = CliRunner().invoke(main, ["--database", sqlite_url, "import", "person", str(path), "--errors",
                                       str(tmp_path)])
    assert result.exit_code != 0 and "--errors" in result.output and "Traceback" not in result.output


def test_a_mobile_number_in_full_width_digits_is_a_duplicate_of_the_same_number(crm, people, csv_file):
    from crmkit.engine.transfer.duplicates import phone_key

    assert phone_key("１３８ ００１３ ８０００", "CN") == phone_key("138 0013 8000", "CN")
    crm.as_system().records("person").create({"last_name": "王", "phone": "138 0013 8000"})
    report = people.dry_run(csv_file("姓,办公电话\n王,１３８００１３８０００\n", "gb18030"),
                            ImportOptions(duplicates="block", duplicate_rule="phone"))
    assert (report.created, report.failed) == (0, 1)



_REPEATS = ("Last Name,Email,Badge,Headcount\n"
            "A,a@example.cn,B1,-1\n"   # refused (negative headcount): it creates nothing, so row 3 is no repeat
            "A,a@example.cn,B1,1\n"
            "B,b@example.cn,B2,2\n"
            "A again,A@Example.cn,B1,3\n"
            "C,c@example.cn,B2,4\n"
            "A third,a@example.cn,B1,\n")


@pytest.mark.parametrize("options", [
    {"upsert_on": "badge"},
    {"duplicates": "block"},
    {"duplicates": "skip"},
    {"duplicates": "merge"},
    {"upsert_on": "badge", "duplicates": "merge"},
    {},
], ids=lambda options: ",".join(f"{key}={value}" for key, value in options.items()) or "plain")
def test_the_dry_run_and_the_import_agree_whatever_the_batch_size(crm, install, people, csv_file, options):
    path = csv_file(_REPEATS)
    outcomes = set()
    for batch_size in (1, 2, 4, 1000):
        people.dry_run(path, ImportOptions(batch_size=batch_size, **options))
        dry = people.dry_run(path, ImportOptions(batch_size=batch_size, **options))
        done = people.import_file(path, ImportOptions(batch_size=batch_size, **options))
        kept = stored(crm, "last_name", "badge", "headcount")
        records = crm.as_system().records("person")
        for record in records.query(None, limit=100).records:
            records.delete(record["id"])
        outcomes.add((_counts(dry), _counts(done), tuple(error.row for error in done.errors),
                      tuple(error.row for error in dry.errors), tuple(sorted(kept, key=str))))
    assert len(outcomes) == 1, sorted(outcomes)
    (outcome,) = outcomes
    dry, done, _, _, _ = outcome
    assert dry == done


def test_an_upsert_key_repeated_in_one_batch_creates_then_updates_the_record(crm, people, csv_file):
    path = csv_file("Last Name,Badge,Headcount\nA,B1,1\nB,B1,\nC,B1,3\n")
    dry = people.dry_run(path, ImportOptions(upsert_on="badge"))
    done = people.import_file(path, ImportOptions(upsert_on="badge"))
    assert _counts(dry) == _counts(done) == (1, 2, 0, 0)
    assert stored(crm, "last_name", "badge", "headcount") == [("C", "B1", 3)]


def test_a_dry_run_checks_a_later_rows_update_of_a_record_an_earlier_row_would_create(people, csv_file):
    path = csv_file("Last Name,Badge,First Name\nA,B1,Ann\nB,B1,TBD\n")
    for batch_size in (1, 1000):
        dry = people.dry_run(path, ImportOptions(upsert_on="badge", batch_size=batch_size))
        assert _counts(dry) == (1, 0, 0, 1)
        assert [(error.row, error.field) for error in dry.errors] == [(3, "first_name")]


def test_a_phone_number_in_full_width_digits_is_imported(crm, people, csv_file):
    report = people.import_file(csv_file("姓,办公电话\n王,１３８ ００１３ ８０００\n", "gb18030"))
    assert report.errors == () and stored(crm, "phone") == [("138 0013 8000",)]
