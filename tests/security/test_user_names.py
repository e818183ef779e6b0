"""Users' display names for whoever works with records: named by id, and suggested for an owner filter."""
from __future__ import annotations

import pytest

from crmkit.engine.security.access import UnknownUser
from crmkit.engine.security.user_names import MAX_IDS, UserName, UserNames
from crmkit.engine.security.users import UserError

PASSWORD = "correct horse battery"


@pytest.fixture
def people(directory):
    """A sales rep, colleagues with names in two scripts, and an inactive user."""
    made = {name: directory.create_user(name, display_name=display, role="sales_rep").id
            for name, display in [("wang", "王伟"), ("li", "李娜"), ("lily", "Lily Chen"), ("liam", "Liam O'Neil"),
                                  ("pct", "100% Sales_Team")]}
    made["gone"] = directory.create_user("gone", display_name="Linus Gone").id
    directory.deactivate(made["gone"])
    return made


def test_a_rep_may_read_the_display_names_of_every_user_inactive_ones_too(crm, people):
    names = UserNames(crm.as_user(people["wang"])).names([people["li"], people["gone"], 99_999, "7", None])
    assert names == {people["li"]: UserName(people["li"], "李娜", True),
                     people["gone"]: UserName(people["gone"], "Linus Gone", False)}


def test_only_the_ids_asked_for_are_read_and_their_number_is_bounded(crm, people):
    names = UserNames(crm.as_user(people["wang"]))
    assert names.names([]) == {}
    with pytest.raises(UserError, match="at most 1,000 users"):
        names.names(range(1, MAX_IDS + 2))


def test_suggestions_match_the_start_of_the_display_name_or_username_active_first(crm, people):
    names = UserNames(crm.as_user(people["wang"]))
    assert [user.display_name for user in names.suggest("LI")] == ["Liam O'Neil", "Lily Chen", "李娜", "Linus Gone"]
    assert [user.display_name for user in names.suggest("李")] == ["李娜"]
    assert [user.display_name for user in names.suggest("li", limit=2)] == ["Liam O'Neil", "Lily Chen"]
    assert len(names.suggest(None, limit=1000)) == len(people)


def test_suggestion_text_is_taken_literally(crm, people):
    names = UserNames(crm.as_user(people["wang"]))
    for text in ["%", "_", "\\", "' OR 1=1 --", "x" * 10_000]:
        assert names.suggest(text) == [], text
    assert [user.display_name for user in names.suggest("100%")] == ["100% Sales_Team"]
    assert [user.display_name for user in names.suggest("\x00li")] == ["Liam O'Neil", "Lily Chen", "李娜", "Linus Gone"]


def test_a_deactivated_user_reads_no_names(crm, directory, people):
    names = UserNames(crm.as_user(people["wang"]))
    directory.deactivate(people["wang"])
    with pytest.raises(UnknownUser):
        names.names([people["li"]])
    with pytest.raises(UnknownUser):
        names.suggest("li")


def test_the_display_name_prefix_is_indexed(crm, people):
    from sqlalchemy import text

    assert "ix_crmkit_user_display_name" in {index.name for index in crm.runtime.system_table("crmkit_user").indexes}
    with crm.engine.connect() as connection:  # the index exists in the database, not only in the metadata
        if crm.engine.dialect.name == "sqlite":
            found = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars()
        else:
            found = connection.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'crmkit_user'")).scalars()
        assert "ix_crmkit_user_display_name" in set(found)


def test_a_rep_may_read_every_teams_name_and_label_but_not_its_members(crm, people, directory):
    east = directory.create_team("east", {"en": "East", "zh": "华东"})
    directory.add_to_team(east, people["li"])
    directory.create_team("audit")
    teams = UserNames(crm.as_user(people["wang"])).teams()
    assert [(team.name, team.label) for team in teams] == [("audit", None), ("east", {"en": "East", "zh": "华东"})]


def test_a_deactivated_user_reads_no_team(crm, people):
    with pytest.raises(UnknownUser):
        UserNames(crm.as_user(people["gone"])).teams()
