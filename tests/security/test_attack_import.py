"""Attacks on imports with odd files: a refusal naming what is wrong, never a raw parser error."""
from __future__ import annotations

import pytest

from crmkit.engine.transfer.files import ImportFileError
from crmkit.engine.transfer.importer import ImportService

PACKAGE = """
package: attack_import
version: "1.0.0"
objects:
  person:
    title_field: last_name
    fields:
      last_name: {type: text, required: true, label: {en: Last Name, zh: 姓}}
      note: {type: textarea, label: {en: Note, zh: 备注}}
"""


@pytest.fixture
def importing(crm, install):
    install(PACKAGE)
    return ImportService(crm.as_system(), "person")


@pytest.mark.parametrize("text", [
    "Last Name,Note\nA,\"" + "x" * 200_000 + "\"\n",   # a cell beyond the CSV reader's field limit
    "Last Name,\"" + "x" * 200_000 + "\"\nA,b\n",      # ... in the header
])
def test_a_csv_cell_too_large_to_read_is_refused_with_a_sentence(crm, importing, tmp_path, text):
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFileError, match="too large"):
        importing.dry_run(path)
    assert crm.as_system().records("person").count().value == 0
