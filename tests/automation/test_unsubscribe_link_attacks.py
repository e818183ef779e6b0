"""An unsubscribe link opts out the address it was sent to, and nobody else: not the person a record names after
its address changed, not another address, and only with a token crmkit signed for that address."""
from __future__ import annotations

import pytest

from crmkit.engine.automation.unsubscribe import UnsubscribeLinkInvalid, read_token, record_opt_out, unsubscribe_url


@pytest.fixture
def link(mailing, crm, monkeypatch):
    monkeypatch.setenv("CRMKIT_BASE_URL", "https://crm.example.com")
    monkeypatch.setenv("CRMKIT_SECRET_KEY", "k" * 40)
    people = mailing.records("person")
    person = people.create({"name": "quiet", "email": "fay@example.com"})
    return people, person, unsubscribe_url(crm, "fay@example.com", "person", person.id).rsplit("/", 1)[1]


def test_an_old_link_does_not_opt_out_the_person_a_record_names_now(crm, link):
    people, person, token = link
    person = people.update(person.id, {"email": "gil@example.com"}, version=person.version)  # the record changed hands
    assert record_opt_out(crm, token).address == "fay@example.com"
    assert not people.get(person.id)["email_opt_out"]  # Gil still gets the newsletter he asked for
    with crm.engine.connect() as connection:
        from crmkit.engine.automation.unsubscribe import opted_out

        assert opted_out(connection, crm, ["FAY@example.com", "gil@example.com"]) == {"fay@example.com"}


def test_a_link_for_the_records_own_address_opts_the_record_out(crm, link):
    people, person, token = link
    record_opt_out(crm, token)
    assert people.get(person.id)["email_opt_out"] is True


def test_a_token_cannot_be_forged_for_another_address_or_record(crm, link):
    _, person, token = link
    import base64
    import json

    payload, _, signature = token.partition(".")
    forged = base64.urlsafe_b64encode(json.dumps(["boss@example.com", "person", person.id]).encode()).decode()
    for candidate in (forged.rstrip("=") + "." + signature, token + "x", "", "." + signature):
        with pytest.raises(UnsubscribeLinkInvalid):
            read_token(crm, candidate)


def test_the_same_link_used_twice_at_once_opts_out_once_without_an_error(crm, link, database_url):
    """A mail client's one-click POST and the person's click can arrive together: neither is a server error."""
    from concurrent.futures import ThreadPoolExecutor

    from crmkit.engine import Crm

    people, person, token = link
    others = [Crm.open(database_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda other: record_opt_out(other, token).address, others))
    finally:
        for other in others:
            other.close()
    assert results == ["fay@example.com"] * 4
    assert people.get(person.id)["email_opt_out"] is True
    with crm.engine.connect() as connection:
        from crmkit.engine.automation.unsubscribe import opted_out

        assert opted_out(connection, crm, ["fay@example.com"]) == {"fay@example.com"}
