"""A small package to import into (companies with an ERP code, people with every kind of column), its users, and file writers."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from crmkit.engine.security.users import SystemDirectory
from crmkit.engine.transfer.importer import ImportService

PACKAGE = """
package: transfer_test
version: "1.0.0"
permission_sets:
  importers:
    objects:
      company: [create, read, edit, import]
      person: [create, read, edit, import]
    fields:
      person.salary: [read]
  typists:
    objects:
      company: [read]
      person: [create, read, edit]
objects:
  company:
    label: {en: Company, zh: 公司}
    title_field: name
    sharing: public_read_write
    fields:
      name: {type: text, required: true, label: {en: Company Name, zh: 公司名称}}
      erp_code: {type: text, unique: true, label: {en: ERP Code, zh: ERP编号}}
  person:
    label: {en: Person, zh: 人员}
    title_field: full_name
    sharing: public_read_write
    track_history: true
    fields:
      last_name: {type: text, required: true, label: {en: Last Name, zh: 姓}}
      first_name: {type: text, label: {en: First Name, zh: 名}}
      full_name:
        type: formula
        returns: text
        formula: "trim(text(first_name) + ' ' + text(last_name))"
      email: {type: email, label: {en: Email, zh: 电子邮箱}}
      phone: {type: phone, label: {en: Phone, zh: 办公电话}}
      birthday: {type: date, label: {en: Birthday, zh: 生日}}
      badge: {type: text, unique: true, label: {en: Badge, zh: 工牌}}
      level:
        type: picklist
        label: {en: Level, zh: 级别}
        options:
          - {value: junior, label: {en: Junior, zh: 初级}}
          - {value: senior, label: {en: Senior, zh: 资深}}
      company: {type: lookup, to: company, label: {en: Company, zh: 公司}}
      salary: {type: currency, label: {en: Salary, zh: 薪资}}
      headcount: {type: integer, label: {en: Headcount, zh: 人数}}
      greeted: {type: text}
    validations:
      - name: no_placeholder_first_name
        field: first_name
        condition: "first_name == 'TBD'"
        message: {en: the first name may not be TBD., zh: 名不能是 TBD。}
      - name: headcount_not_negative
        field: headcount
        condition: "headcount is not None and headcount < 0"
        message: {en: the headcount may not be negative., zh: 人数不能为负。}
    automations:
      - name: greet
        on: [created]
        actions:
          - {type: update_record, set: {greeted: "'yes'"}}
"""

PASSWORD = "a long passphrase 42"


@pytest.fixture
def people(crm, install):
    """The package installed: an ImportService for people as the system, with two companies stored."""
    install(PACKAGE)
    companies = crm.as_system().records("company")
    companies.create({"name": "Acme", "erp_code": "C-001"})
    companies.create({"name": "Globex", "erp_code": "C-002"})
    return ImportService(crm.as_system(), "person")


@pytest.fixture
def users(crm, people):
    """ann may import people (salary read-only); tom may create people but not import."""
    directory = SystemDirectory(crm)
    return {name: directory.create_user(name, password=PASSWORD, permission_sets=[sets]).id
            for name, sets in (("ann", "importers"), ("tom", "typists"))}


@pytest.fixture
def csv_file(tmp_path) -> Callable[..., Path]:
    """csv_file(text, encoding="utf-8", name="people.csv"): the text written to a file in that encoding."""
    def write(text: str, encoding: str = "utf-8", name: str = "people.csv") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return write


def stored(crm, *fields: str) -> list[tuple]:
    """Every person as (fields...), by id."""
    records = crm.as_system().records("person").query(sort=["id"], limit=1000).records
    return [tuple(record[name] for name in fields) for record in records]
