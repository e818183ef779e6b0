"""Users as the people who work with records: /users/suggest, the owner autocomplete of list filters.

Names come from the engine's UserNames (engine/security/user_names.py): every signed-in
user may see every user's display name, nothing more, and an inactive user is marked so.
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask_babel import gettext as _

from crmkit.engine.security.user_names import UserNames
from crmkit.ui.sessions import user_context

blueprint = Blueprint("users", __name__)
#: The most users one suggestion list offers (as many as a lookup input's).
SUGGESTIONS = 20


@blueprint.route("/users/suggest")
def suggest() -> Response:
    """Users whose display name or username starts with `q`: JSON [{"value": id, "text": name}], active ones first."""
    found = UserNames(user_context()).suggest(request.args.get("q", ""), limit=SUGGESTIONS)
    return jsonify([{"value": str(user.id),
                     "text": user.display_name if user.active else _("%(name)s (inactive)", name=user.display_name)}
                    for user in found])
