"""An import reads at most MAX_COLUMNS columns and, from a spreadsheet, a sheet of at most MAX_CELLS cells.

The sheet's area is told from the file before calamine opens it (calamine allocates the whole
area at once): cells that may hold something count, with their place (an XLSX `r`, or the
cell's order) and an ODS's repeats; empty cells (a formatted far cell, LibreOffice's trailing
repeated empty rows) do not, as calamine leaves them out.
"""
from __future__ import annotations

import zipfile

import pytest

from crmkit.engine import messages
from crmkit.engine.transfer.files import MAX_CELLS, MAX_COLUMNS, ImportFileError, read_table
from tests.security.test_attack14_spreadsheet_cells import _ODS_MANIFEST, _RELS, _TYPES, _WORKBOOK, _WORKBOOK_RELS

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_HEADER = '<c r="A1" t="inlineStr"><is><t>Last Name</t></is></c>'
_ODS_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:'
             'opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
             'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
             '<office:spreadsheet><table:table table:name="S">')
_ODS_TAIL = "</table:table></office:spreadsheet></office:body></office:document-content>"
_CELL = '<table:table-cell office:value-type="string"><text:p>{}</text:p></table:table-cell>'


def xlsx(tmp_path, sheet_data: str, name: str = "sheet.xlsx", head: str = "") -> str:
    path = tmp_path / name
    sheet = f'<?xml version="1.0"?><worksheet xmlns="{_MAIN}">{head}<sheetData>{sheet_data}</sheetData></worksheet>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in (("[Content_Types].xml", _TYPES), ("_rels/.rels", _RELS), ("xl/workbook.xml", _WORKBOOK),
                             ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS), ("xl/worksheets/sheet1.xml", sheet)):
            archive.writestr(member, text)
    return str(path)


def ods(tmp_path, rows: str, name: str = "sheet.ods") -> str:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", _ODS_HEAD + rows + _ODS_TAIL, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
    return str(path)


def test_a_csv_of_more_columns_than_an_import_reads_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)) + "\n" + "x," * MAX_COLUMNS + "x\n")
    with pytest.raises(ImportFileError, match=f"has {MAX_COLUMNS + 1:,} columns, more than the {MAX_COLUMNS:,}"):
        read_table(path)
    path.write_text(",".join(f"c{i}" for i in range(MAX_COLUMNS)) + "\n" + "x," * (MAX_COLUMNS - 1) + "x\n")
    assert len(read_table(path).header) == MAX_COLUMNS


def test_the_refusals_have_chinese_sentences():
    assert "列" in messages.IMPORT_TOO_MANY_COLUMNS.in_language("zh-CN", count="501", max="500")
    assert "单元格" in messages.IMPORT_SHEET_TOO_LARGE.in_language(
        "zh-CN", name="a.xlsx", rows="2", columns="3", cells="6", max="5")


def test_an_xlsx_cell_beyond_the_columns_an_import_reads_is_refused_before_calamine(tmp_path):
    col = "SH"  # column 502
    path = xlsx(tmp_path, f'<row r="1">{_HEADER}</row><row r="2"><c r="{col}2"><v>1</v></c></row>')
    with pytest.raises(ImportFileError, match="has 502 columns"):
        read_table(path)


def test_an_xlsx_sheet_larger_than_max_cells_is_refused_with_its_size(tmp_path):
    row = MAX_CELLS // 10 + 1  # ten columns (A to J) of that many rows: just over MAX_CELLS
    path = xlsx(tmp_path, f'<row r="1">{_HEADER}</row><row r="{row}"><c r="J{row}"><v>1</v></c></row>')
    with pytest.raises(ImportFileError, match=f"spans {row:,} rows by 10 columns"):
        read_table(path)


def test_xlsx_cells_without_references_are_placed_by_their_order(tmp_path):
    cells = "".join("<c><v>1</v></c>" for _ in range(MAX_COLUMNS + 1))
    with pytest.raises(ImportFileError, match=f"has {MAX_COLUMNS + 1:,} columns"):
        read_table(xlsx(tmp_path, f"<row>{cells}</row>"))


def test_xlsx_tags_with_a_namespace_prefix_are_read_too(tmp_path):
    path = tmp_path / "prefixed.xlsx"
    sheet = (f'<?xml version="1.0"?><x:worksheet xmlns:x="{_MAIN}"><x:sheetData><x:row r="1"><x:c r="A1" '
             't="inlineStr"><x:is><x:t>Last Name</x:t></x:is></x:c></x:row><x:row r="2"><x:c r="SH2">'
             '<x:v>1</x:v></x:c></x:row></x:sheetData></x:worksheet>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in (("[Content_Types].xml", _TYPES), ("_rels/.rels", _RELS), ("xl/workbook.xml", _WORKBOOK),
                             ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS), ("xl/worksheets/sheet1.xml", sheet)):
            archive.writestr(member, text)
    with pytest.raises(ImportFileError, match="has 502 columns"):
        read_table(path)


