"""The search index: what it finds (Chinese, mixed scripts, case beyond A-Z), that every write
keeps it current in the same transaction, that it never reveals what a user may not see, that
migrations build and rebuild it, and that searches read it rather than scanning."""
from __future__ import annotations


import pytest

from tests.conftest import add_users

from crmkit.engine import Crm
from crmkit.engine.migrations import MigrationError
from crmkit.engine.migrations.search_steps import BuildSearchIndex
from crmkit.engine.query import QuerySpec, build_select
from crmkit.engine.query import search as search_module
from crmkit.engine.query import search_index
from crmkit.engine.records.global_search import Match
from crmkit.engine.query.search_index import search_table_name

PACKAGE = """
package: finder
version: "{version}"
roles:
  rep: {{label: Rep}}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit, delete]
      contact: [create, read, edit, delete]
  contacts_only:
    objects:
      contact: [read]
  secrets:
    fields:
      account.secret: [read]
  privacy:
    system: [manage_privacy]
objects:
  account:
    title_field: name
    sharing: private
    fields:
      name: {{type: text, searchable: true, personal: true}}
      {notes}: {{type: textarea, searchable: {notes_searchable}}}
      secret: {{type: text, searchable: true}}
  contact:
    title_field: name
    sharing: public_read
    fields:
      name: {{type: text, searchable: true}}
      account: {{type: lookup, to: account, on_delete: cascade}}
      company: {{type: formula, returns: text, formula: "account.name", searchable: true}}
"""


def package(version="1.0.0", notes="notes", notes_searchable="true", renamed_from=None) -> str:
    text_ = PACKAGE.format(version=version, notes=notes, notes_searchable=notes_searchable)
    if renamed_from:
        text_ = text_.replace(f"{notes}: {{type: textarea,", f"{notes}: {{type: textarea, renamed_from: {renamed_from},")
    return text_


@pytest.fixture
def finder(crm, install):
    install(package())
    return crm.as_system()


@pytest.fixture
def users(crm, finder):
    """rep1 and rep2 (role rep, each sees only their own accounts), admin, a contacts-only reader."""
    return add_users(crm, [("rep1", "rep", ["privacy"]), ("rep2", "rep", []), ("admin", None, ["admin"]),
                            ("reader", None, ["contacts_only"])])


def found(context, search, object_name="account") -> set[str]:
    return {record["name"] for record in context.records(object_name).query(search=search, limit=100).records}


def add(context, *names, object_name="account", **values) -> list:
    return [context.records(object_name).create({"name": name, **values}) for name in names]


def test_two_character_chinese_names_single_characters_and_longer_runs(finder):
    add(finder, "张伟", "王伟", "张三丰科技有限公司")
    assert found(finder, "张伟") == {"张伟"}
    assert found(finder, "张") == {"张伟", "张三丰科技有限公司"}
    assert found(finder, "伟") == {"张伟", "王伟"}
    assert found(finder, "科技有限") == {"张三丰科技有限公司"}
    assert found(finder, "伟张") == set()
    assert found(finder, "张 伟") == {"张伟"}


def test_mixed_scripts_are_split_by_script_and_words_match_by_prefix(finder):
    add(finder, "ABC科技123", "Acme Ltd")
    for term in ("abc", "科技", "123", "abc科技", "ABC科技123", "12"):
        assert found(finder, term) == {"ABC科技123"}, term
    assert found(finder, "acm") == {"Acme Ltd"}
    assert found(finder, "ACME ltd") == {"Acme Ltd"}
    assert found(finder, "cme") == set()  # words and word prefixes, not substrings inside a Latin word


def test_case_is_ignored_beyond_a_to_z(finder):
    add(finder, "ÄRZTE Σοφία ＡＢＣ商事")
    for term in ("ärzte", "ÄRZTE", "σοφία", "ΣΟΦΊΑ", "abc", "ＡＢＣ", "商事"):
        assert found(finder, term) == {"ÄRZTE Σοφία ＡＢＣ商事"}, term


def test_no_match_and_punctuation_only(finder):
    add(finder, "Acme")
    accounts = finder.records("account")
    assert found(finder, "xyzzy") == set()
    assert accounts.count(search="xyzzy").value == 0
    assert found(finder, "%") == set()
    assert accounts.count(search="acme").value == 1


