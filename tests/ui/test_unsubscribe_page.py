"""The unsubscribe link of marketing mail: no sign-in, a page in the reader's language, and an opt-out
recorded only by the POST (RFC 8058 one-click, no CSRF token: the signed link is the authority)."""
from __future__ import annotations

import pytest

from crmkit.engine import Crm
from crmkit.engine.automation.unsubscribe import unsubscribe_url


@pytest.fixture
def contact_link(web_crm, monkeypatch):
    monkeypatch.setenv("CRMKIT_SECRET_KEY", "u" * 40)
    monkeypatch.setenv("CRMKIT_BASE_URL", "https://crm.example.com")
    crm = Crm.open(web_crm.url)
    contacts = crm.as_system().records("contact")
    contact = contacts.create({"first_name": "Uma", "last_name": "Opt", "email": "uma@example.com"})
    link = unsubscribe_url(crm, "Uma@Example.com", "contact", contact.id).removeprefix("https://crm.example.com")
    yield link, contacts, contact.id
    crm.close()


def test_the_link_shows_a_page_and_only_the_post_records_the_opt_out(client, contact_link):
    link, contacts, contact_id = contact_link
    page = client.get(link, headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Stop sending marketing email to uma@example.com?" in page.get_data(as_text=True)
    assert contacts.get(contact_id)["email_opt_out"] is False  # a mail scanner's GET changes nothing
    done = client.post(link, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "uma@example.com will receive no more marketing email" in done.get_data(as_text=True)
    assert contacts.get(contact_id)["email_opt_out"] is True
    assert client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # again: nothing new


def test_the_page_speaks_chinese_and_an_altered_link_is_refused(client, contact_link):
    link, _, _ = contact_link
    page = client.get(link, headers={"Accept-Language": "zh-CN,zh"}).get_data(as_text=True)
    assert "退订" in page
    refused = client.post(link[:-3] + "xyz", headers={"Accept-Language": "en"})
    assert refused.status_code == 404 and "This unsubscribe link is not valid" in refused.get_data(as_text=True)
