"""newuser14 (issue 12, outside check as an integrator): an import job's refused rows, downloaded by a Chinese user."""
from __future__ import annotations

import time
from io import BytesIO


from tests.ui.conftest import csrf_token, signed_in_client
from tests.ui.test_import_pages import mapping_form
from tests.ui.test_outside12_import_zh import _chinese, zh_import_app  # noqa: F401 (the fixture)


def test_the_refused_rows_csv_of_a_chinese_users_import_is_in_chinese(zh_import_app):  # noqa: F811
    client = signed_in_client(zh_import_app, "zhang", 14)
    data = "姓,名,电子邮箱,生日\n,娜,not-an-email,2999-01-01\n李,四,,no date\n王,五,w5@example.com,1990/3/5\n"
    token = csrf_token(client.get("/o/contact/import").get_data(as_text=True))
    uploaded = client.post("/o/contact/import", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (BytesIO(data.encode("gbk")), "联系人.csv")})
    started = client.post("/o/contact/import/start", data=mapping_form(uploaded.get_data(as_text=True)))
    job = started.headers["Location"]
    for _ in range(100):  # the job runs in a thread of the web process
        if "导入已完成" in client.get(job).get_data(as_text=True):
            break
        time.sleep(0.1)
    page = client.get(job).get_data(as_text=True)
    assert "不是有效的邮箱地址" in page  # the page is in Chinese
    rows = client.get(f"{job}/errors.csv").get_data(as_text=True).lstrip("\ufeff").splitlines()[1:]
    messages = [row.rsplit(",", 1)[-1] for row in rows]
    assert len(messages) == 5, rows
    assert [message for message in messages if not _chinese(message)] == []
