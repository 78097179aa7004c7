"""``POST /api/v1/statistics``: the Sentinel Hub Statistical API-compatible endpoint (evalscripts in V8).

The body is parsed by :mod:`fis.protocols.sentinelhub_stats` into the one request model and run on the engine
and the services' evalscript sandbox. Errors of this route are in Sentinel Hub's shape
``{"error": {"status", "reason", "message", "code"}}`` with its codes (``COMMON_BAD_PAYLOAD``,
``RENDERER_EXCEPTION`` for a script that does not compile, ``COMMON_UNAUTHORIZED``, ``RATE_LIMIT_EXCEEDED``
...), so that Sentinel Hub clients show them as they show the real service's.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any, Final

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from fis.api.body import json_body
from fis.api.context import services
from fis.engine.evalscript import EvalscriptError
from fis.errors import FisError
from fis.protocols.sentinelhub_stats.body import parse_statistical_request
from fis.protocols.sentinelhub_stats.run import check_setup, run_statistical
from fis.store.queries import find_scenes

log = logging.getLogger(__name__)

STATISTICS_PATH: Final = "/api/v1/statistics"
blueprint = Blueprint("statistics", __name__)

#: HTTP status -> Sentinel Hub's error code.
SH_CODES: Final[dict[int, str]] = {
    400: "COMMON_BAD_PAYLOAD",
    401: "COMMON_UNAUTHORIZED",
    403: "COMMON_INSUFFICIENT_PERMISSIONS",
    404: "COMMON_NOT_FOUND",
    405: "COMMON_METHOD_NOT_ALLOWED",
    413: "COMMON_BAD_PAYLOAD",
    415: "COMMON_UNSUPPORTED_MEDIA_TYPE",
    422: "COMMON_BAD_PAYLOAD",
    429: "RATE_LIMIT_EXCEEDED",
}
#: Sentinel Hub's code of a script that does not compile or whose setup() fails.
RENDERER_EXCEPTION: Final = "RENDERER_EXCEPTION"


def sh_error(status: int, message: str, *, code: str | None = None, field: str | None = None) -> Response:
    """A request error in Sentinel Hub's shape (``errors.field`` names the offending key when known)."""
    body: dict[str, Any] = {
        "status": status,
        "reason": HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error",
        "message": message,
        "code": code or SH_CODES.get(status, "COMMON_EXCEPTION"),
    }
    if field:
        body["errors"] = {"field": field}
    response = current_app.response_class(json.dumps({"error": body}), status=status, mimetype="application/json")
    return response


@blueprint.post(STATISTICS_PATH)
def statistics() -> ResponseReturnValue:
    """Statistics of an evalscript's outputs per interval over one area (Sentinel Hub Statistical API)."""
    query = parse_statistical_request(json_body(request))
    svc = services()
    sandbox = svc.sandbox
    setup = sandbox.setup(query.evalscript)
    check_setup(query, setup)
    with svc.sessions() as session:
        scenes = find_scenes(session, query.request.aoi.geometry_4326, query.request.time_range)
    body = run_statistical(
        query, setup, sandbox, svc.engine, scenes, timeout_s=float(svc.settings.evalscript_timeout_s)
    )
    return current_app.response_class(json.dumps(body, allow_nan=False), mimetype="application/json")


@blueprint.errorhandler(EvalscriptError)
def _script_error(exc: EvalscriptError) -> Response:
    return sh_error(400, exc.message, code=RENDERER_EXCEPTION, field="aggregation.evalscript")


@blueprint.errorhandler(FisError)
def _fis_error(exc: FisError) -> Response:
    if exc.status >= 500:
        log.error("statistical request failed: %s", exc.message)
    response = sh_error(exc.status, exc.message, field=exc.field)
    response.headers.update(exc.headers)
    return response


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return sh_error(exc.code or 500, exc.description or exc.name)


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error in the statistical API")
    return sh_error(500, f"internal error ({type(exc).__name__}); see the server log")
