"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /api/v1/openapi.json``.

Built from small helpers and from the code's own constants (accepted request keys, defaults,
ranges, NDVI statistics, bands, CSV columns), so the document follows the code when those
change. ``tests/test_openapi.py`` validates it and checks that every route is described.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from fis import __version__
from fis.core.bands import BANDS
from fis.api.ogc import openapi_paths as ogc_fis_paths
from fis.api.openapi_web import web_paths
from fis.core.observation import CSV_COLUMNS
from fis.core.aggregation import LAST_INTERVAL, PICKS
from fis.protocols.native.export import FORMATS, LONG_CSV_COLUMNS
from fis.core.request import CloudMaskSettings, TimeseriesBody
from fis.core.stats import HISTOGRAM_TYPES, NDVI_STATISTICS

Schema = dict[str, Any]

API = "/api/v1"

#: Error codes the service emits (``error.code``), by where they come from.
ERROR_CODES: dict[str, str] = {
    "invalid_input": "400: a body key or query parameter is malformed or out of range",
    "invalid_geometry": "400: the geometry cannot be parsed, is not polygonal, or is invalid beyond repair",
    "invalid_crs": "400: the CRS is unknown to PROJ",
    "invalid_time_range": "400: a date does not parse, or from is after to",
    "bad_request": "400: other malformed HTTP requests",
    "not_found": "404: no such time series or URL",
    "method_not_allowed": "405: the method is not allowed on this URL",
    "body_too_large": "413: the request body exceeds FIS_MAX_BODY_BYTES",
    "request_too_large": "413: the request grid exceeds FIS_MAX_PIXELS pixels per observation",
    "model_error": "500: the cloud classifier is missing or its weights do not match the manifest",
    "internal_error": "500: an unexpected error (see the server log)",
    "raster_read_error": "502: the reference raster of the request could not be opened",
}

# ------------------------------------------------------------------------------- helpers


