"""crmkit's own texts: every one is in the catalogs, has a Chinese translation, and compiles from the .po alone."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from babel.support import Translations

from crmkit.ui.catalogs import extracted
from crmkit.ui.i18n import TRANSLATIONS, UI_LANGUAGES, catalog_files, compile_catalogs, ui_language

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def catalog(language: str):
    with catalog_files()[language].open("rb") as source:
        return read_po(source, locale=language)


def ids(messages) -> set[str]:
    return {message.id[0] if isinstance(message.id, tuple) else message.id for message in messages if message.id}


def test_there_is_a_catalog_for_every_language_of_the_ui():
    assert set(catalog_files()) == set(UI_LANGUAGES) == {"en", "zh"}


@pytest.mark.parametrize("language", sorted(UI_LANGUAGES))
def test_the_catalogs_hold_exactly_the_texts_of_the_code(language):
    in_code, in_catalog = ids(extracted()), ids(catalog(language))
    assert in_code - in_catalog == set(), "run: python -m crmkit.ui.catalogs, then translate"
    assert in_catalog - in_code == set(), "texts no longer used: run python -m crmkit.ui.catalogs"


def test_every_text_has_a_chinese_translation_with_the_same_placeholders():
    problems = []
    for message in catalog("zh"):
        if not message.id:
            continue
        originals = message.id if isinstance(message.id, tuple) else (message.id,)
        translations = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(translations):
            problems.append(f"untranslated: {originals[0]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(originals[-1]))
        for text in translations:
            if set(PLACEHOLDER.findall(text)) != wanted:
                problems.append(f"placeholders differ: {originals[0]!r} -> {text!r}")
    assert problems == []


def test_catalogs_compile_from_the_po_files_alone(tmp_path: Path):
    assert not list(TRANSLATIONS.rglob("*.mo")), "compiled catalogs are made as the app starts, not kept"
    assert compile_catalogs(tmp_path) == ["en", "zh"]
    chinese = Translations.load(str(tmp_path), ["zh"], "messages")
    assert chinese.gettext("Sign in") == "登录"
    assert chinese.ngettext("%(num)d record found for “%(text)s”.", "%(num)d records found for “%(text)s”.",
                            3) == "找到 %(num)d 条与“%(text)s”匹配的记录。"


@pytest.mark.parametrize("tag, language", [("zh-CN", "zh"), ("zh_TW", "zh"), ("ZH", "zh"), ("en-GB", "en"),
                                           ("de", "en"), ("", "en"), (None, "en")])
def test_a_profile_language_maps_to_the_nearest_catalog(tag, language):
    assert ui_language(tag) == language
