"""The API's description: GET /api/v1/openapi.json (OpenAPI 3.1) and GET /api/v1/docs (a page to read it).

The page is rendered on the server from the same document (no script, so it works under the
web application's strict Content Security Policy): every path, its parameters, body and answers.
"""
from __future__ import annotations

from typing import Any

from flask import Response, render_template

from crmkit.api.blueprint import blueprint, context
from crmkit.api.openapi import openapi_document
from crmkit.api.requests import json_response
from crmkit.metadata.registry import Registry

#: The documents of the registries last served, by id: (registry, document), the registry kept so its id stays its own.
_DOCUMENTS: dict[int, tuple[Registry, dict[str, Any]]] = {}
KEPT_DOCUMENTS = 4


def current_document() -> dict[str, Any]:
    """The OpenAPI document of the installed metadata, built once per installed registry."""
    runtime = context().runtime
    kept = _DOCUMENTS.get(id(runtime.registry))
    if kept is not None and kept[0] is runtime.registry:
        return kept[1]
    document = openapi_document(runtime.registry, runtime.field_types)
    if len(_DOCUMENTS) >= KEPT_DOCUMENTS:
        _DOCUMENTS.clear()
    _DOCUMENTS[id(runtime.registry)] = (runtime.registry, document)
    return document


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return json_response(current_document())


@blueprint.get("/docs")
def docs() -> Response:
    document = current_document()
    operations = [(path, method.upper(), operation) for path, item in document["paths"].items()
                  for method, operation in item.items()]
    return Response(render_template("api/docs.html", document=document, operations=operations,
                                    schemas=document["components"]["schemas"]), mimetype="text/html")
