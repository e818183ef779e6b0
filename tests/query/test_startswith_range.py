"""`startswith` finds exactly what it found before it was read as an index range: the same case rules on each database."""
from __future__ import annotations

import pytest
from sqlalchemy import select


NAMES = [
    "École", "école", "ÉCOLE", "ecole", "Ecole", "abc", "ABC", "Abd", "ab", "a%b", "a_b", "a/b", "a\\b",
    "ΣΟΦΙΑ", "σοφια", "İstanbul", "istanbul", "Straße", "STRASSE", "北京科技", "北京", "@home", "Ahome",
    "x\ud7ffy", "x\ud7ff", "x\ue000", "z\U0010ffffq", "z\U0010ffff", "z", "zz", "", " lead",
]
PREFIXES = ["é", "É", "ecole", "ab", "AB", "a%", "a_", "a/", "a\\", "σο", "ΣΟ", "i", "İ", "stra", "北京", "北",
            "@", "x\ud7ff", "x", "z\U0010ffff", "z", " ", "zz"]


@pytest.fixture
def named(db):
    db.insert("account", *({"name": name or None} for name in NAMES))
    return db


@pytest.mark.parametrize("prefix", PREFIXES)
def test_startswith_matches_what_the_case_insensitive_like_matches(named, prefix):
    table = named.table("account")
    reference = {row[0] for row in named.execute(
        select(table.c.name).where(table.c.name.istartswith(prefix, autoescape=True)))}
    assert named.names("account", {"name": {"startswith": prefix}}) == reference


def test_a_startswith_clause_is_built_once_per_column_and_text_and_never_served_for_another_column():
    from sqlalchemy import Column, MetaData, Table, Text

    from sqlalchemy.sql.visitors import iterate

    from crmkit.engine.query.filters import _startswith

    first = Table("account", MetaData(), Column("name", Text)).c.name
    again = Table("account", MetaData(), Column("name", Text)).c.name  # the same name after a migration: a new column
    assert _startswith(first, "wonka") is _startswith(first, "wonka")
    assert _startswith(first, "wonka") is not _startswith(first, "wonk")
    rebuilt = _startswith(again, "wonka")
    columns = {id(element) for element in iterate(rebuilt) if isinstance(element, Column)}
    assert rebuilt is not _startswith(first, "wonka") and columns == {id(again)}
