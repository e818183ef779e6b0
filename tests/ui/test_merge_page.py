"""Merging duplicates from a record's page: find them, compare the values, keep one per field, merge."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from tests.ui.conftest import csrf_token, signed_in_client
from tests.webapp import build_web_crm


@pytest.fixture(scope="module")
def merge_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    folder: Path = tmp_path_factory.mktemp("merges")
    web = build_web_crm(folder, spare_users=0)
    crm = Crm.open(web.url)
    app = create_app(crm, {"SECRET_KEY": "merge-page-test-secret-key-0123456789"})
    yield app
    crm.close()


def test_a_record_is_merged_with_its_duplicate_keeping_the_chosen_values(merge_app):
    crm = merge_app.extensions["crmkit"].crm
    contacts = crm.as_system().records("contact")
    keep = contacts.create({"last_name": "Merge", "first_name": "Keep", "email": "merge.me@example.cn"})
    other = contacts.create({"last_name": "Merge", "first_name": "Other", "email": "MERGE.me@example.cn",
                             "title": "Buyer"})
    admin = signed_in_client(merge_app, "admin", 13)
    page = admin.get(f"/r/contact/{keep.id}").get_data(as_text=True)
    assert f'href="/r/contact/{keep.id}/merge"' in page
    found = admin.get(f"/r/contact/{keep.id}/merge?rule=email").get_data(as_text=True)
    assert f'name="with" value="{other.id}"' in found
    compare = admin.get(f"/r/contact/{keep.id}/merge?rule=email&with={other.id}").get_data(as_text=True)
    assert f'name="keep-first_name" value="{other.id}"' in compare and "keep-last_name" not in compare
    response = admin.post(f"/r/contact/{keep.id}/merge", data={
        "csrf_token": csrf_token(compare), "with": str(other.id), "keep-first_name": str(other.id)})
    assert response.status_code == 303 and response.headers["Location"] == f"/r/contact/{keep.id}"
    kept = contacts.get(keep.id)
    assert (kept["first_name"], kept["title"]) == ("Other", "Buyer")
    assert admin.get(f"/r/contact/{other.id}").status_code == 404


def test_a_refused_merge_is_a_sentence_on_the_page(merge_app):
    crm = merge_app.extensions["crmkit"].crm
    keep = crm.as_system().records("contact").create({"last_name": "Alone", "email": "alone@example.cn"})
    admin = signed_in_client(merge_app, "admin", 13)
    page = admin.get(f"/r/contact/{keep.id}/merge").get_data(as_text=True)
    assert 'id="merge-none"' in page
    response = admin.post(f"/r/contact/{keep.id}/merge", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 400
    assert re.search(r'id="merge-problem">Choose one record to keep', response.get_data(as_text=True))
