"""The engine's refusals reach a Chinese-speaking user in Chinese on every page that shows them:
a bulk edit's report, the recycle bin, a list's filter, the user administration and the kanban board.

This module's own users (msg_rep and msg_other: sales reps, msg_admin: an administrator), all
reading Chinese except msg_other, so no other test's sign-ins or languages reach them.
"""
from __future__ import annotations

from typing import Callable, Iterator

import pytest
from werkzeug.datastructures import MultiDict

from crmkit.engine import Crm
from crmkit.engine.security.users import SystemDirectory
from tests.ui.conftest import csrf_token
from tests.ui.test_kanban import JSON, move
from tests.ui.test_list_work import chosen, text_of
from tests.webapp import PASSWORD, WebCrm, record_page_users

@pytest.fixture(scope="module", autouse=True)
def users(web_crm: WebCrm) -> dict[str, int]:
    found = record_page_users(web_crm.url, ("rep",), prefix="msg_", language="zh")
    found.update(record_page_users(web_crm.url, ("other",), prefix="msg_"))
    crm = Crm.open(web_crm.url)
    try:
        directory = SystemDirectory(crm)
        admin = directory.by_username("msg_admin") or directory.create_user(
            "msg_admin", display_name="Msg Admin", password=PASSWORD, permission_sets=["admin"], language="zh")
        found["msg_admin"] = admin.id
    finally:
        crm.close()
    return found


@pytest.fixture(scope="module")
def crm(web_crm: WebCrm) -> Iterator[Crm]:
    opened = Crm.open(web_crm.url)
    yield opened
    opened.close()


def post(client, page: str, action: str, data: dict | list, **headers: str):
    token = csrf_token(client.get(page).get_data(as_text=True))
    pairs = list(data.items()) if isinstance(data, dict) else list(data)
    return client.post(action, data=MultiDict([*pairs, ("csrf_token", token)]), headers=headers)


def test_a_bulk_edit_report_tells_each_failure_in_chinese(signed_in: Callable, crm: Crm, users) -> None:
    rep = crm.as_user(users["msg_rep"]).records("account")
    fresh, stale = (rep.create({"name": name, "rating": "Cold"}) for name in ("Msg Fresh", "Msg Stale"))
    rep.update(stale.id, {"rating": "Hot"}, version=stale.version)
    theirs = crm.as_user(users["msg_other"]).records("account").create({"name": "Msg Theirs"})
    client = signed_in("msg_rep")
    report = text_of(post(client, "/o/account", "/o/account/bulk/edit",
                          [*chosen(fresh, stale, theirs), ("field", "employees"), ("employees", "many")]))
    assert "Msg Fresh 员工人数：不是有效的整数。" in report  # the field's label and the engine's sentence
    assert f"客户 {stale.id} 已被他人修改（你编辑的是第 1 版，现在是第 2 版）；请重新加载后再修改。" in report
    assert f"不存在 id 为 {theirs.id} 的客户记录。" in report  # the object's label, as for an id no record has
    assert "Not a valid" not in report and "There is no" not in report and "Msg Theirs" not in report


def test_a_restore_conflict_in_the_recycle_bin_is_told_in_chinese(signed_in: Callable, crm: Crm, users) -> None:
    admin = crm.as_user(users["msg_admin"]).records("product")
    batch = admin.delete(admin.create({"name": "Msg Widget", "product_code": "MSG-CONFLICT"}).id)
    admin.create({"name": "Msg Widget 2", "product_code": "MSG-CONFLICT"})
    refused = post(signed_in("msg_admin"), "/recycle-bin", f"/recycle-bin/{batch}/restore", {})
    assert refused.status_code == 409
    assert "无法恢复：另一条记录现在在“产品编码”中使用了 'MSG-CONFLICT'，该字段的值必须唯一。" in text_of(refused)


