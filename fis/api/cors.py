"""CORS for browser clients of the Sentinel Hub-compatible routes (sentinelhub-js with a full URL).

Only ``/api/v1/statistics`` and ``/oauth/token`` answer cross-origin requests, and only for the origins of
``FIS_CORS_ORIGINS`` (comma-separated; ``*`` = any). A preflight (``OPTIONS`` with
``Access-Control-Request-Method``) from an allowed origin gets 204 with the allowed method and headers; the
other routes send no CORS headers, so the JSON-only guard (:mod:`fis.api.guards`) still keeps cross-site forms
out of every write. The token check skips preflights (they carry no credentials, by the CORS rules).
"""

from __future__ import annotations

from typing import Final

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

from fis.api.context import services

CORS_PATHS: Final = frozenset({"/api/v1/statistics", "/oauth/token"})
ALLOWED_HEADERS: Final = "Authorization, Content-Type, Accept, Accept-Encoding, Cache-Control"
MAX_AGE_S: Final = 600


def register_cors(app: Flask) -> None:
    """Answer preflights (before every other hook) and add ``Access-Control-Allow-Origin`` to answers."""
    app.before_request_funcs.setdefault(None, []).insert(0, _preflight)
    app.after_request(_allow)


def allowed_origin(origin: str | None) -> str | None:
    """The value of ``Access-Control-Allow-Origin`` for ``origin`` on this request's path, or None."""
    if not origin or request.path not in CORS_PATHS:
        return None
    allowed = [o.strip().rstrip("/") for o in services().settings.cors_origins.split(",") if o.strip()]
    if "*" in allowed:
        return "*"
    return origin if origin.rstrip("/") in allowed else None


def _preflight() -> ResponseReturnValue | None:
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    origin = allowed_origin(request.headers.get("Origin"))
    response = Response(status=204)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = str(MAX_AGE_S)
    response.headers["Vary"] = "Origin"
    return response


def _allow(response: Response) -> Response:
    origin = allowed_origin(request.headers.get("Origin"))
    if origin is not None and "Access-Control-Allow-Origin" not in response.headers:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers.add("Vary", "Origin")
    return response
