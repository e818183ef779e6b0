"""The global search: /search?q=text (hits grouped by object, with counts and snippets) and
/search/preview?q=text (the header box's dropdown of the best few hits across objects).

Everything shown comes from the engine's global search (records/global_search.py), which
applies the user's permissions, row filters and field-level security; the view only renders
it. A text the engine would match almost everything with ("a") is not sent (`too_short`).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from crmkit.engine.query.errors import QueryError
from crmkit.engine.records.global_search import ObjectHits, SearchHit, too_short
from crmkit.metadata.model import Label
from crmkit.ui.errors import sentence
from crmkit.ui.sessions import user_context

blueprint = Blueprint("search", __name__)
#: Longer text is refused before the engine is asked (a search box, not a document).
MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class Outcome:
    """What a search text led to: a problem sentence (with its status), a hint that it is too short, or results."""

    problem: str | None = None
    status: int = 200
    too_short: bool = False


def checked(text: str) -> Outcome:
    """Whether `text` can be searched: too long (400), too short (a hint), or malformed (the engine's sentence)."""
    if len(text) > MAX_QUERY_LENGTH:
        return Outcome(_("A search is at most %(length)d characters.", length=MAX_QUERY_LENGTH), 400)
    try:
        return Outcome(too_short=too_short(text))
    except QueryError as error:
        return Outcome(sentence(error.message), error.status)


@blueprint.route("/search")
def results() -> Response:
    text = request.args.get("q", "").strip()
    outcome, groups = checked(text) if text else Outcome(), []
    if text and outcome.problem is None and not outcome.too_short:
        try:
            groups = user_context().search_by_object(text, per_object=current_app.config["CRMKIT_SEARCH_PER_OBJECT"],
                                                     count_cap=current_app.config["CRMKIT_SEARCH_COUNT_CAP"])
        except QueryError as error:
            outcome = Outcome(sentence(error.message), error.status)
    page = render_template("search/page.html", q=text, groups=groups, outcome=outcome, total=total(groups))
    return Response(page, status=outcome.status)


@dataclass(frozen=True)
class Total:
    """The records found in every object: `exact` unless some object's count was capped or estimated."""

    value: int
    exact: bool
    objects: int


def total(groups: list[ObjectHits]) -> Total:
    return Total(sum(group.count.value for group in groups), all(group.count.exact for group in groups), len(groups))


@blueprint.route("/search/preview")
def preview() -> Response:
    """The header box's dropdown (an htmx partial): the best few hits, then "All results"; empty for no text."""
    text = request.args.get("q", "").strip()
    if request.headers.get("HX-Request") != "true":
        return redirect(url_for("search.results", q=text) if text else url_for("search.results"))
    outcome, hits, labels = checked(text) if text else Outcome(too_short=True), [], {}
    if outcome.problem is None and not outcome.too_short:
        try:
            context = user_context()
            hits = context.search(text, limit=current_app.config["CRMKIT_SEARCH_PREVIEW"])
        except QueryError as error:
            outcome = Outcome(sentence(error.message), error.status)
        else:
            labels = object_labels(context, hits)
    if outcome.too_short:
        return Response("", status=200)  # nothing to show: the dropdown closes
    return Response(render_template("search/preview.html", q=text, hits=hits, labels=labels, problem=outcome.problem),
                    status=200)


def object_labels(context, hits: list[SearchHit]) -> dict[str, Label]:
    """{object name: its label} for the objects of `hits`."""
    registry = context.runtime.registry
    return {hit.object: registry.object(hit.object).label for hit in hits}
