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


ROLES = """
package: attack_import_roles
version: "1.0.0"
depends_on: [attack_import]
roles:
  boss: {}
  rep: {parent: boss}
permission_sets:
  importers:
    objects:
      person: [create, read, edit, import]
"""


@pytest.fixture
def staff(crm, importing, install):
    """the boss (boss@corp.cn) and a rep below, both importers, none managing users."""
    from crmkit.engine.security.users import SystemDirectory

    install(ROLES, "roles.yaml")
    directory = SystemDirectory(crm)
    return {name: directory.create_user(name, display_name=f"The {name}", email=f"{name}@corp.cn", role=name,
                                        permission_sets=["importers"]).id for name in ("boss", "rep")}


def test_an_owner_cell_does_not_tell_a_user_without_manage_users_whose_email_it_is(crm, staff, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Last Name,Owner\nA,boss@corp.cn\nB,nobody@corp.cn\nC,rep@corp.cn\n", encoding="utf-8")
    report = ImportService(crm.as_user(staff["rep"]), "person").dry_run(path)
    problems = {error.row: error.message for error in report.errors}
    # Emails are for user administration (security/user_names.py): a real one reads as an unknown user.
    assert "boss@corp.cn" in problems[2] and "no active user" in problems[2]
    assert "no active user" in problems[3] and "no active user" in problems[4]


def test_a_user_manager_names_owners_by_email(crm, staff, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Last Name,Owner\nA,rep@corp.cn\n", encoding="utf-8")
    assert ImportService(crm.as_system(), "person").dry_run(path).created == 1


def test_a_spreadsheet_unpacking_beyond_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import zipfile

    from crmkit.engine.transfer import files

    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", " " * 3_000_000)  # a few KB packed
    monkeypatch.setattr(files, "MAX_UNPACKED", 2_000_000)
    with pytest.raises(ImportFileError, match="unpacks to"):
        files.read_table(path)
