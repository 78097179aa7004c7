"""OpenAPI paths of the web page's endpoints and of the profile figure (merged into ``openapi_spec.build_spec``)."""

from __future__ import annotations

from typing import Any

from fis.protocols.native.plot import DEFAULT_DPI, DEFAULT_HEIGHT, DEFAULT_WIDTH

Schema = dict[str, Any]

_BAD_REQUEST: Schema = {"$ref": "#/components/responses/BadRequest"}
_NOT_FOUND: Schema = {"$ref": "#/components/responses/NotFound"}
_THRESHOLD: Schema = {"type": ["number", "string"], "minimum": 0, "maximum": 1}


def _param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _plot_path() -> Schema:
    pixels = {"type": "integer", "minimum": 200, "maximum": 4000}
    return {
        "parameters": [{"$ref": "#/components/parameters/SeriesId"}],
        "get": {
            "tags": ["timeseries"],
            "summary": "The series' NDVI profile as a PNG figure",
            "description": (
                "Two panels sharing the date axis: the NDVI mean with its p10-p90 band over all dates, and over the "
                "clear dates only (cloudy dates masked); cloudy dates are crosses, and the caption states the cloud "
                "rule. Thresholds default to the stored ones (an empty value clears one); any other parameter is a "
                "400."
            ),
            "operationId": "plotTimeseries",
            "parameters": [
                _param("max_cloud_fraction", _THRESHOLD, "Dates with a larger cloud_fraction are cloudy."),
                _param("max_cloud_probability", _THRESHOLD, "Dates with a larger cloud_probability are cloudy."),
                _param("width", {**pixels, "default": DEFAULT_WIDTH}, "Width in pixels."),
                _param("height", {**pixels, "default": DEFAULT_HEIGHT}, "Height in pixels."),
                _param("dpi", {"type": "integer", "minimum": 50, "maximum": 600, "default": DEFAULT_DPI},
                       "Dots per inch: larger draws larger text in the same pixels."),
            ],
            "responses": {
                "200": {
                    "description": "The figure, exactly width x height pixels.",
                    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                },
                "400": _BAD_REQUEST,
                "404": _NOT_FOUND,
            },
        },
    }


def _config_path() -> Schema:
    basemap = {
        "type": ["object", "null"],
        "properties": {"url": {"type": "string"}, "attribution": {"type": "string"}},
        "required": ["url", "attribution"],
    }
    return {
        "get": {
            "tags": ["web"],
            "summary": "Settings of the web page",
            "description": "The base map (FIS_BASEMAP_URL, FIS_BASEMAP_ATTRIBUTION), null when none is set.",
            "operationId": "webConfig",
            "responses": {
                "200": {
                    "description": "The page's settings.",
                    "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"basemap": basemap}, "required": ["basemap"],
                    }}},
                },
            },
        },
    }


def _parse_path() -> Schema:
    parsed = {
        "type": "object",
        "properties": {
            "geometry": {"oneOf": [{"$ref": "#/components/schemas/GeoJSONPolygon"},
                                     {"$ref": "#/components/schemas/GeoJSONMultiPolygon"}]},
            "area_ha": {"type": "number", "description": "Geodesic area (WGS 84) in hectares."},
            "crs": {"type": "string", "description": "The CRS the coordinates came in."},
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["geometry", "area_ha", "crs", "warnings"],
    }
    return {
        "post": {
            "tags": ["web"],
            "summary": "Read and validate a field",
            "description": (
                "A field file uploaded as multipart/form-data (part `file`: GeoJSON `.geojson`/`.json`, zipped "
                "Shapefile `.zip`, GeoPackage `.gpkg`, with exactly one polygon feature), or a JSON body "
                '`{"geometry": <GeoJSON or WKT>, "crs"?: ...}`. Validated and repaired exactly like the geometry '
                "of a time-series request (same messages; `field` is `file` for uploads), returned in EPSG:4326 "
                "with its area."
            ),
            "operationId": "parseGeometry",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {"schema": {
                        "type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }},
                    "application/json": {"schema": {
                        "type": "object", "properties": {"geometry": {}, "crs": {"type": ["string", "integer"]}},
                        "required": ["geometry"], "additionalProperties": False,
                    }},
                },
            },
            "responses": {
                "200": {"description": "The field.", "content": {"application/json": {"schema": parsed}}},
                "400": _BAD_REQUEST,
            },
        },
    }


def web_paths(api: str) -> dict[str, Schema]:
    """The paths below ``api`` (``/api/v1``)."""
    return {
        f"{api}/timeseries/{{series_id}}/plot.png": _plot_path(),
        f"{api}/config": _config_path(),
        f"{api}/geometry/parse": _parse_path(),
    }
