"""What the bulk edit form tells a user about fields they may not read: nothing.

A CRM of its own (the shared one plus a `vault` package): a vault's `code` is unique together
with its `region`, and its `lane` is a dependent picklist controlled by its `tier`; the region
and the tier are readable only by holders of `vault_regions`. Users:
admin (every field), wang (a sales rep, who may edit vaults but not read their region).
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from tests.ui.conftest import csrf_token, signed_in_client
from tests.webapp import IMAGE_PAYLOAD, SCRIPT_PAYLOAD, build_web_crm

VAULTS = json.dumps({
    "package": "vaults", "version": "1.0.0", "depends_on": ["default_crm"], "label": "Vaults",
    "permission_sets": {
        "vault_user": {"roles": ["sales_rep"], "objects": {"vault": ["create", "read", "edit", "delete"]}},
        "vault_regions": {"roles": [], "fields": {"vault.region": ["read", "edit"], "vault.tier": ["read", "edit"]}},
    },
    "objects": {"vault": {
        "label": {"en": "Vault", "zh": "保险库"}, "plural_label": {"en": "Vaults", "zh": "保险库"},
        "sharing": "public_read_write", "title_field": "code",
        "fields": {
            "code": {"type": "text", "required": True, "label": {"en": "Code", "zh": "代码"}},
            "region": {"type": "text", "label": {"en": "Region", "zh": "区域"}},
            "weight": {"type": "integer", "label": {"en": "Weight", "zh": "重量"}},
            "tier": {"type": "picklist", "label": {"en": "Tier", "zh": "等级"},
                     "options": [{"value": "Bullion", "label": {"en": "Bullion", "zh": "金条"}},
                                 {"value": "Pewter", "label": {"en": "Pewter", "zh": "锡器"}}]},
            "lane": {"type": "picklist", "label": {"en": "Lane", "zh": "通道"}, "controlling_field": "tier",
                     "options": ["Express", "Slow"], "dependent_values": {"Bullion": ["Express"], "Pewter": ["Slow"]}},
        },
        "indexes": [{"fields": ["code", "region"], "unique": True}],
    }},
}, ensure_ascii=False)
SECRET_REGION = "Area Fifty-One"


@pytest.fixture(scope="module")
def vault_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, dict[str, int]]]:
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    folder: Path = tmp_path_factory.mktemp("vaults")
    web = build_web_crm(folder, spare_users=0)
    crm = Crm.open(web.url)
    (folder / "vaults.json").write_text(VAULTS, encoding="utf-8")
    crm.install(folder / "vaults.json")
    vaults = crm.as_user(web.users["admin"]).records("vault")
    ids = {code: vaults.create({"code": code, "region": SECRET_REGION, "tier": "Bullion"}).id for code in ("V-100", "V-200")}
    app = create_app(crm, {"SECRET_KEY": "bulk-secrets-test-secret-key-0123456789"})
    yield app, ids
    crm.close()


def test_a_duplicate_combination_refused_by_a_bulk_edit_never_quotes_a_field_the_user_may_not_read(vault_app):
    app, ids = vault_app
    client = signed_in_client(app, "wang", 97)
    page = client.get("/o/vault/bulk/edit", query_string=[("record", str(ids["V-200"])), ("field", "code")])
    assert page.status_code == 200 and SECRET_REGION not in page.get_data(as_text=True)
    response = client.post("/o/vault/bulk/edit", data={
        "record": str(ids["V-200"]), "field": "code", "code": "V-100", "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 422
    text = html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
    assert "must be unique" in text  # the refusal is told
    assert SECRET_REGION not in text and "region" not in text.lower()  # but not the hidden field, nor its value
    admin = signed_in_client(app, "admin", 97)
    page = admin.get("/o/vault/bulk/edit", query_string=[("record", str(ids["V-200"])), ("field", "code")])
    refused = admin.post("/o/vault/bulk/edit", data={
        "record": str(ids["V-200"]), "field": "code", "code": "V-100", "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert SECRET_REGION in html.unescape(refused.get_data(as_text=True))  # who may read it is told the combination


def bulk_edit(client, record_id: int, field: str, value: str):
    page = client.get("/o/vault/bulk/edit", query_string=[("record", str(record_id)), ("field", field)])
    assert page.status_code == 200
    return client.post("/o/vault/bulk/edit", data={"record": str(record_id), "field": field, field: value,
                                                    "csrf_token": csrf_token(page.get_data(as_text=True))})


def test_a_dependent_value_refused_because_of_a_hidden_controlling_field_names_neither_that_field_nor_its_value(
        vault_app):
    app, ids = vault_app
    refused = bulk_edit(signed_in_client(app, "wang", 97), ids["V-100"], "lane", "Slow")
    assert refused.status_code == 422
    text = html.unescape(re.sub(r"<[^>]+>", " ", refused.get_data(as_text=True)))
    assert "'Slow' is not allowed with the value of a field you may not see." in text  # beside the value
    assert "Tier" not in text and "Bullion" not in text and "allowed:" not in text  # nor what the hidden tier is
    admin = bulk_edit(signed_in_client(app, "admin", 97), ids["V-100"], "lane", "Slow")
    assert "while Tier is 'Bullion'; allowed: Express." in html.unescape(admin.get_data(as_text=True))


class StampsTheRegion:
    """A `crmkit_before_save` hook that refuses a vault coded 'V-STAMP' on its (hidden) region, quoting it."""

    from crmkit.hookspecs import hookimpl

    @hookimpl
    def crmkit_before_save(self, context, draft):
        if draft.object == "vault" and draft.values.get("code") == "V-STAMP":
            draft.refuse(f"no stamped vault may stay in {draft['region']}.", field="region")


@pytest.fixture(scope="module")
def hooked_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, dict[str, int]]]:
    from crmkit.engine import Crm
    from crmkit.engine.extensions import Extensions
    from crmkit.plugins import make_plugin_manager
    from crmkit.ui import create_app

    folder: Path = tmp_path_factory.mktemp("hooked-vaults")
    web = build_web_crm(folder, spare_users=0)
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[StampsTheRegion()])
    crm = Crm.open(web.url, extensions=Extensions.from_plugins(manager))
    (folder / "vaults.json").write_text(VAULTS, encoding="utf-8")
    crm.install(folder / "vaults.json")
    vaults = crm.as_system().records("vault")
    ids = {"V-300": vaults.create({"code": "V-300", "region": SECRET_REGION}).id}
    app = create_app(crm, {"SECRET_KEY": "bulk-hooked-test-secret-key-0123456789"})
    yield app, ids
    crm.close()


def test_a_save_hook_refusing_on_a_hidden_field_is_told_without_that_field_or_its_value(hooked_app):
    app, ids = hooked_app
    refused = bulk_edit(signed_in_client(app, "wang", 98), ids["V-300"], "code", "V-STAMP")
    assert refused.status_code == 422
    text = html.unescape(re.sub(r"<[^>]+>", " ", refused.get_data(as_text=True)))
    assert "a field you may not see" in text
    assert SECRET_REGION not in text and "Region" not in text


@pytest.mark.parametrize("field, value", [("weight", SCRIPT_PAYLOAD), ("weight", IMAGE_PAYLOAD),
                                          ("lane", SCRIPT_PAYLOAD), ("code", f"V-100{IMAGE_PAYLOAD}")])
def test_a_refused_or_quoted_value_is_shown_as_text(vault_app, field, value):
    app, ids = vault_app
    response = bulk_edit(signed_in_client(app, "wang", 97), ids["V-200"], field, value)
    page = response.get_data(as_text=True)
    assert SCRIPT_PAYLOAD not in page and IMAGE_PAYLOAD not in page
