"""Saved list views: saved as a query, checked for whoever opens them, shared only as far as allowed."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import pytest
from sqlalchemy import inspect

from crmkit.engine.query.errors import QueryError
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.users import SystemDirectory
from crmkit.engine.list_query import ListQuery
from crmkit.engine.saved_views import (
    SavedViewError,
    SavedViewNotFound,
    SavedViews,
    SavedViewUnusable,
)


def views(office, name):
    return SavedViews(office.session(name))


def add_deals(office, name, *deals):
    records = office.session(name).records("deal")
    return [records.create(values) for values in deals]


def test_the_tables_are_created_with_the_other_system_tables(crm):
    names = set(inspect(crm.engine).get_table_names())
    assert {"crmkit_saved_view", "crmkit_default_view", "crmkit_recent_item"} <= names


def test_a_rep_saves_a_view_and_finds_it_with_its_query_and_name_in_each_language(office):
    mine = views(office, "rep_a").create(
        "deal", {"en": "Big wins", "zh": "大单"}, filter={"stage": "Won", "amount": {"gte": "1000"}},
        columns=["name", "amount"], sort=["-amount"], search="  acme ")
    assert mine.name("zh") == "大单" and mine.name("zh-CN") == "大单" and mine.name("de") == "Big wins"
    assert mine.query == ListQuery(filter={"stage": "Won", "amount": {"gte": "1000"}}, sort=("-amount",),
                                   search="acme", columns=("name", "amount"))
    assert mine.shared_with == "private" and mine.owner_id == office.ids["rep_a"]
    assert [view.id for view in views(office, "rep_a").available("deal")] == [mine.id]
    assert views(office, "rep_a").available("memo") == []


def test_a_plain_name_is_kept_as_typed(office):
    view = views(office, "rep_a").create("deal", "  Pipeline 管道 ")
    assert view.label == "Pipeline 管道" and view.name("zh") == "Pipeline 管道"


def test_a_rep_cannot_read_use_change_or_delete_another_reps_private_view(office):
    private = views(office, "rep_a").create("deal", "Mine", filter={"stage": "Won"})
    other = views(office, "rep_b")
    for attempt in (lambda: other.get(private.id), lambda: other.open(private.id), lambda: other.page(private.id),
                    lambda: other.rename(private.id, "Stolen"), lambda: other.delete(private.id),
                    lambda: other.set_default("deal", private.id)):
        with pytest.raises(SavedViewNotFound) as refused:
            attempt()
        assert str(refused.value) == f"there is no saved view with id {private.id}."  # as for a missing one
    assert other.available("deal") == []
    assert views(office, "rep_a").get(private.id).name() == "Mine"


def test_an_administrator_cannot_see_a_private_view_of_someone_else(office):
    private = views(office, "rep_a").create("deal", "Mine")
    with pytest.raises(SavedViewNotFound):
        views(office, "admin").delete(private.id)
    assert views(office, "admin").shared_views("deal") == []


def test_a_view_shared_with_everyone_shows_each_rep_only_their_own_rows(office):
    add_deals(office, "rep_a", {"name": "A won", "stage": "Won"}, {"name": "A lost", "stage": "Lost"})
    add_deals(office, "rep_b", {"name": "B won", "stage": "Won"})
    everyone = views(office, "admin").create("deal", {"en": "Won deals", "zh": "赢单"}, filter={"stage": "Won"},
                                             sort=["name"], shared_with="everyone")
    assert [record["name"] for record in views(office, "rep_a").page(everyone.id).records] == ["A won"]
    assert [record["name"] for record in views(office, "rep_b").page(everyone.id).records] == ["B won"]
    assert [record["name"] for record in views(office, "boss").page(everyone.id).records] == ["A won", "B won"]


def test_only_an_administrator_shares_with_everyone_or_beyond_their_own_role_and_teams(office):
    rep = views(office, "rep_a")
    with pytest.raises(PermissionDenied, match="only administrators may share a view with everyone"):
        rep.create("deal", "For all", shared_with="everyone")
    with pytest.raises(PermissionDenied, match="role other than their own"):
        rep.create("deal", "For bosses", shared_with="role", role="manager")
    outsiders = SystemDirectory(office.crm).create_team("south")
    with pytest.raises(PermissionDenied, match="team they are not a member of"):
        rep.create("deal", "For the south", shared_with="team", team_id=outsiders)
    with pytest.raises(SavedViewError, match="no role 'ghost'"):
        rep.create("deal", "Nobody", shared_with="role", role="ghost")
    with pytest.raises(SavedViewError, match="shared with one of"):
        rep.create("deal", "Odd", shared_with="world")
    assert rep.available("deal") == []


def test_a_view_shared_with_a_role_or_a_team_reaches_exactly_its_members(office):
    by_role = views(office, "rep_a").create("deal", "Reps", shared_with="role", role="rep")
    by_team = views(office, "rep_a").create("deal", "North", shared_with="team", team_id=office.north)
    seen = {name: {view.id for view in views(office, name).available("deal")}
            for name in ("rep_a", "rep_b", "boss", "finance", "admin")}
    assert seen == {"rep_a": {by_role.id, by_team.id}, "rep_b": {by_role.id}, "boss": set(),
                    "finance": {by_role.id, by_team.id}, "admin": set()}
    with pytest.raises(SavedViewNotFound):
        views(office, "boss").open(by_role.id)


def test_leaving_the_team_takes_the_shared_view_away(office):
    by_team = views(office, "rep_a").create("deal", "North", shared_with="team", team_id=office.north)
    finance = views(office, "finance")
    assert finance.get(by_team.id).id == by_team.id
    SystemDirectory(office.crm).remove_from_team(office.north, office.ids["finance"])
    with pytest.raises(SavedViewNotFound):
        finance.get(by_team.id)  # the same SavedViews object follows the change


def test_others_can_use_a_shared_view_but_only_its_owner_or_an_administrator_change_it(office):
    shared = views(office, "rep_a").create("deal", "Reps", shared_with="role", role="rep")
    with pytest.raises(PermissionDenied, match="only the owner of the view 'Reps' or an administrator"):
        views(office, "rep_b").rename(shared.id, "Mine now")
    with pytest.raises(PermissionDenied):
        views(office, "rep_b").delete(shared.id)
    renamed = views(office, "admin").rename(shared.id, {"en": "Team reps", "zh": "团队销售"})
    assert renamed.name("zh") == "团队销售" and renamed.shared_with == "role"
    assert [view.id for view in views(office, "admin").shared_views("deal")] == [shared.id]
    views(office, "admin").delete(shared.id)
    assert views(office, "rep_b").available("deal") == []
    with pytest.raises(PermissionDenied, match="only administrators may see every shared view"):
        views(office, "rep_a").shared_views("deal")


def test_the_owner_updates_only_what_is_given(office):
    rep = views(office, "rep_a")
    view = rep.create("deal", "Open", filter={"stage": "New"}, columns=["name"], sort=["name"])
    changed = rep.update(view.id, sort=["-amount"], shared_with="team", team_id=office.north)
    assert changed.query == ListQuery(filter={"stage": "New"}, sort=("-amount",), columns=("name",))
    assert (changed.shared_with, changed.shared_team_id, changed.label) == ("team", office.north, "Open")
    made_private = rep.update(view.id, shared_with="private")
    assert (made_private.shared_with, made_private.shared_team_id) == ("private", None)
    with pytest.raises(SavedViewNotFound):
        views(office, "finance").get(view.id)


def test_the_query_is_checked_against_the_fields_the_user_may_see_when_saved(office):
    rep = views(office, "rep_a")
    with pytest.raises(QueryError) as unknown:
        rep.create("deal", "Typo", filter={"stagee": "Won"})
    with pytest.raises(QueryError) as hidden:
        rep.create("deal", "Margins", filter={"margin": {"gt": "0"}})
    assert str(unknown.value) == "deal has no field 'stagee'. Did you mean 'stage'?"
    assert str(hidden.value) == "deal has no field 'margin'."  # exactly as for a field that does not exist
    for bad in ({"columns": ["margin"]}, {"sort": ["-margin"]}, {"columns": ["name", "name"]},
                {"columns": "name"}, {"filter": {"amount": {"gte": "lots"}}}, {"search": "a\x00b"}):
        with pytest.raises((QueryError, SavedViewError)):
            rep.create("deal", "Bad", **bad)
    with pytest.raises(SavedViewError, match="1 to 150"):
        rep.create("deal", " ")
    with pytest.raises(SavedViewError, match="at most 20 languages"):
        rep.create("deal", {f"x{n}": "name" for n in range(21)})
    with pytest.raises(SavedViewError, match="too long to save"):
        rep.create("deal", "Huge", filter={"name": {"in": [f"name {n}" for n in range(3000)]}})
    assert rep.available("deal") == []
    assert views(office, "finance").create("deal", "Margins", filter={"margin": {"gt": "0"}}).id


def test_a_view_filtering_on_a_field_the_user_cannot_see_is_refused_without_naming_it(office):
    shared = views(office, "finance").create("deal", "Thin ones", filter={"margin": {"lt": "100"}},
                                            shared_with="role", role="rep")
    with pytest.raises(SavedViewUnusable) as refused:
        views(office, "rep_a").open(shared.id)
    assert refused.value.status == 409 and "margin" not in refused.value.message
    assert "'Thin ones' filters on fields you cannot see or that no longer exist" in refused.value.message
    with pytest.raises(SavedViewUnusable):
        views(office, "rep_a").page(shared.id)
    assert views(office, "finance").open(shared.id).query.filter == {"margin": {"lt": "100"}}


def test_hidden_columns_and_sort_fields_are_left_out_and_counted(office):
    shared = views(office, "finance").create("deal", "Wide", columns=["name", "margin", "amount"],
                                            sort=["-margin", "name"], shared_with="team", team_id=office.north)
    opened = views(office, "rep_a").open(shared.id)
    assert opened.query.columns == ("name", "amount") and opened.query.sort == ("name",)
    assert opened.withheld == 2
    assert views(office, "finance").open(shared.id).withheld == 0


def test_a_view_is_checked_again_when_the_owner_loses_the_field(office):
    own = views(office, "finance").create("deal", "Margins", filter={"margin": {"gt": "0"}})
    SystemDirectory(office.crm).revoke("finance", user_id=office.ids["finance"])
    with pytest.raises(SavedViewUnusable):
        views(office, "finance").open(own.id)


def test_without_read_permission_on_the_object_there_are_no_views_of_it(office):
    directory = SystemDirectory(office.crm)
    nobody = directory.create_user("nobody").id
    with pytest.raises(PermissionDenied):
        SavedViews(office.crm.as_user(nobody)).available("deal")
    with pytest.raises(PermissionDenied):
        SavedViews(office.crm.as_user(nobody)).create("deal", "Deals")
    everyone = views(office, "admin").create("deal", "All", shared_with="everyone")
    for attempt in (SavedViews(office.crm.as_user(nobody)).open, SavedViews(office.crm.as_user(nobody)).get):
        with pytest.raises(PermissionDenied):
            attempt(everyone.id)


def test_the_system_session_has_no_saved_views(office):
    with pytest.raises(SavedViewError, match="belong to a user"):
        SavedViews(office.crm.as_system())


def test_a_default_view_per_user_and_object_lasts_while_the_user_may_use_it(office):
    shared = views(office, "rep_a").create("deal", "Reps", shared_with="role", role="rep")
    rep_b = views(office, "rep_b")
    assert rep_b.default("deal") is None
    rep_b.set_default("deal", shared.id)
    assert rep_b.default("deal").id == shared.id and views(office, "rep_a").default("deal") is None
    with pytest.raises(SavedViewError, match="view of another object"):
        rep_b.set_default("memo", shared.id)
    views(office, "rep_a").update(shared.id, shared_with="private")
    assert rep_b.default("deal") is None  # no longer theirs to use: nothing of it is shown
    views(office, "rep_a").update(shared.id, shared_with="role", role="rep")
    assert rep_b.default("deal").id == shared.id
    views(office, "rep_a").delete(shared.id)
    assert rep_b.default("deal") is None
    rep_b.set_default("deal", None)


def test_the_menu_is_the_available_views_and_the_default_read_at_once(office):
    """SavedViews.menu (the list page's one statement) agrees with available and default as they change."""
    rep_a, rep_b = views(office, "rep_a"), views(office, "rep_b")
    own = rep_b.create("deal", "Mine menu")
    shared = rep_a.create("deal", "Reps menu", shared_with="role", role="rep")
    rep_a.create("deal", "Private menu")

    def agrees() -> None:
        for user in (rep_a, rep_b):
            assert user.menu("deal") == (user.available("deal"), user.default("deal"))
            assert user.menu("memo") == (user.available("memo"), user.default("memo"))

    agrees()
    rep_b.set_default("deal", shared.id)
    agrees()
    assert rep_b.menu("deal")[1].id == shared.id and rep_a.menu("deal")[1] is None
    rep_a.update(shared.id, shared_with="private")
    agrees()
    assert rep_b.menu("deal")[1] is None  # no longer theirs to use
    rep_b.set_default("deal", own.id)
    agrees()
    for view in (own, shared):
        (rep_b if view is own else rep_a).delete(view.id)
    agrees()
    directory = SystemDirectory(office.crm)
    with pytest.raises(PermissionDenied):
        SavedViews(office.crm.as_user(directory.create_user("nobody_menu").id)).menu("deal")


@pytest.mark.parametrize("query", [
    ListQuery(filter={"stage": "Won", "amount": {"gte": "100"}}, sort=("-amount", "name"), search="acme 张"),
    ListQuery(filter={"stage": {"in": ["Won", "Lost"]}, "name": {"is_null": False}}),
    ListQuery(filter={"or": [{"stage": "Won"}, {"amount": {"gt": 5}}]}, sort=("name",)),
    ListQuery(filter={"name": {"in": ["a,b", "c"]}}),
    ListQuery(filter={"created_at": {"gte": "this_year"}, "name": {"between": ["a", "m"]}}),
    ListQuery(search="only words"),
    ListQuery(),
])
def test_the_query_string_form_round_trips(query):
    pairs = query.query_string()
    as_request = parse_qs(urlencode(pairs), keep_blank_values=True)  # what a browser sends back
    assert ListQuery.from_query_string(as_request) == query


def test_the_query_string_is_plain_where_it_can_be():
    assert ListQuery(filter={"stage": "Won", "amount": {"gte": "100"}}, sort=("-amount",), search="acme"
                     ).query_string() == [("stage", "Won"), ("amount__gte", "100"), ("sort", "-amount"),
                                          ("q", "acme")]
    assert ListQuery(filter={"or": [{"stage": "Won"}]}).query_string() == [("filter", '{"or":[{"stage":"Won"}]}')]


def test_a_saved_view_round_trips_through_the_list_url(office):
    rep = views(office, "rep_a")
    saved = rep.create("deal", "Won", filter={"stage": "Won"}, sort=["-amount"], search="acme", columns=["name"])
    from_url = ListQuery.from_query_string(parse_qs(urlencode(saved.query.query_string())), columns=("name",))
    again = rep.create("deal", "Won again", filter=from_url.filter, sort=from_url.sort, search=from_url.search,
                       columns=from_url.columns)
    assert again.query == saved.query


def test_a_list_filter_is_stored_as_and(office):
    view = views(office, "rep_a").create("deal", "Both", filter=[{"stage": "Won"}, {"amount": {"gte": 1}}])
    assert view.query.filter == {"and": [{"stage": "Won"}, {"amount": {"gte": 1}}]}
