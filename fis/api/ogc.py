"""``GET|POST /ogc/fis`` (and ``/ogc/fis/<instance_id>``): the Sentinel Hub FIS-compatible endpoint.

Parameters come from the query string (GET, POST) and the body (POST: a JSON object such as
sentinelhub-py's ``FisRequest`` sends, with lower-case keys, or a form); names are
case-insensitive and the body wins over the query string. Parameters, layers, statistics and
the response body are :mod:`fis.protocols.sentinelhub_fis`'s.

Errors are what FIS clients parse: an OGC ``ServiceExceptionReport`` (text/xml) whose
``ServiceException`` names the parameter (``locator``) and says what is accepted; sentinelhub-py
shows that text in its ``DownloadFailedException``. Bad input is a 400, never a 500.
``EXCEPTIONS=application/json`` switches to the service's JSON error shape
(``{"error": {"status", "code", "message", "field"}}``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from fis.api.context import services
from fis.api.errors import error_response
from fis.errors import FisError
from fis.protocols.sentinelhub_fis.histograms import DEFAULT_HISTOGRAM, HISTOGRAM_TYPES, MAX_BINS
from fis.protocols.sentinelhub_fis.layers import LAYERS
from fis.protocols.sentinelhub_fis.parameters import (
    DEFAULT_RESOLUTION,
    FORM_MIMETYPES,
    exceptions_format,
    parse_fis_parameters,
    wire_parameters,
)
from fis.protocols.sentinelhub_fis.response import exception_report, fis_response
from fis.protocols.sentinelhub_fis.run import run_fis
from fis.store.queries import find_scenes

log = logging.getLogger(__name__)

blueprint = Blueprint("ogc_fis", __name__, url_prefix="/ogc/fis")

XML_MIMETYPE = "text/xml"
#: Response header listing the dates that were left out and why (MAXCC filtering is not listed).
OMITTED_HEADER = "X-Fis-Omitted-Dates"
#: Response header with notices about the geometry (e.g. that it was invalid and repaired).
WARNINGS_HEADER = "X-Fis-Warnings"
#: OGC exception code per HTTP status, for errors that are not about one parameter.
_OGC_CODES = {400: "InvalidParameterValue", 404: "NotFound", 413: "RequestTooLarge", 502: "DataReadError",
              503: "ServiceUnavailable", 504: "Timeout"}
#: The FIS parameter behind a field the engine names (its limits: FIS_MAX_PIXELS, FIS_MAX_DATES).
_PARAMETERS = {"geometry": "GEOMETRY", "time_range": "TIME"}


# --------------------------------------------------------------------------------- parameters


def request_parameters() -> dict[str, Any]:
    """Query string, then the body (JSON object or form) on top; keys upper-cased."""
    if request.method != "POST":
        return wire_parameters(request.args)
    if request.mimetype in FORM_MIMETYPES:
        return wire_parameters(request.args, form=request.form)
    return wire_parameters(request.args, body=request.get_data(cache=True))


# ----------------------------------------------------------------------------------- the view


@blueprint.route("", methods=["GET", "POST"])
@blueprint.route("/<instance_id>", methods=["GET", "POST"])
def fis(instance_id: str | None = None) -> ResponseReturnValue:
    """FIS statistics of one geometry; ``instance_id`` (Sentinel Hub's instance) is accepted and ignored."""
    g.fis_exceptions = "xml"
    params = request_parameters()
    g.fis_exceptions = exceptions_format(params)
    parsed = parse_fis_parameters(params)
    svc = services()
    with svc.sessions() as session:
        scenes = find_scenes(session, parsed.aoi.geometry_4326, parsed.time_range)
    dates = list(run_fis(parsed, svc.engine, scenes))
    body = fis_response(parsed, dates)
    response = current_app.response_class(json.dumps(body, allow_nan=False), mimetype="application/json")
    omitted = [f"{d.date} ({d.omitted})" for d in dates if d.omitted and not d.omitted.startswith("maxcc")]
    if omitted:
        response.headers[OMITTED_HEADER] = _ascii(", ".join(omitted))
    if parsed.aoi.warnings:
        response.headers[WARNINGS_HEADER] = _ascii(" | ".join(parsed.aoi.warnings))
    return response


def _ascii(text: str) -> str:
    return " ".join(text.encode("ascii", "replace").decode("ascii").split())


# ------------------------------------------------------------------------------------- errors


def _error(status: int, message: str, *, ogc_code: str, locator: str | None, json_code: str) -> Response:
    if getattr(g, "fis_exceptions", "xml") == "json":
        return error_response(status, json_code, message, field=locator)
    return current_app.response_class(
        exception_report(message, code=ogc_code, locator=locator), status=status, mimetype=XML_MIMETYPE
    )


@blueprint.errorhandler(FisError)
def _fis_error(exc: FisError) -> Response:
    if exc.status >= 500:
        log.error("FIS request failed: %s", exc.message)
    ogc_code = getattr(exc, "ogc_code", None) or _OGC_CODES.get(exc.status, "NoApplicableCode")
    locator, message = exc.field, exc.message
    if locator in _PARAMETERS:  # a request limit of the engine: say it with the FIS parameter's name
        message = message.replace(f"{locator}:", f"{_PARAMETERS[locator]}:", 1)
        locator = _PARAMETERS[locator]
    response = _error(exc.status, message, ogc_code=ogc_code, locator=locator, json_code=exc.code)
    response.headers.update(exc.headers)
    return response


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    return _error(status, exc.description or exc.name, ogc_code=_OGC_CODES.get(status, "NoApplicableCode"),
                  locator=None, json_code="http_error")


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error in the FIS endpoint")
    return _error(500, f"internal error ({type(exc).__name__}); see the server log", ogc_code="NoApplicableCode",
                  locator=None, json_code="internal_error")


# ------------------------------------------------------------------------------------ OpenAPI


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of this blueprint (merged into ``fis.api.openapi_spec``; the body is the
    ``FisResponse`` model of :mod:`fis.protocols.sentinelhub_fis.schemas`)."""
    layers = ", ".join(f"`{name}` ({layer.description}; {len(layer.channels)} channel(s) + dataMask)"
                       for name, layer in LAYERS.items())

    def query(name: str, description: str, schema: dict[str, Any], *, required: bool = False,
              example: Any = None) -> dict[str, Any]:
        param: dict[str, Any] = {"name": name, "in": "query", "required": required, "description": description,
                                 "schema": schema}
        if example is not None:
            param["example"] = example
        return param

    parameters = [
        query("LAYER", f"Layer to compute (case-insensitive): {layers}.", {"type": "string", "enum": list(LAYERS)},
              required=True, example="NDVI"),
        query("CRS", "CRS of GEOMETRY/BBOX. EPSG:4326 coordinates are read lat/lon (WCS 1.1.1 axis order, as "
              "FIS clients send them); CRS:84 lon/lat; projected CRSs x/y.", {"type": "string"}, required=True,
              example="EPSG:4326"),
        query("TIME", "from/to, ISO 8601 dates or date-times (UTC; a bare date as `to` is the whole day).",
              {"type": "string"}, required=True, example="2017-01-01/2017-02-01"),
        query("GEOMETRY", "WKT POLYGON or MULTIPOLYGON in CRS (one of GEOMETRY and BBOX is required).",
              {"type": "string"}, example="POLYGON((48 -5.13, 48.09 -5.23, 48.17 -5.13, 48.08 -5.03, 48 -5.13))"),
        query("BBOX", "minx,miny,maxx,maxy in CRS axis order (minlat,minlon,maxlat,maxlon for EPSG:4326).",
              {"type": "string"}, example="45.0,14.0,45.03,14.03"),
        query("RESOLUTION", "Pixel size: `<n>m` in metres, or a bare number in CRS units (degrees become the side "
              "of a square pixel of the same area at the AOI's latitude).",
              {"type": "string", "default": DEFAULT_RESOLUTION}, example="10m"),
        query("BINS", "Number of histogram bins; without it there is no `histogram`.",
              {"type": "integer", "minimum": 1, "maximum": MAX_BINS}, example=10),
        query("TYPE", "Histogram type: EQUALFREQUENCY and EQUIDISTANT bins are `{lowEdge, mean, count}`, "
              "STREAMING bins are `{value, count}` centroids (at most BINS).",
              {"type": "string", "enum": list(HISTOGRAM_TYPES), "default": DEFAULT_HISTOGRAM}),
        query("MAXCC", "Highest cloud cover in percent of the polygon's pixels with data (per-pixel cloud mask); "
              "dates above it are left out.", {"type": "number", "minimum": 0, "maximum": 100, "default": 100}),
        query("EXCEPTIONS", "Error format: XML (OGC ServiceExceptionReport, default) or application/json.",
              {"type": "string", "enum": ["XML", "application/json"], "default": "XML"}),
    ]
    example = {
        "C0": [{"date": "2017-01-31", "basicStats": {"min": 0.78775, "max": 0.78775, "mean": 0.78775, "stDev": 0.0},
                "histogram": {"bins": [{"value": 0.78775, "count": 1.0}]}}],
        "C1": [{"date": "2017-01-31", "basicStats": {"min": 1.0, "max": 1.0, "mean": 1.0, "stDev": 0.0},
                "histogram": {"bins": [{"value": 1.0, "count": 1.0}]}}],
    }

    def error(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
                XML_MIMETYPE: {
                    "schema": {"type": "string", "description": "OGC ServiceExceptionReport (the default)"},
                    "example": exception_report("BINS: 'ten' is not accepted; use an integer from 1 to 1000",
                                                code="InvalidParameterValue", locator="BINS"),
                },
            },
        }

    responses = {
        "200": {"description": "Statistics per channel and date, in the shape of Sentinel Hub FIS responses.",
                "headers": {OMITTED_HEADER: {"description": "Dates left out (no valid pixels, read errors).",
                                             "schema": {"type": "string"}},
                            WARNINGS_HEADER: {"description": "Notices about the geometry (e.g. repaired).",
                                              "schema": {"type": "string"}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FisResponse"},
                                             "example": example}}},
        "400": error("A FIS parameter is missing or not accepted; `locator` (XML) / `field` (JSON) names it."),
        "413": error("The geometry needs more pixels than FIS_MAX_PIXELS at RESOLUTION, TIME has more acquisition "
                     "dates than FIS_MAX_DATES (locator TIME), or the body is too large."),
        "500": error("Unexpected error."),
        "502": error("The reference raster could not be read."),
        "504": error("The computation ran past FIS_REQUEST_TIMEOUT_S and was stopped (code Timeout)."),
    }
    description = (
        "Sentinel Hub FIS (Feature Info Service) compatible statistics of one polygon over time, for clients such "
        "as sentinelhub-py's FisRequest. POST takes the same parameters as a JSON object (any key case) or form."
    )

    def op(method: str, instance: bool) -> dict[str, Any]:
        suffix = "Instance" if instance else ""
        return {
            "tags": ["fis"], "summary": f"FIS statistics ({method.upper()})", "description": description,
            "operationId": f"fis{method.capitalize()}{suffix}", "parameters": parameters, "responses": responses,
            **({"requestBody": {"required": False, "content": {
                "application/json": {"schema": {"type": "object", "additionalProperties": True},
                                     "example": {"layer": "NDVI", "crs": "EPSG:4326", "time": "2017-01-01/2017-02-01",
                                                 "bbox": "45.0,14.0,45.03,14.03", "resolution": "50m", "maxcc": 20.0}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": True}},
            }}} if method == "post" else {}),
        }

    instance_param = {"name": "instance_id", "in": "path", "required": True, "schema": {"type": "string"},
                      "description": "A Sentinel Hub instance id; accepted and ignored (one configuration here)."}
    return {
        "/ogc/fis": {"get": op("get", False), "post": op("post", False)},
        "/ogc/fis/{instance_id}": {"parameters": [instance_param], "get": op("get", True), "post": op("post", True)},
    }
