"""`crmkit import`: a thin shell over ImportService (SQLite; the service's own tests cover both databases)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from crmkit.cli import main
from crmkit.engine import Crm
from tests.transfer.conftest import PACKAGE


@pytest.fixture
def run(sqlite_url, tmp_path):
    crm = Crm.open(sqlite_url)
    package = tmp_path / "package.yaml"
    package.write_text(PACKAGE, encoding="utf-8")
    crm.install(package)
    crm.as_system().records("company").create({"name": "Acme", "erp_code": "C-001"})
    crm.close()

    def invoke(*args: str):
        return CliRunner().invoke(main, ["--database", sqlite_url, *map(str, args)], catch_exceptions=False)

    invoke.url = sqlite_url
    return invoke


def test_import_prints_counts_and_the_refused_rows_and_writes_the_report(run, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes("姓,电子邮箱,公司\n王,wang@example.cn,Acme\n,li@example.cn,Acme\n".encode("gbk"))
    result = run("import", "person", path, "--errors", tmp_path / "errors.csv")
    assert result.exit_code == 0, result.output
    assert "Imported 2 row(s): 1 created, 0 updated, 0 skipped, 1 failed (import 1, done)." in result.output
    assert "row 3, column 姓: is required." in result.output
    assert (tmp_path / "errors.csv").read_text(encoding="utf-8-sig").splitlines()[1] == "3,姓,last_name,is required."


def test_columns_no_field_matches_are_named_as_left_out(run, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes("姓,电子邮箱,电话号,客户\n王,wang@example.cn,138,Acme\n".encode("gbk"))
    result = run("import", "person", path)
    assert "1 created" in result.output
    assert "Columns left out (mapped to no field; map one with --mapping COLUMN=FIELD): 电话号, 客户." \
        in result.output
    quiet = tmp_path / "mapped.csv"
    quiet.write_text("姓,电子邮箱\n李,li@example.cn\n", encoding="utf-8")
    assert "left out" not in run("import", "person", quiet).output


def test_column_field_pairs_change_the_guessed_mapping_as_the_left_out_hint_suggests(run, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes("姓,电子邮箱,电话号,客户,邮件\n王,wang@example.cn,+8613800138000,Acme,w2@example.cn\n".encode("gbk"))
    result = run("import", "person", path, "--mapping", "电话号=phone", "--mapping", "客户=company",
                 "--mapping", "邮件=email")
    assert "1 created" in result.output, result.output
    assert "Columns left out (mapped to no field; map one with --mapping COLUMN=FIELD): 电子邮箱." in result.output
    crm = Crm.open(run.url)
    try:
        (person,) = crm.as_system().records("person").query(filter={"last_name": "王"}).records
    finally:
        crm.close()
    assert person["email"] == "w2@example.cn"  # moved: the guessed 电子邮箱 column is left out
    assert person["phone"] and person["company"] is not None  # the guessed 姓 kept, the pairs added
    cleared = tmp_path / "cleared.csv"
    cleared.write_text("姓,电子邮箱\n李,li@example.cn\n", encoding="utf-8")
    assert "1 created" in run("import", "person", cleared, "--mapping", "电子邮箱=").output


def test_a_dry_run_writes_nothing_and_a_mapping_can_be_given_as_pairs_or_json(run, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Nom,Courriel\nDupont,d@example.fr\n", encoding="utf-8")
    result = run("import", "person", path, "--dry-run", "--mapping", "Nom=last_name", "--mapping", "Courriel=email")
    assert "Would import 1 row(s): 1 created" in result.output
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"Nom": "last_name", "Courriel": "email"}), encoding="utf-8")
    result = run("import", "person", path, "--mapping", mapping, "--duplicates", "skip", "--no-automation")
    assert "1 created" in result.output
    again = run("import", "person", path, "--mapping", mapping, "--duplicates", "skip")
    assert "0 created, 0 updated, 1 skipped" in again.output


def test_resume_continues_a_job_by_its_id_and_a_mistake_is_a_sentence(run, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Last Name\nA\n", encoding="utf-8")
    assert "1 created" in run("import", "person", path).output
    assert "(import 1, done)" in run("import", "--resume", 1).output
    result = run("import", "--resume", 9)
    assert result.exit_code == 1 and "there is no import 9 of yours." in result.output
    assert run("import", "person").exit_code == 2


def test_a_dry_run_prints_every_fault_of_a_row(run, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Last Name,First Name,Email,Headcount,Company\n,TBD,not-an-email,many,Nobody\n", encoding="utf-8")
    result = run("import", "person", path, "--dry-run")
    assert result.exit_code == 0, result.output
    for line in ("row 2, column Last Name: is required.", "row 2, column First Name: the first name may not be TBD.",
                 "row 2, column Email: Not a valid email address.", "row 2, column Headcount: Not a valid whole number.",
                 "row 2, column Company: there is no company record 'Nobody'."):
        assert line in result.output


@pytest.mark.parametrize("target", ["Email", "电子邮箱", "EMAIL", "e-mail"])
def test_a_pair_naming_a_field_by_its_label_moves_the_field_from_the_guessed_column(run, tmp_path, target):
    """`邮件=Email` (a label, or the API name in another case) takes the email field from the guessed 电子邮箱
    column as `邮件=email` does, not a refusal for two columns given to one field."""
    path = tmp_path / "people.csv"
    path.write_bytes("姓,电子邮箱,邮件\n王,wang@example.cn,w2@example.cn\n".encode("gbk"))
    result = run("import", "person", path, "--mapping", f"邮件={target}")
    assert "1 created" in result.output, result.output
    crm = Crm.open(run.url)
    try:
        (person,) = crm.as_system().records("person").query(filter={"last_name": "王"}).records
    finally:
        crm.close()
    assert person["email"] == "w2@example.cn"