@pytest.mark.parametrize("few", [5_000, 0], ids=["matches read as a set", "matches tested row by row"])
def test_a_search_page_finds_the_same_records_whichever_plan_it_takes(crm, users, monkeypatch, few):
    """A page asks the index how many records match, then reads them as a set or tests each row it reads."""
    monkeypatch.setattr(search_module, "FEW_MATCHES", few)
    monkeypatch.setattr(search_module, "FEW_MATCHES_SQLITE", few)
    rep1 = crm.as_user(users["rep1"])
    add(rep1, "张伟", "王伟", "ABC科技123", "Acme Ltd", "Acme Corp", "Beta")
    add(crm.as_user(users["rep2"]), "Acme Two", "张伟 Two")
    assert found(rep1, "张伟") == {"张伟"}
    assert found(rep1, "伟") == {"张伟", "王伟"}
    assert found(rep1, "acm") == {"Acme Ltd", "Acme Corp"}
    assert found(rep1, "科技 123") == {"ABC科技123"}
    assert found(rep1, "xyzzy") == set()
    accounts = rep1.records("account")
    first = accounts.query(search="acme", sort=("-name",), limit=1)
    assert [record["name"] for record in first.records] == ["Acme Ltd"]
    second = accounts.query(search="acme", sort=("-name",), limit=1, after=first.next_cursor)
    assert [record["name"] for record in second.records] == ["Acme Corp"] and second.next_cursor is None
    assert [record["name"] for record in accounts.query(search="acme", sort=("name",), limit=5, offset=1).records] \
        == ["Acme Ltd"]


def test_searches_one_after_another_each_find_their_own_records(finder):
    """More than 100 matches travel as one id list on PostgreSQL; a cached statement must not
    carry one search's ids into the next."""
    accounts = finder.records("account")
    accounts.bulk_create([{"name": f"Alpha {number}"} for number in range(110)]
                         + [{"name": f"Beta {number}"} for number in range(110)])
    assert {record["name"].split()[0] for record in accounts.query(search="alpha", limit=200).records} == {"Alpha"}
    assert {record["name"].split()[0] for record in accounts.query(search="beta", limit=200).records} == {"Beta"}
    assert accounts.count(search="beta").value == 110


def test_the_index_follows_create_update_delete_restore_and_bulk(finder):
    accounts = finder.records("account")
    acme = accounts.create({"name": "Acme", "notes": "北京分公司"})
    assert found(finder, "北京") == {"Acme"}
    acme = accounts.update(acme.id, {"name": "Globex", "notes": "上海"}, version=acme.version)
    assert found(finder, "acme") == set() and found(finder, "北京") == set()
    assert found(finder, "globex 上海") == {"Globex"}
    batch = accounts.delete(acme.id, version=acme.version)
    assert found(finder, "globex") == set()
    finder.recycle_bin.restore(batch)
    assert found(finder, "globex") == {"Globex"}
    assert accounts.bulk_create([{"name": f"批量 {number}"} for number in range(25)]) == 25
    assert len(found(finder, "批量")) == 25
    assert found(finder, "批量 7") == {"批量 7"}


def test_a_failed_write_leaves_the_index_as_it_was(finder):
    accounts = finder.records("account")
    with pytest.raises(RuntimeError):
        with finder.transaction():
            accounts.create({"name": "Ghost"})
            raise RuntimeError("rolled back")
    assert found(finder, "ghost") == set()


def test_formulas_rewritten_by_propagation_are_reindexed(finder):
    acme = finder.records("account").create({"name": "Acme"})
    finder.records("contact").create({"name": "Li Lei", "account": acme.id})
    assert found(finder, "acme", "contact") == {"Li Lei"}
    finder.records("account").update(acme.id, {"name": "腾讯"}, version=acme.version)
    assert found(finder, "腾讯", "contact") == {"Li Lei"}
    assert found(finder, "acme", "contact") == set()


def test_an_erasure_removes_the_erased_values_from_the_index(crm, users):
    rep1 = crm.as_user(users["rep1"])
    account = rep1.records("account").create({"name": "Zhang Wei"})
    rep1.privacy.erase("account", account.id)
    assert found(rep1, "zhang") == set()


