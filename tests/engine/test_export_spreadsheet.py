"""CSV exports are safe to open in a spreadsheet (OWASP CSV Injection) and open Chinese text correctly."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

PACKAGE = """
package: sheet
version: "1.0.0"
objects:
  lead:
    title_field: name
    fields:
      name: {type: text}
      notes: {type: textarea}
      stage: {type: picklist, options: ["-Lost-", "+Won", "Open"]}
      tags: {type: multi_picklist, options: ["@vip", "new"]}
      email: {type: email}
      phone: {type: phone}
      amount: {type: currency}
      quantity: {type: integer}
      ratio: {type: decimal}
      due: {type: date}
      shout: {type: formula, returns: text, formula: "text(name)"}
"""

DANGEROUS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)",
             "\t=1+1", "\r=1+1", "  =1+1", "\n-1"]


@pytest.fixture
def leads(crm, install):
    install(PACKAGE)
    return crm.as_system().records("lead")


def rows(lines) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("".join(lines).removeprefix("\ufeff"))))


@pytest.mark.parametrize("text", DANGEROUS)
def test_text_a_spreadsheet_would_run_as_a_formula_is_prefixed_with_a_quote(leads, text):
    leads.create({"name": "Acme", "notes": text})  # long text keeps leading whitespace
    (row,) = rows(leads.export(fields=["notes"]))
    assert row == {"notes": "'" + text}


@pytest.mark.parametrize("text", DANGEROUS[:4])
def test_text_fields_and_text_formulas_are_neutralised_too(leads, text):
    leads.create({"name": text})
    (row,) = rows(leads.export(fields=["name", "shout"]))
    assert row == {"name": "'" + text, "shout": "'" + text}


def test_every_text_like_value_is_neutralised(leads):
    leads.create({"name": "Acme", "stage": "-Lost-", "tags": ["@vip", "new"], "email": "=1+1@example.com",
                  "phone": "+86 10 8888 8888"})
    (row,) = rows(leads.export(fields=["stage", "tags", "email", "phone"]))
    assert row == {"stage": "'-Lost-", "tags": "'@vip;new", "email": "'=1+1@example.com",
                   "phone": "'+86 10 8888 8888"}


def test_harmless_text_is_written_as_it_is(leads):
    leads.create({"name": "Mary-Jane O'Neil", "notes": "a=b, c+d; @home", "stage": "Open"})
    (row,) = rows(leads.export(fields=["name", "notes", "stage"]))
    assert row == {"name": "Mary-Jane O'Neil", "notes": "a=b, c+d; @home", "stage": "Open"}


def test_numbers_stay_numbers_and_dates_stay_dates(leads):
    leads.create({"name": "N", "amount": "-5", "quantity": -12, "ratio": "-0.125", "due": "2024-03-01"})
    lines = list(leads.export(fields=["amount", "quantity", "ratio", "due"]))
    assert lines[1] == "-5.00,-12,-0.1250,2024-03-01\n"


def test_csv_starts_with_a_byte_order_mark_so_excel_reads_chinese(leads):
    leads.create({"name": "星辰科技", "notes": "=王伟的客户"})
    lines = list(leads.export(fields=["name", "notes"]))
    encoded = "".join(lines).encode("utf-8")
    assert encoded.startswith(b"\xef\xbb\xbfname,notes\n")
    assert encoded.decode("utf-8-sig").splitlines() == ["name,notes", "星辰科技,'=王伟的客户"]


def test_the_byte_order_mark_can_be_left_out(leads):
    leads.create({"name": "星辰科技"})
    assert list(leads.export(fields=["name"], bom=False)) == ["name\n", "星辰科技\n"]


def test_json_exports_keep_values_as_stored(leads):
    leads.create({"name": "=1+1", "amount": "-5"})
    (row,) = leads.export(fields=["name", "amount"], format="json")
    assert row == {"name": "=1+1", "amount": "-5.00"}


def test_value_exports_give_the_stored_values_and_name_their_columns(leads):
    leads.create({"name": "=1+1", "amount": "-5"})
    with leads.export(fields=["name", "amount"], format="values") as stream:
        assert stream.columns == ("name", "amount")
        assert list(stream) == [{"name": "=1+1", "amount": Decimal("-5.00")}]


TRICKY_ROWS = [
    ["Acme", None, 12, "", "plain"],
    ["a,b", 'say "hi"', "two\nlines", "cr\rhere", "=1+1"],
    ["  -1", "\u3000@x", "\u00a0+2", True, [1, "@vip"]],
    [""],
    [None],
    ["星辰科技, 张伟"],
]


@pytest.mark.parametrize("row", TRICKY_ROWS, ids=range(len(TRICKY_ROWS)))
def test_lines_written_together_are_the_lines_the_csv_module_writes_one_by_one(row):
    """The export writes plain lines itself and leaves quoting to the csv module (records/export.py)."""
    from decimal import Decimal
    from datetime import date, datetime, timezone

    from crmkit.engine.records.export import _csv_line, _csv_lines, spreadsheet_cell

    typed = [Decimal("-0.50"), Decimal("1E+3"), date(2024, 3, 1), datetime(2024, 3, 1, 12, 30, tzinfo=timezone.utc),
             1.5, False, 0]
    for values in (row, [*row, *typed]):
        assert _csv_lines([values]) == [_csv_line([spreadsheet_cell(value) for value in values])]


def test_a_user_s_export_and_the_platform_s_have_the_same_lines(crm, leads):
    """The platform's rows are taken as stored, a user's are shaped first (security/shaping.py): the same text."""
    from crmkit.engine.security.users import SystemDirectory

    leads.create({"name": "Acme, Inc.", "notes": "=1+1", "amount": "-5", "due": "2024-03-01"})
    leads.create({"name": "星辰科技", "stage": "+Won", "tags": ["@vip", "new"], "quantity": 3})
    admin = SystemDirectory(crm).create_user("export_admin", permission_sets=["admin"])
    fields = ["tags", "name", "id", "notes", "amount", "due", "stage", "quantity"]
    for chosen in (fields, None):
        ours = list(leads.export(fields=chosen, sort=["name"]))
        assert list(crm.as_user(admin.id).records("lead").export(fields=chosen, sort=["name"])) == ours
        assert len(ours) == 3


def test_an_xlsx_number_cell_holds_only_a_value_a_double_keeps_exactly(tmp_path):
    from python_calamine import CalamineWorkbook

    from crmkit.engine.transfer.spreadsheet import xlsx_chunks

    values = [Decimal("1234567890123456.78"), 2**53 + 1, Decimal("123456789012345.00"), Decimal("0.1"),
              Decimal("-1200.50"), 10**20, 7, 1.5, Decimal("1E+400")]
    path = tmp_path / "numbers.xlsx"
    path.write_bytes(b"".join(xlsx_chunks([str(n) for n in range(len(values))], [values])))
    header, row = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    # More than 15 significant digits (or beyond a double's range): a text cell of the exact digits.
    assert row == ["1234567890123456.78", "9007199254740993", 123456789012345.0, 0.1, -1200.5, 1e20, 7.0, 1.5,
                   "1" + "0" * 400]
