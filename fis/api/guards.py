"""Checks every request passes before a view reads it: declared body size, JSON-only bodies, limits.

Each request also gets its budget (:mod:`fis.core.budget`): the deadline ``FIS_REQUEST_TIMEOUT_S`` from its
start and ``FIS_MAX_DATES``, which the engine checks; it ends with the request.
"""

from __future__ import annotations

from flask import Flask, request

from fis.api.context import services
from fis.core.budget import RequestBudget, open_budget
from fis.core.limits import ExpressionLimits, set_expression_limits, set_max_vertices
from fis.errors import BodyTooLarge, UnsupportedMediaType

#: Paths whose POST/PATCH/PUT bodies must be JSON (``/ogc/fis`` speaks Sentinel Hub's form bodies too,
#: ``/oauth/token`` OAuth2's form body).
JSON_ONLY_PREFIXES = ("/api/",)
#: Writes under those prefixes that may also be multipart uploads: the web page's field-file reader
#: (``fis.api.web`` on main) parses a file and stores nothing, so a cross-site form can do no harm there.
#: ``/api/v1/batch`` takes a vector file as a multipart upload (with FIS_AUTH=required only with a bearer token,
#: which a cross-site form cannot send).
UPLOAD_PATHS = frozenset({"/api/v1/geometry/parse", "/api/v1/batch"})
_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT"})


def register_guards(app: Flask) -> None:
    """Install the checks as the first ``before_request`` hooks of ``app``."""
    app.before_request(_guard)
    app.teardown_request(_end_budget)


def _guard() -> None:
    settings = services().settings
    open_budget(RequestBudget(
        timeout_s=settings.request_timeout_s if settings.request_timeout_s > 0 else None,
        max_dates=settings.max_dates if settings.max_dates > 0 else None,
    ))
    set_max_vertices(settings.max_vertices)
    set_expression_limits(ExpressionLimits(settings.max_expression_length, settings.max_expression_nodes))
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        raise BodyTooLarge(
            f"request body is larger than the limit of {settings.max_body_bytes} bytes (FIS_MAX_BODY_BYTES; "
            f"Content-Length says {length}); simplify the geometry or raise the limit",
            details={"max_body_bytes": settings.max_body_bytes},
        )
    if request.method in _WRITE_METHODS and request.path.startswith(JSON_ONLY_PREFIXES):
        if request.path in UPLOAD_PATHS and request.mimetype == "multipart/form-data":
            return
        _require_json()


def _require_json() -> None:
    """A write with a body must say it is JSON: a browser cannot send that cross-site without a CORS preflight."""
    mimetype = request.mimetype
    if not mimetype and not request.content_length and "Transfer-Encoding" not in request.headers:
        return  # no body at all (e.g. POST .../refresh)
    if mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json")):
        return
    raise UnsupportedMediaType(
        f"Content-Type {request.content_type or '(none)'!r} is not accepted; send the body as JSON with "
        "Content-Type: application/json",
        field="Content-Type",
    )


def _end_budget(_: BaseException | None) -> None:
    open_budget(None)  # the thread's next work (another request, a test) starts without it
