"""Lookup autocomplete (RecordService.suggest) and global search (global_search.py)."""
from __future__ import annotations

from crmkit.engine.records.global_search import Match
from crmkit.engine.security.users import SystemDirectory


def test_suggest_on_a_kept_service_follows_a_revoked_title_field(crm, users):
    """suggest() decides whether the title is hidden from `session.policy` *before* the operation
    reads the current rights (service.py suggest, then query -> _reading): after the title's
    field permission is revoked, a service kept by a worker raises "lead has no field 'name'"
    instead of offering the records by id as a fresh context does."""
    crm.as_system().records("lead").create({"name": "Acme Lead", "email": "sales@acme.example"})
    leads = crm.as_user(users["leader"]).records("lead")  # kept across the change
    assert [title for _, title in leads.suggest("acme")] == ["Acme Lead"]
    SystemDirectory(crm).revoke("names", user_id=users["leader"])
    fresh = crm.as_user(users["leader"]).records("lead").suggest("acme")
    assert [title for _, title in fresh] == ["1"]
    assert leads.suggest("acme") == fresh


def test_global_search_names_each_record_once_when_an_object_is_named_twice(probe):
    probe.records("account").create({"name": "Acme"})
    hits = probe.search("acme", objects=["account", "account"])
    assert [(hit.object, hit.title) for hit in hits] == [("account", "Acme")]


def test_an_exact_title_is_the_first_hit_even_when_written_in_full_width(probe):
    """_match ranks a title equal to the text after NFKC + casefold as EXACT_TITLE, but each
    object offers at most `limit` candidates: its newest matches, and titles starting with the
    text when those fill `limit`. Three newer matches crowd "Acme" out of the newest, so it
    must come from the title prefixes, looked up in the search's folded form too (a LIKE
    prefix folds neither full width nor, on SQLite, case beyond A-Z)."""
    accounts = probe.records("account")
    accounts.create({"name": "Acme"})
    for number in range(3):
        accounts.create({"name": f"A acme {number}"})
    hits = probe.search("ＡＣＭＥ", limit=3)
    assert (hits[0].title, hits[0].match) == ("Acme", Match.EXACT_TITLE)


def test_an_exact_title_beyond_a_to_z_is_the_first_hit(probe):
    """Same cause, with ordinary text: on SQLite startswith folds A-Z only, so "ärzte" finds
    "Ärzte" among the title prefixes only in its capitalised form."""
    accounts = probe.records("account")
    accounts.create({"name": "Ärzte"})
    for number in range(3):
        accounts.create({"name": f"A ärzte {number}"})
    hits = probe.search("ärzte", limit=3)
    assert (hits[0].title, hits[0].match) == ("Ärzte", Match.EXACT_TITLE)
