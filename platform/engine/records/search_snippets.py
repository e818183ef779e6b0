"""What a search hit shows besides its title: the fields that matched, their words marked, and pinyin matches.

    >>> described(record, obj, "Acme", ["name", "notes"], search_terms("acme"))
    Details(title=(('Acme', True),), fields=(FieldMatch('notes', ..., (('… met ', False), ('Acme', True), ...)),), pinyin=False)

Field-level security: only `fields`, the fields the user's search looked in
(query/search.py `search_fields`: those they may read as stored, neither hidden nor seen
through a per-user derived value), are read here, so a field a user may not read never
appears in a snippet, never decides which fields are shown, and never sets the pinyin
flag. The title is marked from the title text the user sees, nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from crmkit.engine.query.highlight import Highlight, Segment, Term, highlight, may_match
from crmkit.engine.records.record import Record
from crmkit.metadata.model import Label, ObjectDef

#: Matched fields shown for one hit (besides its title).
MAX_FIELDS = 3
#: Characters of a field's value shown around its first match.
SNIPPET_WIDTH = 120


@dataclass(frozen=True)
class FieldMatch:
    """One field a search matched: its name, label, and a snippet of its value with the matched words marked."""

    field: str
    label: Label
    segments: tuple[Segment, ...]
    #: The field matched a term only through the pinyin of its Chinese text.
    pinyin: bool


@dataclass(frozen=True)
class Details:
    """A hit's title in segments, up to MAX_FIELDS other matched fields, and whether some term matched only by pinyin."""

    title: tuple[Segment, ...]
    fields: tuple[FieldMatch, ...]
    pinyin: bool


def described(record: Record, obj: ObjectDef, title: str, fields: Sequence[str], terms: Sequence[Term]) -> Details:
    """The details of one hit: `record` as the user sees it, `title` its title text, `fields` those the search looked in."""
    title_field = obj.title_field if obj.title_field in record.values else None
    marked = highlight(title, terms) if title_field else None
    found: list[tuple[str, Highlight]] = []
    for name in fields:
        value = record.values.get(name)
        if value is None or not str(value).strip() or not may_match(str(value), terms):
            continue  # a field holding no term adds nothing (the cheap test spares most fields their highlight)
        if name == title_field and marked is not None and str(value) == title:
            found.append((name, marked))  # the title, marked once: it is not shown as a field
        else:
            found.append((name, highlight(str(value), terms, width=SNIPPET_WIDTH)))
    plainly = set().union(*(found_here.terms - found_here.pinyin for _name, found_here in found))
    by_pinyin = set().union(*(found_here.pinyin for _name, found_here in found))
    shown = tuple(FieldMatch(name, obj.fields[name].label, found_here.segments, bool(found_here.pinyin))
                  for name, found_here in found if found_here.terms and name != title_field)[:MAX_FIELDS]
    marked_title = marked.segments if marked is not None else ((title, False),)
    return Details(marked_title, shown, bool(by_pinyin - plainly))