def ref(name: str, kind: str = "schemas") -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or JSON null (JSON Schema 2020-12 style, as OpenAPI 3.1 uses it)."""
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    return out


def obj(properties: dict[str, Schema], *, required: list[str] | None = None, description: str | None = None,
        additional: bool | Schema | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    if additional is not None:
        schema["additionalProperties"] = additional
    return schema


def number(description: str, **extra: Any) -> Schema:
    return {"type": "number", "description": description, **extra}


def fraction(description: str, **extra: Any) -> Schema:
    return number(description, minimum=0, maximum=1, **extra)


def string(description: str | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def json_content(schema: Schema, *, example: Any = None, summary: str | None = None) -> Schema:
    media: Schema = {"schema": schema}
    if example is not None and summary:
        media["examples"] = {"example": {"summary": summary, "value": example}}
    elif example is not None:
        media["example"] = example
    return {"application/json": media}


def csv_content() -> Schema:
    header = ",".join(CSV_COLUMNS)
    return {
        "text/csv": {
            "schema": string(
                "`format=csv` (or Accept: text/csv): one header line, then one line per observation (dates ascending, "
                "CRLF line ends). A missing value is an empty cell; `cloudy` is `true`/`false`. Columns of a default "
                "request: " + ", ".join(f"`{c}`" for c in CSV_COLUMNS) + ". The statistics options append columns "
                "(only when used, in this order): `clear_pixels` (mask_clouds); `<index>_mean` ... `<index>_p90` per "
                "index; `<variable>_p<percent>` per requested percentile (e.g. `ndvi_p5`, `ndwi_p2.5`; one that is "
                "already a column is not repeated); `<variable>_hist_underflow`, `<variable>_hist_overflow` and "
                "`<variable>_hist_<i>_low|high|count` per histogram bin; `interval_from`, `interval_to`, "
                "`interval_observations` (aggregation; the dates used, space-separated). "
                "`format=long_csv`: one line per observation and statistic with the columns "
                + ", ".join(f"`{c}`" for c in LONG_CSV_COLUMNS)
                + " (variable: `ndvi`, an index, a band with statistic `mean`, `cloud` with `probability`/`fraction`, "
                "`pixels` with `total`/`valid`/`cloudy`/`nodata`/`clear`, or `interval`)."
            ),
            "example": header + "\r\n"
            + "2023-04-11,2023-04-11T10:05:21Z,0.5205,0.0076,0.7518,0.2599,0.7019,0.1527,0.2439,0.7200,0.7298,"
            "0.0152,0.0,1334,1334,0,0,false,0.1247,0.0994,0.0943,0.0844,0.1127,0.2016,0.2413,0.2540,0.2710,"
            "0.0800,0.0013,0.2026,0.1241\r\n",
        }
    }


def geojson_content() -> Schema:
    feature = obj(
        {
            "type": {"const": "Feature"},
            "id": string("Series id.", format="uuid"),
            "geometry": ref("GeoJSONArea"),
            "properties": {"type": "object", "description": "The JSON response (TimeseriesResponse) without `geometry`."},
        },
        required=["type", "id", "geometry", "properties"],
        description="`format=geojson` (or Accept: application/geo+json): the field as a GeoJSON Feature with the "
                    "series in its properties, for GIS tools.",
    )
    return {"application/geo+json": {"schema": feature}}


def query_param(name: str, schema: Schema, description: str, *, example: Any = None) -> Schema:
    param: Schema = {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
    if example is not None:
        param["example"] = example
    return param


def header(description: str, **schema: Any) -> Schema:
    return {"description": description, "schema": {"type": "string", **schema}}


def error_response(description: str, *examples: tuple[str, dict[str, Any]]) -> Schema:
    """A response whose body is the one error shape, with named examples."""
    media: Schema = {"schema": ref("Error")}
    if examples:
        media["examples"] = {name: {"value": {"error": body}} for name, body in examples}
    return {"description": description, "content": {"application/json": media}}


def operation(summary: str, description: str, *, tag: str, operation_id: str, responses: dict[str, Schema],
              parameters: list[Schema] | None = None, request_body: Schema | None = None) -> Schema:
    op: Schema = {
        "tags": [tag],
        "summary": summary,
        "description": description,
        "operationId": operation_id,
        "responses": responses,
    }
    if parameters:
        op["parameters"] = parameters
    if request_body:
        op["requestBody"] = request_body
    return op


# ------------------------------------------------------------------------------- schemas


def _geojson_schemas() -> dict[str, Schema]:
    position = {"type": "array", "items": {"type": "number"}, "minItems": 2,
                "description": "[x, y]: [lon, lat] in EPSG:4326, or easting/northing in the given CRS."}
    ring = {"type": "array", "items": position, "minItems": 3,
            "description": "A linear ring; an unclosed ring is closed silently (at least 3 distinct corners)."}
    polygon_coords = {"type": "array", "items": ring, "minItems": 1}
    named_crs = obj(
        {"type": {"enum": ["name", "EPSG"]}, "properties": {"type": "object"}},
        required=["type", "properties"],
        description='Legacy GeoJSON `crs` member: {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}} '
        'or {"type": "EPSG", "properties": {"code": 32633}}. The request\'s `crs` key wins over it.',
    )
    return {
        "GeoJSONPolygon": obj(
            {"type": {"const": "Polygon"}, "coordinates": polygon_coords, "crs": named_crs},
            required=["type", "coordinates"],
        ),
        "GeoJSONMultiPolygon": obj(
            {"type": {"const": "MultiPolygon"}, "coordinates": {"type": "array", "items": polygon_coords}, "crs": named_crs},
            required=["type", "coordinates"],
        ),
        "GeoJSONFeature": obj(
            {
                "type": {"const": "Feature"},
                "geometry": {"oneOf": [ref("GeoJSONPolygon"), ref("GeoJSONMultiPolygon")]},
                "properties": nullable({"type": "object"}),
                "crs": named_crs,
            },
            required=["type", "geometry"],
            description="A Feature holding a Polygon or MultiPolygon (its properties are ignored).",
        ),
        "Geometry": {
            "description": (
                "The area of interest: a GeoJSON Polygon, MultiPolygon or Feature holding one of those, "
                "or a string holding WKT POLYGON / MULTIPOLYGON (optionally `SRID=32633;...`) or GeoJSON text. "
                "A FeatureCollection is rejected. Coordinates are x/y (lon/lat) in EPSG:4326 unless `crs` "
                "(or the GeoJSON `crs` member, or the WKT SRID) says otherwise. Invalid polygons are repaired "
                "with make_valid and the repair is reported in `warnings`."
            ),
            "oneOf": [
                ref("GeoJSONPolygon"),
                ref("GeoJSONMultiPolygon"),
                ref("GeoJSONFeature"),
                string("WKT (POLYGON / MULTIPOLYGON, optional SRID=n; prefix) or GeoJSON text.",
                       examples=["POLYGON ((15.0028 46.0519, 15.0026 46.0486, 15.0073 46.0484, 15.0028 46.0519))"]),
            ],
        },
        "GeoJSONArea": {
            "description": "A polygonal geometry in EPSG:4326 (lon/lat).",
            "oneOf": [ref("GeoJSONPolygon"), ref("GeoJSONMultiPolygon")],
        },
    }


def model_schemas(*models: type[BaseModel]) -> dict[str, Schema]:
    """The JSON Schemas of pydantic models, their ``$defs`` moved to ``#/components/schemas``."""
    out: dict[str, Schema] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[str(schema.get("title", model.__name__))] = schema
    return out


def _request_schemas() -> dict[str, Schema]:
    """Generated from the request model (:class:`fis.core.request.TimeseriesBody`)."""
    return model_schemas(TimeseriesBody)


