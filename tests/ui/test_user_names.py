"""Users named in the web application: owners on list and record pages, and the owner autocomplete."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import event


@pytest.fixture
def statements(app):
    """The SQL the application runs while the test runs."""
    engine = app.extensions["crmkit"].crm.engine
    seen: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_the_list_names_only_the_owners_of_its_page_and_reads_no_whole_user_table(signed_in, statements):
    html = signed_in("wang").get("/o/account").get_data(as_text=True)
    assert "<td>王伟</td>" in html
    user_reads = [sql for sql in statements if "FROM crmkit_user" in sql and "crmkit_login_session" not in sql]
    assert user_reads and all("WHERE" in sql for sql in user_reads), user_reads
    assert "李娜" not in html  # li owns nothing wang can see, and the owner filter lists nobody unasked


def test_the_owner_filter_is_an_autocomplete_holding_only_the_chosen_owner(signed_in, web_crm):
    li = web_crm.users["li"]
    html = signed_in("admin").get(f"/o/account?owner_id__eq={li}").get_data(as_text=True)
    assert 'data-lookup-url="/users/suggest"' in html
    assert f'<option value="{li}" selected>李娜</option>' in html
    assert "Rep 3" not in html  # no select of every user
    assert "tom-select.complete.min.js" in html


def test_users_are_suggested_by_the_start_of_their_name_or_username(signed_in, web_crm):
    client = signed_in("wang")
    found = json.loads(client.get("/users/suggest?q=rep").get_data(as_text=True))
    texts = [item["text"] for item in found]
    assert texts[0] == "Rep 0" and all(text.startswith("Rep ") for text in texts)  # other tests deactivate reps
    assert json.loads(client.get("/users/suggest?q=李").get_data(as_text=True)) == [
        {"value": str(web_crm.users["li"]), "text": "李娜"}]
    assert json.loads(client.get("/users/suggest?q=%25").get_data(as_text=True)) == []
    assert len(json.loads(client.get("/users/suggest").get_data(as_text=True))) <= 20


def test_an_inactive_user_is_still_named_and_suggested_as_inactive(app, signed_in, web_crm):
    from crmkit.engine.security.users import SystemDirectory

    directory = SystemDirectory(app.extensions["crmkit"].crm)
    gone = directory.create_user("gone.user", display_name="Gone Person")
    directory.deactivate(gone.id)
    found = json.loads(signed_in("wang").get("/users/suggest?q=gone").get_data(as_text=True))
    assert found == [{"value": str(gone.id), "text": "Gone Person (inactive)"}]


def test_suggestions_need_a_signed_in_user(client):
    response = client.get("/users/suggest?q=li")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_the_record_page_names_an_owner_other_than_the_viewer(app, signed_in):
    crm = app.extensions["crmkit"].crm
    [account] = crm.as_system().records("account").query({"name": "Li Hidden Traders"}, limit=1).records
    html = signed_in("admin").get(f"/r/account/{account.id}").get_data(as_text=True)
    assert "李娜" in html


@pytest.mark.parametrize("value", ["²", "abc", "9" * 40, "-1", "%00"])
def test_an_owner_filter_value_that_is_no_user_id_names_nobody_and_breaks_nothing(signed_in, value):
    response = signed_in("wang").get(f"/o/account?owner_id__eq={value}")
    assert response.status_code in (200, 400)


def test_the_record_page_names_an_owner_once_and_a_renamed_owner_anew(app, signed_in, statements):
    """The detail page's owner name is kept like the list's (list_page.user_titles): not read again while the
    rights version stays, and read anew after a rename (which advances it)."""
    from crmkit.engine.security.users import SystemDirectory

    crm = app.extensions["crmkit"].crm
    directory = SystemDirectory(crm)
    owner = directory.create_user("detail.owner", display_name="Owner Before")
    record = crm.as_system().records("account").create({"name": "Named Owner Traders", "owner_id": owner.id})
    client = signed_in("admin")
    assert "Owner Before" in client.get(f"/r/account/{record.id}").get_data(as_text=True)
    statements.clear()
    assert "Owner Before" in client.get(f"/r/account/{record.id}").get_data(as_text=True)
    assert not [sql for sql in statements if "crmkit_user.display_name" in sql and "crmkit_user.id IN" in sql]
    directory.set_preferences(owner.id, display_name="Owner After")
    html = client.get(f"/r/account/{record.id}").get_data(as_text=True)
    assert "Owner After" in html and "Owner Before" not in html