def test_a_field_the_user_may_not_read_finds_nothing(crm, users):
    rep1 = crm.as_user(users["rep1"])
    rep1.records("account").create({"name": "Acme"})
    crm.as_system().records("account").update(
        rep1.records("account").query().records[0].id, {"secret": "zebra"},
        version=rep1.records("account").query().records[0].version)
    assert found(rep1, "zebra") == set()
    assert rep1.records("account").count(search="zebra").value == 0
    assert rep1.search("zebra") == []
    assert found(crm.as_user(users["admin"]), "zebra") == {"Acme"}


def test_other_users_private_records_are_neither_found_nor_counted(crm, users):
    crm.as_user(users["rep1"]).records("account").create({"name": "Acme One"})
    crm.as_user(users["rep2"]).records("account").create({"name": "Acme Two"})
    rep2 = crm.as_user(users["rep2"])
    assert found(rep2, "acme") == {"Acme Two"}
    assert rep2.records("account").count(search="acme").value == 1
    assert [hit.title for hit in rep2.search("acme")] == ["Acme Two"]
    assert [title for _, title in rep2.records("account").suggest("acme")] == ["Acme Two"]


def test_global_search_ranks_exact_then_prefix_then_newest_other_and_skips_unreadable_objects(crm, finder, users):
    acme = finder.records("account").create({"name": "Acme Holdings", "notes": "acme"})
    finder.records("account").create({"name": "Acme"})
    finder.records("account").create({"name": "Globex", "notes": "partner of acme"})
    finder.records("contact").create({"name": "Li Lei", "account": acme.id})
    hits = crm.as_user(users["admin"]).search("acme")
    assert [(hit.object, hit.title, hit.match) for hit in hits] == [
        ("account", "Acme", Match.EXACT_TITLE),
        ("account", "Acme Holdings", Match.TITLE_PREFIX),
        ("contact", "Li Lei", Match.OTHER),  # created after Globex: the other matches are newest first
        ("account", "Globex", Match.OTHER),
    ]
    assert [hit.title for hit in crm.as_user(users["admin"]).search("acme", limit=2)] == ["Acme", "Acme Holdings"]
    reader = crm.as_user(users["reader"])  # reads contacts, not accounts: no error, only contacts
    assert [(hit.object, hit.title) for hit in reader.search("li")] == [("contact", "Li Lei")]
    assert crm.as_user(users["admin"]).search("   ") == []


def test_suggestions_put_title_prefixes_before_other_matches(finder):
    add(finder, "Beta acme", "Acme")
    add(finder, "Alpha", notes="acme")
    assert [title for _, title in finder.records("account").suggest("acme")] == ["Acme", "Alpha", "Beta acme"]
    assert [title for _, title in finder.records("account").suggest("acme", limit=1)] == ["Acme"]


def test_marking_a_field_searchable_indexes_existing_records(crm, install):
    install(package(notes_searchable="false"))
    crm.as_system().records("account").create({"name": "Acme", "notes": "上海分公司"})
    assert found(crm.as_system(), "上海") == set()
    plan = install(package(version="1.1.0"))
    assert BuildSearchIndex("account", fields=("name", "notes", "secret")) in plan.steps
    assert found(crm.as_system(), "上海") == {"Acme"}
    assert install(package(version="1.1.0")).is_empty


def test_renaming_a_searchable_field_rebuilds_the_index(crm, install):
    install(package())
    crm.as_system().records("account").create({"name": "Acme", "notes": "上海分公司"})
    plan = install(package(version="1.1.0", notes="remarks", renamed_from="notes"))
    assert BuildSearchIndex("account", fields=("name", "remarks", "secret")) in plan.steps
    assert found(crm.as_system(), "上海") == {"Acme"}


def test_a_database_without_search_indexes_is_refused_until_migrated_which_builds_them(crm, finder, database_url):
    add(finder, *(f"客户 {number}" for number in range(5)))
    with crm.engine.begin() as connection:
        connection.exec_driver_sql(f'DROP TABLE {search_table_name("account")}')
    older = Crm.open(database_url)
    try:
        with pytest.raises(MigrationError, match="account has no current search index"):
            older.as_system()
        progress = []
        plan = older.migrate(progress=lambda name, done, total: progress.append((name, done, total)))
        assert [step for step in plan.steps if isinstance(step, BuildSearchIndex)] == [
            BuildSearchIndex("account", fields=("name", "notes", "secret"))]
        assert progress == [("account", 5, 5)]
        assert len(found(older.as_system(), "客户")) == 5
    finally:
        older.close()


