"""The JSON bodies of health, errors and scenes as models. Descriptive (see :mod:`fis.protocols.schemas`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from fis.core.bands import BANDS
from fis.protocols.schemas import BBox, GeoJSONArea, ResponseModel, only_when, url

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


class ErrorDetail(ResponseModel):
    """What went wrong (``field`` and ``details`` only when there is something to say)."""

    status: int = Field(description="The HTTP status again.")
    code: str = Field(description="Machine-readable code: " + "; ".join(f"`{c}` ({d})" for c, d in ERROR_CODES.items()))
    message: str = Field(description="What was wrong, with the offending value, and what to send instead.")
    field: str = only_when("The offending body key (dotted, e.g. time_range.from) or query parameter.")
    details: dict[str, Any] = only_when("Structured extras, e.g. unknown and accepted keys.")


class Error(ResponseModel):
    """The one error shape of the API."""

    error: ErrorDetail


class Health(ResponseModel):
    """Whether the database is reachable and migrated."""

    status: Literal["ok", "error"]
    version: str
    database: str = Field(description="Dialect name (sqlite, postgresql) when ok; the problem when status is error.")
    scenes: int = only_when("Registered scenes (only when ok).")
    cloud_model: str = only_when("Configured cloud model manifest (only when ok).")


class Radiometry(ResponseModel):
    """How one band's digital numbers become reflectance."""

    scale: float = Field(description="reflectance = value * scale + offset")
    offset: float = Field(description="Includes the processing-baseline 04.00 offset (-0.1) where it applies.")
    nodata: float | None


class CloudLayerSettings(ResponseModel):
    """How the scene's precomputed cloud layers were made (a request uses them only when these match)."""

    model: str
    resolution: float
    threshold: float
    average_over: int
    dilation_size: int
    cells: int = only_when("Version of the cell means (layers recorded without it are version 1).")


class CloudLayers(ResponseModel):
    """The scene's precomputed CLP/CLM layers (``fis clouds``)."""

    settings: CloudLayerSettings
    created: dt.datetime


class SceneProperties(ResponseModel):
    """Catalog facts of a scene."""

    datetime: dt.datetime
    date: dt.date
    collection: str | None
    platform: str | None
    tile: str | None = Field(description="MGRS tile, e.g. 33TWN.")
    processing_baseline: str | None
    product_level: Literal["L1C", "L2A"]
    crs: str | None
    bands: list[Literal[BANDS]]  # type: ignore[valid-type]
    cloud_layers: CloudLayers | None = Field(description="The precomputed cloud layers; null when there are none.")
    radiometry: dict[str, Radiometry] = Field(description="Per asset (bands, and CLP/CLM when registered).")


class SceneFeature(ResponseModel):
    """One registered scene (one acquisition on one tile)."""

    type: Literal["Feature"]
    id: str = Field(description="Scene id.")
    geometry: GeoJSONArea
    bbox: BBox
    properties: SceneProperties


class SceneLinks(ResponseModel):
    """The next page, when there is one."""

    next: str = url("The next page.", optional=True)


class SceneFeatureCollection(ResponseModel):
    """A page of registered scenes."""

    type: Literal["FeatureCollection"]
    features: list[SceneFeature] = Field(description="Oldest first.")
    numberReturned: int  # the OGC API name
    links: SceneLinks


class BaseMap(ResponseModel):
    """An XYZ tile layer under the page's map (FIS_BASEMAP_URL, FIS_BASEMAP_ATTRIBUTION)."""

    url: str = Field(description="Tile URL template with {z}, {x} and {y}.")
    attribution: str = Field(description="Attribution shown on the map.")


class WebConfig(ResponseModel):
    """Settings of the web page at ``/``."""

    basemap: BaseMap | None = Field(description="The base map, null when none is configured (the default).")


class FieldGeometryBody(ResponseModel):
    """A field to read as JSON (the multipart form takes a file instead)."""

    geometry: Any = Field(description="GeoJSON Polygon / MultiPolygon / Feature, or a WKT string.")
    crs: str | int | None = only_when("CRS of the coordinates [default: EPSG:4326, or the GeoJSON's crs member].")


class ParsedField(ResponseModel):
    """A field read and validated like a time-series request's geometry."""

    geometry: GeoJSONArea = Field(description="The field in EPSG:4326 (lon/lat), repaired if needed.")
    area_ha: float = Field(description="Geodesic area (WGS 84) in hectares.")
    crs: str = Field(description="The CRS the coordinates came in.")
    warnings: list[str] = Field(description="Repairs and other notes, as in a series' warnings.")
