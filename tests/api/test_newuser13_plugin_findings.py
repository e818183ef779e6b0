"""newuser13: following docs/plugin-guide.md while `make run` serves the application.

The guide's step 5 (`pip install -e .`, `crmkit install my_package/`) run beside a server started
before the plugin was installed: the server has no `stars` field type, and every call of the API
and every page then answers 409 "Migration refused".
"""
from __future__ import annotations

from pathlib import Path

from markupsafe import escape

from tests.api.conftest import REPOSITORY, make_app
from tests.ui.conftest import sign_in
from tests.webapp import PASSWORD

REVIEWS = """
package: reviews
version: "1.0.0"
objects:
  review:
    label: {en: Review, zh: 评价}
    fields:
      rating: {type: stars, out_of: 10}
"""


def _bare_extensions():
    from crmkit.engine.extensions import Extensions
    from crmkit.plugins import make_plugin_manager

    return Extensions.from_plugins(make_plugin_manager(load_entry_points=False, plugin_dirs=[]))


def test_a_server_without_a_newly_installed_plugin_says_so_in_the_callers_language(sqlite_url, tmp_path):
    from crmkit.engine import Crm
    from crmkit.engine.extensions import Extensions
    from crmkit.engine.security.tokens import TokenStore
    from crmkit.engine.security.users import SystemDirectory
    from crmkit.plugins import make_plugin_manager
    from tests.test_plugins import SalesPlugin

    served = Crm.open(sqlite_url, extensions=_bare_extensions())
    served.install(REPOSITORY / "apps" / "default_crm.yaml")
    user = SystemDirectory(served).create_user("zhou", permission_sets=["admin"], language="zh-CN",
                                               password=PASSWORD)
    token = TokenStore(served).create(user.id, "tests").token
    app = make_app(served)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/objects/account?limit=1", headers=headers).status_code == 200
    browser = app.test_client()
    assert sign_in(browser, "zhou").status_code == 302
    assert browser.get("/o/account").status_code == 200

    plugin = SalesPlugin(tmp_path)
    (tmp_path / "reviews.yaml").write_text(REVIEWS, encoding="utf-8")
    installer = Crm.open(sqlite_url, extensions=Extensions.from_plugins(
        make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[plugin])))
    try:
        installer.install(Path(tmp_path / "reviews.yaml"))
    finally:
        installer.close()

    try:
        response = client.get("/api/v1/objects/account?limit=1", headers=headers)
        problem = response.get_json()
        assert response.status_code == 409, problem
        assert problem["title"] == "迁移被拒绝"
        assert "the installed metadata" not in problem["detail"] and "插件" in problem["detail"], problem["detail"]
        assert "重启" in problem["detail"] and "crmkit worker" in problem["detail"], problem["detail"]
        english = client.get("/api/v1/objects/account?limit=1&lang=en", headers=headers).get_json()["detail"]
        assert "Restart the server" in english and "crmkit worker" in english, english
        page = browser.get("/o/account")  # the web pages give the same sentence
        assert page.status_code == 409
        assert escape(problem["detail"][:40]) in page.get_data(as_text=True), page.get_data(as_text=True)
    finally:
        served.close()
