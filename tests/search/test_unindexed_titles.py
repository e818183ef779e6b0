"""A title without an index (a custom object's `name`, as the builder makes it) is looked up among the text's search
matches, never by testing every record's title: the lookup autocomplete and global search still put the record
named by the text first when newer records mention it, on both databases (records/service.py `suggestions`)."""
from __future__ import annotations

from crmkit.engine.records.global_search import Match

MENTIONS = 30  # more than a suggestion list (and a global search object) holds


def _named_then_mentioned(system, rep_id=None) -> int:
    """'Quokka' (the oldest), then MENTIONS newer accounts whose notes mention quokka; the named one's id."""
    accounts = system.records("account")
    named = accounts.create({"name": "Quokka"})
    accounts.bulk_create([{"name": f"Other {number}", "notes": "met a quokka"} for number in range(MENTIONS)])
    accounts.create({"name": "Quokka Farm Ltd"})
    accounts.create({"name": "Zoo", "notes": "quokka keepers"})
    return named.id


def test_the_titles_are_unindexed_in_this_package(crm, probe):
    from crmkit.engine.tables import prefix_fields

    obj = crm.runtime.registry.object("account")
    assert "name" not in prefix_fields(obj, crm.runtime.field_types, crm.runtime.registry)


def test_suggest_puts_the_titles_starting_with_the_text_first_when_newer_matches_fill_the_list(crm, probe, users):
    named = _named_then_mentioned(probe)
    admin = crm.as_user(users["admin"]).records("account")
    titles = [title for _id, title in admin.suggest("quokka", limit=10)]
    assert titles[:2] == ["Quokka", "Quokka Farm Ltd"] and len(titles) == 10
    assert admin.suggest("QUOKKA F", limit=5)[0][1] == "Quokka Farm Ltd"
    assert [hit.id for hit in crm.as_user(users["admin"]).search("quokka", limit=5)][:1] == [named]


def test_global_search_ranks_the_exact_title_first_among_many_newer_mentions(crm, probe, users):
    _named_then_mentioned(probe)
    hits = crm.as_user(users["admin"]).search("Quokka", limit=5)
    assert [(hit.title, hit.match) for hit in hits[:2]] == [("Quokka", Match.EXACT_TITLE),
                                                            ("Quokka Farm Ltd", Match.TITLE_PREFIX)]


def test_a_rep_is_offered_only_titles_he_may_see(crm, probe, users):
    _named_then_mentioned(probe)  # the system's accounts: private sharing, owned by nobody the rep is
    rep = crm.as_user(users["rep1"])
    mine = rep.records("account").create({"name": "Quokka of mine"})
    assert [record_id for record_id, _title in rep.records("account").suggest("quokka", limit=10)] == [mine.id]
    assert [hit.id for hit in rep.search("quokka")] == [mine.id]


def test_no_statement_tests_every_records_title(crm, probe, users, plan_reader):
    _named_then_mentioned(probe)
    admin = crm.as_user(users["admin"])
    reader = plan_reader(crm.engine)
    for action in (lambda: admin.records("account").suggest("quokka", limit=10),
                   lambda: admin.search("quokka"), lambda: admin.search_by_object("quokka")):
        plans = reader.plans(action)
        assert plans and not [line for plan in plans for line in plan.full_scans("account")], \
            "\n\n".join(map(str, plans))