def _observation_schemas() -> dict[str, Schema]:
    ndvi_doc = {
        "mean": "mean", "min": "minimum", "max": "maximum",
        "std": "population standard deviation (ddof = 0)", "median": "median",
    }
    ndvi = obj(
        {
            name: nullable(number(
                ndvi_doc.get(name, f"{name[1:]}th percentile (linear interpolation)"),
                **({"minimum": 0} if name == "std" else {"minimum": -1, "maximum": 1}),
            ))
            for name in NDVI_STATISTICS
        },
        required=list(NDVI_STATISTICS),
        description="NDVI = (B08 - B04) / (B08 + B04) over the valid pixels; all null when there is no valid pixel.",
    )
    bands = obj(
        {band: nullable(number(f"Mean {band} TOA reflectance over the valid pixels")) for band in BANDS},
        required=list(BANDS),
        description="Mean reflectance per band over the valid pixels (null when there is none or the band is absent).",
    )
    pixels = obj(
        {
            "total": {"type": "integer", "minimum": 0, "description": "Grid pixels that belong to the polygon."},
            "valid": {"type": "integer", "minimum": 0, "description": "total - nodata."},
            "cloudy": {"type": "integer", "minimum": 0, "description": "Valid pixels flagged by the per-pixel cloud mask."},
            "nodata": {"type": "integer", "minimum": 0,
                       "description": "Polygon pixels with no data in at least one band of the date, "
                                      "or with B08 + B04 == 0 (no valid NDVI)."},
            "clear": {"type": "integer", "minimum": 0,
                      "description": "Only with mask_clouds: valid pixels the cloud mask calls clear (the pixels the "
                                     "statistics are computed on)."},
            "shadow": {"type": "integer", "minimum": 0,
                       "description": "Only for L2A scenes (cloud_source scl): valid pixels of SCL class 3, cloud shadow."},
        },
        required=["total", "valid", "cloudy", "nodata"],
    )
    index_statistics = obj(
        {name: nullable(number(ndvi_doc.get(name, f"{name[1:]}th percentile (linear interpolation)")))
         for name in NDVI_STATISTICS},
        required=list(NDVI_STATISTICS),
        description="The statistics block of one index over the pixels where it is defined (all null when none is).",
    )
    histogram = obj(
        {
            "bins": {"type": "array", "items": obj(
                {"low": number("Lower edge (inclusive)."), "high": number("Upper edge (exclusive; inclusive for the last bin)."),
                 "count": {"type": "number", "minimum": 0,
                           "description": "Pixel count (an integer); with pixel_rule coverage the sum of the pixels' covered fractions."}},
                required=["low", "high", "count"])},
            "underflow": {"type": "number", "minimum": 0, "description": "Values below the first edge (weighted like count)."},
            "overflow": {"type": "number", "minimum": 0, "description": "Values above the last edge (weighted like count)."},
        },
        required=["bins", "underflow", "overflow"],
    )
    interval = obj(
        {
            "from": string("Start of the interval (inclusive).", format="date-time"),
            "to": string("End of the interval (inclusive).", format="date-time"),
            "observations": {"type": "array", "items": string(format="date"), "description": "Dates used for this row."},
        },
        required=["from", "to", "observations"],
    )
    observation = obj(
        {
            "date": string("UTC acquisition date (one observation per date; same-date tiles are mosaicked).",
                           format="date"),
            "datetime": string("Earliest acquisition time of the date's scenes (UTC).", format="date-time"),
            "scenes": {"type": "array", "items": {"type": "string"}, "description": "Scene ids mosaicked into this observation."},
            "ndvi": ref("NdviStatistics"),
            "bands": ref("BandMeans"),
            "cloud_probability": nullable(fraction(
                "s2cloudless P(cloud) of the polygon's averaged 10-band vector (object-level); "
                "null without valid pixels or model bands.")),
            "cloud_fraction": nullable(fraction("cloudy / valid pixels from the per-pixel cloud mask; null when valid == 0.")),
            "pixels": ref("PixelCounts"),
            "cloud_source": nullable({
                "type": "string", "enum": ["s2cloudless", "precomputed", "scl"],
                "description": "Where cloud_fraction came from: the s2cloudless pixel mask computed for this request, "
                               "the scene's precomputed CLM layer (same settings), or the L2A scene classification "
                               "(classes 8, 9, 10). null when there is no cloud information (e.g. a model band missing).",
            }),
            "scene_details": {"type": "array", "items": ref("SceneDetails"),
                              "description": "Catalog facts of each scene in `scenes`."},
            "cloudy": {"type": "boolean", "description": "True when the active filter's threshold is exceeded."},
            "indices": {"type": "object", "additionalProperties": ref("IndexStatistics"),
                        "description": "Only with `indices`: the statistics block of each requested index, by name."},
            "percentiles": {"type": "object",
                            "additionalProperties": {"type": "object", "additionalProperties": nullable(number("value"))},
                            "description": "Only with `statistics.percentiles`: {variable: {p<percent>: value}} for "
                                           "`ndvi` and every index."},
            "histograms": {"type": "object", "additionalProperties": nullable(ref("Histogram")),
                           "description": "Only with `statistics.histogram`: the histogram of `ndvi` and of every "
                                          "index (null without values)."},
            "interval": ref("AggregationInterval"),
        },
        required=["date", "datetime", "scenes", "ndvi", "bands", "cloud_probability", "cloud_fraction", "pixels", "cloudy"],
    )
    observation_error = obj(
        {
            "date": string(format="date"),
            "scenes": {"type": "array", "items": {"type": "string"}},
            "message": string("Why the date could not be computed (e.g. an unreadable raster)."),
        },
        required=["date", "scenes", "message"],
    )
    return {
        "NdviStatistics": ndvi,
        "BandMeans": bands,
        "PixelCounts": pixels,
        "SceneDetails": obj(
            {
                "id": string("Scene id."),
                "tile": nullable(string("MGRS tile.")),
                "processing_baseline": nullable(string("Processing baseline, e.g. 05.09.")),
                "product_level": string("L1C or L2A."),
                "platform": nullable(string("sentinel-2a, -2b, -2c.")),
                "radiometry": {"type": "object", "description": (
                    "reflectance = DN * scale + offset, as applied (once) to this scene's bands: "
                    "{scale, offset} when all bands share it, else per band.")},
            },
            required=["id", "product_level", "radiometry"],
        ),
        "IndexStatistics": index_statistics,
        "Histogram": histogram,
        "AggregationInterval": interval,
        "Observation": observation,
        "ObservationError": observation_error,
    }


