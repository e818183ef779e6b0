"""Keeping the message catalogs current: extract crmkit.ui's (and crmkit.api's pages') texts and merge them into every .po file.

    python -m crmkit.ui.catalogs          # after changing a text; then translate what is new

New texts arrive with an empty translation, texts no longer used are dropped, existing
translations are kept. tests/ui/test_translations.py fails while a catalog is behind the
code or a Chinese translation is missing.
"""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from crmkit.ui.i18n import DOMAIN, TRANSLATIONS, catalog_files

SOURCE = Path(__file__).resolve().parent
#: Folders whose texts the catalogs hold: the web UI's, and the API's pages (its docs page, rendered by this app).
SOURCES = (SOURCE, SOURCE.parent / "api")
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def extracted() -> Catalog:
    """Every text of crmkit.ui's (and crmkit.api's) Python code and templates, as a catalog template."""
    template = Catalog(domain=DOMAIN, project="crmkit")
    for folder in SOURCES:
        for _, _, message, comments, context in extract_from_dir(str(folder), METHODS, keywords=KEYWORDS,
                                                                   comment_tags=("Translators:",)):
            template.add(message, None, auto_comments=comments, context=context)
    return template


def update(folder: Path = TRANSLATIONS) -> list[str]:
    """Merges the extracted texts into each catalog under `folder`; returns the languages updated."""
    template = extracted()
    languages = []
    for language, path in catalog_files(folder).items():
        with path.open("rb") as source:
            catalog = read_po(source, locale=language, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as target:
            write_po(target, catalog, sort_output=True, width=120, omit_header=False)
        languages.append(language)
    return languages


if __name__ == "__main__":
    print("updated: " + ", ".join(update()), file=sys.stderr)
