"""What the list page keeps across requests is never stale: the filter panel (per rights, language and query
string: list_page.page_filters) and the owners' names (per rights version: list_page.user_titles)."""
from __future__ import annotations

from tests.ui.conftest import post_form
from tests.webapp import PASSWORD


def filter_panel(html: str) -> str:
    start = html.index('<details class="mb-3 list-filters"')
    return html[start:html.index("</details>", start)]


def test_the_kept_filter_panel_is_drawn_once_and_holds_the_values_asked_for(signed_in):
    import crmkit.ui.list_page as list_page

    client = signed_in("rep5")
    first = filter_panel(client.get("/o/account").get_data(as_text=True))
    kept = len(list_page._KEPT_FILTERS)
    assert filter_panel(client.get("/o/account").get_data(as_text=True)) == first
    assert len(list_page._KEPT_FILTERS) == kept  # the second page drew nothing new
    typed = filter_panel(client.get("/o/account?name__contains=%3Cb%3E").get_data(as_text=True))
    assert 'name="name__contains" value="&lt;b&gt;"' in typed and 'value="&lt;b&gt;"' not in first


def test_a_user_who_loses_the_right_to_read_gets_no_kept_filter_panel(app, signed_in):
    from crmkit.engine.security.users import SystemDirectory

    directory = SystemDirectory(app.extensions["crmkit"].crm)
    user = directory.create_user("filtering", password=PASSWORD)
    directory.grant("sales_user", user_id=user.id)
    client = signed_in("filtering")
    assert 'name="name__contains"' in filter_panel(client.get("/o/account").get_data(as_text=True))
    directory.revoke("sales_user", user_id=user.id)
    refused = client.get("/o/account")
    assert refused.status_code == 403 and 'name="name__contains"' not in refused.get_data(as_text=True)
    directory.grant("sales_user", user_id=user.id)
    assert 'name="name__contains"' in filter_panel(client.get("/o/account").get_data(as_text=True))


def test_the_kept_filter_panel_follows_the_users_language(signed_in):
    client = signed_in("rep6")
    english = filter_panel(client.get("/o/account").get_data(as_text=True))
    assert ">Account Name<" in english and ">Any<" in english
    post_form(client, "/", "/language", {"language": "zh", "next": "/"})
    chinese = filter_panel(client.get("/o/account").get_data(as_text=True))
    assert ">客户名称<" in chinese and ">全部<" in chinese and ">Account Name<" not in chinese and ">Any<" not in chinese
    post_form(client, "/", "/language", {"language": "en", "next": "/"})
    assert filter_panel(client.get("/o/account").get_data(as_text=True)) == english


def test_a_renamed_owner_is_named_anew_in_the_list(app, signed_in):
    from crmkit.engine.security.users import SystemDirectory

    crm = app.extensions["crmkit"].crm
    directory = SystemDirectory(crm)
    user = directory.create_user("naming", display_name="Before Rename", password=PASSWORD)
    directory.grant("sales_user", user_id=user.id)
    crm.as_user(user.id).records("account").create({"name": "Renamed Owner Ltd"})
    client = signed_in("naming")
    assert ">Before Rename<" in client.get("/o/account").get_data(as_text=True)
    assert ">Before Rename<" in client.get("/o/account").get_data(as_text=True)  # kept...
    directory.set_preferences(user.id, display_name="After Rename")
    html = client.get("/o/account").get_data(as_text=True)
    assert ">After Rename<" in html and "Before Rename" not in html  # ...and read again once it changed
