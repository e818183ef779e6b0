"""The list page's two parts are kept rendered (crmkit/ui/list_parts.py) and never stale: the part above the results
follows the user's rights, language and saved views and carries each request's own CSRF token and address; the
results follow the records (renamed, added, deleted) and the rights. And a list page signs its user in and reads its
page on one connection (sessions.load_signed_in_user, UserContext.lend_read)."""
from __future__ import annotations

import re

from sqlalchemy import event

from tests.ui.conftest import csrf_token, post_form
from tests.webapp import PASSWORD


def chrome(html: str) -> str:
    """The kept part of a list page: from the title (after the flashed messages) to the results."""
    return html[html.index("</div>", html.index('<div id="messages"')) + 6:html.index('<div id="list-results"')]


def untokened(html: str) -> str:
    """`html` with its CSRF tokens (signed with the second they were made in) left out."""
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token"', html)


def sales_user(app, username: str, *sets: str) -> None:
    from crmkit.engine.security.users import SystemDirectory

    directory = SystemDirectory(app.extensions["crmkit"].crm)
    user = directory.create_user(username, password=PASSWORD)
    for name in ("sales_user", *sets):
        directory.grant(name, user_id=user.id)


def test_the_chrome_is_drawn_once_and_carries_each_pages_own_csrf_token_and_address(app, signed_in):
    sales_user(app, "chrome_kept")
    client = signed_in("chrome_kept")
    cache = app.extensions["crmkit_list_parts"]["list_chrome.html"]
    kept = len(cache)
    first = client.get("/o/account").get_data(as_text=True)
    assert len(cache) == kept + 1
    again = client.get("/o/account?back=-").get_data(as_text=True)  # the same view, another address
    assert len(cache) == kept + 1  # drawn once, used again
    assert '<input type="hidden" name="next" value="/o/account?" id="bulk-next">' in chrome(first)
    assert '<input type="hidden" name="next" value="/o/account?back=-" id="bulk-next">' in chrome(again)
    for html in (first, again):
        assert set(re.findall(r'name="csrf_token" value="([^"]+)"', chrome(html))) == {csrf_token(html)}
    searched = chrome(client.get("/o/account?q=%3Cb%3Etraders").get_data(as_text=True))
    assert 'name="q" value="&lt;b&gt;traders"' in searched and len(cache) == kept + 2


def test_a_user_who_loses_a_right_gets_no_kept_chrome_offering_it(app, signed_in):
    from crmkit.engine.security.users import SystemDirectory

    sales_user(app, "chrome_rights", "marketing_user")  # marketing_user: accounts read only
    client = signed_in("chrome_rights")
    assert 'id="bulk-delete"' in chrome(client.get("/o/account").get_data(as_text=True))
    assert 'id="bulk-delete"' in chrome(client.get("/o/account").get_data(as_text=True))  # kept
    directory = SystemDirectory(app.extensions["crmkit"].crm)
    directory.revoke("sales_user", user_id=directory.by_username("chrome_rights").id)
    html = chrome(client.get("/o/account").get_data(as_text=True))
    assert 'id="list-bulk"' not in html and 'id="bulk-delete"' not in html


def test_a_view_saved_meanwhile_is_in_the_kept_chrome_s_menu(app, signed_in):
    sales_user(app, "chrome_views")
    client = signed_in("chrome_views")
    before = chrome(client.get("/o/account?view=all").get_data(as_text=True))
    assert "Big customers of chrome" not in before
    assert untokened(chrome(client.get("/o/account?view=all").get_data(as_text=True))) == untokened(before)
    saved = post_form(client, "/o/account?view=all", "/o/account/views",
                      {"name": "Big customers of chrome", "shared_with": "private", "list_args": "q=big"})
    assert saved.status_code == 303
    assert "Big customers of chrome" in chrome(client.get("/o/account?view=all").get_data(as_text=True))


