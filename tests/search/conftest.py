"""Fixtures for search edge cases: a small CRM with private accounts, protected fields,
a formula over a lookup, and users with different rights, on SQLite and PostgreSQL."""
from __future__ import annotations


import pytest

from tests.conftest import add_users

PACKAGE = """
package: probe
version: "{version}"
roles:
  rep: {{label: Rep}}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit, delete, export]
      contact: [create, read, edit, delete, export]
      deal: [create, read, edit, delete]
  secrets:
    fields:
      account.secret: [read]
  names:
    fields:
      lead.name: [read]
  privacy:
    system: [manage_privacy]
  leads:
    objects:
      lead: [create, read, edit, export]
objects:
  account:
    title_field: name
    sharing: private
    fields:
      name: {{type: text, searchable: true, personal: true}}
      notes: {{type: textarea, searchable: true}}
      secret: {{type: text, searchable: true}}
  contact:
    title_field: name
    sharing: public_read
    fields:
      name: {{type: text, searchable: true}}
      account: {{type: lookup, to: account, on_delete: cascade}}
      company: {{type: formula, returns: text, formula: "account.name", searchable: true}}
  lead:
    title_field: name
    fields:
      name: {{type: text, searchable: true}}
      email: {{type: text, searchable: true}}
  deal:
    title_field: name
    fields:
      name: {{type: text, searchable: true}}
      contact: {{type: lookup, to: contact, on_delete: set_null}}
      client: {{type: formula, returns: text, formula: "contact.company", searchable: true}}
      person: {{type: formula, returns: text, formula: "contact.name", searchable: true}}
"""


def package(version: str = "1.0.0") -> str:
    return PACKAGE.format(version=version)


@pytest.fixture
def probe(crm, install):
    install(package())
    return crm.as_system()


@pytest.fixture
def users(crm, probe):
    """rep1, rep2 (role rep: own accounts only), admin, leader (leads, with names) -> user id."""
    return add_users(crm, [("rep1", "rep", ["privacy"]), ("rep2", "rep", []), ("admin", None, ["admin"]),
                            ("leader", None, ["leads", "names"])])


@pytest.fixture
def names():
    """names(context, search, object_name, **query options): the names a search page shows."""
    return _names


def _names(context, search, object_name="account", **options) -> list:
    return [record["name"] for record in context.records(object_name).query(search=search, limit=100,
                                                                           **options).records]
