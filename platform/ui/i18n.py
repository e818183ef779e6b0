"""Languages of the web application: message catalogs, the user's locale and time zone, labels.

crmkit's own texts are message catalogs (translations/<language>/LC_MESSAGES/messages.po,
English and Chinese). Only the .po files are kept, in the repository and in the wheel: each
application compiles them into a private temporary folder as it starts (a few
milliseconds), so a fresh clone, an installed wheel and a read-only install all work, and a
compiled catalog can never be older than its source.

The language of a request: the signed-in user's profile language; before sign-in, the one
chosen on the sign-in page (kept in the session cookie), else the browser's
Accept-Language. Metadata labels use the profile language itself (`zh-CN`, `de`), falling
back as `Label.get` does; crmkit's own texts use the nearest catalog, else English.
"""
from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, request, session
from flask_babel import Babel, format_decimal, get_translations, gettext
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

from crmkit.metadata.model import Label

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
#: The languages crmkit's own texts exist in, with their names as their speakers write them.
UI_LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"


def ui_language(tag: str | None) -> str:
    """The catalog for a language tag: 'zh-CN' -> 'zh', 'de' -> 'en'."""
    base = (tag or "").replace("_", "-").split("-")[0].lower()
    return base if base in UI_LANGUAGES else DEFAULT_LANGUAGE


def catalog_files(folder: Path = TRANSLATIONS) -> dict[str, Path]:
    """{language: its .po file} for every catalog in `folder`."""
    return {path.parent.parent.name: path for path in sorted(folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))}


def compile_catalogs(target: Path, folder: Path = TRANSLATIONS) -> list[str]:
    """Writes a .mo file under `target` for every .po file in `folder`; returns the languages compiled."""
    languages = []
    for language, po_path in catalog_files(folder).items():
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=language, domain=DOMAIN)
        mo_path = target / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        mo_path.parent.mkdir(parents=True)
        with mo_path.open("wb") as handle:
            write_mo(handle, catalog)
        languages.append(language)
    return languages


def select_locale() -> str:
    """The catalog language of this request (see the module docstring)."""
    user = g.get("user")
    if user is not None:
        return ui_language(user.language)
    chosen = session.get("language")
    if chosen in UI_LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(UI_LANGUAGES)) or DEFAULT_LANGUAGE


def select_timezone() -> str:
    user = g.get("user")
    return user.timezone if user is not None else "UTC"


def label_language() -> str:
    """The language metadata labels are shown in: the profile's own tag, else the catalog language."""
    user = g.get("user")
    return user.language if user is not None else select_locale()


def label_text(label: Label | Any) -> str:
    """A metadata Label in the request's language (plain text, escaped by the template)."""
    if isinstance(label, Label):
        return label.get(label_language())
    return "" if label is None else str(label)


def with_colon(label: str) -> str:
    """`label` followed by the language's colon ('Stage:', '阶段：'): the `colon` filter of templates."""
    return gettext("%(label)s:", label=label)


def labelled(label: str, text: str) -> str:
    """'Stage: text' in English, '阶段：text' in Chinese (full-width colon, no space)."""
    return gettext("%(label)s: %(text)s", label=label, text=text)


def request_translations() -> Any:
    """The catalog of this request's language, as Flask-Babel's get_translations gives it, looked up once per language.

    Templates call `_()` a hundred times a page; Flask-Babel looks the locale and catalog up
    again on each call (docs/ui.md, "Speed"). Kept in `g` with the locale it was made for:
    a sign-in or a language change within the request (flask_babel.refresh) gets the new one.
    """
    here = g._get_current_object()  # one look-up of the request's `g`: the proxy costs more than the rest
    locale = getattr(getattr(here, "_flask_babel", None), "babel_locale", None)
    kept = getattr(here, "_crmkit_translations", None)
    if kept is not None and locale is not None and kept[0] is locale:
        return kept[1]
    translations = get_translations()
    here._crmkit_translations = (getattr(getattr(here, "_flask_babel", None), "babel_locale", None), translations)
    return translations


#: Texts without values, translated and escaped, by catalog: most of a page's `_()` calls are the same few dozen.
_CONSTANT_TEXTS: "weakref.WeakKeyDictionary[Any, dict[tuple[str, bool], str]]" = weakref.WeakKeyDictionary()


@pass_eval_context
def template_gettext(eval_context: EvalContext, text: str, /, **variables: Any) -> str:
    """Templates' `_()` and `gettext()`: exactly Jinja's newstyle gettext (the translation as Markup under
    autoescape, always a format string, values escaped), over `request_translations()`, without its two
    extra template calls; a text without values is translated once per catalog."""
    translations = request_translations()
    autoescape = eval_context.autoescape
    if not variables:
        kept = _CONSTANT_TEXTS.get(translations)
        if kept is None:
            kept = _CONSTANT_TEXTS.setdefault(translations, {})
        shown = kept.get((text, autoescape))
        if shown is None:
            translated = translations.ugettext(text)
            shown = kept[(text, autoescape)] = (Markup(translated) if autoescape else translated) % variables
        return shown
    translated = translations.ugettext(text)
    return (Markup(translated) if autoescape else translated) % variables


@pass_eval_context
def template_ngettext(eval_context: EvalContext, singular: str, plural: str, number: int, /,
                      **variables: Any) -> str:
    """Templates' `ngettext()`: Jinja's newstyle ngettext (`num` defaults to `number`) over `request_translations()`."""
    variables.setdefault("num", number)
    translated = request_translations().ungettext(singular, plural, number)
    return (Markup(translated) if eval_context.autoescape else translated) % variables


def init_i18n(app: Flask) -> None:
    """Compiles the catalogs for `app` and installs Flask-Babel with crmkit's selectors and the `label` filter."""
    folder = Path(tempfile.mkdtemp(prefix="crmkit-translations-"))
    weakref.finalize(app, shutil.rmtree, folder, True)
    compile_catalogs(folder)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(folder)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.install_gettext_callables(
        gettext=lambda text: request_translations().ugettext(text),
        ngettext=lambda singular, plural, number: request_translations().ungettext(singular, plural, number),
        newstyle=True,
        pgettext=lambda context, text: request_translations().upgettext(context, text),
        npgettext=lambda context, singular, plural, number: request_translations().unpgettext(
            context, singular, plural, number))
    # `_` and `gettext` straight to the request's catalog: Jinja's `_` is an alias that resolves `gettext`, which
    # calls the callable given above, three template calls for each of a page's ~50 texts; the same result.
    app.jinja_env.globals.update(_=template_gettext, gettext=template_gettext, ngettext=template_ngettext)
    app.jinja_env.filters["label"] = label_text
    app.jinja_env.filters["colon"] = with_colon
    app.jinja_env.filters["number"] = format_decimal
    app.jinja_env.globals["ui_languages"] = UI_LANGUAGES
