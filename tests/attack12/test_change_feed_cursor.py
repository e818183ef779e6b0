"""attack12: a change-feed cursor beyond the newest change is taken, and the changes before it are lost.

docs/api.md, "Change feed": a cursor from before what the prune deleted would skip changes, so it gets
410 instead. A cursor from beyond the newest change (another database's, a typo: `since=99999`) skips
changes too: it is answered 200 with `next_cursor` equal to it, and every change written later with a
smaller id is never given to the client. The standard: bad input gets a clear sentence and loses nothing.
"""
from __future__ import annotations

import pytest

PACKAGE = """
package: feed
version: "1.0.0"
objects:
  thing:
    title_field: name
    fields:
      name: {type: text}
"""


@pytest.mark.xfail(strict=True, reason="attack12: GET /api/v1/changes?since=<beyond the newest change> answers 200 "
                                       "and the client then misses every later change")
def test_a_cursor_the_feed_never_gave_is_refused(crm, install):
    from crmkit.engine.security.tokens import TokenStore
    from crmkit.engine.security.users import SystemDirectory
    from crmkit.ui import create_app

    install(PACKAGE)
    admin = SystemDirectory(crm).create_user("admin", display_name="Admin", permission_sets=["admin"]).id
    token = TokenStore(crm).create(admin, "attack12").token
    client = create_app(crm, {"SECRET_KEY": "attack12-secret-key-0123456789-0123456789",
                              "CRMKIT_API_RATE_LIMIT": "", "CRMKIT_CHANGES_SETTLE_SECONDS": "0"}).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    crm.as_system().records("thing").create({"name": "first"})
    newest = client.get("/api/v1/changes", headers=headers).get_json()["next_cursor"]

    answer = client.get(f"/api/v1/changes?since={int(newest) + 1000}", headers=headers)
    if answer.status_code == 200:  # taken: then the next change must still reach the client
        crm.as_system().records("thing").create({"name": "second"})
        later = client.get(f"/api/v1/changes?since={answer.get_json()['next_cursor']}", headers=headers).get_json()
        assert [change["data"]["fields"]["name"] for change in later["data"]] == ["second"], later
    else:
        assert answer.status_code in (400, 410) and answer.content_type.startswith("application/problem+json")
