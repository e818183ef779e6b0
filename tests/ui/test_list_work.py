"""The list page's saved views, column chooser, bulk edit and bulk delete, and recent items.

Reps of this module's own (rec_lw1 ... rec_lw4: sales reps who see only their own accounts), so
no other test's records or sign-ins reach them.
"""
from __future__ import annotations

import html
import re
from typing import Callable

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from tests.ui.conftest import csrf_token
from tests.webapp import WebCrm, record_page_users


@pytest.fixture(scope="module", autouse=True)
def reps(web_crm: WebCrm) -> dict[str, int]:
    return record_page_users(web_crm.url, ("lw1", "lw2", "lw3", "lw4"))


@pytest.fixture
def engine(web_crm: WebCrm):
    from crmkit.engine import Crm

    crm = Crm.open(web_crm.url)
    yield crm
    crm.close()


def accounts(engine, reps, rep: str, *names: str) -> list:
    records = engine.as_user(reps[f"rec_{rep}"]).records("account")
    return [records.create({"name": name, "rating": "Cold"}) for name in names]


def post(client: FlaskClient, page: str, action: str, data: dict | list):
    token = csrf_token(client.get(page).get_data(as_text=True))
    pairs = list(data.items()) if isinstance(data, dict) else list(data)
    return client.post(action, data=MultiDict([*pairs, ("csrf_token", token)]))


