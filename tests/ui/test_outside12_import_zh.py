"""A Chinese user checking an import in the browser reads every row's problem in Chinese (outside12)."""
from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from tests.ui.conftest import csrf_token, signed_in_client
from tests.ui.test_import_pages import mapping_form
from tests.webapp import build_web_crm


@pytest.fixture(scope="module")
def zh_import_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory
    from crmkit.ui import create_app
    from tests.webapp import PASSWORD

    folder: Path = tmp_path_factory.mktemp("imports")
    web = build_web_crm(folder, spare_users=0)
    crm = Crm.open(web.url)
    SystemDirectory(crm).create_user("zhang", password=PASSWORD, display_name="张", permission_sets=["admin"],
                                     language="zh-CN")
    app = create_app(crm, {"SECRET_KEY": "outside12-import-zh-secret-key-0123456789",
                           "CRMKIT_IMPORT_FOLDER": str(folder / "uploads")})
    yield app
    crm.close()


def _chinese(text: str) -> bool:
    return any("\u4e00" <= character <= "\u9fff" for character in text)


def test_a_chinese_users_import_check_words_every_rows_problem_in_chinese(zh_import_app):
    client = signed_in_client(zh_import_app, "zhang", 13)
    data = "姓,名,电子邮箱,生日\n,娜,not-an-email,2999-01-01\n李,四,,no date\n".encode("gbk")
    token = csrf_token(client.get("/o/contact/import").get_data(as_text=True))
    uploaded = client.post("/o/contact/import", data={"csrf_token": token, "file": (BytesIO(data), "联系人.csv")},
                           content_type="multipart/form-data")
    form = mapping_form(uploaded.get_data(as_text=True))
    html = client.post("/o/contact/import/check", data=form).get_data(as_text=True)
    problems = re.findall(r"<td>\d+</td><td>[^<]*</td><td>([^<]*)</td>", html)
    assert len(problems) >= 3, html
    assert [problem for problem in problems if not _chinese(problem)] == []
