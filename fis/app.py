"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from fis.config import Settings
from fis.service import Services


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the WSGI app. Settings come from ``FIS_*`` variables unless given explicitly."""
    settings = settings or Settings.from_env()
    if overrides:
        from dataclasses import replace

        settings = replace(settings, **overrides)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["fis"] = Services.create(settings)

    from fis.api import register_blueprints
    from fis.api.errors import register_error_handlers

    register_blueprints(app)
    register_error_handlers(app)
    return app


def services(app: Flask) -> Services:
    """The :class:`Services` bound to ``app``."""
    return app.extensions["fis"]
