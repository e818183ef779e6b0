"""Attacks on the global search (/search, /search/preview): what a user who may not see a record or
a field could learn from it, and HTML through the query, record values and labels.

Uses the CRM of tests/ui/test_global_search.py (the `dossier` package, whose `secret` field is
searchable but readable only by holders of `dossier_secrets`; wang's accounts are private to him).
"""
from __future__ import annotations


import pytest

from tests.ui.conftest import signed_in_client
from tests.ui.test_global_search import group, search, search_app, text_of  # noqa: F401 (a fixture)
from tests.webapp import IMAGE_PAYLOAD, SCRIPT_PAYLOAD


@pytest.fixture
def as_user(search_app):  # noqa: F811
    return lambda username: signed_in_client(search_app, username, 12)


def preview(client, text: str) -> str:
    response = client.get("/search/preview", query_string={"q": text}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize("text", [SCRIPT_PAYLOAD, IMAGE_PAYLOAD, f"quasar {SCRIPT_PAYLOAD}",
                                  " ".join([SCRIPT_PAYLOAD] * 40), "<" * 199, "İstanbul<b>ß</b>"])
def test_the_query_itself_is_shown_as_text_on_the_page_and_in_the_preview(as_user, text):
    client = as_user("wang")
    for page in (client.get("/search", query_string={"q": text}).get_data(as_text=True), preview(client, text)):
        assert SCRIPT_PAYLOAD not in page and IMAGE_PAYLOAD not in page and "<b>" not in page


def test_another_reps_private_record_is_neither_found_nor_counted(as_user):
    page = search(as_user("li"), "zephyrine")  # wang's account and contact
    assert "Zephyrine" not in page and "search-count" not in page
    assert "zephyrine" not in preview(as_user("li"), "zephyrine").lower().replace("q=zephyrine", "").replace(
        "“zephyrine”", "")


def test_a_word_held_only_by_a_hidden_field_finds_and_counts_nothing(as_user):
    for client in (as_user("wang"),):
        page = search(client, "informant")
        assert "search-hit" not in page and "search-count" not in page and "Tern report" not in page
        assert "Tern report" not in preview(client, "informant")
        # and the hidden field does not change the count of a word it shares with a readable one
        counted = search(client, "nightjar")
        assert '<span class="badge text-bg-secondary search-count">1</span>' in group(counted, "dossier")


@pytest.mark.parametrize("raw", ["q=%00acme", "q=%ED%A0%80acme", "q=%FF%FEacme", "q=acme&q=%3Cscript%3E", "q=" + "a%20" * 150,
                                 "q=%E2%80%AEacme", "q=" + "%E5%BC%A0" * 70])
def test_odd_bytes_in_the_query_are_a_page_or_a_sentence_never_a_crash(as_user, raw):
    client = as_user("wang")
    for address in (f"/search?{raw}", f"/search/preview?{raw}"):
        response = client.get(address, headers={"HX-Request": "true"})
        assert response.status_code in (200, 400), (address, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True)