def _series_schemas() -> dict[str, Schema]:
    utc_range = obj(
        {"from": string(format="date-time"), "to": string(format="date-time")},
        required=["from", "to"],
        description="The requested interval, normalised to UTC instants (both inclusive).",
    )
    cloud_filter = obj(
        {
            "max_cloud_fraction": nullable(fraction("Threshold on cloud_fraction.")),
            "max_cloud_probability": nullable(fraction("Threshold on cloud_probability.")),
            "include_cloudy": {"type": "boolean"},
        },
        required=["max_cloud_fraction", "max_cloud_probability", "include_cloudy"],
        description="The filter applied to this response: the stored request's values, overridden by query parameters.",
    )
    grid = obj(
        {
            "crs": string(examples=["EPSG:32633"]),
            "resolution": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "bounds": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        },
        description="The statistics grid used (empty object when no scene matched).",
    )
    parameters = obj(
        {
            "crs": string("CRS the geometry was given in."),
            "time_range": ref("UtcTimeRange"),
            "resolution": number("Requested resolution in metres."),
            "cloud_mask": obj(
                {
                    "threshold": fraction("cloud_threshold"),
                    "resolution": number("cloud_mask_resolution (m)"),
                    "average_over": {"type": "integer"},
                    "dilation_size": {"type": "integer"},
                },
                required=["threshold", "resolution", "average_over", "dilation_size"],
            ),
            "max_cloud_fraction": nullable(fraction("Stored default filter.")),
            "max_cloud_probability": nullable(fraction("Stored default filter.")),
            "include_cloudy": {"type": "boolean"},
            "grid": ref("Grid"),
            "model": string("Cloud model manifest name."),
            "mask_clouds": {"type": "boolean", "description": "Only when requested."},
            "pixel_rule": {"enum": ["all_touched", "coverage"], "description": "Only when not `center`."},
            "min_coverage": number("Only when given (> 0)."),
            "indices": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Only when requested: name -> band math (built-ins with their formula)."},
            "statistics": obj(
                {"percentiles": {"type": "array", "items": {"type": "number"}},
                 "histogram": obj({"type": {"enum": list(HISTOGRAM_TYPES)}, "bins": {"type": "integer"},
                                   "bin_width": {"type": "number"}, "edges": {"type": "array", "items": {"type": "number"}},
                                   "low": {"type": "number"}, "high": {"type": "number"}},
                                  required=["type", "bins"])},
                description="Only when requested.",
            ),
            "aggregation": obj({"interval": string(), "last_interval": {"enum": list(LAST_INTERVAL)},
                                "pick": {"enum": list(PICKS)}},
                               required=["interval", "last_interval", "pick"], description="Only when requested."),
        },
        description="Every option of the request as stored with the series (the geometry is stored separately).",
    )
    links = obj(
        {
            "self": string(format="uri"),
            "csv": string(format="uri"),
            "collection": string(format="uri"),
        },
        required=["self", "csv", "collection"],
    )
    response = obj(
        {
            "id": string("Series id (UUID).", format="uuid"),
            "name": string("Only when the series has a name (request `name`, a Feature's `properties.name`, "
                           "or PATCH)."),
            "properties": {"type": "object", "description": "Only when the request geometry was a Feature: its "
                                                            "`properties` (flat in the GeoJSON export's properties)."},
            "status": {"enum": ["OK", "PARTIAL"], "description": "PARTIAL when some dates could not be computed (see errors)."},
            "created_at": string(format="date-time"),
            "time_range": ref("UtcTimeRange"),
            "geometry": ref("GeoJSONArea"),
            "parameters": ref("StoredParameters"),
            "model": string("Cloud model used.", examples=["s2cloudless-v0.1"]),
            "filter": ref("CloudFilter"),
            "summary": obj(
                {
                    "observations": {"type": "integer", "description": "Stored observations."},
                    "returned": {"type": "integer", "description": "Observations in this response."},
                    "cloudy": {"type": "integer", "description": "Stored observations the filter calls cloudy."},
                },
                required=["observations", "returned", "cloudy"],
            ),
            "observations": {"type": "array", "items": ref("Observation"), "description": "Dates ascending."},
            "errors": {"type": "array", "items": ref("ObservationError")},
            "warnings": {"type": "array", "items": {"type": "string"},
                         "description": "E.g. that the geometry was repaired or its own crs ignored."},
            "links": ref("SeriesLinks"),
            "reused": {"type": "integer", "minimum": 0,
                       "description": "POST and refresh only: dates (observations and errors) taken from a stored series "
                                      "with the same geometry and parameters instead of computed."},
            "computed": {"type": "integer", "minimum": 0, "description": "POST and refresh only: dates computed."},
        },
        required=["id", "status", "created_at", "time_range", "geometry", "parameters", "model", "filter",
                  "summary", "observations", "errors", "warnings", "links"],
    )
    summary = obj(
        {
            "id": string(format="uuid"),
            "name": string("Only when the series has a name."),
            "status": {"enum": ["OK", "PARTIAL"]},
            "created_at": string(format="date-time"),
            "time_range": ref("UtcTimeRange"),
            "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                     "description": "[min lon, min lat, max lon, max lat] of the geometry."},
            "observations": {"type": "integer", "description": "Stored observations."},
            "model": string(),
            "links": ref("SeriesLinks"),
        },
        required=["id", "status", "created_at", "time_range", "bbox", "observations", "model", "links"],
    )
    page = obj(
        {
            "items": {"type": "array", "items": ref("TimeseriesSummary"), "description": "Newest first."},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "links": obj({"next": string(format="uri"), "prev": string(format="uri")}),
        },
        required=["items", "total", "limit", "offset", "links"],
    )
    return {
        "UtcTimeRange": utc_range,
        "CloudFilter": cloud_filter,
        "Grid": grid,
        "StoredParameters": parameters,
        "SeriesLinks": links,
        "TimeseriesResponse": response,
        "TimeseriesSummary": summary,
        "TimeseriesList": page,
    }


