"""The blueprints of the web application, one module per concern."""
