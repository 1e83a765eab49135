"""Jinja2 templates for the C back end (filled in by the gen-c issue)."""
