"""Import files are read as their authors saved them: UTF-8 with or without BOM, GBK from Chinese Excel, XLSX, XLS."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import xlsxwriter

from crmkit.engine.transfer.files import ImportFileError, decode, read_table

HERE = Path(__file__).resolve().parent


def rows(table) -> list[tuple[int, list]]:
    return list(table.rows())


@pytest.mark.parametrize("encoding, told", [("utf-8", "utf-8-sig"), ("utf-8-sig", "utf-8-sig"),
                                            ("gbk", "gb18030"), ("gb18030", "gb18030")])
def test_csv_text_is_decoded_strictly_utf8_first_then_gb18030(tmp_path, encoding, told):
    path = tmp_path / "people.csv"
    path.write_bytes("姓,名\n王,伟\n".encode(encoding))
    table = read_table(path)
    assert table.header == ("姓", "名") and table.encoding == told
    assert rows(table) == [(2, ["王", "伟"])]


def test_a_short_gbk_file_is_not_misread_by_a_guesser():
    # Four bytes of GBK: a charset guesser alone reads them as something else (STACK.md trap 6).
    assert decode("张伟".encode("gbk")) == ("张伟", "gb18030")


def test_an_encoding_neither_utf8_nor_gb18030_is_detected():
    text, encoding = decode("Name,City\nJosé,São Paulo\n".encode("utf-16"))
    assert text.splitlines()[1] == "José,São Paulo" and "16" in encoding


def test_row_numbers_are_the_spreadsheets_and_blank_rows_are_counted_not_read(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text('Name;Note\nA;"two\nlines"\n;\nB;x\n', encoding="utf-8")
    assert rows(read_table(path)) == [(2, ["A", "two\nlines"]), (4, ["B", "x"])]


def test_a_file_without_a_header_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="no header row"):
        read_table(path)


def test_xlsx_cells_keep_their_kind_and_whole_numbers_lose_their_point(tmp_path):
    path = tmp_path / "people.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["Name", "Phone", "Born", "Score"])
    sheet.write_row(1, 0, ["王伟", 13800138000, None, 2.5])
    sheet.write_datetime(1, 2, date(1990, 5, 17), workbook.add_format({"num_format": "yyyy-mm-dd"}))
    workbook.close()
    table = read_table(path)
    assert table.header == ("Name", "Phone", "Born", "Score")
    [(number, cells)] = rows(table)
    assert number == 2 and cells[:2] == ["王伟", 13800138000] and cells[3] == 2.5
    assert cells[2] == date(1990, 5, 17)


def test_an_old_xls_file_from_excel_97_is_read():
    # contacts_excel97.xls: a BIFF8 workbook written by xlwt 1.3.0 (what Excel 97-2003 saves).
    table = read_table(HERE / "contacts_excel97.xls")
    assert table.header == ("姓", "名", "电子邮箱", "办公电话", "生日")
    assert rows(table) == [(2, ["王", "伟", "wang.wei@example.cn", 13800138000, date(1990, 5, 17)]),
                           (3, ["李", "娜", "li.na@example.cn", "+86 21 6888 8888", ""])]


def test_a_broken_spreadsheet_is_refused_with_its_name(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ImportFileError, match="broken.xlsx cannot be read"):
        read_table(path)
