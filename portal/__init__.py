"""The Supporting Families partner portal.

``portal.app.create_app`` is the app factory; ``docs/architecture.md`` maps the packages and their layers.
"""
