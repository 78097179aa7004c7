"""HTTP API blueprints."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from fis.api.health import blueprint as health
    from fis.api.openapi import blueprint as openapi
    from fis.api.scenes import blueprint as scenes
    from fis.api.timeseries import blueprint as timeseries

    for blueprint in (health, openapi, scenes, timeseries):
        app.register_blueprint(blueprint)
    app.register_blueprint(__import__("fis.api.fis", fromlist=["blueprint"]).blueprint)  # GET|POST /ogc/fis
