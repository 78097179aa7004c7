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
import uuid
from http import HTTPStatus
from typing import Any, Final

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from fis.api.body import json_body
from fis.api.context import services
from fis.engine.evalscript import EvalscriptError
from fis.errors import FisError
from fis.protocols.sentinelhub_stats.run import check_setup, run_statistical
from fis.protocols.sentinelhub_stats.translate import parse_statistical_request
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
    scope = uuid.uuid4().hex  # no script state passes between requests
    setup = sandbox.setup(query.evalscript, scope=scope)
    check_setup(query, setup)
    with svc.sessions() as session:
        scenes = find_scenes(session, query.request.aoi.geometry_4326, query.request.time_range)
    body = run_statistical(
        query, setup, sandbox, svc.engine, scenes, timeout_s=float(svc.settings.evalscript_timeout_s), scope=scope
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


# ------------------------------------------------------------------------------------ OpenAPI

#: The seed's recipe as an evalscript: NDVI and the cloud mask, averaged over the polygon per acquisition.
EXAMPLE_EVALSCRIPT: Final = """//VERSION=3
function setup() {
  return {
    input: [{bands: ["B04", "B08", "CLM", "dataMask"]}],
    output: [{id: "ndvi", bands: 1}, {id: "clm", bands: 1}, {id: "dataMask", bands: 1}]
  };
}
function evaluatePixel(s) {
  return {ndvi: [index(s.B08, s.B04)], clm: [s.CLM], dataMask: [s.dataMask]};
}
"""


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path item of this blueprint (merged into ``fis.api.openapi_spec``; bodies are the models of
    :mod:`fis.protocols.sentinelhub_stats`)."""
    def error(description: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
        media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/StatisticalError"}}
        if example is not None:
            media["example"] = {"error": example}
        return {"description": description, "content": {"application/json": media}}

    request_example = {
        "input": {
            "bounds": {"geometry": {"type": "Polygon", "coordinates": [[[500140, 5000200], [500340, 5000200],
                                                                          [500340, 5000400], [500140, 5000400],
                                                                          [500140, 5000200]]]},
                       "properties": {"crs": "http://www.opengis.net/def/crs/EPSG/0/32633"}},
            "data": [{"type": "sentinel-2-l1c", "dataFilter": {"mosaickingOrder": "mostRecent"}}],
        },
        "aggregation": {
            "timeRange": {"from": "2023-06-01T00:00:00Z", "to": "2023-07-01T00:00:00Z"},
            "aggregationInterval": {"of": "P1D"}, "evalscript": EXAMPLE_EVALSCRIPT, "resx": 10, "resy": 10,
        },
        "calculations": {"ndvi": {"statistics": {"default": {"percentiles": {"k": [5, 50, 95]}}}}},
    }
    stats = {"min": 0.7647, "max": 0.7647, "mean": 0.7647, "stDev": 0.0, "sampleCount": 400, "noDataCount": 40}
    response_example = {"data": [{"interval": {"from": "2023-06-01T00:00:00Z", "to": "2023-06-02T00:00:00Z"},
                                  "outputs": {"ndvi": {"bands": {"B0": {"stats": {
                                      **stats, "percentiles": {"5.0": 0.7647, "50.0": 0.7647, "95.0": 0.7647}}}}},
                                              "clm": {"bands": {"B0": {"stats": {**stats, "min": 0.0, "max": 0.0,
                                                                                  "mean": 0.0}}}}}}],
                        "status": "OK"}
    description = (
        "Sentinel Hub Statistical API-compatible statistics: an evalscript (VERSION=3, run in a V8 sandbox with a "
        "time limit per request, FIS_EVALSCRIPT_TIMEOUT_S) over the archive's sentinel-2-l1c / sentinel-2-l2a "
        "scenes, per interval of `aggregationInterval.of`. Clients such as sentinelhub-py's "
        "SentinelHubStatistical work unchanged with `sh_base_url` (or a collection's `service_url`) pointing here "
        "and `sh_token_url` at /oauth/token. A failed interval carries `error.type` (BAD_REQUEST: the script "
        "threw; EXECUTION_ERROR / TIMEOUT: worth a retry); request errors are Sentinel Hub's "
        "`{\"error\": {\"status\", \"reason\", \"message\", \"code\"}}`. See docs/statistical-api.md."
    )
    return {STATISTICS_PATH: {"post": {
        "tags": ["statistical"], "summary": "Statistical API (evalscripts)", "description": description,
        "operationId": "statistics",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/StatisticalRequest"}, "example": request_example}}},
        "responses": {
            "200": {"description": "Statistics per interval with acquisitions (status OK, PARTIAL or FAILED).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StatisticalResponse"},
                                                     "example": response_example}}},
            "400": error("The body is invalid (COMMON_BAD_PAYLOAD, naming the key) or the evalscript does not "
                         "compile or asks for what is not supported (RENDERER_EXCEPTION, naming the line).",
                         {"status": 400, "reason": "Bad Request", "code": "RENDERER_EXCEPTION",
                          "message": "evalscript error: line 9: SyntaxError: Unexpected token ':'"}),
            "401": error("FIS_AUTH=required: no valid bearer token (COMMON_UNAUTHORIZED)."),
            "413": error("The body or the request grid is too large."),
            "415": error("The body is not JSON (COMMON_UNSUPPORTED_MEDIA_TYPE)."),
            "429": {**error("Too many requests (RATE_LIMIT_EXCEEDED)."),
                    "headers": {"Retry-After": {"description": "Milliseconds to wait (as Sentinel Hub's clients read "
                                                               "it on this API).", "schema": {"type": "string"}}}},
            "500": error("Unexpected error (COMMON_EXCEPTION)."),
            "503": error("The evalscript workers or the database are unavailable."),
        },
    }}}