def text_of(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def chosen(*records) -> list[tuple[str, str]]:
    return [("record", f"{record.id}:{record.version}") for record in records]


# ---- selection and bulk edit -------------------------------------------------------------


def test_each_row_has_a_labelled_box_carrying_its_version_and_the_page_a_select_all(signed_in: Callable, engine,
                                                                                      reps) -> None:
    first, = accounts(engine, reps, "lw1", "Boxed Lantern Co")
    page = signed_in("rec_lw1").get("/o/account").get_data(as_text=True)
    assert f'value="{first.id}:{first.version}"' in page and 'form="list-bulk"' in page
    assert 'aria-label="Select Boxed Lantern Co"' in page
    assert 'id="list-select-all" aria-label="Select all records on this page"' in page
    assert 'id="bulk-count"' in page and "Edit selected" in page and "Delete selected" in page


def test_bulk_edit_sets_one_field_on_three_records_and_returns_to_the_list(signed_in: Callable, engine,
                                                                           reps) -> None:
    three = accounts(engine, reps, "lw1", "Edit One", "Edit Two", "Edit Three")
    client = signed_in("rec_lw1")
    form = client.get("/o/account/bulk/edit", query_string=[*chosen(*three), ("field", "rating"),
                                                            ("next", "/o/account?q=Edit")])
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert 'id="bulk-rating"' in page and "Apply to 3 records" in page and "Edit Two" in page
    saved = post(client, "/o/account", "/o/account/bulk/edit",
                 [*chosen(*three), ("field", "rating"), ("rating", "Hot"), ("next", "/o/account?q=Edit")])
    assert saved.status_code == 303 and saved.headers["Location"] == "/o/account?q=Edit"
    assert "3 records were updated." in text_of(client.get("/o/account?q=Edit"))
    system = engine.as_system().records("account")
    assert [system.get(record.id)["rating"] for record in three] == ["Hot", "Hot", "Hot"]


def test_a_partial_bulk_edit_reports_each_failure_and_reveals_nothing_of_records_the_rep_cannot_see(
        signed_in: Callable, engine, reps) -> None:
    fresh, stale = accounts(engine, reps, "lw2", "Partial Fresh", "Partial Stale")
    theirs, = accounts(engine, reps, "lw3", "Someone Elses Secret Ltd")
    engine.as_user(reps["rec_lw2"]).records("account").update(stale.id, {"rating": "Hot"}, version=stale.version)
    client = signed_in("rec_lw2")
    response = post(client, "/o/account", "/o/account/bulk/edit",
                    [*chosen(fresh, stale, theirs), ("field", "rating"), ("rating", "Warm")])
    assert response.status_code == 200
    text = text_of(response)
    assert "1 updated, 2 not." in text and "Partial Fresh" in text
    assert "was changed by someone else" in text
    assert f"There is no account record with id {theirs.id}." in text
    assert "Someone Elses Secret" not in response.get_data(as_text=True)
    assert engine.as_system().records("account").get(theirs.id)["rating"] == "Cold"


def test_a_value_every_record_refuses_is_shown_beside_the_value_box_with_what_was_typed(
        signed_in: Callable, engine, reps) -> None:
    one, two = accounts(engine, reps, "lw2", "Invalid One", "Invalid Two")
    response = post(signed_in("rec_lw2"), "/o/account", "/o/account/bulk/edit",
                    [*chosen(one, two), ("field", "employees"), ("employees", "many")])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    errors = re.search(r'<div id="bulk-employees-errors"[^>]*>(.*?)</div>\s*</div>', page, re.S)
    assert errors and re.sub(r"<[^>]+>", "", errors[1]).strip(), "the error is not beside the value box"
    assert re.search(r'<input[^>]*id="bulk-employees"[^>]*value="many"[^>]*aria-invalid="true"', page)
    assert "Invalid One" in page and "Employees:" not in text_of(response)  # no per-record report
    assert engine.as_system().records("account").get(one.id)["employees"] is None


def test_the_field_and_its_value_are_one_form_and_a_typed_value_survives_a_change_of_field(
        signed_in: Callable, engine, reps) -> None:
    one, two = accounts(engine, reps, "lw2", "Carry One", "Carry Two")
    client = signed_in("rec_lw2")
    page = client.get("/o/account/bulk/edit", query_string=[*chosen(one, two), ("field", "rating")]
                      ).get_data(as_text=True)
    form = re.search(r'<form method="post"[^>]*id="bulk-edit-form">(.*?)</form>', page, re.S)
    assert form and 'name="field"' in form[1] and 'id="bulk-rating"' in form[1]
    assert 'id="bulk-choose-field"' not in page  # no second form for choosing the field

    def choose(previous: str, typed: str, field: str) -> str:
        response = post(client, "/o/account", "/o/account/bulk/edit", [
            *chosen(one, two), ("action", "choose"), ("previous", previous), (previous, typed), ("field", field)])
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert re.search(r'id="bulk-annual_revenue"[^>]*value="2500"', choose("employees", "2500", "annual_revenue"))
    assert re.search(r'id="bulk-billing_state"[^>]*value="Zhejiang"', choose("billing_city", "Zhejiang", "billing_state"))
    assert re.search(r'id="bulk-employees"[^>]*value=""', choose("billing_city", "Hangzhou", "employees"))
    assert '<option value="Hot" selected>' not in choose("rating", "Hot", "type")  # not one of its options
    assert engine.as_system().records("account").get(one.id)["annual_revenue"] is None  # choosing saves nothing


def test_no_selection_too_many_or_a_field_the_rep_may_not_change_is_a_sentence_not_a_traceback(
        signed_in: Callable) -> None:
    client = signed_in("rec_lw2")
    assert client.get("/o/account/bulk/edit?field=rating").status_code == 400
    many = [("record", str(n)) for n in range(1, 203)]
    assert "At most 200 records" in text_of(client.get("/o/account/bulk/delete", query_string=many))
    assert client.get("/o/account/bulk/edit?record=1&field=owner_id_nonsense").status_code == 422
    assert client.get("/o/account/bulk/edit?record=1&field=created_at").status_code == 422


def test_bulk_delete_asks_then_moves_the_records_to_the_recycle_bin(signed_in: Callable, engine, reps) -> None:
    doomed = accounts(engine, reps, "lw4", "Doomed One", "Doomed Two")
    client = signed_in("rec_lw4")
    confirm = client.get("/o/account/bulk/delete", query_string=chosen(*doomed))
    assert confirm.status_code == 200 and "Delete 2 records?" in text_of(confirm)
    done = post(client, "/o/account", "/o/account/bulk/delete", chosen(*doomed))
    assert done.status_code == 303
    assert "2 records were moved to the recycle bin." in text_of(client.get(done.headers["Location"]))
    bin_ids = {entry["record_id"] for entry in engine.as_user(reps["rec_lw4"]).recycle_bin.entries("account")}
    assert {record.id for record in doomed} <= bin_ids


def test_a_rep_cannot_bulk_delete_records_of_another_rep(signed_in: Callable, engine, reps) -> None:
    theirs, = accounts(engine, reps, "lw3", "Not Yours To Delete")
    response = post(signed_in("rec_lw4"), "/o/account", "/o/account/bulk/delete", chosen(theirs))
    assert response.status_code == 422
    assert f"There is no account record with id {theirs.id}." in text_of(response)
    assert "Not Yours To Delete" not in response.get_data(as_text=True)
    assert engine.as_system().records("account").get(theirs.id)["name"] == "Not Yours To Delete"


# ---- saved views and columns -------------------------------------------------------------


MODIFIED = '<span class="badge text-bg-warning">modified</span>'


def view_id(location: str) -> int:
    match = re.search(r"[?&]view=(\d+)", location)
    assert match, location
    return int(match[1])


def test_save_a_view_reopen_it_rename_it_make_it_the_default_and_delete_it(signed_in: Callable, engine,
                                                                          reps) -> None:
    accounts(engine, reps, "lw3", "Viewable Hot Alpha", "Viewable Cold Beta")
    engine.as_user(reps["rec_lw3"]).records("account").update(
        *[(record.id, {"rating": "Hot"}) for record in engine.as_user(reps["rec_lw3"]).records("account").query(
            {"name": "Viewable Hot Alpha"}).records][0], version=1)
    client = signed_in("rec_lw3")
    saved = post(client, "/o/account", "/o/account/views",
                 {"name": "Hot ones", "shared_with": "private", "list_args": "rating__in=Hot&sort=-name",
                  "columns": "name,rating"})
    assert saved.status_code == 303
    number = view_id(saved.headers["Location"])
    page = client.get(f"/o/account?view={number}")
    text = text_of(page)
    assert "Viewable Hot Alpha" in text and "Viewable Cold Beta" not in text
    assert re.findall(r'<th scope="col" class="text-nowrap"[^>]*>\s*<a[^>]*>([^<]+?)\s*<', page.get_data(as_text=True)) \
        == ["Account Name", "Rating"]
    assert "Hot ones" in text and MODIFIED not in page.get_data(as_text=True)
    assert MODIFIED in client.get(f"/o/account?view={number}&rating__in=Hot&sort=name").get_data(as_text=True)
    assert post(client, "/o/account", f"/o/account/views/{number}/rename", {"name": "Hottest"}).status_code == 303
    assert post(client, "/o/account", "/o/account/views/default", {"view": str(number)}).status_code == 303
    assert "Hottest" in text_of(client.get("/o/account")) and "Viewable Cold Beta" not in text_of(
        client.get("/o/account"))
    assert "Viewable Cold Beta" in text_of(client.get("/o/account?view=all"))
    assert post(client, "/o/account", f"/o/account/views/{number}/delete", {}).status_code == 303
    assert client.get(f"/o/account?view={number}").status_code == 404


def test_another_rep_never_sees_or_changes_a_private_view(signed_in: Callable, engine, reps) -> None:
    from crmkit.engine.saved_views import SavedViews

    private = SavedViews(engine.as_user(reps["rec_lw1"])).create("account", "Secret plans of lw1")
    client = signed_in("rec_lw2")
    assert client.get(f"/o/account?view={private.id}").status_code == 404
    assert "Secret plans" not in client.get("/o/account").get_data(as_text=True)
    refused = post(client, "/o/account", f"/o/account/views/{private.id}/rename", {"name": "Mine now"})
    assert refused.status_code == 404 and "Secret plans" not in refused.get_data(as_text=True)
    assert SavedViews(engine.as_user(reps["rec_lw1"])).get(private.id).name() == "Secret plans of lw1"


def test_a_rep_may_not_share_a_view_with_everyone_and_is_not_offered_to(signed_in: Callable) -> None:
    client = signed_in("rec_lw2")
    assert 'value="everyone"' not in client.get("/o/account").get_data(as_text=True)
    refused = post(client, "/o/account", "/o/account/views", {"name": "For all", "shared_with": "everyone"})
    assert refused.status_code == 403


def test_the_column_chooser_orders_the_columns_and_a_hidden_field_is_never_a_column(signed_in: Callable, engine,
                                                                                 reps) -> None:
    accounts(engine, reps, "lw2", "Columned account")  # a row, whichever tests ran before
    client = signed_in("rec_lw2")
    page = client.get("/o/account?columns=phone&columns=name").get_data(as_text=True)
    assert re.findall(r'<th scope="col" class="text-nowrap"[^>]*>\s*<a[^>]*>([^<]+?)\s*<', page) == ["Phone", "Account Name"]
    assert 'name="columns" value="phone" id="column-phone" checked' in page


# ---- recent items ------------------------------------------------------------------------


def test_opening_a_record_puts_it_in_the_recent_menu_and_on_the_home_page_until_it_is_given_away(
        signed_in: Callable, engine, reps) -> None:
    record, = accounts(engine, reps, "lw4", "Recently Opened Rocket")
    client = signed_in("rec_lw4")
    assert client.get(f"/r/account/{record.id}").status_code == 200
    menu = client.get("/recent", headers={"HX-Request": "true"})
    assert "Recently Opened Rocket" in menu.get_data(as_text=True) and "<html" not in menu.get_data(as_text=True)
    assert "Recently Opened Rocket" in text_of(client.get("/"))
    engine.as_system().records("account").update(record.id, {"owner_id": reps["rec_lw1"]}, version=record.version)
    assert "Recently Opened Rocket" not in client.get("/recent").get_data(as_text=True)
    assert "Recently Opened Rocket" not in client.get("/").get_data(as_text=True)


def test_a_rep_without_delete_or_field_edit_rights_is_offered_neither_and_refused_both(signed_in: Callable,
                                                                                      engine, reps) -> None:
    probe = engine.as_user(reps["rec_lw1"]).records("probe").create({"name": "Probe of lw1"})
    client = signed_in("rec_lw1")
    page = client.get("/o/probe").get_data(as_text=True)
    assert "Delete selected" not in page and "Edit selected" in page
    assert '<option value="note">' not in page  # readable, not editable for reps
    assert client.get(f"/o/probe/bulk/delete?record={probe.id}").status_code == 403
    refused = post(client, "/o/probe", "/o/probe/bulk/edit", [*chosen(probe), ("field", "note"), ("note", "x")])
    assert refused.status_code == 422
    assert engine.as_system().records("probe").get(probe.id)["note"] is None


def test_a_view_of_another_object_is_not_found_on_this_list(signed_in: Callable, engine, reps) -> None:
    from crmkit.engine.saved_views import SavedViews

    contacts = SavedViews(engine.as_user(reps["rec_lw1"])).create("contact", "Contacts of lw1")
    assert signed_in("rec_lw1").get(f"/o/account?view={contacts.id}").status_code == 404


def test_an_htmx_results_request_in_a_view_refreshes_the_views_bar_out_of_band(signed_in: Callable, engine,
                                                                               reps) -> None:
    from crmkit.engine.saved_views import SavedViews

    view = SavedViews(engine.as_user(reps["rec_lw2"])).create("account", "By name", sort=["name"])
    response = signed_in("rec_lw2").get(f"/o/account?view={view.id}&sort=-name",
                                        headers={"HX-Request": "true", "HX-Target": "list-results"})
    page = response.get_data(as_text=True)
    assert 'id="list-views" hx-swap-oob="true"' in page and MODIFIED in page
    assert 'name="list_args" value="sort=-name"' in page


def test_save_stores_the_list_on_screen_over_the_open_view_and_the_default_can_be_dropped(
        signed_in: Callable, engine, reps) -> None:
    from crmkit.engine.saved_views import SavedViews

    views = SavedViews(engine.as_user(reps["rec_lw4"]))
    view = views.create("account", "Working list", sort=["name"])
    views.set_default("account", view.id)
    client = signed_in("rec_lw4")
    saved = post(client, "/o/account", f"/o/account/views/{view.id}/save",
                 {"list_args": "q=Doomed&sort=-name", "columns": "name,phone"})
    assert saved.status_code == 303 and view_id(saved.headers["Location"]) == view.id
    stored = views.get(view.id).query
    assert (stored.search, stored.sort, stored.columns) == ("Doomed", ("-name",), ("name", "phone"))
    assert post(client, "/o/account", "/o/account/views/default", {}).status_code == 303
    assert views.default("account") is None


# ---- odd addresses -----------------------------------------------------------------------

#: Characters str.isdigit() calls digits that int() refuses ('²') or reads as another script's digits ('٣').
ODD_DIGITS = ("²", "٣", "1²")


@pytest.mark.parametrize("odd", ODD_DIGITS)
def test_an_id_written_with_other_digits_is_a_clear_refusal_never_a_server_error(signed_in: Callable, odd: str) -> None:
    client = signed_in("rec_lw3")
    for address in (f"/o/account/bulk/edit?record={odd}&field=rating", f"/o/account/bulk/edit?record=1:{odd}",
                    f"/o/account/bulk/delete?record={odd}", f"/o/account?view={odd}",
                    f"/recycle-bin?before={odd}", f"/recycle-bin?restored=account/{odd}"):
        assert client.get(address).status_code in (200, 400, 404), address
    refused = post(client, "/o/account", "/o/account/views/default", {"view": odd})
    assert refused.status_code in (303, 400, 404)


def test_a_saved_view_is_changed_only_through_the_address_of_its_own_object(signed_in: Callable, engine,
                                                                            reps) -> None:
    from crmkit.engine.saved_views import SavedViews

    mine = SavedViews(engine.as_user(reps["rec_lw3"])).create("opportunity", "My deals", filter={"name": "x"})
    client = signed_in("rec_lw3")
    for action, data in (("rename", {"name": "Renamed"}), ("save", {"list_args": "rating=Hot"}), ("delete", {})):
        assert post(client, "/o/account", f"/o/account/views/{mine.id}/{action}", data).status_code == 404
    kept = SavedViews(engine.as_user(reps["rec_lw3"])).get(mine.id)
    assert kept.name() == "My deals" and kept.query.filter == {"name": "x"}
