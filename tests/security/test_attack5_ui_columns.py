"""Attack on the web UI's pages that read only the columns they show (list_page.stored_columns, the detail page's
related lists, record_views.related_rows): a sales rep who may not read a vault's `region` nor a deposit's
`contents` learns neither value through the column chooser, the sort, a search, a cursor or a related list whose
layout names or sorts by them, and gets a page (not an error) wherever an administrator's page shows them.

The standard CRM with a small package (SQLite, as the other web UI tests: tests/webapp.py).
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from tests.ui.conftest import signed_in_client
from tests.webapp import build_web_crm

SECRET_REGION = "Quarantined Zone Omega"
SECRET_CONTENTS = "Velvet Sapphire Crown"

VAULTS = json.dumps({
    "package": "attack5vaults", "version": "1.0.0", "depends_on": ["default_crm"], "label": "Vaults",
    "permission_sets": {
        "vault_user": {"roles": ["sales_rep"], "objects": {"vault": ["create", "read", "edit", "delete"],
                                                            "deposit": ["create", "read", "edit", "delete"]}},
        "vault_secrets": {"roles": [], "fields": {"vault.region": ["read", "edit"],
                                                  "deposit.contents": ["read", "edit"]}},
    },
    "objects": {
        "vault": {
            "label": {"en": "Vault", "zh": "保险库"}, "plural_label": {"en": "Vaults", "zh": "保险库"},
            "sharing": "public_read_write", "title_field": "code",
            "fields": {
                "code": {"type": "text", "required": True, "searchable": True, "label": {"en": "Code", "zh": "代码"}},
                "region": {"type": "text", "searchable": True, "label": {"en": "Region", "zh": "区域"}},
                "weight": {"type": "integer", "label": {"en": "Weight", "zh": "重量"}},
            },
            "layouts": {
                "list": {"columns": ["code", "region", "weight"], "sort": ["region", "code"]},
                "related": [{"object": "deposit", "via": "vault", "columns": ["label", "contents"],
                             "sort": ["contents"]}],
            },
        },
        "deposit": {
            "label": {"en": "Deposit", "zh": "存放物"}, "plural_label": {"en": "Deposits", "zh": "存放物"},
            "sharing": "public_read_write", "title_field": "label",
            "fields": {
                "label": {"type": "text", "required": True, "label": {"en": "Label", "zh": "标签"}},
                "contents": {"type": "text", "label": {"en": "Contents", "zh": "内容"}},
                "vault": {"type": "lookup", "to": "vault", "label": {"en": "Vault", "zh": "保险库"}},
            },
        },
    },
}, ensure_ascii=False)


@pytest.fixture(scope="module")
def vault_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, dict[str, int]]]:
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    folder: Path = tmp_path_factory.mktemp("attack5vaults")
    web = build_web_crm(folder, spare_users=0)
    crm = Crm.open(web.url)
    (folder / "vaults.json").write_text(VAULTS, encoding="utf-8")
    crm.install(folder / "vaults.json")
    system = crm.as_system()
    ids = {}
    for number, region in enumerate([SECRET_REGION, "Aardvark", "Zebra", None, SECRET_REGION]):
        ids[f"V-{number}"] = system.records("vault").create(
            {"code": f"V-{number}", "region": region, "weight": number}).id
    for number in range(3):
        system.records("deposit").create({"label": f"D-{number}", "contents": f"{SECRET_CONTENTS} {number}",
                                          "vault": ids["V-0"]})
    app = create_app(crm, {"SECRET_KEY": "attack5-columns-test-secret-key-0123456789"})
    yield app, ids
    crm.close()


def text_of(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def leaks(body: str) -> list[str]:
    return [secret for secret in (SECRET_REGION, SECRET_CONTENTS, "Aardvark", "Zebra", "Region", "Contents")
            if secret in body]


@pytest.mark.parametrize("query", [
    "", "?columns=code&columns=region", "?columns=region", "?columns=region&columns=weight&sort=-weight",
    "?sort=region", "?sort=-region", "?columns=code&columns=region&q=Quarantined", "?q=Omega", "?region=Zebra",
    "?columns=code&columns=weight&limit=2", "?columns=nonexistent&columns=code",
])
def test_a_rep_learns_no_hidden_vault_region_from_the_list(vault_app, query):
    app, _ = vault_app
    rep = signed_in_client(app, "wang", 151)
    response = rep.get(f"/o/vault{query}")
    assert response.status_code in (200, 400), (query, response.status_code)
    body = text_of(response)
    assert "Traceback" not in body and "sqlalchemy" not in body.lower()
    assert leaks(body) == [], (query, leaks(body))
    admin = signed_in_client(app, "admin", 151)
    assert admin.get(f"/o/vault{query}").status_code in (200, 400)


@pytest.mark.parametrize("start", ["/o/vault?limit=2&sort=-weight&columns=code", "/o/vault?limit=2&sort=code",
                                   "/o/vault?limit=2"])
def test_the_list_pages_cursors_give_the_rep_every_vault_once(vault_app, start):
    """Pages of two, followed by their cursors, list every vault once and show no hidden region; the layout's own
    sort (by region, which the rep may not read) too."""
    app, ids = vault_app
    rep = signed_in_client(app, "wang", 152)
    seen, address, pages = [], start, 0
    for _ in range(10):
        pages += 1
        response = rep.get(address)
        assert response.status_code == 200, text_of(response)[:500]
        page = response.get_data(as_text=True)
        seen += re.findall(r'<th scope="row" class="fw-normal"><a href="/r/vault/(\d+)">', page)
        following = re.search(r'rel="next" href="([^"]*)"', page)
        if following is None:
            break
        address = html.unescape(following.group(1))
    assert sorted(map(int, dict.fromkeys(seen))) == sorted(ids.values()) and len(seen) == len(set(seen))
    assert pages == 3  # five vaults in pages of two
    assert leaks(text_of(response)) == []


def test_a_related_list_sorted_by_a_hidden_field_shows_the_rep_no_contents(vault_app):
    app, ids = vault_app
    rep = signed_in_client(app, "wang", 153)
    response = rep.get(f"/r/vault/{ids['V-0']}")
    assert response.status_code == 200, text_of(response)[:300]
    body = text_of(response)
    assert leaks(body) == [], leaks(body)
    admin = signed_in_client(app, "admin", 153)
    shown = text_of(admin.get(f"/r/vault/{ids['V-0']}"))
    assert SECRET_CONTENTS in shown and SECRET_REGION in shown


def test_the_api_list_refuses_hidden_fields_and_holds_none(vault_app):
    """The REST API's list with fields= names only fields the token's user may read (api/requests.Selection)."""
    app, _ = vault_app
    rep = signed_in_client(app, "wang", 154)
    for query in ("?fields=code,region", "?fields=region", "?sort=region", "?fields=code&sort=-weight"):
        response = rep.get(f"/api/v1/objects/vault{query}")
        body = response.get_data(as_text=True)
        assert SECRET_REGION not in body and "Zebra" not in body, (query, body[:300])


def test_the_rep_reads_the_vaults_detail_page_and_its_deposits_through_their_own_pages(vault_app):
    """Outside the related list: the vault's and a deposit's own pages show the rep neither hidden value."""
    app, ids = vault_app
    rep = signed_in_client(app, "wang", 156)
    for number in (0, 1, 3):
        response = rep.get(f"/r/vault/{ids[f'V-{number}']}")
        assert response.status_code == 200 and leaks(text_of(response)) == []
    deposits = rep.get("/o/deposit?columns=label&columns=contents&columns=vault")
    assert deposits.status_code == 200 and leaks(text_of(deposits)) == []
    found = re.findall(r'<th scope="row" class="fw-normal"><a href="/r/deposit/(\d+)">', deposits.get_data(as_text=True))
    assert len(found) == 3
    for deposit in found:
        page = rep.get(f"/r/deposit/{deposit}")
        assert page.status_code == 200 and leaks(text_of(page)) == [] and "V-0" in text_of(page)