def _scene_schemas() -> dict[str, Schema]:
    radiometry = obj(
        {
            "scale": number("reflectance = value * scale + offset"),
            "offset": number("Includes the processing-baseline 04.00 offset (-0.1) where it applies."),
            "nodata": {"type": ["number", "null"]},
        },
        required=["scale", "offset", "nodata"],
    )
    properties = obj(
        {
            "datetime": string(format="date-time"),
            "date": string(format="date"),
            "collection": {"type": ["string", "null"]},
            "platform": {"type": ["string", "null"]},
            "tile": {"type": ["string", "null"], "description": "MGRS tile, e.g. 33TWN."},
            "processing_baseline": {"type": ["string", "null"]},
            "product_level": {"enum": ["L1C", "L2A"]},
            "crs": {"type": ["string", "null"]},
            "bands": {"type": "array", "items": {"enum": list(BANDS)}},
            "radiometry": {"type": "object", "additionalProperties": ref("Radiometry")},
        },
        required=["datetime", "date", "bands", "radiometry"],
    )
    feature = obj(
        {
            "type": {"const": "Feature"},
            "id": string("Scene id."),
            "geometry": ref("GeoJSONArea"),
            "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
            "properties": ref("SceneProperties"),
        },
        required=["type", "id", "geometry", "bbox", "properties"],
        description="One registered scene (one acquisition on one tile).",
    )
    collection = obj(
        {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": ref("SceneFeature"), "description": "Oldest first."},
            "numberReturned": {"type": "integer"},
            "links": obj({"next": string("The next page, when there is one.", format="uri")}),
        },
        required=["type", "features", "numberReturned", "links"],
    )
    return {"Radiometry": radiometry, "SceneProperties": properties, "SceneFeature": feature,
            "SceneFeatureCollection": collection}


def _misc_schemas() -> dict[str, Schema]:
    error = obj(
        {
            "error": obj(
                {
                    "status": {"type": "integer", "description": "The HTTP status again."},
                    "code": string("Machine-readable code: " + "; ".join(f"`{c}` ({d})" for c, d in ERROR_CODES.items())),
                    "message": string("What was wrong, with the offending value, and what to send instead."),
                    "field": string("The offending body key (dotted, e.g. time_range.from) or query parameter."),
                    "details": {"type": "object", "description": "Structured extras, e.g. unknown and accepted keys."},
                },
                required=["status", "code", "message"],
            )
        },
        required=["error"],
        description="The one error shape of the API (`field` and `details` only when there is something to say).",
    )
    health = obj(
        {
            "status": {"enum": ["ok", "error"]},
            "version": string(),
            "database": string("Dialect name (sqlite, postgresql) when ok; the problem when status is error."),
            "scenes": {"type": "integer", "description": "Registered scenes (only when ok)."},
            "cloud_model": string("Configured cloud model manifest (only when ok)."),
        },
        required=["status", "version", "database"],
    )
    return {"Error": error, "Health": health}


def components() -> Schema:
    schemas: dict[str, Schema] = {}
    for part in (_geojson_schemas, _request_schemas, _observation_schemas, _series_schemas, _scene_schemas, _misc_schemas):
        schemas.update(part())
    return {
        "schemas": schemas,
        "parameters": {
            "SeriesId": {"name": "series_id", "in": "path", "required": True, "description": "Series id from POST or the list.",
                         "schema": string(format="uuid")},
            "Offset": query_param("offset", {"type": "integer", "minimum": 0, "default": 0}, "Items to skip."),
            "Format": query_param(
                "format", {"enum": list(FORMATS)},
                "Response format: `json` (default), `csv` (one row per observation), `long_csv` (one row per observation "
                "and statistic) or `geojson` (the series' geometry as a GeoJSON Feature with the JSON body, minus the "
                "geometry, in its properties). Without it an Accept header preferring text/csv or application/geo+json "
                "over application/json selects csv or geojson; anything else gives JSON.",
            ),
        },
        "responses": {
            "BadRequest": error_response(
                "The body or a query parameter is invalid.",
                ("unknown_key", {"status": 400, "code": "invalid_input",
                                 "message": "unknown key(s) 'max_cloud' ('max_cloud' -> did you mean 'max_cloud_fraction'?); "
                                            "accepted keys are geometry, crs, time_range, ...",
                                 "field": "max_cloud",
                                 "details": {"unknown": ["max_cloud"], "accepted": ["geometry", "time_range", "..."]}}),
                ("bad_date", {"status": 400, "code": "invalid_time_range",
                              "message": "time_range.from: '2023-13-01' is not an ISO 8601 date (month 13 is not 01-12); "
                                         "use YYYY-MM-DD or a full date-time like 2015-07-01T00:00:00Z",
                              "field": "time_range.from"}),
                ("bad_threshold", {"status": 400, "code": "invalid_input",
                                   "message": "max_cloud_fraction: '2' is out of range; use a number between 0 and 1, e.g. 0.3",
                                   "field": "max_cloud_fraction"}),
            ),
            "NotFound": error_response(
                "No time series with this id.",
                ("not_found", {"status": 404, "code": "not_found",
                               "message": "time series 'nope' not found; list stored series with GET /api/v1/timeseries",
                               "field": "id"}),
            ),
            "TooLarge": error_response(
                "The body exceeds FIS_MAX_BODY_BYTES, or the request grid exceeds FIS_MAX_PIXELS.",
                ("body_too_large", {"status": 413, "code": "body_too_large",
                                    "message": "request body is larger than the limit of 5242880 bytes (FIS_MAX_BODY_BYTES); "
                                               "simplify the geometry or raise the limit"}),
                ("request_too_large", {"status": 413, "code": "request_too_large",
                                       "message": "geometry needs a 3104 x 3339 = 10364256 pixel grid at 10 m; the limit for one "
                                                  "synchronous request is 4000000 pixels (FIS_MAX_PIXELS). Use a coarser "
                                                  "resolution or split the geometry.",
                                       "field": "geometry",
                                       "details": {"pixels": 10364256, "max_pixels": 4000000, "resolution": 10.0}}),
            ),
            "InternalError": error_response(
                "An unexpected error, or the cloud model cannot be loaded (model_error).",
                ("internal", {"status": 500, "code": "internal_error",
                              "message": "internal error (OperationalError); see the server log"}),
            ),
            "BadGateway": error_response(
                "The reference raster chosen for the request grid could not be opened (raster_read_error). "
                "Per-date read failures do not fail the request: they are listed in `errors` (status PARTIAL).",
            ),
        },
    }


