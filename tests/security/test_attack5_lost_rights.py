"""Attack on the detail and list pages that reuse the state read with the sign-in check (UserContext.lend_read: the
rights check before the snapshot and the snapshot both start from it; commit 6ff02bf) and on the detail page's kept
user names: a right lost between two requests of the same signed-in browser (a permission set revoked, a share
removed, the user deactivated, moved to another role) is gone on the very next request, on the list, the detail
page, the related lists and the search.

The standard CRM with tests/security/test_attack5_ui_columns.py's vaults (SQLite, as the other web UI tests).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from tests.security.test_attack5_ui_columns import SECRET_CONTENTS, SECRET_REGION, VAULTS, text_of
from tests.ui.conftest import signed_in_client
from tests.webapp import build_web_crm


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory
    from crmkit.ui import create_app

    web = build_web_crm(tmp_path, spare_users=0)
    crm = Crm.open(web.url)
    (tmp_path / "vaults.json").write_text(VAULTS, encoding="utf-8")
    crm.install(tmp_path / "vaults.json")
    system = crm.as_system()
    vault = system.records("vault").create({"code": "V-1", "region": SECRET_REGION}).id
    deposit = system.records("deposit").create({"label": "D-1", "contents": SECRET_CONTENTS, "vault": vault}).id
    account = crm.as_user(web.users["wang"]).records("account").create({"name": "Wang Shared Holdings"}).id
    app = create_app(crm, {"SECRET_KEY": "attack5-lost-rights-secret-key-0123456789"})
    yield {"app": app, "crm": crm, "users": web.users, "vault": vault, "deposit": deposit, "account": account,
           "directory": SystemDirectory(crm)}
    crm.close()


def test_a_revoked_field_permission_set_is_gone_on_the_next_request(world):
    directory, li = world["directory"], world["users"]["li"]
    directory.grant("vault_secrets", user_id=li)
    client = signed_in_client(world["app"], "li", 161)
    pages = ["/o/vault?sort=code&columns=code&columns=region", f"/r/deposit/{world['deposit']}",
             "/o/deposit?columns=label&columns=contents", "/search?q=Quarantined"]
    before = [text_of(client.get(page)) for page in pages]
    assert SECRET_REGION in before[0] and SECRET_CONTENTS in before[1] and SECRET_CONTENTS in before[2]
    directory.revoke("vault_secrets", user_id=li)
    for page in pages:
        response = client.get(page)
        assert response.status_code in (200, 400), page
        body = text_of(response)
        assert SECRET_REGION not in body and SECRET_CONTENTS not in body, page
    api = client.get(f"/api/v1/objects/vault/{world['vault']}").get_data(as_text=True)
    assert SECRET_REGION not in api


def test_a_removed_share_is_gone_on_the_next_request(world):
    crm, users = world["crm"], world["users"]
    sharing = crm.as_user(users["wang"]).sharing
    share = sharing.share("account", world["account"], user_id=users["li"])
    client = signed_in_client(world["app"], "li", 162)
    assert "Wang Shared Holdings" in text_of(client.get(f"/r/account/{world['account']}"))
    assert "Wang Shared Holdings" in text_of(client.get("/o/account"))
    sharing.unshare(share)
    assert client.get(f"/r/account/{world['account']}").status_code == 404
    assert "Wang Shared Holdings" not in text_of(client.get("/o/account"))
    assert "Wang Shared Holdings" not in text_of(client.get("/search?q=Shared"))
    assert "Wang Shared Holdings" not in text_of(client.get("/"))  # recent items leave it out


def test_a_deactivated_user_is_signed_out_on_the_next_request(world):
    client = signed_in_client(world["app"], "li", 163)
    assert client.get(f"/r/vault/{world['vault']}").status_code in (200, 400)
    world["directory"].deactivate(world["users"]["li"])
    for page in (f"/r/vault/{world['vault']}", "/o/vault", f"/r/deposit/{world['deposit']}"):
        response = client.get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"], page
    world["directory"].activate(world["users"]["li"])
    assert client.get("/o/vault").status_code == 302  # the login session ended with the deactivation


def test_a_role_change_takes_the_objects_of_the_old_role_on_the_next_request(world):
    client = signed_in_client(world["app"], "li", 164)
    assert client.get(f"/r/deposit/{world['deposit']}").status_code == 200
    world["directory"].set_role(world["users"]["li"], None)
    assert client.get(f"/r/deposit/{world['deposit']}").status_code in (403, 404)
    assert client.get("/o/deposit").status_code in (403, 404)


def test_a_renamed_user_is_shown_by_the_new_name_on_the_next_detail_page(world):
    """The detail page's user names are kept across requests (list_page.user_titles) under the rights version:
    a rename advances it, so the next page shows the new name, and the old one nowhere."""
    users, directory = world["users"], world["directory"]
    client = signed_in_client(world["app"], "li", 165)
    share = world["crm"].as_user(users["wang"]).sharing.share("account", world["account"], user_id=users["li"])
    assert share
    assert "王伟" in text_of(client.get(f"/r/account/{world['account']}"))
    directory.set_preferences(users["wang"], display_name="Wang Renamed Seventeen")
    body = text_of(client.get(f"/r/account/{world['account']}"))
    assert "Wang Renamed Seventeen" in body and "王伟" not in body
    listed = text_of(client.get("/o/account"))
    assert "Wang Renamed Seventeen" in listed and "王伟" not in listed
    assert re.search(r"Wang Renamed Seventeen", text_of(client.get(f"/r/account/{world['account']}")))
