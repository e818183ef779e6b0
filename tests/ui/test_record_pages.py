"""The detail page and the create and edit forms of a record, through the Flask test client."""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest
from flask.testing import FlaskClient

from tests.ui.conftest import csrf_token
from tests.webapp import IMAGE_PAYLOAD, SCRIPT_PAYLOAD, WebCrm, record_page_users


@pytest.fixture(scope="module", autouse=True)
def reps(web_crm: WebCrm) -> dict[str, int]:
    """This module's own sales reps (rec_1 ... rec_7), so no other test's sign-ins or settings reach them."""
    return record_page_users(web_crm.url, tuple(str(n) for n in range(1, 8)))


def engine(web_crm: WebCrm):
    from crmkit.engine import Crm

    return Crm.open(web_crm.url)


def record_id(location: str) -> int:
    match = re.fullmatch(r"/r/\w+/(\d+)", location)
    assert match, location
    return int(match[1])


def post(client: FlaskClient, page: str, action: str, data: dict[str, str], **headers: str):
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(action, data={**data, "csrf_token": token}, headers=headers)


def text_of(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def input_value(page: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page)
    return html.unescape(match[1]) if match else None


def test_create_an_account_then_a_contact_under_it_from_its_related_list(signed_in: Callable) -> None:
    client = signed_in("rec_1")
    created = post(client, "/o/account/new", "/o/account/new", {"name": "Harbour Logistics", "type": "Customer",
                                                                "industry": "Logistics"})
    assert created.status_code == 303
    account = record_id(created.headers["Location"])
    detail = client.get(f"/r/account/{account}")
    assert detail.status_code == 200
    page = detail.get_data(as_text=True)
    assert "Account “Harbour Logistics” was created." in html.unescape(page)
    assert re.search(r"ACC-\d{5}", page)  # the autonumber the engine gave it
    new_contact = f"/o/contact/new?account={account}"
    assert f'href="{new_contact}"' in page and f'href="/o/contact?account={account}"' in page

    form = client.get(new_contact).get_data(as_text=True)
    assert f'<option value="{account}" selected>Harbour Logistics</option>' in form  # prefilled, titled
    saved = post(client, new_contact, "/o/contact/new", {"first_name": "Mei", "last_name": "Chen", "email": "mei@example.com",
                                                          "account": str(account)})
    assert saved.status_code == 303
    contact = record_id(saved.headers["Location"])
    contact_page = client.get(f"/r/contact/{contact}").get_data(as_text=True)
    assert f'<a href="/r/account/{account}">Harbour Logistics</a>' in contact_page  # the lookup links its record
    related = client.get(f"/r/account/{account}").get_data(as_text=True)
    assert f'<a href="/r/contact/{contact}">' in related  # the contact in the account's related list


def test_a_field_error_keeps_what_was_typed_and_then_the_record_saves(signed_in: Callable) -> None:
    client = signed_in("rec_2")
    refused = post(client, "/o/contact/new", "/o/contact/new",
                   {"first_name": "Ada", "last_name": "", "email": "not an address", "title": "CTO"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert input_value(page, "first_name") == "Ada" and input_value(page, "title") == "CTO"
    assert input_value(page, "email") == "not an address"
    for name in ("last_name", "email"):  # each error beside its field, announced to screen readers
        assert re.search(rf'name="{name}"[^>]*aria-describedby="[^"]*field-{name}-errors"[^>]*aria-invalid="true"', page)
        assert f'id="field-{name}-errors"' in page
    assert "The record was not saved." in page

    htmx = post(client, "/o/contact/new", "/o/contact/new", {"first_name": "Ada", "last_name": ""},
                **{"HX-Request": "true"})
    assert htmx.status_code == 422 and "<html" not in htmx.get_data(as_text=True)  # the form alone

    saved = post(client, "/o/contact/new", "/o/contact/new",
                 {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "title": "CTO"})
    assert saved.status_code == 303
    shown = text_of(client.get(saved.headers["Location"]))
    assert "ada@example.com" in shown and "CTO" in shown


def test_an_edit_saved_meanwhile_by_someone_else_is_explained_with_their_values(signed_in: Callable,
                                                                                web_crm: WebCrm, reps) -> None:
    client = signed_in("rec_3")
    created = post(client, "/o/account/new", "/o/account/new", {"name": "Old Name Ltd"})
    account = record_id(created.headers["Location"])
    form = client.get(f"/r/account/{account}/edit").get_data(as_text=True)
    version = input_value(form, "version")
    crm = engine(web_crm)
    try:
        crm.as_user(reps["rec_3"]).records("account").update(account, {"name": "Their Name Ltd"},
                                                                     version=int(version))
    finally:
        crm.close()
    conflict = client.post(f"/r/account/{account}/edit", data={
        "csrf_token": csrf_token(form), "version": version, "name": "My Name Ltd"})
    assert conflict.status_code == 409
    page = conflict.get_data(as_text=True)
    assert "Someone saved this record meanwhile." in page
    assert "Their Name Ltd" in re.search(r'id="record-conflict".*?</div>', page, re.S)[0]
    assert input_value(page, "name") == "My Name Ltd"  # what I typed is kept
    assert int(input_value(page, "version")) == int(version) + 1  # saving again is deliberate
    again = client.post(f"/r/account/{account}/edit", data={
        "csrf_token": csrf_token(page), "version": input_value(page, "version"), "name": "My Name Ltd"})
    assert again.status_code == 303
    assert "My Name Ltd" in text_of(client.get(f"/r/account/{account}"))


def test_formulas_rollups_and_autonumbers_are_read_only_and_shown_computed(signed_in: Callable) -> None:
    client = signed_in("rec_4")
    created = post(client, "/o/account/new", "/o/account/new", {"name": "Formula Works"})
    account = record_id(created.headers["Location"])
    post(client, "/o/contact/new", "/o/contact/new", {"first_name": "Li", "last_name": "Lei", "phone": "123456",
                                                       "account": str(account)})
    form = client.get(f"/r/account/{account}/edit").get_data(as_text=True)
    for name in ("account_number", "contact_count"):
        assert f'name="{name}"' not in form
        assert f'id="field-{name}-label"' in form
    assert re.search(r'id="field-contact_count"[^>]*>\s*(<[^>]+>)*1<', form)  # the rollup, computed
    new_form = client.get("/o/opportunity/new").get_data(as_text=True)
    assert 'name="expected_revenue"' not in new_form and 'name="name"' in new_form


def test_a_new_form_shows_the_defaults_a_save_fills_in_as_values_to_see_and_change(signed_in: Callable) -> None:
    from crmkit.sandbox.functions import add_months

    client = signed_in("rec_6")  # time zone UTC
    today = datetime.now(timezone.utc).date()
    opportunity = client.get("/o/opportunity/new").get_data(as_text=True)
    assert input_value(opportunity, "close_date") == add_months(today, 3).isoformat()  # required, defaulted
    assert re.search(r'<option value="Prospecting" selected>', opportunity)  # a static default, as before
    assert "Fields marked * are required." in html.unescape(opportunity)
    assert input_value(client.get("/o/activity/new").get_data(as_text=True), "due_date") == today.isoformat()
    assert input_value(client.get("/o/quote/new").get_data(as_text=True), "expiration_date") == \
        (today + timedelta(days=30)).isoformat()
    line = client.get("/o/quote_line/new").get_data(as_text=True)  # unit price: the product's list price, not chosen yet
    assert input_value(line, "unit_price") == "" and "If left empty, it gets its default when saved." in line
    assert input_value(client.get("/o/opportunity/new?close_date=2031-01-31").get_data(as_text=True),
                       "close_date") == "2031-01-31"  # a prefilled value wins over the default

    created = post(client, "/o/account/new", "/o/account/new", {"name": "Defaults Shown Ltd"})
    account = str(record_id(created.headers["Location"]))
    saved = post(client, "/o/opportunity/new", "/o/opportunity/new",
                 {"name": "Changed default", "account": account, "stage": "Prospecting", "close_date": "2030-06-30"})
    assert saved.status_code == 303
    assert "Jun 30, 2030" in text_of(client.get(saved.headers["Location"]))  # the user's change, not the default


def test_a_new_form_shows_a_moment_default_in_the_users_time_zone(signed_in: Callable) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
    opened = input_value(signed_in("admin").get("/o/service_case/new").get_data(as_text=True), "opened_at")
    assert opened and before <= datetime.fromisoformat(opened) <= datetime.now(timezone.utc).replace(tzinfo=None)


def test_a_new_record_form_leaves_out_read_only_fields_and_sections_with_nothing_to_type(signed_in: Callable) -> None:
    client = signed_in("rec_4")
    new_form = client.get("/o/account/new").get_data(as_text=True)
    for name in ("account_number", "contact_count", "pipeline_amount", "won_amount"):  # autonumber, rollups
        assert f'id="field-{name}-label"' not in new_form, name
    assert "Sales Summary" not in new_form  # a section of rollups only
    assert 'name="name"' in new_form and "Account Information" in new_form
    assert 'id="field-expected_revenue-label"' not in client.get("/o/opportunity/new").get_data(as_text=True)
    created = post(client, "/o/account/new", "/o/account/new", {"name": "Nothing To Type Ltd"})
    edit_form = client.get(f"/r/account/{record_id(created.headers['Location'])}/edit").get_data(as_text=True)
    assert 'id="field-account_number-label"' in edit_form and "Sales Summary" in edit_form  # kept when editing


def test_record_forms_ask_the_browser_not_to_fill_their_controls_with_the_users_own_details(
        signed_in: Callable) -> None:
    client = signed_in("rec_4")
    created = post(client, "/o/account/new", "/o/account/new", {"name": "Autofill Free Ltd"})
    account = record_id(created.headers["Location"])
    saved = post(client, "/o/contact/new", "/o/contact/new", {"first_name": "Ann", "last_name": "Fill",
                                                              "email": "ann@example.com", "account": str(account)})
    assert saved.status_code == 303, saved.get_data(as_text=True)[-3000:]
    for address in ("/o/contact/new", f"/r/contact/{record_id(saved.headers['Location'])}/edit"):
        page = client.get(address).get_data(as_text=True)
        fields = page[page.index('id="record-form-fields"'):]
        controls = re.findall(r"<(?:input|select|textarea)\b[^>]*>", fields)
        typed = [c for c in controls if 'type="hidden"' not in c and 'type="checkbox"' not in c
                 and 'type="submit"' not in c]
        assert len(typed) > 5, address
        assert [c for c in typed if 'autocomplete="off"' not in c] == [], address
        assert re.search(r'<input[^>]*type="email"[^>]*name="email"', fields)  # the email keyboard and check stay


def test_a_rep_cannot_open_another_reps_record_and_it_looks_like_none(signed_in: Callable,
                                                                      web_crm: WebCrm) -> None:
    crm = engine(web_crm)
    try:
        hidden = crm.as_user(web_crm.users["li"]).records("account").query({"name": "Li Hidden Traders"}).records[0].id
    finally:
        crm.close()
    client = signed_in("rec_1")
    for path in (f"/r/account/{hidden}", f"/r/account/{hidden}/edit", f"/r/account/{hidden}/delete"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert f"There is no account record with id {hidden}." in text_of(response)
        assert "Li Hidden" not in response.get_data(as_text=True)
    assert client.get("/r/account/987654321").status_code == 404
    assert client.get("/o/service_case/new").status_code == 403  # reps may read cases, not create them
    tried = post(client, "/", f"/r/account/{hidden}/edit", {"name": "Taken over", "version": "1"})
    assert tried.status_code == 404
    assert client.get("/o/account/suggest?q=Li").get_json() == []


def test_a_field_the_rep_may_read_but_not_edit_is_shown_read_only_and_refused(signed_in: Callable,
                                                                              web_crm: WebCrm, reps) -> None:
    client = signed_in("rec_2")
    crm = engine(web_crm)
    try:
        probe = crm.as_user(reps["rec_2"]).records("probe").create({"name": "Probe with a note"})
        crm.as_system().records("probe").update(probe.id, {"note": "Set by an admin"}, version=probe.version)
    finally:
        crm.close()
    form = client.get(f"/r/probe/{probe.id}/edit").get_data(as_text=True)
    assert 'name="note"' not in form and "Set by an admin" in form
    assert 'id="field-note-label"' not in client.get("/o/probe/new").get_data(as_text=True)  # nothing to type
    refused = post(client, f"/r/probe/{probe.id}/edit", f"/r/probe/{probe.id}/edit",
                   {"note": "Changed by a rep", "version": str(probe.version + 1)})
    assert refused.status_code == 422
    assert "You may see this field but not change it." in text_of(refused)
    assert "Set by an admin" in text_of(client.get(f"/r/probe/{probe.id}"))


def test_delete_asks_first_and_moves_the_record_to_the_recycle_bin(signed_in: Callable, web_crm: WebCrm,
                                                                  reps) -> None:
    client = signed_in("rec_5")
    created = post(client, "/o/account/new", "/o/account/new", {"name": "Short Lived"})
    account = record_id(created.headers["Location"])
    confirm = client.get(f"/r/account/{account}/delete")
    assert confirm.status_code == 200 and "recycle bin" in text_of(confirm)
    without_token = client.post(f"/r/account/{account}/delete", data={})
    assert without_token.status_code == 400
    deleted = post(client, f"/r/account/{account}/delete", f"/r/account/{account}/delete", {})
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/o/account"
    assert client.get(f"/r/account/{account}").status_code == 404
    crm = engine(web_crm)
    try:
        entries = crm.as_user(reps["rec_5"]).recycle_bin.entries("account")
    finally:
        crm.close()
    assert [entry["title"] for entry in entries if entry["record_id"] == account] == ["Short Lived"]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_payloads_are_escaped_on_detail_and_form_in_every_field(signed_in: Callable, web_crm: WebCrm, reps,
                                                                language: str) -> None:
    user = {"en": "rec_3", "zh": "rec_4"}[language]
    client = signed_in(user)
    client.post("/language", data={"language": language,
                                   "csrf_token": csrf_token(client.get("/settings").get_data(as_text=True))})
    crm = engine(web_crm)
    try:
        wang = crm.as_user(reps[user])
        account = wang.records("account").create({
            "name": f"Acct {SCRIPT_PAYLOAD}", "description": f"{IMAGE_PAYLOAD}\n{SCRIPT_PAYLOAD}",
            "phone": "+86 10 1234 5678",
            "billing_city": IMAGE_PAYLOAD})
        contact = wang.records("contact").create({"last_name": SCRIPT_PAYLOAD, "first_name": IMAGE_PAYLOAD, "phone": "+86 10 1234 5678",
                                                  "account": account.id, "title": SCRIPT_PAYLOAD})
        probe = wang.records("probe").create({"name": f"Probe {IMAGE_PAYLOAD}", "kind": "a",
                                              "details": f"{SCRIPT_PAYLOAD}\n{IMAGE_PAYLOAD}"})
    finally:
        crm.close()
    pages = [f"/r/account/{account.id}", f"/r/account/{account.id}/edit", f"/r/contact/{contact.id}",
             f"/r/contact/{contact.id}/edit", f"/r/probe/{probe.id}", f"/r/probe/{probe.id}/edit", "/o/probe/new",
             f"/r/account/{account.id}/delete"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;" in page or "&#39;" in page or "&lt;img" in page, path


def test_visible_when_and_dependent_picklists_follow_what_is_typed(signed_in: Callable) -> None:
    client = signed_in("rec_6")
    form = client.get("/o/opportunity/new").get_data(as_text=True)
    assert 'name="loss_reason"' not in form  # its section shows only for a lost deal
    assert re.search(r'hx-post="/o/opportunity/form" hx-trigger="change"[^>]*>\s*<div class="mb-3">\s*'
                     r'<label class="form-label" for="field-stage"', form)  # the stage asks for the form again
    lost = post(client, "/o/opportunity/new", "/o/opportunity/form", {"stage": "Closed Lost", "name": "Kept"},
                **{"HX-Request": "true"})
    assert lost.status_code == 200
    fields = lost.get_data(as_text=True)
    assert fields.strip().startswith('<div id="record-form-fields">') and 'name="loss_reason"' in fields
    assert input_value(fields, "name") == "Kept"
    reasons = re.findall(r'<option value="([^"]+)"', re.search(r'name="loss_reason".*?</select>', fields, re.S)[0])
    assert reasons == ["Price", "Competitor", "No Budget", "No Decision", "Product Fit", "Other"]
    open_deal = post(client, "/o/opportunity/new", "/o/opportunity/form", {"stage": "Negotiation"},
                     **{"HX-Request": "true"}).get_data(as_text=True)
    assert 'name="loss_reason"' not in open_deal


def test_a_dependent_picklist_offers_only_what_its_controlling_value_allows(web_crm: WebCrm, reps) -> None:
    from crmkit.engine.fieldtypes.presenter import FieldPresenter
    from crmkit.ui.record_views import allowed_choices

    crm = engine(web_crm)
    try:
        presenter = FieldPresenter.for_context(crm.as_user(reps["rec_6"]))
        loss_reason = presenter.registry.object("opportunity").fields["loss_reason"]
        offered = presenter.widget(loss_reason, None)
        assert [c.value for c in allowed_choices(offered, loss_reason, {"stage": "Negotiation"}).choices] == [""]
        assert [c.value for c in allowed_choices(offered, loss_reason, {"stage": "Closed Lost"}).choices][:3] == \
            ["", "Price", "Competitor"]
        chosen = presenter.widget(loss_reason, None, typed=["Price"])  # a refused value stays, beside its error
        assert [c.value for c in allowed_choices(chosen, loss_reason, {"stage": "Negotiation"}).choices] == \
            ["", "Price"]
    finally:
        crm.close()


def test_a_field_is_edited_in_place_on_the_detail_page(signed_in: Callable, web_crm: WebCrm) -> None:
    client = signed_in("rec_7")
    created = post(client, "/o/account/new", "/o/account/new", {"name": "Inline Ltd"})
    account = record_id(created.headers["Location"])
    detail = client.get(f"/r/account/{account}").get_data(as_text=True)
    field = f"/r/account/{account}/field/industry"
    assert f'hx-get="{field}"' in detail
    assert f'hx-get="/r/account/{account}/field/contact_count"' not in detail  # a rollup is not editable
    editor = client.get(field, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert '<select class="form-select" id="inline-industry" name="industry"' in editor
    saved = client.post(field, data={"industry": "Energy", "version": input_value(editor, "version"),
                                     "csrf_token": csrf_token(detail)}, headers={"HX-Request": "true"})
    assert saved.status_code == 200 and "Energy" in text_of(saved) and "<select" not in saved.get_data(as_text=True)
    name_field = f"/r/account/{account}/field/name"
    refused = client.post(name_field, data={"name": "", "version": str(int(input_value(editor, "version")) + 1),
                                            "csrf_token": csrf_token(detail)}, headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "Is required." in text_of(refused)
    stale = client.post(name_field, data={"name": "Late", "version": input_value(editor, "version"),
                                          "csrf_token": csrf_token(detail)}, headers={"HX-Request": "true"})
    assert stale.status_code == 409 and "Someone saved this record meanwhile." in text_of(stale)
    assert client.get(f"/r/account/{account}/field/no_such_field").status_code == 404


def test_a_field_the_rep_may_not_edit_offers_no_inline_editor(signed_in: Callable, web_crm: WebCrm, reps) -> None:
    client = signed_in("rec_5")
    crm = engine(web_crm)
    try:
        probe = crm.as_user(reps["rec_5"]).records("probe").create({"name": "Probe of rec 5"})
    finally:
        crm.close()
    detail = client.get(f"/r/probe/{probe.id}").get_data(as_text=True)
    assert f'hx-get="/r/probe/{probe.id}/field/note"' not in detail
    assert f'hx-get="/r/probe/{probe.id}/field/name"' in detail
    shown = client.get(f"/r/probe/{probe.id}/field/note", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<input" not in shown


def test_a_detail_page_reads_the_rights_once_for_its_reads_and_the_record_once(signed_in: Callable, app) -> None:
    """The record, titles, names, the timeline, the related lists and the menu share one snapshot (docs/ui.md,
    "Speed"): one operation read for the sign-in check, which the rights check before the snapshot and the
    snapshot itself continue on its connection (UserContext.lend_read), and one for the recent item's write. The
    record's row is read once: the timeline and the recent item are handed the Record the engine read
    (RecordService.read_here), so neither reads it again."""
    from sqlalchemy import event

    client = signed_in("rec_7")
    created = post(client, "/o/account/new", "/o/account/new", {"name": "Xerophant Holdings"})
    account = record_id(created.headers["Location"])
    contact = post(client, f"/o/contact/new?account={account}", "/o/contact/new",
                   {"first_name": "Lan", "last_name": "Xerophy", "email": "lan.xerophy@example.com",
                    "account": str(account)})
    assert contact.status_code == 303, contact.get_data(as_text=True)
    client.get(f"/r/account/{account}")  # what a policy reads once and keeps is read before counting
    engine = app.extensions["crmkit"].crm.engine
    statements: list[str] = []

    def executed(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", executed)
    try:
        page = client.get(f"/r/account/{account}").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", executed)
    assert "Xerophant Holdings" in page and f'href="{contact.headers["Location"]}"' in page
    operation_reads = [sql for sql in statements if "crmkit_metadata_state" in sql]
    assert len(operation_reads) == 2, statements
    record_reads = [sql for sql in statements if re.search(r"FROM account\s+WHERE account\.id = ", sql)]
    assert len(record_reads) == 1, record_reads