# ------------------------------------------------------------------------------- examples


#: A field inside the demo archive (``fis demo``); the same as examples/request.json.
REQUEST_EXAMPLE: dict[str, Any] = {
    "geometry": {
        "type": "Polygon",
        "coordinates": [[
            [15.0027534, 46.0519273], [15.0026239, 46.0485972], [15.0072772, 46.048417],
            [15.0074069, 46.0517471], [15.0027534, 46.0519273],
        ]],
    },
    "time_range": {"from": "2023-01-01", "to": "2023-12-31"},
    "resolution": 10,
    "max_cloud_fraction": 0.2,
}


def _observation_example() -> dict[str, Any]:
    ndvi = dict(zip(NDVI_STATISTICS, (0.5205, 0.0076, 0.7518, 0.2599, 0.7019, 0.1527, 0.2439, 0.72, 0.7298)))
    bands = dict(zip(BANDS, (0.1247, 0.0994, 0.0943, 0.0844, 0.1127, 0.2016, 0.2413, 0.254, 0.271, 0.08, 0.0013, 0.2026, 0.1241)))
    return {
        "date": "2023-04-11",
        "datetime": "2023-04-11T10:05:21Z",
        "scenes": ["S2A_MSIL1C_20230411_T33TWN", "S2A_MSIL1C_20230411_T33UWN"],
        "ndvi": ndvi,
        "bands": bands,
        "cloud_probability": 0.0152,
        "cloud_fraction": 0.0,
        "pixels": {"total": 1334, "valid": 1334, "cloudy": 0, "nodata": 0},
        "cloudy": False,
    }


def _response_example(server_url: str) -> dict[str, Any]:
    sid = "b7c7db2e-dfa4-4932-aa41-8f164f4a787e"
    base = f"{server_url}{API}/timeseries"
    utc = {"from": "2023-01-01T00:00:00Z", "to": "2023-12-31T23:59:59.999999Z"}
    mask = CloudMaskSettings().to_dict()
    return {
        "id": sid,
        "status": "OK",
        "created_at": "2026-11-24T01:07:04.948016Z",
        "time_range": utc,
        "geometry": REQUEST_EXAMPLE["geometry"],
        "parameters": {
            "crs": "EPSG:4326", "time_range": utc, "resolution": 10.0, "cloud_mask": mask,
            "max_cloud_fraction": 0.2, "max_cloud_probability": None, "include_cloudy": False,
            "grid": {"crs": "EPSG:32633", "resolution": [10.0, 10.0], "width": 38, "height": 40,
                     "bounds": [500200.0, 5099420.0, 500580.0, 5099820.0]},
            "model": "s2cloudless-v0.1",
        },
        "model": "s2cloudless-v0.1",
        "filter": {"max_cloud_fraction": 0.2, "max_cloud_probability": None, "include_cloudy": False},
        "summary": {"observations": 73, "returned": 1, "cloudy": 30},
        "observations": [_observation_example()],
        "errors": [],
        "warnings": [],
        "links": {"self": f"{base}/{sid}", "csv": f"{base}/{sid}?format=csv", "collection": base},
    }


# ------------------------------------------------------------------------------- paths


def _health_path() -> Schema:
    return {
        "get": operation(
            "Service health",
            "Checks that the database is reachable and migrated to the code's schema revision.",
            tag="meta", operation_id="healthz",
            responses={
                "200": {"description": "Healthy.", "content": json_content(ref("Health"), example={
                    "status": "ok", "version": __version__, "database": "sqlite", "scenes": 146,
                    "cloud_model": "s2cloudless-v0.1"})},
                "503": {
                    "description": "Database unreachable or not migrated. Note: this body is the Health shape "
                                   "(status `error`), not the Error shape.",
                    "content": json_content(ref("Health"), example={
                        "status": "error", "version": __version__,
                        "database": "database schema is at revision None, the code needs '0001'; run `fis db upgrade`"}),
                },
            },
        )
    }


