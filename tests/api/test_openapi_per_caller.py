"""/api/v1/openapi.json and /api/v1/docs name only what the caller may read (api/docs.py `_visible`): no protected
field, also not as a related list's `via`, no object they may not read, also not as a related list of one they
may; one application serving an admin and a rep in turn, in both languages, gives each their own document."""
from __future__ import annotations

import json

import pytest

from tests.api.conftest import ApiClient, make_app

PACKAGE = """
package: attack15_openapi
version: "1.0.0"
permission_sets:
  reps:
    objects:
      deal: [create, read, edit]
      note: [read]
objects:
  deal:
    label: {en: Deal, zh: 交易}
    title_field: name
    fields:
      name: {type: text, label: {en: Name, zh: 名称}}
      margin: {type: currency, label: {en: Secret Margin, zh: 毛利}}
      margin_text: {type: formula, returns: text, formula: "text(margin)", label: {en: Margin Words, zh: 毛利文字}}
  note:
    title_field: body
    fields:
      body: {type: text}
      deal: {type: lookup, to: deal, on_delete: set_null}
      audited_deal: {type: lookup, to: deal, on_delete: set_null, label: {en: Audited Deal Link}}
  payroll:
    label: {en: Payroll Run}
    title_field: name
    fields:
      name: {type: text}
      deal: {type: lookup, to: deal, on_delete: set_null}
"""
HIDDEN_FROM_REP = ("margin", "Secret Margin", "毛利", "margin_text", "Margin Words", "audited_deal",
                   "Audited Deal Link", "payroll", "Payroll Run")


@pytest.fixture
def clients(sqlite_url, tmp_path):
    from crmkit.engine import Crm
    from crmkit.engine.security.tokens import TokenStore
    from crmkit.engine.security.users import SystemDirectory

    package = PACKAGE.replace("permission_sets:\n", "permission_sets:\n  auditors:\n    fields:\n"
                                                    "      deal.margin: [read]\n      note.audited_deal: [read]\n")
    crm = Crm.open(sqlite_url)
    path = tmp_path / "package.yaml"
    path.write_text(package, encoding="utf-8")
    crm.install(path)
    # note.audited_deal is protected by declaring a field permission for it in `auditors`, which reps lack
    users = SystemDirectory(crm)
    rep = users.create_user("rep", display_name="Rep", permission_sets=["reps"]).id
    boss = users.create_user("boss", display_name="Boss", permission_sets=["admin"]).id
    app = make_app(crm)  # one application, so one cache of documents, for both callers
    tokens = TokenStore(crm)
    yield {"rep": ApiClient(app.test_client(), tokens.create(rep, "t").token),
           "boss": ApiClient(app.test_client(), tokens.create(boss, "t").token)}
    crm.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_rep_reads_none_of_what_is_hidden_from_him_even_after_an_admin_was_served(clients, lang):
    whole = clients["boss"].get(f"/openapi.json?lang={lang}").get_json()
    whole_text = json.dumps(whole, ensure_ascii=False)
    assert [word for word in HIDDEN_FROM_REP if word not in whole_text] == (["Secret Margin", "Margin Words"]
                                                                           if lang == "zh" else ["毛利"])
    for _ in range(2):  # the second from the cache
        document = clients["rep"].get(f"/openapi.json?lang={lang}")
        text = json.dumps(document.get_json(), ensure_ascii=False)
        assert [word for word in HIDDEN_FROM_REP if word in text] == []
        page = clients["rep"].get(f"/docs?lang={lang}").get_data(as_text=True)
        assert [word for word in HIDDEN_FROM_REP if word in page] == []
    related = document.get_json()["paths"]["/api/v1/objects/deal/{record_id}/related/note"]["get"]["parameters"]
    assert [parameter["schema"] for parameter in related if parameter["name"] == "via"] == [
        {"type": "string", "enum": ["deal"]}]
    again = clients["boss"].get(f"/openapi.json?lang={lang}").get_json()
    assert again == whole
