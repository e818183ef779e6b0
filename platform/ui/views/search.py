"""The global search: /search?q=text, hits grouped by object, as the engine lets the user see them."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import gettext as _

from crmkit.engine.query.errors import QueryError
from crmkit.engine.records.global_search import SearchHit
from crmkit.metadata.model import Label
from crmkit.ui.errors import sentence
from crmkit.ui.sessions import user_context

blueprint = Blueprint("search", __name__)
#: Longer text is refused before the engine is asked (a search box, not a document).
MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class HitGroup:
    """The hits of one object, in the engine's ranking."""

    object: str
    label: Label
    hits: tuple[SearchHit, ...]


def grouped(hits: list[SearchHit], labels: dict[str, Label]) -> list[HitGroup]:
    """Groups in the order of each object's best hit; hits keep their order inside a group."""
    groups: dict[str, list[SearchHit]] = {}
    for hit in hits:
        groups.setdefault(hit.object, []).append(hit)
    return [HitGroup(name, labels[name], tuple(found)) for name, found in groups.items()]


@blueprint.route("/search")
def results() -> Response:
    text = request.args.get("q", "").strip()
    groups, problem, status = [], None, 200
    limit = current_app.config["CRMKIT_SEARCH_LIMIT"]
    if len(text) > MAX_QUERY_LENGTH:
        problem, status = _("A search is at most %(length)d characters.", length=MAX_QUERY_LENGTH), 400
    elif text:
        context = user_context()
        try:
            hits = context.search(text, limit=limit)
        except QueryError as error:
            problem, status = sentence(error.message), error.status
        else:
            registry = context.runtime.registry
            groups = grouped(hits, {hit.object: registry.object(hit.object).plural_label for hit in hits})
    count = sum(len(group.hits) for group in groups)
    # A full page of hits says so: the total of every object is not counted (a search box, not a report).
    page = render_template("search.html", q=text, groups=groups, problem=problem, count=count, capped=count >= limit)
    return Response(page, status=status)