def _timeseries_collection_path(server_url: str) -> Schema:
    location = {"Location": header("URL of the stored series.", format="uri")}
    return {
        "post": operation(
            "Compute and store a time series",
            "Finds the registered scenes intersecting the geometry within the time range, computes one observation "
            "per UTC acquisition date (tiles of one date mosaicked) and stores the series. The response applies the "
            "request's own cloud filter (max_cloud_fraction / max_cloud_probability / include_cloudy); every "
            "observation is stored regardless. Runs synchronously.",
            tag="timeseries", operation_id="createTimeseries",
            parameters=[ref("Format", "parameters")],
            request_body={
                "required": True,
                "description": "A JSON object (the Content-Type header is not checked).",
                "content": {"application/json": {
                    "schema": ref("TimeseriesRequest"),
                    "examples": {
                        "demo_field": {"summary": "A field of the demo archive, 2023, cloudy dates left out",
                                       "value": REQUEST_EXAMPLE},
                        "projected_wkt": {"summary": "WKT in UTM 33N with every cloud-mask option", "value": {
                            "geometry": "POLYGON ((500213 5099817, 500573 5099797, 500563 5099427, 500203 5099447, 500213 5099817))",
                            "crs": "EPSG:32633",
                            "time_range": {"from": "2023-04-01", "to": "2023-09-30T23:59:59Z"},
                            "resolution": 20, "cloud_threshold": 0.4, "cloud_mask_resolution": 160,
                            "cloud_mask_average_over": 1, "cloud_mask_dilation": 1,
                            "max_cloud_probability": 0.5, "include_cloudy": True}},
                        "statistics_options": {"summary": "Clear-pixel statistics, indices, percentiles, a histogram, "
                                                          "10-day intervals", "value": {
                            **REQUEST_EXAMPLE,
                            "mask_clouds": True,
                            "indices": {"ndmi": None, "my_ratio": "(B08 - B11) / (B08 + B11)"},
                            "statistics": {"percentiles": [0.05, 0.5, 0.95],
                                           "histogram": {"bins": 10, "low": -1, "high": 1}},
                            "aggregation": {"interval": "P10D", "last_interval": "shorten", "pick": "least_cloudy"}}},
                    },
                }},
            },
            responses={
                "201": {
                    "description": "Created. JSON by default; CSV with ?format=csv (or Accept: text/csv).",
                    "headers": {
                        **location,
                        "Content-Disposition": header(
                            'CSV only: attachment; filename="fis-timeseries-<id>.csv", or "<name>.csv" for a '
                            "named series (made safe for a file name; the exact name in filename*)"),
                    },
                    "content": {**json_content(ref("TimeseriesResponse"), example=_response_example(server_url),
                                             summary="Abbreviated: one of the returned observations shown"),
                                **csv_content(), **geojson_content()},
                },
                "400": ref("BadRequest", "responses"),
                "413": ref("TooLarge", "responses"),
                "500": ref("InternalError", "responses"),
                "502": ref("BadGateway", "responses"),
            },
        ),
        "get": operation(
            "List stored time series",
            "A page of stored series, newest first.",
            tag="timeseries", operation_id="listTimeseries",
            parameters=[
                query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                            "Page size (default FIS_PAGE_SIZE, 50)."),
                ref("Offset", "parameters"),
                query_param("format", {"enum": ["json"]},
                            "Only JSON; export one series as CSV with GET /api/v1/timeseries/{series_id}?format=csv."),
            ],
            responses={
                "200": {"description": "A page of series.", "content": json_content(ref("TimeseriesList"))},
                "400": ref("BadRequest", "responses"),
            },
        ),
    }


def _timeseries_item_path() -> Schema:
    threshold = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "parameters": [ref("SeriesId", "parameters")],
        "get": operation(
            "Show or export a stored time series",
            "The stored series filtered by the stored request's thresholds, or by the query parameters given here "
            "(each one given replaces the stored value). The filter never deletes: cloudy observations are left out "
            "of this response (or flagged with include_cloudy=true). The CSV applies the same filter.",
            tag="timeseries", operation_id="getTimeseries",
            parameters=[
                query_param("max_cloud_fraction", threshold, "Observations with a larger cloud_fraction are cloudy.", example=0.2),
                query_param("max_cloud_probability", threshold,
                            "Observations with a larger cloud_probability are cloudy.", example=0.5),
                query_param("include_cloudy", string(examples=["true", "false"]),
                            "Show cloudy observations (flagged) instead of leaving them out: true/false, 1/0 or "
                            "yes/no, case-insensitive.", example="true"),
                ref("Format", "parameters"),
            ],
            responses={
                "200": {
                    "description": "The series (JSON) or its observations (CSV).",
                    "headers": {
                        "Content-Disposition": header(
                            'CSV only: attachment; filename="fis-timeseries-<id>.csv", or "<name>.csv" for a '
                            "named series (made safe for a file name; the exact name in filename*)"),
                        "Location": header("CSV only: URL of the series.", format="uri"),
                    },
                    "content": {**json_content(ref("TimeseriesResponse")), **csv_content(), **geojson_content()},
                },
                "400": ref("BadRequest", "responses"),
                "404": ref("NotFound", "responses"),
            },
        ),
        "patch": operation(
            "Rename a stored time series",
            'Body `{"name": "new name"}` sets the name (1 to 200 characters, no control characters); '
            '`{"name": null}` removes it. Nothing else of the series can change.',
            tag="timeseries", operation_id="renameTimeseries",
            request_body={
                "required": True,
                "content": json_content(
                    obj({"name": {"type": ["string", "null"], "minLength": 1, "maxLength": 200}}, required=["name"],
                        additional=False),
                    example={"name": "north field 2023"},
                ),
            },
            responses={
                "200": {"description": "The renamed series (stored filter).",
                        "content": json_content(ref("TimeseriesResponse"))},
                "400": ref("BadRequest", "responses"),
                "404": ref("NotFound", "responses"),
            },
        ),
        "delete": operation(
            "Delete a stored time series",
            "Deletes the series and its observations.",
            tag="timeseries", operation_id="deleteTimeseries",
            responses={"204": {"description": "Deleted (empty body)."}, "404": ref("NotFound", "responses")},
        ),
    }


