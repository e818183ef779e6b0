"""The API's description: GET /api/v1/openapi.json (OpenAPI 3.1) and GET /api/v1/docs (a page to read it).

The page is rendered on the server from the same document (no script, so it works under the
web application's strict Content Security Policy): every path, its parameters, body and answers.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Response, render_template
from flask_babel import force_locale
from markdown_it import MarkdownIt
from markupsafe import Markup

from crmkit.api.blueprint import blueprint, context, language
from crmkit.api.describe import readable_objects
from crmkit.api.openapi import openapi_document
from crmkit.api.requests import json_response
from crmkit.metadata.registry import Registry

#: The documents last served, by (registry id, catalog language, what the caller may see): (registry, document), the
#: registry kept so its id stays its own.
_DOCUMENTS: dict[tuple[int, str, Any], tuple[Registry, dict[str, Any]]] = {}
KEPT_DOCUMENTS = 32


def current_document() -> dict[str, Any]:
    """The OpenAPI document of the installed metadata as the caller may see it (the objects they may read, without
    the fields hidden from them, as describe shows them) in their language (`language()`: ?lang=,
    Accept-Language, the profile), built once per installed registry, catalog language and such view."""
    user = context()
    runtime = user.runtime
    lang = _catalog_language(language())
    visible = _visible(user)
    key = (id(runtime.registry), lang, None if visible is None else tuple(sorted(visible.items())))
    kept = _DOCUMENTS.get(key)
    if kept is not None and kept[0] is runtime.registry:
        return kept[1]
    document = openapi_document(runtime.registry, runtime.field_types, lang, visible)
    if len(_DOCUMENTS) >= KEPT_DOCUMENTS:
        _DOCUMENTS.clear()
    _DOCUMENTS[key] = (runtime.registry, document)
    return document


def _visible(user) -> "dict[str, frozenset[str]] | None":
    """{object the user may read: the fields hidden from them}; None for a user who sees everything."""
    policy = user.policy
    if policy is None:
        return None
    return {obj.name: frozenset(policy.hidden_fields(obj.name)) for obj in readable_objects(user)}


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return json_response(current_document())


#: CommonMark with raw HTML off: a `<tag>` in a description is shown as text, never as markup.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


@lru_cache(maxsize=2048)
def markdown(text: str | None, inline: bool = False) -> Markup:
    """A description's Markdown as safe HTML (`inline`: no paragraph around it, for a table cell or a list item).

    Raw HTML is escaped (html off), and links are limited to markdown-it's safe schemes."""
    if not text:
        return Markup("")
    return Markup(_MARKDOWN.renderInline(text) if inline else _MARKDOWN.render(text))


#: The languages the web catalogs hold (the API may not import crmkit.ui: tests/test_layout.py).
_CATALOG_LANGUAGES = ("en", "zh")


def _catalog_language(tag: str | None) -> str:
    """The catalog for a language tag: 'zh-CN' -> 'zh'; one without a catalog -> 'en'."""
    base = (tag or "").replace("_", "-").split("-")[0].lower()
    return base if base in _CATALOG_LANGUAGES else "en"


@blueprint.get("/docs")
def docs() -> Response:
    """The page in the caller's language (as the API's labels and messages: ?lang=, Accept-Language, the profile)."""
    document = current_document()
    operations = [(path, method.upper(), operation) for path, item in document["paths"].items()
                  for method, operation in item.items()]
    with force_locale(_catalog_language(language())):
        page = render_template("api/docs.html", document=document, operations=operations,
                               schemas=document["components"]["schemas"], markdown=markdown)
    return Response(page, mimetype="text/html")
