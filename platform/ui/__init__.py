"""crmkit.ui: the web application."""