def _timeseries_refresh_path() -> Schema:
    counts = {
        "X-FIS-Reused": header("Dates taken from storage (also `reused` in JSON).", pattern="^[0-9]+$"),
        "X-FIS-Computed": header("Dates computed (also `computed` in JSON).", pattern="^[0-9]+$"),
    }
    return {
        "parameters": [ref("SeriesId", "parameters")],
        "post": operation(
            "Extend a stored time series to today's archive",
            "Extends the series' `to` to now (UTC) and adds an observation for every date of the archive in its range "
            "that the series does not have yet (later acquisitions, or earlier ones ingested since). Nothing stored is "
            "recomputed. Updates the series in one transaction and returns it with `reused` (stored dates) and "
            "`computed` (new dates). Series with `aggregation` cannot be refreshed (400, field `aggregation`).",
            tag="timeseries", operation_id="refreshTimeseries",
            parameters=[ref("Format", "parameters")],
            responses={
                "200": {
                    "description": "The extended series (same id).",
                    "headers": counts,
                    "content": {**json_content(ref("TimeseriesResponse")), **csv_content(), **geojson_content()},
                },
                "400": ref("BadRequest", "responses"),
                "404": ref("NotFound", "responses"),
            },
        ),
    }


def _scenes_path() -> Schema:
    return {
        "get": operation(
            "List registered scenes",
            "Scenes of the archive (registered with `fis ingest`) as GeoJSON, oldest first.",
            tag="scenes", operation_id="listScenes",
            parameters=[
                query_param("bbox", string(pattern=r"^[^,]+,[^,]+,[^,]+,[^,]+$"),
                            "minlon,minlat,maxlon,maxlat: only scenes whose footprint intersects this box.",
                            example="14.99,46.04,15.01,46.06"),
                query_param("datetime", string(),
                            'STAC-style interval: "2023-04-01/2023-04-30", "../2023-04-30", "2023-04-01/..", or one '
                            "date (that whole day) or date-time (that instant); ends inclusive, UTC.",
                            example="2023-04-01/2023-04-30"),
                query_param("limit", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}, "Page size."),
                ref("Offset", "parameters"),
            ],
            responses={
                "200": {"description": "A page of scenes.", "content": json_content(ref("SceneFeatureCollection"))},
                "400": ref("BadRequest", "responses"),
            },
        )
    }


def _scene_id_param() -> Schema:
    return {"name": "scene_id", "in": "path", "required": True, "schema": string(), "description": "Scene id (STAC item id)."}


def _scene_item_path() -> Schema:
    return {
        "parameters": [_scene_id_param()],
        "get": operation(
            "Show one scene",
            "One registered scene as a GeoJSON Feature (bands, radiometry, registered cloud layers).",
            tag="scenes", operation_id="getScene",
            responses={
                "200": {"description": "The scene.", "content": json_content(ref("SceneFeature"))},
                "404": ref("NotFound", "responses"),
            },
        )
    }


def _scene_layer_path() -> Schema:
    return {
        "parameters": [
            _scene_id_param(),
            {"name": "layer", "in": "path", "required": True, "schema": {"type": "string", "enum": ["clp", "clm", "CLP", "CLM"]},
             "description": "Which layer."},
        ],
        "get": operation(
            "Download a precomputed cloud layer",
            "The scene's precomputed cloud layer as a Cloud-Optimized GeoTIFF (computed by `fis clouds`): "
            "`clp` = s2cloudless probability * 255 (uint8, with an internal validity mask), `clm` = 0 clear, "
            "1 cloud, 255 no data. Layer settings are in the scene's `cloud_layers` property. "
            "404 when the scene has no such layer.",
            tag="scenes", operation_id="getSceneCloudLayer",
            responses={
                "200": {
                    "description": "The layer (GeoTIFF download).",
                    "content": {"image/tiff; application=geotiff; profile=cloud-optimized": {"schema": {"type": "string", "format": "binary"}}},
                },
                "404": ref("NotFound", "responses"),
            },
        )
    }


def _openapi_path() -> Schema:
    return {
        "get": operation(
            "This document",
            "The OpenAPI 3.1 description of the API; `servers` is the URL the request came to.",
            tag="meta", operation_id="openapi",
            responses={"200": {"description": "OpenAPI document.", "content": json_content({"type": "object"})}},
        )
    }


def build_spec(*, server_url: str) -> dict[str, Any]:
    """The complete OpenAPI 3.1 document, with ``server_url`` as the one server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fis: Sentinel-2 statistical time series",
            "version": __version__,
            "summary": "Cloud-aware NDVI statistics per field polygon from your own Sentinel-2 L1C archive.",
            "description": (
                "POST a field polygon and a date range; for every Sentinel-2 acquisition date that covers it you get "
                "NDVI statistics, band means, the s2cloudless probability of the field's averaged band vector "
                "(`cloud_probability`) and the share of valid pixels flagged by a per-pixel s2cloudless mask "
                "(`cloud_fraction`). Series are stored and can be re-read with other cloud thresholds or as CSV. "
                "Every error has the body `{\"error\": {\"status\", \"code\", \"message\", \"field\"?, \"details\"?}}`."
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": server_url}],
        "tags": [
            {"name": "timeseries", "description": "Compute, store, show, export and delete time series."},
            {"name": "scenes", "description": "The registered archive."},
            {"name": "meta", "description": "Health and this document."},
            {"name": "web", "description": "Helpers of the web page at /: its settings and reading a field file."},
            {"name": "fis", "description": "Sentinel Hub FIS-compatible statistics (errors as OGC exception reports)."},
        ],
        "paths": {
            "/healthz": _health_path(),
            f"{API}/timeseries": _timeseries_collection_path(server_url),
            f"{API}/timeseries/{{series_id}}": _timeseries_item_path(),
            f"{API}/timeseries/{{series_id}}/refresh": _timeseries_refresh_path(),
            f"{API}/scenes": _scenes_path(),
            f"{API}/scenes/{{scene_id}}": _scene_item_path(),
            f"{API}/scenes/{{scene_id}}/{{layer}}": _scene_layer_path(),
            f"{API}/openapi.json": _openapi_path(),
            **web_paths(API),
            **ogc_fis_paths(),
        },
        "components": components(),
    }