def test_the_kept_chrome_follows_the_users_language(app, signed_in):
    sales_user(app, "chrome_language")
    client = signed_in("chrome_language")
    english = chrome(client.get("/o/account").get_data(as_text=True))
    assert "Save as…" in english and "Delete selected" in english
    post_form(client, "/", "/language", {"language": "zh", "next": "/"})
    chinese = chrome(client.get("/o/account").get_data(as_text=True))
    assert "另存为…" in chinese and "删除所选" in chinese and "Save as…" not in chinese
    post_form(client, "/", "/language", {"language": "en", "next": "/"})
    assert untokened(chrome(client.get("/o/account").get_data(as_text=True))) == untokened(english)


def test_a_list_page_signs_in_and_reads_on_one_connection(app, signed_in):
    sales_user(app, "one_connection")
    client = signed_in("one_connection")
    engine = app.extensions["crmkit"].crm.engine
    client.get("/o/account")  # the rights are compiled and kept by the first page
    checkouts: list[object] = []
    statements: list[str] = []

    def checked_out(*args) -> None:
        checkouts.append(args)

    def executed(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    event.listen(engine.pool, "checkout", checked_out)
    event.listen(engine, "before_cursor_execute", executed)
    try:
        assert client.get("/o/account").status_code == 200
    finally:
        event.remove(engine.pool, "checkout", checked_out)
        event.remove(engine, "before_cursor_execute", executed)
    assert len(checkouts) == 1  # the sign-in check's connection, lent to the page's snapshot
    assert engine.pool.checkedout() == 0  # and given back when the request ended
    state_reads = [sql for sql in statements if "crmkit_metadata_state" in sql]
    assert len(state_reads) == 1 and "crmkit_login_session" in state_reads[0]  # read with the sign-in check


def test_a_signed_out_cookie_opens_no_page_on_the_kept_connection(app, signed_in):
    sales_user(app, "signed_out_later")
    client = signed_in("signed_out_later")
    assert client.get("/o/account").status_code == 200
    post_form(client, "/o/account", "/logout", {})
    response = client.get("/o/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert app.extensions["crmkit"].crm.engine.pool.checkedout() == 0


def results(html: str) -> str:
    """The kept results of a list page: the count, exports, table and pages."""
    start = html.index('<div id="list-results"')
    return html[start:html.index("</main>", start)]


def test_the_kept_results_follow_a_renamed_added_or_deleted_record(app, signed_in):
    sales_user(app, "results_data")
    client = signed_in("results_data")
    user = app.extensions["crmkit"].crm.as_user(_user_id(app, "results_data"))
    cache = app.extensions["crmkit_list_parts"]["list_results.html"]
    first = user.records("account").create({"name": "Aardvark Results Ltd"})
    before = results(client.get("/o/account").get_data(as_text=True))
    kept = len(cache)
    assert results(client.get("/o/account").get_data(as_text=True)) == before and len(cache) == kept  # kept
    assert "Aardvark Results Ltd" in before and "1 record" in before
    user.records("account").update(first.id, {"name": "Aardvark Renamed Ltd"}, version=first.version)
    renamed = results(client.get("/o/account").get_data(as_text=True))
    assert "Aardvark Renamed Ltd" in renamed and "Aardvark Results Ltd" not in renamed
    second = user.records("account").create({"name": "Aardvark Second Ltd"})
    added = results(client.get("/o/account").get_data(as_text=True))
    assert "Aardvark Second Ltd" in added and "2 records" in added
    user.records("account").delete(second.id)
    assert "Aardvark Second Ltd" not in results(client.get("/o/account").get_data(as_text=True))


def test_the_kept_results_follow_a_right_to_export_granted_and_revoked(app, signed_in):
    from crmkit.engine.security.users import SystemDirectory

    sales_user(app, "results_rights")
    client = signed_in("results_rights")
    directory = SystemDirectory(app.extensions["crmkit"].crm)
    user_id = _user_id(app, "results_rights")
    assert 'id="list-export"' not in results(client.get("/o/account").get_data(as_text=True))
    directory.grant("sales_management", user_id=user_id)
    assert 'id="list-export"' in results(client.get("/o/account").get_data(as_text=True))
    directory.revoke("sales_management", user_id=user_id)
    assert 'id="list-export"' not in results(client.get("/o/account").get_data(as_text=True))


def _user_id(app, username: str) -> int:
    from crmkit.engine.security.users import SystemDirectory

    return SystemDirectory(app.extensions["crmkit"].crm).by_username(username).id
