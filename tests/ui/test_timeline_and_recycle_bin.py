"""The record page's timeline and the recycle bin page (/recycle-bin), through the Flask test client."""
from __future__ import annotations

import html
import re
from typing import Callable, Iterator

import pytest
from markupsafe import escape

from crmkit.engine import Crm

from tests.ui.test_record_pages import engine, post, text_of
from tests.webapp import SCRIPT_PAYLOAD, WebCrm, record_page_users


@pytest.fixture(scope="module", autouse=True)
def reps(web_crm: WebCrm) -> dict[str, int]:
    """This module's own sales reps (rec_tl1 ... rec_tl5); rec_tl5 reads the pages in Chinese."""
    users = record_page_users(web_crm.url, ("tl1", "tl2", "tl3", "tl4", "tl5"))
    crm = engine(web_crm)
    try:
        from crmkit.engine.security.users import SystemDirectory

        SystemDirectory(crm).set_preferences(users["rec_tl5"], language="zh", timezone="Asia/Shanghai")
    finally:
        crm.close()
    return users


@pytest.fixture(scope="module")
def crm(web_crm: WebCrm) -> Iterator[Crm]:
    """The web application's database, opened once for the module's records."""
    opened = engine(web_crm)
    yield opened
    opened.close()


def account_with_history(crm: Crm, reps: dict[str, int], name: str, changes: int = 1) -> int:
    """An account of `name` with its rating changed, renamed `changes - 1` times, with one activity
    pointing at it; returns its id."""
    rep = crm.as_user(reps[name])
    account = rep.records("account").create({"name": "Timeline Traders", "rating": "Cold"})
    rep.records("activity").create({"subject": f"Kick-off call {SCRIPT_PAYLOAD}", "type": "Call",
                                    "account": account.id})
    record = rep.records("account").update(account.id, {"rating": "Hot"}, version=1)
    for n in range(changes - 1):
        record = rep.records("account").update(account.id, {"name": f"Timeline Traders {n}"},
                                               version=record.version)
    return account.id


def test_the_record_page_shows_who_changed_which_field_from_what_to_what(signed_in: Callable, crm: Crm,
                                                                         reps) -> None:
    account = account_with_history(crm, reps, "rec_tl1")
    page = signed_in("rec_tl1").get(f"/r/account/{account}")
    assert page.status_code == 200
    text = text_of(page)
    timeline = re.sub(r" :", ":", text[text.rindex("Timeline"):])
    assert "Rating: from Cold to Hot" in timeline and "Rec tl1" in timeline
    assert timeline.index("Rating: from Cold to Hot") < timeline.index("Kick-off call") \
        < timeline.index("Created the record")
    body = page.get_data(as_text=True)
    assert SCRIPT_PAYLOAD not in body and str(escape(SCRIPT_PAYLOAD)) in body
    assert re.search(r'<a href="/r/activity/\d+">Kick-off call', body)


def test_an_owner_change_names_both_owners(signed_in: Callable, web_crm: WebCrm, crm: Crm, reps) -> None:
    account = account_with_history(crm, reps, "rec_tl1")
    admin = crm.as_user(web_crm.users["admin"])
    admin.records("account").update(account, {"owner_id": reps["rec_tl2"]},
                                    version=admin.records("account").get(account).version)
    text = re.sub(r" :", ":", text_of(signed_in("admin").get(f"/r/account/{account}")))
    assert "Owner: from Rec tl1 to Rec tl2 " in text[text.rindex("Timeline"):]


def test_the_timeline_speaks_the_users_language_and_time_zone(signed_in: Callable, crm: Crm, reps) -> None:
    account = account_with_history(crm, reps, "rec_tl5")
    page = signed_in("rec_tl5").get(f"/r/account/{account}")
    text = text_of(page)
    assert "时间线" in text and "评级" in text and re.search(r"评级\s*： ?从 \S+ 改为 \S+", text) and "创建了记录" in text
    assert re.search(r'<time datetime="[^"]+\+08:00">', page.get_data(as_text=True))


def test_older_entries_come_a_page_at_a_time_through_htmx(signed_in: Callable, crm: Crm, reps) -> None:
    account = account_with_history(crm, reps, "rec_tl2", changes=24)
    client = signed_in("rec_tl2")
    body = client.get(f"/r/account/{account}").get_data(as_text=True)
    assert body.count('class="timeline-entry"') == 20
    older = html.unescape(re.search(r'hx-get="([^"]+/timeline\?after=[^"]+)"', body)[1])
    partial = client.get(older, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)
    rest = partial.get_data(as_text=True)
    assert rest.count('class="timeline-entry"') == 6 and "Created the record" in rest and "hx-get" not in rest
    assert "data-timeline-first" in rest
    without_script = client.get(older)
    assert without_script.status_code == 200 and "<html" in without_script.get_data(as_text=True)
    damaged = client.get(f"/r/account/{account}/timeline?after=garbage")
    assert damaged.status_code == 400 and "damaged" in text_of(damaged)


