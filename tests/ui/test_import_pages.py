"""Importing from the browser: upload, the guessed mapping, a dry run's errors, the job's live progress."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from tests.ui.conftest import csrf_token, signed_in_client
from tests.webapp import build_web_crm

GBK_FILE = "姓,名,电子邮箱,备注\n王,伟,wang.wei@example.cn,x\n,娜,not-an-email,y\n".encode("gbk")


@pytest.fixture(scope="module")
def import_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    folder: Path = tmp_path_factory.mktemp("imports")
    web = build_web_crm(folder, spare_users=0)
    crm = Crm.open(web.url)
    app = create_app(crm, {"SECRET_KEY": "import-pages-test-secret-key-0123456789",
                           "CRMKIT_IMPORT_FOLDER": str(folder / "uploads")})
    yield app
    crm.close()


@pytest.fixture
def admin(import_app: Flask):
    return signed_in_client(import_app, "admin", 12)


def upload(client, data: bytes = GBK_FILE, name: str = "联系人.csv"):
    from io import BytesIO

    token = csrf_token(client.get("/o/contact/import").get_data(as_text=True))
    return client.post("/o/contact/import", data={"csrf_token": token, "file": (BytesIO(data), name)},
                       content_type="multipart/form-data")


def mapping_form(html: str) -> dict[str, str]:
    """The mapping screen's fields as the browser would send them (selected options, hidden and text inputs)."""
    form = {name: value for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}
    for name, options in re.findall(r'<select[^>]* name="([^"]+)">(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        form[name] = chosen[1] if chosen else ""
    form["region"] = "CN"
    return form


def test_an_uploaded_gbk_file_gets_a_mapping_guessed_from_its_chinese_headers(admin):
    response = upload(admin)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "联系人.csv" in html
    form = mapping_form(html)
    assert (form["map-0"], form["map-1"], form["map-2"], form["map-3"]) == ("last_name", "first_name", "email", "")
    assert "wang.wei@example.cn" in html  # the first rows are shown


def test_checking_every_row_shows_the_errors_with_row_and_column_and_writes_nothing(admin, import_app):
    form = mapping_form(upload(admin).get_data(as_text=True))
    html = admin.post("/o/contact/import/check", data=form).get_data(as_text=True)
    assert "nothing was written: 1 would be created" in html
    assert re.search(r"<td>3</td><td>姓</td><td>Is required.</td>", html)
    assert import_app.extensions["crmkit"].crm.as_system().records("contact").count(
        {"email": "wang.wei@example.cn"}).value == 0


def test_an_import_runs_in_the_background_and_its_page_shows_progress_and_the_refused_rows(admin):
    form = mapping_form(upload(admin).get_data(as_text=True))
    response = admin.post("/o/contact/import/start", data=form)
    assert response.status_code == 303
    page = response.headers["Location"]
    for _ in range(100):  # the job runs in a thread of the test's process
        html = admin.get(page, headers={"HX-Request": "true"}).get_data(as_text=True)
        if 'id="import-done"' in html:
            break
        time.sleep(0.1)
    assert "2 of 2 rows: 1 created, 0 updated, 0 skipped, 1 refused." in html
    assert "hx-trigger" not in html  # a finished import stops polling
    assert '<progress id="import-progress-bar"' in html and 'max="2" value="2"' in html
    assert "style=" not in html  # the CSP (style-src 'self') would block an inline width
    report = admin.get(f"{page}/errors.csv").get_data(as_text=True)
    assert "3,姓,last_name,Is required." in report  # as the job page says it (ui/errors.py sentence)


def test_a_file_that_is_no_table_is_refused_with_a_sentence(admin):
    response = upload(admin, b"\x00\x01", "people.pdf")
    assert response.status_code == 400 and "Choose a file ending in .csv" in response.get_data(as_text=True)


def test_a_user_without_the_import_permission_is_refused_and_not_offered_the_page(import_app):
    wang = signed_in_client(import_app, "wang", 12)
    assert wang.get("/o/contact/import").status_code == 403
    assert 'id="list-import"' not in wang.get("/o/contact").get_data(as_text=True)


def test_an_upload_token_names_a_file_only_for_the_user_who_uploaded_it(admin, import_app):
    form = mapping_form(upload(admin).get_data(as_text=True))
    rep = signed_in_client(import_app, "wang", 12)
    token = csrf_token(rep.get("/o/contact/import").get_data(as_text=True))
    for action in ("check", "start"):
        refused = rep.post(f"/o/contact/import/{action}", data={**form, "csrf_token": token})
        assert refused.status_code == 400, action
    assert admin.post("/o/contact/import/check", data=form).status_code == 200  # the uploader still can


def test_no_spelling_of_a_path_reaches_another_users_upload_or_a_file_outside_ones_own_folder(admin, import_app):
    form = mapping_form(upload(admin).get_data(as_text=True))
    folder = Path(import_app.config["CRMKIT_IMPORT_FOLDER"])
    kept = next(folder.glob(f"user-*/{form['upload']}"))  # the uploader's own folder
    (folder / form["upload"]).write_bytes(kept.read_bytes())  # a file left in the shared folder (an older upload)
    rep = signed_in_client(import_app, "wang", 12)
    token = csrf_token(rep.get("/o/contact/import").get_data(as_text=True))
    spellings = (form["upload"], f"../{kept.parent.name}/{form['upload']}", f"{kept.parent.name}/{form['upload']}",
                 f"../{form['upload']}", str(kept), f"{form['upload']}\n", form["upload"].upper(), "", "..")
    for spelling in spellings:
        for action in ("check", "start"):
            refused = rep.post(f"/o/contact/import/{action}", data={**form, "upload": spelling, "csrf_token": token})
            assert refused.status_code == 400, (action, spelling)
    assert kept.is_file() and admin.post("/o/contact/import/check", data=form).status_code == 200


def test_checking_a_row_shows_every_fault_it_has_not_only_the_first(admin):
    data = "姓,名,电子邮箱,Birthdate\n,娜,not-an-email,2999-01-01\n".encode("gbk")
    form = mapping_form(upload(admin, data).get_data(as_text=True))
    form["map-3"] = "birthdate"
    html = admin.post("/o/contact/import/check", data=form).get_data(as_text=True)
    assert re.search(r"<td>2</td><td>姓</td><td>Is required.</td>", html)
    assert re.search(r"<td>2</td><td>电子邮箱</td><td>Not a valid email address.</td>", html)
    assert re.search(r"<td>2</td><td>Birthdate</td><td>The birthdate cannot be in the future.</td>", html), html


def test_an_upload_wider_than_an_import_reads_is_refused_with_a_sentence(admin):
    from crmkit.engine.transfer.files import MAX_COLUMNS

    data = ("Last Name," + ",".join(f"c{i}" for i in range(MAX_COLUMNS)) + "\nSmith\n").encode()
    response = upload(admin, data, "wide.csv")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and f"more than the {MAX_COLUMNS:,} an import reads" in html
