"""crmkit.ui: the web application generated from the installed metadata (Flask and htmx).

    from crmkit.ui import create_app
    app = create_app()                     # the database of CRMKIT_DATABASE_URL or instance/crmkit.db
    app.run()                              # development; production: gunicorn 'crmkit.ui:create_app()'

Each request works through one engine UserContext of the signed-in user; views call
engine services, never build SQL and never decide permissions (docs/ui.md).
"""
from crmkit.ui.app import create_app

__all__ = ["create_app"]