def test_empty_far_xlsx_cells_and_a_huge_dimension_are_not_counted_as_calamine_leaves_them_out(tmp_path):
    path = xlsx(tmp_path, f'<row r="1">{_HEADER}</row><row r="2"><c r="A2" t="inlineStr"><is><t>Smith</t></is></c>'
                          '</row><row r="1048576"><c r="XFD1048576" s="1"/></row>',
                head='<dimension ref="A1:XFD1048576"/>')
    table = read_table(path)
    assert table.header == ("Last Name",) and list(table.rows()) == [(2, ["Smith"])]


def test_an_ods_row_of_repeated_empty_cells_then_a_value_is_refused(tmp_path):
    # calamine expands the empty cells before the value (16,002 columns of 5,001 rows abort the process; the child
    # process test of that is tests/security/test_attack14_spreadsheet_cells.py): a small one here
    path = ods(tmp_path, f'<table:table-row>{_CELL.format("Last Name")}<table:table-cell table:number-columns-'
                         f'repeated="{MAX_COLUMNS}"/>{_CELL.format("x")}</table:table-row>')
    with pytest.raises(ImportFileError, match=f"has {MAX_COLUMNS + 2:,} columns"):
        read_table(path)


def test_ods_repeated_rows_are_counted(tmp_path):
    path = ods(tmp_path, f'<table:table-row>{_CELL.format("Last Name")}</table:table-row><table:table-row table:'
                         f'number-rows-repeated="{MAX_CELLS // 3 + 1}"><table:table-cell table:number-columns-'
                         f'repeated="3" office:value-type="float" office:value="1"/></table:table-row>')
    with pytest.raises(ImportFileError, match="by 3 columns"):
        read_table(path)


def test_libreoffices_trailing_repeated_empty_rows_and_cells_are_read(tmp_path):
    path = ods(tmp_path, f'<table:table-row>{_CELL.format("Last Name")}<table:table-cell table:number-columns-'
                         f'repeated="1023"/></table:table-row><table:table-row>{_CELL.format("Smith")}<table:table-cell'
                         ' table:number-columns-repeated="1023"/></table:table-row><table:table-row table:number-rows-'
                         'repeated="1048574"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>')
    table = read_table(path)
    assert table.header[0] == "Last Name" and [cells[0] for _, cells in table.rows()] == ["Smith"]


def test_a_real_xlsx_within_the_limits_is_read(tmp_path):
    import xlsxwriter

    path = tmp_path / "people.xlsx"
    with xlsxwriter.Workbook(str(path)) as book:
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, ["Last Name", "Email"])
        sheet.write_row(1, 0, ["Wang", "wang@example.cn"])
        sheet.write(1000, 0, "Li")
        sheet.set_column(0, 16383, 12)  # formatting every column is no cell
    assert [cells[0] for _, cells in read_table(path).rows()] == ["Wang", "Li"]


@pytest.mark.parametrize("order, refused", [(("rId2", "rId1"), True), (("rId1", "rId2"), False)])
def test_the_sheet_checked_is_the_workbooks_first_as_calamine_reads_it(tmp_path, order, refused):
    small = f'<?xml version="1.0"?><worksheet xmlns="{_MAIN}"><sheetData><row r="1">{_HEADER}</row></sheetData></worksheet>'
    wide = small.replace("</row>", '<c r="ZZ1"><v>1</v></c></row>')
    workbook = _WORKBOOK.replace('<sheet name="S" sheetId="1" r:id="rId1"/>', "".join(
        f'<sheet name="S{n}" sheetId="{n}" r:id="{rid}"/>' for n, rid in enumerate(order, start=1)))
    rels = _WORKBOOK_RELS.replace("</Relationships>", '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/'
                                  'officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/sheet2.xml"/>'
                                  "</Relationships>")
    path = tmp_path / "two.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in (("[Content_Types].xml", _TYPES), ("_rels/.rels", _RELS), ("xl/workbook.xml", workbook),
                             ("xl/_rels/workbook.xml.rels", rels), ("xl/worksheets/sheet1.xml", small),
                             ("xl/worksheets/sheet2.xml", wide)):
            archive.writestr(member, text)
    if refused:
        with pytest.raises(ImportFileError, match="has 702 columns"):
            read_table(path)
    else:
        assert read_table(path).header == ("Last Name",)


def test_a_cells_own_reference_places_it_whatever_its_rows_number_says(tmp_path):
    # calamine places a cell by its reference: a row tag saying 2 does not hide a cell at row 1,048,576
    path = xlsx(tmp_path, f'<row r="1">{_HEADER}</row><row r="2"><c r="J1048576"><v>1</v></c></row>')
    with pytest.raises(ImportFileError, match="spans 1,048,576 rows by 10 columns"):
        read_table(path)


def test_an_excel_binary_workbook_is_refused_with_a_sentence(tmp_path):
    """XLSB: its used area cannot be measured before calamine builds it, so a far cell could abort the process."""
    from crmkit.engine.transfer.files import ImportFileError, read_table

    path = tmp_path / "客户.xlsb"
    path.write_bytes(b"PK\x03\x04 not measured")
    with pytest.raises(ImportFileError, match="XLSB"):
        read_table(path)
