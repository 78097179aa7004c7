"""The Flask application factory."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Flask

from fis.api.auth import register_auth
from fis.api.batch import blueprint as batch
from fis.api.context import EXTENSION_KEY
from fis.api.cors import register_cors
from fis.api.errors import register_error_handlers
from fis.api.guards import register_guards
from fis.api.health import blueprint as health
from fis.api.observability import register_observability
from fis.api.ogc import blueprint as ogc_fis
from fis.api.openapi import blueprint as openapi
from fis.api.ratelimit import register_rate_limit
from fis.api.scenes import blueprint as scenes
from fis.api.statistics import blueprint as statistics
from fis.api.timeseries import blueprint as timeseries
from fis.api.web import basemap_origin
from fis.api.web import blueprint as web
from fis.config import Settings
from fis.services.runtime import Services

BLUEPRINTS = (health, openapi, scenes, timeseries, batch, statistics, ogc_fis, web)


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the WSGI app. Settings come from ``FIS_*`` variables unless given explicitly."""
    settings = settings or Settings.from_env()
    if overrides:
        settings = replace(settings, **overrides)
    basemap_origin(settings)  # a bad FIS_BASEMAP_URL stops the start, not the first page view
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = Services.create(settings)
    register_observability(app)
    register_guards(app)
    register_auth(app, settings)
    register_rate_limit(app, settings)
    register_cors(app)  # preflights are answered before the guards and the token check
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    return app


def services(app: Flask) -> Services:
    """The :class:`Services` bound to ``app`` (outside a request; blueprints use ``fis.api.context``)."""
    bound: Services = app.extensions[EXTENSION_KEY]
    return bound
