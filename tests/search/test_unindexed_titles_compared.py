"""A searchable title without an index (looked up among the text's search matches, records/service.py
`_title_among_matches`) offers the same records first as the same title with an index (`indexed: true`, read as an
index range), on both databases: the record whose title starts with the text comes first, whatever the text holds."""
from __future__ import annotations

import pytest

PACKAGE = """
package: titles
version: "1.0.0"
objects:
  plain:
    title_field: name
    fields:
      name: {type: text, searchable: true}
      notes: {type: textarea, searchable: true}
  ranged:
    title_field: name
    fields:
      name: {type: text, searchable: true, indexed: true}
      notes: {type: textarea, searchable: true}
"""
OBJECTS = ("plain", "ranged")
TITLES = ["O'Brien & Sons", "Acme-Co Ltd", "A.B.C. Trading", "3M Company", "12,500 Widgets", "Ärzte Verbund",
          "ÉCOLE Paris", "Straße AG", "上海贸易公司", "Acme上海", "C++ Shop", "foo_bar Inc", "Ｆｕｌｌ Width",
          "Dr. Who", "50% Off", "U.S.A. Inc", "naïve co", "(Paren) Co", "#1 Deals", "+86 Hotline", "-minus-"]


@pytest.fixture
def titles(crm, install):
    install(PACKAGE)
    system = crm.as_system()
    for object_name in OBJECTS:
        system.records(object_name).bulk_create([{"name": title} for title in TITLES])
    return system


@pytest.mark.parametrize("text", ["o'b", "acme-c", "a.b.", "3m", "12,5", "ärz", "ÄRZ", "éco", "straße", "上海",
                                  "acme上", "c++", "foo_b", "full", "dr.", "50%", "u.s.a", "NAÏVE", "(", "(par",
                                  "#", "#1", "+", "+86", "-", "-min"])
def test_an_unindexed_title_offers_what_an_indexed_one_offers(titles, text):
    offered = {name: [title for _id, title in titles.records(name).suggest(text, limit=10)] for name in OBJECTS}
    assert offered["plain"] == offered["ranged"]



@pytest.mark.parametrize("text", ["(", "(par", "#", "acme-c", "ärz"])
def test_global_search_ranks_an_unindexed_title_as_an_indexed_one(titles, text):
    hits = titles.search(text)
    ranked = {name: [(hit.title, hit.match) for hit in hits if hit.object == name] for name in OBJECTS}
    assert ranked["plain"] == ranked["ranged"]
