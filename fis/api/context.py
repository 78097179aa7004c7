"""The request context's services: what the blueprints use instead of importing the app factory."""

from __future__ import annotations

from flask import current_app

from fis.services.runtime import Services

EXTENSION_KEY = "fis"


def services() -> Services:
    """The :class:`Services` of the application handling the current request."""
    bound: Services = current_app.extensions[EXTENSION_KEY]
    return bound