def test_an_index_built_by_another_tokenizer_version_is_rebuilt_by_migrate(crm, finder, database_url, monkeypatch):
    add(finder, "张伟", "Acme")
    monkeypatch.setattr(search_index, "TOKENIZER_VERSION", search_index.TOKENIZER_VERSION + 1)
    newer = Crm.open(database_url)
    try:
        with pytest.raises(MigrationError, match="account has no current search index"):
            newer.as_system()
        plan = newer.migrate()
        assert BuildSearchIndex("account", fields=("name", "notes", "secret")) in plan.steps
        assert found(newer.as_system(), "zhangwei") == {"张伟"}
    finally:
        newer.close()


def stored_merging(crm, object_name: str) -> int | None:
    with crm.engine.connect() as connection:
        return search_index.merging(connection, search_table_name(object_name))


def test_sqlite_search_tables_merge_their_segments_at_two(crm, finder):
    """New and rebuilt indexes merge a level's segments once it has two (search_index.AUTOMERGE)."""
    if crm.engine.dialect.name != "sqlite":
        with crm.engine.begin() as connection:  # FTS5 only: PostgreSQL has nothing to upgrade
            assert search_index.upgrade_search_merging(connection, ["account", "contact"]) == []
        return
    assert search_index.AUTOMERGE == 2
    assert stored_merging(crm, "account") == stored_merging(crm, "contact") == 2
    with crm.engine.begin() as connection:
        search_index.rebuild_index(connection, crm.runtime.schema, crm.runtime.search_index("account"))
    assert stored_merging(crm, "account") == 2


def test_migrate_sets_the_merging_of_indexes_an_older_crmkit_built(crm, finder, database_url):
    add(finder, *(f"客户 {number}" for number in range(30)))
    if crm.engine.dialect.name == "sqlite":
        with crm.engine.begin() as connection:  # what an older crmkit left: no automerge row (FTS5's default, 4)
            connection.exec_driver_sql(f"DELETE FROM {search_table_name('account')}_config WHERE k = 'automerge'")
        assert stored_merging(crm, "account") is None
    older = Crm.open(database_url)
    try:
        assert older.migrate().is_empty  # a setting, not a step: nothing to rebuild
        if crm.engine.dialect.name == "sqlite":
            assert stored_merging(older, "account") == stored_merging(older, "contact") == 2
        context = older.as_system()
        add(context, *(f"客户 new {number}" for number in range(30)))  # 30 more transactions, merged as they go
        assert len(found(context, "客户")) == 60
        assert found(context, "new") == {f"客户 new {number}" for number in range(30)}
        if crm.engine.dialect.name == "sqlite":
            with older.engine.connect() as connection:  # FTS5's own check of its segments against its rows
                table = search_table_name("account")
                connection.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
    finally:
        older.close()


def test_chinese_is_found_by_its_pinyin_and_initials(finder):
    add(finder, "张伟", "星辰科技", "单雄信", "Acme")
    assert found(finder, "zhangwei") == {"张伟"}
    assert found(finder, "zhang wei") == {"张伟"}
    assert found(finder, "ZhangW") == {"张伟"}
    assert found(finder, "zw") == {"张伟"}
    assert found(finder, "keji") == {"星辰科技"}          # from any character on, not only the first
    assert found(finder, "xckj") == {"星辰科技"}
    assert found(finder, "shanxiongxin") == {"单雄信"}    # a surname's every reading (单: dan, shan)
    assert found(finder, "danxiongxin") == {"单雄信"}
    assert found(finder, "zhangsan") == set()


@pytest.mark.query_plans
def test_the_search_query_reads_the_index(crm, finder):
    add(finder, "张伟", "Acme")
    runtime = crm.runtime
    context = finder.records("account").query_context()
    statement = build_select(context, "account", QuerySpec(search="张伟 acm", sort=("name",), limit=50))
    with crm.engine.connect() as connection:
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        if runtime.is_sqlite:
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
            assert f"SCAN {search_table_name('account')} VIRTUAL TABLE INDEX" in plan
        else:
            # A tiny table: show the index can serve it. Plain index scans are off too, so the planner cannot
            # read the search table whole along its primary key (which it may prefer, by the statistics it has).
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_indexscan = off")
            plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert f"Bitmap Index Scan on ix_{search_table_name('account')}" in plan
        assert "LIKE" not in str(compiled).upper()


