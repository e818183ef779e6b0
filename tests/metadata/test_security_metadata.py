"""Roles, permission sets and sharing are checked like the rest of the metadata."""
from __future__ import annotations

import pytest

from crmkit.metadata import MetadataError, validate_paths

BASE = """package: acme
version: "1.0.0"
objects:
  account:
    sharing: private
    fields:
      name: {type: text}
      parent: {type: lookup, to: account}
  contact:
    fields:
      name: {type: text}
      account: {type: lookup, to: account}
"""


def problems(write_package, catalog, extra: str, base: str = BASE) -> list[str]:
    with pytest.raises(MetadataError) as caught:
        validate_paths([write_package(base + extra)], catalog)
    return [problem.format() for problem in caught.value.problems]


def test_a_valid_security_model_is_resolved(write_package, catalog):
    extra = ("roles:\n  ceo: {}\n  director: {parent: ceo}\n  rep: {parent: director}\n"
             "permission_sets:\n  sales:\n    roles: [rep]\n    objects: {account: [read, edit]}\n"
             "    fields: {account.name: [read]}\n")
    registry = validate_paths([write_package(BASE + extra)], catalog)
    assert registry.role_descendants["ceo"] == {"director", "rep"}
    assert registry.permission_sets["sales"].objects["account"] == {"read", "edit"}
    assert "admin" in registry.permission_sets


def test_role_parents_must_exist_and_not_circle(write_package, catalog):
    found = problems(write_package, catalog, "roles:\n  a: {parent: b}\n  b: {parent: a}\n  c: {parent: ceo}\n")
    assert any("roles are their own superiors in a circle: a -> b -> a" in text for text in found), found
    assert any("the parent role 'ceo' does not exist." in text for text in found), found


def test_permission_sets_name_real_objects_fields_and_roles(write_package, catalog):
    extra = ("permission_sets:\n  sales:\n    roles: [rep]\n    objects: {acount: [read]}\n"
             "    fields: {account.nam: [read]}\n")
    found = problems(write_package, catalog, extra)
    assert any("'acount' is not an object. Did you mean 'account'?" in text for text in found), found
    assert any("account has no field 'nam'. Did you mean 'name'?" in text for text in found), found
    assert any("the permission set names the role 'rep', which does not exist." in text for text in found), found


def test_admin_is_a_reserved_permission_set(write_package, catalog):
    found = problems(write_package, catalog, "permission_sets:\n  admin:\n    objects: {account: [read]}\n")
    assert any("the permission set 'admin' is already defined by 'crmkit'" in text for text in found), found


def test_controlled_by_parent_needs_a_lookup_to_another_object(write_package, catalog):
    base = BASE.replace("  contact:\n", "  contact:\n    sharing: controlled_by_parent\n    sharing_parent: acount\n")
    found = problems(write_package, catalog, "", base)
    assert any("sharing_parent 'acount' is not a lookup of contact. Did you mean 'account'?" in t for t in found), found


def test_sharing_rules_name_real_roles_and_fields(write_package, catalog):
    base = BASE.replace("    sharing: private\n", "    sharing: private\n    sharing_rules:\n"
                        "      - {name: r, criteria: {tier: Gold}, share_with: {role: support}}\n")
    found = problems(write_package, catalog, "", base)
    assert any("shares with the role 'support', which does not exist." in text for text in found), found
    assert any("the criteria name 'tier', which is not a field of account." in text for text in found), found