def test_another_reps_record_has_no_timeline_to_read(signed_in: Callable, crm: Crm, reps) -> None:
    account = account_with_history(crm, reps, "rec_tl1")
    client = signed_in("rec_tl2")
    assert client.get(f"/r/account/{account}/timeline").status_code == 404


def delete_account(crm: Crm, reps: dict[str, int], name: str, title: str) -> tuple[int, str]:
    """An account of `name` that they deleted: its id and bin batch."""
    rep = crm.as_user(reps[name])
    account = rep.records("account").create({"name": title})
    return account.id, rep.records("account").delete(account.id)


def test_the_bin_lists_only_the_reps_own_deletions_and_restores_with_a_link(signed_in: Callable, crm: Crm,
                                                                            reps) -> None:
    mine, batch = delete_account(crm, reps, "rec_tl3", "Bin Mine Ltd")
    delete_account(crm, reps, "rec_tl4", "Bin Theirs Ltd")
    client = signed_in("rec_tl3")
    assert 'href="/recycle-bin"' in client.get("/").get_data(as_text=True)
    page = client.get("/recycle-bin")
    assert page.status_code == 200
    text = text_of(page)
    assert "Bin Mine Ltd" in text and "Rec tl3" in text and "Bin Theirs Ltd" not in text
    assert client.get("/recycle-bin?object=contact").status_code == 200
    assert "Bin Mine Ltd" not in text_of(client.get("/recycle-bin?object=contact"))

    assert client.post(f"/recycle-bin/{batch}/restore", data={}).status_code == 400  # no CSRF token
    restored = post(client, "/recycle-bin", f"/recycle-bin/{batch}/restore", {})
    assert restored.status_code == 303
    after = client.get(restored.headers["Location"])
    assert "“Bin Mine Ltd” was restored." in text_of(after)
    assert f'href="/r/account/{mine}"' in after.get_data(as_text=True)
    assert client.get(f"/r/account/{mine}").status_code == 200
    again = post(client, "/recycle-bin", f"/recycle-bin/{batch}/restore", {})
    assert again.status_code == 404 and "Traceback" not in again.get_data(as_text=True)


def test_a_rep_cannot_restore_or_purge_another_reps_deletion(signed_in: Callable, crm: Crm, reps) -> None:
    _, theirs = delete_account(crm, reps, "rec_tl4", "Not Yours Ltd")
    client = signed_in("rec_tl3")
    assert post(client, "/recycle-bin", f"/recycle-bin/{theirs}/restore", {}).status_code == 404
    assert client.get(f"/recycle-bin/{theirs}/purge").status_code == 404
    assert post(client, "/recycle-bin", f"/recycle-bin/{theirs}/purge", {}).status_code == 404


def test_delete_permanently_asks_first(signed_in: Callable, crm: Crm, reps) -> None:
    _, batch = delete_account(crm, reps, "rec_tl3", "Purge Me Ltd")
    client = signed_in("rec_tl3")
    assert f'href="/recycle-bin/{batch}/purge"' in client.get("/recycle-bin").get_data(as_text=True)
    confirm = client.get(f"/recycle-bin/{batch}/purge")
    assert confirm.status_code == 200 and "cannot be undone" in text_of(confirm)
    purged = post(client, f"/recycle-bin/{batch}/purge", f"/recycle-bin/{batch}/purge", {})
    assert purged.status_code == 303
    assert "Purge Me Ltd” was deleted permanently" in text_of(client.get(purged.headers["Location"]))
    assert client.get(f"/recycle-bin/{batch}/purge").status_code == 404


def test_a_restore_the_engine_refuses_is_its_sentence_with_409(signed_in: Callable, web_crm: WebCrm, crm) -> None:
    admin = crm.as_user(web_crm.users["admin"])
    product = admin.records("product").create({"name": "Bin Widget", "product_code": "BIN-CONFLICT"})
    batch = admin.records("product").delete(product.id)
    admin.records("product").create({"name": "Bin Widget 2", "product_code": "BIN-CONFLICT"})
    client = signed_in("admin")
    refused = post(client, "/recycle-bin", f"/recycle-bin/{batch}/restore", {})
    assert refused.status_code == 409
    assert "another record now uses 'BIN-CONFLICT'" in text_of(refused)
    assert "Traceback" not in refused.get_data(as_text=True)


def test_the_bin_in_chinese(signed_in: Callable, crm: Crm, reps) -> None:
    delete_account(crm, reps, "rec_tl5", "回收站测试")
    text = text_of(signed_in("rec_tl5").get("/recycle-bin"))
    assert "回收站" in text and "回收站测试" in text and "还原" in text

