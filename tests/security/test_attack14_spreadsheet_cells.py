"""attack14: spreadsheets of a few hundred bytes that abort the reading process (an XLSX far cell, an ODS of repeats).

calamine builds a dense range from the sheet's cells (Range::from_sparse), so a cell in the
sheet's last column and row asks for 17 billion cells (512 GB) at once: Rust's allocator
fails and aborts the whole process (SIGABRT), past any Python `except`. The web upload reads
the file in the web process (preview on upload, /o/<object>/import), so one upload by any
user with the import right kills the worker serving it. The zip-bomb check (MAX_UNPACKED)
does not see it: the file unpacks to a few hundred bytes.

The same with an ODS of 827 bytes: one row repeated 99,000 times (table:number-rows-repeated) of one cell
repeated 1,000 times (table:number-columns-repeated) is 99 million cells, under calamine's own ODS limit of
100 million: it asks for 4 GB at once, and aborts the process when that fails (under a 2 GB or 4 GB address
limit; on a server without one, 4 GB more per upload, an OOM kill).

Expected: a refusal with a sentence (ImportFileError), the process alive.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile


_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
          'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
          'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
          '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
          'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
          'officedocument.spreadsheetml.worksheet+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
             'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
             '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                  'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                  'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
_SHEET = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
          '2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Last Name</t></is></c></row>'
          '<row r="2"><c r="A2" t="inlineStr"><is><t>Smith</t></is></c></row><row r="1048576"><c r="XFD1048576" '
          't="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>')

# The reader runs in a child process under a 2 GB address-space limit: the machine is never exhausted, and the
# abort (if any) kills only the child.
_CHILD = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3))
    from crmkit.engine.transfer.files import ImportFileError, read_table
    try:
        table = read_table(sys.argv[1])
        for _ in table.rows():
            pass
    except ImportFileError as error:
        print("REFUSED", error)
    else:
        print("READ", len(table.header))
""")


_ODS_CONTENT = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:'
    'xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:'
    'tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table '
    'table:name="S"><table:table-row><table:table-cell office:value-type="string"><text:p>Last Name</text:p>'
    '</table:table-cell></table:table-row><table:table-row table:number-rows-repeated="99000"><table:table-cell '
    'table:number-columns-repeated="1000" office:value-type="string"><text:p>Smith</text:p></table:table-cell>'
    '</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>')
_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:'
    'xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type='
    '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" '
    'manifest:media-type="text/xml"/></manifest:manifest>')


def test_ods_with_repeated_rows_and_cells_is_refused_not_fatal(tmp_path):
    path = tmp_path / "repeated.ods"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", _ODS_CONTENT, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", _ODS_MANIFEST, compress_type=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 4096
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-300:])
    assert done.stdout.startswith("REFUSED"), done.stdout


def test_xlsx_with_one_far_cell_is_refused_not_fatal(tmp_path):
    path = tmp_path / "far.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("[Content_Types].xml", _TYPES), ("_rels/.rels", _RELS), ("xl/workbook.xml", _WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS), ("xl/worksheets/sheet1.xml", _SHEET)):
            archive.writestr(name, text)
    assert path.stat().st_size < 4096
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-300:])
    assert done.stdout.startswith("REFUSED"), done.stdout