def test_an_index_built_before_prefix_tokens_is_rebuilt_by_migrate_with_progress(crm, finder, database_url, monkeypatch):
    """Version 2 indexed words alone: a one-letter word, asked as its prefix token ("ᵖz"), would find nothing in
    it. Opening such a database is refused until `migrate` rebuilds the index, telling its progress; then the
    short words find their records again."""
    from crmkit.engine.query import tokens

    add(finder, "Zeta Wonka", "Acme 12")
    with monkeypatch.context() as older_version:
        older_version.setattr(search_index, "TOKENIZER_VERSION", 2)
        older_version.setattr(search_index, "index_tokens", lambda text: [
            token for token in tokens.index_tokens(text) if not token.startswith(tokens.PREFIX_MARK)])
        older = Crm.open(database_url)
        try:
            older.migrate()
            with older.engine.connect() as connection:
                assert search_index.stored_columns(connection, "account") == ("f2_name", "f2_notes", "f2_secret")
        finally:
            older.close()
    newer = Crm.open(database_url)
    try:
        with pytest.raises(MigrationError, match="account has no current search index"):
            newer.as_system()
        progress = []
        plan = newer.migrate(progress=lambda name, done, total: progress.append((name, done, total)))
        assert BuildSearchIndex("account", fields=("name", "notes", "secret")) in plan.steps
        assert progress == [("account", 2, 2)]
        if newer.engine.dialect.name == "postgresql":  # a large index is ANALYZEd as it is rebuilt; a small one is not
            with newer.engine.connect() as connection:
                assert analyzed(connection) is False
            monkeypatch.setattr(search_index, "ANALYZED_FROM", 1)
            monkeypatch.setattr(search_index, "TOKENIZER_VERSION", search_index.TOKENIZER_VERSION + 1)
            newer.close()
            newer = Crm.open(database_url)
            newer.migrate()
            with newer.engine.connect() as connection:
                assert analyzed(connection) is True
            monkeypatch.setattr(search_index, "TOKENIZER_VERSION", search_index.TOKENIZER_VERSION - 1)
            newer.close()
            newer = Crm.open(database_url)
            newer.migrate()
        assert found(newer.as_system(), "wonka z") == found(newer.as_system(), "z") == {"Zeta Wonka"}
        assert found(newer.as_system(), "1") == found(newer.as_system(), "a 12") == {"Acme 12"}
    finally:
        newer.close()


def analyzed(connection) -> bool:
    """PostgreSQL: whether the account search table has been ANALYZEd since it was built."""
    return connection.exec_driver_sql(
        "SELECT count(*) > 0 FROM pg_stats WHERE schemaname = current_schema() "
        f"AND tablename = '{search_table_name('account')}'").scalar_one()


def test_migrate_gives_an_index_an_older_crmkit_built_its_pending_table(crm, finder, database_url):
    """SQLite: a single create's search row waits in `<search table>_pending` (search_index.py); an index built before
    has none, so opening the database asks for `crmkit migrate`, which creates it (no rebuild)."""
    add(finder, *(f"客户 {number}" for number in range(5)))
    if crm.engine.dialect.name != "sqlite":
        with crm.engine.begin() as connection:  # PostgreSQL has no pending table
            assert search_index.upgrade_search_pending(connection, [crm.runtime.search_index("account")]) == []
        return
    pending = search_index.pending_table_name(search_table_name("account"))
    with crm.engine.begin() as connection:  # what an older crmkit left: every row in FTS5, no pending table
        search_index.flush_pending(connection, crm.runtime.search_index("account"))
        connection.exec_driver_sql(f"DROP TABLE {pending}")
    older = Crm.open(database_url)
    try:
        with pytest.raises(MigrationError, match="account's search index has no pending table"):
            older.as_system()
        assert older.migrate().is_empty  # a table, not a step: nothing to rebuild
        context = older.as_system()
        add(context, "客户 new")
        with older.engine.connect() as connection:
            assert connection.exec_driver_sql(f"SELECT count(*) FROM {pending}").scalar_one() == 1
        assert len(found(context, "客户")) == 6 and found(context, "new") == {"客户 new"}
    finally:
        older.close()