def test_a_bad_list_filter_is_told_in_chinese(signed_in: Callable) -> None:
    client = signed_in("msg_rep")
    unknown = client.get("/o/account?ratin=Hot")
    assert unknown.status_code == 400 and "客户没有字段“ratin”。你是否想输入“rating”？" in text_of(unknown)
    assert "客户没有字段“nosuch”。" in text_of(client.get("/o/account?sort=-nosuch"))
    value = text_of(client.get("/o/account?employees__gte=many"))
    assert "“many”不是员工人数的有效值：不是有效的整数。" in value  # the reason inside is translated too
    assert "has no field" not in value and "is not a valid value" not in value
    board = client.get("/o/opportunity/kanban?amount__between=1")
    assert board.status_code == 400
    assert "“amount__between”需要两个以逗号分隔的值，例如 amount__between=10,20。" in text_of(board)


def test_an_administrators_refusals_are_told_in_chinese(signed_in: Callable, users) -> None:
    client = signed_in("msg_admin")
    data = {"username": "wang", "display_name": "Someone", "email": "", "language": "zh", "timezone": "Asia/Shanghai",
            "role": "sales_rep", "password_mode": "generate"}
    taken = post(client, "/admin/users/new", "/admin/users/new", data)
    assert taken.status_code == 422 and "用户名 'wang' 已被占用。" in text_of(taken)
    zone = post(client, "/admin/users/new", "/admin/users/new",
                {**data, "username": "msg_new_user", "timezone": "Mars/Olympus"})
    assert "'Mars/Olympus' 不是时区名称；请使用 'UTC'、'Europe/Berlin' 或 'Asia/Shanghai' 这样的名称。" \
        in text_of(zone)
    yourself = post(client, "/admin/users", f"/admin/users/{users['msg_admin']}/deactivate", {})
    assert yourself.status_code == 409 and "你不能停用自己的账户；请联系其他管理员。" in text_of(yourself)
    assert "already taken" not in text_of(taken) + text_of(yourself)


def test_a_refused_kanban_move_is_told_in_chinese(signed_in: Callable, crm: Crm, users) -> None:
    rep = crm.as_user(users["msg_rep"])
    account = rep.records("account").create({"name": "Msg Board Account"}).id
    deal = rep.records("opportunity").create({"name": "Msg Deal", "account": account, "stage": "Proposal"})
    theirs = crm.as_user(users["msg_other"]).records("opportunity").create(
        {"name": "Msg Their Deal", "account": crm.as_user(users["msg_other"]).records("account").create(
            {"name": "Msg Their Account"}).id, "stage": "Proposal"})
    client = signed_in("msg_rep")
    lost = move(client, deal.id, "Closed Lost", deal.version, **JSON)
    assert lost.status_code == 422 and lost.get_json()["message"] == "“Msg Deal”未移动：输单原因：输单时请填写输单原因。"
    missing = move(client, theirs.id, "Negotiation", theirs.version, **JSON)
    assert missing.status_code == 404
    assert missing.get_json()["message"] == f"不存在 id 为 {theirs.id} 的商机记录。"
    nonsense = move(client, deal.id, "Nonsense", deal.version, **JSON)
    assert nonsense.status_code == 422 and nonsense.get_json()["message"].startswith("“Msg Deal”未移动：销售阶段：必须是以下选项之一：")


def test_a_bad_global_search_is_told_in_chinese(signed_in: Callable, users) -> None:
    refused = signed_in("msg_rep").get("/search", query_string={"q": " ".join(["w"] * 40)})
    assert refused.status_code == 400 and "搜索内容有 40 个词；最多" in text_of(refused)


def test_an_address_naming_no_object_is_told_in_chinese(signed_in: Callable, users) -> None:
    client = signed_in("msg_rep")
    unknown = client.get("/o/nosuch")
    assert unknown.status_code == 404 and "没有名为“nosuch”的对象。" in text_of(unknown)
    assert "There is no object" not in text_of(unknown)
    typo = client.get("/o/acount")
    assert typo.status_code == 404 and "没有名为“acount”的对象。你是否想输入“account”？" in text_of(typo)
